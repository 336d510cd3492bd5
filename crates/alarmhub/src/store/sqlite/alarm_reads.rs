//! Alarm records in SQLite, the readers' side: one alarm with its history, the listing
//! (queue order or newest first, keyset paging), the change log after a seq (each change
//! with the whole alarm after it, resolved from the stored deltas by
//! [`crate::alarms::stored`]) and its last seq.

use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};

use crate::alarms::stored::{self, RawChange, Resolver, Stored};
use crate::alarms::AlarmChange;
use crate::alarms::{
    Alarm, AlarmCursor, AlarmDetail, AlarmNote, AlarmQuery, ChangeKind, OpenAlarm,
};

const CHANGE_COLUMNS: &str = "seq, alarm_id, kind, actor, at_ms, event_seq, detail, alarm";

fn from_json<T: serde::de::DeserializeOwned>(idx: usize, text: &str) -> rusqlite::Result<T> {
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn stored_at(idx: usize, text: &str) -> rusqlite::Result<Stored> {
    Stored::parse(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// The alarm `id`.
pub(super) fn alarm_by_id(conn: &Connection, id: i64) -> rusqlite::Result<Option<Alarm>> {
    conn.prepare_cached("SELECT body FROM alarms WHERE id = ?1")?
        .query_row([id], |r| r.get::<_, String>(0))
        .optional()?
        .map(|b| from_json(0, &b))
        .transpose()
}

fn change_from_row(r: &Row<'_>) -> rusqlite::Result<RawChange> {
    let kind: String = r.get(2)?;
    let kind = ChangeKind::parse(&kind).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            2,
            rusqlite::types::Type::Text,
            format!("unknown alarm change kind {kind:?}").into(),
        )
    })?;
    let body: String = r.get(7)?;
    Ok(RawChange {
        seq: r.get(0)?,
        alarm_id: r.get(1)?,
        kind,
        actor: r.get(3)?,
        at_ms: r.get(4)?,
        event_seq: r.get(5)?,
        detail: r.get(6)?,
        stored: stored_at(7, &body)?,
    })
}

/// Alarm `id` as it was just before its change `seq`: the stored changes read back to the
/// nearest whole snapshot.
fn alarm_before(conn: &Connection, id: i64, seq: i64) -> rusqlite::Result<Alarm> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, alarm FROM alarm_changes WHERE alarm_id = ?1 AND seq < ?2 ORDER BY seq DESC",
    )?;
    let mut rows = stmt.query(params![id, seq])?;
    let mut chain = Vec::new();
    while let Some(r) = rows.next()? {
        let s = stored_at(1, &r.get::<_, String>(1)?)?;
        let full = s.is_full();
        chain.push((r.get(0)?, s));
        if full {
            break;
        }
    }
    stored::fold_back(chain).ok_or_else(|| broken(seq))
}

fn broken(seq: i64) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        7,
        rusqlite::types::Type::Text,
        format!("alarm change {seq}: no whole alarm snapshot before this delta").into(),
    )
}

/// `raws` (seq order) with their whole alarms, reading back where a page starts inside an
/// alarm's deltas.
fn resolve(conn: &Connection, raws: Vec<RawChange>) -> rusqlite::Result<Vec<AlarmChange>> {
    let mut resolver = Resolver::default();
    for (id, seq) in stored::bases_needed(&raws) {
        resolver.seed(id, alarm_before(conn, id, seq)?);
    }
    stored::resolve_all(&mut resolver, raws).map_err(broken)
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
    let raws = stmt
        .query_map(params![after, limit], change_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    resolve(conn, raws)
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
    let raws = stmt
        .query_map([id], change_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(assemble(alarm, resolve(conn, raws)?)))
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

/// The read of [`open`]: a covering read of the `alarms_queue` index (tests check the plan).
pub(super) const OPEN_SQL: &str = "SELECT id, state, priority, opened_at_ms,
        CASE WHEN state = 'new' THEN escalated ELSE 0 END
    FROM alarms WHERE state IN ('new', 'taken')
    ORDER BY priority, opened_at_ms, id";

/// The open alarms in queue order, from their columns alone: the queue index holds every
/// column read here, so no row (and no JSON body) is fetched ([`OPEN_SQL`]).
pub(super) fn open(conn: &Connection) -> rusqlite::Result<Vec<OpenAlarm>> {
    let mut stmt = conn.prepare_cached(OPEN_SQL)?;
    let rows = stmt.query_map([], |r| {
        let state: String = r.get(1)?;
        OpenAlarm::from_columns(
            r.get(0)?,
            &state,
            r.get(2)?,
            r.get(3)?,
            r.get::<_, i64>(4)? != 0,
        )
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, e.into())
        })
    })?;
    rows.collect()
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
