//! How the client commands print panels and events: one human line, or one JSON object.

use panel_proto::codes::{machine_type, MachineStatus};
use serde_json::json;

use crate::proto::alarm_server::MachineReply;
use crate::proto::v1 as pb;

/// Unix milliseconds as `2026-11-21T20:00:00Z` (empty for 0).
pub fn time_ms(ms: i64) -> String {
    if ms <= 0 {
        return "-".into();
    }
    format!(
        "{}Z",
        panel_proto::timestamp::Timestamp::from_unix(ms / 1000)
    )
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
        "{:<18} {:<7} {:<13} {:<9} {:<10} {:<30} ALARMS (zones)",
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
        "{:<18} {:<7} {:<13} {:<9} signal {:<3} last seen {:<20} alarms [{}]{unknown}",
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

/// One v1 `Event`.
pub fn event(e: &pb::Event, as_json: bool) -> String {
    if as_json {
        let detail: serde_json::Value =
            serde_json::from_str(&e.detail_json).unwrap_or(serde_json::Value::Null);
        return json!({
            "seq": e.seq, "account": e.account, "source": e.source, "code": e.code, "sia_code": e.sia_code,
            "group": e.group, "zone": e.zone, "received_at_ms": e.received_at_ms, "panel_time": e.panel_time,
            "protocol": e.protocol, "frame_seq": e.frame_seq, "peer": e.peer, "name": e.name,
            "event_class": e.event_class, "detail": detail,
        })
        .to_string();
    }
    let code = if e.code != 0 {
        e.code.to_string()
    } else {
        e.sia_code.clone()
    };
    format!(
        "#{:<8} {} {:<16} {:<6} {:<28} zone {:<3} group {:<2} {}",
        e.seq,
        time_ms(e.received_at_ms),
        e.account,
        code,
        if e.name.is_empty() { "-" } else { &e.name },
        e.zone,
        e.group,
        e.source
    )
}
