//! `grpc.idle_timeout_secs`: a gRPC connection with no call in progress for that long is
//! closed by the server. HTTP/2 keepalive only finds dead peers; a live client that opens
//! connections and leaves them unused would otherwise hold a descriptor and its buffers for
//! ever.
//!
//! Two halves meet on the connection's `ConnState`: [`IdleIo`] wraps the connection's byte
//! stream and ends it (the next read sees end of file, hyper drops the connection) once the
//! connection has had no call for the timeout; [`IdleLayer`] counts the calls in progress —
//! from the request until its response body is finished or dropped, so an open stream
//! (`WatchEvents`, `Subscribe` …) keeps its connection. Keepalive pings do not count as use.
//! The layer finds the connection by its remote address (tonic puts it into every request).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};
use tonic::transport::server::Connected;
use tower::{Layer, Service};

use crate::metrics::names;

/// One connection's calls in progress, and since when it has had none.
#[derive(Debug)]
struct ConnState {
    active: AtomicUsize,
    idle_since: Mutex<Instant>,
}

impl ConnState {
    fn idle_since(&self) -> Instant {
        *self.idle_since.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The open connections by remote address.
#[derive(Debug, Default)]
pub struct Conns(Mutex<HashMap<SocketAddr, Arc<ConnState>>>);

impl Conns {
    fn get(&self, peer: SocketAddr) -> Option<Arc<ConnState>> {
        self.lock().get(&peer).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Arc<ConnState>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A connection's byte stream that ends after `timeout` without a call.
pub struct IdleIo<S> {
    inner: S,
    state: Arc<ConnState>,
    conns: Arc<Conns>,
    peer: Option<SocketAddr>,
    timeout: Duration,
    sleep: Pin<Box<Sleep>>,
    ended: bool,
}

impl<S> IdleIo<S> {
    /// Wrap `inner` from `peer` (`None`: unknown, the connection is never idle-closed);
    /// `timeout` zero: never.
    pub fn new(inner: S, peer: Option<SocketAddr>, conns: &Arc<Conns>, timeout: Duration) -> Self {
        let now = Instant::now();
        let state = Arc::new(ConnState {
            active: AtomicUsize::new(0),
            idle_since: Mutex::new(now),
        });
        let peer = peer.filter(|_| !timeout.is_zero());
        if let Some(p) = peer {
            conns.lock().insert(p, Arc::clone(&state));
        }
        IdleIo {
            inner,
            state,
            conns: Arc::clone(conns),
            peer,
            timeout,
            sleep: Box::pin(tokio::time::sleep_until(now + timeout)),
            ended: false,
        }
    }

    /// Whether the connection has been idle for the timeout (registering the timer when
    /// not).
    fn idle_expired(&mut self, cx: &mut Context<'_>) -> bool {
        if self.peer.is_none() {
            return false;
        }
        loop {
            if self.sleep.as_mut().poll(cx).is_pending() {
                return false;
            }
            let now = Instant::now();
            let deadline = if self.state.active.load(Ordering::Acquire) > 0 {
                now + self.timeout
            } else {
                self.state.idle_since() + self.timeout
            };
            if deadline <= now {
                return true;
            }
            self.sleep.as_mut().reset(deadline);
        }
    }
}

impl<S> Drop for IdleIo<S> {
    fn drop(&mut self) {
        if let Some(p) = self.peer {
            let mut m = self.conns.lock();
            if m.get(&p).is_some_and(|s| Arc::ptr_eq(s, &self.state)) {
                m.remove(&p);
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for IdleIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.ended {
            return Poll::Ready(Ok(()));
        }
        if let Poll::Ready(r) = Pin::new(&mut self.inner).poll_read(cx, buf) {
            return Poll::Ready(r);
        }
        if self.idle_expired(cx) {
            self.ended = true;
            metrics::counter!(names::GRPC_IDLE_CLOSED_TOTAL).increment(1);
            tracing::debug!(peer = ?self.peer, timeout = ?self.timeout,
                "gRPC connection closed: no call for grpc.idle_timeout_secs");
            // End of file: hyper ends the connection and drops the socket.
            return Poll::Ready(Ok(()));
        }
        Poll::Pending
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for IdleIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl<S: Connected> Connected for IdleIo<S> {
    type ConnectInfo = S::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

/// A call in progress on a connection: counted until dropped.
struct Call(Arc<ConnState>);

impl Call {
    fn start(state: Arc<ConnState>) -> Call {
        state.active.fetch_add(1, Ordering::AcqRel);
        Call(state)
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            *self.0.idle_since.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        }
    }
}

/// Counts each call from its request to the end of its response body.
#[derive(Debug, Clone)]
pub struct IdleLayer {
    conns: Arc<Conns>,
}

impl IdleLayer {
    /// Calls on the connections of `conns`.
    pub fn new(conns: &Arc<Conns>) -> IdleLayer {
        IdleLayer {
            conns: Arc::clone(conns),
        }
    }
}

impl<S> Layer<S> for IdleLayer {
    type Service = IdleService<S>;

    fn layer(&self, inner: S) -> IdleService<S> {
        IdleService {
            inner,
            conns: Arc::clone(&self.conns),
        }
    }
}

/// The service [`IdleLayer`] makes.
#[derive(Debug, Clone)]
pub struct IdleService<S> {
    inner: S,
    conns: Arc<Conns>,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for IdleService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Send,
    S::Future: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = http::Response<CallBody<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let call = crate::auth::grpc::peer_addr(req.extensions())
            .and_then(|p| self.conns.get(p))
            .map(Call::start);
        let fut = self.inner.call(req);
        Box::pin(async move {
            let resp = fut.await?;
            Ok(resp.map(|body| CallBody { body, _call: call }))
        })
    }
}

/// A response body that keeps its call counted until it is finished or dropped.
pub struct CallBody<B> {
    body: B,
    _call: Option<Call>,
}

impl<B> http_body::Body for CallBody<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
