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
use serde_json::json;

use crate::events::{fnv1a, Detail, DetailWriter, Facts, Fnv1a, NewEvent, Source};

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
    let (event_code, group, zone, sia) = match &frame.data {
        Data::ContactId(c) => {
            facts.ademco_id = c.ademco_id();
            (c.event_code(), u16::from(c.group), c.zone, None)
        }
        Data::Sia(s) => {
            let number = |f: &Option<_>| f.as_deref().and_then(|a: &str| a.parse().ok());
            let (g, z) = (number(&s.area).unwrap_or(0), number(&s.number).unwrap_or(0));
            (0, g, z, s.code.as_ref().map(|c| c.to_string()))
        }
        Data::Other(_) | Data::Empty | Data::Encrypted(_) => (0, 0, 0, None),
    };
    if event_code == code::SIGNAL_STRENGTH {
        facts.signal_strength = signal(frame);
    }
    let detail = frame_detail(frame, &facts, event_code);
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
        detail,
        dedup_key: Some(dedup),
    }
}

/// The display detail of a panel frame: the typed facts again for people (dialect, Ademco
/// ID, signal strength, unknown account), and what only a person needs (data account, SIA
/// body and text, raw data, xdata). Written member by member in key order, as a sorted JSON
/// map of the same members would be (the test module keeps that map-built version and
/// checks the two agree).
fn frame_detail(frame: &Frame, facts: &Facts, event_code: u16) -> Detail {
    let mut d = DetailWriter::new();
    let (cid, sia) = match &frame.data {
        Data::ContactId(c) => (Some(c), None),
        Data::Sia(s) => (None, Some(s)),
        _ => (None, None),
    };
    if let Some(id) = facts.ademco_id {
        d.uint("ademco_id", u64::from(id));
    }
    if let Some(a) = cid.and_then(|c| c.account.as_ref()) {
        d.str("data_account", a.as_str());
    }
    if let Data::Other(s) = &frame.data {
        d.str("data_raw", s.as_str());
    }
    if let Some(dialect) = facts.dialect {
        d.str("dialect", dialect.as_str());
    }
    if frame.encrypted {
        d.bool("encrypted", true);
    }
    if let Some(s) = sia {
        d.str("sia_body", s.body.as_str());
    }
    if let Some(s) = facts.signal_strength {
        d.uint("signal_strength", u64::from(s));
    }
    if let Some(t) = sia.and_then(|s| s.text.as_ref()) {
        d.str("text", t.as_str());
    }
    if facts.unknown_account {
        d.bool("unknown_account", true);
    }
    // Never keep a password a host might echo: not under the arm/disarm codes, and not a
    // password-shaped block under any other code.
    let secret = matches!(event_code, code::DISARM | code::ARM_AWAY);
    if !frame.xdata.is_empty() && !secret {
        d.array("xdata", |a| {
            for x in &frame.xdata {
                match x {
                    Xdata::HbBinary(p) | Xdata::HbHex4(p) if password_shaped(p) => a.object(&[(
                        "redacted",
                        "password-shaped block (6 to 8 digits) not stored",
                    )]),
                    Xdata::HbBinary(p) | Xdata::HbHex4(p) => a.object(&[("hex", &hex(p))]),
                    Xdata::Dc09 { id, value } => {
                        let mut buf = [0u8; 4];
                        let id = char::from(*id).encode_utf8(&mut buf);
                        a.object(&[("id", id), ("value", value.as_str())]);
                    }
                }
            }
        });
    }
    d.finish()
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

    /// The detail as it was built before [`frame_detail`]: a sorted `serde_json` map of the
    /// same members, serialised. The reference the member-by-member writer must match.
    fn detail_by_map(frame: &Frame, facts: &Facts, event_code: u16) -> String {
        use serde_json::{Map, Value};
        let mut d = Map::new();
        d.insert("dialect".into(), json!(facts.dialect.map(|x| x.as_str())));
        if frame.encrypted {
            d.insert("encrypted".into(), json!(true));
        }
        if facts.unknown_account {
            d.insert("unknown_account".into(), json!(true));
        }
        match &frame.data {
            Data::ContactId(c) => {
                if let Some(id) = facts.ademco_id {
                    d.insert("ademco_id".into(), json!(id));
                }
                if let Some(a) = &c.account {
                    d.insert("data_account".into(), json!(a.as_str()));
                }
            }
            Data::Sia(s) => {
                d.insert("sia_body".into(), json!(s.body.as_str()));
                if let Some(t) = &s.text {
                    d.insert("text".into(), json!(t.as_str()));
                }
            }
            Data::Other(s) => {
                d.insert("data_raw".into(), json!(s.as_str()));
            }
            Data::Empty | Data::Encrypted(_) => {}
        }
        let secret = matches!(event_code, code::DISARM | code::ARM_AWAY);
        if !frame.xdata.is_empty() && !secret {
            let xs: Vec<Value> = frame
                .xdata
                .iter()
                .map(|x| match x {
                    Xdata::HbBinary(p) | Xdata::HbHex4(p) if password_shaped(p) => {
                        json!({ "redacted": "password-shaped block (6 to 8 digits) not stored" })
                    }
                    Xdata::HbBinary(p) | Xdata::HbHex4(p) => json!({ "hex": hex(p) }),
                    Xdata::Dc09 { id, value } => {
                        json!({ "id": char::from(*id).to_string(), "value": value.as_str() })
                    }
                })
                .collect();
            d.insert("xdata".into(), Value::Array(xs));
        }
        if let Some(s) = facts.signal_strength {
            d.insert("signal_strength".into(), json!(s));
        }
        serde_json::to_string(&Value::Object(d)).unwrap_or_default()
    }

    #[test]
    fn the_detail_written_member_by_member_is_the_text_of_the_sorted_map() {
        let texts = [
            "",
            "plain",
            "quote \" and backslash \\",
            "line\nbreak\ttab\r\u{8}\u{c}\u{1}\u{1f}",
            "Küche 厨房 ✓",
        ];
        let mut cases: Vec<(Frame, bool)> = Vec::new();
        for (i, code) in [1130u16, 1799, 1400, 3400, 1602, 3130]
            .into_iter()
            .enumerate()
        {
            for account in [None, Some("000123"), Some("ABCDEF")] {
                let mut f = frame(Id::HengBo, code, "0");
                f.data = Data::ContactId(contact_id(account, code, 1, 7));
                f.encrypted = i % 2 == 0;
                f.xdata = match i % 4 {
                    0 => vec![Xdata::HbBinary(vec![0x21])],
                    1 => vec![
                        Xdata::HbHex4(b"15".to_vec()),
                        Xdata::HbBinary(b"123456".to_vec()),
                    ],
                    2 => vec![],
                    _ => vec![
                        Xdata::HbBinary(vec![0, 0xff, 0x7f]),
                        Xdata::HbHex4(b"12345678".to_vec()),
                    ],
                };
                cases.push((f, i % 3 == 0));
            }
        }
        for t in texts {
            let mut f = frame(Id::SiaDcs, 0, "0");
            f.data = Data::Sia(panel_proto::build::sia_data(
                Some("1234"),
                &format!("Nri1/BA5^{t}^"),
            ));
            f.xdata = vec![Xdata::Dc09 {
                id: b'R',
                value: t.into(),
            }];
            cases.push((f.clone(), false));
            f.data = Data::Other(t.into());
            cases.push((f.clone(), true));
            f.data = Data::Sia(panel_proto::build::sia_data(None, t));
            f.xdata = vec![];
            cases.push((f, false));
        }
        let mut empty = frame(Id::Null, 0, "0");
        empty.data = Data::Empty;
        cases.push((empty, false));
        for (f, unknown) in &cases {
            for dialect in [Dialect::Hb, Dialect::Dc09] {
                let e = event_from_frame(f, "861234567890", "1.2.3.4:5", dialect, 0, *unknown);
                let want = detail_by_map(f, &e.facts, e.code);
                assert_eq!(e.detail.as_str(), want, "{f:?}");
                // And it is JSON that reads back as the same value.
                assert_eq!(
                    e.detail.to_value(),
                    serde_json::from_str::<serde_json::Value>(&want).unwrap_or_default()
                );
            }
        }
        assert!(cases.len() > 30);
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
