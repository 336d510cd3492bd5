//! Home Assistant's side of the MQTT tests (a client that subscribes, collects and
//! publishes as Home Assistant does), and a TCP proxy to the broker that a test cuts and
//! restores to stage a broker restart without touching the machine's shared Mosquitto.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::BTreeSet;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{timeout, Instant};

/// The broker every MQTT test uses.
pub const BROKER: &str = "127.0.0.1:1883";
/// Bound for every wait.
pub const WAIT: Duration = Duration::from_secs(20);

/// One received message.
#[derive(Debug, Clone)]
pub struct Msg {
    pub topic: String,
    pub payload: String,
    pub retain: bool,
}

/// Home Assistant's side: subscribes, collects, publishes commands.
pub struct Ha {
    client: AsyncClient,
    rx: mpsc::UnboundedReceiver<Msg>,
    seen: Vec<Msg>,
    unmatched: Vec<Msg>,
}

impl Ha {
    pub async fn connect(id: &str, filters: &[String]) -> Ha {
        let mut o = MqttOptions::new(id, "127.0.0.1", 1883);
        o.set_keep_alive(Duration::from_secs(10));
        o.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut eventloop) = AsyncClient::new(o, 64);
        let (tx, rx) = mpsc::unbounded_channel();
        let (sub_tx, mut sub_rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let m = Msg {
                            topic: p.topic.clone(),
                            payload: String::from_utf8_lossy(&p.payload).into_owned(),
                            retain: p.retain,
                        };
                        if tx.send(m).is_err() {
                            return;
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = sub_tx.send(());
                    }
                    Ok(_) => {}
                    Err(e) => panic!("test client lost the broker at {BROKER}: {e}"),
                }
            }
        });
        for f in filters {
            client.subscribe(f, QoS::AtLeastOnce).await.unwrap();
            timeout(WAIT, sub_rx.recv()).await.unwrap().unwrap();
        }
        Ha {
            client,
            rx,
            seen: Vec::new(),
            unmatched: Vec::new(),
        }
    }

    /// Wait for a message on `topic` whose payload satisfies `ok`, in arrival order per
    /// topic: messages on `topic` before the match are used up with it.
    pub async fn expect(&mut self, topic: &str, ok: impl Fn(&str) -> bool) -> Msg {
        if let Some(i) = self
            .unmatched
            .iter()
            .position(|m| m.topic == topic && ok(&m.payload))
        {
            let m = self.unmatched.remove(i);
            // Earlier messages on the same topic are used up too.
            let mut k = 0;
            self.unmatched.retain(|u| {
                k += 1;
                !(k <= i && u.topic == topic)
            });
            return m;
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let m = timeout(left, self.rx.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!("nothing matching on {topic}; saw {:#?}", self.last(topic))
                })
                .unwrap();
            self.seen.push(m.clone());
            if m.topic == topic && ok(&m.payload) {
                self.unmatched.retain(|u| u.topic != topic);
                return m;
            }
            self.unmatched.push(m);
        }
    }

    /// Everything that arrives within `d`.
    pub async fn drain_for(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        while let Ok(Some(m)) = timeout(
            deadline.saturating_duration_since(Instant::now()),
            self.rx.recv(),
        )
        .await
        {
            self.seen.push(m.clone());
            self.unmatched.push(m);
        }
    }

    pub fn last(&self, topic: &str) -> Vec<&str> {
        self.seen
            .iter()
            .filter(|m| m.topic == topic)
            .map(|m| m.payload.as_str())
            .collect()
    }

    pub async fn publish(&self, topic: &str, payload: &str, retain: bool) {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload.as_bytes().to_vec())
            .await
            .unwrap();
    }

    /// Remove every retained message this test saw from the shared broker.
    pub async fn clear_retained(mut self, extra: &[String]) {
        self.drain_for(Duration::from_millis(300)).await;
        let mut topics: BTreeSet<String> = self
            .seen
            .iter()
            .filter(|m| m.retain || m.topic.ends_with("/state") || m.topic.ends_with("/config"))
            .map(|m| m.topic.clone())
            .collect();
        topics.extend(extra.iter().cloned());
        for t in topics {
            self.publish(&t, "", true).await;
        }
        self.drain_for(Duration::from_millis(300)).await;
    }
}

/// A TCP proxy to the broker that the test can cut and restore (a broker restart, without
/// touching the machine's shared Mosquitto).
pub struct Proxy {
    pub addr: String,
    pub up: watch::Sender<bool>,
}

impl Proxy {
    pub async fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (up, up_rx) = watch::channel(true);
        tokio::spawn(async move {
            let mut conns = JoinSet::new();
            let mut up_rx = up_rx;
            loop {
                tokio::select! {
                    r = listener.accept() => {
                        let Ok((mut client, _)) = r else { continue };
                        if !*up_rx.borrow() {
                            continue; // down: accepted and closed at once
                        }
                        conns.spawn(async move {
                            if let Ok(mut broker) = TcpStream::connect(BROKER).await {
                                let _ = tokio::io::copy_bidirectional(&mut client, &mut broker).await;
                            }
                        });
                    }
                    r = up_rx.changed() => {
                        if r.is_err() { return; }
                        if !*up_rx.borrow() {
                            conns.abort_all();
                        }
                    }
                }
            }
        });
        Proxy { addr, up }
    }
}
