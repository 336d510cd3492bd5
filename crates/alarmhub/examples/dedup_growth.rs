//! How long one commit's dedup bookkeeping can take while the retransmission window fills:
//! the store's sharded [`DedupWindow`] against one `HashMap` plus one `VecDeque` (the
//! layout it replaced), fed the same keys in the same run (`bench/dedup.sh`).
//!
//! A writer at `--rate` events/s for `--secs` seconds of simulated time commits batches of
//! `--batch` events; before each batch it expires what is older than `--window` seconds.
//! Every batch is timed (`Instant`, one thread, nothing else in the loop). A one-map window
//! doubles all at once when it is full, inside one batch; that batch is the worst case.
//!
//! `cargo run --release -p alarmhub --example dedup_growth -- --rate 36000 --window 300 --secs 400`
//! prints one JSON line per layout and round.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use alarmhub::store::sqlite::dedup::DedupWindow;

/// The layout the store used before: every key in one map, the order in one deque.
#[derive(Default)]
struct OneMap {
    latest: HashMap<u64, (i64, i64)>,
    order: VecDeque<(u64, i64, i64)>,
}

trait Window {
    fn len(&self) -> usize;
    fn expire(&mut self, cutoff_ms: i64);
    fn find(&self, key: u64, cutoff_ms: i64) -> Option<i64>;
    fn insert(&mut self, key: u64, seq: i64, at: i64);
}

impl Window for OneMap {
    fn len(&self) -> usize {
        self.latest.len()
    }

    fn expire(&mut self, cutoff_ms: i64) {
        while let Some(&(key, seq, at)) = self.order.front() {
            if at > cutoff_ms {
                break;
            }
            self.order.pop_front();
            if self.latest.get(&key).is_some_and(|s| s.0 == seq) {
                self.latest.remove(&key);
            }
        }
    }

    fn find(&self, key: u64, cutoff_ms: i64) -> Option<i64> {
        self.latest
            .get(&key)
            .filter(|s| s.1 > cutoff_ms)
            .map(|s| s.0)
    }

    fn insert(&mut self, key: u64, seq: i64, at: i64) {
        self.latest.insert(key, (seq, at));
        self.order.push_back((key, seq, at));
    }
}

/// The store's window, through its own methods.
impl Window for DedupWindow {
    fn len(&self) -> usize {
        DedupWindow::len(self)
    }
    fn expire(&mut self, cutoff_ms: i64) {
        DedupWindow::expire(self, cutoff_ms);
    }
    fn find(&self, key: u64, cutoff_ms: i64) -> Option<i64> {
        DedupWindow::find(self, key, cutoff_ms)
    }
    fn insert(&mut self, key: u64, seq: i64, at: i64) {
        DedupWindow::insert(self, key, seq, at);
    }
}

/// Dedup keys are hashes: a mixed counter stands in for them.
fn key(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

struct Args {
    rate: u64,
    window_s: u64,
    secs: u64,
    batch: u64,
    rounds: u32,
    /// `one_map`, `sharded` or `both` (one per process gives each its own peak RSS).
    layout: String,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        rate: 36_000,
        window_s: 300,
        secs: 400,
        batch: 64,
        rounds: 2,
        layout: "both".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--layout" {
            a.layout = it.next().ok_or("--layout needs a value")?;
            if !["one_map", "sharded", "both"].contains(&a.layout.as_str()) {
                return Err(format!("--layout {}: one_map, sharded or both", a.layout));
            }
            continue;
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?
            .parse::<u64>()
            .map_err(|e| format!("{flag}: {e}"))?;
        match flag.as_str() {
            "--rate" => a.rate = value,
            "--window" => a.window_s = value,
            "--secs" => a.secs = value,
            "--batch" => a.batch = value,
            "--rounds" => a.rounds = u32::try_from(value).map_err(|e| format!("--rounds: {e}"))?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if a.rate == 0 || a.batch == 0 || a.secs == 0 {
        return Err("--rate, --batch and --secs must be above 0".into());
    }
    Ok(a)
}

fn run(name: &str, w: &mut dyn Window, a: &Args) {
    let total = a.rate * a.secs;
    let window_ms = i64::try_from(a.window_s * 1000).unwrap_or(i64::MAX);
    let mut times: Vec<Duration> =
        Vec::with_capacity(usize::try_from(total / a.batch + 1).unwrap_or(0));
    let started = Instant::now();
    let mut n = 0u64;
    let mut found = 0u64;
    while n < total {
        let now_ms = i64::try_from(n * 1000 / a.rate).unwrap_or(i64::MAX);
        let cutoff = now_ms - window_ms;
        let t = Instant::now();
        w.expire(cutoff);
        for _ in 0..a.batch {
            let k = key(n);
            // Every 100th event is a retransmission of one stored a second earlier.
            if n % 100 == 99 && n > a.rate {
                if w.find(key(n - a.rate - 1), cutoff).is_some() {
                    found += 1;
                }
            } else if w.find(k, cutoff).is_none() {
                w.insert(k, i64::try_from(n).unwrap_or(i64::MAX), now_ms);
            }
            n += 1;
        }
        times.push(t.elapsed());
    }
    let elapsed = started.elapsed();
    times.sort_unstable();
    let pct = |q: f64| {
        let i = ((times.len() as f64 - 1.0) * q).round() as usize;
        times[i.min(times.len() - 1)].as_secs_f64() * 1000.0
    };
    let over_1ms = times.iter().filter(|t| t.as_micros() > 1000).count();
    let top: Vec<String> = times
        .iter()
        .rev()
        .take(5)
        .map(|t| format!("{:.2}", t.as_secs_f64() * 1000.0))
        .collect();
    println!(
        "{{\"layout\":\"{name}\",\"events\":{n},\"batches\":{},\"ns_per_event\":{:.1},\"batch_p50_ms\":{:.4},\"batch_p999_ms\":{:.3},\"batch_max_ms\":{:.2},\"batches_over_1ms\":{over_1ms},\"slowest_ms\":[{}],\"duplicates_found\":{found},\"keys_held\":{},\"peak_rss_mib\":{}}}",
        times.len(),
        elapsed.as_nanos() as f64 / n as f64,
        pct(0.5),
        pct(0.999),
        pct(1.0),
        top.join(","),
        w.len(),
        peak_rss_mib(),
    );
}

/// This process's peak resident memory (Linux `VmHWM`), MiB; 0 where unknown.
fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib / 1024)
}

fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("dedup_growth: {e}");
            std::process::exit(2);
        }
    };
    for _ in 0..a.rounds {
        if a.layout != "sharded" {
            run("one_map", &mut OneMap::default(), &a);
        }
        if a.layout != "one_map" {
            run("sharded", &mut DedupWindow::default(), &a);
        }
    }
}
