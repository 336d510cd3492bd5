//! [`StoreError`]: what went wrong in the store, always naming the database (or directory)
//! and the operation, so an operator can act on the message alone.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use thiserror::Error;

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
    /// The database has an older schema and was opened read-only, so it cannot be migrated.
    #[error("{path} has schema version {found}; this build reads version {expected} (start `alarmhub serve` on it once to migrate it)")]
    SchemaOutdated {
        /// The database file.
        path: PathBuf,
        /// Version found in the `meta` table.
        found: i64,
        /// The version this build reads.
        expected: i64,
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
    /// The store was closed (the daemon is stopping) or its writer thread stopped;
    /// nothing of the request was done.
    #[error("the store is closed (shutting down, or its writer stopped); the request was not carried out")]
    Closed,
    /// A blocking read task failed (it panicked or the runtime is shutting down).
    #[error("{op}: the store read task failed: {reason}")]
    ReadTask {
        /// What the store was doing.
        op: &'static str,
        /// What tokio reported.
        reason: String,
    },
    /// The PostgreSQL store URL does not parse (`--store`, `[store] url`, `ALARMHUB_STORE`).
    #[error("store URL {url:?} is not a usable PostgreSQL URL: {reason}")]
    BadUrl {
        /// The URL as given, without its password.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// Any PostgreSQL failure: `op` says what the store was doing, `target` names the
    /// database (`postgres://user@host:port/db`, never a password).
    #[error("{op} failed on {target}: {source}")]
    Postgres {
        /// What the store was doing ("connect", "append events", "read events" …).
        op: &'static str,
        /// The database, without password.
        target: String,
        /// What PostgreSQL (or the connection) reported.
        #[source]
        source: Arc<tokio_postgres::Error>,
    },
    /// No connection to PostgreSQL could be had from the pool in time.
    #[error("{op} failed on {target}: no database connection: {reason}")]
    PostgresPool {
        /// What the store was doing.
        op: &'static str,
        /// The database, without password.
        target: String,
        /// What the pool reported.
        reason: String,
    },
    /// The PostgreSQL schema was written by a newer alarmhub.
    #[error("{target} has schema version {found}; this build supports up to {supported}")]
    PostgresSchema {
        /// The database, without password.
        target: String,
        /// Version found.
        found: i64,
        /// Highest version this build knows.
        supported: i64,
    },
    /// A stored row does not decode (an unknown source, a code out of range …).
    #[error("{target}: event {seq}: {what}")]
    BadRow {
        /// The database, without password.
        target: String,
        /// The event's seq.
        seq: i64,
        /// What is wrong.
        what: String,
    },
    /// A stored row other than an event does not decode (an alarm's JSON, an unknown kind …).
    #[error("{target}: {table} row {key}: {what}")]
    BadStoredRow {
        /// The database, without password.
        target: String,
        /// The table.
        table: &'static str,
        /// The row's key (id or seq).
        key: i64,
        /// What is wrong.
        what: String,
    },
    /// This backend does not offer the operation (a test hook on a backend without it).
    #[error("this store backend does not support {what}")]
    Unsupported {
        /// The operation.
        what: &'static str,
    },
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
