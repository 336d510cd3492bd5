//! gRPC benchmark driver (used by `bench/grpc.sh`): against a running `alarmhub serve`,
//! 1. `IsNeedSync` calls/s from C concurrent clients for T seconds;
//! 2. panel event → `WatchEvents` subscriber latency at R events/s: raw Contact ID frames over
//!    TCP, the time from writing a frame to receiving its event on a live watch stream.
//!
//! Prints one JSON object. Loopback only; every loop is bounded by its duration.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alarmhub::proto::alarm_server::alarm_server_client::AlarmServerClient;
use alarmhub::proto::alarm_server::IsNeedSyncRequest;
use alarmhub::proto::v1::alarm_hub_client::AlarmHubClient;
use alarmhub::proto::v1::{watch_events_reply, WatchEventsRequest};
use panel_proto::build::{contact_id, encode, panel_frame};
use panel_proto::{Data, Id};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

#[tokio::main]
async fn main() {
    let grpc = arg("--grpc", "127.0.0.1:50051");
    let panel = arg("--panel", "127.0.0.1:12345");
    let clients: usize = arg("--clients", "8").parse().unwrap();
    let secs: u64 = arg("--seconds", "10").parse().unwrap();
    let rate: u64 = arg("--rate", "1000").parse().unwrap();
    let panels: usize = arg("--panels", "20").parse().unwrap();
    let url = format!("http://{grpc}");

    // 1. IsNeedSync throughput.
    let calls = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (url, calls) = (url.clone(), Arc::clone(&calls));
        tasks.push(tokio::spawn(async move {
            let mut c = AlarmServerClient::connect(url).await.unwrap();
            while Instant::now() < end {
                c.is_need_sync(IsNeedSyncRequest {
                    empty: String::new(),
                })
                .await
                .unwrap();
                calls.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let t0 = Instant::now();
    for t in tasks {
        t.await.unwrap();
    }
    let is_need_sync_per_sec = calls.load(Ordering::Relaxed) as f64 / t0.elapsed().as_secs_f64();

    // 2. Event → WatchEvents latency.
    let sent: Arc<Mutex<HashMap<(String, u16), Instant>>> = Arc::default();
    let mut w = AlarmHubClient::connect(url.clone()).await.unwrap();
    let mut stream = w
        .watch_events(WatchEventsRequest {
            from_seq: -1,
            account: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let lat: Arc<Mutex<Vec<f64>>> = Arc::default();
    let watcher = {
        let (sent, lat) = (Arc::clone(&sent), Arc::clone(&lat));
        tokio::spawn(async move {
            while let Ok(Some(r)) = stream.message().await {
                if let Some(watch_events_reply::Item::Event(e)) = r.item {
                    if e.code != 1130 {
                        continue;
                    }
                    let key = (e.account.clone(), u16::try_from(e.zone).unwrap_or(0));
                    if let Some(t) = sent.lock().unwrap().remove(&key) {
                        lat.lock().unwrap().push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                }
            }
        })
    };
    let per_panel = Duration::from_secs_f64(panels as f64 / rate as f64);
    let end = Instant::now() + Duration::from_secs(secs);
    let mut ptasks = Vec::new();
    let acks: Arc<Mutex<Vec<f64>>> = Arc::default();
    for i in 0..panels {
        let (panel, sent, acks) = (panel.clone(), Arc::clone(&sent), Arc::clone(&acks));
        ptasks.push(tokio::spawn(async move {
            let account = format!("BENCH{i:04}");
            let mut s = tokio::net::TcpStream::connect(&panel).await.unwrap();
            s.set_nodelay(true).unwrap();
            let mut tick = tokio::time::interval(per_panel);
            let (mut seq, mut zone, mut buf, mut rbuf) = (0u16, 0u16, Vec::new(), vec![0u8; 4096]);
            let mut n = 0u64;
            while Instant::now() < end {
                tick.tick().await;
                seq = seq % 9999 + 1;
                zone = zone % 999 + 1;
                let f = panel_frame(
                    Id::AdmCid,
                    seq,
                    None,
                    Some("0"),
                    &account,
                    Data::ContactId(contact_id(Some(&account), 1130, 0, zone)),
                    None,
                );
                buf.clear();
                encode(&f, &mut buf).unwrap();
                sent.lock()
                    .unwrap()
                    .insert((account.clone(), zone), Instant::now());
                let t = Instant::now();
                s.write_all(&buf).await.unwrap();
                // Wait for the ACK (the panel protocol is one outstanding event).
                if let Ok(Ok(_)) =
                    tokio::time::timeout(Duration::from_secs(5), s.read(&mut rbuf)).await
                {
                    acks.lock()
                        .unwrap()
                        .push(t.elapsed().as_secs_f64() * 1000.0);
                }
                n += 1;
            }
            n
        }));
    }
    let mut events = 0;
    for t in ptasks {
        events += t.await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    watcher.abort();
    let mut l = lat.lock().unwrap().clone();
    l.sort_by(|a, b| a.total_cmp(b));
    let mut a = acks.lock().unwrap().clone();
    a.sort_by(|x, y| x.total_cmp(y));
    println!(
        "{}",
        serde_json::json!({
            "is_need_sync_per_sec": is_need_sync_per_sec.round(),
            "is_need_sync_clients": clients,
            "events_sent": events,
            "events_per_sec": (events as f64 / secs as f64).round(),
            "watch_samples": l.len(),
            "watch_p50_ms": pct(&l, 0.50),
            "watch_p99_ms": pct(&l, 0.99),
            "watch_max_ms": l.last().copied().unwrap_or(f64::NAN),
            "ack_p50_ms": pct(&a, 0.50),
            "ack_p99_ms": pct(&a, 0.99),
        })
    );
}
