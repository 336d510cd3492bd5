//! Commands from the receiver to a Hengbo host on one connection: the connection's own seq
//! counter, the pending list, resends (same seq, same bytes) and timeouts, and matching the
//! host's ACK/DUH/NAK to the command with that seq (protocol.md §2.4, §2.7).
//!
//! The request ([`CommandRequest`]) is what the control path hands to the connection; the
//! result is an [`Outcome`] whose names are alarmhub's external interface.
//!
//! An ACK only says the host received the command. Whether it did it is what the host reports
//! next (protocol.md §2.6 step 5): the new status (3400, 3456, 1400, 1120 for the section) →
//! `done`; 1701 to a disarm → `wrong_password`; nothing within the timeout after the ACK →
//! `not_done`. A type query (1798) is done with its ACK (its 17x7 answer is an ordinary event).

use compact_str::CompactString;

use super::output::{Finished, Output, Sent};
use crate::build::Command;
use crate::codes::code;
use crate::frame::{Frame, Id};

/// HB 1701 DISARM_PWD_ERR: the host refused a disarm's password.
pub const DISARM_PASSWORD_ERROR: u16 = 1701;

/// Per attempt wait and resend count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Wait for the host's ACK this long per attempt, ms.
    pub timeout_ms: u64,
    /// Resend this many times after the first attempt.
    pub retries: u32,
}

/// A command to send on this connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRequest {
    /// The caller's id, echoed in [`Output::Finished`].
    pub id: u64,
    /// The account the command is for; the connection must serve it.
    pub account: CompactString,
    /// What to send (a disarm carries its password).
    pub command: Command,
    /// Section (gg): 0 whole host, 1..=3.
    pub section: u8,
    /// Timeout per attempt and resends.
    pub retry: Retry,
    /// The host's Ademco ID as the caller knows it; the link falls back to the one it saw
    /// in the host's own frames, then to the account.
    pub ademco_id: Option<u32>,
}

/// How a command ended. [`Outcome::as_str`] names are stable (API, events, metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The host ACKed the command and reported the status it asked for.
    Done,
    /// No ACK after every retry.
    TimedOut,
    /// The host answered a disarm with 1701: the password is wrong; nothing changed.
    WrongPassword,
    /// The host ACKed the command but did not report the new status in time: it was not
    /// done (or not confirmed).
    NotDone,
    /// The panel has no connection (or lost it while the command was pending).
    PanelOffline,
    /// The panel's type or dialect cannot do this (or the host answered DUH/NAK).
    NotSupported(String),
    /// The request itself is wrong (bad section, missing password …).
    BadRequest(String),
}

impl Outcome {
    /// Stable name for events, metrics and the API.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::TimedOut => "timed_out",
            Outcome::WrongPassword => "wrong_password",
            Outcome::NotDone => "not_done",
            Outcome::PanelOffline => "panel_offline",
            Outcome::NotSupported(_) => "not_supported",
            Outcome::BadRequest(_) => "bad_request",
        }
    }

    /// Human text.
    pub fn message(&self) -> String {
        match self {
            Outcome::Done => "the host confirmed the command".into(),
            Outcome::TimedOut => "the host did not confirm the command in time".into(),
            Outcome::WrongPassword => {
                "the host refused the disarm: wrong password (1701); its status is unchanged".into()
            }
            Outcome::NotDone => {
                "the host received the command but did not report the new status".into()
            }
            Outcome::PanelOffline => "the panel is offline".into(),
            Outcome::NotSupported(m) | Outcome::BadRequest(m) => m.clone(),
        }
    }
}

/// A command sent and not answered yet.
#[derive(Debug, Clone)]
struct Pending {
    request: Option<u64>,
    account: CompactString,
    command: &'static str,
    /// The status code the host reports once it has done the command (`None`: the ACK is
    /// the answer).
    expect: Option<u16>,
    section: u8,
    /// The host ACKed; now only its status report is awaited (no more resends).
    acked: bool,
    seq: u16,
    bytes: Vec<u8>,
    attempts: u32,
    retry: Retry,
    deadline_ms: u64,
}

/// The status a host reports after doing `command`.
pub(crate) fn expected_report(command: &Command) -> Option<u16> {
    match command {
        Command::ArmAway => Some(code::ARM_AWAY),
        Command::ArmStay => Some(code::ARM_STAY),
        Command::Disarm { .. } => Some(code::DISARM),
        Command::Emergency => Some(code::EMERGENCY),
        _ => None,
    }
}

/// The connection's command state.
#[derive(Debug, Clone, Default)]
pub(crate) struct Commands {
    /// Last seq used (0 before the first command).
    last_seq: u16,
    pending: Vec<Pending>,
}

/// What [`Commands::start`] needs besides the built frame.
pub(crate) struct Started<'a> {
    pub(crate) request: Option<u64>,
    pub(crate) account: &'a str,
    pub(crate) command: &'static str,
    pub(crate) expect: Option<u16>,
    pub(crate) section: u8,
    pub(crate) retry: Retry,
}

impl Commands {
    /// The seq the next command gets: 1..=9999, wrapping to 1.
    pub(crate) fn next_seq(&mut self) -> u16 {
        self.last_seq = self.last_seq % 9999 + 1;
        self.last_seq
    }

    /// Track a command whose frame `bytes` (with `seq`) is being sent at `now_ms`.
    pub(crate) fn start(
        &mut self,
        s: Started<'_>,
        seq: u16,
        bytes: Vec<u8>,
        now_ms: u64,
        out: &mut Vec<Output>,
    ) {
        out.push(Output::Send(Sent {
            request: s.request,
            account: s.account.into(),
            command: s.command,
            seq,
            attempt: 0,
            bytes: bytes.clone(),
        }));
        self.pending.push(Pending {
            request: s.request,
            account: s.account.into(),
            command: s.command,
            expect: s.expect,
            section: s.section,
            acked: false,
            seq,
            bytes,
            attempts: 0,
            retry: s.retry,
            deadline_ms: now_ms.saturating_add(s.retry.timeout_ms),
        });
    }

    /// A panel's ACK/DUH/NAK from `account`: complete the command with that seq, if any; an
    /// ACK of a command whose result the host reports starts the wait for that report.
    pub(crate) fn answered(
        &mut self,
        frame: &Frame,
        account: &str,
        now_ms: u64,
        out: &mut Vec<Output>,
    ) {
        let Some(seq) = frame.seq_number() else {
            return;
        };
        let Some(i) = self
            .pending
            .iter()
            .position(|p| p.seq == seq && p.account == account && !p.acked)
        else {
            return;
        };
        if frame.id == Id::Ack {
            if let Some(p) = self.pending.get_mut(i).filter(|p| p.expect.is_some()) {
                p.acked = true;
                p.deadline_ms = now_ms.saturating_add(p.retry.timeout_ms);
                return;
            }
        }
        let p = self.pending.swap_remove(i);
        let outcome = match frame.id {
            Id::Ack => Outcome::Done,
            _ => Outcome::NotSupported(format!("the host answered {}", frame.id.as_str())),
        };
        out.push(finished(p, outcome));
    }

    /// An event `event_code` for section `group` reported by `account`: the result of the
    /// oldest pending command it answers (its status, or 1701 to a disarm), if any.
    pub(crate) fn reported(
        &mut self,
        account: &str,
        event_code: u16,
        group: u8,
        out: &mut Vec<Output>,
    ) {
        let answers = |p: &Pending| {
            p.account == account
                && match p.expect {
                    Some(want) if want == event_code => p.section == 0 || p.section == group,
                    Some(code::DISARM) => event_code == DISARM_PASSWORD_ERROR,
                    _ => false,
                }
        };
        let Some(i) = self
            .pending
            .iter()
            .enumerate()
            .filter(|(_, p)| answers(p))
            .min_by_key(|(_, p)| p.deadline_ms)
            .map(|(i, _)| i)
        else {
            return;
        };
        let p = self.pending.swap_remove(i);
        let outcome = match event_code {
            DISARM_PASSWORD_ERROR => Outcome::WrongPassword,
            _ => Outcome::Done,
        };
        out.push(finished(p, outcome));
    }

    /// Resend what is due (same bytes, same seq) and time out what has no retries left.
    pub(crate) fn tick(&mut self, now_ms: u64, out: &mut Vec<Output>) {
        let mut i = 0;
        while i < self.pending.len() {
            let p = &mut self.pending[i];
            if p.deadline_ms > now_ms {
                i += 1;
            } else if p.acked {
                let p = self.pending.swap_remove(i);
                out.push(finished(p, Outcome::NotDone));
            } else if p.attempts < p.retry.retries {
                p.attempts += 1;
                p.deadline_ms = now_ms.saturating_add(p.retry.timeout_ms);
                out.push(Output::Send(Sent {
                    request: p.request,
                    account: p.account.clone(),
                    command: p.command,
                    seq: p.seq,
                    attempt: p.attempts,
                    bytes: p.bytes.clone(),
                }));
                i += 1;
            } else {
                let p = self.pending.swap_remove(i);
                out.push(finished(p, Outcome::TimedOut));
            }
        }
    }

    /// The earliest resend or timeout.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.pending.iter().map(|p| p.deadline_ms).min()
    }

    /// Fail everything pending: the connection is gone.
    pub(crate) fn abandon(&mut self, out: &mut Vec<Output>) {
        for p in self.pending.drain(..) {
            out.push(finished(p, Outcome::PanelOffline));
        }
    }
}

fn finished(p: Pending, outcome: Outcome) -> Output {
    Output::Finished(Finished {
        request: p.request,
        account: p.account,
        command: p.command,
        outcome,
    })
}
