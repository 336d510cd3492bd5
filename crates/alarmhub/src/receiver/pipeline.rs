//! A TCP connection's passes waiting for the store, so the connection keeps answering what
//! needs no store while an earlier frame's events are committed (issue #14: a heartbeat that
//! came in while a store was in flight waited for that commit; during a 100,000-panel ramp,
//! with the store seconds behind, panels timed their heartbeats out and reconnected).
//!
//! At most one pass is in flight (its events handed to the store in one call); the passes
//! taken meanwhile wait behind it as one, up to [`MAX_QUEUED_EVENTS`] events; beyond that
//! the connection takes no more frames (the bytes stay buffered, the socket is read only
//! to a bound). So a heartbeat behind a panel's retransmissions of an event that is still
//! being stored is answered too, and the memory a connection holds stays bounded. Every pass
//! first gives the replies at its front that guard no event ([`Pass::take_ready`]: the ACK
//! of a NULL, a DUH, a NAK): they go out at once. Everything else is written in pass order,
//! each reply only after the commit of the events before it — an event is never ACKed
//! before it is stored. A heartbeat's ACK may thus overtake the ACK of an event that came
//! before it and is still being stored; panels match ACKs by seq (protocol.md §2.4), and a
//! panel that waits for each ACK never has both in flight.

use std::sync::Arc;

use super::effects::Pass;
use super::Shared;
use crate::store::{AppendAnswer as Stored, AppendTicket};

/// Events that may wait behind the pass in flight before the connection stops taking
/// frames (a panel with one frame in flight retransmits a few copies at most).
pub(crate) const MAX_QUEUED_EVENTS: usize = 64;

/// A pass whose events are being stored.
struct InFlight {
    store: AppendTicket,
    pass: Pass,
}

/// The passes of one connection that wait for the store.
#[derive(Default)]
pub(crate) struct Pipeline {
    inflight: Option<InFlight>,
    /// Behind `inflight` (never set without it).
    queued: Option<Pass>,
}

impl Pipeline {
    /// Nothing waits to be stored or written.
    pub(crate) fn idle(&self) -> bool {
        self.inflight.is_none() && self.queued.is_none()
    }

    /// A store is in flight ([`Pipeline::stored`] will answer).
    pub(crate) fn busy(&self) -> bool {
        self.inflight.is_some()
    }

    /// Whether the connection may take another pass: fewer than [`MAX_QUEUED_EVENTS`]
    /// events wait behind the pass in flight.
    pub(crate) fn accepts(&self) -> bool {
        self.queued
            .as_ref()
            .is_none_or(|q| q.events_len() < MAX_QUEUED_EVENTS)
    }

    /// A new pass: its ready replies go to `out` now; the rest is written now when nothing
    /// is pending and it stores nothing, else stored and written in turn.
    pub(crate) fn push(
        &mut self,
        mut pass: Pass,
        shared: &Arc<Shared>,
        peer: &str,
        out: &mut Vec<u8>,
    ) {
        pass.take_ready(&shared.hot, peer, out);
        if pass.is_empty() {
            return;
        }
        if let Some(q) = &mut self.queued {
            q.append(pass);
        } else if self.inflight.is_some() {
            self.queued = Some(pass);
        } else {
            self.start(pass, shared, peer, out);
        }
    }

    fn start(&mut self, mut pass: Pass, shared: &Arc<Shared>, peer: &str, out: &mut Vec<u8>) {
        if !pass.needs_store() {
            pass.finish(&shared.hot, peer, &Ok(Vec::new()), out);
            return;
        }
        let store = shared.submit_events(pass.take_events());
        self.inflight = Some(InFlight { store, pass });
    }

    /// The answer of the store in flight (pending forever when none is). Cancel-safe: the
    /// store call lives in the pipeline.
    pub(crate) async fn stored(&mut self) -> Stored {
        match &mut self.inflight {
            Some(f) => (&mut f.store).await,
            None => std::future::pending().await,
        }
    }

    /// The store in flight answered `stored`: write its pass, then start the one behind it.
    pub(crate) fn complete(
        &mut self,
        stored: Stored,
        shared: &Arc<Shared>,
        peer: &str,
        out: &mut Vec<u8>,
    ) {
        if let Some(f) = self.inflight.take() {
            f.pass.finish(&shared.hot, peer, &stored, out);
        }
        if let Some(q) = self.queued.take() {
            self.start(q, shared, peer, out);
        }
    }

    /// The connection is over: wait until what was handed over is stored (in order, so an
    /// OFFLINE stored after this follows the connection's events); nothing is written.
    pub(crate) async fn drain(&mut self, shared: &Arc<Shared>, peer: &str) {
        let mut discarded = Vec::new();
        // At most two rounds: the pass in flight, then the one behind it.
        for _ in 0..2 {
            if !self.busy() {
                break;
            }
            let stored = self.stored().await;
            self.complete(stored, shared, peer, &mut discarded);
        }
    }
}
