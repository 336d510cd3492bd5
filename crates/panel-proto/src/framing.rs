//! Find frames in a byte stream by their length field, never by CR.
//!
//! [`decode`] looks at the front of a buffer and says one of three things: here is a frame
//! and how many bytes it used; need more bytes; or drop this many bytes for this reason.
//! The caller owns the buffer and loops. Rules (protocol.md §1.11): resync on LF, skip
//! garbage before it, require CR exactly where the length puts it, check the CRC, enforce a
//! maximum frame length. Binary HB xdata may contain LF/CR bytes; the length field makes
//! that harmless.

use crate::crc::{crc16, crc16_with_cr};
use crate::error::Error;
use crate::frame::{Frame, Quirks};
use crate::parse::{blank_frame, dec4, hex4, parse_span_into};

const LF: u8 = b'\n';
const CR: u8 = b'\r';

/// Default maximum frame size (LF to CR), generous enough for DC-09 extended data.
pub const DEFAULT_MAX_FRAME: usize = 1024;

/// What the decoder accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecoderConfig {
    /// Largest whole frame accepted, LF to CR included.
    pub max_frame_len: usize,
    /// Leniencies the decoder may try (see [`Quirks`]).
    pub quirks: Quirks,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        DecoderConfig {
            max_frame_len: DEFAULT_MAX_FRAME,
            quirks: Quirks::default(),
        }
    }
}

/// The result of looking at the front of a buffer.
// The frame is returned by value: boxing it would cost an allocation per frame on the
// receiver's hot path, and `Decoded` never lives in a collection.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A frame; drop `consumed` bytes from the front of the buffer.
    Frame {
        /// The frame.
        frame: Frame,
        /// Bytes it used, leading LF to CR included.
        consumed: usize,
    },
    /// The buffer holds the start of a frame; read more bytes.
    Incomplete,
    /// Drop `consumed` bytes (at least 1); `error` says why.
    Invalid {
        /// What was wrong.
        error: Error,
        /// Bytes to drop.
        consumed: usize,
    },
}

/// A decoder with its configuration: `Decoder::new(cfg).decode(buf)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Decoder {
    cfg: DecoderConfig,
}

impl Decoder {
    /// A decoder with `cfg`.
    pub fn new(cfg: DecoderConfig) -> Decoder {
        Decoder { cfg }
    }

    /// The configuration.
    pub fn config(&self) -> &DecoderConfig {
        &self.cfg
    }

    /// See [`decode`].
    pub fn decode(&self, buf: &[u8]) -> Decoded {
        decode(buf, &self.cfg)
    }

    /// Decode every complete frame in `buf`; returns each frame or error in order, and the
    /// number of bytes left over (an incomplete frame at the end).
    pub fn decode_all(&self, mut buf: &[u8]) -> (Vec<Result<Frame, Error>>, usize) {
        let mut out = Vec::new();
        loop {
            match self.decode(buf) {
                Decoded::Frame { frame, consumed } => {
                    out.push(Ok(frame));
                    buf = &buf[consumed..];
                }
                Decoded::Invalid { error, consumed } => {
                    out.push(Err(error));
                    buf = &buf[consumed.clamp(1, buf.len())..];
                }
                Decoded::Incomplete => return (out, buf.len()),
            }
        }
    }
}

fn invalid(error: Error, consumed: usize) -> Decoded {
    Decoded::Invalid {
        error,
        consumed: consumed.max(1),
    }
}

/// Where the CRC and length fields sit, and the CRC they state.
struct Head {
    crc: u16,
    len_field: usize,
    span_start: usize,
    binary_crc: bool,
}

/// Look at the front of `buf` (see [`Decoded`]).
pub fn decode(buf: &[u8], cfg: &DecoderConfig) -> Decoded {
    let Some(lf) = buf.iter().position(|&b| b == LF) else {
        return if buf.is_empty() {
            Decoded::Incomplete
        } else {
            invalid(Error::Garbage { skipped: buf.len() }, buf.len())
        };
    };
    if lf > 0 {
        return invalid(Error::Garbage { skipped: lf }, lf);
    }
    let head = match read_head(buf, cfg) {
        Ok(Some(h)) => h,
        Ok(None) => return Decoded::Incomplete,
        Err(e) => return invalid(e, 1),
    };
    let Some(len_hex) = hex4(&buf[head.len_field..head.len_field + 4]) else {
        let found = String::from_utf8_lossy(&buf[head.len_field..head.len_field + 4]).into();
        return invalid(
            Error::BadLength {
                offset: head.len_field,
                found,
            },
            1,
        );
    };
    let len_hex = usize::from(len_hex);
    let q = &cfg.quirks;
    // Candidate span lengths: as written (hex), then the quirks that real panels need.
    let mut candidates: [(usize, Quirks); 3] = [(len_hex, Quirks::default()); 3];
    let mut n = 1;
    if q.decimal_length {
        if let Some(d) = dec4(&buf[head.len_field..head.len_field + 4]) {
            if usize::from(d) != len_hex {
                candidates[n] = (
                    usize::from(d),
                    Quirks {
                        decimal_length: true,
                        ..Quirks::default()
                    },
                );
                n += 1;
            }
        }
    }
    if q.crc_with_cr && len_hex > 0 {
        candidates[n] = (
            len_hex - 1,
            Quirks {
                crc_with_cr: true,
                ..Quirks::default()
            },
        );
        n += 1;
    }

    let mut waiting = false;
    let mut first_error: Option<(Error, usize)> = None;
    for (len, used) in &candidates[..n] {
        let total = head.span_start + len + 1;
        if total > cfg.max_frame_len {
            first_error.get_or_insert((
                Error::TooLong {
                    len: total,
                    max: cfg.max_frame_len,
                },
                1,
            ));
            continue;
        }
        if buf.len() < total {
            waiting = true;
            continue;
        }
        let cr_at = total - 1;
        if buf[cr_at] != CR {
            first_error.get_or_insert((Error::MissingCr { offset: cr_at }, 1));
            continue;
        }
        let span = &buf[head.span_start..cr_at];
        let mut used = *used;
        used.binary_crc = head.binary_crc;
        let actual = crc16(span);
        if actual != head.crc {
            if q.crc_with_cr && crc16_with_cr(span) == head.crc {
                used.crc_with_cr = true;
            } else {
                first_error.get_or_insert((
                    Error::BadCrc {
                        expected: head.crc,
                        actual,
                    },
                    total,
                ));
                continue;
            }
        }
        // `parse_span`, but parsing straight into the result: the frame is large, and
        // moving it out of a `Result` into `Decoded` copied it twice more per frame.
        let mut out = Decoded::Frame {
            frame: blank_frame(),
            consumed: total,
        };
        if let Decoded::Frame { frame, .. } = &mut out {
            if let Err(e) = parse_span_into(span, head.span_start, frame) {
                return invalid(e, total);
            }
            frame.quirks.crc_with_cr |= used.crc_with_cr;
            frame.quirks.decimal_length |= used.decimal_length;
            frame.quirks.binary_crc |= used.binary_crc;
            if !cfg.quirks.allows(&frame.quirks) {
                return invalid(not_allowed(&frame.quirks, head.span_start), total);
            }
        }
        return out;
    }
    if waiting {
        return Decoded::Incomplete;
    }
    let (e, consumed) = first_error.unwrap_or((Error::MissingCr { offset: 0 }, 1));
    invalid(e, consumed)
}

fn not_allowed(used: &Quirks, offset: usize) -> Error {
    let reason = if used.missing_l {
        "no L token (enable quirk missing_l to accept)"
    } else {
        "no #account token (enable quirk missing_account to accept)"
    };
    Error::BadField {
        field: "header",
        offset,
        reason: reason.into(),
    }
}

/// Read the CRC field. `Ok(None)`: not enough bytes yet.
fn read_head(buf: &[u8], cfg: &DecoderConfig) -> Result<Option<Head>, Error> {
    let avail = &buf[1..buf.len().min(5)];
    let hex_so_far = avail.iter().all(u8::is_ascii_hexdigit);
    if !hex_so_far {
        if cfg.quirks.binary_crc {
            if buf.len() < 7 {
                return Ok(None);
            }
            return Ok(Some(Head {
                crc: u16::from_be_bytes([buf[1], buf[2]]),
                len_field: 3,
                span_start: 7,
                binary_crc: true,
            }));
        }
        let bad = avail
            .iter()
            .position(|b| !b.is_ascii_hexdigit())
            .unwrap_or(0);
        return Err(Error::BadField {
            field: "CRC",
            offset: 1 + bad,
            reason: "not 4 hex digits".into(),
        });
    }
    if buf.len() < 9 {
        // Reject a non-hex length early so garbage after an LF does not wait for more.
        let lenpart = &buf[5.min(buf.len())..];
        if let Some(i) = lenpart.iter().position(|b| !b.is_ascii_hexdigit()) {
            return Err(Error::BadLength {
                offset: 5 + i,
                found: String::from_utf8_lossy(lenpart).into(),
            });
        }
        return Ok(None);
    }
    // `ok_or_else`: the error (and its heap-allocated reason) is only built when needed;
    // `ok_or` built and dropped it for every frame.
    let crc = hex4(&buf[1..5]).ok_or_else(|| Error::BadField {
        field: "CRC",
        offset: 1,
        reason: "not 4 hex digits".into(),
    })?;
    Ok(Some(Head {
        crc,
        len_field: 5,
        span_start: 9,
        binary_crc: false,
    }))
}
