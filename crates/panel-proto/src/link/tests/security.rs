//! Per-account admission: unknown-account policy, quirk gating, keys and the encrypted
//! frame window.

use super::*;
use crate::build::encode_encrypted;
use crate::crypto::{Key, KeyFormat};
use crate::parse::decrypt;
use crate::timestamp::{Timestamp, Window, WindowError};

#[test]
fn unknown_accounts_follow_the_accept_flag_and_drop_policies() {
    for (admission, want_shape, flagged) in [
        (Admission::Unknown, "ack 0001", Some(false)),
        (Admission::Flagged, "ack 0001", Some(true)),
        (
            Admission::Refused,
            "dropped: unknown account (policy: drop)",
            None,
        ),
    ] {
        let mut acc = Accounts::new();
        acc.unknown = admission;
        let mut l = link();
        let out = feed(&mut l, &bytes(&dc09_event("7777", 1, 1130, 3)), at(0), &acc);
        assert_eq!(shape(&out).last().unwrap(), want_shape, "{admission:?}");
        let stored = out.iter().find_map(|o| match o {
            Output::Store(Record::Event(e)) => Some(e.unknown_account),
            _ => None,
        });
        assert_eq!(stored, flagged, "{admission:?}");
    }
}

#[test]
fn a_configured_account_is_answered_whatever_the_unknown_account_policy() {
    let mut acc = Accounts::new().with("1409", AccountPolicy::default());
    acc.unknown = Admission::Refused;
    let mut l = link();
    let out = feed(&mut l, &bytes(&null("1409", None, Some("0"))), at(0), &acc);
    assert_eq!(shape(&out).last().unwrap(), "ack 0000");
}

#[test]
fn quirks_are_accepted_only_for_accounts_that_allow_them() {
    let m5_missing_l = "<LF>D2860025\"NULL\"0001#1997[]_17:07:08,05-23-2024<CR>";
    let m9_decimal_length = "<LF>57150047\"ADM-CID\"0247R4F39L4F39#4F39[#4F39|3401 01 057]<CR>";
    let missing_l = Quirks {
        missing_l: true,
        ..Quirks::default()
    };
    let decimal_length = Quirks {
        decimal_length: true,
        ..Quirks::default()
    };
    for (frame, account, allowed, answered) in [
        (m5_missing_l, "1997", Quirks::default(), false),
        (m5_missing_l, "1997", missing_l, true),
        (m5_missing_l, "1997", decimal_length, false),
        (m9_decimal_length, "4F39", Quirks::default(), false),
        (m9_decimal_length, "4F39", decimal_length, true),
    ] {
        let policy = AccountPolicy {
            quirks: allowed,
            ..AccountPolicy::default()
        };
        let acc = Accounts::new().with(account, policy);
        let mut l = link();
        let out = feed(&mut l, &text(frame), at(0), &acc);
        let s = shape(&out);
        if answered {
            assert!(s.last().unwrap().starts_with("ack "), "{s:?}");
        } else {
            assert_eq!(s.len(), 1, "{s:?}");
            assert!(s[0].contains("not enabled for this account"), "{s:?}");
        }
    }
}

fn aes_key() -> Key {
    Key::parse("000102030405060708090A0B0C0D0E0F", KeyFormat::Hex).unwrap()
}

fn keyed(window: Window, tz_offset_secs: i32) -> Accounts {
    Accounts::new().with(
        "12345A",
        AccountPolicy {
            key: Some(aes_key()),
            window,
            tz_offset_secs,
            ..AccountPolicy::default()
        },
    )
}

/// An encrypted ADM-CID (protocol.md §4.3 #28's shape) stamped `unix` seconds.
fn encrypted_cid(key: &Key, unix: i64) -> Vec<u8> {
    let f = panel_frame(
        Id::AdmCid,
        11,
        Some("579BDF"),
        Some("789ABC"),
        "12345A",
        Data::ContactId(contact_id(Some("12345A"), 1130, 1, 15)),
        Some(Timestamp::from_unix(unix)),
    );
    let mut out = Vec::new();
    encode_encrypted(&f, key, b"ABCDEFGHIJKLMNOP", &mut out).unwrap();
    out
}

#[test]
fn an_encrypted_frame_in_the_window_gets_an_encrypted_ack_with_the_same_key() {
    let acc = keyed(Window::default(), 0);
    let mut l = link();
    let out = feed(&mut l, &encrypted_cid(&aes_key(), UNIX0), at(0), &acc);
    assert_eq!(
        shape(&out),
        [
            "online 12345A",
            "store ONLINE 12345A",
            "store 1130 0011",
            "*ack 0011"
        ]
    );
    let Output::Store(Record::Event(e)) = &out[2] else {
        panic!()
    };
    assert_eq!(e.frame.contact_id().unwrap().zone, 15, "stored decrypted");
    let mut ack = decoded(&replies(&out)[0].bytes);
    assert!(ack.encrypted);
    assert_eq!(
        (
            ack.seq.as_str(),
            ack.receiver.as_deref(),
            ack.line.as_deref()
        ),
        ("0011", Some("579BDF"), Some("789ABC"))
    );
    decrypt(&mut ack, &aes_key()).unwrap();
    assert_eq!(
        ack.timestamp,
        Some(Timestamp::from_unix(UNIX0)),
        "receiver GMT"
    );
}

#[test]
fn two_encrypted_acks_to_the_same_frame_differ_by_their_pad() {
    let acc = keyed(Window::default(), 0);
    let mut l = link();
    let f = encrypted_cid(&aes_key(), UNIX0);
    let a = feed(&mut l, &f, at(0), &acc);
    let b = feed(&mut l, &f, at(0), &acc);
    assert_ne!(replies(&a)[0].bytes, replies(&b)[0].bytes);
}

#[test]
fn the_encrypted_frame_window_is_minus_past_plus_future_and_outside_it_gets_a_nak() {
    for (skew, tz, answered) in [
        (0, 0, "*ack 0011"),
        (-40, 0, "*ack 0011"),
        (20, 0, "*ack 0011"),
        (-41, 0, "nak"),
        (21, 0, "nak"),
        // A panel on +01:00 local time writes its clock an hour ahead.
        (3600, 3600, "*ack 0011"),
        (0, 3600, "nak"),
    ] {
        let acc = keyed(Window::default(), tz);
        let mut l = link();
        let out = feed(
            &mut l,
            &encrypted_cid(&aes_key(), UNIX0 + skew),
            at(0),
            &acc,
        );
        assert_eq!(shape(&out).last().unwrap(), answered, "skew {skew} tz {tz}");
        if answered == "nak" {
            assert_eq!(
                shape(&out).len(),
                1,
                "a NAK stores nothing: {:?}",
                shape(&out)
            );
            let nak = decoded(&replies(&out)[0].bytes);
            assert_eq!(
                (nak.id, nak.seq.as_str(), nak.account.as_deref()),
                (Id::Nak, "0000", Some("A0"))
            );
            assert_eq!(nak.timestamp, Some(Timestamp::from_unix(UNIX0)));
        }
    }
}

#[test]
fn a_nak_says_how_far_off_the_frame_was() {
    let acc = keyed(Window::default(), 0);
    let mut l = link();
    let out = feed(&mut l, &encrypted_cid(&aes_key(), UNIX0 - 100), at(0), &acc);
    assert_eq!(
        replies(&out)[0].kind,
        ReplyKind::Nak(WindowError::Skew(-100))
    );
}

#[test]
fn an_encrypted_frame_with_a_wrong_key_or_no_key_gets_silence() {
    let wrong = Key::parse("00000000000000000000000000000000", KeyFormat::Hex).unwrap();
    let mut l = link();
    let out = feed(
        &mut l,
        &encrypted_cid(&wrong, UNIX0),
        at(0),
        &keyed(Window::default(), 0),
    );
    let s = shape(&out);
    assert!(
        s.len() == 1 && s[0].starts_with("dropped: decryption failed"),
        "{s:?}"
    );
    let no_key = Accounts::new();
    let mut l = link();
    let out = feed(&mut l, &encrypted_cid(&aes_key(), UNIX0), at(0), &no_key);
    assert_eq!(
        shape(&out),
        ["dropped: encrypted frame and no key configured for the account"]
    );
    assert_eq!(l.accounts().count(), 0, "nothing came online");
}
