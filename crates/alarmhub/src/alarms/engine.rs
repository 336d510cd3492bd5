//! The alarm engine: two loops of `alarmhub serve`.
//!
//! * [`follow`] reads the durable event log by seq from its stored cursor
//!   ([`super::ENGINE_CURSOR`]), asks `[alarms]` what each event means
//!   ([`super::AlarmsConfig::classify`]) and hands the batch to
//!   [`Store::record_alarm_events`], which applies it and moves the cursor in one
//!   transaction. A crash between an event's commit (its ACK) and the alarm update loses
//!   nothing: the next start reads from the cursor, and an event is never applied twice.
//!   Once caught up it takes the events from the event bus instead of reading them back
//!   ([`take_next`]): the bus carries every committed event in seq order, and seqs have no
//!   gaps, so events that continue the cursor exactly are the ones the store holds. A gap or
//!   a lagged bus sends it back to the store.
//! * [`escalate`] marks alarms not taken within `take_within_secs` of their priority as
//!   escalated. The decision ([`due`]) is a pure function of the open alarms and "now"
//!   (the engine's [`crate::clock::Clock`]); the loop sleeps on tokio time until the next deadline or a
//!   new change, so tests run it under paused time with a manual clock.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio_util::sync::CancellationToken;

use super::service::Alarms;
use super::{AlarmChange, AlarmInput, AlarmOp, AlarmState, OpenAlarm};
use super::{AlarmsConfig, SYSTEM_ACTOR};
use crate::events::{EventBus, StoredEvent};
use crate::store::{Store, StoreError};

/// Events read per batch.
const BATCH: usize = 1000;
/// Alarm inputs (or escalations) applied per store transaction at most. The transaction
/// runs on the writer that panels wait on for their ACKs: ~190 inputs took 3.5 ms there
/// (10,000 events/s, 30 % alarms), and a round escalating 1,000 alarms at once held every
/// ACK back for tens of ms.
const PER_COMMIT: usize = 64;
/// Alarm batches start at least this far apart while events keep coming. Each batch is a
/// store commit (an fsync) on the same writer as the events that panels wait to have
/// ACKed; without pacing a saturated writer spent every other commit on the engine. A lone
/// event after a quiet spell is applied at once.
const PACE: Duration = Duration::from_millis(50);
/// Wait after a store failure before retrying.
const RETRY: Duration = Duration::from_secs(1);
/// Rounds are at least this far apart, so a stream of alarm changes (each one wakes the
/// ticker) costs one read of the open alarms a second, not one per change. Deadlines are
/// whole seconds (`take_within_secs` ≥ 1), so an escalation is at most this late.
const MIN_TICK: Duration = Duration::from_secs(1);
/// The ticker looks at least this often even when no deadline is near (a safety net for a
/// missed wake-up; cheap: one indexed read of the `new` alarms).
const MAX_TICK: Duration = Duration::from_secs(5);

/// The inputs of one batch of events (events that do not concern alarms left out).
pub fn inputs<'a>(
    config: &AlarmsConfig,
    events: impl IntoIterator<Item = &'a StoredEvent>,
) -> Vec<AlarmInput> {
    events
        .into_iter()
        .filter_map(|e| {
            let action = config.classify(&e.event)?;
            Some(AlarmInput {
                seq: e.seq,
                account: e.event.account.clone(),
                code: e.event.code,
                sia_code: e.event.sia_code.clone(),
                zone: e.event.zone,
                group: e.event.group,
                at_ms: e.event.received_at_ms,
                action,
            })
        })
        .collect()
}

/// The inputs of a batch read up to seq `last`, as store transactions of at most
/// `PER_COMMIT` inputs, each with the cursor it moves to: the seq of its last input,
/// and `last` for the final one (the events in between concern no alarm). Always at least
/// one, so the cursor moves past a batch with no alarm input too.
pub fn commits(inputs: Vec<AlarmInput>, last: i64) -> Vec<(i64, Vec<AlarmInput>)> {
    let mut out = Vec::with_capacity(inputs.len() / PER_COMMIT + 1);
    let mut rest = inputs.into_iter().peekable();
    loop {
        let part: Vec<AlarmInput> = rest.by_ref().take(PER_COMMIT).collect();
        if rest.peek().is_none() {
            out.push((last, part));
            return out;
        }
        let upto = part.last().map_or(last, |i| i.seq);
        out.push((upto, part));
    }
}

/// Where the engine starts: its stored cursor; on the very first start (no cursor) the
/// current end of the log — events stored before alarm handling existed open no alarms.
pub async fn start_cursor(store: &dyn Store) -> Result<i64, StoreError> {
    if let Some(c) = store.cursor(super::ENGINE_CURSOR).await? {
        return Ok(c);
    }
    let last = store.last_seq().await?;
    store.record_alarm_events(last, Vec::new()).await?;
    Ok(last)
}

/// Apply every event after `cursor` that is in the store now; returns the new cursor and
/// the changes written. Batches of 1000 events, one store transaction per
/// `PER_COMMIT` alarm inputs of a batch.
pub async fn catch_up(
    alarms: &Alarms,
    mut cursor: i64,
) -> Result<(i64, Vec<AlarmChange>), StoreError> {
    let store = alarms.store();
    let mut changes = Vec::new();
    loop {
        let events = store.events_after(cursor, BATCH).await?;
        let Some(last) = events.last().map(|e| e.seq) else {
            return Ok((cursor, changes));
        };
        let written = record(alarms, &mut cursor, inputs(alarms.config(), &events), last).await?;
        changes.extend(written);
    }
}

/// Record the inputs of the events up to seq `last` in commits of at most `PER_COMMIT`
/// ([`commits`]), moving `cursor` with each (on an error it is where the last commit left
/// it); the changes written.
async fn record(
    alarms: &Alarms,
    cursor: &mut i64,
    inputs: Vec<AlarmInput>,
    last: i64,
) -> Result<Vec<AlarmChange>, StoreError> {
    let mut changes = Vec::new();
    for (upto, part) in commits(inputs, last) {
        let written = alarms.store().record_alarm_events(upto, part).await?;
        alarms.observe(&written);
        changes.extend(written);
        *cursor = upto;
    }
    Ok(changes)
}

/// What the bus holds after the engine's cursor.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken {
    /// Every event waiting on the bus continued the cursor; they were added in order
    /// (possibly none).
    Next,
    /// An event after a gap, or the bus lagged: read the store from the cursor.
    Store,
}

/// Add `event` to `pending` when it is the one right after `cursor` and the events
/// already pending; skip it when it is at or before them (already applied, or read from
/// the store); otherwise there is a gap.
pub fn take_next(
    cursor: i64,
    pending: &mut Vec<Arc<StoredEvent>>,
    event: Arc<StoredEvent>,
) -> Taken {
    let last = pending.last().map_or(cursor, |e| e.seq);
    match event.seq.checked_sub(last) {
        Some(1) => {
            pending.push(event);
            Taken::Next
        }
        Some(d) if d <= 0 => Taken::Next,
        _ => Taken::Store,
    }
}

/// Take what waits on `rx` now (no waiting) into `pending`, as [`take_next`] does.
fn drain(
    rx: &mut broadcast::Receiver<Arc<StoredEvent>>,
    cursor: i64,
    pending: &mut Vec<Arc<StoredEvent>>,
) -> Taken {
    loop {
        match rx.try_recv() {
            Ok(e) => {
                if take_next(cursor, pending, e) == Taken::Store {
                    return Taken::Store;
                }
            }
            Err(TryRecvError::Empty) => return Taken::Next,
            Err(TryRecvError::Lagged(_) | TryRecvError::Closed) => return Taken::Store,
        }
    }
}

/// Apply events taken from the bus (the ones right after `cursor`, in order), moving
/// `cursor` with each commit (on an error it is where the last commit left it).
async fn apply_taken(
    alarms: &Alarms,
    cursor: &mut i64,
    events: &[Arc<StoredEvent>],
) -> Result<(), StoreError> {
    let Some(last) = events.last().map(|e| e.seq) else {
        return Ok(());
    };
    let all = inputs(alarms.config(), events.iter().map(|e| e.as_ref()));
    record(alarms, cursor, all, last).await.map(drop)
}

/// Follow the event log until `cancel`: catch up from the store, then take the events the
/// bus carries after the cursor, a batch at most every `PACE`; back to the store after a
/// gap, a lagged bus or a failed commit.
pub async fn follow(alarms: Alarms, bus: EventBus, cancel: CancellationToken) {
    // Subscribed before the first read, so an event committed after it is on the bus.
    let mut rx = bus.subscribe();
    let mut cursor = loop {
        match start_cursor(alarms.store().as_ref()).await {
            Ok(c) => break c,
            Err(e) => {
                tracing::error!(error = %e, "alarm engine cannot read its cursor; retrying");
                if sleep_or_cancel(RETRY, &cancel).await {
                    return;
                }
            }
        }
    };
    tracing::info!(cursor, "alarm engine following the event log");
    let mut last_round: Option<tokio::time::Instant> = None;
    let mut from_store = true;
    let mut pending: Vec<Arc<StoredEvent>> = Vec::new();
    loop {
        if !from_store {
            // Wait for an event after the cursor.
            let taken = loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    r = rx.recv() => match r {
                        Ok(e) if e.seq <= cursor => {}
                        Ok(e) => break take_next(cursor, &mut pending, e),
                        Err(RecvError::Lagged(_) | RecvError::Closed) => break Taken::Store,
                    },
                }
            };
            from_store = taken == Taken::Store;
        }
        if let Some(at) = last_round {
            let since = at.elapsed();
            if since < PACE && sleep_or_cancel(PACE - since, &cancel).await {
                return;
            }
        }
        last_round = Some(tokio::time::Instant::now());
        if !from_store && drain(&mut rx, cursor, &mut pending) == Taken::Store {
            from_store = true;
        }
        let result = if from_store {
            catch_up(&alarms, cursor).await.map(|(c, _)| cursor = c)
        } else {
            apply_taken(&alarms, &mut cursor, &pending).await
        };
        pending.clear();
        match result {
            Ok(()) => from_store = false,
            Err(e) => {
                tracing::error!(error = %e, cursor, "alarm engine could not apply events; retrying");
                from_store = true;
                if sleep_or_cancel(RETRY, &cancel).await {
                    return;
                }
            }
        }
    }
}

/// `true` when cancelled during the sleep.
async fn sleep_or_cancel(d: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => true,
        _ = tokio::time::sleep(d) => false,
    }
}

/// The alarms to escalate at `now_ms`, and the next deadline after it (Unix ms) among
/// the others.
pub fn due(config: &AlarmsConfig, open: &[OpenAlarm], now_ms: i64) -> (Vec<i64>, Option<i64>) {
    let mut ids = Vec::new();
    let mut next: Option<i64> = None;
    for a in open {
        let Some(deadline) = deadline(config, a) else {
            continue;
        };
        if deadline <= now_ms {
            ids.push(a.id);
        } else {
            next = Some(next.map_or(deadline, |n| n.min(deadline)));
        }
    }
    (ids, next)
}

/// When `alarm` escalates if nobody takes it: `None` once taken, closed or escalated.
pub fn deadline(config: &AlarmsConfig, alarm: &OpenAlarm) -> Option<i64> {
    if alarm.state != AlarmState::New || alarm.escalated {
        return None;
    }
    let secs = i64::try_from(config.take_within_secs(alarm.priority)).unwrap_or(i64::MAX / 1000);
    Some(alarm.opened_at_ms.saturating_add(secs.saturating_mul(1000)))
}

/// One escalation round at the engine clock's now: escalates what is due, returns the
/// changes and the next deadline.
pub async fn escalate_once(alarms: &Alarms) -> Result<(Vec<AlarmChange>, Option<i64>), StoreError> {
    let open = alarms.store().open_alarms().await?;
    alarms.set_open_gauge(&open);
    let now = alarms.clock().now_ms();
    let (ids, next) = due(alarms.config(), &open, now);
    let mut changes = Vec::new();
    // One store call (one commit on SQLite) per `PER_COMMIT` alarms of the round.
    for part in ids.chunks(PER_COMMIT) {
        let ops = part.iter().map(|&id| (id, AlarmOp::Escalate)).collect();
        let outcomes = alarms.store().update_alarms(ops, SYSTEM_ACTOR, now).await?;
        // Taken (or escalated) since the read: the store refuses, which is fine.
        for c in outcomes.into_iter().flatten() {
            tracing::warn!(alarm = c.alarm.id, account = %c.alarm.account,
                priority = %c.alarm.priority, "alarm not taken in time: escalated");
            changes.push(c);
        }
    }
    alarms.observe(&changes);
    Ok((changes, next))
}

/// Escalate alarms until `cancel`: a round, then sleep until the next deadline (by the
/// engine's clock), a new alarm change, or 5 s — never less than 1 s apart.
/// Each round also sets the open-alarms gauge.
pub async fn escalate(alarms: Alarms, cancel: CancellationToken) {
    let mut changed = alarms.store().alarm_changes_watch();
    loop {
        // Marked seen before the round, so a change during it still wakes the next sleep.
        changed.borrow_and_update();
        let wait = match escalate_once(&alarms).await {
            Ok((_, Some(next))) => {
                let ms = next.saturating_sub(alarms.clock().now_ms()).max(0);
                Duration::from_millis(u64::try_from(ms).unwrap_or(0)).min(MAX_TICK)
            }
            Ok((_, None)) => MAX_TICK,
            Err(e) => {
                tracing::error!(error = %e, "alarm escalation round failed; retrying");
                RETRY
            }
        };
        if sleep_or_cancel(MIN_TICK, &cancel).await {
            return;
        }
        let wait = wait.saturating_sub(MIN_TICK);
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
            r = changed.changed() => if r.is_err() {
                // A backend without a wake-up: the sleep alone paces the loop.
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
            },
        }
    }
}

/// Start both loops on `tracker`.
pub fn spawn(
    alarms: &Alarms,
    bus: &EventBus,
    tracker: &tokio_util::task::TaskTracker,
    cancel: &CancellationToken,
) {
    tracker.spawn(follow(alarms.clone(), bus.clone(), cancel.child_token()));
    tracker.spawn(escalate(alarms.clone(), cancel.child_token()));
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
