//! `WatchEvents` of `alarmhub.v1.AlarmHub`, end to end: replay from a cursor, then live
//! panel events from the scripted Hengbo host, gap-free, per account. The receiver runs
//! in-process (`common::Hub`); the client calls the daemon's own gRPC listener.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use alarmhub::events::Source;
use alarmhub::proto::v1 as pb;
use common::api::{self, assert_invalid, next_event, replay, watch};
use common::{within, Hub, ACCT};

#[tokio::test]
async fn watch_replays_from_a_cursor_then_streams_panel_events_live_without_gaps() {
    let hub = Hub::with(api::setup()).await;
    for i in 0..3 {
        hub.append(
            if i == 1 { "B" } else { "A" },
            Source::Panel,
            3400,
            0,
            1_000,
        )
        .await;
    }
    let mut c = hub.client().await;
    let mut from_start = watch(&mut c, 0, "").await;
    assert_eq!(replay(&mut from_start).await, vec![1, 2, 3]);
    let mut from_two = watch(&mut c, 2, "").await;
    assert_eq!(replay(&mut from_two).await, vec![3]);
    let mut live_only = watch(&mut c, -1, "").await;
    assert_eq!(replay(&mut live_only).await, Vec::<i64>::new());
    let mut only_b = watch(&mut c, 0, "B").await;
    assert_eq!(replay(&mut only_b).await, vec![2]);
    let mut ahead = watch(&mut c, 1_000, "").await; // cursor beyond the store: just live
    assert_eq!(replay(&mut ahead).await, Vec::<i64>::new());

    // A real panel event reaches every watcher, after whatever the receiver stored first
    // (ONLINE), with consecutive seqs.
    let mut host = hub.host().await;
    let t0 = std::time::Instant::now();
    host.report(1130, 7).await;
    for w in [&mut from_start, &mut from_two, &mut live_only, &mut ahead] {
        let mut expect = 4;
        loop {
            let e = next_event(w).await;
            assert_eq!(e.seq, expect, "gap-free");
            expect += 1;
            if e.code == 1130 {
                assert_eq!(
                    (
                        e.account.as_str(),
                        e.zone,
                        e.source.as_str(),
                        e.name.as_str()
                    ),
                    (ACCT, 7, "panel", "BURGLAR")
                );
                break;
            }
        }
    }
    assert!(t0.elapsed() < Duration::from_secs(2));
    hub.append("B", Source::Panel, 1400, 0, 2_000).await;
    loop {
        let e = next_event(&mut only_b).await;
        assert_eq!(e.account, "B", "filtered");
        if e.code == 1400 {
            break;
        }
    }
    assert_invalid(
        within(c.watch_events(pb::WatchEventsRequest {
            from_seq: -2,
            account: String::new(),
        }))
        .await,
        "from_seq",
    );
    hub.stop().await;
}
