//! What the writing connection keeps in memory — the retransmission window and the events
//! not yet in the per-account index — and how both are rebuilt from the database when the
//! writer starts (so dedup and the index survive restarts and crashes).

use std::path::Path;

use rusqlite::{Connection, OptionalExtension};

use super::account_index::{PendingIndex, UPTO_KEY};
use super::dedup::{BatchKeys, DedupWindow};
use super::query::dedup_from_sql;
use crate::store::StoreError;

/// The events inside the dedup window, to rebuild [`DedupWindow`] when the store opens.
/// A range on the append-ordered `events_received_at` index (forced: asked to order by seq,
/// the planner would rather scan the whole table); sorted by seq afterwards.
pub(super) const LOAD_DEDUP_WINDOW: &str = "SELECT dedup_key, seq, received_at_ms \
     FROM events INDEXED BY events_received_at \
     WHERE received_at_ms > ?1 AND dedup_key IS NOT NULL";

/// In-memory state of the writing connection.
#[derive(Debug)]
pub(super) struct WriterState {
    /// The retransmission window.
    pub(super) dedup: DedupWindow,
    /// `(account, seq)` pairs not yet in `account_events`.
    pub(super) index: PendingIndex,
    /// Scratch space for the dedup keys of the batch being planned.
    pub(super) batch_keys: BatchKeys,
}

impl WriterState {
    /// The retransmission window (events received after `cutoff_ms`) and the events not
    /// yet in `account_events`.
    pub(super) fn load(
        conn: &Connection,
        path: &Path,
        cutoff_ms: i64,
    ) -> Result<WriterState, StoreError> {
        Ok(WriterState {
            dedup: load_dedup_window(conn, path, cutoff_ms)?,
            index: load_pending_index(conn, path)?,
            batch_keys: BatchKeys::default(),
        })
    }
}

/// The events above the `account_events` mark.
fn load_pending_index(conn: &Connection, path: &Path) -> Result<PendingIndex, StoreError> {
    let err = |e| StoreError::sqlite("load account index mark", path, e);
    let upto: i64 = conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")
        .map_err(err)?
        .query_row([UPTO_KEY], |r| r.get(0))
        .optional()
        .map_err(err)?
        .unwrap_or(0);
    let mut stmt = conn
        .prepare_cached("SELECT account, seq FROM events WHERE seq > ?1 ORDER BY seq")
        .map_err(err)?;
    let pairs = stmt
        .query_map([upto], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(err)?
        .collect::<Result<Vec<(String, i64)>, _>>()
        .map_err(err)?;
    Ok(PendingIndex::new(pairs, upto))
}

/// Rebuild the retransmission window from the events received after `cutoff_ms`.
fn load_dedup_window(
    conn: &Connection,
    path: &Path,
    cutoff_ms: i64,
) -> Result<DedupWindow, StoreError> {
    let err = |e| StoreError::sqlite("load dedup window", path, e);
    let mut stmt = conn.prepare_cached(LOAD_DEDUP_WINDOW).map_err(err)?;
    let mut rows = stmt.query([cutoff_ms]).map_err(err)?;
    let mut window = DedupWindow::default();
    while let Some(row) = rows.next().map_err(err)? {
        let key: i64 = row.get(0).map_err(err)?;
        window.insert(
            dedup_from_sql(key),
            row.get(1).map_err(err)?,
            row.get(2).map_err(err)?,
        );
    }
    Ok(window)
}
