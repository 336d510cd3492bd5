//! `WatchEvents`: replay stored events after the client's cursor (a seq), then stream live
//! events from the bus — gap-free, in seq order, each event once.
//!
//! The bus receiver is taken *before* the store is read, so every event committed after the
//! replay's last read is still in the receiver; bus events at or below the last seq handled
//! are skipped. Whenever the bus cannot be trusted to be contiguous — it lagged (this client
//! was too slow and the bus overwrote events) or an event arrives with a seq beyond the
//! next one — the watcher reads the store again from its last seq, which has everything.
//! A `Gap` is sent only when the store itself no longer has events the client asked for.
//! The client gets one bounded channel; when it is gone (or the server shuts down) the
//! task ends.

use std::sync::Arc;

use tokio::sync::broadcast;
use tonic::Status;

use super::limits::StreamPermit;
use super::{convert, store_status, Ctx};
use crate::api::budget::{self, BudgetStream, BudgetTx};
use crate::events::StoredEvent;
use crate::metrics::names;
use crate::proto::v1 as pb;
use crate::proto::v1::watch_events_reply::Item;
use crate::store::{EventQuery, StoreError};

/// Events read from the store per replay query.
const REPLAY_PAGE: usize = 1000;

type Tx = BudgetTx<pb::WatchEventsReply>;

/// Why a watch ended early.
enum Stop {
    /// The client went away: nothing more to say.
    ClientGone,
    /// Tell the client this status, then end.
    Fail(Status),
}

/// Validate, take the bus receiver, and start the watcher task; `source` is the client's
/// address (for `grpc.max_streams_per_source`).
pub(crate) fn start(
    ctx: &Arc<Ctx>,
    req: pb::WatchEventsRequest,
    source: Option<std::net::IpAddr>,
) -> Result<BudgetStream<pb::WatchEventsReply>, Status> {
    if req.from_seq < -1 {
        return Err(Status::invalid_argument(format!(
            "from_seq {} is out of range (-1 = live only, or a seq >= 0 to replay after)",
            req.from_seq
        )));
    }
    let permit = ctx.streams.open("WatchEvents", source)?;
    let bus = ctx.h.bus.subscribe();
    // Bytes queued for this client at most; a client slower than the bus makes the watcher
    // wait here, and it then resumes from the store (nothing skipped, nothing piling up).
    let (tx, rx) = budget::channel(ctx.h.config.grpc.stream_buffer_bytes);
    let w = Watcher {
        _permit: permit,
        shutdown: ctx.shutdown.child_token(),
        ctx: Arc::clone(ctx),
        account: (!req.account.is_empty()).then_some(req.account),
        tx,
        last: 0,
    };
    ctx.h.tasks.spawn(w.run(bus, req.from_seq));
    Ok(rx)
}

struct Watcher {
    /// This stream's place under `grpc.max_streams`, given back when the watcher ends.
    _permit: StreamPermit,
    /// The server's shutdown, as this watcher's own child token: waiting on it takes only
    /// this watcher's lock, not the one every watcher shares (a thousand watchers wait
    /// again after every event).
    shutdown: tokio_util::sync::CancellationToken,
    ctx: Arc<Ctx>,
    account: Option<String>,
    tx: Tx,
    /// Every event with seq <= `last` was sent (or did not match the filter).
    last: i64,
}

impl Watcher {
    async fn run(mut self, bus: broadcast::Receiver<Arc<StoredEvent>>, from_seq: i64) {
        metrics::gauge!(names::API_WATCHERS).increment(1.0);
        if let Err(Stop::Fail(status)) = self.watch(bus, from_seq).await {
            // Best effort: the client may be gone too.
            let _ = self.tx.try_send(Err(status));
        }
        metrics::gauge!(names::API_WATCHERS).decrement(1.0);
    }

    async fn watch(
        &mut self,
        mut bus: broadcast::Receiver<Arc<StoredEvent>>,
        from_seq: i64,
    ) -> Result<(), Stop> {
        let top = self
            .ctx
            .h
            .store
            .last_seq()
            .await
            .map_err(|e| Stop::Fail(store_status("reading the last seq", &e)))?;
        // -1: live only. A cursor beyond the store (a new or restored database) has nothing
        // to replay; go live from the store's end so new events are not mistaken for old.
        self.last = if from_seq < 0 { top } else { from_seq.min(top) };
        if from_seq >= 0 {
            self.check_gap().await?;
        }
        self.replay().await?;
        self.send(Item::Live(true)).await?;
        loop {
            // The bus first: an event already there is taken without registering a waiter
            // on the shutdown token or the channel.
            let received = tokio::select! {
                biased;
                r = bus.recv() => r,
                () = self.shutdown.cancelled() => return Err(shutting_down()),
                () = self.tx.closed() => return Err(Stop::ClientGone),
            };
            if self.shutdown.is_cancelled() {
                return Err(shutting_down());
            }
            match received {
                Ok(ev) if ev.seq <= self.last => {}
                Ok(ev) if ev.seq == self.last + 1 => {
                    self.last = ev.seq;
                    if self.wants(&ev) {
                        self.send(Item::Event(convert::event(&ev))).await?;
                    }
                }
                // A hole before this event: the store has it all.
                Ok(_) => self.replay().await?,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    metrics::counter!(names::API_WATCH_LAGGED_TOTAL).increment(1);
                    tracing::debug!(
                        skipped = n,
                        last = self.last,
                        "watcher lagged; resuming from the store"
                    );
                    self.replay().await?;
                }
                Err(broadcast::error::RecvError::Closed) => return Err(shutting_down()),
            }
        }
    }

    fn wants(&self, ev: &StoredEvent) -> bool {
        self.account
            .as_deref()
            .is_none_or(|a| ev.event.account == a)
    }

    /// Tell the client when events right after its cursor are no longer stored.
    async fn check_gap(&mut self) -> Result<(), Stop> {
        let after = self.last;
        let first = self.ctx.h.store.events_after(after, 1).await.map_err(|e| {
            Stop::Fail(store_status(
                &format!("reading events after seq {after}"),
                &e,
            ))
        })?;
        if let Some(first) = first.first().filter(|e| e.seq > after + 1) {
            let gap = pb::Gap {
                from_seq: after + 1,
                to_seq: first.seq - 1,
                reason: "these events are no longer in the store".into(),
            };
            self.send(Item::Gap(gap)).await?;
            self.last = first.seq - 1;
        }
        Ok(())
    }

    /// Send every stored event after `last` (matching the filter), page by page, until the
    /// store has nothing more.
    async fn replay(&mut self) -> Result<(), Stop> {
        loop {
            let after = self.last;
            let (top, page) = self.read_page(after).await.map_err(|e| {
                Stop::Fail(store_status(
                    &format!("replaying events after seq {after}"),
                    &e,
                ))
            })?;
            let full = page.len() == REPLAY_PAGE;
            for ev in &page {
                self.send(Item::Event(convert::event(ev))).await?;
                self.last = ev.seq;
            }
            if !full {
                // Everything up to `top` (read before the page) has been seen.
                self.last = self.last.max(top);
                return Ok(());
            }
        }
    }

    /// The store's last seq, then the next page after `after` (matching the filter): events
    /// up to that last seq that the page does not hold do not match.
    async fn read_page(&self, after: i64) -> Result<(i64, Vec<StoredEvent>), StoreError> {
        let store = &self.ctx.h.store;
        let top = store.last_seq().await?;
        let page = match &self.account {
            None => store.events_after(after, REPLAY_PAGE).await?,
            Some(account) => {
                let q = EventQuery {
                    account: Some(account.clone()),
                    after_seq: Some(after),
                    limit: REPLAY_PAGE,
                    ..EventQuery::default()
                };
                store.query_events(&q).await?
            }
        };
        Ok((top, page))
    }

    async fn send(&self, item: Item) -> Result<(), Stop> {
        let reply = pb::WatchEventsReply { item: Some(item) };
        // The send first: with room in the budget (the usual case) it is done without a
        // waiter on the shutdown token.
        tokio::select! {
            biased;
            r = self.tx.send(Ok(reply)) => r.map_err(|()| Stop::ClientGone),
            () = self.shutdown.cancelled() => Err(shutting_down()),
        }
    }
}

fn shutting_down() -> Stop {
    Stop::Fail(Status::unavailable(
        "the server is shutting down; resume from the last seq received",
    ))
}
