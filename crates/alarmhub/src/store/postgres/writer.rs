//! The node's writer task: group commit and following the shared sequence.
//!
//! One tokio task owns the writing connection. It takes every append queued (up to
//! `max_batch` events, never splitting a call) into one transaction, commits it, hands the
//! events to the `committed` hook, answers each caller, and then hands them to the
//! `answered` hook — the SQLite writer's contract ([`CommitHooks`]). Between batches it
//! *follows*: it reads the events other nodes committed (woken by `LISTEN alarmhub_events`,
//! and every [`FOLLOW_TICK`] regardless, because notifications are lost while a connection
//! is down) and hands them to both hooks too, so the hooks see every event of every node
//! exactly once, in seq order.
//!
//! # One sequence for all nodes
//!
//! An append takes the transaction-level advisory lock [`SEQ_LOCK`] first, then (one
//! statement, `append.rs`) reads the counter row `ah_sequence`, checks dedup, inserts its
//! events with the next seqs and moves the counter, and commits; the lock is released by
//! the commit. The four go to the database as one pipeline, so the lock is never held while
//! the node works or waits for its turn on a busy CPU. So appends from all nodes
//! are serialised from seq assignment to commit, and commit order equals seq order. Readers
//! therefore never see a gap that a later commit fills: PostgreSQL makes a transaction
//! visible (ProcArrayEndTransaction) *before* it releases its locks, so the next appender
//! gets the lock only once the previous commit is visible, and any snapshot that sees seq
//! `n` sees every seq below it. Plain `seq > $cursor` catch-up queries are then exact. The
//! price is that commits of all nodes queue on one lock; group commit makes each hold carry
//! many events (one fsync for a whole batch), which is what keeps throughput up. The
//! alternative — a sequence object plus readers waiting for in-flight seqs — would need
//! every reader to know which transactions are still open, and a crashed node's open
//! transaction would stall them all until PostgreSQL noticed.
//!
//! Dedup runs under the same lock against the table itself (`dedup_key` index), so a panel
//! that retransmits to node B what node A already stored gets A's seq back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics::{counter, gauge, histogram};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Statement};

use super::append::{outcomes, AppendParams, APPEND};
use super::connect::Target;
use super::events::{event_from_row, Columns, EVENT_COLUMNS, INSERT_EVENTS};
use super::nodes;
use crate::clock::Clock;
use crate::events::{codes, Appended, NewEvent, Source, StoredEvent};
use crate::metrics::names;
use crate::store::{CommitHooks, StoreError};

/// Advisory lock key serialising seq assignment ("alarmhub" + 2).
pub(crate) const SEQ_LOCK: i64 = 0x616c_6172_6d68_7502;
/// The NOTIFY channel every commit signals (payload: the highest seq committed).
pub(crate) const EVENTS_CHANNEL: &str = "alarmhub_events";
/// Longest the writer goes without looking for other nodes' events.
pub(crate) const FOLLOW_TICK: Duration = Duration::from_millis(250);
/// Events read per catch-up query.
const FOLLOW_PAGE: i64 = 10_000;

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// What callers ask of the writer task.
enum Request {
    Append(Vec<NewEvent>, Reply<Vec<Appended>>),
    CheckWritable(Reply<()>),
    /// Start following the shared sequence after this seq.
    Follow(i64, Reply<()>),
    /// Take a dead node's panels: OFFLINE for each it still owns; how many.
    Reap(String, Reply<usize>),
    /// Test hook: the task sleeps, as a hung database would make it.
    Stall(Duration),
    Close(Reply<()>),
}

#[derive(Debug)]
struct Shared {
    start: Instant,
    heartbeat_ms: AtomicU64,
    batches: AtomicU64,
}

impl Shared {
    fn beat(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.heartbeat_ms.store(ms, Ordering::Relaxed);
    }
}

/// Cheap, cloneable access to the writer task.
#[derive(Clone, Debug)]
pub(crate) struct WriterHandle {
    tx: mpsc::Sender<Request>,
    shared: Arc<Shared>,
}

impl WriterHandle {
    pub(crate) async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<Appended>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        self.call(|r| Request::Append(events, r)).await
    }

    pub(crate) async fn check_writable(&self) -> Result<(), StoreError> {
        self.call(Request::CheckWritable).await
    }

    pub(crate) async fn follow_from(&self, seq: i64) -> Result<(), StoreError> {
        self.call(|r| Request::Follow(seq, r)).await
    }

    /// Store OFFLINE for every panel the dead node `node` still owns and forget the node;
    /// the number of panels turned offline.
    pub(crate) async fn reap(&self, node: String) -> Result<usize, StoreError> {
        self.call(|r| Request::Reap(node, r)).await
    }

    pub(crate) async fn stall(&self, d: Duration) -> Result<(), StoreError> {
        self.tx
            .send(Request::Stall(d))
            .await
            .map_err(|_| StoreError::Closed)
    }

    pub(crate) async fn close(&self) -> Result<(), StoreError> {
        self.call(Request::Close).await
    }

    pub(crate) fn queue_depth(&self) -> usize {
        self.tx.max_capacity().saturating_sub(self.tx.capacity())
    }

    pub(crate) fn is_healthy(&self, max_silence: Duration) -> bool {
        let ms = self.shared.heartbeat_ms.load(Ordering::Relaxed);
        let heartbeat = self.shared.start + Duration::from_millis(ms);
        !self.tx.is_closed() && Instant::now().saturating_duration_since(heartbeat) <= max_silence
    }

    pub(crate) fn batches(&self) -> u64 {
        self.shared.batches.load(Ordering::Relaxed)
    }

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Request) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

/// Writer tuning.
pub(crate) struct WriterConfig {
    pub(crate) queue: usize,
    pub(crate) max_batch: usize,
    pub(crate) dedup_window_ms: i64,
    pub(crate) clock: Clock,
}

/// Start the writer task on the current runtime (it connects on its first use), at the
/// sequence position `followed` (everything up to it is taken as delivered).
pub(crate) fn spawn(
    target: Target,
    node: String,
    followed: i64,
    cfg: WriterConfig,
    hooks: CommitHooks,
) -> (WriterHandle, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(cfg.queue.max(1));
    let shared = Arc::new(Shared {
        start: Instant::now(),
        heartbeat_ms: AtomicU64::new(0),
        batches: AtomicU64::new(0),
    });
    let writer = Writer {
        target,
        node,
        client: None,
        max_batch: cfg.max_batch.max(1),
        dedup_window_ms: cfg.dedup_window_ms,
        clock: cfg.clock,
        hooks,
        shared: Arc::clone(&shared),
        followed,
        following: false,
        notes: None,
        listener: None,
    };
    let join = tokio::spawn(writer.run(rx));
    (WriterHandle { tx, shared }, join)
}

/// The task side.
struct Writer {
    target: Target,
    /// This node's id (panel ownership).
    node: String,
    /// The writing connection and its statements; `None` after a failure (reconnected on
    /// the next use).
    client: Option<(Client, Prepared)>,
    max_batch: usize,
    dedup_window_ms: i64,
    clock: Clock,
    hooks: CommitHooks,
    shared: Arc<Shared>,
    /// Every seq up to this one has been handed to the hooks (or was before the start).
    followed: i64,
    /// Following other nodes' commits (after `follow_from` or the first append).
    following: bool,
    /// Notifications from the listening connection.
    notes: Option<mpsc::UnboundedReceiver<(String, String)>>,
    /// The listening connection (kept so it stays open).
    listener: Option<Client>,
}

/// Appends taken for one transaction.
#[derive(Default)]
struct Pending {
    events: Vec<NewEvent>,
    replies: Vec<(usize, Reply<Vec<Appended>>)>,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<Request>) {
        tracing::debug!(database = %self.target.name, "PostgreSQL store writer started");
        let mut closing = None;
        while closing.is_none() {
            self.shared.beat();
            gauge!(names::STORE_QUEUE_DEPTH).set(rx.len() as f64);
            let first = tokio::select! {
                biased;
                req = rx.recv() => match req {
                    Some(req) => req,
                    None => break,
                },
                note = recv_note(&mut self.notes) => {
                    if note.is_none() {
                        // The listening connection ended: reopened on the next tick.
                        self.notes = None;
                        self.listener = None;
                    }
                    self.follow().await;
                    continue;
                }
                () = tokio::time::sleep(FOLLOW_TICK) => {
                    self.follow().await;
                    continue;
                }
            };
            let mut pending = Pending::default();
            let mut next = Some(first);
            while let Some(req) = next.take() {
                match req {
                    Request::Append(events, reply) => {
                        pending.replies.push((events.len(), reply));
                        pending.events.extend(events);
                    }
                    other => {
                        self.commit(std::mem::take(&mut pending)).await;
                        if let Some(reply) = self.handle(other).await {
                            closing = Some(reply);
                            break;
                        }
                    }
                }
                if pending.events.len() < self.max_batch {
                    next = rx.try_recv().ok();
                }
            }
            self.commit(pending).await;
        }
        rx.close();
        while rx.try_recv().is_ok() {}
        if let Some(reply) = closing {
            let _ = reply.send(Ok(()));
        }
        tracing::debug!(database = %self.target.name, "PostgreSQL store writer stopped");
    }

    /// Anything but an append; `Some` for a close.
    async fn handle(&mut self, req: Request) -> Option<Reply<()>> {
        self.shared.beat();
        match req {
            Request::Append(..) => {}
            Request::CheckWritable(reply) => {
                let _ = reply.send(self.check_writable().await);
            }
            Request::Follow(seq, reply) => {
                self.followed = seq;
                self.following = true;
                self.follow().await;
                let _ = reply.send(Ok(()));
            }
            Request::Reap(node, reply) => {
                let _ = reply.send(self.reap(&node).await);
            }
            Request::Stall(d) => {
                tracing::warn!(?d, "store writer stalling (test hook)");
                tokio::time::sleep(d).await;
                self.shared.beat();
            }
            Request::Close(reply) => return Some(reply),
        }
        None
    }

    /// The writing connection and its prepared statements, reconnecting after a failure.
    async fn client(&mut self, op: &'static str) -> Result<(&Client, &Prepared), StoreError> {
        if self.client.as_ref().is_none_or(|c| c.0.is_closed()) {
            self.client = None;
            let client = self.target.connect(op).await?;
            let err = self.target.err(op);
            client
                // Generic plans: the append statement is planned once per connection,
                // not on every commit while the sequence lock is held. No sequential
                // scans: a plan made while `ah_events` was new and never analysed (a
                // fresh cluster) would otherwise read the whole table on every append —
                // the dedup lookup — and every follow, slower as the table grows.
                .batch_execute(
                    "SET synchronous_commit = on; SET plan_cache_mode = force_generic_plan; \
                     SET enable_seqscan = off",
                )
                .await
                .map_err(&err)?;
            let prepared = Prepared::new(&client).await.map_err(&err)?;
            self.client = Some((client, prepared));
        }
        let (c, p) = self.client.as_ref().ok_or(StoreError::Closed)?;
        Ok((c, p))
    }

    async fn check_writable(&mut self) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        let target = self.target.clone();
        let (client, _) = self.client("write probe").await?;
        client
            .execute(
                "INSERT INTO ah_meta (key, value) VALUES ('writable_probe_ms', $1) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&now],
            )
            .await
            .map_err(target.err("write probe"))?;
        Ok(())
    }

    /// Commit `pending` in one transaction, hand what is new (after whatever other nodes
    /// committed before it) to the `committed` hook, answer every caller, then hand it to
    /// the `answered` hook.
    async fn commit(&mut self, pending: Pending) {
        if pending.replies.is_empty() {
            return;
        }
        self.following = true;
        let started = Instant::now();
        let now = self.clock.now_ms();
        let result = self.append_batch(&pending.events, now).await;
        histogram!(names::STORE_COMMIT_SECONDS).record(started.elapsed().as_secs_f64());
        histogram!(names::STORE_BATCH_SIZE).record(pending.events.len() as f64);
        self.shared.batches.fetch_add(1, Ordering::Relaxed);
        self.shared.beat();
        let (outcomes, before) = match result {
            Ok(ok) => ok,
            Err(e) => {
                if matches!(e, StoreError::Postgres { .. }) {
                    // Maybe a broken connection: the next batch starts on a fresh one.
                    self.client = None;
                }
                tracing::error!(error = %e, events = pending.events.len(),
                    "store commit failed; the batch is not acknowledged");
                counter!(names::STORE_EVENTS_TOTAL, "outcome" => "error")
                    .increment(pending.events.len() as u64);
                for (_, reply) in pending.replies {
                    let _ = reply.send(Err(e.clone()));
                }
                return;
            }
        };
        let own: Vec<Arc<StoredEvent>> = pending
            .events
            .into_iter()
            .zip(&outcomes)
            .filter_map(|(event, outcome)| match *outcome {
                Appended::Stored(seq) => Some(Arc::new(StoredEvent { seq, event })),
                Appended::Duplicate(_) => None,
            })
            .collect();
        counter!(names::STORE_EVENTS_TOTAL, "outcome" => "stored").increment(own.len() as u64);
        counter!(names::STORE_EVENTS_TOTAL, "outcome" => "duplicate")
            .increment((outcomes.len() - own.len()) as u64);
        let delivered = self.publish(own, before).await;
        let mut outcomes = outcomes.into_iter();
        for (n, reply) in pending.replies {
            let _ = reply.send(Ok(outcomes.by_ref().take(n).collect()));
        }
        if let Some(own) = delivered {
            self.hooks.answered(&own);
        }
    }

    /// Everything committed before a transaction of ours (other nodes' events, the
    /// originals of duplicates) goes to both hooks first, then ours to `committed`, so it
    /// stays in seq order. Returns ours when they went to `committed` (the caller hands
    /// them to `answered` once it has answered), `None` when the follower will deliver them.
    async fn publish(
        &mut self,
        own: Vec<Arc<StoredEvent>>,
        before: i64,
    ) -> Option<Vec<Arc<StoredEvent>>> {
        if self.catch_up(before).await {
            let last = own.last()?.seq;
            self.hooks.committed(&own);
            self.followed = last;
            Some(own)
        } else {
            // The events are durable, so callers are answered; the follower delivers them
            // (in order, after the gap) once the database answers again.
            tracing::warn!(
                "delivering a commit to the live state later: reading the events before it failed"
            );
            None
        }
    }

    /// The reap transaction (see `nodes.rs`): under the sequence lock, take the dead
    /// node's ownership rows, store an OFFLINE for each, forget the node.
    async fn reap(&mut self, dead: &str) -> Result<usize, StoreError> {
        self.following = true;
        let target = self.target.clone();
        let err = target.err("reap a dead node");
        let now = self.clock.now_ms();
        let result = async {
            let (client, p) = self.client("reap a dead node").await?;
            let lock_params: [&(dyn ToSql + Sync); 1] = [&SEQ_LOCK];
            let node_params: [&(dyn ToSql + Sync); 1] = [&dead];
            let (_, _, taken, before) = tokio::try_join!(
                client.batch_execute("BEGIN"),
                client.execute(&p.lock, &lock_params),
                client.query(&p.take_panels, &node_params),
                client.query_one(&p.last, &[]),
            )
            .map_err(&err)?;
            let before: i64 = before.get(0);
            let mut columns = Columns::default();
            let mut own = Vec::with_capacity(taken.len());
            for (i, row) in taken.iter().enumerate() {
                let account: String = row.get(0);
                let dialect: Option<&str> = row.get(1);
                let ev = lost_node_event(&account, dialect, dead, now);
                let seq = before + 1 + i as i64;
                columns.push(seq, &ev);
                own.push(Arc::new(StoredEvent { seq, event: ev }));
            }
            let next = before + own.len() as i64;
            let payload = next.to_string();
            let insert_params = columns.params();
            let last_params: [&(dyn ToSql + Sync); 1] = [&next];
            let notify_params: [&(dyn ToSql + Sync); 2] = [&EVENTS_CHANNEL, &payload];
            tokio::try_join!(
                client.execute(&p.insert, &insert_params),
                client.execute(&p.set_last, &last_params),
                client.execute(&p.notify, &notify_params),
                client.execute(&p.forget_node, &node_params),
                client.batch_execute("COMMIT"),
            )
            .map_err(&err)?;
            Ok::<_, StoreError>((own, before))
        }
        .await;
        match result {
            Ok((own, before)) => {
                let n = own.len();
                // No caller waits on a reap's events.
                if let Some(own) = self.publish(own, before).await {
                    self.hooks.answered(&own);
                }
                Ok(n)
            }
            Err(e) => {
                self.client = None;
                Err(e)
            }
        }
    }

    /// The transaction: lock, then [`APPEND`] (dedup, the OFFLINE rule, seqs, insert,
    /// counter, ownership, notify), then commit — sent as one pipeline, so the lock is
    /// held for the database's work and the commit only (`append.rs`). Any error aborts
    /// the transaction (a COMMIT after an error rolls back) and the connection is then
    /// replaced. Returns the outcomes and the counter before this commit.
    async fn append_batch(
        &mut self,
        batch: &[NewEvent],
        now_ms: i64,
    ) -> Result<(Vec<Appended>, i64), StoreError> {
        let cutoff = now_ms.saturating_sub(self.dedup_window_ms);
        let target = self.target.clone();
        let err = target.err("append events");
        let params = AppendParams::new(batch, cutoff, &self.node, now_ms, EVENTS_CHANNEL);
        let append_params = params.params();
        let (client, p) = self.client("append events").await?;
        let lock_params: [&(dyn ToSql + Sync); 1] = [&SEQ_LOCK];
        let (_, _, rows, _) = tokio::try_join!(
            client.batch_execute("BEGIN"),
            client.execute(&p.lock, &lock_params),
            client.query(&p.append, &append_params),
            client.batch_execute("COMMIT"),
        )
        .map_err(&err)?;
        outcomes(&rows, batch.len()).ok_or_else(|| StoreError::BadRow {
            target: target.name.to_string(),
            seq: 0,
            what: format!(
                "the append answered {} rows for {} events",
                rows.len(),
                batch.len()
            ),
        })
    }

    /// Hand every committed event after `followed` up to `upto` to both hooks; false if
    /// the database could not be read (nothing after the last page read is marked seen).
    async fn catch_up(&mut self, upto: i64) -> bool {
        while self.followed < upto {
            match self.read_after(self.followed, upto).await {
                Ok(page) if page.is_empty() => break,
                Ok(page) => self.deliver(page),
                Err(e) => {
                    tracing::warn!(error = %e, "reading other nodes' events failed; retried");
                    return false;
                }
            }
        }
        true
    }

    /// Follow whatever other nodes committed; (re)open the listening connection first.
    async fn follow(&mut self) {
        self.shared.beat();
        if !self.following {
            return;
        }
        if self.notes.is_none() {
            self.listen().await;
        }
        self.catch_up(i64::MAX).await;
    }

    async fn listen(&mut self) {
        let (tx, rx) = mpsc::unbounded_channel();
        let result = async {
            let client = self
                .target
                .connect_listening("listen for events", tx)
                .await?;
            client
                .batch_execute(&format!("LISTEN {EVENTS_CHANNEL}"))
                .await
                .map_err(self.target.err("listen for events"))?;
            Ok::<_, StoreError>(client)
        }
        .await;
        match result {
            Ok(client) => {
                self.listener = Some(client);
                self.notes = Some(rx);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for other nodes' events; polling");
            }
        }
    }

    async fn read_after(&mut self, after: i64, upto: i64) -> Result<Vec<StoredEvent>, StoreError> {
        let target = self.target.clone();
        let (client, p) = self.client("follow events").await?;
        let rows = client
            .query(&p.follow, &[&after, &upto, &FOLLOW_PAGE])
            .await
            .map_err(target.err("follow events"))?;
        rows.iter()
            .map(|r| {
                event_from_row(r).map_err(|what| StoreError::BadRow {
                    target: target.name.to_string(),
                    seq: r.try_get(0).unwrap_or(0),
                    what,
                })
            })
            .collect()
    }

    fn deliver(&mut self, page: Vec<StoredEvent>) {
        let Some(last) = page.last().map(|e| e.seq) else {
            return;
        };
        let events: Vec<Arc<StoredEvent>> = page.into_iter().map(Arc::new).collect();
        self.hooks.committed(&events);
        self.hooks.answered(&events);
        self.followed = last;
    }
}

/// The writer's statements, prepared once per connection.
struct Prepared {
    lock: Statement,
    append: Statement,
    last: Statement,
    insert: Statement,
    set_last: Statement,
    notify: Statement,
    follow: Statement,
    take_panels: Statement,
    forget_node: Statement,
}

impl Prepared {
    async fn new(c: &Client) -> Result<Prepared, tokio_postgres::Error> {
        let follow = format!(
            "SELECT {EVENT_COLUMNS} FROM ah_events WHERE seq > $1 AND seq <= $2 \
             ORDER BY seq LIMIT $3"
        );
        let (lock, append, last, insert, set_last, notify, follow) = tokio::try_join!(
            c.prepare("SELECT pg_advisory_xact_lock($1)"),
            c.prepare(APPEND),
            c.prepare("SELECT last FROM ah_sequence WHERE id = 1"),
            c.prepare(INSERT_EVENTS),
            c.prepare("UPDATE ah_sequence SET last = $1 WHERE id = 1"),
            c.prepare("SELECT pg_notify($1, $2)"),
            c.prepare(&follow),
        )?;
        let (take_panels, forget_node) =
            tokio::try_join!(c.prepare(nodes::TAKE_PANELS), c.prepare(nodes::FORGET_NODE))?;
        Ok(Prepared {
            lock,
            append,
            last,
            insert,
            set_last,
            notify,
            follow,
            take_panels,
            forget_node,
        })
    }
}

/// The OFFLINE stored for a panel whose node died.
fn lost_node_event(account: &str, dialect: Option<&str>, node: &str, now_ms: i64) -> NewEvent {
    let dialect = dialect.and_then(crate::events::parse_dialect);
    NewEvent {
        account: account.to_owned(),
        source: Source::Receiver,
        code: codes::OFFLINE,
        sia_code: None,
        group: 0,
        zone: 0,
        received_at_ms: now_ms,
        panel_time: None,
        protocol: String::new(),
        frame_seq: String::new(),
        peer: String::new(),
        facts: crate::events::Facts {
            dialect,
            ..crate::events::Facts::default()
        },
        detail: serde_json::json!({
            "reason": "node_lost",
            "node": node,
            "dialect": dialect.map(|d| d.as_str()),
        })
        .into(),
        dedup_key: None,
    }
}

/// The next notification, or never when there is no listening connection.
async fn recv_note(
    notes: &mut Option<mpsc::UnboundedReceiver<(String, String)>>,
) -> Option<(String, String)> {
    match notes {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
