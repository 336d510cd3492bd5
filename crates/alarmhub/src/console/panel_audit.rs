//! `GET /console/api/panels/{account}/audit`: the panel page's audit — the audit log's rows
//! about that account (arm / disarm / control commands with their actor and the host's
//! outcome, account changes), newest first. Anyone who may read the panel sees them (the
//! panel's history already shows its commands and who sent them); the client address,
//! which the full audit page (admins) shows, is left out here.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::api::Answer;
use super::{ConsoleError, ConsoleState};
use crate::auth::AuditQuery;

/// Rows a page shows at most.
const MAX_ROWS: usize = 200;

/// Query: how many rows (default 50) and paging by row id.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PanelAuditQuery {
    limit: usize,
    before_id: Option<i64>,
}

/// The handler.
pub async fn list(
    State(c): State<ConsoleState>,
    Path(account): Path<String>,
    Query(q): Query<PanelAuditQuery>,
) -> Answer {
    let store = c.auth.backend().ok_or_else(|| {
        ConsoleError::new(StatusCode::SERVICE_UNAVAILABLE, "this process has no store")
    })?;
    let aq = AuditQuery {
        target: Some(account.trim().to_string()),
        before_id: q.before_id,
        limit: aq_limit(q.limit),
        ..AuditQuery::default()
    };
    let rows = tokio::task::spawn_blocking(move || {
        store
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .query_audit(&aq)
    })
    .await
    .map_err(|e| ConsoleError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(|e| ConsoleError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    let next = (rows.len() == aq_limit(q.limit)).then(|| rows.last().map(|r| r.id));
    Ok(Json(json!({
        "entries": rows.iter().map(|r| json!({
            "id": r.id,
            "at_ms": r.at_ms,
            "who": r.who,
            "role": r.role,
            "kind": r.kind,
            "action": short_action(&r.action),
            "outcome": r.outcome,
            "detail": serde_json::from_str::<serde_json::Value>(&r.detail).unwrap_or(serde_json::Value::Null),
        })).collect::<Vec<_>>(),
        "next_before_id": next.flatten(),
    })))
}

fn aq_limit(limit: usize) -> usize {
    match limit {
        0 => 50,
        n => n.min(MAX_ROWS),
    }
}

/// `/alarmhub.v1.AlarmHub/Control` → `Control`; other actions as they are.
fn short_action(a: &str) -> &str {
    a.strip_prefix("/alarmhub.v1.AlarmHub/").unwrap_or(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_paths_are_shortened_to_the_method() {
        assert_eq!(short_action("/alarmhub.v1.AlarmHub/Control"), "Control");
        assert_eq!(short_action("token.create"), "token.create");
        assert_eq!(aq_limit(0), 50);
        assert_eq!(aq_limit(10_000), MAX_ROWS);
    }
}
