//! Durable event storage: the [`Store`] trait (what the rest of the daemon may ask of the
//! database), its SQLite implementation ([`SqliteStore`]) and the group-commit writer
//! thread ([`spawn_writer`]) that owns the one writing connection.
//!
//! Contract (DESIGN.md §1–2): an event is reported stored only after its transaction has
//! committed with `synchronous=FULL`, every stored event gets a strictly increasing sequence
//! number, and retransmissions inside the dedup window are answered with the original seq.
//! The trait exists so a PostgreSQL implementation can be added without touching callers.

mod account_index;
mod checkpoint;
mod dedup;
mod query;
mod schema;
mod sqlite;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use thiserror::Error;

use crate::events::{Appended, NewEvent, StoredEvent};

pub use sqlite::{SqliteStore, DB_FILE};
pub use writer::{spawn_writer, OnCommit, WriterConfig, WriterHandle};

/// What went wrong in the store, always naming the database or directory involved.
///
/// `Clone` because one failed group commit is reported to every request in the batch;
/// underlying errors are shared through `Arc` for that reason.
#[derive(Debug, Clone, Error)]
pub enum StoreError {
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The data directory (or the database file in it) cannot be written.
    #[error("{path} is not writable: {reason}")]
    NotWritable {
        /// The directory or file.
        path: PathBuf,
        /// Why (the OS error text, or what SQLite reported).
        reason: String,
    },
    /// The file exists but is not an SQLite database, or is damaged.
    #[error("{path} is not a usable alarmhub database (corrupt or not SQLite): {source}")]
    NotADatabase {
        /// The database file.
        path: PathBuf,
        /// What SQLite reported.
        #[source]
        source: Arc<rusqlite::Error>,
    },
    /// The database was written by a newer alarmhub with a schema this build does not know.
    #[error("{path} has schema version {found}; this build supports up to {supported}")]
    SchemaVersion {
        /// The database file.
        path: PathBuf,
        /// Version found in the `meta` table.
        found: i64,
        /// Highest version this build understands.
        supported: i64,
    },
    /// Any other SQLite failure: `op` says what the store was doing.
    #[error("{op} failed on {path}: {source}")]
    Sqlite {
        /// What the store was doing ("open", "append events", "read events" …).
        op: &'static str,
        /// The database file.
        path: PathBuf,
        /// What SQLite reported.
        #[source]
        source: Arc<rusqlite::Error>,
    },
    /// The writer thread could not be started.
    #[error("cannot start the store writer thread: {source}")]
    Spawn {
        /// The OS error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The writer thread has stopped (shut down or panicked); nothing was stored.
    #[error("the store writer has stopped; the request was not stored")]
    WriterClosed,
}

impl StoreError {
    /// Wrap a SQLite error, telling a damaged/non-database file and a read-only medium apart
    /// from everything else so operators get an actionable message.
    pub(crate) fn sqlite(op: &'static str, path: &Path, err: rusqlite::Error) -> StoreError {
        use rusqlite::ErrorCode;
        match err.sqlite_error_code() {
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
                StoreError::NotADatabase {
                    path: path.to_path_buf(),
                    source: Arc::new(err),
                }
            }
            Some(ErrorCode::ReadOnly | ErrorCode::PermissionDenied) => StoreError::NotWritable {
                path: path.to_path_buf(),
                reason: format!("{op}: {err}"),
            },
            _ => StoreError::Sqlite {
                op,
                path: path.to_path_buf(),
                source: Arc::new(err),
            },
        }
    }
}

/// A registry snapshot: the seq it was taken at, and `(account, JSON state)` per panel.
pub type Snapshot = (i64, Vec<(String, String)>);

/// Filters for [`Store::query_events`]. All filters are optional and combine with AND.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// Only this panel account.
    pub account: Option<String>,
    /// Received at or after this time (Unix ms, inclusive).
    pub from_ms: Option<i64>,
    /// Received before this time (Unix ms, exclusive).
    pub to_ms: Option<i64>,
    /// Only this Contact ID style code.
    pub code: Option<u16>,
    /// Paging cursor: only events with `seq > after_seq`.
    pub after_seq: Option<i64>,
    /// Paging cursor: only events with `seq < before_seq`.
    pub before_seq: Option<i64>,
    /// At most this many events; 0 means no limit (callers facing clients should cap it).
    pub limit: usize,
    /// Descending seq order (newest first) instead of ascending.
    pub newest_first: bool,
}

/// Durable event storage. Implementations are used from one thread at a time (the writer
/// thread owns the writing instance); reads may use a separate read-only instance.
pub trait Store: Send {
    /// Append a batch in one transaction. An event whose `dedup_key` matches an event
    /// (stored earlier or earlier in this batch) received within the window
    /// (`received_at_ms > now_ms - dedup_window_ms`) is not stored and is answered with
    /// [`Appended::Duplicate`] carrying the original seq. Returns one outcome per event, in
    /// batch order. On error nothing of the batch is stored.
    fn append_batch(
        &mut self,
        batch: &[NewEvent],
        now_ms: i64,
        dedup_window_ms: i64,
    ) -> Result<Vec<Appended>, StoreError>;

    /// Highest stored seq, 0 when the store is empty.
    fn last_seq(&self) -> Result<i64, StoreError>;

    /// Events with `seq > after_seq` in ascending seq order, at most `limit` (0 = no limit).
    fn events_after(&self, after_seq: i64, limit: usize) -> Result<Vec<StoredEvent>, StoreError>;

    /// Events matching `q`.
    fn query_events(&self, q: &EventQuery) -> Result<Vec<StoredEvent>, StoreError>;

    /// Replace the whole registry snapshot atomically: taken at `last_seq`, one JSON state per
    /// panel account.
    fn save_snapshot(
        &mut self,
        last_seq: i64,
        panels: &[(String, String)],
    ) -> Result<(), StoreError>;

    /// The latest snapshot (its `last_seq` and panels ordered by account), if any.
    fn load_snapshot(&self) -> Result<Option<Snapshot>, StoreError>;

    /// Last acknowledged seq of a push-API consumer group.
    fn cursor(&self, group: &str) -> Result<Option<i64>, StoreError>;

    /// Record the last acknowledged seq of a consumer group.
    fn set_cursor(&mut self, group: &str, seq: i64) -> Result<(), StoreError>;

    /// A cheap real write (for `/readyz`): fails when the medium is read-only or full.
    fn check_writable(&mut self) -> Result<(), StoreError>;

    /// Background upkeep the writer runs when its queue is idle (for SQLite: write the
    /// per-account index entries still held in memory, when they are due). With `finish`
    /// (at shutdown, or after a bulk load) everything pending is written now. Nothing by
    /// default.
    fn maintain(&mut self, finish: bool) -> Result<(), StoreError> {
        let _ = finish;
        Ok(())
    }
}

/// Wall-clock now, Unix ms (dedup cutoff, snapshot and cursor timestamps).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Open (creating if needed) the SQLite store in `dir` and start the writer thread on it.
pub fn open_default_writer(
    dir: &Path,
    cfg: WriterConfig,
    on_commit: OnCommit,
) -> Result<(WriterHandle, JoinHandle<()>), StoreError> {
    let store = SqliteStore::open(dir)?;
    spawn_writer(store, cfg, on_commit)
}
