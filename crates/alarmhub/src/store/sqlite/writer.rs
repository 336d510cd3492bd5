//! The group-commit writer: one OS thread owns the writing connection ([`WriteConn`]) and
//! turns everything queued into one transaction (one fsync), then tells the rest of the
//! daemon (the `committed` hook) and only after that answers each caller — so an ACK never
//! precedes durability or the registry update (DESIGN.md §1) — and then hands the events to
//! the `answered` hook (the event bus), whose fan-out must not hold up the answers.
//!
//! A caller's batch is one request with one reply, however many events it holds; the
//! writer takes requests until it has `max_batch` events (never splitting a request).
//! Back-pressure is the bounded queue: when the writer falls behind, [`WriterHandle::append`]
//! waits for space; nothing is dropped. The thread runs a tiny current-thread tokio runtime
//! only to wait on the queue with a timeout, so it can record a heartbeat and do upkeep
//! while idle. Purges do not take their turn in the queue: they wait for the writer's spare
//! time and go in short steps (`purge_pacing.rs`). A [`WriterHandle::close`] (or the last
//! handle dropped) drains the queue, finishes the upkeep and ends the thread.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use metrics::{counter, gauge, histogram};
use tokio::sync::{mpsc, oneshot};

use crate::alarms::{AlarmChange, AlarmInput, AlarmOp, AlarmRefusal};
use crate::clock::Clock;
use crate::events::{Appended, NewEvent, StoredEvent};
use crate::metrics::names;
use crate::store::{AppendTicket, CommitHooks, Snapshot, StoreError};

use super::purge::PurgeStep;
use super::purge_pacing::{Pacer, PurgeJob, STEP_TARGET};

/// Whether a commit waits for the disk.
///
/// Alarm records are derived from the event log (the engine's cursor moves in the same
/// transaction), so one lost with the machine's power is derived again at the next start.
/// While more requests wait, the writer commits them `Deferred`: the fsync of the next
/// event commit, moments later, covers them (WAL frames are synced in order), and before
/// the writer goes idle it syncs whatever is still deferred. Under load that saves an
/// fsync per alarm batch on the thread every ACK waits for; with nothing else queued the
/// commit is `Full`, as before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CommitSync {
    /// The commit returns once it is on disk.
    Full,
    /// The commit returns once it is in the WAL (the OS's cache); on disk with the next
    /// full commit or sync.
    Deferred,
}

/// What the writer thread needs from a database connection (SQLite's [`super::conn`];
/// tests substitute a failing one).
pub(crate) trait WriteConn: Send {
    /// Append a batch in one transaction, dedup against the window (events received after
    /// `now_ms - dedup_window_ms`, and earlier events of the batch). One outcome per event;
    /// on error nothing of the batch is stored.
    fn append_batch(
        &mut self,
        batch: &[NewEvent],
        now_ms: i64,
        dedup_window_ms: i64,
    ) -> Result<Vec<Appended>, StoreError>;
    /// Replace the registry snapshot atomically.
    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StoreError>;
    /// Record a named cursor.
    fn set_cursor(&mut self, name: &str, seq: i64) -> Result<(), StoreError>;
    /// A cheap real write.
    fn check_writable(&mut self) -> Result<(), StoreError>;
    /// One short step of removing the oldest events received before `before_ms` with
    /// `seq < below_seq`: at most `max_rows` of them, or other work of the pass (about
    /// `budget` long); what it did (`purge.rs`).
    fn purge_step(
        &mut self,
        before_ms: i64,
        below_seq: i64,
        max_rows: usize,
        budget: Duration,
    ) -> Result<PurgeStep, StoreError> {
        let _ = (before_ms, below_seq, max_rows, budget);
        Err(StoreError::Unsupported {
            what: "purging events",
        })
    }
    /// Insert or replace (`Some(settings)`) or remove (`None`) the account whose lower-case
    /// key is `key`; whether a row was there before.
    fn put_account(&mut self, key: &str, settings: Option<&str>) -> Result<bool, StoreError> {
        let _ = (key, settings);
        Err(StoreError::Unsupported {
            what: "storing accounts",
        })
    }
    /// Apply the alarm engine's batch and move its cursor, in one transaction. With
    /// [`CommitSync::Deferred`] the commit does not wait for the disk: the writer makes it
    /// durable with the next full commit, or with [`WriteConn::sync`] before it goes idle.
    fn record_alarm_events(
        &mut self,
        upto_seq: i64,
        inputs: &[AlarmInput],
        sync: CommitSync,
    ) -> Result<Vec<AlarmChange>, StoreError>;
    /// Put every commit made so far on disk (deferred ones included).
    fn sync(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Apply each `(id, op)` in one transaction (a refusal writes nothing and does not
    /// stop the others); one result per op, in order.
    fn update_alarms(
        &mut self,
        ops: &[(i64, AlarmOp)],
        actor: &str,
        at_ms: i64,
    ) -> Result<Vec<Result<AlarmChange, AlarmRefusal>>, StoreError>;
    /// Upkeep while idle; with `finish`, everything pending now.
    fn maintain(&mut self, finish: bool) -> Result<(), StoreError>;
}

/// Longest the writer waits on an empty queue before recording a heartbeat.
const IDLE_TICK: Duration = Duration::from_millis(500);

pub(crate) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// What callers ask of the writer thread.
enum Request {
    Append(Vec<NewEvent>, Reply<Vec<Appended>>),
    Snapshot(Snapshot, Reply<()>),
    SetCursor {
        name: String,
        seq: i64,
        reply: Reply<()>,
    },
    CheckWritable(Reply<()>),
    Purge {
        before_ms: i64,
        below_seq: i64,
        max_rows: usize,
        reply: Reply<usize>,
    },
    PutAccount {
        key: String,
        settings: Option<String>,
        reply: Reply<bool>,
    },
    RecordAlarms {
        upto_seq: i64,
        inputs: Vec<AlarmInput>,
        reply: Reply<Vec<AlarmChange>>,
    },
    UpdateAlarms {
        ops: Vec<(i64, AlarmOp)>,
        actor: String,
        at_ms: i64,
        reply: Reply<Vec<Result<AlarmChange, AlarmRefusal>>>,
    },
    /// Test hook: the thread sleeps, as a hung disk would make it.
    Stall(Duration),
    /// Commit what is pending, finish upkeep, answer, stop.
    Close(Reply<()>),
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
pub(crate) struct WriterHandle {
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
    /// Store a batch durably: waits for queue space when the writer is behind, then for the
    /// commit; `Ok` means committed with fsync (duplicates answered with their seq).
    pub(crate) async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<Appended>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        self.call(|reply| Request::Append(events, reply)).await
    }

    /// [`WriterHandle::append`] handed over now: one push onto the queue while it has room
    /// (the ticket then waits on the reply channel alone); with the queue full, a future
    /// that waits for room first, as `append` does.
    pub(crate) fn submit(&self, events: Vec<NewEvent>) -> AppendTicket {
        if events.is_empty() {
            return AppendTicket::ready(Ok(Vec::new()));
        }
        let (reply, answer) = oneshot::channel();
        match self.tx.try_send(Request::Append(events, reply)) {
            Ok(()) => AppendTicket::Queued(answer),
            Err(mpsc::error::TrySendError::Full(request)) => {
                let tx = self.tx.clone();
                AppendTicket::Future(Box::pin(async move {
                    send_then_wait(&tx, request, answer).await
                }))
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                AppendTicket::ready(Err(StoreError::Closed))
            }
        }
    }

    /// Replace the registry snapshot.
    pub(crate) async fn snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        self.call(|reply| Request::Snapshot(snapshot, reply)).await
    }

    /// Record a named cursor.
    pub(crate) async fn set_cursor(&self, name: String, seq: i64) -> Result<(), StoreError> {
        self.call(|reply| Request::SetCursor { name, seq, reply })
            .await
    }

    /// Remove a batch of old events.
    pub(crate) async fn purge_events(
        &self,
        before_ms: i64,
        below_seq: i64,
        max_rows: usize,
    ) -> Result<usize, StoreError> {
        self.call(|reply| Request::Purge {
            before_ms,
            below_seq,
            max_rows,
            reply,
        })
        .await
    }

    /// Store (`Some`) or remove (`None`) one account's settings.
    pub(crate) async fn put_account(
        &self,
        key: String,
        settings: Option<String>,
    ) -> Result<bool, StoreError> {
        self.call(|reply| Request::PutAccount {
            key,
            settings,
            reply,
        })
        .await
    }

    /// A real write through the writer (for `/readyz`).
    pub(crate) async fn check_writable(&self) -> Result<(), StoreError> {
        self.call(Request::CheckWritable).await
    }

    /// Apply the alarm engine's batch (see `Store::record_alarm_events`).
    pub(crate) async fn record_alarm_events(
        &self,
        upto_seq: i64,
        inputs: Vec<AlarmInput>,
    ) -> Result<Vec<AlarmChange>, StoreError> {
        self.call(|reply| Request::RecordAlarms {
            upto_seq,
            inputs,
            reply,
        })
        .await
    }

    /// Apply operations to alarms in one transaction (see `Store::update_alarms`).
    pub(crate) async fn update_alarms(
        &self,
        ops: Vec<(i64, AlarmOp)>,
        actor: String,
        at_ms: i64,
    ) -> Result<Vec<Result<AlarmChange, AlarmRefusal>>, StoreError> {
        self.call(|reply| Request::UpdateAlarms {
            ops,
            actor,
            at_ms,
            reply,
        })
        .await
    }

    /// Test hook: make the writer thread sleep for `d` once it reaches this request.
    /// Returns when the request is queued, not when the stall ends.
    pub(crate) async fn stall(&self, d: Duration) -> Result<(), StoreError> {
        self.tx
            .send(Request::Stall(d))
            .await
            .map_err(|_| StoreError::Closed)
    }

    /// Commit what was queued before this, finish upkeep and stop the thread.
    pub(crate) async fn close(&self) -> Result<(), StoreError> {
        self.call(Request::Close).await
    }

    /// Requests queued (or being queued) and not yet taken by the writer.
    pub(crate) fn queue_depth(&self) -> usize {
        self.tx.max_capacity().saturating_sub(self.tx.capacity())
    }

    /// The thread is running and was alive within `max_silence`.
    pub(crate) fn is_healthy(&self, max_silence: Duration) -> bool {
        let ms = self.shared.heartbeat_ms.load(Ordering::Relaxed);
        let heartbeat = self.shared.start + Duration::from_millis(ms);
        !self.tx.is_closed() && Instant::now().saturating_duration_since(heartbeat) <= max_silence
    }

    /// Append transactions attempted so far (group-commit effectiveness, tests).
    pub(crate) fn batches(&self) -> u64 {
        self.shared.batches.load(Ordering::Relaxed)
    }

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Request) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        send_then_wait(&self.tx, make(reply), answer).await
    }
}

/// Queue `request` (waiting for room), then wait for its answer on `answer`; a writer gone
/// before either is [`StoreError::Closed`].
async fn send_then_wait<T>(
    tx: &mpsc::Sender<Request>,
    request: Request,
    answer: oneshot::Receiver<Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tx.send(request).await.map_err(|_| StoreError::Closed)?;
    answer.await.map_err(|_| StoreError::Closed)?
}

/// Writer tuning.
#[derive(Debug, Clone)]
pub(crate) struct WriterConfig {
    /// Requests that may wait in the queue before callers are held back.
    pub(crate) queue: usize,
    /// Events taken into one transaction at most (a request is never split).
    pub(crate) max_batch: usize,
    /// Retransmission window for dedup, ms.
    pub(crate) dedup_window_ms: i64,
    /// "Now" for the dedup window.
    pub(crate) clock: Clock,
}

/// Start the writer thread ("alarmhub-writer") owning `conn`.
///
/// Returns an error only if the thread (or its small runtime) cannot be created.
pub(crate) fn spawn<W: WriteConn + 'static>(
    conn: W,
    cfg: WriterConfig,
    hooks: CommitHooks,
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
        conn,
        max_batch: cfg.max_batch.max(1),
        dedup_window_ms: cfg.dedup_window_ms,
        clock: cfg.clock,
        hooks,
        shared: Arc::clone(&shared),
        events: Vec::new(),
        replies: Vec::new(),
        closing: None,
        purges: VecDeque::new(),
        pacer: Pacer::default(),
        deferred: false,
    };
    let join = std::thread::Builder::new()
        .name("alarmhub-writer".into())
        .spawn(move || writer.run(&rt, rx))
        .map_err(spawn_err)?;
    Ok((WriterHandle { tx, shared }, join))
}

/// The thread side.
struct Writer<W> {
    conn: W,
    max_batch: usize,
    dedup_window_ms: i64,
    clock: Clock,
    hooks: CommitHooks,
    shared: Arc<Shared>,
    /// Events of the appends taken and not yet committed, in request order.
    events: Vec<NewEvent>,
    /// One reply per pending append request, with how many of `events` are its own.
    replies: Vec<(usize, Reply<Vec<Appended>>)>,
    /// A close was asked for; answered once everything before it is done.
    closing: Option<Reply<()>>,
    /// Purge requests waiting for writer time, oldest first (`purge_pacing.rs`).
    purges: VecDeque<PurgeJob>,
    pacer: Pacer,
    /// A commit was `Deferred` and no full commit or sync followed yet.
    deferred: bool,
}

/// What the writer loop does next.
enum Next {
    Take(Request),
    /// Idle tick or a purge step done: go round again.
    Again,
    /// Every handle dropped and the queue drained.
    Closed,
}

impl<W: WriteConn> Writer<W> {
    fn run(mut self, rt: &tokio::runtime::Runtime, mut rx: mpsc::Receiver<Request>) {
        tracing::debug!("store writer started");
        while self.closing.is_none() {
            // After every batch and every idle tick.
            self.shared.beat();
            gauge!(names::STORE_QUEUE_DEPTH).set(rx.len() as f64);
            let first = match self.next(rt, &mut rx) {
                Next::Take(req) => req,
                Next::Again => continue,
                Next::Closed => break,
            };
            self.take(first, !rx.is_empty());
            while self.events.len() < self.max_batch && self.closing.is_none() {
                match rx.try_recv() {
                    Ok(req) => self.take(req, !rx.is_empty()),
                    Err(_) => break,
                }
            }
            self.commit_pending();
            // A queue that never empties must not hold a purge back for ever.
            let now = Instant::now();
            if self.purges.front().is_some_and(|j| j.starved(now)) && self.pacer.wait(now).is_zero()
            {
                self.purge_step();
            }
        }
        self.stop(&mut rx);
    }

    /// The next request; or, while nothing is queued, a purge step (when the budget allows)
    /// or the idle upkeep.
    fn next(&mut self, rt: &tokio::runtime::Runtime, rx: &mut mpsc::Receiver<Request>) -> Next {
        if self.deferred && rx.is_empty() {
            self.sync_deferred();
        }
        let wait = match self.purges.front() {
            Some(_) => self.pacer.wait(Instant::now()),
            None => IDLE_TICK,
        };
        if wait.is_zero() {
            return match rx.try_recv() {
                Ok(req) => Next::Take(req),
                Err(mpsc::error::TryRecvError::Empty) => {
                    self.purge_step();
                    Next::Again
                }
                Err(mpsc::error::TryRecvError::Disconnected) => Next::Closed,
            };
        }
        // The timer must be created inside the runtime, hence the async block.
        match rt.block_on(async { tokio::time::timeout(wait, rx.recv()).await }) {
            Ok(Some(req)) => Next::Take(req),
            Ok(None) => Next::Closed,
            // The purge budget allows a step now.
            Err(_) if !self.purges.is_empty() => Next::Again,
            Err(_idle) => {
                if let Err(e) = self.conn.maintain(false) {
                    tracing::warn!(error = %e, "store upkeep failed; retried on the next idle tick");
                }
                Next::Again
            }
        }
    }

    /// Put the deferred commits on disk (the writer is about to wait for work).
    fn sync_deferred(&mut self) {
        match self.conn.sync() {
            Ok(()) => self.deferred = false,
            Err(e) => {
                tracing::error!(error = %e, "syncing the store's deferred alarm commits failed; retried when idle again");
            }
        }
    }

    /// One step of the oldest purge job; answers it when it is done or failed.
    fn purge_step(&mut self) {
        let Some(job) = self.purges.front_mut() else {
            return;
        };
        let asked = self.pacer.rows(job.left);
        let started = Instant::now();
        let result = self
            .conn
            .purge_step(job.before_ms, job.below_seq, asked, STEP_TARGET);
        let now = Instant::now();
        self.pacer.stepped(asked, now - started, now);
        self.shared.beat();
        job.last_step = now;
        let done = match result {
            Ok(step) => {
                job.removed += step.removed;
                job.left -= step.removed.min(job.left);
                !step.more || job.left == 0
            }
            Err(e) => {
                if let Some(job) = self.purges.pop_front() {
                    let _ = job.reply.send(Err(e));
                }
                return;
            }
        };
        if done {
            if let Some(job) = self.purges.pop_front() {
                let _ = job.reply.send(Ok(job.removed));
            }
        }
    }

    /// Refuse whatever is still queued, finish the upkeep (a clean stop leaves nothing for
    /// the next start to catch up on), and answer a close.
    fn stop(mut self, rx: &mut mpsc::Receiver<Request>) {
        rx.close();
        // Dropped replies answer their callers `Closed`.
        while rx.try_recv().is_ok() {}
        for job in self.purges.drain(..) {
            let _ = job.reply.send(Ok(job.removed));
        }
        if self.deferred {
            self.sync_deferred();
        }
        let finished = self.conn.maintain(true);
        if let Err(e) = &finished {
            tracing::warn!(error = %e, "store upkeep at shutdown failed; redone at the next start");
        }
        if let Some(reply) = self.closing.take() {
            let _ = reply.send(finished);
        }
        tracing::debug!("store writer stopped");
    }

    /// Queue an append for the current transaction, or a purge for the writer's spare time;
    /// any other request first commits what is pending, so requests take effect in the order
    /// they were sent. `more`: other requests are queued behind this one.
    fn take(&mut self, req: Request, more: bool) {
        // Alive now; beating here (not only at the loop top) means a caller answered after a
        // stall never sees a stale heartbeat.
        self.shared.beat();
        let req = match req {
            Request::Append(events, reply) => {
                self.replies.push((events.len(), reply));
                self.events.extend(events);
                return;
            }
            // Worked off in steps while nothing else waits (`purge_pacing.rs`).
            Request::Purge {
                before_ms,
                below_seq,
                max_rows,
                reply,
            } => {
                let job = PurgeJob::new(before_ms, below_seq, max_rows, reply);
                if max_rows == 0 {
                    let _ = job.reply.send(Ok(0));
                } else {
                    self.purges.push_back(job);
                }
                return;
            }
            other => other,
        };
        self.commit_pending();
        match req {
            Request::Append(..) | Request::Purge { .. } => {}
            Request::Snapshot(snapshot, reply) => {
                let _ = reply.send(self.conn.save_snapshot(&snapshot));
            }
            Request::SetCursor { name, seq, reply } => {
                let _ = reply.send(self.conn.set_cursor(&name, seq));
            }
            Request::CheckWritable(reply) => {
                let _ = reply.send(self.conn.check_writable());
            }
            Request::PutAccount {
                key,
                settings,
                reply,
            } => {
                let _ = reply.send(self.conn.put_account(&key, settings.as_deref()));
            }
            Request::RecordAlarms {
                upto_seq,
                inputs,
                reply,
            } => {
                let sync = if more {
                    CommitSync::Deferred
                } else {
                    CommitSync::Full
                };
                // Marked even on an error: the commit may have gone through before it (say,
                // while switching back to FULL); a sync too many costs nothing.
                if sync == CommitSync::Deferred {
                    self.deferred = true;
                }
                let started = Instant::now();
                let result = self.conn.record_alarm_events(upto_seq, &inputs, sync);
                histogram!(names::STORE_ALARM_COMMIT_SECONDS)
                    .record(started.elapsed().as_secs_f64());
                let _ = reply.send(result);
            }
            Request::UpdateAlarms {
                ops,
                actor,
                at_ms,
                reply,
            } => {
                let _ = reply.send(self.conn.update_alarms(&ops, &actor, at_ms));
            }
            Request::Stall(d) => {
                tracing::warn!(?d, "store writer stalling (test hook)");
                std::thread::sleep(d);
                self.shared.beat();
            }
            Request::Close(reply) => self.closing = Some(reply),
        }
    }

    /// Commit the pending appends in one transaction, publish, then answer. A failed commit
    /// answers every request with the error (nothing may be ACKed); the next batch retries.
    fn commit_pending(&mut self) {
        if self.replies.is_empty() {
            return;
        }
        let events = std::mem::take(&mut self.events);
        let replies = std::mem::take(&mut self.replies);
        let started = Instant::now();
        let result = self
            .conn
            .append_batch(&events, self.clock.now_ms(), self.dedup_window_ms);
        histogram!(names::STORE_COMMIT_SECONDS).record(started.elapsed().as_secs_f64());
        histogram!(names::STORE_BATCH_SIZE).record(events.len() as f64);
        self.shared.batches.fetch_add(1, Ordering::Relaxed);
        self.shared.beat();
        match result {
            Ok(outcomes) => {
                // A commit that stored an event synced the WAL to its end, deferred
                // commits before it included.
                if outcomes.iter().any(|o| matches!(o, Appended::Stored(_))) {
                    self.deferred = false;
                }
                self.publish_and_answer(events, replies, outcomes)
            }
            Err(e) => {
                tracing::error!(error = %e, events = events.len(),
                    "store commit failed; the batch is not acknowledged");
                counter!(names::STORE_EVENTS_TOTAL, "outcome" => "error")
                    .increment(events.len() as u64);
                for (_, reply) in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }

    fn publish_and_answer(
        &mut self,
        events: Vec<NewEvent>,
        replies: Vec<(usize, Reply<Vec<Appended>>)>,
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
        counter!(names::STORE_EVENTS_TOTAL, "outcome" => "stored").increment(stored.len() as u64);
        counter!(names::STORE_EVENTS_TOTAL, "outcome" => "duplicate").increment(duplicates as u64);
        if !stored.is_empty() {
            self.hooks.committed(&stored);
        }
        // A reply whose caller went away is fine: the event is stored, the panel will
        // retransmit and be answered as a duplicate.
        let mut outcomes = outcomes.into_iter();
        for (n, reply) in replies {
            let _ = reply.send(Ok(outcomes.by_ref().take(n).collect()));
        }
        if !stored.is_empty() {
            self.hooks.answered(&stored);
        }
    }
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "writer_purge_tests.rs"]
mod purge_tests;
