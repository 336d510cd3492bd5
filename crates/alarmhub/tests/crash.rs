#![allow(clippy::unwrap_used)]
//! Crash test for the durability contract (DESIGN.md "Contracts" 1): the real `alarmhub`
//! binary is killed with SIGKILL at random moments while simulated panels send events one
//! at a time, and is restarted on the same data directory each time. Panels behave like
//! real ones: an event counts as delivered only when its ACK arrives; on a timeout, an
//! error or EOF they reconnect to the current daemon and retransmit the very same frame.
//!
//! At the end every ACKed event must be in the store exactly once, and no event may be
//! stored twice (retransmissions of events that were stored just before a kill are ACKed
//! as duplicates). Every wait in here has a time limit so the test cannot hang.
//!
//! The panels are in `crash/panels.rs`; the daemon is `common::Daemon`, killed and started
//! again with `kill_9` / `restart`. The kill moments come from a seeded PRNG; the seed is
//! printed and can be fixed with `ALARMHUB_CRASH_SEED=<n>` to replay a schedule.

mod common;
#[path = "crash/panels.rs"]
mod panels;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alarmhub::events::Source;
use alarmhub::store::SqliteReader;
use common::binary::{log_field, log_message};
use common::{Daemon, Setup};
use panels::{now_ms, run_panel, EventId, PanelReport, SharedAddr};
use rand::{Rng, SeedableRng};

/// Simulated panels.
const PANELS: usize = 40;
/// SIGKILLs (and restarts) during the load.
const KILLS: usize = 4;
/// Load before each kill: a random time in this range, in ms.
const LOAD_MS: std::ops::Range<u64> = 1_000..3_500;
/// Load on the last daemon after the final restart, before the panels are told to stop.
const FINAL_LOAD: Duration = Duration::from_secs(2);
/// After "stop", how long panels may keep retransmitting their event in flight.
const DRAIN: Duration = Duration::from_secs(10);
/// Hard limit for the whole test; every loop gives up at this point.
const TEST_LIMIT: Duration = Duration::from_secs(55);

/// What one daemon logged that the summary reports.
#[derive(Debug, Default)]
struct LogCounts {
    errors: u64,
    dropped_frames: u64,
    not_stored: u64,
}

impl LogCounts {
    /// Counted over a daemon's log lines (JSON).
    fn of(lines: &[String]) -> LogCounts {
        let mut c = LogCounts::default();
        for v in lines
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        {
            let level = log_field(&v, "level").and_then(|l| l.as_str());
            let msg = log_message(&v).unwrap_or("");
            c.errors += u64::from(level == Some("ERROR"));
            c.dropped_frames += u64::from(msg == "frame dropped");
            c.not_stored += u64::from(msg.starts_with("event not stored"));
        }
        c
    }
}

/// Join `h`, failing the test (instead of hanging) if it does not finish by `until`.
fn join_by<T>(h: JoinHandle<T>, until: Instant, what: &str) -> T {
    while !h.is_finished() {
        assert!(Instant::now() < until, "{what} did not finish in time");
        std::thread::sleep(Duration::from_millis(10));
    }
    h.join().unwrap()
}

/// What the load phase leaves for the checks.
struct Load {
    reports: Vec<PanelReport>,
    /// Wall-clock ms of each SIGKILL.
    kill_times_ms: Vec<i64>,
    kill_log: Vec<String>,
    final_status: Option<std::process::ExitStatus>,
    last_daemon: LogCounts,
}

/// [`PANELS`] panels send while the daemon is SIGKILLed [`KILLS`] times at seeded moments and
/// started again on the same data directory; then the panels finish the event in flight and
/// the last daemon stops with SIGTERM.
fn load(daemon: &mut Daemon, rng: &mut rand::rngs::StdRng, deadline: Instant) -> Load {
    let addr: SharedAddr = Arc::new(Mutex::new(Some(daemon.panel)));
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    // Panels must be done before the test limit, with room for verification.
    let panel_deadline = deadline - Duration::from_secs(8);
    let panels: Vec<JoinHandle<PanelReport>> = (0..PANELS)
        .map(|i| {
            let addr = Arc::clone(&addr);
            let stop = Arc::clone(&stop);
            let sent = Arc::clone(&sent);
            std::thread::Builder::new()
                .name(format!("panel-{i}"))
                .spawn(move || run_panel(i, &addr, &stop, panel_deadline, &sent))
                .unwrap()
        })
        .collect();

    let mut kill_log = Vec::new();
    let mut kill_times_ms = Vec::new();
    let mut previous_sent = 0;
    for round in 1..=KILLS {
        let load = Duration::from_millis(rng.random_range(LOAD_MS));
        std::thread::sleep(load);
        let sent_now = sent.load(Ordering::Relaxed);
        assert!(
            sent_now > previous_sent,
            "round {round}: no frame was sent in {load:?}; daemon log:\n{}",
            daemon.log_tail()
        );
        previous_sent = sent_now;
        *addr.lock().unwrap() = None;
        kill_times_ms.push(now_ms());
        daemon.kill_9();
        let c = LogCounts::of(&daemon.drain_log());
        kill_log.push(format!(
            "round {round}: SIGKILL after {:.2} s of load (log: {} errors, {} not-stored)",
            load.as_secs_f64(),
            c.errors,
            c.not_stored
        ));
        assert!(
            Instant::now() < deadline - Duration::from_secs(20),
            "out of time before restart {round}"
        );
        daemon.restart();
        *addr.lock().unwrap() = Some(daemon.panel);
    }
    std::thread::sleep(FINAL_LOAD);
    stop.store(true, Ordering::Release);
    // Panels finish the event in flight (retransmitting as needed), bounded by DRAIN.
    let drain_until = (Instant::now() + DRAIN).min(panel_deadline + Duration::from_secs(4));
    let reports = panels
        .into_iter()
        .map(|h| join_by(h, drain_until, "a panel"))
        .collect();
    let final_status = daemon.terminate(Duration::from_secs(15));
    Load {
        reports,
        kill_times_ms,
        kill_log,
        final_status,
        last_daemon: LogCounts::of(&daemon.drain_log()),
    }
}

/// What the store holds, panel events by (account, seq, zone).
struct Stored {
    /// How often each event is stored, and its code.
    count: HashMap<EventId, (usize, u16)>,
    received_at: HashMap<EventId, i64>,
    receiver_events: usize,
}

fn stored(data: &std::path::Path) -> Stored {
    let reader = SqliteReader::open(data).unwrap();
    let mut s = Stored {
        count: HashMap::new(),
        received_at: HashMap::new(),
        receiver_events: 0,
    };
    let mut last_seq = 0;
    for e in &reader.events_after(0, 0).unwrap() {
        assert!(e.seq > last_seq, "store seqs not increasing at {}", e.seq);
        last_seq = e.seq;
        if e.event.source != Source::Panel {
            s.receiver_events += 1;
            continue;
        }
        let id = EventId {
            account: e.event.account.clone(),
            seq: e.event.frame_seq.clone(),
            zone: e.event.zone,
        };
        s.received_at.insert(id.clone(), e.event.received_at_ms);
        let slot = s.count.entry(id).or_insert((0, e.event.code));
        slot.0 += 1;
    }
    s
}

#[test]
fn every_acked_event_survives_kill_9_exactly_once() {
    let started = Instant::now();
    let deadline = started + TEST_LIMIT;
    let seed = std::env::var("ALARMHUB_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("crash test: seed {seed} (ALARMHUB_CRASH_SEED={seed} replays the kill schedule)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut daemon = Daemon::with(&Setup::new().panel("udp = false"));
    let Load {
        reports,
        kill_times_ms,
        kill_log,
        final_status,
        last_daemon,
    } = load(&mut daemon, &mut rng, deadline);
    let Stored {
        count,
        received_at,
        receiver_events,
    } = stored(&daemon.data_dir());

    let mut acked = 0usize;
    let mut retransmissions = 0u64;
    let mut connects = 0u64;
    let mut problems = Vec::new();
    let mut sent_ids: HashMap<EventId, u16> = HashMap::new();
    let mut acked_ids: HashSet<&EventId> = HashSet::new();
    let mut unresolved = 0usize;
    for r in &reports {
        retransmissions += r.retransmissions;
        connects += r.connects;
        for (id, code) in &r.acked {
            acked += 1;
            acked_ids.insert(id);
            sent_ids.insert(id.clone(), *code);
            match count.get(id) {
                Some((1, c)) if c == code => {}
                Some((n, c)) => problems.push(format!("ACKed {id:?} stored {n} times (code {c})")),
                None => problems.push(format!("ACKed {id:?} is missing from the store")),
            }
        }
        if let Some((id, code)) = &r.unresolved {
            unresolved += 1;
            sent_ids.insert(id.clone(), *code);
        }
    }
    let mut stored_not_acked = 0;
    for (id, (n, code)) in &count {
        if *n != 1 {
            problems.push(format!("{id:?} stored {n} times"));
        }
        match sent_ids.get(id) {
            None => problems.push(format!("{id:?} stored but never sent")),
            Some(c) if c != code => {
                problems.push(format!("{id:?} stored with code {code}, sent {c}"))
            }
            Some(_) => {}
        }
        if !acked_ids.contains(id) {
            stored_not_acked += 1;
        }
    }

    // Retransmitted events whose row was written by a daemon that was then killed before
    // its ACK got out: the restarted daemon must have answered them as duplicates. A row
    // received before the kill can only come from the killed daemon (the next one starts
    // after it).
    let acked_as_duplicate = reports
        .iter()
        .flat_map(|r| &r.retransmitted)
        .filter(|(id, first, ack)| {
            received_at.get(id).is_some_and(|&rx| {
                kill_times_ms
                    .iter()
                    .any(|&k| *first <= k && k <= *ack && rx <= k)
            })
        })
        .count();

    for line in &kill_log {
        eprintln!("crash test: {line}");
    }
    eprintln!(
        "crash test: {PANELS} panels, {KILLS} SIGKILLs; {acked} events ACKed, {retransmissions} \
         retransmissions ({acked_as_duplicate} of them stored before the kill and ACKed as \
         duplicates after the restart), {connects} connections; store holds {} panel events \
         ({receiver_events} receiver events); {stored_not_acked} stored but never ACKed; \
         {unresolved} in flight at the end; last daemon: {final_status:?}, {} error lines, \
         {} dropped frames; {:.1} s",
        count.len(),
        last_daemon.errors,
        last_daemon.dropped_frames,
        started.elapsed().as_secs_f64()
    );
    assert!(
        problems.is_empty(),
        "{} durability problems (first 20):\n{}",
        problems.len(),
        problems
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        acked >= PANELS * KILLS,
        "too little load to prove anything: {acked} ACKed events"
    );
    assert!(
        retransmissions > 0,
        "no retransmission happened, so no kill hit an event in flight"
    );
    assert!(
        final_status.is_some_and(|s| s.success()),
        "the last daemon did not stop cleanly on SIGTERM: {final_status:?}"
    );
}
