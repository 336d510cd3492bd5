//! Alarm records on PostgreSQL, the reading side: one alarm with its history, the listing
//! (queue order or newest first, keyset paging), the change log after a seq and its last
//! seq. Alarms are stored as JSON bodies (the same [`Alarm`] serialisation as SQLite); each
//! change is handed out with the whole alarm after it, resolved from the stored deltas by
//! [`crate::alarms::stored`].

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};

use super::connect::Target;
use crate::alarms::stored::{self, RawChange, Resolver, Stored};
use crate::alarms::{
    Alarm, AlarmChange, AlarmCursor, AlarmDetail, AlarmQuery, ChangeKind, OpenAlarm,
};
use crate::store::sqlite::alarm_reads::assemble;
use crate::store::StoreError;

const CHANGE_COLUMNS: &str = "seq, alarm_id, kind, actor, at_ms, event_seq, detail, alarm";

/// `alarm` as its stored JSON body.
pub(crate) fn alarm_body(target: &Target, alarm: &Alarm) -> Result<String, StoreError> {
    serde_json::to_string(alarm).map_err(|e| StoreError::BadStoredRow {
        target: target.name.to_string(),
        table: "ah_alarms",
        key: alarm.id,
        what: format!("cannot encode the alarm: {e}"),
    })
}

/// The stored JSON body of alarm `id`.
pub(crate) fn decode_alarm(target: &Target, id: i64, body: &str) -> Result<Alarm, StoreError> {
    serde_json::from_str(body).map_err(|e| StoreError::BadStoredRow {
        target: target.name.to_string(),
        table: "ah_alarms",
        key: id,
        what: format!("the alarm body does not decode: {e}"),
    })
}

fn bad_change(target: &Target, seq: i64, what: String) -> StoreError {
    StoreError::BadStoredRow {
        target: target.name.to_string(),
        table: "ah_alarm_changes",
        key: seq,
        what,
    }
}

fn stored_at(target: &Target, seq: i64, body: &str) -> Result<Stored, StoreError> {
    Stored::parse(body).map_err(|e| {
        bad_change(
            target,
            seq,
            format!("the alarm snapshot does not decode: {e}"),
        )
    })
}

fn change_from_row(target: &Target, r: &Row) -> Result<RawChange, StoreError> {
    let seq: i64 = r.get(0);
    let kind: &str = r.get(2);
    let kind = ChangeKind::parse(kind)
        .ok_or_else(|| bad_change(target, seq, format!("unknown alarm change kind {kind:?}")))?;
    Ok(RawChange {
        seq,
        alarm_id: r.get(1),
        kind,
        actor: r.get(3),
        at_ms: r.get(4),
        event_seq: r.get(5),
        detail: r.get(6),
        stored: stored_at(target, seq, r.get(7))?,
    })
}

fn broken(target: &Target, seq: i64) -> StoreError {
    bad_change(
        target,
        seq,
        "no whole alarm snapshot before this delta".to_string(),
    )
}

/// Changes of alarm `id` read back per round, newest first, looking for a whole snapshot.
const BACK_PAGE: i64 = 32;

/// Alarm `id` as it was just before its change `seq`: the stored changes read back to the
/// nearest whole snapshot.
async fn alarm_before(c: &Client, target: &Target, id: i64, seq: i64) -> Result<Alarm, StoreError> {
    let err = target.err("read alarm changes");
    let mut chain = Vec::new();
    let mut before = seq;
    loop {
        let rows = c
            .query(
                "SELECT seq, alarm FROM ah_alarm_changes WHERE alarm_id = $1 AND seq < $2 \
                 ORDER BY seq DESC LIMIT $3",
                &[&id, &before, &BACK_PAGE],
            )
            .await
            .map_err(&err)?;
        for r in &rows {
            before = r.get(0);
            let s = stored_at(target, before, r.get(1))?;
            let full = s.is_full();
            chain.push((before, s));
            if full {
                return stored::fold_back(chain).ok_or_else(|| broken(target, seq));
            }
        }
        if rows.len() < BACK_PAGE as usize {
            return Err(broken(target, seq));
        }
    }
}

/// `raws` (seq order) with their whole alarms, reading back where they start inside an
/// alarm's deltas.
async fn resolve(
    c: &Client,
    target: &Target,
    raws: Vec<RawChange>,
) -> Result<Vec<AlarmChange>, StoreError> {
    let mut resolver = Resolver::default();
    for (id, seq) in stored::bases_needed(&raws) {
        resolver.seed(id, alarm_before(c, target, id, seq).await?);
    }
    stored::resolve_all(&mut resolver, raws).map_err(|seq| broken(target, seq))
}

/// Changes with `seq > after`, ascending, at most `limit` (0 = all).
pub(crate) async fn changes_after(
    c: &Client,
    target: &Target,
    after: i64,
    limit: usize,
) -> Result<Vec<AlarmChange>, StoreError> {
    let limit = match limit {
        0 => i64::MAX,
        n => i64::try_from(n).unwrap_or(i64::MAX),
    };
    let sql = format!(
        "SELECT {CHANGE_COLUMNS} FROM ah_alarm_changes WHERE seq > $1 ORDER BY seq LIMIT $2"
    );
    let rows = c
        .query(&sql, &[&after, &limit])
        .await
        .map_err(target.err("read alarm changes"))?;
    let raws = rows
        .iter()
        .map(|r| change_from_row(target, r))
        .collect::<Result<Vec<_>, _>>()?;
    resolve(c, target, raws).await
}

/// Highest committed change seq, 0 when none.
pub(crate) async fn last_change_seq(c: &Client, target: &Target) -> Result<i64, StoreError> {
    let row = c
        .query_one(
            "SELECT last_change FROM ah_alarm_sequence WHERE id = 1",
            &[],
        )
        .await
        .map_err(target.err("read alarm changes"))?;
    Ok(row.get(0))
}

/// One alarm with its history; notes and event seqs are read off the history.
pub(crate) async fn detail(
    c: &Client,
    target: &Target,
    id: i64,
) -> Result<Option<AlarmDetail>, StoreError> {
    let err = target.err("read alarm");
    let Some(row) = c
        .query_opt("SELECT body FROM ah_alarms WHERE id = $1", &[&id])
        .await
        .map_err(&err)?
    else {
        return Ok(None);
    };
    let alarm = decode_alarm(target, id, row.get(0))?;
    let sql =
        format!("SELECT {CHANGE_COLUMNS} FROM ah_alarm_changes WHERE alarm_id = $1 ORDER BY seq");
    let rows = c.query(&sql, &[&id]).await.map_err(&err)?;
    let raws = rows
        .iter()
        .map(|r| change_from_row(target, r))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(assemble(alarm, resolve(c, target, raws).await?)))
}

/// SQL text and parameters for `q` (order: see [`crate::store::Store::list_alarms`]).
fn list_sql(q: &AlarmQuery) -> (String, Vec<Box<dyn ToSql + Sync + Send>>) {
    let mut sql = String::from("SELECT id, body FROM ah_alarms WHERE TRUE");
    let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    let mut bind = |sql: &mut String, before: &str, p: Box<dyn ToSql + Sync + Send>| {
        params.push(p);
        sql.push_str(&format!("{before}${}", params.len()));
    };
    if !q.states.is_empty() {
        let states: Vec<String> = q.states.iter().map(|s| s.as_str().to_string()).collect();
        bind(&mut sql, " AND state = ANY(", Box::new(states));
        sql.push_str("::text[])");
    }
    if let Some(p) = q.priority {
        bind(&mut sql, " AND priority = ", Box::new(i32::from(p.get())));
    }
    if let Some(a) = &q.account {
        bind(&mut sql, " AND account = ", Box::new(a.clone()));
    }
    match q.after {
        Some(AlarmCursor::Queue {
            priority,
            opened_at_ms,
            id,
        }) => {
            bind(
                &mut sql,
                " AND (priority, opened_at_ms, id) > (",
                Box::new(i32::from(priority)),
            );
            bind(&mut sql, "::int, ", Box::new(opened_at_ms));
            bind(&mut sql, "::bigint, ", Box::new(id));
            sql.push_str("::bigint)");
        }
        Some(AlarmCursor::Id(id)) => bind(&mut sql, " AND id < ", Box::new(id)),
        None => {}
    }
    sql.push_str(if q.queue_order() {
        " ORDER BY priority, opened_at_ms, id"
    } else {
        " ORDER BY id DESC"
    });
    if q.limit > 0 {
        let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
        bind(&mut sql, " LIMIT ", Box::new(limit));
    }
    (sql, params)
}

/// Alarms matching `q`.
pub(crate) async fn list(
    c: &Client,
    target: &Target,
    q: &AlarmQuery,
) -> Result<Vec<Alarm>, StoreError> {
    let (sql, params) = list_sql(q);
    let params: Vec<&(dyn ToSql + Sync)> =
        params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
    let rows = c
        .query(&sql, &params)
        .await
        .map_err(target.err("list alarms"))?;
    rows.iter()
        .map(|r| decode_alarm(target, r.get(0), r.get(1)))
        .collect()
}

/// The open alarms in queue order, from their columns; the escalated flag is read from the
/// body only for `new` ones, by the server (no body crosses the network).
pub(crate) async fn open(c: &Client, target: &Target) -> Result<Vec<OpenAlarm>, StoreError> {
    let rows = c
        .query(
            "SELECT id, state, priority, opened_at_ms,
                    CASE WHEN state = 'new'
                         THEN coalesce((body::jsonb ->> 'escalated')::boolean, false)
                         ELSE false END
             FROM ah_alarms WHERE state IN ('new', 'taken')
             ORDER BY priority, opened_at_ms, id",
            &[],
        )
        .await
        .map_err(target.err("list open alarms"))?;
    rows.iter()
        .map(|r| {
            let id: i64 = r.get(0);
            let priority: i32 = r.get(2);
            OpenAlarm::from_columns(id, r.get(1), priority.into(), r.get(3), r.get(4)).map_err(
                |what| StoreError::BadStoredRow {
                    target: target.name.to_string(),
                    table: "ah_alarms",
                    key: id,
                    what,
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarms::{AlarmState, Priority};

    #[test]
    fn an_open_states_query_is_in_queue_order_with_a_keyset_cursor() {
        let q = AlarmQuery {
            states: vec![AlarmState::New, AlarmState::Taken],
            priority: Priority::new(2),
            account: Some("1234".into()),
            after: Some(AlarmCursor::Queue {
                priority: 2,
                opened_at_ms: 10,
                id: 7,
            }),
            limit: 5,
        };
        let (sql, params) = list_sql(&q);
        assert!(
            sql.ends_with(
                "WHERE TRUE AND state = ANY($1::text[]) AND priority = $2 AND account = $3 \
                 AND (priority, opened_at_ms, id) > ($4::int, $5::bigint, $6::bigint) \
                 ORDER BY priority, opened_at_ms, id LIMIT $7"
            ),
            "{sql}"
        );
        assert_eq!(params.len(), 7);
    }

    #[test]
    fn an_unfiltered_query_is_newest_first_without_limit() {
        let (sql, params) = list_sql(&AlarmQuery::default());
        assert!(sql.ends_with("WHERE TRUE ORDER BY id DESC"), "{sql}");
        assert!(params.is_empty());
    }
}
