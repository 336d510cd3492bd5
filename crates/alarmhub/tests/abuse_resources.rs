//! Issue #13, floods and resources, against the real binary on loopback: garbage is logged as
//! a summary and a standard error nobody reads stops nothing, connections over the cap are
//! closed at once, the descriptor limit is raised and a reserve keeps the API answering, UDP
//! queues are bounded in bytes. (The gRPC stream limits are in `api_limits.rs`; the
//! measurements under load are `bench/abuse.sh`.)
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use common::{eventually, Daemon, Panel, Setup};
use panel_proto::escape::unescape;

const S: Duration = Duration::from_secs(5);
const F16: &str = "<LF>73D40051\"ADM-CID\"0002R123ABCL456DEF#861234567890[#000123|1130 00 005]_00:30:00,06-01-2024<CR>";

/// A counter or gauge from `/metrics` (the sum over label sets containing `labels`).
fn metric(d: &Daemon, name: &str, labels: &str) -> f64 {
    let (status, body) = d.http_get("/metrics");
    assert_eq!(status, 200, "{body}");
    body.lines()
        .filter(|l| l.starts_with(name) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn log_bytes(lines: &[String]) -> usize {
    lines.iter().map(|l| l.len() + 1).sum()
}

#[test]
fn garbage_on_a_connection_is_logged_as_a_summary_not_once_per_byte() {
    // No invalid budget: the connection lives through all of it (abuse_penalty.rs closes it).
    let d = Daemon::start("max_invalid_per_min = 0", "");
    let _ = d.drain_log();
    let mut p = d.connect();
    let garbage = b"\nX".repeat(128 * 1024);
    p.send(&garbage);
    p.send(&unescape(F16).unwrap());
    assert_eq!(
        p.recv(S).expect("the good frame is still ACKed").seq,
        "0002"
    );
    drop(p);
    d.wait_log("connection closed", S)
        .expect("the close is logged");
    std::thread::sleep(Duration::from_millis(300));
    let lines = d.drain_log();
    let dropped = lines.iter().filter(|l| l.contains("frame dropped")).count();
    assert!(
        dropped <= 2,
        "{dropped} drop lines for one connection:\n{}",
        lines.join("\n")
    );
    let ratio = log_bytes(&lines) as f64 / garbage.len() as f64;
    assert!(ratio <= 0.01, "{ratio} log bytes per garbage byte");
}

#[test]
fn a_standard_error_nobody_reads_stops_neither_acks_nor_health() {
    // 3,000 connections from one address as fast as it goes: no per-source rate here.
    let d = Daemon::start("connect_rate_per_source = 0", "");
    d.pause_log(true);
    // ~6,000 log lines, a bad frame and a close per connection: more than a 64 KiB pipe
    // and the daemon's queue of 4,096 lines hold together.
    let until = Instant::now() + Duration::from_secs(20);
    for _ in 0..3000 {
        if Instant::now() > until {
            break;
        }
        let mut p = d.connect();
        p.send(b"\n0000garbage\r");
        drop(p);
    }
    let started = Instant::now();
    let mut p = d.connect();
    p.send(&unescape(F16).unwrap());
    assert!(p.recv(S).is_some(), "ACK while nobody reads the log");
    assert!(started.elapsed() < S);
    assert_eq!(d.http_get("/healthz").0, 200);
    assert!(
        eventually(S, || metric(&d, "alarmhub_log_lines_dropped_total", "")
            > 0.0),
        "dropped log lines are counted"
    );
    d.pause_log(false);
}

#[test]
fn log_colours_are_written_only_to_a_terminal() {
    // A daemon that fails to bind logs an error (red on a terminal) and exits.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("alarmhub.toml");
    let toml = format!(
        "[panel]\nlisten = \"{}\"\n[http]\nlisten = \"127.0.0.1:0\"\n[grpc]\nlisten = \"127.0.0.1:0\"\n\
         [store]\ndata_dir = {:?}\n",
        taken.local_addr().unwrap(),
        dir.path().join("data").display().to_string()
    );
    std::fs::write(&cfg, toml).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_alarmhub"))
        .args(["serve", "--log-format", "text", "--config"])
        .arg(&cfg)
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("panel"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "no ANSI escapes into a pipe: {err:?}"
    );
}

#[test]
fn connections_beyond_max_connections_are_closed_at_once_counted_and_logged() {
    let d = Daemon::start("max_connections = 3", "");
    let held: Vec<_> = (0..3).map(|_| d.connect()).collect();
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        Panel::refused(d.panel, Duration::from_secs(2)),
        "closed at once, with a reset"
    );
    let line = d.wait_log("connection refused", S).expect("a summary line");
    assert!(line.contains("max_connections"), "{line}");
    assert_eq!(
        metric(
            &d,
            "alarmhub_connections_refused_total",
            "reason=\"max_connections\""
        ),
        1.0
    );
    drop(held);
    // Once one closes, a new panel gets in again.
    assert!(eventually(S, || {
        // Refused (reset) while the slots are still being given back: not yet.
        let Ok(mut p) = Panel::try_connect(d.panel) else {
            return false;
        };
        p.send(&unescape(F16).unwrap());
        p.recv(Duration::from_millis(500)).is_some()
    }));
}

#[test]
fn the_soft_descriptor_limit_is_raised_to_the_hard_limit_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::launch(
        dir.path(),
        &Setup::new(),
        &[("ALARMHUB_TEST_ULIMIT_N", "-S -n 150")],
    );
    let limit = metric(&d, "alarmhub_fd_limit", "");
    assert!(limit > 150.0, "soft limit still {limit}");
}

#[test]
fn a_descriptor_reserve_keeps_the_api_and_health_answering_when_panels_fill_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::launch(
        dir.path(),
        &Setup::new().panel("fd_reserve = 60"),
        &[("ALARMHUB_TEST_ULIMIT_N", "-n 200")],
    );
    // 200 - 60 reserved - 64 for the daemon itself: 76 panel connections.
    let mut panels: Vec<TcpStream> = Vec::new();
    for _ in 0..150 {
        if let Ok(s) = TcpStream::connect_timeout(&d.panel, S) {
            panels.push(s);
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let refused = metric(
        &d,
        "alarmhub_connections_refused_total",
        "reason=\"max_connections\"",
    );
    assert!(refused >= 70.0, "only {refused} refused");
    assert_eq!(d.http_get("/healthz").0, 200);
    assert_eq!(d.http_get("/readyz").0, 200);
    let out = d.cli(&["machines"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(d.log_tail().contains("does not fit in the open file limit"));
}

#[test]
fn a_panel_is_closed_at_once_not_left_unanswered_when_the_daemon_is_out_of_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    // No reserve: panels may take 200 - 64 descriptors, but idle API connections take 120
    // of them first, so accept runs out of descriptors (EMFILE) before the panel cap.
    let d = Daemon::launch(
        dir.path(),
        &Setup::new().panel("fd_reserve = 0\nconnect_rate_per_source = 0"),
        &[("ALARMHUB_TEST_ULIMIT_N", "-n 200")],
    );
    let api: Vec<TcpStream> = (0..120)
        .filter_map(|_| TcpStream::connect_timeout(&d.grpc, S).ok())
        .collect();
    let panels: Vec<TcpStream> = (0..100)
        .filter_map(|_| TcpStream::connect_timeout(&d.panel, S).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    // A panel connecting now sends its event: it is ACKed or its connection closed at once
    // (it fails over to its other receiver), never left waiting in the accept queue.
    let mut p = TcpStream::connect_timeout(&d.panel, S).unwrap();
    let _ = p.write_all(&unescape(F16).unwrap());
    p.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut buf = [0u8; 256];
    let answered = match p.read(&mut buf) {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    assert!(
        answered,
        "the panel's frame was left unanswered; log: {}",
        d.log_tail()
    );
    // Descriptors back for /metrics.
    drop((api, panels, p));
    assert!(
        eventually(S, || metric(
            &d,
            "alarmhub_connections_refused_total",
            "reason=\"fd_limit\""
        ) >= 1.0),
        "refusals for lack of descriptors are counted"
    );
}

#[test]
fn udp_datagrams_are_dropped_when_oversize_or_over_the_peer_queue_and_the_queues_stay_bounded() {
    let d = Daemon::start(
        "rate_limit_per_sec = 1\nrate_limit_burst = 1\nudp_peer_queue_bytes = 2048",
        "",
    );
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.send_to(&vec![b'\n'; 8000], d.panel).unwrap();
    let frame = unescape(F16).unwrap();
    for _ in 0..200 {
        u.send_to(&frame, d.panel).unwrap();
    }
    assert!(eventually(S, || {
        metric(&d, "alarmhub_udp_dropped_total", "reason=\"oversize\"") == 1.0
    }));
    assert!(metric(&d, "alarmhub_udp_dropped_total", "reason=\"peer_queue\"") > 100.0);
    let queued = metric(&d, "alarmhub_udp_queued_bytes", "");
    assert!(queued <= 2048.0, "{queued} bytes queued");
    assert!(d.wait_log("udp datagram dropped", S).is_some());
}

#[test]
fn the_udp_receive_budget_is_the_configured_datagrams_per_second() {
    // 200 a second: one datagram per 5 ms tick.
    let d = Daemon::start("udp_max_datagrams_per_sec = 200", "");
    let bad = UdpSocket::bind("127.0.0.2:0").unwrap();
    let t0 = Instant::now();
    for _ in 0..1_000 {
        let _ = bad.send_to(b"0000000000", d.panel);
    }
    std::thread::sleep(Duration::from_millis(300));
    // Every datagram read is dropped (garbage, then penalty once the source is boxed): the
    // count is what the loop read, which the budget bounds (the kernel dropped the rest or
    // they still wait in the socket's buffer).
    let read = metric(&d, "alarmhub_udp_dropped_total", "");
    let budget = 200.0 * t0.elapsed().as_secs_f64() + 20.0;
    assert!(read >= 1.0, "the datagrams were read at all");
    assert!(read <= budget, "{read} datagrams read, budget {budget:.0}");
}

#[test]
fn a_udp_flood_over_the_receive_budget_leaves_other_udp_and_tcp_panels_answered() {
    let d = Daemon::start("", "");
    let frame = unescape(F16).unwrap();
    let mut tcp = d.connect();
    // 20,000 datagrams (oversize and garbage, flat out) from the attacker's address: far over
    // the receive budget, so most are dropped by the kernel; the rest on arrival.
    let bad = UdpSocket::bind("127.0.0.2:0").unwrap();
    let (big, small) = (vec![b'1'; 60 * 1024], vec![b'0'; 1000]);
    let t0 = Instant::now();
    for i in 0..20_000 {
        let d_ = if i % 10 == 0 { &big } else { &small };
        let _ = bad.send_to(d_, d.panel);
    }
    assert!(t0.elapsed() < Duration::from_secs(60));
    // A TCP panel and a UDP panel on other addresses are answered.
    tcp.send(&frame);
    assert_eq!(tcp.recv(S).expect("the TCP panel is ACKed").seq, "0002");
    let good = UdpSocket::bind("127.0.0.3:0").unwrap();
    good.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut buf = [0u8; 512];
    let acked = (0..5).any(|_| {
        good.send_to(&frame, d.panel).unwrap();
        good.recv_from(&mut buf).is_ok()
    });
    assert!(acked, "the UDP panel is ACKed");
    let oversize = metric(&d, "alarmhub_udp_dropped_total", "reason=\"oversize\"");
    let dropped = metric(&d, "alarmhub_udp_dropped_total", "");
    assert!(
        oversize >= 1.0,
        "oversize datagrams are counted: {oversize}"
    );
    assert!(dropped <= 20_000.0, "{dropped}");
}
