//! `GET /console/api/outputs`: the links to other systems as the console shows them — every
//! `[[automation]]` output (name, kind, mode, link state, peer, backlog, last ACK) and the
//! MQTT bridge (connected or not, backlog, last error). The figures are the ones
//! `/metrics` exports, so the route needs [`Permission::Metrics`] in the permission table
//! (`crate::auth::table`), like `/metrics` itself.
//!
//! The handler only reads the outputs' `watch` channels ([`crate::outputs::Running`]); it
//! never waits on an output and never serves a secret (no broker password, no keys).
//!
//! [`Permission::Metrics`]: crate::auth::role::Permission::Metrics

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::api::Answer;
use super::ConsoleState;
use crate::config::{AutomationConfig, AutomationMode, Config};
use crate::outputs::Running;

/// The handler.
pub async fn outputs(State(c): State<ConsoleState>) -> Answer {
    Ok(Json(snapshot(&c.api.config, &c.outputs)))
}

/// The JSON the console gets: `{"automation": [...], "mqtt": null | {...}}`.
pub fn snapshot(config: &Config, running: &Running) -> Value {
    let automation: Vec<Value> = config
        .automation
        .iter()
        .map(|a| automation_json(a, running))
        .collect();
    let mqtt = match (&config.mqtt, &running.mqtt) {
        (Some(cfg), Some(watch)) => {
            let s = watch.borrow().clone();
            json!({
                "broker": cfg.url,
                "connected": s.connected,
                "backlog": s.backlog,
                "confirmed_seq": s.confirmed_seq,
                "last_error": s.last_error,
            })
        }
        _ => Value::Null,
    };
    json!({ "automation": automation, "mqtt": mqtt })
}

fn automation_json(a: &AutomationConfig, running: &Running) -> Value {
    let kind = a.kind.as_str();
    let (mode, target) = match a.mode {
        AutomationMode::Listen => ("listen", None),
        AutomationMode::Connect => ("connect", a.target.clone()),
    };
    let mut v = json!({
        "name": a.name,
        "kind": kind,
        "mode": mode,
        "target": target,
    });
    let status = running
        .surgard
        .iter()
        .map(|w| w.borrow().clone())
        .find(|s| s.name == a.name);
    match status {
        Some(s) => {
            v["state"] = json!(s.state.as_str());
            v["listening"] = json!(s.listening);
            v["peer"] = json!(s.peer);
            v["backlog"] = json!(s.backlog);
            v["acked_seq"] = json!(s.acked_seq);
            v["last_ack_ms"] = json!(s.last_ack_ms);
            v["sent"] = json!(s.sent);
        }
        // Configured but not running (a daemon started without the outputs).
        None => v["state"] = json!("stopped"),
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::surgard::status::Reporter;
    use crate::outputs::surgard::LinkState;

    #[test]
    fn each_output_shows_its_configuration_and_its_live_status() {
        let config = Config::from_toml_str(
            "[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\nusername = \"ha\"\npassword = \"hunter2hunter2\"\n\
             [[automation]]\nname = \"cms\"\nkind = \"surgard\"\n\
             [[automation]]\nname = \"backup\"\nkind = \"surgard\"\nmode = \"connect\"\n\
             target = \"10.0.0.9:1025\"\n",
            "<test>",
        )
        .unwrap();
        let (reporter, watch) = Reporter::new("cms", LinkState::Waiting);
        reporter.state(LinkState::Up, Some("127.0.0.1:5000"));
        let (_tx, mqtt) = tokio::sync::watch::channel(crate::outputs::mqtt::MqttStatus {
            connected: true,
            confirmed_seq: 9,
            backlog: 2,
            last_error: None,
        });
        let running = Running {
            surgard: vec![watch],
            mqtt: Some(mqtt),
        };
        let v = snapshot(&config, &running);
        let cms = &v["automation"][0];
        assert_eq!(
            (&cms["name"], &cms["kind"], &cms["mode"], &cms["state"]),
            (
                &json!("cms"),
                &json!("surgard"),
                &json!("listen"),
                &json!("up")
            )
        );
        assert_eq!(cms["peer"], "127.0.0.1:5000");
        let backup = &v["automation"][1];
        assert_eq!(
            (&backup["mode"], &backup["target"], &backup["state"]),
            (
                &json!("connect"),
                &json!("10.0.0.9:1025"),
                &json!("stopped")
            )
        );
        assert_eq!(v["mqtt"]["connected"], true);
        assert_eq!(v["mqtt"]["backlog"], 2);
        assert!(!v.to_string().contains("hunter2"), "{v}");
    }
}
