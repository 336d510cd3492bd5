//! The gRPC server: the frozen compat service `alarm_server.AlarmServer`, the project's
//! `alarmhub.v1.AlarmHub`, `grpc.health.v1` and server reflection (v1 and v1alpha, health
//! descriptors included). Stops with the rest of the daemon.
//!
//! The API owns its state type, [`ApiState`]: the daemon builds one and passes it in, so
//! nothing here depends on how the daemon is wired. Every store failure becomes a gRPC
//! status through one function, [`status::store_status`].
//!
//! Every call passes the access layer ([`crate::auth::grpc::AuthLayer`]) first, which puts
//! the caller's identity into the request's extensions; with TLS configured the listener
//! speaks TLS only ([`crate::auth::listen`]).

pub mod budget;
pub mod compat;
pub mod compat_marks;
pub mod idle;
pub mod status;
pub mod v1;

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::control::Control;
use crate::events::EventBus;
use crate::registry::Registry;
use crate::store::Store;

/// What the gRPC services need from the running daemon.
#[derive(Clone)]
pub struct ApiState {
    /// Configuration (passwords for the compat API, ack timeouts, …).
    pub config: Arc<Config>,
    /// Live panel state.
    pub registry: Arc<Registry>,
    /// Committed events, live.
    pub bus: EventBus,
    /// The event store (reads, ingest, group cursors).
    pub store: Arc<dyn Store>,
    /// Remote control.
    pub control: Control,
    /// Tokens, users, the access check and the audit trail.
    pub auth: Arc<crate::auth::Auth>,
    /// Alarm handling (list, take, close …), over the same store.
    pub alarms: crate::alarms::Alarms,
    /// The compat API's full-`Sync` marks shared with the other nodes (a shared store
    /// only): `IsNeedSync`, `Sync` and `ListMachines(changed_since_sync)` read them first.
    pub compat_marks: Option<Arc<compat_marks::SharedMarks>>,
    /// Where the API runs its background tasks (stream feeders, consumer groups), so the
    /// daemon's shutdown waits for them — group cursors are written before the store closes.
    pub tasks: TaskTracker,
}

/// Why the gRPC server could not run.
#[derive(Debug, Error)]
pub enum ApiError {
    /// The reflection service could not be built from the descriptors.
    #[error("building the gRPC reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The HTTP/2 server failed.
    #[error("the gRPC server on {addr} failed: {source}")]
    Transport {
        /// Where it listened.
        addr: String,
        /// What tonic reported.
        #[source]
        source: tonic::transport::Error,
    },
}

/// Serve gRPC on `listener` until `cancel`, every call checked by `auth`, over TLS when
/// `tls` is given.
pub async fn serve(
    listener: TcpListener,
    state: ApiState,
    tls: Option<Arc<rustls::ServerConfig>>,
    cancel: CancellationToken,
) -> Result<(), ApiError> {
    let addr = listener
        .local_addr()
        .map_or_else(|_| "?".to_string(), |a| a.to_string());
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    for name in ["alarm_server.AlarmServer", "alarmhub.v1.AlarmHub"] {
        health_reporter
            .set_service_status(name, tonic_health::ServingStatus::Serving)
            .await;
    }
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;
    let compat = compat::CompatService::new(&state).into_server();
    let v1 = v1::V1Service::with_shutdown(&state, cancel.clone()).into_server();
    let g = &state.config.grpc;
    let conns = Arc::new(idle::Conns::default());
    let idle_timeout = Duration::from_secs(g.idle_timeout_secs);
    let router = tonic::transport::Server::builder()
        // Bounded whatever clients do: streams per connection, dead peers found by
        // keepalive pings (HTTP/2 and TCP), connections without a call closed after
        // `idle_timeout_secs` (the outermost layer counts the calls).
        .max_concurrent_streams(g.max_streams_per_connection)
        .http2_keepalive_interval(Some(Duration::from_secs(g.keepalive_secs)))
        .http2_keepalive_timeout(Some(Duration::from_secs(g.keepalive_timeout_secs)))
        .tcp_keepalive(Some(Duration::from_secs(g.keepalive_secs)))
        .layer(idle::IdleLayer::new(&conns))
        .layer(crate::auth::grpc::AuthLayer::new(Arc::clone(&state.auth)))
        .add_service(compat)
        .add_service(v1)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    if let Some(tls) = tls {
        let ready = crate::auth::listen::tls_streams(listener, tls, cancel.clone());
        let conns = Arc::clone(&conns);
        let incoming = tokio_stream::StreamExt::map(
            tokio_stream::wrappers::ReceiverStream::new(ready),
            move |s| {
                let peer = s.get_ref().0.peer_addr().ok();
                Ok::<_, std::io::Error>(idle::IdleIo::new(s, peer, &conns, idle_timeout))
            },
        );
        return router
            .serve_with_incoming_shutdown(incoming, async move { cancel.cancelled().await })
            .await
            .map_err(|source| ApiError::Transport { addr, source });
    }
    // tonic ignores its own `tcp_nodelay` setting with `serve_with_incoming`: without it,
    // Nagle's algorithm held back small streamed replies (a WatchEvents event) until the
    // client's delayed ACK, ~40 ms. `plain_streams` sets it and backs off on accept errors.
    let ready = crate::auth::listen::plain_streams(listener, cancel.clone());
    let incoming = tokio_stream::StreamExt::map(
        tokio_stream::wrappers::ReceiverStream::new(ready),
        move |stream| {
            let peer = stream.peer_addr().ok();
            Ok::<_, std::io::Error>(idle::IdleIo::new(stream, peer, &conns, idle_timeout))
        },
    );
    router
        .serve_with_incoming_shutdown(incoming, async move { cancel.cancelled().await })
        .await
        .map_err(|source| ApiError::Transport { addr, source })
}
