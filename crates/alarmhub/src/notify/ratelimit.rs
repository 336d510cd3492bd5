//! Per-channel rate limits with digest folding. Pure: given a channel's limits, the times
//! of its recent sends and how many notifications wait, decide what to send now.
//!
//! The policy, per window (a minute, a second) of limit `L`:
//! * half of `L` may go out as individual messages;
//! * beyond that the channel is in a storm: everything waiting is folded into one digest
//!   ("12 new alarms: …"), at most one digest per `window / (L - L/2)` — so a sustained
//!   storm still gets a message every few seconds instead of a minute of silence;
//! * nothing is ever sent when the window is full: the limit is never exceeded, and
//!   nothing is dropped — what cannot go now waits for the returned `next_ms`.
//!
//! Windows are counted a little longer than the service's (2 %), because the service
//! counts by its own clock and our requests reach it with varying delay.

use super::config::RateLimit;

/// What to send now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// The first `singles` waiting notifications (most urgent first) go out one by one.
    pub singles: usize,
    /// The next `digest` go out as one digest message (0: no digest; 1 never happens —
    /// a lone notification is sent as itself).
    pub digest: usize,
    /// When to plan again for what is left waiting (`None`: nothing is left).
    pub next_ms: Option<i64>,
}

impl Plan {
    /// How many messages this plan sends.
    pub fn messages(&self) -> usize {
        self.singles + usize::from(self.digest > 0)
    }
}

/// One limit over one window, as counted here.
#[derive(Debug, Clone, Copy)]
struct Window {
    limit: usize,
    span_ms: i64,
}

impl Window {
    fn new(limit: u32, service_span_ms: i64) -> Window {
        Window {
            limit: usize::try_from(limit).unwrap_or(usize::MAX).max(1),
            span_ms: service_span_ms + service_span_ms / 50,
        }
    }

    /// Sends at or before `now_ms` that still count.
    fn used(&self, history: &[i64], now_ms: i64) -> usize {
        history
            .iter()
            .filter(|&&t| t > now_ms - self.span_ms && t <= now_ms)
            .count()
    }

    /// Sends still allowed in the window.
    fn free(&self, history: &[i64], now_ms: i64) -> usize {
        self.limit.saturating_sub(self.used(history, now_ms))
    }

    /// Messages kept back for digests: the part of the limit above the singles budget.
    fn reserve(&self) -> usize {
        self.limit - self.limit / 2
    }

    /// Minimum spacing of digests in a storm.
    fn pace_ms(&self) -> i64 {
        let r = i64::try_from(self.reserve()).unwrap_or(i64::MAX);
        (self.span_ms / r).max(1)
    }

    /// When the oldest counted send leaves the window.
    fn frees_at(&self, history: &[i64], now_ms: i64) -> i64 {
        history
            .iter()
            .filter(|&&t| t > now_ms - self.span_ms)
            .min()
            .map_or(now_ms, |t| t + self.span_ms)
    }
}

fn windows(limit: RateLimit) -> Vec<Window> {
    let mut w = Vec::with_capacity(2);
    if let Some(n) = limit.per_second {
        w.push(Window::new(n, 1_000));
    }
    if let Some(n) = limit.per_minute {
        w.push(Window::new(n, 60_000));
    }
    w
}

/// The longest span any of `limit`'s windows counts: history older than this is useless.
pub fn history_span_ms(limit: RateLimit) -> i64 {
    windows(limit).iter().map(|w| w.span_ms).max().unwrap_or(0)
}

/// Decide what to send at `now_ms` when `pending` notifications wait, given the send times
/// in `history` (any order; older entries are ignored).
pub fn plan(limit: RateLimit, history: &[i64], pending: usize, now_ms: i64) -> Plan {
    let ws = windows(limit);
    if ws.is_empty() || pending == 0 {
        return Plan {
            singles: pending,
            digest: 0,
            next_ms: None,
        };
    }
    if let Some(wait) = full_until(&ws, history, now_ms) {
        return Plan {
            singles: 0,
            digest: 0,
            next_ms: Some(wait),
        };
    }
    let singles = ws
        .iter()
        .map(|w| w.free(history, now_ms).saturating_sub(w.reserve()))
        .min()
        .unwrap_or(0);
    if pending <= singles {
        return Plan {
            singles: pending,
            digest: 0,
            next_ms: None,
        };
    }
    storm(&ws, history, singles, pending - singles, now_ms)
}

/// When a full window (no free slot) frees up; `None` when every window has room.
fn full_until(ws: &[Window], history: &[i64], now_ms: i64) -> Option<i64> {
    ws.iter()
        .filter(|w| w.free(history, now_ms) == 0)
        .map(|w| w.frees_at(history, now_ms))
        .max()
}

/// Past the singles budget: `singles` go alone, the `rest` wait for the digest pace.
fn storm(ws: &[Window], history: &[i64], singles: usize, rest: usize, now_ms: i64) -> Plan {
    // Digests are paced from the newest earlier send, in the windows that are in a storm;
    // sends planned now do not count against the pace.
    let newest = history.iter().copied().filter(|&t| t <= now_ms).max();
    let paced_until = ws
        .iter()
        .filter(|w| w.free(history, now_ms) <= w.reserve())
        .filter_map(|w| newest.map(|t| t + w.pace_ms()))
        .max()
        .unwrap_or(now_ms);
    if singles == 0 && paced_until > now_ms {
        return Plan {
            singles: 0,
            digest: 0,
            next_ms: Some(paced_until),
        };
    }
    if rest == 1 {
        // A lone leftover goes as itself, in place of a digest of one.
        return Plan {
            singles: singles + 1,
            digest: 0,
            next_ms: None,
        };
    }
    Plan {
        singles,
        digest: rest,
        next_ms: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DING: RateLimit = RateLimit {
        per_minute: Some(20),
        per_second: None,
    };

    #[test]
    fn no_limit_sends_everything_individually() {
        let p = plan(RateLimit::default(), &[], 500, 0);
        assert_eq!((p.singles, p.digest, p.next_ms), (500, 0, None));
    }

    #[test]
    fn a_quiet_channel_sends_singles_up_to_half_its_limit() {
        let p = plan(DING, &[], 10, 0);
        assert_eq!((p.singles, p.digest), (10, 0));
        // One past the budget: the reserve pays for it, and a lone leftover is sent as
        // itself rather than as a digest of one.
        let p = plan(DING, &[], 11, 0);
        assert_eq!((p.singles, p.digest, p.messages()), (11, 0, 11));
    }

    #[test]
    fn a_burst_becomes_singles_and_one_digest() {
        let p = plan(DING, &[], 200, 0);
        assert_eq!((p.singles, p.digest, p.next_ms), (10, 190, None));
        assert_eq!(p.messages(), 11);
    }

    #[test]
    fn a_full_window_waits_until_its_oldest_send_leaves_it() {
        let history: Vec<i64> = (0..20).map(|i| i * 1000).collect();
        let p = plan(DING, &history, 3, 30_000);
        assert_eq!((p.singles, p.digest), (0, 0));
        assert_eq!(p.next_ms, Some(61_200), "60 s plus the 2 % margin");
    }

    #[test]
    fn storm_digests_are_paced() {
        // 15 sent just now: no singles left, digests 6.12 s apart (61.2 s / 10).
        let history = vec![1_000; 15];
        let p = plan(DING, &history, 40, 2_000);
        assert_eq!((p.singles, p.digest, p.next_ms), (0, 0, Some(7_120)));
        let p = plan(DING, &history, 40, 7_120);
        assert_eq!((p.singles, p.digest), (0, 40));
    }

    #[test]
    fn the_per_second_window_applies_with_the_per_minute_one() {
        let feishu = RateLimit {
            per_minute: Some(100),
            per_second: Some(5),
        };
        let p = plan(feishu, &[], 9, 0);
        assert_eq!((p.singles, p.digest), (2, 7));
        let p = plan(feishu, &[0, 0, 0], 9, 10);
        assert_eq!((p.singles, p.digest), (0, 0));
        assert_eq!(
            p.next_ms,
            Some(340),
            "pace of the second window: 1020 ms / 3"
        );
    }
}
