//! `alarmhub serve` end to end: the real binary on loopback port 0, raw protocol bytes
//! (protocol.md §4 frames), the real SQLite file.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::{eventually, Daemon, Panel};
use panel_proto::build::{contact_id, encode, encode_encrypted, panel_frame};
use panel_proto::crypto::{Key, KeyFormat};
use panel_proto::escape::{escape, unescape};
use panel_proto::timestamp::Timestamp;
use panel_proto::{Data, Id};

const S: Duration = Duration::from_secs(5);
const F16: &str = "<LF>73D40051\"ADM-CID\"0002R123ABCL456DEF#861234567890[#000123|1130 00 005]_00:30:00,06-01-2024<CR>";
const NULL_PYRONIX: &str = "<LF>EA740027\"NULL\"0000L0#1409[]_20:38:07,08-27-2026<CR>";

fn panel_events(d: &Daemon, account: &str) -> Vec<alarmhub::events::StoredEvent> {
    d.events()
        .into_iter()
        .filter(|e| e.event.account == account)
        .collect()
}

#[test]
fn hb_event_is_acked_with_same_seq_and_timestamp_after_it_is_stored() {
    let d = Daemon::start("", "");
    let mut p = d.connect();
    p.send_text(F16);
    let ack = p.recv(S).expect("ACK");
    assert_eq!(ack.id, Id::Ack);
    assert_eq!(ack.seq, "0002");
    assert_eq!(ack.receiver.as_deref(), Some("123ABC"));
    assert_eq!(ack.line.as_deref(), Some("456DEF"));
    assert_eq!(ack.account.as_deref(), Some("861234567890"));
    assert!(ack.timestamp.is_some(), "HB ACKs carry a timestamp");
    // ACKed ⇒ already committed: no waiting needed.
    let evs = panel_events(&d, "861234567890");
    let codes: Vec<u16> = evs.iter().map(|e| e.event.code).collect();
    assert_eq!(codes, vec![1946, 1130], "ONLINE then the burglary");
    assert_eq!(evs[1].event.zone, 5);
    assert_eq!(evs[1].event.frame_seq, "0002");
    assert_eq!(evs[1].event.detail.to_value()["ademco_id"], 0x123);
    assert_eq!(evs[1].event.facts.ademco_id, Some(0x123));
}

#[test]
fn dc09_ack_echoes_header_exactly_without_r_or_timestamp() {
    let d = Daemon::start("", "");
    let mut p = d.connect();
    p.send_text(NULL_PYRONIX);
    let raw = p.recv_raw(S);
    assert_eq!(escape(&raw), "<LF>59890012\"ACK\"0000L0#1409[]<CR>");
}

#[test]
fn unknown_id_gets_duh_and_bad_crc_gets_silence_and_the_session_goes_on() {
    let d = Daemon::start("", "");
    let mut p = d.connect();
    p.send_text("<LF>6C82003E\"FOO-BAR\"0013R123ABCL456DEF#861234567890[]_08:42:00,06-01-2024<CR>");
    let duh = p.recv(S).unwrap();
    assert_eq!((duh.id.clone(), duh.seq.as_str()), (Id::Duh, "0013"));
    // Bad CRC (M1): nothing comes back…
    p.send_text("<LF>93B40031\"NULL\"0000R1234L6789#000000[]_17:24:14,12-09-2015<CR>");
    assert!(p.recv(Duration::from_millis(500)).is_none());
    // …and the next good frame is answered on the same connection.
    p.send_text(F16);
    assert_eq!(p.recv(S).unwrap().seq, "0002");
}

#[test]
fn many_frames_per_read_split_frames_and_garbage_between_frames_are_all_handled() {
    let d = Daemon::start("", "");
    let mut p = d.connect();
    let mut all = Vec::new();
    for seq in 1..=5u16 {
        let f = panel_frame(
            Id::AdmCid,
            seq,
            Some("123ABC"),
            Some("456DEF"),
            "555000",
            Data::ContactId(contact_id(Some("000123"), 1130, 0, seq)),
            Some(Timestamp::from_unix(1_700_000_000)),
        );
        encode(&f, &mut all).unwrap();
        all.extend_from_slice(b"junk\r\r");
    }
    // Everything in one write, except the last frame which is split in two writes.
    let cut = all.len() - 20;
    p.send(&all[..cut]);
    std::thread::sleep(Duration::from_millis(100));
    p.send(&all[cut..]);
    let seqs: Vec<String> = (0..5).map(|_| p.recv(S).unwrap().seq.to_string()).collect();
    assert_eq!(seqs, ["0001", "0002", "0003", "0004", "0005"]);
    let zones: Vec<u16> = panel_events(&d, "555000")
        .iter()
        .filter(|e| e.event.code == 1130)
        .map(|e| e.event.zone)
        .collect();
    assert_eq!(zones, [1, 2, 3, 4, 5]);
}

#[test]
fn a_retransmission_is_acked_again_but_stored_once() {
    let d = Daemon::start("", "");
    let mut p = d.connect();
    for _ in 0..3 {
        p.send_text(F16);
        assert_eq!(p.recv(S).unwrap().seq, "0002");
    }
    // Even on a new connection (the panel reconnected).
    let mut q = d.connect();
    q.send_text(F16);
    assert_eq!(q.recv(S).unwrap().seq, "0002");
    let n = panel_events(&d, "861234567890")
        .iter()
        .filter(|e| e.event.code == 1130)
        .count();
    assert_eq!(n, 1);
}

#[test]
fn udp_frames_are_acked_to_the_sender() {
    let d = Daemon::start("", "");
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(S)).unwrap();
    s.send_to(&unescape(NULL_PYRONIX).unwrap(), d.panel)
        .unwrap();
    let mut buf = [0u8; 512];
    let (n, from) = s.recv_from(&mut buf).unwrap();
    assert_eq!(from, d.panel);
    assert_eq!(escape(&buf[..n]), "<LF>59890012\"ACK\"0000L0#1409[]<CR>");
    s.send_to(&unescape(F16).unwrap(), d.panel).unwrap();
    let (n, _) = s.recv_from(&mut buf).unwrap();
    assert!(escape(&buf[..n]).contains("\"ACK\"0002"));
    assert!(panel_events(&d, "861234567890")
        .iter()
        .any(|e| e.event.code == 1130));
}

fn encrypted_cid(key: &Key, at: i64) -> Vec<u8> {
    let f = panel_frame(
        Id::AdmCid,
        11,
        Some("579BDF"),
        Some("789ABC"),
        "12345A",
        Data::ContactId(contact_id(Some("12345A"), 1130, 1, 15)),
        Some(Timestamp::from_unix(at)),
    );
    let mut out = Vec::new();
    encode_encrypted(&f, key, &[b'x'; 16], &mut out).unwrap();
    out
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn encrypted_frames_get_an_encrypted_ack_in_the_window_and_a_nak_outside() {
    let accounts = "[[accounts]]\naccount = \"12345A\"\nkey = \"000102030405060708090A0B0C0D0E0F\"\nkey_format = \"hex\"\n";
    let d = Daemon::start("", accounts);
    let key = Key::parse("000102030405060708090A0B0C0D0E0F", KeyFormat::Hex).unwrap();
    let mut p = d.connect();
    p.send(&encrypted_cid(&key, now()));
    let mut ack = p.recv(S).unwrap();
    assert_eq!(ack.id, Id::Ack);
    assert!(ack.encrypted, "*ACK");
    panel_proto::parse::decrypt(&mut ack, &key).unwrap();
    let t = ack.timestamp.unwrap().to_unix().unwrap();
    assert!((t - now()).abs() < 5);
    // 100 s old: NAK in the spec form with the receiver's time.
    p.send(&encrypted_cid(&key, now() - 100));
    let nak = p.recv(S).unwrap();
    assert_eq!(nak.id, Id::Nak);
    assert_eq!(nak.account.as_deref(), Some("A0"));
    assert!((nak.timestamp.unwrap().to_unix().unwrap() - now()).abs() < 5);
    // Wrong key: silence.
    let wrong = Key::parse("00000000000000000000000000000000", KeyFormat::Hex).unwrap();
    p.send(&encrypted_cid(&wrong, now()));
    assert!(p.recv(Duration::from_millis(500)).is_none());
    assert_eq!(
        panel_events(&d, "12345A")
            .iter()
            .filter(|e| e.event.code == 1130)
            .count(),
        1
    );
}

#[test]
fn unknown_accounts_are_dropped_silently_under_the_drop_policy() {
    let d = Daemon::start(
        "unknown_accounts = \"drop\"",
        "[[accounts]]\naccount = \"1409\"\n",
    );
    let mut p = d.connect();
    p.send_text(F16);
    assert!(p.recv(Duration::from_millis(700)).is_none());
    p.send_text(NULL_PYRONIX);
    assert_eq!(
        p.recv(S).unwrap().id,
        Id::Ack,
        "the configured account is answered"
    );
    assert!(panel_events(&d, "861234567890").is_empty());
}

#[test]
fn flagged_unknown_accounts_are_stored_with_the_flag() {
    let d = Daemon::start("unknown_accounts = \"flag\"", "");
    let mut p = d.connect();
    p.send_text(F16);
    assert_eq!(p.recv(S).unwrap().id, Id::Ack);
    let e = panel_events(&d, "861234567890")
        .into_iter()
        .find(|e| e.event.code == 1130)
        .unwrap();
    assert_eq!(e.event.detail.to_value()["unknown_account"], true);
    assert!(e.event.facts.unknown_account);
}

#[test]
fn a_silent_client_is_disconnected_after_the_first_frame_timeout() {
    let d = Daemon::start("first_frame_timeout_secs = 1", "");
    let mut p = d.connect();
    let t0 = std::time::Instant::now();
    assert!(p.closed_within(Duration::from_secs(5)));
    assert!(t0.elapsed() >= Duration::from_millis(900));
}

#[test]
fn closing_the_connection_stores_offline() {
    let d = Daemon::start("", "");
    {
        let mut p = d.connect();
        p.send_text(F16);
        p.recv(S).unwrap();
    }
    assert!(eventually(S, || panel_events(&d, "861234567890")
        .iter()
        .any(|e| e.event.code == 1944)));
    let off = panel_events(&d, "861234567890")
        .into_iter()
        .find(|e| e.event.code == 1944)
        .unwrap();
    assert_eq!(
        off.event.detail.to_value()["reason"],
        "connection closed by panel"
    );
}

#[test]
fn oversized_and_garbage_input_never_stalls_other_panels() {
    let d = Daemon::start("max_frame_len = 256", "");
    let mut bad = d.connect();
    // An LF followed by a length that claims 64 KiB, then a flood of junk.
    bad.send(b"\n1234FFFF\"NULL\"");
    let junk = vec![b'A'; 200_000];
    let _ = std::io::Write::write_all(&mut bad.stream, &junk);
    // Another panel at another address (the flooding source itself may be in the penalty
    // box by now, which is the point of the box).
    let mut good = Panel::connect_from(d.panel, [127, 0, 0, 2].into());
    good.send_text(NULL_PYRONIX);
    assert_eq!(good.recv(S).unwrap().id, Id::Ack);
}

#[test]
fn sigterm_finishes_in_flight_work_and_exits_zero() {
    let mut d = Daemon::start("", "");
    let mut p = d.connect();
    p.send_text(F16);
    p.recv(S).unwrap();
    let dir = d.data_dir();
    assert_eq!(d.stop(), Some(0));
    let r = alarmhub::store::SqliteReader::open(&dir).unwrap();
    assert!(
        r.load_snapshot().unwrap().is_some(),
        "registry snapshot written at shutdown"
    );
}

#[test]
fn bad_config_is_refused_with_a_message_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[panel]\nlisn = \"1\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_alarmhub"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lisn"), "{err}");
}

#[test]
fn a_hengbo_host_that_has_not_said_its_type_is_asked_with_1798() {
    let d = Daemon::start("", "");
    let mut p = d.connect();
    p.send_text(F16);
    let mut got = Vec::new();
    while let Some(f) = p.recv_any(Duration::from_millis(800)) {
        got.push(f);
    }
    let ask = got
        .iter()
        .find(|f| f.id == Id::HengBo)
        .expect("a 1798 command");
    assert_eq!(ask.contact_id().unwrap().event_code(), 1798);
    assert!(got.iter().any(|f| f.id == Id::Ack && f.seq == "0002"));
}

#[test]
fn a_type_report_repeating_the_type_on_record_is_acked_but_not_stored_again() {
    use common::frames::{bytes, hb_event};
    const HOST: &str = "861234567890";
    let d = Daemon::start("", "");
    let report = |p: &mut Panel, seq: u16, code: u16| {
        p.send(&bytes(&hb_event(seq, HOST, code, 0, 0)));
        let ack = p.recv(S).expect("ACK");
        assert_eq!(
            (ack.id, ack.seq.as_str()),
            (Id::Ack, format!("{seq:04}").as_str())
        );
    };
    let mut p = d.connect();
    report(&mut p, 1, 1737); // wired host (type 6): news, stored
    report(&mut p, 2, 1737); // the same again on this connection
    drop(p);
    // Reconnect (as a host does, reporting its type again), once OFFLINE is in.
    let offline = |d: &Daemon| d.events().iter().any(|e| e.event.code == 1944);
    assert!(eventually(S, || offline(&d)), "OFFLINE stored");
    let mut p = d.connect();
    report(&mut p, 3, 1737); // unchanged: ACKed, not stored
    report(&mut p, 4, 1717); // a GPRS host now (type 4): stored
    report(&mut p, 5, 1737); // and back: stored
    let types: Vec<(String, u16)> = d
        .events()
        .iter()
        .filter(|e| panel_proto::codes::machine_type_from_event(e.event.code).is_some())
        .map(|e| (e.event.frame_seq.clone(), e.event.code))
        .collect();
    let want = [("0001", 1737), ("0004", 1717), ("0005", 1737)].map(|(s, c)| (s.to_string(), c));
    assert_eq!(types, want);
    let presence: Vec<u16> = d
        .events()
        .iter()
        .filter(|e| matches!(e.event.code, 1944 | 1946))
        .map(|e| e.event.code)
        .collect();
    assert_eq!(presence, [1946, 1944, 1946], "every presence change stored");
}

#[test]
fn connections_beyond_the_per_ip_cap_are_closed_at_once() {
    let d = Daemon::start("max_connections_per_ip = 2", "");
    let _a = d.connect();
    let _b = d.connect();
    assert!(
        Panel::refused(d.panel, S),
        "third connection from 127.0.0.1 refused"
    );
}

#[test]
fn a_flooding_panel_is_slowed_alone() {
    let d = Daemon::start("rate_limit_per_sec = 4\nrate_limit_burst = 2", "");
    let mut flood = d.connect();
    let mut all = Vec::new();
    for seq in 1..=8u16 {
        let f = panel_frame(
            Id::AdmCid,
            seq,
            None,
            Some("0"),
            "F100D",
            Data::ContactId(contact_id(Some("F100D"), 1130, 0, seq)),
            None,
        );
        encode(&f, &mut all).unwrap();
    }
    let t0 = std::time::Instant::now();
    flood.send(&all);
    // Meanwhile another panel is answered at once.
    let mut other = d.connect();
    let t1 = std::time::Instant::now();
    other.send_text(NULL_PYRONIX);
    assert_eq!(other.recv(S).unwrap().id, Id::Ack);
    assert!(
        t1.elapsed() < Duration::from_millis(500),
        "{:?}",
        t1.elapsed()
    );
    for _ in 0..8 {
        assert_eq!(flood.recv(S).unwrap().id, Id::Ack);
    }
    // 8 frames with a burst of 2 at 4/s: at least 1.5 s; nothing dropped.
    assert!(
        t0.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(
        panel_events(&d, "F100D")
            .iter()
            .filter(|e| e.event.code == 1130)
            .count(),
        8
    );
}
