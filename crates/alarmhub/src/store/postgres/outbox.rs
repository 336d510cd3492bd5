//! [`PgOutbox`]: the notification outbox ([`crate::notify::Outbox`]) in the shared
//! PostgreSQL database (`ah_notify_*`, `migrations/007_outbox.sql`; the SQL is in
//! `outbox_sql.rs`), so that of several nodes exactly one delivers each notification.
//!
//! * Every node records what it derives from the logs with `ON CONFLICT DO NOTHING` on
//!   (notification id, channel, recipient): two nodes deriving the same change write one
//!   row.
//! * Every node's dispatcher claims due rows with `FOR UPDATE SKIP LOCKED` and a lease:
//!   a row is claimed by one node, the others skip it while the claim is in flight and see
//!   the lease once it commits. A node that dies mid-send lets the lease run out; the row
//!   is claimed again by a living node, with the same notification id (at least once, as
//!   on SQLite).
//! * Unlike SQLite, leases are *not* released when a node opens the outbox: other nodes
//!   may be sending those rows right now.
//! * Reminders move by a compare-and-set on their `sent` count, so two nodes reminding at
//!   once queue one reminder.
//!
//! Commits use the server's `synchronous_commit` (what is lost by a power cut is harmless,
//! as the SQLite outbox's module doc explains: batches are re-derived with the same ids).

use std::collections::BTreeMap;

use async_trait::async_trait;
use deadpool_postgres::Pool;

use super::connect::Target;
use super::outbox_sql::{self as sql, SqlError};
use crate::notify::outbox::{
    ChannelState, Delivery, DeliveryId, DeliveryRecord, FeedBatch, Outbox, OutboxError,
    ReminderRow, Settlement,
};
use crate::notify::rules::Target as NotifyTarget;
use crate::notify::Notification;

/// The outbox on PostgreSQL: a read/write pool on the shared database.
#[derive(Debug)]
pub struct PgOutbox {
    target: Target,
    pool: Pool,
}

/// Run `$body` (a future using the transaction `$tx`) in one transaction for `$op`.
macro_rules! in_tx {
    ($s:expr, $op:expr, $tx:ident => $body:expr) => {{
        let op: &str = $op;
        let name: &str = &$s.target.name;
        let mut c = $s.conn(op).await?;
        let $tx = c
            .transaction()
            .await
            .map_err(|e| SqlError::from(e).into_outbox(op, name))?;
        let out = $body.await.map_err(|e: SqlError| e.into_outbox(op, name))?;
        $tx.commit()
            .await
            .map_err(|e| SqlError::from(e).into_outbox(op, name))?;
        Ok(out)
    }};
}

impl PgOutbox {
    /// Open the outbox on the database at `url`, creating or migrating the schema (under
    /// the migration lock, like the store). Errors name the database, never the password.
    pub async fn open(url: &str) -> Result<PgOutbox, OutboxError> {
        let target = Target::parse(url).map_err(|e| OutboxError(e.to_string()))?;
        let (_client, _) = super::connect_migrated(url)
            .await
            .map_err(|e| OutboxError(e.to_string()))?;
        let pool = target.pool().map_err(|e| OutboxError(e.to_string()))?;
        Ok(PgOutbox { target, pool })
    }

    /// The database, as errors name it (no password).
    pub fn name(&self) -> &str {
        &self.target.name
    }

    async fn conn(&self, op: &'static str) -> Result<deadpool_postgres::Object, OutboxError> {
        self.target
            .get(&self.pool, op)
            .await
            .map_err(|e| OutboxError(e.to_string()))
    }
}

#[async_trait]
impl Outbox for PgOutbox {
    async fn enqueue(
        &self,
        n: &Notification,
        targets: &[NotifyTarget],
        now_ms: i64,
    ) -> Result<Vec<DeliveryId>, OutboxError> {
        in_tx!(self, "queue a notification", tx => sql::enqueue(&tx, n, targets, now_ms))
    }

    async fn claim_due(
        &self,
        channel: &str,
        now_ms: i64,
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<Delivery>, OutboxError> {
        in_tx!(self, "claim notifications", tx =>
            sql::claim_due(&tx, channel, now_ms, limit, lease_ms))
    }

    async fn settle(&self, settled: Vec<(DeliveryId, Settlement)>) -> Result<(), OutboxError> {
        if settled.is_empty() {
            return Ok(());
        }
        in_tx!(self, "settle notifications", tx => sql::settle(&tx, &settled))
    }

    async fn next_due_ms(&self, channel: &str) -> Result<Option<i64>, OutboxError> {
        in_tx!(self, "read the outbox", tx => sql::next_due_ms(&tx, channel))
    }

    async fn backlog(&self) -> Result<BTreeMap<String, u64>, OutboxError> {
        in_tx!(self, "read the outbox", tx => sql::backlog(&tx))
    }

    async fn channel_state(&self, channel: &str) -> Result<ChannelState, OutboxError> {
        in_tx!(self, "read a channel's state", tx => sql::channel_state(&tx, channel))
    }

    async fn save_channel_state(
        &self,
        channel: &str,
        state: &ChannelState,
    ) -> Result<(), OutboxError> {
        in_tx!(self, "save a channel's state", tx =>
            sql::save_channel_state(&tx, channel, state))
    }

    async fn enable_channel(&self, channel: &str, now_ms: i64) -> Result<bool, OutboxError> {
        in_tx!(self, "enable a channel", tx => sql::enable_channel(&tx, channel, now_ms))
    }

    async fn record(&self, batch: FeedBatch, now_ms: i64) -> Result<usize, OutboxError> {
        in_tx!(self, "record notifications", tx => sql::record(&tx, &batch, now_ms))
    }

    async fn feed_cursor(&self, feed: &str) -> Result<Option<i64>, OutboxError> {
        in_tx!(self, "read a notification cursor", tx => sql::feed_cursor(&tx, feed))
    }

    async fn due_reminders(
        &self,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<ReminderRow>, OutboxError> {
        in_tx!(self, "read reminders", tx => sql::due_reminders(&tx, now_ms, limit))
    }

    async fn remind(
        &self,
        row: &ReminderRow,
        reminder: &Notification,
        targets: &[NotifyTarget],
        next_due_ms: i64,
        now_ms: i64,
    ) -> Result<bool, OutboxError> {
        in_tx!(self, "queue a reminder", tx =>
            sql::remind(&tx, row, reminder, targets, next_due_ms, now_ms))
    }

    async fn prune(&self, before_ms: i64) -> Result<u64, OutboxError> {
        in_tx!(self, "prune the outbox", tx => sql::prune(&tx, before_ms))
    }

    async fn recent(
        &self,
        channel: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, OutboxError> {
        in_tx!(self, "read the notification log", tx => sql::recent(&tx, channel, limit))
    }
}
