//! [`SqliteStore`]: the [`Store`] on one SQLite file (`<data dir>/alarmhub.db`, WAL).
//!
//! One read-write instance is owned by the writer thread (the only writer, so dedup checks
//! inside its transaction are exact); API reads use separate [`SqliteStore::open_reader`]
//! instances, which WAL lets run alongside the writer.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{params, params_from_iter, Connection, OpenFlags, OptionalExtension};

use super::account_index::{PendingIndex, CHUNK, UPTO_KEY};
use super::checkpoint::Checkpointer;
use super::dedup::DedupWindow;
use super::query::{
    build_query, dedup_from_sql, dedup_to_sql, event_from_row, sql_limit, EVENT_COLUMNS,
};
use super::schema::{apply_read_pragmas, apply_write_pragmas, check_version, migrate};
use super::{now_ms, EventQuery, Snapshot, Store, StoreError};
use crate::events::{Appended, NewEvent, StoredEvent};

/// Database file name inside the data directory.
pub const DB_FILE: &str = "alarmhub.db";

/// Prepared statements kept per connection: the fixed statements plus every filter
/// combination [`build_query`] can produce (2^6 × 2 orders).
const STATEMENT_CACHE: usize = 160;

/// Name of the short-lived file used to prove the data directory is writable.
const PROBE_FILE: &str = ".alarmhub-write-probe";

/// The events inside the dedup window, to rebuild [`DedupWindow`] when the store opens.
/// A range on the append-ordered `events_received_at` index (forced: asked to order by seq,
/// the planner would rather scan the whole table); sorted by seq afterwards.
const LOAD_DEDUP_WINDOW: &str = "SELECT dedup_key, seq, received_at_ms \
     FROM events INDEXED BY events_received_at \
     WHERE received_at_ms > ?1 AND dedup_key IS NOT NULL";

const INSERT_EVENT: &str = "INSERT INTO events (account, source, code, sia_code, grp, zone, \
     received_at_ms, panel_time, protocol, frame_seq, peer, detail, dedup_key) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";

/// The SQLite implementation of [`Store`].
#[derive(Debug)]
pub struct SqliteStore {
    /// The writing instance's WAL checkpoint thread. Declared first so it is dropped (and
    /// stopped) first: the writing connection then closes last and runs SQLite's final
    /// checkpoint.
    _checkpointer: Option<Checkpointer>,
    conn: Connection,
    path: PathBuf,
    /// What the writing instance keeps in memory, loaded on the first append.
    writing: Option<WriterState>,
}

/// In-memory state of the writing instance.
#[derive(Debug)]
struct WriterState {
    /// The retransmission window.
    dedup: DedupWindow,
    /// `(account, seq)` pairs not yet in `account_events`.
    index: PendingIndex,
}

impl SqliteStore {
    /// Open the read-write store in `dir`, creating the directory, the database file and
    /// the schema as needed. Fails with an error naming the path when the directory is not
    /// writable, the file is not a database, or its schema is newer than this build.
    pub fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        // 0700 directory, 0600 files: they hold every customer's events, token hashes and
        // the audit trail.
        crate::auth::fsperm::create_private_dir(dir).map_err(|e| StoreError::CreateDir {
            path: dir.to_path_buf(),
            source: Arc::new(e),
        })?;
        probe_dir_writable(dir)?;
        let path = dir.join(DB_FILE);
        crate::auth::fsperm::private_db_files(&path).map_err(|e| StoreError::NotWritable {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(&path, flags)
            .map_err(|e| StoreError::sqlite("open", &path, e))?;
        // SQLite silently falls back to read-only for a write-protected file; say so now
        // rather than on the first append.
        let read_only = conn
            .is_readonly("main")
            .map_err(|e| StoreError::sqlite("open", &path, e))?;
        if read_only {
            return Err(StoreError::NotWritable {
                path,
                reason: "the database file is write-protected".into(),
            });
        }
        apply_write_pragmas(&conn, &path)?;
        migrate(&mut conn, &path)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let checkpointer = Checkpointer::start(&path);
        if checkpointer.is_some() {
            conn.pragma_update(
                None,
                "wal_autocheckpoint",
                super::checkpoint::WRITER_AUTOCHECKPOINT_PAGES,
            )
            .map_err(|e| StoreError::sqlite("set pragmas", &path, e))?;
        }
        Ok(SqliteStore {
            conn,
            path,
            writing: None,
            _checkpointer: checkpointer,
        })
    }

    /// Open a read-only connection to the existing store in `dir` (for API reads while the
    /// writer runs). Every write method of the result fails.
    pub fn open_reader(dir: &Path) -> Result<SqliteStore, StoreError> {
        let path = dir.join(DB_FILE);
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags)
            .map_err(|e| StoreError::sqlite("open read-only", &path, e))?;
        apply_read_pragmas(&conn, &path)?;
        check_version(&conn, &path)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(SqliteStore {
            conn,
            path,
            writing: None,
            _checkpointer: None,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, op: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |e| StoreError::sqlite(op, &self.path, e)
    }
}

/// Create and remove a file in `dir`: the clearest way to tell "directory not writable"
/// apart from SQLite's generic "unable to open database file".
fn probe_dir_writable(dir: &Path) -> Result<(), StoreError> {
    let probe = dir.join(PROBE_FILE);
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| StoreError::NotWritable {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        })
}

impl Store for SqliteStore {
    fn append_batch(
        &mut self,
        batch: &[NewEvent],
        now_ms: i64,
        dedup_window_ms: i64,
    ) -> Result<Vec<Appended>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let cutoff = now_ms.saturating_sub(dedup_window_ms);
        let mut state = match self.writing.take() {
            Some(state) => state,
            None => self.load_writer_state(cutoff)?,
        };
        let path = &self.path;
        let err = |e| StoreError::sqlite("append events", path, e);
        state.dedup.expire(cutoff);
        state.index.maybe_freeze(false);
        let marks = (state.dedup.mark(), state.index.mark());
        let mut index_written = None;
        let result = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(err)?;
            let mut out = Vec::with_capacity(batch.len());
            {
                let mut insert = tx.prepare_cached(INSERT_EVENT).map_err(err)?;
                for ev in batch {
                    // Earlier events of this batch are in the window too, so duplicates
                    // inside one batch are caught by the same lookup.
                    if let Some(key) = ev.dedup_key {
                        if let Some(seq) = state.dedup.find(key, cutoff) {
                            out.push(Appended::Duplicate(seq));
                            continue;
                        }
                    }
                    insert
                        .execute(params![
                            ev.account,
                            ev.source.as_str(),
                            ev.code,
                            ev.sia_code,
                            ev.group,
                            ev.zone,
                            ev.received_at_ms,
                            ev.panel_time,
                            ev.protocol,
                            ev.frame_seq,
                            ev.peer,
                            ev.detail.to_string(),
                            ev.dedup_key.map(dedup_to_sql),
                        ])
                        .map_err(err)?;
                    let seq = tx.last_insert_rowid();
                    if let Some(key) = ev.dedup_key {
                        state.dedup.insert(key, seq, ev.received_at_ms);
                    }
                    state.index.push(&ev.account, seq);
                    out.push(Appended::Stored(seq));
                }
            }
            // The next slice of the account index rides along with this commit; at least
            // twice this batch, so the index keeps up whatever `store.max_batch` is.
            let slice = CHUNK.max(batch.len().saturating_mul(2));
            index_written = state.index.write(&tx, slice).map_err(err)?;
            // On failure the dropped transaction rolls back: nothing of the batch is stored.
            tx.commit().map_err(err)?;
            Ok(out)
        })();
        match result {
            Ok(_) => {
                if let Some(written) = index_written {
                    state.index.committed(written);
                }
            }
            Err(_) => {
                // Nothing of the batch is stored, so nothing of it may match a
                // retransmission or be indexed.
                state.dedup.rollback(marks.0);
                state.index.rollback(marks.1);
            }
        }
        self.writing = Some(state);
        result
    }

    fn last_seq(&self) -> Result<i64, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM events")
            .map_err(self.err("read last seq"))?;
        stmt.query_row([], |r| r.get(0))
            .map_err(self.err("read last seq"))
    }

    fn events_after(&self, after_seq: i64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let sql =
            format!("SELECT {EVENT_COLUMNS} FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2");
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .map_err(self.err("read events"))?;
        let rows = stmt
            .query_map(params![after_seq, sql_limit(limit)], event_from_row)
            .map_err(self.err("read events"))?;
        rows.collect::<Result<_, _>>()
            .map_err(self.err("read events"))
    }

    fn query_events(&self, q: &EventQuery) -> Result<Vec<StoredEvent>, StoreError> {
        let (sql, values) = build_query(q);
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .map_err(self.err("query events"))?;
        let rows = stmt
            .query_map(params_from_iter(values.iter()), event_from_row)
            .map_err(self.err("query events"))?;
        rows.collect::<Result<_, _>>()
            .map_err(self.err("query events"))
    }

    fn save_snapshot(
        &mut self,
        last_seq: i64,
        panels: &[(String, String)],
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let err = |e| StoreError::sqlite("save snapshot", path, e);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        tx.execute("DELETE FROM snapshot_panels", []).map_err(err)?;
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO snapshot_panels (account, state) VALUES (?1, ?2)")
                .map_err(err)?;
            for (account, state) in panels {
                insert.execute(params![account, state]).map_err(err)?;
            }
        }
        tx.execute(
            "INSERT OR REPLACE INTO snapshot (id, last_seq, taken_at_ms) VALUES (1, ?1, ?2)",
            params![last_seq, now_ms()],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }

    fn load_snapshot(&self) -> Result<Option<Snapshot>, StoreError> {
        // One read transaction so the header and the panels come from the same snapshot.
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(self.err("load snapshot"))?;
        let snapshot = self.read_snapshot().map_err(self.err("load snapshot"))?;
        tx.commit().map_err(self.err("load snapshot"))?;
        Ok(snapshot)
    }

    fn cursor(&self, group: &str) -> Result<Option<i64>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT cursor FROM consumer_groups WHERE name = ?1")
            .map_err(self.err("read cursor"))?;
        stmt.query_row([group], |r| r.get(0))
            .optional()
            .map_err(self.err("read cursor"))
    }

    fn set_cursor(&mut self, group: &str, seq: i64) -> Result<(), StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "INSERT INTO consumer_groups (name, cursor, updated_at_ms) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(name) DO UPDATE SET cursor = excluded.cursor, \
                 updated_at_ms = excluded.updated_at_ms",
            )
            .map_err(self.err("save cursor"))?;
        stmt.execute(params![group, seq, now_ms()])
            .map_err(self.err("save cursor"))?;
        Ok(())
    }

    fn check_writable(&mut self) -> Result<(), StoreError> {
        // A real committed write, so a full disk or a remount read-only shows up here.
        let mut stmt = self
            .conn
            .prepare_cached(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('writable_probe_ms', ?1)",
            )
            .map_err(self.err("write probe"))?;
        stmt.execute([now_ms()]).map_err(self.err("write probe"))?;
        Ok(())
    }

    fn maintain(&mut self, finish: bool) -> Result<(), StoreError> {
        let Some(state) = self.writing.as_mut() else {
            return Ok(());
        };
        let path = &self.path;
        let err = |e| StoreError::sqlite("write account index", path, e);
        // The generation being written, then (when finishing) whatever was collected since.
        for _ in 0..2 {
            state.index.maybe_freeze(finish);
            if !state.index.writing() {
                break;
            }
            // Idle: the whole frozen generation in one transaction.
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(err)?;
            let written = state.index.write(&tx, usize::MAX).map_err(err)?;
            tx.commit().map_err(err)?;
            if let Some(written) = written {
                state.index.committed(written);
            }
        }
        Ok(())
    }
}

impl SqliteStore {
    /// What the writing instance keeps in memory: the retransmission window (events
    /// received after `cutoff_ms`) and the events not yet in `account_events`.
    fn load_writer_state(&self, cutoff_ms: i64) -> Result<WriterState, StoreError> {
        Ok(WriterState {
            dedup: self.load_dedup_window(cutoff_ms)?,
            index: self.load_pending_index()?,
        })
    }

    /// The events above the `account_events` mark.
    fn load_pending_index(&self) -> Result<PendingIndex, StoreError> {
        let err = self.err("load account index mark");
        let upto: i64 = self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")
            .map_err(&err)?
            .query_row([UPTO_KEY], |r| r.get(0))
            .optional()
            .map_err(&err)?
            .unwrap_or(0);
        let mut stmt = self
            .conn
            .prepare_cached("SELECT account, seq FROM events WHERE seq > ?1 ORDER BY seq")
            .map_err(&err)?;
        let pairs = stmt
            .query_map([upto], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(&err)?
            .collect::<Result<Vec<(String, i64)>, _>>()
            .map_err(&err)?;
        Ok(PendingIndex::new(pairs, upto))
    }

    /// Rebuild the retransmission window from the events received after `cutoff_ms`.
    fn load_dedup_window(&self, cutoff_ms: i64) -> Result<DedupWindow, StoreError> {
        let err = self.err("load dedup window");
        let mut stmt = self.conn.prepare_cached(LOAD_DEDUP_WINDOW).map_err(&err)?;
        let mut rows = stmt.query([cutoff_ms]).map_err(&err)?;
        let mut window = DedupWindow::default();
        while let Some(row) = rows.next().map_err(&err)? {
            let key: i64 = row.get(0).map_err(&err)?;
            window.insert(
                dedup_from_sql(key),
                row.get(1).map_err(&err)?,
                row.get(2).map_err(&err)?,
            );
        }
        Ok(window)
    }

    fn read_snapshot(&self) -> rusqlite::Result<Option<Snapshot>> {
        let last_seq: Option<i64> = self
            .conn
            .prepare_cached("SELECT last_seq FROM snapshot WHERE id = 1")?
            .query_row([], |r| r.get(0))
            .optional()?;
        let Some(last_seq) = last_seq else {
            return Ok(None);
        };
        let mut stmt = self
            .conn
            .prepare_cached("SELECT account, state FROM snapshot_panels ORDER BY account")?;
        let panels = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some((last_seq, panels)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn plan(store: &SqliteStore, sql: &str) -> String {
        let mut stmt = store
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let rows = stmt
            .query_map([1, 2], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        rows.join("; ")
    }

    #[test]
    fn loading_the_dedup_window_is_a_range_on_the_received_at_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let plan = plan(&store, &LOAD_DEDUP_WINDOW.replace("?1", "?1 AND ?2 = ?2"));
        assert!(
            plan.contains("INDEX events_received_at (received_at_ms>?)"),
            "{plan}"
        );
    }

    #[test]
    fn an_account_query_merges_two_ordered_arms_without_sorting() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let q = super::super::EventQuery {
            account: Some("A".into()),
            before_seq: Some(10),
            limit: 5,
            newest_first: true,
            ..Default::default()
        };
        let (sql, values) = build_query(&q);
        let mut stmt = store
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let plan = stmt
            .query_map(params_from_iter(values.iter()), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
            .join("; ");
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
        let store = SqliteStore::open(dir.path()).unwrap();
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
        let store = SqliteStore::open(dir.path()).unwrap();
        store
            .conn
            .execute(
                "INSERT INTO events (account, source, code, grp, zone, received_at_ms, \
                 protocol, frame_seq, peer, detail) \
                 VALUES ('1', 'martian', 1130, 0, 0, 0, '', '', '', '{}')",
                [],
            )
            .unwrap();
        let err = store.events_after(0, 0).unwrap_err();
        assert!(err.to_string().contains("martian"), "{err}");
    }

    #[test]
    fn a_database_from_a_newer_build_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        store
            .conn
            .execute(
                "UPDATE meta SET value = 99 WHERE key = 'schema_version'",
                [],
            )
            .unwrap();
        drop(store);
        let err = SqliteStore::open(dir.path()).unwrap_err();
        assert!(
            matches!(err, StoreError::SchemaVersion { found: 99, .. }),
            "{err}"
        );
        let err = SqliteStore::open_reader(dir.path()).unwrap_err();
        assert!(
            matches!(err, StoreError::SchemaVersion { found: 99, .. }),
            "{err}"
        );
    }
}
