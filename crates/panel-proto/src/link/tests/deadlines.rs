//! First-frame timeout, supervision interval + grace, and closing.

use super::*;

fn tick(l: &mut Link, now: Now) -> Vec<String> {
    let mut out = Vec::new();
    l.tick(now, &mut out);
    shape(&out)
}

fn supervised(interval_ms: u64, grace_ms: u64) -> Accounts {
    Accounts::new().with(
        "1409",
        AccountPolicy {
            supervision_ms: interval_ms,
            supervision_grace_ms: grace_ms,
            ..AccountPolicy::default()
        },
    )
}

fn heartbeat() -> Vec<u8> {
    bytes(&null("1409", None, Some("0")))
}

#[test]
fn a_connection_without_a_valid_frame_is_closed_at_the_first_frame_timeout() {
    let mut l = link();
    assert_eq!(l.next_deadline(), Some(at(30_000).mono_ms));
    assert!(tick(&mut l, at(29_999)).is_empty());
    assert_eq!(
        tick(&mut l, at(30_000)),
        ["close: no valid frame before the first-frame timeout"]
    );
}

#[test]
fn undecodable_or_refused_frames_do_not_count_as_the_first_frame() {
    let mut acc = Accounts::new();
    acc.unknown = Admission::Refused;
    let mut l = link();
    let m1_bad_crc = "<LF>93B40031\"NULL\"0000R1234L6789#000000[]_17:24:14,12-09-2015<CR>";
    feed(&mut l, &text(m1_bad_crc), at(1), &acc);
    feed(&mut l, &heartbeat(), at(2), &acc);
    assert_eq!(
        tick(&mut l, at(30_000)),
        ["close: no valid frame before the first-frame timeout"]
    );
}

#[test]
fn supervision_counts_interval_plus_grace_from_when_the_frame_was_handled() {
    let acc = supervised(60_000, 30_000);
    let mut l = link();
    feed(&mut l, &heartbeat(), at(1_000), &acc);
    assert_eq!(l.next_deadline(), Some(at(91_000).mono_ms), "armed at read");
    l.handled(at(1_500));
    assert_eq!(
        l.next_deadline(),
        Some(at(91_500).mono_ms),
        "pushed to handled"
    );
    assert!(
        tick(&mut l, at(91_499)).is_empty(),
        "first-frame timeout is gone too"
    );
    assert_eq!(
        tick(&mut l, at(91_500)),
        ["close: supervision interval expired"]
    );
}

#[test]
fn every_handled_frame_pushes_supervision_back_and_handled_alone_does_not() {
    let acc = supervised(60_000, 30_000);
    let mut l = link();
    for t in (0..5).map(|i| i * 50_000) {
        feed(&mut l, &heartbeat(), at(t), &acc);
        l.handled(at(t));
        assert!(tick(&mut l, at(t + 49_999)).is_empty());
    }
    let last = 4 * 50_000;
    l.handled(at(last + 80_000));
    assert_eq!(l.next_deadline(), Some(at(last + 90_000).mono_ms));
}

#[test]
fn a_nak_ed_frame_is_no_sign_of_life() {
    let acc = Accounts::new().with(
        "1409",
        AccountPolicy {
            key: Some(crate::crypto::Key::from_bytes(&[7; 16]).unwrap()),
            ..AccountPolicy::default()
        },
    );
    let f = panel_frame(
        Id::Null,
        0,
        None,
        Some("0"),
        "1409",
        Data::Empty,
        Some(crate::timestamp::Timestamp::from_unix(UNIX0 - 3600)),
    );
    let mut enc = Vec::new();
    crate::build::encode_encrypted(
        &f,
        &crate::crypto::Key::from_bytes(&[7; 16]).unwrap(),
        &[b'p'; 16],
        &mut enc,
    )
    .unwrap();
    let mut l = link();
    let out = feed(&mut l, &enc, at(0), &acc);
    assert_eq!(shape(&out), ["nak"]);
    assert_eq!(
        l.next_deadline(),
        Some(at(30_000).mono_ms),
        "still the first-frame deadline"
    );
}

#[test]
fn close_takes_every_account_offline_and_fails_pending_commands() {
    let acc = Accounts::new();
    let mut l = link();
    feed(&mut l, &bytes(&hb_event(1, 1737, 0)), at(0), &acc);
    feed(&mut l, &bytes(&dc09_event("2222", 1, 1130, 1)), at(0), &acc);
    let mut out = Vec::new();
    l.command(super::commands::arm(HB, 5), at(0), &acc, &mut out);
    let mut out = Vec::new();
    l.close(CloseReason::ClosedByPeer, &mut out);
    assert_eq!(
        shape(&out),
        [
            "finished arm_away panel_offline",
            "offline 861234567890 record=true",
            "offline 2222 record=true"
        ]
    );
    let mut again = Vec::new();
    l.close(CloseReason::ClosedByPeer, &mut again);
    assert!(again.is_empty(), "close is idempotent");
    assert_eq!(l.next_deadline(), None);
    assert!(tick(&mut l, at(1_000_000)).is_empty());
}

#[test]
fn at_shutdown_no_offline_is_recorded() {
    let acc = Accounts::new();
    let mut l = link();
    feed(&mut l, &heartbeat(), at(0), &acc);
    let mut out = Vec::new();
    l.close(CloseReason::Shutdown, &mut out);
    assert_eq!(shape(&out), ["offline 1409 record=false"]);
}

#[test]
fn a_connect_on_demand_panel_closing_its_connection_records_no_offline() {
    let acc = Accounts::new().with(
        "2222",
        AccountPolicy {
            on_demand: true,
            ..AccountPolicy::default()
        },
    );
    let mut l = link();
    feed(&mut l, &bytes(&dc09_event("2222", 1, 1130, 1)), at(0), &acc);
    feed(&mut l, &bytes(&dc09_event("3333", 1, 1130, 1)), at(0), &acc);
    for reason in [CloseReason::ClosedByPeer, CloseReason::SupervisionExpired] {
        let mut l2 = link();
        feed(
            &mut l2,
            &bytes(&dc09_event("2222", 2, 1602, 0)),
            at(0),
            &acc,
        );
        let mut out = Vec::new();
        l2.close(reason, &mut out);
        assert_eq!(shape(&out), ["offline 2222 record=false"]);
    }
    let mut out = Vec::new();
    l.close(CloseReason::ClosedByPeer, &mut out);
    assert_eq!(
        shape(&out),
        ["offline 2222 record=false", "offline 3333 record=true"],
        "a permanently connected account on the same connection still goes offline"
    );
}
