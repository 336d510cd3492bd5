//! The events area: the bulk insert of a commit (one `INSERT … SELECT FROM UNNEST` of
//! column arrays, so a batch of a thousand events is one statement; appends use them in
//! `append.rs`), the row → [`StoredEvent`] decoding and the SQL built for an [`EventQuery`].

use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::events::{
    parse_dialect, ControlAction, ControlFacts, ControlOutcome, Detail, Facts, NewEvent, Source,
    StoredEvent,
};
use crate::store::EventQuery;

/// Columns selected for an event, in the order [`event_from_row`] reads them.
pub(crate) const EVENT_COLUMNS: &str = "seq, account, source, code, sia_code, grp, zone, \
     received_at_ms, panel_time, protocol, frame_seq, peer, detail, dedup_key, \
     dialect, ademco_id, signal_strength, unknown_account, control_action, control_outcome";

/// Insert the events whose columns are bound as arrays by [`Columns`].
pub(crate) const INSERT_EVENTS: &str = "INSERT INTO ah_events (seq, account, source, code, \
     sia_code, grp, zone, received_at_ms, panel_time, protocol, frame_seq, peer, detail, \
     dedup_key, dialect, ademco_id, signal_strength, unknown_account, control_action, \
     control_outcome) \
     SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::int[], $5::text[], \
     $6::int[], $7::int[], $8::bigint[], $9::bigint[], $10::text[], $11::text[], $12::text[], \
     $13::text[], $14::bigint[], $15::text[], $16::bigint[], $17::smallint[], $18::bool[], \
     $19::text[], $20::text[])";

/// The events of one commit as column arrays, for [`INSERT_EVENTS`].
#[derive(Default)]
pub(crate) struct Columns {
    seq: Vec<i64>,
    account: Vec<String>,
    source: Vec<&'static str>,
    code: Vec<i32>,
    sia_code: Vec<Option<String>>,
    group: Vec<i32>,
    zone: Vec<i32>,
    received_at_ms: Vec<i64>,
    panel_time: Vec<Option<i64>>,
    protocol: Vec<String>,
    frame_seq: Vec<String>,
    peer: Vec<String>,
    detail: Vec<String>,
    dedup_key: Vec<Option<i64>>,
    dialect: Vec<Option<&'static str>>,
    ademco_id: Vec<Option<i64>>,
    signal_strength: Vec<Option<i16>>,
    unknown_account: Vec<bool>,
    control_action: Vec<Option<&'static str>>,
    control_outcome: Vec<Option<&'static str>>,
}

impl Columns {
    /// Add `ev` as `seq`.
    pub(crate) fn push(&mut self, seq: i64, ev: &NewEvent) {
        let f = &ev.facts;
        self.seq.push(seq);
        self.account.push(ev.account.clone());
        self.source.push(ev.source.as_str());
        self.code.push(i32::from(ev.code));
        self.sia_code.push(ev.sia_code.clone());
        self.group.push(i32::from(ev.group));
        self.zone.push(i32::from(ev.zone));
        self.received_at_ms.push(ev.received_at_ms);
        self.panel_time.push(ev.panel_time);
        self.protocol.push(ev.protocol.clone());
        self.frame_seq.push(ev.frame_seq.clone());
        self.peer.push(ev.peer.clone());
        self.detail.push(ev.detail.as_str().to_owned());
        self.dedup_key.push(ev.dedup_key.map(dedup_to_sql));
        self.dialect.push(f.dialect.map(|d| d.as_str()));
        self.ademco_id.push(f.ademco_id.map(i64::from));
        self.signal_strength.push(f.signal_strength.map(i16::from));
        self.unknown_account.push(f.unknown_account);
        self.control_action
            .push(f.control.map(|c| c.action.as_str()));
        self.control_outcome
            .push(f.control.map(|c| c.outcome.as_str()));
    }

    /// The parameters of [`INSERT_EVENTS`], in order.
    pub(crate) fn params(&self) -> [&(dyn ToSql + Sync); 20] {
        [
            &self.seq,
            &self.account,
            &self.source,
            &self.code,
            &self.sia_code,
            &self.group,
            &self.zone,
            &self.received_at_ms,
            &self.panel_time,
            &self.protocol,
            &self.frame_seq,
            &self.peer,
            &self.detail,
            &self.dedup_key,
            &self.dialect,
            &self.ademco_id,
            &self.signal_strength,
            &self.unknown_account,
            &self.control_action,
            &self.control_outcome,
        ]
    }
}

/// Stored form of a dedup key: the u64 hash bit-cast to `bigint`.
pub(crate) fn dedup_to_sql(key: u64) -> i64 {
    i64::from_ne_bytes(key.to_ne_bytes())
}

/// Inverse of [`dedup_to_sql`].
pub(crate) fn dedup_from_sql(key: i64) -> u64 {
    u64::from_ne_bytes(key.to_ne_bytes())
}

/// A row selected with [`EVENT_COLUMNS`] as a [`StoredEvent`]; a row that does not decode
/// is an error text naming the column.
pub(crate) fn event_from_row(row: &Row) -> Result<StoredEvent, String> {
    let get = |e: tokio_postgres::Error| e.to_string();
    let seq: i64 = row.try_get(0).map_err(get)?;
    let source: String = row.try_get(2).map_err(get)?;
    let source =
        Source::parse(&source).ok_or_else(|| format!("unknown event source {source:?}"))?;
    let dedup_key: Option<i64> = row.try_get(13).map_err(get)?;
    Ok(StoredEvent {
        seq,
        event: NewEvent {
            account: row.try_get(1).map_err(get)?,
            source,
            code: narrow(row.try_get::<_, i32>(3).map_err(get)?, "code")?,
            sia_code: row.try_get(4).map_err(get)?,
            group: narrow(row.try_get::<_, i32>(5).map_err(get)?, "group")?,
            zone: narrow(row.try_get::<_, i32>(6).map_err(get)?, "zone")?,
            received_at_ms: row.try_get(7).map_err(get)?,
            panel_time: row.try_get(8).map_err(get)?,
            protocol: row.try_get(9).map_err(get)?,
            frame_seq: row.try_get(10).map_err(get)?,
            peer: row.try_get(11).map_err(get)?,
            facts: facts_from_row(row)?,
            detail: Detail::from_stored(row.try_get(12).map_err(get)?),
            dedup_key: dedup_key.map(dedup_from_sql),
        },
    })
}

/// The typed facts of a row (columns 14..=19).
fn facts_from_row(row: &Row) -> Result<Facts, String> {
    let get = |e: tokio_postgres::Error| e.to_string();
    let text = |i: usize| row.try_get::<_, Option<&str>>(i).map_err(get);
    let parsed = |i: usize, what: &str, parse: &dyn Fn(&str) -> bool| -> Result<(), String> {
        match text(i)? {
            Some(t) if !parse(t) => Err(format!("unknown {what} {t:?}")),
            _ => Ok(()),
        }
    };
    parsed(14, "dialect", &|t| parse_dialect(t).is_some())?;
    parsed(18, "control action", &|t| ControlAction::parse(t).is_some())?;
    parsed(19, "control outcome", &|t| {
        ControlOutcome::parse(t).is_some()
    })?;
    let action = text(18)?.and_then(ControlAction::parse);
    let outcome = text(19)?.and_then(ControlOutcome::parse);
    let ademco_id: Option<i64> = row.try_get(15).map_err(get)?;
    let signal: Option<i16> = row.try_get(16).map_err(get)?;
    Ok(Facts {
        dialect: text(14)?.and_then(parse_dialect),
        ademco_id: ademco_id
            .map(|v| u32::try_from(v).map_err(|_| format!("ademco_id {v} out of range")))
            .transpose()?,
        signal_strength: signal
            .map(|v| u8::try_from(v).map_err(|_| format!("signal_strength {v} out of range")))
            .transpose()?,
        unknown_account: row.try_get(17).map_err(get)?,
        control: action
            .zip(outcome)
            .map(|(action, outcome)| ControlFacts { action, outcome }),
    })
}

fn narrow(v: i32, what: &str) -> Result<u16, String> {
    u16::try_from(v).map_err(|_| format!("{what} {v} out of range"))
}

/// A query parameter of [`build_query`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    Int(i64),
    Text(String),
}

impl Param {
    pub(crate) fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Param::Int(v) => v,
            Param::Text(v) => v,
        }
    }
}

/// SQL text and parameters for `q`: only the filters that are set appear, so PostgreSQL
/// picks `(account, seq)`, `received_at_ms` or the primary key as fits.
pub(crate) fn build_query(q: &EventQuery) -> (String, Vec<Param>) {
    let mut clauses = Vec::new();
    let mut params = Vec::new();
    let mut add = |clause: &str, p: Param| {
        let cast = match p {
            Param::Int(_) => "bigint",
            Param::Text(_) => "text",
        };
        params.push(p);
        clauses.push(format!("{clause} ${}::{cast}", params.len()));
    };
    if let Some(account) = &q.account {
        add("account =", Param::Text(account.clone()));
    }
    if let Some(from) = q.from_ms {
        add("received_at_ms >=", Param::Int(from));
    }
    if let Some(to) = q.to_ms {
        add("received_at_ms <", Param::Int(to));
    }
    if let Some(code) = q.code {
        add("code =", Param::Int(i64::from(code)));
    }
    if let Some(sia) = &q.sia_code {
        add("sia_code =", Param::Text(sia.clone()));
    }
    if let Some(zone) = q.zone {
        add("zone =", Param::Int(i64::from(zone)));
    }
    if let Some(after) = q.after_seq {
        add("seq >", Param::Int(after));
    }
    if let Some(before) = q.before_seq {
        add("seq <", Param::Int(before));
    }
    let mut sql = format!("SELECT {EVENT_COLUMNS} FROM ah_events");
    if !clauses.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&clauses.join(" AND "));
    }
    sql.push_str(if q.newest_first {
        " ORDER BY seq DESC"
    } else {
        " ORDER BY seq ASC"
    });
    if q.limit > 0 {
        params.push(Param::Int(i64::try_from(q.limit).unwrap_or(i64::MAX)));
        sql.push_str(&format!(" LIMIT ${}::bigint", params.len()));
    }
    (sql, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_query_selects_everything_ascending_without_limit() {
        let (sql, params) = build_query(&EventQuery::default());
        assert!(sql.ends_with("FROM ah_events ORDER BY seq ASC"), "{sql}");
        assert!(params.is_empty());
    }

    #[test]
    fn every_filter_is_one_numbered_clause_with_its_parameter_in_order() {
        let q = EventQuery {
            account: Some("1234".into()),
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
            sql.ends_with(
                "WHERE account = $1::text AND received_at_ms >= $2::bigint \
                 AND received_at_ms < $3::bigint AND code = $4::bigint AND sia_code = $5::text \
                 AND zone = $6::bigint AND seq > $7::bigint AND seq < $8::bigint \
                 ORDER BY seq DESC LIMIT $9::bigint"
            ),
            "{sql}"
        );
        assert_eq!(params.len(), 9);
        assert_eq!(params[0], Param::Text("1234".into()));
        assert_eq!(params[4], Param::Text("BA".into()));
        assert_eq!(params[5], Param::Int(0));
        assert_eq!(params[8], Param::Int(7));
    }

    #[test]
    fn dedup_keys_round_trip_through_bigint_including_the_top_bit() {
        for k in [0, 1, u64::MAX, 1 << 63] {
            assert_eq!(dedup_from_sql(dedup_to_sql(k)), k);
        }
    }
}
