//! Reconnect pauses: doubling from a minimum to a maximum, with ±20 % jitter so that many
//! nodes do not reconnect in step, and a reset after a good connection.

use std::time::Duration;

/// Exponential backoff state.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Pauses from `min` doubling up to `max`.
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            next: min,
        }
    }

    /// The pause before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        let jitter = rand::random_range(0.8..1.2);
        base.mul_f64(jitter)
    }

    /// A connection worked: start again from the minimum.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_maximum_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(5));
        let secs: Vec<f64> = (0..5).map(|_| b.next_delay().as_secs_f64()).collect();
        for (got, base) in secs.iter().zip([1.0, 2.0, 4.0, 5.0, 5.0]) {
            assert!((base * 0.8..=base * 1.2).contains(got), "{got} vs {base}");
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(1200));
    }
}
