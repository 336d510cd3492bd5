//! [`SqliteAuthStore`]: tokens, users and the audit trail in the event database
//! (`<data dir>/alarmhub.db`), in tables of their own with their own schema version
//! (`meta.auth_schema_version`). Short transactions and a busy timeout let it share the file
//! with the event writer thread and with the CLI.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use super::role::Role;
use super::secret::{hash_from_hex, hash_hex};
use super::store::{AuthStore, AuthStoreError, TokenRow, UserRow};

/// Auth schema version this build writes and understands.
const AUTH_SCHEMA_VERSION: i64 = 2;
/// Waits for the event writer's lock at most this long.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest page of audit rows.
pub const MAX_AUDIT_PAGE: usize = 1000;

const DDL: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS auth_tokens (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    hash          TEXT NOT NULL UNIQUE,
    created_at_ms INTEGER NOT NULL,
    last_used_ms  INTEGER
);
CREATE TABLE IF NOT EXISTS auth_users (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    last_login_ms INTEGER
);
CREATE TABLE IF NOT EXISTS audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms   INTEGER NOT NULL,
    who     TEXT NOT NULL,
    role    TEXT NOT NULL,
    kind    TEXT NOT NULL,
    addr    TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_at ON audit(at_ms);
CREATE INDEX IF NOT EXISTS audit_who ON audit(who, id);
INSERT OR IGNORE INTO meta(key, value) VALUES ('auth_generation', 0);
";

/// Tokens, users and audit rows on SQLite.
#[derive(Debug)]
pub struct SqliteAuthStore {
    conn: Connection,
    path: PathBuf,
}

impl SqliteAuthStore {
    /// Open (creating the directory `0700`, the file `0600` and the tables as needed) the
    /// database in `dir`.
    pub fn open(dir: &Path) -> Result<SqliteAuthStore, AuthStoreError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |e| AuthStoreError::Io {
                path,
                source: Arc::new(e),
            }
        };
        super::fsperm::create_private_dir(dir).map_err(io(dir))?;
        let path = dir.join(crate::store::DB_FILE);
        super::fsperm::private_db_files(&path).map_err(io(&path))?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags).map_err(sq("open", &path))?;
        let mut s = SqliteAuthStore { conn, path };
        s.conn.busy_timeout(BUSY_TIMEOUT).map_err(s.err("open"))?;
        // WAL is what the event store uses; setting it here too means a database the CLI
        // created first is already in the mode the daemon expects.
        let _: String = s
            .conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(s.err("set pragmas"))?;
        s.conn
            .pragma_update(None, "synchronous", "FULL")
            .map_err(s.err("set pragmas"))?;
        s.migrate()?;
        Ok(s)
    }

    fn err(&self, op: &'static str) -> impl Fn(rusqlite::Error) -> AuthStoreError + '_ {
        sq(op, &self.path)
    }

    fn migrate(&mut self) -> Result<(), AuthStoreError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sq("create auth tables", &path))?;
        tx.execute_batch(DDL)
            .map_err(sq("create auth tables", &path))?;
        let found: Option<i64> = tx
            .query_row(
                "SELECT value FROM meta WHERE key = 'auth_schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(sq("read auth schema version", &path))?;
        match found {
            Some(v) if v > AUTH_SCHEMA_VERSION => {
                return Err(AuthStoreError::SchemaVersion {
                    path,
                    found: v,
                    supported: AUTH_SCHEMA_VERSION,
                })
            }
            Some(v) if v == AUTH_SCHEMA_VERSION => {}
            _ => {
                // Version 1 (or a new file): token expiry, disabled users, console sessions.
                tx.execute_batch(console::DDL_V2)
                    .map_err(sq("upgrade auth tables to version 2", &path))?;
                tx.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES ('auth_schema_version', ?1)",
                    [AUTH_SCHEMA_VERSION],
                )
                .map_err(sq("create auth tables", &path))?;
            }
        }
        tx.commit().map_err(sq("create auth tables", &path))
    }

    /// Run `f` in an immediate transaction that also bumps the generation.
    fn change<T>(
        &mut self,
        op: &'static str,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, AuthStoreError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sq(op, &path))?;
        let out = f(&tx).map_err(sq(op, &path))?;
        tx.execute(
            "UPDATE meta SET value = value + 1 WHERE key = 'auth_generation'",
            [],
        )
        .map_err(sq(op, &path))?;
        tx.commit().map_err(sq(op, &path))?;
        Ok(out)
    }

    fn role(&self, s: &str) -> Result<Role, AuthStoreError> {
        s.parse().map_err(|what| AuthStoreError::BadRow {
            path: self.path.clone(),
            what,
        })
    }

    fn exists_or(&self, what: &'static str, name: &str, e: AuthStoreError) -> AuthStoreError {
        let unique = matches!(&e, AuthStoreError::Sqlite { source, .. }
            if source.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation));
        if unique {
            AuthStoreError::Exists {
                what,
                name: name.to_string(),
            }
        } else {
            e
        }
    }
}

fn sq(op: &'static str, path: &Path) -> impl Fn(rusqlite::Error) -> AuthStoreError {
    let path = path.to_path_buf();
    move |e| AuthStoreError::Sqlite {
        op,
        path: path.clone(),
        source: Arc::new(e),
    }
}

impl AuthStore for SqliteAuthStore {
    fn generation(&self) -> Result<i64, AuthStoreError> {
        self.conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'auth_generation'",
                [],
                |r| r.get(0),
            )
            .map_err(self.err("read auth generation"))
    }

    fn load(&self) -> Result<(Vec<TokenRow>, Vec<UserRow>), AuthStoreError> {
        let e = self.err("load tokens and users");
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT name, role, hash, created_at_ms, last_used_ms, expires_at_ms \
                 FROM auth_tokens ORDER BY name",
            )
            .map_err(&e)?;
        type Raw = (String, String, String, i64, Option<i64>, Option<i64>);
        let raw: Vec<Raw> = st
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .map_err(&e)?
            .collect::<Result<_, _>>()
            .map_err(&e)?;
        let mut tokens = Vec::with_capacity(raw.len());
        for (name, role, hash, created_at_ms, last_used_ms, expires_at_ms) in raw {
            let hash = hash_from_hex(&hash).ok_or_else(|| AuthStoreError::BadRow {
                path: self.path.clone(),
                what: format!("token {name:?}: stored hash is not 64 hex digits"),
            })?;
            tokens.push(TokenRow {
                role: self.role(&role)?,
                name,
                hash,
                created_at_ms,
                last_used_ms,
                expires_at_ms,
            });
        }
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT name, role, password_hash, created_at_ms, last_login_ms, disabled \
                 FROM auth_users ORDER BY name",
            )
            .map_err(&e)?;
        type RawUser = (String, String, String, i64, Option<i64>, bool);
        let raw: Vec<RawUser> = st
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .map_err(&e)?
            .collect::<Result<_, _>>()
            .map_err(&e)?;
        let mut users = Vec::with_capacity(raw.len());
        for (name, role, password_hash, created_at_ms, last_login_ms, disabled) in raw {
            users.push(UserRow {
                role: self.role(&role)?,
                name,
                password_hash,
                created_at_ms,
                last_login_ms,
                disabled,
            });
        }
        Ok((tokens, users))
    }

    fn create_token(&mut self, row: &TokenRow) -> Result<(), AuthStoreError> {
        let r = self.change("create token", |tx| {
            tx.execute(
                "INSERT INTO auth_tokens(name, role, hash, created_at_ms, expires_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    row.name,
                    row.role.as_str(),
                    hash_hex(&row.hash),
                    row.created_at_ms,
                    row.expires_at_ms
                ],
            )
        });
        r.map(|_| ())
            .map_err(|e| self.exists_or("token", &row.name, e))
    }

    fn revoke_token(&mut self, name: &str) -> Result<bool, AuthStoreError> {
        self.change("revoke token", |tx| {
            tx.execute("DELETE FROM auth_tokens WHERE name = ?1", [name])
        })
        .map(|n| n > 0)
    }

    fn touch_tokens(&mut self, used: &[(String, i64)]) -> Result<(), AuthStoreError> {
        // Not a credential change: no generation bump (the cache keeps its own times).
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(sq("touch tokens", &path))?;
        for (name, at) in used {
            tx.execute(
                "UPDATE auth_tokens SET last_used_ms = max(coalesce(last_used_ms, 0), ?2) WHERE name = ?1",
                params![name, at],
            )
            .map_err(sq("touch tokens", &path))?;
        }
        tx.commit().map_err(sq("touch tokens", &path))
    }

    fn add_user(&mut self, row: &UserRow) -> Result<(), AuthStoreError> {
        let r =
            self.change("add user", |tx| {
                tx.execute(
                "INSERT INTO auth_users(name, role, password_hash, created_at_ms, updated_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?4)",
                params![row.name, row.role.as_str(), row.password_hash, row.created_at_ms],
            )
            });
        r.map(|_| ())
            .map_err(|e| self.exists_or("user", &row.name, e))
    }

    fn set_password(
        &mut self,
        name: &str,
        password_hash: &str,
        now_ms: i64,
    ) -> Result<bool, AuthStoreError> {
        self.change("change password", |tx| {
            tx.execute(
                "UPDATE auth_users SET password_hash = ?2, updated_at_ms = ?3 WHERE name = ?1",
                params![name, password_hash, now_ms],
            )
        })
        .map(|n| n > 0)
    }

    fn set_role(&mut self, name: &str, role: Role, now_ms: i64) -> Result<bool, AuthStoreError> {
        self.update_user_role(name, role, now_ms)
    }

    fn set_disabled(
        &mut self,
        name: &str,
        disabled: bool,
        now_ms: i64,
    ) -> Result<bool, AuthStoreError> {
        self.update_user_disabled(name, disabled, now_ms)
    }

    fn remove_user(&mut self, name: &str) -> Result<bool, AuthStoreError> {
        self.change("remove user", |tx| {
            tx.execute("DELETE FROM auth_sessions WHERE name = ?1", [name])?;
            tx.execute("DELETE FROM auth_users WHERE name = ?1", [name])
        })
        .map(|n| n > 0)
    }

    fn record_login(&mut self, name: &str, now_ms: i64) -> Result<(), AuthStoreError> {
        self.conn
            .execute(
                "UPDATE auth_users SET last_login_ms = ?2 WHERE name = ?1",
                params![name, now_ms],
            )
            .map(|_| ())
            .map_err(self.err("record login"))
    }
}

#[path = "sqlite_audit.rs"]
mod audit;

#[path = "sqlite_console.rs"]
mod console;
