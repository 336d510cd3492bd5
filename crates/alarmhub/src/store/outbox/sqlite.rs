//! [`SqliteOutbox`]: the notification outbox in the event database (`<data dir>/alarmhub.db`),
//! in tables of its own (`notify_*`, see `sqlite_sql.rs`).
//!
//! It has its own two connections (one for changes, one for reads), like the access-control
//! tables, so the event writer's group commit stays as it is; SQLite's WAL lets them share
//! the file, and every transaction here is short.
//!
//! Durability: the outbox commits with `synchronous=NORMAL`, not the event writer's `FULL`.
//! A process crash (kill -9) loses nothing either way — a commit is in the OS once it
//! returns. A power cut may lose the last outbox commits (never an event: the next `FULL`
//! commit of the event writer flushes every WAL frame before it). What that can lose is
//! harmless: a producer batch goes together with its cursor, so the same notifications are
//! derived again from the durable log, with the same ids; a lost "delivered" means one more
//! delivery with the same id (delivery is at least once anyway). It keeps the fsyncs of the
//! notification path off the disk the panels' ACKs wait for.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior};

use super::sqlite_sql::{self as sql, SqlError, DDL, NOTIFY_SCHEMA_VERSION};
use crate::notify::outbox::{
    ChannelState, Delivery, DeliveryId, DeliveryRecord, FeedBatch, Outbox, OutboxError,
    ReminderRow, Settlement,
};
use crate::notify::rules::Target;
use crate::notify::Notification;
use crate::store::DB_FILE;

/// How often a connection that found the database locked looks again, and how many times
/// (5 s in all). SQLite's own busy timeout backs off to 100 ms sleeps, which under a busy
/// event writer starves these short transactions for seconds; looking often gets the lock
/// in the gap between two group commits.
const BUSY_STEP: Duration = Duration::from_micros(250);
const BUSY_STEPS: i32 = 20_000;

fn busy(attempt: i32) -> bool {
    if attempt >= BUSY_STEPS {
        return false;
    }
    std::thread::sleep(BUSY_STEP);
    true
}

/// The outbox on SQLite. Cheap to share (`Arc`); every call runs on the blocking pool.
#[derive(Debug)]
pub struct SqliteOutbox {
    write: Arc<Mutex<Connection>>,
    read: Arc<Mutex<Connection>>,
    path: PathBuf,
}

fn sqlite_err(op: &str, path: &Path, e: impl std::fmt::Display) -> OutboxError {
    OutboxError(format!("{op} in {}: {e}", path.display()))
}

fn connect(path: &Path, flags: OpenFlags) -> Result<Connection, OutboxError> {
    let conn = Connection::open_with_flags(path, flags).map_err(|e| sqlite_err("open", path, e))?;
    conn.busy_handler(Some(busy))
        .map_err(|e| sqlite_err("open", path, e))?;
    Ok(conn)
}

impl SqliteOutbox {
    /// Open the outbox in `dir` (creating the directory `0700`, the database `0600` and the
    /// tables as needed), for the daemon.
    ///
    /// Leases left by a previous run are released: on SQLite one daemon owns the data
    /// directory, so a lease still running can only be a crashed run's, and its rows are
    /// delivered now rather than once the lease runs out.
    pub fn open(dir: &Path) -> Result<SqliteOutbox, OutboxError> {
        crate::auth::fsperm::create_private_dir(dir)
            .map_err(|e| sqlite_err("create the data directory", dir, e))?;
        let path = dir.join(DB_FILE);
        crate::auth::fsperm::private_db_files(&path)
            .map_err(|e| sqlite_err("protect the database", &path, e))?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut write = connect(&path, flags)?;
        let set = |c: &Connection| -> rusqlite::Result<()> {
            let _: String = c.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
            c.pragma_update(None, "synchronous", "NORMAL")
        };
        set(&write).map_err(|e| sqlite_err("set pragmas", &path, e))?;
        migrate(&mut write, &path)?;
        write
            .execute(
                "UPDATE notify_outbox SET leased_until_ms = 0 WHERE leased_until_ms > 0",
                [],
            )
            .map_err(|e| sqlite_err("release leases", &path, e))?;
        let read = connect(&path, flags)?;
        Ok(SqliteOutbox {
            write: Arc::new(Mutex::new(write)),
            read: Arc::new(Mutex::new(read)),
            path,
        })
    }

    /// Open an existing data directory for reading only (`alarmhub notify log`): never
    /// creates anything. Fails naming the file when there is no database; a database
    /// without outbox tables reads as empty.
    pub fn open_read_only(dir: &Path) -> Result<SqliteOutbox, OutboxError> {
        let path = dir.join(DB_FILE);
        if !path.is_file() {
            return Err(OutboxError(format!(
                "{}: no database (wrong --data-dir, or the daemon never ran there)",
                path.display()
            )));
        }
        // Read-write flags without CREATE: reading a WAL database needs its shared memory,
        // which a read-only connection cannot set up when the daemon is not running.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = connect(&path, flags)?;
        let has: bool = conn
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE name = 'notify_outbox')",
                [],
                |r| r.get(0),
            )
            .map_err(|e| sqlite_err("read", &path, e))?;
        let mut conn = conn;
        if !has {
            // Nothing was ever queued: an empty outbox (in memory) answers the same.
            conn = Connection::open_in_memory().map_err(|e| sqlite_err("open", &path, e))?;
            conn.execute_batch(DDL)
                .map_err(|e| sqlite_err("open", &path, e))?;
        }
        let conn = Arc::new(Mutex::new(conn));
        Ok(SqliteOutbox {
            write: Arc::clone(&conn),
            read: conn,
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f` in a transaction on `conn` (immediate when it writes), on the blocking pool.
    async fn run<T, F>(&self, op: &'static str, writes: bool, f: F) -> Result<T, OutboxError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> sql::R<T> + Send + 'static,
    {
        let conn = Arc::clone(if writes { &self.write } else { &self.read });
        let path = self.path.clone();
        let job = move || {
            let mut c = conn.lock().unwrap_or_else(|p| p.into_inner());
            let behavior = if writes {
                TransactionBehavior::Immediate
            } else {
                TransactionBehavior::Deferred
            };
            let tx = c
                .transaction_with_behavior(behavior)
                .map_err(|e| sqlite_err(op, &path, e))?;
            let out = f(&tx).map_err(|e| match e {
                SqlError::Sqlite(e) => sqlite_err(op, &path, e),
                SqlError::Bad(b) => sqlite_err(op, &path, b.0),
            })?;
            tx.commit().map_err(|e| sqlite_err(op, &path, e))?;
            Ok(out)
        };
        tokio::task::spawn_blocking(job)
            .await
            .map_err(|e| OutboxError(format!("{op}: {e}")))?
    }
}

/// Create the tables, refusing a database whose outbox tables are newer than this build.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), OutboxError> {
    let err = |e: rusqlite::Error| sqlite_err("create the outbox tables", path, e);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err)?;
    tx.execute_batch(DDL).map_err(err)?;
    let found: Option<i64> = tx
        .query_row(
            "SELECT value FROM meta WHERE key = 'notify_schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(err)?;
    match found {
        Some(v) if v > NOTIFY_SCHEMA_VERSION => {
            return Err(OutboxError(format!(
                "{}: the outbox tables are version {v}, this build knows {NOTIFY_SCHEMA_VERSION}; \
                 run the newer alarmhub",
                path.display()
            )))
        }
        Some(_) => {}
        None => {
            tx.execute(
                "INSERT INTO meta(key, value) VALUES ('notify_schema_version', ?1)",
                [NOTIFY_SCHEMA_VERSION],
            )
            .map_err(err)?;
        }
    }
    tx.commit().map_err(err)
}

#[async_trait]
impl Outbox for SqliteOutbox {
    async fn enqueue(
        &self,
        n: &Notification,
        targets: &[Target],
        now_ms: i64,
    ) -> Result<Vec<DeliveryId>, OutboxError> {
        let (n, targets) = (n.clone(), targets.to_vec());
        self.run("queue a notification", true, move |tx| {
            sql::enqueue(tx, &n, &targets, now_ms)
        })
        .await
    }

    async fn claim_due(
        &self,
        channel: &str,
        now_ms: i64,
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<Delivery>, OutboxError> {
        let ch = channel.to_string();
        let due = self
            .run("claim notifications", false, move |tx| {
                sql::any_due(tx, &ch, now_ms)
            })
            .await?;
        if !due {
            return Ok(Vec::new());
        }
        let channel = channel.to_string();
        self.run("claim notifications", true, move |tx| {
            sql::claim_due(tx, &channel, now_ms, limit, lease_ms)
        })
        .await
    }

    async fn settle(&self, settled: Vec<(DeliveryId, Settlement)>) -> Result<(), OutboxError> {
        if settled.is_empty() {
            return Ok(());
        }
        self.run("settle notifications", true, move |tx| {
            sql::settle(tx, &settled)
        })
        .await
    }

    async fn next_due_ms(&self, channel: &str) -> Result<Option<i64>, OutboxError> {
        let channel = channel.to_string();
        self.run("read the outbox", false, move |tx| {
            sql::next_due_ms(tx, &channel)
        })
        .await
    }

    async fn backlog(&self) -> Result<BTreeMap<String, u64>, OutboxError> {
        self.run("read the outbox", false, sql::backlog).await
    }

    async fn channel_state(&self, channel: &str) -> Result<ChannelState, OutboxError> {
        let channel = channel.to_string();
        self.run("read a channel's state", false, move |tx| {
            sql::channel_state(tx, &channel)
        })
        .await
    }

    async fn save_channel_state(
        &self,
        channel: &str,
        state: &ChannelState,
    ) -> Result<(), OutboxError> {
        let (channel, state) = (channel.to_string(), state.clone());
        self.run("save a channel's state", true, move |tx| {
            sql::save_channel_state(tx, &channel, &state)
        })
        .await
    }

    async fn enable_channel(&self, channel: &str, now_ms: i64) -> Result<bool, OutboxError> {
        let channel = channel.to_string();
        self.run("enable a channel", true, move |tx| {
            sql::enable_channel(tx, &channel, now_ms)
        })
        .await
    }

    async fn record(&self, batch: FeedBatch, now_ms: i64) -> Result<usize, OutboxError> {
        self.run("record notifications", true, move |tx| {
            sql::record(tx, &batch, now_ms)
        })
        .await
    }

    async fn feed_cursor(&self, feed: &str) -> Result<Option<i64>, OutboxError> {
        let feed = feed.to_string();
        self.run("read a notification cursor", false, move |tx| {
            sql::feed_cursor(tx, &feed)
        })
        .await
    }

    async fn due_reminders(
        &self,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<ReminderRow>, OutboxError> {
        self.run("read reminders", false, move |tx| {
            sql::due_reminders(tx, now_ms, limit)
        })
        .await
    }

    async fn remind(
        &self,
        row: &ReminderRow,
        reminder: &Notification,
        targets: &[Target],
        next_due_ms: i64,
        now_ms: i64,
    ) -> Result<bool, OutboxError> {
        let (row, reminder, targets) = (row.clone(), reminder.clone(), targets.to_vec());
        self.run("queue a reminder", true, move |tx| {
            sql::remind(tx, &row, &reminder, &targets, next_due_ms, now_ms)
        })
        .await
    }

    async fn prune(&self, before_ms: i64) -> Result<u64, OutboxError> {
        self.run("prune the outbox", true, move |tx| {
            sql::prune(tx, before_ms)
        })
        .await
    }

    async fn recent(
        &self,
        channel: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, OutboxError> {
        let channel = channel.map(str::to_string);
        self.run("read the notification log", false, move |tx| {
            sql::recent(tx, channel.as_deref(), limit)
        })
        .await
    }
}
