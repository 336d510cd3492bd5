//! What a link asks its driver to do: the [`Output`] list, in order.
//!
//! The ordering contract: every [`Output::Store`] belongs to the next [`Output::Reply`] in
//! the list, and the driver must have committed it before writing that reply; if the store
//! fails, that reply is withheld (the panel retries). Everything else is a side effect the
//! driver performs in list order (register, touch, log, count, finish a command, write a
//! command frame, sleep, close).

use std::fmt;

use compact_str::CompactString;

use super::commands::Outcome;
use crate::error::Error;
use crate::frame::{Frame, Id, Quirks};
use crate::rules::Dialect;
use crate::timestamp::WindowError;

/// One thing for the driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// `account`'s first valid frame on this connection: register the connection for
    /// control of that account. An [`Output::Store`] of [`Record::Online`] follows.
    Online {
        /// The account.
        account: CompactString,
        /// The connection's dialect when it came online.
        dialect: Dialect,
    },
    /// Store this durably before writing the next [`Output::Reply`].
    Store(Record),
    /// A valid frame that is not stored (heartbeat): the panel was seen now.
    Touch {
        /// The account.
        account: CompactString,
    },
    /// Write these bytes to the panel (after the stores before it committed).
    Reply(Reply),
    /// The panel answered (ACK, DUH or NAK); nothing is written back.
    PanelAnswer(FrameRef),
    /// Write a command frame to the panel (first attempt or a resend); it does not depend
    /// on any store.
    Send(Sent),
    /// A command ended.
    Finished(Finished),
    /// Bytes or a frame were dropped without a reply.
    Dropped(Dropped),
    /// Too many frames: stop reading for this long, then hand the same buffer back.
    Throttle {
        /// Milliseconds until the next frame may be taken.
        ms: u64,
    },
    /// Close the connection (a deadline passed), then call [`super::Link::close`].
    Close(CloseReason),
    /// The connection no longer serves `account` (emitted by [`super::Link::close`]).
    Offline {
        /// The account.
        account: CompactString,
        /// The connection's dialect.
        dialect: Dialect,
        /// Why the connection ended.
        reason: CloseReason,
        /// Whether an OFFLINE event is to be stored (not when the receiver shuts down; the
        /// driver also skips it when another connection has taken the account over).
        record: bool,
    },
}

/// Something to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A panel event frame (already decrypted).
    Event(Box<EventRecord>),
    /// The receiver's ONLINE event for an account's first valid frame on a connection.
    Online {
        /// The account.
        account: CompactString,
        /// The connection's dialect.
        dialect: Dialect,
    },
}

/// A panel event and what the store needs to interpret it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    /// The frame, decrypted.
    pub frame: Frame,
    /// The panel account it was keyed on.
    pub account: CompactString,
    /// The connection's dialect.
    pub dialect: Dialect,
    /// The account's clock offset (to read the frame's timestamp).
    pub tz_offset_secs: i32,
    /// From an account that is not configured (policy `flag`).
    pub unknown_account: bool,
    /// For an encrypted frame, a digest (FNV-1a 64) of its ciphertext as received: the
    /// replay identity (the clear-text seq can be changed by anyone, the ciphertext with its
    /// random pad and timestamp cannot).
    pub ciphertext_digest: Option<u64>,
}

/// The frame a reply or an answer concerns (for logs and metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameRef {
    /// Its ID token.
    pub id: Id,
    /// Its seq, as received.
    pub seq: CompactString,
    /// The account it was keyed on.
    pub account: CompactString,
}

/// What kind of reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    /// ACK (`"*ACK"` when `encrypted`).
    Ack {
        /// Encrypted with the key the frame was decrypted with.
        encrypted: bool,
    },
    /// DUH: valid frame, unknown ID token.
    Duh,
    /// NAK: an encrypted frame's timestamp is outside the window (or missing).
    Nak(WindowError),
}

/// A reply to one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// What it is.
    pub kind: ReplyKind,
    /// The frame it answers.
    pub to: FrameRef,
    /// The bytes to write.
    pub bytes: Vec<u8>,
}

/// A command frame to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The caller's request id (`None`: the link's own type query).
    pub request: Option<u64>,
    /// The account it goes to.
    pub account: CompactString,
    /// The command's name (`arm_away`, …).
    pub command: &'static str,
    /// Its seq on this connection (the same on every resend).
    pub seq: u16,
    /// 0 for the first send, then 1, 2 … for resends.
    pub attempt: u32,
    /// The frame.
    pub bytes: Vec<u8>,
}

/// A command's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// The caller's request id (`None`: the link's own type query).
    pub request: Option<u64>,
    /// The account it was for.
    pub account: CompactString,
    /// The command's name.
    pub command: &'static str,
    /// How it ended.
    pub outcome: Outcome,
}

/// A drop and its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// The frame's ID token; `None` when no frame could be decoded.
    pub id: Option<Id>,
    /// The frame's account, or (for undecodable bytes) the connection's first account.
    pub account: Option<CompactString>,
    /// Why.
    pub reason: DropReason,
}

/// Why bytes or a frame got no reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropReason {
    /// Framing or CRC failure, garbage, a frame too long (the decoder's error).
    Invalid(Error),
    /// A valid frame that names no account.
    NoAccount,
    /// An account that is not configured, under policy `drop`.
    UnknownAccount,
    /// The frame needed quirks its account does not allow.
    QuirksNotAllowed(Quirks),
    /// Encrypted, and the account has no key.
    NoKey,
    /// Encrypted, and it does not decrypt with the account's key.
    Decrypt(Error),
    /// The reply could not be built (a frame too long to echo).
    ReplyNotBuilt(Error),
    /// The peer's address is outside the account's `allowed_sources`.
    SourceNotAllowed,
    /// A plaintext frame for an account that has a key (and no `allow_plaintext`).
    PlaintextRefused,
    /// The connection already speaks for as many accounts as it may.
    TooManyAccounts,
    /// A new unknown account beyond its source's limit per minute.
    NewAccountLimit,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::Invalid(e) => write!(f, "{e}"),
            DropReason::NoAccount => f.write_str("frame names no account"),
            DropReason::UnknownAccount => f.write_str("unknown account (policy: drop)"),
            DropReason::QuirksNotAllowed(q) => write!(
                f,
                "frame needs quirks {:?} not enabled for this account",
                q.names()
            ),
            DropReason::NoKey => {
                f.write_str("encrypted frame and no key configured for the account")
            }
            DropReason::Decrypt(e) => write!(f, "decryption failed: {e}"),
            DropReason::ReplyNotBuilt(e) => write!(f, "could not build the reply: {e}"),
            DropReason::SourceNotAllowed => {
                f.write_str("source address not in the account's allowed_sources")
            }
            DropReason::PlaintextRefused => {
                f.write_str("plaintext frame for an account with a key (allow_plaintext is off)")
            }
            DropReason::TooManyAccounts => {
                f.write_str("connection already speaks for max_accounts_per_connection accounts")
            }
            DropReason::NewAccountLimit => {
                f.write_str("too many new unknown accounts from this source this minute")
            }
        }
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The panel closed the connection.
    ClosedByPeer,
    /// No valid frame within the first-frame timeout.
    NoValidFrame,
    /// Nothing within supervision interval + grace.
    SupervisionExpired,
    /// The receiver is shutting down.
    Shutdown,
    /// An I/O error or a peer that does not read its replies (the driver's text).
    Io(String),
}

impl CloseReason {
    /// Text for logs and OFFLINE events.
    pub fn as_str(&self) -> &str {
        match self {
            CloseReason::ClosedByPeer => "connection closed by panel",
            CloseReason::NoValidFrame => "no valid frame before the first-frame timeout",
            CloseReason::SupervisionExpired => "supervision interval expired",
            CloseReason::Shutdown => "receiver shutting down",
            CloseReason::Io(e) => e,
        }
    }
}
