//! The failed-authentication limiter: at most [`MAX_FAILURES`] failures per
//! [`WINDOW`] from one source address, and separately for one user name; beyond that every
//! attempt is refused (gRPC `RESOURCE_EXHAUSTED`, HTTP 429) until the oldest failure leaves
//! the window. Per name as well as per address, so spreading a password guess over many
//! addresses does not help.
//!
//! Memory is bounded: at most `MAX_KEYS` keys are tracked; when full, keys whose failures
//! have all expired are dropped first, then the key seen least recently.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed in one window.
pub const MAX_FAILURES: usize = 10;
/// The sliding window.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Keys tracked at most.
const MAX_KEYS: usize = 50_000;

/// Sliding-window failure counter per key (`addr:1.2.3.4`, `user:alice`).
#[derive(Debug, Default)]
pub struct Limiter {
    keys: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Limiter {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Instant>>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Some(wait)` when `key` has used up its failures: refuse and say when to retry.
    pub fn blocked(&self, key: &str, now: Instant) -> Option<Duration> {
        let mut keys = self.lock();
        let q = keys.get_mut(key)?;
        expire(q, now);
        if q.len() < MAX_FAILURES {
            return None;
        }
        let oldest = *q.front()?;
        Some(
            (oldest + WINDOW)
                .saturating_duration_since(now)
                .max(Duration::from_secs(1)),
        )
    }

    /// Count a failure for `key`.
    pub fn fail(&self, key: &str, now: Instant) {
        let mut keys = self.lock();
        if keys.len() >= MAX_KEYS && !keys.contains_key(key) {
            keys.retain(|_, q| {
                expire(q, now);
                !q.is_empty()
            });
            if keys.len() >= MAX_KEYS {
                let stalest = keys
                    .iter()
                    .min_by_key(|(_, q)| q.back().copied())
                    .map(|(k, _)| k.clone());
                if let Some(k) = stalest {
                    keys.remove(&k);
                }
            }
        }
        let q = keys.entry(key.to_string()).or_default();
        expire(q, now);
        q.push_back(now);
        while q.len() > MAX_FAILURES {
            q.pop_front();
        }
    }

    /// Forget `key`'s failures (a user who then logged in correctly).
    pub fn clear(&self, key: &str) {
        self.lock().remove(key);
    }
}

fn expire(q: &mut VecDeque<Instant>, now: Instant) {
    while q
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
    {
        q.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_failures_block_until_the_first_leaves_the_window() {
        let l = Limiter::default();
        let t0 = Instant::now();
        for i in 0..MAX_FAILURES {
            assert_eq!(l.blocked("addr:a", t0), None, "after {i}");
            l.fail("addr:a", t0 + Duration::from_secs(i as u64));
        }
        let now = t0 + Duration::from_secs(10);
        assert_eq!(l.blocked("addr:a", now), Some(Duration::from_secs(50)));
        assert_eq!(
            l.blocked("addr:b", now),
            None,
            "other keys are not affected"
        );
        assert_eq!(l.blocked("addr:a", t0 + WINDOW), None);
    }

    #[test]
    fn clear_forgets_and_memory_stays_bounded() {
        let l = Limiter::default();
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES {
            l.fail("user:x", t0);
        }
        l.clear("user:x");
        assert_eq!(l.blocked("user:x", t0), None);
        for i in 0..(MAX_KEYS + 10) {
            l.fail(&format!("addr:{i}"), t0);
        }
        assert!(l.lock().len() <= MAX_KEYS);
    }
}
