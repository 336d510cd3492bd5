#![allow(clippy::unwrap_used)]
//! Fill a fresh alarmhub store with a realistic history, for restart-time benchmarks
//! (`bench/restore.sh`):
//!
//! ```text
//! cargo run --release -p alarmhub --example seed_store -- --dir D --panels 100000 --events 1000000
//! ```
//!
//! Events go into the store through `Store::append` in calls of 50,000 (one call is one
//! commit), exactly as the daemon stores them (no snapshot is written, so the next
//! `alarmhub serve` replays everything). Closing the store writes the per-account index. Per panel, in time order: ONLINE (the
//! receiver's own event when a panel connects), a type report (1737), a status (3400 arm
//! or 1400 disarm), then alarms (1130) each followed by its restore (3130) on zones spread
//! over 1..=999, with an arm/disarm now and then. Heartbeats are not stored by the daemon,
//! so there are none here. Panels are interleaved the way live traffic is: event k of every
//! panel comes before event k+1 of any panel.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use alarmhub::events::{codes, fnv1a, Facts, NewEvent, Source};
use alarmhub::store::{SqliteStore, Store, StoreOptions};
use panel_proto::rules::Dialect;
use serde_json::json;

/// Events per transaction.
const BATCH: usize = 50_000;
/// The history is spread over this many ms before now (30 days).
const HISTORY_MS: i64 = 30 * 24 * 3600 * 1000;
/// Dedup window the daemon uses by default; the old history never matches it.
const DEDUP_WINDOW_MS: i64 = 300_000;

struct Args {
    dir: PathBuf,
    panels: usize,
    events: usize,
    seed: u64,
}

fn usage() -> ! {
    eprintln!("usage: seed_store --dir DIR [--panels N] [--events M] [--seed S]");
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut dir = None;
    let mut panels = 100_000;
    let mut events = 1_000_000;
    let mut seed = 1;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--dir" => dir = Some(PathBuf::from(value)),
            "--panels" => panels = value.parse().unwrap_or_else(|_| usage()),
            "--events" => events = value.parse().unwrap_or_else(|_| usage()),
            "--seed" => seed = value.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    let Some(dir) = dir else { usage() };
    if panels == 0 || events < panels {
        eprintln!("seed_store: need at least one panel and one event per panel");
        std::process::exit(2);
    }
    Args {
        dir,
        panels,
        events,
        seed,
    }
}

/// splitmix64: a tiny deterministic PRNG, enough to spread zones and choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Per-panel generator state.
struct Panel {
    account: String,
    ademco_id: u32,
    peer: String,
    /// Events generated so far.
    n: usize,
    /// Panel frame sequence counter (1..=9999).
    seq: u16,
    /// Zone of an alarm waiting for its restore.
    open_alarm: Option<u16>,
    armed: bool,
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(seed(parse_args()));
}

async fn seed(args: Args) {
    if args.dir.join(alarmhub::store::DB_FILE).exists() {
        eprintln!(
            "seed_store: {} already holds a store; give a fresh directory",
            args.dir.display()
        );
        std::process::exit(2);
    }
    let opts = StoreOptions {
        dedup_window_ms: DEDUP_WINDOW_MS,
        ..StoreOptions::default()
    };
    let store = SqliteStore::open(&args.dir, opts, Box::new(|_| {})).unwrap();
    let mut rng = Rng(args.seed);
    let mut panels: Vec<Panel> = (0..args.panels)
        .map(|i| {
            let id = u32::try_from(i + 1).unwrap();
            Panel {
                // HB hosts report a SIM number or serial; 12 digits here.
                account: format!("{:012}", 861_000_000_000u64 + i as u64),
                ademco_id: id % 999_999 + 1,
                peer: format!(
                    "10.{}.{}.{}:{}",
                    (i >> 16) & 0xFF,
                    (i >> 8) & 0xFF,
                    i & 0xFF,
                    1024 + rng.below(60_000)
                ),
                n: 0,
                seq: 0,
                open_alarm: None,
                armed: rng.below(2) == 0,
            }
        })
        .collect();
    // Event counts per panel: the total split evenly, the remainder to the first panels.
    let base = args.events / args.panels;
    let extra = args.events % args.panels;
    let quota = |i: usize| base + usize::from(i < extra);
    let rounds = base + usize::from(extra > 0);

    let now = alarmhub::clock::now_ms();
    let start_ms = now - HISTORY_MS;
    let step_ms = (HISTORY_MS / i64::try_from(args.events).unwrap()).max(1);
    let mut t = start_ms;
    let t0 = Instant::now();
    let mut batch: Vec<NewEvent> = Vec::with_capacity(BATCH);
    let mut written = 0usize;
    let progress = std::io::stderr().is_terminal();
    for _round in 0..rounds {
        for (i, p) in panels.iter_mut().enumerate() {
            if p.n >= quota(i) {
                continue;
            }
            t += step_ms;
            batch.push(next_event(p, &mut rng, t));
            p.n += 1;
            if batch.len() == BATCH {
                written += flush(&store, &mut batch).await;
                if progress {
                    eprint!("\rseed_store: {written} events");
                }
            }
        }
    }
    written += flush(&store, &mut batch).await;
    let last = store.last_seq().await.unwrap();
    // Writes the per-account index, as a clean shutdown does.
    store.close().await.unwrap();
    eprintln!(
        "{}seed_store: {written} events for {} panels in {:.1} s (last seq {last}) into {}",
        if progress { "\r" } else { "" },
        args.panels,
        t0.elapsed().as_secs_f64(),
        args.dir.display()
    );
}

async fn flush(store: &SqliteStore, batch: &mut Vec<NewEvent>) -> usize {
    let n = batch.len();
    let out = store.append(std::mem::take(batch)).await.unwrap();
    assert_eq!(out.len(), n);
    n
}

fn next_event(p: &mut Panel, rng: &mut Rng, t: i64) -> NewEvent {
    if p.n == 0 {
        return NewEvent {
            account: p.account.clone(),
            source: Source::Receiver,
            code: codes::ONLINE,
            sia_code: None,
            group: 0,
            zone: 0,
            received_at_ms: t,
            panel_time: None,
            protocol: String::new(),
            frame_seq: String::new(),
            peer: p.peer.clone(),
            facts: Facts {
                dialect: Some(Dialect::Hb),
                ..Facts::default()
            },
            detail: json!({ "reason": "first valid frame on a connection", "dialect": "hb" })
                .into(),
            dedup_key: None,
        };
    }
    let (code, zone) = match p.n {
        1 => (1737, 0),
        2 => (if p.armed { 3400 } else { 1400 }, 0),
        _ => {
            if let Some(z) = p.open_alarm.take() {
                (3130, z)
            } else if rng.below(4) == 0 {
                p.armed = !p.armed;
                (if p.armed { 3400 } else { 1400 }, 0)
            } else {
                let z = u16::try_from(1 + rng.below(999)).unwrap();
                p.open_alarm = Some(z);
                (1130, z)
            }
        }
    };
    p.seq = p.seq % 9999 + 1;
    let seq = format!("{:04}", p.seq);
    let data_account = format!("{:06X}", p.ademco_id);
    let raw = format!("{code:04} 00 {zone:03}");
    NewEvent {
        account: p.account.clone(),
        source: Source::Panel,
        code,
        sia_code: None,
        group: 0,
        zone,
        received_at_ms: t,
        panel_time: Some(t / 1000),
        protocol: "ADM-CID".into(),
        frame_seq: seq.clone(),
        peer: p.peer.clone(),
        facts: Facts {
            dialect: Some(Dialect::Hb),
            ademco_id: Some(p.ademco_id),
            ..Facts::default()
        },
        detail: json!({
            "dialect": "hb",
            "ademco_id": p.ademco_id,
            "data_account": data_account,
        })
        .into(),
        dedup_key: Some(fnv1a(&[
            p.account.as_bytes(),
            seq.as_bytes(),
            b"ADM-CID",
            raw.as_bytes(),
        ])),
    }
}
