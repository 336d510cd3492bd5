//! `WatchAlarms`: the alarm change log from the client's change seq, then live. Everything
//! is read from the store by seq (the log is small next to the event log), and the store's
//! wake-up ([`crate::store::Store::alarm_changes_watch`]) says when to read again — so a
//! slow client never misses a change and resumes exactly where it stopped by passing the
//! last seq it saw. The stream counts under `grpc.max_streams` (one more gets
//! `RESOURCE_EXHAUSTED`), and its queued replies are bounded in bytes by
//! `grpc.stream_buffer_bytes` ([`crate::api::budget`]): a client that reads slowly (or
//! grants no HTTP/2 window) makes its own watcher wait, which then goes on reading the store
//! from its last seq — nothing skipped, nothing piling up. The task ends when the client goes
//! or the server shuts down.

use std::sync::Arc;

use tonic::Status;

use super::alarms::change;
use super::limits::StreamPermit;
use super::{store_status, Ctx};
use crate::api::budget::{self, BudgetStream, BudgetTx};
use crate::proto::v1 as pb;
use crate::proto::v1::watch_alarms_reply::Item;

/// Changes read per store query.
const PAGE: usize = 500;

type Tx = BudgetTx<pb::WatchAlarmsReply>;

/// Validate and start the watcher; `source` is the client's address (for
/// `grpc.max_streams_per_source`).
pub(crate) fn start(
    ctx: &Arc<Ctx>,
    req: pb::WatchAlarmsRequest,
    source: Option<std::net::IpAddr>,
) -> Result<BudgetStream<pb::WatchAlarmsReply>, Status> {
    if req.from_seq < -1 {
        return Err(Status::invalid_argument(format!(
            "from_seq {} is out of range (-1 = live only, or a change seq >= 0 to replay after)",
            req.from_seq
        )));
    }
    let permit = ctx.streams.open("WatchAlarms", source)?;
    // Taken before anything is read, so a change committed meanwhile still wakes us.
    let wake = ctx.h.store.alarm_changes_watch();
    let (tx, rx) = budget::channel(ctx.h.config.grpc.stream_buffer_bytes);
    ctx.h
        .tasks
        .spawn(run(Arc::clone(ctx), permit, tx, wake, req.from_seq));
    Ok(rx)
}

async fn run(
    ctx: Arc<Ctx>,
    permit: StreamPermit,
    tx: Tx,
    mut wake: tokio::sync::watch::Receiver<i64>,
    from: i64,
) {
    if let Err(Some(status)) = watch(&ctx, &tx, &mut wake, from).await {
        let _ = tx.try_send(Err(status));
    }
    // The stream's place under `grpc.max_streams` is given back when the watcher ends.
    drop(permit);
}

/// `Err(None)`: the client or the server went away; `Err(Some)`: tell the client.
async fn watch(
    ctx: &Ctx,
    tx: &Tx,
    wake: &mut tokio::sync::watch::Receiver<i64>,
    from: i64,
) -> Result<(), Option<Status>> {
    let mut last = if from == -1 {
        ctx.h
            .store
            .last_alarm_change_seq()
            .await
            .map_err(|e| Some(store_status("reading alarm changes", &e)))?
    } else {
        from
    };
    let mut live_sent = false;
    loop {
        wake.borrow_and_update();
        loop {
            let page = ctx
                .h
                .store
                .alarm_changes_after(last, PAGE)
                .await
                .map_err(|e| Some(store_status("reading alarm changes", &e)))?;
            let full = page.len() == PAGE;
            for c in &page {
                send(ctx, tx, Item::Change(change(ctx, c, true))).await?;
                last = c.seq;
            }
            if !full {
                break;
            }
        }
        if !live_sent {
            send(ctx, tx, Item::Live(true)).await?;
            live_sent = true;
        }
        tokio::select! {
            _ = ctx.shutdown.cancelled() => {
                return Err(Some(Status::unavailable("the server is shutting down")));
            }
            _ = tx.closed() => return Err(None),
            r = wake.changed() => if r.is_err() {
                // The store is gone (closing): nothing more will come.
                return Err(Some(Status::unavailable("the store is closed")));
            },
        }
    }
}

async fn send(ctx: &Ctx, tx: &Tx, item: Item) -> Result<(), Option<Status>> {
    tokio::select! {
        _ = ctx.shutdown.cancelled() => Err(Some(Status::unavailable("the server is shutting down"))),
        r = tx.send(Ok(pb::WatchAlarmsReply { item: Some(item) })) => r.map_err(|_| None),
    }
}
