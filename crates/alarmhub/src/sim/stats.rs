//! Run-wide counters and ACK-latency histograms, shared by every virtual panel.
//!
//! Counters are relaxed atomics (a panel adds one per frame; nothing orders on them). The
//! histogram is log-linear like HdrHistogram: exact below 64 µs, then 32 sub-buckets per
//! power of two (≤ 3 % relative error) up to 2^36 µs, in one fixed array of 1,024 atomic
//! counts: recording is two atomic adds and never allocates.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
const LINEAR: u64 = 2 * SUB;
const MAX_EXP: u32 = 36;
const BUCKETS: usize = (LINEAR + (MAX_EXP as u64 - SUB_BITS as u64 - 1) * SUB) as usize;

/// A latency histogram in microseconds.
pub(crate) struct Histogram {
    counts: Box<[AtomicU64]>,
    max_us: AtomicU64,
}

fn bucket_of(us: u64) -> usize {
    let us = us.min((1 << MAX_EXP) - 1);
    if us < LINEAR {
        return us as usize;
    }
    let exp = 63 - us.leading_zeros(); // >= SUB_BITS + 1
    let mantissa = us >> (exp - SUB_BITS); // SUB..2*SUB
    (LINEAR + u64::from(exp - SUB_BITS - 1) * SUB + (mantissa - SUB)) as usize
}

/// The middle of bucket `i`, in microseconds.
fn bucket_value(i: usize) -> f64 {
    let i = i as u64;
    if i < LINEAR {
        return i as f64;
    }
    let exp = (i - LINEAR) / SUB + u64::from(SUB_BITS) + 1;
    let mantissa = (i - LINEAR) % SUB + SUB;
    let width = 1u64 << (exp - u64::from(SUB_BITS));
    (mantissa * width) as f64 + (width - 1) as f64 / 2.0
}

impl Histogram {
    pub(crate) fn new() -> Histogram {
        Histogram {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max_us: AtomicU64::new(0),
        }
    }

    pub(crate) fn record(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.counts[bucket_of(us)].fetch_add(1, Relaxed);
        self.max_us.fetch_max(us, Relaxed);
    }

    /// Percentiles (`qs` in 0..=1) in milliseconds, and the maximum; zeros when empty.
    pub(crate) fn percentiles_ms(&self, qs: &[f64]) -> (Vec<f64>, f64) {
        let counts: Vec<u64> = self.counts.iter().map(|c| c.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        let max_ms = self.max_us.load(Relaxed) as f64 / 1000.0;
        if total == 0 {
            return (vec![0.0; qs.len()], 0.0);
        }
        let out = qs
            .iter()
            .map(|q| {
                let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
                let mut seen = 0;
                for (i, c) in counts.iter().enumerate() {
                    seen += c;
                    if seen >= rank {
                        return (bucket_value(i) / 1000.0).min(max_ms);
                    }
                }
                max_ms
            })
            .collect();
        (out, max_ms)
    }
}

/// Counters of one run.
#[derive(Default)]
pub(crate) struct Counters {
    pub sent: AtomicU64,
    pub acked: AtomicU64,
    pub retransmits: AtomicU64,
    pub heartbeats_sent: AtomicU64,
    pub heartbeats_acked: AtomicU64,
    pub commands: AtomicU64,
    pub connections: AtomicU64,
    pub connected: AtomicU64,
    pub connected_max: AtomicU64,
    pub connect_errors: AtomicU64,
    pub disconnects: AtomicU64,
    pub ack_timeouts: AtomicU64,
    pub protocol_errors: AtomicU64,
    pub naks: AtomicU64,
    pub stale_acks: AtomicU64,
    pub overflow: AtomicU64,
    /// Frames sent and not ACKed yet (events and heartbeats).
    pub inflight: AtomicU64,
    /// Events generated and not sent yet, all panels together.
    pub backlog: AtomicU64,
    pub panels_started: AtomicU64,
}

/// Everything the panels report into.
pub(crate) struct Stats {
    pub c: Counters,
    pub events: Histogram,
    pub heartbeats: Histogram,
    samples: Mutex<Vec<String>>,
}

/// How many distinct error messages are kept for the summary.
const MAX_SAMPLES: usize = 5;

impl Stats {
    pub(crate) fn new() -> Stats {
        Stats {
            c: Counters::default(),
            events: Histogram::new(),
            heartbeats: Histogram::new(),
            samples: Mutex::new(Vec::new()),
        }
    }

    /// Count one in `counter` and keep `what` as an example for the summary.
    pub(crate) fn error(&self, counter: &AtomicU64, what: impl FnOnce() -> String) {
        counter.fetch_add(1, Relaxed);
        if self.samples.lock().map_or(true, |s| s.len() < MAX_SAMPLES) {
            self.note(what());
        }
    }

    /// Keep `what` as an example for the summary without counting it.
    pub(crate) fn note(&self, what: String) {
        let mut s = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        if s.len() < MAX_SAMPLES && !s.contains(&what) {
            s.push(what);
        }
    }

    pub(crate) fn connected(&self) {
        self.c.connections.fetch_add(1, Relaxed);
        let now = self.c.connected.fetch_add(1, Relaxed) + 1;
        self.c.connected_max.fetch_max(now, Relaxed);
    }

    pub(crate) fn samples(&self) -> Vec<String> {
        self.samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Add one to a counter.
pub(crate) fn inc(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

/// Subtract one from a gauge (never below zero).
pub(crate) fn dec(c: &AtomicU64) {
    let _ = c.fetch_update(Relaxed, Relaxed, |v| Some(v.saturating_sub(1)));
}

/// Read a counter.
pub(crate) fn get(c: &AtomicU64) -> u64 {
    c.load(Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_within_three_percent() {
        let mut last = 0;
        for us in (0..200_000u64).chain([1 << 30, (1 << 36) - 1]) {
            let b = bucket_of(us);
            assert!(b >= last && b < BUCKETS, "{us}");
            last = b;
            let v = bucket_value(b);
            assert!(
                (v - us as f64).abs() <= (us as f64 * 0.032).max(0.5),
                "{us} {v}"
            );
        }
    }

    #[test]
    fn percentiles_follow_the_recorded_values() {
        let h = Histogram::new();
        for ms in 1..=1000u64 {
            h.record(Duration::from_millis(ms));
        }
        let (p, max) = h.percentiles_ms(&[0.5, 0.99, 0.999]);
        assert!((p[0] - 500.0).abs() < 16.0, "{p:?}");
        assert!((p[1] - 990.0).abs() < 32.0, "{p:?}");
        assert!(p[2] <= max && (max - 1000.0).abs() < 0.001);
        assert_eq!(Histogram::new().percentiles_ms(&[0.5]).0, vec![0.0]);
    }
}
