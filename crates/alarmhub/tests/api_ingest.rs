//! `Ingest` of `alarmhub.v1.AlarmHub`, end to end: events stored once per idempotency key,
//! fanned out to watchers, listed, applied to the panel state; bad events refused with their
//! position. The receiver runs in-process (`common::Hub`); the client calls the daemon's own
//! gRPC listener.
#![allow(clippy::unwrap_used)]

mod common;

use alarmhub::proto::v1 as pb;
use common::api::{self, assert_invalid, next_event, replay, watch};
use common::{within, Hub};
use tonic::Code;

/// The accounts the ingesting system reports for (the API creates no machines).
const ACCOUNTS: &str = "[[accounts]]\naccount = \"I1\"\n[[accounts]]\naccount = \"I2\"\n\
                        [[accounts]]\naccount = \"I3\"\n";

#[tokio::test]
async fn ingested_events_are_stored_once_per_key_and_fanned_out_to_watchers() {
    let hub = Hub::with(api::setup().extra(ACCOUNTS)).await;
    let mut c = hub.client().await;
    let mut w = watch(&mut c, -1, "").await;
    assert_eq!(replay(&mut w).await, Vec::<i64>::new());
    let ev = |account: &str, code, sia: &str, key: &str, detail: &str| pb::IngestEvent {
        account: account.into(),
        code,
        sia_code: sia.into(),
        zone: 2,
        detail_json: detail.into(),
        idempotency_key: key.into(),
        ..Default::default()
    };
    let batch = vec![
        ev("I1", 1130, "", "k1", r#"{"from":"erp"}"#),
        ev("I1", 1130, "", "k1", ""), // retried: same key
        ev("I2", 0, "BA", "", ""),
        ev("I1", 3130, "", "k2", ""),
    ];
    let r = within(c.ingest(tokio_stream::iter(batch)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((r.accepted, r.duplicates, r.last_seq), (3, 1, 3));
    let mut got = Vec::new();
    for _ in 0..3 {
        let e = next_event(&mut w).await;
        assert_eq!(e.source, "ingest");
        assert!(e.peer.starts_with("grpc:"), "{}", e.peer);
        got.push((e.account, e.code, e.name));
    }
    got.sort();
    let want = [
        ("I1", 1130, "BURGLAR"),
        ("I1", 3130, "BURGLAR_RESTORE"),
        ("I2", 0, "BURGLARY_ALARM"),
    ];
    assert_eq!(got, want.map(|(a, c, n)| (a.to_string(), c, n.to_string())));
    let listed = within(c.list_events(pb::ListEventsRequest {
        account: "I1".into(),
        oldest_first: true,
        ..Default::default()
    }))
    .await
    .unwrap()
    .into_inner();
    let codes: Vec<i32> = listed.events.iter().map(|e| e.code).collect();
    assert_eq!(
        codes,
        vec![1130, 3130],
        "one account's events keep the stream order"
    );
    assert_eq!(listed.events[0].detail_json, r#"{"from":"erp"}"#);
    let m = within(c.get_machine(pb::GetMachineRequest {
        account: "I2".into(),
    }))
    .await
    .unwrap()
    .into_inner();
    assert_eq!(
        m.active_alarms.len(),
        1,
        "ingested alarms update the panel state"
    );

    for (bad, field) in [
        (ev("", 1130, "", "", ""), "account"),
        (ev("I1", 10_000, "", "", ""), "code"),
        (ev("I1", 1130, "", "", "[1]"), "detail_json"),
    ] {
        assert_invalid(within(c.ingest(tokio_stream::iter(vec![bad]))).await, field);
    }
    let e = within(c.ingest(tokio_stream::iter(vec![
        ev("I3", 1130, "", "", ""),
        ev("I3", -5, "", "", ""),
    ])))
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().contains("event 2") && e.message().contains("1 earlier events were stored"),
        "{}",
        e.message()
    );
    hub.stop().await;
}

/// Issue #13: an API call never creates a machine. An event for an account that is neither
/// configured nor known from its panel ends the stream with NOT_FOUND naming it; the events
/// before it are stored, nothing of the unknown account is, and no machine appears.
#[tokio::test]
async fn ingest_for_a_never_seen_account_is_refused_and_creates_no_machine() {
    let hub = Hub::with(api::setup().extra(ACCOUNTS)).await;
    let mut c = hub.client().await;
    let ev = |account: &str| pb::IngestEvent {
        account: account.into(),
        code: 1130,
        zone: 1,
        ..Default::default()
    };
    let e = within(c.ingest(tokio_stream::iter(vec![ev("I1"), ev("NEVER9"), ev("I2")])))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    assert!(
        e.message().contains("event 2")
            && e.message().contains("\"NEVER9\" is unknown")
            && e.message().contains("1 earlier events were stored"),
        "{}",
        e.message()
    );
    let m = within(c.get_machine(pb::GetMachineRequest {
        account: "NEVER9".into(),
    }))
    .await
    .unwrap_err();
    assert_eq!(m.code(), Code::NotFound, "no machine: {m:?}");
    let listed = within(c.list_machines(pb::ListMachinesRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(
        listed.machines.iter().all(|m| m.account != "NEVER9"),
        "{:?}",
        listed.machines
    );
    let events = within(c.list_events(pb::ListEventsRequest {
        account: "NEVER9".into(),
        ..Default::default()
    }))
    .await
    .unwrap()
    .into_inner();
    assert!(events.events.is_empty(), "{:?}", events.events);
    // A configured account is still taken, from a new stream.
    let ok = within(c.ingest(tokio_stream::iter(vec![ev("I3")])))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.accepted, 1);
    hub.stop().await;
}
