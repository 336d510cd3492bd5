//! The SQL of [`super::outbox::PgOutbox`] (`migrations/007_outbox.sql`): one function per
//! operation, each inside the transaction its caller opened — the SQLite outbox's
//! (`store/outbox/sqlite_sql.rs`) on PostgreSQL. Rows are keyed by (notification id,
//! channel, recipient): `INSERT … ON CONFLICT DO NOTHING` is what makes two nodes recording
//! the same cause deliver once. The claim is `FOR UPDATE SKIP LOCKED` plus a lease, so of
//! several nodes claiming together each row goes to exactly one.

use std::collections::BTreeMap;

use tokio_postgres::{Row, Transaction};

use crate::notify::outbox::{
    ChannelState, Delivery, DeliveryId, DeliveryRecord, FeedBatch, OutboxError, ReminderChange,
    ReminderRow, Settlement, Status,
};
use crate::notify::rules::Target;
use crate::notify::Notification;

/// Statuses of rows still to be delivered.
const OPEN: &str = "status IN ('pending', 'retrying')";

/// What the SQL functions fail with: the database, or a row this build cannot read.
pub(super) enum SqlError {
    Pg(tokio_postgres::Error),
    Bad(String),
}

impl From<tokio_postgres::Error> for SqlError {
    fn from(e: tokio_postgres::Error) -> Self {
        SqlError::Pg(e)
    }
}

impl SqlError {
    /// As the trait's error, naming the operation and the database.
    pub(super) fn into_outbox(self, op: &str, db: &str) -> OutboxError {
        match self {
            SqlError::Pg(e) => OutboxError(format!("{op} on {db}: {e}")),
            SqlError::Bad(what) => OutboxError(format!("{op} on {db}: {what}")),
        }
    }
}

pub(super) type R<T> = Result<T, SqlError>;

fn to_json<T: serde::Serialize>(v: &T) -> R<String> {
    serde_json::to_string(v).map_err(|e| SqlError::Bad(format!("cannot encode: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> R<T> {
    serde_json::from_str(text).map_err(|e| SqlError::Bad(format!("{what}: {e}")))
}

fn count(v: i32, what: &str) -> R<u32> {
    u32::try_from(v).map_err(|_| SqlError::Bad(format!("{what} {v} is negative")))
}

fn sql_count(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn parse_status(s: &str) -> R<Status> {
    Ok(match s {
        "pending" => Status::Pending,
        "retrying" => Status::Retrying,
        "delivered" => Status::Delivered,
        "dead_letter" => Status::DeadLetter,
        other => return Err(SqlError::Bad(format!("unknown status {other:?}"))),
    })
}

/// Insert one row per target unless it is there; the ids of the new rows.
pub(super) async fn enqueue(
    tx: &Transaction<'_>,
    n: &Notification,
    targets: &[Target],
    now_ms: i64,
) -> R<Vec<DeliveryId>> {
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let json = to_json(n)?;
    let st = tx
        .prepare(
            "INSERT INTO ah_notify_outbox (notification_id, channel, recipient, notification,
                 status, attempts, queued_ms, due_ms, leased_until_ms)
             VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5, 0)
             ON CONFLICT (notification_id, channel, recipient) DO NOTHING RETURNING id",
        )
        .await?;
    let mut ids = Vec::new();
    for t in targets {
        let recipient = t.recipient.as_deref().unwrap_or("");
        let row = tx
            .query_opt(
                &st,
                &[&n.id.as_str(), &t.channel, &recipient, &json, &now_ms],
            )
            .await?;
        ids.extend(row.map(|r| r.get::<_, i64>(0)));
    }
    Ok(ids)
}

fn target(channel: String, recipient: String) -> Target {
    Target {
        channel,
        recipient: (!recipient.is_empty()).then_some(recipient),
    }
}

fn delivery(r: &Row) -> R<Delivery> {
    let json: &str = r.get(3);
    Ok(Delivery {
        id: r.get(0),
        target: target(r.get(1), r.get(2)),
        notification: from_json(json, "stored notification")?,
        attempts: count(r.get(4), "attempts")?,
        queued_ms: r.get(5),
        due_ms: r.get(6),
    })
}

/// Lease up to `limit` due rows of `channel` that no other claim holds, oldest due first.
pub(super) async fn claim_due(
    tx: &Transaction<'_>,
    channel: &str,
    now_ms: i64,
    limit: usize,
    lease_ms: i64,
) -> R<Vec<Delivery>> {
    let until = now_ms.saturating_add(lease_ms);
    let rows = tx
        .query(
            &format!(
                "UPDATE ah_notify_outbox SET leased_until_ms = $4 WHERE id IN (
                     SELECT id FROM ah_notify_outbox
                     WHERE channel = $1 AND {OPEN} AND due_ms <= $2 AND leased_until_ms <= $2
                     ORDER BY due_ms, id LIMIT $3 FOR UPDATE SKIP LOCKED)
                 RETURNING id, channel, recipient, notification, attempts, queued_ms, due_ms"
            ),
            &[&channel, &now_ms, &sql_limit(limit), &until],
        )
        .await?;
    let mut out = rows.iter().map(delivery).collect::<R<Vec<_>>>()?;
    out.sort_by_key(|d| (d.due_ms, d.id));
    Ok(out)
}

/// Apply settlements; an unknown id is an error (nothing of the batch is kept).
pub(super) async fn settle(tx: &Transaction<'_>, settled: &[(DeliveryId, Settlement)]) -> R<()> {
    let done = tx
        .prepare(
            "UPDATE ah_notify_outbox SET status = $2, attempts = $3, settled_ms = $4,
                 delivered_ms = $5, last_error = COALESCE($6, last_error), leased_until_ms = 0
             WHERE id = $1",
        )
        .await?;
    let retry = tx
        .prepare(
            "UPDATE ah_notify_outbox SET status = 'retrying', attempts = $2, due_ms = $3,
                 last_error = $4, leased_until_ms = 0 WHERE id = $1",
        )
        .await?;
    let postpone = tx
        .prepare("UPDATE ah_notify_outbox SET due_ms = $2, leased_until_ms = 0 WHERE id = $1")
        .await?;
    for (id, s) in settled {
        let none: Option<String> = None;
        let changed = match s {
            Settlement::Delivered { attempts, at_ms } => {
                let at = Some(*at_ms);
                tx.execute(
                    &done,
                    &[id, &"delivered", &sql_count(*attempts), at_ms, &at, &none],
                )
                .await?
            }
            Settlement::DeadLetter {
                attempts,
                at_ms,
                error,
            } => {
                let never: Option<i64> = None;
                let error = Some(error.as_str());
                tx.execute(
                    &done,
                    &[
                        id,
                        &"dead_letter",
                        &sql_count(*attempts),
                        at_ms,
                        &never,
                        &error,
                    ],
                )
                .await?
            }
            Settlement::Retry {
                attempts,
                due_ms,
                error,
            } => {
                tx.execute(&retry, &[id, &sql_count(*attempts), due_ms, error])
                    .await?
            }
            Settlement::Postpone { due_ms, .. } => tx.execute(&postpone, &[id, due_ms]).await?,
        };
        if changed != 1 {
            return Err(SqlError::Bad(format!("no delivery {id}")));
        }
    }
    Ok(())
}

pub(super) async fn next_due_ms(tx: &Transaction<'_>, channel: &str) -> R<Option<i64>> {
    let row = tx
        .query_one(
            &format!(
                "SELECT MIN(GREATEST(due_ms, leased_until_ms)) FROM ah_notify_outbox \
                 WHERE channel = $1 AND {OPEN}"
            ),
            &[&channel],
        )
        .await?;
    Ok(row.get(0))
}

pub(super) async fn backlog(tx: &Transaction<'_>) -> R<BTreeMap<String, u64>> {
    let rows = tx
        .query(
            &format!(
                "SELECT channel, COUNT(*) FROM ah_notify_outbox WHERE {OPEN} GROUP BY channel"
            ),
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), u64::try_from(r.get::<_, i64>(1)).unwrap_or(0)))
        .collect())
}

pub(super) async fn channel_state(tx: &Transaction<'_>, channel: &str) -> R<ChannelState> {
    let row = tx
        .query_opt(
            "SELECT state FROM ah_notify_channels WHERE name = $1",
            &[&channel],
        )
        .await?;
    match row {
        Some(r) => from_json(r.get(0), "stored channel state"),
        None => Ok(ChannelState::default()),
    }
}

pub(super) async fn save_channel_state(
    tx: &Transaction<'_>,
    channel: &str,
    state: &ChannelState,
) -> R<()> {
    tx.execute(
        "INSERT INTO ah_notify_channels (name, state) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET state = excluded.state",
        &[&channel, &to_json(state)?],
    )
    .await?;
    Ok(())
}

/// Clear a channel's disabled mark and make its waiting rows due now.
pub(super) async fn enable_channel(tx: &Transaction<'_>, channel: &str, now_ms: i64) -> R<bool> {
    // The channel row is locked first so two operators (or nodes) enabling at once
    // serialise instead of one overwriting the other's read.
    tx.execute(
        "SELECT 1 FROM ah_notify_channels WHERE name = $1 FOR UPDATE",
        &[&channel],
    )
    .await?;
    let mut state = channel_state(tx, channel).await?;
    let was = state.disabled.take().is_some();
    if was {
        save_channel_state(tx, channel, &state).await?;
    }
    tx.execute(
        &format!(
            "UPDATE ah_notify_outbox SET due_ms = LEAST(due_ms, $2) WHERE channel = $1 AND {OPEN}"
        ),
        &[&channel, &now_ms],
    )
    .await?;
    Ok(was)
}

/// Rows, reminder changes and the cursor of one producer batch.
pub(super) async fn record(tx: &Transaction<'_>, batch: &FeedBatch, now_ms: i64) -> R<usize> {
    let mut new = 0;
    for (n, targets) in &batch.notifications {
        new += enqueue(tx, n, targets, now_ms).await?.len();
    }
    for change in &batch.reminders {
        match change {
            ReminderChange::Start {
                opened,
                first_due_ms,
                repeat_ms,
            } => {
                if let Some(alarm_id) = opened.alarm_id {
                    tx.execute(
                        "INSERT INTO ah_notify_reminders
                             (alarm_id, notification, sent, due_ms, repeat_ms, active)
                         VALUES ($1, $2, 0, $3, $4, TRUE) ON CONFLICT (alarm_id) DO UPDATE
                         SET due_ms = excluded.due_ms, repeat_ms = excluded.repeat_ms,
                             active = TRUE
                         WHERE NOT ah_notify_reminders.active",
                        &[&alarm_id, &to_json(opened)?, first_due_ms, repeat_ms],
                    )
                    .await?;
                }
            }
            ReminderChange::Stop { alarm_id } => {
                tx.execute(
                    "UPDATE ah_notify_reminders SET active = FALSE WHERE alarm_id = $1",
                    &[alarm_id],
                )
                .await?;
            }
            ReminderChange::End { alarm_id } => {
                tx.execute(
                    "DELETE FROM ah_notify_reminders WHERE alarm_id = $1",
                    &[alarm_id],
                )
                .await?;
            }
        }
    }
    tx.execute(
        "INSERT INTO ah_notify_cursors (name, seq) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET seq = excluded.seq",
        &[&batch.feed, &batch.up_to],
    )
    .await?;
    Ok(new)
}

pub(super) async fn feed_cursor(tx: &Transaction<'_>, feed: &str) -> R<Option<i64>> {
    let row = tx
        .query_opt(
            "SELECT seq FROM ah_notify_cursors WHERE name = $1",
            &[&feed],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

pub(super) async fn due_reminders(
    tx: &Transaction<'_>,
    now_ms: i64,
    limit: usize,
) -> R<Vec<ReminderRow>> {
    let rows = tx
        .query(
            "SELECT alarm_id, notification, sent, due_ms, repeat_ms FROM ah_notify_reminders
             WHERE active AND due_ms <= $1 ORDER BY due_ms, alarm_id LIMIT $2",
            &[&now_ms, &sql_limit(limit)],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(ReminderRow {
                alarm_id: r.get(0),
                opened: from_json(r.get(1), "stored reminder")?,
                sent: count(r.get(2), "sent")?,
                due_ms: r.get(3),
                repeat_ms: r.get(4),
            })
        })
        .collect()
}

/// Move the schedule on if it is still where `row` saw it, then queue the reminder. The
/// conditional update is the compare-and-set: of two nodes reminding at once, one moves it.
pub(super) async fn remind(
    tx: &Transaction<'_>,
    row: &ReminderRow,
    reminder: &Notification,
    targets: &[Target],
    next_due_ms: i64,
    now_ms: i64,
) -> R<bool> {
    let moved = tx
        .execute(
            "UPDATE ah_notify_reminders SET sent = sent + 1, due_ms = $3
             WHERE alarm_id = $1 AND sent = $2 AND active",
            &[&row.alarm_id, &sql_count(row.sent), &next_due_ms],
        )
        .await?;
    if moved == 0 {
        return Ok(false);
    }
    enqueue(tx, reminder, targets, now_ms).await?;
    Ok(true)
}

pub(super) async fn prune(tx: &Transaction<'_>, before_ms: i64) -> R<u64> {
    Ok(tx
        .execute(
            &format!("DELETE FROM ah_notify_outbox WHERE NOT {OPEN} AND settled_ms < $1"),
            &[&before_ms],
        )
        .await?)
}

pub(super) async fn recent(
    tx: &Transaction<'_>,
    channel: Option<&str>,
    limit: usize,
) -> R<Vec<DeliveryRecord>> {
    let rows = tx
        .query(
            "SELECT id, notification, channel, recipient, status, attempts, last_error,
                 queued_ms, delivered_ms
             FROM ah_notify_outbox WHERE $1::text IS NULL OR channel = $1
             ORDER BY id DESC LIMIT $2",
            &[&channel, &sql_limit(limit)],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let n: Notification = from_json(r.get(1), "stored notification")?;
            let t = target(r.get(2), r.get(3));
            Ok(DeliveryRecord {
                id: r.get(0),
                notification_id: n.id.to_string(),
                what: n.what,
                account: n.account,
                channel: t.channel,
                recipient: t.recipient,
                status: parse_status(r.get(4))?,
                attempts: count(r.get(5), "attempts")?,
                last_error: r.get(6),
                queued_ms: r.get(7),
                delivered_ms: r.get(8),
            })
        })
        .collect()
}
