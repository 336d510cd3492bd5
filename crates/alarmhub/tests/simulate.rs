//! `alarmhub simulate` end to end: the real binary against a real `alarmhub serve` on
//! loopback, every dialect (Hengbo, DC-09 Contact ID, DC-09 SIA, encrypted DC-09) and UDP,
//! run side by side so the whole file stays within a few seconds; then the events must be in
//! the daemon's store. Also: bad arguments exit with status 2 and say what is wrong.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Output};

use alarmhub::events::Source;
use common::Daemon;
use serde_json::Value;

const KEY: &str = "000102030405060708090A0B0C0D0E0F";

/// Keys the JSON summary always has.
const KEYS: [&str; 16] = [
    "sent",
    "acked",
    "retransmits",
    "events_per_sec",
    "ack_p50_ms",
    "ack_p99_ms",
    "ack_p999_ms",
    "ack_max_ms",
    "errors",
    "connect_errors",
    "protocol_errors",
    "connections",
    "heartbeats_sent",
    "heartbeats_acked",
    "panels",
    "duration_s",
];

fn simulate(args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_alarmhub"))
        .arg("simulate")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn summary(name: &str, out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stdout.lines().last().unwrap_or_default();
    let v: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("{name}: no JSON summary ({e}): {stdout}\n{stderr}"));
    assert!(
        out.status.success(),
        "{name}: {:?}\n{v:#}\n{stderr}",
        out.status
    );
    for k in KEYS {
        assert!(v.get(k).is_some(), "{name}: summary has no {k:?}: {v}");
    }
    v
}

fn n(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap()
}

#[test]
fn every_dialect_and_udp_are_acked_and_stored() {
    let accounts: String = (1..=3)
        .map(|i| format!("[[accounts]]\naccount = \"ENC{i:06}\"\nkey = \"{KEY}\"\n"))
        .collect();
    // Every simulated panel comes from 127.0.0.1: more new accounts than the per-source limit.
    let d = Daemon::start("max_new_accounts_per_source_per_min = 0", &accounts);
    let target = d.panel.to_string();
    let common = [
        "--target",
        &target,
        "--duration",
        "5",
        "--ack-timeout",
        "2",
        "--json",
    ];
    let runs: [(&str, Vec<&str>); 5] = [
        ("HBS", vec!["--panels", "20", "--rate", "40"]),
        (
            "CID",
            vec!["--panels", "20", "--rate", "40", "--dialect", "dc09-cid"],
        ),
        (
            "SIA",
            vec!["--panels", "20", "--rate", "40", "--dialect", "dc09-sia"],
        ),
        (
            "ENC",
            vec![
                "--panels",
                "3",
                "--rate",
                "10",
                "--dialect",
                "dc09-sia",
                "--key",
                KEY,
            ],
        ),
        (
            "UDP",
            vec!["--panels", "20", "--rate", "4", "--heartbeat", "1", "--udp"],
        ),
    ];
    let children: Vec<_> = runs
        .iter()
        .map(|(prefix, args)| {
            let mut all = common.to_vec();
            all.extend(["--account-prefix", prefix]);
            all.extend(args.iter().copied());
            (prefix, simulate(&all))
        })
        .collect();
    let results: Vec<(&str, Value)> = children
        .into_iter()
        .map(|(prefix, child)| (*prefix, summary(prefix, &child.wait_with_output().unwrap())))
        .collect();
    let stored = d.events();
    for (prefix, v) in &results {
        eprintln!("{prefix}: {v}");
        let (sent, acked) = (n(v, "sent"), n(v, "acked"));
        assert!(acked > 0, "{prefix}: nothing ACKed: {v}");
        assert_eq!(n(v, "errors"), 0, "{prefix}: {v:#}");
        assert!(acked <= sent, "{prefix}: {v}");
        // ACK after durable write: every ACKed event is in the store (stored once) —
        // except a Hengbo host's answer to the receiver's type query (1798, the only
        // command here) when it repeats the type the host reported just before: ACKed,
        // not stored again.
        let in_store = stored
            .iter()
            .filter(|e| e.event.source == Source::Panel && e.event.account.starts_with(prefix))
            .count() as u64;
        let repeats = n(v, "commands");
        assert!(
            (acked.saturating_sub(repeats)..=sent).contains(&in_store),
            "{prefix}: {in_store} stored, {acked} ACKed ({repeats} type queries), {sent} sent"
        );
    }
    let get = |p: &str| &results.iter().find(|(q, _)| *q == p).unwrap().1;
    // The receiver asks every Hengbo host its type (1798); the hosts answer it.
    assert!(n(get("HBS"), "commands") > 0, "{}", get("HBS"));
    assert!(n(get("UDP"), "heartbeats_acked") > 0, "{}", get("UDP"));
    assert_eq!(get("ENC")["encrypted"], true);
}

fn bad(args: &[&str], needle: &str) {
    let out = simulate(args).wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(needle), "{args:?}: {stderr}");
}

#[test]
fn bad_arguments_exit_with_status_2_and_name_the_problem() {
    let t = ["--target", "127.0.0.1:9"];
    bad(&[&t[..], &["--panels", "0"]].concat(), "--panels");
    for ips in ["127.0.0.40-127.0.0.2", "127.0.0.2-nowhere", "panel"] {
        bad(
            &[&t[..], &["--panels", "2", "--source-ips", ips]].concat(),
            "--source-ips",
        );
    }
    bad(
        &[&t[..], &["--panels", "2", "--key", "00"]].concat(),
        "--key",
    );
    bad(&["--panels", "2"], "--target");
}
