#![allow(clippy::unwrap_used)]
//! Exact bytes of every Sur-Gard message form, one case per test.

use super::*;
use crate::events::{NewEvent, Source};

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
    // HB's enter-settings 2704 is the standard program mode entry.
    let hb = encode(&event("1234", Source::Panel, 2704, 0, 0), None).unwrap();
    assert_eq!(&hb[..], b"5011 181234E62700000\x14");
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

/// Where an event came from.
#[derive(Debug, Clone, Copy)]
enum Origin {
    /// A Hengbo host (`HENG-BO`, HB codes).
    Hengbo,
    /// A DC-09 panel's Contact ID (`ADM-CID`, standard codes).
    AdmCid,
    /// A DC-09 panel's SIA (`SIA-DCS`): the SIA code and block.
    SiaDcs(&'static str, &'static str),
    /// Pushed in through `Ingest` (HB table, like the rest of alarmhub).
    Ingest,
    /// The receiver's own verdicts.
    Receiver,
}

fn from(origin: Origin, account: &str, code: u16, group: u16, zone: u16) -> StoredEvent {
    use panel_proto::rules::Dialect;
    let (source, protocol, dialect) = match origin {
        Origin::Hengbo => (Source::Panel, "HENG-BO", Dialect::Hb),
        Origin::AdmCid => (Source::Panel, "ADM-CID", Dialect::Dc09),
        Origin::SiaDcs(..) => (Source::Panel, "SIA-DCS", Dialect::Dc09),
        Origin::Ingest => (Source::Ingest, "", Dialect::Hb),
        Origin::Receiver => (Source::Receiver, "", Dialect::Dc09),
    };
    let mut e = event(account, source, code, group, zone);
    e.event.protocol = protocol.into();
    e.event.facts.dialect = Some(dialect);
    if let Origin::SiaDcs(sia, body) = origin {
        e.event.code = 0;
        e.event.sia_code = Some(sia.into());
        e.event.detail = serde_json::json!({ "sia_body": body }).into();
    }
    e
}

#[test]
fn each_origin_is_sent_in_its_own_form_with_exact_bytes() {
    use Origin::*;
    const BA: Origin = SiaDcs("BA", "Nri1/BA01");
    type Case = (Origin, &'static str, u16, u16, u16, &'static [u8]);
    #[rustfmt::skip]
    let cases: &[Case] = &[
        // Hengbo: HB codes as the standard Contact ID code that means the same.
        (Hengbo, "1234", 1130, 1, 3, b"5011 181234E13001003\x14"),
        (Hengbo, "1234", 3130, 1, 3, b"5011 181234R13001003\x14"),
        (Hengbo, "1234", 1113, 0, 2, b"5011 181234E15400002\x14"),
        (Hengbo, "1234", 3113, 0, 2, b"5011 181234R15400002\x14"),
        (Hengbo, "1234", 1456, 0, 99, b"5011 181234R45600099\x14"),
        (Hengbo, "1234", 3456, 2, 99, b"5011 181234R45602099\x14"),
        (Hengbo, "1234", 1400, 0, 1, b"5011 181234E40000001\x14"),
        (Hengbo, "1234", 3400, 0, 1, b"5011 181234R40000001\x14"),
        (Hengbo, "1234", 1384, 0, 0, b"5011 181234E30000000\x14"),
        (Hengbo, "1234", 1393, 0, 7, b"5011 181234E38100007\x14"),
        (Hengbo, "1234", 1485, 0, 0, b"5011 181234E33300000\x14"),
        (Hengbo, "1234", 1701, 0, 0, b"5011 181234E46100000\x14"),
        (Hengbo, "1234", 3704, 0, 0, b"5011 181234E62800000\x14"),
        (Hengbo, "1234", 1100, 0, 4, b"5011 181234E10000004\x14"),
        (Hengbo, "123456", 1113, 1, 2, b"S011[#123456|Nri1WA02]\x14"),
        (Hengbo, "123456", 1456, 0, 99, b"S011[#123456|NCG99]\x14"),
        (Hengbo, "123456", 1701, 0, 0, b"S011[#123456|NDD00]\x14"),
        // DC-09 ADM-CID: standard Contact ID, unchanged.
        (AdmCid, "1234", 1134, 1, 5, b"5011 181234E13401005\x14"),
        (AdmCid, "1234", 1113, 0, 2, b"5011 181234E11300002\x14"),
        (AdmCid, "1234", 1456, 1, 3, b"5011 181234E45601003\x14"),
        (AdmCid, "1234", 3100, 0, 1, b"5011 181234R10000001\x14"),
        (AdmCid, "1234", 1602, 0, 0, b"5011 181234E60200000\x14"),
        (AdmCid, "123456", 1134, 1, 5, b"S011[#123456|Nri1BA05]\x14"),
        (AdmCid, "123456", 3401, 1, 12, b"S011[#123456|Nri1CL12]\x14"),
        // DC-09 SIA-DCS: the SIA form with the panel's block, whatever the account's length.
        (BA, "1234", 0, 1, 1, b"S011[#1234|Nri1/BA01]\x14"),
        (BA, "12", 0, 1, 1, b"S011[#0012|Nri1/BA01]\x14"),
        (BA, "123456", 0, 1, 1, b"S011[#123456|Nri1/BA01]\x14"),
        (SiaDcs("CL", "Nri2id7/CL7"), "ABCDEF", 0, 2, 7, b"S011[#ABCDEF|Nri2id7/CL7]\x14"),
        // Ingested events use the Hengbo table.
        (Ingest, "1234", 1113, 0, 2, b"5011 181234E15400002\x14"),
        // The receiver's link verdicts, for either dialect.
        (Receiver, "1234", 1944, 0, 0, b"5011 181234E35000000\x14"),
        (Receiver, "123456", 1946, 0, 0, b"S011[#123456|NYK00]\x14"),
    ];
    for (origin, account, code, group, zone, want) in cases {
        let e = from(*origin, account, *code, *group, *zone);
        let got = encode(&e, None).unwrap_or_else(|s| panic!("{origin:?} {account} {code}: {s}"));
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(want),
            "{origin:?} {account} {code}"
        );
    }
}

#[test]
fn what_means_nothing_or_something_else_to_a_central_station_is_not_sent() {
    use Origin::*;
    #[rustfmt::skip]
    let cases: &[(Origin, &str, u16, Skip)] = &[
        // HB private codes: door bell (standard 134 is an entry/exit burglary), clear
        // trouble (standard R100 is a medical restore), signal strength, host type.
        (Hengbo, "1234", 1134, Skip::NotASignal),
        (Hengbo, "1234", 3100, Skip::NotASignal),
        (Hengbo, "1234", 1799, Skip::NotASignal),
        (Hengbo, "1234", 1737, Skip::NotASignal),
        (Hengbo, "123456", 1134, Skip::NotASignal),
        (Ingest, "1234", 1134, Skip::NotASignal),
        (Receiver, "1234", 1137, Skip::NotASignal),
    ];
    for (origin, account, code, why) in cases {
        let e = from(*origin, account, *code, 0, 1);
        assert_eq!(encode(&e, None).unwrap_err(), *why, "{origin:?} {code}");
    }
    // A DC-09 panel's 2xxx qualifier has no Contact ID letter.
    let e = from(AdmCid, "1234", 2704, 0, 0);
    assert!(matches!(encode(&e, None), Err(Skip::Field(_))));
    // A code without a SIA equivalent cannot go to an account that needs the SIA form.
    let e = from(AdmCid, "123456", 1799, 0, 0);
    assert!(matches!(encode(&e, None), Err(Skip::Field(_))));
}
