//! The store contract, written once against `Arc<dyn Store>`: every backend must pass it.
//!
//! A backend provides a [`Backend`] (a fresh, empty database per test, which `open` opens —
//! again and again, for the reopen tests) and instantiates the suite in its own test file:
//!
//! ```ignore
//! #[macro_use]
//! #[path = "store/conformance.rs"]
//! mod conformance;
//! mod postgres_conformance {
//!     conformance_suite!(crate::postgres_backend);   // async fn() -> impl Backend
//! }
//! ```
//!
//! Time is a manual [`Clock`] handed to the store, so the dedup window is crossed by
//! setting the clock, not by waiting. Nothing here knows how a backend stores things;
//! backend internals are tested next to the backend.

use std::sync::{Arc, Mutex};

use alarmhub::clock::Clock;
use alarmhub::events::{
    Appended, ControlAction, ControlFacts, ControlOutcome, Detail, Facts, NewEvent, Source,
    StoredEvent,
};
use alarmhub::store::{EventQuery, OnCommit, Snapshot, Store, StoreError, StoreOptions};
use async_trait::async_trait;
use panel_proto::rules::Dialect;

/// "Now" for every test: events are received around it.
pub const NOW: i64 = 1_700_000_000_000;
/// The dedup window every test store uses.
pub const WINDOW: i64 = 300_000;

/// How the suite gets at one backend's database.
#[async_trait]
pub trait Backend: Send + Sync {
    /// Open the test's database (the same one on every call) with `opts`, feeding
    /// `on_commit`.
    async fn open(&self, opts: StoreOptions, on_commit: OnCommit) -> Arc<dyn Store>;
}

/// A store open on `backend`, the clock it reads, and what its `on_commit` saw.
pub struct Open {
    pub store: Arc<dyn Store>,
    pub clock: Clock,
    pub committed: Arc<Mutex<Vec<i64>>>,
}

impl Open {
    /// Open `backend` with its clock at `now`.
    pub async fn at(backend: &dyn Backend, now: i64) -> Open {
        let clock = Clock::manual(now);
        let committed: Arc<Mutex<Vec<i64>>> = Arc::default();
        let sink = Arc::clone(&committed);
        let opts = StoreOptions {
            dedup_window_ms: WINDOW,
            clock: clock.clone(),
            ..StoreOptions::default()
        };
        let on_commit: OnCommit = Box::new(move |evs: &[Arc<StoredEvent>]| {
            sink.lock().unwrap().extend(evs.iter().map(|e| e.seq));
        });
        Open {
            store: backend.open(opts, on_commit).await,
            clock,
            committed,
        }
    }

    /// Close the store (as at shutdown) so the database can be opened again.
    pub async fn close(self) {
        self.store.close().await.unwrap();
    }

    pub async fn append(&self, events: Vec<NewEvent>) -> Vec<Appended> {
        self.store.append(events).await.unwrap()
    }

    pub async fn all(&self) -> Vec<StoredEvent> {
        self.store.events_after(0, 0).await.unwrap()
    }

    pub async fn query(&self, q: EventQuery) -> Vec<i64> {
        seqs(&self.store.query_events(&q).await.unwrap())
    }
}

pub fn event(account: &str, code: u16, received_at_ms: i64, dedup_key: Option<u64>) -> NewEvent {
    NewEvent {
        account: account.into(),
        source: Source::Panel,
        code,
        sia_code: None,
        group: 1,
        zone: 3,
        received_at_ms,
        panel_time: None,
        protocol: "ADM-CID".into(),
        frame_seq: "0001".into(),
        peer: "127.0.0.1:40000".into(),
        facts: Facts::default(),
        detail: Detail::empty(),
        dedup_key,
    }
}

pub fn seqs(events: &[StoredEvent]) -> Vec<i64> {
    events.iter().map(|e| e.seq).collect()
}

/// One `#[tokio::test]` per contract, on the backend `$backend()` (an async fn returning a
/// [`Backend`] over a fresh database).
#[macro_export]
macro_rules! conformance_suite {
    ($backend:path) => {
        $crate::conformance_suite!(@tests $backend;
            appended_events_read_back_unchanged,
            an_empty_append_stores_nothing,
            seqs_strictly_increase_without_gaps_across_batches_and_reopen,
            concurrent_appends_get_distinct_gap_free_seqs,
            duplicate_within_one_batch_is_stored_once,
            duplicate_in_a_later_batch_within_the_window_returns_the_original_seq,
            same_key_after_the_window_is_stored_again,
            events_without_a_dedup_key_are_never_duplicates,
            dedup_survives_reopen,
            on_commit_sees_new_events_in_seq_order_before_the_caller_is_answered,
            events_after_pages_in_seq_order,
            query_filters_by_account_time_range_and_code,
            query_pages_with_after_and_before_seq_in_both_orders,
            account_queries_page_across_many_commits_in_both_orders_and_after_reopen,
            a_large_batch_is_one_call_with_one_outcome_per_event,
            snapshot_round_trips_and_a_new_one_replaces_it_whole,
            cursors_survive_reopen,
            check_writable_succeeds_on_a_healthy_store,
            a_closed_store_refuses_work,
        );
    };
    (@tests $backend:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let backend = $backend().await;
                $crate::conformance::$name(&backend).await;
            }
        )*
    };
}

pub async fn appended_events_read_back_unchanged(b: &dyn Backend) {
    let s = Open::at(b, NOW).await;
    assert_eq!(s.store.last_seq().await.unwrap(), 0);
    let mut rich = event("1234", 1130, NOW, Some(u64::MAX));
    rich.sia_code = Some("BA".into());
    rich.panel_time = Some(1_699_999_999);
    rich.source = Source::Ingest;
    rich.detail = serde_json::json!({"ademco_id": 42, "dialect": "dc09", "list": [1, 2]}).into();
    rich.facts = Facts {
        dialect: Some(Dialect::Dc09),
        ademco_id: Some(u32::MAX),
        signal_strength: Some(31),
        unknown_account: true,
        control: None,
    };
    let mut command = event("5678", 3400, NOW + 1, None);
    command.source = Source::Control;
    command.facts.control = Some(ControlFacts {
        action: ControlAction::ArmAway,
        outcome: ControlOutcome::TimedOut,
    });
    let batch = vec![rich, command, event("5678", 1400, NOW + 2, None)];

    let out = s.append(batch.clone()).await;

    assert_eq!(
        out,
        vec![
            Appended::Stored(1),
            Appended::Stored(2),
            Appended::Stored(3)
        ]
    );
    let back = s.all().await;
    assert_eq!(back.len(), 3);
    for (stored, original) in back.iter().zip(&batch) {
        assert_eq!(&stored.event, original);
    }
    assert_eq!(s.store.last_seq().await.unwrap(), 3);
}

pub async fn an_empty_append_stores_nothing(b: &dyn Backend) {
    let s = Open::at(b, NOW).await;
    assert_eq!(s.append(Vec::new()).await, Vec::new());
    assert_eq!(s.store.last_seq().await.unwrap(), 0);
}

pub async fn seqs_strictly_increase_without_gaps_across_batches_and_reopen(b: &dyn Backend) {
    let s = Open::at(b, NOW).await;
    for batch in 0..5 {
        let events = (0..7)
            .map(|i| event("1", 1130, NOW + batch * 10 + i, None))
            .collect();
        s.append(events).await;
    }
    s.close().await;
    let s = Open::at(b, NOW).await;
    s.append(vec![event("1", 1130, NOW, None)]).await;
    assert_eq!(seqs(&s.all().await), (1..=36).collect::<Vec<_>>());
    assert_eq!(s.store.last_seq().await.unwrap(), 36);
}

pub async fn concurrent_appends_get_distinct_gap_free_seqs(b: &dyn Backend) {
    let s = Open::at(b, NOW).await;
    let tasks: Vec<_> = (0..20)
        .map(|t| {
            let store = Arc::clone(&s.store);
            tokio::spawn(async move {
                let mut got = Vec::new();
                for i in 0..10 {
                    // Single events and pairs, as sessions send them.
                    let n = 1 + i % 2;
                    let events = vec![event(&format!("acct{t}"), 1130, NOW, None); n];
                    got.extend(store.append(events).await.unwrap());
                }
                got
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        for a in t.await.unwrap() {
            assert!(matches!(a, Appended::Stored(_)), "{a:?}");
            all.push(a.seq());
        }
    }
    all.sort_unstable();
    assert_eq!(all, (1..=300).collect::<Vec<_>>());
    assert_eq!(*s.committed.lock().unwrap(), (1..=300).collect::<Vec<_>>());
}

pub async fn duplicate_within_one_batch_is_stored_once(b: &dyn Backend) {
    let s = Open::at(b, NOW).await;
    let ev = event("1234", 1130, NOW, Some(7));
    let out = s
        .append(vec![ev.clone(), event("1234", 1131, NOW, Some(8)), ev])
        .await;
    assert_eq!(
        out,
        vec![
            Appended::Stored(1),
            Appended::Stored(2),
            Appended::Duplicate(1)
        ]
    );
    assert_eq!(s.all().await.len(), 2);
}

pub async fn duplicate_in_a_later_batch_within_the_window_returns_the_original_seq(
    b: &dyn Backend,
) {
    let s = Open::at(b, NOW).await;
    s.append(vec![event("1234", 1130, NOW, Some(7))]).await;
    let later = NOW + WINDOW - 1;
    s.clock.set_ms(later);
    let out = s.append(vec![event("1234", 1130, later, Some(7))]).await;
    assert_eq!(out, vec![Appended::Duplicate(1)]);
    assert_eq!(s.all().await.len(), 1);
}

pub async fn same_key_after_the_window_is_stored_again(b: &dyn Backend) {
    let s = Open::at(b, NOW).await;
    s.append(vec![event("1234", 1130, NOW, Some(7))]).await;
    let later = NOW + WINDOW;
    s.clock.set_ms(later);
    let out = s.append(vec![event("1234", 1130, later, Some(7))]).await;
    assert_eq!(out, vec![Appended::Stored(2)]);
    // And the new copy is now the one retransmissions match.
    s.clock.set_ms(later + 1);
    let out = s.append(vec![event("1234", 1130, later, Some(7))]).await;
    assert_eq!(out, vec![Appended::Duplicate(2)]);
}

pub async fn events_without_a_dedup_key_are_never_duplicates(b: &dyn Backend) {
    let s = Open::at(b, NOW).await;
    let ev = event("1234", 1946, NOW, None);
    let out = s.append(vec![ev.clone(), ev.clone()]).await;
    assert_eq!(out, vec![Appended::Stored(1), Appended::Stored(2)]);
    assert_eq!(s.append(vec![ev]).await, vec![Appended::Stored(3)]);
}

pub async fn dedup_survives_reopen(b: &dyn Backend) {
    let key = Some(0xdead_beef_0000_0001);
    let s = Open::at(b, NOW).await;
    s.append(vec![event("1234", 1130, NOW, key)]).await;
    s.close().await;
    let s = Open::at(b, NOW + 10).await;
    let out = s.append(vec![event("1234", 1130, NOW + 5, key)]).await;
    assert_eq!(out, vec![Appended::Duplicate(1)]);
}

pub async fn on_commit_sees_new_events_in_seq_order_before_the_caller_is_answered(b: &dyn Backend) {
    let s = Open::at(b, NOW).await;
    let tasks: Vec<_> = (0..20u64)
        .map(|i| {
            let (store, seen) = (Arc::clone(&s.store), Arc::clone(&s.committed));
            tokio::spawn(async move {
                // Every key sent twice: one copy stored, one duplicate.
                for _ in 0..2 {
                    let out = store
                        .append(vec![event("1", 1130, NOW, Some(i))])
                        .await
                        .unwrap();
                    let seq = out[0].seq();
                    assert!(
                        seen.lock().unwrap().contains(&seq),
                        "answered before on_commit"
                    );
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    // Duplicates are not published again.
    assert_eq!(*s.committed.lock().unwrap(), (1..=20).collect::<Vec<_>>());
}

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

/// Six events: accounts A/B alternating, codes 1130/3400 alternating in pairs, 1 s apart.
async fn query_fixture(b: &dyn Backend) -> Open {
    let s = Open::at(b, NOW).await;
    let batch = (0..6)
        .map(|i| {
            let account = if i % 2 == 0 { "A" } else { "B" };
            let code = if i / 2 % 2 == 0 { 1130 } else { 3400 };
            event(account, code, NOW + i * 1000, None)
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
    let nobody = EventQuery {
        account: Some("C".into()),
        ..Default::default()
    };
    assert_eq!(s.query(nobody).await, Vec::<i64>::new());
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

pub async fn snapshot_round_trips_and_a_new_one_replaces_it_whole(b: &dyn Backend) {
    let s = Open::at(b, NOW).await;
    assert_eq!(s.store.load_snapshot().await.unwrap(), None);
    let first = Snapshot {
        last_seq: 10,
        panels: vec![
            ("B".to_string(), r#"{"status":0}"#.to_string()),
            ("A".to_string(), r#"{"status":2}"#.to_string()),
        ],
    };
    s.store.save_snapshot(first.clone()).await.unwrap();
    let loaded = s.store.load_snapshot().await.unwrap().unwrap();
    assert_eq!(loaded.last_seq, 10);
    assert_eq!(
        loaded.panels,
        vec![first.panels[1].clone(), first.panels[0].clone()]
    );

    let second = Snapshot {
        last_seq: 20,
        panels: vec![("C".to_string(), "{}".to_string())],
    };
    s.store.save_snapshot(second.clone()).await.unwrap();
    s.close().await;
    let s = Open::at(b, NOW).await;
    assert_eq!(s.store.load_snapshot().await.unwrap(), Some(second));
}

pub async fn cursors_survive_reopen(b: &dyn Backend) {
    let s = Open::at(b, NOW).await;
    assert_eq!(s.store.cursor("app").await.unwrap(), None);
    s.store.set_cursor("app", 5).await.unwrap();
    s.store.set_cursor("app", 9).await.unwrap();
    s.store.set_cursor("console", 1).await.unwrap();
    assert_eq!(s.store.cursor("app").await.unwrap(), Some(9));
    s.close().await;
    let s = Open::at(b, NOW).await;
    assert_eq!(s.store.cursor("app").await.unwrap(), Some(9));
    assert_eq!(s.store.cursor("console").await.unwrap(), Some(1));
}

pub async fn check_writable_succeeds_on_a_healthy_store(b: &dyn Backend) {
    let s = Open::at(b, NOW).await;
    s.store.check_writable().await.unwrap();
    assert!(s.store.is_healthy(std::time::Duration::from_secs(5)));
    assert_eq!(s.store.queue_depth(), 0);
}

pub async fn a_closed_store_refuses_work(b: &dyn Backend) {
    let s = Open::at(b, NOW).await;
    s.append(vec![event("1", 1130, NOW, None)]).await;
    s.store.close().await.unwrap();
    let refused = s.store.append(vec![event("1", 1130, NOW, None)]).await;
    assert!(matches!(refused, Err(StoreError::Closed)), "{refused:?}");
    assert!(matches!(s.store.last_seq().await, Err(StoreError::Closed)));
    // Closing again is harmless; what was answered before is kept.
    s.store.close().await.unwrap();
    let s = Open::at(b, NOW).await;
    assert_eq!(seqs(&s.all().await), vec![1]);
}
