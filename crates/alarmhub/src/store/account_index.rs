//! The per-account event index, written in bulk instead of on every commit.
//!
//! A plain `events(account, seq)` index puts each panel's newest entry on its own leaf page,
//! so a commit carrying events from 1,000 panels rewrote ~1,000 pages (4 MiB of WAL) and
//! halved throughput. Instead the writer collects `(account, seq)` pairs in memory and
//! inserts them sorted, about once a second, into `account_events`, recording in `meta`
//! (`account_indexed_upto`) the seq below which the table is complete — in the same
//! transaction. Queries read the table up to that seq and scan the few newer rows of
//! `events` directly (`query.rs`), so they always see every committed event. After a crash
//! the writer re-collects the rows above the mark when it opens; nothing is lost because the
//! table is derived data.

use std::time::{Duration, Instant};

use rusqlite::{params, Transaction};

/// `meta` key of the seq up to which `account_events` is complete.
pub(crate) const UPTO_KEY: &str = "account_indexed_upto";

/// Longest an event waits before it is in `account_events` (while events keep coming; an
/// idle writer flushes on its idle tick).
pub(crate) const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Flush earlier than [`FLUSH_EVERY`] once this many pairs are waiting (bounds memory and
/// the size of one flush).
pub(crate) const FLUSH_MAX: usize = 200_000;

/// Pairs not yet in `account_events`, plus when they were last flushed.
#[derive(Debug)]
pub(crate) struct PendingIndex {
    pairs: Vec<(String, i64)>,
    /// Highest seq collected so far (the mark a flush records).
    high: i64,
    last_flush: Instant,
}

impl PendingIndex {
    /// Start from the rows above the stored mark (`pairs`, in seq order), due for a flush at
    /// the first commit so a restart catches up at once.
    pub(crate) fn new(pairs: Vec<(String, i64)>, upto: i64) -> PendingIndex {
        let high = pairs.last().map_or(upto, |p| p.1);
        let last_flush = Instant::now()
            .checked_sub(FLUSH_EVERY)
            .unwrap_or_else(Instant::now);
        PendingIndex {
            pairs,
            high,
            last_flush,
        }
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

    /// Time (or size) for a flush.
    pub(crate) fn due(&self) -> bool {
        !self.pairs.is_empty()
            && (self.pairs.len() >= FLUSH_MAX || self.last_flush.elapsed() >= FLUSH_EVERY)
    }

    /// Insert every pending pair (sorted, so each account's leaf is written once) and move
    /// the mark, inside `tx`. The pairs are dropped only by [`PendingIndex::flushed`], after
    /// the commit.
    pub(crate) fn write(&self, tx: &Transaction<'_>) -> rusqlite::Result<()> {
        // Sorted copies of the references: the pairs keep their collection order so a
        // rollback of this transaction can still truncate them.
        let mut sorted: Vec<&(String, i64)> = self.pairs.iter().collect();
        sorted.sort_unstable();
        let mut insert = tx.prepare_cached(
            "INSERT OR IGNORE INTO account_events (acct, ev_seq) VALUES (?1, ?2)",
        )?;
        for (account, seq) in sorted {
            insert.execute(params![account, seq])?;
        }
        tx.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?
            .execute(params![UPTO_KEY, self.high])?;
        Ok(())
    }

    /// The transaction that carried [`PendingIndex::write`] committed.
    pub(crate) fn flushed(&mut self) {
        self.pairs.clear();
        self.last_flush = Instant::now();
    }

    /// Pairs waiting.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.pairs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restart_with_rows_above_the_mark_is_due_at_once() {
        let p = PendingIndex::new(vec![("A".into(), 5)], 4);
        assert!(p.due());
        assert_eq!(p.mark(), (1, 5));
        let empty = PendingIndex::new(Vec::new(), 4);
        assert!(!empty.due(), "nothing to write");
        assert_eq!(empty.mark(), (0, 4));
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
}
