//! The rows of one commit go into `events` with multi-row `INSERT … VALUES (…), (…), …`
//! statements instead of one statement per event: SQLite then opens its cursors and runs its
//! statement prologue once per chunk, and the writer thread spends less CPU per event.
//!
//! A batch is split into chunks of [`CHUNKS`] rows (largest first, so a batch of 77 is
//! 32 + 32 + 8 + 4 + 1) and each size has one cached statement. `seq` is an `AUTOINCREMENT`
//! rowid and the writer is the only writer inside its own `IMMEDIATE` transaction, so the
//! rows of one statement get consecutive seqs in `VALUES` order, ending at
//! `last_insert_rowid()`: the seqs are read back from that, and checked to increase.

use std::sync::LazyLock;

use rusqlite::Transaction;

use super::dedup::{BatchKeys, DedupWindow};
use super::query::{bind_event, EVENT_INSERT_COLUMNS, EVENT_INSERT_PARAMS};
use crate::events::NewEvent;

/// Rows per statement, largest first. 32 rows × 19 columns = 608 parameters, far below
/// SQLite's limit (32,766), and large enough that the per-statement cost is spread thin.
pub(super) const CHUNKS: [usize; 6] = [32, 16, 8, 4, 2, 1];

/// The SQL of each chunk size, in [`CHUNKS`] order.
static SQL: LazyLock<Vec<String>> =
    LazyLock::new(|| CHUNKS.iter().map(|&rows| insert_sql(rows)).collect());

/// `INSERT INTO events (…) VALUES (?, …), …` for `rows` rows.
pub(super) fn insert_sql(rows: usize) -> String {
    let values = values_sql(rows, EVENT_INSERT_PARAMS);
    format!("INSERT INTO events ({EVENT_INSERT_COLUMNS}) {values}")
}

/// The chunk to take next from `len` remaining rows: its index in [`CHUNKS`] and its size.
pub(super) fn next_chunk(len: usize) -> (usize, usize) {
    CHUNKS
        .iter()
        .copied()
        .enumerate()
        .find(|&(_, rows)| rows <= len)
        .unwrap_or((CHUNKS.len() - 1, 1))
}

/// `VALUES` followed by `rows` groups of `params` placeholders.
pub(super) fn values_sql(rows: usize, params: usize) -> String {
    let row = format!("({})", vec!["?"; params].join(", "));
    format!("VALUES {}", vec![row; rows.max(1)].join(", "))
}

/// Insert `events` in order inside `tx`; their seqs, in the same order, are appended to
/// `seqs`. On error some chunks may be inserted: the caller rolls the transaction back.
pub(super) fn insert_rows(
    tx: &Transaction<'_>,
    events: &[&NewEvent],
    seqs: &mut Vec<i64>,
) -> rusqlite::Result<()> {
    let mut rest = events;
    let mut previous = i64::MIN;
    while !rest.is_empty() {
        let (which, rows) = next_chunk(rest.len());
        let (chunk, tail) = rest.split_at(rows);
        let mut stmt = tx.prepare_cached(&SQL[which])?;
        for (i, ev) in chunk.iter().enumerate() {
            bind_event(&mut stmt, i * EVENT_INSERT_PARAMS, ev)?;
        }
        stmt.raw_execute()?;
        let last = tx.last_insert_rowid();
        let rows = i64::try_from(rows).unwrap_or(i64::MAX);
        let first = last.saturating_sub(rows - 1);
        if first <= previous {
            // Cannot happen with AUTOINCREMENT and one writer; refuse rather than answer
            // the wrong seqs.
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_INTERNAL),
                Some(format!(
                    "seqs of a multi-row insert are not increasing ({first} after {previous})"
                )),
            ));
        }
        seqs.extend(first..=last);
        previous = last;
        rest = tail;
    }
    Ok(())
}

/// What becomes of one event of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Plan {
    /// A retransmission of an event stored in an earlier commit, with its seq.
    Window(i64),
    /// A retransmission of the `n`th new event of this batch.
    Earlier(usize),
    /// Stored as the next new event.
    New,
}

/// Decide, before anything is inserted, which events of `batch` are new and which repeat
/// an event of the window or an earlier one of the batch (the same rule as the window:
/// the earlier copy counts when it was received after `cutoff_ms`). `keys` is scratch
/// space, reused between batches.
pub(super) fn plan_batch(
    window: &DedupWindow,
    keys: &mut BatchKeys,
    batch: &[NewEvent],
    cutoff_ms: i64,
) -> Vec<Plan> {
    keys.clear();
    let mut fresh = 0;
    let mut plan = Vec::with_capacity(batch.len());
    for ev in batch {
        if let Some(key) = ev.dedup_key {
            if let Some(seq) = window.find(key, cutoff_ms) {
                plan.push(Plan::Window(seq));
                continue;
            }
            match keys.get(&key) {
                Some(&(n, received)) if received > cutoff_ms => {
                    plan.push(Plan::Earlier(n));
                    continue;
                }
                _ => {
                    keys.insert(key, (fresh, ev.received_at_ms));
                }
            }
        }
        plan.push(Plan::New);
        fresh += 1;
    }
    plan
}

/// Inserted rows and plan disagree: cannot happen; refuse the batch rather than answer
/// wrong seqs.
pub(super) fn plan_mismatch() -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_INTERNAL),
        Some("inserted rows do not match the batch plan".into()),
    )
}
