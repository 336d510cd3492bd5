//! What the link knows about an account: its policy as plain data ([`AccountPolicy`]), the
//! caller's lookup ([`Policies`]) and the per-link cache in front of it.
//!
//! The caller (the receiver) owns the configuration; the link asks once per account and
//! keeps the answer until [`crate::link::Link::invalidate_policies`] is called, so a policy
//! lookup is not paid per frame and an edited account reaches live links when the caller
//! invalidates.

use compact_str::CompactString;

use super::cidr::Cidr;
use crate::crypto::Key;
use crate::frame::Quirks;
use crate::timestamp::Window;

/// How frames from an account are admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Admission {
    /// A configured account.
    #[default]
    Configured,
    /// Not configured; handled like a configured one (policy `accept`).
    Unknown,
    /// Not configured; stored with the unknown-account flag (policy `flag`).
    Flagged,
    /// Not configured; every frame dropped without a reply (policy `drop`).
    Refused,
    /// Not configured, never seen, and its source already brought too many new accounts
    /// this minute: dropped without a reply, and not cached (the next frame asks again).
    Limited,
}

/// One account's rules, looked up once per account and cached by the link.
///
/// Plain data: the lookup turns configuration into this, so the link never sees the
/// configuration's types (or its secrets beyond the parsed key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountPolicy {
    /// Whether the account is configured, and what to do when it is not.
    pub admission: Admission,
    /// DC-09 AES key; `None`: encrypted frames are dropped.
    pub key: Option<Key>,
    /// Deviations from the protocol this account may use (checked against what each
    /// frame needed).
    pub quirks: Quirks,
    /// Offset of the panel's clock from UTC, seconds: HB ACK and command timestamps are
    /// written in it, frame timestamps are read in it.
    pub tz_offset_secs: i32,
    /// Supervision interval, ms: the panel reports (anything) at least this often.
    pub supervision_ms: u64,
    /// Added to the interval before the link is declared dead, ms.
    pub supervision_grace_ms: u64,
    /// Accepted skew of encrypted frames' timestamps.
    pub window: Window,
    /// Networks the account's frames may come from; empty: anywhere.
    pub allowed_sources: Vec<Cidr>,
    /// With a key, also accept plaintext frames (otherwise they are refused).
    pub allow_plaintext: bool,
    /// The panel opens a connection per message (connect-on-demand communicator): a
    /// closed or idle connection says nothing about the panel, so [`crate::link::Link::close`]
    /// records no OFFLINE for it; presence follows its periodic reports instead (the
    /// caller's supervision).
    pub on_demand: bool,
}

impl Default for AccountPolicy {
    /// A configured account with no key, no quirks, UTC, 180 s + 30 s supervision and the
    /// DC-09 window (the daemon's defaults).
    fn default() -> Self {
        AccountPolicy {
            admission: Admission::Configured,
            key: None,
            quirks: Quirks::default(),
            tz_offset_secs: 0,
            supervision_ms: 180_000,
            supervision_grace_ms: 30_000,
            window: Window::default(),
            allowed_sources: Vec::new(),
            allow_plaintext: false,
            on_demand: false,
        }
    }
}

impl AccountPolicy {
    /// Interval plus grace: how long silence is tolerated.
    pub fn supervision_deadline_ms(&self) -> u64 {
        self.supervision_ms
            .saturating_add(self.supervision_grace_ms)
    }

    /// Whether a frame from `peer` may speak for the account (`None`: the address is not
    /// known, nothing to check against).
    pub fn source_allowed(&self, peer: Option<std::net::IpAddr>) -> bool {
        match peer {
            Some(ip) if !self.allowed_sources.is_empty() => {
                self.allowed_sources.iter().any(|n| n.contains(ip))
            }
            _ => true,
        }
    }
}

/// The caller's view of accounts, asked by the link. Implementations must be quick: the
/// link calls [`Policies::policy`] once per account (until invalidated) and
/// [`Policies::host_type`] a few times per connection (after its first frame, and for
/// each type report).
pub trait Policies {
    /// The policy for `account` (an unknown account gets the unknown-account admission).
    fn policy(&self, account: &str) -> AccountPolicy;

    /// The type number of the Hengbo host `account` on record (from its last stored type
    /// report, [`crate::codes::machine_type_from_event`]), `None` when not known. Unknown:
    /// the link asks it once (1798). Known: a type report that repeats it is ACKed without
    /// being stored again ([`Output::Touch`](super::Output::Touch)).
    fn host_type(&self, account: &str) -> Option<i32>;
}

/// Most accounts cached per link. A connection normally serves one account; the bound only
/// keeps a connection that names thousands of accounts from growing the cache.
const CACHE_MAX: usize = 16;

/// The link's copy of the policies it has looked up.
#[derive(Debug, Default)]
pub(crate) struct PolicyCache {
    entries: Vec<(CompactString, AccountPolicy)>,
}

impl PolicyCache {
    /// The cached policy of `account`, looked up through `source` on a miss.
    pub(crate) fn get(&mut self, account: &str, source: &dyn Policies) -> AccountPolicy {
        if let Some((_, p)) = self.entries.iter().find(|(a, _)| a == account) {
            return p.clone();
        }
        let p = source.policy(account);
        if p.admission == Admission::Limited {
            // A limit of this minute, not a property of the account.
            return p;
        }
        if self.entries.len() >= CACHE_MAX {
            // Dropping everything is simpler than an LRU and only costs re-lookups on the
            // rare connection that names this many accounts.
            self.entries.clear();
        }
        self.entries.push((account.into(), p.clone()));
        p
    }

    /// Forget every cached policy; the next frame of each account looks it up again.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}
