//! The accounts and retention areas: panel accounts as opaque JSON settings keyed by the
//! account in lower case (`ah_accounts`), and the removal of old events in small batches
//! (`purge_events`, oldest first, never at or above the seq the caller protects). Every
//! account change is announced to the other nodes (`accounts_watch.rs`).
//!
//! Seqs are never reused after a purge: the counter lives in `ah_sequence`, not in the
//! events table.

use tokio_postgres::Client;

use super::connect::Target;
use crate::store::StoreError;

/// Every stored account's settings, ordered by account ignoring ASCII case.
pub(crate) async fn list(client: &Client, target: &Target) -> Result<Vec<String>, StoreError> {
    let rows = client
        .query(
            "SELECT settings FROM ah_accounts ORDER BY key COLLATE \"C\"",
            &[],
        )
        .await
        .map_err(target.err("read accounts"))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Store `settings` as `account`, replacing the one of the same name ignoring ASCII case.
pub(crate) async fn put(
    client: &Client,
    target: &Target,
    account: &str,
    settings: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    let key = account.to_ascii_lowercase();
    client
        .execute(
            "INSERT INTO ah_accounts (key, account, settings, updated_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (key) DO UPDATE SET account = excluded.account, \
             settings = excluded.settings, updated_ms = excluded.updated_ms",
            &[&key, &account, &settings, &now_ms],
        )
        .await
        .map_err(target.err("save account"))?;
    super::accounts_watch::notify(client, target).await
}

/// Remove `account` (ignoring ASCII case); whether it was stored.
pub(crate) async fn remove(
    client: &Client,
    target: &Target,
    account: &str,
) -> Result<bool, StoreError> {
    let key = account.to_ascii_lowercase();
    let n = client
        .execute("DELETE FROM ah_accounts WHERE key = $1", &[&key])
        .await
        .map_err(target.err("remove account"))?;
    if n > 0 {
        super::accounts_watch::notify(client, target).await?;
    }
    Ok(n > 0)
}

/// Remove at most `max_rows` of the oldest events received before `before_ms` with
/// `seq < below_seq`; how many were removed.
pub(crate) async fn purge(
    client: &Client,
    target: &Target,
    before_ms: i64,
    below_seq: i64,
    max_rows: usize,
) -> Result<usize, StoreError> {
    let limit = i64::try_from(max_rows).unwrap_or(i64::MAX);
    let n = client
        .execute(
            "DELETE FROM ah_events WHERE seq IN (SELECT seq FROM ah_events \
             WHERE seq < $2 AND received_at_ms < $1 ORDER BY seq LIMIT $3)",
            &[&before_ms, &below_seq, &limit],
        )
        .await
        .map_err(target.err("purge events"))?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// The lowest stored seq, 0 when there is none.
pub(crate) async fn oldest_seq(client: &Client, target: &Target) -> Result<i64, StoreError> {
    let row = client
        .query_one("SELECT COALESCE(MIN(seq), 0)::BIGINT FROM ah_events", &[])
        .await
        .map_err(target.err("read the oldest seq"))?;
    Ok(row.get(0))
}
