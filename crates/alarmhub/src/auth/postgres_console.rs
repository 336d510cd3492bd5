//! Console sessions on [`PgAuthStore`] (table `ah_console_sessions`, migration 9): every
//! node of a cluster accepts a session another node started, and logout on one ends it on
//! all.

use tokio_postgres::Client;

use super::PgAuthStore;
use crate::auth::secret::{hash_from_hex, hash_hex, TokenHash};
use crate::auth::store::{AuthStoreError, SessionRow, SessionStore};

impl SessionStore for PgAuthStore {
    fn create_session(
        &mut self,
        row: &SessionRow,
        expired_before_ms: i64,
        max: usize,
    ) -> Result<(), AuthStoreError> {
        let keep = i64::try_from(max.saturating_sub(1)).unwrap_or(i64::MAX);
        let hash = hash_hex(&row.id_hash);
        let op = "create a console session";
        let mut conn = self.conn(op)?;
        let (rt, client): (_, &mut Client) = (&self.rt, &mut conn);
        let r = super::run_on(rt, async move {
            let tx = client.transaction().await?;
            tx.execute(
                "DELETE FROM ah_console_sessions WHERE last_seen_ms < $1",
                &[&expired_before_ms],
            )
            .await?;
            tx.execute(
                "DELETE FROM ah_console_sessions WHERE id_hash IN (SELECT id_hash \
                 FROM ah_console_sessions ORDER BY last_seen_ms DESC OFFSET $1)",
                &[&keep],
            )
            .await?;
            tx.execute(
                "INSERT INTO ah_console_sessions (id_hash, name, created_at_ms, last_seen_ms) \
                 VALUES ($1, $2, $3, $4)",
                &[&hash, &row.name, &row.created_at_ms, &row.last_seen_ms],
            )
            .await?;
            tx.commit().await
        });
        r.map_err(self.err(op))
    }

    fn session(&self, id_hash: &TokenHash) -> Result<Option<SessionRow>, AuthStoreError> {
        let conn = self.conn("read a console session")?;
        let client: &Client = &conn;
        let hash = hash_hex(id_hash);
        let row = self
            .block(client.query_opt(
                "SELECT id_hash, name, created_at_ms, last_seen_ms FROM ah_console_sessions \
                 WHERE id_hash = $1",
                &[&hash],
            ))
            .map_err(self.err("read a console session"))?;
        Ok(row.and_then(|r| {
            Some(SessionRow {
                id_hash: hash_from_hex(r.get(0))?,
                name: r.get(1),
                created_at_ms: r.get(2),
                last_seen_ms: r.get(3),
            })
        }))
    }

    fn touch_session(&mut self, id_hash: &TokenHash, now_ms: i64) -> Result<(), AuthStoreError> {
        let conn = self.conn("touch a console session")?;
        let client: &Client = &conn;
        let hash = hash_hex(id_hash);
        self.block(client.execute(
            "UPDATE ah_console_sessions SET last_seen_ms = GREATEST(last_seen_ms, $2) \
             WHERE id_hash = $1",
            &[&hash, &now_ms],
        ))
        .map(|_| ())
        .map_err(self.err("touch a console session"))
    }

    fn remove_session(&mut self, id_hash: &TokenHash) -> Result<bool, AuthStoreError> {
        let conn = self.conn("end a console session")?;
        let client: &Client = &conn;
        let hash = hash_hex(id_hash);
        self.block(client.execute(
            "DELETE FROM ah_console_sessions WHERE id_hash = $1",
            &[&hash],
        ))
        .map(|n| n > 0)
        .map_err(self.err("end a console session"))
    }
}
