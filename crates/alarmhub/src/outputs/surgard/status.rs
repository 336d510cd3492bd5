//! What a Sur-Gard output reports about itself: Prometheus metrics (backlog, last ACK time,
//! link state, messages, skipped events) and a watchable [`LinkStatus`] for the console.

use serde::Serialize;
use tokio::sync::watch;

use super::codec::Skip;
use crate::events::StoredEvent;
use crate::outputs::feed::Feed;

/// The link as the console shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// `mode = "listen"`: no central station connected.
    Waiting,
    /// `mode = "connect"`: connecting (or waiting to reconnect).
    Connecting,
    /// Connected and answering.
    Up,
    /// Connected but not answering: heartbeats until one is ACKed.
    Failed,
}

impl LinkState {
    /// Stable name.
    pub fn as_str(&self) -> &'static str {
        match self {
            LinkState::Waiting => "waiting",
            LinkState::Connecting => "connecting",
            LinkState::Up => "up",
            LinkState::Failed => "failed",
        }
    }
}

/// A snapshot of one output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkStatus {
    /// Output name.
    pub name: String,
    /// Link state.
    pub state: LinkState,
    /// The address the output listens on (`mode = "listen"`), once bound.
    pub listening: Option<String>,
    /// The connected central station, when one is.
    pub peer: Option<String>,
    /// Events stored but not yet ACKed.
    pub backlog: u64,
    /// Highest sequence number ACKed (or skipped).
    pub acked_seq: i64,
    /// Wall-clock time of the last ACK of an event, Unix ms.
    pub last_ack_ms: Option<i64>,
    /// Messages written (with resends and heartbeats).
    pub sent: u64,
}

/// Updates metrics and the status watch together.
#[derive(Debug)]
pub struct Reporter {
    name: String,
    tx: watch::Sender<LinkStatus>,
}

impl Reporter {
    /// A reporter for output `name`, and the receiver the console watches.
    pub fn new(name: &str, initial: LinkState) -> (Reporter, watch::Receiver<LinkStatus>) {
        let status = LinkStatus {
            name: name.to_string(),
            state: initial,
            listening: None,
            peer: None,
            backlog: 0,
            acked_seq: 0,
            last_ack_ms: None,
            sent: 0,
        };
        let (tx, rx) = watch::channel(status);
        let r = Reporter {
            name: name.to_string(),
            tx,
        };
        r.state(initial, None);
        (r, rx)
    }

    /// The link changed state (`peer` replaces the peer when given; `Waiting`/`Connecting`
    /// clear it).
    pub fn state(&self, state: LinkState, peer: Option<&str>) {
        self.tx.send_modify(|s| {
            s.state = state;
            if let Some(p) = peer {
                s.peer = Some(p.to_string());
            } else if matches!(state, LinkState::Waiting | LinkState::Connecting) {
                s.peer = None;
            }
        });
        let up = if state == LinkState::Up { 1.0 } else { 0.0 };
        metrics::gauge!(crate::metrics::names::AUTOMATION_LINK_UP, "output" => self.name.clone())
            .set(up);
    }

    /// The listener is bound.
    pub fn listening(&self, addr: std::net::SocketAddr) {
        self.tx
            .send_modify(|s| s.listening = Some(addr.to_string()));
    }

    /// A message (event, resend or heartbeat) was written.
    pub fn sent(&self) {
        self.tx.send_modify(|s| s.sent += 1);
        metrics::counter!(crate::metrics::names::AUTOMATION_MESSAGES_TOTAL, "output" => self.name.clone())
            .increment(1);
    }

    /// An event was ACKed.
    pub fn acked(&self, feed: &Feed) {
        let now = crate::clock::now_ms();
        self.tx.send_modify(|s| s.last_ack_ms = Some(now));
        metrics::gauge!(crate::metrics::names::AUTOMATION_LAST_ACK_TIMESTAMP_SECONDS, "output" => self.name.clone())
            .set(now as f64 / 1000.0);
        self.backlog(feed);
    }

    /// Refresh the backlog and the ACKed position.
    pub fn backlog(&self, feed: &Feed) {
        let (backlog, acked) = (feed.backlog(), feed.confirmed());
        self.tx.send_modify(|s| {
            s.backlog = backlog;
            s.acked_seq = acked;
        });
        metrics::gauge!(crate::metrics::names::AUTOMATION_BACKLOG, "output" => self.name.clone())
            .set(backlog as f64);
    }

    /// An event was not sent (it cannot be expressed for the central station).
    pub fn skipped(&self, event: &StoredEvent, why: &Skip) {
        let reason = match why {
            Skip::NotASignal => "not_a_signal",
            Skip::Account(_) => "account",
            Skip::Field(_) => "field",
        };
        if !matches!(why, Skip::NotASignal) {
            tracing::warn!(output = %self.name, account = %event.event.account, seq = event.seq,
                code = event.event.code, reason = %why, "event not sent to the central station");
        }
        metrics::counter!(crate::metrics::names::AUTOMATION_SKIPPED_TOTAL, "output" => self.name.clone(), "reason" => reason)
            .increment(1);
    }
}
