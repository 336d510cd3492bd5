//! One decoded frame through the link: admission, quirk gating, decryption, the timestamp
//! window, then the reply protocol.md §2.1 asks for, with the events to store before it.

use compact_str::CompactString;

use super::output::{DropReason, Dropped, EventRecord, FrameRef, Output, Record, Reply, ReplyKind};
use super::policy::{AccountPolicy, Admission, Policies};
use super::{Link, Now, Served};
use crate::build;
use crate::codes::machine_type_from_event;
use crate::crypto::Key;
use crate::frame::{Frame, Id};
use crate::parse::decrypt;
use crate::rules::{detect_dialect, reply_for, Dialect, Reply as Rule};

/// A frame that passed admission: its account, that account's policy, and the key it was
/// decrypted with (when it was encrypted).
struct Admitted {
    account: CompactString,
    policy: AccountPolicy,
    key: Option<Key>,
    /// Digest of the ciphertext, for encrypted frames.
    digest: Option<u64>,
}

impl Link {
    /// Decide everything about one decoded frame and append the outputs.
    pub(super) fn handle_frame(
        &mut self,
        mut frame: Frame,
        now: Now,
        policies: &dyn Policies,
        out: &mut Vec<Output>,
    ) {
        let Some(Admitted {
            account,
            policy,
            key,
            digest,
        }) = self.admit(&mut frame, now, policies, out)
        else {
            return;
        };
        self.saw_valid_frame(&account, &frame, &policy, now, out);
        match reply_for(&frame) {
            Rule::Nothing => {
                self.commands.answered(&frame, &account, now.mono_ms, out);
                out.push(Output::PanelAnswer(frame_ref(&frame, &account)));
            }
            Rule::Duh => {
                let mut bytes = Vec::with_capacity(64);
                let built = build::duh(&frame, &mut bytes);
                push_reply(out, &frame, &account, ReplyKind::Duh, built.map(|()| bytes));
            }
            Rule::Ack => {
                // The host's report of what a command did finishes that command, after the
                // report itself is stored and ACKed.
                let report = frame.contact_id().map(|c| (c.event_code(), c.group));
                let store = !self.repeats_known_type(&frame, &account, policies);
                let crypto = (key, digest);
                self.ack(frame, account.clone(), &policy, crypto, store, now, out);
                if let Some((event_code, group)) = report {
                    self.commands.reported(&account, event_code, group, out);
                }
            }
        }
    }

    /// The account's rules applied before a frame counts: it must name an account that is
    /// admitted, use only quirks the account allows, and (when encrypted) decrypt with the
    /// account's key and carry a timestamp inside its window. `None`: the frame was
    /// dropped or NAKed (the output is appended).
    fn admit(
        &mut self,
        frame: &mut Frame,
        now: Now,
        policies: &dyn Policies,
        out: &mut Vec<Output>,
    ) -> Option<Admitted> {
        let Some(account) = frame.panel_account().map(CompactString::from) else {
            out.push(dropped(frame, None, DropReason::NoAccount));
            return None;
        };
        // Before the lookup: a connection past its cap must not spend its source's
        // allowance of new accounts.
        let serves = self.served.iter().any(|s| s.account == account);
        if !serves && self.served.len() >= self.max_accounts {
            out.push(dropped(frame, Some(account), DropReason::TooManyAccounts));
            return None;
        }
        let policy = self.policies.get(&account, policies);
        if let Some(reason) = self.refusal(frame, &policy) {
            out.push(dropped(frame, Some(account), reason));
            return None;
        }
        if !frame.encrypted {
            return Some(Admitted {
                account,
                policy,
                key: None,
                digest: None,
            });
        }
        let digest = match &frame.data {
            crate::frame::Data::Encrypted(hex) => Some(fnv1a(hex.as_bytes())),
            _ => None,
        };
        match open(frame, &policy, now) {
            Opened::Ok(key) => Some(Admitted {
                account,
                policy,
                key: Some(key),
                digest,
            }),
            Opened::Dropped(reason) => {
                out.push(dropped(frame, Some(account), reason));
                None
            }
            Opened::OutsideWindow(skew) => {
                let mut bytes = Vec::with_capacity(48);
                // The NAK has no variable field that could make it fail to build.
                let _ = build::nak(now.timestamp(0), &mut bytes);
                let to = frame_ref(frame, &account);
                let kind = ReplyKind::Nak(skew);
                out.push(Output::Reply(Reply { kind, to, bytes }));
                None
            }
        }
    }

    /// Why a frame is refused before it is decrypted: its account is not admitted, the
    /// peer is not an allowed source, the frame needs quirks the account does not allow,
    /// or it is plaintext for an account that has a key.
    fn refusal(&self, frame: &Frame, policy: &AccountPolicy) -> Option<DropReason> {
        match policy.admission {
            Admission::Refused => return Some(DropReason::UnknownAccount),
            Admission::Limited => return Some(DropReason::NewAccountLimit),
            Admission::Configured | Admission::Unknown | Admission::Flagged => {}
        }
        if !policy.source_allowed(self.peer) {
            return Some(DropReason::SourceNotAllowed);
        }
        if !policy.quirks.allows(&frame.quirks) {
            return Some(DropReason::QuirksNotAllowed(frame.quirks));
        }
        if !frame.encrypted && policy.key.is_some() && !policy.allow_plaintext {
            return Some(DropReason::PlaintextRefused);
        }
        None
    }

    /// Whether `frame` is a Hengbo type report (17x7/1807/1817) naming the type the caller
    /// already has on record for `account`: a host reports its type on every connection
    /// and answers every 1798, and storing the same fact again on each reconnect only
    /// loads the store. A report of a *different* type (or of a type not on record) is
    /// stored as usual.
    fn repeats_known_type(&self, frame: &Frame, account: &str, policies: &dyn Policies) -> bool {
        if self.dialect != Some(Dialect::Hb) {
            return false;
        }
        frame
            .contact_id()
            .and_then(|c| machine_type_from_event(c.event_code()))
            .is_some_and(|t| policies.host_type(account) == Some(t))
    }

    /// Store the event (if the frame carries one and `store`) or touch the panel, then
    /// ACK. An ACK that cannot be built still leaves the event stored: what was received
    /// is kept.
    #[allow(clippy::too_many_arguments)] // the parts of the frame `handle_frame` has
    fn ack(
        &mut self,
        frame: Frame,
        account: CompactString,
        policy: &AccountPolicy,
        (key, digest): (Option<Key>, Option<u64>),
        store: bool,
        now: Now,
        out: &mut Vec<Output>,
    ) {
        let mut bytes = Vec::with_capacity(96);
        let built = match &key {
            Some(key) => {
                let pad = self.rng.pad();
                build::ack_encrypted(&frame, key, now.timestamp(0), &pad, &mut bytes)
            }
            None => {
                let dialect = self.dialect.unwrap_or_else(|| detect_dialect(&frame));
                let ts = now.timestamp(policy.tz_offset_secs);
                build::ack(&frame, dialect.ack_style(), ts, &mut bytes)
            }
        };
        let to = frame_ref(&frame, &account);
        let kind = ReplyKind::Ack {
            encrypted: key.is_some(),
        };
        if store && frame.id.carries_event() {
            out.push(Output::Store(Record::Event(Box::new(EventRecord {
                frame,
                account,
                dialect: self.dialect.unwrap_or(Dialect::Dc09),
                tz_offset_secs: policy.tz_offset_secs,
                unknown_account: policy.admission == Admission::Flagged,
                ciphertext_digest: digest,
            }))));
        } else {
            out.push(Output::Touch { account });
        }
        match built {
            Ok(()) => out.push(Output::Reply(Reply { kind, to, bytes })),
            Err(e) => out.push(Output::Dropped(Dropped {
                id: Some(to.id),
                account: Some(to.account),
                reason: DropReason::ReplyNotBuilt(e),
            })),
        }
    }

    /// A valid frame from `account`: deadlines, the dialect, what the host told about
    /// itself, and on the account's first frame on this connection, ONLINE.
    fn saw_valid_frame(
        &mut self,
        account: &str,
        frame: &Frame,
        policy: &AccountPolicy,
        now: Now,
        out: &mut Vec<Output>,
    ) {
        self.timers
            .valid_frame(now.mono_ms, policy.supervision_deadline_ms());
        if self.dialect.is_none() || frame.id == Id::HengBo {
            self.dialect = Some(detect_dialect(frame));
        }
        let i = match self.served.iter().position(|s| s.account == account) {
            Some(i) => i,
            None => {
                let dialect = self.dialect.unwrap_or(Dialect::Dc09);
                self.served.push(Served {
                    account: account.into(),
                    ademco_id: None,
                    type_known: false,
                    on_demand: policy.on_demand,
                });
                let account = CompactString::from(account);
                out.push(Output::Online {
                    account: account.clone(),
                    dialect,
                });
                out.push(Output::Store(Record::Online { account, dialect }));
                self.served.len() - 1
            }
        };
        if let Some(c) = frame.contact_id() {
            let s = &mut self.served[i];
            s.ademco_id = c.ademco_id().or(s.ademco_id);
            s.type_known |= machine_type_from_event(c.event_code()).is_some();
        }
    }
}

/// The result of opening an encrypted frame.
enum Opened {
    /// Decrypted with this key and inside the window.
    Ok(Key),
    /// No key, or it does not decrypt: silence (DC-09 §5.6.2.2).
    Dropped(DropReason),
    /// Decrypted, but the timestamp is outside the window (or missing): NAK.
    OutsideWindow(crate::timestamp::WindowError),
}

/// Decrypt `frame` in place with the account's key and check its timestamp against `now`.
fn open(frame: &mut Frame, policy: &AccountPolicy, now: Now) -> Opened {
    let Some(key) = policy.key.clone() else {
        return Opened::Dropped(DropReason::NoKey);
    };
    if let Err(e) = decrypt(frame, &key) {
        return Opened::Dropped(DropReason::Decrypt(e));
    }
    let t = frame
        .timestamp
        .and_then(|t| t.to_unix())
        .map(|t| t - i64::from(policy.tz_offset_secs));
    match policy.window.check(t, now.unix_secs()) {
        Ok(()) => Opened::Ok(key),
        Err(skew) => Opened::OutsideWindow(skew),
    }
}

/// FNV-1a 64: a stable digest (the same in every build and across restarts).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn frame_ref(frame: &Frame, account: &str) -> FrameRef {
    FrameRef {
        id: frame.id.clone(),
        seq: frame.seq.clone(),
        account: account.into(),
    }
}

fn dropped(frame: &Frame, account: Option<CompactString>, reason: DropReason) -> Output {
    Output::Dropped(Dropped {
        id: Some(frame.id.clone()),
        account,
        reason,
    })
}

fn push_reply(
    out: &mut Vec<Output>,
    frame: &Frame,
    account: &str,
    kind: ReplyKind,
    built: crate::Result<Vec<u8>>,
) {
    out.push(match built {
        Ok(bytes) => Output::Reply(Reply {
            kind,
            to: frame_ref(frame, account),
            bytes,
        }),
        Err(e) => dropped(frame, Some(account.into()), DropReason::ReplyNotBuilt(e)),
    });
}
