//! `ListEvents` of `alarmhub.v1.AlarmHub`, end to end: filters by account, time and code,
//! pages newest first and oldest first, and the arguments it refuses. The receiver runs
//! in-process (`common::Hub`); the client calls the daemon's own gRPC listener.
#![allow(clippy::unwrap_used)]

mod common;

use alarmhub::events::Source;
use alarmhub::proto::v1 as pb;
use common::api::{self, assert_invalid};
use common::{within, Hub};

#[tokio::test]
async fn events_are_listed_by_account_time_and_code_and_paged_both_ways() {
    let hub = Hub::with(api::setup()).await;
    for i in 1..=10i64 {
        let acct = if i % 2 == 0 { "B" } else { "A" };
        let code = if i % 3 == 0 { 1130 } else { 3400 };
        hub.append(acct, Source::Panel, code, 1, 1_000_000 + i * 1000)
            .await;
    }
    let mut c = hub.client().await;
    let req = |account: &str, from_ms, to_ms, code, page_size, token: &str, oldest_first| {
        pb::ListEventsRequest {
            account: account.into(),
            from_ms,
            to_ms,
            code,
            page_size,
            page_token: token.into(),
            oldest_first,
            zone: None,
            sia_code: String::new(),
        }
    };
    let seqs_of = |r: &pb::ListEventsReply| r.events.iter().map(|e| e.seq).collect::<Vec<_>>();

    let all = within(c.list_events(req("", 0, 0, 0, 0, "", false)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seqs_of(&all), (1..=10).rev().collect::<Vec<_>>());
    assert!(all.next_page_token.is_empty());
    let burglar = &all.events[1]; // seq 9
    assert_eq!(
        (
            burglar.seq,
            burglar.name.as_str(),
            burglar.event_class.as_str()
        ),
        (9, "BURGLAR", "alarm")
    );
    assert_eq!(
        (burglar.source.as_str(), burglar.detail_json.as_str()),
        ("panel", "{}")
    );

    for (r, want) in [
        (req("B", 0, 0, 0, 0, "", true), vec![2, 4, 6, 8, 10]),
        (req("", 0, 0, 1130, 0, "", true), vec![3, 6, 9]),
        (req("", 1_003_000, 1_006_000, 0, 0, "", true), vec![3, 4, 5]),
        (req("A", 1_003_000, 0, 1130, 0, "", false), vec![9, 3]),
    ] {
        let got = within(c.list_events(r.clone())).await.unwrap().into_inner();
        assert_eq!(seqs_of(&got), want, "{r:?}");
    }

    for oldest_first in [false, true] {
        let (mut token, mut pages) = (String::new(), Vec::new());
        loop {
            let r = within(c.list_events(req("", 0, 0, 0, 4, &token, oldest_first)))
                .await
                .unwrap()
                .into_inner();
            pages.push(seqs_of(&r));
            token = r.next_page_token;
            if token.is_empty() {
                break;
            }
        }
        let want: Vec<Vec<i64>> = if oldest_first {
            vec![vec![1, 2, 3, 4], vec![5, 6, 7, 8], vec![9, 10]]
        } else {
            vec![vec![10, 9, 8, 7], vec![6, 5, 4, 3], vec![2, 1]]
        };
        assert_eq!(pages, want);
    }

    assert_invalid(
        within(c.list_events(req("", 0, 0, 0, 0, "m:1", false))).await,
        "page_token",
    );
    assert_invalid(
        within(c.list_events(req("", 0, 0, 0, -1, "", false))).await,
        "page_size",
    );
    assert_invalid(
        within(c.list_events(req("", 0, 0, 12345, 0, "", false))).await,
        "code",
    );
    assert_invalid(
        within(c.list_events(req("", 50, 10, 0, 0, "", false))).await,
        "to_ms",
    );
    hub.stop().await;
}
