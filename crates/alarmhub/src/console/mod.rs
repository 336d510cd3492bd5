//! The operator web console, served by the HTTP side at `/`: plain HTML, CSS and JavaScript
//! embedded in the binary ([`assets`]; no CDN, no Node.js to build or run), talking JSON to
//! `/console/api/…`.
//!
//! * [`session`]: login sessions (cookie `HttpOnly; SameSite=Strict`, `Secure` under TLS,
//!   idle timeout, logout) kept in the store by their hash, and their CSRF tokens.
//! * [`guard`]: every console request passes it: the route's rule comes from the one
//!   permission table (`crate::auth::table::console_rule`; a route that stands for a gRPC
//!   call needs exactly what that call needs), the session names the user, the role is
//!   checked on the server, and every `POST` needs `content-type: application/json` and the
//!   session's CSRF token. Refusals are audited.
//! * [`api`]: the JSON endpoints. They call the same `alarmhub.v1` handlers the gRPC server
//!   runs ([`crate::api::v1::V1Service`]) with the user's identity, and write the same audit
//!   rows as the gRPC access layer.
//! * [`alarms`]: the alarm queue: list, one alarm with its panel's context, live changes as
//!   server-sent events, take / release / note / close.
//! * [`credentials`]: the users and tokens pages (admins): list, create, change role,
//!   disable / enable, reset password, create (shown once) and revoke tokens.
//! * [`panel_audit`]: the panel page's audit rows (commands on that panel, with actor and
//!   outcome), from the audit log.
//! * [`json`]: the JSON shapes of panels, events and audit rows.
//! * [`outputs`]: the link state of the automation outputs and the MQTT bridge.
//!
//! The console always needs a login, even where `[auth]` leaves the APIs open on loopback:
//! an operator's actions on alarms and panels must name a person.

pub mod alarms;
pub mod api;
pub mod assets;
pub mod credentials;
pub mod guard;
pub mod json;
pub mod outputs;
pub mod panel_audit;
pub mod session;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use tokio_util::sync::CancellationToken;

use crate::api::v1::V1Service;
use crate::api::ApiState;
use crate::auth::Auth;

/// Why a console request failed: the HTTP status and a message for the operator.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConsoleError {
    /// HTTP status.
    pub status: http::StatusCode,
    /// What went wrong, naming the field or the call.
    pub message: String,
}

impl ConsoleError {
    /// An error with `status`.
    pub fn new(status: http::StatusCode, message: impl Into<String>) -> ConsoleError {
        ConsoleError {
            status,
            message: message.into(),
        }
    }

    /// A gRPC handler's status as an HTTP error.
    pub fn from_status(s: &tonic::Status) -> ConsoleError {
        use http::StatusCode as H;
        use tonic::Code as C;
        let status = match s.code() {
            C::InvalidArgument | C::OutOfRange => H::BAD_REQUEST,
            C::NotFound => H::NOT_FOUND,
            C::PermissionDenied => H::FORBIDDEN,
            C::Unauthenticated => H::UNAUTHORIZED,
            C::AlreadyExists | C::FailedPrecondition | C::Aborted => H::CONFLICT,
            C::Unavailable | C::ResourceExhausted => H::SERVICE_UNAVAILABLE,
            C::DeadlineExceeded => H::GATEWAY_TIMEOUT,
            _ => H::INTERNAL_SERVER_ERROR,
        };
        ConsoleError::new(status, s.message().to_string())
    }
}

impl axum::response::IntoResponse for ConsoleError {
    fn into_response(self) -> axum::response::Response {
        (
            self.status,
            axum::Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}

/// What the console's handlers share.
#[derive(Clone)]
pub struct ConsoleState {
    /// The daemon's API state (config, registry, store, control).
    pub api: ApiState,
    /// The `alarmhub.v1` service whose handlers the console calls.
    pub v1: V1Service,
    /// Logins and the access check.
    pub auth: Arc<Auth>,
    /// Sessions (in the store).
    pub sessions: Arc<session::Sessions>,
    /// The HTTP listener speaks TLS (cookies get `Secure`).
    pub secure: bool,
    /// The dashboard's alarm figures, shared by every browser.
    pub summary: Arc<alarms::Summary>,
    /// The running outputs' status watches ([`outputs`]); empty until
    /// [`ConsoleState::with_outputs`].
    pub outputs: crate::outputs::Running,
}

impl ConsoleState {
    /// The console over a running daemon's API state; its live streams end when
    /// `shutdown` is cancelled (so a graceful HTTP shutdown does not wait on them).
    pub fn new(api: &ApiState, secure: bool, shutdown: CancellationToken) -> ConsoleState {
        let idle = Duration::from_secs(api.config.console.idle_timeout_secs.max(1));
        ConsoleState {
            v1: V1Service::with_shutdown(api, shutdown),
            summary: Arc::new(alarms::Summary::default()),
            auth: Arc::clone(&api.auth),
            sessions: Arc::new(session::Sessions::new(idle, api.auth.backend())),
            secure,
            api: api.clone(),
            outputs: crate::outputs::Running::default(),
        }
    }

    /// The same console, showing the status of the daemon's running outputs.
    pub fn with_outputs(mut self, outputs: crate::outputs::Running) -> ConsoleState {
        self.outputs = outputs;
        self
    }

    /// The idle timeout.
    pub fn idle(&self) -> Duration {
        Duration::from_secs(self.api.config.console.idle_timeout_secs.max(1))
    }
}

/// The console's routes, every one behind [`guard::guard`].
pub fn router(state: ConsoleState) -> Router {
    Router::new()
        .route("/", get(assets::index))
        .route("/console/assets/{file}", get(assets::file))
        .route("/console/api/login", post(api::login))
        .route("/console/api/logout", post(api::logout))
        .route("/console/api/me", get(api::me))
        .route("/console/api/dashboard", get(api::dashboard))
        .route("/console/api/panels", get(api::panels))
        .route("/console/api/panels/{account}", get(api::panel))
        .route("/console/api/panels/{account}/control", post(api::control))
        .route(
            "/console/api/panels/{account}/audit",
            get(panel_audit::list),
        )
        .route("/console/api/events", get(api::events))
        .route("/console/api/audit", get(api::audit))
        .route("/console/api/outputs", get(outputs::outputs))
        .route(
            "/console/api/users",
            get(credentials::users).post(credentials::create_user),
        )
        .route(
            "/console/api/users/{name}/role",
            post(credentials::set_role),
        )
        .route(
            "/console/api/users/{name}/disable",
            post(credentials::disable),
        )
        .route(
            "/console/api/users/{name}/enable",
            post(credentials::enable),
        )
        .route(
            "/console/api/users/{name}/password",
            post(credentials::set_password),
        )
        .route(
            "/console/api/tokens",
            get(credentials::tokens).post(credentials::create_token),
        )
        .route(
            "/console/api/tokens/{name}/revoke",
            post(credentials::revoke_token),
        )
        .route("/console/api/alarms", get(alarms::list))
        .route("/console/api/alarms/stream", get(alarms::stream))
        .route("/console/api/alarms/{id}", get(alarms::get))
        .route("/console/api/alarms/{id}/take", post(alarms::take))
        .route("/console/api/alarms/{id}/release", post(alarms::release))
        .route("/console/api/alarms/{id}/note", post(alarms::note))
        .route("/console/api/alarms/{id}/close", post(alarms::close))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        .with_state(state)
}
