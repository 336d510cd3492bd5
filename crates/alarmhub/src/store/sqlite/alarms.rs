//! Alarm records in SQLite (`migrations/003_alarms.sql`): the writer's side — apply the
//! engine's events and operators' operations with the pure rules of
//! [`crate::alarms::rules`], each change written to `alarm_changes` in the same
//! transaction as the alarm row — and the readers' side (get, list, changes after a seq).
//!
//! The take is a compare-and-set because only the writer thread writes, one transaction at
//! a time: the rule sees the row as the previous transaction left it.

use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row, Transaction};

use crate::alarms::{
    rules, Alarm, AlarmChange, AlarmCursor, AlarmDetail, AlarmInput, AlarmNote, AlarmOp,
    AlarmQuery, AlarmRefusal, ChangeKind, ENGINE_CURSOR, SYSTEM_ACTOR,
};

const CHANGE_COLUMNS: &str = "seq, alarm_id, kind, actor, at_ms, event_seq, detail, alarm";

fn json_err(e: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}

fn from_json<T: serde::de::DeserializeOwned>(idx: usize, text: &str) -> rusqlite::Result<T> {
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// Apply the engine's batch (see [`crate::store::Store::record_alarm_events`]) in `tx`.
pub(super) fn record(
    tx: &Transaction<'_>,
    upto_seq: i64,
    inputs: &[AlarmInput],
    now_ms: i64,
) -> rusqlite::Result<Vec<AlarmChange>> {
    let cursor: Option<i64> = tx
        .prepare_cached("SELECT cursor FROM consumer_groups WHERE name = ?1")?
        .query_row([ENGINE_CURSOR], |r| r.get(0))
        .optional()?;
    let done = cursor.unwrap_or(i64::MIN);
    let mut changes = Vec::new();
    for input in inputs.iter().filter(|i| i.seq > done && i.seq <= upto_seq) {
        match open_alarm_of(tx, &input.account)? {
            Some(mut alarm) => {
                if let Some(kind) = rules::on_event(&mut alarm, input) {
                    let c = write_change(
                        tx,
                        &mut alarm,
                        kind,
                        SYSTEM_ACTOR,
                        input.at_ms,
                        input.seq,
                        "{}",
                    )?;
                    changes.push(c);
                }
            }
            None => {
                if let Some(mut alarm) = rules::open(input) {
                    alarm.id = next_id(tx, "SELECT COALESCE(MAX(id), 0) + 1 FROM alarms")?;
                    tx.prepare_cached(
                        "INSERT INTO alarms (id, account, state, priority, opened_at_ms, body) \
                         VALUES (?1, ?2, 'new', ?3, ?4, '{}')",
                    )?
                    .execute(params![
                        alarm.id,
                        alarm.account,
                        alarm.priority.get(),
                        alarm.opened_at_ms
                    ])?;
                    let c = write_change(
                        tx,
                        &mut alarm,
                        ChangeKind::Opened,
                        SYSTEM_ACTOR,
                        input.at_ms,
                        input.seq,
                        "{}",
                    )?;
                    changes.push(c);
                }
            }
        }
    }
    if cursor.is_none_or(|c| upto_seq > c) {
        tx.prepare_cached(
            "INSERT INTO consumer_groups (name, cursor, updated_at_ms) VALUES (?1, ?2, ?3) \
             ON CONFLICT(name) DO UPDATE SET cursor = excluded.cursor, \
             updated_at_ms = excluded.updated_at_ms",
        )?
        .execute(params![ENGINE_CURSOR, upto_seq, now_ms])?;
    }
    Ok(changes)
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
    write_change(tx, &mut alarm, kind, actor, at_ms, 0, &detail).map(Ok)
}

fn next_id(tx: &Transaction<'_>, sql: &str) -> rusqlite::Result<i64> {
    tx.prepare_cached(sql)?.query_row([], |r| r.get(0))
}

/// Append the change (its seq stamped into the alarm) and store the alarm row.
fn write_change(
    tx: &Transaction<'_>,
    alarm: &mut Alarm,
    kind: ChangeKind,
    actor: &str,
    at_ms: i64,
    event_seq: i64,
    detail: &str,
) -> rusqlite::Result<AlarmChange> {
    let seq = next_id(tx, "SELECT COALESCE(MAX(seq), 0) + 1 FROM alarm_changes")?;
    alarm.change_seq = seq;
    let body = serde_json::to_string(&*alarm).map_err(json_err)?;
    tx.prepare_cached("UPDATE alarms SET state = ?2, priority = ?3, body = ?4 WHERE id = ?1")?
        .execute(params![
            alarm.id,
            alarm.state.as_str(),
            alarm.priority.get(),
            body
        ])?;
    tx.prepare_cached(
        "INSERT INTO alarm_changes (seq, alarm_id, kind, actor, at_ms, event_seq, detail, alarm) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        seq,
        alarm.id,
        kind.as_str(),
        actor,
        at_ms,
        event_seq,
        detail,
        body
    ])?;
    Ok(AlarmChange {
        seq,
        alarm_id: alarm.id,
        kind,
        actor: actor.to_string(),
        at_ms,
        event_seq,
        detail: detail.to_string(),
        alarm: alarm.clone(),
    })
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

/// The alarm `id`.
pub(super) fn alarm_by_id(conn: &Connection, id: i64) -> rusqlite::Result<Option<Alarm>> {
    conn.prepare_cached("SELECT body FROM alarms WHERE id = ?1")?
        .query_row([id], |r| r.get::<_, String>(0))
        .optional()?
        .map(|b| from_json(0, &b))
        .transpose()
}

fn change_from_row(r: &Row<'_>) -> rusqlite::Result<AlarmChange> {
    let kind: String = r.get(2)?;
    let kind = ChangeKind::parse(&kind).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            2,
            rusqlite::types::Type::Text,
            format!("unknown alarm change kind {kind:?}").into(),
        )
    })?;
    let body: String = r.get(7)?;
    Ok(AlarmChange {
        seq: r.get(0)?,
        alarm_id: r.get(1)?,
        kind,
        actor: r.get(3)?,
        at_ms: r.get(4)?,
        event_seq: r.get(5)?,
        detail: r.get(6)?,
        alarm: from_json(7, &body)?,
    })
}

/// Changes with `seq > after`, ascending, at most `limit` (`-1` = all).
pub(super) fn changes_after(
    conn: &Connection,
    after: i64,
    limit: i64,
) -> rusqlite::Result<Vec<AlarmChange>> {
    let sql =
        format!("SELECT {CHANGE_COLUMNS} FROM alarm_changes WHERE seq > ?1 ORDER BY seq LIMIT ?2");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![after, limit], change_from_row)?;
    rows.collect()
}

/// Highest change seq, 0 when none.
pub(super) fn last_change_seq(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM alarm_changes")?
        .query_row([], |r| r.get(0))
}

/// One alarm with its history; notes and event seqs are read off the history.
pub(super) fn detail(conn: &Connection, id: i64) -> rusqlite::Result<Option<AlarmDetail>> {
    let Some(alarm) = alarm_by_id(conn, id)? else {
        return Ok(None);
    };
    let sql =
        format!("SELECT {CHANGE_COLUMNS} FROM alarm_changes WHERE alarm_id = ?1 ORDER BY seq");
    let mut stmt = conn.prepare_cached(&sql)?;
    let history = stmt
        .query_map([id], change_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(assemble(alarm, history)))
}

/// An [`AlarmDetail`] from an alarm and its full history (any backend can use it).
pub fn assemble(alarm: Alarm, history: Vec<AlarmChange>) -> AlarmDetail {
    let mut event_seqs = Vec::new();
    let mut notes = Vec::new();
    for c in &history {
        if c.event_seq > 0 {
            event_seqs.push(c.event_seq);
        }
        if matches!(c.kind, ChangeKind::Noted | ChangeKind::Closed) {
            let text = serde_json::from_str::<serde_json::Value>(&c.detail)
                .ok()
                .and_then(|v| v.get("text").and_then(|t| t.as_str()).map(str::to_string));
            if let Some(text) = text {
                notes.push(AlarmNote {
                    at_ms: c.at_ms,
                    author: c.actor.clone(),
                    text,
                });
            }
        }
    }
    AlarmDetail {
        alarm,
        event_seqs,
        notes,
        history,
    }
}

/// Alarms matching `q` (order: see [`crate::store::Store::list_alarms`]).
pub(super) fn list(conn: &Connection, q: &AlarmQuery) -> rusqlite::Result<Vec<Alarm>> {
    let mut sql = String::from("SELECT body FROM alarms WHERE 1 = 1");
    let mut values: Vec<rusqlite::types::Value> = Vec::new();
    let mut bind = |sql: &mut String, clause: &str, v: rusqlite::types::Value| {
        values.push(v);
        sql.push_str(&clause.replace('?', &format!("?{}", values.len())));
    };
    if !q.states.is_empty() {
        sql.push_str(" AND state IN (");
        for (i, s) in q.states.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            bind(&mut sql, "?", s.as_str().to_string().into());
        }
        sql.push(')');
    }
    if let Some(p) = q.priority {
        bind(&mut sql, " AND priority = ?", i64::from(p.get()).into());
    }
    if let Some(a) = &q.account {
        bind(&mut sql, " AND account = ?", a.clone().into());
    }
    match q.after {
        Some(AlarmCursor::Queue {
            priority,
            opened_at_ms,
            id,
        }) => {
            bind(
                &mut sql,
                " AND (priority, opened_at_ms, id) > (?",
                i64::from(priority).into(),
            );
            bind(&mut sql, ", ?", opened_at_ms.into());
            bind(&mut sql, ", ?)", id.into());
        }
        Some(AlarmCursor::Id(id)) => bind(&mut sql, " AND id < ?", id.into()),
        None => {}
    }
    sql.push_str(if q.queue_order() {
        " ORDER BY priority, opened_at_ms, id"
    } else {
        " ORDER BY id DESC"
    });
    let limit = if q.limit == 0 {
        -1
    } else {
        i64::try_from(q.limit).unwrap_or(i64::MAX)
    };
    bind(&mut sql, " LIMIT ?", limit.into());
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(values.iter()), |r| {
        let b: String = r.get(0)?;
        from_json(0, &b)
    })?;
    rows.collect()
}
