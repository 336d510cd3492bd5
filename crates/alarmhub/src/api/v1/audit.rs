//! `ListAudit`: the audit trail, newest first, for admins (the permission table says who).
//! Reads through the daemon's open auth backend ([`crate::auth::Auth::query_audit`]: its
//! pooled PostgreSQL connections, or the SQLite auth database), never a connection per
//! call, and never through the event writer.

use tonic::Status;

use super::{page_size, Ctx};
use crate::auth::{AuditQuery, AuditRecord};
use crate::proto::v1 as pb;

fn parse_token(t: &str) -> Result<Option<i64>, Status> {
    if t.is_empty() {
        return Ok(None);
    }
    t.strip_prefix("a:")
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n > 0)
        .map(Some)
        .ok_or_else(|| {
            Status::invalid_argument(format!(
                "page_token {t:?} is not a ListAudit token (pass next_page_token back unchanged)"
            ))
        })
}

fn entry(r: AuditRecord) -> pb::AuditEntry {
    pb::AuditEntry {
        id: r.id,
        at_ms: r.at_ms,
        who: r.who,
        role: r.role,
        kind: r.kind,
        addr: r.addr,
        action: r.action,
        target: r.target,
        outcome: r.outcome,
        detail_json: r.detail,
    }
}

/// `ListAudit`.
pub(crate) async fn list(
    ctx: &Ctx,
    req: pb::ListAuditRequest,
) -> Result<pb::ListAuditReply, Status> {
    let limit = page_size(req.page_size)?;
    let q = AuditQuery {
        since_ms: (req.since_ms > 0).then_some(req.since_ms),
        who: (!req.who.is_empty()).then_some(req.who),
        before_id: parse_token(&req.page_token)?,
        target: None,
        // One more than asked tells whether another page exists.
        limit: limit + 1,
    };
    let mut rows = ctx
        .h
        .auth
        .query_audit(&ctx.h.config.store, q)
        .await
        .map_err(|e| Status::unavailable(format!("ListAudit: {e}")))?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_page_token = match (more, rows.last()) {
        (true, Some(r)) => format!("a:{}", r.id),
        _ => String::new(),
    };
    Ok(pb::ListAuditReply {
        entries: rows.into_iter().map(entry).collect(),
        next_page_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_bad_ones_name_the_field() {
        assert_eq!(parse_token("").unwrap(), None);
        assert_eq!(parse_token("a:12").unwrap(), Some(12));
        for bad in ["12", "a:", "a:-1", "e:4"] {
            let e = parse_token(bad).unwrap_err();
            assert_eq!(e.code(), tonic::Code::InvalidArgument);
            assert!(e.message().contains("page_token"), "{}", e.message());
        }
    }
}
