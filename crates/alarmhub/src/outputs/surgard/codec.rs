//! The bytes of the Sur-Gard automation ("SG") output: what a Sur-Gard receiver writes to
//! the central-station software on its automation port, and the one-byte answers it reads.
//! Pure: events in, byte strings out.
//!
//! Formats (Sur-Gard MLR2/MLR2-DG installation manuals, "Communication protocol with
//! central station computer", and DSC's "SG Automation Output Protocol"; see
//! `docs/outputs.md`):
//!
//! * heartbeat: `1011` + 11 spaces + `@` + 4 spaces + DC4 — fixed text, as in the MLR2;
//! * Contact ID: `5RRLs18AAAAQXYZGGCCC` + DC4 — protocol `5`, receiver `RR`, line `L`, a
//!   space, `18`, four account digits, qualifier `E` (new event / opening), `R` (restore /
//!   closing) or `P` (previous), the 3-digit event code, 2-digit group, 3-digit zone or user;
//! * SIA ("SIA protocol 2"): `SRRL[#AAAAAA|N…]` + DC4 — the SIA data block between brackets.
//!
//! The central station answers every message with ACK (0x06) or NAK (0x15).

use bytes::{BufMut, Bytes, BytesMut};
use panel_proto::codes;

use super::signal::{signal, Signal};
use crate::events::StoredEvent;

/// Message terminator (DC4).
pub const DC4: u8 = 0x14;
/// The central station accepted the message.
pub const ACK: u8 = 0x06;
/// The central station wants the message again.
pub const NAK: u8 = 0x15;
/// Longest SIA data block the receiver forwards (the MLR2 manual's 63 bytes).
pub const SIA_BLOCK_MAX: usize = 63;

/// The supervisory heartbeat, sent when the link has been idle.
pub const HEARTBEAT: &[u8] = b"1011           @    \x14";

/// Receiver number and line, as they appear in every message header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Two characters, `RR` (validated by the configuration: hex digits, not `FF`).
    pub receiver: String,
    /// One character, `L` (validated: hex digit `0`..`E`).
    pub line: String,
}

/// How an event's account appears to the central station.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmsAccount {
    /// Fits the 4-digit Contact ID field (already padded to 4 characters).
    ContactId(String),
    /// Fits only the SIA form's 6-character field.
    SiaOnly(String),
}

/// Why an event is not sent to the central station (it is skipped, counted and logged; the
/// cursor moves past it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Skip {
    /// Not a signal a central station handles (control audit rows, heartbeats …).
    #[error("not a panel signal")]
    NotASignal,
    /// The account fits no field and has no `cms_account`.
    #[error("account {0:?} does not fit the Sur-Gard account field; set cms_account for it")]
    Account(String),
    /// The event's fields do not fit the format.
    #[error("{0}")]
    Field(String),
}

/// The account in the form the central station gets: `cms_account` when configured,
/// else the account itself when it fits (0-9 and B-F, up to 4 characters → Contact ID,
/// zero-padded; 0-9 and A-F up to 6 → SIA only).
pub fn map_account(account: &str, cms_account: Option<&str>) -> Result<CmsAccount, Skip> {
    let text = cms_account.unwrap_or(account).to_ascii_uppercase();
    let cid_digit = |b: u8| b.is_ascii_digit() || (b'B'..=b'F').contains(&b);
    if (1..=4).contains(&text.len()) && text.bytes().all(cid_digit) {
        return Ok(CmsAccount::ContactId(format!("{text:0>4}")));
    }
    if (1..=6).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(CmsAccount::SiaOnly(text));
    }
    Err(Skip::Account(account.to_string()))
}

/// The message for one stored event, in the form its origin calls for
/// ([`super::signal`]: SIA events in the SIA form, Contact ID events in the Contact ID
/// form, Hengbo codes translated to the standard ones).
pub fn encode_event(
    header: &Header,
    event: &StoredEvent,
    cms_account: Option<&str>,
) -> Result<Bytes, Skip> {
    let e = &event.event;
    let signal = signal(e)?;
    let account = map_account(&e.account, cms_account)?;
    match (signal, &account) {
        (Signal::Sia(sia), _) => {
            let body = sia_body(event, &sia)?;
            Ok(sia_message(header, account_text(&account), &body))
        }
        (Signal::ContactId { code, .. }, CmsAccount::ContactId(acct)) => {
            contact_id(header, acct, code, e.group, e.zone)
        }
        (Signal::ContactId { code, sia }, CmsAccount::SiaOnly(acct)) => {
            // The account needs the SIA form: send the Contact ID code's SIA equivalent.
            let sia = sia.ok_or_else(|| {
                Skip::Field(format!(
                    "account {acct} needs the SIA form and code {code} has no SIA equivalent"
                ))
            })?;
            Ok(sia_message(
                header,
                acct,
                &built_sia_body(sia, e.group, e.zone),
            ))
        }
    }
}

fn account_text(a: &CmsAccount) -> &str {
    match a {
        CmsAccount::ContactId(s) | CmsAccount::SiaOnly(s) => s,
    }
}

/// `5RRLs18AAAAQXYZGGCCC` + DC4.
pub fn contact_id(
    header: &Header,
    account: &str,
    code: u16,
    group: u16,
    zone: u16,
) -> Result<Bytes, Skip> {
    let (qualifier, xyz) = codes::split_code(code);
    let q = match qualifier {
        1 => 'E',
        3 => 'R',
        6 => 'P',
        other => {
            return Err(Skip::Field(format!(
                "code {code}: qualifier {other} has no Contact ID letter"
            )))
        }
    };
    if group > 99 || zone > 999 {
        return Err(Skip::Field(format!(
            "group {group} / zone {zone} do not fit GG (00-99) / CCC (000-999)"
        )));
    }
    let text = format!(
        "5{}{} 18{account}{q}{xyz:03}{group:02}{zone:03}",
        header.receiver, header.line
    );
    Ok(terminated(text.as_bytes()))
}

/// `SRRL[#account|body]` + DC4.
pub fn sia_message(header: &Header, account: &str, body: &str) -> Bytes {
    let text = format!("S{}{}[#{account}|{body}]", header.receiver, header.line);
    terminated(text.as_bytes())
}

/// The SIA data block: the panel's own block when it came as SIA and is safe to forward,
/// else one built from the code, area and zone.
pub(crate) fn sia_body(event: &StoredEvent, sia: &str) -> Result<String, Skip> {
    if sia.len() != 2 || !sia.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(Skip::Field(format!("SIA code {sia:?} is not two letters")));
    }
    let detail = event.event.detail.to_value();
    let raw = detail.get("sia_body").and_then(|v| v.as_str());
    Ok(match raw {
        Some(b) if forwardable(b) => b.to_string(),
        _ => built_sia_body(sia, event.event.group, event.event.zone),
    })
}

/// Printable ASCII without the block delimiters, short enough for the receiver's buffer.
fn forwardable(body: &str) -> bool {
    !body.is_empty()
        && body.len() <= SIA_BLOCK_MAX
        && body
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && !matches!(b, b'[' | b']' | b'|'))
}

/// `N` + `ri<area>` when there is an area + code + zone (at least two digits), as in the
/// MLR2 manual's `Nri1BA01`.
fn built_sia_body(sia: &str, group: u16, zone: u16) -> String {
    let sia = sia.to_ascii_uppercase();
    if group > 0 {
        format!("Nri{group}{sia}{zone:02}")
    } else {
        format!("N{sia}{zone:02}")
    }
}

fn terminated(text: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(text.len() + 1);
    b.put_slice(text);
    b.put_u8(DC4);
    b.freeze()
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
