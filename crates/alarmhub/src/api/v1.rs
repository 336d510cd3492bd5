//! `alarmhub.v1.AlarmHub`: the project's own gRPC API (proto/alarmhub/v1/alarmhub.proto).
//!
//! [`V1Service`] owns nothing but shared handles; each call lives in its own submodule:
//! * `machines`: `ListMachines`, `GetMachine` (live state from the registry).
//! * `events`: `ListEvents` (store queries with seq paging tokens).
//! * `watch`: `WatchEvents` (replay from the store by seq, then live from the bus).
//! * `subscribe` with `groups`, `group` and `group_state`: `Subscribe`, consumer groups with
//!   acks, redelivery and persistent cursors.
//! * `control`: `Control` (the daemon's control path).
//! * `ingest`: `Ingest` (another system pushes events in).
//! * `audit`: `ListAudit` (the audit trail; admins only, by the permission table).
//! * `accounts`: `ListAccounts`, `GetAccount`, `PutAccount`, `RemoveAccount` (panel
//!   accounts at runtime; changes audited).
//! * `alarms` and `alarm_watch`: `ListAlarms`, `GetAlarm`, `TakeAlarm`, `ReleaseAlarm`,
//!   `AddAlarmNote`, `CloseAlarm`, `WatchAlarms` (over [`crate::alarms::Alarms`]).
//!
//! Store reads and writes go through the [`crate::store::Store`] trait (the backend keeps
//! them off the runtime's threads and never lets reads block the writer). Streams use one
//! bounded channel per client and stop as soon as the client is gone or the service's
//! shutdown token is cancelled; their tasks run on the daemon's task tracker.

mod accounts;
mod alarm_watch;
mod alarms;
mod audit;
mod control;
mod convert;
mod events;
mod group;
mod group_state;
mod groups;
mod ingest;
mod limits;
mod machines;
mod subscribe;
mod watch;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};

use super::ApiState;
use crate::auth::grpc::AuditNote;
use crate::auth::{Identity, Kind};
use crate::proto::v1 as pb;
use pb::alarm_hub_server::{AlarmHub, AlarmHubServer};

pub(crate) use super::status::store_status;

/// Default `page_size` of the list calls.
const DEFAULT_PAGE_SIZE: usize = 100;
/// Largest `page_size` of the list calls.
const MAX_PAGE_SIZE: usize = 1000;

/// The `alarmhub.v1.AlarmHub` service.
#[derive(Clone)]
pub struct V1Service {
    ctx: Arc<Ctx>,
}

/// What every call needs: the daemon's state, the consumer groups and the shutdown token
/// that ends every stream.
pub(crate) struct Ctx {
    /// Config, registry, bus, store, control, task tracker.
    pub(crate) h: ApiState,
    /// Subscribe consumer groups alive in this process.
    pub(crate) groups: groups::Groups,
    /// Cancelled when the server shuts down: streams end, groups flush their cursors.
    pub(crate) shutdown: CancellationToken,
    /// Server streams open (`grpc.max_streams`).
    pub(crate) streams: limits::Streams,
}

impl V1Service {
    /// The service over a running daemon's state. Streams end when their clients go away;
    /// use [`V1Service::with_shutdown`] to also end them when the server stops.
    pub fn new(h: &ApiState) -> V1Service {
        V1Service::with_shutdown(h, CancellationToken::new())
    }

    /// Like [`V1Service::new`], and every stream (`WatchEvents`, `Subscribe`) ends with
    /// `UNAVAILABLE` once `shutdown` is cancelled, after consumer groups have written their
    /// cursors — so a graceful gRPC shutdown does not wait on endless streams.
    pub fn with_shutdown(h: &ApiState, shutdown: CancellationToken) -> V1Service {
        V1Service {
            ctx: Arc::new(Ctx {
                h: h.clone(),
                groups: groups::Groups::default(),
                shutdown,
                streams: limits::Streams::new(
                    h.config.grpc.max_streams,
                    h.config.grpc.max_streams_per_source,
                ),
            }),
        }
    }

    /// The tonic service to add to a server.
    pub fn into_server(self) -> AlarmHubServer<V1Service> {
        AlarmHubServer::new(self)
    }
}

#[tonic::async_trait]
impl AlarmHub for V1Service {
    async fn list_machines(
        &self,
        request: Request<pb::ListMachinesRequest>,
    ) -> Result<Response<pb::ListMachinesReply>, Status> {
        let req = request.into_inner();
        if req.changed_since_sync {
            // "Changed since the last full Sync" on any node (several nodes share a store).
            if let Some(m) = &self.ctx.h.compat_marks {
                m.catch_up().await;
            }
        }
        machines::list(&self.ctx, &req).map(Response::new)
    }

    async fn get_machine(
        &self,
        request: Request<pb::GetMachineRequest>,
    ) -> Result<Response<pb::Machine>, Status> {
        machines::get(&self.ctx, &request.into_inner()).map(Response::new)
    }

    async fn list_events(
        &self,
        request: Request<pb::ListEventsRequest>,
    ) -> Result<Response<pb::ListEventsReply>, Status> {
        events::list(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }

    type WatchEventsStream = super::budget::BudgetStream<pb::WatchEventsReply>;

    async fn watch_events(
        &self,
        request: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        let source = request.remote_addr().map(|a| a.ip());
        watch::start(&self.ctx, request.into_inner(), source).map(Response::new)
    }

    type SubscribeStream = super::budget::BudgetStream<pb::SubscribeReply>;

    async fn subscribe(
        &self,
        request: Request<Streaming<pb::SubscribeRequest>>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let source = request.remote_addr().map(|a| a.ip());
        subscribe::start(&self.ctx, request.into_inner(), source)
            .await
            .map(Response::new)
    }

    async fn control(
        &self,
        request: Request<pb::ControlRequest>,
    ) -> Result<Response<pb::ControlReply>, Status> {
        let identity = request.extensions().get::<Identity>().cloned();
        let by = actor(identity.as_ref(), request.remote_addr());
        let req = request.into_inner();
        let (account, action, section) = (req.account.clone(), req.action.clone(), req.section);
        let reply = control::run(&self.ctx, req, by).await?;
        // The access layer writes the audit row with this outcome.
        let mut resp = Response::new(reply);
        let note = AuditNote {
            target: account,
            outcome: resp.get_ref().outcome.clone(),
            detail: serde_json::json!({ "action": action, "section": section }).to_string(),
        };
        resp.extensions_mut().insert(note);
        Ok(resp)
    }

    async fn ingest(
        &self,
        request: Request<Streaming<pb::IngestEvent>>,
    ) -> Result<Response<pb::IngestReply>, Status> {
        let peer = requested_by(request.remote_addr());
        ingest::run(&self.ctx, request.into_inner(), peer)
            .await
            .map(Response::new)
    }

    async fn list_audit(
        &self,
        request: Request<pb::ListAuditRequest>,
    ) -> Result<Response<pb::ListAuditReply>, Status> {
        audit::list(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn list_accounts(
        &self,
        _request: Request<pb::ListAccountsRequest>,
    ) -> Result<Response<pb::ListAccountsReply>, Status> {
        accounts::list(&self.ctx).map(Response::new)
    }

    async fn get_account(
        &self,
        request: Request<pb::GetAccountRequest>,
    ) -> Result<Response<pb::Account>, Status> {
        accounts::get(&self.ctx, request.get_ref()).map(Response::new)
    }

    async fn put_account(
        &self,
        request: Request<pb::PutAccountRequest>,
    ) -> Result<Response<pb::Account>, Status> {
        let req = request.into_inner();
        let target = req.account.clone();
        let (account, detail) = accounts::put(&self.ctx, req).await?;
        let mut resp = Response::new(account);
        resp.extensions_mut().insert(AuditNote {
            target,
            outcome: "ok".into(),
            detail,
        });
        Ok(resp)
    }

    async fn remove_account(
        &self,
        request: Request<pb::RemoveAccountRequest>,
    ) -> Result<Response<pb::RemoveAccountReply>, Status> {
        let req = request.into_inner();
        accounts::remove(&self.ctx, &req).await?;
        let mut resp = Response::new(pb::RemoveAccountReply {});
        resp.extensions_mut().insert(AuditNote {
            target: req.account,
            outcome: "ok".into(),
            detail: "{}".into(),
        });
        Ok(resp)
    }

    async fn list_alarms(
        &self,
        request: Request<pb::ListAlarmsRequest>,
    ) -> Result<Response<pb::ListAlarmsReply>, Status> {
        alarms::list(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn get_alarm(
        &self,
        request: Request<pb::GetAlarmRequest>,
    ) -> Result<Response<pb::GetAlarmReply>, Status> {
        alarms::get(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }

    type WatchAlarmsStream = super::budget::BudgetStream<pb::WatchAlarmsReply>;

    async fn watch_alarms(
        &self,
        request: Request<pb::WatchAlarmsRequest>,
    ) -> Result<Response<Self::WatchAlarmsStream>, Status> {
        let source = request.remote_addr().map(|a| a.ip());
        alarm_watch::start(&self.ctx, request.into_inner(), source).map(Response::new)
    }

    async fn take_alarm(
        &self,
        request: Request<pb::TakeAlarmRequest>,
    ) -> Result<Response<pb::AlarmReply>, Status> {
        let who = alarms::caller(&request);
        let req = request.into_inner();
        let r = self.ctx.h.alarms.take(req.id, &who, req.force).await;
        let detail = serde_json::json!({ "force": req.force });
        alarms::reply(&self.ctx, req.id, detail, r)
    }

    async fn release_alarm(
        &self,
        request: Request<pb::ReleaseAlarmRequest>,
    ) -> Result<Response<pb::AlarmReply>, Status> {
        let who = alarms::caller(&request);
        let req = request.into_inner();
        let r = self.ctx.h.alarms.release(req.id, &who, req.force).await;
        let detail = serde_json::json!({ "force": req.force });
        alarms::reply(&self.ctx, req.id, detail, r)
    }

    async fn add_alarm_note(
        &self,
        request: Request<pb::AddAlarmNoteRequest>,
    ) -> Result<Response<pb::AlarmReply>, Status> {
        let who = alarms::caller(&request);
        let req = request.into_inner();
        let r = self.ctx.h.alarms.note(req.id, &who, &req.text).await;
        alarms::reply(&self.ctx, req.id, serde_json::json!({}), r)
    }

    async fn close_alarm(
        &self,
        request: Request<pb::CloseAlarmRequest>,
    ) -> Result<Response<pb::AlarmReply>, Status> {
        let who = alarms::caller(&request);
        let req = request.into_inner();
        let r = self
            .ctx
            .h
            .alarms
            .close(req.id, &who, &req.resolution, &req.note, req.force)
            .await;
        let detail = serde_json::json!({ "resolution": req.resolution, "force": req.force });
        alarms::reply(&self.ctx, req.id, detail, r)
    }
}

/// Who asked, for control events: `token:NAME grpc:<address>` when the access check named
/// the caller, `grpc:<address>` for anonymous callers (access control off).
fn actor(identity: Option<&Identity>, addr: Option<SocketAddr>) -> String {
    let by = requested_by(addr);
    match identity {
        Some(id) if id.kind != Kind::Anonymous => format!("{} {by}", id.actor()),
        _ => by,
    }
}

/// `grpc:<client address>` for the audit trail and the `peer` of ingested events.
fn requested_by(addr: Option<SocketAddr>) -> String {
    match addr {
        Some(a) => format!("grpc:{a}"),
        None => "grpc:unknown".to_string(),
    }
}

/// `page_size` of a list request: 0 means the default, otherwise 1..=1000.
fn page_size(n: i32) -> Result<usize, Status> {
    match usize::try_from(n) {
        Ok(0) => Ok(DEFAULT_PAGE_SIZE),
        Ok(n) if n <= MAX_PAGE_SIZE => Ok(n),
        _ => Err(Status::invalid_argument(format!(
            "page_size {n} is out of range (1..={MAX_PAGE_SIZE}, or 0 for {DEFAULT_PAGE_SIZE})"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_defaults_caps_and_names_the_field() {
        assert_eq!(page_size(0).ok(), Some(DEFAULT_PAGE_SIZE));
        assert_eq!(page_size(1).ok(), Some(1));
        assert_eq!(page_size(1000).ok(), Some(1000));
        for bad in [-1, 1001, i32::MAX] {
            let e = page_size(bad)
                .err()
                .map(|s| (s.code(), s.message().to_string()));
            let (code, msg) = e.unwrap_or((tonic::Code::Ok, String::new()));
            assert_eq!(code, tonic::Code::InvalidArgument);
            assert!(msg.contains("page_size"), "{msg}");
        }
    }

    #[test]
    fn requested_by_names_the_client() {
        let a: SocketAddr = ([127, 0, 0, 1], 4000).into();
        assert_eq!(requested_by(Some(a)), "grpc:127.0.0.1:4000");
        assert_eq!(requested_by(None), "grpc:unknown");
    }

    #[test]
    fn actor_names_the_token_and_the_address() {
        let a: SocketAddr = ([127, 0, 0, 1], 4000).into();
        let id = Identity {
            name: "ops".into(),
            role: crate::auth::Role::Operator,
            kind: Kind::Token,
            addr: Some(a),
        };
        assert_eq!(actor(Some(&id), Some(a)), "token:ops grpc:127.0.0.1:4000");
        let anon = Identity::anonymous(crate::auth::Role::Admin, Some(a));
        assert_eq!(actor(Some(&anon), Some(a)), "grpc:127.0.0.1:4000");
        assert_eq!(actor(None, None), "grpc:unknown");
    }
}
