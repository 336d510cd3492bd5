//! Alarm notifications in `serve`: the feed that follows the alarm change log by a cursor the
//! outbox keeps (`notify.alarms`) — opened, escalated and closed alarms become notifications,
//! and reminder schedules start, stop and end in the same outbox transaction as the cursor —
//! and the reminder loop ("repeat until handled") that re-notifies every `repeat_secs` an
//! alarm that is still `new`.
//!
//! Taking or closing an alarm, from any path (console, API, CLI), is a change in the log:
//! the feed stops the schedule. Right before each reminder the loop also reads the alarm
//! itself, so a take the feed has not reached yet already holds the reminder back.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::alarms::{AlarmChange, AlarmState};
use crate::config::Config;
use crate::notify::outbox::{FeedBatch, ReminderChange};
use crate::notify::produce::{self, ReminderEffect};
use crate::notify::{DispatcherHandle, Outbox, Router};
use crate::store::{Store, StoreError};

/// The alarm feed's cursor name in the outbox.
pub(crate) const ALARM_FEED: &str = "notify.alarms";
/// Changes read per batch.
const BATCH: usize = 512;
/// Reminders handled per look.
const REMINDERS_PER_LOOK: usize = 256;
/// How often due reminders are looked for, and the pause after a failure.
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// Where the alarm feed starts: the stored cursor, or (first start) the end of the change
/// log, recorded now. `None` when the store keeps no alarm records.
pub(super) async fn start_position(
    outbox: &Arc<dyn Outbox>,
    store: &Arc<dyn Store>,
) -> Result<Option<i64>, String> {
    if let Some(seq) = outbox
        .feed_cursor(ALARM_FEED)
        .await
        .map_err(|e| e.to_string())?
    {
        return Ok(Some(seq));
    }
    let last = match store.last_alarm_change_seq().await {
        Ok(last) => last,
        Err(StoreError::Unsupported { .. }) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let batch = FeedBatch {
        feed: ALARM_FEED.to_string(),
        up_to: last,
        ..FeedBatch::default()
    };
    outbox
        .record(batch, crate::clock::now_ms())
        .await
        .map_err(|e| e.to_string())?;
    Ok(Some(last))
}

/// The alarm feed and the reminder loop.
pub(super) struct AlarmFeed {
    pub(super) store: Arc<dyn Store>,
    pub(super) outbox: Arc<dyn Outbox>,
    pub(super) router: Arc<Router>,
    pub(super) config: Arc<Config>,
    pub(super) wake: DispatcherHandle,
}

impl AlarmFeed {
    /// Follow the change log from `after` until `cancel`.
    pub(super) async fn run(self: Arc<Self>, mut after: i64, cancel: CancellationToken) {
        let mut watch = self.store.alarm_changes_watch();
        while !cancel.is_cancelled() {
            let changes = match self.store.alarm_changes_after(after, BATCH).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "notifications: reading the alarm change log failed; retrying");
                    super::notify::pause(&cancel, LOOK_EVERY).await;
                    continue;
                }
            };
            let Some(up_to) = changes.last().map(|c| c.seq) else {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    // A wake-up that can no longer change (store closing) must not spin.
                    r = watch.changed() => if r.is_err() { super::notify::pause(&cancel, LOOK_EVERY).await },
                    _ = tokio::time::sleep(LOOK_EVERY) => {}
                }
                continue;
            };
            let batch = self.derive(&changes, up_to);
            match self.outbox.record(batch, crate::clock::now_ms()).await {
                Ok(new) => {
                    after = up_to;
                    if new > 0 {
                        self.wake.wake();
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "notifications: recording alarm notifications failed; retrying");
                    super::notify::pause(&cancel, LOOK_EVERY).await;
                }
            }
        }
    }

    fn derive(&self, changes: &[AlarmChange], up_to: i64) -> FeedBatch {
        let mut batch = FeedBatch {
            feed: ALARM_FEED.to_string(),
            up_to,
            ..FeedBatch::default()
        };
        for c in changes {
            let (n, effect) = produce::for_alarm_change(c, &self.config);
            if let Some(n) = n {
                let targets = self.router.targets(&n);
                if !targets.is_empty() {
                    batch.notifications.push((n, targets));
                }
            }
            let alarm_id = c.alarm_id;
            match effect {
                ReminderEffect::None => {}
                ReminderEffect::Start => {
                    let opened = produce::alarm_notification(
                        &c.alarm,
                        crate::notify::What::AlarmOpened,
                        0,
                        c.alarm.opened_at_ms,
                        &self.config,
                    );
                    if let Some(secs) = self.router.reminder_secs(&opened) {
                        let repeat_ms =
                            i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
                        batch.reminders.push(ReminderChange::Start {
                            opened: Box::new(opened),
                            first_due_ms: c.at_ms.saturating_add(repeat_ms),
                            repeat_ms,
                        });
                    }
                }
                ReminderEffect::Stop => batch.reminders.push(ReminderChange::Stop { alarm_id }),
                ReminderEffect::End => batch.reminders.push(ReminderChange::End { alarm_id }),
            }
        }
        batch
    }

    /// Every second: remind about the due alarms that are still new.
    pub(super) async fn reminders(self: Arc<Self>, cancel: CancellationToken) {
        while !cancel.is_cancelled() {
            if let Err(e) = self.remind_due().await {
                tracing::warn!(error = %e, "notifications: reminders failed; retrying");
            }
            super::notify::pause(&cancel, LOOK_EVERY).await;
        }
    }

    async fn remind_due(&self) -> Result<(), String> {
        let now = crate::clock::now_ms();
        let due = self
            .outbox
            .due_reminders(now, REMINDERS_PER_LOOK)
            .await
            .map_err(|e| e.to_string())?;
        let mut queued = false;
        for row in due {
            // The alarm itself is the truth: taken or closed by a change the feed has not
            // reached yet means no reminder (the feed stops the schedule shortly).
            let alarm = self
                .store
                .alarm(row.alarm_id)
                .await
                .map_err(|e| e.to_string())?;
            if alarm.is_none_or(|d| d.alarm.state != AlarmState::New) {
                continue;
            }
            let reminder = produce::reminder(&row.opened, row.sent + 1);
            let targets = self.router.targets(&reminder);
            let next = now.saturating_add(row.repeat_ms.max(1000));
            let done = self
                .outbox
                .remind(&row, &reminder, &targets, next, now)
                .await
                .map_err(|e| e.to_string())?;
            queued |= done && !targets.is_empty();
        }
        if queued {
            self.wake.wake();
        }
        Ok(())
    }
}
