//! `[store] max_size_mb`: while the event store is over the cap, remove the oldest events
//! in small batches off the ACK path, with the same rules as `retention_days` (each batch
//! one short writer request, never an event the registry snapshot does not cover, so the
//! registry and open alarms keep their state; `alarmhub_events_oldest_seq` moves).
//!
//! What is measured ([`crate::store::Store::events_size`]):
//! * SQLite: the database's pages in use (page count minus the free list). Pages of removed
//!   events go to the free list and new events reuse them, so the file stops growing at
//!   about the cap; it shrinks only with `alarmhub store vacuum` (a full rebuild, not run by
//!   the daemon because it would hold the writer).
//! * PostgreSQL: `pg_total_relation_size` of the events table keeps the room of removed rows
//!   (for reuse, after the `VACUUM` run after each purge), so the live size is estimated as
//!   events × the lowest bytes per event measured by this process.
//!
//! A purge goes down to [`LOW_WATER`] of the cap, so it does not run again for every few
//! new events.

use crate::metrics::names;
use crate::store::{EventsSize, Store, StoreError};

use super::retention::{pause, BATCH};

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
}

impl SizeCap {
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
        let Some(first) = store.events_size().await? else {
            return Ok(Pass::default());
        };
        let size = self.live_bytes(first);
        metrics::gauge!(names::STORE_SIZE_BYTES).set(size as f64);
        if size <= max_bytes {
            return Ok(Pass { size, ..Pass::default() });
        }
        let below = store.load_snapshot().await?.map_or(0, |s| s.last_seq);
        let target = (max_bytes as f64 * LOW_WATER) as u64;
        let mut now = size;
        let mut removed = 0;
        while now > target {
            let n = store.purge_events(i64::MAX, below, BATCH).await?;
            removed += n;
            metrics::counter!(names::EVENTS_PURGED_TOTAL).increment(n as u64);
            if n == 0 {
                break;
            }
            if let Some(s) = store.events_size().await? {
                now = self.live_bytes(s);
            }
            pause().await;
        }
        if removed > 0 {
            store.reclaim().await?;
            if let Some(s) = store.events_size().await? {
                now = self.live_bytes(s);
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
