//! Unit tests of [`super::GroupState`]: distribution, acks and the cursor, redelivery, and
//! when the store must be read.

use super::*;
use crate::events::{Detail, Facts, NewEvent, Source};

fn ev(seq: i64, account: &str) -> StoredEvent {
    StoredEvent {
        seq,
        event: NewEvent {
            account: account.into(),
            source: Source::Panel,
            code: 1130,
            sia_code: None,
            group: 0,
            zone: 1,
            received_at_ms: 0,
            panel_time: None,
            protocol: String::new(),
            frame_seq: String::new(),
            peer: String::new(),
            facts: Facts::default(),
            detail: Detail::empty(),
            dedup_key: None,
        },
    }
}

/// A group at cursor 0 that has read seqs 1..=n from the store (and found no more).
fn group_with(n: i64) -> GroupState {
    let mut g = GroupState::new(0, 0, None);
    assert_eq!(g.start_refill(), Some(0));
    g.refilled((1..=n).map(|s| ev(s, "A")).collect(), false);
    g
}

fn drain(g: &mut GroupState, now: Instant) -> Vec<(MemberId, i64, bool)> {
    std::iter::from_fn(|| g.next_delivery(now))
        .map(|d| (d.member, d.ev.seq, d.redelivery))
        .collect()
}

#[test]
fn members_take_turns_and_each_event_goes_to_exactly_one() {
    let mut g = group_with(6);
    g.attach(1, 100);
    g.attach(2, 100);
    let sent = drain(&mut g, Instant::now());
    let seqs: Vec<i64> = sent.iter().map(|d| d.1).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5, 6]);
    let to_1 = sent.iter().filter(|d| d.0 == 1).count();
    assert_eq!(to_1, 3, "{sent:?}");
}

#[test]
fn max_in_flight_limits_each_member_until_it_acks() {
    let mut g = group_with(5);
    g.attach(1, 2);
    let now = Instant::now();
    assert_eq!(drain(&mut g, now).len(), 2);
    assert_eq!(g.ack(1, &[1]), 1);
    assert_eq!(drain(&mut g, now), vec![(1, 3, false)]);
}

#[test]
fn the_cursor_advances_only_over_contiguous_acks() {
    let mut g = group_with(4);
    g.attach(1, 100);
    drain(&mut g, Instant::now());
    assert_eq!(g.acked_through(), 0);
    g.ack(1, &[2, 3]);
    assert_eq!(g.acked_through(), 0, "seq 1 still outstanding");
    g.ack(1, &[1]);
    assert_eq!(g.acked_through(), 3);
    g.ack(1, &[4, 99]);
    assert_eq!(g.acked_through(), 4);
}

#[test]
fn events_of_other_accounts_are_skipped_but_still_pass_the_cursor() {
    let mut g = GroupState::new(0, 0, Some("B".into()));
    g.start_refill();
    g.refilled(vec![ev(1, "A"), ev(2, "B"), ev(3, "A")], false);
    g.attach(1, 10);
    assert_eq!(drain(&mut g, Instant::now()), vec![(1, 2, false)]);
    g.ack(1, &[2]);
    assert_eq!(g.acked_through(), 3);
}

#[test]
fn a_detached_members_events_are_redelivered_to_another() {
    let mut g = group_with(2);
    g.attach(1, 100);
    let now = Instant::now();
    assert_eq!(drain(&mut g, now).len(), 2);
    g.attach(2, 100);
    assert_eq!(g.detach(1), 2);
    assert_eq!(drain(&mut g, now), vec![(2, 1, true), (2, 2, true)]);
}

#[test]
fn timed_out_events_go_to_a_different_member_when_there_is_one() {
    let mut g = group_with(1);
    g.attach(1, 100);
    g.attach(2, 100);
    let t0 = Instant::now();
    let first = drain(&mut g, t0);
    assert_eq!(first.len(), 1);
    let owner = first[0].0;
    assert_eq!(
        g.expire(t0 + Duration::from_secs(1), Duration::from_secs(30)),
        0
    );
    assert_eq!(
        g.expire(t0 + Duration::from_secs(30), Duration::from_secs(30)),
        1
    );
    let again = drain(&mut g, t0 + Duration::from_secs(30));
    assert_eq!(again.len(), 1);
    assert_ne!(again[0].0, owner);
    assert!(again[0].2, "marked as a redelivery");
    // The first member's late ack still settles it.
    assert_eq!(g.ack(owner, &[1]), 1);
    assert_eq!(g.acked_through(), 1);
}

#[test]
fn bus_events_are_taken_only_in_sequence_and_holes_send_the_group_to_the_store() {
    let mut g = group_with(2);
    g.offer(&Arc::new(ev(2, "A")));
    assert_eq!(g.pending_len(), 2, "already read");
    g.offer(&Arc::new(ev(3, "A")));
    assert_eq!(g.pending_len(), 3);
    assert_eq!(g.start_refill(), None, "nothing missed");
    g.offer(&Arc::new(ev(5, "A")));
    assert_eq!(g.pending_len(), 3, "seq 4 missing: not taken");
    assert_eq!(g.start_refill(), Some(3));
    // While the store is read, the bus is ignored (and read again afterwards).
    g.offer(&Arc::new(ev(6, "A")));
    g.refilled(vec![ev(4, "A"), ev(5, "A")], false);
    assert_eq!(g.start_refill(), Some(5));
    g.refilled(vec![ev(6, "A")], false);
    assert_eq!(g.start_refill(), None);
    g.offer(&Arc::new(ev(7, "A")));
    assert_eq!(g.pending_len(), 7);
}

#[test]
fn a_full_queue_stops_taking_from_the_bus_until_it_drains() {
    let mut g = GroupState::new(0, 0, None);
    g.start_refill();
    g.refilled(
        (1..=PENDING_MAX as i64).map(|s| ev(s, "A")).collect(),
        false,
    );
    let next = PENDING_MAX as i64 + 1;
    g.offer(&Arc::new(ev(next, "A")));
    assert_eq!(g.pending_len(), PENDING_MAX);
    assert_eq!(g.start_refill(), None, "still too full to read more");
    g.attach(1, PENDING_MAX);
    drain(&mut g, Instant::now());
    assert_eq!(g.start_refill(), Some(next - 1));
}

#[test]
fn events_handed_out_by_an_earlier_incarnation_are_redeliveries() {
    let mut g = GroupState::new(0, 1, None);
    g.start_refill();
    g.refilled(vec![ev(1, "A"), ev(2, "A")], false);
    g.attach(9, 10);
    assert_eq!(
        drain(&mut g, Instant::now()),
        vec![(9, 1, true), (9, 2, false)]
    );
}

#[test]
fn a_full_channel_stalls_the_member_and_requeues_the_event() {
    let mut g = group_with(2);
    g.attach(1, 10);
    let now = Instant::now();
    let d = g.next_delivery(now).unwrap();
    g.undeliverable(&d);
    assert!(g.next_delivery(now).is_none(), "member stalled");
    g.unstall();
    assert_eq!(drain(&mut g, now), vec![(1, 1, false), (1, 2, false)]);
}
