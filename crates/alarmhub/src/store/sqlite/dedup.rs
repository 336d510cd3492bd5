//! The retransmission window kept in memory by the writing store: which dedup keys were
//! stored within the last `dedup_window_ms`, and under which seq.
//!
//! Keeping it in memory instead of in a database index matters for throughput: dedup keys
//! are hashes, so an index on them puts every insert on a random page and every commit
//! rewrote hundreds of pages. The map is rebuilt from the `events` table (through the
//! append-ordered `received_at_ms` index) when the store opens, so dedup still survives
//! restarts. Only the writer thread touches it.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// Dedup keys are already FNV-1a hashes: hashing them again is wasted work.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used for `u64` keys; fold anything else in FNV style.
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Scratch space of one batch: key → (index among the batch's new events, received at).
pub(crate) type BatchKeys = HashMap<u64, (usize, i64), BuildHasherDefault<KeyHasher>>;

/// Where a key was last stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stored {
    seq: i64,
    received_at_ms: i64,
}

/// The keys stored within the window, newest per key, plus their insertion order for expiry.
#[derive(Debug, Default)]
pub(crate) struct DedupWindow {
    latest: HashMap<u64, Stored, BuildHasherDefault<KeyHasher>>,
    /// `(key, stored)` in insertion (= seq) order.
    order: VecDeque<(u64, Stored)>,
}

impl DedupWindow {
    /// Forget every entry received at or before `cutoff_ms`. Entries arrive in seq order;
    /// a clock stepped backwards can leave an expired entry behind a newer one for a while,
    /// which [`DedupWindow::find`] still treats as expired.
    pub(crate) fn expire(&mut self, cutoff_ms: i64) {
        while let Some(&(key, stored)) = self.order.front() {
            if stored.received_at_ms > cutoff_ms {
                break;
            }
            self.order.pop_front();
            if let Entry::Occupied(e) = self.latest.entry(key) {
                if e.get().seq == stored.seq {
                    e.remove();
                }
            }
        }
    }

    /// The seq of the event stored with `key` and received after `cutoff_ms`, if any.
    pub(crate) fn find(&self, key: u64, cutoff_ms: i64) -> Option<i64> {
        self.latest
            .get(&key)
            .filter(|s| s.received_at_ms > cutoff_ms)
            .map(|s| s.seq)
    }

    /// Record that `key` was stored as `seq`.
    pub(crate) fn insert(&mut self, key: u64, seq: i64, received_at_ms: i64) {
        let stored = Stored {
            seq,
            received_at_ms,
        };
        self.latest.insert(key, stored);
        self.order.push_back((key, stored));
    }

    /// A mark to [`DedupWindow::rollback`] to.
    pub(crate) fn mark(&self) -> usize {
        self.order.len()
    }

    /// Undo every [`DedupWindow::insert`] since `mark` (their transaction rolled back).
    pub(crate) fn rollback(&mut self, mark: usize) {
        while self.order.len() > mark {
            let Some((key, stored)) = self.order.pop_back() else {
                break;
            };
            if let Entry::Occupied(e) = self.latest.entry(key) {
                if e.get().seq == stored.seq {
                    e.remove();
                }
            }
        }
    }

    /// Keys currently remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.latest.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_within_the_window_only() {
        let mut w = DedupWindow::default();
        w.insert(7, 1, 1_000);
        assert_eq!(w.find(7, 999), Some(1));
        assert_eq!(w.find(7, 1_000), None, "received at the cutoff is outside");
        assert_eq!(w.find(8, 0), None);
    }

    #[test]
    fn expiry_keeps_a_newer_copy_of_the_same_key() {
        let mut w = DedupWindow::default();
        w.insert(7, 1, 1_000);
        w.insert(7, 2, 2_000);
        w.expire(1_500);
        assert_eq!(w.find(7, 1_500), Some(2));
        assert_eq!(w.len(), 1);
        w.expire(2_000);
        assert_eq!(w.len(), 0);
        assert_eq!(w.order.len(), 0);
    }

    #[test]
    fn rollback_forgets_exactly_the_rolled_back_inserts() {
        let mut w = DedupWindow::default();
        w.insert(1, 1, 1_000);
        let mark = w.mark();
        w.insert(2, 2, 1_000);
        w.insert(3, 3, 1_000);
        w.rollback(mark);
        assert_eq!(w.find(1, 0), Some(1));
        assert_eq!(w.find(2, 0), None);
        assert_eq!(w.find(3, 0), None);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn a_clock_stepped_back_does_not_make_an_old_entry_match() {
        let mut w = DedupWindow::default();
        w.insert(1, 1, 5_000);
        w.insert(2, 2, 1_000); // clock stepped back
        w.expire(2_000); // front (5_000) is newer: nothing removed yet
        assert_eq!(w.find(2, 2_000), None);
        assert_eq!(w.find(1, 2_000), Some(1));
    }
}
