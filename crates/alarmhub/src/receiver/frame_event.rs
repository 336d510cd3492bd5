//! Turn a decoded panel frame into the event record the store keeps (code, zone, group,
//! panel time, typed facts, display detail, dedup key), and build the receiver's own
//! ONLINE/OFFLINE events.
//!
//! The typed [`Facts`] (dialect, Ademco ID, signal strength, unknown-account flag) are what
//! the registry reads; the detail repeats them for people reading an event and adds what
//! only a person needs (xdata, data account, SIA text).

use panel_proto::codes::{self, code};
use panel_proto::rules::Dialect;
use panel_proto::{Data, Frame, Xdata};
use serde_json::{json, Map, Value};

use crate::events::{fnv1a, Facts, Fnv1a, NewEvent, Source};

/// The event a panel frame reports. `tz_offset_secs` converts the panel's timestamp to UTC
/// when the account sends local time.
pub fn event_from_frame(
    frame: &Frame,
    account: &str,
    peer: &str,
    dialect: Dialect,
    tz_offset_secs: i32,
    unknown_account: bool,
) -> NewEvent {
    let mut facts = Facts {
        dialect: Some(dialect),
        unknown_account,
        ..Facts::default()
    };
    let mut detail = Map::new();
    detail.insert("dialect".into(), json!(dialect.as_str()));
    if frame.encrypted {
        detail.insert("encrypted".into(), json!(true));
    }
    if unknown_account {
        detail.insert("unknown_account".into(), json!(true));
    }
    let (event_code, group, zone, sia) = data_fields(&frame.data, &mut facts, &mut detail);
    // Never keep a password a host might echo: not under the arm/disarm codes, and not a
    // password-shaped block under any other code.
    let secret = matches!(event_code, code::DISARM | code::ARM_AWAY);
    if !frame.xdata.is_empty() && !secret {
        let xs: Vec<Value> = frame.xdata.iter().map(xdata_detail).collect();
        detail.insert("xdata".into(), Value::Array(xs));
    }
    if event_code == code::SIGNAL_STRENGTH {
        facts.signal_strength = signal(frame);
        if let Some(s) = facts.signal_strength {
            detail.insert("signal_strength".into(), json!(s));
        }
    }
    let dedup = dedup_key(frame, account);
    NewEvent {
        account: account.to_string(),
        source: Source::Panel,
        code: event_code,
        sia_code: sia,
        group,
        zone,
        received_at_ms: crate::clock::now_ms(),
        panel_time: frame
            .timestamp
            .and_then(|t| t.to_unix())
            .map(|t| t - i64::from(tz_offset_secs)),
        protocol: frame.id.as_str().to_string(),
        frame_seq: frame.seq.to_string(),
        peer: peer.to_string(),
        facts,
        detail: detail.into(),
        dedup_key: Some(dedup),
    }
}

/// Code, group, zone and SIA code of the frame's data block; its Ademco ID goes into the
/// facts, what a person needs (data account, SIA body and text, raw data) into the detail.
fn data_fields(
    data: &Data,
    facts: &mut Facts,
    detail: &mut Map<String, Value>,
) -> (u16, u16, u16, Option<String>) {
    match data {
        Data::ContactId(c) => {
            facts.ademco_id = c.ademco_id();
            if let Some(id) = facts.ademco_id {
                detail.insert("ademco_id".into(), json!(id));
            }
            if let Some(a) = &c.account {
                detail.insert("data_account".into(), json!(a.as_str()));
            }
            (c.event_code(), u16::from(c.group), c.zone, None)
        }
        Data::Sia(s) => {
            detail.insert("sia_body".into(), json!(s.body.as_str()));
            if let Some(t) = &s.text {
                detail.insert("text".into(), json!(t.as_str()));
            }
            let number = |f: &Option<_>| f.as_deref().and_then(|a: &str| a.parse().ok());
            let (g, z) = (number(&s.area).unwrap_or(0), number(&s.number).unwrap_or(0));
            (0, g, z, s.code.as_ref().map(|c| c.to_string()))
        }
        Data::Other(s) => {
            detail.insert("data_raw".into(), json!(s.as_str()));
            (0, 0, 0, None)
        }
        Data::Empty | Data::Encrypted(_) => (0, 0, 0, None),
    }
}

fn xdata_detail(x: &Xdata) -> Value {
    match x {
        Xdata::HbBinary(p) | Xdata::HbHex4(p) if password_shaped(p) => {
            json!({ "redacted": "password-shaped block (6 to 8 digits) not stored" })
        }
        Xdata::HbBinary(p) | Xdata::HbHex4(p) => json!({ "hex": hex(p) }),
        Xdata::Dc09 { id, value } => {
            json!({ "id": char::from(*id).to_string(), "value": value.as_str() })
        }
    }
}

/// A Hengbo host password is 6 to 8 ASCII digits (protocol.md §4.2); a block of exactly
/// that shape is never stored, whatever code carries it.
fn password_shaped(p: &[u8]) -> bool {
    panel_proto::build::HB_PASSWORD_DIGITS.contains(&p.len()) && p.iter().all(u8::is_ascii_digit)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// Signal strength from a 1799 frame: one BCD byte, raw or as two ASCII hex characters.
pub fn signal(frame: &Frame) -> Option<u8> {
    let x = frame.xdata.first()?;
    let byte = match x {
        Xdata::HbBinary(p) if p.len() == 1 => p[0],
        Xdata::HbHex4(p) if p.len() == 2 => {
            u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok()?
        }
        _ => return None,
    };
    Some(codes::signal_strength(byte))
}

/// Same account + seq + payload (ID, data, xdata; not the timestamp, which a panel may
/// renew on retry) ⇒ same key. (Encrypted frames use [`encrypted_dedup_key`] instead.)
pub fn dedup_key(frame: &Frame, account: &str) -> u64 {
    let data: &str = match &frame.data {
        Data::ContactId(c) => &c.raw,
        Data::Sia(s) => &s.body,
        Data::Other(s) => s,
        Data::Empty | Data::Encrypted(_) => "",
    };
    let mut h = Fnv1a::new();
    h.part(account.as_bytes());
    h.part(frame.seq.as_bytes());
    h.part(frame.id.as_str().as_bytes());
    h.part(data.as_bytes());
    for x in &frame.xdata {
        h.part(x.payload());
    }
    h.finish()
}

/// The dedup key of an encrypted frame: its account and a digest of its ciphertext (random
/// pad, data, timestamp), *not* the clear-text seq anyone can change. A captured frame
/// replayed with another seq inside the timestamp window (the link NAKs it outside) is a
/// duplicate; a new event with the same content has a new pad and is not.
pub fn encrypted_dedup_key(account: &str, ciphertext_digest: u64) -> u64 {
    fnv1a(&[
        account.as_bytes(),
        b"encrypted",
        &ciphertext_digest.to_be_bytes(),
    ])
}

/// ONLINE / OFFLINE generated by the receiver for a panel speaking `dialect`.
pub fn receiver_event(
    account: &str,
    code: u16,
    peer: &str,
    reason: &str,
    dialect: Dialect,
) -> NewEvent {
    NewEvent {
        account: account.to_string(),
        source: Source::Receiver,
        code,
        sia_code: None,
        group: 0,
        zone: 0,
        received_at_ms: crate::clock::now_ms(),
        panel_time: None,
        protocol: String::new(),
        frame_seq: String::new(),
        peer: peer.to_string(),
        facts: Facts {
            dialect: Some(dialect),
            ..Facts::default()
        },
        detail: json!({ "reason": reason, "dialect": dialect.as_str() }).into(),
        dedup_key: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use panel_proto::build::{contact_id, panel_frame};
    use panel_proto::Id;

    fn frame(id: Id, code: u16, data_account: &str) -> Frame {
        panel_frame(
            id,
            1,
            Some("123ABC"),
            Some("456DEF"),
            "861234567890",
            Data::ContactId(contact_id(Some(data_account), code, 0, 4)),
            None,
        )
    }

    #[test]
    fn an_hb_signal_report_carries_its_facts_typed_and_shows_them_in_the_detail() {
        let mut f = frame(Id::HengBo, 1799, "000123");
        f.xdata = vec![Xdata::HbBinary(vec![0x21])];
        let e = event_from_frame(&f, "861234567890", "1.2.3.4:5", Dialect::Hb, 0, true);
        assert_eq!(
            e.facts,
            Facts {
                dialect: Some(Dialect::Hb),
                ademco_id: Some(0x123),
                signal_strength: Some(21),
                unknown_account: true,
                control: None,
            }
        );
        let d = e.detail.to_value();
        assert_eq!(
            (d["signal_strength"].as_u64(), d["dialect"].as_str()),
            (Some(21), Some("hb"))
        );
    }

    #[test]
    fn a_dc09_report_has_its_dialect_and_no_signal_strength() {
        let f = frame(Id::AdmCid, 1134, "1234");
        let e = event_from_frame(&f, "861234567890", "1.2.3.4:5", Dialect::Dc09, 0, false);
        assert_eq!(e.facts.dialect, Some(Dialect::Dc09));
        assert_eq!(
            (e.facts.signal_strength, e.facts.unknown_account),
            (None, false)
        );
        assert_eq!(
            e.class(),
            Some(codes::Class::Alarm),
            "1134 on DC-09 is a burglary"
        );
    }

    #[test]
    fn receiver_events_carry_the_panels_dialect() {
        let e = receiver_event("A", code::OFFLINE, "p", "closed", Dialect::Dc09);
        assert_eq!(
            (e.source, e.facts.dialect),
            (Source::Receiver, Some(Dialect::Dc09))
        );
        assert_eq!(e.detail.to_value()["reason"], "closed");
    }
}
