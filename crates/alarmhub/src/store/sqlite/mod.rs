//! The SQLite backend: [`SqliteStore`], the [`Store`] on one file (`<data dir>/alarmhub.db`,
//! WAL, `synchronous=FULL`).
//!
//! Writes go to one OS thread that owns the only read-write connection and group-commits
//! whatever is queued (`writer.rs` over `conn.rs`); reads run on a pool of read-only
//! connections inside `spawn_blocking` (`read.rs`), which WAL lets run beside the writer
//! without blocking it. The rest is what makes the writer fast: the dedup window is kept in
//! memory (`dedup.rs`, rebuilt at open by `state.rs`), a commit's rows go in with multi-row
//! inserts (`insert.rs`), the per-account index is written in sorted bulk
//! (`account_index.rs`), WAL checkpoints run on their own thread (`checkpoint.rs`), old
//! events go in short steps in the writer's spare time (`purge.rs`, `purge_pacing.rs`).
//! `schema.rs` owns the layout and its migrations; `query.rs` the SQL for reading and
//! writing an event row.

mod account_index;
pub mod alarm_reads;
pub mod alarms;
mod checkpoint;
mod conn;
pub mod dedup;
mod insert;
mod purge;
mod purge_pacing;
mod query;
mod read;
mod schema;
mod state;
mod writer;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;

use super::{
    AppendTicket, CommitHooks, EventQuery, OnCommit, Snapshot, Store, StoreError, StoreOptions,
};
use crate::alarms::{
    Alarm, AlarmChange, AlarmDetail, AlarmInput, AlarmOp, AlarmQuery, AlarmRefusal, OpenAlarm,
};
use crate::events::{Appended, NewEvent, StoredEvent};
use conn::SqliteWriter;
use read::ReadPool;
use writer::{WriterConfig, WriterHandle};

pub use read::SqliteReader;

/// Database file name inside the data directory.
pub const DB_FILE: &str = "alarmhub.db";

/// Prepared statements kept per connection: the fixed statements plus every filter
/// combination the event query can produce (2^6 × 2 orders).
const STATEMENT_CACHE: usize = 160;

/// The SQLite store: the writer thread's handle plus the read pool.
#[derive(Debug)]
pub struct SqliteStore {
    writer: WriterHandle,
    thread: Mutex<Option<JoinHandle<()>>>,
    reads: Arc<ReadPool>,
    closed: AtomicBool,
    path: PathBuf,
    /// Highest committed alarm change seq (the in-process wake-up).
    alarm_changes: tokio::sync::watch::Sender<i64>,
}

impl SqliteStore {
    /// Open (creating or migrating as needed) the store in `dir` and start its writer thread;
    /// `on_commit` sees every commit. Fails with an error naming the path when the directory
    /// is not writable, the file is not a database, or its schema is newer than this build.
    pub fn open(
        dir: &Path,
        opts: StoreOptions,
        on_commit: OnCommit,
    ) -> Result<Arc<SqliteStore>, StoreError> {
        SqliteStore::open_with_hooks(dir, opts, on_commit.into())
    }

    /// [`SqliteStore::open`] with both commit hooks (see [`CommitHooks`]).
    pub fn open_with_hooks(
        dir: &Path,
        opts: StoreOptions,
        hooks: CommitHooks,
    ) -> Result<Arc<SqliteStore>, StoreError> {
        let conn = SqliteWriter::open(dir, opts.clock.clone())?;
        let path = conn.path().to_path_buf();
        let (alarm_changes, _) = tokio::sync::watch::channel(conn.last_alarm_change_seq()?);
        let cfg = WriterConfig {
            queue: opts.queue,
            max_batch: opts.max_batch,
            dedup_window_ms: opts.dedup_window_ms,
            clock: opts.clock,
        };
        let (writer, thread) = writer::spawn(conn, cfg, hooks)?;
        Ok(Arc::new(SqliteStore {
            writer,
            thread: Mutex::new(Some(thread)),
            reads: Arc::new(ReadPool::new(dir.to_path_buf())),
            closed: AtomicBool::new(false),
            path,
            alarm_changes,
        }))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append transactions attempted so far (group-commit effectiveness, tests).
    pub fn batches(&self) -> u64 {
        self.writer.batches()
    }

    /// Run a read on the pool, unless the store is closed.
    async fn read<T, F>(&self, op: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&SqliteReader) -> Result<T, StoreError> + Send + 'static,
    {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        self.reads.run(op, f).await
    }

    /// Tell followers of the alarm change log that `changes` are committed.
    fn wake_alarm_followers(&self, changes: &[AlarmChange]) {
        if let Some(last) = changes.iter().map(|c| c.seq).max() {
            // Answers may arrive out of commit order: keep the highest.
            self.alarm_changes.send_if_modified(|v| {
                let newer = last > *v;
                if newer {
                    *v = last;
                }
                newer
            });
        }
    }

    /// Wait for the writer thread to end (it ends once closed).
    async fn join_writer(&self) {
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = thread {
            if let Ok(Err(_)) = tokio::task::spawn_blocking(move || thread.join()).await {
                tracing::error!(path = %self.path.display(), "the store writer thread panicked");
            }
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<Appended>, StoreError> {
        self.writer.append(events).await
    }

    fn submit(self: Arc<Self>, events: Vec<NewEvent>) -> AppendTicket {
        self.writer.submit(events)
    }

    async fn last_seq(&self) -> Result<i64, StoreError> {
        self.read("read last seq", |r| r.last_seq()).await
    }

    async fn events_after(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.read("read events", move |r| r.events_after(after_seq, limit))
            .await
    }

    async fn query_events(&self, query: &EventQuery) -> Result<Vec<StoredEvent>, StoreError> {
        let query = query.clone();
        self.read("query events", move |r| r.query_events(&query))
            .await
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        self.writer.snapshot(snapshot).await
    }

    async fn load_snapshot(&self) -> Result<Option<Snapshot>, StoreError> {
        self.read("load snapshot", |r| r.load_snapshot()).await
    }

    async fn snapshot_seq(&self) -> Result<Option<i64>, StoreError> {
        self.read("read snapshot seq", |r| r.snapshot_seq()).await
    }

    async fn cursor(&self, name: &str) -> Result<Option<i64>, StoreError> {
        let name = name.to_owned();
        self.read("read cursor", move |r| r.cursor(&name)).await
    }

    async fn set_cursor(&self, name: &str, seq: i64) -> Result<(), StoreError> {
        self.writer.set_cursor(name.to_owned(), seq).await
    }

    async fn check_writable(&self) -> Result<(), StoreError> {
        self.writer.check_writable().await
    }

    async fn purge_events(
        &self,
        before_ms: i64,
        below_seq: i64,
        max_rows: usize,
    ) -> Result<usize, StoreError> {
        self.writer
            .purge_events(before_ms, below_seq, max_rows)
            .await
    }

    fn purge_paces_itself(&self) -> bool {
        true
    }

    async fn oldest_seq(&self) -> Result<i64, StoreError> {
        self.read("read oldest seq", |r| r.oldest_seq()).await
    }

    async fn events_size(&self) -> Result<Option<crate::store::EventsSize>, StoreError> {
        self.read("read the store size", |r| r.events_size().map(Some))
            .await
    }

    async fn accounts(&self) -> Result<Vec<String>, StoreError> {
        self.read("read accounts", |r| r.accounts()).await
    }

    async fn put_account(&self, account: &str, settings: &str) -> Result<(), StoreError> {
        let key = account.to_ascii_lowercase();
        self.writer
            .put_account(key, Some(settings.to_owned()))
            .await
            .map(|_| ())
    }

    async fn remove_account(&self, account: &str) -> Result<bool, StoreError> {
        self.writer
            .put_account(account.to_ascii_lowercase(), None)
            .await
    }

    fn queue_depth(&self) -> usize {
        self.writer.queue_depth()
    }

    fn is_healthy(&self, max_silence: Duration) -> bool {
        self.writer.is_healthy(max_silence)
    }

    async fn stall(&self, duration: Duration) -> Result<(), StoreError> {
        self.writer.stall(duration).await
    }

    async fn record_alarm_events(
        &self,
        upto_seq: i64,
        inputs: Vec<AlarmInput>,
    ) -> Result<Vec<AlarmChange>, StoreError> {
        let changes = self.writer.record_alarm_events(upto_seq, inputs).await?;
        self.wake_alarm_followers(&changes);
        Ok(changes)
    }

    async fn update_alarm(
        &self,
        id: i64,
        op: AlarmOp,
        actor: &str,
        at_ms: i64,
    ) -> Result<Result<AlarmChange, AlarmRefusal>, StoreError> {
        let mut out = self.update_alarms(vec![(id, op)], actor, at_ms).await?;
        out.pop().ok_or(StoreError::Closed)
    }

    async fn update_alarms(
        &self,
        ops: Vec<(i64, AlarmOp)>,
        actor: &str,
        at_ms: i64,
    ) -> Result<Vec<Result<AlarmChange, AlarmRefusal>>, StoreError> {
        let out = self
            .writer
            .update_alarms(ops, actor.to_owned(), at_ms)
            .await?;
        let changes: Vec<AlarmChange> = out
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .cloned()
            .collect();
        if !changes.is_empty() {
            self.wake_alarm_followers(&changes);
        }
        Ok(out)
    }

    async fn alarm(&self, id: i64) -> Result<Option<AlarmDetail>, StoreError> {
        self.read("read alarm", move |r| r.alarm(id)).await
    }

    async fn list_alarms(&self, query: &AlarmQuery) -> Result<Vec<Alarm>, StoreError> {
        let query = query.clone();
        self.read("list alarms", move |r| r.list_alarms(&query))
            .await
    }

    async fn open_alarms(&self) -> Result<Vec<OpenAlarm>, StoreError> {
        self.read("list open alarms", |r| r.open_alarms()).await
    }

    async fn alarm_changes_after(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<AlarmChange>, StoreError> {
        self.read("read alarm changes", move |r| {
            r.alarm_changes_after(after_seq, limit)
        })
        .await
    }

    async fn last_alarm_change_seq(&self) -> Result<i64, StoreError> {
        self.read("read alarm changes", |r| r.last_alarm_change_seq())
            .await
    }

    fn alarm_changes_watch(&self) -> tokio::sync::watch::Receiver<i64> {
        self.alarm_changes.subscribe()
    }

    async fn close(&self) -> Result<(), StoreError> {
        self.closed.store(true, Ordering::Release);
        // Readers first, so the writer's connection closes last (see `ReadPool::close`).
        self.reads.close();
        let result = match self.writer.close().await {
            // Closed twice: the first close did the work.
            Err(StoreError::Closed) => Ok(()),
            other => other,
        };
        self.join_writer().await;
        result
    }
}
