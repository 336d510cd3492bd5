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
//! The kill moments come from a seeded PRNG; the seed is printed and can be fixed with
//! `ALARMHUB_CRASH_SEED=<n>` to replay a schedule.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alarmhub::events::Source;
use alarmhub::store::SqliteReader;
use panel_proto::build::{contact_id, encode, panel_frame};
use panel_proto::framing::{Decoded, Decoder};
use panel_proto::timestamp::Timestamp;
use panel_proto::{Data, Id};
use rand::{Rng, SeedableRng};

/// Simulated panels.
const PANELS: usize = 40;
/// SIGKILLs (and restarts) during the load.
const KILLS: usize = 4;
/// Load before each kill: a random time in this range, in ms.
const LOAD_MS: std::ops::Range<u64> = 1_000..3_500;
/// Load on the last daemon after the final restart, before the panels are told to stop.
const FINAL_LOAD: Duration = Duration::from_secs(2);
/// How long a panel waits for the ACK of one transmission.
const ACK_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for "alarmhub ready" after a start.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// After "stop", how long panels may keep retransmitting their event in flight.
const DRAIN: Duration = Duration::from_secs(10);
/// Hard limit for the whole test; every loop gives up at this point.
const TEST_LIMIT: Duration = Duration::from_secs(55);
/// Events per panel stay below the 4-digit seq wrap, so (account, seq) is unique.
const MAX_EVENTS_PER_PANEL: u16 = 9_000;
/// Alarm / restore codes; with zone = n % 1000 each (code, zone) pair is used once per panel.
const CODES: [u16; 10] = [1130, 3130, 1131, 3131, 1132, 3132, 1133, 3133, 1134, 3134];

/// The daemon's current panel address; `None` while it is down.
type SharedAddr = Arc<Mutex<Option<SocketAddr>>>;

/// One event a panel sent, identified by (account, seq, zone).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct EventId {
    account: String,
    seq: String,
    zone: u16,
}

/// What one panel reports at the end.
#[derive(Debug, Default)]
struct PanelReport {
    /// Events whose ACK arrived, with their code.
    acked: Vec<(EventId, u16)>,
    /// The event that was sent but never ACKed (load stopped or time ran out), if any.
    unresolved: Option<(EventId, u16)>,
    /// Transmissions after the first, over all events.
    retransmissions: u64,
    /// Connections opened.
    connects: u64,
    /// Events that needed more than one transmission: id, wall-clock ms of the first
    /// transmission and of the ACK.
    retransmitted: Vec<(EventId, i64, i64)>,
}

/// A running daemon; killed (SIGKILL) when dropped, so a failing test leaves nothing behind.
struct Daemon {
    child: Child,
    panel: SocketAddr,
    log: Arc<Mutex<Log>>,
    reader: Option<JoinHandle<()>>,
}

/// What the daemon logged: the last lines (for failure messages) and counters of interest.
#[derive(Default)]
struct Log {
    tail: VecDeque<String>,
    errors: u64,
    dropped_frames: u64,
    not_stored: u64,
}

impl Log {
    fn push(&mut self, line: String, v: Option<&serde_json::Value>) {
        if let Some(v) = v {
            let level = v.get("level").and_then(|l| l.as_str()).unwrap_or("");
            let msg = message(v).unwrap_or("");
            if level == "ERROR" {
                self.errors += 1;
            }
            if msg == "frame dropped" {
                self.dropped_frames += 1;
            }
            if msg.starts_with("event not stored") {
                self.not_stored += 1;
            }
        }
        if self.tail.len() == 60 {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }

    fn dump(&self) -> String {
        self.tail.iter().cloned().collect::<Vec<_>>().join("\n")
    }
}

fn message(v: &serde_json::Value) -> Option<&str> {
    v.get("message")
        .or_else(|| v.get("fields").and_then(|f| f.get("message")))
        .and_then(|m| m.as_str())
}

impl Daemon {
    /// Start `alarmhub serve` and wait (bounded) for its "alarmhub ready" line.
    fn start(config: &Path) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_alarmhub"))
            .args(["serve", "--config"])
            .arg(config)
            .args(["--log-format", "json"])
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start alarmhub");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Log::default()));
        let (ready_tx, ready_rx) = mpsc::channel();
        let reader = {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                // Keep draining stderr until the process is gone, so logging never blocks it.
                let mut ready_tx = Some(ready_tx);
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    let v = serde_json::from_str::<serde_json::Value>(&line).ok();
                    if let Some(v) = &v {
                        if message(v) == Some("alarmhub ready") {
                            let panel = v
                                .get("panel")
                                .or_else(|| v.get("fields").and_then(|f| f.get("panel")))
                                .and_then(|p| p.as_str())
                                .and_then(|p| p.parse::<SocketAddr>().ok());
                            if let (Some(tx), Some(p)) = (ready_tx.take(), panel) {
                                let _ = tx.send(p);
                            }
                        }
                    }
                    log.lock().unwrap().push(line, v.as_ref());
                }
            })
        };
        let mut daemon = Daemon {
            child,
            panel: "127.0.0.1:1".parse().unwrap(),
            log,
            reader: Some(reader),
        };
        match ready_rx.recv_timeout(READY_TIMEOUT) {
            Ok(p) => daemon.panel = p,
            Err(_) => {
                let status = daemon.child.try_wait();
                panic!(
                    "alarmhub did not report ready within {READY_TIMEOUT:?} (status {status:?}); log:\n{}",
                    daemon.log.lock().unwrap().dump()
                );
            }
        }
        daemon
    }

    /// SIGKILL and reap.
    fn kill_9(&mut self) {
        self.child.kill().expect("SIGKILL alarmhub");
        let status = self.child.wait().expect("reap alarmhub");
        assert!(!status.success(), "a SIGKILLed daemon cannot exit 0");
        self.join_reader();
    }

    /// SIGTERM, and wait up to `limit` for a clean exit (SIGKILL after that).
    fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        // The `kill` command rather than libc: the workspace forbids `unsafe`.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if let Some(s) = self.child.try_wait().unwrap() {
                self.join_reader();
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill_9();
        None
    }

    fn join_reader(&mut self) {
        if let Some(r) = self.reader.take() {
            // The pipe closes when the process is gone; bounded anyway.
            let until = Instant::now() + Duration::from_secs(5);
            while !r.is_finished() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(10));
            }
            if r.is_finished() {
                r.join().unwrap();
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn write_config(dir: &Path, data: &Path) -> PathBuf {
    let path = dir.join("alarmhub.toml");
    let text = format!(
        "[panel]\nlisten = \"127.0.0.1:0\"\nudp = false\n\n\
         [grpc]\nlisten = \"127.0.0.1:0\"\n\n\
         [http]\nlisten = \"127.0.0.1:0\"\n\n\
         [store]\ndata_dir = {data:?}\n\n\
         [log]\nformat = \"json\"\nfilter = \"info\"\n",
        data = data.display().to_string(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn now_secs() -> i64 {
    now_ms() / 1000
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .try_into()
        .unwrap()
}

/// Event number `n` of panel `index`: the HB `ADM-CID` frame bytes, its id and code.
fn event_frame(index: usize, account: &str, n: u16) -> (Vec<u8>, EventId, u16) {
    let seq = n + 1;
    let code = CODES[usize::from(n / 1000) % CODES.len()];
    let zone = n % 1000;
    let ademco_id = format!("{:06X}", index + 1);
    let frame = panel_frame(
        Id::AdmCid,
        seq,
        Some("123ABC"),
        Some("456DEF"),
        account,
        Data::ContactId(contact_id(Some(&ademco_id), code, 0, zone)),
        Some(Timestamp::from_unix(now_secs())),
    );
    let mut bytes = Vec::new();
    encode(&frame, &mut bytes).unwrap();
    let id = EventId {
        account: account.to_string(),
        seq: frame.seq.to_string(),
        zone,
    };
    (bytes, id, code)
}

/// Send `bytes` on `conn` and wait up to [`ACK_TIMEOUT`] for an ACK carrying `seq`.
fn send_and_wait_ack(conn: &mut TcpStream, bytes: &[u8], seq: &str) -> bool {
    if conn.write_all(bytes).is_err() {
        return false;
    }
    let decoder = Decoder::default();
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    let until = Instant::now() + ACK_TIMEOUT;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || conn.set_read_timeout(Some(left)).is_err() {
            return false;
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
        loop {
            match decoder.decode(&buf) {
                Decoded::Frame { frame, consumed } => {
                    buf.drain(..consumed);
                    if frame.id == Id::Ack && frame.seq.as_str() == seq {
                        return true;
                    }
                }
                Decoded::Invalid { consumed, .. } => {
                    buf.drain(..consumed.clamp(1, buf.len()));
                }
                Decoded::Incomplete => break,
            }
        }
    }
}

/// One simulated panel: events one at a time, each retransmitted until ACKed.
fn run_panel(
    index: usize,
    addr: &SharedAddr,
    stop: &AtomicBool,
    deadline: Instant,
    sent: &AtomicU64,
) -> PanelReport {
    let account = format!("CRASH{index:03}");
    let mut report = PanelReport::default();
    let mut conn: Option<TcpStream> = None;
    let mut n: u16 = 0;
    while !stop.load(Ordering::Acquire) && n < MAX_EVENTS_PER_PANEL {
        let (bytes, id, code) = event_frame(index, &account, n);
        let mut transmissions = 0u64;
        let mut first_sent_ms = 0;
        let acked = loop {
            if Instant::now() >= deadline {
                break false;
            }
            let Some(c) = conn.as_mut() else {
                let target = *addr.lock().unwrap();
                let Some(target) = target else {
                    // The daemon is down; wait for its restart.
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                match TcpStream::connect_timeout(&target, Duration::from_secs(1)) {
                    Ok(s) => {
                        let _ = s.set_nodelay(true);
                        let _ = s.set_write_timeout(Some(ACK_TIMEOUT));
                        report.connects += 1;
                        conn = Some(s);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
                continue;
            };
            transmissions += 1;
            if transmissions == 1 {
                first_sent_ms = now_ms();
            }
            sent.fetch_add(1, Ordering::Relaxed);
            if send_and_wait_ack(c, &bytes, &id.seq) {
                break true;
            }
            // Timeout, error or EOF: like a real panel, reconnect and send the same frame.
            conn = None;
        };
        report.retransmissions += transmissions.saturating_sub(1);
        if acked {
            if transmissions > 1 {
                report
                    .retransmitted
                    .push((id.clone(), first_sent_ms, now_ms()));
            }
            report.acked.push((id, code));
            n += 1;
        } else {
            if transmissions > 0 {
                report.unresolved = Some((id, code));
            }
            break;
        }
    }
    report
}

/// Join `h`, failing the test (instead of hanging) if it does not finish by `until`.
fn join_by<T>(h: JoinHandle<T>, until: Instant, what: &str) -> T {
    while !h.is_finished() {
        assert!(Instant::now() < until, "{what} did not finish in time");
        std::thread::sleep(Duration::from_millis(10));
    }
    h.join().unwrap()
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

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config = write_config(tmp.path(), &data);

    let mut daemon = Daemon::start(&config);
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
            daemon.log.lock().unwrap().dump()
        );
        previous_sent = sent_now;
        *addr.lock().unwrap() = None;
        kill_times_ms.push(now_ms());
        daemon.kill_9();
        let (errors, not_stored) = {
            let l = daemon.log.lock().unwrap();
            (l.errors, l.not_stored)
        };
        kill_log.push(format!(
            "round {round}: SIGKILL after {:.2} s of load (log: {errors} errors, {not_stored} not-stored)",
            load.as_secs_f64()
        ));
        assert!(
            Instant::now() < deadline - Duration::from_secs(20),
            "out of time before restart {round}"
        );
        daemon = Daemon::start(&config);
        *addr.lock().unwrap() = Some(daemon.panel);
    }
    std::thread::sleep(FINAL_LOAD);
    stop.store(true, Ordering::Release);
    // Panels finish the event in flight (retransmitting as needed), bounded by DRAIN.
    let drain_until = (Instant::now() + DRAIN).min(panel_deadline + Duration::from_secs(4));
    let reports: Vec<PanelReport> = panels
        .into_iter()
        .map(|h| join_by(h, drain_until, "a panel"))
        .collect();
    let final_status = daemon.terminate(Duration::from_secs(15));
    let (log_errors, dropped_frames) = {
        let l = daemon.log.lock().unwrap();
        (l.errors, l.dropped_frames)
    };

    // What the store holds, by (account, seq, zone), panel events only.
    let reader = SqliteReader::open(&data).unwrap();
    let stored = reader.events_after(0, 0).unwrap();
    let mut count: HashMap<EventId, (usize, u16)> = HashMap::new();
    let mut received_at: HashMap<EventId, i64> = HashMap::new();
    let mut receiver_events = 0;
    let mut last_seq = 0;
    for e in &stored {
        assert!(e.seq > last_seq, "store seqs not increasing at {}", e.seq);
        last_seq = e.seq;
        if e.event.source != Source::Panel {
            receiver_events += 1;
            continue;
        }
        let id = EventId {
            account: e.event.account.clone(),
            seq: e.event.frame_seq.clone(),
            zone: e.event.zone,
        };
        received_at.insert(id.clone(), e.event.received_at_ms);
        let slot = count.entry(id).or_insert((0, e.event.code));
        slot.0 += 1;
    }

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
         ({} receiver events); {stored_not_acked} stored but never ACKed; {unresolved} in flight at the end; \
         last daemon: {final_status:?}, {log_errors} error lines, {dropped_frames} dropped frames; \
         {:.1} s",
        count.len(),
        receiver_events,
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
