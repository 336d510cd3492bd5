//! Notifications in `alarmhub serve`, through the real binary against a local webhook
//! (`notify_support::Service`, on a runtime of its own): a panel going offline, coming back
//! and a control outcome reach the webhook signed; a kill -9 with an undelivered
//! notification delivers it after the restart with the same `webhook-id`, once; an HTTP 410
//! disables the channel until `alarmhub notify enable` (audited); and `alarmhub notify log`
//! reads the outbox, daemon running or not, with clear errors.
#![allow(clippy::unwrap_used)]

mod common;
mod notify_support;

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Daemon, Setup, ACCT};
use notify_support::{b64, hmac_sha256, whsec, Reply, Seen, Service};

/// A webhook on a runtime of its own (the binary harness is blocking), answering with the
/// HTTP status in `status` (which a test changes as it goes).
struct Hook {
    svc: Service,
    status: Arc<AtomicU16>,
    _rt: tokio::runtime::Runtime,
}

impl Hook {
    fn start(status: u16) -> Hook {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let status = Arc::new(AtomicU16::new(status));
        let s = Arc::clone(&status);
        let svc = rt.block_on(Service::start(move |_, _| {
            Reply::new(s.load(Ordering::SeqCst), "")
        }));
        Hook {
            svc,
            status,
            _rt: rt,
        }
    }

    /// The first request whose `type` is `kind`, waiting up to `within`.
    fn wait(&self, kind: &str, within: Duration) -> Seen {
        let until = Instant::now() + within;
        loop {
            if let Some(s) = self
                .svc
                .requests()
                .into_iter()
                .find(|r| r.json()["type"] == kind)
            {
                return s;
            }
            assert!(
                Instant::now() < until,
                "no {kind} within {within:?}; got {:?}",
                self.svc
                    .requests()
                    .iter()
                    .map(|r| r.json()["type"].clone())
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn setup(hook: &Hook) -> Setup {
    let (secret, _) = whsec();
    Setup::new().extra(&format!(
        "[[notify.channels]]\nname = \"ops\"\nkind = \"webhook\"\nurl = \"{}/hook\"\nsecret = \"{secret}\"\n\
         [[notify.rules]]\nchannels = [\"ops\"]\nstates = [\"offline\", \"online\", \"control\"]\n\
         [[accounts]]\naccount = \"{ACCT}\"\nname = \"商铺12\"\n",
        hook.svc.base()
    ))
}

fn assert_signed(r: &Seen) {
    let (_, key) = whsec();
    let id = r.header("webhook-id").unwrap();
    let ts = r.header("webhook-timestamp").unwrap();
    let mut signed = format!("{id}.{ts}.").into_bytes();
    signed.extend_from_slice(&r.body);
    assert_eq!(
        r.header("webhook-signature").unwrap(),
        format!("v1,{}", b64(&hmac_sha256(&key, &signed)))
    );
}

fn log_json(d: &Daemon) -> Vec<serde_json::Value> {
    let out = d.cli(&[
        "notify",
        "log",
        "--json",
        "--data-dir",
        d.data_dir().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_panel_going_offline_and_back_and_a_control_outcome_reach_the_webhook_signed() {
    let hook = Hook::start(204);
    let mut d = Daemon::with(&setup(&hook));
    let mut host = d.host();
    host.heartbeat();
    drop(host);
    let off = hook.wait("panel.offline", Duration::from_secs(20));
    assert_signed(&off);
    let id = off.header("webhook-id").unwrap().to_string();
    assert!(
        id.starts_with("ntf_e") && id.ends_with("_panel_offline"),
        "{id}"
    );
    let body = off.json();
    assert_eq!(body["data"]["account"], ACCT);
    assert!(
        body["data"]["text"].as_str().unwrap().contains("商铺12"),
        "{body}"
    );
    assert!(
        hook.svc
            .requests()
            .iter()
            .all(|r| r.json()["type"] != "panel.online"),
        "the first connection is not news"
    );
    let mut host = d.host();
    host.heartbeat();
    let on = hook.wait("panel.online", Duration::from_secs(20));
    assert_signed(&on);
    drop(host);
    let out = d.cli(&["arm", "000000000999"]);
    assert!(!out.status.success());
    let ctl = hook.wait("control.outcome", Duration::from_secs(20));
    assert!(
        ctl.json()["data"]["detail"]
            .as_str()
            .unwrap()
            .starts_with("arm_away "),
        "{}",
        ctl.json()
    );
    let log = log_json(&d);
    assert!(log
        .iter()
        .any(|r| r["notification_id"] == id.as_str() && r["status"] == "delivered"));
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn a_kill_9_with_an_undelivered_notification_delivers_it_after_restart_with_the_same_id_once() {
    let hook = Hook::start(503);
    let mut d = Daemon::with(&setup(&hook));
    let mut host = d.host();
    host.heartbeat();
    drop(host);
    let refused = hook.wait("panel.offline", Duration::from_secs(20));
    let id = refused.header("webhook-id").unwrap().to_string();
    d.kill_9();
    hook.status.store(204, Ordering::SeqCst);
    let seen_before = hook.svc.requests().len();
    // The daemon is down: the log still reads, and shows the delivery waiting.
    let log = log_json(&d);
    let row = log
        .iter()
        .find(|r| r["notification_id"] == id.as_str())
        .unwrap();
    // Refused (retrying), or killed while the answer was on its way (pending, leased).
    assert!(
        row["status"] == "retrying" || row["status"] == "pending",
        "{row}"
    );
    d.restart();
    let until = Instant::now() + Duration::from_secs(40);
    let delivered = loop {
        let later: Vec<Seen> = hook.svc.requests().into_iter().skip(seen_before).collect();
        if let Some(r) = later
            .into_iter()
            .find(|r| r.header("webhook-id") == Some(id.as_str()))
        {
            break r;
        }
        assert!(Instant::now() < until, "not delivered after the restart");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_signed(&delivered);
    assert_eq!(delivered.json()["type"], "panel.offline");
    std::thread::sleep(Duration::from_millis(1500));
    let log = log_json(&d);
    let rows: Vec<_> = log
        .iter()
        .filter(|r| r["notification_id"] == id.as_str())
        .collect();
    assert_eq!(rows.len(), 1, "one row for one notification: {log:?}");
    assert_eq!(rows[0]["status"], "delivered");
    let offline_ids: Vec<String> = hook
        .svc
        .requests()
        .iter()
        .filter(|r| r.json()["type"] == "panel.offline")
        .map(|r| r.header("webhook-id").unwrap().to_string())
        .collect();
    assert!(
        offline_ids.iter().all(|i| *i == id),
        "one offline, one id: {offline_ids:?}"
    );
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn notify_log_refuses_a_missing_data_directory_and_a_bad_limit_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_alarmhub"))
            .args(["notify", "log"])
            .args(args)
            .env_remove("ALARMHUB_DATA_DIR")
            .env_remove("ALARMHUB_CONFIG")
            .output()
            .unwrap()
    };
    let out = run(&["--data-dir", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nope/alarmhub.db") && err.contains("no database"),
        "{err}"
    );
    assert!(!missing.exists(), "a read command creates nothing");
    let out = run(&["--limit", "0", "--data-dir", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--limit"));
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[store]\nno_such_key = 1\n").unwrap();
    let out = run(&["--config", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no_such_key"));
}

#[test]
fn a_daemon_with_a_broken_channel_refuses_to_start_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("alarmhub.toml");
    std::fs::write(
        &cfg,
        format!(
            "[store]\ndata_dir = \"{}\"\n[[notify.channels]]\nname = \"ops\"\nkind = \"webhook\"\n\
             url = \"http://127.0.0.1:9/x\"\nsecret = \"not-a-whsec\"\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_alarmhub"))
        .args(["serve", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ops") && err.contains("secret"), "{err}");
    assert!(
        !err.contains("not-a-whsec"),
        "the secret is never printed: {err}"
    );
}

fn alarm_setup(hook: &Hook) -> Setup {
    let (secret, _) = whsec();
    Setup::new().extra(&format!(
        "[[notify.channels]]\nname = \"ops\"\nkind = \"webhook\"\nurl = \"{}/hook\"\nsecret = \"{secret}\"\n\
         [[notify.rules]]\nchannels = [\"ops\"]\nstates = [\"opened\", \"escalated\", \"closed\"]\n\
         repeat_secs = 60\n",
        hook.svc.base()
    ))
}

/// Make every reminder schedule due now (instead of waiting `repeat_secs`).
fn reminders_due_now(d: &Daemon) {
    let db = rusqlite::Connection::open(d.data_dir().join("alarmhub.db")).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    db.execute("UPDATE notify_reminders SET due_ms = 0", [])
        .unwrap();
}

fn requests_of(hook: &Hook, kind: &str) -> Vec<Seen> {
    hook.svc
        .requests()
        .into_iter()
        .filter(|r| r.json()["type"] == kind)
        .collect()
}

#[test]
fn an_alarm_is_notified_opened_reminded_while_new_silent_once_taken_and_notified_closed() {
    let hook = Hook::start(204);
    let mut d = Daemon::with(&alarm_setup(&hook));
    let mut host = d.host();
    host.report(1130, 3);
    let opened = hook.wait("alarm.opened", Duration::from_secs(20));
    assert_signed(&opened);
    let data = opened.json()["data"].clone();
    let alarm_id = data["alarm_id"].as_i64().unwrap();
    assert_eq!(
        opened.header("webhook-id").unwrap(),
        format!("ntf_a{alarm_id}_alarm_opened_0")
    );
    assert_eq!(
        (data["zone"].as_i64(), data["account"].as_str()),
        (Some(3), Some(ACCT))
    );
    assert!(data["text"].as_str().unwrap().contains("盗警"), "{data}");
    // Still new when the schedule comes due: a reminder, numbered.
    reminders_due_now(&d);
    let reminder = hook.wait("alarm.reminder", Duration::from_secs(20));
    assert_eq!(
        reminder.header("webhook-id").unwrap(),
        format!("ntf_a{alarm_id}_alarm_reminder_1")
    );
    let out = d.cli(&["alarm", "take", &alarm_id.to_string()]);
    assert!(out.status.success(), "{out:?}");
    // Taken: however due the schedule looks, no more reminders.
    std::thread::sleep(Duration::from_millis(500));
    reminders_due_now(&d);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        requests_of(&hook, "alarm.reminder").len(),
        1,
        "a taken alarm is not reminded"
    );
    let out = d.cli(&[
        "alarm",
        "close",
        &alarm_id.to_string(),
        "--resolution",
        "false_alarm_user",
    ]);
    assert!(out.status.success(), "{out:?}");
    let closed = hook.wait("alarm.closed", Duration::from_secs(20));
    assert!(
        closed.json()["data"]["detail"]
            .as_str()
            .unwrap()
            .starts_with("false_alarm_user"),
        "{}",
        closed.json()
    );
    drop(host);
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn a_410_disables_the_channel_until_an_operator_enables_it_and_nothing_is_lost() {
    let hook = Hook::start(410);
    let mut d = Daemon::with(&setup(&hook));
    let dir = d.data_dir();
    let dir = dir.to_str().unwrap();
    let mut host = d.host();
    host.heartbeat();
    drop(host);
    let gone = hook.wait("panel.offline", Duration::from_secs(20));
    let id = gone.header("webhook-id").unwrap().to_string();
    let until = Instant::now() + Duration::from_secs(10);
    let shown = loop {
        let out = d.cli(&["notify", "log", "--data-dir", dir]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        if err.contains("channel ops: disabled by its endpoint") || Instant::now() > until {
            break err;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(shown.contains("notify enable ops"), "{shown}");
    hook.status.store(204, Ordering::SeqCst);
    let before = hook.svc.requests().len();
    let out = d.cli(&["notify", "enable", "ops", "--data-dir", dir]);
    assert!(out.status.success(), "{out:?}");
    let again = d.cli(&["notify", "enable", "ops", "--data-dir", dir]);
    assert_eq!(again.status.code(), Some(1), "not disabled any more");
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let later: Vec<Seen> = hook.svc.requests().into_iter().skip(before).collect();
        if later
            .iter()
            .any(|r| r.header("webhook-id") == Some(id.as_str()))
        {
            break;
        }
        assert!(
            Instant::now() < until,
            "the held notification was not delivered"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let audit = d.cli(&["audit", "--json", "--data-dir", dir]);
    let audit = String::from_utf8_lossy(&audit.stdout).into_owned();
    assert!(
        audit.contains("notify.enable") && audit.contains("\"target\":\"ops\""),
        "{audit}"
    );
    assert_eq!(d.stop(), Some(0));
}
