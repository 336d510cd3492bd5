//! The outbox: notifications waiting to be delivered, one row per (notification, target),
//! and per-channel state that survives restarts.
//!
//! [`Outbox`] is the seam to the durable store. The store writes rows with
//! [`Outbox::enqueue`]'s semantics *in the same transaction* as the alarm change that
//! causes them (so a crash between commit and send loses nothing), and implements the
//! rest for the [`Dispatcher`](super::Dispatcher): claim due rows under a lease (a node
//! that dies mid-send lets its lease run out, and the row is claimed again — delivery is
//! at least once, always with the same notification id), settle them, keep channel state.
//! [`MemoryOutbox`] implements it in memory for tests and the CLI.

use std::collections::BTreeMap;
use std::future::Future;

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

/// The outbox could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("outbox: {0}")]
pub struct OutboxError(pub String);

/// Storage of deliveries and channel state. Every method may be called from several tasks.
pub trait Outbox: Send + Sync + 'static {
    /// Queue `n` for each target at `now_ms`, due at once. A (notification id, target)
    /// pair already queued is left as it is, so recording the same change twice (two
    /// nodes, a replay) delivers once. Returns the ids of the new rows.
    fn enqueue(
        &self,
        n: &Notification,
        targets: &[Target],
        now_ms: i64,
    ) -> impl Future<Output = Result<Vec<DeliveryId>, OutboxError>> + Send;

    /// Up to `limit` rows of `channel` due at `now_ms` and not leased, oldest due first;
    /// each is leased until `now_ms + lease_ms` (a crashed claimer's rows come back after
    /// that). Channels are claimed separately so a slow service never delays another.
    fn claim_due(
        &self,
        channel: &str,
        now_ms: i64,
        limit: usize,
        lease_ms: i64,
    ) -> impl Future<Output = Result<Vec<Delivery>, OutboxError>> + Send;

    /// Record how claimed rows ended their turn (one transaction for the batch).
    fn settle(
        &self,
        settled: Vec<(DeliveryId, Settlement)>,
    ) -> impl Future<Output = Result<(), OutboxError>> + Send;

    /// When the next row of `channel` falls due (or its lease runs out), if any waits.
    fn next_due_ms(
        &self,
        channel: &str,
    ) -> impl Future<Output = Result<Option<i64>, OutboxError>> + Send;

    /// Rows not yet delivered or dead, per channel.
    fn backlog(&self) -> impl Future<Output = Result<BTreeMap<String, u64>, OutboxError>> + Send;

    /// A channel's saved state (default when none was saved).
    fn channel_state(
        &self,
        channel: &str,
    ) -> impl Future<Output = Result<ChannelState, OutboxError>> + Send;

    /// Save a channel's state.
    fn save_channel_state(
        &self,
        channel: &str,
        state: &ChannelState,
    ) -> impl Future<Output = Result<(), OutboxError>> + Send;

    /// The newest `limit` deliveries, optionally of one channel, newest first.
    fn recent(
        &self,
        channel: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<DeliveryRecord>, OutboxError>> + Send;
}
