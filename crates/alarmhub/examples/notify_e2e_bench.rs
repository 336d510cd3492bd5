//! Panel ACK → webhook received, end to end through `serve` (in this process: real
//! SQLite store with fsync, alarm engine, outbox, dispatcher, loopback sockets), and the
//! panels' ACK latency with notifications off and on, side by side in one run.
//!
//! `RATE × SECONDS` Hengbo hosts (one account and one TCP connection each, connected
//! before the clock starts) each report one burglary (1130); report `i` is sent at
//! `i / RATE` s, so alarms open at `RATE` a second. Each host notes when its ACK arrives;
//! a local webhook notes when the `alarm.opened` notification of its account arrives.
//!
//! ```text
//! cargo run --release -p alarmhub --example notify_e2e_bench -- RATE SECONDS
//! ```
//! Prints two Markdown table rows (notifications off, on): rate, alarms, ACK p50/p99/max,
//! ACK → webhook p50/p99/max, webhook deliveries missing after 30 s.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alarmhub::config::Config;
use alarmhub::daemon::{serve, Bound};
use axum::extract::Request;
use panel_proto::build::{contact_id, encode, panel_frame};
use panel_proto::timestamp::Timestamp;
use panel_proto::{Data, Id};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

/// A webhook noting when the first notification of each account arrives.
async fn receiver(arrivals: Arrivals) -> std::io::Result<String> {
    let app = axum::Router::new().fallback(move |req: Request| {
        let arrivals = arrivals.clone();
        async move {
            let at = Instant::now();
            let body = axum::body::to_bytes(req.into_body(), 1 << 20)
                .await
                .unwrap_or_default();
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                if let Some(acct) = v["data"]["account"].as_str() {
                    if let Ok(mut a) = arrivals.lock() {
                        a.entry(acct.to_string()).or_insert(at);
                    }
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

fn stats(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    format!(
        "{:.1} | {:.1} | {:.1}",
        percentile(&v, 0.5),
        percentile(&v, 0.99),
        v.last().copied().unwrap_or(f64::NAN)
    )
}

fn config(dir: &std::path::Path, hook: Option<&str>) -> Result<Config, Box<dyn std::error::Error>> {
    let mut text = format!(
        "[panel]\nlisten = \"127.0.0.1:0\"\nudp = false\nmax_connections = 100000\n\
         max_connections_per_ip = 100000\nmax_new_accounts_per_source_per_min = 0\n[grpc]\nlisten = \"127.0.0.1:0\"\n\
         [http]\nlisten = \"127.0.0.1:0\"\n[store]\ndata_dir = \"{}\"\n",
        dir.display()
    );
    if let Some(url) = hook {
        text.push_str(&format!(
            "[[notify.channels]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{url}\"\n\
             secret = \"whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"\nconcurrency = 16\n\
             [[notify.rules]]\nchannels = [\"hook\"]\nstates = [\"opened\"]\n"
        ));
    }
    Ok(Config::from_toml_str(&text, "<bench>")?)
}

type Acked = (String, Instant, Instant);

/// One host: connect, wait for its turn, report, read the ACK, tell `done`, and keep the
/// connection open until `end` (a close would be an OFFLINE).
async fn host(
    addr: SocketAddr,
    account: String,
    at: tokio::time::Instant,
    done: tokio::sync::mpsc::UnboundedSender<Acked>,
    end: tokio_util::sync::CancellationToken,
) {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return;
    };
    let _ = s.set_nodelay(true);
    let frame = panel_frame(
        Id::HengBo,
        1,
        Some("123ABC"),
        Some("456DEF"),
        &account,
        Data::ContactId(contact_id(Some("000123"), 1130, 1, 3)),
        Some(Timestamp::from_unix(alarmhub::clock::now_ms() / 1000)),
    );
    let mut bytes = Vec::new();
    if encode(&frame, &mut bytes).is_err() {
        return;
    }
    tokio::time::sleep_until(at).await;
    let sent = Instant::now();
    if s.write_all(&bytes).await.is_err() {
        return;
    }
    let mut buf = [0u8; 512];
    if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf)).await {
        if n > 0 {
            let _ = done.send((account, sent, Instant::now()));
        }
    }
    end.cancelled().await;
}

async fn run(rate: u64, secs: u64, notify: bool) -> Result<String, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let arrivals: Arrivals = Arc::default();
    let url = receiver(arrivals.clone()).await?;
    let cfg = config(dir.path(), notify.then_some(url.as_str()))?;
    let (btx, brx) = tokio::sync::oneshot::channel::<Bound>();
    let (stop, srx) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(serve(
        cfg,
        async move {
            let _ = srx.await;
        },
        move |b, _| {
            let _ = btx.send(b.clone());
        },
    ));
    let bound = brx.await?;
    let n = usize::try_from(rate * secs)?;
    let t0 = tokio::time::Instant::now() + Duration::from_secs(3);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let end = tokio_util::sync::CancellationToken::new();
    for i in 0..n {
        let at = t0 + Duration::from_secs_f64(i as f64 / rate as f64);
        let account = format!("86{:010}", i + 1);
        tokio::spawn(host(bound.panel, account, at, tx.clone(), end.clone()));
    }
    drop(tx);
    let mut acked: HashMap<String, (Instant, Instant)> = HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs + 35);
    while acked.len() < n {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some((a, s, k))) => {
                acked.insert(a, (s, k));
            }
            _ => break,
        }
    }
    if notify {
        let until = Instant::now() + Duration::from_secs(30);
        while arrivals.lock().map(|a| a.len()).unwrap_or(0) < acked.len() && Instant::now() < until
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let _ = stop.send(());
    let _ = daemon.await;
    end.cancel();
    let ack_ms: Vec<f64> = acked
        .values()
        .map(|(s, k)| k.duration_since(*s).as_secs_f64() * 1000.0)
        .collect();
    let arrivals = arrivals.lock().map(|a| a.clone()).unwrap_or_default();
    let hook_ms: Vec<f64> = acked
        .iter()
        .filter_map(|(a, (_, k))| {
            arrivals
                .get(a)
                .map(|w| w.saturating_duration_since(*k).as_secs_f64() * 1000.0)
        })
        .collect();
    let (hook, missing) = if notify {
        let missing = acked.len() - hook_ms.len();
        (stats(hook_ms), missing.to_string())
    } else {
        ("– | – | –".to_string(), "–".to_string())
    };
    Ok(format!(
        "| {} | {rate}/s | {} of {n} | {} | {hook} | {missing} |",
        if notify { "on" } else { "off" },
        acked.len(),
        stats(ack_ms)
    ))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (rate, secs) = (arg(1, 100).max(1), arg(2, 10).max(1));
    println!("{}", run(rate, secs, false).await?);
    println!("{}", run(rate, secs, true).await?);
    Ok(())
}
