//! The [`Dispatcher`]: delivers due notifications from an [`Outbox`] through the channels'
//! senders.
//!
//! Each channel has its own worker, so a slow or failing service never delays another.
//! A worker's round: claim the channel's due rows (leased), skip them if the channel is
//! disabled or paused, plan under the rate limit (singles and a digest), send with the
//! channel's concurrency, settle every row (delivered, retry at, dead letter, postpone),
//! save the channel's state. Between rounds it sleeps until the next row is due, a wake
//! from [`DispatcherHandle::wake`] (the store calls it after committing outbox rows), or a
//! one-second poll that covers rows written by other nodes.
//!
//! The daemon runs it as: `let d = Dispatcher::new(&config.notify, outbox)?; let h =
//! d.handle(); tracker.spawn(d.run(token.child_token()));` and calls `h.wake()` after
//! each commit that wrote outbox rows.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::stream::{self, StreamExt};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::config::{NotifyConfig, RateLimit};
use super::metrics;
use super::outbox::{ChannelState, Delivery, Outbox, OutboxError, Settlement};
use super::round::{self, plan_round, DISABLED_RECHECK_MS};
use super::send::{Outcome, Sender, SenderError};

/// Longest sleep between rounds: rows written by another node are found this quickly.
const POLL: Duration = Duration::from_secs(1);
/// Rows claimed per round by a channel without a rate limit, per unit of concurrency.
const ROWS_PER_SLOT: usize = 8;
/// Rows claimed per round by a rate-limited channel: all it may fold into a digest.
const LIMITED_CLAIM: usize = 1000;

/// Where "now" comes from.
#[derive(Debug, Clone)]
pub enum Clock {
    /// The system's wall clock: what services compare signatures against.
    System,
    /// Tokio's clock from a starting wall time: follows `tokio::time::pause` in tests.
    Tokio {
        /// Wall time at `base`, Unix ms.
        base_ms: i64,
        /// The instant `base_ms` was taken.
        base: tokio::time::Instant,
    },
    /// A clock that moves only when told ([`Clock::set_ms`]): deterministic tests of
    /// retries and rate limits while requests still run in real time.
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// Tokio's clock, starting at the current wall time.
    pub fn tokio() -> Clock {
        Clock::Tokio {
            base_ms: Clock::System.now_ms(),
            base: tokio::time::Instant::now(),
        }
    }

    /// A manual clock showing `start_ms`.
    pub fn manual(start_ms: i64) -> Clock {
        Clock::Manual(Arc::new(AtomicI64::new(start_ms)))
    }

    /// Set a manual clock (other clocks ignore it).
    pub fn set_ms(&self, ms: i64) {
        if let Clock::Manual(t) = self {
            t.store(ms, Ordering::SeqCst);
        }
    }

    /// Now, Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        match self {
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            Clock::Tokio { base_ms, base } => {
                let gone = i64::try_from(base.elapsed().as_millis()).unwrap_or(i64::MAX);
                base_ms.saturating_add(gone)
            }
            Clock::Manual(t) => t.load(Ordering::SeqCst),
        }
    }
}

struct Channel {
    name: String,
    sender: Sender,
    limit: RateLimit,
    enabled: bool,
    concurrency: usize,
    claim: usize,
    lease_ms: i64,
    wake: Arc<Notify>,
}

struct Inner<O: ?Sized> {
    outbox: Arc<O>,
    channels: HashMap<String, Arc<Channel>>,
    give_up_after: Duration,
    clock: Clock,
}

/// Delivers notifications; see the module documentation.
pub struct Dispatcher<O: ?Sized> {
    inner: Arc<Inner<O>>,
}

/// Wakes a running dispatcher's workers (cheap to clone).
#[derive(Debug, Clone)]
pub struct DispatcherHandle {
    wakes: Vec<Arc<Notify>>,
}

impl DispatcherHandle {
    /// New rows were committed: look now instead of at the next poll. A wake while a
    /// worker is busy is kept, so none is lost.
    pub fn wake(&self) {
        for w in &self.wakes {
            w.notify_one();
        }
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Rows claimed.
    pub claimed: usize,
    /// Messages sent (a digest is one).
    pub messages: usize,
    /// Rows delivered.
    pub delivered: usize,
    /// Rows scheduled for another attempt.
    pub retried: usize,
    /// Rows given up.
    pub dead: usize,
    /// Rows not attempted (rate limit, paused, disabled).
    pub postponed: usize,
}

impl RoundReport {
    fn add(&mut self, s: &Settlement) {
        match s {
            Settlement::Delivered { .. } => self.delivered += 1,
            Settlement::Retry { .. } => self.retried += 1,
            Settlement::DeadLetter { .. } => self.dead += 1,
            Settlement::Postpone { .. } => self.postponed += 1,
        }
    }
}

impl<O: Outbox + ?Sized> Dispatcher<O> {
    /// A dispatcher for the channels of `config`, reading the wall clock.
    pub fn new(config: &NotifyConfig, outbox: Arc<O>) -> Result<Dispatcher<O>, SenderError> {
        Dispatcher::with_clock(config, outbox, Clock::System)
    }

    /// A dispatcher with another clock (tests use [`Clock::tokio`]).
    pub fn with_clock(
        config: &NotifyConfig,
        outbox: Arc<O>,
        clock: Clock,
    ) -> Result<Dispatcher<O>, SenderError> {
        let mut channels = HashMap::new();
        for c in &config.channels {
            let limit = c.rate_limit();
            let limited = limit.per_minute.is_some() || limit.per_second.is_some();
            let concurrency = c.concurrency.max(1);
            let claim = if limited {
                LIMITED_CLAIM
            } else {
                concurrency * ROWS_PER_SLOT
            };
            // A round sends at most `claim` messages (fewer under a limit), `concurrency` at
            // a time, each bounded by the timeout; the lease covers that with room to spare.
            let most = limit
                .per_minute
                .or(limit.per_second)
                .map_or(claim, |n| n as usize);
            let timeout_ms = i64::try_from(c.timeout_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
            let rounds = i64::try_from(most.div_ceil(concurrency) + 1).unwrap_or(i64::MAX);
            let ch = Channel {
                name: c.name.clone(),
                sender: Sender::new(c)?,
                limit,
                enabled: c.enabled,
                concurrency,
                claim,
                lease_ms: timeout_ms.saturating_mul(rounds).saturating_add(10_000),
                wake: Arc::new(Notify::new()),
            };
            channels.insert(c.name.clone(), Arc::new(ch));
        }
        Ok(Dispatcher {
            inner: Arc::new(Inner {
                outbox,
                channels,
                give_up_after: Duration::from_secs(config.dead_letter_after_secs),
                clock,
            }),
        })
    }

    /// A handle that wakes the workers.
    pub fn handle(&self) -> DispatcherHandle {
        DispatcherHandle {
            wakes: self
                .inner
                .channels
                .values()
                .map(|c| c.wake.clone())
                .collect(),
        }
    }

    /// One round of one channel (a channel not configured does nothing).
    pub async fn round(&self, channel: &str) -> Result<RoundReport, OutboxError> {
        match self.inner.channels.get(channel) {
            Some(ch) => self.inner.round(ch).await,
            None => Ok(RoundReport::default()),
        }
    }

    /// One round of every channel, one after the other.
    pub async fn round_all(&self) -> Result<RoundReport, OutboxError> {
        let mut total = RoundReport::default();
        let mut names: Vec<&String> = self.inner.channels.keys().collect();
        names.sort();
        for name in names {
            let r = self.round(name).await?;
            total.claimed += r.claimed;
            total.messages += r.messages;
            total.delivered += r.delivered;
            total.retried += r.retried;
            total.dead += r.dead;
            total.postponed += r.postponed;
        }
        Ok(total)
    }

    /// Run every channel's worker until `shutdown`; each finishes the round it is in.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut workers = tokio::task::JoinSet::new();
        for ch in self.inner.channels.values() {
            let inner = self.inner.clone();
            let ch = ch.clone();
            let stop = shutdown.clone();
            workers.spawn(async move { inner.work(&ch, stop).await });
        }
        while workers.join_next().await.is_some() {}
    }
}

impl<O: Outbox + ?Sized> Inner<O> {
    async fn work(&self, ch: &Channel, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            let wait = match self.round(ch).await {
                Ok(r) if r.claimed >= ch.claim => Duration::ZERO,
                Ok(_) => self.idle_wait(ch).await,
                Err(e) => {
                    tracing::warn!(channel = %ch.name, "notification round failed: {e}");
                    POLL
                }
            };
            if wait.is_zero() {
                tokio::task::yield_now().await;
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = ch.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// How long to sleep: until the next row is due, at most [`POLL`].
    async fn idle_wait(&self, ch: &Channel) -> Duration {
        if let Ok(backlog) = self.outbox.backlog().await {
            metrics::backlog(&ch.name, backlog.get(&ch.name).copied().unwrap_or(0));
        }
        let now = self.clock.now_ms();
        match self.outbox.next_due_ms(&ch.name).await {
            Ok(Some(due)) => Duration::from_millis(u64::try_from(due - now).unwrap_or(0)).min(POLL),
            _ => POLL,
        }
    }

    async fn round(&self, ch: &Channel) -> Result<RoundReport, OutboxError> {
        let now = self.clock.now_ms();
        let claimed = self
            .outbox
            .claim_due(&ch.name, now, ch.claim, ch.lease_ms)
            .await?;
        let mut report = RoundReport {
            claimed: claimed.len(),
            ..RoundReport::default()
        };
        if claimed.is_empty() {
            return Ok(report);
        }
        let mut state = self.outbox.channel_state(&ch.name).await?;
        let saved = state.clone();
        let was_disabled = state.disabled.is_some();
        let rows: HashMap<i64, Delivery> = claimed.iter().map(|d| (d.id, d.clone())).collect();
        let (messages, mut settled) = if !ch.enabled || was_disabled {
            (Vec::new(), hold_all(&claimed, &state, now))
        } else {
            let planned = plan_round(ch.limit, &mut state, claimed, now);
            (planned.messages, planned.postponed)
        };
        report.messages = messages.len();
        settled.extend(self.send_all(ch, messages, &mut state).await);
        if state.disabled.is_some() && !was_disabled {
            tracing::error!(channel = %ch.name, reason = state.disabled.as_deref().unwrap_or(""), "notification channel disabled by its endpoint; re-enable it once the endpoint is fixed");
        }
        metrics::disabled(&ch.name, state.disabled.is_some());
        for (id, s) in &settled {
            report.add(s);
            if let Some(d) = rows.get(id) {
                metrics::settled(&ch.name, d, s);
            }
        }
        if state != saved {
            self.outbox.save_channel_state(&ch.name, &state).await?;
        }
        self.outbox.settle(settled).await?;
        Ok(report)
    }

    /// Send the planned messages, `concurrency` at a time, and settle their members.
    async fn send_all(
        &self,
        ch: &Channel,
        messages: Vec<round::Message>,
        state: &mut ChannelState,
    ) -> Vec<(i64, Settlement)> {
        let results: Vec<(round::Message, Outcome)> = stream::iter(messages)
            .map(|m| async move {
                let outcome = ch.sender.send(&m.out).await;
                (m, outcome)
            })
            .buffer_unordered(ch.concurrency)
            .collect()
            .await;
        let after = self.clock.now_ms();
        let mut settled = Vec::new();
        for (m, outcome) in results {
            log_outcome(&ch.name, &m, &outcome);
            metrics::message(&ch.name, &outcome, m.out.is_digest());
            let random: f64 = rand::random();
            settled.extend(round::settle(
                &outcome,
                &m.members,
                state,
                after,
                self.give_up_after,
                random,
            ));
        }
        settled
    }
}

/// A disabled channel (by configuration or by its endpoint) keeps its rows, untouched.
fn hold_all(claimed: &[Delivery], state: &ChannelState, now: i64) -> Vec<(i64, Settlement)> {
    let note = state
        .disabled
        .clone()
        .unwrap_or_else(|| "channel disabled".into());
    claimed
        .iter()
        .map(|d| {
            let due_ms = now + DISABLED_RECHECK_MS;
            (
                d.id,
                Settlement::Postpone {
                    due_ms,
                    note: note.clone(),
                },
            )
        })
        .collect()
}

fn log_outcome(channel: &str, m: &round::Message, outcome: &Outcome) {
    let n = m.members.len();
    match outcome {
        Outcome::Delivered => {
            tracing::debug!(channel, id = %m.out.id, notifications = n, "notification delivered");
        }
        Outcome::Retry { reason, .. } | Outcome::RateLimited { reason, .. } => {
            tracing::warn!(channel, id = %m.out.id, notifications = n, outcome = outcome.as_str(), reason = %reason, "notification not delivered; will retry");
        }
        Outcome::Disabled { reason } | Outcome::Failed { reason } => {
            tracing::error!(channel, id = %m.out.id, notifications = n, outcome = outcome.as_str(), reason = %reason, "notification not delivered");
        }
    }
}
