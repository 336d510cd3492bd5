//! The per-connection protocol state machine: everything a receiver decides about one panel
//! connection (or one UDP peer), with no I/O, no clock reads and no runtime.
//!
//! # Shape
//! The driver owns the socket and the buffer and calls in with plain data; the link answers
//! with a list of [`Output`]s and never touches a socket:
//!
//! * [`Link::read`]: the connection's buffered bytes, "now" and the account lookup in; the
//!   number of bytes consumed back, outputs appended. Each frame: account admission
//!   (configured / unknown accept, flag, drop), quirk gating against the account's own
//!   flags, decryption with the account's key, the timestamp window for encrypted frames
//!   (NAK with the receiver's time), then the protocol.md §2.1 reply: ACK (HB form with a
//!   timestamp in the account's zone, DC-09 form echoing R/L/#acct exactly, `*ACK` with the
//!   key the frame was decrypted with), DUH for an unknown ID token, nothing for the panel's
//!   own ACK/DUH/NAK (which complete our commands), silence for bytes that do not frame.
//! * [`Link::command`]: a command from the control path: the link assigns this
//!   connection's seq, builds the frame, and later resends it (same seq) or times it out.
//! * [`Link::tick`]: resends, command timeouts, the first-frame and supervision deadlines;
//!   [`Link::next_deadline`] says when to call it.
//! * [`Link::handled`]: the driver finished the last read's outputs (stored, written):
//!   supervision counts from then.
//! * [`Link::close`]: OFFLINE per account, pending commands fail as `panel_offline`.
//!
//! # Time and randomness
//! [`Now`] carries a monotonic ms (deadlines, the token bucket) and the wall clock in Unix
//! ms (timestamps in replies and commands, the encrypted-frame window). The `*ACK` pad comes
//! from [`LinkConfig::seed`].
//!
//! # The store-before-reply contract
//! See [`output`]: each [`Output::Store`] must be committed before the next
//! [`Output::Reply`] is written, and a failed store withholds that reply. The driver may
//! (and should) commit all stores of one [`Link::read`] in one group commit, then write all
//! replies in one write.
//!
//! # Rate limit
//! One token per decoded frame. When the bucket is empty the link stops *before* taking the
//! frame and emits [`Output::Throttle`]; the bytes stay in the driver's buffer, and the
//! driver hands the same buffer back after the wait. Slowed, never dropped.
//!
//! # Who may speak for an account
//! Before a frame counts: a connection already speaking for [`LinkConfig::max_accounts`]
//! accounts takes no new one (checked before the policy lookup, so it spends no per-source
//! allowance); then the account's [`Admission`] (`Limited`: a new account over its source's
//! limit, not cached), its `allowed_sources` against [`LinkConfig::peer`], its quirks, and
//! plaintext refused for an account with a key unless `allow_plaintext`. Each refusal is an
//! [`Output::Dropped`] with its [`DropReason`]; the driver counts, summarises the log and
//! raises the security events. Encrypted replays are recognised by the store's dedup key
//! built from [`EventRecord::ciphertext_digest`] (pad, data and timestamp, not the
//! clear-text seq), and a second connection
//! claiming a live account is the driver's registry decision on [`Output::Online`].
//!
//! A host answering 1701 to a pending disarm completes it with a `wrong_password`
//! [`Outcome`] in `commands`; connect-per-message DC-09 panels have a policy flag
//! (`on_demand`) that makes [`Link::close`] emit no [`Output::Offline`] and leaves presence
//! to supervision.

mod bucket;
pub mod cidr;
mod commands;
mod frames;
pub mod output;
mod policy;
mod rng;
mod timers;

#[cfg(test)]
mod tests;

use compact_str::CompactString;

pub use cidr::{Cidr, CidrError};
pub use commands::{CommandRequest, Outcome, Retry, DISARM_PASSWORD_ERROR};
pub use output::{
    CloseReason, DropReason, Dropped, EventRecord, Finished, FrameRef, Output, Record, Reply,
    ReplyKind, Sent,
};
pub use policy::{AccountPolicy, Admission, Policies};

use crate::build::{hb_command, Command};
use crate::framing::{Decoded, Decoder, DecoderConfig};
use crate::rules::Dialect;
use crate::timestamp::Timestamp;
use bucket::Bucket;
use commands::{Commands, Started};
use policy::PolicyCache;
use rng::Rng;
use timers::Timers;

/// "Now" as the driver read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic milliseconds from any fixed origin: deadlines and the token bucket.
    pub mono_ms: u64,
    /// Wall clock, Unix milliseconds: timestamps and the encrypted-frame window.
    pub unix_ms: i64,
}

impl Now {
    fn unix_secs(&self) -> i64 {
        self.unix_ms.div_euclid(1000)
    }

    /// The wall clock shifted by `offset_secs`, as a frame timestamp.
    fn timestamp(&self, offset_secs: i32) -> Timestamp {
        Timestamp::from_unix(self.unix_secs().saturating_add(i64::from(offset_secs)))
    }
}

/// The connection-wide settings (per-account ones come from [`Policies`]).
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// Maximum frame length and the quirks the decoder may try (the union of every
    /// account's; each frame is then checked against its own account's).
    pub decoder: DecoderConfig,
    /// Close unless a valid frame arrives within this many ms of the start.
    pub first_frame_timeout_ms: u64,
    /// Frames per second (token bucket rate).
    pub rate_per_sec: u32,
    /// Frames in a row (token bucket size).
    pub rate_burst: u32,
    /// Ask a Hengbo host of unknown type for it (1798) with this timeout and retries;
    /// `None`: never ask.
    pub type_query: Option<Retry>,
    /// Seed for the `*ACK` pad bytes.
    pub seed: u64,
    /// The peer's address, checked against each account's `allowed_sources`; `None`: not
    /// known (nothing is refused for its source).
    pub peer: Option<std::net::IpAddr>,
    /// Most accounts one connection may speak for; frames of further accounts are dropped.
    pub max_accounts: usize,
}

/// An account this connection serves.
#[derive(Debug, Clone)]
struct Served {
    account: CompactString,
    /// The Ademco ID seen in the host's data blocks.
    ademco_id: Option<u32>,
    /// The host reported its type (17x7) on this connection, or the caller knew it.
    type_known: bool,
    /// The account connects per message ([`AccountPolicy::on_demand`]).
    on_demand: bool,
}

/// The protocol state of one connection.
#[derive(Debug)]
pub struct Link {
    decoder: Decoder,
    peer: Option<std::net::IpAddr>,
    max_accounts: usize,
    type_query: Option<Retry>,
    policies: PolicyCache,
    served: Vec<Served>,
    dialect: Option<Dialect>,
    timers: Timers,
    bucket: Bucket,
    commands: Commands,
    rng: Rng,
    asked_type: bool,
    closed: bool,
}

impl Link {
    /// A link for a connection opened at `now`.
    pub fn new(cfg: LinkConfig, now: Now) -> Link {
        Link {
            decoder: Decoder::new(cfg.decoder),
            peer: cfg.peer,
            max_accounts: cfg.max_accounts.max(1),
            type_query: cfg.type_query,
            policies: PolicyCache::default(),
            served: Vec::new(),
            dialect: None,
            timers: Timers::new(now.mono_ms, cfg.first_frame_timeout_ms),
            bucket: Bucket::new(cfg.rate_per_sec, cfg.rate_burst, now.mono_ms),
            commands: Commands::default(),
            rng: Rng::new(cfg.seed),
            asked_type: false,
            closed: false,
        }
    }

    /// Handle every complete frame at the front of `buf`; returns how many bytes were
    /// consumed (the driver drops them). Stops early, with [`Output::Throttle`] last, when
    /// the rate limit is reached. An incomplete frame at the end is left for the next call.
    pub fn read(
        &mut self,
        buf: &[u8],
        now: Now,
        policies: &dyn Policies,
        out: &mut Vec<Output>,
    ) -> usize {
        if self.closed {
            return 0;
        }
        let mut pos = 0;
        while pos < buf.len() {
            let rest = &buf[pos..];
            match self.decoder.decode(rest) {
                Decoded::Incomplete => break,
                Decoded::Invalid { error, consumed } => {
                    pos += consumed.clamp(1, rest.len());
                    out.push(Output::Dropped(Dropped {
                        id: None,
                        account: self.served.first().map(|s| s.account.clone()),
                        reason: DropReason::Invalid(error),
                    }));
                }
                Decoded::Frame { frame, consumed } => {
                    // The token is taken before the frame: a frame that finds the bucket
                    // empty stays in the buffer and is decoded again after the wait.
                    if let Some(ms) = self.bucket.take(now.mono_ms) {
                        out.push(Output::Throttle { ms });
                        break;
                    }
                    pos += consumed;
                    self.handle_frame(frame, now, policies, out);
                }
            }
        }
        self.ask_type_if_unknown(now, policies, out);
        pos
    }

    /// Send `req` to the host on this connection: [`Output::Send`], or at once
    /// [`Output::Finished`] when the connection does not serve the account
    /// (`panel_offline`) or the frame cannot be built (`bad_request`).
    pub fn command(
        &mut self,
        req: CommandRequest,
        now: Now,
        policies: &dyn Policies,
        out: &mut Vec<Output>,
    ) {
        self.start_command(Some(req.id), &req, now, policies, out);
    }

    /// [`Link::command`] for a caller's request (`Some(id)`) or the link's own (`None`).
    fn start_command(
        &mut self,
        request: Option<u64>,
        req: &CommandRequest,
        now: Now,
        policies: &dyn Policies,
        out: &mut Vec<Output>,
    ) {
        let served = self.served.iter().find(|s| s.account == req.account);
        let Some(served) = served.filter(|_| !self.closed) else {
            out.push(finished_now(request, req, Outcome::PanelOffline));
            return;
        };
        let ademco_id = req.ademco_id.or(served.ademco_id);
        let tz = self.policies.get(&req.account, policies).tz_offset_secs;
        let seq = self.commands.next_seq();
        let mut bytes = Vec::with_capacity(96);
        let built = hb_command(
            &req.account,
            ademco_id,
            seq,
            req.section,
            &req.command,
            now.timestamp(tz),
            &mut bytes,
        );
        if let Err(e) = built {
            out.push(finished_now(
                request,
                req,
                Outcome::BadRequest(e.to_string()),
            ));
            return;
        }
        let started = Started {
            request,
            account: &req.account,
            command: req.command.name(),
            expect: commands::expected_report(&req.command),
            section: req.section,
            retry: req.retry,
        };
        self.commands.start(started, seq, bytes, now.mono_ms, out);
    }

    /// Timers due at `now`: command resends and timeouts, then [`Output::Close`] when the
    /// first-frame or supervision deadline has passed.
    pub fn tick(&mut self, now: Now, out: &mut Vec<Output>) {
        if self.closed {
            return;
        }
        self.commands.tick(now.mono_ms, out);
        if let Some(reason) = self.timers.expired(now.mono_ms) {
            out.push(Output::Close(reason));
        }
    }

    /// When [`Link::tick`] next has work (monotonic ms).
    pub fn next_deadline(&self) -> Option<u64> {
        if self.closed {
            return None;
        }
        [self.timers.next(), self.commands.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The outputs of the last [`Link::read`] were stored and written at `now`:
    /// supervision counts from here.
    pub fn handled(&mut self, now: Now) {
        self.timers.handled(now.mono_ms);
    }

    /// End the link: pending commands finish as `panel_offline`, and every account served
    /// gets [`Output::Offline`] (recorded unless the receiver shuts down or the account
    /// connects per message). Later calls do nothing.
    pub fn close(&mut self, reason: CloseReason, out: &mut Vec<Output>) {
        if std::mem::replace(&mut self.closed, true) {
            return;
        }
        self.commands.abandon(out);
        let dialect = self.dialect.unwrap_or(Dialect::Dc09);
        let record = reason != CloseReason::Shutdown;
        for s in self.served.drain(..) {
            out.push(Output::Offline {
                account: s.account,
                dialect,
                reason: reason.clone(),
                record: record && !s.on_demand,
            });
        }
    }

    /// Forget the cached account policies (the configuration changed); each account's next
    /// frame or command looks its policy up again.
    pub fn invalidate_policies(&mut self) {
        self.policies.clear();
    }

    /// The accounts this connection serves, in the order they came online.
    pub fn accounts(&self) -> impl Iterator<Item = &str> {
        self.served.iter().map(|s| s.account.as_str())
    }

    /// The connection's dialect, once a valid frame showed it.
    pub fn dialect(&self) -> Option<Dialect> {
        self.dialect
    }

    /// A Hengbo host that has not said its type is asked once per connection (1798); its
    /// 17x7 answer is an ordinary event, and the command's outcome is only logged.
    fn ask_type_if_unknown(&mut self, now: Now, policies: &dyn Policies, out: &mut Vec<Output>) {
        let Some(retry) = self.type_query else {
            return;
        };
        if self.asked_type || self.dialect != Some(Dialect::Hb) {
            return;
        }
        let Some(first) = self.served.first_mut() else {
            return;
        };
        if first.type_known || policies.host_type(&first.account).is_some() {
            first.type_known = true;
            return;
        }
        self.asked_type = true;
        let req = CommandRequest {
            id: 0,
            account: first.account.clone(),
            command: Command::QueryType,
            section: 0,
            retry,
            ademco_id: first.ademco_id,
        };
        self.start_command(None, &req, now, policies, out);
    }
}

fn finished_now(request: Option<u64>, req: &CommandRequest, outcome: Outcome) -> Output {
    Output::Finished(Finished {
        request,
        account: req.account.clone(),
        command: req.command.name(),
        outcome,
    })
}
