//! Home Assistant MQTT discovery configs, with the keys of Home Assistant's MQTT
//! `alarm_control_panel` and `binary_sensor` documentation.
//!
//! * Availability uses the list form with `availability_mode: all`: the entity is available
//!   only while the bridge is up (`<base>/status`, the last will) **and** the panel is online
//!   (`<base>/<acct>/availability`, from supervision).
//! * `code: REMOTE_CODE` makes the frontend ask for a numeric code without checking it
//!   locally; `code_arm_required: false`, `code_disarm_required: true`; the
//!   `command_template` sends the action, the code and Home Assistant's clock (`ts`) as JSON.
//! * `default_entity_id` (`<domain>.<object id>`) replaces `object_id`, which Home Assistant
//!   deprecated in 2025.10; older versions drop the unknown key.
//! * Arm home is offered only by hosts that can arm stay (HB types 3 and 5), or while the
//!   type is not known yet (the control path then answers truthfully).

use serde_json::{json, Value};

use super::topics::{slug, Topics};
use crate::outputs::source::PanelSnapshot;

/// What Home Assistant's command template renders: action, code, and its clock.
pub const COMMAND_TEMPLATE: &str =
    r#"{"action": "{{ action }}", "code": "{{ code }}", "ts": {{ as_timestamp(now()) }}}"#;

fn origin() -> Value {
    json!({
        "name": "alarmhub",
        "sw_version": env!("CARGO_PKG_VERSION"),
        "support_url": env!("CARGO_PKG_REPOSITORY"),
    })
}

fn availability(t: &Topics, account: &str) -> Value {
    json!([
        { "topic": t.bridge_status() },
        { "topic": t.availability(account) },
    ])
}

fn device(t: &Topics, p: &PanelSnapshot, name: Option<&str>) -> Value {
    let ty = panel_proto::codes::machine_type(p.machine_type);
    let model = if p.machine_type >= 0 {
        format!("HB type {} ({})", ty.number, ty.name)
    } else {
        "alarm panel".to_string()
    };
    json!({
        "identifiers": [format!("{}_{}", t.node(), slug(&p.account))],
        "name": name.map_or_else(|| format!("Alarm panel {}", p.account), str::to_string),
        "model": model,
        "serial_number": p.account,
    })
}

/// Sections that get their own entity: 0, plus 1..=3 on a three-section host.
pub fn sections(p: &PanelSnapshot) -> Vec<u8> {
    let ty = panel_proto::codes::machine_type(p.machine_type);
    if ty.sections == 0 {
        vec![0]
    } else {
        (0..=ty.sections).collect()
    }
}

/// The `alarm_control_panel` config of a host (`section` 0) or one of its sections.
pub fn alarm_panel(t: &Topics, p: &PanelSnapshot, section: u8, name: Option<&str>) -> Value {
    let ty = panel_proto::codes::machine_type(p.machine_type);
    let mut features = vec!["arm_away"];
    if p.machine_type < 0 || ty.arm_stay {
        features.push("arm_home");
    }
    let object_id = t.object_id(&p.account, section);
    let entity_name = match section {
        0 => Value::Null,
        n => json!(format!("Section {n}")),
    };
    json!({
        "name": entity_name,
        "unique_id": format!("{}_{}", t.node(), object_id),
        "default_entity_id": format!("alarm_control_panel.{}_{}", t.node(), object_id),
        "state_topic": t.state(&p.account, section),
        "command_topic": t.command(&p.account, section),
        "command_template": COMMAND_TEMPLATE,
        "availability": availability(t, &p.account),
        "availability_mode": "all",
        "payload_available": "online",
        "payload_not_available": "offline",
        "payload_arm_away": "ARM_AWAY",
        "payload_arm_home": "ARM_HOME",
        "payload_disarm": "DISARM",
        "supported_features": features,
        "code": "REMOTE_CODE",
        "code_arm_required": false,
        "code_disarm_required": true,
        "qos": 1,
        "retain": false,
        "device": device(t, p, name),
        "origin": origin(),
    })
}

/// The `binary_sensor` config of one zone: `ON` while its alarm is open.
pub fn zone_sensor(t: &Topics, p: &PanelSnapshot, zone: u16, name: Option<&str>) -> Value {
    let object_id = format!("{}_zone_{zone}", slug(&p.account));
    json!({
        "name": format!("Zone {zone}"),
        "unique_id": format!("{}_{}", t.node(), object_id),
        "default_entity_id": format!("binary_sensor.{}_{}", t.node(), object_id),
        "state_topic": t.zone(&p.account, zone),
        "payload_on": "ON",
        "payload_off": "OFF",
        "device_class": "safety",
        "availability": availability(t, &p.account),
        "availability_mode": "all",
        "payload_available": "online",
        "payload_not_available": "offline",
        "qos": 1,
        "device": device(t, p, name),
        "origin": origin(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panel(machine_type: i32) -> PanelSnapshot {
        PanelSnapshot {
            account: "1234".into(),
            online: true,
            machine_type,
            status: [2, -1, -1, -1],
            ..PanelSnapshot::default()
        }
    }

    #[test]
    fn alarm_panel_config_has_the_documented_keys() {
        let t = Topics::new("alarmhub", "homeassistant");
        let c = alarm_panel(&t, &panel(6), 0, Some("Gate house"));
        assert_eq!(c["state_topic"], "alarmhub/1234/state");
        assert_eq!(c["command_topic"], "alarmhub/1234/set");
        assert_eq!(c["availability"][1]["topic"], "alarmhub/1234/availability");
        assert_eq!(c["availability_mode"], "all");
        assert_eq!(c["supported_features"], json!(["arm_away"]));
        assert_eq!(c["code_arm_required"], false);
        assert_eq!(c["unique_id"], "alarmhub_1234");
        assert_eq!(c["default_entity_id"], "alarm_control_panel.alarmhub_1234");
        assert_eq!(c["device"]["name"], "Gate house");
        assert!(c["name"].is_null());
        let lcd = alarm_panel(&t, &panel(5), 0, None);
        assert_eq!(lcd["supported_features"], json!(["arm_away", "arm_home"]));
    }

    #[test]
    fn the_command_template_renders_what_the_command_parser_reads() {
        // As Home Assistant renders it: action, code (None when no code was asked), clock.
        for (code, want) in [("123456", Some("123456")), ("None", None)] {
            let rendered = COMMAND_TEMPLATE
                .replace("{{ action }}", "DISARM")
                .replace("{{ code }}", code)
                .replace("{{ as_timestamp(now()) }}", "1700000000.123456");
            let c = super::super::command::parse(rendered.as_bytes()).expect("parses");
            assert_eq!(c.code.as_ref().map(|s| s.expose()), want);
            assert_eq!(c.ts_ms, Some(1_700_000_000_123));
        }
    }

    #[test]
    fn three_section_hosts_get_an_entity_per_section() {
        assert_eq!(sections(&panel(8)), vec![0, 1, 2, 3]);
        assert_eq!(sections(&panel(4)), vec![0]);
        let t = Topics::new("alarmhub", "homeassistant");
        let c = alarm_panel(&t, &panel(8), 2, None);
        assert_eq!(c["command_topic"], "alarmhub/1234/section/2/set");
        assert_eq!(c["unique_id"], "alarmhub_1234_section_2");
        assert_eq!(c["name"], "Section 2");
    }
}
