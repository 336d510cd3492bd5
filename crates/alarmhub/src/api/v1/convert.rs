//! Daemon records → `alarmhub.v1` messages: stored events (with names and classes from the
//! code tables) and live panel state.

use panel_proto::codes::{machine_type, MachineStatus};

use crate::events::naming::{code_table, meaning, Meaning};
use crate::events::StoredEvent;
use crate::proto::v1 as pb;
use crate::registry::{LastAlarm, PanelState};

/// Name and class of an event (see [`crate::events::naming`] for which table); empty
/// strings when no table knows it.
fn name_and_class(m: Option<Meaning>) -> (String, String) {
    match m {
        Some(Meaning::Code(i)) => (i.name.to_string(), i.class.as_str().to_string()),
        Some(Meaning::Sia(i)) => (sia_name(i.description), i.class.as_str().to_string()),
        None => (String::new(), String::new()),
    }
}

/// The SIA table has descriptions, not names: "burglary alarm" → "BURGLARY_ALARM",
/// "automatic closing (auto-armed)" → "AUTOMATIC_CLOSING", matching the Contact ID names'
/// UPPER_SNAKE style.
fn sia_name(description: &str) -> String {
    let base = description.split('(').next().unwrap_or(description);
    let mut out = String::with_capacity(base.len());
    for word in base.split(|c: char| !c.is_ascii_alphanumeric()) {
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push('_');
        }
        out.push_str(&word.to_ascii_uppercase());
    }
    out
}

/// A stored event as the API's `Event`.
pub(crate) fn event(e: &StoredEvent) -> pb::Event {
    let ev = &e.event;
    let (name, event_class) = name_and_class(ev.meaning());
    pb::Event {
        seq: e.seq,
        account: ev.account.clone(),
        source: ev.source.as_str().to_string(),
        code: i32::from(ev.code),
        sia_code: ev.sia_code.clone().unwrap_or_default(),
        group: i32::from(ev.group),
        zone: i32::from(ev.zone),
        received_at_ms: ev.received_at_ms,
        panel_time: ev.panel_time.unwrap_or(0),
        protocol: ev.protocol.clone(),
        frame_seq: ev.frame_seq.clone(),
        peer: ev.peer.clone(),
        name,
        event_class,
        detail_json: ev.detail.as_str().to_string(),
    }
}

/// The registry's last alarm as an `Event` (the fields the registry keeps), named in the
/// table of its own dialect (or, from an older snapshot, the panel's).
fn last_alarm(p: &PanelState, a: &LastAlarm) -> pb::Event {
    let account = p.account.as_str();
    let table = code_table(a.source, a.dialect.or(p.dialect));
    let (name, event_class) = name_and_class(meaning(a.code, a.sia_code.as_deref(), table));
    pb::Event {
        seq: a.seq,
        account: account.to_string(),
        source: a.source.as_str().to_string(),
        code: i32::from(a.code),
        sia_code: a.sia_code.clone().unwrap_or_default(),
        zone: i32::from(a.zone),
        received_at_ms: a.time_ms,
        name,
        event_class,
        ..pb::Event::default()
    }
}

/// A panel's live state as the API's `Machine`. `status` is the whole host's status (or, on
/// a three-section host that never reported one, the first known section's).
pub(crate) fn machine(p: &PanelState) -> pb::Machine {
    let status = p.host_status();
    pb::Machine {
        account: p.account.clone(),
        online: p.online,
        r#type: p.machine_type,
        type_name: machine_type(p.machine_type).name.to_string(),
        status,
        status_name: MachineStatus::from_number(status).name().to_string(),
        section_status: p.status.get(1..).unwrap_or_default().to_vec(),
        ademco_id: p.ademco_id.unwrap_or(0),
        dialect: p
            .dialect
            .map(|d| d.as_str().to_string())
            .unwrap_or_default(),
        remote_addr: p.remote_addr.clone(),
        last_seen_ms: p.last_seen_ms,
        signal_strength: p.signal_strength.map_or(-1, i32::from),
        active_alarms: p
            .active_alarms
            .iter()
            .map(|(zone, a)| pb::ActiveAlarm {
                zone: i32::from(*zone),
                code: i32::from(a.code),
                group: i32::from(a.group),
                since_ms: a.since_ms,
            })
            .collect(),
        last_alarm: p.last_alarm.as_ref().map(|a| last_alarm(p, a)),
        unknown_account: p.unknown_account,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Facts, NewEvent, Source};
    use panel_proto::rules::Dialect;

    fn stored(code: u16, sia: Option<&str>) -> StoredEvent {
        StoredEvent {
            seq: 7,
            event: NewEvent {
                account: "A1".into(),
                source: Source::Panel,
                code,
                sia_code: sia.map(Into::into),
                group: 1,
                zone: 12,
                received_at_ms: 1000,
                panel_time: None,
                protocol: "ADM-CID".into(),
                frame_seq: "0001".into(),
                peer: "1.2.3.4:5".into(),
                facts: Facts::default(),
                detail: serde_json::json!({"k": 1}).into(),
                dedup_key: None,
            },
        }
    }

    #[test]
    fn contact_id_events_are_named_from_the_code_table() {
        let e = event(&stored(1130, None));
        assert_eq!(
            (e.seq, e.code, e.name.as_str(), e.event_class.as_str()),
            (7, 1130, "BURGLAR", "alarm")
        );
        assert_eq!((e.panel_time, e.detail_json.as_str()), (0, r#"{"k":1}"#));
        assert_eq!(e.source, "panel");
    }

    #[test]
    fn sia_events_are_named_from_the_sia_table_and_unknown_codes_stay_unnamed() {
        let e = event(&stored(0, Some("BA")));
        assert_eq!(
            (e.name.as_str(), e.event_class.as_str()),
            ("BURGLARY_ALARM", "alarm")
        );
        let e = event(&stored(0, Some("QQ")));
        assert_eq!((e.name.as_str(), e.event_class.as_str()), ("", ""));
        assert_eq!(
            sia_name("automatic closing (auto-armed)"),
            "AUTOMATIC_CLOSING"
        );
    }

    #[test]
    fn code_1134_is_named_by_the_table_of_the_panels_dialect() {
        let mut e = stored(1134, None);
        e.event.facts.dialect = Some(Dialect::Dc09);
        let dc09 = event(&e);
        assert_eq!(
            (dc09.name.as_str(), dc09.event_class.as_str()),
            ("ENTRY_EXIT", "alarm")
        );
        e.event.facts.dialect = Some(Dialect::Hb);
        let hb = event(&e);
        assert_eq!(
            (hb.name.as_str(), hb.event_class.as_str()),
            ("DOOR_RING", "info")
        );
        // A DC-09 panel's last alarm in GetMachine is named the same way.
        let mut p = PanelState::new("A1");
        p.dialect = Some(Dialect::Dc09);
        p.last_alarm = Some(LastAlarm {
            zone: 3,
            code: 1134,
            sia_code: None,
            time_ms: 1,
            source: Source::Panel,
            seq: 9,
            dialect: None,
        });
        let m = machine(&p);
        assert_eq!(m.dialect, "dc09");
        assert_eq!(m.last_alarm.map(|a| a.name), Some("ENTRY_EXIT".to_string()));
    }

    #[test]
    fn machines_report_unknowns_as_the_proto_says() {
        let mut p = PanelState::new("A1");
        let m = machine(&p);
        assert_eq!(
            (
                m.r#type,
                m.type_name.as_str(),
                m.status,
                m.status_name.as_str()
            ),
            (-1, "UNKNOWN", -1, "unknown")
        );
        assert_eq!((m.ademco_id, m.signal_strength), (0, -1));
        assert_eq!(m.section_status, vec![-1, -1, -1]);
        assert!(m.last_alarm.is_none());
        p.machine_type = 8;
        p.status = [-1, 0, 2, 1];
        p.signal_strength = Some(20);
        let m = machine(&p);
        assert_eq!((m.type_name.as_str(), m.status), ("THREE_SECTION", 0));
        assert_eq!((m.section_status, m.signal_strength), (vec![0, 2, 1], 20));
    }
}
