//! TCP panel listener: accept with a global connection cap, a per-IP cap, a per-source
//! rate of new connections and the penalty box (sources that sent too much invalid input;
//! see `penalty.rs`: their new connections are held unread for a while, then closed), back
//! off on accept errors, and run one session task per connection until it closes or the
//! receiver shuts down. A connection's session (link, buffers, command channel) is built
//! only once its first bytes arrive, so a flood of connections that say nothing costs a
//! socket and a timer each. Every select branch is cancel-safe: the session owns its
//! buffer and the pipeline its store call. While a pass waits for the store
//! (`pipeline.rs`) the connection keeps reading: a heartbeat is answered at once, and a
//! panel that gave up is released at once, with its slot under the caps (`peer_watch.rs`).
//! The replies of one read pass go out in one write, bounded by the write timeout.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::task::TaskTracker;

use super::peer_watch::{self, Open};
use super::pipeline::Pipeline;
use super::session::{CloseReason, Session, Transport, WakeTimer};
use super::Shared;
use crate::control::CommandRequest;
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
    // Sessions live on a little after their socket (an OFFLINE to store, a step waiting for
    // the store): bounded too, at twice the sockets, so panels reconnecting through a long
    // store stall cannot pile up sessions without end.
    let sessions = Arc::new(Semaphore::new(shared.max_connections.saturating_mul(2)));
    let per_ip = Arc::new(PerIp::default());
    let mut rate = super::penalty::ConnectRate::default();
    let mut held = super::penalty::Held::default();
    let mut backoff = Duration::from_millis(10);
    let mut spare = Spare::open();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            () = held.release_due() => continue,
            r = listener.accept() => match r {
                Ok(x) => { backoff = Duration::from_millis(10); x }
                Err(e) if Spare::out_of_descriptors(&e) && spare.is_held() => {
                    match spare.shed(&listener) {
                        Shed::Closed => refused(&shared, None, "fd_limit", 0),
                        // The kernel says EMFILE before it looks at the queue: look again
                        // shortly, so a panel that connects meanwhile is closed within this.
                        Shed::Idle => tokio::time::sleep(OUT_OF_DESCRIPTORS_POLL).await,
                    }
                    continue;
                }
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
            refused(
                &shared,
                Some(peer),
                "penalty",
                cfg.max_invalid_per_min as usize,
            );
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
        let (Ok(permit), Ok(session_permit)) = (
            Arc::clone(&limit).try_acquire_owned(),
            Arc::clone(&sessions).try_acquire_owned(),
        ) else {
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
        let slot = Slot {
            _permit: permit,
            per_ip: Arc::clone(&per_ip),
            ip: peer.ip(),
        };
        metrics::gauge!(names::CONNECTIONS_OPEN).increment(1.0);
        let shared = Arc::clone(&shared);
        tracker.spawn(async move {
            tracing::debug!(peer = %peer, "connection opened");
            let open = Open { stream, slot };
            let (reason, spoke) = serve_connection(open, peer, Arc::clone(&shared)).await;
            drop(session_permit);
            // A connection that never carried a valid frame is no panel's: debug only (a
            // connection flood would otherwise write a line per connection).
            if spoke {
                tracing::info!(peer = %peer, reason = reason.as_str(), "connection closed");
            } else {
                tracing::debug!(peer = %peer, reason = reason.as_str(), "connection closed");
            }
        });
    }
}

/// What an accepted connection takes under the caps: its place under `max_connections` and
/// under `max_connections_per_ip`. The caps count sockets (they exist to keep descriptors
/// free), so the slot goes with the socket — also when the session lives on a little to
/// store an OFFLINE or to finish a step that waits for the store.
struct Slot {
    _permit: OwnedSemaphorePermit,
    per_ip: Arc<PerIp>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.per_ip.remove(self.ip);
        metrics::gauge!(names::CONNECTIONS_OPEN).decrement(1.0);
    }
}

/// Close a connection over a cap at once, with a reset (`SO_LINGER` 0): no closing
/// handshake, and no socket left in `TIME_WAIT` on this side for each connection of a
/// flood. Counted by `reason`, logged as a summary.
fn refuse(
    shared: &Shared,
    stream: TcpStream,
    peer: SocketAddr,
    reason: &'static str,
    limit: usize,
) {
    // Counted before the client can see the close, so whoever it tells finds it counted.
    refused(shared, Some(peer), reason, limit);
    // Nothing was written to it, so nothing can be lost; a failure only means a FIN.
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// Count and log (as a summary) a connection closed at accept.
fn refused(shared: &Shared, peer: Option<SocketAddr>, reason: &'static str, limit: usize) {
    metrics::counter!(names::CONNECTIONS_REFUSED_TOTAL, "reason" => reason).increment(1);
    // No allocation per refusal: a flood is the usual case.
    let key = match reason {
        "penalty" => "refused_penalty",
        "connect_rate" => "refused_connect_rate",
        "max_connections" => "refused_max_connections",
        "per_ip" => "refused_per_ip",
        "fd_limit" => "refused_fd_limit",
        _ => "refused_other",
    };
    if let Some(suppressed) = shared.guards.refusals.note(key, std::time::Instant::now()) {
        let peer = peer.map(|p| p.to_string()).unwrap_or_default();
        if reason == "fd_limit" {
            tracing::warn!(peer = %peer, reason, suppressed,
                "connection refused: the process is out of file descriptors (then one line per minute)");
        } else {
            tracing::warn!(peer = %peer, reason, limit, suppressed,
                "connection refused: over the cap (then one line per minute)");
        }
    }
}

/// How often the accept loop looks at its queue while the process is out of descriptors.
const OUT_OF_DESCRIPTORS_POLL: Duration = Duration::from_millis(20);

/// One descriptor held in reserve for the accept loop. When the process is out of
/// descriptors (`EMFILE`), `accept` fails and the connection stays in the kernel's accept
/// queue — where the panel's handshake has completed, so it sends its frames and waits for
/// ACKs that never come, instead of failing over to its other receiver. With the spare
/// closed for a moment, the connection is accepted and shut down at once (the panel sees
/// the close); its socket then stays open as the next spare, so the descriptor never goes
/// back to the process where another thread (the gRPC listener, say) could take it.
///
/// The spare is only closed when a connection is known to be waiting, and the accept
/// follows the close in the next system call: the window in which another thread could
/// take the descriptor is microseconds, not the time a panel takes to connect.
struct Spare(Option<std::os::fd::OwnedFd>);

/// What one attempt to shed a waiting connection came to.
enum Shed {
    /// A waiting connection was accepted and shut down.
    Closed,
    /// No connection was waiting (or another thread took the freed descriptor first).
    Idle,
}

impl Spare {
    fn open() -> Spare {
        Spare(
            std::fs::File::open("/dev/null")
                .ok()
                .map(std::os::fd::OwnedFd::from),
        )
    }

    /// Whether `e` says the process (or the system) has no descriptor left.
    fn out_of_descriptors(e: &std::io::Error) -> bool {
        use rustix::io::Errno;
        matches!(Errno::from_io_error(e), Some(Errno::MFILE | Errno::NFILE))
    }

    /// Whether a spare is held; when not, try to open one again (a descriptor may have
    /// been freed since it was lost), and report false for now: the caller backs off.
    fn is_held(&mut self) -> bool {
        if self.0.is_none() {
            *self = Spare::open();
            return false;
        }
        true
    }

    /// Accept one waiting connection with the spare's descriptor and shut it down.
    fn shed(&mut self, listener: &TcpListener) -> Shed {
        use rustix::event::{poll, PollFd, PollFlags};
        use rustix::net::{accept_with, shutdown, Shutdown, SocketFlags};
        let zero = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let mut waiting = [PollFd::new(listener, PollFlags::IN)];
        if !matches!(poll(&mut waiting, Some(&zero)), Ok(n) if n > 0) {
            return Shed::Idle;
        }
        drop(self.0.take());
        match accept_with(listener, SocketFlags::CLOEXEC) {
            Ok(socket) => {
                let _ = shutdown(&socket, Shutdown::Both);
                self.0 = Some(socket);
                Shed::Closed
            }
            // Nothing after all, or the descriptor went elsewhere: open the spare again
            // (when that fails too, the next round backs off until one is free).
            Err(_) => {
                *self = Spare::open();
                Shed::Idle
            }
        }
    }
}

/// What the connection loop does next.
enum Step {
    /// Hand the link the buffered bytes.
    Read,
    /// Bytes were buffered and are not taken yet (a pass waits for the store).
    Buffered,
    /// The store in flight answered.
    Stored(Result<Vec<crate::events::Appended>, crate::store::StoreError>),
    /// Send a command to the panel.
    Command(CommandRequest),
    /// The session's timer fired.
    Wake,
    /// The peer ended its stream or the socket failed.
    Gone(CloseReason),
    /// The half-close grace is over with stores still pending: release the socket.
    Release,
    /// End the connection.
    Close(CloseReason),
}

async fn serve_connection(
    open: Open<Slot>,
    peer: SocketAddr,
    shared: Arc<Shared>,
) -> (CloseReason, bool) {
    let accepted = tokio::time::Instant::now();
    if let Some(reason) = first_bytes(&open.stream, &shared).await {
        return (reason, false);
    }
    let _ = open.stream.set_nodelay(true);
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
    let peer_text = peer.to_string();
    let mut out = Vec::with_capacity(256);
    // Bytes buffered while no pass may be taken, bounded like the link's own buffer.
    let buf_cap = shared.config.panel.max_frame_len * 2 + 4096;
    // Bytes in the session buffer not yet handed to the link.
    let mut unread = false;
    let mut socket = Some(open);
    let mut pipe = Pipeline::default();
    // The peer ended (or the socket failed) while stores were pending.
    let mut gone: Option<CloseReason> = None;
    let grace = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(grace);
    // Both futures live as long as the connection: registering with the shutdown token and
    // the timer wheel once, not on every frame, keeps shared locks off the per-event path.
    // The connection waits on a child of the receiver's token: polling a waiting
    // cancellation takes its token's lock, and a child's is the connection's own, where the
    // receiver's would be one lock that every connection on every worker takes per wake-up.
    let shutdown = shared.shutdown.child_token();
    let cancelled = shutdown.cancelled();
    tokio::pin!(cancelled);
    let mut timer = WakeTimer::new();
    let reason = loop {
        if let Some(r) = gone.as_ref().filter(|_| pipe.idle()) {
            break r.clone();
        }
        if socket.is_none() && gone.is_none() {
            break CloseReason::ClosedByPeer;
        }
        timer.arm(session.next_wake());
        if session.buf.capacity() - session.buf.len() < 512 {
            session.buf.reserve(1024);
        }
        // While the link asks for a pause the socket is not read: the panel's own
        // buffers fill and it slows down (back-pressure), and nothing is dropped. While a
        // pass waits behind the store's, bytes are only buffered (to a bound), so a panel
        // that gives up is noticed at once.
        let taking = session.reading() && pipe.accepts() && gone.is_none();
        let reading =
            session.reading() && gone.is_none() && (taking || session.buf.len() < buf_cap);
        let holding = socket.is_some();
        let read = async {
            match socket.as_mut() {
                Some(open) => open.stream.read_buf(&mut session.buf).await,
                None => std::future::pending().await,
            }
        };
        let step = tokio::select! {
            _ = &mut cancelled => Step::Close(CloseReason::Shutdown),
            r = pipe.stored(), if pipe.busy() => Step::Stored(r),
            () = std::future::ready(()), if taking && unread => Step::Read,
            r = read, if reading && !(taking && unread) => match r {
                Ok(0) => Step::Gone(CloseReason::ClosedByPeer),
                Ok(_) if taking => Step::Read,
                Ok(_) => Step::Buffered,
                Err(e) => Step::Gone(CloseReason::Io(format!("read error: {e}"))),
            },
            Some(req) = cmd_rx.recv(), if gone.is_none() => Step::Command(req),
            _ = timer.fired(), if gone.is_none() => Step::Wake,
            () = &mut grace, if gone.is_some() && holding => Step::Release,
        };
        let mut closing = None;
        match step {
            Step::Close(r) => closing = Some(r),
            Step::Read => {
                unread = false;
                let pass = session.read_pass();
                pipe.push(pass, &shared, &peer_text, &mut out);
                closing = session.invalid_close();
            }
            Step::Buffered => unread = true,
            Step::Stored(r) => pipe.complete(r, &shared, &peer_text, &mut out),
            Step::Command(req) => {
                let pass = session.command_pass(req);
                pipe.push(pass, &shared, &peer_text, &mut out);
            }
            Step::Wake => {
                let (pass, r) = session.wake_pass();
                pipe.push(pass, &shared, &peer_text, &mut out);
                closing = r;
            }
            Step::Gone(r) => {
                // A peer that only shut down its sending side may still read the ACKs of
                // what is being stored: the socket is kept for a short grace, then released
                // (with its slot under the caps) while the stores finish.
                grace
                    .as_mut()
                    .reset(tokio::time::Instant::now() + peer_watch::HALF_CLOSE_GRACE);
                gone = Some(r);
            }
            Step::Release => socket = None,
        }
        if pipe.idle() {
            // Everything read so far is stored and answered: supervision counts from here.
            session.handled();
        }
        if !out.is_empty() {
            if let Some(open) = socket.as_ref() {
                if let Err(reason) = write_replies(&open.stream, &out, write_timeout).await {
                    break reason;
                }
            }
            out.clear();
        }
        if let Some(r) = closing {
            break r;
        }
    };
    // Release the socket (and its slot under the caps) first: the panel sees the close at
    // once, not after the commits still pending and the OFFLINE event's.
    drop(socket);
    pipe.drain(&shared, &peer_text).await;
    let spoke = session.spoke();
    session.close(reason.clone()).await;
    (reason, spoke)
}

/// Wait for a new connection's first bytes with nothing but its socket and one timer;
/// `Some` is the reason to close instead: shut down, a read error, closed before its first
/// byte, or nothing within the first-frame timeout (the link would close it for that too,
/// having seen no frame).
async fn first_bytes(stream: &TcpStream, shared: &Shared) -> Option<CloseReason> {
    let timeout = Duration::from_secs(shared.config.settings().panel.first_frame_timeout_secs);
    let mut one = [0u8; 1];
    tokio::select! {
        _ = shared.shutdown.cancelled() => Some(CloseReason::Shutdown),
        // Peeked, not read: the session reads the bytes. Readable may also mean closed: a
        // flood that opens connections and drops them together then costs no session each.
        r = stream.peek(&mut one) => match r {
            Ok(0) => Some(CloseReason::ClosedByPeer),
            Ok(_) => None,
            Err(e) => Some(CloseReason::Io(format!("read error: {e}"))),
        },
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
