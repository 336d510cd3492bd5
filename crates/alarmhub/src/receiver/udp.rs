//! UDP panel listener: datagrams from one remote address form one virtual session (same
//! rules, supervision and commands as TCP); replies go back to that address. Each datagram
//! is decoded on its own — a partial frame in a datagram is dropped, not buffered.
//!
//! Memory is bounded whatever peers send: a datagram longer than `panel.max_frame_len` is
//! dropped on arrival, each peer's queue holds at most `panel.udp_peer_queue_bytes`, and all
//! queues together at most `panel.udp_memory_bytes`; beyond them datagrams are dropped,
//! counted (`alarmhub_udp_dropped_total{reason}`) and logged as a summary. A datagram with no
//! LF (no frame can start in it) is dropped before any session work; a source that sends more
//! invalid input than `panel.max_invalid_per_min` goes into the penalty box, and its
//! datagrams are dropped on arrival for the stay.
//!
//! A flood costs the runtime a bounded share: datagrams are read at most
//! `panel.udp_max_datagrams_per_sec` (51,200 by default), counted per `TICK` (the rest
//! wait in the socket's buffer, and the kernel drops what does not fit); once a tick has
//! seen `BUSY` datagrams, the loop takes the next ones at the next tick rather than waking
//! for each (a wake-up is a context switch); and a datagram is read into a buffer one byte
//! longer than `panel.max_frame_len`, so an oversize one is never copied whole. A lone
//! datagram on a quiet socket is still taken at once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use super::session::{CloseReason, Session, Transport, WakeTimer};
use super::Shared;
use crate::metrics::names;

/// Bytes queued: one peer's and everyone's.
struct Queued {
    peer: AtomicUsize,
    all: Arc<AtomicUsize>,
}

impl Queued {
    /// A datagram of `n` bytes left the queue.
    fn release(&self, n: usize) {
        self.peer.fetch_sub(n, Ordering::Relaxed);
        let left = self.all.fetch_sub(n, Ordering::Relaxed).saturating_sub(n);
        metrics::gauge!(names::UDP_QUEUED_BYTES).set(left as f64);
    }
}

/// A live peer: its queue and its byte counts.
struct Peer {
    tx: mpsc::Sender<Vec<u8>>,
    queued: Arc<Queued>,
}

/// Receive datagrams on `socket` until shutdown.
pub async fn run(socket: UdpSocket, shared: Arc<Shared>, tracker: TaskTracker) {
    let socket = Arc::new(socket);
    let cfg = &shared.config.panel;
    let mut peers: HashMap<SocketAddr, Peer> = HashMap::new();
    let all = Arc::new(AtomicUsize::new(0));
    let (gone_tx, mut gone_rx) = mpsc::unbounded_channel::<SocketAddr>();
    // One byte over the longest frame: a longer datagram is cut short by the kernel (and its
    // rest never copied), and the length read says it was oversize. A flood of 64 KiB
    // datagrams then costs a copy of max_frame_len bytes each, not 64 KiB.
    let mut buf = vec![0u8; cfg.max_frame_len.saturating_add(1)];
    let mut garbage = Garbage::default();
    let boxed = metrics::counter!(names::UDP_DROPPED_TOTAL, "reason" => "penalty");
    // Registered with the shutdown token once, not per datagram (its waiter list is locked).
    let cancelled = shared.shutdown.cancelled();
    tokio::pin!(cancelled);
    let mut tick = Tick::new(tokio::time::Instant::now(), cfg.udp_max_datagrams_per_sec);
    loop {
        while let Ok(p) = gone_rx.try_recv() {
            peers.remove(&p);
        }
        if tick.spent() {
            // A flood: the rest waits in the socket's buffer until the next tick (the kernel
            // drops what does not fit), and the runtime serves the sessions meanwhile.
            tokio::select! {
                _ = &mut cancelled => return,
                () = tokio::time::sleep_until(tick.next()) => {}
            }
        }
        let (n, peer) = match socket.try_recv_from(&mut buf) {
            Ok(x) => x,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if tick.busy() {
                    // Busy: the next datagrams are taken at the next tick, together, instead
                    // of a wake-up (a context switch) for each.
                    tokio::select! {
                        _ = &mut cancelled => return,
                        () = tokio::time::sleep_until(tick.next()) => {}
                    }
                } else {
                    tokio::select! {
                        _ = &mut cancelled => return,
                        Some(p) = gone_rx.recv() => { peers.remove(&p); }
                        r = socket.readable() => if let Err(e) = r {
                            tracing::warn!(error = %e, "udp receive failed");
                        },
                    }
                }
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "udp receive failed");
                // Whatever it was, do not spin on it.
                tokio::task::yield_now().await;
                continue;
            }
        };
        tick.count(tokio::time::Instant::now());
        let now = std::time::Instant::now();
        if shared.guards.penalty.holds(peer.ip(), now) {
            // Only counted: the stay was logged when it began, and a flood is the case.
            boxed.increment(1);
            continue;
        }
        if n > cfg.max_frame_len {
            drop_datagram(&shared, peer, "oversize", n);
            continue;
        }
        if !buf[..n].contains(&b'\n') {
            // No frame starts in it: garbage, dropped before any session work, and counted
            // against the source's invalid budget.
            drop_datagram(&shared, peer, "garbage", n);
            // The live budget: a reload may change it.
            let max = shared.config.settings().panel.max_invalid_per_min;
            if garbage.over(peer.ip(), now, max) {
                shared.punish(peer.ip(), "udp");
            }
            continue;
        }
        if !peers.contains_key(&peer) && peers.len() >= cfg.max_connections {
            drop_datagram(&shared, peer, "too_many_peers", n);
            continue;
        }
        if all.load(Ordering::Relaxed) + n > cfg.udp_memory_bytes {
            drop_datagram(&shared, peer, "memory_budget", n);
            continue;
        }
        let p = peers.entry(peer).or_insert_with(|| {
            let (tx, rx) = mpsc::channel(64);
            let queued = Arc::new(Queued {
                peer: AtomicUsize::new(0),
                all: Arc::clone(&all),
            });
            let shared = Arc::clone(&shared);
            let socket = Arc::clone(&socket);
            let gone = gone_tx.clone();
            let q = Arc::clone(&queued);
            tracker.spawn(async move {
                let reason = serve_peer(socket, peer, rx, q, shared).await;
                tracing::info!(peer = %peer, reason = reason.as_str(), "udp session ended");
                let _ = gone.send(peer);
            });
            Peer { tx, queued }
        });
        if p.queued.peer.load(Ordering::Relaxed) + n > cfg.udp_peer_queue_bytes {
            drop_datagram(&shared, peer, "peer_queue", n);
            continue;
        }
        // Counted before the send: the session may take it (and release it) at once.
        p.queued.peer.fetch_add(n, Ordering::Relaxed);
        let total = all.fetch_add(n, Ordering::Relaxed) + n;
        metrics::gauge!(names::UDP_QUEUED_BYTES).set(total as f64);
        if p.tx.try_send(buf[..n].to_vec()).is_err() {
            p.queued.release(n);
            drop_datagram(&shared, peer, "peer_queue", n);
        }
    }
}

/// How long one receive budget lasts.
const TICK: std::time::Duration = std::time::Duration::from_millis(5);
/// Ticks per second: the least `panel.udp_max_datagrams_per_sec` (one datagram per tick).
pub(crate) const TICKS_PER_SEC: u32 = 200;
/// Datagrams in one `TICK` from which the socket counts as busy: when it is then found
/// empty, the loop sleeps to the next tick instead of waking for each datagram.
const BUSY: u32 = 16;

/// The receive loop's budget: at most `per_tick` datagrams per `TICK`. Under a flood the
/// receive loop takes a bounded share of the runtime, and the excess is dropped by the
/// kernel at no cost to the sessions of established panels.
struct Tick {
    start: tokio::time::Instant,
    n: u32,
    per_tick: u32,
}

impl Tick {
    /// A budget of `per_sec` datagrams a second, counted per tick (at least one per tick).
    fn new(now: tokio::time::Instant, per_sec: u32) -> Tick {
        Tick {
            start: now,
            n: 0,
            per_tick: (per_sec / TICKS_PER_SEC).max(1),
        }
    }

    /// One datagram received at `now`.
    fn count(&mut self, now: tokio::time::Instant) {
        if now >= self.start + TICK {
            self.start = now;
            self.n = 0;
        }
        self.n += 1;
    }

    /// Whether this tick's budget is used up.
    fn spent(&self) -> bool {
        self.n >= self.per_tick
    }

    /// Whether this tick has seen enough datagrams to wait for the next one rather than
    /// wake for each.
    fn busy(&self) -> bool {
        self.n >= BUSY
    }

    /// When the next tick begins (its budget starts afresh then).
    fn next(&mut self) -> tokio::time::Instant {
        let next = self.start + TICK;
        self.start = next;
        self.n = 0;
        next
    }
}

/// Garbage datagrams per source in the current minute (the receive loop's own table,
/// bounded: cleared when it grows past its limit).
#[derive(Default)]
struct Garbage(HashMap<std::net::IpAddr, (std::time::Instant, u32)>);

impl Garbage {
    /// Count one from `source`; whether the source is now over `max` per minute (0: never).
    fn over(&mut self, source: std::net::IpAddr, now: std::time::Instant, max: u32) -> bool {
        if max == 0 {
            return false;
        }
        if self.0.len() >= 100_000 && !self.0.contains_key(&source) {
            self.0.clear();
        }
        let (start, n) = self.0.entry(source).or_insert((now, 0));
        if now.saturating_duration_since(*start) >= std::time::Duration::from_secs(60) {
            *start = now;
            *n = 0;
        }
        *n = n.saturating_add(1);
        *n > max
    }
}

/// Count and (as a summary per source and reason) log a datagram dropped on arrival.
fn drop_datagram(shared: &Shared, peer: SocketAddr, reason: &'static str, bytes: usize) {
    metrics::counter!(names::UDP_DROPPED_TOTAL, "reason" => reason).increment(1);
    let key = format!("udp_{reason}:{}", peer.ip());
    if let Some(suppressed) = shared.guards.refusals.note(&key, std::time::Instant::now()) {
        tracing::warn!(peer = %peer, reason, bytes, suppressed,
            summary = "first from the source, then one line per minute", "udp datagram dropped");
    }
}

async fn serve_peer(
    socket: Arc<UdpSocket>,
    peer: SocketAddr,
    mut rx: mpsc::Receiver<Vec<u8>>,
    queued: Arc<Queued>,
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
                    queued.release(d.len());
                    session.buf.clear();
                    session.buf.extend_from_slice(&d);
                    session.process_buffer(&mut out).await;
                    session.invalid_close()
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
    // Datagrams still queued leave with the session.
    rx.close();
    while let Ok(d) = rx.try_recv() {
        queued.release(d.len());
    }
    session.close(reason.clone()).await;
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_receive_budget_is_per_tick_tokens_and_starts_afresh_each_tick() {
        let t0 = tokio::time::Instant::now();
        let mut t = Tick::new(t0, 51_200);
        const PER_TICK: u32 = 256;
        for _ in 0..BUSY {
            assert!(!t.busy(), "a quiet socket wakes for each datagram");
            t.count(t0);
        }
        assert!(t.busy(), "a busy one waits for the next tick");
        for _ in BUSY..PER_TICK - 1 {
            t.count(t0);
        }
        assert!(!t.spent(), "one short of the budget");
        t.count(t0);
        assert!(t.spent(), "the budget is used up");
        assert_eq!(t.next(), t0 + TICK, "wait for the next tick");
        assert!(!t.spent() && !t.busy(), "a new tick, a new budget");
        let mut late = Tick::new(t0, 51_200);
        for _ in 0..PER_TICK - 1 {
            late.count(t0);
        }
        late.count(t0 + TICK * 3);
        assert!(
            !late.spent(),
            "a datagram after a quiet spell starts a new tick"
        );
    }

    #[test]
    fn the_receive_budget_follows_the_configured_rate_and_is_never_zero() {
        let t0 = tokio::time::Instant::now();
        let mut t = Tick::new(t0, 2_000);
        for _ in 0..9 {
            t.count(t0);
        }
        assert!(!t.spent(), "2,000 a second is 10 per 5 ms tick");
        t.count(t0);
        assert!(t.spent());
        let mut slow = Tick::new(t0, 1);
        assert!(!slow.spent());
        slow.count(t0);
        assert!(slow.spent(), "one datagram per tick at the least");
    }
}
