//! The tokio side of a DC-09 forwarding output: connect to `target` (backoff 1 s doubling
//! to 30 s, ±20 % jitter), send one frame at a time and wait for its answer:
//!
//! * `ACK` with the frame's sequence number → the event is confirmed (the cursor moves);
//! * `NAK` (the upstream receiver rejected the timestamp) → the same frame again with a
//!   fresh timestamp;
//! * `DUH` with the frame's sequence number (the receiver cannot take it) → the event is
//!   skipped, counted and logged;
//! * no answer within `ack_timeout_secs` → sent again. NAKs and timeouts count against
//!   `max_resends`; when they run out the link is failed, the connection is closed and
//!   opened again, and the unconfirmed event goes first on the new one (never dropped).

use std::sync::Arc;
use std::time::Duration;

use panel_proto::build::{encode, encode_encrypted};
use panel_proto::crypto::{Key, KeyFormat};
use panel_proto::framing::{Decoded, Decoder, DecoderConfig};
use panel_proto::timestamp::Timestamp;
use panel_proto::{Frame, Id};
use rand::RngCore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{frame_for, map_account, Origin};
use crate::config::AutomationConfig;
use crate::events::StoredEvent;
use crate::outputs::backoff::Backoff;
use crate::outputs::feed::Feed;
use crate::outputs::source::{CursorStore, EventLog, SourceError};
use crate::outputs::surgard::codec::Skip;
use crate::outputs::surgard::status::{LinkState, Reporter};

/// A write that blocks this long drops the connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connect attempt limit.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes kept from the upstream receiver while looking for a frame.
const MAX_INBUF: usize = 64 * 1024;

/// Everything one DC-09 forwarding output needs.
pub struct Dc09Output {
    pub(crate) config: AutomationConfig,
    pub(crate) log: Arc<dyn EventLog>,
    pub(crate) cursors: Arc<dyn CursorStore>,
    pub(crate) reporter: Reporter,
}

/// The event on its way, with the frame that carries it.
struct Pending {
    event: Arc<StoredEvent>,
    frame: Frame,
}

/// How a connection ended.
enum End {
    Shutdown,
    Closed(String),
}

/// What the upstream receiver answered to the pending frame.
enum Answer {
    Ack,
    Nak,
    Duh,
}

/// How a pending event ended.
enum Delivered {
    /// ACKed: the cursor moves past it.
    Acked,
    /// DUH: the upstream receiver cannot take it; skipped.
    Refused,
}

impl Dc09Output {
    /// Run until `cancel`; errors are logged and retried, never returned.
    pub async fn run(self, cancel: CancellationToken) {
        let name = crate::outputs::surgard::cursor_name(&self.config);
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        let mut feed = loop {
            match Feed::open(&name, self.log.clone(), self.cursors.clone()).await {
                Ok(f) => break f,
                Err(e) => {
                    tracing::warn!(output = %self.config.name, error = %e, "dc09 output cannot read its cursor; retrying");
                    if pause(&cancel, backoff.next_delay()).await {
                        return;
                    }
                }
            }
        };
        self.reporter.backlog(&feed);
        // Validated with the configuration; a key that does not parse never gets here.
        let key = self
            .config
            .key
            .as_ref()
            .and_then(|k| Key::parse(k.expose(), KeyFormat::Hex).ok());
        let target = self.config.target.clone().unwrap_or_default();
        let mut pending: Option<Pending> = None;
        let mut seq: u16 = 0;
        loop {
            self.reporter.state(LinkState::Connecting, None);
            let connect = tokio::select! {
                _ = cancel.cancelled() => break,
                r = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&target)) => r,
            };
            match connect {
                Ok(Ok(stream)) => {
                    backoff.reset();
                    let peer = stream
                        .peer_addr()
                        .map_or_else(|_| target.clone(), |a| a.to_string());
                    tracing::info!(output = %self.config.name, peer = %peer, "upstream DC-09 receiver connected");
                    self.reporter.state(LinkState::Up, Some(&peer));
                    let mut s = Session {
                        out: &self,
                        stream,
                        key: key.as_ref(),
                        inbuf: Vec::new(),
                    };
                    match s.run(&mut feed, &mut pending, &mut seq, &cancel).await {
                        End::Shutdown => break,
                        End::Closed(why) => {
                            tracing::warn!(output = %self.config.name, peer = %peer, reason = %why, "upstream DC-09 link closed");
                        }
                    }
                }
                Ok(Err(e)) => {
                    tracing::warn!(output = %self.config.name, target = %target, error = %e, "cannot connect to the upstream DC-09 receiver");
                }
                Err(_) => {
                    tracing::warn!(output = %self.config.name, target = %target, "connecting to the upstream DC-09 receiver timed out");
                }
            }
            if pause(&cancel, backoff.next_delay()).await {
                break;
            }
        }
        if let Err(e) = feed.save_if_due(true).await {
            tracing::warn!(output = %self.config.name, error = %e, "dc09 cursor not saved at stop");
        }
    }

    fn origin(&self) -> Origin {
        Origin {
            receiver: self.config.receiver.clone(),
            line: self.config.line.clone(),
        }
    }

    /// The next event's frame, skipping what cannot be sent. `Ok(None)`: nothing to send.
    async fn next(&self, feed: &mut Feed, seq: &mut u16) -> Result<Option<Pending>, SourceError> {
        while let Some(event) = feed.head().await? {
            let e = &event.event;
            let mapped = self
                .config
                .account_map
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&e.account))
                .map(|(_, v)| v.as_str());
            let built = map_account(&e.account, mapped)
                .and_then(|acct| frame_for(&self.origin(), &event, &acct, next_seq(seq), now_ts()));
            match built {
                Ok(frame) => return Ok(Some(Pending { event, frame })),
                Err(skip) => {
                    self.reporter.skipped(&event, &skip);
                    feed.confirm(event.seq);
                }
            }
        }
        self.reporter.backlog(feed);
        Ok(None)
    }
}

/// One connection to the upstream receiver.
struct Session<'a> {
    out: &'a Dc09Output,
    stream: TcpStream,
    key: Option<&'a Key>,
    inbuf: Vec<u8>,
}

impl Session<'_> {
    async fn run(
        &mut self,
        feed: &mut Feed,
        pending: &mut Option<Pending>,
        seq: &mut u16,
        cancel: &CancellationToken,
    ) -> End {
        let name = &self.out.config.name;
        loop {
            if pending.is_none() {
                match self.out.next(feed, seq).await {
                    Ok(p) => *pending = p,
                    Err(e) => {
                        tracing::warn!(output = %name, error = %e, "cannot read the event log; retrying in 1 s");
                        if pause(cancel, Duration::from_secs(1)).await {
                            return End::Shutdown;
                        }
                        continue;
                    }
                }
            }
            if let Err(e) = feed.save_if_due(pending.is_none()).await {
                tracing::warn!(output = %name, error = %e, "dc09 cursor not saved; will retry");
            }
            let Some(p) = pending.as_mut() else {
                let mut buf = [0u8; 512];
                tokio::select! {
                    _ = cancel.cancelled() => return End::Shutdown,
                    _ = feed.wait_for_more() => {}
                    r = self.stream.read(&mut buf) => match r {
                        Ok(0) => return End::Closed("closed by the upstream receiver".into()),
                        // Nothing is expected while idle; keep only a bounded tail.
                        Ok(n) => {
                            self.inbuf.extend_from_slice(&buf[..n]);
                            if self.inbuf.len() > MAX_INBUF {
                                self.inbuf.clear();
                            }
                        }
                        Err(e) => return End::Closed(e.to_string()),
                    },
                }
                continue;
            };
            match self.deliver(p, cancel).await {
                Ok(Delivered::Acked) => {
                    feed.confirm(p.event.seq);
                    self.out.reporter.acked(feed);
                    *pending = None;
                }
                Ok(Delivered::Refused) => {
                    let why = Skip::Field("the upstream receiver answered DUH".into());
                    self.out.reporter.skipped(&p.event, &why);
                    feed.confirm(p.event.seq);
                    *pending = None;
                }
                Err(end) => return end,
            }
        }
    }

    /// Send `p` until it is ACKed or DUHed; NAKs and timeouts resend it up to
    /// `max_resends` times, then the link fails.
    async fn deliver(
        &mut self,
        p: &mut Pending,
        cancel: &CancellationToken,
    ) -> Result<Delivered, End> {
        let cfg = &self.out.config;
        let mut sends = 0u32;
        loop {
            p.frame.timestamp = Some(now_ts());
            self.send(&p.frame).await?;
            sends += 1;
            let deadline = Instant::now() + Duration::from_secs(cfg.ack_timeout_secs);
            match self.answer(&p.frame, deadline, cancel).await? {
                Some(Answer::Ack) => {
                    if sends > 1 {
                        self.out.reporter.state(LinkState::Up, None);
                    }
                    return Ok(Delivered::Acked);
                }
                Some(Answer::Duh) => return Ok(Delivered::Refused),
                Some(Answer::Nak) | None => {}
            }
            if sends > cfg.max_resends {
                tracing::error!(output = %cfg.name, seq = p.event.seq, "the upstream DC-09 receiver does not ACK; link failed, reconnecting");
                self.out.reporter.state(LinkState::Failed, None);
                return Err(End::Closed(format!("no ACK after {sends} sends")));
            }
        }
    }

    async fn send(&mut self, frame: &Frame) -> Result<(), End> {
        let mut bytes = Vec::with_capacity(128);
        let built = match self.key {
            Some(k) => {
                let mut pad = [0u8; 16];
                rand::rng().fill_bytes(&mut pad);
                encode_encrypted(frame, k, &pad, &mut bytes)
            }
            None => encode(frame, &mut bytes),
        };
        built.map_err(|e| End::Closed(format!("frame not built: {e}")))?;
        match tokio::time::timeout(WRITE_TIMEOUT, self.stream.write_all(&bytes)).await {
            Ok(Ok(())) => {
                self.out.reporter.sent();
                Ok(())
            }
            Ok(Err(e)) => Err(End::Closed(e.to_string())),
            Err(_) => Err(End::Closed("write timed out".into())),
        }
    }

    /// The answer to `sent`, or `None` at `deadline`.
    async fn answer(
        &mut self,
        sent: &Frame,
        deadline: Instant,
        cancel: &CancellationToken,
    ) -> Result<Option<Answer>, End> {
        let decoder = Decoder::new(DecoderConfig::default());
        loop {
            while !self.inbuf.is_empty() {
                match decoder.decode(&self.inbuf) {
                    Decoded::Frame { frame, consumed } => {
                        self.inbuf.drain(..consumed.min(self.inbuf.len()));
                        match frame.id {
                            Id::Ack if frame.seq == sent.seq => return Ok(Some(Answer::Ack)),
                            Id::Duh if frame.seq == sent.seq => return Ok(Some(Answer::Duh)),
                            Id::Nak => return Ok(Some(Answer::Nak)),
                            _ => {} // a late answer to an earlier send
                        }
                    }
                    Decoded::Incomplete => break,
                    Decoded::Invalid { consumed, .. } => {
                        self.inbuf.drain(..consumed.clamp(1, self.inbuf.len()));
                    }
                }
            }
            let mut buf = [0u8; 512];
            tokio::select! {
                _ = cancel.cancelled() => return Err(End::Shutdown),
                _ = tokio::time::sleep_until(deadline) => return Ok(None),
                r = self.stream.read(&mut buf) => match r {
                    Ok(0) => return Err(End::Closed("closed by the upstream receiver".into())),
                    Ok(n) if self.inbuf.len() + n > MAX_INBUF => {
                        return Err(End::Closed("the upstream receiver sent more than 64 KiB without a frame".into()));
                    }
                    Ok(n) => self.inbuf.extend_from_slice(&buf[..n]),
                    Err(e) => return Err(End::Closed(e.to_string())),
                },
            }
        }
    }
}

/// 1..=9999, wrapping.
fn next_seq(seq: &mut u16) -> u16 {
    *seq = if *seq >= 9999 { 1 } else { *seq + 1 };
    *seq
}

fn now_ts() -> Timestamp {
    Timestamp::from_unix(crate::clock::now_ms() / 1000)
}

/// Sleep `d` unless cancelled first; `true` when cancelled.
async fn pause(cancel: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => true,
        _ = tokio::time::sleep(d) => false,
    }
}
