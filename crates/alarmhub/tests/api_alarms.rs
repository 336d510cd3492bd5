//! The alarm calls of `alarmhub.v1.AlarmHub` in-process (`common::Hub`, access control off):
//! bad arguments refused naming the field, and `WatchAlarms` replaying from a change seq and
//! then streaming live. The lifecycle, access control and audit run on the real binary in
//! `alarms.rs`.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use alarmhub::proto::v1 as pb;
use common::api::assert_invalid;
use common::{within, Hub, ACCT};
use tonic::Code;

#[tokio::test]
async fn bad_alarm_arguments_are_refused_naming_the_field() {
    let hub = Hub::with(common::api::setup()).await;
    let mut c = hub.client().await;
    let list = |state: &str, priority, token: &str| pb::ListAlarmsRequest {
        state: state.into(),
        priority,
        page_token: token.into(),
        ..Default::default()
    };
    assert_invalid(within(c.list_alarms(list("done", 0, ""))).await, "state");
    assert_invalid(within(c.list_alarms(list("", 10, ""))).await, "priority");
    assert_invalid(
        within(c.list_alarms(list("", 0, "e:5"))).await,
        "page_token",
    );
    let big = pb::ListAlarmsRequest {
        page_size: 5000,
        ..Default::default()
    };
    assert_invalid(within(c.list_alarms(big)).await, "page_size");
    assert_invalid(
        within(c.watch_alarms(pb::WatchAlarmsRequest { from_seq: -2 })).await,
        "from_seq",
    );
    let s = within(c.get_alarm(pb::GetAlarmRequest { id: 42 }))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::NotFound, "{s:?}");
    hub.append(
        ACCT,
        alarmhub::events::Source::Panel,
        1130,
        2,
        alarmhub::clock::now_ms(),
    )
    .await;
    let mut id = 0;
    for _ in 0..200 {
        let r = within(c.list_alarms(list("open", 0, "")))
            .await
            .unwrap()
            .into_inner();
        if let Some(a) = r.alarms.first() {
            id = a.id;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(id > 0);
    within(c.take_alarm(pb::TakeAlarmRequest { id, force: false }))
        .await
        .unwrap();
    let note = |text: String| pb::AddAlarmNoteRequest { id, text };
    assert_invalid(within(c.add_alarm_note(note("   ".into()))).await, "text");
    assert_invalid(
        within(c.add_alarm_note(note("x".repeat(2001)))).await,
        "text",
    );
    assert_invalid(
        within(c.add_alarm_note(note("a\u{7}b".into()))).await,
        "text",
    );
    let close = pb::CloseAlarmRequest {
        id,
        resolution: String::new(),
        ..Default::default()
    };
    assert_invalid(within(c.close_alarm(close)).await, "resolution");
    hub.stop().await;
}

#[tokio::test]
async fn watch_alarms_replays_from_a_change_seq_then_streams_live() {
    let hub = Hub::with(common::api::setup()).await;
    let mut c = hub.client().await;
    let mut live = within(c.watch_alarms(pb::WatchAlarmsRequest { from_seq: -1 }))
        .await
        .unwrap()
        .into_inner();
    let item = |r: Option<pb::WatchAlarmsReply>| r.and_then(|r| r.item);
    assert_eq!(
        item(within(live.message()).await.unwrap()),
        Some(pb::watch_alarms_reply::Item::Live(true))
    );
    let now = alarmhub::clock::now_ms();
    hub.append("W1", alarmhub::events::Source::Receiver, 1944, 0, now)
        .await; // OFFLINE
    let Some(pb::watch_alarms_reply::Item::Change(first)) =
        item(within(live.message()).await.unwrap())
    else {
        panic!("no change");
    };
    assert_eq!(
        (first.kind.as_str(), first.actor.as_str()),
        ("opened", "system")
    );
    let a = first.alarm.clone().unwrap();
    assert_eq!((a.category.as_str(), a.priority), ("offline", 5));
    hub.append("W1", alarmhub::events::Source::Receiver, 1946, 0, now + 1)
        .await; // ONLINE
    let Some(pb::watch_alarms_reply::Item::Change(second)) =
        item(within(live.message()).await.unwrap())
    else {
        panic!("no change");
    };
    assert_eq!(second.kind, "restored");
    assert!(second.seq > first.seq);
    // A second watcher resuming after the first change gets exactly the rest, then live.
    let mut again = within(c.watch_alarms(pb::WatchAlarmsRequest {
        from_seq: first.seq,
    }))
    .await
    .unwrap()
    .into_inner();
    let Some(pb::watch_alarms_reply::Item::Change(r)) =
        item(within(again.message()).await.unwrap())
    else {
        panic!("no replay");
    };
    assert_eq!(r.seq, second.seq);
    assert_eq!(
        item(within(again.message()).await.unwrap()),
        Some(pb::watch_alarms_reply::Item::Live(true))
    );
    hub.stop().await;
}
