//! The SQLite layout (tables, indexes, pragmas), its numbered migrations
//! (`migrations/NNN_*.sql`) and the version check. Everything that knows table names for
//! DDL lives here; queries live in `query.rs`, `read.rs`, `conn.rs` and `state.rs`.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::store::StoreError;

/// Schema version this build writes and understands.
pub(crate) const SCHEMA_VERSION: i64 = 5;

/// How long a connection waits for a lock held by another connection.
const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

/// The numbered migrations: version `n` is reached by running `MIGRATIONS[n - 1]`.
/// Version 1 is idempotent and runs at every open (see its file); later ones run once.
const MIGRATIONS: [&str; 5] = [
    include_str!("migrations/001_initial.sql"),
    include_str!("migrations/002_typed_facts.sql"),
    include_str!("migrations/003_alarms.sql"),
    include_str!("migrations/004_accounts.sql"),
    include_str!("migrations/005_alarm_escalated.sql"),
];

/// The migrations, for tests that build a database as an older build left it.
#[cfg(test)]
pub(super) const MIGRATIONS_FOR_TESTS: [&str; 5] = MIGRATIONS;

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

/// Bring the database to [`SCHEMA_VERSION`] in one transaction (a crash mid-way leaves the
/// old version), refusing a newer database.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let err = |e| StoreError::sqlite("migrate schema", path, e);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err)?;
    let found = stored_version(&tx, path)?.unwrap_or(0);
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaVersion {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    tx.execute_batch(MIGRATIONS[0]).map_err(err)?;
    for (version, sql) in (1..).zip(MIGRATIONS).skip(1) {
        if version > found {
            tracing::info!(path = %path.display(), from = found, to = version, "migrating the store schema");
            tx.execute_batch(sql).map_err(err)?;
        }
    }
    tx.execute(
        "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?1)",
        [SCHEMA_VERSION],
    )
    .map_err(err)?;
    // A file from a build without `account_events` starts with nothing indexed; the writer
    // indexes every event above the mark when it opens.
    tx.execute(
        "INSERT OR IGNORE INTO meta(key, value) VALUES (?1, 0)",
        [super::account_index::UPTO_KEY],
    )
    .map_err(err)?;
    tx.commit().map_err(err)
}

/// Refuse to read a database whose schema is not this build's: a newer one, or an older one
/// not migrated yet (only the writer migrates).
pub(crate) fn check_version(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    match stored_version(conn, path)? {
        Some(found) if found > SCHEMA_VERSION => Err(StoreError::SchemaVersion {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        }),
        Some(found) if found < SCHEMA_VERSION => Err(StoreError::SchemaOutdated {
            path: path.to_path_buf(),
            found,
            expected: SCHEMA_VERSION,
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
