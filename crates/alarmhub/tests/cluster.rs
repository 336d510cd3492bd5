//! Several `alarmhub serve` nodes (the real binary) on one real PostgreSQL, with panels from
//! `alarmhub simulate --target A,B,C` spread over them. One node is killed with SIGKILL
//! during a flood; its panels reconnect to the others. Afterwards: every event the
//! simulator saw ACKed is stored exactly once, the sequence has no gap, a consumer group on
//! each surviving node received every event in sequence, no panel is left falsely offline
//! (the dead node's panels moved, and the reaper must not mark them offline), no OFFLINE is
//! missing once the panels are gone, and a command issued on a surviving node reaches a
//! panel that moved to the other one (routed through its node).
//!
//! Skipped with a loud message when no PostgreSQL answers (CI has one and sets
//! `ALARMHUB_REQUIRE_PG=1`, which makes that a failure).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::postgres::TestDb;
use common::{Daemon, Setup};
use serde_json::Value;

const PANELS: usize = 30;

fn node(db: &TestDb) -> Daemon {
    Daemon::with(&Setup::new().store(&format!("url = {:?}", db.url)))
}

/// `alarmhub watch --group NAME` on `d`: a consumer-group member acknowledging every event;
/// the seqs it received, in order.
fn group_member(d: &Daemon, group: &str) -> (Child, Arc<Mutex<Vec<i64>>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_alarmhub"))
        .args([
            "--json",
            "--grpc",
            &d.grpc.to_string(),
            "watch",
            "--group",
            group,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let seen: Arc<Mutex<Vec<i64>>> = Arc::default();
    let out = child.stdout.take().unwrap();
    let sink = Arc::clone(&seen);
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if let Some(seq) = v["seq"].as_i64() {
                    sink.lock().unwrap().push(seq);
                }
            }
        }
    });
    (child, seen)
}

/// Panels `d` lists as online (`Some(true)`) or offline (`Some(false)`), or all.
fn machines(d: &Daemon, online: Option<bool>) -> Vec<String> {
    let mut args = vec!["--json", "machines"];
    let flag;
    if let Some(o) = online {
        flag = o.to_string();
        args.extend(["--online", &flag]);
    }
    let out = d.cli(&args);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["account"].as_str().map(str::to_owned))
        .collect()
}

fn wait_until(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    f()
}

/// `(count, distinct dedup keys, min seq, max seq)` of the panel events, and the owner of
/// `account`.
fn stored(db: &TestDb, account: &str) -> ((i64, i64, i64, i64), Option<String>) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (c, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let r = c
            .query_one(
                "SELECT count(*), count(DISTINCT dedup_key), \
                 (SELECT COALESCE(min(seq), 0) FROM ah_events), \
                 (SELECT COALESCE(max(seq), 0) FROM ah_events) \
                 FROM ah_events WHERE source = 'panel'",
                &[],
            )
            .await
            .unwrap();
        let owner = c
            .query_opt(
                "SELECT node_id FROM ah_panel_owners WHERE account = $1",
                &[&account],
            )
            .await
            .unwrap()
            .map(|r| r.get(0));
        ((r.get(0), r.get(1), r.get(2), r.get(3)), owner)
    })
}

#[test]
fn a_node_killed_during_a_flood_loses_no_acked_event_and_strands_no_panel_or_command() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = rt.block_on(TestDb::create()) else {
        return;
    };
    let mut a = node(&db);
    let b = node(&db);
    let c = node(&db);
    let (mut g1, seen1) = group_member(&b, "cluster-g1");
    let (mut g2, seen2) = group_member(&c, "cluster-g2");
    // A new group starts at the live end: let both members join before the first event.
    std::thread::sleep(Duration::from_secs(2));
    let targets = format!("{},{},{}", a.panel, b.panel, c.panel);
    let sim = Command::new(env!("CARGO_BIN_EXE_alarmhub"))
        .args([
            "simulate",
            "--target",
            &targets,
            "--panels",
            &PANELS.to_string(),
        ])
        .args(["--rate", "120", "--duration", "22", "--heartbeat", "2"])
        .args(["--ack-timeout", "2", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();

    // Every panel up on its first node, then kill A in the middle of the flood.
    assert!(
        wait_until(Duration::from_secs(10), || machines(&b, Some(true)).len()
            == PANELS),
        "not every panel came online: {:?}",
        machines(&b, None)
    );
    std::thread::sleep(Duration::from_secs(2));
    a.kill_9();
    let killed = Instant::now();

    // A's panels reconnect to B and C; A's lease (5 s) expires and the reaper runs; still
    // every panel is online on both survivors — none falsely offline.
    std::thread::sleep(Duration::from_secs(8));
    for d in [&b, &c] {
        assert!(
            wait_until(Duration::from_secs(5), || machines(d, Some(false))
                .is_empty()
                && machines(d, Some(true)).len() == PANELS),
            "panels left offline after the failover: {:?}",
            machines(d, Some(false))
        );
    }
    let failover = killed.elapsed();

    // SIM000001 (panel 0) started on A and moved to B: a command on C reaches it via B.
    let (_, owner) = stored(&db, "SIM000001");
    assert!(owner.is_some(), "SIM000001 has no owner after the failover");
    let out = c.cli(&["arm", "SIM000001"]);
    assert!(
        out.status.success(),
        "arm on C for a panel held by B: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let out = sim.wait_with_output().unwrap();
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned();
    let summary: Value = serde_json::from_str(&last)
        .unwrap_or_else(|e| panic!("no summary ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    let (sent, acked) = (
        summary["sent"].as_i64().unwrap(),
        summary["acked"].as_i64().unwrap(),
    );
    assert!(acked > 500, "too little load to mean anything: {summary}");
    assert_eq!(sent, acked, "events never ACKed: {summary}");

    // Exactly once: as many stored panel events as ACKed, no key twice, no seq gap. A
    // Hengbo host's type report that repeats the type on record is ACKed, not stored again
    // (README, "Panel state"): the simulated hosts report their (fixed) type on every
    // connection and in answer to each 1798 query, so up to one per connection and per
    // command is ACKed without a row.
    let ((count, distinct, min, max), _) = stored(&db, "SIM000001");
    let repeats = summary["connections"].as_i64().unwrap() + summary["commands"].as_i64().unwrap();
    assert!(
        (acked - repeats..=acked).contains(&count),
        "{count} stored panel events vs {acked} ACKed ({repeats} type reports at most not stored): {summary}"
    );
    assert_eq!(distinct, count, "an event was stored twice");
    assert_eq!(min, 1);

    // Each group saw every seq, in order (a redelivery may repeat one, never go back
    // past a gap).
    for (name, seen) in [("g1 on B", &seen1), ("g2 on C", &seen2)] {
        assert!(
            wait_until(Duration::from_secs(15), || seen
                .lock()
                .unwrap()
                .last()
                .is_some_and(|&s| s >= max)),
            "{name} stopped at {:?} of {max}",
            seen.lock().unwrap().last()
        );
        let got = seen.lock().unwrap().clone();
        let mut expect = 1;
        for s in got {
            assert!(s <= expect, "{name} skipped from {} to {s}", expect - 1);
            if s == expect {
                expect += 1;
            }
        }
        assert!(expect > max, "{name} missed events after {}", expect - 1);
    }

    // The run is over and every panel disconnected: each must now be offline (no
    // missing OFFLINE), on both survivors.
    for d in [&b, &c] {
        assert!(
            wait_until(Duration::from_secs(10), || machines(d, Some(true))
                .is_empty()),
            "still online after the simulator stopped: {:?}",
            machines(d, Some(true))
        );
    }
    let _ = (g1.kill(), g2.kill(), g1.wait(), g2.wait());
    eprintln!(
        "cluster: {acked} events ACKed in {:.1} s, failover checked {:.1} s after the kill",
        started.elapsed().as_secs_f64(),
        failover.as_secs_f64()
    );
}
