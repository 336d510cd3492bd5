//! SIGHUP: reload what can change without a restart.
//!
//! * The TLS certificate, key and client CA (renewed certificates take effect for new
//!   connections; open TLS sessions and every panel connection continue).
//! * The configuration file the daemon was started with: it is read and validated again;
//!   an invalid file is refused with the problems in the log and everything stays as it
//!   was. From a valid file the keys of [`crate::config::RUNTIME_KEYS`] that changed
//!   (policies and limits of `[panel]`, `[control]`, `[store]` retention and size cap) are
//!   put in force at once (`settings applied`, naming the keys), the `[[accounts]]` entries
//!   that changed are stored and put live (the panel's next frame uses them), entries
//!   removed from the file are removed, and every other changed key is logged as
//!   `needs restart: <section.key>`. The log says what changed, never a secret.
//!
//! Without a handler SIGHUP would terminate the daemon, so [`Hangup::install`] runs first
//! thing in `serve`, and [`Hangup::run`] starts answering once the parts exist.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::accounts::{self, LiveAccounts};
use crate::auth::tls::Tls;
use crate::config::{AccountConfig, Config};
use crate::store::Store;

/// What a SIGHUP reloads.
#[derive(Default, Clone)]
pub struct Reload {
    /// The API listeners' TLS certificate, when TLS is on.
    pub tls: Option<Arc<Tls>>,
    /// The configuration file, when the daemon was started with one.
    pub config: Option<Arc<ConfigReload>>,
}

/// The configuration file and what its reload changes.
pub struct ConfigReload {
    path: PathBuf,
    /// The file as last loaded (without command-line overrides), to compare against.
    last: Mutex<Config>,
    /// Its text as TOML, to name the keys that changed.
    last_keys: Mutex<toml::Table>,
    store: Arc<dyn Store>,
    live: Arc<LiveAccounts>,
    settings: Option<Arc<crate::config::LiveSettings>>,
}

impl ConfigReload {
    /// Reload `config`'s source file into `live` and `store`; `None` when the daemon runs
    /// without a file (or without live accounts).
    pub fn new(config: &Config, store: Arc<dyn Store>) -> Option<Arc<ConfigReload>> {
        let path = config.source()?.to_path_buf();
        let live = Arc::clone(config.live_accounts()?);
        // The file as it was read at start: command-line flags are not in it.
        let last = Config::load(&path).unwrap_or_else(|_| config.clone());
        let last_keys = read_table(&path).unwrap_or_default();
        Some(Arc::new(ConfigReload {
            path,
            last: Mutex::new(last),
            last_keys: Mutex::new(last_keys),
            store,
            live,
            settings: config.live_settings().cloned(),
        }))
    }

    /// Read the file again and apply what can be applied.
    pub async fn run(&self) {
        let new = match Config::load(&self.path) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "configuration not reloaded (the old one stays in use)");
                return;
            }
        };
        let mut last = self.last.lock().await;
        let mut last_keys = self.last_keys.lock().await;
        let keys = read_table(&self.path).unwrap_or_default();
        let changed = crate::config::changed_keys(&last_keys, &keys);
        let sections = new.changed_sections(&last);
        let (runtime, restart): (Vec<String>, Vec<String>) = changed
            .into_iter()
            .partition(|k| crate::config::RUNTIME_KEYS.contains(&k.as_str()));
        for key in restart {
            // Only where the settings really differ (not a default written out).
            let section = key.split('.').next().unwrap_or_default();
            if sections.contains(&section) {
                tracing::warn!(key = %key, "needs restart: {key}");
            }
        }
        if let Some(live) = &self.settings {
            let now = live.get();
            let next = now.apply(&new);
            if next != *now {
                live.set(next);
                tracing::info!(keys = ?runtime, "settings applied");
            }
        }
        *last_keys = keys;
        match self.apply_accounts(&last, &new).await {
            Ok((written, removed)) => {
                tracing::info!(path = %self.path.display(), accounts_changed = ?written,
                    accounts_removed = ?removed, "configuration reloaded");
                *last = new;
            }
            Err(e) => tracing::error!(error = %e,
                "configuration accounts not (all) applied; the rest stays as it was"),
        }
    }

    /// Store and put live the entries of `new` that differ from `old`'s, and remove the
    /// ones `new` no longer lists. Returns (written, removed) accounts.
    async fn apply_accounts(
        &self,
        old: &Config,
        new: &Config,
    ) -> Result<(Vec<String>, Vec<String>), accounts::AccountError> {
        let mut by_key: HashMap<String, AccountConfig> = old
            .accounts
            .iter()
            .map(|a| (a.account.to_ascii_lowercase(), a.clone()))
            .collect();
        let written = accounts::seed(self.store.as_ref(), new, &mut by_key).await?;
        for a in &written {
            if let Some(cfg) = new.file_account(a) {
                self.live.upsert(cfg.clone());
            }
        }
        let mut removed = Vec::new();
        for a in &old.accounts {
            if new.file_account(&a.account).is_none() {
                self.store.remove_account(&a.account).await?;
                self.live.remove(&a.account);
                removed.push(a.account.clone());
            }
        }
        Ok((written, removed))
    }
}

/// The file as a TOML table (`None` when it cannot be read or parsed: then `Config::load`
/// has refused it already).
fn read_table(path: &std::path::Path) -> Option<toml::Table> {
    toml::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

impl Reload {
    /// Reload everything; failures are logged and leave the old state in use.
    pub async fn run(&self) {
        if let Some(tls) = &self.tls {
            match tls.reload() {
                Ok(()) => tracing::info!("TLS certificate reloaded"),
                Err(e) => {
                    tracing::error!(error = %e, "TLS certificate not reloaded; the old one stays in use")
                }
            }
        }
        if let Some(c) = &self.config {
            c.run().await;
        }
    }
}

/// The installed SIGHUP handler.
pub struct Hangup {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

impl Hangup {
    /// Install the handler (SIGHUP no longer terminates the process).
    pub fn install() -> std::io::Result<Hangup> {
        Ok(Hangup {
            #[cfg(unix)]
            signal: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?,
        })
    }

    /// Answer each SIGHUP with `reload` until `cancel`.
    pub fn run(self, reload: Reload, cancel: CancellationToken) {
        #[cfg(unix)]
        {
            let mut signal = self.signal;
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        s = signal.recv() => if s.is_none() { return },
                    }
                    tracing::info!("SIGHUP received: reloading");
                    reload.run().await;
                }
            });
        }
        #[cfg(not(unix))]
        let _ = (reload, cancel);
    }
}
