//! The rate of unauthenticated calls per source address (`[auth] unauthenticated_per_min`):
//! a call that presents no token or a bad one takes a token from its address's bucket
//! (refilled at the configured rate per minute, holding at most that many); with none left
//! it is refused with `RESOURCE_EXHAUSTED` and a retry-after, not audited and not logged
//! one line each — so a flood of unauthenticated calls from one address costs a table
//! look-up each, not an audit row and a log line, and the other callers (any caller with a
//! valid token, from that address too) keep working.
//!
//! Memory is bounded: at most `MAX_SOURCES` addresses are tracked; when full, the buckets
//! that have refilled are forgotten (a full bucket is the same as none), and if none has,
//! the new address is not limited.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses tracked at most.
const MAX_SOURCES: usize = 50_000;

/// Per-address token buckets of unauthenticated calls.
#[derive(Debug)]
pub struct UnauthenticatedRate {
    per_min: u32,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl UnauthenticatedRate {
    /// At most `per_min` unauthenticated calls per minute per address, in bursts of up to
    /// `per_min` (0: no limit).
    pub fn new(per_min: u32) -> UnauthenticatedRate {
        UnauthenticatedRate {
            per_min,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// One unauthenticated call from `source` at `now`: `None` when it may be answered as
    /// such, `Some(wait)` when the address has used up its calls (retry after `wait`).
    pub fn take(&self, source: IpAddr, now: Instant) -> Option<Duration> {
        if self.per_min == 0 {
            return None;
        }
        let burst = f64::from(self.per_min);
        let per_sec = burst / 60.0;
        let refill = |tokens: f64, at: Instant| {
            (tokens + now.saturating_duration_since(at).as_secs_f64() * per_sec).min(burst)
        };
        let mut m = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if !m.contains_key(&source) && m.len() >= MAX_SOURCES {
            m.retain(|_, (tokens, at)| refill(*tokens, *at) < burst);
            if m.len() >= MAX_SOURCES {
                return None;
            }
        }
        let (tokens, at) = m.entry(source).or_insert((burst, now));
        *tokens = refill(*tokens, *at);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            return None;
        }
        let wait = (1.0 - *tokens) / per_sec;
        Some(Duration::from_secs_f64(wait).max(Duration::from_secs(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_burst_then_the_rate_and_others_are_not_affected() {
        let r = UnauthenticatedRate::new(60);
        let a: IpAddr = [10, 0, 0, 1].into();
        let t0 = Instant::now();
        let answered = (0..100).filter(|_| r.take(a, t0).is_none()).count();
        assert_eq!(answered, 60, "the burst");
        let wait = r.take(a, t0).expect("over");
        assert!(wait >= Duration::from_secs(1), "{wait:?}");
        assert!(r.take([10, 0, 0, 2].into(), t0).is_none(), "per address");
        assert!(
            r.take(a, t0 + Duration::from_millis(1100)).is_none(),
            "one call a second comes back"
        );
        let off = UnauthenticatedRate::new(0);
        assert!((0..1000).all(|_| off.take(a, t0).is_none()), "0: no limit");
    }
}
