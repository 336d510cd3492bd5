//! The console's access check, run before every console handler: the route's rule from the
//! permission table, the session from the cookie, the role on the server, and for every
//! `POST` a JSON body and the session's CSRF token. A refusal answers JSON
//! `{"error": …}` with 401, 403 or 404 and, for a known user, writes an audit row.

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::session::{cookie_value, csrf_matches, Session, BACKGROUND_HEADER, CSRF_HEADER};
use super::{ConsoleError, ConsoleState};
use crate::auth::listen::PeerAddr;
use crate::auth::table::{console_rule, Rule};
use crate::auth::{authorize, AuditRecord, Identity, Kind};

/// The middleware (`from_fn_with_state(console_state, guard)`).
pub async fn guard(State(c): State<ConsoleState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let rule = console_rule(method.as_str(), &path);
    match rule {
        Rule::Open => return next.run(req).await,
        Rule::Unknown => {
            return ConsoleError::new(
                StatusCode::NOT_FOUND,
                format!("no console route {method} {path}"),
            )
            .into_response()
        }
        Rule::Compat | Rule::Need(_) => {}
    }
    let addr = req
        .extensions()
        .get::<ConnectInfo<PeerAddr>>()
        .map(|c| c.0 .0);
    // The live alarm stream and the script's periodic refreshes are not the user's doing.
    let touch = !(req.headers().contains_key(BACKGROUND_HEADER) || path.ends_with("/stream"));
    let cookie = req
        .headers()
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(cookie_value)
        .map(str::to_string);
    let found = match cookie {
        Some(id) => match c.sessions.get(&id, touch).await {
            Ok(found) => found,
            Err(e) => {
                tracing::error!(error = %e, "console session lookup failed");
                return ConsoleError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
                    .into_response();
            }
        },
        None => None,
    };
    let Some((name, csrf)) = found else {
        return ConsoleError::new(
            StatusCode::UNAUTHORIZED,
            "not logged in, or the session ended (idle timeout or logout): log in again",
        )
        .into_response();
    };
    // The user's current role: a role change applies at once, a disabled or removed user's
    // session is refused.
    let Some(role) = c.auth.user_role(&name) else {
        return ConsoleError::new(
            StatusCode::UNAUTHORIZED,
            format!("the user {name:?} is disabled or removed: the session ended"),
        )
        .into_response();
    };
    let session = Session {
        identity: Identity {
            name,
            role,
            kind: Kind::User,
            addr,
        },
        csrf,
    };
    if let Err(r) = authorize(&session.identity, rule) {
        refused(
            &c,
            &session,
            &method,
            &path,
            "permission_denied",
            &r.to_string(),
        );
        return ConsoleError::new(StatusCode::FORBIDDEN, r.to_string()).into_response();
    }
    if method != Method::GET {
        if let Err(why) = state_change_allowed(&req, &session) {
            refused(&c, &session, &method, &path, "csrf", why);
            return ConsoleError::new(StatusCode::FORBIDDEN, why).into_response();
        }
    }
    req.extensions_mut().insert(session);
    next.run(req).await
}

/// A state change must come from the console's own script: a JSON body (a cross-site form
/// cannot send one without a preflight) and the session's CSRF token in a header.
fn state_change_allowed(req: &Request, session: &Session) -> Result<(), &'static str> {
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return Err(
            "a console request that changes something must send content-type: application/json",
        );
    }
    let sent = req.headers().get(CSRF_HEADER).map(|v| v.as_bytes());
    if !csrf_matches(sent, &session.csrf) {
        return Err("the CSRF token is missing or wrong (reload the console)");
    }
    Ok(())
}

fn refused(c: &ConsoleState, s: &Session, method: &Method, path: &str, outcome: &str, why: &str) {
    let id = &s.identity;
    metrics::counter!(crate::metrics::names::AUTH_REFUSED_TOTAL, "reason" => outcome.to_string())
        .increment(1);
    tracing::warn!(user = %id.name, %method, path, reason = why, "console request refused");
    c.auth.audit(AuditRecord {
        at_ms: crate::clock::now_ms(),
        who: id.name.clone(),
        role: id.role.as_str().into(),
        kind: id.kind.as_str().into(),
        addr: id.addr.map_or_else(|| "-".into(), |a| a.to_string()),
        action: format!("{method} {path}"),
        outcome: outcome.into(),
        detail: serde_json::json!({ "reason": why }).to_string(),
        ..AuditRecord::default()
    });
}
