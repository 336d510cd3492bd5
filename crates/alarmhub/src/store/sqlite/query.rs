//! An event row: the column list, the [`NewEvent`] → row insert, the row → [`StoredEvent`]
//! mapping and the SQL built for an [`EventQuery`]. Pure functions over `rusqlite` types so
//! they are testable without a database file.
//!
//! Reading is on the restore path (a cold start replays every event), so it allocates only
//! what the event keeps: the typed facts are read as borrowed text or integers, and the
//! display detail stays JSON text, never parsed.

use rusqlite::types::ToSql;
use rusqlite::types::{Type, Value, ValueRef};
use rusqlite::{Row, Statement};

use crate::events::{
    parse_dialect, ControlAction, ControlFacts, ControlOutcome, Detail, Facts, NewEvent, Source,
    StoredEvent,
};
use crate::store::EventQuery;

/// Columns selected for an event, in the order [`event_from_row`] reads them (`seq` first:
/// the account query renames it).
pub(crate) const EVENT_COLUMNS: &str = "seq, account, source, code, sia_code, grp, zone, \
     received_at_ms, panel_time, protocol, frame_seq, peer, detail, dedup_key, \
     dialect, ademco_id, signal_strength, unknown_account, control_action, control_outcome";

/// The columns an event row is inserted with, in the order [`bind_event`] binds them.
pub(crate) const EVENT_INSERT_COLUMNS: &str = "account, source, code, sia_code, grp, zone, \
     received_at_ms, panel_time, protocol, frame_seq, peer, detail, dedup_key, dialect, \
     ademco_id, signal_strength, unknown_account, control_action, control_outcome";

/// Parameters per inserted event row (the length of [`EVENT_INSERT_COLUMNS`]).
pub(crate) const EVENT_INSERT_PARAMS: usize = 19;

/// Bind `ev` to parameters `first + 1 ..= first + EVENT_INSERT_PARAMS` of an insert over
/// [`EVENT_INSERT_COLUMNS`] (one row of a multi-row insert, `insert.rs`).
pub(crate) fn bind_event(
    stmt: &mut Statement<'_>,
    first: usize,
    ev: &NewEvent,
) -> rusqlite::Result<()> {
    let f = &ev.facts;
    let values: [&dyn ToSql; EVENT_INSERT_PARAMS] = [
        &ev.account,
        &ev.source.as_str(),
        &ev.code,
        &ev.sia_code,
        &ev.group,
        &ev.zone,
        &ev.received_at_ms,
        &ev.panel_time,
        &ev.protocol,
        &ev.frame_seq,
        &ev.peer,
        &ev.detail.as_str(),
        &ev.dedup_key.map(dedup_to_sql),
        &f.dialect.map(|d| d.as_str()),
        &f.ademco_id,
        &f.signal_strength,
        &f.unknown_account,
        &f.control.map(|c| c.action.as_str()),
        &f.control.map(|c| c.outcome.as_str()),
    ];
    for (i, v) in values.into_iter().enumerate() {
        stmt.raw_bind_parameter(first + i + 1, v)?;
    }
    Ok(())
}

/// SQLite's "no limit" for `LIMIT ?`.
const NO_LIMIT: i64 = -1;

/// `limit` as an SQL `LIMIT` value: 0 means no limit.
pub(crate) fn sql_limit(limit: usize) -> i64 {
    if limit == 0 {
        NO_LIMIT
    } else {
        i64::try_from(limit).unwrap_or(i64::MAX)
    }
}

/// Stored form of a dedup key: the u64 hash bit-cast to SQLite's i64.
pub(crate) fn dedup_to_sql(key: u64) -> i64 {
    i64::from_ne_bytes(key.to_ne_bytes())
}

/// Inverse of [`dedup_to_sql`].
pub(crate) fn dedup_from_sql(key: i64) -> u64 {
    u64::from_ne_bytes(key.to_ne_bytes())
}

/// A row selected with [`EVENT_COLUMNS`] as a [`StoredEvent`]. A row that does not decode
/// (unknown source or fact, code out of range) is a conversion error naming the column, not
/// a panic.
pub(crate) fn event_from_row(row: &Row<'_>) -> rusqlite::Result<StoredEvent> {
    let source = parse_text(row, 2, Source::parse, "event source")?;
    let dedup_key: Option<i64> = row.get(13)?;
    Ok(StoredEvent {
        seq: row.get(0)?,
        event: NewEvent {
            account: row.get(1)?,
            source,
            code: row.get(3)?,
            sia_code: row.get(4)?,
            group: row.get(5)?,
            zone: row.get(6)?,
            received_at_ms: row.get(7)?,
            panel_time: row.get(8)?,
            protocol: row.get(9)?,
            frame_seq: row.get(10)?,
            peer: row.get(11)?,
            facts: facts_from_row(row)?,
            detail: Detail::from_stored(row.get(12)?),
            dedup_key: dedup_key.map(dedup_from_sql),
        },
    })
}

/// The typed facts of a row (columns 14..=19).
fn facts_from_row(row: &Row<'_>) -> rusqlite::Result<Facts> {
    let action = parse_opt_text(row, 18, ControlAction::parse, "control action")?;
    let outcome = parse_opt_text(row, 19, ControlOutcome::parse, "control outcome")?;
    Ok(Facts {
        dialect: parse_opt_text(row, 14, parse_dialect, "dialect")?,
        ademco_id: row.get(15)?,
        signal_strength: row.get(16)?,
        unknown_account: row.get(17)?,
        control: action
            .zip(outcome)
            .map(|(action, outcome)| ControlFacts { action, outcome }),
    })
}

/// A non-null text column mapped by `parse` without allocating; `what` names it in errors.
fn parse_text<T>(
    row: &Row<'_>,
    i: usize,
    parse: impl Fn(&str) -> Option<T>,
    what: &str,
) -> rusqlite::Result<T> {
    parse_opt_text(row, i, parse, what)?.ok_or_else(|| conversion(i, format!("{what} is missing")))
}

/// A nullable text column mapped by `parse` without allocating.
fn parse_opt_text<T>(
    row: &Row<'_>,
    i: usize,
    parse: impl Fn(&str) -> Option<T>,
    what: &str,
) -> rusqlite::Result<Option<T>> {
    let text = match row.get_ref(i)? {
        ValueRef::Null => return Ok(None),
        ValueRef::Text(t) => std::str::from_utf8(t).map_err(|e| conversion(i, e.to_string()))?,
        other => return Err(conversion(i, format!("{what} is not text: {other:?}"))),
    };
    parse(text)
        .map(Some)
        .ok_or_else(|| conversion(i, format!("unknown {what} {text:?}")))
}

fn conversion(i: usize, msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(i, Type::Text, msg.into())
}

/// SQL text and positional parameters for `q`. Only the filters that are set appear in the
/// text, so SQLite can pick the matching index; the few distinct texts are cached as
/// prepared statements.
///
/// With an account, the query is two arms merged in seq order (`MERGE (UNION ALL)`, no
/// sort, so `LIMIT` stops early): the events listed in `account_events` up to its mark,
/// and the newer events (not yet indexed) scanned by seq. The mark is read in the same
/// statement, so the arms never overlap or leave a gap.
pub(crate) fn build_query(q: &EventQuery) -> (String, Vec<Value>) {
    let mut sql;
    let mut params: Vec<Value> = Vec::new();
    match &q.account {
        None => {
            sql = format!("SELECT {EVENT_COLUMNS} FROM events");
            let (clauses, values) = filters(q, "seq");
            if !clauses.is_empty() {
                sql.push_str(" WHERE ");
                sql.push_str(&clauses.join(" AND "));
            }
            params.extend(values);
        }
        Some(account) => {
            let upto = super::account_index::UPTO_KEY;
            // Arm 1: indexed events, ordered by the account_events key.
            let indexed_columns = EVENT_COLUMNS.replacen("seq", "ev_seq AS seq", 1);
            sql = format!(
                "SELECT {indexed_columns} FROM account_events JOIN events ON events.seq = ev_seq \
                 WHERE acct = ? AND ev_seq <= (SELECT value FROM meta WHERE key = '{upto}')"
            );
            params.push(Value::Text(account.clone()));
            push_and(&mut sql, &mut params, filters(q, "ev_seq"));
            // Arm 2: events above the mark, scanned by seq.
            sql.push_str(&format!(
                " UNION ALL SELECT {EVENT_COLUMNS} FROM events \
                 WHERE seq > (SELECT value FROM meta WHERE key = '{upto}') AND account = ?"
            ));
            params.push(Value::Text(account.clone()));
            push_and(&mut sql, &mut params, filters(q, "seq"));
        }
    }
    sql.push_str(if q.newest_first {
        " ORDER BY seq DESC LIMIT ?"
    } else {
        " ORDER BY seq ASC LIMIT ?"
    });
    params.push(Value::Integer(sql_limit(q.limit)));
    (sql, params)
}

/// The time, code and seq filters of `q` that are set (seq bounds on `seq_column`), each
/// with its parameter, in the same order.
fn filters(q: &EventQuery, seq_column: &str) -> (Vec<String>, Vec<Value>) {
    let mut clauses = Vec::new();
    let mut params = Vec::new();
    if let Some(from) = q.from_ms {
        clauses.push("received_at_ms >= ?".to_owned());
        params.push(Value::Integer(from));
    }
    if let Some(to) = q.to_ms {
        clauses.push("received_at_ms < ?".to_owned());
        params.push(Value::Integer(to));
    }
    if let Some(code) = q.code {
        clauses.push("code = ?".to_owned());
        params.push(Value::Integer(i64::from(code)));
    }
    if let Some(sia) = &q.sia_code {
        clauses.push("sia_code = ?".to_owned());
        params.push(Value::Text(sia.clone()));
    }
    if let Some(zone) = q.zone {
        clauses.push("zone = ?".to_owned());
        params.push(Value::Integer(i64::from(zone)));
    }
    if let Some(after) = q.after_seq {
        clauses.push(format!("{seq_column} > ?"));
        params.push(Value::Integer(after));
    }
    if let Some(before) = q.before_seq {
        clauses.push(format!("{seq_column} < ?"));
        params.push(Value::Integer(before));
    }
    (clauses, params)
}

/// Append `filters` to a query that already has a WHERE clause.
fn push_and(sql: &mut String, params: &mut Vec<Value>, filters: (Vec<String>, Vec<Value>)) {
    for clause in filters.0 {
        sql.push_str(" AND ");
        sql.push_str(&clause);
    }
    params.extend(filters.1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_query_selects_everything_ascending_without_limit() {
        let (sql, params) = build_query(&EventQuery::default());
        assert!(
            sql.ends_with("FROM events ORDER BY seq ASC LIMIT ?"),
            "{sql}"
        );
        assert_eq!(params, vec![Value::Integer(-1)]);
    }

    #[test]
    fn every_filter_becomes_one_clause_with_its_parameter_in_order() {
        let q = EventQuery {
            account: None,
            from_ms: Some(10),
            to_ms: Some(20),
            code: Some(1130),
            sia_code: Some("BA".into()),
            zone: Some(0),
            after_seq: Some(5),
            before_seq: Some(50),
            limit: 7,
            newest_first: true,
        };
        let (sql, params) = build_query(&q);
        assert!(
            sql.contains(
                "WHERE received_at_ms >= ? AND received_at_ms < ? AND code = ? \
                 AND sia_code = ? AND zone = ? AND seq > ? AND seq < ? ORDER BY seq DESC LIMIT ?"
            ),
            "{sql}"
        );
        assert_eq!(
            params,
            vec![
                Value::Integer(10),
                Value::Integer(20),
                Value::Integer(1130),
                Value::Text("BA".into()),
                Value::Integer(0),
                Value::Integer(5),
                Value::Integer(50),
                Value::Integer(7),
            ]
        );
    }

    #[test]
    fn an_account_query_has_two_arms_with_the_filters_in_each() {
        let q = EventQuery {
            account: Some("1234".into()),
            code: Some(1130),
            before_seq: Some(50),
            limit: 7,
            newest_first: true,
            ..Default::default()
        };
        let (sql, params) = build_query(&q);
        assert_eq!(sql.matches("UNION ALL").count(), 1, "{sql}");
        assert_eq!(sql.matches("code = ?").count(), 2, "{sql}");
        assert!(sql.ends_with("ORDER BY seq DESC LIMIT ?"), "{sql}");
        assert_eq!(sql.matches('?').count(), params.len());
        assert_eq!(
            params,
            vec![
                Value::Text("1234".into()),
                Value::Integer(1130),
                Value::Integer(50),
                Value::Text("1234".into()),
                Value::Integer(1130),
                Value::Integer(50),
                Value::Integer(7),
            ]
        );
    }

    #[test]
    fn dedup_keys_round_trip_through_i64_including_the_top_bit() {
        for k in [0, 1, u64::MAX, 1 << 63, 0xcbf2_9ce4_8422_2325] {
            assert_eq!(dedup_from_sql(dedup_to_sql(k)), k);
        }
        assert!(dedup_to_sql(u64::MAX) < 0);
    }
}
