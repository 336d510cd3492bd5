//! `alarmhub account add|set|adopt|remove|list|show`: panel accounts on a running daemon, through
//! the v1 account RPCs (admin token when access control is on; every change audited). A
//! change is live on the panel's next frame, no restart. Secrets are never printed: `show`
//! and `list` say `key: set` / `password: set` at most. `--key -` and `--password -` read
//! the secret from standard input (so it stays out of the process list and shell history).

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{Map, Value};

use super::{emit, status_err, Ch, ClientOpts};
use crate::proto::v1 as pb;
use crate::proto::v1::alarm_hub_client::AlarmHubClient;

/// `alarmhub account …`
#[derive(Subcommand, Debug, Clone)]
pub enum AccountCmd {
    /// Add a panel account (it must not exist yet).
    Add {
        /// The account as the panel sends it.
        account: String,
        #[command(flatten)]
        fields: Fields,
    },
    /// Change settings of an account; settings not named stay as they are.
    Set {
        /// The account.
        account: String,
        #[command(flatten)]
        fields: Fields,
    },
    /// Adopt a panel shown as unknown (policy `flag`): add it as a configured account.
    Adopt {
        /// The unknown panel's account.
        account: String,
        #[command(flatten)]
        fields: Fields,
    },
    /// Remove an account: its panel then follows `[panel] unknown_accounts`.
    Remove {
        /// The account.
        account: String,
    },
    /// Every account with its settings (secrets shown only as set / not set).
    List,
    /// One account's settings (secrets shown only as set / not set).
    Show {
        /// The account.
        account: String,
    },
}

/// Settings of `add` and `set` (the `[[accounts]]` keys; `--set` reaches any other).
#[derive(Args, Debug, Clone, Default)]
pub struct Fields {
    /// A label for people (customer, site).
    #[arg(long)]
    name: Option<String>,
    /// DC-09 AES key (`-`: read it from standard input).
    #[arg(long)]
    key: Option<String>,
    /// How the key is read: hex or ascii.
    #[arg(long)]
    key_format: Option<String>,
    /// Hengbo host user password for disarm, 6 to 8 digits (`-`: read it from standard input).
    #[arg(long)]
    password: Option<String>,
    /// Supervision interval in seconds.
    #[arg(long)]
    supervision_secs: Option<u64>,
    /// Panel clock offset: UTC or +08:00 style.
    #[arg(long)]
    timezone: Option<String>,
    /// Tolerated protocol deviation (repeat): crc_with_cr, decimal_length, binary_crc,
    /// missing_l, missing_account, local_time.
    #[arg(long = "quirk")]
    quirks: Vec<String>,
    /// permanent (default) or on_demand (connects per message).
    #[arg(long)]
    connection: Option<String>,
    /// Any other `[[accounts]]` key as KEY=JSON, e.g. --set 'cms_account="1234"' (repeat).
    #[arg(long = "set", value_name = "KEY=JSON")]
    set: Vec<String>,
    /// Remove a setting (back to its default) (repeat).
    #[arg(long = "clear", value_name = "KEY")]
    clear: Vec<String>,
}

/// A secret flag: `-` reads one line from standard input.
fn secret(v: &str, what: &str) -> Result<String, String> {
    if v != "-" {
        return Ok(v.to_string());
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("--{what} -: reading standard input: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

impl Fields {
    /// The JSON object the RPC takes.
    fn to_json(&self) -> Result<String, String> {
        let mut m = Map::new();
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_string(), v);
        };
        if let Some(v) = &self.name {
            put("name", v.clone().into());
        }
        if let Some(v) = &self.key {
            put("key", secret(v, "key")?.into());
        }
        if let Some(v) = &self.key_format {
            put("key_format", v.clone().into());
        }
        if let Some(v) = &self.password {
            put("password", secret(v, "password")?.into());
        }
        if let Some(v) = self.supervision_secs {
            put("supervision_secs", v.into());
        }
        if let Some(v) = &self.timezone {
            put("timezone", v.clone().into());
        }
        if !self.quirks.is_empty() {
            put("quirks", self.quirks.clone().into());
        }
        if let Some(v) = &self.connection {
            put("connection", v.clone().into());
        }
        for kv in &self.set {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| format!("--set {kv:?}: write KEY=JSON"))?;
            let v: Value = serde_json::from_str(v).map_err(|e| {
                format!("--set {k}: the value is not JSON ({e}); quote strings: '\"text\"'")
            })?;
            put(k, v);
        }
        for k in &self.clear {
            put(k, Value::Null);
        }
        Ok(Value::Object(m).to_string())
    }
}

/// One account as a line: account, then `key=value` settings (secrets as set/not set).
fn line(a: &pb::Account, as_json: bool) -> String {
    let v: Value = serde_json::from_str(&a.settings_json).unwrap_or(Value::Null);
    if as_json {
        return v.to_string();
    }
    let mut parts = vec![a.account.clone()];
    if let Value::Object(m) = v {
        for (k, v) in m {
            match (k.as_str(), &v) {
                ("account", _) => {}
                ("has_key", Value::Bool(b)) => parts.push(format!("key={}", set_word(*b))),
                ("has_password", Value::Bool(b)) => {
                    parts.push(format!("password={}", set_word(*b)));
                }
                (_, Value::String(s)) => parts.push(format!("{k}={s}")),
                _ => parts.push(format!("{k}={v}")),
            }
        }
    }
    parts.join(" ")
}

fn set_word(b: bool) -> &'static str {
    if b {
        "set"
    } else {
        "not-set"
    }
}

/// Run an `account` command against the daemon.
pub(super) async fn run(opts: &ClientOpts, ch: Ch, cmd: AccountCmd) -> Result<ExitCode, String> {
    let mut c = AlarmHubClient::new(ch);
    // A refusal of the request itself (bad settings, no such account) exits 1, like a
    // control command that did not succeed; transport and permission problems exit 2.
    let done = |r: Result<tonic::Response<pb::Account>, tonic::Status>, what: &str| match r {
        Ok(a) => {
            emit(&line(a.get_ref(), opts.json));
            Ok(ExitCode::SUCCESS)
        }
        Err(s) if refused(&s) => {
            eprintln!("alarmhub: {what}: {}", s.message());
            Ok(ExitCode::from(1))
        }
        Err(s) => Err(status_err(what, s)),
    };
    match cmd {
        AccountCmd::Add { account, fields } => {
            let settings_json = fields.to_json()?;
            let r = c
                .put_account(pb::PutAccountRequest {
                    account,
                    settings_json,
                    create: true,
                })
                .await;
            done(r, "PutAccount")
        }
        AccountCmd::Set { account, fields } => {
            let settings_json = fields.to_json()?;
            let r = c
                .put_account(pb::PutAccountRequest {
                    account,
                    settings_json,
                    create: false,
                })
                .await;
            done(r, "PutAccount")
        }
        AccountCmd::Adopt { account, fields } => {
            let unknown = c
                .get_machine(pb::GetMachineRequest {
                    account: account.clone(),
                })
                .await
                .map(|m| m.get_ref().unknown_account);
            match unknown {
                Ok(true) => {}
                Ok(false) | Err(_) => {
                    eprintln!(
                        "alarmhub: {account} is not a panel shown as unknown (see `alarmhub machines`); use `alarmhub account add` for a new account"
                    );
                    return Ok(ExitCode::from(1));
                }
            }
            let settings_json = fields.to_json()?;
            let r = c
                .put_account(pb::PutAccountRequest {
                    account,
                    settings_json,
                    create: true,
                })
                .await;
            done(r, "PutAccount")
        }
        AccountCmd::Show { account } => {
            let r = c.get_account(pb::GetAccountRequest { account }).await;
            done(r, "GetAccount")
        }
        AccountCmd::Remove { account } => {
            match c
                .remove_account(pb::RemoveAccountRequest {
                    account: account.clone(),
                })
                .await
            {
                Ok(_) => {
                    if !opts.json {
                        emit(&format!("{account} removed"));
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(s) if refused(&s) => {
                    eprintln!("alarmhub: RemoveAccount: {}", s.message());
                    Ok(ExitCode::from(1))
                }
                Err(s) => Err(status_err("RemoveAccount", s)),
            }
        }
        AccountCmd::List => {
            let r = c
                .list_accounts(pb::ListAccountsRequest {})
                .await
                .map_err(|s| status_err("ListAccounts", s))?;
            for a in &r.get_ref().accounts {
                emit(&line(a, opts.json));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn refused(s: &tonic::Status) -> bool {
    matches!(
        s.code(),
        tonic::Code::InvalidArgument | tonic::Code::NotFound | tonic::Code::AlreadyExists
    )
}
