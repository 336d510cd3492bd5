//! SIGHUP against the real binary: policies and limits of the file apply at runtime — the
//! unknown-account policy, the per-address connection cap and the rate limit take effect
//! for the next frame or connection — the log names the keys applied and each key that
//! needs a restart, and an invalid file is refused with everything kept as it was.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::frames::{bytes, cid_frame, Panel};
use common::Daemon;
use panel_proto::Id;

const S: Duration = Duration::from_secs(5);

/// A plain ADM-CID frame of `account`.
fn frame(account: &str, seq: u16) -> Vec<u8> {
    bytes(&cid_frame(
        Id::AdmCid,
        seq,
        account,
        Some(account),
        1130,
        1,
        seq,
        None,
    ))
}

fn answered(p: &mut Panel, f: &[u8], within: Duration) -> bool {
    p.send(f);
    p.recv(within).is_some()
}

/// The log lines up to the first containing `needle` (which must come within 5 s).
fn lines_until(d: &Daemon, needle: &str) -> Vec<String> {
    let deadline = Instant::now() + S;
    let mut out = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Ok(line) = d.log.recv_timeout(left) else {
            break;
        };
        let done = line.contains(needle);
        out.push(line);
        if done {
            return out;
        }
    }
    panic!("no {needle:?} within {S:?}: {out:?}");
}

/// Replace `from` with `to` in the daemon's file and send SIGHUP.
fn edit_and_hup(d: &Daemon, from: &str, to: &str) {
    let file = d.dir.join("alarmhub.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(from), "{from:?} not in {text}");
    std::fs::write(&file, text.replacen(from, to, 1)).unwrap();
    common::unsafe_free_sighup(d.child.id());
}

#[test]
fn sighup_applies_policies_and_limits_and_names_what_needs_a_restart() {
    let d = Daemon::start(
        "unknown_accounts = \"drop\"\nmax_connections_per_ip = 10",
        "[control]\nretries = 3\n",
    );
    let mut a = d.connect();
    assert!(
        !answered(&mut a, &frame("8001", 1), Duration::from_millis(500)),
        "unknown accounts are dropped"
    );

    // Accept unknown accounts, one connection per address, 4 frames/s with a burst of 2,
    // and a gRPC key that only a restart can apply.
    edit_and_hup(
        &d,
        "unknown_accounts = \"drop\"\nmax_connections_per_ip = 10",
        "unknown_accounts = \"accept\"\nmax_connections_per_ip = 2\n\
         rate_limit_per_sec = 4\nrate_limit_burst = 2",
    );
    let lines = lines_until(&d, "configuration reloaded");
    let applied = lines
        .iter()
        .find(|l| l.contains("settings applied"))
        .expect("settings applied");
    for key in [
        "panel.unknown_accounts",
        "panel.max_connections_per_ip",
        "panel.rate_limit_per_sec",
    ] {
        assert!(applied.contains(key), "{key}: {applied}");
    }
    // Nothing of the above needs a restart.
    assert!(
        !lines.iter().any(|l| l.contains("needs restart")),
        "{lines:?}"
    );
    edit_and_hup(&d, "[grpc]\n", "[grpc]\nkeepalive_secs = 31\n");
    let warn = d
        .wait_log("needs restart: grpc.keepalive_secs", S)
        .expect("the restart-only key is named");
    assert!(warn.contains("keepalive_secs"), "{warn}");

    // The unknown-account policy applies to the connection already open.
    assert!(answered(&mut a, &frame("8001", 2), S), "accepted now");
    // The per-address cap applies to the next connection (a is one, b the second).
    let mut b = d.connect();
    assert!(
        Panel::refused(d.panel, S),
        "third connection from 127.0.0.1 refused"
    );
    // The rate limit applies to a new connection: 6 frames at 4/s with a burst of 2 take
    // at least 1 s; all are answered.
    let mut all = Vec::new();
    for seq in 1..=6u16 {
        all.extend(frame("8002", seq));
    }
    let t0 = Instant::now();
    b.send(&all);
    for _ in 0..6 {
        assert!(b.recv(S).is_some());
    }
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );

    // An invalid file is refused; the settings in force stay.
    edit_and_hup(&d, "rate_limit_burst = 2", "rate_limit_burst = \"lots\"");
    let line = d
        .wait_log("configuration not reloaded", S)
        .expect("refused");
    assert!(line.contains("rate_limit_burst"), "{line}");
    assert!(answered(&mut a, &frame("8003", 1), S), "still accepting");
    assert!(
        Panel::refused(d.panel, S),
        "and still one connection per address too many"
    );
}

#[test]
fn sighup_applies_the_invalid_input_budget_and_the_penalty_length() {
    let d = Daemon::start("max_invalid_per_min = 0\npenalty_secs = 1", "");
    // No budget: a connection sending garbage stays open.
    let mut bad = d.connect();
    bad.send(&b"\nX".repeat(200));
    assert!(
        !bad.ended(Duration::from_millis(500)),
        "no invalid budget yet"
    );

    edit_and_hup(
        &d,
        "max_invalid_per_min = 0\npenalty_secs = 1",
        "max_invalid_per_min = 20\npenalty_secs = 30",
    );
    let lines = lines_until(&d, "configuration reloaded");
    let applied = lines
        .iter()
        .find(|l| l.contains("settings applied"))
        .expect("settings applied");
    for key in ["panel.max_invalid_per_min", "panel.penalty_secs"] {
        assert!(applied.contains(key), "{key}: {applied}");
    }
    assert!(
        !lines.iter().any(|l| l.contains("needs restart")),
        "{lines:?}"
    );

    // The open connection's next read counts against the new budget: closed, its source
    // boxed for the new length (30 s, not 1 s).
    bad.send(&b"\nX".repeat(200));
    assert!(bad.ended(S), "closed over the reloaded budget");
    let line = d.wait_log("penalty box", S).expect("the stay is logged");
    assert!(
        line.contains("secs=30") || line.contains("\"secs\":30"),
        "{line}"
    );
    std::thread::sleep(Duration::from_millis(1500));
    let mut again = d.connect();
    assert!(
        again.ended(S),
        "still in the box after 1.5 s: the reloaded penalty_secs"
    );
}
