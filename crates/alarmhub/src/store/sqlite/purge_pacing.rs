//! When the writer thread may spend time removing old events: purges yield to commits.
//!
//! A purge request is not run when the writer takes it. It waits as a [`PurgeJob`] and is
//! worked off in short steps (`WriteConn::purge_step`), each only when
//! * no request is queued — so an append already queued is committed first, and one that
//!   arrives during a step waits for that one step at most (about [`STEP_TARGET`]);
//! * and the [`Pacer`]'s budget allows: steps take at most a quarter of the writer's time
//!   ([`PAUSE_FACTOR`]), so the panels' commits keep most of the disk and the CPU while a
//!   backlog goes.
//!
//! Under a load that never lets the queue empty, a step still runs after a commit once the
//! job has waited [`STARVE`], so a purge always finishes.

use std::time::{Duration, Instant};

use super::writer::Reply;

/// A purge step should take about this long (rows per step adapt to it).
pub(crate) const STEP_TARGET: Duration = Duration::from_micros(500);
/// Each step buys a pause this many times as long before the next: steps take at most a
/// quarter of the writer's time.
pub(crate) const PAUSE_FACTOR: u32 = 3;
/// A job that waited this long for an empty queue gets a step after the next commit.
pub(crate) const STARVE: Duration = Duration::from_millis(200);
/// Rows per step, first and at least (about 0.4 ms of work on the benchmark machine).
const FIRST_ROWS: usize = 256;
const MIN_ROWS: usize = 128;
/// Rows per step at most.
const MAX_ROWS: usize = 4_096;

/// One `Purge` request being worked off.
pub(crate) struct PurgeJob {
    pub(crate) before_ms: i64,
    pub(crate) below_seq: i64,
    /// Events the request may still remove.
    pub(crate) left: usize,
    /// Events removed so far.
    pub(crate) removed: usize,
    pub(crate) reply: Reply<usize>,
    /// The last step (or the request's arrival).
    pub(crate) last_step: Instant,
}

impl PurgeJob {
    pub(crate) fn new(
        before_ms: i64,
        below_seq: i64,
        max_rows: usize,
        reply: Reply<usize>,
    ) -> Self {
        PurgeJob {
            before_ms,
            below_seq,
            left: max_rows,
            removed: 0,
            reply,
            last_step: Instant::now(),
        }
    }

    /// Waited long enough for an empty queue to take a step anyway.
    pub(crate) fn starved(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_step) >= STARVE
    }
}

/// The budget of writer time for purge steps and the size of the next one.
#[derive(Debug)]
pub(crate) struct Pacer {
    /// Rows the next step asks for.
    rows: usize,
    /// No step before this.
    next_at: Instant,
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer {
            rows: FIRST_ROWS,
            next_at: Instant::now(),
        }
    }
}

impl Pacer {
    /// Rows for the next step (at most `left`).
    pub(crate) fn rows(&self, left: usize) -> usize {
        self.rows.min(left)
    }

    /// How long until the budget allows the next step (zero: now).
    pub(crate) fn wait(&self, now: Instant) -> Duration {
        self.next_at.saturating_duration_since(now)
    }

    /// A step of `asked` rows ended at `now` after `took`: spend the budget and adapt the
    /// step size towards [`STEP_TARGET`].
    pub(crate) fn stepped(&mut self, asked: usize, took: Duration, now: Instant) {
        self.next_at = now + took * PAUSE_FACTOR;
        if took > STEP_TARGET {
            self.rows = (self.rows / 2).max(MIN_ROWS);
        } else if took < STEP_TARGET / 2 && asked >= self.rows {
            self.rows = (self.rows * 2).min(MAX_ROWS);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_step_size_halves_when_slow_and_doubles_when_quick_within_bounds() {
        let mut p = Pacer::default();
        let t = Instant::now();
        p.stepped(FIRST_ROWS, STEP_TARGET * 3, t);
        assert_eq!(p.rows(usize::MAX), FIRST_ROWS / 2);
        for _ in 0..10 {
            p.stepped(usize::MAX, STEP_TARGET * 3, t);
        }
        assert_eq!(p.rows(usize::MAX), MIN_ROWS);
        for _ in 0..20 {
            p.stepped(usize::MAX, STEP_TARGET / 4, t);
        }
        assert_eq!(p.rows(usize::MAX), MAX_ROWS);
        assert_eq!(p.rows(5), 5);
        // A step cut short by what was left says nothing about a bigger one.
        let mut q = Pacer::default();
        q.stepped(3, Duration::ZERO, t);
        assert_eq!(q.rows(usize::MAX), FIRST_ROWS);
    }

    #[test]
    fn a_step_buys_a_pause_three_times_as_long() {
        let mut p = Pacer::default();
        let t = Instant::now();
        assert_eq!(p.wait(t), Duration::ZERO);
        p.stepped(1, Duration::from_micros(200), t);
        assert_eq!(p.wait(t), Duration::from_micros(600));
        assert_eq!(p.wait(t + Duration::from_millis(1)), Duration::ZERO);
        // A slow step (a slow disk, a busy machine) buys a long pause: the commits keep
        // three quarters of the writer's time whatever a step costs.
        p.stepped(1, Duration::from_millis(20), t);
        assert_eq!(p.wait(t), Duration::from_millis(60));
    }
}
