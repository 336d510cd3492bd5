//! Reading the SQLite store: [`SqliteReader`], one read-only connection with the store's
//! queries, and [`ReadPool`], the small pool of them that [`super::SqliteStore`] runs its
//! reads on inside `spawn_blocking`. WAL lets readers run beside the writer thread without
//! blocking it; a pool (rather than one shared connection) lets concurrent API calls read
//! in parallel, and reusing connections keeps the prepared-statement caches warm.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::{params, params_from_iter, Connection, OpenFlags, OptionalExtension};

use super::query::{build_query, event_from_row, sql_limit, EVENT_COLUMNS};
use super::schema::{apply_read_pragmas, check_version};
use super::{DB_FILE, STATEMENT_CACHE};
use crate::events::StoredEvent;
use crate::store::{EventQuery, Snapshot, StoreError};

/// Idle connections kept for reuse; more may be open while many reads run at once.
const MAX_IDLE: usize = 4;

/// A read-only connection to the store in a data directory. Besides the pool, tools and
/// tests use it to look at a store (also one a running daemon is writing).
#[derive(Debug)]
pub struct SqliteReader {
    pub(super) conn: Connection,
    path: PathBuf,
}

impl SqliteReader {
    /// Open the existing store in `dir` read-only. Fails naming the file when it is
    /// missing, not a database, or newer than this build.
    pub fn open(dir: &Path) -> Result<SqliteReader, StoreError> {
        let path = dir.join(DB_FILE);
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags)
            .map_err(|e| StoreError::sqlite("open read-only", &path, e))?;
        apply_read_pragmas(&conn, &path)?;
        check_version(&conn, &path)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(SqliteReader { conn, path })
    }

    fn err(&self, op: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |e| StoreError::sqlite(op, &self.path, e)
    }

    /// Highest stored seq, 0 when the store is empty.
    pub fn last_seq(&self) -> Result<i64, StoreError> {
        let err = self.err("read last seq");
        let mut stmt = self
            .conn
            .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM events")
            .map_err(&err)?;
        stmt.query_row([], |r| r.get(0)).map_err(&err)
    }

    /// The lowest stored seq, 0 when empty.
    pub fn oldest_seq(&self) -> Result<i64, StoreError> {
        let err = self.err("read oldest seq");
        let mut stmt = self
            .conn
            .prepare_cached("SELECT COALESCE(MIN(seq), 0) FROM events")
            .map_err(&err)?;
        stmt.query_row([], |r| r.get(0)).map_err(&err)
    }

    /// The pages the events take (table `events`, the per-account index
    /// `account_events` and their indexes, from the `dbstat` table, whose cost grows with
    /// them) and the events stored (seqs have no gaps and are removed oldest first).
    pub fn events_size(&self) -> Result<crate::store::EventsSize, StoreError> {
        let err = self.err("read the store size");
        let bytes: i64 = self
            .conn
            .query_row(
                "SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name IN \
                 (SELECT name FROM sqlite_schema WHERE tbl_name IN ('events', 'account_events'))",
                [],
                |r| r.get(0),
            )
            .map_err(&err)?;
        let rows: i64 = self
            .conn
            .query_row(
                "SELECT COALESCE(MAX(seq) - MIN(seq) + 1, 0) FROM events",
                [],
                |r| r.get(0),
            )
            .map_err(&err)?;
        Ok(crate::store::EventsSize {
            bytes: u64::try_from(bytes).unwrap_or(0),
            rows: u64::try_from(rows).unwrap_or(0),
            exact: true,
        })
    }

    /// Events with `seq > after_seq` in ascending seq order, at most `limit` (0 = no limit).
    pub fn events_after(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let err = self.err("read events");
        let sql =
            format!("SELECT {EVENT_COLUMNS} FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2");
        let mut stmt = self.conn.prepare_cached(&sql).map_err(&err)?;
        let rows = stmt
            .query_map(params![after_seq, sql_limit(limit)], event_from_row)
            .map_err(&err)?;
        rows.collect::<Result<_, _>>().map_err(&err)
    }

    /// Events matching `q`.
    pub fn query_events(&self, q: &EventQuery) -> Result<Vec<StoredEvent>, StoreError> {
        let err = self.err("query events");
        let (sql, values) = build_query(q);
        let mut stmt = self.conn.prepare_cached(&sql).map_err(&err)?;
        let rows = stmt
            .query_map(params_from_iter(values.iter()), event_from_row)
            .map_err(&err)?;
        rows.collect::<Result<_, _>>().map_err(&err)
    }

    /// The latest registry snapshot, panels ordered by account.
    pub fn load_snapshot(&self) -> Result<Option<Snapshot>, StoreError> {
        let err = self.err("load snapshot");
        // One read transaction so the header and the panels come from the same snapshot.
        let tx = self.conn.unchecked_transaction().map_err(&err)?;
        let snapshot = self.read_snapshot().map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(snapshot)
    }

    /// The seq the latest registry snapshot covers, without its panels.
    pub fn snapshot_seq(&self) -> Result<Option<i64>, StoreError> {
        self.read_snapshot_seq()
            .map_err(self.err("read snapshot seq"))
    }

    fn read_snapshot_seq(&self) -> rusqlite::Result<Option<i64>> {
        self.conn
            .prepare_cached("SELECT last_seq FROM snapshot WHERE id = 1")?
            .query_row([], |r| r.get(0))
            .optional()
    }

    fn read_snapshot(&self) -> rusqlite::Result<Option<Snapshot>> {
        let Some(last_seq) = self.read_snapshot_seq()? else {
            return Ok(None);
        };
        let mut stmt = self
            .conn
            .prepare_cached("SELECT account, state FROM snapshot_panels ORDER BY account")?;
        let panels = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Snapshot { last_seq, panels }))
    }

    /// Every stored account's settings (JSON), ordered by account key.
    pub fn accounts(&self) -> Result<Vec<String>, StoreError> {
        let err = self.err("read accounts");
        let mut stmt = self
            .conn
            .prepare_cached("SELECT settings FROM accounts ORDER BY account_key")
            .map_err(&err)?;
        let rows = stmt
            .query_map([], |r| r.get(0))
            .map_err(&err)?
            .collect::<Result<Vec<String>, _>>()
            .map_err(&err)?;
        Ok(rows)
    }

    /// One alarm with its history, notes and event seqs.
    pub fn alarm(&self, id: i64) -> Result<Option<crate::alarms::AlarmDetail>, StoreError> {
        super::alarm_reads::detail(&self.conn, id).map_err(self.err("read alarm"))
    }

    /// The open alarms, as the escalation ticker needs them.
    pub fn open_alarms(&self) -> Result<Vec<crate::alarms::OpenAlarm>, StoreError> {
        super::alarm_reads::open(&self.conn).map_err(self.err("list open alarms"))
    }

    /// Alarms matching `q`.
    pub fn list_alarms(
        &self,
        q: &crate::alarms::AlarmQuery,
    ) -> Result<Vec<crate::alarms::Alarm>, StoreError> {
        super::alarm_reads::list(&self.conn, q).map_err(self.err("list alarms"))
    }

    /// Alarm changes with `seq > after`, at most `limit` (0 = no limit).
    pub fn alarm_changes_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<crate::alarms::AlarmChange>, StoreError> {
        super::alarm_reads::changes_after(&self.conn, after, sql_limit(limit))
            .map_err(self.err("read alarm changes"))
    }

    /// Highest alarm change seq, 0 when none.
    pub fn last_alarm_change_seq(&self) -> Result<i64, StoreError> {
        super::alarm_reads::last_change_seq(&self.conn).map_err(self.err("read alarm changes"))
    }

    /// The stored cursor named `name`.
    pub fn cursor(&self, name: &str) -> Result<Option<i64>, StoreError> {
        let err = self.err("read cursor");
        let mut stmt = self
            .conn
            .prepare_cached("SELECT cursor FROM consumer_groups WHERE name = ?1")
            .map_err(&err)?;
        stmt.query_row([name], |r| r.get(0))
            .optional()
            .map_err(&err)
    }
}

/// Read-only connections to one data directory, opened on first use.
#[derive(Debug)]
pub(crate) struct ReadPool {
    dir: PathBuf,
    idle: Mutex<Vec<SqliteReader>>,
    /// Set once the store closes: connections are no longer kept.
    closed: AtomicBool,
}

impl ReadPool {
    pub(crate) fn new(dir: PathBuf) -> ReadPool {
        ReadPool {
            dir,
            idle: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        }
    }

    fn take(&self) -> Option<SqliteReader> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    fn give_back(&self, conn: SqliteReader) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE && !self.closed.load(Ordering::Acquire) {
            idle.push(conn);
        }
    }

    /// Close every idle connection and keep none from now on. Called before the writer
    /// closes, so the writer's connection is the last one: only the last connection to a
    /// database checkpoints the WAL into the file and removes it (a read-only one cannot),
    /// and the next start then has no WAL to read.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Run `f` on a pooled connection in a blocking task; `op` names the read if the task
    /// itself fails.
    pub(crate) async fn run<T, F>(self: &Arc<Self>, op: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&SqliteReader) -> Result<T, StoreError> + Send + 'static,
    {
        let me = Arc::clone(self);
        let joined = tokio::task::spawn_blocking(move || {
            let conn = match me.take() {
                Some(c) => c,
                None => SqliteReader::open(&me.dir)?,
            };
            let r = f(&conn);
            // A connection that just failed may be broken; open a fresh one next time.
            if r.is_ok() {
                me.give_back(conn);
            }
            r
        })
        .await;
        joined.unwrap_or_else(|e| {
            Err(StoreError::ReadTask {
                op,
                reason: e.to_string(),
            })
        })
    }
}
