//! The console's JSON endpoints. Each one that stands for a gRPC call runs that call's own
//! handler ([`crate::api::v1::V1Service`]) with the logged-in user's identity, so the
//! console and the API validate, page and answer alike, and writes the audit row the gRPC
//! access layer would ([`crate::auth::grpc::allowed_row`]).

use axum::extract::{ConnectInfo, Extension, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tonic::transport::server::TcpConnectInfo;

use super::json;
use super::session::{clear_cookie, cookie_value, set_cookie, Session};
use super::{ConsoleError, ConsoleState};
use crate::auth::grpc::{allowed_row, audited, AuditNote};
use crate::auth::listen::PeerAddr;
use crate::auth::table::{console_grpc_path, console_rule};
use crate::auth::{authorize, Refusal, Sensitive};
use crate::proto::v1 as pb;
use crate::proto::v1::alarm_hub_server::AlarmHub;

/// What a handler answers.
pub type Answer = Result<Json<Value>, ConsoleError>;

impl ConsoleState {
    /// A tonic request carrying the user's identity and address, as the gRPC access layer
    /// would hand it to the handler.
    pub fn request<T>(&self, s: &Session, msg: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(msg);
        r.extensions_mut().insert(s.identity.clone());
        r.extensions_mut().insert(TcpConnectInfo {
            local_addr: None,
            remote_addr: s.identity.addr,
        });
        r
    }

    /// Write the audit row of an audited call (`method` is the gRPC method name) and turn
    /// its answer into the reply or a console error.
    pub fn finish<R>(
        &self,
        s: &Session,
        method: &str,
        r: Result<tonic::Response<R>, tonic::Status>,
    ) -> Result<R, ConsoleError> {
        let path = console_grpc_path(method);
        if audited(&path) {
            let (note, err) = match &r {
                Ok(resp) => (resp.extensions().get::<AuditNote>().cloned(), None),
                Err(e) => (None, Some(e)),
            };
            self.auth.audit(allowed_row(&s.identity, &path, note, err));
        }
        r.map(tonic::Response::into_inner)
            .map_err(|e| ConsoleError::from_status(&e))
    }

    /// Whether the session may make `method` `path` (the buttons the page shows).
    pub fn may(&self, s: &Session, method: &str, path: &str) -> bool {
        authorize(&s.identity, console_rule(method, path)).is_ok()
    }
}

/// `POST /console/api/login` body.
#[derive(Deserialize)]
pub struct Login {
    name: String,
    password: String,
}

/// `POST /console/api/login`: check the user's password ([`crate::auth::Auth::login`]:
/// rate-limited, audited) and start a session.
pub async fn login(
    State(c): State<ConsoleState>,
    ConnectInfo(PeerAddr(addr)): ConnectInfo<PeerAddr>,
    Json(body): Json<Login>,
) -> Response {
    let pw = Sensitive::new(body.password);
    match c.auth.login(body.name.trim(), &pw, Some(addr)).await {
        Ok(identity) => match c.sessions.create(&identity.name).await {
            Ok((id, csrf)) => {
                let s = Session { identity, csrf };
                let cookie = set_cookie(&id, c.secure, c.idle());
                ([(header::SET_COOKIE, cookie)], Json(me_json(&c, &s))).into_response()
            }
            Err(e) => {
                tracing::error!(error = %e, "could not start a console session");
                ConsoleError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response()
            }
        },
        Err(r) => {
            let status = match r {
                Refusal::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::UNAUTHORIZED,
            };
            ConsoleError::new(status, r.to_string()).into_response()
        }
    }
}

/// `POST /console/api/logout`: end the session.
pub async fn logout(State(c): State<ConsoleState>, headers: axum::http::HeaderMap) -> Response {
    if let Some(id) = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(cookie_value)
    {
        if let Err(e) = c.sessions.remove(id).await {
            tracing::error!(error = %e, "could not end a console session");
            return ConsoleError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
                .into_response();
        }
    }
    (
        [(header::SET_COOKIE, clear_cookie(c.secure))],
        Json(json!({ "ok": true })),
    )
        .into_response()
}

fn me_json(c: &ConsoleState, s: &Session) -> Value {
    json!({
        "name": s.identity.name,
        "role": s.identity.role.as_str(),
        "csrf": s.csrf,
        "idle_timeout_secs": c.idle().as_secs(),
        "may": {
            "control": c.may(s, "POST", "/console/api/panels/x/control"),
            "audit": c.may(s, "GET", "/console/api/audit"),
            "users": c.may(s, "GET", "/console/api/users"),
            "handle_alarms": c.may(s, "POST", "/console/api/alarms/1/take"),
            "outputs": c.may(s, "GET", "/console/api/outputs"),
        },
    })
}

/// `GET /console/api/me`: who is logged in, the CSRF token, what the page may offer.
pub async fn me(State(c): State<ConsoleState>, Extension(s): Extension<Session>) -> Answer {
    Ok(Json(me_json(&c, &s)))
}

/// `GET /console/api/dashboard` query.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DashboardQuery {
    /// The browser's local midnight (Unix ms): "today" is the operator's day.
    day_start_ms: i64,
}

/// `GET /console/api/dashboard`: the strip above every page — panels online and offline,
/// open alarms per priority, alarms handled today, median time to take.
pub async fn dashboard(State(c): State<ConsoleState>, Query(q): Query<DashboardQuery>) -> Answer {
    let (total, online) = c.api.registry.counts();
    let mut v = c.summary.get(&c, q.day_start_ms).await?;
    v["panels_online"] = json!(online);
    v["panels_offline"] = json!(total - online);
    Ok(Json(v))
}

/// `GET /console/api/panels` query.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PanelsQuery {
    q: String,
    online: Option<bool>,
    r#type: Option<i32>,
    page_token: String,
    page_size: i32,
}

/// `GET /console/api/panels`: `ListMachines` by account prefix, or by configured name when
/// `q` matches no account.
pub async fn panels(
    State(c): State<ConsoleState>,
    Extension(s): Extension<Session>,
    Query(q): Query<PanelsQuery>,
) -> Answer {
    let req = pb::ListMachinesRequest {
        online: q.online,
        status: None,
        r#type: q.r#type,
        account_prefix: q.q.trim().to_string(),
        page_size: q.page_size,
        page_token: q.page_token.clone(),
        changed_since_sync: false,
    };
    let reply = c.finish(
        &s,
        "ListMachines",
        c.v1.list_machines(c.request(&s, req)).await,
    )?;
    if reply.machines.is_empty() && !q.q.trim().is_empty() && q.page_token.is_empty() {
        return Ok(Json(by_name(&c, &s, &q).await?));
    }
    Ok(Json(json!({
        "panels": reply.machines.iter().map(|m| json::machine(&c.api.config, m)).collect::<Vec<_>>(),
        "next_page_token": reply.next_page_token,
        "total": reply.total,
    })))
}

/// Panels whose configured name contains `q` (case-insensitive), at most 100.
async fn by_name(c: &ConsoleState, s: &Session, q: &PanelsQuery) -> Result<Value, ConsoleError> {
    let needle = q.q.trim().to_lowercase();
    let mut out = Vec::new();
    for a in c.api.config.accounts.iter().filter(|a| {
        a.name
            .as_ref()
            .is_some_and(|n| n.to_lowercase().contains(&needle))
    }) {
        let req = pb::GetMachineRequest {
            account: a.account.clone(),
        };
        if let Ok(m) = c.finish(s, "GetMachine", c.v1.get_machine(c.request(s, req)).await) {
            if q.online.is_none_or(|o| m.online == o) && q.r#type.is_none_or(|t| m.r#type == t) {
                out.push(json::machine(&c.api.config, &m));
            }
        }
        if out.len() >= 100 {
            break;
        }
    }
    let total = out.len();
    Ok(json!({ "panels": out, "next_page_token": "", "total": total }))
}

/// `GET /console/api/panels/{account}`: the panel, its latest events (commands included,
/// each naming who sent it and the host's outcome) and whether the user may control it.
pub async fn panel(
    State(c): State<ConsoleState>,
    Extension(s): Extension<Session>,
    Path(account): Path<String>,
) -> Answer {
    let req = pb::GetMachineRequest {
        account: account.clone(),
    };
    let m = c.finish(&s, "GetMachine", c.v1.get_machine(c.request(&s, req)).await)?;
    let ev = pb::ListEventsRequest {
        account: account.clone(),
        page_size: 50,
        ..pb::ListEventsRequest::default()
    };
    let events = c.finish(&s, "ListEvents", c.v1.list_events(c.request(&s, ev)).await)?;
    let control_path = format!("/console/api/panels/{account}/control");
    Ok(Json(json!({
        "panel": json::machine(&c.api.config, &m),
        "events": events.events.iter().map(json::event).collect::<Vec<_>>(),
        "may_control": c.may(&s, "POST", &control_path),
    })))
}

/// `POST /console/api/panels/{account}/control` body.
#[derive(Deserialize)]
pub struct ControlBody {
    action: String,
    #[serde(default)]
    section: i32,
    #[serde(default)]
    password: String,
}

/// `POST /console/api/panels/{account}/control`: `Control`; answers the host's real
/// outcome (`done`, `timed_out`, `panel_offline` …) once the host answered.
pub async fn control(
    State(c): State<ConsoleState>,
    Extension(s): Extension<Session>,
    Path(account): Path<String>,
    Json(body): Json<ControlBody>,
) -> Answer {
    let req = pb::ControlRequest {
        account,
        action: body.action,
        section: body.section,
        password: body.password,
    };
    let r = c.finish(&s, "Control", c.v1.control(c.request(&s, req)).await)?;
    Ok(Json(json!({ "outcome": r.outcome, "message": r.message })))
}

/// `GET /console/api/events` query (the `ListEvents` fields).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EventsQuery {
    account: String,
    from_ms: i64,
    to_ms: i64,
    code: i32,
    sia_code: String,
    page_size: i32,
    page_token: String,
    oldest_first: bool,
    zone: Option<i32>,
}

/// `GET /console/api/events`: `ListEvents`.
pub async fn events(
    State(c): State<ConsoleState>,
    Extension(s): Extension<Session>,
    Query(q): Query<EventsQuery>,
) -> Answer {
    let req = pb::ListEventsRequest {
        account: q.account.trim().to_string(),
        from_ms: q.from_ms,
        to_ms: q.to_ms,
        code: q.code,
        sia_code: q.sia_code.trim().to_string(),
        page_size: q.page_size,
        page_token: q.page_token,
        oldest_first: q.oldest_first,
        zone: q.zone,
    };
    let r = c.finish(&s, "ListEvents", c.v1.list_events(c.request(&s, req)).await)?;
    Ok(Json(json!({
        "events": r.events.iter().map(json::event).collect::<Vec<_>>(),
        "next_page_token": r.next_page_token,
    })))
}

/// `GET /console/api/audit` query (the `ListAudit` fields).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AuditQuery {
    since_ms: i64,
    who: String,
    page_size: i32,
    page_token: String,
}

/// `GET /console/api/audit`: `ListAudit` (admins).
pub async fn audit(
    State(c): State<ConsoleState>,
    Extension(s): Extension<Session>,
    Query(q): Query<AuditQuery>,
) -> Answer {
    let req = pb::ListAuditRequest {
        since_ms: q.since_ms,
        who: q.who.trim().to_string(),
        page_size: q.page_size,
        page_token: q.page_token,
    };
    let r = c.finish(&s, "ListAudit", c.v1.list_audit(c.request(&s, req)).await)?;
    Ok(Json(json!({
        "entries": r.entries.iter().map(json::audit).collect::<Vec<_>>(),
        "next_page_token": r.next_page_token,
    })))
}
