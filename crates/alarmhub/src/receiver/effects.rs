//! Carry out a link's outputs for a [`Session`]: the side effects in order (register for
//! control, touch the registry, finish commands, count and log), every store of the batch
//! in one hand-off to the writer, then the bytes to write: each reply only when the stores
//! before it committed (the panel retries otherwise), command frames as they come.

use std::ops::Range;

use panel_proto::link::{
    CloseReason, DropReason, Dropped, Finished, FrameRef, Output, Record, Reply, ReplyKind, Sent,
};
use panel_proto::rules::Dialect;
use panel_proto::Id;
use tokio::time::{Duration, Instant};

use super::frame_event::{event_from_frame, receiver_event};
use super::session::Session;
use crate::control::SessionHandle;
use crate::events::{codes, Appended, NewEvent};
use crate::metrics::names;
use crate::store::StoreError;

/// Bytes to write once the batch's stores are answered.
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

impl Session {
    /// Carry out and clear `self.outputs`; bytes to write go to `out`. Returns the reason
    /// to close when the link asked for it.
    pub(super) async fn apply(
        &mut self,
        out: &mut Vec<u8>,
        started: std::time::Instant,
    ) -> Option<CloseReason> {
        let mut outputs = std::mem::take(&mut self.outputs);
        let mut batch = Batch::default();
        let mut writes = Vec::new();
        let mut guarded_from = 0;
        let mut closing = None;
        for o in outputs.drain(..) {
            match o {
                Output::Store(r) => batch.events.extend(self.event(r)),
                Output::Reply(r) => {
                    count_reply(&r, &self.peer_text);
                    writes.push(Write::Reply(r, guarded_from..batch.events.len()));
                    guarded_from = batch.events.len();
                }
                Output::Send(s) => writes.push(Write::Command(self.sent(s))),
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
        let offline = batch.offline;
        let stored = self.shared.store_events(batch.events).await;
        if let Err(e) = &stored {
            if offline > 0 {
                tracing::error!(peer = %self.peer, error = %e, "could not store OFFLINE event");
            }
        }
        write(&self.peer_text, writes, &stored, out, started);
        closing
    }

    /// Outputs that neither store nor write.
    fn side_effect(&mut self, o: Output) {
        match o {
            Output::Online { account, .. } => {
                let handle = SessionHandle {
                    conn_id: self.conn_id,
                    tx: self.cmd_tx.clone(),
                };
                self.shared.connections.register(&account, handle);
                tracing::info!(peer = %self.peer, account = %account, "panel online");
            }
            Output::Touch { account } => {
                let now = crate::clock::now_ms();
                self.shared.registry.touch(&account, now, &self.peer_text);
            }
            Output::PanelAnswer(FrameRef { id, .. }) => {
                metrics::counter!(names::FRAMES_TOTAL, "id" => id_label(&id), "outcome" => "reply_received").increment(1);
            }
            Output::Finished(f) => self.finished(f),
            Output::Dropped(d) => self.dropped(d),
            Output::Throttle { ms } => {
                metrics::counter!(names::RATE_LIMITED_TOTAL).increment(1);
                self.throttled_until = Some(Instant::now() + Duration::from_millis(ms));
            }
            Output::Store(_)
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
                let ev = event_from_frame(
                    &e.frame,
                    &e.account,
                    &self.peer_text,
                    e.dialect,
                    e.tz_offset_secs,
                    e.unknown_account,
                );
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

    fn dropped(&self, d: Dropped) {
        let id = d.id.as_ref().map_or("invalid", id_label);
        metrics::counter!(names::FRAMES_TOTAL, "id" => id, "outcome" => "dropped").increment(1);
        let account = d.account.as_deref().unwrap_or("-");
        if let DropReason::Invalid(error) = &d.reason {
            tracing::warn!(peer = %self.peer, account, reason = %error, "frame dropped");
        } else {
            let id = d.id.as_ref().map_or("-", Id::as_str);
            tracing::warn!(peer = %self.peer, account, id, reason = %d.reason, "frame dropped");
        }
    }
}

/// Append to `out` the writes whose stores committed, in order; a reply whose events did
/// not commit is withheld (the panel retries) and counted.
fn write(
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
            metrics::histogram!(names::ACK_SECONDS).record(started.elapsed().as_secs_f64());
        }
    }
}

/// Count a reply the link decided on, and log the unusual ones.
fn count_reply(r: &Reply, peer: &str) {
    let id = id_label(&r.to.id);
    match r.kind {
        ReplyKind::Ack { .. } => {
            metrics::counter!(names::FRAMES_TOTAL, "id" => id, "outcome" => "acked").increment(1);
        }
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

/// A metric label for an ID token; every unknown token is `other`, so a panel cannot
/// create label values.
fn id_label(id: &Id) -> &'static str {
    match id {
        Id::Null => "NULL",
        Id::Ack => "ACK",
        Id::Nak => "NAK",
        Id::Duh => "DUH",
        Id::Rsp => "RSP",
        Id::AdmCid => "ADM-CID",
        Id::SiaDcs => "SIA-DCS",
        Id::HengBo => "HENG-BO",
        Id::Other(_) => "other",
    }
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
