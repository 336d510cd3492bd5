//! The link rules under passed-in time.

use super::*;

const T: LinkTiming = LinkTiming {
    ack_timeout: Duration::from_secs(4),
    heartbeat: Duration::from_secs(30),
    max_resends: 4,
};

fn msg(n: u8) -> Bytes {
    Bytes::from(vec![b'5', n, 0x14])
}

fn hb() -> Action {
    Action::Send(Bytes::from_static(HEARTBEAT))
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn an_acked_event_frees_the_link() {
    let t0 = Instant::now();
    let mut l = Link::new(T, t0);
    assert!(l.ready());
    assert_eq!(l.send_event(t0, 1, msg(1)), vec![Action::Send(msg(1))]);
    assert!(!l.ready());
    assert_eq!(l.send_event(t0, 2, msg(2)), vec![]);
    assert_eq!(l.on_byte(t0 + secs(1), ACK), vec![Action::Acked(1)]);
    assert!(l.ready());
    // A stray ACK changes nothing.
    assert_eq!(l.on_byte(t0 + secs(1), ACK), vec![]);
}

#[test]
fn no_answer_resends_four_times_then_fails() {
    let t0 = Instant::now();
    let mut l = Link::new(T, t0);
    l.send_event(t0, 1, msg(1));
    assert_eq!(l.poll(t0 + secs(3)), vec![]);
    for i in 1..=4 {
        assert_eq!(l.deadline(), t0 + secs(4 * i));
        assert_eq!(l.poll(t0 + secs(4 * i)), vec![Action::Send(msg(1))], "{i}");
    }
    assert_eq!(l.poll(t0 + secs(20)), vec![Action::Failed]);
    assert!(l.is_failed() && !l.ready());
}

#[test]
fn nak_resends_at_once_and_counts_against_the_budget() {
    let t0 = Instant::now();
    let mut l = Link::new(T, t0);
    l.send_event(t0, 1, msg(1));
    for _ in 0..4 {
        assert_eq!(l.on_byte(t0, NAK), vec![Action::Send(msg(1))]);
    }
    assert_eq!(l.on_byte(t0, NAK), vec![Action::Failed]);
}

#[test]
fn a_failed_link_heartbeats_each_period_and_resumes_with_the_parked_event() {
    let t0 = Instant::now();
    let mut l = Link::new(T, t0);
    l.send_event(t0, 1, msg(1));
    for i in 1..=4 {
        l.poll(t0 + secs(4 * i));
    }
    assert_eq!(l.poll(t0 + secs(20)), vec![Action::Failed]);
    // Heartbeat one period after the last send (16 s), unanswered: no resend, no new verdict.
    assert_eq!(l.poll(t0 + secs(45)), vec![]);
    assert_eq!(l.poll(t0 + secs(46)), vec![hb()]);
    assert_eq!(l.poll(t0 + secs(50)), vec![]);
    assert_eq!(l.poll(t0 + secs(75)), vec![]);
    assert_eq!(l.poll(t0 + secs(76)), vec![hb()]);
    assert_eq!(
        l.on_byte(t0 + secs(77), ACK),
        vec![Action::Restored, Action::Send(msg(1))]
    );
    assert_eq!(l.on_byte(t0 + secs(78), ACK), vec![Action::Acked(1)]);
    assert!(l.ready());
}

#[test]
fn nak_on_a_failed_heartbeat_waits_for_the_next_period() {
    let t0 = Instant::now();
    let mut l = Link::new(T, t0);
    l.poll(t0 + secs(30));
    for i in 1..=4 {
        l.poll(t0 + secs(30 + 4 * i));
    }
    assert_eq!(l.poll(t0 + secs(50)), vec![Action::Failed]);
    assert_eq!(l.poll(t0 + secs(76)), vec![hb()]);
    assert_eq!(l.on_byte(t0 + secs(76), NAK), vec![]);
    assert_eq!(l.poll(t0 + secs(105)), vec![]);
    assert_eq!(l.poll(t0 + secs(106)), vec![hb()]);
    assert_eq!(l.on_byte(t0 + secs(106), ACK), vec![Action::Restored]);
    assert!(l.ready());
}

#[test]
fn idle_heartbeat_after_the_period_since_the_last_send() {
    let t0 = Instant::now();
    let mut l = Link::new(T, t0);
    assert_eq!(l.deadline(), t0 + secs(30));
    assert_eq!(l.poll(t0 + secs(29)), vec![]);
    assert_eq!(l.poll(t0 + secs(30)), vec![hb()]);
    assert_eq!(l.on_byte(t0 + secs(30), ACK), vec![]);
    // Traffic resets the idle timer.
    l.send_event(t0 + secs(50), 1, msg(1));
    l.on_byte(t0 + secs(50), ACK);
    assert_eq!(l.poll(t0 + secs(60)), vec![]);
    assert_eq!(l.deadline(), t0 + secs(80));
    assert_eq!(l.poll(t0 + secs(80)), vec![hb()]);
}

#[test]
fn an_unanswered_heartbeat_fails_the_link_like_a_message() {
    let t0 = Instant::now();
    let mut l = Link::new(T, t0);
    l.poll(t0 + secs(30));
    for i in 1..=4 {
        assert_eq!(l.poll(t0 + secs(30 + 4 * i)), vec![hb()]);
    }
    assert_eq!(l.poll(t0 + secs(50)), vec![Action::Failed]);
    // No event was outstanding, so none is parked: an ACKed heartbeat frees the link.
    l.poll(t0 + secs(76));
    assert_eq!(l.on_byte(t0 + secs(76), ACK), vec![Action::Restored]);
    assert!(l.ready());
}

#[test]
fn other_bytes_are_ignored() {
    let t0 = Instant::now();
    let mut l = Link::new(T, t0);
    l.send_event(t0, 1, msg(1));
    for b in [0u8, b'A', 0x14, 0xff] {
        assert_eq!(l.on_byte(t0, b), vec![]);
    }
    assert_eq!(l.on_byte(t0, ACK), vec![Action::Acked(1)]);
}
