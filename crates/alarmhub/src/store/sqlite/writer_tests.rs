//! The writer thread: over a connection whose commits fail (a full or read-only disk) every
//! caller of the failed commit gets the error, nothing is published, and the writer carries
//! on with the next batch; callers sharing one group commit each get exactly their own
//! events' outcomes, in their order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{spawn, CommitSync, WriteConn, WriterConfig};
use crate::clock::Clock;
use crate::events::{Appended, Facts, NewEvent, Source, StoredEvent};
use crate::store::sqlite::conn::SqliteWriter;
use crate::store::{CommitHooks, Snapshot, StoreError};

/// Appends fail while `fail` is set; appends, alarm commits (full or deferred) and syncs
/// are recorded in `log`.
struct FlakyConn {
    inner: SqliteWriter,
    fail: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<&'static str>>>,
}

impl WriteConn for FlakyConn {
    fn append_batch(
        &mut self,
        batch: &[NewEvent],
        now_ms: i64,
        window: i64,
    ) -> Result<Vec<Appended>, StoreError> {
        self.log.lock().unwrap().push("append");
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::NotWritable {
                path: self.inner.path().to_path_buf(),
                reason: "disk full (simulated)".into(),
            });
        }
        self.inner.append_batch(batch, now_ms, window)
    }
    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StoreError> {
        self.inner.save_snapshot(snapshot)
    }
    fn set_cursor(&mut self, name: &str, seq: i64) -> Result<(), StoreError> {
        self.inner.set_cursor(name, seq)
    }
    fn check_writable(&mut self) -> Result<(), StoreError> {
        self.inner.check_writable()
    }
    fn record_alarm_events(
        &mut self,
        upto_seq: i64,
        inputs: &[crate::alarms::AlarmInput],
        sync: CommitSync,
    ) -> Result<Vec<crate::alarms::AlarmChange>, StoreError> {
        self.log.lock().unwrap().push(match sync {
            CommitSync::Full => "alarms full",
            CommitSync::Deferred => "alarms deferred",
        });
        self.inner.record_alarm_events(upto_seq, inputs, sync)
    }
    fn sync(&mut self) -> Result<(), StoreError> {
        self.log.lock().unwrap().push("sync");
        self.inner.sync()
    }
    fn update_alarms(
        &mut self,
        ops: &[(i64, crate::alarms::AlarmOp)],
        actor: &str,
        at_ms: i64,
    ) -> Result<Vec<Result<crate::alarms::AlarmChange, crate::alarms::AlarmRefusal>>, StoreError>
    {
        self.inner.update_alarms(ops, actor, at_ms)
    }
    fn maintain(&mut self, finish: bool) -> Result<(), StoreError> {
        self.inner.maintain(finish)
    }
}

/// The writer configuration the tests use.
pub(super) fn config() -> WriterConfig {
    WriterConfig {
        queue: 100,
        max_batch: 1024,
        dedup_window_ms: 300_000,
        clock: Clock::system(),
    }
}

pub(super) fn event() -> NewEvent {
    NewEvent {
        account: "1".into(),
        source: Source::Panel,
        code: 1130,
        sia_code: None,
        group: 1,
        zone: 3,
        received_at_ms: crate::clock::now_ms(),
        panel_time: None,
        protocol: "ADM-CID".into(),
        frame_seq: "0001".into(),
        peer: "127.0.0.1:40000".into(),
        facts: Facts::default(),
        detail: Default::default(),
        dedup_key: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_commit_answers_every_request_with_the_error_and_the_writer_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let fail = Arc::new(AtomicBool::new(true));
    let conn = FlakyConn {
        inner: SqliteWriter::open(dir.path(), Clock::system()).unwrap(),
        fail: Arc::clone(&fail),
        log: Arc::default(),
    };
    let seen: Arc<Mutex<Vec<i64>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let cfg = config();
    let (handle, _join) = spawn(
        conn,
        cfg,
        CommitHooks::committed_only(move |evs: &[Arc<StoredEvent>]| {
            sink.lock().unwrap().extend(evs.iter().map(|e| e.seq));
        }),
    )
    .unwrap();
    handle.stall(Duration::from_millis(50)).await.unwrap();
    let tasks: Vec<_> = (0..5)
        .map(|i| {
            let h = handle.clone();
            // One request of several events, and single ones: all in one failed commit.
            let events = vec![event(); if i == 0 { 3 } else { 1 }];
            tokio::spawn(async move { h.append(events).await })
        })
        .collect();
    for t in tasks {
        let err = t.await.unwrap().unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
    }
    assert!(seen.lock().unwrap().is_empty());

    fail.store(false, Ordering::SeqCst);
    let a = handle.append(vec![event()]).await.unwrap();
    assert_eq!(a, vec![Appended::Stored(1)]);
    assert_eq!(*seen.lock().unwrap(), vec![1]);
    handle.close().await.unwrap();
    assert!(matches!(
        handle.append(vec![event()]).await,
        Err(StoreError::Closed)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn callers_of_one_group_commit_each_get_their_own_events_outcomes_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let conn = SqliteWriter::open(dir.path(), Clock::system()).unwrap();
    let seen: Arc<Mutex<Vec<i64>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let cfg = config();
    let (handle, _join) = spawn(
        conn,
        cfg,
        CommitHooks::committed_only(move |evs: &[Arc<StoredEvent>]| {
            sink.lock().unwrap().extend(evs.iter().map(|e| e.seq));
        }),
    )
    .unwrap();
    // Held up so that every caller lands in the same commit.
    handle.stall(Duration::from_millis(100)).await.unwrap();
    let tasks: Vec<_> = (0..40)
        .map(|caller| {
            let h = handle.clone();
            let events: Vec<NewEvent> = (0..1 + caller % 4)
                .map(|i| NewEvent {
                    frame_seq: format!("{caller}-{i}"),
                    ..event()
                })
                .collect();
            tokio::spawn(async move { (caller, h.append(events).await.unwrap()) })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    assert_eq!(handle.batches(), 1, "one commit for every caller");
    handle.close().await.unwrap();
    let db = rusqlite::Connection::open(dir.path().join(crate::store::DB_FILE)).unwrap();
    let frame_seq = |seq: i64| -> String {
        db.query_row("SELECT frame_seq FROM events WHERE seq = ?1", [seq], |r| {
            r.get(0)
        })
        .unwrap()
    };
    let mut all = Vec::new();
    for (caller, outcomes) in answers {
        assert_eq!(outcomes.len(), 1 + caller % 4);
        for (i, o) in outcomes.iter().enumerate() {
            let Appended::Stored(seq) = *o else {
                panic!("caller {caller}: {o:?}")
            };
            assert_eq!(frame_seq(seq), format!("{caller}-{i}"), "caller {caller}");
            all.push(seq);
        }
    }
    all.sort_unstable();
    let n = all.len() as i64;
    assert_eq!(all, (1..=n).collect::<Vec<_>>(), "no gap, no seq twice");
    assert_eq!(
        *seen.lock().unwrap(),
        all,
        "published once each, in seq order"
    );
}

/// A writer over a [`FlakyConn`] that does not fail, and the connection's log.
fn sync_logged(dir: &std::path::Path) -> (super::WriterHandle, Arc<Mutex<Vec<&'static str>>>) {
    let log: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let conn = FlakyConn {
        inner: SqliteWriter::open(dir, Clock::system()).unwrap(),
        fail: Arc::default(),
        log: Arc::clone(&log),
    };
    let (handle, _join) = spawn(
        conn,
        config(),
        CommitHooks::committed_only(|_: &[Arc<StoredEvent>]| {}),
    )
    .unwrap();
    (handle, log)
}

/// Queue `requests` in order while the writer is stalled, then wait for all of them and
/// for the writer to go idle; the connection's log.
async fn queued_behind_a_stall(
    handle: &super::WriterHandle,
    log: &Arc<Mutex<Vec<&'static str>>>,
    requests: Vec<&'static str>,
) -> Vec<&'static str> {
    handle.stall(Duration::from_millis(300)).await.unwrap();
    let mut tasks = Vec::new();
    for (i, r) in requests.into_iter().enumerate() {
        let h = handle.clone();
        tasks.push(tokio::spawn(async move {
            match r {
                "append" => h.append(vec![event()]).await.map(|_| ()),
                _ => h
                    .record_alarm_events(i as i64 + 1, Vec::new())
                    .await
                    .map(|_| ()),
            }
        }));
        // Queued in this order.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // The writer syncs once it finds its queue empty.
    tokio::time::sleep(Duration::from_millis(100)).await;
    std::mem::take(&mut *log.lock().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_alarm_commit_with_requests_behind_it_is_deferred_and_on_disk_before_the_writer_idles() {
    let dir = tempfile::tempdir().unwrap();
    let (handle, log) = sync_logged(dir.path());
    // Alone: synced by its own commit, as ever.
    let got = queued_behind_a_stall(&handle, &log, vec!["alarms"]).await;
    assert_eq!(got, vec!["alarms full"]);
    // An event commit right behind it syncs the WAL to its end: no sync of its own.
    let got = queued_behind_a_stall(&handle, &log, vec!["alarms", "append"]).await;
    assert_eq!(got, vec!["alarms deferred", "append"]);
    // Nothing that syncs behind it: the writer syncs before it waits for work.
    let got = queued_behind_a_stall(&handle, &log, vec!["alarms", "alarms"]).await;
    assert_eq!(got, vec!["alarms deferred", "alarms full", "sync"]);
    handle.close().await.unwrap();
}

/// `submit` is one queue push while the queue has room, a future that waits for room when
/// it is full, and answered at once when there is nothing to store or the writer is gone;
/// every way gives the outcomes `append` gives, in the order handed over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_queues_at_once_waits_for_room_when_full_and_answers_like_append() {
    use crate::store::AppendTicket;

    let dir = tempfile::tempdir().unwrap();
    let conn = SqliteWriter::open(dir.path(), Clock::system()).unwrap();
    let cfg = WriterConfig {
        queue: 1,
        ..config()
    };
    let (handle, _join) = spawn(conn, cfg, CommitHooks::committed_only(|_| {})).unwrap();
    let empty = handle.submit(Vec::new());
    assert!(matches!(empty, AppendTicket::Ready(Some(Ok(ref v))) if v.is_empty()));
    assert_eq!(empty.await.unwrap(), Vec::new());

    // The writer takes the stall and sleeps: the one place in the queue is free again.
    handle.stall(Duration::from_millis(500)).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while handle.queue_depth() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the writer never took the stall"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let first = handle.submit(vec![NewEvent {
        frame_seq: "first".into(),
        ..event()
    }]);
    assert!(matches!(first, AppendTicket::Queued(_)), "{first:?}");
    let second = handle.submit(vec![NewEvent {
        frame_seq: "second".into(),
        ..event()
    }]);
    assert!(matches!(second, AppendTicket::Future(_)), "{second:?}");
    // The second is sent only once it is polled (like `append`); both answer in order.
    let (a, b) = tokio::join!(first, second);
    assert_eq!(a.unwrap(), vec![Appended::Stored(1)]);
    assert_eq!(b.unwrap(), vec![Appended::Stored(2)]);

    handle.close().await.unwrap();
    let closed = handle.submit(vec![event()]);
    assert!(matches!(closed, AppendTicket::Ready(_)), "{closed:?}");
    assert!(matches!(closed.await, Err(StoreError::Closed)));
    let db = rusqlite::Connection::open(dir.path().join(crate::store::DB_FILE)).unwrap();
    let stored: Vec<String> = db
        .prepare("SELECT frame_seq FROM events ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(stored, ["first", "second"]);
}
