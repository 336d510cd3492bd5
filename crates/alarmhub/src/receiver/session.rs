//! One panel connection's driver, shared by TCP connections and UDP peers: it owns the
//! connection's buffer and its [`Link`], reads the clocks, hands the link bytes, commands
//! and timer ticks, and has the link's outputs carried out (`effects.rs`). It makes no
//! protocol decision: what to answer, store, send or close is the link's.
//!
//! The transport loops in `tcp.rs` / `udp.rs` only move bytes and wait for
//! [`Session::next_wake`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use panel_proto::link::{Link, Now, Output};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

pub use panel_proto::link::CloseReason;

use super::effects::Pass;
use super::policy::ConfigPolicies;
use super::Shared;
use crate::control::{CommandRequest, Outcome};

/// How bytes arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A TCP stream: a partial frame waits for the next read.
    Stream,
    /// UDP: each datagram is decoded on its own; a partial frame in it is dropped.
    Datagram,
}

/// The driver of one connection (or one UDP peer).
pub struct Session {
    pub(super) shared: Arc<Shared>,
    pub(super) link: Link,
    pub(super) conn_id: u64,
    pub(super) peer: SocketAddr,
    pub(super) peer_text: String,
    /// Bytes received and not yet consumed by the link.
    pub buf: BytesMut,
    transport: Transport,
    /// Origin of the link's monotonic clock.
    epoch: Instant,
    /// The policy epoch the link's cached policies belong to.
    policy_epoch: u64,
    pub(super) cmd_tx: mpsc::Sender<CommandRequest>,
    /// Callers waiting for a command's outcome, by request id.
    pub(super) waiting: HashMap<u64, oneshot::Sender<Outcome>>,
    /// The link's outputs, reused between calls.
    pub(super) outputs: Vec<Output>,
    /// The link asked for a pause: no reading before this.
    pub(super) throttled_until: Option<Instant>,
    /// Invalid input on this connection: first logged, then a count per minute.
    pub(super) invalid: crate::logging::summary::Counter,
    /// Invalid inputs in the current minute (start, count), against
    /// `panel.max_invalid_per_min`.
    pub(super) invalid_budget: (Instant, u32),
    /// Accounts this connection serves whose commands a live connection from another
    /// address still holds; retried on each pass, taken over once that one is gone.
    pub(super) standby: Vec<String>,
}

impl Session {
    /// A new session for `peer`; `cmd_tx` is the sender half of the session's command
    /// channel (registered for control once an account is known).
    pub fn new(
        shared: Arc<Shared>,
        peer: SocketAddr,
        cmd_tx: mpsc::Sender<CommandRequest>,
        transport: Transport,
    ) -> Session {
        Session::new_at(shared, peer, cmd_tx, transport, Instant::now())
    }

    /// Like [`Session::new`], for a connection that began at `epoch` (the link's clock, and
    /// so its first-frame timeout, counts from there).
    pub fn new_at(
        shared: Arc<Shared>,
        peer: SocketAddr,
        cmd_tx: mpsc::Sender<CommandRequest>,
        transport: Transport,
        epoch: Instant,
    ) -> Session {
        let conn_id = shared.next_conn_id.fetch_add(1, Ordering::Relaxed);
        let now = Now {
            mono_ms: 0,
            unix_ms: crate::clock::now_ms(),
        };
        let link = Link::new(shared.link_config(rand::random(), peer.ip()), now);
        Session {
            policy_epoch: shared.policy_epoch(),
            link,
            peer_text: peer.to_string(),
            shared,
            conn_id,
            peer,
            buf: BytesMut::with_capacity(1024),
            transport,
            epoch,
            cmd_tx,
            waiting: HashMap::new(),
            outputs: Vec::with_capacity(16),
            throttled_until: None,
            invalid: Default::default(),
            invalid_budget: (epoch, 0),
            standby: Vec::new(),
        }
    }

    /// The remote address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Whether the transport may read more bytes (not while the link asked for a pause).
    pub fn reading(&self) -> bool {
        self.throttled_until.is_none()
    }

    /// When [`Session::on_wake`] has work: the end of a pause or the link's next deadline.
    pub fn next_wake(&self) -> Option<Instant> {
        let deadline = self.link.next_deadline().map(|ms| self.instant(ms));
        [deadline, self.throttled_until].into_iter().flatten().min()
    }

    /// The link's clock: monotonic ms since the session started (tokio's clock, so paused
    /// test time applies) and the wall clock.
    fn now(&self) -> Now {
        let mono = Instant::now()
            .saturating_duration_since(self.epoch)
            .as_millis();
        Now {
            mono_ms: u64::try_from(mono).unwrap_or(u64::MAX),
            unix_ms: crate::clock::now_ms(),
        }
    }

    /// The instant of the link's `mono_ms`; one ms late rather than early, since `now`
    /// rounds down.
    fn instant(&self, mono_ms: u64) -> Instant {
        self.epoch + std::time::Duration::from_millis(mono_ms.saturating_add(1))
    }

    /// The account policies as this connection sees them.
    fn policies<'a>(&self, shared: &'a Shared) -> ConfigPolicies<'a> {
        ConfigPolicies {
            shared,
            peer: self.peer.ip(),
        }
    }

    /// Pick up changed account settings before the link uses its cached policies.
    fn refresh_policies(&mut self) {
        let epoch = self.shared.policy_epoch();
        if epoch != self.policy_epoch {
            self.policy_epoch = epoch;
            self.link.invalidate_policies();
        }
    }

    /// Let the link consume what it can of the buffer, then carry out its outputs: the
    /// pass's events stored in one hand-off, its replies appended to `out`.
    pub async fn process_buffer(&mut self, out: &mut Vec<u8>) {
        let started = std::time::Instant::now();
        self.read_buffer();
        // `read` never asks to close; deadlines come from `on_wake`.
        let _ = self.apply(out, started).await;
        self.handled();
    }

    /// [`Session::process_buffer`] without the wait: the link's side effects are done, and
    /// the pass's events and writes are returned for the caller to store and write (in
    /// pass order, see [`Pass`]); call [`Session::handled`] once they are.
    pub(crate) fn read_pass(&mut self) -> Pass {
        let started = std::time::Instant::now();
        self.read_buffer();
        self.prepare(started).0
    }

    /// Hand the link the buffer; its outputs wait in `self.outputs`.
    fn read_buffer(&mut self) {
        self.refresh_policies();
        let now = self.now();
        let shared = Arc::clone(&self.shared);
        let consumed = self
            .link
            .read(&self.buf, now, &self.policies(&shared), &mut self.outputs);
        self.buf.advance(consumed);
        if self.throttled_until.is_some() || self.outputs_throttle() {
            return;
        }
        let max_buf = shared.config.panel.max_frame_len * 2 + 4096;
        if self.transport == Transport::Datagram || self.buf.len() > max_buf {
            // A datagram's leftover is a partial frame that no later datagram completes; on
            // a stream the guard cannot trigger with a length-driven decoder.
            self.buf.clear();
        }
    }

    /// Whether the link's pending outputs ask for a pause (the rest of the buffer is kept).
    fn outputs_throttle(&self) -> bool {
        self.outputs
            .iter()
            .any(|o| matches!(o, Output::Throttle { .. }))
    }

    /// Everything read so far was stored and answered: supervision counts from now.
    pub fn handled(&mut self) {
        let now = self.now();
        self.link.handled(now);
    }

    /// One more invalid input (bytes that do not frame, or a frame refused by a rule:
    /// beyond `max_accounts_per_connection`, over the source's new-account limit, from a
    /// source not allowed, plaintext for a keyed account …) against the per-minute budget.
    pub(super) fn note_invalid(&mut self) {
        let now = Instant::now();
        let (start, n) = &mut self.invalid_budget;
        if now.saturating_duration_since(*start) >= std::time::Duration::from_secs(60) {
            *start = now;
            *n = 0;
        }
        *n = n.saturating_add(1);
    }

    /// After a read: when the connection sent more invalid input than
    /// `panel.max_invalid_per_min` in the current minute, its source goes into the penalty
    /// box and the reason to close is returned.
    pub fn invalid_close(&self) -> Option<CloseReason> {
        if self.invalid_budget.1 == 0 {
            // The usual case, decided without looking the live settings up.
            return None;
        }
        // The live value: a reload may change it.
        let max = self.shared.config.settings().panel.max_invalid_per_min;
        if max == 0 || self.invalid_budget.1 <= max {
            return None;
        }
        let transport = match self.transport {
            Transport::Stream => "tcp",
            Transport::Datagram => "udp",
        };
        self.shared.punish(self.peer.ip(), transport);
        Some(CloseReason::Io(format!(
            "more than {max} invalid inputs in a minute (panel.max_invalid_per_min)"
        )))
    }

    /// Whether a valid frame came on this connection (a panel spoke).
    pub fn spoke(&self) -> bool {
        self.link.dialect().is_some()
    }

    /// Send a command to the host on this connection.
    pub async fn on_command(&mut self, req: CommandRequest, out: &mut Vec<u8>) {
        let pass = self.command_pass(req);
        self.complete(pass, out).await;
    }

    /// [`Session::on_command`] without the wait (see [`Session::read_pass`]).
    pub(crate) fn command_pass(&mut self, req: CommandRequest) -> Pass {
        self.refresh_policies();
        self.waiting.insert(req.request.id, req.reply);
        let now = self.now();
        let shared = Arc::clone(&self.shared);
        self.link
            .command(req.request, now, &self.policies(&shared), &mut self.outputs);
        self.prepare(std::time::Instant::now()).0
    }

    /// The end of a pause (take the buffered frames again) and the link's timers (command
    /// resends and timeouts, first-frame and supervision deadlines). Returns a reason to
    /// close.
    pub async fn on_wake(&mut self, out: &mut Vec<u8>) -> Option<CloseReason> {
        if self.throttled_until.is_some_and(|t| t <= Instant::now()) {
            self.throttled_until = None;
            self.process_buffer(out).await;
        }
        let now = self.now();
        self.link.tick(now, &mut self.outputs);
        self.apply(out, std::time::Instant::now()).await
    }

    /// [`Session::on_wake`] without the wait (see [`Session::read_pass`]): the frames
    /// taken after a pause and the timers' outputs in one pass.
    pub(crate) fn wake_pass(&mut self) -> (Pass, Option<CloseReason>) {
        let started = std::time::Instant::now();
        if self.throttled_until.is_some_and(|t| t <= Instant::now()) {
            self.throttled_until = None;
            self.read_buffer();
        }
        let now = self.now();
        self.link.tick(now, &mut self.outputs);
        self.prepare(started)
    }

    /// End the session: pending commands fail, and OFFLINE is stored for every account
    /// this connection still serves (unless the receiver is shutting down).
    pub async fn close(mut self, reason: CloseReason) {
        if self.invalid.pending() > 0 {
            tracing::warn!(peer = %self.peer, suppressed = self.invalid.pending(),
                summary = "at close", "frame dropped");
        }
        self.link.close(reason, &mut self.outputs);
        let mut out = Vec::new();
        let _ = self.apply(&mut out, std::time::Instant::now()).await;
    }
}

/// The transport loop's one timer for [`Session::next_wake`], kept for the whole
/// connection. Every valid frame pushes the supervision deadline later; re-registering a
/// timer for that on every frame takes the runtime's timer lock twice per event. Instead the
/// timer is moved only when the wake-up comes *earlier* than the armed one; a wake-up that
/// moved later is found when the armed timer fires early: [`Session::on_wake`] then finds
/// nothing due (it acts only on what the link says is due) and the loop arms the new time.
#[derive(Debug)]
pub struct WakeTimer {
    sleep: Pin<Box<tokio::time::Sleep>>,
    armed: Option<Instant>,
}

impl Default for WakeTimer {
    fn default() -> Self {
        WakeTimer::new()
    }
}

impl WakeTimer {
    /// A timer that is not armed.
    pub fn new() -> WakeTimer {
        WakeTimer {
            sleep: Box::pin(tokio::time::sleep_until(Instant::now())),
            armed: None,
        }
    }

    /// Make the timer fire no later than `wake` (`None`: no new wake-up; an armed timer
    /// stays armed and its early firing is harmless).
    pub fn arm(&mut self, wake: Option<Instant>) {
        match (wake, self.armed) {
            (Some(w), Some(armed)) if armed <= w => {}
            (Some(w), _) => {
                self.sleep.as_mut().reset(w);
                self.armed = Some(w);
            }
            (None, _) => {}
        }
    }

    /// The instant the timer is armed for, if it is.
    pub fn armed(&self) -> Option<Instant> {
        self.armed
    }

    /// Wait until the armed time (forever when not armed); the timer is then disarmed.
    pub async fn fired(&mut self) {
        if self.armed.is_none() {
            return std::future::pending().await;
        }
        self.sleep.as_mut().await;
        self.armed = None;
    }
}
