//! The compat API against a real non-Rust client: Python grpcio stubs generated from the
//! frozen `alarm_server.proto` (`.ci/python-setup.sh`) drive `IsNeedSync` / `Sync` against
//! the real `alarmhub` binary while the scripted Hengbo host reports events, like the
//! deployed PHP cron worker does (`tests/python/compat_client.py`). The interpreter comes
//! from `common::python` (skipped loudly without python3, except under CI).
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use common::python::{python, Python};
use common::{Daemon, ACCT};
use serde_json::Value;

const UNKNOWN: &str = "NO-SUCH-PANEL";

struct Client {
    python: Python,
    target: SocketAddr,
}

impl Client {
    /// Run `compat_client.py`; its JSON lines.
    fn run(&self, args: &[&str]) -> Vec<Value> {
        let (ok, out, err) = self.run_raw(args);
        assert!(
            ok,
            "compat_client.py failed:\nstdout:\n{out}\nstderr:\n{err}"
        );
        out.lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}\n{err}"))
            })
            .collect()
    }

    /// Run `compat_client.py`: (exit status 0, stdout, stderr).
    fn run_raw(&self, args: &[&str]) -> (bool, String, String) {
        let mut all = vec!["--wait-seconds", "20"];
        all.extend_from_slice(args);
        let r = self.python.compat_client(self.target, &all);
        (r.ok(), r.stdout, r.stderr)
    }
}

fn lines<'a>(out: &'a [Value], call: &str, round: i64, request: &str) -> Vec<&'a Value> {
    out.iter()
        .filter(|v| v["call"] == call && v["round"] == round)
        .filter(|v| call == "IsNeedSync" || v["request"] == request)
        .collect()
}

fn replies<'a>(out: &'a [Value], round: i64, request: &str) -> Vec<&'a Value> {
    let done = lines(out, "SyncDone", round, request);
    assert_eq!(
        done.len(),
        1,
        "one Sync({request:?}) in round {round}: {out:#?}"
    );
    let r: Vec<&Value> = lines(out, "Sync", round, request)
        .into_iter()
        .map(|v| &v["reply"])
        .collect();
    assert_eq!(done[0]["replies"], r.len(), "{out:#?}");
    r
}

/// The last IsNeedSync answer of `round`.
fn need(out: &[Value], round: i64) -> i64 {
    let n = lines(out, "IsNeedSync", round, "");
    n.last()
        .unwrap_or_else(|| panic!("no IsNeedSync in round {round}: {out:#?}"))
        ["changedMachineCount"]
        .as_i64()
        .unwrap()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn python_grpcio_client_syncs_panels_like_the_cron_worker() {
    let Some(python) = python() else {
        return;
    };
    let d = Daemon::start("", "");
    let client = Client {
        python,
        target: d.grpc,
    };

    // Nothing yet: the worker waits and gives up without calling Sync.
    let out = client.run(&["--wait-seconds", "0"]);
    assert_eq!(need(&out, 1), 0, "{out:#?}");
    assert!(lines(&out, "SyncDone", 1, "").is_empty(), "{out:#?}");

    let mut host = d.host();
    let t0 = now();
    host.report(1737, 0); // wired host: type 6
    host.report(1400, 0); // disarmed: status 2
    host.report(1130, 5); // burglary in zone 5
    let t1 = now();

    let out = client.run(&["--rounds", "2", "--account", UNKNOWN, "--account", ACCT]);
    assert_eq!(need(&out, 1), 1, "{out:#?}");
    let r = replies(&out, 1, "");
    assert_eq!(r.len(), 1, "{out:#?}");
    let m = r[0];
    assert_eq!(m["account"], ACCT);
    assert_eq!(m["online"], true);
    assert_eq!(m["type"], 6, "HB type number of a wired host");
    assert_eq!(m["status"], 2, "HB status number of disarm");
    assert_eq!(m["password"], "", "passwords are not served by default");
    assert_eq!(m["hasAlarmMessage"], true);
    let a = &m["alarmMessage"];
    assert_eq!(
        (&a["valid"], &a["zone"], &a["event"], &a["source"]),
        (
            &Value::from(true),
            &Value::from(5),
            &Value::from(1130),
            &Value::from(0)
        ),
        "{m:#}"
    );
    let ts = a["timestamp"].as_i64().unwrap();
    assert!(
        (t0..=t1 + 1).contains(&ts),
        "receiver time in Unix seconds: {ts}"
    );
    // Second round: everything was delivered.
    assert_eq!(need(&out, 2), 0, "{out:#?}");
    assert!(replies(&out, 2, "").is_empty(), "{out:#?}");
    // Single-account Sync: unknown → nothing; known → the panel, its alarm delivered.
    assert!(replies(&out, 0, UNKNOWN).is_empty(), "{out:#?}");
    let one = replies(&out, 0, ACCT);
    assert_eq!(one.len(), 1, "{out:#?}");
    assert_eq!(one[0]["alarmMessage"]["valid"], false);
    assert_eq!(one[0]["alarmMessage"]["zone"], 5);

    // A new alarm: one changed panel, delivered valid once.
    host.report(1110, 3); // fire in zone 3
    let out = client.run(&["--rounds", "2"]);
    assert_eq!(need(&out, 1), 1, "{out:#?}");
    let r = replies(&out, 1, "");
    assert_eq!(r.len(), 1, "{out:#?}");
    let a = &r[0]["alarmMessage"];
    assert_eq!(
        (&a["valid"], &a["zone"], &a["event"], &a["source"]),
        (
            &Value::from(true),
            &Value::from(3),
            &Value::from(1110),
            &Value::from(0)
        ),
        "{out:#?}"
    );
    assert_eq!(need(&out, 2), 0, "{out:#?}");
    assert!(replies(&out, 2, "").is_empty(), "{out:#?}");

    // An account no panel can have is a gRPC error naming the field; the client exits 2.
    let long = "9".repeat(65);
    let (ok, out, err) = client.run_raw(&["--wait-seconds", "0", "--account", &long]);
    assert!(!ok, "{out}");
    assert!(
        err.contains("INVALID_ARGUMENT") && err.contains("account"),
        "{err}"
    );
}
