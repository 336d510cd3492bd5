//! Per-frame protocol rules: which dialect a connection speaks and what a receiver answers
//! (protocol.md §2.1). Pure decisions; the receiver applies them.

use crate::build::AckStyle;
use crate::frame::{Frame, Id};

/// Which family of panel sent a frame; decides the ACK form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// Hengbo hosts (ACK with timestamp, commands possible).
    Hb,
    /// Any other SIA DC-09 communicator.
    Dc09,
}

impl Dialect {
    /// `"hb"` or `"dc09"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Dialect::Hb => "hb",
            Dialect::Dc09 => "dc09",
        }
    }

    /// The ACK form for this dialect.
    pub fn ack_style(&self) -> AckStyle {
        match self {
            Dialect::Hb => AckStyle::Hb,
            Dialect::Dc09 => AckStyle::Dc09,
        }
    }
}

/// Guess the dialect from one frame: `HENG-BO`, or the placeholder R/L tokens that the
/// Hengbo library and docs write (`R123ABC`/`L456DEF`, `R1234`/`L6789`, `R000000`/`L000000`).
pub fn detect_dialect(frame: &Frame) -> Dialect {
    if frame.id == Id::HengBo {
        return Dialect::Hb;
    }
    let r = frame.receiver.as_deref();
    let l = frame.line.as_deref();
    let hb = matches!(
        (r, l),
        (Some("123ABC"), Some("456DEF"))
            | (Some("1234"), Some("6789"))
            | (Some("000000"), Some("000000"))
    );
    if hb {
        Dialect::Hb
    } else {
        Dialect::Dc09
    }
}

/// What to answer to a frame that decoded (CRC and framing good).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// ACK with the same seq (after the event is stored, for events).
    Ack,
    /// DUH: valid frame, unknown ID token.
    Duh,
    /// Nothing: ACK/DUH/NAK from the panel (they complete or fail our own commands).
    Nothing,
}

/// The answer §2.1 requires for a decoded frame. Timestamp-window NAKs and unknown-account
/// policy are decided by the caller, which knows the clock and the configuration.
pub fn reply_for(frame: &Frame) -> Reply {
    match frame.id {
        Id::Ack | Id::Duh | Id::Nak => Reply::Nothing,
        Id::Null | Id::AdmCid | Id::SiaDcs | Id::HengBo | Id::Rsp => Reply::Ack,
        Id::Other(_) => Reply::Duh,
    }
}
