//! Purge steps on the writing connection (`purge.rs`): the oldest run of events goes as one
//! seq range, stopping at the first event that must stay; the per-account index entries of
//! removed events are swept when the pass ends; the connection is back to
//! `synchronous = FULL` after every step.

use std::path::Path;
use std::time::Duration;

use super::super::purge::PurgeStep;
use super::super::writer::WriteConn;
use super::{event, open, reader, seqs, NOW, WINDOW};
use crate::store::EventQuery;

const BUDGET: Duration = Duration::from_millis(50);

/// `(account_events rows, of which below the oldest event, events)`.
fn index_rows(dir: &Path) -> (i64, i64, i64) {
    rusqlite::Connection::open(dir.join(super::DB_FILE))
        .unwrap()
        .query_row(
            "SELECT (SELECT COUNT(*) FROM account_events), \
             (SELECT COUNT(*) FROM account_events WHERE ev_seq < (SELECT MIN(seq) FROM events)), \
             (SELECT COUNT(*) FROM events)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
}

#[test]
fn a_pass_removes_the_oldest_run_in_steps_then_sweeps_the_index_entries_of_what_went() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    // 30 old events of three accounts, one a minute, then 3 recent ones.
    let old: Vec<_> = (0..30)
        .map(|i| {
            event(
                ["A", "B", "C"][i % 3],
                1130,
                NOW - 3_600_000 + i as i64 * 60_000,
            )
        })
        .collect();
    store.append_batch(&old, NOW, WINDOW).unwrap();
    let new: Vec<_> = ["A", "B", "C"].map(|a| event(a, 1130, NOW)).to_vec();
    store.append_batch(&new, NOW, WINDOW).unwrap();
    store.maintain(true).unwrap();
    assert_eq!(index_rows(dir.path()), (33, 0, 33), "all indexed");

    let cutoff = NOW - 1_000;
    let mut steps = Vec::new();
    for _ in 0..20 {
        let s = store.purge_step(cutoff, i64::MAX, 8, BUDGET).unwrap();
        steps.push(s);
        if !s.more {
            break;
        }
    }
    let removed: Vec<usize> = steps.iter().map(|s| s.removed).collect();
    // 8 + 8 + 8, then 6 (fewer than asked: the pass ends and the sweep is due), the sweep
    // (one step within the budget), then nothing left.
    assert_eq!(removed, vec![8, 8, 8, 6, 0, 0], "{steps:?}");
    assert_eq!(
        steps.last(),
        Some(&PurgeStep {
            removed: 0,
            more: false
        })
    );
    assert_eq!(
        index_rows(dir.path()),
        (3, 0, 3),
        "no index entry left behind"
    );
    let r = reader(dir.path());
    let a = seqs(
        &r.query_events(&EventQuery {
            account: Some("A".into()),
            ..EventQuery::default()
        })
        .unwrap(),
    );
    assert_eq!(a, vec![31]);
    let sync: i64 = store
        .conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 2, "FULL again after the purge");
}

#[test]
fn a_step_stops_at_the_protected_seq_and_at_the_first_event_still_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    // Seq 1..=4 old, 5 recent, 6 old again (the clock stepped back): the run ends at 5.
    let times = [-4, -3, -2, -1, 0, -5].map(|h: i64| NOW + h * 3_600_000);
    let batch: Vec<_> = times.iter().map(|&t| event("A", 1130, t)).collect();
    store.append_batch(&batch, NOW, WINDOW).unwrap();
    let cutoff = NOW - 1_000;
    // Below seq 3 only: two go, and the pass ends there.
    let s = store.purge_step(cutoff, 3, 100, BUDGET).unwrap();
    assert_eq!(s.removed, 2);
    let s = store.purge_step(cutoff, i64::MAX, 100, BUDGET).unwrap();
    assert_eq!(s.removed, 0, "the sweep of the first pass ending");
    let s = store.purge_step(cutoff, i64::MAX, 100, BUDGET).unwrap();
    assert_eq!(s.removed, 2, "3 and 4; 5 is recent and 6 waits behind it");
    let left = seqs(&reader(dir.path()).events_after(0, 0).unwrap());
    assert_eq!(left, vec![5, 6]);
}
