//! Seeds panels and open alarms for the console benchmark (`bench/console.sh`): one event per
//! account `PREFIX000000`…, pushed through the daemon's own `Ingest` call — a burglary (1130)
//! for the first `--alarms` accounts (the alarm engine opens one alarm each, exactly as for a
//! panel's event), a periodic test report (1602, no alarm) for the rest. The API creates no
//! machines, so each account is added first (`PutAccount`, 32 at a time).
//!
//! `console_seed --grpc ADDR --panels N --alarms M [--prefix Q]` prints
//! `{"ingested": N, "seconds": S}`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use alarmhub::proto::v1::alarm_hub_client::AlarmHubClient;
use alarmhub::proto::v1::{IngestEvent, PutAccountRequest};
use futures::stream::{self, StreamExt};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let grpc = arg("--grpc").expect("--grpc ADDR");
    let n: usize = arg("--panels").map_or(10_000, |s| s.parse().expect("--panels N"));
    let alarms: usize = arg("--alarms").map_or(n, |s| s.parse().expect("--alarms M"));
    let prefix = arg("--prefix").unwrap_or_else(|| "Q".into());
    let mut client = AlarmHubClient::connect(format!("http://{grpc}"))
        .await
        .expect("connect");
    let t0 = Instant::now();
    let puts = stream::iter(0..n).map(|i| {
        let mut c = client.clone();
        let account = format!("{prefix}{i:06}");
        async move {
            c.put_account(PutAccountRequest {
                account,
                settings_json: "{}".into(),
                create: true,
            })
            .await
            .expect("PutAccount")
        }
    });
    puts.buffer_unordered(32).for_each(|_| async {}).await;
    let events: Vec<IngestEvent> = (0..n)
        .map(|i| IngestEvent {
            account: format!("{prefix}{i:06}"),
            code: if i < alarms { 1130 } else { 1602 },
            zone: 1 + (i % 8) as i32,
            idempotency_key: format!("console-seed-{prefix}-{i}"),
            ..IngestEvent::default()
        })
        .collect();
    let reply = client
        .ingest(tokio_stream::iter(events))
        .await
        .expect("Ingest")
        .into_inner();
    println!(
        "{{\"ingested\": {}, \"seconds\": {:.2}}}",
        reply.accepted,
        t0.elapsed().as_secs_f64()
    );
}
