//! The one error type of the codec: every way a frame can be refused, with the field and
//! byte offset that caused it, so that logs and `alarmhub decode` can name the problem.

use thiserror::Error;

/// Why a frame (or a key, or a ciphertext) was refused.
///
/// Offsets are byte offsets from the frame's leading LF (0) unless stated otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    /// The CRC field does not match the CRC computed over the span.
    #[error("bad CRC: frame says {expected:04X}, computed {actual:04X}")]
    BadCrc {
        /// CRC written in the frame.
        expected: u16,
        /// CRC computed over the bytes received.
        actual: u16,
    },
    /// The length field is not 4 hex digits.
    #[error("bad length field at byte {offset}: {found:?} is not 4 hex digits")]
    BadLength {
        /// Offset of the length field.
        offset: usize,
        /// The bytes found there (lossy text).
        found: String,
    },
    /// The byte where the length field says the frame ends is not CR.
    #[error("no CR at byte {offset} where the length field puts the end of the frame")]
    MissingCr {
        /// Offset where CR was expected.
        offset: usize,
    },
    /// The frame is longer than the configured maximum.
    #[error("frame too long: {len} bytes, maximum {max}")]
    TooLong {
        /// Length the frame claims (whole frame, LF to CR).
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A field could not be parsed.
    #[error("bad {field} at byte {offset}: {reason}")]
    BadField {
        /// Which field (e.g. "seq", "account", "data block").
        field: &'static str,
        /// Byte offset of the problem.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// The ID token is not one this codec knows. The frame is otherwise valid; a receiver
    /// answers DUH. (Decoding still returns a frame with `Id::Other`; this variant is for
    /// callers that need an error, e.g. the encrypted form of an unknown token.)
    #[error("unknown ID token {0:?}")]
    UnknownId(String),
    /// Bytes before the LF that starts a frame were skipped.
    #[error("{skipped} bytes of garbage before LF")]
    Garbage {
        /// Number of bytes skipped.
        skipped: usize,
    },
    /// An encryption key could not be parsed.
    #[error("bad key: {0}")]
    BadKey(String),
    /// A ciphertext could not be decrypted into a valid DC-09 plaintext.
    #[error("decryption failed: {0}")]
    Decrypt(String),
    /// The frame is encrypted but no key was supplied.
    #[error("frame is encrypted and no key is configured for account {account:?}")]
    NoKey {
        /// Header account of the frame.
        account: String,
    },
    /// An argument to a builder is out of range.
    #[error("cannot build frame: {0}")]
    Build(String),
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
