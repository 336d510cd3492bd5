//! What the compat API needs of the registry: the changed-panel count, and marking panels
//! delivered by a full `Sync` — by this node ([`Registry::mark_synced`]) or, on a shared
//! store, by another node ([`Registry::mark_synced_elsewhere`], see `api/compat_marks.rs`).

use super::{track, PanelState, Registry};

/// Mark `p` delivered up to `token` (never back), keeping the changed-panel counter right.
fn merge_mark(counter: &std::sync::atomic::AtomicUsize, p: &mut PanelState, token: SyncToken) {
    let was = p.changed();
    p.synced_version = p.synced_version.max(token.version);
    p.delivered_alarm_version = p.delivered_alarm_version.max(token.alarm_version);
    track(counter, was, p.changed());
}

/// What a full `Sync` delivered, to be confirmed once the reply was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncToken {
    /// Panel version delivered.
    pub version: u64,
    /// Alarm version delivered.
    pub alarm_version: u64,
}

impl Registry {
    /// Number of panels changed since the last full Sync.
    pub fn changed_count(&self) -> usize {
        self.changed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Mark `account` delivered by a full Sync up to `token` (only if the reply was
    /// written). Later changes stay pending.
    pub fn mark_synced(&self, account: &str, token: SyncToken) {
        if let Some(p) = self.write().get_mut(account) {
            merge_mark(&self.changed, p, token);
        }
    }

    /// [`Registry::mark_synced`] for a mark another node's full Sync recorded in the shared
    /// store. Versions are derived from the shared event sequence, so they mean the same on
    /// every node; a mark ahead of this node's view (its follower lags) simply keeps the
    /// events still to come from counting as changes. A mark for a panel not seen yet is
    /// kept until its first event.
    pub fn mark_synced_elsewhere(&self, account: &str, token: SyncToken) {
        let mut map = self.write();
        if let Some(p) = map.get_mut(account) {
            merge_mark(&self.changed, p, token);
            return;
        }
        let mut early = self.early_marks.lock().unwrap_or_else(|p| p.into_inner());
        let e = early.entry(account.to_string()).or_insert(token);
        e.version = e.version.max(token.version);
        e.alarm_version = e.alarm_version.max(token.alarm_version);
    }

    pub(super) fn take_early_mark(&self, account: &str) -> Option<SyncToken> {
        let mut early = self.early_marks.lock().unwrap_or_else(|p| p.into_inner());
        if early.is_empty() {
            return None;
        }
        early.remove(account)
    }
}
