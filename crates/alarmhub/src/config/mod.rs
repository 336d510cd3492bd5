//! Configuration: the TOML file, its built-in defaults, and the validation pass.
//!
//! This module owns:
//!
//! * the shape of the file — one struct per section ([`PanelConfig`], [`GrpcConfig`], …) and
//!   one [`AccountConfig`] per `[[accounts]]` entry; unknown keys are errors at every level;
//! * the defaults — every key may be left out, and no file at all is a working receiver
//!   (DESIGN.md "Defaults"); the numbers live in [`defaults`];
//! * validation — [`Config::validate`] checks ranges, account text, duplicate accounts and
//!   that every DC-09 key parses, and reports every problem with its field path;
//! * secrets — keys and passwords are [`Secret`]s, printed as `****` by `Debug`;
//! * the account index — [`Config::account`] is a case-insensitive O(1) lookup, since it runs
//!   for every frame;
//! * the commented example file ([`Config::example`], `packaging/alarmhub.example.toml`).
//!
//! Order of use: [`Config::load`] (parse and validate) → apply command-line flags → share as
//! `Arc<Config>`, each component reading only its own section.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::accounts::LiveAccounts;

use panel_proto::Quirks;
use serde::Deserialize;

mod account;
mod auth;
mod error;
mod live;
mod outputs;
mod outputs_check;
mod sections;
mod validate;

pub use account::{AccountConfig, Connection, Quirk, Secret, Tz};
pub use auth::{AuthConfig, CompatAnonymous, Required, TlsConfig};
pub use error::{ConfigError, Problem};
pub use live::{changed_keys, LiveSettings, Settings, RUNTIME_KEYS};
pub use outputs::{
    output_defaults, parse_broker_url, AutomationConfig, AutomationKind, AutomationMode, BrokerUrl,
    MqttConfig,
};
pub use sections::{
    defaults, ConsoleConfig, ControlConfig, GrpcConfig, HttpConfig, LogConfig, LogFormat,
    PanelConfig, StoreConfig, UnknownAccountPolicy,
};

/// The commented default configuration; also shipped as `packaging/alarmhub.example.toml`.
const EXAMPLE: &str = include_str!("../../../../packaging/alarmhub.example.toml");

/// The whole configuration. `Config::default()` is the built-in defaults.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[panel]`: panel listener and protocol rules.
    pub panel: PanelConfig,
    /// `[grpc]`: the gRPC API.
    pub grpc: GrpcConfig,
    /// `[http]`: health, readiness, metrics.
    pub http: HttpConfig,
    /// `[store]`: durable storage.
    pub store: StoreConfig,
    /// `[console]`: the operator web console.
    pub console: ConsoleConfig,
    /// `[control]`: remote commands.
    pub control: ControlConfig,
    /// `[log]`: log output.
    pub log: LogConfig,
    /// `[mqtt]`: the MQTT bridge (Home Assistant); absent = off.
    pub mqtt: Option<MqttConfig>,
    /// `[[automation]]`: central-station outputs (Sur-Gard).
    pub automation: Vec<AutomationConfig>,
    /// `[notify]`: notification channels, rules and quiet periods.
    pub notify: crate::notify::NotifyConfig,
    /// `[alarms]`: which events open alarms, priorities, escalation, resolutions.
    pub alarms: crate::alarms::AlarmsConfig,
    /// `[auth]`: access control of the APIs.
    pub auth: AuthConfig,
    /// `[tls]`: TLS for the API listeners.
    pub tls: TlsConfig,
    /// `[[accounts]]`: known panels.
    pub accounts: Vec<AccountConfig>,
    /// Lower-case account → position in `accounts`.
    #[serde(skip)]
    index: HashMap<String, usize>,
    /// The daemon's live accounts (store + file), shared by every clone; `None` until
    /// [`Config::set_live_accounts`]: lookups then read `accounts`.
    #[serde(skip)]
    live: Option<Arc<LiveAccounts>>,
    /// The runtime-changeable settings in force, shared by every clone; `None` until
    /// [`Config::set_live_settings`]: [`Config::settings`] then reads this file's sections.
    #[serde(skip)]
    settings: Option<Arc<LiveSettings>>,
    /// The file it was loaded from ([`Config::load`]); SIGHUP reads it again.
    #[serde(skip)]
    source: Option<std::path::PathBuf>,
}

impl Config {
    /// Parse and validate TOML text. `origin` (a file path, or `"<string>"`) names the source
    /// in error messages.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let mut config: Config =
            toml::from_str(text).map_err(|e| ConfigError::from_toml(&e, text, origin))?;
        config
            .validate()
            .map_err(|e| error::with_lines(e.with_origin(origin), text))?;
        config.reindex();
        Ok(config)
    }

    /// Read, parse and validate a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut c = Config::from_toml_str(&text, &path.display().to_string())?;
        c.source = Some(path.to_path_buf());
        Ok(c)
    }

    /// The file this configuration was loaded from, if any.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// The sections whose settings differ from `other`'s (accounts not included), by
    /// their name in the file.
    pub fn changed_sections(&self, other: &Config) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut check = |name, same: bool| {
            if !same {
                out.push(name);
            }
        };
        check("panel", self.panel == other.panel);
        check("grpc", self.grpc == other.grpc);
        check("http", self.http == other.http);
        check("store", self.store == other.store);
        check("console", self.console == other.console);
        check("control", self.control == other.control);
        check("alarms", self.alarms == other.alarms);
        check("log", self.log == other.log);
        check("mqtt", self.mqtt == other.mqtt);
        check("automation", self.automation == other.automation);
        check("notify", self.notify == other.notify);
        check("auth", self.auth == other.auth);
        check("tls", self.tls == other.tls);
        out
    }

    /// Check every rule; the error lists all problems found, each with its field path.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let problems = validate::check(self);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid {
                origin: None,
                problems,
            })
        }
    }

    /// Rebuild the account index. [`Config::from_toml_str`] does this; call it after changing
    /// `accounts` in code (lookups still work without it, but by scanning).
    pub fn reindex(&mut self) {
        self.index = self
            .accounts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.account.to_ascii_lowercase(), i))
            .collect();
    }

    /// Serve account lookups from `live` (the store's accounts, changed at runtime).
    pub fn set_live_accounts(&mut self, live: Arc<LiveAccounts>) {
        self.live = Some(live);
    }

    /// Serve [`Config::settings`] from `live` (changed by a reload).
    pub fn set_live_settings(&mut self, live: Arc<LiveSettings>) {
        self.settings = Some(live);
    }

    /// The live settings, when the daemon set them.
    pub fn live_settings(&self) -> Option<&Arc<LiveSettings>> {
        self.settings.as_ref()
    }

    /// The runtime-changeable settings in force (`[panel]`, `[control]`, `[store]`): the live
    /// ones when the daemon runs, else this file's. Read them here, not from the fields,
    /// wherever a reload should take effect.
    pub fn settings(&self) -> Arc<live::Settings> {
        match &self.settings {
            Some(l) => l.get(),
            None => Arc::new(live::Settings::of(self)),
        }
    }

    /// The live accounts, when the daemon set them.
    pub fn live_accounts(&self) -> Option<&Arc<LiveAccounts>> {
        self.live.as_ref()
    }

    /// The account, matched ignoring ASCII case: from the live table when the daemon runs,
    /// else from `[[accounts]]`.
    pub fn account(&self, account: &str) -> Option<Arc<AccountConfig>> {
        match &self.live {
            Some(live) => live.get(account),
            None => self.file_account(account).cloned().map(Arc::new),
        }
    }

    /// Every account in force (live, or `[[accounts]]`).
    pub fn all_accounts(&self) -> Vec<Arc<AccountConfig>> {
        match &self.live {
            Some(live) => live.all(),
            None => self.accounts.iter().cloned().map(Arc::new).collect(),
        }
    }

    /// The `[[accounts]]` entry, matched ignoring ASCII case. O(1) and allocation-free.
    pub fn file_account(&self, account: &str) -> Option<&AccountConfig> {
        let mut buf = [0u8; validate::ACCOUNT_MAX_LEN];
        let lower = buf.get_mut(..account.len())?;
        lower.copy_from_slice(account.as_bytes());
        lower.make_ascii_lowercase();
        let key = std::str::from_utf8(lower).ok()?;
        match self.index.get(key).and_then(|&i| self.accounts.get(i)) {
            Some(a) if a.account.eq_ignore_ascii_case(account) => return Some(a),
            None if self.index.len() == self.accounts.len() => return None,
            // The index is stale: `accounts` was changed without `reindex`.
            _ => {}
        }
        self.accounts
            .iter()
            .find(|a| a.account.eq_ignore_ascii_case(account))
    }

    /// The commented default configuration printed by `alarmhub config example`.
    pub fn example() -> &'static str {
        EXAMPLE
    }

    /// Every quirk some account allows: what the listener's decoder may try before it knows
    /// the account. Whether the account really allows what a frame used is checked later.
    pub fn union_quirks(&self) -> Quirks {
        self.all_accounts().iter().fold(Quirks::default(), |u, a| {
            let q = a.quirks();
            Quirks {
                crc_with_cr: u.crc_with_cr || q.crc_with_cr,
                decimal_length: u.decimal_length || q.decimal_length,
                binary_crc: u.binary_crc || q.binary_crc,
                missing_l: u.missing_l || q.missing_l,
                missing_account: u.missing_account || q.missing_account,
                local_time: u.local_time || q.local_time,
            }
        })
    }
}

impl PartialEq for Config {
    /// Compares the settings; the account index is derived from them.
    fn eq(&self, other: &Config) -> bool {
        let Config {
            panel,
            grpc,
            http,
            store,
            console,
            control,
            log,
            mqtt,
            automation,
            notify,
            alarms,
            auth,
            tls,
            accounts,
            index: _,
            live: _,
            settings: _,
            source: _,
        } = self;
        *panel == other.panel
            && *grpc == other.grpc
            && *http == other.http
            && *store == other.store
            && *console == other.console
            && *control == other.control
            && *log == other.log
            && *mqtt == other.mqtt
            && *automation == other.automation
            && *notify == other.notify
            && *alarms == other.alarms
            && *auth == other.auth
            && *tls == other.tls
            && *accounts == other.accounts
    }
}

impl Eq for Config {}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The index is left out: it repeats `accounts` and can be large.
        f.debug_struct("Config")
            .field("panel", &self.panel)
            .field("grpc", &self.grpc)
            .field("http", &self.http)
            .field("store", &self.store)
            .field("console", &self.console)
            .field("control", &self.control)
            .field("log", &self.log)
            .field("mqtt", &self.mqtt)
            .field("automation", &self.automation)
            .field("notify", &self.notify)
            .field("alarms", &self.alarms)
            .field("auth", &self.auth)
            .field("tls", &self.tls)
            .field("accounts", &self.accounts)
            .finish()
    }
}
