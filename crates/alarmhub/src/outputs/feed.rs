//! One shape for every cursor consumer (DESIGN.md "Outputs are cursor consumers"): read a
//! batch from the event log after the stored cursor, deliver in order, move the cursor only
//! past what the peer confirmed, save it.
//!
//! Saving is coalesced while a backlog drains (every [`SAVE_EVERY`] confirmations or
//! [`SAVE_INTERVAL`]), and immediate when the feed is idle or stopping, so a clean stop
//! repeats nothing and a crash repeats at most [`SAVE_EVERY`] confirmed events.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::source::{CursorStore, EventLog, SourceError};
use crate::events::StoredEvent;

/// Events read from the log at once.
pub const BATCH: usize = 512;
/// Confirmations between cursor saves while a backlog drains.
pub const SAVE_EVERY: u64 = 64;
/// Longest time a confirmation stays unsaved while a backlog drains.
pub const SAVE_INTERVAL: Duration = Duration::from_millis(200);

/// The queue of read-but-unconfirmed events and the cursor of one output.
pub struct Feed {
    name: String,
    log: Arc<dyn EventLog>,
    cursors: Arc<dyn CursorStore>,
    queue: VecDeque<Arc<StoredEvent>>,
    /// Highest sequence number read into `queue` (or confirmed).
    read_pos: i64,
    /// Highest sequence number confirmed by the peer (or skipped).
    confirmed: i64,
    saved: i64,
    unsaved: u64,
    last_save: Instant,
    /// Highest sequence number the log reported.
    log_end: i64,
}

impl Feed {
    /// Load the cursor of `name`; an output never saved starts at the end of the log (it
    /// delivers what is stored from now on, not the whole history).
    pub async fn open(
        name: &str,
        log: Arc<dyn EventLog>,
        cursors: Arc<dyn CursorStore>,
    ) -> Result<Feed, SourceError> {
        let end = log.last_seq().await?;
        let start = match cursors.load(name).await? {
            Some(seq) => seq,
            None => {
                cursors.save(name, end).await?;
                end
            }
        };
        Ok(Feed {
            name: name.to_string(),
            log,
            cursors,
            queue: VecDeque::new(),
            read_pos: start,
            confirmed: start,
            saved: start,
            unsaved: 0,
            last_save: Instant::now(),
            log_end: end.max(start),
        })
    }

    /// The next event to deliver, reading a batch when the queue is empty. `None` when the
    /// log has nothing newer.
    pub async fn head(&mut self) -> Result<Option<Arc<StoredEvent>>, SourceError> {
        if self.queue.is_empty() {
            let batch = self.log.read_after(self.read_pos, BATCH).await?;
            if let Some(last) = batch.last() {
                self.read_pos = last.seq;
            }
            self.queue.extend(batch);
            self.log_end = self.log.last_seq().await?.max(self.read_pos);
        }
        Ok(self.queue.front().cloned())
    }

    /// The peer confirmed (or the output skipped) event `seq`, which must be the head.
    pub fn confirm(&mut self, seq: i64) {
        if self.queue.front().is_some_and(|e| e.seq == seq) {
            self.queue.pop_front();
            self.confirmed = seq;
            self.unsaved += 1;
        }
    }

    /// Take the head off the queue without confirming it (a peer that confirms later, by
    /// [`Feed::confirm_through`]).
    pub fn advance(&mut self) -> Option<Arc<StoredEvent>> {
        self.queue.pop_front()
    }

    /// Everything up to `seq` is confirmed.
    pub fn confirm_through(&mut self, seq: i64) {
        if seq > self.confirmed {
            self.unsaved += 1;
            self.confirmed = seq;
        }
    }

    /// Forget what was read but not confirmed: the next [`Feed::head`] reads again from the
    /// confirmed position (after a reconnect, when unconfirmed deliveries are lost).
    pub fn rewind(&mut self) {
        self.queue.clear();
        self.read_pos = self.confirmed;
    }

    /// Save the cursor if it is due (`idle`: nothing else to deliver right now).
    pub async fn save_if_due(&mut self, idle: bool) -> Result<(), SourceError> {
        let due = self.unsaved >= SAVE_EVERY || self.last_save.elapsed() >= SAVE_INTERVAL;
        if self.confirmed > self.saved && (idle || due) {
            self.cursors.save(&self.name, self.confirmed).await?;
            self.saved = self.confirmed;
            self.unsaved = 0;
            self.last_save = Instant::now();
        }
        Ok(())
    }

    /// Wait until the log has something after what was read.
    pub async fn wait_for_more(&self) {
        self.log.wait_after(self.read_pos).await;
    }

    /// Events stored but not confirmed yet.
    pub fn backlog(&self) -> u64 {
        u64::try_from(self.log_end - self.confirmed).unwrap_or(0)
    }

    /// Highest confirmed sequence number.
    pub fn confirmed(&self) -> i64 {
        self.confirmed
    }
}
