//! The group-commit writer: one OS thread owns the writing [`Store`] and turns everything
//! queued into one transaction (one fsync), then tells the rest of the daemon (`on_commit`)
//! and only after that answers each caller — so an ACK never precedes durability or the
//! registry/bus update (DESIGN.md §1).
//!
//! Back-pressure is the bounded queue: when the writer falls behind, [`WriterHandle::append`]
//! waits for space; nothing is dropped. The thread runs a tiny current-thread tokio runtime
//! only to wait on the queue with a timeout, so it can record a heartbeat while idle.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use metrics::{counter, gauge, histogram};
use tokio::sync::{mpsc, oneshot};

use super::{now_ms, Store, StoreError};
use crate::events::{Appended, NewEvent, StoredEvent};

/// Called on the writer thread with the newly stored events (no duplicates) of each commit,
/// in seq order, before any caller is answered. Must be quick and must not panic.
pub type OnCommit = Box<dyn FnMut(&[Arc<StoredEvent>]) + Send>;

/// Longest the writer waits on an empty queue before recording a heartbeat.
const IDLE_TICK: Duration = Duration::from_millis(500);

/// Writer tuning.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Requests that may wait in the queue before callers are held back.
    pub queue: usize,
    /// Most requests taken into one transaction.
    pub max_batch: usize,
    /// Retransmission window for dedup, ms.
    pub dedup_window_ms: i64,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            queue: 10_000,
            max_batch: 1024,
            dedup_window_ms: 300_000,
        }
    }
}

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// What callers ask of the writer thread.
enum Request {
    Append(NewEvent, Reply<Appended>),
    /// Several events with one answer (a receiver's read pass).
    AppendBatch(Vec<NewEvent>, Reply<Vec<Appended>>),
    Snapshot {
        last_seq: i64,
        panels: Vec<(String, String)>,
        reply: Reply<()>,
    },
    SetCursor {
        group: String,
        seq: i64,
        reply: Reply<()>,
    },
    CheckWritable(Reply<()>),
    /// Test hook: the thread sleeps, as a hung disk would make it.
    Stall(Duration),
}

/// State shared between the handles and the thread.
#[derive(Debug)]
struct Shared {
    /// Reference point for `heartbeat_ms`.
    start: Instant,
    /// Last time the thread was alive, ms since `start`.
    heartbeat_ms: AtomicU64,
    /// Append transactions attempted.
    batches: AtomicU64,
}

impl Shared {
    fn beat(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.heartbeat_ms.store(ms, Ordering::Relaxed);
    }
}

/// Cheap, cloneable access to the writer thread. When every handle is dropped the thread
/// drains the queue, commits and exits.
#[derive(Clone)]
pub struct WriterHandle {
    tx: mpsc::Sender<Request>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for WriterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterHandle")
            .field("queue_depth", &self.queue_depth())
            .field("batches", &self.batches())
            .finish()
    }
}

impl WriterHandle {
    /// Store one event durably. Waits for queue space when the writer is behind, then for
    /// the commit; `Ok` means committed with fsync (or a known duplicate).
    pub async fn append(&self, ev: NewEvent) -> Result<Appended, StoreError> {
        self.call(|reply| Request::Append(ev, reply)).await
    }

    /// Store several events durably in the same group commit, with one hand-off and one
    /// answer (outcomes in the order given). Either all are committed or the error is
    /// returned for all. An empty batch is answered at once.
    pub async fn append_batch(&self, events: Vec<NewEvent>) -> Result<Vec<Appended>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        self.call(|reply| Request::AppendBatch(events, reply)).await
    }

    /// Replace the registry snapshot, taken at `last_seq`.
    pub async fn snapshot(
        &self,
        last_seq: i64,
        panels: Vec<(String, String)>,
    ) -> Result<(), StoreError> {
        self.call(|reply| Request::Snapshot {
            last_seq,
            panels,
            reply,
        })
        .await
    }

    /// Record a consumer group's cursor.
    pub async fn set_cursor(&self, group: String, seq: i64) -> Result<(), StoreError> {
        self.call(|reply| Request::SetCursor { group, seq, reply })
            .await
    }

    /// A real write through the writer (for `/readyz`).
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        self.call(Request::CheckWritable).await
    }

    /// Test hook: make the writer thread sleep for `d` once it reaches this request.
    /// Returns when the request is queued, not when the stall ends.
    pub async fn stall(&self, d: Duration) -> Result<(), StoreError> {
        self.tx
            .send(Request::Stall(d))
            .await
            .map_err(|_| StoreError::WriterClosed)
    }

    /// Requests queued (or being queued) and not yet taken by the writer.
    pub fn queue_depth(&self) -> usize {
        self.tx.max_capacity().saturating_sub(self.tx.capacity())
    }

    /// Last time the writer thread was seen alive (after a batch, or an idle tick).
    pub fn heartbeat(&self) -> Instant {
        let ms = self.shared.heartbeat_ms.load(Ordering::Relaxed);
        self.shared.start + Duration::from_millis(ms)
    }

    /// The thread is running and was alive within `max_silence` (for the systemd watchdog).
    pub fn is_healthy(&self, max_silence: Duration) -> bool {
        !self.tx.is_closed()
            && Instant::now().saturating_duration_since(self.heartbeat()) <= max_silence
    }

    /// Append transactions attempted so far (group-commit effectiveness, tests).
    pub fn batches(&self) -> u64 {
        self.shared.batches.load(Ordering::Relaxed)
    }

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Request) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| StoreError::WriterClosed)?;
        answer.await.map_err(|_| StoreError::WriterClosed)?
    }
}

/// Start the writer thread ("alarmhub-writer") owning `store`.
///
/// Returns an error only if the thread (or its small runtime) cannot be created.
pub fn spawn_writer<S: Store + 'static>(
    store: S,
    cfg: WriterConfig,
    on_commit: OnCommit,
) -> Result<(WriterHandle, JoinHandle<()>), StoreError> {
    let spawn_err = |e| StoreError::Spawn {
        source: Arc::new(e),
    };
    // Built here so a failure is reported to the caller, not lost inside the thread.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(spawn_err)?;
    let (tx, rx) = mpsc::channel(cfg.queue.max(1));
    let shared = Arc::new(Shared {
        start: Instant::now(),
        heartbeat_ms: AtomicU64::new(0),
        batches: AtomicU64::new(0),
    });
    let writer = Writer {
        store,
        max_batch: cfg.max_batch.max(1),
        dedup_window_ms: cfg.dedup_window_ms,
        on_commit,
        shared: Arc::clone(&shared),
        pending: Vec::new(),
        waiters: Vec::new(),
    };
    let join = std::thread::Builder::new()
        .name("alarmhub-writer".into())
        .spawn(move || writer.run(&rt, rx))
        .map_err(spawn_err)?;
    Ok((WriterHandle { tx, shared }, join))
}

/// The thread side.
struct Writer<S> {
    store: S,
    max_batch: usize,
    dedup_window_ms: i64,
    on_commit: OnCommit,
    shared: Arc<Shared>,
    /// Appends taken from the queue and not yet committed, in order.
    pending: Vec<NewEvent>,
    /// Who waits for them: each waiter answers for the next events of `pending`.
    waiters: Vec<Waiter>,
}

/// A caller waiting for pending events.
enum Waiter {
    One(Reply<Appended>),
    Batch(usize, Reply<Vec<Appended>>),
}

impl<S: Store> Writer<S> {
    fn run(mut self, rt: &tokio::runtime::Runtime, mut rx: mpsc::Receiver<Request>) {
        tracing::debug!("store writer started");
        loop {
            // After every batch and every idle tick.
            self.shared.beat();
            gauge!("alarmhub_store_queue_depth").set(rx.len() as f64);
            // The timer must be created inside the runtime, hence the async block.
            let first = match rt
                .block_on(async { tokio::time::timeout(IDLE_TICK, rx.recv()).await })
            {
                Ok(Some(req)) => req,
                // Every handle dropped and the queue drained.
                Ok(None) => break,
                Err(_idle) => {
                    if let Err(e) = self.store.maintain(false) {
                        tracing::warn!(error = %e, "store upkeep failed; retried on the next idle tick");
                    }
                    continue;
                }
            };
            self.take(first);
            let mut taken = 1;
            while taken < self.max_batch {
                match rx.try_recv() {
                    Ok(req) => {
                        self.take(req);
                        taken += 1;
                    }
                    Err(_) => break,
                }
            }
            self.commit_pending();
        }
        // A clean stop leaves nothing for the next start to catch up on.
        if let Err(e) = self.store.maintain(true) {
            tracing::warn!(error = %e, "store upkeep at shutdown failed; redone at the next start");
        }
        tracing::debug!("store writer stopped");
    }

    /// Queue an append for the current transaction; any other request first commits what is
    /// pending, so requests take effect in the order they were sent.
    fn take(&mut self, req: Request) {
        // Alive now; beating here (not only at the loop top) means a caller answered after a
        // stall never sees a stale heartbeat.
        self.shared.beat();
        match req {
            Request::Append(ev, reply) => {
                self.pending.push(ev);
                self.waiters.push(Waiter::One(reply));
            }
            Request::AppendBatch(evs, reply) => {
                self.waiters.push(Waiter::Batch(evs.len(), reply));
                self.pending.extend(evs);
            }
            Request::Snapshot {
                last_seq,
                panels,
                reply,
            } => {
                self.commit_pending();
                let _ = reply.send(self.store.save_snapshot(last_seq, &panels));
            }
            Request::SetCursor { group, seq, reply } => {
                self.commit_pending();
                let _ = reply.send(self.store.set_cursor(&group, seq));
            }
            Request::CheckWritable(reply) => {
                self.commit_pending();
                let _ = reply.send(self.store.check_writable());
            }
            Request::Stall(d) => {
                self.commit_pending();
                tracing::warn!(?d, "store writer stalling (test hook)");
                std::thread::sleep(d);
                self.shared.beat();
            }
        }
    }

    /// Commit the pending appends in one transaction, publish, then answer. A failed commit
    /// answers every request with the error (nothing may be ACKed); the next batch retries.
    fn commit_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let events: Vec<NewEvent> = std::mem::take(&mut self.pending);
        let replies: Vec<Waiter> = std::mem::take(&mut self.waiters);
        let started = Instant::now();
        let result = self
            .store
            .append_batch(&events, now_ms(), self.dedup_window_ms);
        histogram!("alarmhub_store_commit_seconds").record(started.elapsed().as_secs_f64());
        histogram!("alarmhub_store_batch_size").record(events.len() as f64);
        self.shared.batches.fetch_add(1, Ordering::Relaxed);
        self.shared.beat();
        match result {
            Ok(outcomes) => self.publish_and_answer(events, replies, outcomes),
            Err(e) => {
                tracing::error!(error = %e, events = events.len(),
                    "store commit failed; the batch is not acknowledged");
                counter!("alarmhub_store_events_total", "outcome" => "error")
                    .increment(events.len() as u64);
                for waiter in replies {
                    match waiter {
                        Waiter::One(reply) => drop(reply.send(Err(e.clone()))),
                        Waiter::Batch(_, reply) => drop(reply.send(Err(e.clone()))),
                    }
                }
            }
        }
    }

    fn publish_and_answer(
        &mut self,
        events: Vec<NewEvent>,
        replies: Vec<Waiter>,
        outcomes: Vec<Appended>,
    ) {
        let mut stored: Vec<Arc<StoredEvent>> = events
            .into_iter()
            .zip(&outcomes)
            .filter_map(|(event, outcome)| match *outcome {
                Appended::Stored(seq) => Some(Arc::new(StoredEvent { seq, event })),
                Appended::Duplicate(_) => None,
            })
            .collect();
        stored.sort_by_key(|e| e.seq);
        let duplicates = outcomes.len() - stored.len();
        counter!("alarmhub_store_events_total", "outcome" => "stored")
            .increment(stored.len() as u64);
        counter!("alarmhub_store_events_total", "outcome" => "duplicate")
            .increment(duplicates as u64);
        if !stored.is_empty() {
            (self.on_commit)(&stored);
        }
        // A reply whose caller went away is fine: the event is stored, the panel will
        // retransmit and be answered as a duplicate.
        let mut outcomes = outcomes.into_iter();
        for waiter in replies {
            match waiter {
                Waiter::One(reply) => {
                    if let Some(outcome) = outcomes.next() {
                        let _ = reply.send(Ok(outcome));
                    }
                }
                Waiter::Batch(n, reply) => {
                    let _ = reply.send(Ok(outcomes.by_ref().take(n).collect()));
                }
            }
        }
    }
}
