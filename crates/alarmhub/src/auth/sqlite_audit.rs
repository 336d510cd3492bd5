//! The audit trail on [`SqliteAuthStore`]: rows appended in one transaction, read newest
//! first with optional filters (time, who, target) and paging by row id.

use rusqlite::params;

use super::{sq, SqliteAuthStore, MAX_AUDIT_PAGE};
use crate::auth::store::{AuditLog, AuditQuery, AuditRecord, AuthStoreError};

impl AuditLog for SqliteAuthStore {
    fn append_audit(&mut self, rows: &[AuditRecord]) -> Result<(), AuthStoreError> {
        let path = self.path.clone();
        let e = sq("append audit rows", &path);
        let tx = self.conn.transaction().map_err(&e)?;
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO audit(at_ms, who, role, kind, addr, action, target, outcome, detail) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(&e)?;
            for r in rows {
                st.execute(params![
                    r.at_ms, r.who, r.role, r.kind, r.addr, r.action, r.target, r.outcome, r.detail
                ])
                .map_err(&e)?;
            }
        }
        tx.commit().map_err(&e)
    }

    fn query_audit(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, AuthStoreError> {
        let e = self.err("read audit rows");
        let limit = match q.limit {
            0 => 100,
            n => n.min(MAX_AUDIT_PAGE),
        };
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT id, at_ms, who, role, kind, addr, action, target, outcome, detail FROM audit \
                 WHERE (?1 IS NULL OR at_ms >= ?1) AND (?2 IS NULL OR who = ?2) \
                   AND (?3 IS NULL OR id < ?3) AND (?5 IS NULL OR target = ?5) \
                 ORDER BY id DESC LIMIT ?4",
            )
            .map_err(&e)?;
        let rows = st
            .query_map(
                params![q.since_ms, q.who, q.before_id, limit as i64, q.target],
                |r| {
                    Ok(AuditRecord {
                        id: r.get(0)?,
                        at_ms: r.get(1)?,
                        who: r.get(2)?,
                        role: r.get(3)?,
                        kind: r.get(4)?,
                        addr: r.get(5)?,
                        action: r.get(6)?,
                        target: r.get(7)?,
                        outcome: r.get(8)?,
                        detail: r.get(9)?,
                    })
                },
            )
            .map_err(&e)?;
        rows.collect::<Result<_, _>>().map_err(&e)
    }
}
