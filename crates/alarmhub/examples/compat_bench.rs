//! `IsNeedSync` against a registry of many panels (used by `bench/grpc.sh`): the compat
//! service alone, in-process, over a registry where every one of `--panels` panels (default
//! 100,000) has an alarm pending; `--conns` tonic connections (default 4), each with 16 calls
//! in flight, call it back to back for `--seconds` (default 3). Client and server share the
//! machine's cores. Prints one JSON object: calls/s, and the time the registry takes to
//! count its changed panels (what each call asks it).
//!
//! ```text
//! cargo run --release -p alarmhub --example compat_bench -- --panels 100000 --conns 4 --seconds 3
//! ```
//!
//! Loopback only; every loop is bounded by `--seconds`.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alarmhub::api::compat::CompatService;
use alarmhub::config::Config;
use alarmhub::events::{Detail, Facts, NewEvent, Source, StoredEvent};
use alarmhub::proto::alarm_server::alarm_server_client::AlarmServerClient;
use alarmhub::proto::alarm_server::IsNeedSyncRequest;
use alarmhub::registry::Registry;

/// Calls in flight per connection.
const IN_FLIGHT: usize = 16;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().unwrap())
        .unwrap_or(default)
}

/// A burglary (1130, zone 1) from each of `n` panels: every panel changed, alarm pending.
fn registry(n: u64) -> Arc<Registry> {
    let events: Vec<_> = (0..n)
        .map(|i| {
            Arc::new(StoredEvent {
                seq: i as i64 + 1,
                event: NewEvent {
                    account: format!("{i:06}"),
                    source: Source::Panel,
                    code: 1130,
                    sia_code: None,
                    group: 0,
                    zone: 1,
                    received_at_ms: 1_700_000_000_123,
                    panel_time: None,
                    protocol: "HENG-BO".into(),
                    frame_seq: "0001".into(),
                    peer: "127.0.0.1:5000".into(),
                    facts: Facts::default(),
                    detail: Detail::empty(),
                    dedup_key: None,
                },
            })
        })
        .collect();
    let reg = Arc::new(Registry::new());
    reg.apply_all(&events);
    reg
}

#[tokio::main]
async fn main() {
    let panels = arg("--panels", 100_000);
    let conns = arg("--conns", 4);
    let secs = arg("--seconds", 3);
    let reg = registry(panels);
    let t0 = Instant::now();
    let changed = reg.changed_count();
    let count_ms = t0.elapsed().as_secs_f64() * 1e3;
    assert_eq!(changed as u64, panels, "every panel has a pending alarm");

    let service = CompatService::from_parts(Arc::clone(&reg), Arc::new(Config::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service.into_server())
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let calls = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs(secs);
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let c = AlarmServerClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        for _ in 0..IN_FLIGHT {
            let (mut c, calls) = (c.clone(), Arc::clone(&calls));
            tasks.push(tokio::spawn(async move {
                while Instant::now() < end {
                    let r = c.is_need_sync(IsNeedSyncRequest::default()).await.unwrap();
                    assert_eq!(r.into_inner().changed_machine_count as u64, panels);
                    calls.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let per_sec = calls.load(Ordering::Relaxed) as f64 / t0.elapsed().as_secs_f64();
    server.abort();
    println!(
        "{}",
        serde_json::json!({
            "panels": panels,
            "connections": conns,
            "in_flight_per_connection": IN_FLIGHT,
            "seconds": secs,
            "count_ms": count_ms,
            "calls_per_sec": per_sec,
        })
    );
}
