//! TCP panel listener: accept with a global connection cap, a per-IP cap, a per-source
//! rate of new connections and the penalty box (sources that sent too much invalid input;
//! see `penalty.rs`: their new connections are held unread for a while, then closed), back
//! off on accept errors, and run one task per connection until it closes or the receiver
//! shuts down. A connection's session (link, buffers, command channel) is built only once
//! its first bytes arrive, so a flood of connections that say nothing costs a socket and a
//! timer each. Every select branch is cancel-safe: the session owns its buffer. The replies
//! of one read pass go out in one write, bounded by the write timeout.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::task::TaskTracker;

use super::session::{CloseReason, Session, Transport, WakeTimer};
use super::Shared;
use crate::metrics::names;

/// Open connections per remote IP.
#[derive(Default)]
struct PerIp(Mutex<HashMap<IpAddr, usize>>);

impl PerIp {
    fn try_add(&self, ip: IpAddr, max: usize) -> bool {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return false;
        }
        *n += 1;
        true
    }

    fn remove(&self, ip: IpAddr) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&ip);
            }
        }
    }
}

/// Accept panels on `listener` until shutdown; sessions are tracked by `tracker`. A
/// connection beyond `max_connections` (or the per-IP cap) is closed at once, counted and
/// logged as a summary (the first, then one line per minute with a count).
pub async fn run(listener: TcpListener, shared: Arc<Shared>, tracker: TaskTracker) {
    let limit = Arc::new(Semaphore::new(shared.max_connections));
    let per_ip = Arc::new(PerIp::default());
    let mut rate = super::penalty::ConnectRate::default();
    let mut held = super::penalty::Held::default();
    let mut backoff = Duration::from_millis(10);
    loop {
        let (stream, peer) = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            () = held.release_due() => continue,
            r = listener.accept() => match r {
                Ok(x) => { backoff = Duration::from_millis(10); x }
                Err(e) => {
                    // Out of file descriptors and similar: wait instead of spinning.
                    if shared.guards.refusals.note("accept_error", std::time::Instant::now()).is_some() {
                        tracing::warn!(error = %e, "accept failed; backing off {:?}", backoff);
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            },
        };
        let now = std::time::Instant::now();
        // A reload may change the limits: read them for every connection.
        let settings = shared.config.settings();
        let cfg = &settings.panel;
        if shared.guards.penalty.holds(peer.ip(), now) {
            // Held unread, then closed: refused all the same, but a source that reconnects
            // in a loop waits for it.
            count_refusal(&shared, peer, "penalty", cfg.max_invalid_per_min as usize);
            held.hold(stream);
            continue;
        }
        if !rate.admit(
            peer.ip(),
            now,
            cfg.connect_rate_per_source,
            cfg.connect_burst_per_source,
        ) {
            refuse(
                &shared,
                stream,
                peer,
                "connect_rate",
                cfg.connect_rate_per_source as usize,
            );
            continue;
        }
        let Ok(permit) = Arc::clone(&limit).try_acquire_owned() else {
            refuse(
                &shared,
                stream,
                peer,
                "max_connections",
                shared.max_connections,
            );
            continue;
        };
        // A reload may change the per-address cap: read it for every connection.
        let per_ip_cap = shared.config.settings().panel.max_connections_per_ip;
        if !per_ip.try_add(peer.ip(), per_ip_cap) {
            refuse(&shared, stream, peer, "per_ip", per_ip_cap);
            continue;
        }
        let shared = Arc::clone(&shared);
        let per_ip = Arc::clone(&per_ip);
        tracker.spawn(async move {
            metrics::gauge!(names::CONNECTIONS_OPEN).increment(1.0);
            tracing::debug!(peer = %peer, "connection opened");
            let (reason, spoke) = serve_connection(stream, peer, Arc::clone(&shared)).await;
            // A connection that never carried a valid frame is no panel's: debug only (a
            // connection flood would otherwise write a line per connection).
            if spoke {
                tracing::info!(peer = %peer, reason = reason.as_str(), "connection closed");
            } else {
                tracing::debug!(peer = %peer, reason = reason.as_str(), "connection closed");
            }
            metrics::gauge!(names::CONNECTIONS_OPEN).decrement(1.0);
            per_ip.remove(peer.ip());
            drop(permit);
        });
    }
}

/// Close a connection over a cap at once: counted by `reason`, logged as a summary.
fn refuse(
    shared: &Shared,
    stream: TcpStream,
    peer: SocketAddr,
    reason: &'static str,
    limit: usize,
) {
    drop(stream);
    count_refusal(shared, peer, reason, limit);
}

/// Count a refused connection by `reason`, and log it as a summary (the first, then one
/// line per minute per reason).
fn count_refusal(shared: &Shared, peer: SocketAddr, reason: &'static str, limit: usize) {
    metrics::counter!(names::CONNECTIONS_REFUSED_TOTAL, "reason" => reason).increment(1);
    if let Some(suppressed) = shared
        .guards
        .refusals
        .note(reason, std::time::Instant::now())
    {
        tracing::warn!(peer = %peer, reason, limit, suppressed,
            "connection refused: over the cap (then one line per minute)");
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
) -> (CloseReason, bool) {
    let accepted = tokio::time::Instant::now();
    if let Some(reason) = first_bytes(&stream, &shared).await {
        return (reason, false);
    }
    let _ = stream.set_nodelay(true);
    let (cmd_tx, mut cmd_rx) = mpsc::channel(16);
    let write_timeout = Duration::from_secs(shared.config.settings().panel.write_timeout_secs);
    // The link's clock starts at the accept: the first-frame timeout counts from there.
    let mut session = Session::new_at(
        Arc::clone(&shared),
        peer,
        cmd_tx,
        Transport::Stream,
        accepted,
    );
    let mut out = Vec::with_capacity(256);
    // Both futures live as long as the connection: registering with the shutdown token and
    // the timer wheel once, not on every frame, keeps shared locks off the per-event path.
    let cancelled = shared.shutdown.cancelled();
    tokio::pin!(cancelled);
    let mut timer = WakeTimer::new();
    let reason = loop {
        timer.arm(session.next_wake());
        if session.buf.capacity() - session.buf.len() < 512 {
            session.buf.reserve(1024);
        }
        // While the link asks for a pause the socket is not read: the panel's own
        // buffers fill and it slows down (back-pressure), and nothing is dropped.
        let reading = session.reading();
        let closing = tokio::select! {
            _ = &mut cancelled => Some(CloseReason::Shutdown),
            r = stream.read_buf(&mut session.buf), if reading => match r {
                Ok(0) => Some(CloseReason::ClosedByPeer),
                Ok(_) => { session.process_buffer(&mut out).await; session.invalid_close() }
                Err(e) => Some(CloseReason::Io(format!("read error: {e}"))),
            },
            Some(req) = cmd_rx.recv() => { session.on_command(req, &mut out).await; None }
            _ = timer.fired() => session.on_wake(&mut out).await,
        };
        if !out.is_empty() {
            if let Err(reason) = write_replies(&stream, &out, write_timeout).await {
                break reason;
            }
            out.clear();
        }
        if let Some(r) = closing {
            break r;
        }
    };
    // Release the socket first: the panel sees the close at once, not after the OFFLINE
    // event's commit.
    drop(stream);
    let spoke = session.spoke();
    session.close(reason.clone()).await;
    (reason, spoke)
}

/// Wait for a new connection's first bytes with nothing but its socket and one timer;
/// `Some` is the reason to close instead: shut down, a read error, or nothing within the
/// first-frame timeout (the link would close it for that too, having seen no frame).
async fn first_bytes(stream: &TcpStream, shared: &Shared) -> Option<CloseReason> {
    let timeout = Duration::from_secs(shared.config.settings().panel.first_frame_timeout_secs);
    tokio::select! {
        _ = shared.shutdown.cancelled() => Some(CloseReason::Shutdown),
        r = stream.readable() => r.err().map(|e| CloseReason::Io(format!("read error: {e}"))),
        () = tokio::time::sleep(timeout) => Some(CloseReason::NoValidFrame),
    }
}

/// Write `out` whole. The replies almost always fit the socket buffer at once, so a
/// non-blocking write comes first; only a rest that does not fit waits, bounded by
/// `timeout` (a timer per reply would take the runtime's timer lock for every event).
async fn write_replies(
    stream: &TcpStream,
    out: &[u8],
    timeout: Duration,
) -> Result<(), CloseReason> {
    let mut rest = out;
    match stream.try_write(rest) {
        Ok(n) => rest = &rest[n..],
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(CloseReason::Io(format!("write error: {e}"))),
    }
    if rest.is_empty() {
        return Ok(());
    }
    let write_rest = async {
        while !rest.is_empty() {
            stream.writable().await?;
            match stream.try_write(rest) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    };
    match tokio::time::timeout(timeout, write_rest).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(CloseReason::Io(format!("write error: {e}"))),
        Err(_) => Err(CloseReason::Io(
            "peer does not read its replies (write timeout)".into(),
        )),
    }
}
