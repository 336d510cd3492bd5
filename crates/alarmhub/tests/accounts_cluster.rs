//! Account changes across PostgreSQL nodes (two real `alarmhub serve` binaries on one real
//! database): an account added through node A (`alarmhub account add`) is accepted by node
//! B within 2 s, without a restart, and one removed through A is refused by B within 2 s.
//!
//! Skipped with a loud message when no PostgreSQL answers (CI sets `ALARMHUB_REQUIRE_PG=1`,
//! which makes that a failure).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::frames::{bytes, cid_frame};
use common::postgres::TestDb;
use common::{Daemon, Setup};
use panel_proto::Id;

/// How long a change may take to reach the other node.
const LIMIT: Duration = Duration::from_secs(2);

fn node(db: &TestDb) -> Daemon {
    Daemon::with(
        &Setup::new()
            .panel("unknown_accounts = \"drop\"")
            .store(&format!("url = {:?}", db.url)),
    )
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
