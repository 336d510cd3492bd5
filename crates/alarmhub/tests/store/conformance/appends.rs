//! The append contract: events read back unchanged (typed facts and detail included), seqs
//! strictly increasing and gap-free (also across a reopen and under concurrency), dedup in
//! one call, in a later call, after the window and across a reopen, and both commit hooks.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;
use alarmhub::events::{Appended, ControlAction, ControlFacts, ControlOutcome, Facts, Source};
use panel_proto::rules::Dialect;

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
    assert_eq!(s.store.events_after(30, 3).await.unwrap().len(), 3);
    assert_eq!(
        seqs(&s.store.events_after(33, 0).await.unwrap()),
        vec![34, 35, 36]
    );
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

/// 20 concurrent callers, each appending its own keyed event twice (one copy stored, one
/// duplicate); `answered` is called with the seq of each answer, on the caller's task.
async fn twenty_callers_append_twice(
    store: &Arc<dyn Store>,
    answered: impl Fn(i64) + Clone + Send + 'static,
) {
    let tasks: Vec<_> = (0..20u64)
        .map(|i| {
            let (store, answered) = (Arc::clone(store), answered.clone());
            tokio::spawn(async move {
                for _ in 0..2 {
                    let out = store
                        .append(vec![event("1", 1130, NOW, Some(i))])
                        .await
                        .unwrap();
                    answered(out[0].seq());
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

pub async fn on_commit_sees_new_events_in_seq_order_before_the_caller_is_answered(b: &dyn Backend) {
    let s = Open::at(b, NOW).await;
    let seen = Arc::clone(&s.committed);
    twenty_callers_append_twice(&s.store, move |seq| {
        assert!(
            seen.lock().unwrap().contains(&seq),
            "answered before on_commit"
        );
    })
    .await;
    // Duplicates are not published again.
    assert_eq!(*s.committed.lock().unwrap(), (1..=20).collect::<Vec<_>>());
}

pub async fn the_answered_hook_sees_new_events_in_seq_order_after_the_callers_are_answered(
    b: &dyn Backend,
) {
    // Seqs whose caller has its answer; what the hook saw: (seq, its caller answered).
    let got: Arc<Mutex<HashSet<i64>>> = Arc::default();
    let seen: Arc<Mutex<Vec<(i64, bool)>>> = Arc::default();
    let hook: OnCommit = {
        let (got, seen) = (Arc::clone(&got), Arc::clone(&seen));
        Box::new(move |evs: &[Arc<StoredEvent>]| {
            // The caller's task needs a moment to run once answered; a hook called before
            // the answer would wait here in vain (the writer is held up).
            let wait = |seq: i64| {
                let deadline = Instant::now() + Duration::from_secs(5);
                let mut answered = got.lock().unwrap().contains(&seq);
                while !answered && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(1));
                    answered = got.lock().unwrap().contains(&seq);
                }
                answered
            };
            // A writer that is a task on the test's runtime (PostgreSQL) hands its worker's
            // other tasks (the caller it just answered among them) to another thread
            // first; a writer thread of its own (SQLite) just waits.
            let on_worker = tokio::runtime::Handle::try_current()
                .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
            for e in evs {
                let answered = if on_worker {
                    tokio::task::block_in_place(|| wait(e.seq))
                } else {
                    wait(e.seq)
                };
                seen.lock().unwrap().push((e.seq, answered));
            }
        })
    };
    let s = Open::with_answered(b, NOW, Some(hook)).await;
    twenty_callers_append_twice(&s.store, move |seq| {
        got.lock().unwrap().insert(seq);
    })
    .await;
    // Every new event once, in seq order, each after its caller was answered; duplicates
    // not again; and the `committed` hook still saw them all too.
    let want: Vec<(i64, bool)> = (1..=20).map(|seq| (seq, true)).collect();
    assert_eq!(*seen.lock().unwrap(), want);
    assert_eq!(*s.committed.lock().unwrap(), (1..=20).collect::<Vec<_>>());
}
