//! The per-account event index, written in bulk instead of on every commit.
//!
//! A plain `events(account, seq)` index puts each panel's newest entry on its own leaf page,
//! so a commit carrying events from 1,000 panels rewrote ~1,000 pages (4 MiB of WAL) and
//! halved throughput. Instead the writer collects `(account, seq)` pairs in memory. About
//! once a second it freezes what it has collected, sorts it, and writes it into
//! `account_events` a slice at a time, so no single commit (and no ACK waiting on it)
//! carries the whole second's index. A slice is sized to cost about [`SLICE_TARGET`] of
//! commit time ([`PendingIndex::slice`], from what earlier slices cost): 4,096 pairs made
//! the commits right after each freeze 5–15 ms long and were most of the ACK p99 at
//! 10,000 events/s. The commit that writes the last
//! slice also moves the mark in `meta` (`account_indexed_upto`), the seq up to which the
//! table is complete. Queries read the table up to the mark and scan the few newer rows of
//! `events` directly (`query.rs`), so they always see every committed event. After a crash
//! the writer re-collects the rows above the mark when it opens; nothing is lost because the
//! table is derived data (rows already written above the mark are ignored on rewrite).

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use rusqlite::{params, Transaction};

use super::insert::{next_chunk, values_sql, CHUNKS};

/// `meta` key of the seq up to which `account_events` is complete.
pub(crate) const UPTO_KEY: &str = "account_indexed_upto";

/// Longest an event waits before its generation is frozen for writing (while events keep
/// coming; an idle writer flushes on its idle tick).
pub(crate) const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Freeze earlier than [`FLUSH_EVERY`] once this many pairs are waiting (bounds memory).
pub(crate) const FLUSH_MAX: usize = 200_000;

/// Most pairs written per commit while a frozen generation is being written.
pub(crate) const CHUNK: usize = 4_096;

/// Fewest pairs a slice holds (a slow moment must not stall the index).
pub(crate) const MIN_SLICE: usize = 256;

/// Commit time a slice of the index should add, about.
pub(crate) const SLICE_TARGET: Duration = Duration::from_millis(1);

/// Until a slice has been timed: a cost per pair that gives 1,024-pair slices.
const FIRST_PAIR_COST: Duration = Duration::from_nanos(1_000_000 / 1_024);

/// `INSERT OR IGNORE` of index pairs, one statement per chunk size of [`CHUNKS`].
static INSERT_PAIRS: LazyLock<Vec<String>> = LazyLock::new(|| {
    CHUNKS
        .iter()
        .map(|&rows| {
            format!(
                "INSERT OR IGNORE INTO account_events (acct, ev_seq) {}",
                values_sql(rows, 2)
            )
        })
        .collect()
});

/// A generation being written: sorted pairs, how many are already committed, and the mark
/// to record when all are.
#[derive(Debug)]
struct Frozen {
    sorted: Vec<(String, i64)>,
    written: usize,
    high: i64,
}

/// What one [`PendingIndex::write`] put into its transaction; hand it to
/// [`PendingIndex::committed`] once the transaction commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Written {
    upto: usize,
    /// Pairs of this slice.
    pairs: usize,
}

/// Pairs not yet in `account_events`.
#[derive(Debug)]
pub(crate) struct PendingIndex {
    /// Collected since the last freeze, in seq order.
    pairs: Vec<(String, i64)>,
    /// Highest seq collected (or the stored mark when nothing is).
    high: i64,
    frozen: Option<Frozen>,
    last_freeze: Instant,
    /// Commit time per pair of the recent slices (a moving average).
    pair_cost: Duration,
}

impl PendingIndex {
    /// Start from the rows above the stored mark (`pairs`, in seq order), due at the first
    /// commit so a restart catches up at once.
    pub(crate) fn new(pairs: Vec<(String, i64)>, upto: i64) -> PendingIndex {
        let high = pairs.last().map_or(upto, |p| p.1);
        let last_freeze = Instant::now()
            .checked_sub(FLUSH_EVERY)
            .unwrap_or_else(Instant::now);
        PendingIndex {
            pairs,
            high,
            frozen: None,
            last_freeze,
            pair_cost: FIRST_PAIR_COST,
        }
    }

    /// Pairs to write with a commit of `batch` events: about [`SLICE_TARGET`] worth at the
    /// recent cost per pair, between [`MIN_SLICE`] and [`CHUNK`], and never fewer than
    /// twice the batch, so the index keeps up whatever `store.max_batch` is.
    pub(crate) fn slice(&self, batch: usize) -> usize {
        let cost = self.pair_cost.as_nanos().max(1);
        let fits = usize::try_from(SLICE_TARGET.as_nanos() / cost).unwrap_or(CHUNK);
        fits.clamp(MIN_SLICE, CHUNK).max(batch.saturating_mul(2))
    }

    /// A commit that carried `written` took `elapsed` in all (its events included, so the
    /// estimate errs on the side of smaller slices).
    pub(crate) fn timed(&mut self, written: Written, elapsed: Duration) {
        if written.pairs == 0 {
            return;
        }
        let per_pair = elapsed / u32::try_from(written.pairs).unwrap_or(u32::MAX);
        // A quarter of the new sample: one slow commit (a descheduled thread) moves the
        // size a little, a slower disk moves it within a few slices.
        self.pair_cost = (self.pair_cost * 3 + per_pair) / 4;
    }

    /// Freeze the collected pairs into a generation to write, when none is being written
    /// and it is time (or the collection is large, or `force`). Call before a transaction's
    /// marks are taken, so a frozen generation only ever holds committed events.
    pub(crate) fn maybe_freeze(&mut self, force: bool) {
        if self.frozen.is_some() || self.pairs.is_empty() {
            return;
        }
        if !force && self.pairs.len() < FLUSH_MAX && self.last_freeze.elapsed() < FLUSH_EVERY {
            return;
        }
        let mut sorted = std::mem::take(&mut self.pairs);
        sorted.sort_unstable();
        self.frozen = Some(Frozen {
            sorted,
            written: 0,
            high: self.high,
        });
        self.last_freeze = Instant::now();
    }

    /// Collect a newly inserted event.
    pub(crate) fn push(&mut self, account: &str, seq: i64) {
        self.pairs.push((account.to_owned(), seq));
        self.high = self.high.max(seq);
    }

    /// A mark to [`PendingIndex::rollback`] to.
    pub(crate) fn mark(&self) -> (usize, i64) {
        (self.pairs.len(), self.high)
    }

    /// Forget the pairs collected since `mark` (their transaction rolled back).
    pub(crate) fn rollback(&mut self, mark: (usize, i64)) {
        self.pairs.truncate(mark.0);
        self.high = mark.1;
    }

    /// Write the next slice of the frozen generation (and, with its last slice, the mark)
    /// inside `tx`. `None` when nothing is frozen.
    pub(crate) fn write(
        &self,
        tx: &Transaction<'_>,
        max_pairs: usize,
    ) -> rusqlite::Result<Option<Written>> {
        let Some(frozen) = &self.frozen else {
            return Ok(None);
        };
        let upto = frozen
            .sorted
            .len()
            .min(frozen.written.saturating_add(max_pairs.max(1)));
        // Multi-row inserts, as for the events themselves (`insert.rs`).
        let mut rest = &frozen.sorted[frozen.written..upto];
        while !rest.is_empty() {
            let (which, rows) = next_chunk(rest.len());
            let (chunk, tail) = rest.split_at(rows);
            let mut insert = tx.prepare_cached(&INSERT_PAIRS[which])?;
            for (i, (account, seq)) in chunk.iter().enumerate() {
                insert.raw_bind_parameter(2 * i + 1, account)?;
                insert.raw_bind_parameter(2 * i + 2, seq)?;
            }
            insert.raw_execute()?;
            rest = tail;
        }
        if upto == frozen.sorted.len() {
            tx.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?
                .execute(params![UPTO_KEY, frozen.high])?;
        }
        Ok(Some(Written {
            upto,
            pairs: upto - frozen.written,
        }))
    }

    /// The transaction that carried `written` committed.
    pub(crate) fn committed(&mut self, written: Written) {
        if let Some(frozen) = &mut self.frozen {
            frozen.written = written.upto;
            if frozen.written >= frozen.sorted.len() {
                self.frozen = None;
            }
        }
    }

    /// A generation is being written.
    pub(crate) fn writing(&self) -> bool {
        self.frozen.is_some()
    }

    /// Pairs collected and not frozen.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.pairs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restart_with_rows_above_the_mark_freezes_at_once() {
        let mut p = PendingIndex::new(vec![("A".into(), 5)], 4);
        assert_eq!(p.mark(), (1, 5));
        p.maybe_freeze(false);
        assert!(p.writing());
        assert_eq!(p.len(), 0);
        let mut empty = PendingIndex::new(Vec::new(), 4);
        empty.maybe_freeze(false);
        assert!(!empty.writing(), "nothing to write");
        assert_eq!(empty.mark(), (0, 4));
    }

    #[test]
    fn nothing_freezes_within_a_second_of_the_last_freeze() {
        let mut p = PendingIndex::new(vec![("A".into(), 1)], 0);
        p.maybe_freeze(false);
        p.frozen = None; // as if written
        p.push("A", 2);
        p.maybe_freeze(false);
        assert!(!p.writing());
        assert_eq!(p.len(), 1);
        p.maybe_freeze(true);
        assert!(p.writing(), "forced (shutdown)");
    }

    #[test]
    fn slices_are_sized_to_the_target_from_what_earlier_slices_cost() {
        let mut p = PendingIndex::new(Vec::new(), 0);
        assert_eq!(p.slice(10), 1_024, "before anything was timed");
        let w = |pairs| Written { upto: 0, pairs };
        // 4 µs per pair, again and again: the estimate converges to 250 pairs per ms,
        // held at the floor.
        for _ in 0..40 {
            p.timed(w(1_000), Duration::from_millis(4));
        }
        assert_eq!(p.slice(10), MIN_SLICE);
        // Cheap pairs (100 ns): as many as the ceiling allows.
        for _ in 0..40 {
            p.timed(w(10_000), Duration::from_millis(1));
        }
        assert_eq!(p.slice(10), CHUNK);
        // 2 µs per pair: about 500.
        for _ in 0..60 {
            p.timed(w(1_000), Duration::from_millis(2));
        }
        let s = p.slice(10);
        assert!((480..=520).contains(&s), "slice {s}");
        // A big batch still gets twice its size, whatever the cost.
        assert_eq!(p.slice(3_000), 6_000);
        // One very slow commit moves the size by a quarter, not to the floor.
        p.timed(w(500), Duration::from_millis(20));
        let after = p.slice(10);
        assert!(after >= MIN_SLICE && after < s, "slice {after} after {s}");
        // A slice of nothing teaches nothing.
        p.timed(w(0), Duration::from_secs(1));
        assert_eq!(p.slice(10), after);
    }

    #[test]
    fn rollback_restores_count_and_mark() {
        let mut p = PendingIndex::new(Vec::new(), 0);
        p.push("A", 1);
        let m = p.mark();
        p.push("B", 2);
        p.push("A", 3);
        p.rollback(m);
        assert_eq!(p.len(), 1);
        assert_eq!(p.mark(), (1, 1));
    }

    #[test]
    fn a_frozen_generation_is_written_in_slices_and_done_after_the_last() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = rusqlite::Connection::open(dir.path().join("t.db")).expect("open");
        conn.execute_batch(
            "CREATE TABLE account_events (acct TEXT, ev_seq INTEGER, PRIMARY KEY (acct, ev_seq)) \
             WITHOUT ROWID; CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER);",
        )
        .expect("schema");
        let pairs = (1..=5).map(|s| (format!("P{}", s % 2), s)).collect();
        let mut p = PendingIndex::new(pairs, 0);
        p.maybe_freeze(false);
        let mut slices = 0;
        while p.writing() {
            let tx = conn.transaction().expect("tx");
            let w = p.write(&tx, 2).expect("write").expect("frozen");
            tx.commit().expect("commit");
            p.committed(w);
            slices += 1;
        }
        assert_eq!(slices, 3);
        // A generation partly written, then finished in one go (idle or shutdown upkeep).
        for s in 6..=9 {
            p.push(&format!("P{}", s % 2), s);
        }
        p.maybe_freeze(true);
        let tx = conn.transaction().expect("tx");
        let w = p.write(&tx, 1).expect("write").expect("frozen");
        tx.commit().expect("commit");
        p.committed(w);
        let tx = conn.transaction().expect("tx");
        let w = p.write(&tx, usize::MAX).expect("write").expect("frozen");
        tx.commit().expect("commit");
        p.committed(w);
        assert!(!p.writing());
        let (rows, upto): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM account_events), \
                 (SELECT value FROM meta WHERE key = 'account_indexed_upto')",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("query");
        assert_eq!((rows, upto), (9, 9));
    }
}
