//! The daemon's configuration and registry as the link's [`Policies`]: one account's
//! `[[accounts]]` entry (or the `[panel]` defaults and unknown-account policy) turned into
//! plain [`AccountPolicy`] data, and whether a host's type is already known.

use panel_proto::link::{AccountPolicy, Admission, Policies};
use panel_proto::timestamp::Window;

use super::Shared;
use crate::config::{Connection, UnknownAccountPolicy};

/// [`Policies`] over a receiver's shared state.
pub struct ConfigPolicies<'a>(pub &'a Shared);

impl Policies for ConfigPolicies<'_> {
    fn policy(&self, account: &str) -> AccountPolicy {
        let panel = &self.0.config.panel;
        let configured = self.0.config.account(account);
        let configured = configured.as_deref();
        let admission = match (configured, panel.unknown_accounts) {
            (Some(_), _) => Admission::Configured,
            (None, UnknownAccountPolicy::Accept) => Admission::Unknown,
            (None, UnknownAccountPolicy::Flag) => Admission::Flagged,
            (None, UnknownAccountPolicy::Drop) => Admission::Refused,
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
            on_demand: configured.is_some_and(|a| a.connection == Connection::OnDemand),
        }
    }

    fn host_type_known(&self, account: &str) -> bool {
        self.0
            .registry
            .get(account)
            .is_some_and(|p| p.machine_type >= 0)
    }
}
