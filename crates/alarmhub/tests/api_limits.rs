//! Issue #13, slow and greedy gRPC clients: streams are capped per server
//! (`grpc.max_streams`) and per connection (`grpc.max_streams_per_connection`), and each
//! stream holds at most `grpc.stream_buffer_bytes` of replies — a client that reads nothing
//! pins no more than that, and when it reads again it resumes without a gap. The receiver
//! runs in-process (`common::Hub`); the clients call its own gRPC listener.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use alarmhub::events::Source;
use common::api::{self, replay, seqs, subscribe, watch};
use common::{within, Hub};
use tonic::Code;

#[tokio::test]
async fn streams_beyond_grpc_max_streams_get_resource_exhausted_until_one_ends() {
    let hub = Hub::with(api::setup().grpc("max_streams = 2")).await;
    let mut c = hub.client().await;
    let mut a = watch(&mut c, -1, "").await;
    replay(&mut a).await;
    let b = subscribe(&mut c, "g", "", 0).await.unwrap();
    let req = alarmhub::proto::v1::WatchEventsRequest {
        from_seq: -1,
        account: String::new(),
    };
    let refused = within(c.watch_events(req.clone())).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(
        refused.message().contains("grpc.max_streams"),
        "{}",
        refused.message()
    );
    drop(b);
    let mut again = None;
    for _ in 0..100 {
        if let Ok(s) = within(c.watch_events(req.clone())).await {
            again = Some(s.into_inner());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    replay(&mut again.expect("a place once a stream ended")).await;
    drop(a);
    hub.stop().await;
}

#[tokio::test]
async fn one_connection_gets_at_most_max_streams_per_connection_at_once() {
    let hub = Hub::with(api::setup().grpc("max_streams_per_connection = 2")).await;
    let mut c = hub.client().await;
    let mut a = watch(&mut c, -1, "").await;
    let mut b = watch(&mut c, -1, "").await;
    replay(&mut a).await;
    replay(&mut b).await;
    let req = alarmhub::proto::v1::WatchEventsRequest {
        from_seq: -1,
        account: String::new(),
    };
    let mut c3 = c.clone();
    let third = tokio::spawn(async move { c3.watch_events(req).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!third.is_finished(), "a third stream waits for a free one");
    drop(a);
    let mut s = within(third).await.unwrap().unwrap().into_inner();
    replay(&mut s).await;
    drop(b);
    hub.stop().await;
}

#[tokio::test]
async fn a_watcher_that_reads_nothing_for_a_while_then_gets_everything_in_order() {
    let hub = Hub::with(api::setup().grpc("stream_buffer_bytes = 4096")).await;
    for i in 0..800 {
        hub.append("A", Source::Panel, 1130, (i % 100) as u16, 1_000)
            .await;
    }
    let mut c = hub.client().await;
    let mut w = watch(&mut c, 0, "").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 0..200 {
        hub.append("B", Source::Panel, 1130, (i % 100) as u16, 1_000)
            .await;
    }
    let mut got = replay(&mut w).await;
    while got.len() < 1000 {
        got.push(api::next_event(&mut w).await.seq);
    }
    assert_eq!(
        got,
        (1..=1000).collect::<Vec<i64>>(),
        "every event once, in order"
    );
    hub.stop().await;
}

#[tokio::test]
async fn a_member_with_a_huge_max_in_flight_still_gets_every_event_through_its_byte_budget() {
    let hub = Hub::with(api::setup().grpc("stream_buffer_bytes = 4096")).await;
    let mut c = hub.client().await;
    let mut m = subscribe(&mut c, "g", "", 10_000).await.unwrap();
    for i in 0..300 {
        hub.append("A", Source::Panel, 1130, (i % 100) as u16, 1_000)
            .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = m.take(300, true).await;
    let mut s = seqs(&got);
    s.sort_unstable();
    s.dedup();
    assert_eq!(s, (1..=300).collect::<Vec<i64>>());
    drop(m);
    hub.stop().await;
}
