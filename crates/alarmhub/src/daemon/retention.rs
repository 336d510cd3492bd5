//! `[store] retention_days` (and the loop that also runs the `max_size_mb` cap,
//! `size_cap.rs`): remove events older than the retention in small batches, off
//! the ACK path (each batch is one short writer request; appends queue between batches),
//! never an event the registry snapshot does not cover yet (so the registry and open alarms
//! keep their state across a restart), and publish where history now starts
//! (`alarmhub_events_oldest_seq`; WatchEvents already reports a Gap for removed seqs).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::metrics::names;
use crate::store::{Store, StoreError};

/// Events removed per writer request.
pub const BATCH: usize = 500;
/// Pause between batches, so appends are never queued behind a long purge.
const PAUSE: Duration = Duration::from_millis(20);
/// How often the retention by age runs.
const EVERY: Duration = Duration::from_secs(60);
/// How often the size cap measures the store.
pub const SIZE_EVERY: Duration = Duration::from_secs(2);
/// `max_size_mb` is in MiB.
const MIB: u64 = 1024 * 1024;
const DAY_MS: i64 = 86_400_000;

/// One retention pass at `now_ms`: remove every event older than `days` below the snapshot,
/// batch by batch. Returns how many were removed.
pub async fn purge_once(store: &dyn Store, days: u64, now_ms: i64) -> Result<usize, StoreError> {
    let below = match store.load_snapshot().await? {
        Some(s) => s.last_seq,
        None => 0,
    };
    let days = i64::try_from(days).unwrap_or(i64::MAX / DAY_MS);
    let before = now_ms.saturating_sub(days.saturating_mul(DAY_MS));
    let mut total = 0;
    loop {
        let n = store.purge_events(before, below, BATCH).await?;
        total += n;
        metrics::counter!(names::EVENTS_PURGED_TOTAL).increment(n as u64);
        if n < BATCH {
            break;
        }
        pause().await;
    }
    metrics::gauge!(names::EVENTS_OLDEST_SEQ).set(store.oldest_seq().await? as f64);
    Ok(total)
}

/// Wait between two batches, so appends are never queued behind a long purge.
pub async fn pause() {
    tokio::time::sleep(PAUSE).await;
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
