//! The compat API across nodes: full `Sync` marks kept in the shared store, so
//! `IsNeedSync` and `Sync` give the same answers on any node of a cluster.
//!
//! Each node's registry follows the shared event sequence, so a panel's `version` and
//! `alarm_version` mean the same on every node (a change caused by a panel on node A bumps
//! them on node B too, once B's follower applied the event). What a full `Sync` delivered
//! was only known to the node that served it; with a shared store ([`Store::is_shared`])
//! a confirmed batch is also written as [`SyncMark`]s (before the stream ends, so the
//! client's next call on any node sees it), and every node reads the marks recorded since
//! its last look before it answers `IsNeedSync`, starts a full `Sync` or lists the machines
//! changed since the last one (v1 `ListMachines` with `changed_since_sync`, which the CLI's
//! `alarmhub sync` peek uses) — [`Registry::mark_synced_elsewhere`]. The daemon keeps one
//! [`SharedMarks`] in its `ApiState`. A client that polls node B after a `Sync` on
//! node A therefore gets neither the count nor the alarm (`valid`) again.
//!
//! When the shared store cannot be read or written, the node answers from what it knows
//! (a panel may then be delivered twice; nothing is lost) and logs a warning.

use std::sync::Arc;

use crate::registry::{Registry, SyncToken};
use crate::store::{Store, SyncMark, SYNC_MARKS_PAGE};

/// Pages read at most per catch-up (bounded; the rest is read on the next call).
const MAX_PAGES: usize = 20;

/// The shared marks of one node: its store, its registry and how far it has read.
pub struct SharedMarks {
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    /// Cursor into the store's marks (held while reading, so calls do not read twice).
    seen: tokio::sync::Mutex<i64>,
}

impl SharedMarks {
    /// Marks over `store`, or `None` when no other node shares it.
    pub fn new(store: &Arc<dyn Store>, registry: &Arc<Registry>) -> Option<Arc<SharedMarks>> {
        store.is_shared().then(|| {
            Arc::new(SharedMarks {
                store: Arc::clone(store),
                registry: Arc::clone(registry),
                seen: tokio::sync::Mutex::new(0),
            })
        })
    }

    /// Apply every mark other nodes (or this one) recorded since the last look.
    pub async fn catch_up(&self) {
        let mut seen = self.seen.lock().await;
        for _ in 0..MAX_PAGES {
            match self.store.sync_marks_after(*seen).await {
                Ok((next, marks)) => {
                    for m in &marks {
                        self.registry.mark_synced_elsewhere(
                            &m.account,
                            SyncToken {
                                version: m.version,
                                alarm_version: m.alarm_version,
                            },
                        );
                    }
                    *seen = next;
                    if marks.len() < SYNC_MARKS_PAGE {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "compat: reading other nodes' Sync marks failed; answering from this node's view");
                    return;
                }
            }
        }
    }

    /// Record a confirmed batch for every node.
    pub async fn save(store: Arc<dyn Store>, batch: Vec<(String, SyncToken)>) {
        let n = batch.len();
        let marks = batch
            .into_iter()
            .map(|(account, t)| SyncMark {
                account,
                version: t.version,
                alarm_version: t.alarm_version,
            })
            .collect();
        if let Err(e) = store.save_sync_marks(marks).await {
            tracing::warn!(error = %e, panels = n, "compat: recording Sync marks for the other nodes failed; they may deliver these panels again");
        }
    }

    /// The store marks are written to.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
}
