//! Every VERIFIED frame of protocol.md §4.1–§4.3 as a table test, one `#[test]` per frame.
#![allow(clippy::unwrap_used)]

use panel_proto::crypto::{Key, KeyFormat};
use panel_proto::escape::unescape;
use panel_proto::framing::{decode, Decoded, DecoderConfig};
use panel_proto::parse::decrypt;
use panel_proto::{Data, Frame, Id, Xdata};

/// Expected fields; `None` means "not checked", `Some(None)` means "absent".
#[derive(Default)]
struct Expect {
    id: Option<Id>,
    seq: Option<&'static str>,
    r: Option<Option<&'static str>>,
    l: Option<Option<&'static str>>,
    acct: Option<Option<&'static str>>,
    data_acct: Option<Option<&'static str>>,
    event: Option<u16>,
    group: Option<u8>,
    zone: Option<u16>,
    sia_code: Option<&'static str>,
    ts: Option<Option<&'static str>>,
    xdata: Option<Vec<Xdata>>,
    ademco_id: Option<Option<u32>>,
    empty_data: bool,
}

fn decode_one(text: &str) -> Frame {
    let bytes = unescape(text).unwrap();
    match decode(&bytes, &DecoderConfig::default()) {
        Decoded::Frame { frame, consumed } => {
            assert_eq!(consumed, bytes.len(), "whole frame consumed");
            frame
        }
        other => panic!("{text}: {other:?}"),
    }
}

fn check(f: &Frame, e: &Expect) {
    if let Some(id) = &e.id {
        assert_eq!(&f.id, id);
    }
    if let Some(s) = e.seq {
        assert_eq!(f.seq, s);
    }
    if let Some(r) = e.r {
        assert_eq!(f.receiver.as_deref(), r, "R");
    }
    if let Some(l) = e.l {
        assert_eq!(f.line.as_deref(), l, "L");
    }
    if let Some(a) = e.acct {
        assert_eq!(f.account.as_deref(), a, "account");
    }
    if let Some(ts) = e.ts {
        assert_eq!(
            f.timestamp.map(|t| t.to_string()).as_deref(),
            ts,
            "timestamp"
        );
    }
    if let Some(x) = &e.xdata {
        assert_eq!(&f.xdata, x, "xdata");
    }
    if e.empty_data {
        assert_eq!(f.data, Data::Empty);
    }
    if e.sia_code.is_none() && (e.event.is_some() || e.data_acct.is_some() || e.ademco_id.is_some())
    {
        let c = f.contact_id().expect("contact id block");
        if let Some(a) = e.data_acct {
            assert_eq!(c.account.as_deref(), a, "data account");
        }
        if let Some(ev) = e.event {
            assert_eq!(c.event_code(), ev);
        }
        if let Some(g) = e.group {
            assert_eq!(c.group, g);
        }
        if let Some(z) = e.zone {
            assert_eq!(c.zone, z);
        }
        if let Some(id) = e.ademco_id {
            assert_eq!(c.ademco_id(), id);
        }
    }
    if let Some(code) = e.sia_code {
        let s = f.sia().expect("sia block");
        assert_eq!(s.code.as_deref(), Some(code));
        if let Some(a) = e.data_acct {
            assert_eq!(s.account.as_deref(), a);
        }
        if let Some(z) = e.zone {
            assert_eq!(
                s.number.as_deref().and_then(|n| n.parse::<u16>().ok()),
                Some(z)
            );
        }
    }
}

macro_rules! vectors {
    ($($name:ident: $frame:expr => { $($field:ident: $value:expr),* $(,)? })*) => {$(
        #[test]
        fn $name() {
            let f = decode_one($frame);
            check(&f, &Expect { $($field: $value,)* ..Expect::default() });
            // Re-encoding gives back the exact bytes.
            let mut out = Vec::new();
            panel_proto::build::encode(&f, &mut out).unwrap();
            assert_eq!(panel_proto::escape::escape(&out), $frame);
        }
    )*};
}

vectors! {
    v01_hb_heartbeat: "<LF>93B30031\"NULL\"0000R1234L6789#000000[]_17:24:14,12-09-2015<CR>"
        => { id: Some(Id::Null), seq: Some("0000"), r: Some(Some("1234")), l: Some(Some("6789")),
             acct: Some(Some("000000")), empty_data: true, ts: Some(Some("2015-12-09T17:24:14")) }
    v02_hb_ack: "<LF>F0550030\"ACK\"0000R1234L6789#000000[]_17:27:09,12-09-2015<CR>"
        => { id: Some(Id::Ack), seq: Some("0000"), acct: Some(Some("000000")), empty_data: true }
    v03_hb_arm_away: "<LF>02130047\"HENG-BO\"0000R1234L6789#000000[#000000|3400 00 000]_17:15:29,12-09-2015<CR>"
        => { id: Some(Id::HengBo), seq: Some("0000"), event: Some(3400), group: Some(0), zone: Some(0),
             data_acct: Some(Some("000000")), ademco_id: Some(None) }
    v04_hb_type_wired: "<LF>C5C30053\"HENG-BO\"0000R000000L000000#90219125916578[#000000|1737 00 000]_09:11:19,08-05-2019<CR>"
        => { acct: Some(Some("90219125916578")), event: Some(1737), r: Some(Some("000000")) }
    v05_hb_ack_library_tokens: "<LF>593F0034\"ACK\"0209R123ABCL456DEF#000001[]_09:00:00,04-18-2020<CR>"
        => { id: Some(Id::Ack), seq: Some("0209"), r: Some(Some("123ABC")), l: Some(Some("456DEF")) }
    v06_dc09_cid_fire_no_timestamp: "<LF>87CD0037\"ADM-CID\"9876R579BDFL789ABC#12345A[#12345A|1110 00 129]<CR>"
        => { id: Some(Id::AdmCid), seq: Some("9876"), r: Some(Some("579BDF")), l: Some(Some("789ABC")),
             acct: Some(Some("12345A")), data_acct: Some(Some("12345A")), event: Some(1110), group: Some(0),
             zone: Some(129), ts: Some(None) }
    v07_dc09_cid_no_r: "<LF>B3680040\"ADM-CID\"0001L000000#1234[#1234|1140 00 007]_22:49:34,01-22-2012<CR>"
        => { r: Some(None), l: Some(Some("000000")), acct: Some(Some("1234")), event: Some(1140), zone: Some(7),
             ts: Some(Some("2012-01-22T22:49:34")) }
    v08_dc09_sia_fire: "<LF>DC530046\"SIA-DCS\"9876R579BDFL789ABC#12345A[#12345A|NFA129]_13:14:15,02-15-2006<CR>"
        => { id: Some(Id::SiaDcs), sia_code: Some("FA"), zone: Some(129), data_acct: Some(Some("12345A")) }
    v09_dc09_sia_mac_xdata: "<LF>8C860043\"SIA-DCS\"9876R579BDFL789ABC#123456A[#123456A|NFA129][M1234567890AB]<CR>"
        => { acct: Some(Some("123456A")), sia_code: Some("FA"),
             xdata: Some(vec![Xdata::Dc09 { id: b'M', value: "1234567890AB".into() }]) }
    v10_pima_remote_arm: "<LF>7449003F\"ADM-CID\"0078R1L0#AAAA[#00AAAA|3407 01 001]_01:59:16,09-21-2023<CR>"
        => { acct: Some(Some("AAAA")), data_acct: Some(Some("00AAAA")), event: Some(3407), group: Some(1), zone: Some(1) }
    v11_dahua_room_xdata: "<LF>2DE1004C\"ADM-CID\"0056L0#123456[#123456|1406 01 000][RLivingRoom]_17:22:02,09-18-2023<CR>"
        => { event: Some(1406), group: Some(1),
             xdata: Some(vec![Xdata::Dc09 { id: b'R', value: "LivingRoom".into() }]) }
    v12_pyronix_null_no_r: "<LF>EA740027\"NULL\"0000L0#1409[]_20:38:07,08-27-2026<CR>"
        => { id: Some(Id::Null), r: Some(None), l: Some(Some("0")), acct: Some(Some("1409")) }
    v13_nifty_ack: "<LF>59890012\"ACK\"0000L0#1409[]<CR>"
        => { id: Some(Id::Ack), r: Some(None), ts: Some(None) }
    v14_iobroker_nak: "<LF>1CB00025\"NAK\"0000R0L0A0[]_16:56:28,08-07-2019<CR>"
        => { id: Some(Id::Nak), r: Some(Some("0")), l: Some(Some("0")), acct: Some(Some("A0")) }
    v15a_ajax_sia_perimeter: "<LF>EAC0003A\"SIA-DCS\"1663L0#0000[#0000|Nri1/NL501]_12:40:58,12-22-2021<CR>"
        => { sia_code: Some("NL"), zone: Some(501) }
    v15b_ajax_ack: "<LF>444D0012\"ACK\"1663L0#0000[]<CR>"
        => { id: Some(Id::Ack), seq: Some("1663") }
    v16_hb_burglary_phone_account: "<LF>73D40051\"ADM-CID\"0002R123ABCL456DEF#861234567890[#000123|1130 00 005]_00:30:00,06-01-2024<CR>"
        => { acct: Some(Some("861234567890")), event: Some(1130), zone: Some(5), ademco_id: Some(Some(0x123)) }
    v16a_hb_ack: "<LF>AB81003A\"ACK\"0002R123ABCL456DEF#861234567890[]_00:30:01,06-01-2024<CR>"
        => { id: Some(Id::Ack), seq: Some("0002") }
    v16b_dc09_ack: "<LF>D9030026\"ACK\"0002R123ABCL456DEF#861234567890[]<CR>"
        => { id: Some(Id::Ack), ts: Some(None) }
    v17_disarm_with_password: "<LF>A95B005B\"HENG-BO\"0003R123ABCL456DEF#861234567890[#000123|1400 00 000][<00><06>123456]_08:31:00,06-01-2024<CR>"
        => { event: Some(1400), xdata: Some(vec![Xdata::HbBinary(b"123456".to_vec())]) }
    v17a_host_ack: "<LF>142E003A\"ACK\"0003R123ABCL456DEF#861234567890[]_08:31:01,06-01-2024<CR>"
        => { id: Some(Id::Ack), seq: Some("0003") }
    v18_arm_section_2: "<LF>7E430051\"HENG-BO\"0004R123ABCL456DEF#861234567890[#000123|3400 02 000]_08:32:00,06-01-2024<CR>"
        => { event: Some(3400), group: Some(2) }
    v19_section_3_disarmed: "<LF>DAD30051\"HENG-BO\"0010R123ABCL456DEF#861234567890[#000123|1400 03 000]_08:36:00,06-01-2024<CR>"
        => { event: Some(1400), group: Some(3), seq: Some("0010") }
    v20_disarm_from_app: "<LF>C09F0051\"HENG-BO\"0006R123ABCL456DEF#861234567890[#000123|1400 00 123]_08:34:00,06-01-2024<CR>"
        => { event: Some(1400), zone: Some(123) }
    v21a_signal_binary: "<LF>F14F0056\"HENG-BO\"0005R123ABCL456DEF#861234567890[#000123|1799 00 000][<00><01>']_08:33:00,06-01-2024<CR>"
        => { event: Some(1799), xdata: Some(vec![Xdata::HbBinary(vec![0x27])]) }
    v21b_signal_hex4: "<LF>A7C40059\"HENG-BO\"0005R123ABCL456DEF#861234567890[#000123|1799 00 000][000227]_08:33:00,06-01-2024<CR>"
        => { event: Some(1799), xdata: Some(vec![Xdata::HbHex4(b"27".to_vec())]) }
    v22a_ask_type: "<LF>B7580051\"HENG-BO\"0007R123ABCL456DEF#861234567890[#000123|1798 00 000]_08:35:00,06-01-2024<CR>"
        => { event: Some(1798) }
    v22b_three_section_type: "<LF>80B90051\"HENG-BO\"0008R123ABCL456DEF#861234567890[#000123|1757 00 000]_08:35:01,06-01-2024<CR>"
        => { event: Some(1757) }
    v23_passthrough: "<LF>0613005A\"HENG-BO\"0012R123ABCL456DEF#861234567890[#000123|1704 00 000][<00><05><EB><AB>?<A0>u]_08:40:00,06-01-2024<CR>"
        => { event: Some(1704), xdata: Some(vec![Xdata::HbBinary(vec![0xEB, 0xAB, 0x3F, 0xA0, 0x75])]) }
    v24_wifi_mac_account: "<LF>848D003B\"NULL\"0000R123ABCL456DEF#2494944C4815[]_08:41:00,06-01-2024<CR>"
        => { acct: Some(Some("2494944C4815")) }
    v25a_duh: "<LF>BF000020\"DUH\"0009R579BDFL789ABC#12345A[]<CR>"
        => { id: Some(Id::Duh), seq: Some("0009") }
    v25b_spec_nak: "<LF>DED30025\"NAK\"0000R0L0A0[]_12:00:05,06-01-2024<CR>"
        => { id: Some(Id::Nak), acct: Some(Some("A0")), ts: Some(Some("2024-06-01T12:00:05")) }
}

fn decrypted(text: &str, key: &str, format: KeyFormat) -> Frame {
    let mut f = decode_one(text);
    assert!(f.encrypted);
    assert!(matches!(f.data, Data::Encrypted(_)));
    decrypt(&mut f, &Key::parse(key, format).unwrap()).unwrap();
    f
}

#[test]
fn v26_annex_b4_encrypted_sia_with_hex_key() {
    let t = "<LF>D9760084\"*SIA-DCS\"9876R579BDFL789ABC#12345A[209c9d400b655df7a26aecb6a887e7ee6ed8103217079aae7cbd9dd7551e96823263460f7ef0514864897ae9789534f1<CR>";
    let f = decrypted(t, "0123456789ABCDEF0123456789ABCDEF", KeyFormat::Hex);
    check(
        &f,
        &Expect {
            id: Some(Id::SiaDcs),
            sia_code: Some("FA"),
            zone: Some(129),
            data_acct: Some(Some("12345A")),
            ts: Some(Some("2006-02-15T13:14:15")),
            ..Expect::default()
        },
    );
    // The same key read as ASCII is AES-256 and gives garbage: refused.
    let mut g = decode_one(t);
    let k = Key::parse("0123456789ABCDEF0123456789ABCDEF", KeyFormat::Ascii).unwrap();
    assert!(decrypt(&mut g, &k).is_err());
}

#[test]
fn v27_pysiaalarm_encrypted_null_with_ascii_key() {
    let t = "<LF>76D80055\"*NULL\"0000R0L0#AAAB[B4BC8B40D0E6D959D6BEA78E88CC0B2155741A3C44FBB96D476A3E557CAD64D9<CR>";
    let f = decrypted(t, "AAAAAAAAAAAAAAAA", KeyFormat::Ascii);
    check(
        &f,
        &Expect {
            id: Some(Id::Null),
            empty_data: true,
            acct: Some(Some("AAAB")),
            ts: Some(Some("2020-07-05T18:24:52")),
            ..Expect::default()
        },
    );
}

#[test]
fn v28_constructed_encrypted_cid_and_its_encrypted_ack() {
    let t = "<LF>3D8B0084\"*ADM-CID\"0011R579BDFL789ABC#12345A[2F8D4528FCF14D3E25815AA2AC5770C2A5DCE428A04131B9F81D42740A176793C9F2A0D35D4B99B55499BFFBCA4048CF<CR>";
    let key = "000102030405060708090A0B0C0D0E0F";
    let f = decrypted(t, key, KeyFormat::Hex);
    check(
        &f,
        &Expect {
            event: Some(1130),
            group: Some(1),
            zone: Some(15),
            data_acct: Some(Some("12345A")),
            ts: Some(Some("2024-06-01T10:20:30")),
            ..Expect::default()
        },
    );
    // Re-encrypting with the document's demonstration pad reproduces the frame exactly.
    let mut pad = [b'0'; 16];
    pad[..7].copy_from_slice(b"ABCDEFG");
    let mut out = Vec::new();
    panel_proto::build::encode_encrypted(
        &f,
        &Key::parse(key, KeyFormat::Hex).unwrap(),
        &pad,
        &mut out,
    )
    .unwrap();
    assert_eq!(panel_proto::escape::escape(&out), t);
    // Its encrypted ACK, built with pysiaalarm's `0` pad.
    let mut ack = Vec::new();
    let now = panel_proto::timestamp::Timestamp::parse(b"_10:20:31,06-01-2024").unwrap();
    panel_proto::build::ack_encrypted(
        &f,
        &Key::parse(key, KeyFormat::Hex).unwrap(),
        now,
        &[b'0'; 16],
        &mut ack,
    )
    .unwrap();
    assert_eq!(
        panel_proto::escape::escape(&ack),
        "<LF>0C700060\"*ACK\"0011R579BDFL789ABC#12345A[1BBE60A9088EFDF3BB51EC087BFA60B8EEF3FA64DB8CB77ABEBC8E41877552CC<CR>"
    );
}

#[test]
fn v29_encrypted_cid_ascii_key_without_r() {
    let t = "<LF>46D90076\"*ADM-CID\"0011L0#1111[EEAA98E329A15FDD67D6C80A41AA77E3429B01F859B6775F1AA0DBFC12FEE86756905BC8F4F65104763441842105DBA5<CR>";
    let f = decrypted(t, "AAAAAAAAAAAAAAAA", KeyFormat::Ascii);
    check(
        &f,
        &Expect {
            r: Some(None),
            event: Some(1130),
            group: Some(1),
            zone: Some(15),
            data_acct: Some(Some("1111")),
            ..Expect::default()
        },
    );
}
