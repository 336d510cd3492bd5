//! The read contract: `events_after` paging, queries by account, time and code, paging by
//! seq in both orders, account queries across many commits (and a reopen), and one large
//! call answered event by event.

use super::*;
use alarmhub::events::{Appended, NewEvent};
use alarmhub::store::EventQuery;

pub async fn events_after_pages_in_seq_order(b: &dyn Backend) {
    let s = Open::at(b, NOW).await;
    let events = (0..10).map(|i| event("1", 1130, NOW + i, None)).collect();
    s.append(events).await;
    let page = |after, limit| {
        let store = Arc::clone(&s.store);
        async move { seqs(&store.events_after(after, limit).await.unwrap()) }
    };
    assert_eq!(page(0, 3).await, vec![1, 2, 3]);
    assert_eq!(page(3, 3).await, vec![4, 5, 6]);
    assert_eq!(page(7, 0).await, vec![8, 9, 10]);
    assert_eq!(page(10, 5).await, Vec::<i64>::new());
    assert_eq!(page(99, 0).await, Vec::<i64>::new());
}

/// Six events: accounts A/B alternating, codes 1130/3400 alternating in pairs, 1 s apart;
/// zone 3 except the last (zone 0, the host itself).
async fn query_fixture(b: &dyn Backend) -> Open {
    let s = Open::at(b, NOW).await;
    let batch = (0..6)
        .map(|i| {
            let account = if i % 2 == 0 { "A" } else { "B" };
            let code = if i / 2 % 2 == 0 { 1130 } else { 3400 };
            let mut e = event(account, code, NOW + i * 1000, None);
            if i == 5 {
                e.zone = 0;
            }
            e
        })
        .collect();
    s.append(batch).await;
    s
}

pub async fn query_filters_by_account_time_range_and_code(b: &dyn Backend) {
    let s = query_fixture(b).await;
    assert_eq!(s.query(EventQuery::default()).await, vec![1, 2, 3, 4, 5, 6]);
    let account = EventQuery {
        account: Some("A".into()),
        ..Default::default()
    };
    assert_eq!(s.query(account).await, vec![1, 3, 5]);
    // from inclusive, to exclusive.
    let range = EventQuery {
        from_ms: Some(NOW + 1000),
        to_ms: Some(NOW + 4000),
        ..Default::default()
    };
    assert_eq!(s.query(range).await, vec![2, 3, 4]);
    let code = EventQuery {
        code: Some(3400),
        ..Default::default()
    };
    assert_eq!(s.query(code).await, vec![3, 4]);
    let combined = EventQuery {
        account: Some("B".into()),
        code: Some(1130),
        from_ms: Some(NOW),
        ..Default::default()
    };
    assert_eq!(s.query(combined).await, vec![2, 6]);
    // Zone 0 is a zone, not "every zone".
    let host = EventQuery {
        zone: Some(0),
        ..Default::default()
    };
    assert_eq!(s.query(host).await, vec![6]);
    let zone_of_b = EventQuery {
        account: Some("B".into()),
        zone: Some(3),
        ..Default::default()
    };
    assert_eq!(s.query(zone_of_b).await, vec![2, 4]);
    let nobody = EventQuery {
        account: Some("C".into()),
        ..Default::default()
    };
    assert_eq!(s.query(nobody).await, Vec::<i64>::new());
}

/// SIA-only events (code 0) are found by their two-letter code, with or without an account
/// (the account query has two arms; the filter is in both).
pub async fn query_filters_sia_only_events_by_their_sia_code(b: &dyn Backend) {
    let s = Open::at(b, NOW).await;
    let sia = |account: &str, code: &str, i: i64| {
        let mut e = event(account, 0, NOW + i, None);
        e.sia_code = Some(code.into());
        e
    };
    let batch = vec![
        sia("A", "BA", 0),
        sia("A", "FA", 1),
        event("A", 1130, NOW + 2, None),
        sia("B", "BA", 3),
    ];
    s.append(batch).await;
    let by = |account: Option<&str>, code: &str| EventQuery {
        account: account.map(Into::into),
        sia_code: Some(code.into()),
        ..Default::default()
    };
    assert_eq!(s.query(by(None, "BA")).await, vec![1, 4]);
    assert_eq!(s.query(by(Some("A"), "BA")).await, vec![1]);
    assert_eq!(s.query(by(None, "FA")).await, vec![2]);
    assert_eq!(s.query(by(None, "YK")).await, Vec::<i64>::new());
    let cid = EventQuery {
        code: Some(1130),
        ..Default::default()
    };
    assert_eq!(
        s.query(cid).await,
        vec![3],
        "SIA events have no Contact ID code"
    );
}

pub async fn query_pages_with_after_and_before_seq_in_both_orders(b: &dyn Backend) {
    let s = query_fixture(b).await;
    let page = |after_seq, limit| EventQuery {
        after_seq,
        limit,
        ..Default::default()
    };
    assert_eq!(s.query(page(None, 4)).await, vec![1, 2, 3, 4]);
    assert_eq!(s.query(page(Some(4), 4)).await, vec![5, 6]);
    assert_eq!(s.query(page(Some(6), 4)).await, Vec::<i64>::new());

    let newest = |before_seq| EventQuery {
        before_seq,
        limit: 2,
        newest_first: true,
        ..Default::default()
    };
    assert_eq!(s.query(newest(None)).await, vec![6, 5]);
    assert_eq!(s.query(newest(Some(5))).await, vec![4, 3]);
    assert_eq!(s.query(newest(Some(2))).await, vec![1]);

    let window = EventQuery {
        account: Some("A".into()),
        after_seq: Some(1),
        before_seq: Some(5),
        ..Default::default()
    };
    assert_eq!(s.query(window).await, vec![3]);
}

/// Accounts `A` and `B` alternate over `commits` commits of 4 events (A has the odd seqs).
async fn two_accounts(s: &Open, commits: i64) {
    for c in 0..commits {
        let batch = (0..2)
            .flat_map(|i| {
                let t = NOW + (c * 2 + i) * 1000;
                [event("A", 1130, t, None), event("B", 3400, t, None)]
            })
            .collect();
        s.append(batch).await;
    }
}

/// The edge cases of a per-account index that lags the newest commits (SQLite's does):
/// pages that straddle whatever the backend has indexed, in both orders, before and after
/// a reopen and more commits.
pub async fn account_queries_page_across_many_commits_in_both_orders_and_after_reopen(
    b: &dyn Backend,
) {
    let s = Open::at(b, NOW).await;
    two_accounts(&s, 3).await;
    let a = |q: EventQuery| EventQuery {
        account: Some("A".into()),
        ..q
    };
    let newest = |before_seq| EventQuery {
        before_seq,
        limit: 2,
        newest_first: true,
        ..Default::default()
    };
    let oldest = |after_seq| EventQuery {
        after_seq,
        limit: 2,
        ..Default::default()
    };
    assert_eq!(
        s.query(a(EventQuery::default())).await,
        vec![1, 3, 5, 7, 9, 11]
    );
    assert_eq!(s.query(a(newest(None))).await, vec![11, 9]);
    assert_eq!(s.query(a(newest(Some(9)))).await, vec![7, 5]);
    assert_eq!(s.query(a(newest(Some(5)))).await, vec![3, 1]);
    assert_eq!(s.query(a(oldest(Some(1)))).await, vec![3, 5]);
    assert_eq!(s.query(a(oldest(Some(9)))).await, vec![11]);
    let b_all = EventQuery {
        account: Some("B".into()),
        ..Default::default()
    };
    assert_eq!(s.query(b_all.clone()).await, vec![2, 4, 6, 8, 10, 12]);
    s.close().await;
    let s = Open::at(b, NOW).await;
    assert_eq!(
        s.query(a(EventQuery::default())).await,
        vec![1, 3, 5, 7, 9, 11]
    );
    two_accounts(&s, 1).await;
    assert_eq!(s.query(a(newest(None))).await, vec![15, 13]);
    assert_eq!(s.query(a(newest(Some(13)))).await, vec![11, 9]);
    assert_eq!(s.query(b_all).await, vec![2, 4, 6, 8, 10, 12, 14, 16]);
}

pub async fn a_large_batch_is_one_call_with_one_outcome_per_event(b: &dyn Backend) {
    let s = Open::at(b, NOW).await;
    let batch = |from: i64| -> Vec<NewEvent> {
        (0..10_000)
            .map(|i| {
                event(
                    &format!("P{}", i % 100),
                    1130,
                    NOW + from + i,
                    Some((from + i) as u64),
                )
            })
            .collect()
    };
    let out = s.append(batch(0)).await;
    assert_eq!(out.len(), 10_000);
    assert!(out
        .iter()
        .enumerate()
        .all(|(i, a)| *a == Appended::Stored(i as i64 + 1)));
    let again = s.append(batch(0)).await;
    assert!(again.iter().all(|a| matches!(a, Appended::Duplicate(_))));
    s.append(batch(10_000)).await;
    let q = EventQuery {
        account: Some("P7".into()),
        ..Default::default()
    };
    assert_eq!(s.store.query_events(&q).await.unwrap().len(), 200);
}
