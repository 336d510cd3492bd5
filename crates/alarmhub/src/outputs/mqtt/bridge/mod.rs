//! The bridge task: owns the MQTT event loop, publishes from the event log by cursor,
//! answers Home Assistant's commands through the [`Controller`](crate::outputs::Controller), and republishes
//! everything after a reconnect or when Home Assistant comes online.
//!
//! Nothing here can slow a panel down: the bridge only reads the durable log, and while the
//! broker is away it simply stops reading; after the reconnect it resumes from the cursor
//! (the last event whose every message the broker acknowledged) and sends the newest
//! retained state of every panel.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, Outgoing, Packet, QoS};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod commands;

use super::acks::Acks;
use super::view::{Msg, View};
use super::MqttStatus;
use crate::config::MqttConfig;
use crate::outputs::backoff::Backoff;
use crate::outputs::feed::Feed;
use crate::outputs::source::{ArmAction, CommandOutcome};
use crate::outputs::Sources;

/// Publishes handed to the client and not yet acknowledged, at most.
const ROOM: usize = 256;
/// Request channel of the client: larger than [`ROOM`] plus subscriptions, so a
/// `try_publish` never finds it full.
pub(crate) const CHANNEL: usize = 1024;
/// How often every panel's retained messages are compared with the registry.
const REFRESH: Duration = Duration::from_secs(10);
/// The cursor name of the bridge.
pub const CURSOR: &str = "mqtt";

/// Something to hand to the client, in order.
enum Out {
    /// A message, for event `tag` (or none).
    Msg(Msg, Option<i64>),
    /// Every message of event `seq` was queued before this.
    Handled(i64),
}

/// A command finished.
pub(crate) struct Finished {
    account: String,
    section: u8,
    action: ArmAction,
    outcome: CommandOutcome,
}

/// What woke the loop.
enum Wake {
    Stop,
    Loop(Result<Event, rumqttc::ConnectionError>),
    Result(Finished),
    More,
    Refresh,
}

/// The bridge and its state.
pub struct Bridge {
    cfg: MqttConfig,
    sources: Sources,
    client: AsyncClient,
    view: View,
    acks: Acks,
    outbox: VecDeque<Out>,
    connected: bool,
    control: HashSet<String>,
    publish: Option<HashSet<String>>,
    done_tx: mpsc::UnboundedSender<Finished>,
    tracker: TaskTracker,
    status: watch::Sender<MqttStatus>,
}

impl Bridge {
    /// A bridge; `client` must belong to the event loop passed to [`Bridge::run`].
    pub(crate) fn new(
        cfg: MqttConfig,
        view: View,
        sources: Sources,
        client: AsyncClient,
        tracker: TaskTracker,
        status: watch::Sender<MqttStatus>,
    ) -> (Bridge, mpsc::UnboundedReceiver<Finished>) {
        let lower = |v: &[String]| v.iter().map(|a| a.to_ascii_lowercase()).collect();
        let control = lower(&cfg.control_accounts);
        let publish = (!cfg.accounts.is_empty()).then(|| lower(&cfg.accounts));
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let b = Bridge {
            cfg,
            sources,
            client,
            view,
            acks: Acks::default(),
            outbox: VecDeque::new(),
            connected: false,
            control,
            publish,
            done_tx,
            tracker,
            status,
        };
        (b, done_rx)
    }

    fn publishes(&self, account: &str) -> bool {
        self.publish
            .as_ref()
            .is_none_or(|s| s.contains(&account.to_ascii_lowercase()))
    }

    /// Run until `cancel`.
    pub(crate) async fn run(
        mut self,
        mut eventloop: EventLoop,
        mut done_rx: mpsc::UnboundedReceiver<Finished>,
        cancel: CancellationToken,
    ) {
        let mut feed = match self.open_feed(&cancel).await {
            Some(f) => f,
            None => return,
        };
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let mut refresh = tokio::time::interval(REFRESH);
        loop {
            let idle = match self.pump(&mut feed).await {
                Ok(idle) => idle,
                Err(e) => {
                    tracing::warn!(error = %e, "mqtt bridge cannot read the event log; retrying");
                    false
                }
            };
            self.drain();
            self.commit(&mut feed, idle).await;
            let wait_log = self.connected && idle && self.outbox.is_empty();
            let wake = tokio::select! {
                _ = cancel.cancelled() => Wake::Stop,
                ev = eventloop.poll() => Wake::Loop(ev),
                Some(done) = done_rx.recv() => Wake::Result(done),
                _ = feed.wait_for_more(), if wait_log => Wake::More,
                _ = refresh.tick() => Wake::Refresh,
            };
            match wake {
                Wake::Stop => break,
                Wake::Loop(Ok(ev)) => {
                    backoff.reset();
                    self.on_event(ev, &mut feed);
                }
                Wake::Loop(Err(e)) => {
                    self.disconnected(&e.to_string());
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tokio::time::sleep(backoff.next_delay()) => {}
                    }
                }
                Wake::Result(done) => self.on_finished(done),
                Wake::More => {}
                Wake::Refresh if self.connected => self.republish(None),
                Wake::Refresh => {}
            }
        }
        self.stop(&mut eventloop, &mut feed).await;
    }

    async fn open_feed(&self, cancel: &CancellationToken) -> Option<Feed> {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        loop {
            match Feed::open(
                CURSOR,
                self.sources.log.clone(),
                self.sources.cursors.clone(),
            )
            .await
            {
                Ok(f) => return Some(f),
                Err(e) => {
                    tracing::warn!(error = %e, "mqtt bridge cannot read its cursor; retrying")
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => return None,
                _ = tokio::time::sleep(backoff.next_delay()) => {}
            }
        }
    }

    /// Turn new events into messages while there is room. `Ok(true)`: the log has nothing
    /// newer.
    async fn pump(&mut self, feed: &mut Feed) -> Result<bool, crate::outputs::SourceError> {
        while self.connected && self.outbox.len() < ROOM {
            let Some(event) = feed.head().await? else {
                return Ok(true);
            };
            feed.advance();
            let account = event.event.account.clone();
            if self.publishes(&account) {
                self.outbox
                    .push_back(Out::Msg(self.view.event(&event), Some(event.seq)));
                if let Some(p) = self.sources.panels.panel(&account) {
                    for m in self.view.panel(&p) {
                        self.outbox.push_back(Out::Msg(m, Some(event.seq)));
                    }
                }
            }
            self.outbox.push_back(Out::Handled(event.seq));
        }
        Ok(false)
    }

    /// Hand queued messages to the client while fewer than [`ROOM`] are unacknowledged.
    fn drain(&mut self) {
        while self.connected && self.acks.outstanding() < ROOM {
            match self.outbox.pop_front() {
                Some(Out::Handled(seq)) => self.acks.handled(seq),
                Some(Out::Msg(m, tag)) => {
                    let r = self.client.try_publish(
                        &m.topic,
                        QoS::AtLeastOnce,
                        m.retain,
                        m.payload.clone(),
                    );
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "mqtt request channel busy");
                        self.outbox.push_front(Out::Msg(m, tag));
                        return;
                    }
                    self.acks.queued(tag);
                }
                None => return,
            }
        }
    }

    async fn commit(&mut self, feed: &mut Feed, idle: bool) {
        if let Some(seq) = self.acks.take_confirmed() {
            feed.confirm_through(seq);
        }
        if let Err(e) = feed.save_if_due(idle && self.acks.outstanding() == 0).await {
            tracing::warn!(error = %e, "mqtt cursor not saved; will retry");
        }
        let backlog = feed.backlog();
        self.status.send_if_modified(|s| {
            let changed = s.backlog != backlog || s.confirmed_seq != feed.confirmed();
            s.backlog = backlog;
            s.confirmed_seq = feed.confirmed();
            changed
        });
        metrics::gauge!(crate::metrics::names::MQTT_BACKLOG).set(backlog as f64);
    }

    fn on_event(&mut self, ev: Event, feed: &mut Feed) {
        match ev {
            Event::Incoming(Packet::ConnAck(_)) => self.connected_again(feed),
            Event::Incoming(Packet::Publish(p)) => self.on_publish(p),
            Event::Incoming(Packet::PubAck(a)) => self.acks.acked(a.pkid),
            Event::Outgoing(Outgoing::Publish(pkid)) => self.acks.outgoing(pkid),
            _ => {}
        }
    }

    /// A (re)connection: the broker has nothing of ours, so start again from the cursor
    /// and send every retained message.
    fn connected_again(&mut self, feed: &mut Feed) {
        tracing::info!(url = %self.cfg.url, "mqtt bridge connected");
        self.connected = true;
        self.acks.reset();
        self.outbox.clear();
        feed.rewind();
        self.view.forget();
        let t = &self.view.topics;
        let mut subs = t.command_filters().to_vec();
        subs.push(t.ha_status());
        for s in subs {
            if let Err(e) = self.client.try_subscribe(s, QoS::AtLeastOnce) {
                tracing::warn!(error = %e, "mqtt subscribe not queued");
            }
        }
        let online = Msg {
            topic: self.view.topics.bridge_status(),
            payload: "online".into(),
            retain: true,
        };
        self.outbox.push_back(Out::Msg(online, None));
        self.republish(None);
        self.status.send_modify(|s| {
            s.connected = true;
            s.last_error = None;
        });
        metrics::gauge!(crate::metrics::names::MQTT_CONNECTED).set(1.0);
    }

    fn disconnected(&mut self, why: &str) {
        if self.connected {
            tracing::warn!(url = %self.cfg.url, error = %why, "mqtt bridge lost the broker; reconnecting");
        } else {
            tracing::debug!(url = %self.cfg.url, error = %why, "mqtt broker still unreachable");
        }
        self.connected = false;
        self.status.send_modify(|s| {
            s.connected = false;
            s.last_error = Some(why.to_string());
        });
        metrics::gauge!(crate::metrics::names::MQTT_CONNECTED).set(0.0);
    }

    /// Queue the changed retained messages of every panel (or of `only`).
    fn republish(&mut self, only: Option<&str>) {
        let accounts = match only {
            Some(a) => vec![a.to_string()],
            None => self.sources.panels.accounts(),
        };
        for a in &accounts {
            if !self.publishes(a) {
                continue;
            }
            if let Some(p) = self.sources.panels.panel(a) {
                for m in self.view.panel(&p) {
                    self.outbox.push_back(Out::Msg(m, None));
                }
            }
        }
    }

    /// Clean stop: say the bridge is offline (the will covers a crash), flush briefly,
    /// save the cursor.
    async fn stop(&mut self, eventloop: &mut EventLoop, feed: &mut Feed) {
        if self.connected {
            let _ = self.client.try_publish(
                self.view.topics.bridge_status(),
                QoS::AtLeastOnce,
                true,
                "offline",
            );
            let _ = self.client.try_disconnect();
            let flush = async {
                while let Ok(ev) = eventloop.poll().await {
                    if let Event::Incoming(Packet::PubAck(a)) = &ev {
                        self.acks.acked(a.pkid);
                    } else if let Event::Outgoing(Outgoing::Publish(pkid)) = ev {
                        self.acks.outgoing(pkid);
                    }
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(1), flush).await;
        }
        if let Some(seq) = self.acks.take_confirmed() {
            feed.confirm_through(seq);
        }
        if let Err(e) = feed.save_if_due(true).await {
            tracing::warn!(error = %e, "mqtt cursor not saved at stop");
        }
        metrics::gauge!(crate::metrics::names::MQTT_CONNECTED).set(0.0);
    }
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("url", &self.cfg.url)
            .field("connected", &self.connected)
            .finish()
    }
}
