//! `[store] retention_days` (and the loop that also runs the `max_size_mb` cap,
//! `size_cap.rs`): remove events older than the retention in batches, off the ACK path —
//! on a store that yields to appends by itself (`Store::purge_paces_itself`, SQLite: the
//! writer works purges off in short steps in its spare time) requests of
//! [`SELF_PACED_BATCH`] back to back; otherwise each request short (at most [`BATCH`]
//! events and fewer while requests take over [`TARGET_HOLD`]) with a pause between them —
//! never an event the registry snapshot does not cover yet (so the registry and open alarms
//! keep their state across a restart), and publish where history now starts
//! (`alarmhub_events_oldest_seq`; WatchEvents already reports a Gap for removed seqs).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::metrics::names;
use crate::store::{Store, StoreError};

/// Events removed per request at most; the size adapts ([`Batch`]).
pub const BATCH: usize = 500;
/// Events asked for per request from a store that paces its purges itself.
pub const SELF_PACED_BATCH: usize = 5_000;
/// Events removed per writer request at least (so a purge always moves).
pub const MIN_BATCH: usize = 100;
/// A purge request should take about this long at most (the writer is held meanwhile).
pub const TARGET_HOLD: Duration = Duration::from_millis(15);
/// Pause between batches, so appends are never queued behind a long purge.
const PAUSE: Duration = Duration::from_millis(20);
/// How often the retention by age runs.
const EVERY: Duration = Duration::from_secs(60);
/// How often the size cap measures the store.
pub const SIZE_EVERY: Duration = Duration::from_secs(2);
/// `max_size_mb` is in MiB.
const MIB: u64 = 1024 * 1024;
const DAY_MS: i64 = 86_400_000;

/// The size of the next purge request: halved while requests take longer than
/// [`TARGET_HOLD`] (a slow disk, a busy writer), doubled back up to [`BATCH`] while they are
/// quick, so appends never wait long behind one. A store that paces its purges itself gets
/// [`SELF_PACED_BATCH`] every time and no pause.
#[derive(Debug, Clone, Copy)]
pub struct Batch {
    size: usize,
    self_paced: bool,
}

impl Default for Batch {
    fn default() -> Self {
        Batch {
            size: BATCH,
            self_paced: false,
        }
    }
}

impl Batch {
    /// The batch for `store`: fixed and large when it paces its purges itself.
    pub fn for_store(store: &dyn Store) -> Batch {
        if store.purge_paces_itself() {
            Batch {
                size: SELF_PACED_BATCH,
                self_paced: true,
            }
        } else {
            Batch::default()
        }
    }

    /// Events to ask for in the next request (at most `left`).
    pub fn size(&self, left: usize) -> usize {
        self.size.min(left)
    }

    /// Remove at most [`Batch::size`] events (`before_ms`, `below_seq` as in
    /// [`Store::purge_events`]) and adapt to how long it took; how many were removed and
    /// whether that was all there was.
    pub async fn purge(
        &mut self,
        store: &dyn Store,
        before_ms: i64,
        below_seq: i64,
        left: usize,
    ) -> Result<(usize, bool), StoreError> {
        let asked = self.size(left);
        let t0 = std::time::Instant::now();
        let n = store.purge_events(before_ms, below_seq, asked).await?;
        let took = t0.elapsed();
        // A self-paced request takes as long as the store lets it: nothing to adapt.
        if !self.self_paced {
            if took > TARGET_HOLD {
                self.size = (self.size / 2).max(MIN_BATCH);
            } else if took < TARGET_HOLD / 4 {
                self.size = (self.size * 2).min(BATCH);
            }
        }
        metrics::counter!(names::EVENTS_PURGED_TOTAL).increment(n as u64);
        Ok((n, n < asked))
    }
}

/// One retention pass at `now_ms`: remove every event older than `days` below the snapshot,
/// batch by batch. Returns how many were removed.
pub async fn purge_once(store: &dyn Store, days: u64, now_ms: i64) -> Result<usize, StoreError> {
    let below = store.snapshot_seq().await?.unwrap_or(0);
    let days = i64::try_from(days).unwrap_or(i64::MAX / DAY_MS);
    let before = now_ms.saturating_sub(days.saturating_mul(DAY_MS));
    let mut total = 0;
    let mut batch = Batch::for_store(store);
    loop {
        let (n, all) = batch.purge(store, before, below, usize::MAX).await?;
        total += n;
        if all {
            break;
        }
        batch.pause().await;
    }
    metrics::gauge!(names::EVENTS_OLDEST_SEQ).set(store.oldest_seq().await? as f64);
    Ok(total)
}

impl Batch {
    /// Wait between two requests, so appends are never queued behind a long purge (not
    /// needed when the store paces itself).
    pub async fn pause(&self) {
        if !self.self_paced {
            tokio::time::sleep(PAUSE).await;
        }
    }
}

/// Until `cancel`: [`purge_once`] every minute (`retention_days` 0: only the gauge) and the
/// size cap every [`SIZE_EVERY`] (`max_size_mb` absent: nothing). Both settings are read
/// from `config` at each pass, so a SIGHUP reload changes them.
pub async fn run(store: Arc<dyn Store>, config: Arc<Config>, cancel: CancellationToken) {
    let mut cap = super::size_cap::SizeCap::default();
    let mut last_days: Option<std::time::Instant> = None;
    loop {
        let settings = config.settings();
        if last_days.is_none_or(|t| t.elapsed() >= EVERY) {
            last_days = Some(std::time::Instant::now());
            by_age(store.as_ref(), settings.store.retention_days).await;
        }
        if let Some(mb) = settings.store.max_size_mb {
            match cap.enforce(store.as_ref(), mb.saturating_mul(MIB)).await {
                Ok(p) if p.removed > 0 => tracing::info!(
                    removed = p.removed,
                    bytes = p.bytes,
                    size_before = p.size,
                    max_size_mb = mb,
                    "events removed: store over its size cap"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "size cap pass failed; retried later"),
            }
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(cap.next_wait(SIZE_EVERY)) => {}
        }
    }
}

/// One `retention_days` pass, logged.
async fn by_age(store: &dyn Store, days: u64) {
    let pass = async {
        if days == 0 {
            let oldest = store.oldest_seq().await?;
            metrics::gauge!(names::EVENTS_OLDEST_SEQ).set(oldest as f64);
            return Ok(0);
        }
        purge_once(store, days, crate::clock::now_ms()).await
    };
    match pass.await {
        Ok(0) => {}
        Ok(n) => tracing::info!(removed = n, retention_days = days, "old events removed"),
        Err(e) => tracing::warn!(error = %e, "retention pass failed; retried later"),
    }
}
