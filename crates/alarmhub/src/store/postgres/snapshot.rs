//! The snapshot area: the registry snapshot shared by every node. Each node follows the same
//! sequence, so any node's snapshot serves all. A save is skipped when it would not help:
//! another node is saving right now (the snapshot lock is taken with a try), the stored
//! snapshot is newer (a node that lags), or another node saved one less than half a
//! snapshot interval ago — so N nodes rewrite every panel about once per interval in all,
//! not N times.

use tokio_postgres::Client;

use super::connect::Target;
use crate::store::{Snapshot, StoreError};

/// Advisory lock key held by the node saving the snapshot ("alarmhub" + 9).
const SNAPSHOT_LOCK: i64 = 0x616c_6172_6d68_7509;

/// Who saves, when, and how young another node's snapshot must be to be kept.
pub(crate) struct Saver<'a> {
    pub(crate) node: &'a str,
    pub(crate) now_ms: i64,
    pub(crate) fresh_ms: i64,
}

/// Replace the snapshot as a whole in one transaction, unless that would not help (see the
/// module doc).
pub(crate) async fn save(
    client: &mut Client,
    target: &Target,
    snapshot: &Snapshot,
    by: Saver<'_>,
) -> Result<(), StoreError> {
    let err = target.err("save snapshot");
    let tx = client.transaction().await.map_err(&err)?;
    let locked: bool = tx
        .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&SNAPSHOT_LOCK])
        .await
        .map_err(&err)?
        .get(0);
    if !locked {
        return tx.commit().await.map_err(&err);
    }
    let stored = tx
        .query_opt(
            "SELECT last_seq, taken_at_ms, node_id FROM ah_snapshot WHERE id = 1",
            &[],
        )
        .await
        .map_err(&err)?;
    if let Some(row) = stored {
        let (seq, taken_at, node): (i64, i64, Option<String>) =
            (row.get(0), row.get(1), row.get(2));
        let recent_elsewhere =
            node.as_deref() != Some(by.node) && by.now_ms.saturating_sub(taken_at) < by.fresh_ms;
        if seq > snapshot.last_seq || recent_elsewhere {
            return tx.commit().await.map_err(&err);
        }
    }
    tx.execute("DELETE FROM ah_snapshot_panels", &[])
        .await
        .map_err(&err)?;
    let (accounts, states): (Vec<&str>, Vec<&str>) = snapshot
        .panels
        .iter()
        .map(|(a, s)| (a.as_str(), s.as_str()))
        .unzip();
    tx.execute(
        "INSERT INTO ah_snapshot_panels (account, state) \
         SELECT * FROM UNNEST($1::text[], $2::text[])",
        &[&accounts, &states],
    )
    .await
    .map_err(&err)?;
    tx.execute(
        "INSERT INTO ah_snapshot (id, last_seq, taken_at_ms, node_id) VALUES (1, $1, $2, $3) \
         ON CONFLICT (id) DO UPDATE SET last_seq = excluded.last_seq, \
         taken_at_ms = excluded.taken_at_ms, node_id = excluded.node_id",
        &[&snapshot.last_seq, &by.now_ms, &by.node],
    )
    .await
    .map_err(&err)?;
    tx.commit().await.map_err(&err)
}

/// The seq the stored snapshot covers, without its panels.
pub(crate) async fn seq(client: &Client, target: &Target) -> Result<Option<i64>, StoreError> {
    let row = client
        .query_opt("SELECT last_seq FROM ah_snapshot WHERE id = 1", &[])
        .await
        .map_err(target.err("read snapshot seq"))?;
    Ok(row.map(|r| r.get(0)))
}

/// The stored snapshot, panels ordered by account (header and panels from one transaction).
pub(crate) async fn load(
    client: &mut Client,
    target: &Target,
) -> Result<Option<Snapshot>, StoreError> {
    let err = target.err("load snapshot");
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(&err)?;
    let Some(head) = tx
        .query_opt("SELECT last_seq FROM ah_snapshot WHERE id = 1", &[])
        .await
        .map_err(&err)?
    else {
        return Ok(None);
    };
    let rows = tx
        .query(
            "SELECT account, state FROM ah_snapshot_panels ORDER BY account COLLATE \"C\"",
            &[],
        )
        .await
        .map_err(&err)?;
    tx.commit().await.map_err(&err)?;
    Ok(Some(Snapshot {
        last_seq: head.get(0),
        panels: rows.iter().map(|r| (r.get(0), r.get(1))).collect(),
    }))
}
