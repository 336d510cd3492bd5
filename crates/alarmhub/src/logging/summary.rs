//! Log lines that summarise instead of repeating: [`Summary`] says, per key (a source
//! address, an account, a reason), whether to write a line now — the first occurrence, then
//! at most one per interval carrying how many were suppressed since the last — so one
//! misbehaving peer cannot turn its garbage into gigabytes of log.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most keys tracked; beyond it, keys idle for a whole interval are forgotten, and if that
/// frees nothing every further key shares one catch-all entry.
const MAX_KEYS: usize = 10_000;
/// The key every key shares once [`MAX_KEYS`] are busy.
const OVERFLOW_KEY: &str = "*";

/// Per-key "log now or count" decisions.
#[derive(Debug)]
pub struct Summary {
    interval: Duration,
    keys: Mutex<HashMap<String, Entry>>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    logged_at: Instant,
    suppressed: u64,
}

impl Summary {
    /// At most one line per key per `interval`.
    pub fn new(interval: Duration) -> Summary {
        Summary {
            interval,
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// One more occurrence of `key` at `now`: `Some(n)` means write a line now, `n`
    /// occurrences having been suppressed since the previous line; `None` means only count.
    pub fn note(&self, key: &str, now: Instant) -> Option<u64> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if !keys.contains_key(key) && keys.len() >= MAX_KEYS {
            let interval = self.interval;
            keys.retain(|_, e| now.saturating_duration_since(e.logged_at) < interval);
        }
        let key = if keys.contains_key(key) || keys.len() < MAX_KEYS {
            key
        } else {
            OVERFLOW_KEY
        };
        match keys.get_mut(key) {
            None => {
                keys.insert(
                    key.to_string(),
                    Entry {
                        logged_at: now,
                        suppressed: 0,
                    },
                );
                Some(0)
            }
            Some(e) if now.saturating_duration_since(e.logged_at) >= self.interval => {
                let n = e.suppressed;
                *e = Entry {
                    logged_at: now,
                    suppressed: 0,
                };
                Some(n)
            }
            Some(e) => {
                e.suppressed += 1;
                None
            }
        }
    }
}

/// The same decision for one connection's own stream of occurrences (no key, no lock).
#[derive(Debug, Default, Clone, Copy)]
pub struct Counter {
    logged_at: Option<Instant>,
    suppressed: u64,
}

impl Counter {
    /// One more occurrence at `now`: `Some(n)` to write a line (after `n` suppressed).
    pub fn note(&mut self, now: Instant, interval: Duration) -> Option<u64> {
        match self.logged_at {
            Some(t) if now.saturating_duration_since(t) < interval => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.logged_at = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }

    /// Occurrences not written yet (for a closing summary).
    pub fn pending(&self) -> u64 {
        self.suppressed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_occurrence_is_logged_then_one_line_per_interval_with_the_count() {
        let s = Summary::new(Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(s.note("10.0.0.1", t0), Some(0));
        for i in 1..=1000 {
            assert_eq!(s.note("10.0.0.1", t0 + Duration::from_millis(i)), None);
        }
        assert_eq!(s.note("10.0.0.2", t0), Some(0), "keys are independent");
        assert_eq!(s.note("10.0.0.1", t0 + Duration::from_secs(60)), Some(1000));
        assert_eq!(s.note("10.0.0.1", t0 + Duration::from_secs(61)), None);
    }

    #[test]
    fn a_flood_of_distinct_keys_stays_bounded() {
        let s = Summary::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let logged = (0..MAX_KEYS + 5000)
            .filter(|i| s.note(&i.to_string(), t0).is_some())
            .count();
        assert_eq!(logged, MAX_KEYS + 1, "the overflow key logs once");
        assert!(s.keys.lock().unwrap_or_else(|p| p.into_inner()).len() <= MAX_KEYS + 1);
    }

    #[test]
    fn a_counter_logs_the_first_then_once_per_interval() {
        let mut c = Counter::default();
        let t0 = Instant::now();
        let i = Duration::from_secs(60);
        assert_eq!(c.note(t0, i), Some(0));
        assert_eq!(c.note(t0 + Duration::from_secs(1), i), None);
        assert_eq!(c.pending(), 1);
        assert_eq!(c.note(t0 + Duration::from_secs(60), i), Some(1));
    }
}
