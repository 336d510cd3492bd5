//! The gRPC server: the frozen compat service `alarm_server.AlarmServer`, the project's
//! `alarmhub.v1.AlarmHub`, `grpc.health.v1` and server reflection (v1 and v1alpha, health
//! descriptors included). Stops with the rest of the daemon.
//!
//! Every call passes the access layer ([`crate::auth::grpc::AuthLayer`]) first, which puts
//! the caller's identity into the request's extensions; with TLS configured the listener
//! speaks TLS only ([`crate::auth::listen`]).

pub mod compat;
pub mod v1;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::server::Handles;

/// Serve gRPC on `listener` until `cancel`, every call checked by `auth`, over TLS when
/// `tls` is given.
pub async fn serve(
    listener: TcpListener,
    handles: Handles,
    auth: Arc<crate::auth::Auth>,
    tls: Option<Arc<rustls::ServerConfig>>,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    for name in ["alarm_server.AlarmServer", "alarmhub.v1.AlarmHub"] {
        health_reporter
            .set_service_status(name, tonic_health::ServingStatus::Serving)
            .await;
    }
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let compat = compat::CompatService::new(&handles).into_server();
    let v1 = v1::V1Service::with_shutdown(&handles, cancel.clone()).into_server();
    let router = tonic::transport::Server::builder()
        .layer(crate::auth::grpc::AuthLayer::new(auth))
        .add_service(compat)
        .add_service(v1)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    if let Some(tls) = tls {
        let ready = crate::auth::listen::tls_streams(listener, tls, cancel.clone());
        let incoming = tokio_stream::StreamExt::map(
            tokio_stream::wrappers::ReceiverStream::new(ready),
            Ok::<_, std::io::Error>,
        );
        router
            .serve_with_incoming_shutdown(incoming, async move { cancel.cancelled().await })
            .await?;
        return Ok(());
    }
    // tonic ignores its own `tcp_nodelay` setting with `serve_with_incoming`: without this,
    // Nagle's algorithm held back small streamed replies (a WatchEvents event) until the
    // client's delayed ACK, ~40 ms.
    let incoming = tokio_stream::StreamExt::map(
        tokio_stream::wrappers::TcpListenerStream::new(listener),
        |conn| {
            conn.inspect(|stream| {
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::debug!(error = %e, "cannot set TCP_NODELAY on a gRPC connection");
                }
            })
        },
    );
    router
        .serve_with_incoming_shutdown(incoming, async move { cancel.cancelled().await })
        .await?;
    Ok(())
}

/// Bind the gRPC listener (separately, so `serve` can report the address before serving).
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    use anyhow::Context;
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the gRPC listener on {addr}"))
}
