//! Issue #13, slow and greedy gRPC clients: streams are capped per server
//! (`grpc.max_streams`), per client address (`grpc.max_streams_per_source`) and per
//! connection (`grpc.max_streams_per_connection`), and each
//! stream holds at most `grpc.stream_buffer_bytes` of replies — a client that reads nothing
//! pins no more than that, and when it reads again it resumes without a gap (`WatchEvents`,
//! `Subscribe`, `WatchAlarms`); a connection without a call is closed after
//! `grpc.idle_timeout_secs`. The receiver
//! runs in-process (`common::Hub`); the clients call its own gRPC listener.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use alarmhub::events::Source;
use alarmhub::proto::v1 as pb;
use alarmhub::proto::v1::watch_alarms_reply::Item;
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
async fn one_client_address_gets_at_most_max_streams_per_source_and_others_still_get_in() {
    let hub = Hub::with(api::setup().grpc("max_streams_per_source = 2")).await;
    let mut c = hub.client().await;
    let mut a = watch(&mut c, -1, "").await;
    replay(&mut a).await;
    let b = subscribe(&mut c, "g", "", 0).await.unwrap();
    let req = pb::WatchEventsRequest {
        from_seq: -1,
        account: String::new(),
    };
    let refused = within(c.watch_events(req.clone())).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(
        refused.message().contains("grpc.max_streams_per_source")
            && refused.message().contains("127.0.0.1"),
        "{}",
        refused.message()
    );
    let refused = within(c.watch_alarms(pb::WatchAlarmsRequest { from_seq: -1 }))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    // Another address is not held back by the first one's streams.
    let ch = tonic::transport::Endpoint::from_shared(format!("http://{}", hub.bound.grpc))
        .unwrap()
        .local_address(Some([127, 0, 0, 2].into()))
        .connect()
        .await
        .unwrap();
    let mut other = pb::alarm_hub_client::AlarmHubClient::new(ch);
    let mut o = watch(&mut other, -1, "").await;
    replay(&mut o).await;
    let seq = hub.append("A", Source::Panel, 1130, 1, 1_000).await;
    assert_eq!(api::next_event(&mut o).await.seq, seq);
    assert_eq!(api::next_event(&mut a).await.seq, seq);
    // A place comes back when one of the address's streams ends.
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
    let limited = metric_with(
        &hub,
        "alarmhub_grpc_streams_limited_total",
        "max_streams_per_source",
    )
    .await;
    assert!(limited >= 2.0, "{limited} refusals counted");
    drop((a, o));
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

/// A counter or gauge from the in-process daemon's `/metrics`.
async fn metric(hub: &Hub, name: &'static str) -> f64 {
    metric_with(hub, name, "").await
}

/// Like [`metric`], the label sets containing `labels` only.
async fn metric_with(hub: &Hub, name: &'static str, labels: &'static str) -> f64 {
    let addr = hub.bound.http;
    let (status, body) = tokio::task::spawn_blocking(move || common::http(addr, "GET", "/metrics"))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    body.lines()
        .filter(|l| l.starts_with(name) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn a_watch_alarms_client_that_reads_nothing_holds_at_most_its_byte_budget_then_resumes() {
    let hub = Hub::with(api::setup().grpc("stream_buffer_bytes = 4096\nmax_streams = 1")).await;
    // A client that grants a 1 KiB stream window and does not read.
    let ch = tonic::transport::Endpoint::from_shared(format!("http://{}", hub.bound.grpc))
        .unwrap()
        .initial_stream_window_size(1024)
        .connect()
        .await
        .unwrap();
    let mut slow = pb::alarm_hub_client::AlarmHubClient::new(ch);
    let mut w = within(slow.watch_alarms(pb::WatchAlarmsRequest { from_seq: 0 }))
        .await
        .unwrap()
        .into_inner();
    // WatchAlarms counts under grpc.max_streams like the other streams.
    let mut c = hub.client().await;
    let refused = within(c.watch_alarms(pb::WatchAlarmsRequest { from_seq: -1 }))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(
        refused.message().contains("WatchAlarms") && refused.message().contains("grpc.max_streams"),
        "{}",
        refused.message()
    );
    // 400 alarms opened (an OFFLINE each): far more than 4 KiB + the window of changes.
    let now = alarmhub::clock::now_ms();
    for i in 0..400 {
        hub.append(&format!("S{i:03}"), Source::Receiver, 1944, 0, now + i)
            .await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let queued = metric(&hub, "alarmhub_grpc_stream_queued_bytes").await;
    assert!(
        queued > 0.0 && queued <= 4096.0,
        "{queued} bytes queued for the stream"
    );
    // Reading again, it gets every change once, in order, without a gap.
    let mut seqs = Vec::new();
    while seqs.len() < 400 {
        match within(w.message()).await.unwrap().unwrap().item.unwrap() {
            Item::Change(ch) => {
                assert_eq!(ch.kind, "opened");
                seqs.push(ch.seq);
            }
            Item::Live(_) => {}
        }
    }
    let first = seqs[0];
    assert_eq!(seqs, (first..first + 400).collect::<Vec<i64>>());
    hub.stop().await;
}

#[tokio::test]
async fn a_grpc_connection_without_a_call_is_closed_after_the_idle_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let hub = Hub::with(api::setup().grpc("idle_timeout_secs = 1")).await;
    // A raw connection that says the HTTP/2 preface and empty settings, then nothing.
    let mut s = tokio::net::TcpStream::connect(hub.bound.grpc)
        .await
        .unwrap();
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let t0 = std::time::Instant::now();
    within(async {
        let mut buf = [0u8; 1024];
        while let Ok(n) = s.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(4),
        "closed after {took:?}"
    );
    assert!(metric(&hub, "alarmhub_grpc_idle_closed_total").await >= 1.0);
    // An open stream keeps its connection past the timeout: it still delivers.
    let mut c = hub.client().await;
    let mut w = watch(&mut c, -1, "").await;
    replay(&mut w).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let seq = hub.append("A", Source::Panel, 1130, 1, 1_000).await;
    assert_eq!(api::next_event(&mut w).await.seq, seq);
    hub.stop().await;
}
