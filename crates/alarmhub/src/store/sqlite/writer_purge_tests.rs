//! The writer thread and purges (`purge_pacing.rs`), over a connection that records what it
//! was asked to do, in order: appends queued behind a purge request are committed before
//! its first step, an append that arrives during a step goes before the next one, and a
//! job ends when its rows are spent or there is nothing more.

use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{spawn, CommitSync, WriteConn, WriterHandle};
use crate::alarms::{AlarmChange, AlarmInput, AlarmOp, AlarmRefusal};
use crate::events::{Appended, NewEvent, StoredEvent};
use crate::store::sqlite::purge::PurgeStep;
use crate::store::{CommitHooks, Snapshot, StoreError};

/// Longest any wait of these tests may take.
const LIMIT: Duration = Duration::from_secs(10);

/// A gate a purge step stops at: it says it arrived, then waits to be let go.
struct Gate {
    arrived: std_mpsc::Sender<()>,
    go: std_mpsc::Receiver<()>,
}

/// Logs `append` and `purge` calls; a purge step removes one of `backlog`.
struct RecordingConn {
    log: Arc<Mutex<Vec<&'static str>>>,
    next_seq: i64,
    backlog: usize,
    gate: Option<Gate>,
}

fn unsupported<T>() -> Result<T, StoreError> {
    Err(StoreError::Unsupported {
        what: "not in this test",
    })
}

impl WriteConn for RecordingConn {
    fn append_batch(
        &mut self,
        batch: &[NewEvent],
        _: i64,
        _: i64,
    ) -> Result<Vec<Appended>, StoreError> {
        self.log.lock().unwrap().push("append");
        Ok(batch
            .iter()
            .map(|_| {
                self.next_seq += 1;
                Appended::Stored(self.next_seq)
            })
            .collect())
    }
    fn purge_step(
        &mut self,
        _: i64,
        _: i64,
        max_rows: usize,
        _: Duration,
    ) -> Result<PurgeStep, StoreError> {
        self.log.lock().unwrap().push("purge");
        if let Some(g) = &self.gate {
            g.arrived.send(()).unwrap();
            g.go.recv_timeout(LIMIT).unwrap();
        }
        let removed = max_rows.min(1).min(self.backlog);
        self.backlog -= removed;
        Ok(PurgeStep {
            removed,
            more: self.backlog > 0,
        })
    }
    fn save_snapshot(&mut self, _: &Snapshot) -> Result<(), StoreError> {
        unsupported()
    }
    fn set_cursor(&mut self, _: &str, _: i64) -> Result<(), StoreError> {
        unsupported()
    }
    fn check_writable(&mut self) -> Result<(), StoreError> {
        unsupported()
    }
    fn record_alarm_events(
        &mut self,
        _: i64,
        _: &[AlarmInput],
        _: CommitSync,
    ) -> Result<Vec<AlarmChange>, StoreError> {
        unsupported()
    }
    fn update_alarms(
        &mut self,
        _: &[(i64, AlarmOp)],
        _: &str,
        _: i64,
    ) -> Result<Vec<Result<AlarmChange, AlarmRefusal>>, StoreError> {
        unsupported()
    }
    fn maintain(&mut self, _: bool) -> Result<(), StoreError> {
        Ok(())
    }
}

fn start(backlog: usize, gate: Option<Gate>) -> (WriterHandle, Arc<Mutex<Vec<&'static str>>>) {
    let log: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let conn = RecordingConn {
        log: Arc::clone(&log),
        next_seq: 0,
        backlog,
        gate,
    };
    let cfg = super::tests::config();
    let (handle, _join) = spawn(
        conn,
        cfg,
        CommitHooks::committed_only(|_: &[Arc<StoredEvent>]| {}),
    )
    .unwrap();
    (handle, log)
}

/// Wait (bounded) until `n` requests are queued and not taken.
async fn queued(h: &WriterHandle, n: usize) {
    let deadline = Instant::now() + LIMIT;
    while h.queue_depth() != n {
        assert!(
            Instant::now() < deadline,
            "queue depth {} != {n}",
            h.queue_depth()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn append(h: &WriterHandle) -> tokio::task::JoinHandle<Result<Vec<Appended>, StoreError>> {
    let h = h.clone();
    tokio::spawn(async move { h.append(vec![super::tests::event()]).await })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appends_queued_behind_a_purge_request_are_committed_before_its_first_step() {
    let (handle, log) = start(3, None);
    // The writer sleeps while the test queues a purge, then five appends behind it.
    handle.stall(Duration::from_secs(1)).await.unwrap();
    queued(&handle, 0).await;
    let h = handle.clone();
    let purge = tokio::spawn(async move { h.purge_events(0, i64::MAX, 10).await });
    queued(&handle, 1).await;
    let appends: Vec<_> = (0..5).map(|_| append(&handle)).collect();
    queued(&handle, 6).await;
    for a in appends {
        assert_eq!(a.await.unwrap().unwrap().len(), 1);
    }
    assert_eq!(
        purge.await.unwrap().unwrap(),
        3,
        "all of the backlog, fewer than asked"
    );
    assert_eq!(
        *log.lock().unwrap(),
        ["append", "purge", "purge", "purge"],
        "the appends in one commit, ahead of every step"
    );
    handle.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_append_that_arrives_during_a_purge_step_is_committed_before_the_next_step() {
    let (arrived_tx, arrived) = std_mpsc::channel();
    let (go, go_rx) = std_mpsc::channel();
    let gate = Gate {
        arrived: arrived_tx,
        go: go_rx,
    };
    let (handle, log) = start(3, Some(gate));
    let h = handle.clone();
    let purge = tokio::spawn(async move { h.purge_events(0, i64::MAX, 2).await });
    let wait_step = || arrived.recv_timeout(LIMIT).unwrap();
    wait_step();
    let a = append(&handle);
    queued(&handle, 1).await;
    go.send(()).unwrap();
    wait_step();
    go.send(()).unwrap();
    assert_eq!(a.await.unwrap().unwrap().len(), 1);
    assert_eq!(
        purge.await.unwrap().unwrap(),
        2,
        "the rows asked for, then done"
    );
    assert_eq!(*log.lock().unwrap(), ["purge", "append", "purge"]);
    handle.close().await.unwrap();
}
