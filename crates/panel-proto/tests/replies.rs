//! Builders reproduce the document's replies and commands byte for byte (§2.2, §2.7, §4).
#![allow(clippy::unwrap_used)]

use panel_proto::build::{ack, duh, hb_command, nak, AckStyle, Command};
use panel_proto::escape::{escape, unescape};
use panel_proto::framing::{decode, Decoded, DecoderConfig};
use panel_proto::rules::{detect_dialect, Dialect};
use panel_proto::timestamp::Timestamp;
use panel_proto::Frame;

fn frame(text: &str) -> Frame {
    match decode(&unescape(text).unwrap(), &DecoderConfig::default()) {
        Decoded::Frame { frame, .. } => frame,
        other => panic!("{other:?}"),
    }
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s.as_bytes()).unwrap()
}

const F16: &str = "<LF>73D40051\"ADM-CID\"0002R123ABCL456DEF#861234567890[#000123|1130 00 005]_00:30:00,06-01-2024<CR>";

#[test]
fn hb_ack_echoes_header_and_adds_timestamp() {
    let mut out = Vec::new();
    ack(
        &frame(F16),
        AckStyle::Hb,
        ts("_00:30:01,06-01-2024"),
        &mut out,
    )
    .unwrap();
    assert_eq!(
        escape(&out),
        "<LF>AB81003A\"ACK\"0002R123ABCL456DEF#861234567890[]_00:30:01,06-01-2024<CR>"
    );
}

#[test]
fn dc09_ack_has_no_timestamp() {
    let mut out = Vec::new();
    ack(
        &frame(F16),
        AckStyle::Dc09,
        ts("_00:30:01,06-01-2024"),
        &mut out,
    )
    .unwrap();
    assert_eq!(
        escape(&out),
        "<LF>D9030026\"ACK\"0002R123ABCL456DEF#861234567890[]<CR>"
    );
}

#[test]
fn dc09_ack_without_r_never_writes_none() {
    let f = frame("<LF>EA740027\"NULL\"0000L0#1409[]_20:38:07,08-27-2026<CR>");
    let mut out = Vec::new();
    ack(&f, AckStyle::Dc09, ts("_00:00:00,01-01-2026"), &mut out).unwrap();
    assert_eq!(escape(&out), "<LF>59890012\"ACK\"0000L0#1409[]<CR>");
    let f = frame("<LF>EAC0003A\"SIA-DCS\"1663L0#0000[#0000|Nri1/NL501]_12:40:58,12-22-2021<CR>");
    out.clear();
    ack(&f, AckStyle::Dc09, ts("_00:00:00,01-01-2026"), &mut out).unwrap();
    assert_eq!(escape(&out), "<LF>444D0012\"ACK\"1663L0#0000[]<CR>");
}

#[test]
fn hb_heartbeat_ack_matches_the_hb_doc() {
    let f = frame("<LF>93B30031\"NULL\"0000R1234L6789#000000[]_17:24:14,12-09-2015<CR>");
    let mut out = Vec::new();
    ack(&f, AckStyle::Hb, ts("_17:27:09,12-09-2015"), &mut out).unwrap();
    assert_eq!(
        escape(&out),
        "<LF>F0550030\"ACK\"0000R1234L6789#000000[]_17:27:09,12-09-2015<CR>"
    );
}

#[test]
fn duh_and_spec_nak_match_the_document() {
    let f = frame("<LF>87CD0037\"ADM-CID\"9876R579BDFL789ABC#12345A[#12345A|1110 00 129]<CR>");
    let mut f = f;
    f.seq = "0009".into();
    let mut out = Vec::new();
    duh(&f, &mut out).unwrap();
    assert_eq!(
        escape(&out),
        "<LF>BF000020\"DUH\"0009R579BDFL789ABC#12345A[]<CR>"
    );
    out.clear();
    nak(ts("_12:00:05,06-01-2024"), &mut out).unwrap();
    assert_eq!(
        escape(&out),
        "<LF>DED30025\"NAK\"0000R0L0A0[]_12:00:05,06-01-2024<CR>"
    );
}

fn cmd(seq: u16, section: u8, c: &Command, t: &str) -> String {
    let mut out = Vec::new();
    hb_command(
        "861234567890",
        Some(0x123),
        seq,
        section,
        c,
        ts(t),
        &mut out,
    )
    .unwrap();
    escape(&out)
}

#[test]
fn disarm_carries_the_password_in_binary_length_xdata() {
    assert_eq!(
        cmd(3, 0, &Command::Disarm { password: "123456".into() }, "_08:31:00,06-01-2024"),
        "<LF>A95B005B\"HENG-BO\"0003R123ABCL456DEF#861234567890[#000123|1400 00 000][<00><06>123456]_08:31:00,06-01-2024<CR>"
    );
}

#[test]
fn arm_section_query_type_and_passthrough_match_the_document() {
    assert_eq!(
        cmd(4, 2, &Command::ArmAway, "_08:32:00,06-01-2024"),
        "<LF>7E430051\"HENG-BO\"0004R123ABCL456DEF#861234567890[#000123|3400 02 000]_08:32:00,06-01-2024<CR>"
    );
    assert_eq!(
        cmd(7, 0, &Command::QueryType, "_08:35:00,06-01-2024"),
        "<LF>B7580051\"HENG-BO\"0007R123ABCL456DEF#861234567890[#000123|1798 00 000]_08:35:00,06-01-2024<CR>"
    );
    assert_eq!(
        cmd(12, 0, &Command::Passthrough(vec![0xEB, 0xAB, 0x3F, 0xA0, 0x75]), "_08:40:00,06-01-2024"),
        "<LF>0613005A\"HENG-BO\"0012R123ABCL456DEF#861234567890[#000123|1704 00 000][<00><05><EB><AB>?<A0>u]_08:40:00,06-01-2024<CR>"
    );
}

#[test]
fn other_commands_use_their_event_codes() {
    for (c, code) in [
        (Command::ArmStay, "3456"),
        (Command::Emergency, "1120"),
        (Command::EnterSetMode, "2704"),
        (Command::ExitSetMode, "3704"),
    ] {
        assert!(cmd(1, 0, &c, "_08:31:00,06-01-2024").contains(&format!("|{code} 00 000]")));
    }
}

#[test]
fn bad_command_arguments_are_refused() {
    let mut out = Vec::new();
    let t = ts("_08:31:00,06-01-2024");
    assert!(hb_command("861234567890", None, 1, 4, &Command::ArmAway, t, &mut out).is_err());
    assert!(hb_command(
        "861234567890",
        None,
        1,
        0,
        &Command::Disarm {
            password: "12ab56".into()
        },
        t,
        &mut out
    )
    .is_err());
    assert!(hb_command(
        "861234567890",
        None,
        1,
        0,
        &Command::Disarm {
            password: "12345".into()
        },
        t,
        &mut out
    )
    .is_err());
    assert!(hb_command("", None, 1, 0, &Command::ArmAway, t, &mut out).is_err());
    assert!(out.is_empty(), "nothing written on error");
    assert!(!format!(
        "{:?}",
        Command::Disarm {
            password: "123456".into()
        }
    )
    .contains("123456"));
}

#[test]
fn command_without_ademco_id_puts_the_account_in_the_data_block() {
    let mut out = Vec::new();
    hb_command(
        "0123456789",
        None,
        1,
        0,
        &Command::ArmAway,
        ts("_08:31:00,06-01-2024"),
        &mut out,
    )
    .unwrap();
    assert!(escape(&out).contains("[#0123456789|3400 00 000]"));
}

#[test]
fn dialect_follows_heng_bo_and_placeholder_tokens() {
    assert_eq!(detect_dialect(&frame(F16)), Dialect::Hb);
    assert_eq!(
        detect_dialect(&frame(
            "<LF>93B30031\"NULL\"0000R1234L6789#000000[]_17:24:14,12-09-2015<CR>"
        )),
        Dialect::Hb
    );
    assert_eq!(
        detect_dialect(&frame(
            "<LF>EA740027\"NULL\"0000L0#1409[]_20:38:07,08-27-2026<CR>"
        )),
        Dialect::Dc09
    );
}

#[test]
fn command_names_parse_back_to_the_commands_they_name() {
    for c in [
        Command::ArmAway,
        Command::ArmStay,
        Command::Disarm {
            password: String::new(),
        },
        Command::Emergency,
        Command::QueryType,
        Command::EnterSetMode,
        Command::ExitSetMode,
    ] {
        assert_eq!(Command::from_name(c.name()), Some(c.clone()), "{c:?}");
    }
    assert_eq!(Command::from_name("arm"), Some(Command::ArmAway));
    assert_eq!(Command::from_name("passthrough"), None, "needs its bytes");
    assert_eq!(Command::from_name("explode"), None);
}
