//! The HTTP side endpoint: `/healthz` (the process answers), `/readyz` (listeners bound and
//! the store accepts a write; 503 otherwise), `/metrics` (Prometheus text, with `# HELP`
//! for every series from [`crate::metrics`]). With
//! `ALARMHUB_TEST_HOOKS=1` also `POST /debug/stall-writer?secs=N`, which the tests use to
//! prove the watchdog stops when the writer is stuck.
//!
//! The operator web console ([`crate::console`]) is merged in at `/` and `/console/…`.
//!
//! Every other request passes the access check ([`crate::auth::http::check`]) with the route's
//! rule from the one permission table: `/healthz` and `/readyz` stay open for load
//! balancers, `/metrics` needs a token of any role once access control is on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Deserialize;

use crate::metrics::names;
use crate::registry::Registry;
use crate::store::Store;

/// What the endpoints look at.
#[derive(Clone)]
pub struct HttpState {
    /// Prometheus recorder handle.
    pub metrics: Option<PrometheusHandle>,
    /// The event store (readiness probe, queue depth, the stall hook).
    pub store: Arc<dyn Store>,
    /// Panels (for gauges refreshed at scrape time).
    pub registry: Arc<Registry>,
    /// Set once every listener is bound.
    pub listeners_bound: Arc<AtomicBool>,
    /// Test hooks enabled.
    pub test_hooks: bool,
    /// Event bus (its receivers are the live gRPC streams and groups).
    pub bus: Option<crate::events::EventBus>,
    /// Access control.
    pub auth: Arc<crate::auth::Auth>,
    /// The operator web console (served at `/` with its own access check), when wired.
    pub console: Option<crate::console::ConsoleState>,
}

/// The router.
pub fn router(state: HttpState) -> Router {
    let mut r = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics));
    if state.test_hooks {
        r = r.route("/debug/stall-writer", post(stall));
    }
    let auth = Arc::clone(&state.auth);
    let console = state.console.clone();
    let r = r
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            auth,
            crate::auth::http::check,
        ));
    // The console's routes carry their own check (sessions, CSRF, the console rules of the
    // same permission table); the layer above covers only the routes added before it.
    match console {
        Some(c) => r.merge(crate::console::router(c)),
        None => r,
    }
}

async fn readyz(State(s): State<HttpState>) -> impl IntoResponse {
    if !s.listeners_bound.load(Ordering::Acquire) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: listeners not bound\n".to_string(),
        );
    }
    match tokio::time::timeout(Duration::from_secs(2), s.store.check_writable()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n".to_string()),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: store: {e}\n"),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: store writer does not answer\n".to_string(),
        ),
    }
}

async fn metrics(State(s): State<HttpState>) -> impl IntoResponse {
    let (total, online) = s.registry.counts();
    metrics::gauge!(names::PANELS, "state" => "online").set(online as f64);
    metrics::gauge!(names::PANELS, "state" => "offline").set((total - online) as f64);
    metrics::gauge!(names::STORE_QUEUE_DEPTH).set(s.store.queue_depth() as f64);
    if let Some(bus) = &s.bus {
        // Every live WatchEvents stream and Subscribe group holds one bus receiver.
        metrics::gauge!(names::GRPC_SUBSCRIBERS).set(bus.receivers() as f64);
    }
    match &s.metrics {
        Some(h) => (
            StatusCode::OK,
            [("content-type", "text/plain; version=0.0.4")],
            h.render(),
        ),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            [("content-type", "text/plain; version=0.0.4")],
            "metrics recorder not installed\n".to_string(),
        ),
    }
}

#[derive(Deserialize)]
struct StallArgs {
    secs: u64,
}

async fn stall(State(s): State<HttpState>, Query(a): Query<StallArgs>) -> impl IntoResponse {
    let d = Duration::from_secs(a.secs.min(600));
    // `stall` returns once the request is queued, so every store request made after this
    // answer (a readiness probe, an append) waits behind the stall.
    match s.store.stall(d).await {
        Ok(()) => (
            StatusCode::ACCEPTED,
            format!("writer stalled for {}s\n", d.as_secs()),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("stall not queued: {e}\n"),
        ),
    }
}
