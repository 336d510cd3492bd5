//! Accepting API connections: plain TCP, or TLS with the handshake done on its own task (a
//! slow or silent client never holds up the accept loop). Both listeners set TCP_NODELAY:
//! without it Nagle's algorithm held small streamed gRPC replies back until the client's
//! delayed ACK (~40 ms).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// A TLS handshake must finish within this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Finished handshakes waiting for the server at most.
const READY_QUEUE: usize = 1024;

fn nodelay(s: &TcpStream) {
    if let Err(e) = s.set_nodelay(true) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY on an API connection");
    }
}

/// Accept on `listener` until `cancel`, shake hands with `config`, and hand over the
/// finished TLS streams. Failed handshakes (no client certificate under mutual TLS, a
/// plain-text client) are logged at debug level and dropped.
pub fn tls_streams(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    cancel: CancellationToken,
) -> mpsc::Receiver<TlsStream<TcpStream>> {
    let (tx, rx) = mpsc::channel(READY_QUEUE);
    let acceptor = TlsAcceptor::from(config);
    tokio::spawn(async move {
        while let Some((tcp, peer)) = accept(&listener, &cancel).await {
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => {
                        let _ = tx.send(s).await;
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                }
            });
        }
    });
    rx
}

/// Accept plain TCP API connections on `listener` until `cancel` and hand them over with
/// `TCP_NODELAY` set (through `accept`, which backs off on errors where a bare
/// `TcpListenerStream` retried at once).
pub fn plain_streams(
    listener: TcpListener,
    cancel: CancellationToken,
) -> mpsc::Receiver<TcpStream> {
    let (tx, rx) = mpsc::channel(READY_QUEUE);
    tokio::spawn(async move {
        while let Some((tcp, _)) = accept(&listener, &cancel).await {
            if tx.send(tcp).await.is_err() {
                return;
            }
        }
    });
    rx
}

/// The next API connection, with `TCP_NODELAY` set; `None` once `cancel` fires. An accept
/// error (`EMFILE` when the process is out of descriptors) backs off 100 ms instead of
/// retrying at once: a spinning accept burns a CPU and takes every descriptor the moment
/// another part of the daemon (the panel listener's spare, see `receiver/tcp.rs`) frees one.
async fn accept(
    listener: &TcpListener,
    cancel: &CancellationToken,
) -> Option<(TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return None,
            r = listener.accept() => match r {
                Ok((tcp, peer)) => {
                    nodelay(&tcp);
                    return Some((tcp, peer));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accepting an API connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

/// Any byte stream an API connection can be.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The HTTP listener for axum: plain TCP or finished TLS streams.
pub enum HttpListener {
    /// Plain HTTP.
    Plain(TcpListener),
    /// HTTPS: streams from [`tls_streams`].
    Tls {
        /// Finished handshakes.
        ready: mpsc::Receiver<TlsStream<TcpStream>>,
        /// The bound address.
        local: SocketAddr,
    },
}

/// The client address of an HTTP connection (axum connect info).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

impl axum::serve::Listener for HttpListener {
    type Io = Pin<Box<dyn Io>>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, SocketAddr) {
        loop {
            match self {
                HttpListener::Plain(l) => match TcpListener::accept(l).await {
                    Ok((s, peer)) => {
                        nodelay(&s);
                        return (Box::pin(s), peer);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "accepting an HTTP connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                HttpListener::Tls { ready, .. } => match ready.recv().await {
                    Some(s) => {
                        let peer = s.get_ref().0.peer_addr();
                        let peer = peer.unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
                        return (Box::pin(s), peer);
                    }
                    // The accept task ended (shutdown): nothing more will come.
                    None => std::future::pending::<()>().await,
                },
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            HttpListener::Plain(l) => l.local_addr(),
            HttpListener::Tls { local, .. } => Ok(*local),
        }
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, HttpListener>>
    for PeerAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, HttpListener>) -> PeerAddr {
        PeerAddr(*stream.remote_addr())
    }
}
