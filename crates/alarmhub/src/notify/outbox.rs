//! The outbox: notifications waiting to be delivered, one row per (notification, target),
//! and per-channel state that survives restarts.
//!
//! [`Outbox`] is the seam to the durable store. The store writes rows with
//! [`Outbox::enqueue`]'s semantics *in the same transaction* as the alarm change that
//! causes them (so a crash between commit and send loses nothing), and implements the
//! rest for the [`Dispatcher`](super::Dispatcher): claim due rows under a lease (a node
//! that dies mid-send lets its lease run out, and the row is claimed again — delivery is
//! at least once, always with the same notification id), settle them, keep channel state.
//! [`MemoryOutbox`] implements it in memory for tests and the CLI; the durable backends live
//! in [`crate::store::outbox`].

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::model::{Notification, What};
use super::rules::Target;

mod memory;

pub use memory::MemoryOutbox;

/// Row id of a delivery.
pub type DeliveryId = i64;

/// One outbox row: a notification on its way to one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Row id.
    pub id: DeliveryId,
    /// What to deliver.
    pub notification: Notification,
    /// Where to.
    pub target: Target,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the row was written, Unix ms (the retry deadline counts from here).
    pub queued_ms: i64,
    /// When the row is due, Unix ms.
    pub due_ms: i64,
}

/// How a claimed delivery ends its turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// Delivered (alone or inside a digest).
    Delivered {
        /// Attempts including this one.
        attempts: u32,
        /// When.
        at_ms: i64,
    },
    /// Failed; try again at `due_ms`.
    Retry {
        /// Attempts including this one.
        attempts: u32,
        /// Next attempt.
        due_ms: i64,
        /// Why it failed.
        error: String,
    },
    /// Given up: shown to operators, never retried by itself.
    DeadLetter {
        /// Attempts including the last.
        attempts: u32,
        /// When.
        at_ms: i64,
        /// Why.
        error: String,
    },
    /// Not attempted (rate limit, paused or disabled channel): due again at `due_ms`,
    /// attempts unchanged.
    Postpone {
        /// Next look.
        due_ms: i64,
        /// Why, for the log.
        note: String,
    },
}

/// Per-channel state kept across restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelState {
    /// Set when the endpoint asked for no more messages (webhook 410): why. Cleared by an
    /// operator (re-enabling the channel), never by the dispatcher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<String>,
    /// The service asked to wait (rate limit) until this Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_until_ms: Option<i64>,
    /// Recent send times per recipient ("" when the channel has none), for rate limits.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sends: BTreeMap<String, Vec<i64>>,
}

/// Where a delivery stands, as `alarmhub notify log` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Not attempted yet.
    Pending,
    /// Failed at least once, will be tried again.
    Retrying,
    /// Delivered.
    Delivered,
    /// Given up.
    DeadLetter,
}

/// One line of `alarmhub notify log`: a delivery and how it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// Row id.
    pub id: DeliveryId,
    /// The notification's stable id.
    pub notification_id: String,
    /// What happened.
    pub what: What,
    /// Panel account.
    pub account: String,
    /// Channel name.
    pub channel: String,
    /// Recipient within the channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// Where it stands.
    pub status: Status,
    /// Attempts made.
    pub attempts: u32,
    /// The last failure, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When it was queued, Unix ms.
    pub queued_ms: i64,
    /// When it was delivered, Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_ms: Option<i64>,
}

/// What a producer derived from a stretch of a durable log (the event log, the alarm change
/// log), recorded by [`Outbox::record`] in one transaction together with the log position
/// it reaches. Replaying the same stretch after a crash records nothing twice: rows are
/// keyed by (notification id, target), reminder changes are idempotent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedBatch {
    /// The cursor's name (`notify.events`, `notify.alarms`).
    pub feed: String,
    /// The log position this batch brings the cursor to.
    pub up_to: i64,
    /// Notifications and their targets (a notification without targets writes nothing).
    pub notifications: Vec<(Notification, Vec<Target>)>,
    /// Reminders to start or stop.
    pub reminders: Vec<ReminderChange>,
}

/// Starting or stopping the reminders of one alarm ("repeat until handled").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReminderChange {
    /// Remind about `opened`'s alarm every `repeat_ms`, the first time at `first_due_ms`.
    /// An alarm already scheduled keeps its schedule; a stopped one (taken, then released)
    /// starts again, its reminders counted on from where they were.
    Start {
        /// The notification that announced the alarm (reminders repeat its fields).
        opened: Box<Notification>,
        /// First reminder, Unix ms.
        first_due_ms: i64,
        /// Interval, ms.
        repeat_ms: i64,
    },
    /// The alarm was taken: no more reminders unless it is released again.
    Stop {
        /// The alarm record.
        alarm_id: i64,
    },
    /// The alarm was closed: no more reminders, ever (the schedule is deleted).
    End {
        /// The alarm record.
        alarm_id: i64,
    },
}

/// A scheduled reminder, as [`Outbox::due_reminders`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderRow {
    /// The alarm record.
    pub alarm_id: i64,
    /// The notification that announced the alarm.
    pub opened: Notification,
    /// Reminders sent so far.
    pub sent: u32,
    /// When the next one is due, Unix ms.
    pub due_ms: i64,
    /// Interval, ms.
    pub repeat_ms: i64,
}

/// The outbox could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("outbox: {0}")]
pub struct OutboxError(pub String);

/// Storage of deliveries and channel state. Every method may be called from several tasks.
#[async_trait]
pub trait Outbox: Send + Sync + 'static {
    /// Queue `n` for each target at `now_ms`, due at once. A (notification id, target)
    /// pair already queued is left as it is, so recording the same change twice (two
    /// nodes, a replay) delivers once. Returns the ids of the new rows.
    async fn enqueue(
        &self,
        n: &Notification,
        targets: &[Target],
        now_ms: i64,
    ) -> Result<Vec<DeliveryId>, OutboxError>;

    /// Up to `limit` rows of `channel` due at `now_ms` and not leased, oldest due first;
    /// each is leased until `now_ms + lease_ms` (a crashed claimer's rows come back after
    /// that). Channels are claimed separately so a slow service never delays another.
    async fn claim_due(
        &self,
        channel: &str,
        now_ms: i64,
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<Delivery>, OutboxError>;

    /// Record how claimed rows ended their turn (one transaction for the batch).
    async fn settle(&self, settled: Vec<(DeliveryId, Settlement)>) -> Result<(), OutboxError>;

    /// When the next row of `channel` falls due (or its lease runs out), if any waits.
    async fn next_due_ms(&self, channel: &str) -> Result<Option<i64>, OutboxError>;

    /// Rows not yet delivered or dead, per channel.
    async fn backlog(&self) -> Result<BTreeMap<String, u64>, OutboxError>;

    /// A channel's saved state (default when none was saved).
    async fn channel_state(&self, channel: &str) -> Result<ChannelState, OutboxError>;

    /// Save a channel's state.
    async fn save_channel_state(
        &self,
        channel: &str,
        state: &ChannelState,
    ) -> Result<(), OutboxError>;

    /// An operator re-enables a channel its endpoint disabled (webhook HTTP 410): clear the
    /// mark and make the channel's waiting rows due at `now_ms`, in one transaction. Returns
    /// whether the channel was disabled.
    async fn enable_channel(&self, channel: &str, now_ms: i64) -> Result<bool, OutboxError>;

    /// Record a producer's batch and move its cursor to `batch.up_to`, in one transaction:
    /// after a crash either both are there or neither. Returns how many rows were new.
    async fn record(&self, batch: FeedBatch, now_ms: i64) -> Result<usize, OutboxError>;

    /// The position a producer's last [`Outbox::record`] reached (`None`: never recorded).
    async fn feed_cursor(&self, feed: &str) -> Result<Option<i64>, OutboxError>;

    /// Up to `limit` reminders due at `now_ms`, earliest first.
    async fn due_reminders(
        &self,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<ReminderRow>, OutboxError>;

    /// Reminder number `row.sent + 1` of `row`'s alarm: queue `reminder` for `targets` and
    /// move the schedule to `next_due_ms`, in one transaction. Nothing happens when the
    /// schedule moved on or stopped since `row` was read (another node, a take).
    async fn remind(
        &self,
        row: &ReminderRow,
        reminder: &Notification,
        targets: &[Target],
        next_due_ms: i64,
        now_ms: i64,
    ) -> Result<bool, OutboxError>;

    /// Delete delivered and dead-lettered rows settled before `before_ms` (the log keeps
    /// what is newer). Returns how many went.
    async fn prune(&self, before_ms: i64) -> Result<u64, OutboxError>;

    /// The newest `limit` deliveries, optionally of one channel, newest first.
    async fn recent(
        &self,
        channel: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, OutboxError>;
}
