//! What the receiver remembers across connections to keep one bad actor from hurting every
//! panel: new unknown accounts per source address per minute, the security events already
//! raised per account (at most one per interval), and the refusals already logged per
//! source (one line per minute with a count). Every table is bounded.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::logging::summary::Summary;

/// Sources tracked by [`NewAccounts`] at most; beyond it the windows that ended are
/// forgotten, and if none has, every further source shares one window (still bounded).
const MAX_SOURCES: usize = 100_000;
/// The length of one [`NewAccounts`] window.
const MINUTE: Duration = Duration::from_secs(60);

/// Per-source count of new unknown accounts in the current minute.
#[derive(Debug, Default)]
pub struct NewAccounts {
    sources: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl NewAccounts {
    /// Whether `source` may bring one more new account at `now` under `per_min` (0: no
    /// limit); counts it when it may.
    pub fn admit(&self, source: IpAddr, per_min: u32, now: Instant) -> bool {
        if per_min == 0 {
            return true;
        }
        let mut m = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        if !m.contains_key(&source) && m.len() >= MAX_SOURCES {
            m.retain(|_, (start, _)| now.saturating_duration_since(*start) < MINUTE);
        }
        let key = if m.contains_key(&source) || m.len() < MAX_SOURCES {
            source
        } else {
            IpAddr::from([0u8; 4])
        };
        let (start, n) = m.entry(key).or_insert((now, 0));
        if now.saturating_duration_since(*start) >= MINUTE {
            *start = now;
            *n = 0;
        }
        if *n >= per_min {
            return false;
        }
        *n += 1;
        true
    }
}

/// The receiver's cross-connection guards.
#[derive(Debug)]
pub struct Guards {
    /// New unknown accounts per source.
    pub new_accounts: NewAccounts,
    /// Security events raised, per `kind:account` (one per `security_event_interval_secs`).
    pub security_events: Summary,
    /// Refusal log lines, per `reason:source` (one per minute, with a count).
    pub refusals: Summary,
    /// Sources refused for a while after too much invalid input.
    pub penalty: super::penalty::PenaltyBox,
}

impl Guards {
    /// Guards raising at most one security event per account per `security_interval`.
    pub fn new(security_interval: Duration) -> Guards {
        Guards {
            new_accounts: NewAccounts::default(),
            security_events: Summary::new(security_interval),
            refusals: Summary::new(MINUTE),
            penalty: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_brings_at_most_its_limit_of_new_accounts_per_minute() {
        let n = NewAccounts::default();
        let t0 = Instant::now();
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let admitted = (0..100).filter(|_| n.admit(a, 60, t0)).count();
        assert_eq!(admitted, 60);
        assert!(n.admit(b, 60, t0), "other sources are not affected");
        assert!(n.admit(a, 60, t0 + MINUTE), "a new minute, a new allowance");
        assert!(n.admit(a, 0, t0), "0 means no limit");
    }
}
