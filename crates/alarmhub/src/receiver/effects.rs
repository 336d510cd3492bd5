//! Carry out a link's outputs for a [`Session`]: the side effects in order (register for
//! control, touch the registry, finish commands, count and log), every store of the batch
//! in one hand-off to the writer, then the bytes to write: each reply only when the stores
//! before it committed (the panel retries otherwise), command frames as they come.
//!
//! The work of one pass is a [`Pass`]: [`Session::prepare`] does the side effects and
//! returns it without waiting; [`Pass::take_ready`] gives the writes at its front that wait
//! for no store (a heartbeat's ACK, a DUH, a NAK), and [`Pass::finish`] the rest once the
//! pass's events are stored. A TCP connection uses this to answer heartbeats while an
//! earlier frame's store is still in flight (`tcp.rs`).

use std::ops::Range;

use panel_proto::link::{
    CloseReason, DropReason, Dropped, Finished, FrameRef, Output, Record, Reply, ReplyKind, Sent,
};
use panel_proto::rules::Dialect;
use panel_proto::Id;
use tokio::time::{Duration, Instant};

use serde_json::json;

use super::frame_event::{encrypted_dedup_key, event_from_frame, receiver_event};
use super::session::Session;
use crate::control::SessionHandle;
use crate::events::{codes, Appended, NewEvent};
use crate::metrics::names;
use crate::store::StoreError;

/// Bytes to write once the batch's stores are answered.
#[derive(Debug)]
enum Write {
    /// A reply, guarded by the events at these indexes of the batch.
    Reply(Reply, Range<usize>),
    /// A command frame (guarded by nothing).
    Command(Vec<u8>),
}

/// The events of one batch, and how many of them are OFFLINE (for the error log).
#[derive(Default)]
struct Batch {
    events: Vec<NewEvent>,
    offline: usize,
}

/// One pass of a link's outputs after its side effects: the events to store in one
/// hand-off and the writes, each reply guarded by the events before it.
#[derive(Default)]
pub(crate) struct Pass {
    batch: Batch,
    writes: std::collections::VecDeque<Write>,
    /// When the pass's frames were read (the ACK latency metric).
    started: Option<std::time::Instant>,
}

impl Pass {
    /// Whether the pass has events to store.
    pub fn needs_store(&self) -> bool {
        !self.batch.events.is_empty()
    }

    /// How many events the pass has to store.
    pub fn events_len(&self) -> usize {
        self.batch.events.len()
    }

    /// Whether nothing is left to store or write.
    pub fn is_empty(&self) -> bool {
        self.batch.events.is_empty() && self.writes.is_empty()
    }

    /// Take the events to store (the guards keep their positions).
    pub fn take_events(&mut self) -> Vec<NewEvent> {
        std::mem::take(&mut self.batch.events)
    }

    /// Append to `out` the replies at the front of the pass that wait for no store (a
    /// heartbeat's ACK, DUH, NAK): they may go out at once, also while an earlier pass's
    /// store is in flight — none of them is the ACK of an event. Order within the pass is
    /// kept: nothing behind a guarded reply (nor a command frame) is taken.
    pub fn take_ready(&mut self, hot: &HotMetrics, peer: &str, out: &mut Vec<u8>) {
        let started = self.started.unwrap_or_else(std::time::Instant::now);
        while let Some(Write::Reply(_, guard)) = self.writes.front() {
            if !guard.is_empty() {
                break;
            }
            let w = self.writes.pop_front().into_iter().collect();
            write(hot, peer, w, &Ok(Vec::new()), out, started);
        }
    }

    /// Put `later` behind this pass: its events after these, its writes after these.
    pub fn append(&mut self, later: Pass) {
        let offset = self.batch.events.len();
        self.batch.events.extend(later.batch.events);
        self.batch.offline += later.batch.offline;
        self.writes
            .extend(later.writes.into_iter().map(|w| match w {
                Write::Reply(r, g) => Write::Reply(r, g.start + offset..g.end + offset),
                c @ Write::Command(_) => c,
            }));
        self.started = self.started.or(later.started);
    }

    /// The pass's events were stored with `stored` (an empty `Ok` when it had none):
    /// append its writes to `out`, withholding the replies whose events failed.
    pub fn finish(
        self,
        hot: &HotMetrics,
        peer: &str,
        stored: &Result<Vec<Appended>, StoreError>,
        out: &mut Vec<u8>,
    ) {
        if let Err(e) = stored {
            if self.batch.offline > 0 {
                tracing::error!(peer = %peer, error = %e, "could not store OFFLINE event");
            }
        }
        let started = self.started.unwrap_or_else(std::time::Instant::now);
        write(hot, peer, self.writes.into(), stored, out, started);
    }
}

impl Session {
    /// Carry out and clear `self.outputs`; bytes to write go to `out`. Returns the reason
    /// to close when the link asked for it.
    pub(super) async fn apply(
        &mut self,
        out: &mut Vec<u8>,
        started: std::time::Instant,
    ) -> Option<CloseReason> {
        let (pass, closing) = self.prepare(started);
        self.complete(pass, out).await;
        closing
    }

    /// Store `pass`'s events and append its writes to `out`.
    pub(super) async fn complete(&self, mut pass: Pass, out: &mut Vec<u8>) {
        let stored = self.shared.store_events(pass.take_events()).await;
        pass.finish(&self.shared.hot, &self.peer_text, &stored, out);
    }

    /// The side effects of `self.outputs` (cleared), in order, and what is left to store
    /// and write; the reason to close when the link asked for it.
    pub(super) fn prepare(&mut self, started: std::time::Instant) -> (Pass, Option<CloseReason>) {
        let mut outputs = std::mem::take(&mut self.outputs);
        let mut batch = Batch::default();
        let mut writes = std::collections::VecDeque::new();
        let mut guarded_from = 0;
        let mut closing = None;
        self.retry_standby(&mut batch);
        for o in outputs.drain(..) {
            match o {
                Output::Store(r) => batch.events.extend(self.event(r)),
                Output::Online { account, .. } => self.online(&account, &mut batch),
                Output::Dropped(d) => self.dropped(d, &mut batch),
                Output::Reply(r) => {
                    count_reply(&self.shared.hot, &r, &self.peer_text);
                    writes.push_back(Write::Reply(r, guarded_from..batch.events.len()));
                    guarded_from = batch.events.len();
                }
                Output::Send(s) => writes.push_back(Write::Command(self.sent(s))),
                Output::Offline {
                    account,
                    dialect,
                    reason,
                    record,
                } => {
                    if let Some(e) = self.offline(&account, dialect, &reason, record) {
                        batch.events.push(e);
                        batch.offline += 1;
                    }
                }
                Output::Close(r) => closing = Some(r),
                other => self.side_effect(other),
            }
        }
        self.outputs = outputs;
        let pass = Pass {
            batch,
            writes,
            started: Some(started),
        };
        (pass, closing)
    }

    /// Outputs that neither store nor write.
    fn side_effect(&mut self, o: Output) {
        match o {
            Output::Touch { account } => {
                let now = crate::clock::now_ms();
                self.shared.registry.touch(&account, now, &self.peer_text);
            }
            Output::PanelAnswer(FrameRef { id, .. }) => {
                metrics::counter!(names::FRAMES_TOTAL, "id" => id_label(&id), "outcome" => "reply_received").increment(1);
            }
            Output::Finished(f) => self.finished(f),
            Output::Throttle { ms } => {
                metrics::counter!(names::RATE_LIMITED_TOTAL).increment(1);
                self.throttled_until = Some(Instant::now() + Duration::from_millis(ms));
            }
            Output::Store(_)
            | Output::Online { .. }
            | Output::Dropped(_)
            | Output::Reply(_)
            | Output::Send(_)
            | Output::Close(_)
            | Output::Offline { .. } => {}
        }
    }

    /// The stored form of a record; `None` for the ONLINE of a connect-on-demand panel that
    /// is online already (its new connection is just its next message).
    fn event(&self, r: Record) -> Option<NewEvent> {
        Some(match r {
            Record::Event(e) => {
                let mut ev = event_from_frame(
                    &e.frame,
                    &e.account,
                    &self.peer_text,
                    e.dialect,
                    e.tz_offset_secs,
                    e.unknown_account,
                );
                if let Some(digest) = e.ciphertext_digest {
                    ev.dedup_key = Some(encrypted_dedup_key(&e.account, digest));
                }
                log_event(&ev, &self.peer_text);
                ev
            }
            Record::Online { account, dialect } => {
                if self.shared.is_on_demand(&account)
                    && self.shared.registry.get(&account).is_some_and(|p| p.online)
                {
                    return None;
                }
                receiver_event(
                    &account,
                    codes::ONLINE,
                    &self.peer_text,
                    "first valid frame on a connection",
                    dialect,
                )
            }
        })
    }

    /// The connection gave up `account`: unregister it, and return the OFFLINE event when
    /// it is to be recorded and no other connection has taken the account over.
    fn offline(
        &self,
        account: &str,
        dialect: Dialect,
        reason: &CloseReason,
        record: bool,
    ) -> Option<NewEvent> {
        let current = self.shared.connections.unregister(account, self.conn_id);
        if !(current && record) {
            return None;
        }
        tracing::info!(peer = %self.peer, account = %account, reason = reason.as_str(), "panel offline");
        Some(receiver_event(
            account,
            codes::OFFLINE,
            &self.peer_text,
            reason.as_str(),
            dialect,
        ))
    }

    fn sent(&self, s: Sent) -> Vec<u8> {
        if s.attempt == 0 {
            tracing::info!(peer = %self.peer, account = %s.account, command = s.command, seq = s.seq, "command sent");
        } else {
            tracing::info!(peer = %self.peer, account = %s.account, command = s.command, seq = s.seq,
                attempt = s.attempt, "command not ACKed; resending");
        }
        s.bytes
    }

    fn finished(&mut self, f: Finished) {
        match f.request.and_then(|id| self.waiting.remove(&id)) {
            // The caller may have given up waiting; the outcome is its audit's business.
            Some(reply) => drop(reply.send(f.outcome)),
            None => tracing::debug!(peer = %self.peer, account = %f.account, command = f.command,
                outcome = f.outcome.as_str(), "receiver's own command finished"),
        }
    }

    /// A dropped frame: counted, and logged as a summary (the first, then one line per
    /// minute with a count: per connection for invalid bytes, per source and reason for
    /// the rest); a plaintext frame for a keyed account also raises a tamper event.
    fn dropped(&mut self, d: Dropped, batch: &mut Batch) {
        // Every refused frame and every run of bytes that do not frame counts against the
        // connection's `max_invalid_per_min`: a panel retries a refused frame now and then,
        // a squatter or a flood sends thousands.
        self.note_invalid();
        match &d.id {
            None => self.shared.hot.invalid.increment(1),
            Some(id) => {
                metrics::counter!(names::FRAMES_TOTAL, "id" => id_label(id), "outcome" => "dropped")
                    .increment(1);
            }
        }
        let account = d.account.as_deref().unwrap_or("-");
        let now = std::time::Instant::now();
        if let DropReason::Invalid(error) = &d.reason {
            if let Some(suppressed) = self.invalid.note(now, SUMMARY_INTERVAL) {
                tracing::warn!(peer = %self.peer, account, reason = %error, suppressed,
                    summary = "first on the connection, then one line per minute", "frame dropped");
            }
            return;
        }
        let label = refusal_label(&d.reason);
        if let Some(l) = label {
            metrics::counter!(names::FRAMES_REFUSED_TOTAL, "reason" => l).increment(1);
        }
        let key = format!("{}:{}", label.unwrap_or("dropped"), self.peer.ip());
        if let Some(suppressed) = self.shared.guards.refusals.note(&key, now) {
            let id = d.id.as_ref().map_or("-", Id::as_str);
            tracing::warn!(peer = %self.peer, account, id, reason = %d.reason, suppressed,
                summary = "first from the source, then one line per minute", "frame dropped");
        }
        if d.reason == DropReason::PlaintextRefused {
            let key = format!("plaintext:{account}");
            if self.shared.guards.security_events.note(&key, now).is_some() {
                batch.events.push(security_event(
                    account,
                    codes::TAMPER,
                    &self.peer_text,
                    "plaintext frame refused: the account has a key",
                    json!({ "address": self.peer_text }),
                ));
            }
        }
    }

    /// `account`'s first valid frame on this connection: take its commands over, unless a
    /// live connection from another address holds them; then the account stays on standby
    /// and "account seen from two addresses" is stored (a trouble alarm, at most one per
    /// interval per account).
    fn online(&mut self, account: &str, batch: &mut Batch) {
        let handle = SessionHandle {
            conn_id: self.conn_id,
            tx: self.cmd_tx.clone(),
            peer: self.peer,
        };
        match self.shared.connections.register(account, handle) {
            Ok(()) => tracing::info!(peer = %self.peer, account, "panel online"),
            Err(holder) => {
                self.standby.push(account.to_string());
                metrics::counter!(names::FRAMES_REFUSED_TOTAL, "reason" => "two_addresses")
                    .increment(1);
                tracing::warn!(peer = %self.peer, account, holder = %holder,
                    "account seen from two addresses; commands stay with the first");
                let key = format!("two_addresses:{account}");
                let now = std::time::Instant::now();
                if self.shared.guards.security_events.note(&key, now).is_some() {
                    batch.events.push(security_event(
                        account,
                        codes::TWO_ADDRESSES,
                        &self.peer_text,
                        "account seen from two addresses",
                        json!({ "addresses": [holder.to_string(), self.peer_text] }),
                    ));
                }
            }
        }
    }

    /// Accounts on standby take over once the connection holding them is gone (stored as
    /// ONLINE on this connection: the old one stored its OFFLINE).
    fn retry_standby(&mut self, batch: &mut Batch) {
        if self.standby.is_empty() {
            return;
        }
        let dialect = self.link.dialect().unwrap_or(Dialect::Dc09);
        let mut still = Vec::new();
        for account in std::mem::take(&mut self.standby) {
            let handle = SessionHandle {
                conn_id: self.conn_id,
                tx: self.cmd_tx.clone(),
                peer: self.peer,
            };
            if self.shared.connections.register(&account, handle).is_ok() {
                tracing::info!(peer = %self.peer, account = %account,
                    "panel online (took over from a connection that ended)");
                batch.events.push(receiver_event(
                    &account,
                    codes::ONLINE,
                    &self.peer_text,
                    "took over from a connection that ended",
                    dialect,
                ));
            } else {
                still.push(account);
            }
        }
        self.standby = still;
    }
}

/// Invalid input is summarised once per this interval per connection.
const SUMMARY_INTERVAL: Duration = Duration::from_secs(60);

/// A metric label for a drop reason that is a security refusal.
fn refusal_label(r: &DropReason) -> Option<&'static str> {
    Some(match r {
        DropReason::SourceNotAllowed => "source_not_allowed",
        DropReason::PlaintextRefused => "plaintext",
        DropReason::TooManyAccounts => "too_many_accounts",
        DropReason::NewAccountLimit => "new_account_limit",
        DropReason::UnknownAccount => "unknown_account",
        _ => return None,
    })
}

/// A receiver event about a security rule (`code` from [`codes`]), with what a person
/// needs to see in the detail.
fn security_event(
    account: &str,
    code: u16,
    peer: &str,
    reason: &str,
    extra: serde_json::Value,
) -> NewEvent {
    let mut e = receiver_event(account, code, peer, reason, Dialect::Dc09);
    e.facts.dialect = None;
    let mut detail = json!({ "reason": reason });
    if let (Some(d), serde_json::Value::Object(x)) = (detail.as_object_mut(), extra) {
        d.extend(x);
    }
    e.detail = detail.into();
    e
}

/// Append to `out` the writes whose stores committed, in order; a reply whose events did
/// not commit is withheld (the panel retries) and counted.
fn write(
    hot: &HotMetrics,
    peer: &str,
    writes: Vec<Write>,
    stored: &Result<Vec<Appended>, StoreError>,
    out: &mut Vec<u8>,
    started: std::time::Instant,
) {
    for w in writes {
        let (reply, guard) = match w {
            Write::Command(bytes) => {
                out.extend_from_slice(&bytes);
                continue;
            }
            Write::Reply(r, guard) => (r, guard),
        };
        if !guard.is_empty() {
            match stored {
                Err(e) => {
                    tracing::error!(peer = %peer, account = %reply.to.account, error = %e,
                        "event not stored; not ACKed (the panel will retry)");
                    metrics::counter!(names::FRAMES_TOTAL, "id" => "event", "outcome" => "store_error").increment(1);
                    continue;
                }
                Ok(results) => {
                    let results = results.get(guard).unwrap_or_default();
                    if results.iter().any(|r| matches!(r, Appended::Duplicate(_))) {
                        metrics::counter!(names::FRAMES_TOTAL, "id" => "event", "outcome" => "duplicate").increment(1);
                    }
                }
            }
        }
        out.extend_from_slice(&reply.bytes);
        if matches!(reply.kind, ReplyKind::Ack { .. }) {
            // Frame decoded → ACK ready to write (includes the durable commit).
            hot.ack_seconds.record(started.elapsed().as_secs_f64());
        }
    }
}

/// The metric handles every event touches, registered once per receiver instead of looked
/// up by name and labels on every frame.
pub(crate) struct HotMetrics {
    /// `frames_total{outcome="acked"}` per ID token, indexed by [`id_index`].
    acked: [metrics::Counter; ID_LABELS.len()],
    /// Frame decoded → ACK ready to write.
    ack_seconds: metrics::Histogram,
    /// `frames_total{id="invalid",outcome="dropped"}`: bytes that do not frame (a flood of
    /// them is one per byte).
    invalid: metrics::Counter,
}

impl HotMetrics {
    pub(crate) fn new() -> HotMetrics {
        HotMetrics {
            acked: ID_LABELS
                .map(|id| metrics::counter!(names::FRAMES_TOTAL, "id" => id, "outcome" => "acked")),
            ack_seconds: metrics::histogram!(names::ACK_SECONDS),
            invalid: metrics::counter!(names::FRAMES_TOTAL, "id" => "invalid", "outcome" => "dropped"),
        }
    }
}

/// Count a reply the link decided on, and log the unusual ones.
fn count_reply(hot: &HotMetrics, r: &Reply, peer: &str) {
    let id = id_label(&r.to.id);
    match r.kind {
        ReplyKind::Ack { .. } => hot.acked[id_index(&r.to.id)].increment(1),
        ReplyKind::Duh => {
            metrics::counter!(names::FRAMES_TOTAL, "id" => "other", "outcome" => "duh")
                .increment(1);
            tracing::info!(peer = %peer, account = %r.to.account, id = r.to.id.as_str(), "unknown ID token: DUH");
        }
        ReplyKind::Nak(skew) => {
            metrics::counter!(names::FRAMES_TOTAL, "id" => id, "outcome" => "nak").increment(1);
            tracing::warn!(peer = %peer, account = %r.to.account, ?skew, "timestamp outside the window: NAK");
        }
    }
}

/// Every metric label of an ID token, in [`id_index`] order.
const ID_LABELS: [&str; 9] = crate::metrics::FRAME_IDS;

/// The position of an ID token's label in [`ID_LABELS`]; every unknown token is `other`, so
/// a panel cannot create label values.
fn id_index(id: &Id) -> usize {
    match id {
        Id::Null => 0,
        Id::Ack => 1,
        Id::Nak => 2,
        Id::Duh => 3,
        Id::Rsp => 4,
        Id::AdmCid => 5,
        Id::SiaDcs => 6,
        Id::HengBo => 7,
        Id::Other(_) => 8,
    }
}

/// A metric label for an ID token.
fn id_label(id: &Id) -> &'static str {
    ID_LABELS[id_index(id)]
}

fn log_event(ev: &NewEvent, peer: &str) {
    if matches!(ev.class(), Some(panel_proto::codes::Class::Alarm)) {
        tracing::warn!(account = %ev.account, peer = %peer, code = ev.code, sia = ev.sia_code.as_deref().unwrap_or(""),
            zone = ev.zone, group = ev.group, "ALARM");
    } else {
        tracing::debug!(account = %ev.account, code = ev.code, zone = ev.zone, "event");
    }
}

#[cfg(test)]
mod tests {
    use panel_proto::link::FrameRef;

    use super::*;

    fn ack(seq: &str) -> Reply {
        Reply {
            kind: ReplyKind::Ack { encrypted: false },
            to: FrameRef {
                id: Id::AdmCid,
                seq: seq.into(),
                account: "1409".into(),
            },
            bytes: seq.as_bytes().to_vec(),
        }
    }

    /// Two replies guarding an event each, one guarding nothing, and a command frame.
    fn writes() -> Vec<Write> {
        vec![
            Write::Reply(ack("A1"), 0..1),
            Write::Reply(ack("B2"), 1..2),
            Write::Reply(ack("C3"), 2..2),
            Write::Command(b"cmd".to_vec()),
        ]
    }

    #[test]
    fn replies_are_written_in_order_when_their_stores_committed() {
        let mut out = Vec::new();
        let stored = Ok(vec![Appended::Stored(1), Appended::Duplicate(1)]);
        write(
            &HotMetrics::new(),
            "peer",
            writes(),
            &stored,
            &mut out,
            std::time::Instant::now(),
        );
        assert_eq!(out, b"A1B2C3cmd");
    }

    #[test]
    fn a_failed_store_withholds_exactly_the_replies_it_guarded() {
        let mut out = Vec::new();
        let stored = Err(StoreError::Closed);
        write(
            &HotMetrics::new(),
            "peer",
            writes(),
            &stored,
            &mut out,
            std::time::Instant::now(),
        );
        assert_eq!(
            out, b"C3cmd",
            "the heartbeat ACK and the command still go out"
        );
    }
}
