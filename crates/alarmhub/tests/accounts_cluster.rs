//! Account changes across PostgreSQL nodes (two real `alarmhub serve` binaries on one real
//! database): an account added through node A (`alarmhub account add`) is accepted by node
//! B within 2 s, without a restart, and one removed through A is refused by B within 2 s;
//! a panel flagged unknown on node A (`unknown_accounts = "flag"`) is adopted through node B
//! (`alarmhub account adopt`): A stops showing it as unknown within 2 s and stores its next
//! frame as a configured account's.
//!
//! Skipped with a loud message when no PostgreSQL answers (CI sets `ALARMHUB_REQUIRE_PG=1`,
//! which makes that a failure).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::frames::{bytes, cid_frame};
use common::postgres::TestDb;
use common::{eventually, Daemon, Setup};
use panel_proto::Id;

/// How long a change may take to reach the other node.
const LIMIT: Duration = Duration::from_secs(2);

fn node(db: &TestDb) -> Daemon {
    node_with(db, "drop")
}

fn node_with(db: &TestDb, unknown_accounts: &str) -> Daemon {
    Daemon::with(
        &Setup::new()
            .panel(&format!("unknown_accounts = {unknown_accounts:?}"))
            .store(&format!("url = {:?}", db.url)),
    )
}

/// One Contact ID frame of `account` (burglary, zone 3).
fn frame(account: &str, seq: u16) -> Vec<u8> {
    bytes(&cid_frame(
        Id::AdmCid,
        seq,
        account,
        Some(account),
        1130,
        1,
        3,
        None,
    ))
}

/// Whether `d` shows `account` as unknown (`None`: it does not list it).
fn shown_unknown(d: &Daemon, account: &str) -> Option<bool> {
    let out = d.cli(&["machines", "--json", "--prefix", account]);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|m| m["account"] == account)
        .and_then(|m| m["unknown_account"].as_bool())
}

/// Until `deadline`: send one frame of 9001 on a new connection to `d` every 100 ms;
/// whether one was answered (`want` true) or one went unanswered after an answer stopped
/// (`want` false: the first attempt without an answer).
fn until_answered(d: &Daemon, want: bool, deadline: Instant) -> Option<Instant> {
    let mut seq = 1u16;
    while Instant::now() < deadline {
        let mut p = d.connect();
        p.send(&bytes(&cid_frame(
            Id::AdmCid,
            seq,
            "9001",
            Some("9001"),
            1602,
            1,
            0,
            None,
        )));
        seq = seq.wrapping_add(1);
        // An answer comes in milliseconds; a refusal is silence, so wait longer for it.
        let wait = if want { 100 } else { 300 };
        let got = p.recv(Duration::from_millis(wait)).is_some();
        if got == want {
            return Some(Instant::now());
        }
    }
    None
}

#[test]
fn an_account_added_on_one_node_is_live_on_the_other_within_two_seconds() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = rt.block_on(TestDb::create()) else {
        return;
    };
    let a = node(&db);
    let b = node(&db);
    assert!(
        until_answered(&b, true, Instant::now() + Duration::from_millis(300)).is_none(),
        "9001 is unknown and dropped at first"
    );

    let add = a.cli(&["account", "add", "9001", "--name", "Depot"]);
    assert!(add.status.success(), "{add:?}");
    let t0 = Instant::now();
    let at = until_answered(&b, true, t0 + LIMIT + Duration::from_secs(3));
    let took = at.map(|t| t - t0);
    assert!(
        took.is_some_and(|t| t <= LIMIT),
        "node B accepted 9001 after {took:?}\n{}",
        b.log_tail()
    );
    assert!(b
        .wait_log(
            "accounts reloaded from the shared store",
            Duration::from_secs(1)
        )
        .is_some());

    let rm = a.cli(&["account", "remove", "9001"]);
    assert!(rm.status.success(), "{rm:?}");
    let t0 = Instant::now();
    let at = until_answered(&b, false, t0 + LIMIT + Duration::from_secs(3));
    let took = at.map(|t| t - t0);
    assert!(
        took.is_some_and(|t| t <= LIMIT + Duration::from_millis(300)),
        "node B still accepted 9001 after {took:?}"
    );
    assert!(
        until_answered(&b, true, Instant::now() + Duration::from_secs(1)).is_none(),
        "and keeps refusing it"
    );
    drop((a, b));
}

#[test]
fn a_panel_flagged_on_one_node_is_adopted_through_another() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = rt.block_on(TestDb::create()) else {
        return;
    };
    let a = node_with(&db, "flag");
    let b = node_with(&db, "flag");
    // The panel reports to A: answered, and shown as unknown on both nodes.
    let mut panel = a.connect();
    panel.send(&frame("9002", 1));
    assert!(
        panel.recv(Duration::from_secs(2)).is_some(),
        "flagged, still ACKed"
    );
    let flagged = |d: &Daemon| {
        eventually(Duration::from_secs(5), || {
            shown_unknown(d, "9002") == Some(true)
        })
    };
    assert!(flagged(&a), "A flags 9002\n{}", a.log_tail());
    assert!(
        flagged(&b),
        "B flags 9002 (it sees every node's events)\n{}",
        b.log_tail()
    );

    // Adopted through B, the node without the connection.
    let adopt = b.cli(&["account", "adopt", "9002", "--name", "Depot"]);
    assert!(adopt.status.success(), "{adopt:?}");
    let t0 = Instant::now();
    assert!(
        eventually(LIMIT + Duration::from_secs(3), || shown_unknown(&a, "9002")
            == Some(false)),
        "A still shows 9002 as unknown after {:?}\n{}",
        t0.elapsed(),
        a.log_tail()
    );
    let took = t0.elapsed();
    assert!(took <= LIMIT, "A took {took:?} to show 9002 adopted");
    assert_eq!(shown_unknown(&b, "9002"), Some(false));

    // A's session now treats the panel as configured: its next frame is not flagged.
    panel.send(&frame("9002", 2));
    assert!(panel.recv(Duration::from_secs(2)).is_some());
    let newest = || {
        let out = a.cli(&["events", "9002", "--limit", "1", "--json"]);
        let line = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .map(str::to_owned);
        line.and_then(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
    };
    assert!(
        eventually(Duration::from_secs(3), || newest()
            .is_some_and(|e| e["frame_seq"] == "0002")),
        "the second frame is stored: {:?}",
        newest()
    );
    let e = newest().unwrap();
    assert!(
        e["detail"]["unknown_account"].is_null(),
        "stored as configured: {e}"
    );
    assert_eq!(shown_unknown(&a, "9002"), Some(false), "and stays adopted");
    drop((a, b));
}
