//! Heartbeats while the store lags (issue #14, cluster-100k), against the real binary on
//! loopback with its writer stalled (`/debug/stall-writer`): a heartbeat that arrives on a
//! connection while an earlier event's store is in flight is ACKed at once — it needs no
//! store — while the event's ACK still waits for its commit.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::frames::{bytes, cid_frame, hb_event};
use common::{Daemon, Panel};
use panel_proto::{Data, Id};

/// The writer stall: long enough that an answer within [`PROMPT`] cannot have waited for it.
const STALL_SECS: u64 = 8;
/// What "at once" means here (a loaded CI machine included).
const PROMPT: Duration = Duration::from_secs(3);

/// A heartbeat (NULL, seq 0000) from `account`.
fn null(account: &str) -> Vec<u8> {
    let mut f = cid_frame(Id::Null, 0, account, None, 0, 0, 0, None);
    f.data = Data::Empty;
    bytes(&f)
}

#[test]
fn a_heartbeat_behind_an_event_waiting_for_the_store_is_acked_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let d = Daemon::with_hooks(tmp.path(), "");
    let account = "700001";
    let mut p = Panel::connect(d.panel);
    // Online (and the ONLINE event stored) before the stall.
    p.send(&null(account));
    let first = p
        .recv(Duration::from_secs(5))
        .expect("first heartbeat ACKed");
    assert_eq!(
        (first.id.clone(), first.seq.to_string()),
        (Id::Ack, "0000".into())
    );

    let stalled_at = d.stall_writer(STALL_SECS);
    // The event's store is in flight (the writer is stalled) …
    p.send(&bytes(&hb_event(1, account, 1130, 0, 5)));
    std::thread::sleep(Duration::from_millis(200));
    // … and the panel's next heartbeat comes in behind it.
    p.send(&null(account));
    let hb_ack = p.recv(PROMPT);
    let waited = stalled_at.elapsed();
    let hb_ack = hb_ack.unwrap_or_else(|| {
        panic!("no ACK for the heartbeat within {PROMPT:?}: it waited for the event's store")
    });
    assert_eq!(
        (hb_ack.id.clone(), hb_ack.seq.to_string()),
        (Id::Ack, "0000".into()),
        "the first answer is the heartbeat's, not the event's (the event is not stored yet)"
    );
    assert!(waited < Duration::from_secs(STALL_SECS), "{waited:?}");

    // The event is ACKed only once the store is back.
    let ev_ack = p
        .recv(Duration::from_secs(STALL_SECS + 10))
        .expect("the event is ACKed after the stall");
    let at = stalled_at.elapsed();
    assert_eq!(
        (ev_ack.id, ev_ack.seq.to_string()),
        (Id::Ack, "0001".into())
    );
    assert!(
        at >= Duration::from_secs(STALL_SECS - 1),
        "the event was ACKed after {at:?}, before the stalled store could commit it"
    );
    let stored = d
        .events()
        .iter()
        .filter(|e| e.event.account == account && e.event.code == 1130)
        .count();
    assert_eq!(stored, 1);
}

#[test]
fn heartbeats_keep_being_acked_while_an_event_waits_and_the_event_still_follows() {
    // Three heartbeats in a row come in while the event waits: each is answered at once.
    let tmp = tempfile::tempdir().unwrap();
    let d = Daemon::with_hooks(tmp.path(), "");
    let mut a = Panel::connect(d.panel);
    a.send(&null("700002"));
    assert!(a.recv(Duration::from_secs(5)).is_some());
    let stalled_at = d.stall_writer(STALL_SECS);
    a.send(&bytes(&hb_event(7, "700002", 1130, 0, 5)));
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(300));
        a.send(&null("700002"));
        let f = a
            .recv(PROMPT)
            .expect("heartbeat ACKed while the event waits");
        assert_eq!(f.seq.to_string(), "0000");
    }
    assert!(stalled_at.elapsed() < Duration::from_secs(STALL_SECS));
    let f = a
        .recv(Duration::from_secs(STALL_SECS + 10))
        .expect("event ACKed after the stall");
    assert_eq!(f.seq.to_string(), "0007");
    assert!(stalled_at.elapsed() >= Duration::from_secs(STALL_SECS - 1));
}

#[test]
fn a_heartbeat_behind_a_retransmission_of_an_event_still_being_stored_is_acked_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let d = Daemon::with_hooks(tmp.path(), "");
    let account = "700003";
    let mut p = Panel::connect(d.panel);
    p.send(&null(account));
    assert!(p.recv(Duration::from_secs(5)).is_some());
    let stalled_at = d.stall_writer(STALL_SECS);
    let event = bytes(&hb_event(4, account, 1130, 0, 5));
    p.send(&event);
    std::thread::sleep(Duration::from_millis(200));
    // The panel saw no ACK and sends the event again (same seq), then a heartbeat: the copy
    // waits behind the first one's store, the heartbeat does not.
    p.send(&event);
    std::thread::sleep(Duration::from_millis(200));
    p.send(&null(account));
    let f = p
        .recv(PROMPT)
        .expect("heartbeat ACKed behind the retransmission");
    assert_eq!(f.seq.to_string(), "0000");
    assert!(stalled_at.elapsed() < Duration::from_secs(STALL_SECS));
    for _ in 0..2 {
        let f = p
            .recv(Duration::from_secs(STALL_SECS + 10))
            .expect("both copies ACKed after the stall");
        assert_eq!(f.seq.to_string(), "0004");
        assert!(stalled_at.elapsed() >= Duration::from_secs(STALL_SECS - 1));
    }
    let stored = d
        .events()
        .iter()
        .filter(|e| e.event.account == account && e.event.code == 1130)
        .count();
    assert_eq!(stored, 1, "the retransmission is not stored twice");
}
