//! The rules of one Sur-Gard automation link as a pure state machine: time is passed in,
//! what to send and what happened is returned; no socket, no clock.
//!
//! * One message is outstanding at a time; the central station must answer ACK within
//!   `ack_timeout`. No answer, or NAK, sends the same message again, up to `max_resends`
//!   times (both count against the same budget).
//! * When the budget is spent the link is **failed**: the message is parked (never
//!   dropped), and a heartbeat is sent every `heartbeat` period until one is ACKed; then the
//!   link is up again and the parked message is sent first.
//! * While up and idle (nothing sent for `heartbeat`), a heartbeat is sent; it follows the
//!   same ACK rules as a message.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::codec::{ACK, HEARTBEAT, NAK};

/// Timing of the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkTiming {
    /// How long the central station has to answer one message.
    pub ack_timeout: Duration,
    /// Idle time before a heartbeat; also the heartbeat period while failed.
    pub heartbeat: Duration,
    /// Sends of the same message after the first before the link is failed.
    pub max_resends: u32,
}

/// What the driver must do or record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write these bytes to the central station.
    Send(Bytes),
    /// The event with this sequence number was ACKed: the cursor may move past it.
    Acked(i64),
    /// The link just failed (no ACK after every resend).
    Failed,
    /// A heartbeat was ACKed on a failed link: it is up again.
    Restored,
}

#[derive(Debug, Clone)]
struct Outstanding {
    /// `None` for a heartbeat.
    seq: Option<i64>,
    bytes: Bytes,
    sent_at: Instant,
    /// Sends so far (1 after the first).
    sends: u32,
}

/// One link's state.
#[derive(Debug, Clone)]
pub struct Link {
    timing: LinkTiming,
    outstanding: Option<Outstanding>,
    /// The message whose resends ran out, waiting for the link to come back.
    parked: Option<(i64, Bytes)>,
    failed: bool,
    /// Last time anything was written (idle heartbeat, failed-heartbeat period).
    last_send: Instant,
}

impl Link {
    /// A link that just connected at `now`.
    pub fn new(timing: LinkTiming, now: Instant) -> Link {
        Link {
            timing,
            outstanding: None,
            parked: None,
            failed: false,
            last_send: now,
        }
    }

    /// Whether the next event may be sent now.
    pub fn ready(&self) -> bool {
        !self.failed && self.outstanding.is_none() && self.parked.is_none()
    }

    /// Whether the link is failed (waiting for a heartbeat ACK).
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    /// Send event `seq` as `bytes`. Only when [`Link::ready`]; otherwise nothing happens.
    pub fn send_event(&mut self, now: Instant, seq: i64, bytes: Bytes) -> Vec<Action> {
        if !self.ready() {
            return Vec::new();
        }
        self.start(now, Some(seq), bytes)
    }

    fn start(&mut self, now: Instant, seq: Option<i64>, bytes: Bytes) -> Vec<Action> {
        self.last_send = now;
        self.outstanding = Some(Outstanding {
            seq,
            bytes: bytes.clone(),
            sent_at: now,
            sends: 1,
        });
        vec![Action::Send(bytes)]
    }

    /// One byte from the central station. Anything but ACK and NAK is ignored, and so is an
    /// answer when nothing is outstanding.
    pub fn on_byte(&mut self, now: Instant, byte: u8) -> Vec<Action> {
        match byte {
            ACK => self.on_ack(now),
            NAK => self.on_nak(now),
            _ => Vec::new(),
        }
    }

    fn on_ack(&mut self, now: Instant) -> Vec<Action> {
        let Some(done) = self.outstanding.take() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if let Some(seq) = done.seq {
            out.push(Action::Acked(seq));
        }
        if self.failed {
            self.failed = false;
            out.push(Action::Restored);
            if let Some((seq, bytes)) = self.parked.take() {
                out.extend(self.start(now, Some(seq), bytes));
            }
        }
        out
    }

    fn on_nak(&mut self, now: Instant) -> Vec<Action> {
        if self.outstanding.is_none() {
            return Vec::new();
        }
        self.retry(now)
    }

    /// Send the outstanding message again, or fail the link when the budget is spent.
    fn retry(&mut self, now: Instant) -> Vec<Action> {
        let Some(o) = self.outstanding.as_mut() else {
            return Vec::new();
        };
        // While failed, a heartbeat is tried once per period; the period is the retry.
        if !self.failed && o.sends <= self.timing.max_resends {
            o.sends += 1;
            o.sent_at = now;
            self.last_send = now;
            return vec![Action::Send(o.bytes.clone())];
        }
        let o = self.outstanding.take();
        if let Some(Outstanding {
            seq: Some(seq),
            bytes,
            ..
        }) = o
        {
            self.parked = Some((seq, bytes));
        }
        if self.failed {
            return Vec::new();
        }
        self.failed = true;
        vec![Action::Failed]
    }

    /// Let time pass: ACK timeouts, idle heartbeats and heartbeats on a failed link.
    pub fn poll(&mut self, now: Instant) -> Vec<Action> {
        if let Some(o) = &self.outstanding {
            if now >= o.sent_at + self.timing.ack_timeout {
                return self.retry(now);
            }
            return Vec::new();
        }
        if now >= self.last_send + self.timing.heartbeat {
            return self.start(now, None, Bytes::from_static(HEARTBEAT));
        }
        Vec::new()
    }

    /// When [`Link::poll`] next has something to do.
    pub fn deadline(&self) -> Instant {
        match &self.outstanding {
            Some(o) => o.sent_at + self.timing.ack_timeout,
            None => self.last_send + self.timing.heartbeat,
        }
    }
}

#[cfg(test)]
#[path = "link_tests.rs"]
mod tests;
