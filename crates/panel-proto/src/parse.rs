//! Turn the span of one frame (from the opening `"` of the ID token up to the byte before
//! CR) into a [`Frame`], and decrypt encrypted data blocks.
//!
//! Framing, CRC and length are [`crate::framing`]'s job; this module only reads fields.
//! Every error names the field and the byte offset counted from the frame's LF.

use compact_str::CompactString;

use crate::crypto::{self, Key, PlaintextKind};
use crate::error::{Error, Result};
use crate::frame::{ContactId, Data, Frame, Id, Quirks, SiaData, Xdata};
use crate::timestamp::{self, Timestamp};

/// Longest ID token accepted (the longest DC-07 token is 10 bytes; leave room).
const MAX_ID_LEN: usize = 32;
/// Longest header account accepted (HB allows 18; be lenient).
const MAX_ACCOUNT_LEN: usize = 32;

fn bad(field: &'static str, offset: usize, reason: impl Into<String>) -> Error {
    Error::BadField {
        field,
        offset,
        reason: reason.into(),
    }
}

fn text(b: &[u8]) -> CompactString {
    CompactString::from_utf8_lossy(b)
}

/// A byte region whose UTF-8 is validated once, so that the fields cut from it do not each
/// pay for their own validation (six short validations per frame were a noticeable part of
/// decode time). [`Region::text`] gives exactly what [`text`] gives for the same bytes.
#[derive(Clone, Copy)]
struct Region<'a> {
    bytes: &'a [u8],
    /// A prefix of `bytes` that is valid UTF-8: all of `bytes` in the usual case, shorter
    /// when they hold invalid bytes or the region starts inside a character.
    valid: &'a str,
}

impl<'a> Region<'a> {
    fn new(bytes: &'a [u8]) -> Region<'a> {
        let valid = match std::str::from_utf8(bytes) {
            Ok(s) => s,
            // Binary HB xdata or Windows-1252 text: the fields before it are still valid.
            Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default(),
        };
        Region { bytes, valid }
    }

    /// The sub-region `r` (panics like slice indexing when `r` is out of bounds).
    #[inline]
    fn slice(&self, r: std::ops::Range<usize>) -> Region<'a> {
        let end = r.end.min(self.valid.len());
        Region {
            bytes: &self.bytes[r.start..r.end],
            // `get` refuses a start that cuts a character in two; that sub-region then falls
            // back to the lossy conversion.
            valid: self.valid.get(r.start..end).unwrap_or_default(),
        }
    }

    /// `text(self.bytes)`: when the valid prefix covers every byte the bytes are valid UTF-8,
    /// and lossy conversion of valid UTF-8 is the identity.
    #[inline]
    fn text(&self) -> CompactString {
        if self.valid.len() == self.bytes.len() {
            CompactString::new(self.valid)
        } else {
            text(self.bytes)
        }
    }
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The eight bytes of `c` (exactly 8 long) as one little-endian word.
fn word(c: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(c);
    u64::from_le_bytes(w)
}

/// `hay.iter().position(|&b| b == needle)`, eight bytes per step: the frame's delimiters sit
/// 10 to 30 bytes apart, and the byte-by-byte search was a visible part of decoding.
fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    let pat = LO * u64::from(needle);
    let mut chunks = hay.chunks_exact(8);
    let mut at = 0;
    for c in &mut chunks {
        let x = word(c) ^ pat;
        // The lowest set bit marks the first zero byte of `x` exactly (false positives of
        // this test only occur above a true zero byte).
        let zero = x.wrapping_sub(LO) & !x & HI;
        if zero != 0 {
            return Some(at + (zero.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == needle)
        .map(|p| at + p)
}

/// `hay.iter().rposition(|&b| b == needle)`, eight bytes per step.
fn rfind_byte(hay: &[u8], needle: u8) -> Option<usize> {
    let pat = LO * u64::from(needle);
    let mut chunks = hay.rchunks_exact(8);
    let mut end = hay.len();
    for c in &mut chunks {
        let x = word(c) ^ pat;
        // Exact per byte: the high bit is set in each byte of `x` that is zero.
        let zero = !(((x & !HI).wrapping_add(!HI)) | x) & HI;
        if zero != 0 {
            return Some(end - 8 + (63 - zero.leading_zeros() as usize) / 8);
        }
        end -= 8;
    }
    chunks.remainder().iter().rposition(|&b| b == needle)
}

/// Which bytes may appear in a header account: printable ASCII except `[ ] | " #`.
static ACCOUNT_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_graphic() && !matches!(c, b'[' | b']' | b'|' | b'"' | b'#');
        b += 1;
    }
    t
};

/// The value of each ASCII hex digit (either case); 0xFF for every other byte.
static HEX_VALUE: [u8; 256] = {
    let mut t = [0xFF; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => 0xFF,
        };
        b += 1;
    }
    t
};

/// `char::from(b).to_digit(16)` without the `char` detour.
fn hex_digit(b: u8) -> Option<u8> {
    let v = HEX_VALUE[usize::from(b)];
    (v < 16).then_some(v)
}

fn is_account_byte(b: u8) -> bool {
    ACCOUNT_BYTE[usize::from(b)]
}

/// Parse a span. `base` is the offset of the span's first byte within the frame (9 for a
/// standard frame), used for error offsets.
pub fn parse_span(span: &[u8], base: usize) -> Result<Frame> {
    let mut frame = blank_frame();
    parse_span_into(span, base, &mut frame)?;
    Ok(frame)
}

/// An empty frame for [`parse_span_into`] to fill.
pub(crate) fn blank_frame() -> Frame {
    Frame {
        id: Id::Null,
        encrypted: false,
        seq: CompactString::default(),
        receiver: None,
        line: None,
        account: None,
        account_is_nak_form: false,
        data: Data::Empty,
        xdata: Vec::new(),
        timestamp: None,
        quirks: Quirks::default(),
    }
}

/// [`parse_span`] into a frame from [`blank_frame`], so that the decoder can parse straight
/// into its result: the frame is several hundred bytes, and returning it through each layer
/// copied it each time. On error the frame is left partly filled.
pub(crate) fn parse_span_into(span: &[u8], base: usize, frame: &mut Frame) -> Result<()> {
    let whole = Region::new(span);
    // ID token.
    if span.first() != Some(&b'"') {
        return Err(bad("ID token", base, "expected `\"`"));
    }
    let close = find_byte(&span[1..span.len().min(MAX_ID_LEN + 2)], b'"')
        .map(|p| p + 1)
        .ok_or_else(|| bad("ID token", base, "no closing `\"`"))?;
    let mut token = &span[1..close];
    let encrypted = token.first() == Some(&b'*');
    if encrypted {
        token = &token[1..];
    }
    if token.is_empty() || !token.iter().all(|b| b.is_ascii_graphic()) {
        return Err(bad("ID token", base + 1, "empty or not printable"));
    }
    let id = Id::from_token(token);

    // Sequence number: 4 raw characters, echoed verbatim.
    let mut pos = close + 1;
    span.get(pos..pos + 4)
        .filter(|s| s.iter().all(|b| b.is_ascii_graphic() && *b != b'['))
        .ok_or_else(|| bad("seq", base + pos, "expected 4 characters"))?;
    let seq_at = pos;
    pos += 4;

    // Header up to the data block.
    let data_start = find_byte(&span[pos..], b'[')
        .map(|p| p + pos)
        .ok_or_else(|| bad("data block", base + pos, "no `[` after the header"))?;
    // Seq and header are validated as UTF-8 once, together.
    let fields = whole.slice(seq_at..data_start);
    let seq = fields.slice(0..4).text();
    let header = parse_header(fields.slice(4..data_start - seq_at), base + pos, &id)?;

    frame.id = id;
    frame.encrypted = encrypted;
    frame.seq = seq;
    frame.receiver = header.receiver;
    frame.line = header.line;
    frame.account = header.account;
    frame.account_is_nak_form = header.nak_form;
    frame.quirks = header.quirks;

    let body_region = whole.slice(data_start + 1..span.len());
    let body = body_region.bytes;
    if encrypted {
        if body.is_empty() || !body.iter().all(u8::is_ascii_hexdigit) {
            return Err(bad(
                "encrypted data",
                base + data_start + 1,
                "expected hex ciphertext up to CR",
            ));
        }
        frame.data = Data::Encrypted(String::from_utf8_lossy(body).into_owned());
        return Ok(());
    }
    parse_body(frame, body_region, base + data_start + 1)
}

struct Header {
    receiver: Option<CompactString>,
    line: Option<CompactString>,
    account: Option<CompactString>,
    nak_form: bool,
    quirks: Quirks,
}

/// `[Rrcvr][Lpref]#acct` in any of the shapes seen in the field.
fn parse_header(region: Region<'_>, base: usize, id: &Id) -> Result<Header> {
    let h = region.bytes;
    let mut quirks = Quirks::default();
    let (rl, account, nak_form) = if let Some(p) = find_byte(h, b'#') {
        let acct = &h[p + 1..];
        if acct.is_empty() || acct.len() > MAX_ACCOUNT_LEN {
            return Err(bad(
                "account",
                base + p,
                format!("length {} (need 1..{MAX_ACCOUNT_LEN})", acct.len()),
            ));
        }
        if let Some(i) = acct.iter().position(|&b| !is_account_byte(b)) {
            return Err(bad(
                "account",
                base + p + 1 + i,
                "not a printable character",
            ));
        }
        (&h[..p], Some(region.slice(p + 1..h.len()).text()), false)
    } else if let Some(p) = nak_account(h, id) {
        (&h[..p], Some(region.slice(p..h.len()).text()), true)
    } else {
        quirks.missing_account = true;
        (h, None, false)
    };

    let mut receiver = None;
    let mut line = None;
    let mut i = 0;
    while i < rl.len() {
        let tag = rl[i];
        let start = i + 1;
        let mut end = start;
        while end < rl.len() && hex_digit(rl[end]).is_some() {
            end += 1;
        }
        let value = Some(region.slice(start..end).text());
        match tag {
            b'R' if receiver.is_none() => receiver = value,
            b'L' if line.is_none() => line = value,
            _ => {
                return Err(bad(
                    "header",
                    base + i,
                    format!("unexpected byte {:?} (expected R, L or #)", char::from(tag)),
                ))
            }
        }
        i = end;
    }
    if line.is_none() {
        quirks.missing_l = true;
    }
    Ok(Header {
        receiver,
        line,
        account,
        nak_form,
        quirks,
    })
}

/// The spec NAK writes its account as the literal `A0`: find an `A` + digits tail.
fn nak_account(h: &[u8], id: &Id) -> Option<usize> {
    if *id != Id::Nak {
        return None;
    }
    let p = h.iter().rposition(|&b| b == b'A')?;
    (p > 0 && p + 1 < h.len() && h[p + 1..].iter().all(u8::is_ascii_digit)).then_some(p)
}

/// Data block content (after `[`), extended data and timestamp.
fn parse_body(frame: &mut Frame, body: Region<'_>, base: usize) -> Result<()> {
    let close =
        find_byte(body.bytes, b']').ok_or_else(|| bad("data block", base, "no closing `]`"))?;
    parse_data(&frame.id, body.slice(0..close), base, &mut frame.data)?;
    let (xdata, ts) = parse_tail(body.slice(close + 1..body.bytes.len()), base + close + 1)?;
    frame.xdata = xdata;
    frame.timestamp = ts;
    Ok(())
}

/// Parse the data block content into `out` (in place: returning the large `Data` through a
/// `Result` copied it twice). On error `out` is unchanged.
fn parse_data(id: &Id, region: Region<'_>, base: usize, out: &mut Data) -> Result<()> {
    let content = region.bytes;
    *out = match id {
        Id::AdmCid | Id::HengBo => {
            if content.is_empty() {
                return Err(bad("data block", base, "empty; expected Contact ID"));
            }
            Data::ContactId(parse_contact_id(region, base)?)
        }
        Id::SiaDcs => {
            if content.is_empty() {
                return Err(bad("data block", base, "empty; expected SIA data"));
            }
            Data::Sia(sia_from(region))
        }
        _ if content.is_empty() => Data::Empty,
        _ => Data::Other(region.text()),
    };
    Ok(())
}

/// Split `#acct|rest`, `|rest` or `rest`; returns (account, rest, offset of rest).
fn split_account(content: Region<'_>) -> (Option<CompactString>, Region<'_>, usize) {
    let len = content.bytes.len();
    match rfind_byte(content.bytes, b'|') {
        Some(p) => {
            let from = usize::from(content.bytes.first() == Some(&b'#') && p > 0);
            let acct = (p > from).then(|| content.slice(from..p).text());
            (acct, content.slice(p + 1..len), p + 1)
        }
        None => (None, content, 0),
    }
}

fn digits(b: &[u8]) -> Option<u16> {
    b.iter().try_fold(0u16, |acc, &c| {
        let d = hex_digit(c)?;
        Some(acc * 10 + u16::from(d))
    })
}

fn parse_contact_id(content: Region<'_>, base: usize) -> Result<ContactId> {
    let (account, region, off) = split_account(content);
    let c = region.bytes;
    let at = base + off;
    if c.len() != 11 || c[4] != b' ' || c[7] != b' ' {
        return Err(bad(
            "Contact ID",
            at,
            format!("expected `QEEE GG ZZZ` (11 bytes), found {:?}", text(c)),
        ));
    }
    let field = |r: std::ops::Range<usize>, name: &'static str| {
        digits(&c[r.clone()]).ok_or_else(|| bad(name, at + r.start, "not digits"))
    };
    Ok(ContactId {
        account,
        qualifier: field(0..1, "qualifier")? as u8,
        code: field(1..4, "event code")?,
        group: field(5..7, "group")?.min(255) as u8,
        zone: field(8..11, "zone")?,
        raw: region.text(),
    })
}

/// Lenient SIA DC-04 reading: never fails, keeps the body raw.
pub fn parse_sia(content: &[u8]) -> SiaData {
    sia_from(Region::new(content))
}

fn sia_from(content: Region<'_>) -> SiaData {
    let (account, region, _) = split_account(content);
    let b = region.bytes;
    let mut sia = SiaData {
        account,
        body: region.text(),
        new_event: false,
        code: None,
        number: None,
        area: None,
        user: None,
        time: None,
        text: None,
    };
    let mut i = 0;
    if matches!(b.first(), Some(b'N') | Some(b'O')) && b.get(1).is_some_and(|c| !c.is_ascii_digit())
    {
        sia.new_event = b[0] == b'N';
        i = 1;
    }
    // Modifiers: two lower-case letters, a value, an optional `/`.
    while i + 1 < b.len() && b[i].is_ascii_lowercase() && b[i + 1].is_ascii_lowercase() {
        let name = [b[i], b[i + 1]];
        let start = i + 2;
        let mut end = start;
        while end < b.len() && !matches!(b[end], b'/' | b'^') && !b[end].is_ascii_uppercase() {
            end += 1;
        }
        let value = Some(region.slice(start..end).text());
        match &name {
            b"ri" => sia.area = value,
            b"id" => sia.user = value,
            b"ti" => sia.time = value,
            _ => {}
        }
        i = end;
        if b.get(i) == Some(&b'/') {
            i += 1;
        }
    }
    if i + 1 < b.len() && b[i].is_ascii_uppercase() && b[i + 1].is_ascii_uppercase() {
        sia.code = Some(region.slice(i..i + 2).text());
        i += 2;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i > start {
            sia.number = Some(region.slice(start..i).text());
        }
    }
    if let Some(s) = b.iter().position(|&c| c == b'^') {
        let rest = &b[s + 1..];
        let e = rest.iter().position(|&c| c == b'^').unwrap_or(rest.len());
        sia.text = Some(region.slice(s + 1..s + 1 + e).text());
    }
    sia
}

/// Extended-data blocks, then the optional timestamp, then nothing.
fn parse_tail(region: Region<'_>, base: usize) -> Result<(Vec<Xdata>, Option<Timestamp>)> {
    let b = region.bytes;
    let mut xdata = Vec::new();
    let mut i = 0;
    while b.get(i) == Some(&b'[') {
        let (x, next) = parse_xdata(region, i, base)?;
        xdata.push(x);
        i = next;
    }
    let rest = &b[i..];
    if rest.is_empty() {
        return Ok((xdata, None));
    }
    match Timestamp::parse(rest) {
        Some(ts) => Ok((xdata, Some(ts))),
        None => Err(bad(
            "timestamp",
            base + i,
            format!(
                "expected `_HH:MM:SS,MM-DD-YYYY` ({} bytes) before CR, found {} bytes {:?}",
                timestamp::LEN,
                rest.len(),
                text(&rest[..rest.len().min(24)])
            ),
        )),
    }
}

/// One xdata block starting at `b[i] == '['` (protocol.md §1.8.1 detection rule).
fn parse_xdata(region: Region<'_>, i: usize, base: usize) -> Result<(Xdata, usize)> {
    let b = region.bytes;
    let at = base + i;
    if let Some(&hi) = b.get(i + 1) {
        if hi < 0x20 {
            let lo = *b
                .get(i + 2)
                .ok_or_else(|| bad("xdata", at, "binary length cut short"))?;
            let len = usize::from(u16::from_be_bytes([hi, lo]));
            let end = i + 3 + len;
            if b.get(end) != Some(&b']') {
                return Err(bad(
                    "xdata",
                    at,
                    format!("binary length {len} does not end at `]`"),
                ));
            }
            return Ok((Xdata::HbBinary(b[i + 3..end].to_vec()), end + 1));
        }
    }
    if let Some(len) = b.get(i + 1..i + 5).and_then(hex4) {
        let end = i + 5 + usize::from(len);
        if b.get(end) == Some(&b']') {
            return Ok((Xdata::HbHex4(b[i + 5..end].to_vec()), end + 1));
        }
    }
    let close = b[i + 1..]
        .iter()
        .position(|&c| c == b']')
        .map(|p| p + i + 1)
        .ok_or_else(|| bad("xdata", at, "no closing `]`"))?;
    if close == i + 1 {
        return Err(bad("xdata", at, "empty block `[]`"));
    }
    Ok((
        Xdata::Dc09 {
            id: b[i + 1],
            value: region.slice(i + 2..close).text(),
        },
        close + 1,
    ))
}

/// Four ASCII hex digits as a number.
pub fn hex4(b: &[u8]) -> Option<u16> {
    if b.len() != 4 {
        return None;
    }
    b.iter()
        .try_fold(0u16, |acc, &c| Some(acc << 4 | u16::from(hex_digit(c)?)))
}

/// Four ASCII decimal digits as a number.
pub fn dec4(b: &[u8]) -> Option<u16> {
    if b.len() != 4 {
        return None;
    }
    b.iter().try_fold(0u16, |acc, &c| {
        Some(acc * 10 + char::from(c).to_digit(10)? as u16)
    })
}

/// Decrypt an encrypted frame's data block in place with `key`, then parse the plaintext's
/// data block, extended data and timestamp. Errors leave the frame unchanged.
pub fn decrypt(frame: &mut Frame, key: &Key) -> Result<()> {
    let Data::Encrypted(hex) = &frame.data else {
        return Ok(());
    };
    let (plain, info) = crypto::open(key, hex.as_bytes())?;
    let rest = &plain[info.pad_len + 1..];
    let mut out = frame.clone();
    match info.kind {
        PlaintextKind::Event => {
            parse_body(&mut out, Region::new(rest), 0).map_err(decrypt_context)?
        }
        PlaintextKind::Empty => {
            out.data = Data::Empty;
            let (x, ts) = parse_tail(Region::new(rest), 0).map_err(decrypt_context)?;
            out.xdata = x;
            out.timestamp = ts;
        }
    }
    *frame = out;
    Ok(())
}

fn decrypt_context(e: Error) -> Error {
    Error::Decrypt(format!("plaintext (offsets after the pad): {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sia_modifiers_code_number_and_text_are_read() {
        let s = parse_sia(b"#1234|Nri1/CL501");
        assert_eq!(s.account.as_deref(), Some("1234"));
        assert_eq!(s.area.as_deref(), Some("1"));
        assert_eq!(s.code.as_deref(), Some("CL"));
        assert_eq!(s.number.as_deref(), Some("501"));
        let s = parse_sia(b"Nid3OG2");
        assert_eq!(
            (s.user.as_deref(), s.code.as_deref()),
            (Some("3"), Some("OG"))
        );
        let s = parse_sia(b"Nri0RP2^SL test^");
        assert_eq!(s.code.as_deref(), Some("RP"));
        assert_eq!(s.text.as_deref(), Some("SL test"));
        let s = parse_sia(b"Nti12:00/id3/BA12");
        assert_eq!(s.time.as_deref(), Some("12:00"));
        assert_eq!(s.code.as_deref(), Some("BA"));
        let s = parse_sia(b"NFA129");
        assert!(s.new_event);
        assert_eq!(
            (s.code.as_deref(), s.number.as_deref()),
            (Some("FA"), Some("129"))
        );
    }

    #[test]
    fn find_byte_and_rfind_byte_match_position_and_rposition() {
        let mut hay = Vec::new();
        for len in 0..40 {
            hay.clear();
            hay.extend((0..len).map(|i| [b'a', b'|', 0x80, 0xFF, 0x00, b'#'][(i * 7 + len) % 6]));
            for needle in [b'a', b'|', 0x80, 0xFF, 0x00, b'#', b'z', 0x7F, 0x01] {
                assert_eq!(
                    find_byte(&hay, needle),
                    hay.iter().position(|&b| b == needle),
                    "{hay:?} {needle}"
                );
                assert_eq!(
                    rfind_byte(&hay, needle),
                    hay.iter().rposition(|&b| b == needle),
                    "{hay:?} {needle}"
                );
            }
        }
    }

    #[test]
    fn region_text_equals_lossy_text_for_every_sub_range() {
        let bytes = "a\u{e9}b\u{20ac}|\u{1d11e}z".as_bytes();
        let mut with_bad = bytes.to_vec();
        with_bad.insert(5, 0xFF);
        for b in [bytes, &with_bad[..]] {
            let whole = Region::new(b);
            for i in 0..=b.len() {
                for j in i..=b.len() {
                    let sub = whole.slice(i..j);
                    assert_eq!(sub.text(), text(&b[i..j]), "{i}..{j}");
                    for k in 0..=sub.bytes.len() {
                        for l in k..=sub.bytes.len() {
                            assert_eq!(sub.slice(k..l).text(), text(&b[i + k..i + l]));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn hex4_and_dec4_reject_non_digits() {
        assert_eq!(hex4(b"004a"), Some(0x4A));
        assert_eq!(hex4(b"00x1"), None);
        assert_eq!(dec4(b"0047"), Some(47));
        assert_eq!(dec4(b"004A"), None);
    }
}
