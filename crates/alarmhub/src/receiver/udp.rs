//! UDP panel listener: datagrams from one remote address form one virtual session (same
//! rules, supervision and commands as TCP); replies go back to that address. Each datagram
//! is decoded on its own — a partial frame in a datagram is dropped, not buffered.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use super::session::{CloseReason, Session, Transport, WakeTimer};
use super::Shared;
use crate::metrics::names;

/// Receive datagrams on `socket` until shutdown.
pub async fn run(socket: UdpSocket, shared: Arc<Shared>, tracker: TaskTracker) {
    let socket = Arc::new(socket);
    let mut peers: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>> = HashMap::new();
    let (gone_tx, mut gone_rx) = mpsc::unbounded_channel::<SocketAddr>();
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, peer) = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            Some(p) = gone_rx.recv() => { peers.remove(&p); continue; }
            r = socket.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(e) => { tracing::warn!(error = %e, "udp receive failed"); continue; }
            },
        };
        let datagram = buf[..n].to_vec();
        if let Some(tx) = peers.get(&peer) {
            if tx.try_send(datagram).is_err() {
                metrics::counter!(names::FRAMES_TOTAL, "id" => "udp", "outcome" => "dropped")
                    .increment(1);
                tracing::warn!(peer = %peer, "udp peer is flooding; datagram dropped");
            }
            continue;
        }
        if peers.len() >= shared.config.panel.max_connections {
            tracing::warn!(peer = %peer, "udp peer refused: too many peers");
            continue;
        }
        let (tx, rx) = mpsc::channel(64);
        let _ = tx.try_send(datagram);
        peers.insert(peer, tx);
        let shared = Arc::clone(&shared);
        let socket = Arc::clone(&socket);
        let gone = gone_tx.clone();
        tracker.spawn(async move {
            let reason = serve_peer(socket, peer, rx, shared).await;
            tracing::info!(peer = %peer, reason = reason.as_str(), "udp session ended");
            let _ = gone.send(peer);
        });
    }
}

async fn serve_peer(
    socket: Arc<UdpSocket>,
    peer: SocketAddr,
    mut rx: mpsc::Receiver<Vec<u8>>,
    shared: Arc<Shared>,
) -> CloseReason {
    let (cmd_tx, mut cmd_rx) = mpsc::channel(16);
    let mut session = Session::new(Arc::clone(&shared), peer, cmd_tx, Transport::Datagram);
    let mut out = Vec::with_capacity(256);
    // Registered once per peer, not per datagram (see `WakeTimer`).
    let cancelled = shared.shutdown.cancelled();
    tokio::pin!(cancelled);
    let mut timer = WakeTimer::new();
    let reason = loop {
        timer.arm(session.next_wake());
        // A paused peer's datagrams wait in its queue (and are dropped when it is full).
        let reading = session.reading();
        let closing = tokio::select! {
            _ = &mut cancelled => Some(CloseReason::Shutdown),
            d = rx.recv(), if reading => match d {
                Some(d) => {
                    session.buf.clear();
                    session.buf.extend_from_slice(&d);
                    session.process_buffer(&mut out).await;
                    None
                }
                None => Some(CloseReason::Shutdown),
            },
            Some(req) = cmd_rx.recv() => { session.on_command(req, &mut out).await; None }
            _ = timer.fired() => session.on_wake(&mut out).await,
        };
        if !out.is_empty() {
            if let Err(e) = socket.send_to(&out, peer).await {
                tracing::warn!(peer = %peer, error = %e, "udp send failed");
            }
            out.clear();
        }
        if let Some(r) = closing {
            break r;
        }
    };
    session.close(reason.clone()).await;
    reason
}
