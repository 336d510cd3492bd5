//! Enforcement for gRPC: one tower layer around the whole tonic router. It reads the method
//! path, the `authorization` metadata and the client address, asks [`Auth::check`], and
//! either answers with the refusal's status or passes the call on with the caller's
//! [`Identity`] in the request extensions. Calls marked audited ([`audited`]) get an audit
//! row once the handler answered, with what the handler put in an [`AuditNote`].

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::{Code, Status};
use tower::{Layer, Service};

use super::gate::{Auth, Refusal};
use super::identity::Identity;
use super::store::AuditRecord;
use super::table::grpc_rule;

/// What a handler tells the audit trail about a call it served (put into the tonic
/// response's extensions).
#[derive(Debug, Clone, Default)]
pub struct AuditNote {
    /// What the call was about (a panel account …).
    pub target: String,
    /// The result (`done`, `timed_out` …).
    pub outcome: String,
    /// JSON detail (never a secret).
    pub detail: String,
}

/// Methods whose every allowed call is audited (refused calls always are): remote control
/// and every alarm action.
pub fn audited(path: &str) -> bool {
    matches!(
        path,
        "/alarmhub.v1.AlarmHub/Control"
            | "/alarmhub.v1.AlarmHub/PutAccount"
            | "/alarmhub.v1.AlarmHub/RemoveAccount"
            | "/alarmhub.v1.AlarmHub/TakeAlarm"
            | "/alarmhub.v1.AlarmHub/ReleaseAlarm"
            | "/alarmhub.v1.AlarmHub/AddAlarmNote"
            | "/alarmhub.v1.AlarmHub/CloseAlarm"
    )
}

/// The client address tonic recorded for the connection (plain or TLS).
pub fn peer_addr(ext: &http::Extensions) -> Option<SocketAddr> {
    ext.get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .or_else(|| {
            ext.get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|i| i.get_ref().remote_addr())
        })
}

/// The gRPC status of a refusal.
pub fn status(r: &Refusal) -> Status {
    match r {
        Refusal::Unauthenticated(m) => Status::unauthenticated(m.clone()),
        Refusal::PermissionDenied(m) => Status::permission_denied(m.clone()),
        Refusal::RateLimited { retry_after, .. } => {
            let mut md = tonic::metadata::MetadataMap::new();
            if let Ok(v) = retry_after.as_secs().to_string().parse() {
                md.insert("retry-after", v);
            }
            Status::with_metadata(Code::ResourceExhausted, r.to_string(), md)
        }
    }
}

/// The layer.
#[derive(Clone, Debug)]
pub struct AuthLayer {
    auth: Arc<Auth>,
}

impl AuthLayer {
    /// Enforce `auth`.
    pub fn new(auth: Arc<Auth>) -> AuthLayer {
        AuthLayer { auth }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService {
            inner,
            auth: Arc::clone(&self.auth),
        }
    }
}

/// The service the layer makes.
#[derive(Clone, Debug)]
pub struct AuthService<S> {
    inner: S,
    auth: Arc<Auth>,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for AuthService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<ReqBody>) -> Self::Future {
        let path = req.uri().path().to_string();
        let addr = peer_addr(req.extensions());
        let header = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        let identity = match self.auth.check(grpc_rule(&path), &path, header, addr) {
            Ok(id) => id,
            Err(r) => {
                let resp = status(&r).into_http();
                return Box::pin(async move { Ok(resp) });
            }
        };
        let audit = audited(&path).then(|| (Arc::clone(&self.auth), identity.clone()));
        req.extensions_mut().insert(identity);
        // The clone that was made ready is the one to call (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let resp = inner.call(req).await?;
            if let Some((auth, id)) = audit {
                auth.audit(allowed_record(&id, &path, &resp));
            }
            Ok(resp)
        })
    }
}

fn allowed_record<B>(id: &Identity, path: &str, resp: &http::Response<B>) -> AuditRecord {
    let note = resp.extensions().get::<AuditNote>().cloned();
    // A handler error (bad argument …) is a status in the extensions or headers.
    allowed_row(id, path, note, resp.extensions().get::<Status>())
}

/// The audit row of an allowed, audited call: the handler's [`AuditNote`] when it wrote
/// one, else `error:<code>` for a handler error, else `ok`. The console writes the same row
/// for the calls it makes on a user's behalf.
pub fn allowed_row(
    id: &Identity,
    path: &str,
    note: Option<AuditNote>,
    error: Option<&Status>,
) -> AuditRecord {
    let outcome = match (&note, error) {
        (Some(n), _) => n.outcome.clone(),
        (None, Some(s)) => format!("error:{:?}", s.code()),
        (None, None) => "ok".into(),
    };
    let note = note.unwrap_or_default();
    AuditRecord {
        at_ms: crate::clock::now_ms(),
        who: id.name.clone(),
        role: id.role.as_str().into(),
        kind: id.kind.as_str().into(),
        addr: id.addr.map_or_else(|| "-".into(), |a| a.to_string()),
        action: path.into(),
        target: note.target,
        outcome,
        detail: if note.detail.is_empty() {
            "{}".into()
        } else {
            note.detail
        },
        ..AuditRecord::default()
    }
}
