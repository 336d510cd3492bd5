//! Issue #13, making attacks cheap for the receiver, against the real binary on loopback: a
//! connection (or UDP peer) that sends more invalid input than `panel.max_invalid_per_min` is
//! closed and its source goes into the penalty box (refused at accept, datagrams dropped on
//! arrival) for `penalty_secs`; new connections per source are rate limited at accept
//! (`connect_rate_per_source`). A well-behaved panel on another address is not touched, and
//! the attacker's address gets in again after its stay. Each rule is counted in `/metrics`.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, UdpSocket};
use std::time::Duration;

use common::frames::{bytes, cid_frame};
use common::{eventually, Daemon, Panel};
use panel_proto::escape::unescape;

const S: Duration = Duration::from_secs(5);
const F16: &str = "<LF>73D40051\"ADM-CID\"0002R123ABCL456DEF#861234567890[#000123|1130 00 005]_00:30:00,06-01-2024<CR>";
const ATTACKER: [u8; 4] = [127, 0, 0, 1];
const GOOD: [u8; 4] = [127, 0, 0, 2];

/// A counter or gauge from `/metrics` (the sum over label sets containing `labels`).
fn metric(d: &Daemon, name: &str, labels: &str) -> f64 {
    let (status, body) = d.http_get("/metrics");
    assert_eq!(status, 200, "{body}");
    body.lines()
        .filter(|l| l.starts_with(name) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Whether a panel from `source` gets its frame ACKed on a new connection.
fn acked_from(d: &Daemon, source: IpAddr) -> bool {
    let mut p = Panel::connect_from(d.panel, source);
    p.send(&unescape(F16).unwrap());
    p.recv(Duration::from_secs(2)).is_some()
}

#[test]
fn a_connection_over_its_invalid_budget_is_closed_and_its_source_refused_for_a_while() {
    let d = Daemon::start(
        "max_invalid_per_min = 20\npenalty_secs = 2\npenalty_max_secs = 8",
        "",
    );
    let mut good = Panel::connect_from(d.panel, GOOD.into());
    good.send(&unescape(F16).unwrap());
    assert!(good.recv(S).is_some(), "the good panel is ACKed");

    let mut bad = Panel::connect_from(d.panel, ATTACKER.into());
    bad.send(&b"\nX".repeat(500));
    assert!(bad.ended(S), "closed after its budget");
    let line = d.wait_log("penalty box", S).expect("one log line");
    assert!(line.contains("127.0.0.1"), "{line}");
    assert_eq!(
        metric(&d, "alarmhub_penalties_total", "transport=\"tcp\""),
        1.0
    );
    // In the box: a new connection from the source is closed at accept, before it says
    // anything; counted.
    let mut again = Panel::connect_from(d.panel, ATTACKER.into());
    assert!(again.ended(S), "refused at accept");
    assert!(
        metric(
            &d,
            "alarmhub_connections_refused_total",
            "reason=\"penalty\""
        ) >= 1.0
    );
    // The good panel's connection and new connections from its address carry on.
    good.send(&unescape(F16).unwrap());
    assert!(good.recv(S).is_some(), "the good panel is still ACKed");
    assert!(acked_from(&d, GOOD.into()));
    // After the stay the source gets in again.
    std::thread::sleep(Duration::from_millis(2200));
    assert!(acked_from(&d, ATTACKER.into()), "out of the box after 2 s");
    // A second offence within a day: twice as long (4 s).
    let mut bad = Panel::connect_from(d.panel, ATTACKER.into());
    bad.send(&b"\nX".repeat(500));
    assert!(bad.ended(S));
    assert!(eventually(S, || metric(
        &d,
        "alarmhub_penalties_total",
        "transport=\"tcp\""
    ) == 2.0));
    std::thread::sleep(Duration::from_millis(2500));
    let mut still = Panel::connect_from(d.panel, ATTACKER.into());
    assert!(still.ended(S), "still in the box after 2.5 s of 4");
}

#[test]
fn new_connections_per_source_are_rate_limited_at_accept() {
    let d = Daemon::start(
        "connect_rate_per_source = 2\nconnect_burst_per_source = 5",
        "",
    );
    let held: Vec<Panel> = (0..5)
        .map(|_| Panel::connect_from(d.panel, ATTACKER.into()))
        .collect();
    assert!(
        Panel::refused_from(d.panel, ATTACKER.into(), S),
        "beyond the burst: refused at accept, with a reset"
    );
    assert_eq!(
        metric(
            &d,
            "alarmhub_connections_refused_total",
            "reason=\"connect_rate\""
        ),
        1.0
    );
    assert!(acked_from(&d, GOOD.into()), "another source is not limited");
    // Two per second come back.
    std::thread::sleep(Duration::from_millis(700));
    assert!(acked_from(&d, ATTACKER.into()));
    drop(held);
}

#[test]
fn udp_garbage_is_dropped_on_arrival_and_a_flooding_peer_goes_into_the_penalty_box() {
    let d = Daemon::start(
        "max_invalid_per_min = 10\npenalty_secs = 2\npenalty_max_secs = 8",
        "",
    );
    let frame = unescape(F16).unwrap();
    let bad = UdpSocket::bind("127.0.0.1:0").unwrap();
    bad.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    for _ in 0..30 {
        bad.send_to(&[b'0'; 200], d.panel).unwrap();
    }
    // Eleven are over the budget of ten: the source goes into the box, and the rest are
    // dropped for that.
    let dropped = |reason: &str| {
        metric(
            &d,
            "alarmhub_udp_dropped_total",
            &format!("reason=\"{reason}\""),
        )
    };
    assert!(eventually(S, || dropped("garbage") + dropped("penalty") == 30.0));
    assert_eq!(dropped("garbage"), 11.0);
    assert_eq!(
        metric(&d, "alarmhub_penalties_total", "transport=\"udp\""),
        1.0
    );
    // A valid frame from the boxed source is dropped on arrival: no ACK.
    bad.send_to(&frame, d.panel).unwrap();
    let mut buf = [0u8; 512];
    assert!(bad.recv_from(&mut buf).is_err(), "no ACK while in the box");
    assert!(eventually(S, || dropped("penalty") == 20.0));
    // Another address is answered.
    let good = UdpSocket::bind("127.0.0.2:0").unwrap();
    good.set_read_timeout(Some(S)).unwrap();
    good.send_to(&frame, d.panel).unwrap();
    assert!(good.recv_from(&mut buf).is_ok(), "the good peer is ACKed");
    // After the stay the source is answered again.
    std::thread::sleep(Duration::from_millis(1500));
    bad.set_read_timeout(Some(S)).unwrap();
    bad.send_to(&frame, d.panel).unwrap();
    assert!(bad.recv_from(&mut buf).is_ok(), "out of the box");
}

/// 200 one-event frames of made-up accounts on one connection from the attacker's address,
/// under `limits`: the frames the rules refuse use up the invalid budget of 20, the
/// connection is closed and the source boxed; another address is not affected.
fn squat_is_closed_and_boxed(limits: &str) {
    let d = Daemon::start(
        &format!("{limits}\nmax_invalid_per_min = 20\npenalty_secs = 5"),
        "",
    );
    let mut all = Vec::new();
    for i in 0..200u32 {
        let account = format!("SQ{i:06}");
        all.extend(bytes(&cid_frame(
            panel_proto::Id::AdmCid,
            1,
            &account,
            Some("000123"),
            1602,
            0,
            0,
            None,
        )));
    }
    let mut squat = Panel::connect_from(d.panel, ATTACKER.into());
    squat.send(&all);
    assert!(squat.ended(S), "closed under {limits}");
    assert_eq!(
        metric(&d, "alarmhub_penalties_total", "transport=\"tcp\""),
        1.0
    );
    let mut again = Panel::connect_from(d.panel, ATTACKER.into());
    assert!(again.ended(S), "refused at accept");
    assert!(
        acked_from(&d, GOOD.into()),
        "another source is not affected"
    );
}

#[test]
fn a_connection_claiming_accounts_beyond_its_cap_is_closed_and_its_source_boxed() {
    squat_is_closed_and_boxed("max_accounts_per_connection = 5");
}

#[test]
fn a_connection_bringing_new_accounts_beyond_the_source_limit_is_closed_and_boxed() {
    squat_is_closed_and_boxed("max_new_accounts_per_source_per_min = 3");
}
