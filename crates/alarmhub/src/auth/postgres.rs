//! [`PgAuthStore`]: tokens, users and the audit trail in the shared PostgreSQL database
//! (tables `ah_auth_tokens`, `ah_auth_users`, `ah_audit`, created by the store's migrations),
//! so every node of a cluster — and the CLI pointed at the same `--store` — sees the same
//! credentials and one audit trail.
//!
//! [`AuthStore`] and [`AuditLog`] are blocking interfaces (callers use `spawn_blocking` or
//! the CLI's plain thread). The store keeps a small connection pool on a private
//! current-thread runtime (a connection that broke, e.g. across a PostgreSQL restart, is
//! replaced on the next call) and runs each call to completion on a short-lived scoped
//! thread, so a call is safe from any thread, inside a runtime or not. Calls are rare (a
//! generation poll per second, audit batches, `ListAudit`, CLI commands), so the thread per
//! call costs nothing that matters; the daemon opens the store once and reuses it.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use super::role::Role;
use super::secret::{hash_from_hex, hash_hex};
use super::sqlite::MAX_AUDIT_PAGE;
use super::store::{
    AuditLog, AuditQuery, AuditRecord, AuthStore, AuthStoreError, TokenRow, UserRow,
};

/// Tokens, users and audit rows on PostgreSQL.
pub struct PgAuthStore {
    rt: OwnRuntime,
    pool: deadpool_postgres::Pool,
    /// The database as errors name it (no password).
    name: String,
}

impl std::fmt::Debug for PgAuthStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgAuthStore")
            .field("database", &self.name)
            .finish()
    }
}

impl PgAuthStore {
    /// Connect to `url` and bring the schema up to date (the same migrations as the event
    /// store, under the same lock).
    pub fn open(url: &str) -> Result<PgAuthStore, AuthStoreError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| AuthStoreError::Io {
                path: PathBuf::from("tokio runtime"),
                source: Arc::new(e),
            })?;
        let rt = OwnRuntime(Some(rt));
        let url = url.to_owned();
        let opened = run_on(&rt, async move {
            crate::store::postgres::migrated_pool(&url).await
        });
        let (pool, name) = opened.map_err(AuthStoreError::Store)?;
        Ok(PgAuthStore { rt, pool, name })
    }

    /// A pooled connection for `op` (opened now when none is idle).
    fn conn(&self, op: &'static str) -> Result<deadpool_postgres::Object, AuthStoreError> {
        let pool = &self.pool;
        self.block(pool.get()).map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => self.err(op)(e),
            other => AuthStoreError::Store(crate::store::StoreError::PostgresPool {
                op,
                target: self.name.clone(),
                reason: other.to_string(),
            }),
        })
    }

    fn block<T: Send>(&self, f: impl Future<Output = T> + Send) -> T {
        run_on(&self.rt, f)
    }

    fn err(&self, op: &'static str) -> impl Fn(tokio_postgres::Error) -> AuthStoreError + '_ {
        move |e| AuthStoreError::Postgres {
            op,
            target: self.name.clone(),
            source: Arc::new(e),
        }
    }

    fn role(&self, s: &str) -> Result<Role, AuthStoreError> {
        s.parse().map_err(|what| AuthStoreError::BadRow {
            path: PathBuf::from(&self.name),
            what,
        })
    }

    /// Run `f` in a transaction that also bumps the generation; a unique violation is
    /// [`AuthStoreError::Exists`] for `(what, name)`.
    fn change(
        &mut self,
        op: &'static str,
        exists: Option<(&'static str, &str)>,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, AuthStoreError> {
        let mut conn = self.conn(op)?;
        let (rt, client): (_, &mut Client) = (&self.rt, &mut conn);
        let r = run_on(rt, async move {
            let tx = client.transaction().await?;
            let n = tx.execute(sql, params).await?;
            tx.execute(
                "UPDATE ah_meta SET value = value + 1 WHERE key = 'auth_generation'",
                &[],
            )
            .await?;
            tx.commit().await?;
            Ok::<_, tokio_postgres::Error>(n)
        });
        r.map_err(|e| match (exists, e.code()) {
            (Some((what, name)), Some(&SqlState::UNIQUE_VIOLATION)) => AuthStoreError::Exists {
                what,
                name: name.to_owned(),
            },
            _ => self.err(op)(e),
        })
    }
}

/// The store's private runtime; dropped without blocking, so the store may be dropped
/// anywhere (also inside another runtime's task, where a plain drop would panic).
struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl std::ops::Deref for OwnRuntime {
    type Target = tokio::runtime::Runtime;
    fn deref(&self) -> &tokio::runtime::Runtime {
        // Only `drop` takes it out.
        self.0
            .as_ref()
            .unwrap_or_else(|| unreachable!("runtime taken before drop"))
    }
}

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Drive `f` to completion on `rt` from a scoped thread (allowed inside another runtime).
fn run_on<T: Send>(rt: &tokio::runtime::Runtime, f: impl Future<Output = T> + Send) -> T {
    std::thread::scope(|s| {
        let joined = s.spawn(|| rt.block_on(f)).join();
        match joined {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

impl AuthStore for PgAuthStore {
    fn generation(&self) -> Result<i64, AuthStoreError> {
        let conn = self.conn("read auth generation")?;
        let client: &Client = &conn;
        let row = self
            .block(client.query_one(
                "SELECT value FROM ah_meta WHERE key = 'auth_generation'",
                &[],
            ))
            .map_err(self.err("read auth generation"))?;
        Ok(row.get(0))
    }

    fn load(&self) -> Result<(Vec<TokenRow>, Vec<UserRow>), AuthStoreError> {
        let conn = self.conn("load tokens and users")?;
        let client: &Client = &conn;
        let (tokens, users) = self
            .block(async move {
                let t = client
                    .query(
                        "SELECT name, role, hash, created_at_ms, last_used_ms, expires_at_ms \
                         FROM ah_auth_tokens ORDER BY name",
                        &[],
                    )
                    .await?;
                let u = client
                    .query(
                        "SELECT name, role, password_hash, created_at_ms, last_login_ms, disabled \
                         FROM ah_auth_users ORDER BY name",
                        &[],
                    )
                    .await?;
                Ok::<_, tokio_postgres::Error>((t, u))
            })
            .map_err(self.err("load tokens and users"))?;
        let mut out_tokens = Vec::with_capacity(tokens.len());
        for r in tokens {
            let name: String = r.get(0);
            let hash: String = r.get(2);
            let hash = hash_from_hex(&hash).ok_or_else(|| AuthStoreError::BadRow {
                path: PathBuf::from(&self.name),
                what: format!("token {name:?}: stored hash is not 64 hex digits"),
            })?;
            out_tokens.push(TokenRow {
                role: self.role(r.get(1))?,
                name,
                hash,
                created_at_ms: r.get(3),
                last_used_ms: r.get(4),
                expires_at_ms: r.get(5),
            });
        }
        let mut out_users = Vec::with_capacity(users.len());
        for r in users {
            out_users.push(UserRow {
                role: self.role(r.get(1))?,
                name: r.get(0),
                password_hash: r.get(2),
                created_at_ms: r.get(3),
                last_login_ms: r.get(4),
                disabled: r.get(5),
            });
        }
        Ok((out_tokens, out_users))
    }

    fn create_token(&mut self, row: &TokenRow) -> Result<(), AuthStoreError> {
        let hash = hash_hex(&row.hash);
        self.change(
            "create token",
            Some(("token", &row.name)),
            "INSERT INTO ah_auth_tokens (name, role, hash, created_at_ms, expires_at_ms) \
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &row.name,
                &row.role.as_str(),
                &hash,
                &row.created_at_ms,
                &row.expires_at_ms,
            ],
        )
        .map(|_| ())
    }

    fn revoke_token(&mut self, name: &str) -> Result<bool, AuthStoreError> {
        self.change(
            "revoke token",
            None,
            "DELETE FROM ah_auth_tokens WHERE name = $1",
            &[&name],
        )
        .map(|n| n > 0)
    }

    fn touch_tokens(&mut self, used: &[(String, i64)]) -> Result<(), AuthStoreError> {
        // Not a credential change: no generation bump.
        let (names, ats): (Vec<&str>, Vec<i64>) =
            used.iter().map(|(n, a)| (n.as_str(), *a)).unzip();
        let conn = self.conn("touch tokens")?;
        let client: &Client = &conn;
        self.block(client.execute(
            "UPDATE ah_auth_tokens t SET last_used_ms = GREATEST(COALESCE(t.last_used_ms, 0), u.at) \
             FROM UNNEST($1::text[], $2::bigint[]) AS u(name, at) WHERE t.name = u.name",
            &[&names, &ats],
        ))
        .map(|_| ())
        .map_err(self.err("touch tokens"))
    }

    fn add_user(&mut self, row: &UserRow) -> Result<(), AuthStoreError> {
        self.change(
            "add user",
            Some(("user", &row.name)),
            "INSERT INTO ah_auth_users (name, role, password_hash, created_at_ms, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $4)",
            &[
                &row.name,
                &row.role.as_str(),
                &row.password_hash,
                &row.created_at_ms,
            ],
        )
        .map(|_| ())
    }

    fn set_password(
        &mut self,
        name: &str,
        password_hash: &str,
        now_ms: i64,
    ) -> Result<bool, AuthStoreError> {
        self.change(
            "change password",
            None,
            "UPDATE ah_auth_users SET password_hash = $2, updated_at_ms = $3 WHERE name = $1",
            &[&name, &password_hash, &now_ms],
        )
        .map(|n| n > 0)
    }

    fn set_role(&mut self, name: &str, role: Role, now_ms: i64) -> Result<bool, AuthStoreError> {
        self.change(
            "change role",
            None,
            "UPDATE ah_auth_users SET role = $2, updated_at_ms = $3 WHERE name = $1",
            &[&name, &role.as_str(), &now_ms],
        )
        .map(|n| n > 0)
    }

    fn set_disabled(
        &mut self,
        name: &str,
        disabled: bool,
        now_ms: i64,
    ) -> Result<bool, AuthStoreError> {
        self.change(
            "disable or enable user",
            None,
            "WITH s AS (DELETE FROM ah_console_sessions WHERE name = $1 AND $2) \
             UPDATE ah_auth_users SET disabled = $2, updated_at_ms = $3 WHERE name = $1",
            &[&name, &disabled, &now_ms],
        )
        .map(|n| n > 0)
    }

    fn remove_user(&mut self, name: &str) -> Result<bool, AuthStoreError> {
        self.change(
            "remove user",
            None,
            "WITH s AS (DELETE FROM ah_console_sessions WHERE name = $1) \
             DELETE FROM ah_auth_users WHERE name = $1",
            &[&name],
        )
        .map(|n| n > 0)
    }

    fn record_login(&mut self, name: &str, now_ms: i64) -> Result<(), AuthStoreError> {
        let conn = self.conn("record login")?;
        let client: &Client = &conn;
        self.block(client.execute(
            "UPDATE ah_auth_users SET last_login_ms = $2 WHERE name = $1",
            &[&name, &now_ms],
        ))
        .map(|_| ())
        .map_err(self.err("record login"))
    }
}

impl AuditLog for PgAuthStore {
    fn append_audit(&mut self, rows: &[AuditRecord]) -> Result<(), AuthStoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let col = |f: fn(&AuditRecord) -> &str| rows.iter().map(f).collect::<Vec<&str>>();
        let at: Vec<i64> = rows.iter().map(|r| r.at_ms).collect();
        let (who, role, kind, addr) = (
            col(|r| &r.who),
            col(|r| &r.role),
            col(|r| &r.kind),
            col(|r| &r.addr),
        );
        let (action, target, outcome, detail) = (
            col(|r| &r.action),
            col(|r| &r.target),
            col(|r| &r.outcome),
            col(|r| &r.detail),
        );
        let conn = self.conn("append audit rows")?;
        let client: &Client = &conn;
        self.block(client.execute(
            "INSERT INTO ah_audit (at_ms, who, role, kind, addr, action, target, outcome, detail) \
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], \
             $6::text[], $7::text[], $8::text[], $9::text[])",
            &[
                &at, &who, &role, &kind, &addr, &action, &target, &outcome, &detail,
            ],
        ))
        .map(|_| ())
        .map_err(self.err("append audit rows"))
    }

    fn query_audit(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, AuthStoreError> {
        let limit = match q.limit {
            0 => 100,
            n => n.min(MAX_AUDIT_PAGE),
        } as i64;
        let conn = self.conn("read audit rows")?;
        let client: &Client = &conn;
        let rows = self
            .block(client.query(
                "SELECT id, at_ms, who, role, kind, addr, action, target, outcome, detail \
                 FROM ah_audit \
                 WHERE ($1::bigint IS NULL OR at_ms >= $1) AND ($2::text IS NULL OR who = $2) \
                   AND ($3::bigint IS NULL OR id < $3) AND ($5::text IS NULL OR target = $5) \
                 ORDER BY id DESC LIMIT $4",
                &[&q.since_ms, &q.who, &q.before_id, &limit, &q.target],
            ))
            .map_err(self.err("read audit rows"))?;
        Ok(rows
            .iter()
            .map(|r| AuditRecord {
                id: r.get(0),
                at_ms: r.get(1),
                who: r.get(2),
                role: r.get(3),
                kind: r.get(4),
                addr: r.get(5),
                action: r.get(6),
                target: r.get(7),
                outcome: r.get(8),
                detail: r.get(9),
            })
            .collect())
    }
}

#[path = "postgres_console.rs"]
mod console;
