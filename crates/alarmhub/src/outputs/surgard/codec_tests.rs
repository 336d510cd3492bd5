#![allow(clippy::unwrap_used)]
//! Exact bytes of every Sur-Gard message form, one case per test.

use super::*;
use crate::events::NewEvent;

fn header() -> Header {
    Header {
        receiver: "01".into(),
        line: "1".into(),
    }
}

fn event(account: &str, source: Source, code: u16, group: u16, zone: u16) -> StoredEvent {
    StoredEvent {
        seq: 7,
        event: NewEvent {
            account: account.into(),
            source,
            code,
            sia_code: None,
            group,
            zone,
            received_at_ms: 0,
            panel_time: None,
            protocol: "ADM-CID".into(),
            frame_seq: "0001".into(),
            peer: "127.0.0.1:1".into(),
            detail: serde_json::json!({}).into(),
            facts: Default::default(),
            dedup_key: None,
        },
    }
}

fn sia_event(account: &str, sia: &str, body: Option<&str>, group: u16, zone: u16) -> StoredEvent {
    let mut e = event(account, Source::Panel, 0, group, zone);
    e.event.sia_code = Some(sia.into());
    if let Some(b) = body {
        e.event.detail = serde_json::json!({ "sia_body": b }).into();
    }
    e
}

fn encode(e: &StoredEvent, cms: Option<&str>) -> Result<Bytes, Skip> {
    encode_event(&header(), e, cms)
}

#[test]
fn heartbeat_is_the_mlr2_text() {
    assert_eq!(HEARTBEAT.len(), 21);
    assert_eq!(&HEARTBEAT[..4], b"1011");
    assert_eq!(&HEARTBEAT[4..15], b"           ");
    assert_eq!(HEARTBEAT[15], b'@');
    assert_eq!(&HEARTBEAT[16..20], b"    ");
    assert_eq!(HEARTBEAT[20], 0x14);
}

#[test]
fn contact_id_matches_the_manual_example() {
    // MLR2 manual: account 1234, duress (121) group 01 zone 001, receiver 01 line 1.
    let b = contact_id(&header(), "1234", 1121, 1, 1).unwrap();
    assert_eq!(&b[..], b"5011 181234E12101001\x14");
}

#[test]
fn restore_and_status_qualifiers() {
    let r = encode(&event("1234", Source::Panel, 3130, 0, 5), None).unwrap();
    assert_eq!(&r[..], b"5011 181234R13000005\x14");
    let p = encode(&event("1234", Source::Panel, 6570, 2, 12), None).unwrap();
    assert_eq!(&p[..], b"5011 181234P57002012\x14");
    let hb = encode(&event("1234", Source::Panel, 2704, 0, 0), None).unwrap();
    assert_eq!(&hb[..], b"5011 181234E70400000\x14");
}

#[test]
fn other_receiver_and_line_numbers_go_in_the_header() {
    let h = Header {
        receiver: "3C".into(),
        line: "E".into(),
    };
    let b = contact_id(&h, "00B2", 1400, 0, 3).unwrap();
    assert_eq!(&b[..], b"53CE 1800B2E40000003\x14");
}

#[test]
fn short_accounts_are_zero_padded() {
    let b = encode(&event("12", Source::Panel, 1130, 0, 1), None).unwrap();
    assert_eq!(&b[..], b"5011 180012E13000001\x14");
}

#[test]
fn cms_account_replaces_a_long_account() {
    let e = event("861234567890", Source::Panel, 1130, 0, 9);
    assert_eq!(
        encode(&e, None).unwrap_err(),
        Skip::Account("861234567890".into())
    );
    let b = encode(&e, Some("c0de")).unwrap();
    assert_eq!(&b[..], b"5011 18C0DEE13000009\x14");
}

#[test]
fn six_digit_accounts_use_the_sia_form_with_the_sia_equivalent() {
    let b = encode(&event("123456", Source::Panel, 1130, 1, 3), None).unwrap();
    assert_eq!(&b[..], b"S011[#123456|Nri1BA03]\x14");
    // An account with A (DC-05 reserves it) cannot be a Contact ID account either.
    let b = encode(&event("A12", Source::Panel, 3130, 0, 3), None).unwrap();
    assert_eq!(&b[..], b"S011[#A12|NBH03]\x14");
}

#[test]
fn sia_events_forward_the_panel_block() {
    let e = sia_event("1234", "BA", Some("Nri1/BA01"), 1, 1);
    assert_eq!(&encode(&e, None).unwrap()[..], b"S011[#1234|Nri1/BA01]\x14");
}

#[test]
fn sia_events_without_a_safe_block_get_a_built_one() {
    let e = sia_event("1234", "ba", None, 0, 7);
    assert_eq!(&encode(&e, None).unwrap()[..], b"S011[#1234|NBA07]\x14");
    let e = sia_event("1234", "CL", Some("Nri1/CL501]x"), 1, 501);
    assert_eq!(&encode(&e, None).unwrap()[..], b"S011[#1234|Nri1CL501]\x14");
    let long = format!("N{}", "a".repeat(SIA_BLOCK_MAX));
    let e = sia_event("1234", "RP", Some(&long), 0, 0);
    assert_eq!(&encode(&e, None).unwrap()[..], b"S011[#1234|NRP00]\x14");
}

#[test]
fn receiver_link_events_are_communication_trouble() {
    let off = encode(&event("1234", Source::Receiver, 1944, 0, 0), None).unwrap();
    assert_eq!(&off[..], b"5011 181234E35000000\x14");
    let on = encode(&event("1234", Source::Receiver, 1946, 0, 0), None).unwrap();
    assert_eq!(&on[..], b"5011 181234R35000000\x14");
}

#[test]
fn control_audit_rows_are_not_signals() {
    let e = event("1234", Source::Control, 3400, 0, 99);
    assert_eq!(encode(&e, None).unwrap_err(), Skip::NotASignal);
}

#[test]
fn fields_that_do_not_fit_are_skipped_with_a_reason() {
    let e = event("1234", Source::Ingest, 1130, 100, 1);
    assert!(matches!(encode(&e, None), Err(Skip::Field(_))));
    let e = event("1234", Source::Ingest, 1130, 1, 1000);
    assert!(matches!(encode(&e, None), Err(Skip::Field(_))));
    let e = event("1234", Source::Panel, 4130, 1, 1);
    assert!(matches!(encode(&e, None), Err(Skip::Field(_))));
}

#[test]
fn account_mapping_rules() {
    assert_eq!(
        map_account("bcde", None).unwrap(),
        CmsAccount::ContactId("BCDE".into())
    );
    assert_eq!(
        map_account("1", None).unwrap(),
        CmsAccount::ContactId("0001".into())
    );
    assert_eq!(
        map_account("12345", None).unwrap(),
        CmsAccount::SiaOnly("12345".into())
    );
    assert!(map_account("1234567", None).is_err());
    assert!(map_account("12-4", None).is_err());
    assert!(map_account("", None).is_err());
}
