//! protocol.md §2.1 reply rules, one frame (or one buffer) at a time.

use super::*;
use crate::escape::escape;
use crate::timestamp::Timestamp;

const F16: &str = "<LF>73D40051\"ADM-CID\"0002R123ABCL456DEF#861234567890[#000123|1130 00 005]_00:30:00,06-01-2024<CR>";
const NULL_PYRONIX: &str = "<LF>EA740027\"NULL\"0000L0#1409[]_20:38:07,08-27-2026<CR>";

#[test]
fn an_hb_event_is_stored_then_acked_with_a_timestamp_in_the_account_zone() {
    let eight_hours = 8 * 3600;
    let acc = Accounts::new().with(
        HB,
        AccountPolicy {
            tz_offset_secs: eight_hours,
            ..AccountPolicy::default()
        },
    );
    let mut l = link();
    let out = feed(&mut l, &bytes(&hb_event(2, 1130, 5)), at(0), &acc);
    assert_eq!(
        shape(&out),
        [
            "online 861234567890",
            "store ONLINE 861234567890",
            "store 1130 0002",
            "ack 0002"
        ]
    );
    let ack = decoded(&replies(&out)[0].bytes);
    assert_eq!(
        (
            ack.id,
            ack.seq.as_str(),
            ack.receiver.as_deref(),
            ack.line.as_deref()
        ),
        (Id::Ack, "0002", Some("123ABC"), Some("456DEF"))
    );
    assert_eq!(ack.account.as_deref(), Some(HB));
    assert_eq!(
        ack.timestamp,
        Some(Timestamp::from_unix(UNIX0 + i64::from(eight_hours)))
    );
    let Output::Store(Record::Event(e)) = &out[2] else {
        panic!("{out:?}")
    };
    assert_eq!(
        (e.dialect, e.tz_offset_secs, e.unknown_account),
        (Dialect::Hb, eight_hours, false)
    );
}

#[test]
fn a_dc09_ack_echoes_r_l_and_account_exactly_without_a_timestamp() {
    let mut l = link();
    let out = feed(&mut l, &text(NULL_PYRONIX), at(0), &Accounts::new());
    assert_eq!(
        shape(&out),
        ["online 1409", "store ONLINE 1409", "touch 1409", "ack 0000"]
    );
    assert_eq!(
        escape(&replies(&out)[0].bytes),
        "<LF>59890012\"ACK\"0000L0#1409[]<CR>"
    );
}

#[test]
fn the_ack_form_follows_the_dialect_hb_placeholders_get_a_timestamp_dc09_does_not() {
    for (r, l, timestamp) in [
        (Some("123ABC"), Some("456DEF"), true),
        (Some("1234"), Some("6789"), true),
        (Some("579BDF"), Some("789ABC"), false),
        (None, Some("0"), false),
    ] {
        let mut link = link();
        let f = null("5555", r, l);
        let out = feed(&mut link, &bytes(&f), at(0), &Accounts::new());
        let ack = decoded(&replies(&out)[0].bytes);
        assert_eq!(ack.timestamp.is_some(), timestamp, "{r:?} {l:?}");
        assert_eq!((ack.receiver.as_deref(), ack.line.as_deref()), (r, l));
    }
}

#[test]
fn an_unknown_id_token_gets_duh_with_the_same_seq_and_header() {
    let m11 = "<LF>6C82003E\"FOO-BAR\"0013R123ABCL456DEF#861234567890[]_08:42:00,06-01-2024<CR>";
    let mut l = link();
    let out = feed(&mut l, &text(m11), at(0), &Accounts::new());
    assert_eq!(
        shape(&out),
        [
            "online 861234567890",
            "store ONLINE 861234567890",
            "duh 0013"
        ]
    );
    let duh = decoded(&replies(&out)[0].bytes);
    assert_eq!(
        (duh.id, duh.seq.as_str(), duh.timestamp),
        (Id::Duh, "0013", None)
    );
    assert_eq!(duh.account.as_deref(), Some(HB));
}

#[test]
fn bytes_that_do_not_frame_get_silence_and_the_next_frame_is_answered() {
    let m1_bad_crc = "<LF>93B40031\"NULL\"0000R1234L6789#000000[]_17:24:14,12-09-2015<CR>";
    let mut buf = text(m1_bad_crc);
    buf.extend_from_slice(b"junk");
    buf.extend(text(F16));
    let mut l = link();
    let out = feed(&mut l, &buf, at(0), &Accounts::new());
    let s = shape(&out);
    assert!(s[0].starts_with("dropped: bad CRC"), "{s:?}");
    assert!(s[1].starts_with("dropped: 4 bytes of garbage"), "{s:?}");
    assert_eq!(
        &s[2..],
        [
            "online 861234567890",
            "store ONLINE 861234567890",
            "store 1130 0002",
            "ack 0002"
        ]
    );
}

#[test]
fn the_panels_own_ack_duh_and_nak_get_no_reply() {
    let mut l = link();
    let acc = Accounts::new();
    feed(&mut l, &bytes(&hb_event(1, 1130, 1)), at(0), &acc);
    for id in [Id::Ack, Id::Duh] {
        let f = panel_frame(id, 7, Some("123ABC"), Some("456DEF"), HB, Data::Empty, None);
        let out = feed(&mut l, &bytes(&f), at(0), &acc);
        assert_eq!(shape(&out).len(), 1, "{:?}", shape(&out));
        assert!(shape(&out)[0].starts_with("answer "), "{:?}", shape(&out));
    }
    let nak = "<LF>DED30025\"NAK\"0000R0L0A0[]_12:00:05,06-01-2024<CR>";
    let out = feed(&mut l, &text(nak), at(0), &acc);
    assert!(replies(&out).is_empty(), "{:?}", shape(&out));
}

#[test]
fn several_frames_in_one_read_are_answered_in_order_each_after_its_store() {
    let mut buf = Vec::new();
    for seq in 1..=3 {
        buf.extend(bytes(&hb_event(seq, 1130, seq)));
    }
    buf.extend(bytes(&null(HB, Some("123ABC"), Some("456DEF"))));
    let mut l = link();
    let out = feed(&mut l, &buf, at(0), &Accounts::new());
    assert_eq!(
        shape(&out),
        [
            "online 861234567890",
            "store ONLINE 861234567890",
            "store 1130 0001",
            "ack 0001",
            "store 1130 0002",
            "ack 0002",
            "store 1130 0003",
            "ack 0003",
            "touch 861234567890",
            "ack 0000"
        ]
    );
}

#[test]
fn a_partial_frame_is_left_in_the_buffer_until_it_is_complete() {
    let whole = text(F16);
    for cut in 0..whole.len() {
        let mut l = link();
        let mut out = Vec::new();
        let n = l.read(&whole[..cut], at(0), &Accounts::new(), &mut out);
        assert_eq!((n, out.len()), (0, 0), "cut at {cut}");
        let n = l.read(&whole, at(0), &Accounts::new(), &mut out);
        assert_eq!(n, whole.len());
        assert_eq!(replies(&out).len(), 1, "cut at {cut}");
    }
}

#[test]
fn a_retransmission_is_stored_and_acked_again_because_dedup_is_the_stores_job() {
    let mut l = link();
    let acc = Accounts::new();
    let f = bytes(&hb_event(9, 1130, 1));
    feed(&mut l, &f, at(0), &acc);
    let out = feed(&mut l, &f, at(10), &acc);
    assert_eq!(shape(&out), ["store 1130 0009", "ack 0009"]);
}

#[test]
fn heartbeats_touch_the_panel_and_are_not_stored() {
    let mut l = link();
    let acc = Accounts::new();
    let f = bytes(&null(HB, Some("123ABC"), Some("456DEF")));
    feed(&mut l, &f, at(0), &acc);
    let out = feed(&mut l, &f, at(1000), &acc);
    assert_eq!(shape(&out), ["touch 861234567890", "ack 0000"]);
}

#[test]
fn each_account_comes_online_once_per_connection() {
    let mut l = link();
    let acc = Accounts::new();
    let mut buf = bytes(&dc09_event("1111", 1, 1130, 1));
    buf.extend(bytes(&dc09_event("2222", 1, 1130, 1)));
    buf.extend(bytes(&dc09_event("1111", 2, 1130, 1)));
    let out = feed(&mut l, &buf, at(0), &acc);
    let online: Vec<String> = shape(&out)
        .into_iter()
        .filter(|s| s.contains("ONLINE"))
        .collect();
    assert_eq!(online, ["store ONLINE 1111", "store ONLINE 2222"]);
    assert_eq!(l.accounts().collect::<Vec<_>>(), ["1111", "2222"]);
}

#[test]
fn a_frame_that_names_no_account_is_dropped() {
    let mut f = null("x", None, Some("0"));
    f.account = None;
    let mut l = link();
    let out = feed(&mut l, &bytes(&f), at(0), &Accounts::new());
    assert_eq!(shape(&out), ["dropped: frame names no account"]);
}
