//! Alarm records on PostgreSQL (`migrations/006_alarms.sql`), the writing side: apply the
//! engine's events and operators' operations with the pure rules of
//! [`crate::alarms::rules`], each change written to `ah_alarm_changes` in the same
//! transaction as the alarm row. Reads are in `alarm_reads.rs`, the cross-node wake-up in
//! `alarm_watch.rs`.
//!
//! # One alarm change sequence for all nodes
//!
//! The technique of the event sequence (`writer.rs`): every alarm transaction takes the
//! transaction-level advisory lock [`ALARM_LOCK`] first, then reads the counter row
//! `ah_alarm_sequence`, writes, moves the counter and commits; the commit releases the lock.
//! So alarm writes of every node are serialised from change-seq assignment to commit:
//! commit order equals change-seq order, and a reader following `seq > cursor` on any node
//! never sees a gap that a later commit fills. The same serialisation makes the take a
//! compare-and-set across nodes: the rule always sees the row as the previous transaction
//! left it, so of two concurrent takes (on one node or two) exactly one wins.
//!
//! Each commit that wrote changes `NOTIFY`s [`ALARMS_CHANNEL`] with the last change seq, so
//! the other nodes' wake-ups move at once (the payload is only a hint; the counter row is
//! the truth).

use tokio_postgres::Transaction;

use super::alarm_reads::{alarm_body, decode_alarm};
use super::connect::Target;
use super::PgStore;
use crate::alarms::batch::{Batch, Finished};
use crate::alarms::{
    rules, stored, Alarm, AlarmChange, AlarmInput, AlarmOp, AlarmRefusal, ENGINE_CURSOR,
};
use crate::store::StoreError;

/// Advisory lock key serialising alarm writes ("alarmhub" + 3).
pub(crate) const ALARM_LOCK: i64 = 0x616c_6172_6d68_7503;
/// The NOTIFY channel every alarm commit signals (payload: the last change seq).
pub(crate) const ALARMS_CHANNEL: &str = "alarmhub_alarms";

/// The counters of one alarm transaction, read under the lock and written back at the end.
struct Counters {
    last_change: i64,
    last_alarm: i64,
}

/// One alarm transaction: the lock taken, the counters read.
struct AlarmTx<'a, 'c> {
    tx: &'a Transaction<'c>,
    target: &'a Target,
    counters: Counters,
    start_change: i64,
}

impl<'a, 'c> AlarmTx<'a, 'c> {
    async fn begin(tx: &'a Transaction<'c>, target: &'a Target) -> Result<Self, StoreError> {
        let err = target.err("lock the alarm log");
        // An operator's take is answered only once it is durable, whatever the default.
        tx.batch_execute("SET LOCAL synchronous_commit = on")
            .await
            .map_err(&err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&ALARM_LOCK])
            .await
            .map_err(&err)?;
        let row = tx
            .query_one(
                "SELECT last_change, last_alarm FROM ah_alarm_sequence WHERE id = 1",
                &[],
            )
            .await
            .map_err(&err)?;
        let counters = Counters {
            last_change: row.get(0),
            last_alarm: row.get(1),
        };
        Ok(AlarmTx {
            tx,
            target,
            start_change: counters.last_change,
            counters,
        })
    }

    /// Move the counters and wake the other nodes, if anything was written.
    async fn finish(self) -> Result<(), StoreError> {
        if self.counters.last_change == self.start_change {
            return Ok(());
        }
        let err = self.target.err("write alarm changes");
        self.tx
            .execute(
                "UPDATE ah_alarm_sequence SET last_change = $1, last_alarm = $2 WHERE id = 1",
                &[&self.counters.last_change, &self.counters.last_alarm],
            )
            .await
            .map_err(&err)?;
        let payload = self.counters.last_change.to_string();
        self.tx
            .execute("SELECT pg_notify($1, $2)", &[&ALARMS_CHANNEL, &payload])
            .await
            .map_err(&err)?;
        Ok(())
    }

    /// The open (not closed) alarm of `account`, if any.
    async fn open_alarm_of(&self, account: &str) -> Result<Option<Alarm>, StoreError> {
        let row = self
            .tx
            .query_opt(
                "SELECT id, body FROM ah_alarms WHERE account = $1 AND state <> 'closed' \
                 ORDER BY id DESC LIMIT 1",
                &[&account],
            )
            .await
            .map_err(self.target.err("read open alarm"))?;
        row.map(|r| decode_alarm(self.target, r.get(0), r.get(1)))
            .transpose()
    }

    /// Write a finished engine batch: each alarm row once (inserted, or updated — the
    /// indexed columns only when they changed), then the change rows.
    async fn write_batch(&mut self, done: Finished) -> Result<Vec<AlarmChange>, StoreError> {
        let err = self.target.err("write alarm changes");
        for t in &done.alarms {
            let a = &t.alarm;
            let body = alarm_body(self.target, a)?;
            let priority = i32::from(a.priority.get());
            if t.new {
                self.tx
                    .execute(
                        "INSERT INTO ah_alarms (id, account, state, priority, opened_at_ms, body) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                        &[
                            &a.id,
                            &a.account,
                            &a.state.as_str(),
                            &priority,
                            &a.opened_at_ms,
                            &body,
                        ],
                    )
                    .await
                    .map_err(&err)?;
            } else if t.columns_changed {
                self.update_row(a, &body).await?;
            } else {
                self.tx
                    .execute(
                        "UPDATE ah_alarms SET body = $2 WHERE id = $1",
                        &[&a.id, &body],
                    )
                    .await
                    .map_err(&err)?;
            }
        }
        self.counters.last_change = done.last_change;
        self.counters.last_alarm = done.last_alarm;
        let mut changes = Vec::with_capacity(done.rows.len());
        for row in done.rows {
            self.insert_change(&row.change, &row.stored).await?;
            changes.push(row.change);
        }
        Ok(changes)
    }

    /// Store the alarm row (state, priority and body).
    async fn update_row(&self, a: &Alarm, body: &str) -> Result<(), StoreError> {
        let priority = i32::from(a.priority.get());
        self.tx
            .execute(
                "UPDATE ah_alarms SET state = $2, priority = $3, body = $4 WHERE id = $1",
                &[&a.id, &a.state.as_str(), &priority, &body],
            )
            .await
            .map_err(self.target.err("write alarm change"))?;
        Ok(())
    }

    /// Append change `c` with its stored snapshot.
    async fn insert_change(&self, c: &AlarmChange, snapshot: &str) -> Result<(), StoreError> {
        self.tx
            .execute(
                "INSERT INTO ah_alarm_changes \
                 (seq, alarm_id, kind, actor, at_ms, event_seq, detail, alarm) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &c.seq,
                    &c.alarm_id,
                    &c.kind.as_str(),
                    &c.actor,
                    &c.at_ms,
                    &c.event_seq,
                    &c.detail,
                    &snapshot,
                ],
            )
            .await
            .map_err(self.target.err("write alarm change"))?;
        Ok(())
    }
}

impl PgStore {
    /// [`crate::store::Store::record_alarm_events`]: one transaction, then the wake-up.
    pub(super) async fn record_alarms(
        &self,
        upto_seq: i64,
        inputs: &[AlarmInput],
    ) -> Result<Vec<AlarmChange>, StoreError> {
        let op = "record alarm events";
        let mut c = self.conn(op).await?;
        // The transaction only, as on SQLite (where waiting for the writer is not counted).
        let started = std::time::Instant::now();
        let tx = c.transaction().await.map_err(self.target.err(op))?;
        let now = self.clock.now_ms();
        let changes = record(&tx, &self.target, upto_seq, inputs, now).await?;
        tx.commit().await.map_err(self.target.err(op))?;
        metrics::histogram!(crate::metrics::names::STORE_ALARM_COMMIT_SECONDS)
            .record(started.elapsed().as_secs_f64());
        self.wake_alarm_followers(&changes);
        Ok(changes)
    }

    /// [`crate::store::Store::update_alarm`]: one transaction, then the wake-up.
    pub(super) async fn update_one_alarm(
        &self,
        id: i64,
        op: &AlarmOp,
        actor: &str,
        at_ms: i64,
    ) -> Result<Result<AlarmChange, AlarmRefusal>, StoreError> {
        let what = "update alarm";
        let mut c = self.conn(what).await?;
        let tx = c.transaction().await.map_err(self.target.err(what))?;
        let result = update(&tx, &self.target, id, op, actor, at_ms).await?;
        tx.commit().await.map_err(self.target.err(what))?;
        if let Ok(change) = &result {
            self.wake_alarm_followers(std::slice::from_ref(change));
        }
        Ok(result)
    }
}

fn encode_err(target: &Target, key: i64, e: &serde_json::Error) -> StoreError {
    StoreError::BadStoredRow {
        target: target.name.to_string(),
        table: "ah_alarm_changes",
        key,
        what: format!("cannot encode the alarm change: {e}"),
    }
}

/// Apply the engine's batch (see [`crate::store::Store::record_alarm_events`]) in `tx`;
/// the caller commits.
pub(crate) async fn record(
    tx: &Transaction<'_>,
    target: &Target,
    upto_seq: i64,
    inputs: &[AlarmInput],
    now_ms: i64,
) -> Result<Vec<AlarmChange>, StoreError> {
    let mut a = AlarmTx::begin(tx, target).await?;
    let cursor: Option<i64> = tx
        .query_opt(
            "SELECT cursor FROM ah_cursors WHERE name = $1",
            &[&ENGINE_CURSOR],
        )
        .await
        .map_err(target.err("read the alarm engine cursor"))?
        .map(|r| r.get(0));
    let done = cursor.unwrap_or(i64::MIN);
    let mut batch = Batch::new(a.counters.last_change, a.counters.last_alarm);
    for input in inputs.iter().filter(|i| i.seq > done && i.seq <= upto_seq) {
        if !batch.knows(&input.account) {
            let open = a.open_alarm_of(&input.account).await?;
            batch.load(&input.account, open);
        }
        batch
            .apply(input)
            .map_err(|e| encode_err(target, input.seq, &e))?;
    }
    let changes = a.write_batch(batch.finish()).await?;
    if cursor.is_none_or(|c| upto_seq > c) {
        tx.execute(
            "INSERT INTO ah_cursors (name, cursor, updated_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor, \
             updated_at_ms = excluded.updated_at_ms",
            &[&ENGINE_CURSOR, &upto_seq, &now_ms],
        )
        .await
        .map_err(target.err("move the alarm engine cursor"))?;
    }
    a.finish().await?;
    Ok(changes)
}

/// Apply `op` to alarm `id` in `tx`; the inner `Err` (nothing written) is the refusal. The
/// caller commits.
pub(crate) async fn update(
    tx: &Transaction<'_>,
    target: &Target,
    id: i64,
    op: &AlarmOp,
    actor: &str,
    at_ms: i64,
) -> Result<Result<AlarmChange, AlarmRefusal>, StoreError> {
    let mut a = AlarmTx::begin(tx, target).await?;
    let row = tx
        .query_opt("SELECT id, body FROM ah_alarms WHERE id = $1", &[&id])
        .await
        .map_err(target.err("read alarm"))?;
    let Some(row) = row else {
        return Ok(Err(AlarmRefusal::NotFound(id)));
    };
    let mut alarm = decode_alarm(target, row.get(0), row.get(1))?;
    let (kind, detail) = match rules::apply(&mut alarm, op, actor, at_ms) {
        Ok(k) => k,
        Err(r) => return Ok(Err(r)),
    };
    a.counters.last_change += 1;
    alarm.change_seq = a.counters.last_change;
    let body = alarm_body(target, &alarm)?;
    a.update_row(&alarm, &body).await?;
    let change = AlarmChange {
        seq: alarm.change_seq,
        alarm_id: alarm.id,
        kind,
        actor: actor.to_string(),
        at_ms,
        event_seq: 0,
        detail,
        alarm,
    };
    let snapshot =
        stored::encode(kind, &change.alarm, 0).map_err(|e| encode_err(target, id, &e))?;
    a.insert_change(&change, &snapshot).await?;
    a.finish().await?;
    Ok(Ok(change))
}
