//! `panel-proto`: the pure protocol code of alarmhub.
//!
//! Bytes in, typed frames and reply decisions out. No sockets, no runtime, no clock reads:
//! the caller passes "now" where time matters. The same code serves the receiver, the
//! simulator and `alarmhub decode`.
//!
//! * [`framing`]: find frames in a byte stream by their length field.
//! * [`parse`]: turn one frame's bytes into a [`Frame`].
//! * [`build`]: write every frame alarmhub sends or simulates.
//! * [`crypto`]: DC-09 AES-CBC encryption with hex or ASCII keys.
//! * [`codes`]: Contact ID, HB and SIA event tables, machine types and statuses.
//! * [`timestamp`]: DC-09 timestamps and the replay window.
//! * [`rules`]: the stateless per-frame rules (dialect, which reply).
//! * [`link`]: the per-connection state machine (replies, events to store, commands,
//!   deadlines, rate limit) that a receiver drives.
#![deny(missing_docs)]

pub mod build;
pub mod codes;
pub mod crc;
pub mod crypto;
pub mod error;
pub mod escape;
pub mod frame;
pub mod framing;
pub mod link;
pub mod parse;
pub mod rules;
pub mod timestamp;

pub use error::{Error, Result};
pub use frame::{ContactId, Data, Frame, Id, Quirks, SiaData, Xdata};
pub use framing::{Decoded, Decoder, DecoderConfig};
