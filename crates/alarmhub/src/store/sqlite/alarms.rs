//! Alarm records in SQLite (`migrations/003_alarms.sql`), the writer's side: apply the
//! engine's batches ([`crate::alarms::batch`]: each alarm read and its row written once per
//! batch, each change appended with its compact snapshot, [`crate::alarms::stored`]) and
//! operators' operations with the pure rules of [`crate::alarms::rules`], each change
//! written to `alarm_changes` in the same transaction as the alarm row. The readers' side
//! is in `alarm_reads.rs`.
//!
//! The take is a compare-and-set because only the writer thread writes, one transaction at
//! a time: the rule sees the row as the previous transaction left it. For the same reason
//! the writer keeps the open alarms it has seen in memory (`OpenAlarms`), so the engine
//! does not read and parse each alarm again for every event.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::alarm_reads::alarm_by_id;
use crate::alarms::batch::{Batch, Finished};
use crate::alarms::{
    rules, stored, Alarm, AlarmChange, AlarmInput, AlarmOp, AlarmRefusal, ENGINE_CURSOR,
};

/// At most this many open alarms are kept in memory (beyond it the cache starts over).
const CACHE_MAX: usize = 50_000;

fn json_err(e: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}

fn from_json<T: serde::de::DeserializeOwned>(idx: usize, text: &str) -> rusqlite::Result<T> {
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// The open alarms of accounts, as committed — a cache in front of the `alarms` rows the
/// writer owns. Filled as the engine reads and writes alarms; updated only after a commit
/// ([`OpenAlarms::committed`]); an operator's operation drops the alarm's entry, a failed
/// transaction the whole cache ([`OpenAlarms::clear`]); empty after a restart.
#[derive(Debug, Default)]
pub(crate) struct OpenAlarms {
    by_account: HashMap<String, Alarm>,
}

impl OpenAlarms {
    /// After a commit: remember the alarms written (closed ones forgotten).
    pub(crate) fn committed(&mut self, alarms: Vec<Alarm>) {
        if self.by_account.len() + alarms.len() > CACHE_MAX {
            self.by_account.clear();
        }
        for a in alarms {
            if a.state.is_open() {
                self.by_account.insert(a.account.clone(), a);
            } else {
                self.by_account.remove(&a.account);
            }
        }
    }

    /// Forget `account`'s alarm (changed by an operator; read again when needed).
    pub(crate) fn forget(&mut self, account: &str) {
        self.by_account.remove(account);
    }

    /// Forget everything (a transaction failed: what it wrote may or may not be there).
    pub(crate) fn clear(&mut self) {
        self.by_account.clear();
    }
}

/// What [`record`] wrote: the changes, and the alarms as they are after the batch (for
/// [`OpenAlarms::committed`] once the transaction commits).
pub(super) struct Recorded {
    pub(super) changes: Vec<AlarmChange>,
    pub(super) alarms: Vec<Alarm>,
}

/// Apply the engine's batch (see [`crate::store::Store::record_alarm_events`]) in `tx`,
/// reading open alarms from `cache` where it has them.
pub(super) fn record(
    tx: &Transaction<'_>,
    upto_seq: i64,
    inputs: &[AlarmInput],
    now_ms: i64,
    cache: &OpenAlarms,
) -> rusqlite::Result<Recorded> {
    let cursor: Option<i64> = tx
        .prepare_cached("SELECT cursor FROM consumer_groups WHERE name = ?1")?
        .query_row([ENGINE_CURSOR], |r| r.get(0))
        .optional()?;
    let done = cursor.unwrap_or(i64::MIN);
    let todo: Vec<&AlarmInput> = inputs
        .iter()
        .filter(|i| i.seq > done && i.seq <= upto_seq)
        .collect();
    let mut recorded = Recorded {
        changes: Vec::new(),
        alarms: Vec::new(),
    };
    if !todo.is_empty() {
        let last_change = next_id(tx, "SELECT COALESCE(MAX(seq), 0) FROM alarm_changes")?;
        let last_alarm = next_id(tx, "SELECT COALESCE(MAX(id), 0) FROM alarms")?;
        let mut batch = Batch::new(last_change, last_alarm);
        for input in todo {
            if !batch.knows(&input.account) {
                let open = match cache.by_account.get(&input.account) {
                    Some(a) => Some(a.clone()),
                    None => open_alarm_of(tx, &input.account)?,
                };
                batch.load(&input.account, open);
            }
            batch.apply(input).map_err(json_err)?;
        }
        recorded = write_batch(tx, batch.finish())?;
    }
    if cursor.is_none_or(|c| upto_seq > c) {
        tx.prepare_cached(
            "INSERT INTO consumer_groups (name, cursor, updated_at_ms) VALUES (?1, ?2, ?3) \
             ON CONFLICT(name) DO UPDATE SET cursor = excluded.cursor, \
             updated_at_ms = excluded.updated_at_ms",
        )?
        .execute(params![ENGINE_CURSOR, upto_seq, now_ms])?;
    }
    Ok(recorded)
}

/// Write a finished batch: each alarm row once (inserted, or updated — the indexed columns
/// only when they changed), then the change rows.
fn write_batch(tx: &Transaction<'_>, done: Finished) -> rusqlite::Result<Recorded> {
    let mut alarms = Vec::with_capacity(done.alarms.len());
    for t in done.alarms {
        let a = t.alarm;
        let body = serde_json::to_string(&a).map_err(json_err)?;
        if t.new {
            tx.prepare_cached(
                "INSERT INTO alarms (id, account, state, priority, opened_at_ms, escalated, body) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                a.id,
                a.account,
                a.state.as_str(),
                a.priority.get(),
                a.opened_at_ms,
                a.escalated,
                body
            ])?;
        } else if t.columns_changed {
            update_row(tx, &a, &body)?;
        } else {
            tx.prepare_cached("UPDATE alarms SET body = ?2 WHERE id = ?1")?
                .execute(params![a.id, body])?;
        }
        alarms.push(a);
    }
    let mut changes = Vec::with_capacity(done.rows.len());
    for row in done.rows {
        insert_change(tx, &row.change, &row.stored)?;
        changes.push(row.change);
    }
    Ok(Recorded { changes, alarms })
}

/// Apply `op` to alarm `id` in `tx`; the inner `Err` (nothing written) is the refusal.
pub(super) fn update(
    tx: &Transaction<'_>,
    id: i64,
    op: &AlarmOp,
    actor: &str,
    at_ms: i64,
) -> rusqlite::Result<Result<AlarmChange, AlarmRefusal>> {
    let Some(mut alarm) = alarm_by_id(tx, id)? else {
        return Ok(Err(AlarmRefusal::NotFound(id)));
    };
    let (kind, detail) = match rules::apply(&mut alarm, op, actor, at_ms) {
        Ok(k) => k,
        Err(r) => return Ok(Err(r)),
    };
    let seq = next_id(tx, "SELECT COALESCE(MAX(seq), 0) + 1 FROM alarm_changes")?;
    alarm.change_seq = seq;
    let body = serde_json::to_string(&alarm).map_err(json_err)?;
    update_row(tx, &alarm, &body)?;
    let change = AlarmChange {
        seq,
        alarm_id: alarm.id,
        kind,
        actor: actor.to_string(),
        at_ms,
        event_seq: 0,
        detail,
        alarm,
    };
    let snapshot = stored::encode(kind, &change.alarm, 0).map_err(json_err)?;
    insert_change(tx, &change, &snapshot)?;
    Ok(Ok(change))
}

fn next_id(tx: &Transaction<'_>, sql: &str) -> rusqlite::Result<i64> {
    tx.prepare_cached(sql)?.query_row([], |r| r.get(0))
}

fn update_row(tx: &Transaction<'_>, a: &Alarm, body: &str) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE alarms SET state = ?2, priority = ?3, escalated = ?4, body = ?5 WHERE id = ?1",
    )?
    .execute(params![
        a.id,
        a.state.as_str(),
        a.priority.get(),
        a.escalated,
        body
    ])?;
    Ok(())
}

fn insert_change(tx: &Transaction<'_>, c: &AlarmChange, snapshot: &str) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO alarm_changes (seq, alarm_id, kind, actor, at_ms, event_seq, detail, alarm) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        c.seq,
        c.alarm_id,
        c.kind.as_str(),
        c.actor,
        c.at_ms,
        c.event_seq,
        c.detail,
        snapshot
    ])?;
    Ok(())
}

fn open_alarm_of(conn: &Connection, account: &str) -> rusqlite::Result<Option<Alarm>> {
    conn.prepare_cached(
        "SELECT body FROM alarms WHERE account = ?1 AND state != 'closed' \
         ORDER BY id DESC LIMIT 1",
    )?
    .query_row([account], |r| r.get::<_, String>(0))
    .optional()?
    .map(|b| from_json(0, &b))
    .transpose()
}
