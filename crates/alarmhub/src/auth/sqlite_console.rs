//! What the console added to [`SqliteAuthStore`] (auth schema version 2): token expiry,
//! disabled users and role changes, console sessions (table `auth_sessions`, keyed by
//! the SHA-256 of the cookie value), and an index of audit rows by target (the panel page).

use rusqlite::{params, OptionalExtension};

use super::{sq, SqliteAuthStore};
use crate::auth::role::Role;
use crate::auth::secret::{hash_from_hex, hash_hex, TokenHash};
use crate::auth::store::{AuthStoreError, SessionRow, SessionStore};

/// Version 1 → 2.
pub(super) const DDL_V2: &str = "
ALTER TABLE auth_tokens ADD COLUMN expires_at_ms INTEGER;
ALTER TABLE auth_users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS auth_sessions (
    id_hash       TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    last_seen_ms  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS auth_sessions_seen ON auth_sessions(last_seen_ms);
CREATE INDEX IF NOT EXISTS auth_sessions_name ON auth_sessions(name);
CREATE INDEX IF NOT EXISTS audit_target ON audit(target, id);
";

impl SqliteAuthStore {
    pub(super) fn update_user_role(
        &mut self,
        name: &str,
        role: Role,
        now_ms: i64,
    ) -> Result<bool, AuthStoreError> {
        self.change("change role", |tx| {
            tx.execute(
                "UPDATE auth_users SET role = ?2, updated_at_ms = ?3 WHERE name = ?1",
                params![name, role.as_str(), now_ms],
            )
        })
        .map(|n| n > 0)
    }

    pub(super) fn update_user_disabled(
        &mut self,
        name: &str,
        disabled: bool,
        now_ms: i64,
    ) -> Result<bool, AuthStoreError> {
        self.change("disable or enable user", |tx| {
            if disabled {
                tx.execute("DELETE FROM auth_sessions WHERE name = ?1", [name])?;
            }
            tx.execute(
                "UPDATE auth_users SET disabled = ?2, updated_at_ms = ?3 WHERE name = ?1",
                params![name, disabled, now_ms],
            )
        })
        .map(|n| n > 0)
    }
}

impl SessionStore for SqliteAuthStore {
    fn create_session(
        &mut self,
        row: &SessionRow,
        expired_before_ms: i64,
        max: usize,
    ) -> Result<(), AuthStoreError> {
        let path = self.path.clone();
        let e = sq("create a console session", &path);
        let tx = self.conn.transaction().map_err(&e)?;
        tx.execute(
            "DELETE FROM auth_sessions WHERE last_seen_ms < ?1",
            [expired_before_ms],
        )
        .map_err(&e)?;
        tx.execute(
            "DELETE FROM auth_sessions WHERE id_hash IN (SELECT id_hash FROM auth_sessions \
             ORDER BY last_seen_ms DESC LIMIT -1 OFFSET ?1)",
            [i64::try_from(max.saturating_sub(1)).unwrap_or(i64::MAX)],
        )
        .map_err(&e)?;
        tx.execute(
            "INSERT INTO auth_sessions(id_hash, name, created_at_ms, last_seen_ms) \
             VALUES (?1, ?2, ?3, ?4)",
            params![
                hash_hex(&row.id_hash),
                row.name,
                row.created_at_ms,
                row.last_seen_ms
            ],
        )
        .map_err(&e)?;
        tx.commit().map_err(&e)
    }

    fn session(&self, id_hash: &TokenHash) -> Result<Option<SessionRow>, AuthStoreError> {
        let e = self.err("read a console session");
        let row: Option<(String, String, i64, i64)> = self
            .conn
            .prepare_cached(
                "SELECT id_hash, name, created_at_ms, last_seen_ms FROM auth_sessions \
                 WHERE id_hash = ?1",
            )
            .map_err(&e)?
            .query_row([hash_hex(id_hash)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()
            .map_err(&e)?;
        Ok(row.and_then(|(h, name, created_at_ms, last_seen_ms)| {
            Some(SessionRow {
                id_hash: hash_from_hex(&h)?,
                name,
                created_at_ms,
                last_seen_ms,
            })
        }))
    }

    fn touch_session(&mut self, id_hash: &TokenHash, now_ms: i64) -> Result<(), AuthStoreError> {
        self.conn
            .execute(
                "UPDATE auth_sessions SET last_seen_ms = max(last_seen_ms, ?2) WHERE id_hash = ?1",
                params![hash_hex(id_hash), now_ms],
            )
            .map(|_| ())
            .map_err(self.err("touch a console session"))
    }

    fn remove_session(&mut self, id_hash: &TokenHash) -> Result<bool, AuthStoreError> {
        self.conn
            .execute(
                "DELETE FROM auth_sessions WHERE id_hash = ?1",
                [hash_hex(id_hash)],
            )
            .map(|n| n > 0)
            .map_err(self.err("end a console session"))
    }
}
