//! `[store] max_size_mb`: while the event store is over the cap, remove the oldest events
//! in batches off the ACK path, with the same rules as `retention_days` (`retention.rs`:
//! short requests or the store's own pacing; never an event the registry snapshot does not
//! cover, so the registry and open alarms keep their state; `alarmhub_events_oldest_seq`
//! moves).
//!
//! What is measured ([`crate::store::Store::events_size`]) is the events with their indexes —
//! not alarm records, the outbox or other tables, which the cap never removes:
//! * SQLite: the pages of `events`, `account_events` and their indexes (`dbstat`). Pages of
//!   removed events go to the database's free list and new rows reuse them, so the file
//!   stops growing; it shrinks only with `alarmhub store vacuum` (a full rebuild, not run by
//!   the daemon because it would hold the writer).
//! * PostgreSQL: `pg_total_relation_size` of the events table keeps the room of removed rows
//!   (for reuse, after the `VACUUM` run after each purge), so the live size is estimated as
//!   events × the lowest bytes per event measured by this process.
//!
//! Measuring costs time in proportion to the events (SQLite walks their pages): the next
//! measurement waits at least [`COST_FACTOR`] times as long as the last one took.
//!
//! A purge goes down to [`LOW_WATER`] of the cap, so it does not run again for every few
//! new events.

use crate::metrics::names;
use crate::store::{EventsSize, Store, StoreError};

use super::retention::Batch;

/// The wait before the next measurement is at least this many times the last one's cost
/// (at most 1/`COST_FACTOR` of one reader's time goes to measuring).
pub const COST_FACTOR: u32 = 20;

/// A purge stops at this fraction of the cap.
pub const LOW_WATER: f64 = 0.9;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    /// Events removed.
    pub removed: usize,
    /// Estimated bytes removed (size before minus after).
    pub bytes: u64,
    /// The size before the pass, as measured.
    pub size: u64,
}

/// The size cap's memory across passes: the lowest bytes per event seen (PostgreSQL).
#[derive(Debug, Default)]
pub struct SizeCap {
    bytes_per_event: Option<f64>,
    /// How long the last measurement took.
    cost: std::time::Duration,
}

impl SizeCap {
    /// How long to wait before the next pass: `every`, or longer when measuring is costly.
    pub fn next_wait(&self, every: std::time::Duration) -> std::time::Duration {
        every.max(self.cost * COST_FACTOR)
    }

    /// Measure `store` (timed): (live bytes, events).
    async fn measure(&mut self, store: &dyn Store) -> Result<Option<(u64, u64)>, StoreError> {
        let t0 = std::time::Instant::now();
        let size = store.events_size().await?;
        self.cost = t0.elapsed();
        Ok(size.map(|s| (self.live_bytes(s), s.rows)))
    }

    /// The live size of `s`: exact, or events × the lowest bytes per event seen.
    fn live_bytes(&mut self, s: EventsSize) -> u64 {
        if s.exact || s.rows == 0 {
            return s.bytes;
        }
        let ratio = s.bytes as f64 / s.rows as f64;
        let best = self.bytes_per_event.map_or(ratio, |b| b.min(ratio));
        self.bytes_per_event = Some(best);
        (s.rows as f64 * best) as u64
    }

    /// Measure the store; while it is over `max_bytes`, remove the oldest events below the
    /// registry snapshot in batches until it is at [`LOW_WATER`] of the cap (or nothing
    /// more may go).
    pub async fn enforce(&mut self, store: &dyn Store, max_bytes: u64) -> Result<Pass, StoreError> {
        let Some((size, rows)) = self.measure(store).await? else {
            return Ok(Pass::default());
        };
        metrics::gauge!(names::STORE_SIZE_BYTES).set(size as f64);
        if size <= max_bytes || rows == 0 {
            return Ok(Pass {
                size,
                ..Pass::default()
            });
        }
        // As many of the oldest events as take the room above the low-water mark; measured
        // again after the pass (the next pass goes on when pages were not freed as hoped).
        let below = store.snapshot_seq().await?.unwrap_or(0);
        let target = (max_bytes as f64 * LOW_WATER) as u64;
        let per_event = (size as f64 / rows as f64).max(1.0);
        let want = ((size - target.min(size)) as f64 / per_event).ceil() as usize;
        let mut removed = 0;
        let mut batch = Batch::for_store(store);
        while removed < want {
            let (n, all) = batch.purge(store, i64::MAX, below, want - removed).await?;
            removed += n;
            if all || n == 0 {
                break;
            }
            batch.pause().await;
        }
        let mut now = size;
        if removed > 0 {
            store.reclaim().await?;
            if let Some((s, _)) = self.measure(store).await? {
                now = s;
            }
        }
        let bytes = size.saturating_sub(now);
        metrics::counter!(names::EVENTS_PURGED_BYTES_TOTAL).increment(bytes);
        metrics::gauge!(names::STORE_SIZE_BYTES).set(now as f64);
        metrics::gauge!(names::EVENTS_OLDEST_SEQ).set(store.oldest_seq().await? as f64);
        Ok(Pass {
            removed,
            bytes,
            size,
        })
    }
}
