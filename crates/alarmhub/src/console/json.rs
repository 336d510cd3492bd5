//! The JSON the console's script reads: `alarmhub.v1` messages as plain objects (times stay
//! Unix ms; the browser shows them in its own zone), with the panel's name from
//! `[[accounts]]` added where a panel appears.

use serde_json::{json, Value};

use crate::config::Config;
use crate::proto::v1 as pb;

/// The configured name of `account`, or `""`.
pub fn panel_name(config: &Config, account: &str) -> String {
    config
        .account(account)
        .and_then(|a| a.name.clone())
        .unwrap_or_default()
}

/// A panel.
pub fn machine(config: &Config, m: &pb::Machine) -> Value {
    json!({
        "account": m.account,
        "name": panel_name(config, &m.account),
        "online": m.online,
        "type": m.r#type,
        "type_name": m.type_name,
        "status": m.status,
        "status_name": m.status_name,
        "section_status": m.section_status,
        "dialect": m.dialect,
        "remote_addr": m.remote_addr,
        "last_seen_ms": m.last_seen_ms,
        "signal_strength": m.signal_strength,
        "active_alarms": m.active_alarms.iter().map(|a| json!({
            "zone": a.zone, "code": a.code, "group": a.group, "since_ms": a.since_ms,
        })).collect::<Vec<_>>(),
        "unknown_account": m.unknown_account,
    })
}

/// An event.
pub fn event(e: &pb::Event) -> Value {
    let detail: Value = serde_json::from_str(&e.detail_json).unwrap_or(Value::Null);
    json!({
        "seq": e.seq,
        "account": e.account,
        "source": e.source,
        "code": e.code,
        "sia_code": e.sia_code,
        "group": e.group,
        "zone": e.zone,
        "received_at_ms": e.received_at_ms,
        "name": e.name,
        "class": e.event_class,
        "peer": e.peer,
        "detail": detail,
    })
}

/// An alarm, with its panel's configured name.
pub fn alarm(config: &Config, a: &pb::Alarm) -> Value {
    json!({
        "id": a.id,
        "account": a.account,
        "name": panel_name(config, &a.account),
        "state": a.state,
        "priority": a.priority,
        "category": a.category,
        "opened_at_ms": a.opened_at_ms,
        "code": a.code,
        "sia_code": a.sia_code,
        "zone": a.zone,
        "group": a.group,
        "event_count": a.event_count,
        "last_event_ms": a.last_event_ms,
        "zones": a.zones.iter().map(|z| json!({
            "zone": z.zone, "code": z.code, "restored": z.restored, "last_ms": z.last_ms,
        })).collect::<Vec<_>>(),
        "taken_by": a.taken_by,
        "taken_at_ms": a.taken_at_ms,
        "escalated": a.escalated,
        "closed_at_ms": a.closed_at_ms,
        "closed_by": a.closed_by,
        "resolution": a.resolution,
        "false_alarm": a.false_alarm,
        "change_seq": a.change_seq,
        "take_due_ms": a.take_due_ms,
    })
}

/// An audit row.
pub fn audit(a: &pb::AuditEntry) -> Value {
    json!({
        "id": a.id,
        "at_ms": a.at_ms,
        "who": a.who,
        "role": a.role,
        "kind": a.kind,
        "addr": a.addr,
        "action": a.action,
        "target": a.target,
        "outcome": a.outcome,
        "detail": a.detail_json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panel_carries_its_configured_name() {
        let c = Config::from_toml_str(
            "[[accounts]]\naccount = \"861234567890\"\nname = \"Warehouse 7\"\n",
            "<string>",
        )
        .expect("config");
        let m = pb::Machine {
            account: "861234567890".into(),
            online: true,
            ..pb::Machine::default()
        };
        let v = machine(&c, &m);
        assert_eq!(v["name"], "Warehouse 7");
        assert_eq!(v["online"], true);
        assert_eq!(machine(&c, &pb::Machine::default())["name"], "");
    }

    #[test]
    fn an_event_detail_is_parsed_and_bad_json_becomes_null() {
        let e = pb::Event {
            detail_json: "{\"outcome\":\"done\"}".into(),
            ..pb::Event::default()
        };
        assert_eq!(event(&e)["detail"]["outcome"], "done");
        let bad = pb::Event {
            detail_json: "{".into(),
            ..pb::Event::default()
        };
        assert_eq!(event(&bad)["detail"], Value::Null);
    }
}
