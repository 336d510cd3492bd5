//! `[store] max_size_mb` on PostgreSQL: the room the events table takes
//! (`pg_total_relation_size`: rows, indexes and TOAST) with the events it holds, and a plain
//! `VACUUM` after a size-cap purge so new rows reuse the room of removed ones at once
//! instead of growing the table (PostgreSQL never gives that room back to the file system
//! without `VACUUM FULL`, which would block appends; so the table stops growing rather than
//! shrinks).

use tokio_postgres::Client;

use super::connect::Target;
use crate::store::{EventsSize, StoreError};

/// The events table's total size and the events it holds (seqs have no gaps and are
/// removed oldest first, so the seq range counts them without a scan).
pub(crate) async fn events_size(
    client: &Client,
    target: &Target,
) -> Result<EventsSize, StoreError> {
    let row = client
        .query_one(
            "SELECT pg_total_relation_size('ah_events')::BIGINT, \
             COALESCE(MAX(seq) - MIN(seq) + 1, 0)::BIGINT FROM ah_events",
            &[],
        )
        .await
        .map_err(target.err("read the events table size"))?;
    let bytes: i64 = row.get(0);
    let rows: i64 = row.get(1);
    Ok(EventsSize {
        bytes: u64::try_from(bytes).unwrap_or(0),
        rows: u64::try_from(rows).unwrap_or(0),
        exact: false,
    })
}

/// Mark the room of removed events reusable (`VACUUM`, not `FULL`: appends go on).
pub(crate) async fn reclaim(client: &Client, target: &Target) -> Result<(), StoreError> {
    client
        .batch_execute("VACUUM ah_events")
        .await
        .map_err(target.err("vacuum the events table"))
}
