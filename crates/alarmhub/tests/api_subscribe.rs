//! `Subscribe` (consumer groups) of `alarmhub.v1.AlarmHub`, end to end: a group is a work
//! queue, unacknowledged events come again, and group cursors (and watchers) resume after
//! a restart on the same data directory. The receiver runs in-process (`common::Hub`); the
//! client calls the daemon's own gRPC listener.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use alarmhub::events::Source;
use common::api::{self, assert_invalid, next_event, replay, seqs, subscribe, watch};
use common::Hub;
use tonic::Code;

#[tokio::test]
async fn watchers_and_group_cursors_resume_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::start_in(dir.path(), api::setup()).await;
    let mut c = hub.client().await;
    let mut m = subscribe(&mut c, "persist", "", 0).await.unwrap();
    for _ in 0..5 {
        hub.append("A", Source::Panel, 3400, 0, 1_000).await;
    }
    let got = m.take(5, false).await;
    assert_eq!(seqs(&got), vec![1, 2, 3, 4, 5]);
    m.ack(vec![1, 3, 2]).await; // 4 and 5 stay unacknowledged
                                // The cursor is written within the flush interval (200 ms).
    let reader = alarmhub::store::SqliteReader::open(hub.data_dir()).unwrap();
    let t0 = std::time::Instant::now();
    while reader.cursor("persist").unwrap() != Some(3) {
        assert!(t0.elapsed() < Duration::from_secs(5), "cursor not written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut w = watch(&mut c, 0, "").await;
    let seen = replay(&mut w).await;
    let last_seen = *seen.last().unwrap();
    drop((m, w, c));
    hub.stop().await;

    let hub = Hub::start_in(dir.path(), api::setup()).await;
    let mut c = hub.client().await;
    let mut w = watch(&mut c, last_seen, "").await;
    assert_eq!(replay(&mut w).await, Vec::<i64>::new(), "nothing new yet");
    let mut fresh = subscribe(&mut c, "fresh", "", 0).await.unwrap();
    let mut m = subscribe(&mut c, "persist", "", 0).await.unwrap();
    assert_eq!(
        seqs(&m.take(2, true).await),
        vec![4, 5],
        "resumed after the acked cursor"
    );
    let seq = hub.append("A", Source::Panel, 1400, 0, 2_000).await;
    assert_eq!(next_event(&mut w).await.seq, seq);
    assert_eq!(seqs(&m.take(1, true).await), vec![seq]);
    assert_eq!(
        seqs(&fresh.take(1, true).await),
        vec![seq],
        "a new group starts live"
    );
    drop((m, fresh, w, c));
    hub.stop().await;
}

#[tokio::test]
async fn a_group_is_a_work_queue_and_different_groups_each_get_everything() {
    let hub = Hub::with(api::setup()).await;
    let mut c = hub.client().await;
    let mut w1 = subscribe(&mut c, "work", "", 0).await.unwrap();
    let mut w2 = subscribe(&mut c, "work", "", 0).await.unwrap();
    let mut other = subscribe(&mut c, "audit", "", 0).await.unwrap();
    for _ in 0..20 {
        hub.append("A", Source::Panel, 3400, 0, 1_000).await;
    }
    let mut both = Vec::new();
    let (mut n1, mut n2) = (0, 0);
    while both.len() < 20 {
        tokio::select! {
            r = w1.next() => { both.push(r.event.unwrap().seq); n1 += 1; w1.ack(vec![*both.last().unwrap()]).await; }
            r = w2.next() => { both.push(r.event.unwrap().seq); n2 += 1; w2.ack(vec![*both.last().unwrap()]).await; }
        }
    }
    both.sort_unstable();
    assert_eq!(
        both,
        (1..=20).collect::<Vec<_>>(),
        "each event to exactly one member"
    );
    assert!(n1 > 0 && n2 > 0, "both members worked: {n1} / {n2}");
    assert_eq!(
        seqs(&other.take(20, true).await),
        (1..=20).collect::<Vec<_>>()
    );
    // Nothing more is delivered to the work group.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), w1.rx.message())
            .await
            .is_err()
    );

    let e = subscribe(&mut c, "work", "A", 0).await.err().unwrap();
    assert_eq!(
        e.code(),
        Code::FailedPrecondition,
        "a member must share the group's filter"
    );
    assert_invalid(subscribe(&mut c, "", "", 0).await.map(|_| ()), "group");
    assert_invalid(
        subscribe(&mut c, "g", "", -3).await.map(|_| ()),
        "max_in_flight",
    );
    drop((w1, w2, other, c));
    hub.stop().await;
}

#[tokio::test]
async fn unacknowledged_events_are_redelivered_after_a_disconnect_or_the_ack_timeout() {
    let hub = Hub::with(api::setup().grpc("ack_timeout_secs = 1")).await;
    let mut c = hub.client().await;
    let mut a = subscribe(&mut c, "redeliver", "", 0).await.unwrap();
    for _ in 0..3 {
        hub.append("A", Source::Panel, 3400, 0, 1_000).await;
    }
    assert_eq!(
        a.take(3, false).await,
        vec![(1, false), (2, false), (3, false)]
    );
    let mut b = subscribe(&mut c, "redeliver", "", 0).await.unwrap();
    drop(a); // gone without acking
    assert_eq!(b.take(3, true).await, vec![(1, true), (2, true), (3, true)]);

    // B holds seq 4 without acking: after the 1 s timeout it comes again.
    hub.append("A", Source::Panel, 3400, 0, 1_000).await;
    let t0 = std::time::Instant::now();
    assert_eq!(b.take(1, false).await, vec![(4, false)]);
    assert_eq!(b.take(1, true).await, vec![(4, true)]);
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );
    drop((b, c));
    hub.stop().await;
}
