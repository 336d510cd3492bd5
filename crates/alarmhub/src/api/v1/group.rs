//! A consumer group of `Subscribe`: one actor task per group alive in this process, owning
//! the group's [`GroupState`], its members' reply channels, a bus receiver and the cursor
//! writes.
//!
//! Lifecycle: the first member to attach creates the actor, which loads the group's cursor
//! from the store (a group never seen before starts at the store's current end — new groups
//! start live — and its cursor is written at once so a restart resumes from there). Events
//! flow from the store (catch-up, and whenever the bus lagged or had a hole) and the bus
//! (live) to members with room, lowest seq first, members in turn. Acks advance the cursor
//! over contiguous acknowledged seqs; it is written at most every [`FLUSH_EVERY`], and
//! always when a member leaves. Unacknowledged events are redelivered after
//! `grpc.ack_timeout_secs` or when their member leaves. When the last member leaves, the
//! actor writes the cursor and ends; the next attach starts a new one from that cursor.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;
use tonic::Status;

use super::group_state::{GroupState, MemberId};
use super::groups::{MemberSpec, Msg, ReplyTx};
use super::{convert, store_status, Ctx};
use crate::api::budget::TrySendError;
use crate::events::StoredEvent;
use crate::metrics::names;
use crate::proto::v1 as pb;

/// Longest a changed cursor waits before it is written.
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Timeouts, stalled members and failed store reads are looked at this often.
const TICK: Duration = Duration::from_millis(100);
/// Events per store read.
const REFILL_PAGE: usize = 1000;
/// Messages (attaches, acks, store pages) queued for one group actor.
pub(crate) const INBOX: usize = 1024;

/// The actor of one group.
struct Actor {
    ctx: Arc<Ctx>,
    name: String,
    me: mpsc::Sender<Msg>,
    state: GroupState,
    members: HashMap<MemberId, ReplyTx>,
    persisted: i64,
    last_flush: Instant,
    timeout: Duration,
}

/// Start from the first attach (which sets the group's account filter), serve until the
/// last member leaves or the server shuts down, then write the cursor and end.
pub(crate) async fn run(
    ctx: Arc<Ctx>,
    name: String,
    me: mpsc::Sender<Msg>,
    mut rx: mpsc::Receiver<Msg>,
    seen: i64,
) {
    let mut bus = ctx.h.bus.subscribe();
    let Some(Msg::Attach { id, spec, reply }) = rx.recv().await else {
        end(&ctx, &name, &me, &mut rx, None);
        return;
    };
    let cursor = match load_cursor(&ctx, &name).await {
        Ok(c) => c,
        Err(status) => {
            let _ = reply.send(Err(status));
            end(&ctx, &name, &me, &mut rx, None);
            return;
        }
    };
    tracing::info!(group = %name, cursor, filter = ?spec.account, "consumer group started");
    let mut actor = Actor {
        timeout: Duration::from_secs(ctx.h.config.grpc.ack_timeout_secs.max(1)),
        state: GroupState::new(cursor, seen, spec.account.clone()),
        ctx,
        name,
        me,
        members: HashMap::new(),
        persisted: cursor,
        last_flush: Instant::now(),
    };
    actor.attach(id, spec, reply);
    actor.serve(&mut bus, &mut rx).await;
    actor.flush().await;
    tracing::info!(group = %actor.name, cursor = actor.persisted, "consumer group idle");
    let high = actor.state.delivered_high();
    end(&actor.ctx, &actor.name, &actor.me, &mut rx, Some(high));
}

/// The group's cursor; a new group starts at the store's end, recorded right away.
async fn load_cursor(ctx: &Arc<Ctx>, name: &str) -> Result<i64, Status> {
    let store = &ctx.h.store;
    let loading = |e| store_status(&format!("loading the cursor of group {name:?}"), &e);
    let saved = store.cursor(name).await.map_err(loading)?;
    // Read before a new group's cursor is written, so it starts at the end as of now.
    let last = store.last_seq().await.map_err(loading)?;
    if let Some(c) = saved {
        return Ok(c);
    }
    store
        .set_cursor(name, last)
        .await
        .map_err(|e| store_status(&format!("creating group {name:?}"), &e))?;
    Ok(last)
}

/// Unregister and drop every queued message; queued attaches see their reply dropped and
/// try again with a fresh actor.
fn end(
    ctx: &Ctx,
    name: &str,
    me: &mpsc::Sender<Msg>,
    rx: &mut mpsc::Receiver<Msg>,
    delivered_high: Option<i64>,
) {
    ctx.groups.retire(name, me, delivered_high, || rx.close());
    while rx.try_recv().is_ok() {}
}

impl Actor {
    async fn serve(
        &mut self,
        bus: &mut broadcast::Receiver<Arc<StoredEvent>>,
        rx: &mut mpsc::Receiver<Msg>,
    ) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.refill();
            self.dispatch();
            tokio::select! {
                biased;
                () = self.ctx.shutdown.cancelled() => {
                    self.say_to_all(Status::unavailable("the server is shutting down; subscribe again"));
                    return;
                }
                msg = rx.recv() => match msg {
                    Some(msg) => self.handle(msg).await,
                    None => return,
                },
                r = bus.recv() => match r {
                    Ok(ev) => self.state.offer(&ev),
                    Err(broadcast::error::RecvError::Lagged(_)) => self.state.lagged(),
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = tick.tick() => self.on_tick().await,
            }
            // No member left and no attach waiting: end (a racing attach is retried, see
            // `end`).
            if self.state.is_empty() && rx.is_empty() {
                return;
            }
        }
    }

    async fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Attach { id, spec, reply } => self.attach(id, spec, reply),
            Msg::Ack { id, seqs } => {
                self.state.ack(id, &seqs);
                if self.last_flush.elapsed() >= FLUSH_EVERY {
                    self.flush().await;
                }
            }
            Msg::Detach { id } => {
                self.members.remove(&id);
                let requeued = self.state.detach(id);
                tracing::debug!(group = %self.name, member = id, requeued, "member left");
                self.flush().await;
            }
            Msg::Refilled(Ok(page)) => {
                let full = page.len() == REFILL_PAGE;
                self.state.refilled(page, full);
            }
            Msg::Refilled(Err(status)) => {
                tracing::warn!(group = %self.name, error = %status.message(), "reading the store failed; retrying");
                self.state.refill_failed();
            }
        }
    }

    fn attach(
        &mut self,
        id: MemberId,
        spec: MemberSpec,
        reply: oneshot::Sender<Result<(), Status>>,
    ) {
        if spec.account.as_deref() != self.state.filter() {
            let _ = reply.send(Err(Status::failed_precondition(format!(
                "group {:?} delivers {}; this member asked for {} (use another group name)",
                self.name,
                describe(self.state.filter()),
                describe(spec.account.as_deref()),
            ))));
            return;
        }
        if reply.send(Ok(())).is_ok() {
            self.state.attach(id, spec.max_in_flight);
            self.members.insert(id, spec.tx);
        }
    }

    async fn on_tick(&mut self) {
        let n = self.state.expire(Instant::now(), self.timeout);
        if n > 0 {
            metrics::counter!(names::API_REDELIVERIES_TOTAL).increment(n as u64);
        }
        self.state.unstall();
        if self.last_flush.elapsed() >= FLUSH_EVERY {
            self.flush().await;
        }
    }

    /// Start a store read when the state asks for one.
    fn refill(&mut self) {
        let Some(after) = self.state.start_refill() else {
            return;
        };
        let ctx = Arc::clone(&self.ctx);
        let me = self.me.clone();
        let tasks = self.ctx.h.tasks.clone();
        tasks.spawn(async move {
            let page = ctx
                .h
                .store
                .events_after(after, REFILL_PAGE)
                .await
                .map_err(|e| store_status(&format!("reading events after seq {after}"), &e));
            if page.is_err() {
                // Do not spin on a failing store.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let _ = me.send(Msg::Refilled(page)).await;
        });
    }

    /// Hand out every event some member has room for.
    fn dispatch(&mut self) {
        while let Some(d) = self.state.next_delivery(Instant::now()) {
            let Some(tx) = self.members.get(&d.member) else {
                self.state.undeliverable(&d);
                self.state.detach(d.member);
                continue;
            };
            let reply = pb::SubscribeReply {
                event: Some(convert::event(&d.ev)),
                redelivery: d.redelivery,
            };
            match tx.try_send(Ok(reply)) {
                Ok(()) => {}
                Err(TrySendError::Full) => self.state.undeliverable(&d),
                Err(TrySendError::Closed) => {
                    self.state.undeliverable(&d);
                    self.members.remove(&d.member);
                    self.state.detach(d.member);
                }
            }
        }
    }

    /// Write the cursor if it moved.
    async fn flush(&mut self) {
        self.last_flush = Instant::now();
        let through = self.state.acked_through();
        if through <= self.persisted {
            return;
        }
        match self.ctx.h.store.set_cursor(&self.name, through).await {
            Ok(()) => self.persisted = through,
            Err(e) => {
                tracing::warn!(group = %self.name, cursor = through, error = %e, "could not write the group cursor")
            }
        }
    }

    fn say_to_all(&self, status: Status) {
        for tx in self.members.values() {
            let _ = tx.try_send(Err(status.clone()));
        }
    }
}

fn describe(account: Option<&str>) -> String {
    account.map_or("every account".into(), |a| format!("account {a:?} only"))
}
