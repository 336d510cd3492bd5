//! [`MemoryOutbox`]: the [`Outbox`] in memory, for tests and one-shot CLI use. It keeps
//! every row (nothing is pruned), which is what tests want to inspect.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use super::{
    ChannelState, Delivery, DeliveryId, DeliveryRecord, FeedBatch, Outbox, OutboxError,
    ReminderChange, ReminderRow, Settlement, Status,
};
use crate::notify::model::Notification;
use crate::notify::rules::Target;

#[derive(Debug, Clone)]
struct Row {
    delivery: Delivery,
    leased_until_ms: i64,
    status: Status,
    last_error: Option<String>,
    delivered_ms: Option<i64>,
    /// When it was delivered or given up.
    settled_ms: i64,
}

impl Row {
    fn new(delivery: Delivery) -> Row {
        Row {
            delivery,
            leased_until_ms: i64::MIN,
            status: Status::Pending,
            last_error: None,
            delivered_ms: None,
            settled_ms: i64::MAX,
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    next_id: DeliveryId,
    rows: BTreeMap<DeliveryId, Row>,
    /// Rows not yet delivered or dead: what claims and counts look at.
    open: BTreeSet<DeliveryId>,
    keys: HashSet<(String, Target)>,
    channels: HashMap<String, ChannelState>,
    cursors: HashMap<String, i64>,
    /// Reminder schedules and whether each is active.
    reminders: BTreeMap<i64, (ReminderRow, bool)>,
}

impl Inner {
    fn enqueue(&mut self, n: &Notification, targets: &[Target], now_ms: i64) -> Vec<DeliveryId> {
        let mut ids = Vec::new();
        for t in targets {
            if !self.keys.insert((n.id.to_string(), t.clone())) {
                continue;
            }
            self.next_id += 1;
            let id = self.next_id;
            let delivery = Delivery {
                id,
                notification: n.clone(),
                target: t.clone(),
                attempts: 0,
                queued_ms: now_ms,
                due_ms: now_ms,
            };
            self.rows.insert(id, Row::new(delivery));
            self.open.insert(id);
            ids.push(id);
        }
        ids
    }
}

/// An in-memory outbox.
#[derive(Debug, Default)]
pub struct MemoryOutbox {
    inner: Mutex<Inner>,
}

impl MemoryOutbox {
    /// An empty outbox.
    pub fn new() -> MemoryOutbox {
        MemoryOutbox::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves rows consistent (each update is one
        // assignment), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every delivery with its status, in row order (for tests).
    pub fn records(&self) -> Vec<DeliveryRecord> {
        self.lock().rows.values().map(record).collect()
    }
}

fn record(r: &Row) -> DeliveryRecord {
    let d = &r.delivery;
    DeliveryRecord {
        id: d.id,
        notification_id: d.notification.id.to_string(),
        what: d.notification.what,
        account: d.notification.account.clone(),
        channel: d.target.channel.clone(),
        recipient: d.target.recipient.clone(),
        status: r.status,
        attempts: d.attempts,
        last_error: r.last_error.clone(),
        queued_ms: d.queued_ms,
        delivered_ms: r.delivered_ms,
    }
}

#[async_trait]
impl Outbox for MemoryOutbox {
    async fn enqueue(
        &self,
        n: &Notification,
        targets: &[Target],
        now_ms: i64,
    ) -> Result<Vec<DeliveryId>, OutboxError> {
        Ok(self.lock().enqueue(n, targets, now_ms))
    }

    async fn claim_due(
        &self,
        channel: &str,
        now_ms: i64,
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<Delivery>, OutboxError> {
        let mut g = self.lock();
        let mut due: Vec<(i64, DeliveryId)> = g
            .open
            .iter()
            .filter_map(|id| g.rows.get(id))
            .filter(|r| {
                r.delivery.target.channel == channel
                    && r.delivery.due_ms <= now_ms
                    && r.leased_until_ms <= now_ms
            })
            .map(|r| (r.delivery.due_ms, r.delivery.id))
            .collect();
        due.sort_unstable();
        let mut out = Vec::with_capacity(due.len().min(limit));
        for (_, id) in due.into_iter().take(limit) {
            if let Some(r) = g.rows.get_mut(&id) {
                r.leased_until_ms = now_ms.saturating_add(lease_ms);
                out.push(r.delivery.clone());
            }
        }
        Ok(out)
    }

    async fn settle(&self, settled: Vec<(DeliveryId, Settlement)>) -> Result<(), OutboxError> {
        let mut g = self.lock();
        let mut closed = Vec::new();
        for (id, s) in settled {
            let Some(r) = g.rows.get_mut(&id) else {
                return Err(OutboxError(format!("no delivery {id}")));
            };
            r.leased_until_ms = i64::MIN;
            match s {
                Settlement::Delivered { attempts, at_ms } => {
                    closed.push(id);
                    r.delivery.attempts = attempts;
                    r.status = Status::Delivered;
                    r.delivered_ms = Some(at_ms);
                    r.settled_ms = at_ms;
                }
                Settlement::Retry {
                    attempts,
                    due_ms,
                    error,
                } => {
                    r.delivery.attempts = attempts;
                    r.delivery.due_ms = due_ms;
                    r.status = Status::Retrying;
                    r.last_error = Some(error);
                }
                Settlement::DeadLetter {
                    attempts,
                    error,
                    at_ms,
                } => {
                    closed.push(id);
                    r.settled_ms = at_ms;
                    r.delivery.attempts = attempts;
                    r.status = Status::DeadLetter;
                    r.last_error = Some(error);
                }
                Settlement::Postpone { due_ms, .. } => r.delivery.due_ms = due_ms,
            }
        }
        for id in closed {
            g.open.remove(&id);
        }
        Ok(())
    }

    async fn next_due_ms(&self, channel: &str) -> Result<Option<i64>, OutboxError> {
        let g = self.lock();
        Ok(g.open
            .iter()
            .filter_map(|id| g.rows.get(id))
            .filter(|r| r.delivery.target.channel == channel)
            .map(|r| r.delivery.due_ms.max(r.leased_until_ms))
            .min())
    }

    async fn backlog(&self) -> Result<BTreeMap<String, u64>, OutboxError> {
        let g = self.lock();
        let mut out = BTreeMap::new();
        for r in g.open.iter().filter_map(|id| g.rows.get(id)) {
            *out.entry(r.delivery.target.channel.clone()).or_insert(0) += 1;
        }
        Ok(out)
    }

    async fn channel_state(&self, channel: &str) -> Result<ChannelState, OutboxError> {
        Ok(self
            .lock()
            .channels
            .get(channel)
            .cloned()
            .unwrap_or_default())
    }

    async fn save_channel_state(
        &self,
        channel: &str,
        state: &ChannelState,
    ) -> Result<(), OutboxError> {
        self.lock()
            .channels
            .insert(channel.to_string(), state.clone());
        Ok(())
    }

    async fn enable_channel(&self, channel: &str, now_ms: i64) -> Result<bool, OutboxError> {
        let mut g = self.lock();
        let was = g
            .channels
            .get_mut(channel)
            .and_then(|s| s.disabled.take())
            .is_some();
        let open: Vec<DeliveryId> = g.open.iter().copied().collect();
        for id in open {
            if let Some(r) = g.rows.get_mut(&id) {
                if r.delivery.target.channel == channel {
                    r.delivery.due_ms = r.delivery.due_ms.min(now_ms);
                }
            }
        }
        Ok(was)
    }

    async fn record(&self, batch: FeedBatch, now_ms: i64) -> Result<usize, OutboxError> {
        let mut g = self.lock();
        let mut new = 0;
        for (n, targets) in &batch.notifications {
            new += g.enqueue(n, targets, now_ms).len();
        }
        for change in batch.reminders {
            match change {
                ReminderChange::Start {
                    opened,
                    first_due_ms,
                    repeat_ms,
                } => {
                    let Some(alarm_id) = opened.alarm_id else {
                        continue;
                    };
                    let (row, active) = g.reminders.entry(alarm_id).or_insert((
                        ReminderRow {
                            alarm_id,
                            opened: *opened,
                            sent: 0,
                            due_ms: first_due_ms,
                            repeat_ms,
                        },
                        true,
                    ));
                    if !*active {
                        (row.due_ms, row.repeat_ms, *active) = (first_due_ms, repeat_ms, true);
                    }
                }
                ReminderChange::Stop { alarm_id } => {
                    if let Some((_, active)) = g.reminders.get_mut(&alarm_id) {
                        *active = false;
                    }
                }
                ReminderChange::End { alarm_id } => {
                    g.reminders.remove(&alarm_id);
                }
            }
        }
        g.cursors.insert(batch.feed, batch.up_to);
        Ok(new)
    }

    async fn feed_cursor(&self, feed: &str) -> Result<Option<i64>, OutboxError> {
        Ok(self.lock().cursors.get(feed).copied())
    }

    async fn due_reminders(
        &self,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<ReminderRow>, OutboxError> {
        let g = self.lock();
        let mut due: Vec<ReminderRow> = g
            .reminders
            .values()
            .filter(|(r, active)| *active && r.due_ms <= now_ms)
            .map(|(r, _)| r.clone())
            .collect();
        due.sort_by_key(|r| (r.due_ms, r.alarm_id));
        due.truncate(limit);
        Ok(due)
    }

    async fn remind(
        &self,
        row: &ReminderRow,
        reminder: &Notification,
        targets: &[Target],
        next_due_ms: i64,
        now_ms: i64,
    ) -> Result<bool, OutboxError> {
        let mut g = self.lock();
        match g.reminders.get_mut(&row.alarm_id) {
            Some((r, true)) if r.sent == row.sent => {
                r.sent += 1;
                r.due_ms = next_due_ms;
            }
            _ => return Ok(false),
        }
        g.enqueue(reminder, targets, now_ms);
        Ok(true)
    }

    async fn prune(&self, before_ms: i64) -> Result<u64, OutboxError> {
        let mut g = self.lock();
        let gone: Vec<DeliveryId> = g
            .rows
            .iter()
            .filter(|(id, r)| !g.open.contains(id) && r.settled_ms < before_ms)
            .map(|(id, _)| *id)
            .collect();
        for id in &gone {
            g.rows.remove(id);
        }
        Ok(gone.len() as u64)
    }

    async fn recent(
        &self,
        channel: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, OutboxError> {
        let g = self.lock();
        Ok(g.rows
            .values()
            .rev()
            .filter(|r| channel.is_none_or(|c| r.delivery.target.channel == c))
            .take(limit)
            .map(record)
            .collect())
    }
}
