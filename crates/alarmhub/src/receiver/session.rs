//! One panel connection's protocol state, shared by TCP connections and UDP peers: decode
//! frames from the connection's own buffer, decide and build replies, store events before
//! ACKing them, supervise the link, rate-limit, and run remote commands (own seq counter,
//! ACK wait, retries). The transport loops in `tcp.rs` / `udp.rs` only move bytes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use panel_proto::build::{self, hb_command};
use panel_proto::framing::Decoded;
use panel_proto::rules::{detect_dialect, reply_for, Dialect, Reply};
use panel_proto::timestamp::{Timestamp, Window};
use panel_proto::Frame;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::frame_event::{event_from_frame, receiver_event};
use super::Shared;
use crate::control::{CommandRequest, Outcome, SessionHandle};
use crate::events::codes;
use crate::metrics::names;

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The panel closed the connection.
    ClosedByPeer,
    /// No valid frame within the first-frame timeout.
    NoValidFrame,
    /// Nothing within supervision interval + grace.
    SupervisionExpired,
    /// The receiver is shutting down.
    Shutdown,
    /// An I/O error or a peer that does not read its replies.
    Io(String),
}

impl CloseReason {
    /// Text for logs and OFFLINE events.
    pub fn as_str(&self) -> &str {
        match self {
            CloseReason::ClosedByPeer => "connection closed by panel",
            CloseReason::NoValidFrame => "no valid frame before the first-frame timeout",
            CloseReason::SupervisionExpired => "supervision interval expired",
            CloseReason::Shutdown => "receiver shutting down",
            CloseReason::Io(e) => e,
        }
    }
}

struct Pending {
    seq: u16,
    bytes: Vec<u8>,
    attempts_left: u32,
    timeout: Duration,
    deadline: Instant,
    reply: oneshot::Sender<Outcome>,
}

/// Token bucket: `rate` frames per second, `burst` at most.
struct Bucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
}

impl Bucket {
    /// Take one token; returns how long to wait first when none is left.
    fn take(&mut self, now: Instant) -> Option<Duration> {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        self.tokens -= 1.0;
        (self.tokens < 0.0).then(|| Duration::from_secs_f64(-self.tokens / self.rate))
    }
}

enum Plan {
    /// Store the events, send nothing (a panel's ACK to our command).
    Silent,
    /// ACK; an encrypted frame carries the key it was decrypted with, for its `*ACK`.
    Ack(Frame, Option<panel_proto::crypto::Key>),
    Duh(Frame),
    Nak,
}

/// Protocol state of one connection (or one UDP peer).
pub struct Session {
    shared: Arc<Shared>,
    conn_id: u64,
    peer: SocketAddr,
    peer_text: String,
    /// Bytes received and not yet decoded (TCP).
    pub buf: BytesMut,
    accounts: Vec<String>,
    dialect: Option<Dialect>,
    cmd_tx: mpsc::Sender<CommandRequest>,
    next_seq: u16,
    pending: Vec<Pending>,
    first_frame_deadline: Option<Instant>,
    supervision_deadline: Option<Instant>,
    /// Supervision interval + grace of the connection's account, once known.
    supervision: Option<Duration>,
    /// A valid frame arrived in the batch being handled.
    refresh_supervision: bool,
    /// 1798 "what is your type" already sent on this connection.
    asked_type: bool,
    bucket: Bucket,
}

impl Session {
    /// A new session for `peer`; `cmd_tx` is the sender half of the session's command
    /// channel (registered for control once an account is known).
    pub fn new(
        shared: Arc<Shared>,
        peer: SocketAddr,
        cmd_tx: mpsc::Sender<CommandRequest>,
    ) -> Session {
        let conn_id = shared
            .next_conn_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let now = Instant::now();
        let p = &shared.config.panel;
        Session {
            first_frame_deadline: Some(now + Duration::from_secs(p.first_frame_timeout_secs)),
            supervision_deadline: None,
            supervision: None,
            refresh_supervision: false,
            asked_type: false,
            bucket: Bucket {
                tokens: f64::from(p.rate_limit_burst),
                rate: f64::from(p.rate_limit_per_sec.max(1)),
                burst: f64::from(p.rate_limit_burst.max(1)),
                last: now,
            },
            peer_text: peer.to_string(),
            shared,
            conn_id,
            peer,
            buf: BytesMut::with_capacity(1024),
            accounts: Vec::new(),
            dialect: None,
            cmd_tx,
            next_seq: 0,
            pending: Vec::new(),
        }
    }

    /// The remote address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The earliest moment `on_timer` has work.
    pub fn next_deadline(&self) -> Option<Instant> {
        let p = self.pending.iter().map(|p| p.deadline).min();
        [self.first_frame_deadline, self.supervision_deadline, p]
            .into_iter()
            .flatten()
            .min()
    }

    /// Decode and handle every complete frame in `self.buf`; replies are appended to `out`.
    pub async fn process_buffer(&mut self, out: &mut Vec<u8>) {
        let mut frames = Vec::new();
        loop {
            match self.shared.decoder.decode(&self.buf) {
                Decoded::Frame { frame, consumed } => {
                    let _ = self.buf.split_to(consumed);
                    frames.push(frame);
                }
                Decoded::Invalid { error, consumed } => {
                    let n = consumed.clamp(1, self.buf.len().max(1)).min(self.buf.len());
                    let _ = self.buf.split_to(n);
                    metrics::counter!(names::FRAMES_TOTAL, "id" => "invalid", "outcome" => "dropped").increment(1);
                    tracing::warn!(peer = %self.peer, account = self.accounts.first().map(String::as_str).unwrap_or("-"),
                        reason = %error, "frame dropped");
                }
                Decoded::Incomplete => break,
            }
        }
        if !frames.is_empty() {
            self.handle_frames(frames, out).await;
        }
    }

    /// Handle a batch of frames: store their events together (one group commit), then
    /// write every reply in order. An event that could not be stored gets no ACK.
    async fn handle_frames(&mut self, frames: Vec<Frame>, out: &mut Vec<u8>) {
        let started = std::time::Instant::now();
        let mut plans = Vec::with_capacity(frames.len());
        let mut events = Vec::new();
        for frame in frames {
            if let Some(wait) = self.bucket.take(Instant::now()) {
                metrics::counter!(names::RATE_LIMITED_TOTAL).increment(1);
                tokio::time::sleep(wait).await;
            }
            if let Some((plan, evs)) = self.prepare(frame) {
                let first = events.len();
                events.extend(evs);
                plans.push((plan, first..events.len()));
            }
        }
        // One store call for every event of this read: one request, one commit, one reply.
        let n = events.len();
        let results: Vec<Result<crate::events::Appended, crate::store::StoreError>> =
            match self.shared.store.append(events).await {
                Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e); n],
            };
        // Supervision counts from the moment the frame is handled (stored, answered), so a
        // slow commit never eats into the panel's interval.
        if std::mem::take(&mut self.refresh_supervision) {
            self.supervision_deadline = self.supervision.map(|d| Instant::now() + d);
        }
        let now = now_timestamp(0);
        for (plan, range) in plans {
            if let Some(e) = results[range.clone()].iter().find_map(|r| r.as_ref().err()) {
                tracing::error!(peer = %self.peer, error = %e, "event not stored; not ACKed (the panel will retry)");
                metrics::counter!(names::FRAMES_TOTAL, "id" => "event", "outcome" => "store_error")
                    .increment(1);
                continue;
            }
            if results[range]
                .iter()
                .any(|r| matches!(r, Ok(crate::events::Appended::Duplicate(_))))
            {
                metrics::counter!(names::FRAMES_TOTAL, "id" => "event", "outcome" => "duplicate")
                    .increment(1);
            }
            let acks = matches!(plan, Plan::Ack(..));
            self.write_reply(plan, now, out);
            if acks {
                // Frame decoded → ACK ready to write (includes the durable commit).
                metrics::histogram!(names::ACK_SECONDS).record(started.elapsed().as_secs_f64());
            }
        }
        self.ask_type_if_unknown(out);
    }

    fn write_reply(&mut self, plan: Plan, now_utc: Timestamp, out: &mut Vec<u8>) {
        let r = match &plan {
            Plan::Silent => Ok(()),
            Plan::Nak => build::nak(now_utc, out),
            Plan::Duh(f) => build::duh(f, out),
            Plan::Ack(f, key) => {
                let cfg = f
                    .panel_account()
                    .and_then(|a| self.shared.config.account(a));
                if f.encrypted {
                    match key {
                        Some(key) => {
                            let pad: [u8; 16] = rand::random();
                            build::ack_encrypted(f, key, now_utc, &pad, out)
                        }
                        None => Ok(()),
                    }
                } else {
                    let dialect = self.dialect.unwrap_or_else(|| detect_dialect(f));
                    let offset = cfg.map_or(0, |a| a.timezone.offset_secs());
                    build::ack(f, dialect.ack_style(), now_timestamp(offset), out)
                }
            }
        };
        if let Err(e) = r {
            tracing::warn!(peer = %self.peer, error = %e, "could not build reply");
        }
    }

    /// Decide what a decoded frame needs; returns the reply plan and the events to store
    /// first, or `None` when the frame gets no reply.
    fn prepare(&mut self, mut frame: Frame) -> Option<(Plan, Vec<crate::events::NewEvent>)> {
        let id = frame.id.as_str().to_string();
        let Some(account) = frame.panel_account().map(str::to_owned) else {
            self.drop_frame(&id, "-", "frame names no account");
            return None;
        };
        let shared = Arc::clone(&self.shared);
        let acct_cfg = shared.config.account(&account);
        let mut unknown = false;
        if acct_cfg.is_none() {
            match shared.config.panel.unknown_accounts {
                crate::config::UnknownAccountPolicy::Drop => {
                    self.drop_frame(&id, &account, "unknown account (policy: drop)");
                    return None;
                }
                crate::config::UnknownAccountPolicy::Flag => unknown = true,
                crate::config::UnknownAccountPolicy::Accept => {}
            }
        }
        let allowed = acct_cfg.map(|a| a.quirks()).unwrap_or_default();
        if !allowed.allows(&frame.quirks) {
            let why = format!(
                "frame needs quirks {:?} not enabled for this account",
                frame.quirks.names()
            );
            self.drop_frame(&id, &account, &why);
            return None;
        }
        let tz = acct_cfg.map_or(0, |a| a.timezone.offset_secs());
        let mut frame_key = None;
        if frame.encrypted {
            let key = match acct_cfg.map(|a| a.parsed_key()) {
                Some(Ok(Some(k))) => k,
                _ => {
                    self.drop_frame(
                        &id,
                        &account,
                        "encrypted frame and no key configured for the account",
                    );
                    return None;
                }
            };
            if let Err(e) = panel_proto::parse::decrypt(&mut frame, &key) {
                self.drop_frame(&id, &account, &format!("decryption failed: {e}"));
                return None;
            }
            frame_key = Some(key);
            let window = Window {
                past_secs: acct_cfg
                    .and_then(|a| a.time_window_past_secs)
                    .unwrap_or(shared.config.panel.time_window_past_secs),
                future_secs: acct_cfg
                    .and_then(|a| a.time_window_future_secs)
                    .unwrap_or(shared.config.panel.time_window_future_secs),
            };
            let t = frame
                .timestamp
                .and_then(|t| t.to_unix())
                .map(|t| t - i64::from(tz));
            if let Err(skew) = window.check(t, crate::clock::now_ms() / 1000) {
                metrics::counter!(names::FRAMES_TOTAL, "id" => id.clone(), "outcome" => "nak")
                    .increment(1);
                tracing::warn!(peer = %self.peer, account = %account, ?skew, "timestamp outside the window: NAK");
                return Some((Plan::Nak, Vec::new()));
            }
        }
        let mut events = self.saw_valid_frame(&account, &frame);
        match reply_for(&frame) {
            Reply::Nothing => {
                self.complete_command(&frame);
                metrics::counter!(names::FRAMES_TOTAL, "id" => id, "outcome" => "reply_received")
                    .increment(1);
                Some((Plan::Silent, events))
            }
            Reply::Duh => {
                metrics::counter!(names::FRAMES_TOTAL, "id" => "other", "outcome" => "duh")
                    .increment(1);
                tracing::info!(peer = %self.peer, account = %account, id = %id, "unknown ID token: DUH");
                Some((Plan::Duh(frame), events))
            }
            Reply::Ack => {
                if frame.id.carries_event() {
                    let dialect = self.dialect.unwrap_or(Dialect::Dc09);
                    let ev =
                        event_from_frame(&frame, &account, &self.peer_text, dialect, tz, unknown);
                    log_event(&ev, &self.peer_text);
                    events.push(ev);
                    metrics::counter!(names::FRAMES_TOTAL, "id" => id, "outcome" => "acked")
                        .increment(1);
                } else {
                    shared
                        .registry
                        .touch(&account, crate::clock::now_ms(), &self.peer_text);
                    metrics::counter!(names::FRAMES_TOTAL, "id" => id, "outcome" => "acked")
                        .increment(1);
                }
                Some((Plan::Ack(frame, frame_key), events))
            }
        }
    }

    fn drop_frame(&self, id: &str, account: &str, why: &str) {
        metrics::counter!(names::FRAMES_TOTAL, "id" => id.to_string(), "outcome" => "dropped")
            .increment(1);
        tracing::warn!(peer = %self.peer, account = %account, id = %id, reason = %why, "frame dropped");
    }

    /// A valid frame from `account`: reset supervision, learn the dialect, and on the
    /// first frame of this account on this connection register it and emit ONLINE.
    fn saw_valid_frame(&mut self, account: &str, frame: &Frame) -> Vec<crate::events::NewEvent> {
        let cfg = &self.shared.config;
        self.first_frame_deadline = None;
        let secs = cfg
            .account(account)
            .and_then(|a| a.supervision_secs)
            .unwrap_or(cfg.panel.supervision_secs)
            + cfg.panel.supervision_grace_secs;
        self.supervision = Some(Duration::from_secs(secs));
        self.refresh_supervision = true;
        if self.dialect.is_none() || frame.id == panel_proto::Id::HengBo {
            self.dialect = Some(detect_dialect(frame));
        }
        if self.accounts.iter().any(|a| a == account) {
            return Vec::new();
        }
        self.accounts.push(account.to_string());
        self.shared.connections.register(
            account,
            SessionHandle {
                conn_id: self.conn_id,
                tx: self.cmd_tx.clone(),
            },
        );
        tracing::info!(peer = %self.peer, account = %account, "panel online");
        let dialect = self.dialect.unwrap_or(Dialect::Dc09);
        vec![receiver_event(
            account,
            codes::ONLINE,
            &self.peer_text,
            "first valid frame on a connection",
            dialect,
        )]
    }

    fn complete_command(&mut self, frame: &Frame) {
        let Some(seq) = frame.seq_number() else {
            return;
        };
        if let Some(i) = self.pending.iter().position(|p| p.seq == seq) {
            let p = self.pending.swap_remove(i);
            let outcome = match frame.id {
                panel_proto::Id::Ack => Outcome::Done,
                _ => Outcome::NotSupported(format!("the host answered {}", frame.id.as_str())),
            };
            let _ = p.reply.send(outcome);
        }
    }

    /// A Hengbo host that has not said its type is asked once per connection (1798); its
    /// 17x7 answer is an ordinary event. The outcome is only logged.
    fn ask_type_if_unknown(&mut self, out: &mut Vec<u8>) {
        if self.asked_type || self.dialect != Some(Dialect::Hb) {
            return;
        }
        let Some(account) = self.accounts.first() else {
            return;
        };
        if self
            .shared
            .registry
            .get(account)
            .is_some_and(|p| p.machine_type >= 0)
        {
            return;
        }
        self.asked_type = true;
        let (tx, _rx) = oneshot::channel();
        let c = &self.shared.config.control;
        self.on_command(
            CommandRequest {
                command: panel_proto::build::Command::QueryType,
                section: 0,
                timeout: Duration::from_secs(c.timeout_secs),
                retries: c.retries,
                reply: tx,
            },
            out,
        );
    }

    /// Send a command to the host on this connection.
    pub fn on_command(&mut self, req: CommandRequest, out: &mut Vec<u8>) {
        let Some(account) = self.accounts.first().cloned() else {
            let _ = req.reply.send(Outcome::PanelOffline);
            return;
        };
        self.next_seq = self.next_seq % 9999 + 1;
        let seq = self.next_seq;
        let panel = self.shared.registry.get(&account);
        let ademco_id = panel.as_ref().and_then(|p| p.ademco_id);
        let tz = self
            .shared
            .config
            .account(&account)
            .map_or(0, |a| a.timezone.offset_secs());
        let mut bytes = Vec::new();
        if let Err(e) = hb_command(
            &account,
            ademco_id,
            seq,
            req.section,
            &req.command,
            now_timestamp(tz),
            &mut bytes,
        ) {
            let _ = req.reply.send(Outcome::BadRequest(e.to_string()));
            return;
        }
        tracing::info!(peer = %self.peer, account = %account, command = req.command.name(), seq, "command sent");
        out.extend_from_slice(&bytes);
        self.pending.push(Pending {
            seq,
            bytes,
            attempts_left: req.retries,
            timeout: req.timeout,
            deadline: Instant::now() + req.timeout,
            reply: req.reply,
        });
    }

    /// Timers: command retries and timeouts, supervision. Returns a reason to close.
    pub fn on_timer(&mut self, out: &mut Vec<u8>) -> Option<CloseReason> {
        let now = Instant::now();
        let mut i = 0;
        while i < self.pending.len() {
            if self.pending[i].deadline > now {
                i += 1;
                continue;
            }
            if self.pending[i].attempts_left > 0 {
                let p = &mut self.pending[i];
                p.attempts_left -= 1;
                p.deadline = now + p.timeout;
                out.extend_from_slice(&p.bytes);
                tracing::info!(peer = %self.peer, seq = p.seq, "command not ACKed; resending");
                i += 1;
            } else {
                let p = self.pending.swap_remove(i);
                let _ = p.reply.send(Outcome::TimedOut);
            }
        }
        if self.first_frame_deadline.is_some_and(|d| d <= now) {
            return Some(CloseReason::NoValidFrame);
        }
        if self.supervision_deadline.is_some_and(|d| d <= now) {
            return Some(CloseReason::SupervisionExpired);
        }
        None
    }

    /// End the session: fail pending commands, and store OFFLINE for every account this
    /// connection still serves (unless the receiver is shutting down).
    pub async fn close(mut self, reason: CloseReason) {
        for p in self.pending.drain(..) {
            let _ = p.reply.send(Outcome::PanelOffline);
        }
        let mut events = Vec::new();
        for a in &self.accounts {
            if self.shared.connections.unregister(a, self.conn_id)
                && reason != CloseReason::Shutdown
            {
                tracing::info!(peer = %self.peer, account = %a, reason = reason.as_str(), "panel offline");
                let dialect = self.dialect.unwrap_or(Dialect::Dc09);
                events.push(receiver_event(
                    a,
                    codes::OFFLINE,
                    &self.peer_text,
                    reason.as_str(),
                    dialect,
                ));
            }
        }
        if let Err(e) = self.shared.store.append(events).await {
            tracing::error!(peer = %self.peer, error = %e, "could not store OFFLINE event");
        }
    }
}

fn log_event(ev: &crate::events::NewEvent, peer: &str) {
    let class = ev.class();
    if matches!(class, Some(panel_proto::codes::Class::Alarm)) {
        tracing::warn!(account = %ev.account, peer = %peer, code = ev.code, sia = ev.sia_code.as_deref().unwrap_or(""),
            zone = ev.zone, group = ev.group, "ALARM");
    } else {
        tracing::debug!(account = %ev.account, code = ev.code, zone = ev.zone, "event");
    }
}

/// Sleep until a session's next deadline (forever when it has none); used by the
/// transport loops' `select!`.
pub async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// The receiver's clock as a frame timestamp, shifted by `offset_secs` (the panel's zone).
pub fn now_timestamp(offset_secs: i32) -> Timestamp {
    Timestamp::from_unix(crate::clock::now_ms() / 1000 + i64::from(offset_secs))
}
