//! The daemon's one wall clock: [`now_ms`] (Unix milliseconds) for event receive times, the
//! dedup window, snapshot and cursor stamps, and frame timestamps. [`Clock`] is the same
//! clock as a value a component is given, so a test can hand the store a manual clock and
//! step it across the dedup window instead of waiting five minutes.
//!
//! Durations and deadlines use `tokio::time::Instant` / `std::time::Instant`, never this.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Wall clock now, Unix milliseconds (0 if the system clock is before 1970).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A source of "now": the system clock ([`Clock::system`], the default) or a manual clock a
/// test sets ([`Clock::manual`]). Cheap to clone; clones of a manual clock share its time.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system wall clock ([`now_ms`]).
    pub fn system() -> Clock {
        Clock::default()
    }

    /// A clock that reads `start_ms` until it is [`Clock::set_ms`] or [`Clock::advance_ms`].
    pub fn manual(start_ms: i64) -> Clock {
        Clock {
            manual: Some(Arc::new(AtomicI64::new(start_ms))),
        }
    }

    /// Now, Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        match &self.manual {
            Some(t) => t.load(Ordering::SeqCst),
            None => now_ms(),
        }
    }

    /// Set a manual clock (no effect on the system clock).
    pub fn set_ms(&self, ms: i64) {
        if let Some(t) = &self.manual {
            t.store(ms, Ordering::SeqCst);
        }
    }

    /// Move a manual clock by `ms` (no effect on the system clock).
    pub fn advance_ms(&self, ms: i64) {
        if let Some(t) = &self.manual {
            t.fetch_add(ms, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_is_shared_by_its_clones_and_the_system_clock_moves_on() {
        let c = Clock::manual(1_000);
        let d = c.clone();
        c.advance_ms(500);
        assert_eq!(d.now_ms(), 1_500);
        d.set_ms(7);
        assert_eq!(c.now_ms(), 7);
        let s = Clock::system();
        s.set_ms(7);
        assert!(s.now_ms() > 1_600_000_000_000);
    }
}
