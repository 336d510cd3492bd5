//! The notification step of `serve`: the durable outbox, the [`Dispatcher`] that delivers
//! from it, and the feed that fills it from the event log.
//!
//! The feed follows the event log by a cursor the outbox keeps (`notify.events`): it reads a
//! batch of events after the cursor, turns panel offline/online and control outcomes into
//! notifications ([`crate::notify::produce`]), routes them, and records rows and the new
//! cursor in one outbox transaction — so a kill -9 at any point neither loses a notification
//! (the events are durable and the cursor did not move) nor duplicates one (rows are keyed by
//! the notification's stable id). The event bus only wakes it up; the log is the truth.
//!
//! Alarm notifications (opened, escalated, closed, reminders) follow the alarm change log the
//! same way (`notify_alarms.rs`).
//!
//! A first start with notifications configured begins at the end of the logs: history is not
//! announced. After that, a daemon that was down catches up on everything it missed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::outputs::StoreLog;
use super::DaemonError;
use crate::config::Config;
use crate::events::{codes, EventBus, StoredEvent};
use crate::metrics::names;
use crate::notify::outbox::FeedBatch;
use crate::notify::produce::{self, OnlineCheck};
use crate::notify::{Dispatcher, DispatcherHandle, Outbox, Router};
use crate::outputs::EventLog;
use crate::store::{EventQuery, Store};

/// The event feed's cursor name in the outbox.
pub(crate) const EVENT_FEED: &str = "notify.events";
/// Events read per batch.
const BATCH: usize = 512;
/// A batch that produced nothing moves the stored cursor at most this often (replaying a
/// stretch that produces nothing costs nothing).
const IDLE_CURSOR_EVERY: Duration = Duration::from_secs(1);
/// Pause after a failed read or write before trying again.
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// Delivered and dead-lettered rows are kept this long for `alarmhub notify log`.
const LOG_KEEP_MS: i64 = 30 * 86_400_000;
/// How often old rows are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Notifications prepared before anything binds (a bad channel stops the start).
pub(super) struct Notifier {
    outbox: Arc<dyn Outbox>,
    dispatcher: Dispatcher<dyn Outbox>,
    router: Arc<Router>,
    /// Where the event feed starts.
    from_seq: i64,
    /// Where the alarm feed starts (`None`: the store keeps no alarm records).
    alarms_from: Option<i64>,
}

/// Open the outbox, build the channels' senders and fix where the event feed starts (before
/// any panel can connect, so nothing falls between); `None` when no channel is configured.
pub(super) async fn prepare(
    config: &Config,
    store: &Arc<dyn Store>,
) -> Result<Option<Notifier>, DaemonError> {
    if config.notify.channels.is_empty() {
        return Ok(None);
    }
    let fail = |e: &dyn std::fmt::Display| DaemonError::Notify(e.to_string());
    let outbox = crate::store::outbox::open(config)
        .await
        .map_err(|e| fail(&e))?;
    let dispatcher = Dispatcher::new(&config.notify, Arc::clone(&outbox)).map_err(|e| fail(&e))?;
    let from_seq = match outbox.feed_cursor(EVENT_FEED).await.map_err(|e| fail(&e))? {
        Some(seq) => seq,
        None => {
            let last = store.last_seq().await.map_err(|e| fail(&e))?;
            let batch = FeedBatch {
                feed: EVENT_FEED.to_string(),
                up_to: last,
                ..FeedBatch::default()
            };
            outbox
                .record(batch, crate::clock::now_ms())
                .await
                .map_err(|e| fail(&e))?;
            tracing::info!(
                from_seq = last,
                "notifications start at the end of the event log"
            );
            last
        }
    };
    let alarms_from = super::notify_alarms::start_position(&outbox, store)
        .await
        .map_err(|e| fail(&e))?;
    if alarms_from.is_none() {
        tracing::info!("this store keeps no alarm records: alarm notifications are off");
    }
    Ok(Some(Notifier {
        outbox,
        dispatcher,
        router: Arc::new(Router::new(&config.notify)),
        from_seq,
        alarms_from,
    }))
}

/// Start the dispatcher and the event feed under the daemon's tracker.
pub(super) fn spawn(
    n: Notifier,
    config: &Arc<Config>,
    store: &Arc<dyn Store>,
    bus: &EventBus,
    tracker: &TaskTracker,
    cancel: &CancellationToken,
) -> DispatcherHandle {
    let wake = n.dispatcher.handle();
    tracing::info!(
        channels = config.notify.channels.len(),
        rules = config.notify.rules.len(),
        "notifications on"
    );
    tracker.spawn(n.dispatcher.run(cancel.child_token()));
    if let Some(from) = n.alarms_from {
        let alarms = Arc::new(super::notify_alarms::AlarmFeed {
            store: Arc::clone(store),
            outbox: Arc::clone(&n.outbox),
            router: Arc::clone(&n.router),
            config: Arc::clone(config),
            wake: wake.clone(),
        });
        tracker.spawn(Arc::clone(&alarms).run(from, cancel.child_token()));
        tracker.spawn(alarms.reminders(cancel.child_token()));
    }
    let feed = EventFeed {
        from_seq: n.from_seq,
        log: StoreLog::new(Arc::clone(store), bus.clone()),
        store: Arc::clone(store),
        outbox: n.outbox,
        router: n.router,
        config: Arc::clone(config),
        wake: wake.clone(),
    };
    tracker.spawn(feed.run(cancel.child_token()));
    wake
}

struct EventFeed {
    from_seq: i64,
    log: StoreLog,
    store: Arc<dyn Store>,
    outbox: Arc<dyn Outbox>,
    router: Arc<Router>,
    config: Arc<Config>,
    wake: DispatcherHandle,
}

impl EventFeed {
    async fn run(self, cancel: CancellationToken) {
        let mut after = self.from_seq;
        let mut written = after;
        let mut last_write = Instant::now();
        let mut last_prune: Option<Instant> = None;
        while !cancel.is_cancelled() {
            if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                last_prune = Some(Instant::now());
                self.prune().await;
            }
            let events = match self.log.read_after(after, BATCH).await {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(error = %e, "notifications: reading the event log failed; retrying");
                    pause(&cancel, RETRY_PAUSE).await;
                    continue;
                }
            };
            let Some(up_to) = events.last().map(|e| e.seq) else {
                if written < after && self.save(after, FeedBatch::default()).await {
                    written = after;
                    last_write = Instant::now();
                }
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = self.log.wait_after(after) => {}
                    _ = tokio::time::sleep(RETRY_PAUSE) => {}
                }
                continue;
            };
            let batch = match self.derive(&events).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "notifications: reading the event log failed; retrying");
                    pause(&cancel, RETRY_PAUSE).await;
                    continue;
                }
            };
            if batch.notifications.is_empty() && last_write.elapsed() < IDLE_CURSOR_EVERY {
                after = up_to;
                continue;
            }
            if self.save(up_to, batch).await {
                (after, written, last_write) = (up_to, up_to, Instant::now());
            } else {
                pause(&cancel, RETRY_PAUSE).await;
            }
        }
        if written < after {
            self.save(after, FeedBatch::default()).await;
        }
    }

    /// Record `batch` with the cursor at `up_to`; wake the dispatcher when rows were added.
    async fn save(&self, up_to: i64, mut batch: FeedBatch) -> bool {
        batch.feed = EVENT_FEED.to_string();
        batch.up_to = up_to;
        let queued: Vec<(String, usize)> = batch
            .notifications
            .iter()
            .flat_map(|(_, ts)| ts.iter().map(|t| (t.channel.clone(), 1)))
            .collect();
        match self.outbox.record(batch, crate::clock::now_ms()).await {
            Ok(new) => {
                if new > 0 {
                    for (channel, n) in queued {
                        metrics::counter!(names::NOTIFY_QUEUED_TOTAL, "channel" => channel)
                            .increment(n as u64);
                    }
                    self.wake.wake();
                }
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "notifications: recording failed; retrying");
                false
            }
        }
    }

    /// The notifications `events` announce, routed.
    async fn derive(
        &self,
        events: &[Arc<StoredEvent>],
    ) -> Result<FeedBatch, crate::store::StoreError> {
        let mut batch = FeedBatch::default();
        for ev in events {
            let Some((n, check)) = produce::for_event(ev, &self.config) else {
                continue;
            };
            let targets = self.router.targets(&n);
            if targets.is_empty() {
                continue;
            }
            if check == OnlineCheck::Ask && !self.was_offline(ev).await? {
                continue;
            }
            batch.notifications.push((n, targets));
        }
        Ok(batch)
    }

    /// Whether the panel's receiver events before `ev` end with an OFFLINE.
    async fn was_offline(&self, ev: &StoredEvent) -> Result<bool, crate::store::StoreError> {
        let last = |code: u16| EventQuery {
            account: Some(ev.event.account.clone()),
            code: Some(code),
            before_seq: Some(ev.seq),
            limit: 1,
            newest_first: true,
            ..EventQuery::default()
        };
        let off = self.store.query_events(&last(codes::OFFLINE)).await?;
        let on = self.store.query_events(&last(codes::ONLINE)).await?;
        Ok(produce::back_online(
            off.first().map(|e| e.seq),
            on.first().map(|e| e.seq),
        ))
    }

    async fn prune(&self) {
        let before = crate::clock::now_ms().saturating_sub(LOG_KEEP_MS);
        match self.outbox.prune(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "notification log pruned (kept 30 days)"),
            Err(e) => tracing::warn!(error = %e, "pruning the notification log failed"),
        }
    }
}

pub(super) async fn pause(cancel: &CancellationToken, d: Duration) {
    tokio::select! {
        _ = cancel.cancelled() => {}
        _ = tokio::time::sleep(d) => {}
    }
}
