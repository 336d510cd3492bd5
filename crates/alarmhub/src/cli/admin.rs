//! `alarmhub token …`, `alarmhub user …` and `alarmhub audit`: credentials and the audit
//! trail, worked on the data directory directly — whether the daemon runs or not (a running
//! daemon picks changes up within a second). Every change is itself audited, as
//! `cli:<os user>`.
//!
//! `token list`, `user list` and `audit` print times in the local zone (`--utc`: UTC), and
//! `audit --since` reads dates in it, like the client commands (`output::use_zone`).
//!
//! Exit status: 0 done, 1 nothing to do (no such token or user, name taken), 2 usage errors
//! and an unusable data directory.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::opts::UtcArg;
use crate::auth::admin::{self as ops, Actor, AdminError};
use crate::auth::{AuditQuery, AuthBackend, Role, Sensitive};

/// Where the data directory is.
#[derive(Args, Debug, Clone)]
pub struct DataDirArgs {
    /// Data directory of the daemon [default: [store] data_dir of --config, else ./alarmhub-data].
    // clap prints the doc line above verbatim as the --help text; it is not rustdoc markup.
    #[allow(rustdoc::broken_intra_doc_links)]
    #[arg(long, env = "ALARMHUB_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Read the data directory (and `[store] url`) from this configuration file.
    #[arg(long, env = "ALARMHUB_CONFIG")]
    pub config: Option<PathBuf>,
    /// The cluster's shared PostgreSQL store, postgres://USER@HOST/DB (as for `serve`).
    #[arg(long, env = "ALARMHUB_STORE", hide_env_values = true)]
    pub store: Option<String>,
}

/// `alarmhub token …`
#[derive(Subcommand, Debug, Clone)]
pub enum TokenCmd {
    /// Create an API token; it is printed once, on the last line, and only its hash is kept.
    Create {
        /// Unique name (letters, digits, . _ - @), shown in the audit trail.
        #[arg(long)]
        name: String,
        /// viewer, operator, admin or integration.
        #[arg(long)]
        role: Role,
        /// Refuse the token after this long: 30m, 12h, 90d [default: never].
        #[arg(long)]
        expires: Option<String>,
        #[command(flatten)]
        dir: DataDirArgs,
    },
    /// List tokens: name, role, created, last used, expiry (never the token).
    List {
        #[command(flatten)]
        utc: UtcArg,
        #[command(flatten)]
        dir: DataDirArgs,
    },
    /// Revoke a token (a running daemon refuses it within 2 seconds).
    Revoke {
        /// The token's name.
        name: String,
        #[command(flatten)]
        dir: DataDirArgs,
    },
}

/// `alarmhub user …`
#[derive(Subcommand, Debug, Clone)]
pub enum UserCmd {
    /// Add a user (for the operator console); the password is asked for, or read from stdin.
    Add {
        /// Unique name.
        name: String,
        /// viewer, operator, admin or integration.
        #[arg(long)]
        role: Role,
        /// Read the password from the first line of standard input instead of a prompt.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        dir: DataDirArgs,
    },
    /// Change a user's password.
    Passwd {
        /// The user.
        name: String,
        /// Read the password from the first line of standard input instead of a prompt.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        dir: DataDirArgs,
    },
    /// List users: name, role, created, last login, disabled.
    List {
        #[command(flatten)]
        utc: UtcArg,
        #[command(flatten)]
        dir: DataDirArgs,
    },
    /// Give a user another role (its console sessions take it at once).
    Role {
        /// The user.
        name: String,
        /// viewer, operator, admin or integration.
        #[arg(long)]
        role: Role,
        #[command(flatten)]
        dir: DataDirArgs,
    },
    /// Disable a user: it cannot log in and its console sessions end.
    Disable {
        /// The user.
        name: String,
        #[command(flatten)]
        dir: DataDirArgs,
    },
    /// Enable a disabled user again.
    Enable {
        /// The user.
        name: String,
        #[command(flatten)]
        dir: DataDirArgs,
    },
    /// Remove a user.
    Remove {
        /// The user.
        name: String,
        #[command(flatten)]
        dir: DataDirArgs,
    },
}

/// `alarmhub audit`
#[derive(Args, Debug, Clone)]
pub struct AuditArgs {
    /// Only rows at or after TIME: `30m`, `12h`, `7d` ago, `2026-01-31` or `2026-01-31 08:00`
    /// (local time; UTC with --utc), `2026-01-31T08:00:00Z` or `…+08:00` (that instant).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only rows by this token or user name.
    #[arg(long)]
    pub who: Option<String>,
    /// At most this many rows (newest first).
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    #[command(flatten)]
    pub utc: UtcArg,
    #[command(flatten)]
    pub dir: DataDirArgs,
}

/// The data directory the arguments name.
pub(crate) fn data_dir(a: &DataDirArgs) -> Result<PathBuf, String> {
    store_config(a).map(|s| s.data_dir)
}

/// The `[store]` the arguments name: `--config`'s, then `--data-dir` and `--store` over it.
pub(crate) fn store_config(a: &DataDirArgs) -> Result<crate::config::StoreConfig, String> {
    let mut store = match &a.config {
        Some(c) => crate::config::Config::load(c)
            .map(|c| c.store)
            .map_err(|e| e.to_string())?,
        None => crate::config::StoreConfig::default(),
    };
    if let Some(d) = &a.data_dir {
        store.data_dir = d.clone();
    }
    if let Some(url) = &a.store {
        if !crate::store::is_postgres_url(url) {
            return Err(format!(
                "--store {:?} is not a PostgreSQL URL (write postgres://USER@HOST/DB)",
                crate::store::postgres::describe_url(url)
            ));
        }
        store.url = Some(url.clone());
    }
    Ok(store)
}

/// Tokens, users and the audit trail where the arguments say (PostgreSQL with `--store`).
pub(crate) fn open(a: &DataDirArgs) -> Result<Box<dyn AuthBackend>, String> {
    let store = store_config(a)?;
    crate::auth::open_backend(&store).map_err(|e| match &store.url {
        Some(_) => e.to_string(),
        None => format!("data directory {}: {e}", store.data_dir.display()),
    })
}

pub(crate) fn record(
    s: &mut dyn AuthBackend,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) {
    let row = Actor::cli().row(action, target, "ok", detail);
    if let Err(e) = s.append_audit(&[row]) {
        eprintln!("alarmhub: warning: could not write the audit row: {e}");
    }
}

fn finish(r: Result<ExitCode, String>) -> ExitCode {
    r.unwrap_or_else(|e| {
        eprintln!("alarmhub: {e}");
        ExitCode::from(2)
    })
}

/// A refused change: exit 1 when there is nothing to do (name taken, no such user or
/// token), 2 for bad input or an unusable store.
fn refused(e: AdminError) -> Result<ExitCode, String> {
    match e {
        AdminError::Exists { .. } | AdminError::NotFound { .. } => {
            eprintln!("alarmhub: {e}");
            Ok(ExitCode::from(1))
        }
        e => Err(e.to_string()),
    }
}

/// Run one change on the store `dir` names, printing `done` on success.
fn change(
    dir: &DataDirArgs,
    f: impl FnOnce(&mut dyn AuthBackend) -> Result<(), AdminError>,
    done: String,
) -> Result<ExitCode, String> {
    let mut s = open(dir)?;
    match f(s.as_mut()) {
        Ok(()) => {
            eprintln!("{done}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => refused(e),
    }
}

fn time(ms: Option<i64>) -> String {
    ms.map_or_else(|| "never".into(), super::output::time_ms)
}

/// Run `alarmhub token …`.
/// `json`: one JSON object per line (the global `--json`).
pub fn token(cmd: TokenCmd, json: bool) -> ExitCode {
    finish(match cmd {
        TokenCmd::Create { name, role, expires, dir } => token_create(&name, role, expires.as_deref(), &dir),
        TokenCmd::List { utc, dir } => open(&dir).and_then(|s| {
            super::output::use_zone(utc.utc);
            let (tokens, _) = s.load().map_err(|e| e.to_string())?;
            for t in tokens {
                super::emit(&if json {
                    serde_json::json!({ "name": t.name, "role": t.role.as_str(), "created_at_ms": t.created_at_ms, "last_used_ms": t.last_used_ms, "expires_at_ms": t.expires_at_ms }).to_string()
                } else {
                    format!("{:<24} {:<12} created {} last used {} expires {}", t.name, t.role, time(Some(t.created_at_ms)), time(t.last_used_ms), time(t.expires_at_ms))
                });
            }
            Ok(ExitCode::SUCCESS)
        }),
        TokenCmd::Revoke { name, dir } => change(&dir, |s| ops::revoke_token(s, &Actor::cli(), &name), format!("token {name:?} revoked")),
    })
}

fn token_create(
    name: &str,
    role: Role,
    expires: Option<&str>,
    dir: &DataDirArgs,
) -> Result<ExitCode, String> {
    let now = crate::clock::now_ms();
    let expires_at_ms = expires
        .map(|e| ops::expiry_after(e, now).map_err(|e| format!("--expires: {e}")))
        .transpose()?;
    let mut s = open(dir)?;
    let token = match ops::create_token(s.as_mut(), &Actor::cli(), name, role, expires_at_ms) {
        Ok(t) => t,
        Err(e) => return refused(e),
    };
    eprintln!("token {name:?} ({role}) created; it is shown once, keep it secret:");
    super::emit(token.expose());
    Ok(ExitCode::SUCCESS)
}

/// Read a new password: the first line of stdin, or twice from the terminal.
fn read_password(from_stdin: bool) -> Result<Sensitive, String> {
    let pw = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("reading the password from stdin: {e}"))?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        let a = rpassword::prompt_password("Password: ").map_err(|e| {
            format!("reading the password (use --password-stdin without a terminal): {e}")
        })?;
        let b = rpassword::prompt_password("Again: ")
            .map_err(|e| format!("reading the password: {e}"))?;
        if a != b {
            return Err("the passwords differ".into());
        }
        a
    };
    Ok(Sensitive::new(pw))
}

/// Run `alarmhub user …`.
/// `json`: one JSON object per line (the global `--json`).
pub fn user(cmd: UserCmd, json: bool) -> ExitCode {
    let hashed = |from_stdin: bool| -> Result<String, String> {
        ops::new_password_hash(&read_password(from_stdin)?).map_err(|e| e.to_string())
    };
    finish(match cmd {
        UserCmd::Add { name, role, password_stdin, dir } => (|| {
            crate::auth::secret::check_name("user", &name)?;
            let hash = hashed(password_stdin)?;
            change(&dir, |s| ops::add_user(s, &Actor::cli(), &name, role, hash), format!("user {name:?} ({role}) added"))
        })(),
        UserCmd::Passwd { name, password_stdin, dir } => hashed(password_stdin).and_then(|hash| {
            change(&dir, |s| ops::set_password(s, &Actor::cli(), &name, &hash), format!("password of {name:?} changed"))
        }),
        UserCmd::List { utc, dir } => open(&dir).and_then(|s| {
            super::output::use_zone(utc.utc);
            let (_, users) = s.load().map_err(|e| e.to_string())?;
            for u in users {
                super::emit(&if json {
                    serde_json::json!({ "name": u.name, "role": u.role.as_str(), "created_at_ms": u.created_at_ms, "last_login_ms": u.last_login_ms, "disabled": u.disabled }).to_string()
                } else {
                    format!("{:<24} {:<12} created {} last login {}{}", u.name, u.role, time(Some(u.created_at_ms)), time(u.last_login_ms), if u.disabled { " (disabled)" } else { "" })
                });
            }
            Ok(ExitCode::SUCCESS)
        }),
        UserCmd::Role { name, role, dir } => change(&dir, |s| ops::set_role(s, &Actor::cli(), &name, role), format!("user {name:?} is now {role}")),
        UserCmd::Disable { name, dir } => change(&dir, |s| ops::set_disabled(s, &Actor::cli(), &name, true), format!("user {name:?} disabled")),
        UserCmd::Enable { name, dir } => change(&dir, |s| ops::set_disabled(s, &Actor::cli(), &name, false), format!("user {name:?} enabled")),
        UserCmd::Remove { name, dir } => change(&dir, |s| ops::remove_user(s, &Actor::cli(), &name), format!("user {name:?} removed")),
    })
}

/// Run `alarmhub audit`.
/// `json`: one JSON object per line (the global `--json`).
pub fn audit(a: AuditArgs, json: bool) -> ExitCode {
    finish((|| {
        super::output::use_zone(a.utc.utc);
        let zone = super::output::zone();
        let now = crate::clock::now_ms();
        let since_ms = a
            .since
            .as_deref()
            .map(|s| super::events::parse_time("--since", s, now, &zone))
            .transpose()?;
        let s = open(&a.dir)?;
        let q = AuditQuery {
            since_ms,
            who: a.who.clone(),
            before_id: None,
            target: None,
            limit: a.limit.max(1),
        };
        let rows = s.query_audit(&q).map_err(|e| e.to_string())?;
        for r in rows {
            super::emit(&if json {
                serde_json::to_string(&r).map_err(|e| e.to_string())?
            } else {
                format!(
                    "{} {:<20} {:<11} {:<9} {:<21} {:<40} {:<14} {}",
                    super::output::time_ms(r.at_ms),
                    r.who,
                    r.role,
                    r.kind,
                    r.addr,
                    r.action,
                    r.target,
                    r.outcome
                )
            });
        }
        let _ = std::io::stdout().flush();
        Ok(ExitCode::SUCCESS)
    })())
}
