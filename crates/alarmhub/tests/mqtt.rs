#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The MQTT bridge against the real Mosquitto on 127.0.0.1:1883 (`.ci/mosquitto-setup.sh`
//! starts one), with a Home Assistant stand-in that speaks MQTT like Home Assistant does.
//! Every test has its own base topic, discovery prefix and client ids, so tests run side
//! by side on the one broker, and clears the retained messages it left.

#[path = "outputs_support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use alarmhub::config::{Config, MqttConfig};
use alarmhub::outputs::{self, ArmAction, CursorStore};
use serde_json::Value;
use support::mqtt::{Ha, Proxy, WAIT};
use support::{cid, link, Memory, ScriptedHost};
use tokio::sync::watch;
use tokio::time::{timeout, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("ahtest-{tag}-{}-{nanos}", std::process::id())
}

fn ts_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

struct Bridge {
    cancel: CancellationToken,
    tracker: TaskTracker,
    status: watch::Receiver<outputs::mqtt::MqttStatus>,
}

impl Bridge {
    fn start(mem: &Memory, host: Arc<ScriptedHost>, cfg: MqttConfig) -> Bridge {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter("alarmhub=debug")
            .try_init();
        let mut config = Config::default();
        config.mqtt = Some(cfg);
        config.validate().unwrap();
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let running = outputs::spawn(&config, mem.sources(host), cancel.clone(), &tracker);
        Bridge {
            cancel,
            tracker,
            status: running.mqtt.unwrap(),
        }
    }

    async fn connected(&mut self, want: bool) {
        timeout(WAIT, self.status.wait_for(|s| s.connected == want))
            .await
            .unwrap()
            .unwrap();
    }

    async fn stop(self) {
        self.cancel.cancel();
        self.tracker.close();
        timeout(WAIT, self.tracker.wait()).await.unwrap();
    }
}

fn config(base: &str, url: &str) -> MqttConfig {
    MqttConfig {
        url: url.to_string(),
        base_topic: base.to_string(),
        discovery_prefix: format!("{base}-ha"),
        client_id: Some(format!("{base}-bridge")),
        control_accounts: vec!["1234".into()],
        ..MqttConfig::default()
    }
}

/// An LCD host (type 5: arm away and stay), disarmed, online.
fn lcd_panel(mem: &Memory) {
    mem.log.append(cid("1234", 1727, 0, 0));
    mem.log.append(cid("1234", 1400, 0, 0));
}

async fn ha_for(base: &str) -> Ha {
    Ha::connect(
        &format!("{base}-ha"),
        &[format!("{base}/#"), format!("{base}-ha/#")],
    )
    .await
}

#[tokio::test]
async fn discovery_state_zones_and_events_follow_the_panel() {
    let base = unique("disc");
    let mem = Memory::new();
    lcd_panel(&mem);
    let mut ha = ha_for(&base).await;
    let host = ScriptedHost::new(mem.log.clone(), Duration::ZERO);
    let mut bridge = Bridge::start(&mem, host, config(&base, "mqtt://127.0.0.1:1883"));
    bridge.connected(true).await;

    let cfg_topic = format!(
        "{base}-ha/alarm_control_panel/{}/1234/config",
        base.replace('-', "_2d")
    );
    let cfg = ha.expect(&cfg_topic, |_| true).await;
    assert!(cfg.retain || !cfg.payload.is_empty());
    let c: Value = serde_json::from_str(&cfg.payload).unwrap();
    assert_eq!(c["state_topic"], format!("{base}/1234/state"));
    assert_eq!(c["command_topic"], format!("{base}/1234/set"));
    assert_eq!(c["availability"][0]["topic"], format!("{base}/status"));
    assert_eq!(
        c["availability"][1]["topic"],
        format!("{base}/1234/availability")
    );
    assert_eq!(c["availability_mode"], "all");
    assert_eq!(
        c["supported_features"],
        serde_json::json!(["arm_away", "arm_home"])
    );
    assert_eq!(c["code"], "REMOTE_CODE");
    assert_eq!(c["code_arm_required"], false);
    assert_eq!(c["payload_arm_home"], "ARM_HOME");
    assert!(c["unique_id"].as_str().unwrap().ends_with("_1234"));
    assert!(c["device"]["identifiers"][0].is_string());
    assert_eq!(c["origin"]["name"], "alarmhub");
    ha.expect(&format!("{base}/1234/state"), |p| p == "disarmed")
        .await;
    ha.expect(&format!("{base}/1234/availability"), |p| p == "online")
        .await;
    ha.expect(&format!("{base}/status"), |p| p == "online")
        .await;

    // A burglary in zone 5: a zone sensor appears, ON, the panel is triggered, the event is
    // published; the restore clears both.
    let seq = mem.log.append(cid("1234", 1130, 0, 5));
    let zone_cfg = ha
        .expect(
            &format!(
                "{base}-ha/binary_sensor/{}/1234_zone_5/config",
                base.replace('-', "_2d")
            ),
            |_| true,
        )
        .await;
    let z: Value = serde_json::from_str(&zone_cfg.payload).unwrap();
    assert_eq!(z["state_topic"], format!("{base}/1234/zone/5/state"));
    assert_eq!(z["payload_on"], "ON");
    ha.expect(&format!("{base}/1234/zone/5/state"), |p| p == "ON")
        .await;
    ha.expect(&format!("{base}/1234/state"), |p| p == "triggered")
        .await;
    let ev = ha.expect(&format!("{base}/1234/event"), |_| true).await;
    assert!(!ev.retain);
    let e: Value = serde_json::from_str(&ev.payload).unwrap();
    assert_eq!(
        (e["seq"].as_i64(), e["code"].as_i64()),
        (Some(seq), Some(1130))
    );
    assert_eq!(e["class"], "alarm");
    mem.log.append(cid("1234", 3130, 0, 5));
    ha.expect(&format!("{base}/1234/zone/5/state"), |p| p == "OFF")
        .await;
    ha.expect(&format!("{base}/1234/state"), |p| p == "disarmed")
        .await;

    // Home Assistant restarts: its birth message brings the discovery configs again.
    ha.publish(&format!("{base}-ha/status"), "online", false)
        .await;
    ha.expect(&cfg_topic, |_| true).await;
    bridge.stop().await;
    ha.clear_retained(&[]).await;
}

#[tokio::test]
async fn arm_away_changes_state_only_after_the_host_confirms() {
    let base = unique("arm");
    let mem = Memory::new();
    lcd_panel(&mem);
    let mut ha = ha_for(&base).await;
    let host = ScriptedHost::new(mem.log.clone(), Duration::from_millis(400));
    let mut bridge = Bridge::start(&mem, host.clone(), config(&base, "mqtt://127.0.0.1:1883"));
    bridge.connected(true).await;
    let state = format!("{base}/1234/state");
    let result = format!("{base}/1234/command_result");
    ha.expect(&state, |p| p == "disarmed").await;

    let cmd = format!(
        r#"{{"action": "ARM_AWAY", "code": "None", "ts": {}}}"#,
        ts_now()
    );
    ha.publish(&format!("{base}/1234/set"), &cmd, false).await;
    ha.expect(&state, |p| p == "arming").await;
    assert_eq!(
        host.confirmed.load(Ordering::SeqCst),
        0,
        "arming shown before the host answered"
    );
    ha.expect(&state, |p| p == "armed_away").await;
    assert_eq!(
        host.confirmed.load(Ordering::SeqCst),
        1,
        "armed_away shown before the host confirmed"
    );
    let r = ha.expect(&result, |_| true).await;
    let r: Value = serde_json::from_str(&r.payload).unwrap();
    assert_eq!(
        (r["action"].as_str(), r["result"].as_str()),
        (Some("arm_away"), Some("done"))
    );
    let call = host.calls()[0].clone();
    assert_eq!(
        (call.action, call.section, call.actor.as_str()),
        (ArmAction::ArmAway, 0, "mqtt")
    );
    assert!(call.password.is_none());
    let states = ha.last(&state);
    assert_eq!(states, ["disarmed", "arming", "armed_away"], "{states:?}");

    // A wrong code: the host refuses, Home Assistant gets the previous state back.
    let cmd = format!(
        r#"{{"action": "DISARM", "code": "000000", "ts": {}}}"#,
        ts_now()
    );
    ha.publish(&format!("{base}/1234/set"), &cmd, false).await;
    ha.expect(&state, |p| p == "disarming").await;
    ha.expect(&state, |p| p == "armed_away").await;
    ha.expect(&result, |p| p.contains("\"wrong_password\""))
        .await;

    // The right code (Home Assistant's code is the HB password) disarms.
    let cmd = format!(
        r#"{{"action": "DISARM", "code": "123456", "ts": {}}}"#,
        ts_now()
    );
    ha.publish(&format!("{base}/1234/set"), &cmd, false).await;
    ha.expect(&state, |p| p == "disarmed").await;
    assert_eq!(
        host.calls()[2].password.as_ref().unwrap().expose(),
        "123456"
    );
    bridge.stop().await;
    ha.clear_retained(&[]).await;
}

#[tokio::test]
async fn retained_stale_and_unlisted_commands_never_reach_the_panel() {
    let base = unique("refuse");
    let mem = Memory::new();
    lcd_panel(&mem);
    mem.log.append(cid("5678", 1400, 0, 0));
    let mut ha = ha_for(&base).await;
    // A retained DISARM waiting on the broker from before the start.
    let set = format!("{base}/1234/set");
    let cmd = format!(
        r#"{{"action": "DISARM", "code": "123456", "ts": {}}}"#,
        ts_now()
    );
    ha.publish(&set, &cmd, true).await;
    // Our own subscription echoes it once the broker stored it.
    ha.expect(&set, |p| p == cmd).await;
    let host = ScriptedHost::new(mem.log.clone(), Duration::ZERO);
    let mut bridge = Bridge::start(&mem, host.clone(), config(&base, "mqtt://127.0.0.1:1883"));
    bridge.connected(true).await;
    let result = format!("{base}/1234/command_result");
    ha.expect(&format!("{base}/1234/state"), |p| p == "disarmed")
        .await;

    let old = format!(r#"{{"action": "ARM_AWAY", "ts": {}}}"#, ts_now() - 120.0);
    ha.publish(&set, &old, false).await;
    ha.expect(&result, |p| p.contains("\"too_old\"")).await;
    ha.publish(&format!("{base}/5678/set"), "ARM_AWAY", false)
        .await;
    ha.expect(&format!("{base}/5678/command_result"), |p| {
        p.contains("\"not_allowed\"")
    })
    .await;
    ha.publish(&set, "ARM_NIGHT", false).await;
    ha.expect(&result, |p| p.contains("\"malformed\"")).await;
    ha.drain_for(Duration::from_millis(500)).await;
    assert!(host.calls().is_empty(), "{:?}", host.calls());
    bridge.stop().await;
    ha.clear_retained(&[set]).await;
}

#[tokio::test]
async fn availability_follows_supervision() {
    let base = unique("avail");
    let mem = Memory::new();
    lcd_panel(&mem);
    let mut ha = ha_for(&base).await;
    let host = ScriptedHost::new(mem.log.clone(), Duration::ZERO);
    let mut bridge = Bridge::start(&mem, host, config(&base, "mqtt://127.0.0.1:1883"));
    bridge.connected(true).await;
    let avail = format!("{base}/1234/availability");
    ha.expect(&avail, |p| p == "online").await;
    mem.log.append(link("1234", 1944));
    ha.expect(&avail, |p| p == "offline").await;
    mem.log.append(link("1234", 1946));
    ha.expect(&avail, |p| p == "online").await;
    bridge.stop().await;
    ha.expect(&format!("{base}/status"), |p| p == "offline")
        .await;
    ha.clear_retained(&[]).await;
}

#[tokio::test]
async fn a_broker_outage_loses_no_event_and_no_state() {
    let base = unique("outage");
    let mem = Memory::new();
    lcd_panel(&mem);
    let mut ha = ha_for(&base).await;
    let proxy = Proxy::start().await;
    let host = ScriptedHost::new(mem.log.clone(), Duration::ZERO);
    let url = format!("mqtt://{}", proxy.addr);
    let mut bridge = Bridge::start(&mem, host, config(&base, &url));
    bridge.connected(true).await;
    let state = format!("{base}/1234/state");
    let events = format!("{base}/1234/event");
    ha.expect(&state, |p| p == "disarmed").await;
    let first = mem.log.append(cid("1234", 1130, 0, 1));
    ha.expect(&events, |p| p.contains(&format!("\"seq\":{first}")))
        .await;

    proxy.up.send_replace(false);
    bridge.connected(false).await;
    let mut stored = Vec::new();
    for z in 1..=50 {
        stored.push(mem.log.append(cid("1234", 3130, 0, z)));
    }
    stored.push(mem.log.append(cid("1234", 3400, 0, 0)));
    proxy.up.send_replace(true);
    bridge.connected(true).await;

    ha.expect(&state, |p| p == "armed_away").await;
    let last = *stored.last().unwrap();
    ha.expect(&events, |p| p.contains(&format!("\"seq\":{last}")))
        .await;
    let got: BTreeSet<i64> = ha
        .last(&events)
        .iter()
        .filter_map(|p| serde_json::from_str::<Value>(p).ok()?["seq"].as_i64())
        .collect();
    let missing: Vec<i64> = stored
        .iter()
        .copied()
        .filter(|s| !got.contains(s))
        .collect();
    assert!(missing.is_empty(), "events lost in the outage: {missing:?}");
    // The cursor reaches the last event once the broker acknowledged everything.
    let deadline = Instant::now() + WAIT;
    while mem.cursors.load("mqtt").await.unwrap() != Some(last) {
        assert!(Instant::now() < deadline, "cursor stuck");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bridge.stop().await;
    ha.clear_retained(&[]).await;
}
