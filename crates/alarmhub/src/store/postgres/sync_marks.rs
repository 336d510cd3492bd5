//! The compat API's Sync marks area (`ah_sync_marks`): what full `Sync`s delivered, shared
//! by every node so `IsNeedSync` and `Sync` answer the same on any node of a cluster.
//!
//! A node whose full `Sync` confirmed a batch of replies merges each panel's versions here
//! (the highest wins, so a mark never goes back) and stamps the rows with the next `mark`.
//! Writers take a transaction advisory lock first, so marks become visible in `mark` order
//! and a reader that follows `mark > cursor` never skips one that commits late (the same
//! reasoning as the event sequence in `writer.rs`). Every node reads the new marks before
//! it answers `IsNeedSync` or starts a full `Sync` (`api/compat_marks.rs`).

use std::collections::BTreeMap;

use tokio_postgres::Client;

use super::connect::Target;
use crate::store::{StoreError, SyncMark, SYNC_MARKS_PAGE};

/// Transaction advisory lock key held while writing marks ("alarmhub" + 8).
const MARK_LOCK: i64 = 0x616c_6172_6d68_7508;

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Merge `marks` (the highest of each panel wins) in one transaction.
pub(crate) async fn save(
    client: &mut Client,
    target: &Target,
    marks: &[SyncMark],
) -> Result<(), StoreError> {
    if marks.is_empty() {
        return Ok(());
    }
    // One row per account: an upsert may not touch the same row twice.
    let mut merged: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for m in marks {
        let e = merged.entry(m.account.as_str()).or_insert((0, 0));
        e.0 = e.0.max(to_i64(m.version));
        e.1 = e.1.max(to_i64(m.alarm_version));
    }
    let accounts: Vec<&str> = merged.keys().copied().collect();
    let versions: Vec<i64> = merged.values().map(|v| v.0).collect();
    let alarms: Vec<i64> = merged.values().map(|v| v.1).collect();
    let err = target.err("save compat sync marks");
    let tx = client.transaction().await.map_err(&err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MARK_LOCK])
        .await
        .map_err(&err)?;
    tx.execute(
        "INSERT INTO ah_sync_marks (account, version, alarm_version, mark) \
         SELECT a, v, av, nextval('ah_sync_mark_seq') \
         FROM UNNEST($1::text[], $2::bigint[], $3::bigint[]) AS u(a, v, av) \
         ON CONFLICT (account) DO UPDATE SET \
           version = GREATEST(ah_sync_marks.version, excluded.version), \
           alarm_version = GREATEST(ah_sync_marks.alarm_version, excluded.alarm_version), \
           mark = excluded.mark",
        &[&accounts, &versions, &alarms],
    )
    .await
    .map_err(&err)?;
    tx.commit().await.map_err(&err)
}

/// Marks after the cursor `after`, in mark order, and the next cursor.
pub(crate) async fn after(
    client: &Client,
    target: &Target,
    after: i64,
) -> Result<(i64, Vec<SyncMark>), StoreError> {
    let rows = client
        .query(
            "SELECT account, version, alarm_version, mark FROM ah_sync_marks \
             WHERE mark > $1 ORDER BY mark LIMIT $2",
            &[&after, &(SYNC_MARKS_PAGE as i64)],
        )
        .await
        .map_err(target.err("read compat sync marks"))?;
    let mut cursor = after;
    let mut marks = Vec::with_capacity(rows.len());
    for r in rows {
        let (version, alarm_version): (i64, i64) = (r.get(1), r.get(2));
        cursor = cursor.max(r.get(3));
        marks.push(SyncMark {
            account: r.get(0),
            version: u64::try_from(version).unwrap_or(0),
            alarm_version: u64::try_from(alarm_version).unwrap_or(0),
        });
    }
    Ok((cursor, marks))
}
