//! The multi-row insert of a commit (`insert.rs`): seqs in batch order across chunk sizes,
//! retransmissions inside one batch, and a batch that fails as a whole.

use super::super::dedup::{BatchKeys, DedupWindow};
use super::super::insert::{insert_sql, plan_batch, Plan, CHUNKS};
use super::super::writer::WriteConn;
use super::{event, open, reader, NOW, WINDOW};
use crate::events::{Appended, NewEvent};
use crate::store::EventQuery;

/// Event `n` of a batch: its own frame seq, and a dedup key when `key` is given.
fn numbered(n: usize, key: Option<u64>) -> NewEvent {
    let mut e = event("1409", 1130, NOW);
    e.frame_seq = format!("{n:04}");
    e.dedup_key = key;
    e
}

fn frame_seqs_in_seq_order(dir: &std::path::Path) -> Vec<(i64, String)> {
    reader(dir)
        .query_events(&EventQuery::default())
        .unwrap()
        .into_iter()
        .map(|e| (e.seq, e.event.frame_seq))
        .collect()
}

#[test]
fn a_batch_split_over_every_chunk_size_keeps_batch_order_and_consecutive_seqs() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = open(dir.path());
    // 32 + 32 + 8 + 4 + 1: the largest statement twice, then the smaller ones.
    let batch: Vec<NewEvent> = (0..77).map(|n| numbered(n, Some(n as u64 + 1))).collect();
    let out = w.append_batch(&batch, NOW, WINDOW).unwrap();
    let expected: Vec<Appended> = (1..=77).map(Appended::Stored).collect();
    assert_eq!(out, expected);
    // A second batch continues the sequence (2 + 1 rows).
    let more: Vec<NewEvent> = (77..80).map(|n| numbered(n, None)).collect();
    let out = w.append_batch(&more, NOW, WINDOW).unwrap();
    assert_eq!(
        out,
        vec![
            Appended::Stored(78),
            Appended::Stored(79),
            Appended::Stored(80)
        ]
    );
    let rows = frame_seqs_in_seq_order(dir.path());
    let want: Vec<(i64, String)> = (0..80).map(|n| (n as i64 + 1, format!("{n:04}"))).collect();
    assert_eq!(rows, want, "row n of the batches is seq n + 1");
}

#[test]
fn retransmissions_inside_one_batch_are_stored_once_and_answered_with_the_first_seq() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = open(dir.path());
    let first = w
        .append_batch(&[numbered(0, Some(7))], NOW, WINDOW)
        .unwrap();
    assert_eq!(first, vec![Appended::Stored(1)]);
    // Key 7 was stored by the earlier commit; key 8 twice inside this batch; no key never
    // counts as a retransmission.
    let batch = vec![
        numbered(1, Some(8)),
        numbered(2, Some(7)),
        numbered(3, None),
        numbered(4, Some(8)),
        numbered(5, None),
        numbered(6, Some(9)),
    ];
    let out = w.append_batch(&batch, NOW, WINDOW).unwrap();
    assert_eq!(
        out,
        vec![
            Appended::Stored(2),
            Appended::Duplicate(1),
            Appended::Stored(3),
            Appended::Duplicate(2),
            Appended::Stored(4),
            Appended::Stored(5),
        ]
    );
    let rows = frame_seqs_in_seq_order(dir.path());
    let stored: Vec<&str> = rows.iter().map(|(_, f)| f.as_str()).collect();
    assert_eq!(stored, ["0000", "0001", "0003", "0005", "0006"]);
    // And the keys of this batch are in the window for the next one.
    let again = w
        .append_batch(&[numbered(7, Some(9)), numbered(8, Some(8))], NOW, WINDOW)
        .unwrap();
    assert_eq!(again, vec![Appended::Duplicate(5), Appended::Duplicate(2)]);
}

#[test]
fn an_earlier_copy_in_the_batch_received_before_the_window_is_not_the_original() {
    let cutoff = NOW - WINDOW;
    let mut old = numbered(0, Some(5));
    old.received_at_ms = cutoff; // at the cutoff: outside the window
    let batch = vec![old, numbered(1, Some(5)), numbered(2, Some(5))];
    let plan = plan_batch(
        &DedupWindow::default(),
        &mut BatchKeys::default(),
        &batch,
        cutoff,
    );
    assert_eq!(plan, vec![Plan::New, Plan::New, Plan::Earlier(1)]);
}

#[test]
fn a_batch_with_one_refused_event_stores_none_of_it_and_forgets_its_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = open(dir.path());
    // The database refuses code 9999 (as a full disk or a constraint would refuse a row).
    w.conn
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.code = 9999 \
             BEGIN SELECT RAISE(ABORT, 'refused'); END;",
        )
        .unwrap();
    let mut bad = numbered(1, Some(2));
    bad.code = 9999;
    let batch = vec![numbered(0, Some(1)), bad, numbered(2, Some(3))];
    let err = w.append_batch(&batch, NOW, WINDOW).unwrap_err();
    assert!(err.to_string().contains("refused"), "{err}");
    assert!(frame_seqs_in_seq_order(dir.path()).is_empty());
    // Nothing of the failed batch counts as stored: the panel's retry is stored anew, and
    // the seqs carry on without a trace of the failed rows' order.
    let retry = vec![numbered(0, Some(1)), numbered(2, Some(3))];
    let out = w.append_batch(&retry, NOW, WINDOW).unwrap();
    assert!(matches!(out[..], [Appended::Stored(a), Appended::Stored(b)] if b == a + 1));
    let rows = frame_seqs_in_seq_order(dir.path());
    let stored: Vec<&str> = rows.iter().map(|(_, f)| f.as_str()).collect();
    assert_eq!(stored, ["0000", "0002"]);
}

#[test]
fn every_chunk_statement_has_one_placeholder_per_column_and_row() {
    for rows in CHUNKS {
        let sql = insert_sql(rows);
        assert_eq!(sql.matches('?').count(), rows * 19, "{sql}");
        assert_eq!(sql.matches("), (").count(), rows - 1);
    }
    assert_eq!(CHUNKS.last(), Some(&1), "any batch length can be split");
}
