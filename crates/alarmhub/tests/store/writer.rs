//! SQLite's group-commit writer thread, through [`SqliteStore`]: batching, one request per
//! batch, ordering of `on_commit` against replies, back-pressure, heartbeat, request order,
//! and the drain at close. (A failing commit is unit-tested beside the writer, where a
//! failing connection can be put under it.)

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alarmhub::events::{Appended, NewEvent, StoredEvent};
use alarmhub::store::{Snapshot, SqliteReader, SqliteStore, Store, StoreOptions};

use crate::conformance::event;

type Seen = Arc<Mutex<Vec<i64>>>;

fn recording_store(dir: &Path, opts: StoreOptions) -> (Arc<SqliteStore>, Seen) {
    let seen: Seen = Arc::default();
    let sink = Arc::clone(&seen);
    let store = SqliteStore::open(
        dir,
        opts,
        Box::new(move |evs: &[Arc<StoredEvent>]| {
            sink.lock().unwrap().extend(evs.iter().map(|e| e.seq));
        }),
    )
    .unwrap();
    (store, seen)
}

fn now_event(account: &str, dedup_key: Option<u64>) -> NewEvent {
    event(account, 1130, alarmhub::clock::now_ms(), dedup_key)
}

async fn append_one(store: &SqliteStore, ev: NewEvent) -> Appended {
    store.append_one(ev).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writer_group_commits_many_concurrent_appends() {
    let dir = tempfile::tempdir().unwrap();
    let (store, seen) = recording_store(dir.path(), StoreOptions::default());
    let tasks: Vec<_> = (0..50)
        .map(|t| {
            let s = Arc::clone(&store);
            tokio::spawn(async move {
                let mut out = Vec::new();
                for _ in 0..100 {
                    out.push(append_one(&s, now_event(&format!("acct{t}"), None)).await);
                }
                out
            })
        })
        .collect();
    let mut all_seqs = Vec::new();
    for t in tasks {
        for a in t.await.unwrap() {
            assert!(matches!(a, Appended::Stored(_)), "{a:?}");
            all_seqs.push(a.seq());
        }
    }
    all_seqs.sort_unstable();
    assert_eq!(all_seqs, (1..=5000).collect::<Vec<_>>());
    let batches = store.batches();
    assert!(batches < 5000, "no group commit: {batches} batches");
    eprintln!("5000 appends committed in {batches} batches");
    store.close().await.unwrap();
    // on_commit saw every stored event exactly once, in seq order.
    assert_eq!(*seen.lock().unwrap(), (1..=5000).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_one_request_and_one_commit() {
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions {
        max_batch: 10,
        ..StoreOptions::default()
    };
    let (store, seen) = recording_store(dir.path(), opts);
    let events = (0..100).map(|i| now_event("1", Some(i))).collect();
    let out = store.append(events).await.unwrap();
    assert_eq!(out.len(), 100);
    assert_eq!(
        store.batches(),
        1,
        "a call is never split, whatever max_batch is"
    );
    assert_eq!(seen.lock().unwrap().len(), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_commit_runs_in_seq_order_before_the_caller_is_answered_and_skips_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let (store, seen) = recording_store(dir.path(), StoreOptions::default());
    let tasks: Vec<_> = (0..20u64)
        .map(|i| {
            let (s, seen) = (Arc::clone(&store), Arc::clone(&seen));
            tokio::spawn(async move {
                // Every key sent twice: one copy stored, one duplicate.
                for _ in 0..2 {
                    let a = append_one(&s, now_event("1", Some(i))).await;
                    assert!(
                        seen.lock().unwrap().contains(&a.seq()),
                        "answered before on_commit"
                    );
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(*seen.lock().unwrap(), (1..=20).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn back_pressure_makes_appends_wait_during_a_stall_and_all_complete_after() {
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions {
        queue: 4,
        ..Default::default()
    };
    let (store, _seen) = recording_store(dir.path(), opts);
    let stall = Duration::from_millis(400);
    let started = Instant::now();
    store.stall(stall).await.unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (s, done) = (Arc::clone(&store), Arc::clone(&done));
            tokio::spawn(async move {
                let a = s.append_one(now_event("1", None)).await;
                done.fetch_add(1, Ordering::SeqCst);
                a
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        done.load(Ordering::SeqCst),
        0,
        "an append completed during the stall"
    );
    assert_eq!(store.queue_depth(), 4);
    for t in tasks {
        assert!(matches!(t.await.unwrap().unwrap(), Appended::Stored(_)));
    }
    assert!(started.elapsed() >= stall);
    assert_eq!(store.queue_depth(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_goes_stale_during_a_stall_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _seen) = recording_store(dir.path(), StoreOptions::default());
    store.check_writable().await.unwrap();
    assert!(store.is_healthy(Duration::from_millis(200)));
    store.stall(Duration::from_millis(800)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(!store.is_healthy(Duration::from_millis(200)));
    store.check_writable().await.unwrap();
    assert!(store.is_healthy(Duration::from_millis(200)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_saves_snapshots_and_cursors_in_request_order() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _seen) = recording_store(dir.path(), StoreOptions::default());
    let a = append_one(&store, now_event("1", None)).await;
    let snapshot = Snapshot {
        last_seq: a.seq(),
        panels: vec![("1".into(), "{}".into())],
    };
    store.save_snapshot(snapshot.clone()).await.unwrap();
    store.set_cursor("app", a.seq()).await.unwrap();
    store.close().await.unwrap();
    let reader = SqliteReader::open(dir.path()).unwrap();
    assert_eq!(reader.load_snapshot().unwrap(), Some(snapshot));
    assert_eq!(reader.cursor("app").unwrap(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn close_drains_the_queue_then_stops_the_thread() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _seen) = recording_store(dir.path(), StoreOptions::default());
    store.stall(Duration::from_millis(100)).await.unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let s = Arc::clone(&store);
            tokio::spawn(async move { s.append_one(now_event("1", None)).await })
        })
        .collect();
    // Queued before the close (the writer is still stalled): every one is stored and answered.
    let t0 = Instant::now();
    while store.queue_depth() < 10 {
        assert!(t0.elapsed() < Duration::from_secs(5), "appends not queued");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    store.close().await.unwrap();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert!(!store.is_healthy(Duration::from_secs(60)), "thread stopped");
    assert_eq!(
        SqliteReader::open(dir.path()).unwrap().last_seq().unwrap(),
        10
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dropping_the_store_drains_the_queue_too() {
    let dir = tempfile::tempdir().unwrap();
    let (store, seen) = recording_store(dir.path(), StoreOptions::default());
    store.stall(Duration::from_millis(100)).await.unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let s = Arc::clone(&store);
            tokio::spawn(async move { s.append_one(now_event("1", None)).await })
        })
        .collect();
    drop(store);
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // The thread ends on its own once the last handle is gone; bounded wait for its commits.
    let t0 = Instant::now();
    while seen.lock().unwrap().len() < 10 {
        assert!(t0.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        SqliteReader::open(dir.path()).unwrap().last_seq().unwrap(),
        10
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_committed_with_the_appends_beside_it_and_answered_in_its_own_order() {
    let dir = tempfile::tempdir().unwrap();
    let (store, seen) = recording_store(dir.path(), StoreOptions::default());
    assert_eq!(store.append(Vec::new()).await.unwrap(), vec![]);
    // Queue everything behind a stall so it all lands in one transaction.
    store.stall(Duration::from_millis(100)).await.unwrap();
    let before = store.batches();
    let single = {
        let s = Arc::clone(&store);
        tokio::spawn(async move { s.append_one(now_event("1", None)).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let batch = vec![
        now_event("2", Some(7)),
        now_event("2", None),
        now_event("2", Some(7)),
    ];
    let got = store.append(batch).await.unwrap();
    assert_eq!(single.await.unwrap().unwrap(), Appended::Stored(1));
    assert_eq!(
        got,
        vec![
            Appended::Stored(2),
            Appended::Stored(3),
            Appended::Duplicate(2)
        ]
    );
    assert_eq!(
        store.batches() - before,
        1,
        "one group commit for both requests"
    );
    assert_eq!(*seen.lock().unwrap(), vec![1, 2, 3]);
}
