//! The daemon's configuration and registry as the link's [`Policies`]: one account's
//! `[[accounts]]` entry (or the `[panel]` defaults and unknown-account policy) turned into
//! plain [`AccountPolicy`] data, and the host type on record (the registry's, which every
//! node keeps from the shared sequence). A new unknown account (not configured, never
//! seen) beyond its source's limit per minute gets [`Admission::Limited`].

use std::net::IpAddr;

use panel_proto::link::{AccountPolicy, Admission, Policies};
use panel_proto::timestamp::Window;

use super::Shared;
use crate::config::{Connection, UnknownAccountPolicy};

/// [`Policies`] over a receiver's shared state, for a connection from `peer`.
pub struct ConfigPolicies<'a> {
    /// The receiver's shared state.
    pub shared: &'a Shared,
    /// The connection's remote address (for the new-accounts limit).
    pub peer: IpAddr,
}

impl ConfigPolicies<'_> {
    /// Whether a new unknown account from this source is over the limit (and if not,
    /// count it).
    fn over_new_account_limit(&self, account: &str) -> bool {
        if self.shared.registry.get(account).is_some() {
            return false;
        }
        let per_min = self
            .shared
            .config
            .settings()
            .panel
            .max_new_accounts_per_source_per_min;
        let now = std::time::Instant::now();
        !self
            .shared
            .guards
            .new_accounts
            .admit(self.peer, per_min, now)
    }
}

impl Policies for ConfigPolicies<'_> {
    fn policy(&self, account: &str) -> AccountPolicy {
        let settings = self.shared.config.settings();
        let panel = &settings.panel;
        let configured = self.shared.config.account(account);
        let configured = configured.as_deref();
        let admission = match (configured, panel.unknown_accounts) {
            (Some(_), _) => Admission::Configured,
            (None, UnknownAccountPolicy::Drop) => Admission::Refused,
            (None, _) if self.over_new_account_limit(account) => Admission::Limited,
            (None, UnknownAccountPolicy::Accept) => Admission::Unknown,
            (None, UnknownAccountPolicy::Flag) => Admission::Flagged,
        };
        let secs = configured
            .and_then(|a| a.supervision_secs)
            .unwrap_or(panel.supervision_secs);
        AccountPolicy {
            admission,
            // Validation refused unparsable keys at start; a key that still fails here
            // acts as no key (encrypted frames are dropped and logged as such).
            key: configured.and_then(|a| a.parsed_key().ok().flatten()),
            quirks: configured.map(|a| a.quirks()).unwrap_or_default(),
            tz_offset_secs: configured.map_or(0, |a| a.timezone.offset_secs()),
            supervision_ms: secs.saturating_mul(1000),
            supervision_grace_ms: panel.supervision_grace_secs.saturating_mul(1000),
            window: Window {
                past_secs: configured
                    .and_then(|a| a.time_window_past_secs)
                    .unwrap_or(panel.time_window_past_secs),
                future_secs: configured
                    .and_then(|a| a.time_window_future_secs)
                    .unwrap_or(panel.time_window_future_secs),
            },
            allowed_sources: configured.map(|a| a.allowed_networks()).unwrap_or_default(),
            allow_plaintext: configured.is_some_and(|a| a.allow_plaintext),
            on_demand: configured.is_some_and(|a| a.connection == Connection::OnDemand),
        }
    }

    fn host_type(&self, account: &str) -> Option<i32> {
        self.shared.registry.machine_type(account)
    }
}
