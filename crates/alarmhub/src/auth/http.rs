//! Enforcement for HTTP: an axum middleware that asks the same [`Auth::check`] as the gRPC
//! layer, with the route's rule from the same table, and answers 401 / 403 / 429 (with
//! `Retry-After`) or passes the request on with the caller's [`super::Identity`] in its
//! extensions.

use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::gate::{Auth, Refusal};
use super::listen::PeerAddr;
use super::table::http_rule;

/// The middleware (`axum::middleware::from_fn_with_state(auth, check)`).
pub async fn check(State(auth): State<Arc<Auth>>, mut req: Request, next: Next) -> Response {
    let addr = req
        .extensions()
        .get::<ConnectInfo<PeerAddr>>()
        .map(|c| c.0 .0);
    let path = req.uri().path().to_string();
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    match auth.check(http_rule(&path), &path, header, addr) {
        Ok(id) => {
            req.extensions_mut().insert(id);
            next.run(req).await
        }
        Err(r) => refusal(&r),
    }
}

fn refusal(r: &Refusal) -> Response {
    let body = format!("{r}\n");
    match r {
        Refusal::Unauthenticated(_) => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))],
            body,
        )
            .into_response(),
        Refusal::PermissionDenied(_) => (StatusCode::FORBIDDEN, body).into_response(),
        Refusal::RateLimited { retry_after, .. } => {
            let mut resp = (StatusCode::TOO_MANY_REQUESTS, body).into_response();
            if let Ok(v) = HeaderValue::from_str(&retry_after.as_secs().to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            resp
        }
    }
}
