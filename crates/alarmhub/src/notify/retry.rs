//! The retry schedule: when a failed delivery is tried again, and when it is given up.
//!
//! Pure: the attempt number, the times and a random number in, a decision out. The delays
//! grow 5 s, 30 s, 2 min, 10 min, 1 h and then stay at an hour; each is spread by ±20 %
//! so that deliveries that failed together (a service outage) do not return together. A
//! delivery still failing `give_up_after` (default 24 h) after it was first queued becomes
//! a dead letter, shown to operators instead of retried forever.

use std::time::Duration;

/// Delay before retry `n` (1-based), before jitter; the last one repeats.
pub const SCHEDULE: [Duration; 5] = [
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(120),
    Duration::from_secs(600),
    Duration::from_secs(3600),
];

/// How far a delay is spread: ±20 %.
const JITTER: f64 = 0.2;

/// The delay before retry `attempt` (1 = the first retry), spread by `random` in `[0, 1)`.
pub fn backoff(attempt: u32, random: f64) -> Duration {
    let i = usize::try_from(attempt.max(1) - 1).unwrap_or(usize::MAX);
    let base = SCHEDULE[i.min(SCHEDULE.len() - 1)];
    let factor = 1.0 - JITTER + 2.0 * JITTER * random.clamp(0.0, 1.0);
    base.mul_f64(factor)
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Try again at this Unix millisecond.
    At(i64),
    /// Give up: the delivery has been failing for too long.
    DeadLetter,
}

/// After attempt number `attempt` failed at `now_ms` for a delivery first queued at
/// `queued_ms`: retry when, or give up. A service's own `Retry-After` is honoured when it
/// asks for more patience than the schedule; the last retry happens at the deadline.
pub fn next_attempt(
    attempt: u32,
    queued_ms: i64,
    now_ms: i64,
    retry_after: Option<Duration>,
    random: f64,
    give_up_after: Duration,
) -> RetryDecision {
    let deadline = queued_ms.saturating_add(millis(give_up_after));
    if now_ms >= deadline {
        return RetryDecision::DeadLetter;
    }
    let delay = backoff(attempt, random).max(retry_after.unwrap_or_default());
    RetryDecision::At(now_ms.saturating_add(millis(delay)).min(deadline))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn delays_follow_the_schedule_with_bounded_jitter() {
        let secs = |a, r| backoff(a, r).as_secs_f64();
        assert_eq!(secs(1, 0.5), 5.0);
        assert_eq!(secs(2, 0.5), 30.0);
        assert_eq!(secs(3, 0.5), 120.0);
        assert_eq!(secs(4, 0.5), 600.0);
        assert_eq!(secs(5, 0.5), 3600.0);
        assert_eq!(secs(50, 0.5), 3600.0);
        assert_eq!(secs(1, 0.0), 4.0);
        assert!((secs(1, 0.999_999) - 6.0).abs() < 1e-3);
        assert_eq!(secs(0, 0.5), 5.0, "attempt 0 is treated as the first retry");
    }

    #[test]
    fn retry_after_stretches_a_delay_but_never_past_the_deadline() {
        let d = next_attempt(1, 0, 1_000, Some(Duration::from_secs(60)), 0.5, DAY);
        assert_eq!(d, RetryDecision::At(61_000));
        let d = next_attempt(1, 0, 1_000, Some(Duration::from_secs(1)), 0.5, DAY);
        assert_eq!(
            d,
            RetryDecision::At(6_000),
            "the schedule wins when it is longer"
        );
        let near = 86_400_000 - 10_000;
        assert_eq!(
            next_attempt(5, 0, near, None, 0.5, DAY),
            RetryDecision::At(86_400_000)
        );
        assert_eq!(
            next_attempt(6, 0, 86_400_000, None, 0.5, DAY),
            RetryDecision::DeadLetter
        );
    }

    #[test]
    fn a_day_of_failures_takes_about_thirty_attempts() {
        let (mut now, mut attempts) = (0i64, 0u32);
        while let RetryDecision::At(t) = next_attempt(attempts + 1, 0, now, None, 0.5, DAY) {
            assert!(t > now);
            now = t;
            attempts += 1;
            assert!(attempts < 100);
        }
        assert!((24..=30).contains(&attempts), "{attempts}");
    }
}
