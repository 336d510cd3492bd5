//! The group-commit writer thread: batching, ordering of `on_commit` against replies,
//! back-pressure, heartbeat, request order, shutdown drain and failed commits.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alarmhub::events::{Appended, NewEvent, StoredEvent};
use alarmhub::store::{
    spawn_writer, EventQuery, Snapshot, SqliteStore, Store, StoreError, WriterConfig, WriterHandle,
};

use super::{event, open};

type Seen = Arc<Mutex<Vec<i64>>>;

fn recording_writer(
    dir: &Path,
    cfg: WriterConfig,
) -> (WriterHandle, std::thread::JoinHandle<()>, Seen) {
    let seen: Seen = Arc::default();
    let sink = Arc::clone(&seen);
    let (handle, join) = spawn_writer(
        open(dir),
        cfg,
        Box::new(move |evs: &[Arc<StoredEvent>]| {
            sink.lock().unwrap().extend(evs.iter().map(|e| e.seq));
        }),
    )
    .unwrap();
    (handle, join, seen)
}

fn now_event(account: &str, dedup_key: Option<u64>) -> NewEvent {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    event(account, 1130, i64::try_from(now).unwrap(), dedup_key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writer_group_commits_many_concurrent_appends() {
    let dir = tempfile::tempdir().unwrap();
    let (handle, join, seen) = recording_writer(dir.path(), WriterConfig::default());
    let tasks: Vec<_> = (0..50)
        .map(|t| {
            let h = handle.clone();
            tokio::spawn(async move {
                let mut out = Vec::new();
                for _ in 0..100 {
                    out.push(
                        h.append(now_event(&format!("acct{t}"), None))
                            .await
                            .unwrap(),
                    );
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
    let batches = handle.batches();
    assert!(batches < 5000, "no group commit: {batches} batches");
    eprintln!("5000 appends committed in {batches} batches");
    drop(handle);
    join.join().unwrap();
    // on_commit saw every stored event exactly once, in seq order.
    assert_eq!(*seen.lock().unwrap(), (1..=5000).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_commit_runs_in_seq_order_before_the_caller_is_answered_and_skips_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let (handle, _join, seen) = recording_writer(dir.path(), WriterConfig::default());
    let tasks: Vec<_> = (0..20u64)
        .map(|i| {
            let (h, seen) = (handle.clone(), Arc::clone(&seen));
            tokio::spawn(async move {
                // Every key sent twice: one copy stored, one duplicate.
                for _ in 0..2 {
                    let a = h.append(now_event("1", Some(i))).await.unwrap();
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
    let cfg = WriterConfig {
        queue: 4,
        ..Default::default()
    };
    let (handle, _join, _seen) = recording_writer(dir.path(), cfg);
    let stall = Duration::from_millis(400);
    let started = Instant::now();
    handle.stall(stall).await.unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (h, done) = (handle.clone(), Arc::clone(&done));
            tokio::spawn(async move {
                let a = h.append(now_event("1", None)).await;
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
    assert_eq!(handle.queue_depth(), 4);
    for t in tasks {
        assert!(matches!(t.await.unwrap().unwrap(), Appended::Stored(_)));
    }
    assert!(started.elapsed() >= stall);
    assert_eq!(handle.queue_depth(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_goes_stale_during_a_stall_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let (handle, _join, _seen) = recording_writer(dir.path(), WriterConfig::default());
    handle.check_writable().await.unwrap();
    assert!(handle.is_healthy(Duration::from_millis(200)));
    handle.stall(Duration::from_millis(800)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(!handle.is_healthy(Duration::from_millis(200)));
    handle.check_writable().await.unwrap();
    assert!(handle.is_healthy(Duration::from_millis(200)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_saves_snapshots_and_cursors_in_request_order() {
    let dir = tempfile::tempdir().unwrap();
    let (handle, join, _seen) = recording_writer(dir.path(), WriterConfig::default());
    let a = handle.append(now_event("1", None)).await.unwrap();
    handle
        .snapshot(a.seq(), vec![("1".into(), "{}".into())])
        .await
        .unwrap();
    handle.set_cursor("app".into(), a.seq()).await.unwrap();
    drop(handle);
    join.join().unwrap();
    let store = open(dir.path());
    assert_eq!(
        store.load_snapshot().unwrap(),
        Some((1, vec![("1".into(), "{}".into())]))
    );
    assert_eq!(store.cursor("app").unwrap(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dropping_every_handle_drains_the_queue_then_stops_the_thread() {
    let dir = tempfile::tempdir().unwrap();
    let (handle, join, _seen) = recording_writer(dir.path(), WriterConfig::default());
    handle.stall(Duration::from_millis(100)).await.unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let h = handle.clone();
            tokio::spawn(async move { h.append(now_event("1", None)).await })
        })
        .collect();
    drop(handle);
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    tokio::task::spawn_blocking(move || join.join().unwrap())
        .await
        .unwrap();
    assert_eq!(open(dir.path()).last_seq().unwrap(), 10);
}

/// A store whose appends fail while `fail` is set, as on a full or read-only disk.
struct FlakyStore {
    inner: SqliteStore,
    fail: Arc<AtomicBool>,
}

impl Store for FlakyStore {
    fn append_batch(
        &mut self,
        batch: &[NewEvent],
        now_ms: i64,
        window: i64,
    ) -> Result<Vec<Appended>, StoreError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::NotWritable {
                path: self.inner.path().to_path_buf(),
                reason: "disk full (simulated)".into(),
            });
        }
        self.inner.append_batch(batch, now_ms, window)
    }
    fn last_seq(&self) -> Result<i64, StoreError> {
        self.inner.last_seq()
    }
    fn events_after(&self, after: i64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        self.inner.events_after(after, limit)
    }
    fn query_events(&self, q: &EventQuery) -> Result<Vec<StoredEvent>, StoreError> {
        self.inner.query_events(q)
    }
    fn save_snapshot(&mut self, seq: i64, panels: &[(String, String)]) -> Result<(), StoreError> {
        self.inner.save_snapshot(seq, panels)
    }
    fn load_snapshot(&self) -> Result<Option<Snapshot>, StoreError> {
        self.inner.load_snapshot()
    }
    fn cursor(&self, group: &str) -> Result<Option<i64>, StoreError> {
        self.inner.cursor(group)
    }
    fn set_cursor(&mut self, group: &str, seq: i64) -> Result<(), StoreError> {
        self.inner.set_cursor(group, seq)
    }
    fn check_writable(&mut self) -> Result<(), StoreError> {
        self.inner.check_writable()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_commit_answers_every_request_with_the_error_and_the_writer_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let fail = Arc::new(AtomicBool::new(true));
    let store = FlakyStore {
        inner: open(dir.path()),
        fail: Arc::clone(&fail),
    };
    let seen: Seen = Arc::default();
    let sink = Arc::clone(&seen);
    let (handle, _join) = spawn_writer(
        store,
        WriterConfig::default(),
        Box::new(move |evs: &[Arc<StoredEvent>]| {
            sink.lock().unwrap().extend(evs.iter().map(|e| e.seq));
        }),
    )
    .unwrap();
    handle.stall(Duration::from_millis(50)).await.unwrap();
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let h = handle.clone();
            tokio::spawn(async move { h.append(now_event("1", None)).await })
        })
        .collect();
    for t in tasks {
        let err = t.await.unwrap().unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
    }
    assert!(seen.lock().unwrap().is_empty());

    fail.store(false, Ordering::SeqCst);
    let a = handle.append(now_event("1", None)).await.unwrap();
    assert_eq!(a, Appended::Stored(1));
    assert_eq!(*seen.lock().unwrap(), vec![1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_committed_with_the_appends_beside_it_and_answered_in_its_own_order() {
    let dir = tempfile::tempdir().unwrap();
    let (handle, _join, seen) = recording_writer(dir.path(), WriterConfig::default());
    assert_eq!(handle.append_batch(Vec::new()).await.unwrap(), vec![]);
    // Queue everything behind a stall so it all lands in one transaction.
    handle.stall(Duration::from_millis(100)).await.unwrap();
    let before = handle.batches();
    let single = {
        let h = handle.clone();
        tokio::spawn(async move { h.append(now_event("1", None)).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let batch = vec![
        now_event("2", Some(7)),
        now_event("2", None),
        now_event("2", Some(7)),
    ];
    let got = handle.append_batch(batch).await.unwrap();
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
        handle.batches() - before,
        1,
        "one group commit for both requests"
    );
    assert_eq!(*seen.lock().unwrap(), vec![1, 2, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_fails_the_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let fail = Arc::new(AtomicBool::new(true));
    let store = FlakyStore {
        inner: open(dir.path()),
        fail: Arc::clone(&fail),
    };
    let (handle, _join) = spawn_writer(store, WriterConfig::default(), Box::new(|_| {})).unwrap();
    let err = handle
        .append_batch(vec![now_event("1", None), now_event("1", None)])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("disk full"), "{err}");
    fail.store(false, Ordering::SeqCst);
    let ok = handle
        .append_batch(vec![now_event("1", None)])
        .await
        .unwrap();
    assert_eq!(ok, vec![Appended::Stored(1)]);
}
