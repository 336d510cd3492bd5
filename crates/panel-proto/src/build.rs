//! Write frames: every reply alarmhub sends (ACK, encrypted ACK, NAK, DUH), the commands it
//! sends to Hengbo hosts, and the panel-side frames the simulator sends.
//!
//! Everything appends to a caller-owned `Vec<u8>` so a connection can reuse one buffer.
//! CRC and length are computed over exactly the bytes written (protocol.md §1.1).

use compact_str::{format_compact, CompactString};

use crate::codes::code;
use crate::crc::crc16;
use crate::crypto::{self, Key};
use crate::error::{Error, Result};
use crate::frame::{ContactId, Data, Frame, Id, Quirks, SiaData, Xdata};
use crate::parse::parse_sia;
use crate::timestamp::Timestamp;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn put_hex4(out: &mut [u8], v: u16) {
    for (i, slot) in out.iter_mut().take(4).enumerate() {
        *slot = HEX[usize::from((v >> (12 - 4 * i)) & 0xF)];
    }
}

/// Write LF, CRC, length, the span produced by `body`, CR.
fn framed(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>) -> Result<()>) -> Result<()> {
    let start = out.len();
    out.extend_from_slice(b"\n00000000");
    let span_start = out.len();
    if let Err(e) = body(out) {
        out.truncate(start);
        return Err(e);
    }
    let span_len = out.len() - span_start;
    let Ok(len) = u16::try_from(span_len) else {
        out.truncate(start);
        return Err(Error::Build(format!(
            "span of {span_len} bytes is too long"
        )));
    };
    let crc = crc16(&out[span_start..]);
    put_hex4(&mut out[start + 1..start + 5], crc);
    put_hex4(&mut out[start + 5..start + 9], len);
    out.push(b'\r');
    Ok(())
}

/// The header fields a reply echoes.
fn header(out: &mut Vec<u8>, id: &str, encrypted: bool, f: &Frame) {
    out.push(b'"');
    if encrypted {
        out.push(b'*');
    }
    out.extend_from_slice(id.as_bytes());
    out.push(b'"');
    out.extend_from_slice(f.seq.as_bytes());
    if let Some(r) = &f.receiver {
        out.push(b'R');
        out.extend_from_slice(r.as_bytes());
    }
    if let Some(l) = &f.line {
        out.push(b'L');
        out.extend_from_slice(l.as_bytes());
    }
    if let Some(a) = &f.account {
        out.push(if f.account_is_nak_form { b'A' } else { b'#' });
        // The NAK form keeps its leading `A` in the account text.
        let a = if f.account_is_nak_form {
            a.strip_prefix('A').unwrap_or(a)
        } else {
            a
        };
        out.extend_from_slice(a.as_bytes());
    }
}

/// Data block content without brackets (`#acct|QEEE GG ZZZ`, `#acct|Nri1/CL501`, …).
fn data_content(out: &mut Vec<u8>, data: &Data) -> Result<()> {
    let (acct, rest): (Option<&str>, &str) = match data {
        Data::Empty => (None, ""),
        Data::ContactId(c) => (c.account.as_deref(), &c.raw),
        Data::Sia(s) => (s.account.as_deref(), &s.body),
        Data::Other(s) => (None, s),
        Data::Encrypted(_) => return Err(Error::Build("data block is still encrypted".into())),
    };
    if let Some(a) = acct {
        out.push(b'#');
        out.extend_from_slice(a.as_bytes());
        out.push(b'|');
    }
    out.extend_from_slice(rest.as_bytes());
    Ok(())
}

fn xdata(out: &mut Vec<u8>, x: &Xdata) -> Result<()> {
    out.push(b'[');
    match x {
        Xdata::HbBinary(p) => {
            let len = u16::try_from(p.len())
                .map_err(|_| Error::Build(format!("xdata of {} bytes", p.len())))?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(p);
        }
        Xdata::HbHex4(p) => {
            let len = u16::try_from(p.len())
                .map_err(|_| Error::Build(format!("xdata of {} bytes", p.len())))?;
            let mut l = [0u8; 4];
            put_hex4(&mut l, len);
            out.extend_from_slice(&l);
            out.extend_from_slice(p);
        }
        Xdata::Dc09 { id, value } => {
            out.push(*id);
            out.extend_from_slice(value.as_bytes());
        }
    }
    out.push(b']');
    Ok(())
}

/// Encode `frame` unencrypted (the `encrypted` flag is ignored), as it would be sent.
pub fn encode(frame: &Frame, out: &mut Vec<u8>) -> Result<()> {
    framed(out, |out| {
        header(out, frame.id.as_str(), false, frame);
        out.push(b'[');
        data_content(out, &frame.data)?;
        out.push(b']');
        for x in &frame.xdata {
            xdata(out, x)?;
        }
        if let Some(ts) = &frame.timestamp {
            ts.write(out);
        }
        Ok(())
    })
}

/// Encode `frame` encrypted with `key` (DC-09 §5.4.6): the header stays clear, the data
/// block, xdata and timestamp are encrypted after `1..16` pad bytes from `pad`. Encrypted
/// frames must carry a timestamp.
pub fn encode_encrypted(frame: &Frame, key: &Key, pad: &[u8; 16], out: &mut Vec<u8>) -> Result<()> {
    let ts = frame
        .timestamp
        .ok_or_else(|| Error::Build("an encrypted frame needs a timestamp".into()))?;
    let mut plain = Vec::with_capacity(64);
    if !matches!(frame.data, Data::Empty) {
        plain.push(b'|');
        data_content(&mut plain, &frame.data)?;
    }
    plain.push(b']');
    for x in &frame.xdata {
        xdata(&mut plain, x)?;
    }
    ts.write(&mut plain);
    framed(out, |out| {
        header(out, frame.id.as_str(), true, frame);
        out.push(b'[');
        crypto::encrypt_hex_into(key, &plain, pad, out);
        Ok(())
    })
}

/// How an ACK is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckStyle {
    /// Hengbo hosts: echo the header and add a timestamp (their parser requires one).
    Hb,
    /// DC-09: echo seq, R (only if present), L and #acct exactly; no timestamp.
    Dc09,
}

/// ACK to `frame`. `now` is the receiver's clock in the zone the panel expects (used by the
/// HB style only).
pub fn ack(frame: &Frame, style: AckStyle, now: Timestamp, out: &mut Vec<u8>) -> Result<()> {
    framed(out, |out| {
        header(out, "ACK", false, frame);
        out.extend_from_slice(b"[]");
        if style == AckStyle::Hb {
            now.write(out);
        }
        Ok(())
    })
}

/// Encrypted ACK (`"*ACK"`) to an encrypted `frame`: pad, `]`, receiver GMT time.
pub fn ack_encrypted(
    frame: &Frame,
    key: &Key,
    now_gmt: Timestamp,
    pad: &[u8; 16],
    out: &mut Vec<u8>,
) -> Result<()> {
    let mut plain = [0u8; 21];
    plain[0] = b']';
    let mut ts = Vec::with_capacity(20);
    now_gmt.write(&mut ts);
    plain[1..].copy_from_slice(&ts);
    framed(out, |out| {
        header(out, "ACK", true, frame);
        out.push(b'[');
        crypto::encrypt_hex_into(key, &plain, pad, out);
        Ok(())
    })
}

/// NAK in the DC-09 spec form: `"NAK"0000R0L0A0[]` + receiver GMT time.
pub fn nak(now_gmt: Timestamp, out: &mut Vec<u8>) -> Result<()> {
    framed(out, |out| {
        out.extend_from_slice(b"\"NAK\"0000R0L0A0[]");
        now_gmt.write(out);
        Ok(())
    })
}

/// DUH to `frame`: echoed header, `[]`, no timestamp, never encrypted.
pub fn duh(frame: &Frame, out: &mut Vec<u8>) -> Result<()> {
    framed(out, |out| {
        header(out, "DUH", false, frame);
        out.extend_from_slice(b"[]");
        Ok(())
    })
}

/// How many digits a Hengbo host user password has: 6 to 8 (`ademco.h`; protocol.md §1.2).
/// The one rule for the configuration, the control path, the simulator and the builder.
pub const HB_PASSWORD_DIGITS: std::ops::RangeInclusive<usize> = 6..=8;

/// Whether `password` is one a Hengbo host accepts: [`HB_PASSWORD_DIGITS`] ASCII digits.
/// The error never contains the password.
pub fn check_hb_password(password: &str) -> std::result::Result<(), &'static str> {
    if HB_PASSWORD_DIGITS.contains(&password.len()) && password.bytes().all(|b| b.is_ascii_digit())
    {
        Ok(())
    } else {
        Err("a Hengbo host password is 6 to 8 digits")
    }
}

/// A command the receiver sends to a Hengbo host (protocol.md §2.7).
#[derive(Clone, PartialEq, Eq)]
pub enum Command {
    /// Arm away (3400).
    ArmAway,
    /// Arm stay / half arm (3456).
    ArmStay,
    /// Disarm (1400) with the host password (6..8 digits), sent in binary-length xdata.
    Disarm {
        /// The host's user password.
        password: String,
    },
    /// Emergency (1120).
    Emergency,
    /// Ask the host for its type (1798).
    QueryType,
    /// Enter setting mode (2704).
    EnterSetMode,
    /// Exit setting mode (3704).
    ExitSetMode,
    /// Serial pass-through (1704) with raw command bytes.
    Passthrough(Vec<u8>),
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Disarm { .. } => f.write_str("Disarm { password: **** }"),
            Command::ArmAway => f.write_str("ArmAway"),
            Command::ArmStay => f.write_str("ArmStay"),
            Command::Emergency => f.write_str("Emergency"),
            Command::QueryType => f.write_str("QueryType"),
            Command::EnterSetMode => f.write_str("EnterSetMode"),
            Command::ExitSetMode => f.write_str("ExitSetMode"),
            Command::Passthrough(b) => write!(f, "Passthrough({} bytes)", b.len()),
        }
    }
}

impl Command {
    /// The 4-digit event code this command is sent as.
    pub fn event_code(&self) -> u16 {
        match self {
            Command::ArmAway => code::ARM_AWAY,
            Command::ArmStay => code::ARM_STAY,
            Command::Disarm { .. } => code::DISARM,
            Command::Emergency => code::EMERGENCY,
            Command::QueryType => code::WHAT_IS_YOUR_TYPE,
            Command::EnterSetMode => code::ENTER_SET_MODE,
            Command::ExitSetMode => code::EXIT_SET_MODE,
            Command::Passthrough(_) => code::COM_PASSTHROUGH,
        }
    }

    /// Parse a command name as [`Command::name`] writes it (`arm` also means `arm_away`).
    /// `disarm` comes back with an empty password for the caller to fill in; `passthrough`,
    /// which needs its bytes, has no name form.
    pub fn from_name(name: &str) -> Option<Command> {
        Some(match name {
            "arm_away" | "arm" => Command::ArmAway,
            "arm_stay" => Command::ArmStay,
            "disarm" => Command::Disarm {
                password: String::new(),
            },
            "emergency" => Command::Emergency,
            "query_type" => Command::QueryType,
            "enter_set_mode" => Command::EnterSetMode,
            "exit_set_mode" => Command::ExitSetMode,
            _ => return None,
        })
    }

    /// A short name for logs and the audit trail (`arm_away`, `disarm`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Command::ArmAway => "arm_away",
            Command::ArmStay => "arm_stay",
            Command::Disarm { .. } => "disarm",
            Command::Emergency => "emergency",
            Command::QueryType => "query_type",
            Command::EnterSetMode => "enter_set_mode",
            Command::ExitSetMode => "exit_set_mode",
            Command::Passthrough(_) => "passthrough",
        }
    }
}

/// Four-digit decimal sequence text (`1` → `0001`); values wrap into 1..=9999.
pub fn seq4(n: u16) -> CompactString {
    let n = if n == 0 { 0 } else { (n - 1) % 9999 + 1 };
    format_compact!("{n:04}")
}

/// A Contact ID block from numbers (`qualifier` 1/3/6, 3-digit `code`, `group`, `zone`).
pub fn contact_id(account: Option<&str>, event_code: u16, group: u8, zone: u16) -> ContactId {
    let event_code = event_code % 10_000;
    let zone = zone % 1000;
    let group = group % 100;
    ContactId {
        account: account.map(CompactString::from),
        qualifier: (event_code / 1000) as u8,
        code: event_code % 1000,
        group,
        zone,
        raw: format_compact!("{event_code:04} {group:02} {zone:03}"),
    }
}

/// The HB data-block account: the Ademco ID as 6 hex digits, or the header account when
/// the ID is unknown (protocol.md §2.7).
pub fn hb_data_account(account: &str, ademco_id: Option<u32>) -> CompactString {
    match ademco_id {
        Some(id) if id > 0 => format_compact!("{id:06X}"),
        _ => CompactString::from(account),
    }
}

/// A `HENG-BO` command frame to a Hengbo host. `section` is the gg field: 0 whole host,
/// 1..=3 a section of a three-section host. `now_local` is the host's local time.
pub fn hb_command(
    account: &str,
    ademco_id: Option<u32>,
    seq: u16,
    section: u8,
    cmd: &Command,
    now_local: Timestamp,
    out: &mut Vec<u8>,
) -> Result<()> {
    if section > 3 {
        return Err(Error::Build(format!("section {section} (need 0..=3)")));
    }
    if account.is_empty() {
        return Err(Error::Build("empty account".into()));
    }
    let mut xdata = Vec::new();
    match cmd {
        Command::Disarm { password } => {
            check_hb_password(password).map_err(|e| Error::Build(e.into()))?;
            xdata.push(Xdata::HbBinary(password.as_bytes().to_vec()));
        }
        Command::Passthrough(bytes) => xdata.push(Xdata::HbBinary(bytes.clone())),
        _ => {}
    }
    let data_acct = hb_data_account(account, ademco_id);
    let frame = Frame {
        id: Id::HengBo,
        encrypted: false,
        seq: seq4(seq),
        receiver: Some("123ABC".into()),
        line: Some("456DEF".into()),
        account: Some(account.into()),
        account_is_nak_form: false,
        data: Data::ContactId(contact_id(Some(&data_acct), cmd.event_code(), section, 0)),
        xdata,
        timestamp: Some(now_local),
        quirks: Quirks::default(),
    };
    encode(&frame, out)
}

/// A panel-side frame with the usual header (`R`/`L` optional) for the simulator and tests.
pub fn panel_frame(
    id: Id,
    seq: u16,
    receiver: Option<&str>,
    line: Option<&str>,
    account: &str,
    data: Data,
    timestamp: Option<Timestamp>,
) -> Frame {
    Frame {
        id,
        encrypted: false,
        seq: seq4(seq),
        receiver: receiver.map(CompactString::from),
        line: line.map(CompactString::from),
        account: Some(account.into()),
        account_is_nak_form: false,
        data,
        xdata: Vec::new(),
        timestamp,
        quirks: Quirks::default(),
    }
}

/// SIA data block from text such as `Nri1/BA501`.
pub fn sia_data(account: Option<&str>, body: &str) -> SiaData {
    let mut content = Vec::with_capacity(body.len() + 20);
    if let Some(a) = account {
        content.push(b'#');
        content.extend_from_slice(a.as_bytes());
        content.push(b'|');
    }
    content.extend_from_slice(body.as_bytes());
    parse_sia(&content)
}
