//! The connection's two deadlines: the first valid frame must arrive within the first-frame
//! timeout, and afterwards some valid frame within every supervision interval + grace.
//!
//! Supervision counts from the moment a frame was *handled* (stored and answered), not
//! read: a slow commit must not eat into the panel's interval. So a valid frame arms the
//! deadline from the read time (a driver that never reports back still supervises) and
//! [`Timers::handled`] pushes it to "handled + interval".

use super::output::CloseReason;

/// Deadlines in monotonic ms.
#[derive(Debug, Clone)]
pub(crate) struct Timers {
    /// Close unless a valid frame arrives by then; cleared by the first one.
    first_frame: Option<u64>,
    /// Interval + grace of the account of the last valid frame.
    supervision_ms: Option<u64>,
    /// Close unless a valid frame arrives by then.
    supervision: Option<u64>,
    /// A valid frame was read since the last [`Timers::handled`].
    refresh: bool,
}

impl Timers {
    /// A new connection at `now_ms` with a first-frame timeout.
    pub(crate) fn new(now_ms: u64, first_frame_timeout_ms: u64) -> Timers {
        Timers {
            first_frame: Some(now_ms.saturating_add(first_frame_timeout_ms)),
            supervision_ms: None,
            supervision: None,
            refresh: false,
        }
    }

    /// A valid frame of an account with supervision `interval_ms` (interval + grace) read at
    /// `now_ms`.
    pub(crate) fn valid_frame(&mut self, now_ms: u64, interval_ms: u64) {
        self.first_frame = None;
        self.supervision_ms = Some(interval_ms);
        self.supervision = Some(now_ms.saturating_add(interval_ms));
        self.refresh = true;
    }

    /// The frames read so far were handled at `now_ms`.
    pub(crate) fn handled(&mut self, now_ms: u64) {
        if std::mem::take(&mut self.refresh) {
            self.supervision = self.supervision_ms.map(|d| now_ms.saturating_add(d));
        }
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<u64> {
        [self.first_frame, self.supervision]
            .into_iter()
            .flatten()
            .min()
    }

    /// Whether a deadline has passed at `now_ms`, and which.
    pub(crate) fn expired(&self, now_ms: u64) -> Option<CloseReason> {
        if self.first_frame.is_some_and(|d| d <= now_ms) {
            return Some(CloseReason::NoValidFrame);
        }
        if self.supervision.is_some_and(|d| d <= now_ms) {
            return Some(CloseReason::SupervisionExpired);
        }
        None
    }
}
