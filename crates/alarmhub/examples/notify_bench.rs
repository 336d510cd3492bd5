//! Outbox → webhook latency and throughput of the notification dispatcher, on loopback:
//! notifications are written to the in-memory outbox at a steady rate (waking the
//! dispatcher, as the store will after each commit) and a local webhook receiver notes
//! when each arrives. It measures the delivery side of "panel ACK → webhook received"; the
//! store commit in front of it is measured by the store's own benchmarks.
//!
//! ```text
//! cargo run --release -p alarmhub --example notify_bench -- RATE_PER_SEC SECONDS [CONCURRENCY]
//! ```
//! Prints one line: rate, sent, received, p50/p99/max latency in ms, elapsed seconds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alarmhub::notify::{
    Dispatcher, MemoryOutbox, Notification, NotificationId, NotifyConfig, Outbox, Router, What,
};
use axum::extract::Request;
use tokio_util::sync::CancellationToken;

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

async fn receiver(arrivals: Arrivals) -> std::io::Result<String> {
    let app = axum::Router::new().fallback(move |req: Request| {
        let arrivals = arrivals.clone();
        async move {
            if let Some(id) = req
                .headers()
                .get("webhook-id")
                .and_then(|v| v.to_str().ok())
            {
                if let Ok(mut a) = arrivals.lock() {
                    a.insert(id.to_string(), Instant::now());
                }
            }
            ""
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}/hook"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (rate, secs, concurrency) = (arg(1, 100).max(1), arg(2, 10), arg(3, 16));
    let arrivals: Arrivals = Arc::default();
    let url = receiver(arrivals.clone()).await?;
    let config: NotifyConfig = toml::from_str(&format!(
        "[[channels]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{url}\"\n\
         secret = \"whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"\nconcurrency = {concurrency}\n\
         [[rules]]\nchannels = [\"hook\"]\n"
    ))?;
    let outbox = Arc::new(MemoryOutbox::new());
    let dispatcher = Dispatcher::new(&config, outbox.clone())?;
    let wake = dispatcher.handle();
    let stop = CancellationToken::new();
    let task = tokio::spawn(dispatcher.run(stop.clone()));
    let router = Router::new(&config);
    let mut sent: HashMap<String, Instant> = HashMap::new();
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let total = rate * secs;
    while (sent.len() as u64) < total {
        tick.tick().await;
        let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
        while (sent.len() as u64) < due.min(total) {
            let i = sent.len() as i64;
            let id = NotificationId::for_alarm(i, What::AlarmOpened, 0);
            let n = Notification::for_event(id.clone(), What::AlarmOpened, "1", 1130, None, 0);
            outbox.enqueue(&n, &router.targets(&n), 0).await?;
            sent.insert(id.to_string(), Instant::now());
        }
        wake.wake();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while arrivals.lock().map(|a| a.len()).unwrap_or(0) < sent.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    let _ = task.await;
    let got = arrivals.lock().map(|a| a.clone()).unwrap_or_default();
    let mut lat: Vec<f64> = sent
        .iter()
        .filter_map(|(id, t)| {
            got.get(id)
                .map(|r| r.duration_since(*t).as_secs_f64() * 1000.0)
        })
        .collect();
    lat.sort_by(|a, b| a.total_cmp(b));
    println!(
        "rate {rate}/s sent {} received {} p50 {:.1} ms p99 {:.1} ms max {:.1} ms in {:.1} s",
        sent.len(),
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
