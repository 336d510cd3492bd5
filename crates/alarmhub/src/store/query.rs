//! Reading events back: the column list, the row → [`StoredEvent`] mapping and the SQL
//! built for an [`EventQuery`]. Pure functions over `rusqlite` types so they are testable
//! without a database file.

use rusqlite::types::{Type, Value};
use rusqlite::Row;

use super::EventQuery;
use crate::events::{NewEvent, Source, StoredEvent};

/// Columns selected for an event, in the order [`event_from_row`] reads them.
pub(crate) const EVENT_COLUMNS: &str = "seq, account, source, code, sia_code, grp, zone, \
     received_at_ms, panel_time, protocol, frame_seq, peer, detail, dedup_key";

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
/// (unknown source, invalid JSON detail, code out of range) is a conversion error naming
/// the column, not a panic.
pub(crate) fn event_from_row(row: &Row<'_>) -> rusqlite::Result<StoredEvent> {
    let source_text: String = row.get(2)?;
    let source = Source::parse(&source_text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            2,
            Type::Text,
            format!("unknown event source {source_text:?}").into(),
        )
    })?;
    let detail_text: String = row.get(12)?;
    let detail = serde_json::from_str(&detail_text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(12, Type::Text, Box::new(e)))?;
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
            detail,
            dedup_key: dedup_key.map(dedup_from_sql),
        },
    })
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
            after_seq: Some(5),
            before_seq: Some(50),
            limit: 7,
            newest_first: true,
        };
        let (sql, params) = build_query(&q);
        assert!(
            sql.contains(
                "WHERE received_at_ms >= ? AND received_at_ms < ? AND code = ? \
                 AND seq > ? AND seq < ? ORDER BY seq DESC LIMIT ?"
            ),
            "{sql}"
        );
        assert_eq!(
            params,
            vec![
                Value::Integer(10),
                Value::Integer(20),
                Value::Integer(1130),
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
