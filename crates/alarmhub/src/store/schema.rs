//! The SQLite layout (tables, indexes, pragmas) and its version check. Everything that
//! knows table names for DDL lives here; queries live in `sqlite.rs` and `query.rs`.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::StoreError;

/// Schema version this build writes and understands.
pub(crate) const SCHEMA_VERSION: i64 = 1;

/// How long a connection waits for a lock held by another connection.
const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

/// Version 1 layout. `IF NOT EXISTS` everywhere so opening an existing database is a no-op.
///
/// Events by account live in `account_events`, written in bulk by the writer
/// (`account_index.rs`); the `events_account_seq` index of earlier builds is dropped.
/// Retransmissions are matched in memory (`dedup.rs`), rebuilt through `events_received_at`
/// at start; the `events_dedup` index of earlier builds put every insert on a random page
/// and is dropped (an older build opening the file simply creates it again).
const DDL_V1: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    account        TEXT NOT NULL,
    source         TEXT NOT NULL,
    code           INTEGER NOT NULL,
    sia_code       TEXT,
    grp            INTEGER NOT NULL,
    zone           INTEGER NOT NULL,
    received_at_ms INTEGER NOT NULL,
    panel_time     INTEGER,
    protocol       TEXT NOT NULL,
    frame_seq      TEXT NOT NULL,
    peer           TEXT NOT NULL,
    detail         TEXT NOT NULL,
    dedup_key      INTEGER
);
DROP INDEX IF EXISTS events_account_seq;
CREATE TABLE IF NOT EXISTS account_events (
    acct   TEXT NOT NULL,
    ev_seq INTEGER NOT NULL,
    PRIMARY KEY (acct, ev_seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_received_at ON events(received_at_ms);
DROP INDEX IF EXISTS events_dedup;
CREATE TABLE IF NOT EXISTS snapshot (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq    INTEGER NOT NULL,
    taken_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshot_panels (
    account TEXT PRIMARY KEY,
    state   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS consumer_groups (
    name          TEXT PRIMARY KEY,
    cursor        INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
";

/// Pragmas for the writing connection: WAL so readers never block the writer, FULL sync so
/// a commit is on disk before anything is ACKed.
pub(crate) fn apply_write_pragmas(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let err = |e| StoreError::sqlite("set pragmas", path, e);
    conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::NotWritable {
            path: path.to_path_buf(),
            reason: format!("cannot switch to WAL journal mode (still {mode})"),
        });
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(err)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(err)?;
    // Keep the hot index pages in memory (the default 2 MiB made every commit re-read
    // index pages from the OS).
    conn.pragma_update(None, "cache_size", WRITER_CACHE_KIB)
        .map_err(err)?;
    Ok(())
}

/// Page cache of the writing connection, KiB (SQLite's negative `cache_size` form): 16 MiB.
/// 64 MiB measured no faster side by side (1,000 panels, saturated) and cost RSS.
const WRITER_CACHE_KIB: i64 = -16_384;

/// Pragmas for a read-only connection (the journal mode is the writer's business).
pub(crate) fn apply_read_pragmas(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let err = |e| StoreError::sqlite("set pragmas", path, e);
    conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(err)?;
    Ok(())
}

/// Create the tables if missing and record the schema version, refusing a newer database.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let err = |e| StoreError::sqlite("create schema", path, e);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err)?;
    match stored_version(&tx, path)? {
        Some(found) if found > SCHEMA_VERSION => {
            return Err(StoreError::SchemaVersion {
                path: path.to_path_buf(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        Some(_) => tx.execute_batch(DDL_V1).map_err(err)?,
        None => {
            tx.execute_batch(DDL_V1).map_err(err)?;
            tx.execute(
                "INSERT INTO meta(key, value) VALUES ('schema_version', ?1)",
                [SCHEMA_VERSION],
            )
            .map_err(err)?;
        }
    }
    // A file from a build without `account_events` starts with nothing indexed; the writer
    // indexes every event above the mark when it opens.
    tx.execute(
        "INSERT OR IGNORE INTO meta(key, value) VALUES (?1, 0)",
        [super::account_index::UPTO_KEY],
    )
    .map_err(err)?;
    tx.commit().map_err(err)
}

/// Refuse (read-only) a database whose schema is newer than this build.
pub(crate) fn check_version(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    match stored_version(conn, path)? {
        Some(found) if found > SCHEMA_VERSION => Err(StoreError::SchemaVersion {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        }),
        _ => Ok(()),
    }
}

/// The `schema_version` in `meta`, `None` for a fresh database.
fn stored_version(conn: &Connection, path: &Path) -> Result<Option<i64>, StoreError> {
    let err = |e| StoreError::sqlite("read schema version", path, e);
    let has_meta: bool = conn
        .query_row(
            "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta')",
            [],
            |r| r.get(0),
        )
        .map_err(err)?;
    if !has_meta {
        return Ok(None);
    }
    conn.query_row(
        "SELECT value FROM meta WHERE key = 'schema_version'",
        [],
        |r| r.get(0),
    )
    .optional()
    .map_err(err)
}
