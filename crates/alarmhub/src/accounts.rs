//! Panel accounts at runtime: the live table every lookup reads ([`LiveAccounts`], shared by
//! every clone of the daemon's [`Config`]), how it is loaded (the store's accounts, with the
//! configuration's `[[accounts]]` written over the ones they name), and how one change is
//! made: checked like a configuration entry, stored, then put live, and the receiver's links
//! told to look their policies up again (the next frame uses the new settings).
//!
//! The store keeps each account as its whole `[[accounts]]` entry in JSON, so fields added to
//! [`AccountConfig`] later round-trip without a migration. Secrets are stored (the receiver
//! needs them) but never returned by the API or printed by the CLI: see [`public_view`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use serde_json::{Map, Value};
use thiserror::Error;

use crate::config::{AccountConfig, Config};
use crate::store::{Store, StoreError};

/// Why an account change or load failed.
#[derive(Debug, Error)]
pub enum AccountError {
    /// The settings are not a valid `[[accounts]]` entry.
    #[error("account {account:?}: {message}")]
    Invalid {
        /// The account (as given).
        account: String,
        /// What is wrong, naming the field.
        message: String,
    },
    /// `add` of an account that exists.
    #[error("account {0:?} exists already (use `set` to change it)")]
    Exists(String),
    /// `set`/`remove`/`show` of an account that does not exist.
    #[error("account {0:?} is not known")]
    NotFound(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The accounts in force now; every lookup of the daemon goes through it.
#[derive(Debug, Default)]
pub struct LiveAccounts {
    table: RwLock<HashMap<String, Arc<AccountConfig>>>,
    /// Bumped on every change; sessions compare it to drop their cached policies.
    epoch: AtomicU64,
}

impl LiveAccounts {
    /// A table holding `accounts`.
    pub fn new(accounts: impl IntoIterator<Item = AccountConfig>) -> LiveAccounts {
        let live = LiveAccounts::default();
        live.replace(accounts);
        live
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<AccountConfig>>> {
        self.table.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<AccountConfig>>> {
        self.table.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The account, matched ignoring ASCII case.
    pub fn get(&self, account: &str) -> Option<Arc<AccountConfig>> {
        self.read().get(&account.to_ascii_lowercase()).cloned()
    }

    /// Every account, ordered by account (lower case).
    pub fn all(&self) -> Vec<Arc<AccountConfig>> {
        let mut v: Vec<_> = self.read().values().cloned().collect();
        v.sort_by_key(|a| a.account.to_ascii_lowercase());
        v
    }

    /// Replace the whole table.
    pub fn replace(&self, accounts: impl IntoIterator<Item = AccountConfig>) {
        let table = accounts
            .into_iter()
            .map(|a| (a.account.to_ascii_lowercase(), Arc::new(a)))
            .collect();
        *self.write() = table;
        self.epoch.fetch_add(1, Ordering::Relaxed);
    }

    /// Add or replace one account.
    pub fn upsert(&self, account: AccountConfig) {
        self.write()
            .insert(account.account.to_ascii_lowercase(), Arc::new(account));
        self.epoch.fetch_add(1, Ordering::Relaxed);
    }

    /// Remove one account; whether it was there.
    pub fn remove(&self, account: &str) -> bool {
        let gone = self.write().remove(&account.to_ascii_lowercase()).is_some();
        self.epoch.fetch_add(1, Ordering::Relaxed);
        gone
    }

    /// Changes so far (sessions compare it before each frame).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }
}

/// The stored JSON of an account.
pub fn to_json(a: &AccountConfig) -> Result<String, AccountError> {
    serde_json::to_string(a).map_err(|e| AccountError::Invalid {
        account: a.account.clone(),
        message: e.to_string(),
    })
}

/// An account from JSON settings, checked like a `[[accounts]]` entry.
pub fn from_json(value: Value) -> Result<AccountConfig, AccountError> {
    let account = value
        .get("account")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let a: AccountConfig = serde_json::from_value(value).map_err(|e| AccountError::Invalid {
        account: account.clone(),
        message: e.to_string(),
    })?;
    check(&a)?;
    Ok(a)
}

/// The rules `[[accounts]]` entries follow (account text, key, ranges …).
pub fn check(a: &AccountConfig) -> Result<(), AccountError> {
    let mut c = Config::default();
    c.accounts = vec![a.clone()];
    c.reindex();
    c.validate().map_err(|e| AccountError::Invalid {
        account: a.account.clone(),
        message: e.to_string().replace("accounts[0]", "").trim().to_string(),
    })
}

/// What the API and the CLI show of an account: every setting except the secrets, which are
/// replaced by whether they are set (`has_key`, `has_password`).
pub fn public_view(a: &AccountConfig) -> Value {
    let mut v = serde_json::to_value(a).unwrap_or(Value::Object(Map::new()));
    if let Value::Object(m) = &mut v {
        m.remove("key");
        m.remove("password");
        m.insert("has_key".into(), Value::Bool(a.key.is_some()));
        m.insert("has_password".into(), Value::Bool(a.password.is_some()));
    }
    v
}

/// Load the live table at start: the store's accounts, then every `[[accounts]]` entry of
/// `config` written over the stored one of the same account (the file is authoritative for
/// the accounts it lists; accounts added at runtime stay). An unreadable stored entry is
/// skipped with an error in the log, never fatal: panels keep being received.
pub async fn load(store: &dyn Store, config: &Config) -> Result<Vec<AccountConfig>, AccountError> {
    let mut by_key = stored(store).await?;
    seed(store, config, &mut by_key).await?;
    let mut all: Vec<_> = by_key.into_values().collect();
    all.sort_by_key(|a| a.account.to_ascii_lowercase());
    Ok(all)
}

/// The store's accounts by lower-case account; unreadable entries are skipped (logged).
async fn stored(store: &dyn Store) -> Result<HashMap<String, AccountConfig>, AccountError> {
    let mut by_key: HashMap<String, AccountConfig> = HashMap::new();
    for json in store.accounts().await? {
        match serde_json::from_str::<Value>(&json).map_err(|e| AccountError::Invalid {
            account: String::new(),
            message: e.to_string(),
        }) {
            Ok(v) => match from_json(without_unusable_password(v)) {
                Ok(a) => {
                    by_key.insert(a.account.to_ascii_lowercase(), a);
                }
                Err(e) => tracing::error!(error = %e, "stored account skipped"),
            },
            Err(e) => tracing::error!(error = %e, "stored account skipped"),
        }
    }
    Ok(by_key)
}

/// Until `stop`: whenever `changes` moves (another node, or this one, changed the shared
/// store's accounts), replace `live` with the store's accounts — the table is the truth.
pub async fn follow(
    store: std::sync::Arc<dyn Store>,
    live: Arc<LiveAccounts>,
    mut changes: tokio::sync::watch::Receiver<u64>,
    stop: tokio_util::sync::CancellationToken,
) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            r = changes.changed() => if r.is_err() { return },
        }
        match stored(store.as_ref()).await {
            Ok(by_key) => {
                let n = by_key.len();
                let same = n == live.all().len()
                    && by_key
                        .iter()
                        .all(|(k, a)| live.get(k).is_some_and(|l| *l == *a));
                if !same {
                    live.replace(by_key.into_values());
                    tracing::info!(accounts = n, "accounts reloaded from the shared store");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "accounts not reloaded from the store; retried on the next change")
            }
        }
    }
}

/// A stored account whose password breaks the Hengbo rule (6 to 8 digits; an earlier
/// build stored 4 and 5 digits too, which no disarm could use) keeps its other settings:
/// the password is dropped with a warning instead of the whole account being skipped.
fn without_unusable_password(mut v: Value) -> Value {
    let bad = v
        .get("password")
        .and_then(Value::as_str)
        .is_some_and(|pw| panel_proto::build::check_hb_password(pw).is_err());
    if let (true, Value::Object(m)) = (bad, &mut v) {
        m.remove("password");
        let account = m.get("account").and_then(Value::as_str).unwrap_or_default();
        tracing::warn!(account, "stored password is not 6 to 8 digits: ignored; set one with `alarmhub account set ACCOUNT --password`");
    }
    v
}

/// Write each `[[accounts]]` entry of `config` that differs from `by_key` to the store and
/// into `by_key`; the accounts written, for the log.
pub async fn seed(
    store: &dyn Store,
    config: &Config,
    by_key: &mut HashMap<String, AccountConfig>,
) -> Result<Vec<String>, AccountError> {
    let mut written = Vec::new();
    for a in &config.accounts {
        let key = a.account.to_ascii_lowercase();
        if by_key.get(&key) == Some(a) {
            continue;
        }
        store.put_account(&a.account, &to_json(a)?).await?;
        by_key.insert(key, a.clone());
        written.push(a.account.clone());
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn a_stored_password_of_four_digits_is_dropped_not_the_account() {
        let v =
            json!({"account": "A1", "key": "0123456789ABCDEF0123456789ABCDEF", "password": "1234"});
        assert!(from_json(v.clone()).is_err(), "the rule refuses 4 digits");
        let a = from_json(without_unusable_password(v)).unwrap();
        assert!(a.password.is_none() && a.key.is_some());
        let good = json!({"account": "A1", "password": "123456"});
        assert!(from_json(without_unusable_password(good))
            .unwrap()
            .password
            .is_some());
    }

    #[test]
    fn every_field_round_trips_through_the_stored_json() {
        let text = r#"
            account = "12345A"
            name = "Shop 12"
            key = "0123456789ABCDEF0123456789ABCDEF"
            key_format = "hex"
            supervision_secs = 300
            connection = "on_demand"
            timezone = "+08:00"
            quirks = ["crc_with_cr", "local_time"]
            password = "123456"
            time_window_past_secs = 30
            time_window_future_secs = 10
            cms_account = "1234"
        "#;
        let a: AccountConfig = toml::from_str(text).unwrap();
        let back = from_json(serde_json::from_str(&to_json(&a).unwrap()).unwrap()).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn the_public_view_never_holds_a_secret() {
        let a = from_json(json!({"account": "A1", "key": "0123456789ABCDEF0123456789ABCDEF", "password": "654321"})).unwrap();
        let v = public_view(&a).to_string();
        assert!(!v.contains("0123456789") && !v.contains("654321"), "{v}");
        assert!(v.contains(r#""has_key":true"#) && v.contains(r#""has_password":true"#));
    }

    #[test]
    fn bad_settings_are_refused_naming_the_field() {
        for (v, field) in [
            (json!({"account": "A1", "key": "00"}), "key"),
            (
                json!({"account": "A1", "supervision_secs": 1}),
                "supervision_secs",
            ),
            (json!({"account": "A 1"}), "account"),
            (json!({"account": "A1", "colour": "red"}), "colour"),
        ] {
            let e = from_json(v).unwrap_err().to_string();
            assert!(e.contains(field), "{e}");
        }
    }

    #[test]
    fn lookups_ignore_case_and_changes_bump_the_epoch() {
        let live = LiveAccounts::new([from_json(json!({"account": "Ab1"})).unwrap()]);
        let e0 = live.epoch();
        assert!(live.get("aB1").is_some());
        live.upsert(from_json(json!({"account": "C2"})).unwrap());
        assert!(live.remove("c2"));
        assert!(live.get("C2").is_none());
        assert_eq!(live.epoch(), e0 + 2);
    }
}
