//! How the client commands print panels and events: one human line, or one JSON object.
//! Human times are in the zone chosen by [`use_zone`] (the local one, or UTC with `--utc`);
//! JSON keeps Unix milliseconds.

use std::sync::OnceLock;

use panel_proto::codes::{machine_type, MachineStatus};
use serde_json::json;

use super::zone::Zone;
use crate::proto::alarm_server::MachineReply;
use crate::proto::v1 as pb;

static ZONE: OnceLock<Zone> = OnceLock::new();

/// The zone human times are printed in (once per process; UTC until set).
fn set_zone(zone: Zone) {
    let _ = ZONE.set(zone);
}

/// Print human times (and read `--since` dates) in UTC with `--utc`, else in the local zone
/// (`TZ`, else /etc/localtime; UTC, with the reason on stderr, when that cannot be read).
/// Every command that prints times calls this once, with its `--utc`.
pub fn use_zone(utc: bool) {
    set_zone(if utc {
        Zone::utc()
    } else {
        Zone::local().unwrap_or_else(|e| {
            eprintln!("alarmhub: {e}; printing times in UTC");
            Zone::utc()
        })
    });
}

/// The zone human times are printed (and `--since` dates read) in.
pub fn zone() -> Zone {
    ZONE.get().cloned().unwrap_or_else(Zone::utc)
}

/// Unix milliseconds as `2026-11-21T20:00:00+08:00` in the zone set by [`set_zone`]
/// (`…Z` in UTC); `-` for 0.
pub fn time_ms(ms: i64) -> String {
    if ms <= 0 {
        return "-".into();
    }
    match ZONE.get() {
        Some(z) => z.format_ms(ms),
        None => Zone::utc().format_ms(ms),
    }
}

fn type_name(t: i32) -> &'static str {
    machine_type(t).name
}

fn status_name(s: i32) -> &'static str {
    MachineStatus::from_number(s).name()
}

/// One compat `MachineReply`: account, online/offline, type, status, alarm or "no alarm".
pub fn sync_line(m: &MachineReply, as_json: bool) -> String {
    let a = m.alarm_message.unwrap_or_default();
    if as_json {
        return json!({
            "account": m.account, "online": m.online, "type": m.r#type, "type_name": type_name(m.r#type),
            "status": m.status, "status_name": status_name(m.status),
            "alarm": { "valid": a.valid, "zone": a.zone, "event": a.event, "timestamp": a.timestamp, "source": a.source },
        })
        .to_string();
    }
    let alarm = if a.valid {
        let name = panel_proto::codes::event_info(u16::try_from(a.event).unwrap_or(0))
            .map_or("", |i| i.name);
        format!(
            "alarm zone {} event {} {} at {}",
            a.zone,
            a.event,
            name,
            time_ms(a.timestamp * 1000)
        )
    } else {
        "no alarm".into()
    };
    format!(
        "{} {} {} {} {}",
        m.account,
        if m.online { "online" } else { "offline" },
        type_name(m.r#type),
        status_name(m.status),
        alarm
    )
}

/// The header row of the human `machines` listing (columns of [`machine`]).
pub fn machines_header() -> String {
    format!(
        "{:<18} {:<7} {:<13} {:<9} {:<10} {:<35} ALARMS (zones)",
        "ACCOUNT", "STATE", "TYPE", "STATUS", "SIGNAL", "LAST SEEN"
    )
}

/// One v1 `Machine`.
pub fn machine(m: &pb::Machine, as_json: bool) -> String {
    if as_json {
        return json!({
            "account": m.account, "online": m.online, "type": m.r#type, "type_name": m.type_name,
            "status": m.status, "status_name": m.status_name, "section_status": m.section_status,
            "ademco_id": m.ademco_id, "dialect": m.dialect, "remote_addr": m.remote_addr,
            "last_seen_ms": m.last_seen_ms, "signal_strength": m.signal_strength,
            "active_alarm_zones": m.active_alarms.iter().map(|a| a.zone).collect::<Vec<_>>(),
            "unknown_account": m.unknown_account,
        })
        .to_string();
    }
    let zones: Vec<String> = m.active_alarms.iter().map(|a| a.zone.to_string()).collect();
    let unknown = if m.unknown_account {
        format!(
            "  [unknown account: adopt with `alarmhub account adopt {}`]",
            m.account
        )
    } else {
        String::new()
    };
    format!(
        "{:<18} {:<7} {:<13} {:<9} signal {:<3} last seen {:<25} alarms [{}]{unknown}",
        m.account,
        if m.online { "online" } else { "offline" },
        m.type_name,
        m.status_name,
        if m.signal_strength >= 0 {
            m.signal_strength.to_string()
        } else {
            "-".into()
        },
        time_ms(m.last_seen_ms),
        zones.join(",")
    )
}

/// The outcome of a control command event (`done`, `wrong_password`, `timed_out` …);
/// `None` for other events.
fn control_outcome(e: &pb::Event, detail: &serde_json::Value) -> Option<String> {
    if e.source != "control" {
        return None;
    }
    Some(
        detail
            .get("outcome")
            .and_then(|o| o.as_str())
            .unwrap_or("unknown")
            .to_string(),
    )
}

/// One v1 `Event`. A control command shows its outcome: `DISARM FAILED (wrong_password)`
/// unless the host confirmed it (`DISARM done`); JSON adds `outcome` and `failed`.
pub fn event(e: &pb::Event, as_json: bool) -> String {
    let detail: serde_json::Value =
        serde_json::from_str(&e.detail_json).unwrap_or(serde_json::Value::Null);
    let outcome = control_outcome(e, &detail);
    if as_json {
        let mut v = json!({
            "seq": e.seq, "account": e.account, "source": e.source, "code": e.code, "sia_code": e.sia_code,
            "group": e.group, "zone": e.zone, "received_at_ms": e.received_at_ms, "panel_time": e.panel_time,
            "protocol": e.protocol, "frame_seq": e.frame_seq, "peer": e.peer, "name": e.name,
            "event_class": e.event_class, "detail": detail,
        });
        if let (Some(o), Some(m)) = (&outcome, v.as_object_mut()) {
            m.insert("failed".into(), json!(o != "done"));
            m.insert("outcome".into(), json!(o));
        }
        return v.to_string();
    }
    let code = if e.code != 0 {
        e.code.to_string()
    } else {
        e.sia_code.clone()
    };
    let name = if e.name.is_empty() { "-" } else { &e.name };
    let name = match &outcome {
        Some(o) if o == "done" => format!("{name} done"),
        Some(o) => format!("{name} FAILED ({o})"),
        None => name.to_string(),
    };
    format!(
        "#{:<8} {} {:<16} {:<6} {:<28} zone {:<3} group {:<2} {}",
        e.seq,
        time_ms(e.received_at_ms),
        e.account,
        code,
        name,
        e.zone,
        e.group,
        e.source
    )
}
