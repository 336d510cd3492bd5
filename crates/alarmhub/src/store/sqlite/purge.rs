//! The SQL side of removing old events, one short step at a time (the writer thread decides
//! when a step may run, `purge_pacing.rs`).
//!
//! A step removes the oldest events as one range of seqs: it reads at most `max_rows` rows
//! from the start of `events` (seq order is receive order) and stops at the first one that
//! must stay (received at or after the cutoff, or at or above the seq the snapshot covers),
//! then deletes everything below it with one `seq < ?` range delete. That walks a few
//! neighbouring pages of the table and of `events_received_at` instead of looking rows up
//! one by one.
//!
//! `account_events` is keyed by account first, so deleting each removed event's entry there
//! dirtied one page per event (about 2 MiB of WAL for 500 events from 1,000 panels). Its
//! entries are removed later instead, by a sweep: for each account, everything below the
//! oldest stored event in one range delete, a few accounts per step. Until then the
//! leftover entries are invisible (queries join them to `events`). A sweep runs when a pass
//! ends (a step found fewer events than asked) and every [`SWEEP_SPAN`] seqs of a long one.
//!
//! Steps are committed with `synchronous = NORMAL`: no fsync of their own. WAL frames are
//! written in order and the next event commit (`FULL`) syncs the file up to its own end,
//! so a removal is durable with it; a crash before that only forgets the removal (the next
//! pass redoes it), never corrupts or half-applies it.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

use crate::store::StoreError;

/// Start a sweep in the middle of a pass once the oldest event moved this many seqs past
/// the last sweep, so a long backlog does not leave its index entries until the end.
pub(crate) const SWEEP_SPAN: i64 = 100_000;

/// What one purge step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PurgeStep {
    /// Events removed.
    pub(crate) removed: usize,
    /// There may be more to do for this pass (events or the sweep of the index).
    pub(crate) more: bool,
}

/// The index sweep in progress.
#[derive(Debug)]
struct Sweep {
    /// Entries below this seq are removed (the oldest stored event when the sweep began).
    below: i64,
    /// The last account swept; `None` before the first.
    after: Option<String>,
}

/// What the purge remembers between steps (in memory: after a restart the first pass
/// ending sweeps everything below the oldest event again, which is cheap when clean).
#[derive(Debug, Default)]
pub(crate) struct PurgeState {
    sweep: Option<Sweep>,
    /// Entries of `account_events` below this seq are known to be gone.
    swept_below: i64,
    /// Events removed since the last sweep began.
    removed_since_sweep: usize,
}

/// One step: the next slice of the index sweep when one is running, else remove at most
/// `max_rows` of the oldest events received before `before_ms` with `seq < below_seq`.
/// The sweep visits accounts until `budget` is spent (at least one).
pub(crate) fn step(
    conn: &mut Connection,
    path: &Path,
    state: &mut PurgeState,
    (before_ms, below_seq, max_rows): (i64, i64, usize),
    budget: Duration,
) -> Result<PurgeStep, StoreError> {
    let err = |e| StoreError::sqlite("purge events", path, e);
    if state.sweep.is_some() {
        sweep_step(conn, state, budget).map_err(err)?;
        return Ok(PurgeStep {
            removed: 0,
            more: true,
        });
    }
    let tx = begin(conn).map_err(err)?;
    let removed = remove_oldest(&tx, before_ms, below_seq, max_rows).map_err(err)?;
    let oldest = oldest_seq(&tx).map_err(err)?;
    tx.commit().map_err(err)?;
    state.removed_since_sweep += removed;
    let ended = removed < max_rows;
    let due = oldest.saturating_sub(state.swept_below) >= SWEEP_SPAN
        || (ended && state.removed_since_sweep > 0)
        || (ended && state.swept_below == 0);
    if due && oldest > state.swept_below {
        state.sweep = Some(Sweep {
            below: oldest,
            after: None,
        });
        state.removed_since_sweep = 0;
    }
    Ok(PurgeStep {
        removed,
        more: !ended || state.sweep.is_some(),
    })
}

fn begin(conn: &mut Connection) -> rusqlite::Result<Transaction<'_>> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
}

/// The lowest stored seq; with no events, one past the highest seq ever given (everything
/// indexed is then gone).
fn oldest_seq(tx: &Transaction<'_>) -> rusqlite::Result<i64> {
    tx.prepare_cached(
        "SELECT COALESCE((SELECT MIN(seq) FROM events), \
         (SELECT seq + 1 FROM sqlite_sequence WHERE name = 'events'), 0)",
    )?
    .query_row([], |r| r.get(0))
}

/// Remove the leading run of events that may go (at most `max_rows`); how many.
fn remove_oldest(
    tx: &Transaction<'_>,
    before_ms: i64,
    below_seq: i64,
    max_rows: usize,
) -> rusqlite::Result<usize> {
    let limit = i64::try_from(max_rows).unwrap_or(i64::MAX);
    let mut n = 0;
    // One past the last event that goes.
    let mut end = None;
    {
        let mut stmt =
            tx.prepare_cached("SELECT seq, received_at_ms FROM events ORDER BY seq LIMIT ?1")?;
        let mut rows = stmt.query([limit])?;
        while let Some(row) = rows.next()? {
            let (seq, at): (i64, i64) = (row.get(0)?, row.get(1)?);
            if seq >= below_seq || at >= before_ms {
                break;
            }
            n += 1;
            end = Some(seq + 1);
        }
    }
    if let Some(end) = end {
        // Everything below `end` is the run just read: nothing older is stored.
        tx.prepare_cached("DELETE FROM events WHERE seq < ?1")?
            .execute([end])?;
    }
    Ok(n)
}

/// Remove the index entries below the sweep's seq for the next accounts, until `budget` is
/// spent; ends the sweep after the last account.
fn sweep_step(
    conn: &mut Connection,
    state: &mut PurgeState,
    budget: Duration,
) -> rusqlite::Result<()> {
    let Some(sweep) = state.sweep.as_ref() else {
        return Ok(());
    };
    let below = sweep.below;
    let mut after = sweep.after.clone();
    let started = Instant::now();
    let tx = begin(conn)?;
    let mut finished = false;
    loop {
        let next: Option<String> = match &after {
            None => tx
                .prepare_cached("SELECT acct FROM account_events ORDER BY acct LIMIT 1")?
                .query_row([], |r| r.get(0))
                .optional()?,
            Some(a) => tx
                .prepare_cached(
                    "SELECT acct FROM account_events WHERE acct > ?1 ORDER BY acct LIMIT 1",
                )?
                .query_row([a], |r| r.get(0))
                .optional()?,
        };
        let Some(acct) = next else {
            finished = true;
            break;
        };
        tx.prepare_cached("DELETE FROM account_events WHERE acct = ?1 AND ev_seq < ?2")?
            .execute(params![acct, below])?;
        after = Some(acct);
        if started.elapsed() >= budget {
            break;
        }
    }
    tx.commit()?;
    if finished {
        state.swept_below = below;
        state.sweep = None;
    } else if let Some(s) = state.sweep.as_mut() {
        s.after = after;
    }
    Ok(())
}
