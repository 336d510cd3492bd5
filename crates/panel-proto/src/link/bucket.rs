//! The per-connection token bucket: `rate` frames per second, at most `burst` in a row.
//!
//! Integer arithmetic in milli-tokens so that the same inputs always give the same waits
//! (tests and the fuzz target replay exactly). A frame that finds the bucket empty is not
//! taken: the link stops and tells the driver how long to wait, so a flooding panel is
//! slowed (its bytes wait in its own buffer and socket), never dropped.

/// One token in milli-tokens.
const TOKEN: u64 = 1000;

/// Token bucket state.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    /// Milli-tokens available.
    tokens: u64,
    /// Frames per second (= milli-tokens per millisecond).
    rate: u64,
    /// Most milli-tokens held.
    cap: u64,
    /// Monotonic ms of the last refill.
    last_ms: u64,
}

impl Bucket {
    /// A full bucket at `now_ms`; `rate` and `burst` are raised to at least 1.
    pub(crate) fn new(rate: u32, burst: u32, now_ms: u64) -> Bucket {
        let cap = u64::from(burst.max(1)) * TOKEN;
        Bucket {
            tokens: cap,
            rate: u64::from(rate.max(1)),
            cap,
            last_ms: now_ms,
        }
    }

    /// Take one token at `now_ms`. `None`: taken. `Some(ms)`: none left; the next one is
    /// there in `ms` milliseconds (at least 1).
    pub(crate) fn take(&mut self, now_ms: u64) -> Option<u64> {
        // A clock that goes backwards (it should not) refills nothing instead of underflowing.
        let dt = now_ms.saturating_sub(self.last_ms);
        self.last_ms = self.last_ms.max(now_ms);
        self.tokens = self
            .tokens
            .saturating_add(dt.saturating_mul(self.rate))
            .min(self.cap);
        if self.tokens >= TOKEN {
            self.tokens -= TOKEN;
            return None;
        }
        Some((TOKEN - self.tokens).div_ceil(self.rate).max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_gives_the_burst_then_asks_to_wait_one_token_interval() {
        let mut b = Bucket::new(4, 2, 0);
        assert_eq!(b.take(0), None);
        assert_eq!(b.take(0), None);
        assert_eq!(b.take(0), Some(250));
        assert_eq!(b.take(100), Some(150), "100 ms refilled 0.4 token");
        assert_eq!(b.take(250), None);
        assert_eq!(b.take(250), Some(250));
    }

    #[test]
    fn idle_time_refills_only_up_to_the_burst() {
        let mut b = Bucket::new(10, 3, 0);
        for _ in 0..3 {
            assert_eq!(b.take(0), None);
        }
        let later = 1_000_000;
        for _ in 0..3 {
            assert_eq!(b.take(later), None);
        }
        assert_eq!(b.take(later), Some(100));
    }

    #[test]
    fn zero_rate_and_burst_are_treated_as_one_and_huge_gaps_do_not_overflow() {
        let mut b = Bucket::new(0, 0, 0);
        assert_eq!(b.take(0), None);
        assert_eq!(b.take(0), Some(1000));
        assert_eq!(b.take(u64::MAX), None);
        assert_eq!(b.take(5), Some(1000), "a clock going back refills nothing");
    }
}
