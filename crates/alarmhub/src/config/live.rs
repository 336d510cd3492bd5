//! The settings a SIGHUP may change while the daemon runs ([`Settings`]: `[panel]` policies
//! and limits, `[control]`, `[store]` retention and size cap), shared by every clone of the
//! daemon's [`Config`] through [`LiveSettings`], and which keys of the file apply at runtime
//! ([`RUNTIME_KEYS`]); every other changed key is logged as needing a restart (among them
//! `panel.max_connections`: the descriptor budget of the listener is sized at start, while
//! the per-address cap applies at once).
//!
//! A reload builds the new [`Settings`] from the new file with the restart-only keys kept at
//! the values the daemon runs with ([`Settings::apply`]), so a reader never sees a value the
//! running daemon does not use (a new `panel.listen`, say).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use super::{Config, ControlConfig, PanelConfig, StoreConfig};

/// The keys (`section.key`) a reload applies at runtime.
pub const RUNTIME_KEYS: &[&str] = &[
    "panel.max_connections_per_ip",
    "panel.first_frame_timeout_secs",
    "panel.rate_limit_per_sec",
    "panel.rate_limit_burst",
    "panel.unknown_accounts",
    "panel.supervision_secs",
    "panel.supervision_grace_secs",
    "panel.time_window_past_secs",
    "panel.time_window_future_secs",
    "panel.write_timeout_secs",
    "panel.max_accounts_per_connection",
    "panel.max_new_accounts_per_source_per_min",
    "panel.max_invalid_per_min",
    "panel.penalty_secs",
    "panel.penalty_max_secs",
    "panel.connect_rate_per_source",
    "panel.connect_burst_per_source",
    "control.timeout_secs",
    "control.retries",
    "store.retention_days",
    "store.max_size_mb",
];

/// The runtime-changeable sections as the daemon uses them now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    /// `[panel]`.
    pub panel: PanelConfig,
    /// `[control]`.
    pub control: ControlConfig,
    /// `[store]`.
    pub store: StoreConfig,
}

impl Settings {
    /// The sections of `config`.
    pub fn of(config: &Config) -> Settings {
        Settings {
            panel: config.panel.clone(),
            control: config.control.clone(),
            store: config.store.clone(),
        }
    }

    /// These settings with `new`'s values of the [`RUNTIME_KEYS`] (the rest stays).
    pub fn apply(&self, new: &Config) -> Settings {
        let (p, n) = (&self.panel, &new.panel);
        let panel = PanelConfig {
            max_connections_per_ip: n.max_connections_per_ip,
            first_frame_timeout_secs: n.first_frame_timeout_secs,
            rate_limit_per_sec: n.rate_limit_per_sec,
            rate_limit_burst: n.rate_limit_burst,
            unknown_accounts: n.unknown_accounts,
            supervision_secs: n.supervision_secs,
            supervision_grace_secs: n.supervision_grace_secs,
            time_window_past_secs: n.time_window_past_secs,
            time_window_future_secs: n.time_window_future_secs,
            write_timeout_secs: n.write_timeout_secs,
            max_accounts_per_connection: n.max_accounts_per_connection,
            max_new_accounts_per_source_per_min: n.max_new_accounts_per_source_per_min,
            max_invalid_per_min: n.max_invalid_per_min,
            penalty_secs: n.penalty_secs,
            penalty_max_secs: n.penalty_max_secs,
            connect_rate_per_source: n.connect_rate_per_source,
            connect_burst_per_source: n.connect_burst_per_source,
            ..p.clone()
        };
        let store = StoreConfig {
            retention_days: new.store.retention_days,
            max_size_mb: new.store.max_size_mb,
            ..self.store.clone()
        };
        Settings {
            panel,
            control: new.control.clone(),
            store,
        }
    }
}

/// The settings in force, replaced as a whole by a reload.
#[derive(Debug, Default)]
pub struct LiveSettings {
    now: RwLock<Arc<Settings>>,
    /// Bumped on every change; receiver sessions compare it to drop cached policies.
    epoch: AtomicU64,
}

impl LiveSettings {
    /// Start with `settings`.
    pub fn new(settings: Settings) -> LiveSettings {
        LiveSettings {
            now: RwLock::new(Arc::new(settings)),
            epoch: AtomicU64::new(0),
        }
    }

    /// The settings in force.
    pub fn get(&self) -> Arc<Settings> {
        Arc::clone(&self.now.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Put `settings` in force.
    pub fn set(&self, settings: Settings) {
        *self.now.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(settings);
        self.epoch.fetch_add(1, Ordering::Relaxed);
    }

    /// Changes so far.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }
}

/// The keys (`section.key`, or the section for a list or a value that is not a table)
/// whose text differs between two files, accounts left out, sorted.
pub fn changed_keys(old: &toml::Table, new: &toml::Table) -> Vec<String> {
    let mut out = Vec::new();
    let sections: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for s in sections {
        if s == "accounts" {
            continue;
        }
        match (old.get(s), new.get(s)) {
            (a, b) if a == b => {}
            (Some(toml::Value::Table(a)), Some(toml::Value::Table(b))) => {
                let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
                for k in keys {
                    if a.get(k) != b.get(k) {
                        out.push(format!("{s}.{k}"));
                    }
                }
            }
            (Some(toml::Value::Table(t)), None) | (None, Some(toml::Value::Table(t))) => {
                out.extend(t.keys().map(|k| format!("{s}.{k}")));
            }
            _ => out.push(s.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_runtime_keys_change_and_the_rest_stays_at_the_running_values() {
        let start = Config::from_toml_str("[panel]\nlisten = \"127.0.0.1:1\"\n", "a").unwrap();
        let new = Config::from_toml_str(
            "[panel]\nlisten = \"127.0.0.1:2\"\nrate_limit_per_sec = 7\n[store]\nmax_size_mb = 5\nqueue = 9\n",
            "b",
        )
        .unwrap();
        let s = Settings::of(&start).apply(&new);
        assert_eq!(s.panel.rate_limit_per_sec, 7);
        assert_eq!(s.store.max_size_mb, Some(5));
        assert_eq!(s.panel.listen, start.panel.listen);
        assert_eq!(s.store.queue, start.store.queue);
    }

    #[test]
    fn changed_keys_are_named_by_section_and_key() {
        let a: toml::Table =
            toml::from_str("[panel]\nudp = true\n[[accounts]]\naccount = \"1\"\n").unwrap();
        let b: toml::Table =
            toml::from_str("[panel]\nudp = false\nrate_limit_burst = 3\n[grpc]\nmax_streams = 4\n")
                .unwrap();
        assert_eq!(
            changed_keys(&a, &b),
            ["grpc.max_streams", "panel.rate_limit_burst", "panel.udp"]
        );
    }
}
