//! Rebuild the registry at start: the latest snapshot, then every event after it, read from
//! the store page by page. The next page is read while the current one is applied, so the
//! store's row decoding (on a blocking thread) and the registry's apply overlap.

use std::sync::Arc;

use crate::events::StoredEvent;
use crate::registry::Registry;
use crate::store::{Store, StoreError};

/// Events read per page during the replay.
const PAGE: usize = 50_000;

/// What a restore did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restored {
    /// Panels in the registry afterwards.
    pub panels: usize,
    /// Events replayed after the snapshot (all of them without a usable snapshot).
    pub replayed: usize,
    /// The registry reflects every event up to this seq.
    pub last_seq: i64,
}

/// Load the registry from `store`: snapshot, then every event after it; every panel is
/// then offline (connections did not survive the restart) unless other nodes share the
/// store.
pub async fn restore(store: &Arc<dyn Store>, registry: &Registry) -> Result<Restored, StoreError> {
    let from = load_snapshot(store.as_ref(), registry).await?;
    let (replayed, last_seq) = replay(store, registry, from).await?;
    // Alone on the store, no connection survived the restart. On a shared store the
    // events say which panels other nodes hold (and a dead node's panels get OFFLINE from
    // the survivors' reaper), so the replayed state stands.
    if !store.is_shared() {
        registry.mark_all_offline();
    }
    Ok(Restored {
        panels: registry.counts().0,
        replayed,
        last_seq,
    })
}

/// Load the snapshot into the registry; the seq to replay from (0 without a usable one).
async fn load_snapshot(store: &dyn Store, registry: &Registry) -> Result<i64, StoreError> {
    let Some(snapshot) = store.load_snapshot().await? else {
        return Ok(0);
    };
    let errors = registry.restore(&snapshot.panels);
    if errors.is_empty() {
        return Ok(snapshot.last_seq);
    }
    // A row that does not parse would lose that panel's state: rebuild from every event
    // instead of trusting the snapshot.
    for e in errors.iter().take(5) {
        tracing::warn!("{e}");
    }
    tracing::warn!(
        bad_rows = errors.len(),
        "snapshot not usable; replaying every event"
    );
    registry.restore(&[]);
    Ok(0)
}

/// Apply every event after `from`, in seq order; the number applied and the last seq.
async fn replay(
    store: &Arc<dyn Store>,
    registry: &Registry,
    from: i64,
) -> Result<(usize, i64), StoreError> {
    let mut replayed = 0;
    let mut last_seq = from;
    let mut page = store.events_after(from, PAGE).await?;
    while let Some(last) = page.last().map(|e| e.seq) {
        let next = tokio::spawn({
            let store = Arc::clone(store);
            async move { store.events_after(last, PAGE).await }
        });
        replayed += page.len();
        last_seq = last;
        let events: Vec<Arc<StoredEvent>> = page.into_iter().map(Arc::new).collect();
        registry.apply_all(&events);
        page = next.await.map_err(|e| StoreError::ReadTask {
            op: "replay events",
            reason: e.to_string(),
        })??;
    }
    Ok((replayed, last_seq))
}
