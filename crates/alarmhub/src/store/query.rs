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
pub(crate) fn build_query(q: &EventQuery) -> (String, Vec<Value>) {
    let mut clauses: Vec<&str> = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    if let Some(account) = &q.account {
        clauses.push("account = ?");
        params.push(Value::Text(account.clone()));
    }
    if let Some(from) = q.from_ms {
        clauses.push("received_at_ms >= ?");
        params.push(Value::Integer(from));
    }
    if let Some(to) = q.to_ms {
        clauses.push("received_at_ms < ?");
        params.push(Value::Integer(to));
    }
    if let Some(code) = q.code {
        clauses.push("code = ?");
        params.push(Value::Integer(i64::from(code)));
    }
    if let Some(after) = q.after_seq {
        clauses.push("seq > ?");
        params.push(Value::Integer(after));
    }
    if let Some(before) = q.before_seq {
        clauses.push("seq < ?");
        params.push(Value::Integer(before));
    }
    let mut sql = format!("SELECT {EVENT_COLUMNS} FROM events");
    if !clauses.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&clauses.join(" AND "));
    }
    sql.push_str(if q.newest_first {
        " ORDER BY seq DESC LIMIT ?"
    } else {
        " ORDER BY seq ASC LIMIT ?"
    });
    params.push(Value::Integer(sql_limit(q.limit)));
    (sql, params)
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
            account: Some("1234".into()),
            from_ms: Some(10),
            to_ms: Some(20),
            code: Some(1130),
            after_seq: Some(5),
            before_seq: Some(50),
            limit: 7,
            newest_first: true,
        };
        let (sql, params) = build_query(&q);
        assert!(sql.contains(
            "WHERE account = ? AND received_at_ms >= ? AND received_at_ms < ? AND code = ? \
             AND seq > ? AND seq < ? ORDER BY seq DESC LIMIT ?"
        ));
        assert_eq!(
            params,
            vec![
                Value::Text("1234".into()),
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
    fn dedup_keys_round_trip_through_i64_including_the_top_bit() {
        for k in [0, 1, u64::MAX, 1 << 63, 0xcbf2_9ce4_8422_2325] {
            assert_eq!(dedup_from_sql(dedup_to_sql(k)), k);
        }
        assert!(dedup_to_sql(u64::MAX) < 0);
    }
}
