//! Output benchmarks (bench/outputs.sh writes the result into BENCHMARKS.md):
//!
//! 1. Sur-Gard drain rate: a 100,000-event backlog against a central station that ACKs
//!    every message at once, over loopback;
//! 2. commit → Sur-Gard message latency at 100 events/s;
//! 3. commit → MQTT state message latency at 100 events/s, through the Mosquitto on
//!    127.0.0.1:1883 (skipped when none answers).
//!
//! "Commit" is the append to the in-memory log: the moment the daemon ACKs the panel (after
//! its durable write) and publishes the event. Prints one markdown table on stdout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alarmhub::config::{AutomationConfig, Config, MqttConfig};
use alarmhub::events::{NewEvent, Source};
use alarmhub::outputs::memory::{MemoryCursors, MemoryLog, MemoryPanels};
use alarmhub::outputs::{self, CommandOutcome, ControlCommand, Controller, Sources};
use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

struct Refuse;
impl Controller for Refuse {
    fn execute(&self, _c: ControlCommand) -> BoxFuture<'_, CommandOutcome> {
        async { CommandOutcome::BadRequest("benchmark".into()) }.boxed()
    }
}

fn event(account: &str, code: u16, zone: u16) -> NewEvent {
    NewEvent {
        account: account.into(),
        source: Source::Panel,
        code,
        sia_code: None,
        group: 0,
        zone,
        received_at_ms: 0,
        panel_time: None,
        protocol: "HENG-BO".into(),
        frame_seq: "0001".into(),
        peer: "127.0.0.1:9".into(),
        detail: serde_json::json!({}).into(),
        facts: Default::default(),
        dedup_key: None,
    }
}

struct Setup {
    log: Arc<MemoryLog>,
    cursors: Arc<MemoryCursors>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    running: outputs::Running,
}

fn setup(
    config: Config,
    cursor: Option<(&str, i64)>,
    log: Arc<MemoryLog>,
    panels: Arc<MemoryPanels>,
) -> Setup {
    let cursors = Arc::new(MemoryCursors::default());
    if let Some((name, seq)) = cursor {
        cursors.set(name, seq);
    }
    let sources = Sources {
        log: log.clone(),
        cursors: cursors.clone(),
        controller: Arc::new(Refuse),
        panels,
    };
    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    let running = outputs::spawn(&config, sources, cancel.clone(), &tracker);
    Setup {
        log,
        cursors,
        cancel,
        tracker,
        running,
    }
}

impl Setup {
    async fn stop(self) {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

fn surgard_config() -> Config {
    let mut c = Config::default();
    c.automation.push(AutomationConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..AutomationConfig::surgard("bench")
    });
    c
}

async fn cms(s: &mut Setup) -> TcpStream {
    let st = s.running.surgard[0]
        .wait_for(|x| x.listening.is_some())
        .await
        .unwrap()
        .clone();
    TcpStream::connect(st.listening.unwrap()).await.unwrap()
}

/// Read messages, ACK each, call `seen` with the arrival time; stop after `n`.
async fn ack_all(mut stream: TcpStream, n: usize, mut seen: impl FnMut(Instant, &[u8])) {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut count = 0;
    while count < n {
        let r = stream.read(&mut chunk).await.unwrap();
        assert!(r > 0, "output closed");
        buf.extend_from_slice(&chunk[..r]);
        while let Some(end) = buf.iter().position(|&b| b == 0x14) {
            let msg: Vec<u8> = buf.drain(..=end).collect();
            if msg.starts_with(b"1011") {
                stream.write_all(&[0x06]).await.unwrap();
                continue;
            }
            seen(Instant::now(), &msg);
            stream.write_all(&[0x06]).await.unwrap();
            count += 1;
        }
    }
}

async fn drain(n: usize) -> (f64, Duration) {
    let log = Arc::new(MemoryLog::default());
    for i in 0..n {
        log.append(event("1234", 1130, (i % 1000) as u16));
    }
    let mut s = setup(
        surgard_config(),
        Some(("automation:bench", 0)),
        log,
        Arc::default(),
    );
    let stream = cms(&mut s).await;
    let t0 = Instant::now();
    ack_all(stream, n, |_, _| {}).await;
    let took = t0.elapsed();
    while s.cursors.get("automation:bench") != Some(n as i64) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    s.stop().await;
    (n as f64 / took.as_secs_f64(), took)
}

fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    let at = |p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)];
    (at(0.5), at(0.99), *v.last().unwrap())
}

async fn paced(n: usize, rate: u32, mut append: impl FnMut(usize)) {
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
    for i in 0..n {
        tick.tick().await;
        append(i);
    }
}

async fn surgard_latency(n: usize) -> (Duration, Duration, Duration) {
    let log = Arc::new(MemoryLog::default());
    let mut s = setup(
        surgard_config(),
        Some(("automation:bench", 0)),
        log,
        Arc::default(),
    );
    let stream = cms(&mut s).await;
    let sent: Arc<Mutex<VecDeque<Instant>>> = Arc::default();
    let lat: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let (sent2, lat2) = (sent.clone(), lat.clone());
    let reader = tokio::spawn(ack_all(stream, n, move |at, _| {
        let t = sent2.lock().unwrap().pop_front().unwrap();
        lat2.lock().unwrap().push(at - t);
    }));
    let log = s.log.clone();
    paced(n, 100, |i| {
        sent.lock().unwrap().push_back(Instant::now());
        log.append(event("1234", 1130, (i % 1000) as u16));
    })
    .await;
    reader.await.unwrap();
    s.stop().await;
    let v = lat.lock().unwrap().clone();
    percentiles(v)
}

async fn mqtt_latency(n: usize) -> Option<(Duration, Duration, Duration)> {
    TcpStream::connect("127.0.0.1:1883").await.ok()?;
    let base = format!("ahbench-{}", std::process::id());
    let panels = Arc::new(MemoryPanels::default());
    let log = Arc::new(MemoryLog::new(Some(panels.clone())));
    let accounts: Vec<String> = (0..100).map(|i| format!("{:04}", 1000 + i)).collect();
    for a in &accounts {
        log.append(event(a, 1400, 0));
    }
    let mut config = Config::default();
    config.mqtt = Some(MqttConfig {
        base_topic: base.clone(),
        discovery_prefix: format!("{base}-ha"),
        client_id: Some(format!("{base}-bridge")),
        ..MqttConfig::default()
    });
    let mut s = setup(config, None, log, panels);
    s.running
        .mqtt
        .as_mut()
        .unwrap()
        .wait_for(|x| x.connected)
        .await
        .ok()?;
    let mut o = rumqttc::MqttOptions::new(format!("{base}-sub"), "127.0.0.1", 1883);
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut el) = rumqttc::AsyncClient::new(o, 64);
    client
        .subscribe(format!("{base}/+/state"), rumqttc::QoS::AtLeastOnce)
        .await
        .ok()?;
    // Per account: when each state change was committed, matched in order with arrivals.
    let sent: Arc<Mutex<HashMap<String, VecDeque<Instant>>>> = Arc::default();
    let sent2 = sent.clone();
    let reader = tokio::spawn(async move {
        let mut lat = Vec::new();
        let mut subscribed = false;
        while lat.len() < n {
            match el.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => subscribed = true,
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)))
                    if subscribed && !p.retain =>
                {
                    let acct = p.topic.split('/').nth(1).unwrap_or("").to_string();
                    if let Some(t) = sent2
                        .lock()
                        .unwrap()
                        .get_mut(&acct)
                        .and_then(|q| q.pop_front())
                    {
                        lat.push(t.elapsed());
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        lat
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = s.log.clone();
    paced(n, 100, |i| {
        let a = &accounts[i % accounts.len()];
        // Alternate arm and disarm so every event changes the account's state.
        let code = if (i / accounts.len()) % 2 == 0 {
            3400
        } else {
            1400
        };
        sent.lock()
            .unwrap()
            .entry(a.clone())
            .or_default()
            .push_back(Instant::now());
        log.append(event(a, code, 0));
    })
    .await;
    let lat = tokio::time::timeout(Duration::from_secs(30), reader)
        .await
        .ok()?
        .ok()?;
    s.stop().await;
    // Leave no retained topics behind on the shared broker.
    for a in &accounts {
        for t in ["state", "availability"] {
            let _ = client
                .publish(
                    format!("{base}/{a}/{t}"),
                    rumqttc::QoS::AtLeastOnce,
                    true,
                    Vec::new(),
                )
                .await;
        }
        let _ = client
            .publish(
                format!(
                    "{base}-ha/alarm_control_panel/{}/{a}/config",
                    base.replace('-', "_2d")
                ),
                rumqttc::QoS::AtLeastOnce,
                true,
                Vec::new(),
            )
            .await;
    }
    let _ = client
        .publish(
            format!("{base}/status"),
            rumqttc::QoS::AtLeastOnce,
            true,
            Vec::new(),
        )
        .await;
    let _ = client.disconnect().await;
    Some(percentiles(lat))
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let backlog: usize = std::env::var("BACKLOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let paced_n: usize = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let (rate, took) = drain(backlog).await;
    let (p50, p99, max) = surgard_latency(paced_n).await;
    println!("| measurement | result |");
    println!("|---|---|");
    println!("| Sur-Gard drain of a {backlog}-event backlog, CMS ACKs at once | {rate:.0} messages/s ({:.2} s) |", took.as_secs_f64());
    println!(
        "| commit → Sur-Gard message, {paced_n} events at 100/s | p50 {} · p99 {} · max {} |",
        ms(p50),
        ms(p99),
        ms(max)
    );
    match mqtt_latency(paced_n).await {
        Some((p50, p99, max)) => println!(
            "| commit → MQTT state message (Mosquitto, QoS 1), {paced_n} events at 100/s over 100 panels | p50 {} · p99 {} · max {} |",
            ms(p50), ms(p99), ms(max)
        ),
        None => println!("| commit → MQTT state message | not measured: no broker on 127.0.0.1:1883 |"),
    }
}
