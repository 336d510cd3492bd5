//! One append as one statement: dedup, the OFFLINE rule, seq assignment, the insert, the
//! counter, panel ownership and the NOTIFY, all decided by the database in [`APPEND`].
//!
//! The writer sends `BEGIN`, the [`super::writer::SEQ_LOCK`] lock, [`APPEND`] and `COMMIT`
//! as one pipeline: the lock is held for the server's work and the commit's flush only,
//! never across a round trip to the node. (With the decisions made in the node, the lock
//! was held from the first round trip — lock, dedup lookup, counter, owners — until the
//! node, on a machine busy with thousands of panels, got round to sending the second —
//! insert, counter, owners, COMMIT; every node's appends queue on that lock.)
//!
//! [`APPEND`] runs after the lock is granted, so its snapshot sees every commit before it
//! (see the writer's module doc), and decides exactly what the writer used to decide
//! event by event, in batch order:
//!
//! * **dedup**: an event whose key has a stored copy received inside the window is a
//!   duplicate of the newest such copy; otherwise, of the first earlier event of the batch
//!   with that key that was received inside the window (an earlier copy received before
//!   the cut-off does not count, and is stored itself);
//! * **OFFLINE** (a receiver presence event, `presence = 2`): not stored when another node
//!   owns the panel and no ONLINE for it comes earlier in the batch — the panel reconnected
//!   elsewhere; answered as a duplicate of the counter before the batch;
//! * **seqs**: the kept events get `last + 1 …` in batch order; the counter moves to the
//!   highest, and a NOTIFY carries it (only when something was stored);
//! * **ownership**: for each panel whose last kept presence event in the batch is an ONLINE
//!   this node claims it (with that event's dialect); for each whose last is an OFFLINE,
//!   this node's claim is released. (Claims and releases never name the same panel, so one
//!   statement's single snapshot is enough.)
//!
//! Rows come back in batch order: the counter before the batch, the event's seq (its own,
//! or the original's for a duplicate) and whether it was stored.
//!
//! The statement runs as a generic plan, and on a table that grows by thousands of rows a
//! second the planner's statistics lag behind it. So the dedup lookup is fenced
//! (`OFFSET 0`): it finds the stored copies by key through `ah_events_dedup` and only then
//! looks at their receive time. Left to the planner, statistics taken while the stored keys
//! were few made it read every event of the dedup window through `ah_events_received_at`
//! on each append — ~1 s per batch with 100,000 panels connecting, and the cluster fell
//! behind for good (BENCHMARKS.md, cluster-100k).

use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::events::Columns;
use crate::events::{codes, Appended, NewEvent, Source};

/// `presence` values: a receiver ONLINE or OFFLINE, the events that move panel ownership.
const ONLINE: i16 = 1;
const OFFLINE: i16 = 2;

/// The append statement. Parameters: `$1`–`$19` the event columns of [`Columns`] without
/// the seq, `$20` presence (0, [`ONLINE`], [`OFFLINE`]), `$21` the dedup cut-off (ms),
/// `$22` this node, `$23` now (ms, the claims' `since_ms`), `$24` the NOTIFY channel.
pub(crate) const APPEND: &str = "\
WITH ev AS (
  SELECT * FROM UNNEST($1::text[], $2::text[], $3::int[], $4::text[], $5::int[], $6::int[],
      $7::bigint[], $8::bigint[], $9::text[], $10::text[], $11::text[], $12::text[],
      $13::bigint[], $14::text[], $15::bigint[], $16::smallint[], $17::bool[], $18::text[],
      $19::text[], $20::smallint[])
    WITH ORDINALITY AS u(account, source, code, sia_code, grp, zone, received_at_ms,
      panel_time, protocol, frame_seq, peer, detail, dedup_key, dialect, ademco_id,
      signal_strength, unknown_account, control_action, control_outcome, presence, i)
),
base AS (SELECT last FROM ah_sequence WHERE id = 1),
found AS (
  SELECT DISTINCT ON (dedup_key) dedup_key, seq
  FROM (SELECT dedup_key, seq, received_at_ms FROM ah_events WHERE dedup_key = ANY($13)
    OFFSET 0) c
  WHERE received_at_ms > $21 ORDER BY dedup_key, seq DESC
),
firsts AS (
  SELECT dedup_key, min(i) AS i FROM ev
  WHERE dedup_key IS NOT NULL AND received_at_ms > $21 GROUP BY dedup_key
),
onlines AS (SELECT account, min(i) AS i FROM ev WHERE presence = 1 GROUP BY account),
owners AS (
  SELECT account, node_id FROM ah_panel_owners
  WHERE account = ANY(ARRAY(SELECT account FROM ev WHERE presence = 2))
),
judged AS (
  SELECT ev.*, f.seq AS db_dup, CASE WHEN fi.i < ev.i THEN fi.i END AS dup_of,
    coalesce(ev.presence = 2 AND o.node_id <> $22 AND NOT coalesce(ol.i < ev.i, false), false)
      AS elsewhere
  FROM ev
  LEFT JOIN found f ON f.dedup_key = ev.dedup_key
  LEFT JOIN firsts fi ON fi.dedup_key = ev.dedup_key
  LEFT JOIN onlines ol ON ol.account = ev.account
  LEFT JOIN owners o ON o.account = ev.account
),
numbered AS (
  SELECT j.*, CASE WHEN j.keep THEN (SELECT last FROM base)
      + count(*) FILTER (WHERE j.keep) OVER (ORDER BY j.i) END AS seq
  FROM (SELECT *, db_dup IS NULL AND dup_of IS NULL AND NOT elsewhere AS keep FROM judged) j
),
ins AS (
  INSERT INTO ah_events (seq, account, source, code, sia_code, grp, zone, received_at_ms,
    panel_time, protocol, frame_seq, peer, detail, dedup_key, dialect, ademco_id,
    signal_strength, unknown_account, control_action, control_outcome)
  SELECT seq, account, source, code, sia_code, grp, zone, received_at_ms, panel_time,
    protocol, frame_seq, peer, detail, dedup_key, dialect, ademco_id, signal_strength,
    unknown_account, control_action, control_outcome
  FROM numbered WHERE keep
),
moved AS (
  UPDATE ah_sequence SET last = (SELECT max(seq) FROM numbered)
  WHERE id = 1 AND EXISTS (SELECT 1 FROM numbered WHERE keep) RETURNING last
),
presence AS (
  SELECT DISTINCT ON (account) account, presence, dialect FROM numbered
  WHERE presence > 0 AND keep ORDER BY account, i DESC
),
claim AS (
  INSERT INTO ah_panel_owners (account, node_id, dialect, since_ms)
  SELECT account, $22, dialect, $23 FROM presence WHERE presence = 1
  ON CONFLICT (account) DO UPDATE SET node_id = excluded.node_id,
    dialect = excluded.dialect, since_ms = excluded.since_ms
),
released AS (
  DELETE FROM ah_panel_owners
  WHERE node_id = $22 AND account = ANY(ARRAY(SELECT account FROM presence WHERE presence = 2))
),
note AS (SELECT count(*) AS n FROM moved, pg_notify($24, moved.last::text))
SELECT b.last AS before, coalesce(n.seq, n.db_dup, o.seq, b.last) AS seq, n.keep AS stored
FROM numbered n LEFT JOIN numbered o ON o.i = n.dup_of CROSS JOIN base b CROSS JOIN note
ORDER BY n.i";

/// The [`APPEND`] parameters of one batch.
pub(crate) struct AppendParams {
    columns: Columns,
    presence: Vec<i16>,
    cutoff: i64,
    node: String,
    now_ms: i64,
    channel: &'static str,
}

impl AppendParams {
    pub(crate) fn new(
        batch: &[NewEvent],
        cutoff: i64,
        node: &str,
        now_ms: i64,
        channel: &'static str,
    ) -> AppendParams {
        let mut columns = Columns::default();
        let mut presence = Vec::with_capacity(batch.len());
        for ev in batch {
            // The seq is the database's to assign; the column is not sent.
            columns.push(0, ev);
            presence.push(presence_of(ev));
        }
        AppendParams {
            columns,
            presence,
            cutoff,
            node: node.to_owned(),
            now_ms,
            channel,
        }
    }

    /// The parameters, in [`APPEND`]'s order.
    pub(crate) fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        let mut p: Vec<&(dyn ToSql + Sync)> = self.columns.params()[1..].to_vec();
        p.extend([
            &self.presence as &(dyn ToSql + Sync),
            &self.cutoff,
            &self.node,
            &self.now_ms,
            &self.channel,
        ]);
        p
    }
}

/// A receiver ONLINE or OFFLINE moves panel ownership; anything else does not.
fn presence_of(e: &NewEvent) -> i16 {
    match (e.source, e.code) {
        (Source::Receiver, codes::ONLINE) => ONLINE,
        (Source::Receiver, codes::OFFLINE) => OFFLINE,
        _ => 0,
    }
}

/// The outcomes of a batch of `n` events from [`APPEND`]'s rows, and the counter before
/// it; `None` when the rows do not match the batch.
pub(crate) fn outcomes(rows: &[Row], n: usize) -> Option<(Vec<Appended>, i64)> {
    if rows.len() != n {
        return None;
    }
    let before = rows.first().map_or(Some(0), |r| r.try_get(0).ok())?;
    let out = rows
        .iter()
        .map(|r| {
            let seq: i64 = r.try_get(1).ok()?;
            let stored: bool = r.try_get(2).ok()?;
            Some(if stored {
                Appended::Stored(seq)
            } else {
                Appended::Duplicate(seq)
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some((out, before))
}
