//! Abuse benchmark driver (used by `bench/abuse.sh`): against a running `alarmhub serve`,
//! one well-behaved panel reports an event every `--interval-ms` on its own connection (from
//! its own loopback address, `--good-source`, default 127.0.0.3: per-source limits and the
//! penalty box that stop an attacker must not be what the panel measures) and times each ACK,
//! while one attack runs next to it for `--seconds` (from 127.0.0.1 unless said):
//!
//! * `quiet`: no attack (the baseline p99);
//! * `log`: 8 connections send `\nX` garbage as fast as the receiver reads it;
//! * `connections`: connections opened and held from 127.0.0.2 until refused, then again;
//! * `udp`: 200 UDP peers send 1,000-byte datagrams and 60 KiB oversize ones, flat out;
//! * `squat`: 4,000 made-up accounts per connection, connection after connection;
//! * `grpc`: `--streams` WatchEvents streams from seq 0 that never read (the HTTP/2 window
//!   the client grants is never given back), and `--members` Subscribe members with
//!   max_in_flight 10,000 that never read.
//!
//! The good panel runs on a thread and runtime of its own (`--panel-runtime own`, the
//! default), like a panel on another machine: with `shared` it shares the runtime of the
//! attack's tasks, and its ACK times then include waiting for them to yield.
//!
//! `--attacker-sched idle` runs the attack's threads under Linux's `SCHED_IDLE` policy, so they
//! get only CPU time the daemon and the good panel leave: on a 2-CPU test machine this stands
//! in for an attacker on another machine, whose own CPU use would not come out of the
//! receiver's. The daemon's work on the attack (accepting, reading, refusing) is unchanged.
//! The default, `normal`, shares the CPUs evenly.
//!
//! Prints one JSON object. Loopback only; every loop is bounded by the duration.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alarmhub::proto::v1::alarm_hub_client::AlarmHubClient;
use alarmhub::proto::v1::{
    subscribe_request, SubscribeRequest, SubscribeStart, WatchEventsRequest,
};
use panel_proto::build::{contact_id, encode, panel_frame};
use panel_proto::framing::{Decoded, Decoder, DecoderConfig};
use panel_proto::{Data, Id};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn frame(account: &str, seq: u16, id: Id, data: Data) -> Vec<u8> {
    let f = panel_frame(id, seq, Some("123ABC"), Some("456DEF"), account, data, None);
    let mut out = Vec::new();
    encode(&f, &mut out).unwrap();
    out
}

/// The good panel from `source`: one event per interval, ACK latency of each (ms).
async fn good_panel(
    addr: SocketAddr,
    source: IpAddr,
    interval: Duration,
    end: Instant,
) -> Vec<f64> {
    let sock = TcpSocket::new_v4().unwrap();
    sock.bind(SocketAddr::new(source, 0)).unwrap();
    let mut s = sock.connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let decoder = Decoder::new(DecoderConfig::default());
    let mut buf = Vec::new();
    let mut lat = Vec::new();
    let mut seq: u16 = 0;
    while Instant::now() < end {
        seq = seq % 9999 + 1;
        let data = Data::ContactId(contact_id(Some("000123"), 1130, 0, seq % 100));
        let bytes = frame("GOOD0001", seq, Id::AdmCid, data);
        let t0 = Instant::now();
        s.write_all(&bytes).await.unwrap();
        let acked = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                while let Decoded::Frame { frame, consumed } = decoder.decode(&buf) {
                    buf.drain(..consumed);
                    if frame.id == Id::Ack && frame.seq.as_str() == format!("{seq:04}") {
                        return true;
                    }
                }
                let mut tmp = [0u8; 4096];
                match s.read(&mut tmp).await {
                    Ok(0) | Err(_) => return false,
                    Ok(n) => buf.extend_from_slice(&tmp[..n]),
                }
            }
        })
        .await
        .unwrap_or(false);
        lat.push(if acked {
            t0.elapsed().as_secs_f64() * 1000.0
        } else {
            10_000.0
        });
        tokio::time::sleep(interval.saturating_sub(t0.elapsed())).await;
    }
    lat
}

/// Bytes of attack traffic sent (for log bytes per garbage byte).
static SENT: AtomicU64 = AtomicU64::new(0);

async fn garbage(addr: SocketAddr, end: Instant) {
    let chunk = b"\nX".repeat(32 * 1024);
    while Instant::now() < end {
        let Ok(mut s) = TcpStream::connect(addr).await else {
            continue;
        };
        let (mut rd, mut wr) = s.split();
        let mut drain = [0u8; 1024];
        while Instant::now() < end {
            tokio::select! {
                r = wr.write_all(&chunk) => {
                    if r.is_err() { break; }
                    SENT.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                }
                r = rd.read(&mut drain) => if matches!(r, Ok(0) | Err(_)) { break; },
            }
        }
    }
}

async fn connections(addr: SocketAddr, end: Instant) {
    let mut held = Vec::new();
    while Instant::now() < end {
        // Out of descriptors (the attacker's own limit): let go of what it holds and go on,
        // as a real attacker's tool would.
        let Ok(sock) = TcpSocket::new_v4() else {
            held.clear();
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = sock.bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), 0));
        match tokio::time::timeout(Duration::from_secs(1), sock.connect(addr)).await {
            Ok(Ok(s)) => {
                SENT.fetch_add(1, Ordering::Relaxed);
                held.push(s);
                if held.len() >= 20_000 {
                    held.clear();
                }
            }
            _ => {
                held.clear();
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        if held.len() % 500 == 0 {
            tokio::task::yield_now().await;
        }
    }
}

async fn udp(addr: SocketAddr, end: Instant) {
    let mut socks = Vec::new();
    for _ in 0..200 {
        socks.push(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    }
    let small = vec![b'0'; 1000];
    let big = vec![b'1'; 60 * 1024];
    let mut i = 0usize;
    while Instant::now() < end {
        let s = &socks[i % socks.len()];
        let d = if i % 10 == 0 { &big } else { &small };
        if s.send_to(d, addr).await.is_ok() {
            SENT.fetch_add(d.len() as u64, Ordering::Relaxed);
        }
        i += 1;
        if i % 256 == 0 {
            tokio::task::yield_now().await;
        }
    }
}

async fn squat(addr: SocketAddr, end: Instant) {
    let mut n = 0u64;
    while Instant::now() < end {
        let Ok(mut s) = TcpStream::connect(addr).await else {
            continue;
        };
        let mut all = Vec::new();
        for _ in 0..4000 {
            n += 1;
            all.extend(frame(&format!("SQ{n:08}"), 0, Id::Null, Data::Empty));
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), s.write_all(&all)).await;
        SENT.fetch_add(all.len() as u64, Ordering::Relaxed);
    }
}

async fn grpc(grpc: String, streams: usize, members: usize, end: Instant) {
    let url = format!("http://{grpc}");
    let mut held = Vec::new();
    let mut refused = 0u64;
    for i in 0..streams + members {
        // A connection per 100 streams; each grants the smallest window and never reads.
        let ch = tonic::transport::Endpoint::from_shared(url.clone())
            .unwrap()
            .initial_stream_window_size(65_535)
            .initial_connection_window_size(65_535 * 100)
            .connect()
            .await
            .unwrap();
        let mut c = AlarmHubClient::new(ch);
        if i < streams {
            let req = WatchEventsRequest {
                from_seq: 0,
                account: String::new(),
            };
            match c.watch_events(req).await {
                Ok(r) => held.push(Box::new(r) as Box<dyn std::any::Any + Send>),
                Err(_) => refused += 1,
            }
        } else {
            let (tx, rx) = tokio::sync::mpsc::channel(4);
            let start = SubscribeRequest {
                msg: Some(subscribe_request::Msg::Start(SubscribeStart {
                    group: format!("bench{i}"),
                    account: String::new(),
                    max_in_flight: 10_000,
                })),
            };
            tx.send(start).await.unwrap();
            match c
                .subscribe(tokio_stream::wrappers::ReceiverStream::new(rx))
                .await
            {
                Ok(r) => {
                    held.push(Box::new(r));
                    held.push(Box::new(tx));
                }
                Err(_) => refused += 1,
            }
        }
        if Instant::now() > end {
            break;
        }
    }
    SENT.fetch_add(refused, Ordering::Relaxed);
    tokio::time::sleep(end.saturating_duration_since(Instant::now())).await;
    drop(held);
}

/// Puts the calling thread under Linux's `SCHED_IDLE` policy, through `chrt` (util-linux) on
/// its thread id.
fn sched_idle_this_thread() {
    // "/proc/thread-self" links to "<pid>/task/<tid>".
    let link = std::fs::read_link("/proc/thread-self").expect("read /proc/thread-self");
    let tid = link
        .file_name()
        .and_then(|t| t.to_str())
        .expect("a thread id")
        .to_string();
    let ok = std::process::Command::new("chrt")
        .args(["--idle", "--pid", "0", &tid])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "chrt --idle --pid 0 {tid} failed (is util-linux installed?)"
    );
}

fn main() {
    let idle = match arg("--attacker-sched", "normal").as_str() {
        "normal" => false,
        "idle" => true,
        other => panic!("--attacker-sched {other}: expected normal or idle"),
    };
    if idle && arg("--panel-runtime", "own") == "shared" {
        panic!("--attacker-sched idle needs --panel-runtime own");
    }
    // The attack's tasks run on the runtime's worker (and blocking) threads; the main thread,
    // which polls `run` itself and starts the good panel's thread (a thread inherits its
    // creator's policy), stays at normal priority.
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if idle {
        rt.on_thread_start(sched_idle_this_thread);
    }
    rt.build().unwrap().block_on(run());
}

async fn run() {
    let panel: SocketAddr = arg("--panel", "127.0.0.1:12345").parse().unwrap();
    let grpc_addr = arg("--grpc", "127.0.0.1:50051");
    let attack = arg("--attack", "quiet");
    let secs: u64 = arg("--seconds", "10").parse().unwrap();
    let interval = Duration::from_millis(arg("--interval-ms", "20").parse().unwrap());
    let streams: usize = arg("--streams", "1000").parse().unwrap();
    let members: usize = arg("--members", "100").parse().unwrap();
    let good_source: IpAddr = arg("--good-source", "127.0.0.3").parse().unwrap();
    let end = Instant::now() + Duration::from_secs(secs);
    let attack_task = {
        let attack = attack.clone();
        tokio::spawn(async move {
            match attack.as_str() {
                "quiet" => {}
                "log" => {
                    let t: Vec<_> = (0..8).map(|_| tokio::spawn(garbage(panel, end))).collect();
                    for t in t {
                        let _ = t.await;
                    }
                }
                "connections" => connections(panel, end).await,
                "udp" => udp(panel, end).await,
                "squat" => squat(panel, end).await,
                "grpc" => grpc(grpc_addr, streams, members, end).await,
                other => panic!("unknown attack {other}"),
            }
        })
    };
    // Let the attack get going before the good panel starts measuring.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut lat = match arg("--panel-runtime", "own").as_str() {
        "shared" => good_panel(panel, good_source, interval, end).await,
        _ => {
            let own = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(good_panel(panel, good_source, interval, end))
            });
            own.join().unwrap()
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(30), attack_task).await;
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let lost = lat.iter().filter(|l| **l >= 10_000.0).count();
    println!(
        "{}",
        serde_json::json!({
            "attack": attack,
            "acks": lat.len() - lost,
            "lost": lost,
            "p50_ms": pct(&lat, 0.5),
            "p99_ms": pct(&lat, 0.99),
            "max_ms": lat.last().copied().unwrap_or(f64::NAN),
            "attack_units": SENT.load(Ordering::Relaxed),
        })
    );
}
