//! [`SqliteWriter`]: the one read-write connection to `<data dir>/alarmhub.db`, owned by the
//! writer thread (the only writer, so dedup checks inside its transaction are exact). It
//! implements the writer's [`WriteConn`] interface: append a batch, save a snapshot, set a
//! cursor, probe writability, remove old events a step at a time (`purge.rs`), and upkeep
//! (the per-account index, see `account_index.rs`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rusqlite::{params, Connection, OpenFlags, Transaction, TransactionBehavior};

use super::checkpoint::{Checkpointer, WRITER_AUTOCHECKPOINT_PAGES};
use super::insert::{insert_rows, plan_batch, plan_mismatch, Plan};
use super::purge::{PurgeState, PurgeStep};
use super::schema::{apply_write_pragmas, migrate};
use super::state::WriterState;
use super::writer::{CommitSync, WriteConn};
use super::{DB_FILE, STATEMENT_CACHE};
use crate::alarms::{AlarmChange, AlarmInput, AlarmOp, AlarmRefusal};
use crate::clock::Clock;
use crate::events::{Appended, NewEvent};
use crate::store::{Snapshot, StoreError};

/// Name of the short-lived file used to prove the data directory is writable.
const PROBE_FILE: &str = ".alarmhub-write-probe";

/// The writing connection and what it keeps in memory.
#[derive(Debug)]
pub(crate) struct SqliteWriter {
    /// The WAL checkpoint thread. Declared first so it is dropped (and stopped) first: the
    /// writing connection then closes last and runs SQLite's final checkpoint.
    _checkpointer: Option<Checkpointer>,
    pub(super) conn: Connection,
    pub(super) path: PathBuf,
    clock: Clock,
    /// The dedup window and pending index, loaded on the first append.
    writing: Option<WriterState>,
    /// The open alarms the engine has seen (a cache of committed rows).
    open_alarms: super::alarms::OpenAlarms,
    /// Where the purge is between steps.
    purge: PurgeState,
    /// A purge step could not switch back to `synchronous = FULL`: nothing that answers a
    /// caller may commit until that succeeds.
    relaxed: bool,
}

impl SqliteWriter {
    /// Open the read-write store in `dir`, creating the directory, the database file and
    /// the schema (migrating an older one) as needed. Fails with an error naming the path
    /// when the directory is not writable, the file is not a database, or its schema is
    /// newer than this build.
    pub(crate) fn open(dir: &Path, clock: Clock) -> Result<SqliteWriter, StoreError> {
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
            conn.pragma_update(None, "wal_autocheckpoint", WRITER_AUTOCHECKPOINT_PAGES)
                .map_err(|e| StoreError::sqlite("set pragmas", &path, e))?;
        }
        Ok(SqliteWriter {
            _checkpointer: checkpointer,
            conn,
            path,
            clock,
            writing: None,
            open_alarms: Default::default(),
            purge: PurgeState::default(),
            relaxed: false,
        })
    }

    /// Highest alarm change seq, 0 when none (the wake-up's start value).
    pub(crate) fn last_alarm_change_seq(&self) -> Result<i64, StoreError> {
        super::alarm_reads::last_change_seq(&self.conn)
            .map_err(|e| StoreError::sqlite("read alarm changes", &self.path, e))
    }

    /// The database file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Back to `synchronous = FULL` if a purge step left the connection relaxed; an error
    /// while it cannot be.
    fn ensure_durable(&mut self) -> Result<(), StoreError> {
        if self.relaxed {
            restore_full(&self.conn)
                .map_err(|e| StoreError::sqlite("restore synchronous=FULL", &self.path, e))?;
            self.relaxed = false;
        }
        Ok(())
    }

    fn err(&self, op: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |e| StoreError::sqlite(op, &self.path, e)
    }
}

/// Start a write transaction (taking the write lock now, so it cannot fail halfway on a
/// busy database).
fn begin<'c>(
    conn: &'c mut Connection,
    path: &Path,
    op: &'static str,
) -> Result<Transaction<'c>, StoreError> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| StoreError::sqlite(op, path, e))
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

/// Insert the events of `batch` that are not retransmissions (earlier events of the batch
/// count too: a retransmission inside one batch is stored once), then the next slice of the
/// account index, all inside `tx`. The new rows go in with multi-row inserts (`insert.rs`).
fn insert_batch(
    tx: &Transaction<'_>,
    state: &mut WriterState,
    batch: &[NewEvent],
    cutoff_ms: i64,
) -> rusqlite::Result<(Vec<Appended>, Option<super::account_index::Written>)> {
    let plan = plan_batch(&state.dedup, &mut state.batch_keys, batch, cutoff_ms);
    let fresh: Vec<&NewEvent> = batch
        .iter()
        .zip(&plan)
        .filter(|(_, p)| matches!(p, Plan::New))
        .map(|(ev, _)| ev)
        .collect();
    let mut seqs = Vec::with_capacity(fresh.len());
    insert_rows(tx, &fresh, &mut seqs)?;
    for (ev, &seq) in fresh.iter().zip(&seqs) {
        if let Some(key) = ev.dedup_key {
            state.dedup.insert(key, seq, ev.received_at_ms);
        }
        state.index.push(&ev.account, seq);
    }
    let mut new_seqs = seqs.iter();
    let mut out: Vec<Appended> = Vec::with_capacity(batch.len());
    for p in &plan {
        let outcome = match *p {
            Plan::Window(seq) => Appended::Duplicate(seq),
            Plan::Earlier(i) => match seqs.get(i) {
                Some(&seq) => Appended::Duplicate(seq),
                None => return Err(plan_mismatch()),
            },
            Plan::New => match new_seqs.next() {
                Some(&seq) => Appended::Stored(seq),
                None => return Err(plan_mismatch()),
            },
        };
        out.push(outcome);
    }
    // The next slice of the account index rides along with this commit.
    let slice = state.index.slice(batch.len());
    let written = state.index.write(tx, slice)?;
    Ok((out, written))
}

impl WriteConn for SqliteWriter {
    fn append_batch(
        &mut self,
        batch: &[NewEvent],
        now_ms: i64,
        dedup_window_ms: i64,
    ) -> Result<Vec<Appended>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        self.ensure_durable()?;
        let cutoff = now_ms.saturating_sub(dedup_window_ms);
        let mut state = match self.writing.take() {
            Some(state) => state,
            None => WriterState::load(&self.conn, &self.path, cutoff)?,
        };
        state.dedup.expire(cutoff);
        state.index.maybe_freeze(false);
        let marks = (state.dedup.mark(), state.index.mark());
        let path = &self.path;
        let started = Instant::now();
        let result = begin(&mut self.conn, path, "append events").and_then(|tx| {
            let err = |e| StoreError::sqlite("append events", path, e);
            let (out, written) = insert_batch(&tx, &mut state, batch, cutoff).map_err(err)?;
            // On failure the dropped transaction rolls back: nothing of the batch is stored.
            tx.commit().map_err(err)?;
            Ok((out, written))
        });
        let result = match result {
            Ok((out, written)) => {
                if let Some(written) = written {
                    state.index.committed(written);
                    state.index.timed(written, started.elapsed());
                }
                Ok(out)
            }
            Err(e) => {
                // Nothing of the batch is stored, so nothing of it may match a
                // retransmission or be indexed.
                state.dedup.rollback(marks.0);
                state.index.rollback(marks.1);
                Err(e)
            }
        };
        self.writing = Some(state);
        result
    }

    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StoreError> {
        self.ensure_durable()?;
        let now = self.clock.now_ms();
        let path = &self.path;
        let tx = begin(&mut self.conn, path, "save snapshot")?;
        let err = |e| StoreError::sqlite("save snapshot", path, e);
        tx.execute("DELETE FROM snapshot_panels", []).map_err(err)?;
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO snapshot_panels (account, state) VALUES (?1, ?2)")
                .map_err(err)?;
            for (account, state) in &snapshot.panels {
                insert.execute(params![account, state]).map_err(err)?;
            }
        }
        tx.execute(
            "INSERT OR REPLACE INTO snapshot (id, last_seq, taken_at_ms) VALUES (1, ?1, ?2)",
            params![snapshot.last_seq, now],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }

    fn set_cursor(&mut self, name: &str, seq: i64) -> Result<(), StoreError> {
        self.ensure_durable()?;
        let now = self.clock.now_ms();
        let err = self.err("save cursor");
        let mut stmt = self
            .conn
            .prepare_cached(
                "INSERT INTO consumer_groups (name, cursor, updated_at_ms) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(name) DO UPDATE SET cursor = excluded.cursor, \
                 updated_at_ms = excluded.updated_at_ms",
            )
            .map_err(&err)?;
        stmt.execute(params![name, seq, now]).map_err(&err)?;
        Ok(())
    }

    fn purge_step(
        &mut self,
        before_ms: i64,
        below_seq: i64,
        max_rows: usize,
        budget: std::time::Duration,
    ) -> Result<PurgeStep, StoreError> {
        // Without an fsync of its own (see `purge.rs`).
        let bounds = (before_ms, below_seq, max_rows);
        self.relaxed(|c| super::purge::step(&mut c.conn, &c.path, &mut c.purge, bounds, budget))
    }

    fn put_account(&mut self, key: &str, settings: Option<&str>) -> Result<bool, StoreError> {
        self.ensure_durable()?;
        let now = self.clock.now_ms();
        let err = self.err("store account");
        let existed = self
            .conn
            .prepare_cached("SELECT 1 FROM accounts WHERE account_key = ?1")
            .map_err(&err)?
            .exists([key])
            .map_err(&err)?;
        match settings {
            Some(json) => {
                self.conn
                    .prepare_cached(
                        "INSERT INTO accounts (account_key, settings, updated_at_ms)                          VALUES (?1, ?2, ?3) ON CONFLICT(account_key) DO UPDATE SET                          settings = excluded.settings, updated_at_ms = excluded.updated_at_ms",
                    )
                    .map_err(&err)?
                    .execute(params![key, json, now])
                    .map_err(&err)?;
            }
            None => {
                self.conn
                    .prepare_cached("DELETE FROM accounts WHERE account_key = ?1")
                    .map_err(&err)?
                    .execute([key])
                    .map_err(&err)?;
            }
        }
        Ok(existed)
    }

    fn check_writable(&mut self) -> Result<(), StoreError> {
        // A real committed write, so a full disk or a remount read-only shows up here.
        let now = self.clock.now_ms();
        let err = self.err("write probe");
        let mut stmt = self
            .conn
            .prepare_cached(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('writable_probe_ms', ?1)",
            )
            .map_err(&err)?;
        stmt.execute([now]).map_err(&err)?;
        // SQLite may reuse space it already holds (WAL frames after a reset) and succeed on
        // a full disk; one page written to a fresh file says whether the medium takes more.
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let probe = dir.join(PROBE_FILE);
        std::fs::write(&probe, [0u8; 4096])
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(|e| {
                let _ = std::fs::remove_file(&probe);
                StoreError::NotWritable {
                    path: dir.to_path_buf(),
                    reason: format!("the disk is full or refuses writes: {e}"),
                }
            })
    }

    fn record_alarm_events(
        &mut self,
        upto_seq: i64,
        inputs: &[AlarmInput],
        sync: CommitSync,
    ) -> Result<Vec<AlarmChange>, StoreError> {
        match sync {
            CommitSync::Full => self.record_alarms(upto_seq, inputs),
            CommitSync::Deferred => self.relaxed(|c| c.record_alarms(upto_seq, inputs)),
        }
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        // The WAL holds every commit not yet checkpointed; checkpoints sync the WAL before
        // they copy from it, so what they copied is on disk already.
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let wal = std::path::PathBuf::from(wal);
        let failed = |e: std::io::Error| StoreError::NotWritable {
            path: wal.clone(),
            reason: format!("syncing the WAL failed: {e}"),
        };
        match std::fs::File::open(&wal) {
            Ok(f) => f.sync_data().map_err(failed),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(failed(e)),
        }
    }

    fn update_alarms(
        &mut self,
        ops: &[(i64, AlarmOp)],
        actor: &str,
        at_ms: i64,
    ) -> Result<Vec<Result<AlarmChange, AlarmRefusal>>, StoreError> {
        self.ensure_durable()?;
        let path = &self.path;
        let tx = begin(&mut self.conn, path, "update alarm")?;
        let err = |e| StoreError::sqlite("update alarm", path, e);
        // A refusal wrote nothing; committing a transaction of refusals is harmless.
        let done = ops
            .iter()
            .map(|(id, op)| super::alarms::update(&tx, *id, op, actor, at_ms))
            .collect::<rusqlite::Result<Vec<_>>>()
            .and_then(|out| tx.commit().map(|()| out));
        match done {
            Ok(out) => {
                for c in out.iter().flatten() {
                    self.open_alarms.forget(&c.alarm.account);
                }
                Ok(out)
            }
            Err(e) => {
                self.open_alarms.clear();
                Err(err(e))
            }
        }
    }

    fn maintain(&mut self, finish: bool) -> Result<(), StoreError> {
        let Some(mut state) = self.writing.take() else {
            return Ok(());
        };
        let result = self.write_index(&mut state, finish);
        self.writing = Some(state);
        result
    }
}

impl SqliteWriter {
    /// Run `f` with `synchronous = NORMAL` (its commit does not wait for the disk: purge
    /// steps, deferred alarm commits — see [`CommitSync`]), then back to `FULL`.
    fn relaxed<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.ensure_durable()?;
        if let Err(e) = relax_sync(&self.conn) {
            // Still FULL: the commit then syncs on its own, which is slower but safe.
            tracing::debug!(error = %e, "a relaxed commit runs with an fsync of its own");
        }
        let out = f(self);
        if let Err(e) = restore_full(&self.conn) {
            self.relaxed = true;
            return Err(StoreError::sqlite(
                "restore synchronous=FULL",
                &self.path,
                e,
            ));
        }
        out
    }

    fn record_alarms(
        &mut self,
        upto_seq: i64,
        inputs: &[AlarmInput],
    ) -> Result<Vec<AlarmChange>, StoreError> {
        let now = self.clock.now_ms();
        let path = &self.path;
        let tx = begin(&mut self.conn, path, "record alarm events")?;
        let err = |e| StoreError::sqlite("record alarm events", path, e);
        let cache = &mut self.open_alarms;
        let done = super::alarms::record(&tx, upto_seq, inputs, now, cache)
            .and_then(|r| tx.commit().map(|()| r));
        match done {
            Ok(r) => {
                cache.committed(r.alarms);
                Ok(r.changes)
            }
            Err(e) => {
                cache.clear();
                Err(err(e))
            }
        }
    }

    /// Idle upkeep: the frozen index generation in one transaction; then (when finishing)
    /// whatever was collected since.
    fn write_index(&mut self, state: &mut WriterState, finish: bool) -> Result<(), StoreError> {
        for _ in 0..2 {
            state.index.maybe_freeze(finish);
            if !state.index.writing() {
                break;
            }
            let path = &self.path;
            let tx = begin(&mut self.conn, path, "write account index")?;
            let err = |e| StoreError::sqlite("write account index", path, e);
            let written = state.index.write(&tx, usize::MAX).map_err(err)?;
            tx.commit().map_err(err)?;
            if let Some(written) = written {
                state.index.committed(written);
            }
        }
        Ok(())
    }
}

/// `synchronous = NORMAL`: commits without an fsync of their own (purge steps, deferred
/// alarm commits; see `SqliteWriter::relaxed`).
fn relax_sync(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "synchronous", "NORMAL")
}

/// `synchronous = FULL`, as every commit that answers a caller needs.
fn restore_full(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "synchronous", "FULL")
}
