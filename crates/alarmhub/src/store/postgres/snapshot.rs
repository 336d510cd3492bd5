//! The snapshot area: the registry snapshot shared by every node. Each node follows the same
//! sequence, so any node's snapshot serves all; one taken at a lower seq than the stored one
//! (a node that lags) does not replace it.

use tokio_postgres::Client;

use super::connect::Target;
use crate::store::{Snapshot, StoreError};

/// Replace the snapshot as a whole in one transaction, unless the stored one is newer.
pub(crate) async fn save(
    client: &mut Client,
    target: &Target,
    snapshot: &Snapshot,
    now_ms: i64,
) -> Result<(), StoreError> {
    let err = target.err("save snapshot");
    let tx = client.transaction().await.map_err(&err)?;
    // Row lock on the header: two nodes saving at once take turns.
    let stored: Option<i64> = tx
        .query_opt(
            "SELECT last_seq FROM ah_snapshot WHERE id = 1 FOR UPDATE",
            &[],
        )
        .await
        .map_err(&err)?
        .map(|r| r.get(0));
    if stored.is_some_and(|s| s > snapshot.last_seq) {
        return tx.commit().await.map_err(&err);
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
        "INSERT INTO ah_snapshot (id, last_seq, taken_at_ms) VALUES (1, $1, $2) \
         ON CONFLICT (id) DO UPDATE SET last_seq = excluded.last_seq, \
         taken_at_ms = excluded.taken_at_ms",
        &[&snapshot.last_seq, &now_ms],
    )
    .await
    .map_err(&err)?;
    tx.commit().await.map_err(&err)
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
