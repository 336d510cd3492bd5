//! The retransmission window kept in memory by the writing store: which dedup keys were
//! stored within the last `dedup_window_ms`, and under which seq.
//!
//! Keeping it in memory instead of in a database index matters for throughput: dedup keys
//! are hashes, so an index on them puts every insert on a random page and every commit
//! rewrote hundreds of pages. The window is rebuilt from the `events` table (through the
//! append-ordered `received_at_ms` index) when the store opens, so dedup still survives
//! restarts. Only the writer thread touches it. Public so that `examples/dedup_growth`
//! (`bench/dedup.sh`) can time it against the one-map layout it replaced.

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

type Shard = HashMap<u64, Stored, BuildHasherDefault<KeyHasher>>;

/// Maps the keys are spread over (by bits 32..40 of the key; the hash table itself uses the
/// low bits for the bucket and the top 7 for its control bytes).
const SHARDS: usize = 256;

/// Entries per chunk of the insertion-order queue.
const CHUNK: usize = 4096;

/// A shard reserves at least this many entries when it first grows.
const MIN_RESERVE: usize = 64;

/// The keys stored within the window, newest per key, plus their insertion order for expiry.
///
/// Growth never stops the writer for long. One map of every key doubled in one go: at
/// 36,000 events/s and the default 300-s window that is a rehash of millions of entries
/// (and a copy of the order queue as large) inside one commit, while every panel waits for
/// its ACK. Instead the keys live in 256 maps, and each map doubles at its own fill
/// level (between half and all of its capacity, by shard number), so the doublings of one
/// growth step fall on different commits, each 1/256 of the work. The order queue is a list
/// of fixed-size chunks, so it never copies what it holds.
#[derive(Debug)]
pub struct DedupWindow {
    shards: Vec<Shard>,
    /// `(key, stored)` in insertion (= seq) order.
    order: Order,
}

impl Default for DedupWindow {
    fn default() -> Self {
        DedupWindow {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            order: Order::default(),
        }
    }
}

fn shard_of(key: u64) -> usize {
    // Eight bits: always below SHARDS.
    ((key >> 32) & (SHARDS as u64 - 1)) as usize
}

impl DedupWindow {
    /// Forget every entry received at or before `cutoff_ms`. Entries arrive in seq order;
    /// a clock stepped backwards can leave an expired entry behind a newer one for a while,
    /// which [`DedupWindow::find`] still treats as expired.
    pub fn expire(&mut self, cutoff_ms: i64) {
        while let Some((key, stored)) = self.order.front() {
            if stored.received_at_ms > cutoff_ms {
                break;
            }
            self.order.pop_front();
            self.remove_if_latest(key, stored);
        }
    }

    /// The seq of the event stored with `key` and received after `cutoff_ms`, if any.
    pub fn find(&self, key: u64, cutoff_ms: i64) -> Option<i64> {
        self.shards[shard_of(key)]
            .get(&key)
            .filter(|s| s.received_at_ms > cutoff_ms)
            .map(|s| s.seq)
    }

    /// Record that `key` was stored as `seq`.
    pub fn insert(&mut self, key: u64, seq: i64, received_at_ms: i64) {
        let stored = Stored {
            seq,
            received_at_ms,
        };
        let i = shard_of(key);
        let shard = &mut self.shards[i];
        let cap = shard.capacity();
        // Shard i doubles once it is (256 + i) / 512 full, before the map would on its own.
        if shard.len() >= cap * (SHARDS + i) / (2 * SHARDS) {
            shard.reserve(cap.max(MIN_RESERVE));
        }
        shard.insert(key, stored);
        self.order.push_back((key, stored));
    }

    /// A mark to [`DedupWindow::rollback`] to.
    pub fn mark(&self) -> usize {
        self.order.len()
    }

    /// Undo every [`DedupWindow::insert`] since `mark` (their transaction rolled back).
    pub fn rollback(&mut self, mark: usize) {
        while self.order.len() > mark {
            let Some((key, stored)) = self.order.pop_back() else {
                break;
            };
            self.remove_if_latest(key, stored);
        }
    }

    /// Keys currently remembered.
    pub fn len(&self) -> usize {
        self.shards.iter().map(HashMap::len).sum()
    }

    /// No key is remembered.
    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(HashMap::is_empty)
    }

    fn remove_if_latest(&mut self, key: u64, stored: Stored) {
        if let Entry::Occupied(e) = self.shards[shard_of(key)].entry(key) {
            if e.get().seq == stored.seq {
                e.remove();
            }
        }
    }
}

/// A FIFO of `(key, stored)` in chunks of [`CHUNK`]: pushing never moves what is queued.
#[derive(Debug, Default)]
struct Order {
    chunks: VecDeque<Vec<(u64, Stored)>>,
    /// Entries of the front chunk already taken.
    head: usize,
    len: usize,
}

impl Order {
    fn len(&self) -> usize {
        self.len
    }

    fn front(&self) -> Option<(u64, Stored)> {
        self.chunks.front().and_then(|c| c.get(self.head)).copied()
    }

    fn push_back(&mut self, item: (u64, Stored)) {
        match self.chunks.back_mut() {
            Some(c) if c.len() < CHUNK => c.push(item),
            _ => {
                let mut c = Vec::with_capacity(CHUNK);
                c.push(item);
                self.chunks.push_back(c);
            }
        }
        self.len += 1;
    }

    fn pop_front(&mut self) -> Option<(u64, Stored)> {
        let item = self.front()?;
        self.head += 1;
        self.len -= 1;
        if self.chunks.front().is_some_and(|c| self.head >= c.len()) {
            // The front chunk is used up: a full one is dropped; the last, partly filled
            // one is emptied and kept for the next pushes.
            if self.chunks.len() > 1 {
                self.chunks.pop_front();
            } else if let Some(c) = self.chunks.front_mut() {
                c.clear();
            }
            self.head = 0;
        }
        Some(item)
    }

    fn pop_back(&mut self) -> Option<(u64, Stored)> {
        if self.len == 0 {
            return None;
        }
        let back = self.chunks.back_mut()?;
        let item = back.pop()?;
        self.len -= 1;
        if back.is_empty() {
            self.chunks.pop_back();
        }
        if self.len == 0 {
            self.chunks.clear();
            self.head = 0;
        }
        Some(item)
    }
}

#[cfg(test)]
#[path = "dedup_tests.rs"]
mod tests;
