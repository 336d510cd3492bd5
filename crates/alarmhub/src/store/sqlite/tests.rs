//! SQLite-specific tests on the writing connection itself (no writer thread, so upkeep and
//! "crashes" happen exactly when a test says): query plans, the per-account index across
//! its mark, reopen after a crash, idle and finishing upkeep, purge steps, rows that do not
//! decode, the schema version checks and the migration to typed columns. The behaviour
//! every backend shares is in the conformance suite (`tests/store/conformance/`).

use std::path::Path;

use rusqlite::params_from_iter;

use super::conn::SqliteWriter;
use super::query::build_query;
use super::read::SqliteReader;
use super::state::LOAD_DEDUP_WINDOW;
use super::writer::WriteConn;
use super::DB_FILE;
use crate::clock::Clock;
use crate::events::{Detail, Facts, NewEvent, Source, StoredEvent};
use crate::store::{EventQuery, StoreError};

mod insert;
mod migration;
mod purge;

const NOW: i64 = 1_700_000_000_000;
const WINDOW: i64 = 300_000;

fn open(dir: &Path) -> SqliteWriter {
    SqliteWriter::open(dir, Clock::manual(NOW)).unwrap()
}

fn reader(dir: &Path) -> SqliteReader {
    SqliteReader::open(dir).unwrap()
}

fn event(account: &str, code: u16, received_at_ms: i64) -> NewEvent {
    NewEvent {
        account: account.into(),
        source: Source::Panel,
        code,
        sia_code: None,
        group: 1,
        zone: 3,
        received_at_ms,
        panel_time: None,
        protocol: "ADM-CID".into(),
        frame_seq: "0001".into(),
        peer: "127.0.0.1:40000".into(),
        facts: Facts::default(),
        detail: Detail::empty(),
        dedup_key: None,
    }
}

fn seqs(events: &[StoredEvent]) -> Vec<i64> {
    events.iter().map(|e| e.seq).collect()
}

fn plan(conn: &rusqlite::Connection, sql: &str, values: &[rusqlite::types::Value]) -> String {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    stmt.query_map(params_from_iter(values.iter()), |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
        .join("; ")
}

#[test]
fn loading_the_dedup_window_is_a_range_on_the_received_at_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let plan = plan(&store.conn, LOAD_DEDUP_WINDOW, &[1.into()]);
    assert!(
        plan.contains("INDEX events_received_at (received_at_ms>?)"),
        "{plan}"
    );
}

#[test]
fn the_escalation_read_of_open_alarms_touches_only_the_queue_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let plan = plan(&store.conn, super::alarm_reads::OPEN_SQL, &[]);
    assert!(plan.contains("USING COVERING INDEX alarms_queue"), "{plan}");
}

#[test]
fn an_account_query_merges_two_ordered_arms_without_sorting() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let q = EventQuery {
        account: Some("A".into()),
        before_seq: Some(10),
        limit: 5,
        newest_first: true,
        ..Default::default()
    };
    let (sql, values) = build_query(&q);
    let plan = plan(&store.conn, &sql, &values);
    assert!(plan.contains("MERGE (UNION ALL)"), "{plan}");
    assert!(
        plan.contains("SEARCH account_events USING PRIMARY KEY (acct=?"),
        "{plan}"
    );
    assert!(!plan.contains("TEMP B-TREE"), "needless sort: {plan}");
    assert!(!plan.contains("SCAN"), "full scan: {plan}");
}

#[test]
fn the_random_dedup_index_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let n: i64 = store
        .conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'events_dedup'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn a_row_that_does_not_decode_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .conn
        .execute(
            "INSERT INTO events (account, source, code, grp, zone, received_at_ms, \
             protocol, frame_seq, peer, detail) \
             VALUES ('1', 'martian', 1130, 0, 0, 0, '', '', '', '{}')",
            [],
        )
        .unwrap();
    let err = reader(dir.path()).events_after(0, 0).unwrap_err();
    assert!(err.to_string().contains("martian"), "{err}");
    store
        .conn
        .execute("UPDATE events SET source = 'panel', dialect = 'vt100'", [])
        .unwrap();
    let err = reader(dir.path()).events_after(0, 0).unwrap_err();
    assert!(
        err.to_string().contains("unknown dialect \"vt100\""),
        "{err}"
    );
}

#[test]
fn a_database_from_a_newer_build_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .conn
        .execute(
            "UPDATE meta SET value = 99 WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
    drop(store);
    let err = SqliteWriter::open(dir.path(), Clock::system()).unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaVersion { found: 99, .. }),
        "{err}"
    );
    let err = SqliteReader::open(dir.path()).unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaVersion { found: 99, .. }),
        "{err}"
    );
}

#[test]
fn a_reader_connection_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = open(dir.path());
    let r = reader(dir.path());
    writer
        .append_batch(&[event("1", 1130, NOW)], NOW, WINDOW)
        .unwrap();
    assert_eq!(r.last_seq().unwrap(), 1);
    assert_eq!(r.events_after(0, 0).unwrap().len(), 1);
    let err = r
        .conn
        .execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('x', 1)",
            [],
        )
        .unwrap_err();
    assert!(err.to_string().contains("readonly"), "{err}");
}

/// Accounts `A` and `B` get events 1..=12 in three batches. The second commit indexes the
/// first batch (a fresh store's first generation is due at once); the third, within a
/// second of that, indexes nothing: seqs 5..=12 are above the mark.
fn split_index_fixture(dir: &Path) -> SqliteWriter {
    let mut store = open(dir);
    for pair in 0..3 {
        let batch: Vec<_> = (0..2)
            .flat_map(|i| {
                let t = NOW + (pair * 2 + i) * 1000;
                [event("A", 1130, t), event("B", 3400, t)]
            })
            .collect();
        store.append_batch(&batch, NOW, WINDOW).unwrap();
    }
    store
}

fn account_seqs(r: &SqliteReader, q: EventQuery) -> Vec<i64> {
    seqs(&r.query_events(&q).unwrap())
}

/// `(rows in account_events, meta.account_indexed_upto)`, read on a separate connection.
fn account_index_state(dir: &Path) -> (i64, i64) {
    rusqlite::Connection::open(dir.join(DB_FILE))
        .unwrap()
        .query_row(
            "SELECT (SELECT COUNT(*) FROM account_events), \
             (SELECT value FROM meta WHERE key = 'account_indexed_upto')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
}

#[test]
fn account_queries_see_indexed_and_not_yet_indexed_events_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let _store = split_index_fixture(dir.path());
    let r = reader(dir.path());
    let a = |q: EventQuery| {
        account_seqs(
            &r,
            EventQuery {
                account: Some("A".into()),
                ..q
            },
        )
    };
    assert_eq!(
        account_index_state(dir.path()),
        (4, 4),
        "the fixture's split"
    );
    // A's events are the odd seqs; 1 and 3 are indexed, the rest are above the mark.
    assert_eq!(a(EventQuery::default()), vec![1, 3, 5, 7, 9, 11]);
    let newest = |before_seq| EventQuery {
        before_seq,
        limit: 2,
        newest_first: true,
        ..Default::default()
    };
    assert_eq!(a(newest(None)), vec![11, 9]);
    assert_eq!(a(newest(Some(9))), vec![7, 5]);
    assert_eq!(a(newest(Some(5))), vec![3, 1]);
    let across = EventQuery {
        after_seq: Some(1),
        limit: 2,
        ..Default::default()
    };
    assert_eq!(a(across), vec![3, 5]);
    let q = EventQuery {
        account: Some("B".into()),
        ..Default::default()
    };
    assert_eq!(account_seqs(&r, q), vec![2, 4, 6, 8, 10, 12]);
}

#[test]
fn events_not_yet_indexed_at_a_crash_are_indexed_when_the_store_reopens() {
    let dir = tempfile::tempdir().unwrap();
    drop(split_index_fixture(dir.path()));
    let mut store = open(dir.path());
    let q = || EventQuery {
        account: Some("A".into()),
        ..Default::default()
    };
    // Before the writer catches up the events are found above the mark ...
    assert_eq!(
        account_seqs(&reader(dir.path()), q()),
        vec![1, 3, 5, 7, 9, 11]
    );
    // ... and the first commit after the reopen indexes them all (its own event goes into
    // the next generation).
    store
        .append_batch(&[event("A", 1130, NOW + 9000)], NOW, WINDOW)
        .unwrap();
    assert_eq!(
        account_seqs(&reader(dir.path()), q()),
        vec![1, 3, 5, 7, 9, 11, 13]
    );
    assert_eq!(account_index_state(dir.path()), (12, 12));
}

#[test]
fn an_idle_writer_indexes_what_is_pending_once_a_second_has_passed() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = split_index_fixture(dir.path());
    let upto = || account_index_state(dir.path()).1;
    store.maintain(false).unwrap();
    assert_eq!(
        upto(),
        4,
        "within a second of the last flush nothing is written"
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    store.maintain(false).unwrap();
    assert_eq!(upto(), 12);
}

#[test]
fn finishing_upkeep_indexes_everything_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = split_index_fixture(dir.path());
    store.maintain(true).unwrap();
    assert_eq!(account_index_state(dir.path()), (12, 12));
}

#[test]
fn the_account_index_keeps_up_with_batches_larger_than_its_slice() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    let batch = |from: i64| -> Vec<NewEvent> {
        (0..10_000)
            .map(|i| event(&format!("P{}", i % 100), 1130, NOW + from + i))
            .collect()
    };
    store.append_batch(&batch(0), NOW, WINDOW).unwrap();
    // The first batch is frozen by the second and written with it, whole: the slice
    // grows with the batch instead of falling behind at 4,096 per commit.
    store.append_batch(&batch(10_000), NOW, WINDOW).unwrap();
    assert_eq!(account_index_state(dir.path()), (10_000, 10_000));
    let q = EventQuery {
        account: Some("P7".into()),
        ..Default::default()
    };
    assert_eq!(reader(dir.path()).query_events(&q).unwrap().len(), 200);
}
