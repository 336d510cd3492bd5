//! The SQL of [`super::SqliteOutbox`]: its tables (`notify_*`, with their own schema version
//! `meta.notify_schema_version`) and one function per operation, each working inside the
//! transaction its caller opened. Rows are keyed by (notification id, channel, recipient):
//! `INSERT … ON CONFLICT DO NOTHING` is what makes recording the same cause twice harmless.

use std::collections::BTreeMap;

use rusqlite::{params, OptionalExtension, Row, Transaction};

use crate::notify::outbox::{
    ChannelState, Delivery, DeliveryId, DeliveryRecord, FeedBatch, ReminderChange, ReminderRow,
    Settlement, Status,
};
use crate::notify::rules::Target;
use crate::notify::Notification;

/// Outbox schema version this build writes and understands.
pub(super) const NOTIFY_SCHEMA_VERSION: i64 = 1;

/// Statuses of rows still to be delivered.
const OPEN: &str = "status IN ('pending', 'retrying')";

pub(super) const DDL: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS notify_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_id TEXT NOT NULL,
    channel         TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    notification    TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    queued_ms       INTEGER NOT NULL,
    due_ms          INTEGER NOT NULL,
    leased_until_ms INTEGER NOT NULL,
    last_error      TEXT,
    settled_ms      INTEGER,
    delivered_ms    INTEGER,
    UNIQUE (notification_id, channel, recipient)
);
CREATE INDEX IF NOT EXISTS notify_outbox_due ON notify_outbox(channel, due_ms)
    WHERE status IN ('pending', 'retrying');
CREATE INDEX IF NOT EXISTS notify_outbox_log ON notify_outbox(channel, id);
CREATE INDEX IF NOT EXISTS notify_outbox_settled ON notify_outbox(settled_ms)
    WHERE settled_ms IS NOT NULL;
CREATE TABLE IF NOT EXISTS notify_channels (
    name  TEXT PRIMARY KEY,
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS notify_cursors (
    name TEXT PRIMARY KEY,
    seq  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS notify_reminders (
    alarm_id     INTEGER PRIMARY KEY,
    notification TEXT NOT NULL,
    sent         INTEGER NOT NULL,
    due_ms       INTEGER NOT NULL,
    repeat_ms    INTEGER NOT NULL,
    active       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS notify_reminders_due ON notify_reminders(due_ms) WHERE active = 1;
";

/// A stored value this build cannot read back (hand-edited database, newer writer).
#[derive(Debug)]
pub(super) struct BadRow(pub String);

/// What the SQL functions fail with.
#[derive(Debug)]
pub(super) enum SqlError {
    Sqlite(rusqlite::Error),
    Bad(BadRow),
}

impl From<rusqlite::Error> for SqlError {
    fn from(e: rusqlite::Error) -> Self {
        SqlError::Sqlite(e)
    }
}

pub(super) type R<T> = Result<T, SqlError>;

fn to_json<T: serde::Serialize>(v: &T) -> R<String> {
    serde_json::to_string(v).map_err(|e| SqlError::Bad(BadRow(format!("cannot encode: {e}"))))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> R<T> {
    serde_json::from_str(text).map_err(|e| SqlError::Bad(BadRow(format!("{what}: {e}"))))
}

fn status_text(s: Status) -> &'static str {
    match s {
        Status::Pending => "pending",
        Status::Retrying => "retrying",
        Status::Delivered => "delivered",
        Status::DeadLetter => "dead_letter",
    }
}

fn parse_status(s: &str) -> R<Status> {
    Ok(match s {
        "pending" => Status::Pending,
        "retrying" => Status::Retrying,
        "delivered" => Status::Delivered,
        "dead_letter" => Status::DeadLetter,
        other => return Err(SqlError::Bad(BadRow(format!("unknown status {other:?}")))),
    })
}

/// Insert one row per target unless it is there; the ids of the new rows.
pub(super) fn enqueue(
    tx: &Transaction<'_>,
    n: &Notification,
    targets: &[Target],
    now_ms: i64,
) -> R<Vec<DeliveryId>> {
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let json = to_json(n)?;
    let mut st = tx.prepare_cached(
        "INSERT INTO notify_outbox (notification_id, channel, recipient, notification, status,
             attempts, queued_ms, due_ms, leased_until_ms)
         VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?5, 0)
         ON CONFLICT (notification_id, channel, recipient) DO NOTHING",
    )?;
    let mut ids = Vec::new();
    for t in targets {
        let recipient = t.recipient.as_deref().unwrap_or("");
        if st.execute(params![n.id.as_str(), t.channel, recipient, json, now_ms])? == 1 {
            ids.push(tx.last_insert_rowid());
        }
    }
    Ok(ids)
}

fn target(channel: String, recipient: String) -> Target {
    Target {
        channel,
        recipient: (!recipient.is_empty()).then_some(recipient),
    }
}

const DELIVERY_COLUMNS: &str = "id, channel, recipient, notification, attempts, queued_ms, due_ms";

fn delivery(r: &Row<'_>) -> R<Delivery> {
    let json: String = r.get(3)?;
    Ok(Delivery {
        id: r.get(0)?,
        target: target(r.get(1)?, r.get(2)?),
        notification: from_json(&json, "stored notification")?,
        attempts: r.get(4)?,
        queued_ms: r.get(5)?,
        due_ms: r.get(6)?,
    })
}

/// Whether `channel` has a row `claim_due` would take (a read: no write lock when idle).
pub(super) fn any_due(tx: &Transaction<'_>, channel: &str, now_ms: i64) -> R<bool> {
    let mut st = tx.prepare_cached(&format!(
        "SELECT EXISTS(SELECT 1 FROM notify_outbox
         WHERE channel = ?1 AND {OPEN} AND due_ms <= ?2 AND leased_until_ms <= ?2)"
    ))?;
    Ok(st.query_row(params![channel, now_ms], |r| r.get(0))?)
}

/// Lease up to `limit` due rows of `channel`.
pub(super) fn claim_due(
    tx: &Transaction<'_>,
    channel: &str,
    now_ms: i64,
    limit: usize,
    lease_ms: i64,
) -> R<Vec<Delivery>> {
    let mut st = tx.prepare_cached(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM notify_outbox
         WHERE channel = ?1 AND {OPEN} AND due_ms <= ?2 AND leased_until_ms <= ?2
         ORDER BY due_ms, id LIMIT ?3"
    ))?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut rows = st.query(params![channel, now_ms, limit])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(delivery(r)?);
    }
    let mut lease =
        tx.prepare_cached("UPDATE notify_outbox SET leased_until_ms = ?2 WHERE id = ?1")?;
    let until = now_ms.saturating_add(lease_ms);
    for d in &out {
        lease.execute(params![d.id, until])?;
    }
    Ok(out)
}

/// Apply settlements; an unknown id is an error (nothing of the batch is kept).
pub(super) fn settle(tx: &Transaction<'_>, settled: &[(DeliveryId, Settlement)]) -> R<()> {
    let mut done = tx.prepare_cached(
        "UPDATE notify_outbox SET status = ?2, attempts = ?3, settled_ms = ?4,
             delivered_ms = ?5, last_error = COALESCE(?6, last_error), leased_until_ms = 0
         WHERE id = ?1",
    )?;
    let mut retry = tx.prepare_cached(
        "UPDATE notify_outbox SET status = 'retrying', attempts = ?2, due_ms = ?3,
             last_error = ?4, leased_until_ms = 0 WHERE id = ?1",
    )?;
    let mut postpone = tx.prepare_cached(
        "UPDATE notify_outbox SET due_ms = ?2, leased_until_ms = 0 WHERE id = ?1",
    )?;
    for (id, s) in settled {
        let changed = match s {
            Settlement::Delivered { attempts, at_ms } => done.execute(params![
                id,
                status_text(Status::Delivered),
                attempts,
                at_ms,
                at_ms,
                Option::<String>::None
            ])?,
            Settlement::DeadLetter {
                attempts,
                at_ms,
                error,
            } => done.execute(params![
                id,
                status_text(Status::DeadLetter),
                attempts,
                at_ms,
                Option::<i64>::None,
                error
            ])?,
            Settlement::Retry {
                attempts,
                due_ms,
                error,
            } => retry.execute(params![id, attempts, due_ms, error])?,
            Settlement::Postpone { due_ms, .. } => postpone.execute(params![id, due_ms])?,
        };
        if changed != 1 {
            return Err(SqlError::Bad(BadRow(format!("no delivery {id}"))));
        }
    }
    Ok(())
}

pub(super) fn next_due_ms(tx: &Transaction<'_>, channel: &str) -> R<Option<i64>> {
    let mut st = tx.prepare_cached(&format!(
        "SELECT MIN(MAX(due_ms, leased_until_ms)) FROM notify_outbox WHERE channel = ?1 AND {OPEN}"
    ))?;
    Ok(st.query_row([channel], |r| r.get(0))?)
}

pub(super) fn backlog(tx: &Transaction<'_>) -> R<BTreeMap<String, u64>> {
    let mut st = tx.prepare_cached(&format!(
        "SELECT channel, COUNT(*) FROM notify_outbox WHERE {OPEN} GROUP BY channel"
    ))?;
    let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    let mut out = BTreeMap::new();
    for row in rows {
        let (channel, n) = row?;
        out.insert(channel, u64::try_from(n).unwrap_or(0));
    }
    Ok(out)
}

pub(super) fn channel_state(tx: &Transaction<'_>, channel: &str) -> R<ChannelState> {
    let mut st = tx.prepare_cached("SELECT state FROM notify_channels WHERE name = ?1")?;
    let json: Option<String> = st.query_row([channel], |r| r.get(0)).optional()?;
    match json {
        Some(j) => from_json(&j, "stored channel state"),
        None => Ok(ChannelState::default()),
    }
}

pub(super) fn save_channel_state(
    tx: &Transaction<'_>,
    channel: &str,
    state: &ChannelState,
) -> R<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO notify_channels (name, state) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET state = excluded.state",
    )?;
    st.execute(params![channel, to_json(state)?])?;
    Ok(())
}

/// Clear a channel's disabled mark and make its waiting rows due now.
pub(super) fn enable_channel(tx: &Transaction<'_>, channel: &str, now_ms: i64) -> R<bool> {
    let mut state = channel_state(tx, channel)?;
    let was = state.disabled.take().is_some();
    if was {
        save_channel_state(tx, channel, &state)?;
    }
    let mut st = tx.prepare_cached(&format!(
        "UPDATE notify_outbox SET due_ms = MIN(due_ms, ?2) WHERE channel = ?1 AND {OPEN}"
    ))?;
    st.execute(params![channel, now_ms])?;
    Ok(was)
}

/// Rows, reminder changes and the cursor of one producer batch.
pub(super) fn record(tx: &Transaction<'_>, batch: &FeedBatch, now_ms: i64) -> R<usize> {
    let mut new = 0;
    for (n, targets) in &batch.notifications {
        new += enqueue(tx, n, targets, now_ms)?.len();
    }
    let mut start = tx.prepare_cached(
        "INSERT INTO notify_reminders (alarm_id, notification, sent, due_ms, repeat_ms, active)
         VALUES (?1, ?2, 0, ?3, ?4, 1) ON CONFLICT (alarm_id) DO UPDATE
         SET due_ms = excluded.due_ms, repeat_ms = excluded.repeat_ms, active = 1
         WHERE notify_reminders.active = 0",
    )?;
    let mut stop =
        tx.prepare_cached("UPDATE notify_reminders SET active = 0 WHERE alarm_id = ?1")?;
    let mut end = tx.prepare_cached("DELETE FROM notify_reminders WHERE alarm_id = ?1")?;
    for change in &batch.reminders {
        match change {
            ReminderChange::Start {
                opened,
                first_due_ms,
                repeat_ms,
            } => {
                if let Some(alarm_id) = opened.alarm_id {
                    start.execute(params![alarm_id, to_json(opened)?, first_due_ms, repeat_ms])?;
                }
            }
            ReminderChange::Stop { alarm_id } => {
                stop.execute([alarm_id])?;
            }
            ReminderChange::End { alarm_id } => {
                end.execute([alarm_id])?;
            }
        }
    }
    let mut cursor = tx.prepare_cached(
        "INSERT INTO notify_cursors (name, seq) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET seq = excluded.seq",
    )?;
    cursor.execute(params![batch.feed, batch.up_to])?;
    Ok(new)
}

pub(super) fn feed_cursor(tx: &Transaction<'_>, feed: &str) -> R<Option<i64>> {
    let mut st = tx.prepare_cached("SELECT seq FROM notify_cursors WHERE name = ?1")?;
    Ok(st.query_row([feed], |r| r.get(0)).optional()?)
}

pub(super) fn due_reminders(
    tx: &Transaction<'_>,
    now_ms: i64,
    limit: usize,
) -> R<Vec<ReminderRow>> {
    let mut st = tx.prepare_cached(
        "SELECT alarm_id, notification, sent, due_ms, repeat_ms FROM notify_reminders
         WHERE active = 1 AND due_ms <= ?1 ORDER BY due_ms, alarm_id LIMIT ?2",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut rows = st.query(params![now_ms, limit])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let json: String = r.get(1)?;
        out.push(ReminderRow {
            alarm_id: r.get(0)?,
            opened: from_json(&json, "stored reminder")?,
            sent: r.get(2)?,
            due_ms: r.get(3)?,
            repeat_ms: r.get(4)?,
        });
    }
    Ok(out)
}

/// Move the schedule on if it is still where `row` saw it, then queue the reminder.
pub(super) fn remind(
    tx: &Transaction<'_>,
    row: &ReminderRow,
    reminder: &Notification,
    targets: &[Target],
    next_due_ms: i64,
    now_ms: i64,
) -> R<bool> {
    let mut st = tx.prepare_cached(
        "UPDATE notify_reminders SET sent = sent + 1, due_ms = ?3
         WHERE alarm_id = ?1 AND sent = ?2 AND active = 1",
    )?;
    if st.execute(params![row.alarm_id, row.sent, next_due_ms])? == 0 {
        return Ok(false);
    }
    enqueue(tx, reminder, targets, now_ms)?;
    Ok(true)
}

pub(super) fn prune(tx: &Transaction<'_>, before_ms: i64) -> R<u64> {
    let mut st = tx.prepare_cached(&format!(
        "DELETE FROM notify_outbox WHERE NOT {OPEN} AND settled_ms < ?1"
    ))?;
    Ok(st.execute([before_ms])? as u64)
}

pub(super) fn recent(
    tx: &Transaction<'_>,
    channel: Option<&str>,
    limit: usize,
) -> R<Vec<DeliveryRecord>> {
    let mut st = tx.prepare_cached(
        "SELECT id, notification, channel, recipient, status, attempts, last_error, queued_ms,
             delivered_ms
         FROM notify_outbox WHERE ?1 IS NULL OR channel = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut rows = st.query(params![channel, limit])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let json: String = r.get(1)?;
        let n: Notification = from_json(&json, "stored notification")?;
        let status: String = r.get(4)?;
        let t = target(r.get(2)?, r.get(3)?);
        out.push(DeliveryRecord {
            id: r.get(0)?,
            notification_id: n.id.to_string(),
            what: n.what,
            account: n.account,
            channel: t.channel,
            recipient: t.recipient,
            status: parse_status(&status)?,
            attempts: r.get(5)?,
            last_error: r.get(6)?,
            queued_ms: r.get(7)?,
            delivered_ms: r.get(8)?,
        });
    }
    Ok(out)
}
