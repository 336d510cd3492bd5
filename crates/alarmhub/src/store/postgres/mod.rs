//! The PostgreSQL backend: [`PgStore`], the [`Store`] on a database that several alarmhub
//! nodes share (`alarmhub serve --store postgres://USER@HOST/DB`).
//!
//! * `connect.rs`: the URL, the name used in errors (never the password), connections and
//!   the read pool (`deadpool-postgres` over `tokio-postgres`).
//! * `schema.rs`: versioned migrations (`migrations/NNN_*.sql`) run under an advisory lock,
//!   so two nodes starting together never migrate at once.
//! * `writer.rs`: the node's group-commit writer, the one sequence shared by every node (an
//!   advisory lock held from seq assignment to commit makes commit order equal seq order;
//!   its module doc says why this and not readers waiting for in-flight seqs), dedup across
//!   nodes, and following the other nodes' commits (`LISTEN` as the wake-up, a `seq >`
//!   query as the truth) so the commit hooks see every event of every node once, in seq order.
//!   `append.rs`: the one statement that decides and writes an append (dedup, seqs,
//!   ownership), so the sequence lock is never held across a round trip to the node.
//! * One file per area of the schema: `events.rs` (rows, dedup lookup, queries),
//!   `snapshot.rs`, `cursors.rs`; alarm records in `alarms.rs` (writes, under their own
//!   advisory lock and sequence), `alarm_reads.rs` and `alarm_watch.rs` (the cross-node
//!   wake-up); the notification outbox in `outbox.rs`; the compat API's Sync marks in
//!   `sync_marks.rs`; routed commands in `commands.rs`, leases in `nodes.rs`.
//!
//! Contract differences from SQLite, all in the cluster's favour: the commit hooks also see the
//! events other nodes commit (after [`Store::follow_from`], or the first append); a
//! snapshot older than the stored one does not replace it; durability is PostgreSQL's
//! (`synchronous_commit = on` is set on the writing connection, whatever the server
//! default).

mod accounts;
mod accounts_watch;
mod alarm_reads;
mod alarm_watch;
mod alarms;
mod append;
mod commands;
mod connect;
mod cursors;
mod events;
mod listen_poll;
mod nodes;
mod outbox;
mod outbox_sql;
mod schema;
mod size;
mod snapshot;
mod sync_marks;
mod writer;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::Pool;

use super::{
    CommitHooks, EventQuery, OnCommit, RoutedCommand, Snapshot, Store, StoreError, StoreOptions,
    SyncMark,
};
use crate::alarms::{
    Alarm, AlarmChange, AlarmDetail, AlarmInput, AlarmOp, AlarmQuery, AlarmRefusal, OpenAlarm,
};
use crate::clock::Clock;
use crate::events::{Appended, NewEvent, StoredEvent};
use connect::Target;
use events::{build_query, event_from_row, EVENT_COLUMNS};
use writer::{WriterConfig, WriterHandle};

pub use connect::is_postgres_url;
pub use outbox::PgOutbox;
pub(crate) use schema::{connect_migrated, migrated_pool};

/// `url` as logs and errors name it: `postgres://user@host:port/db`, never the password.
pub fn describe_url(url: &str) -> String {
    match Target::parse(url) {
        Ok(t) => t.name.to_string(),
        Err(_) => connect::redact(url),
    }
}

/// The PostgreSQL store of one node: its writer task and its read pool.
#[derive(Debug)]
pub struct PgStore {
    target: Target,
    /// This node's id (lease row, panel ownership).
    node: String,
    writer: WriterHandle,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The lease task and what stops it.
    lease: Mutex<
        Option<(
            tokio_util::sync::CancellationToken,
            tokio::task::JoinHandle<()>,
        )>,
    >,
    /// The alarm change follower (cross-node wake-up) and what stops it.
    alarm_follow: Mutex<
        Option<(
            tokio_util::sync::CancellationToken,
            tokio::task::JoinHandle<()>,
        )>,
    >,
    /// Highest committed alarm change seq of any node.
    alarm_changes: tokio::sync::watch::Sender<i64>,
    pool: Pool,
    clock: Clock,
    /// A snapshot another node saved less than this long ago is not replaced.
    snapshot_fresh_ms: i64,
    closed: AtomicBool,
}

impl PgStore {
    /// Connect to `url`, create or migrate the schema (under the migration lock), and start
    /// the writer task on the current runtime; `on_commit` sees every commit of every node
    /// from now on. Fails naming the database (without password) when it cannot be reached
    /// or its schema is newer than this build.
    pub async fn open(
        url: &str,
        opts: StoreOptions,
        on_commit: OnCommit,
    ) -> Result<Arc<PgStore>, StoreError> {
        PgStore::open_with_hooks(url, opts, on_commit.into()).await
    }

    /// [`PgStore::open`] with both commit hooks (see [`CommitHooks`]).
    pub async fn open_with_hooks(
        url: &str,
        opts: StoreOptions,
        hooks: CommitHooks,
    ) -> Result<Arc<PgStore>, StoreError> {
        let target = Target::parse(url)?;
        let mut client = target.connect("connect").await?;
        schema::migrate(&mut client, &target).await?;
        let last: i64 = client
            .query_one("SELECT last FROM ah_sequence WHERE id = 1", &[])
            .await
            .map_err(target.err("read last seq"))?
            .get(0);
        let pool = target.pool()?;
        let cfg = WriterConfig {
            queue: opts.queue,
            max_batch: opts.max_batch,
            dedup_window_ms: opts.dedup_window_ms,
            clock: opts.clock.clone(),
        };
        let node = nodes::new_node_id();
        nodes::register(&client, &target, &node).await?;
        let (writer, task) = writer::spawn(target.clone(), node.clone(), last, cfg, hooks);
        let stop = tokio_util::sync::CancellationToken::new();
        let lease = tokio::spawn(nodes::lease_loop(
            target.clone(),
            node.clone(),
            writer.clone(),
            stop.clone(),
        ));
        let last_change = alarm_reads::last_change_seq(&client, &target).await?;
        let (alarm_changes, _) = tokio::sync::watch::channel(last_change);
        let alarm_stop = tokio_util::sync::CancellationToken::new();
        let alarm_task = tokio::spawn(alarm_watch::follow(
            target.clone(),
            alarm_changes.clone(),
            alarm_stop.clone(),
        ));
        tracing::info!(database = %target.name, node = %node, last_seq = last, "PostgreSQL store open");
        Ok(Arc::new(PgStore {
            target,
            node,
            writer,
            task: Mutex::new(Some(task)),
            lease: Mutex::new(Some((stop, lease))),
            alarm_follow: Mutex::new(Some((alarm_stop, alarm_task))),
            alarm_changes,
            pool,
            clock: opts.clock,
            snapshot_fresh_ms: i64::try_from(opts.snapshot_every.as_millis() / 2)
                .unwrap_or(i64::MAX),
            closed: AtomicBool::new(false),
        }))
    }

    /// The database, as errors and logs name it (no password).
    pub fn name(&self) -> &str {
        &self.target.name
    }

    /// This node's id, as `ah_nodes` and `ah_panel_owners` name it.
    pub fn node_id(&self) -> &str {
        &self.node
    }

    /// Append transactions attempted so far by this node.
    pub fn batches(&self) -> u64 {
        self.writer.batches()
    }

    /// Test hook: stop this node as `kill -9` would — no more lease renewals, no release of
    /// its panels, writer stopped — so the other nodes' reaper takes over after the lease.
    pub async fn crash(&self) {
        self.closed.store(true, Ordering::Release);
        self.stop_alarm_follower().await;
        let lease = self.lease.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((stop, task)) = lease {
            stop.cancel();
            let _ = task.await;
        }
        let _ = self.writer.close().await;
    }

    /// A pooled connection for a read, unless the store is closed.
    async fn conn(&self, op: &'static str) -> Result<deadpool_postgres::Object, StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        self.target.get(&self.pool, op).await
    }

    fn rows_to_events(&self, rows: &[tokio_postgres::Row]) -> Result<Vec<StoredEvent>, StoreError> {
        rows.iter()
            .map(|r| {
                event_from_row(r).map_err(|what| StoreError::BadRow {
                    target: self.target.name.to_string(),
                    seq: r.try_get(0).unwrap_or(0),
                    what,
                })
            })
            .collect()
    }
}

#[async_trait]
impl Store for PgStore {
    async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<Appended>, StoreError> {
        self.writer.append(events).await
    }

    async fn last_seq(&self) -> Result<i64, StoreError> {
        let c = self.conn("read last seq").await?;
        let row = c
            .query_one("SELECT last FROM ah_sequence WHERE id = 1", &[])
            .await
            .map_err(self.target.err("read last seq"))?;
        Ok(row.get(0))
    }

    async fn events_after(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let c = self.conn("read events").await?;
        let err = self.target.err("read events");
        let rows = if limit == 0 {
            let stmt = c
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM ah_events WHERE seq > $1 ORDER BY seq"
                ))
                .await
                .map_err(&err)?;
            c.query(&stmt, &[&after_seq]).await.map_err(&err)?
        } else {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let stmt = c
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM ah_events WHERE seq > $1 ORDER BY seq LIMIT $2"
                ))
                .await
                .map_err(&err)?;
            c.query(&stmt, &[&after_seq, &limit]).await.map_err(&err)?
        };
        self.rows_to_events(&rows)
    }

    async fn query_events(&self, query: &EventQuery) -> Result<Vec<StoredEvent>, StoreError> {
        let c = self.conn("query events").await?;
        let err = self.target.err("query events");
        let (sql, params) = build_query(query);
        let stmt = c.prepare_cached(&sql).await.map_err(&err)?;
        let params: Vec<_> = params.iter().map(|p| p.as_sql()).collect();
        let rows = c.query(&stmt, &params).await.map_err(&err)?;
        self.rows_to_events(&rows)
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        let mut c = self.conn("save snapshot").await?;
        let by = snapshot::Saver {
            node: &self.node,
            now_ms: self.clock.now_ms(),
            fresh_ms: self.snapshot_fresh_ms,
        };
        snapshot::save(&mut c, &self.target, &snapshot, by).await
    }

    async fn load_snapshot(&self) -> Result<Option<Snapshot>, StoreError> {
        let mut c = self.conn("load snapshot").await?;
        snapshot::load(&mut c, &self.target).await
    }

    async fn snapshot_seq(&self) -> Result<Option<i64>, StoreError> {
        let c = self.conn("read snapshot seq").await?;
        snapshot::seq(&c, &self.target).await
    }

    async fn cursor(&self, name: &str) -> Result<Option<i64>, StoreError> {
        let c = self.conn("read cursor").await?;
        cursors::get(&c, &self.target, name).await
    }

    async fn set_cursor(&self, name: &str, seq: i64) -> Result<(), StoreError> {
        let c = self.conn("save cursor").await?;
        cursors::set(&c, &self.target, name, seq, self.clock.now_ms()).await
    }

    async fn purge_events(
        &self,
        before_ms: i64,
        below_seq: i64,
        max_rows: usize,
    ) -> Result<usize, StoreError> {
        let c = self.conn("purge events").await?;
        accounts::purge(&c, &self.target, before_ms, below_seq, max_rows).await
    }

    async fn oldest_seq(&self) -> Result<i64, StoreError> {
        let c = self.conn("read the oldest seq").await?;
        accounts::oldest_seq(&c, &self.target).await
    }

    async fn events_size(&self) -> Result<Option<crate::store::EventsSize>, StoreError> {
        let c = self.conn("read the events table size").await?;
        size::events_size(&c, &self.target).await.map(Some)
    }

    async fn follow_accounts(
        &self,
        stop: tokio_util::sync::CancellationToken,
    ) -> Option<tokio::sync::watch::Receiver<u64>> {
        let (tx, rx) = tokio::sync::watch::channel(0);
        tokio::spawn(accounts_watch::follow(self.target.clone(), tx, stop));
        Some(rx)
    }

    async fn reclaim(&self) -> Result<(), StoreError> {
        let c = self.conn("vacuum the events table").await?;
        size::reclaim(&c, &self.target).await
    }

    async fn accounts(&self) -> Result<Vec<String>, StoreError> {
        let c = self.conn("read accounts").await?;
        accounts::list(&c, &self.target).await
    }

    async fn put_account(&self, account: &str, settings: &str) -> Result<(), StoreError> {
        let c = self.conn("save account").await?;
        accounts::put(&c, &self.target, account, settings, self.clock.now_ms()).await
    }

    async fn remove_account(&self, account: &str) -> Result<bool, StoreError> {
        let c = self.conn("remove account").await?;
        accounts::remove(&c, &self.target, account).await
    }

    async fn check_writable(&self) -> Result<(), StoreError> {
        self.writer.check_writable().await
    }

    fn queue_depth(&self) -> usize {
        self.writer.queue_depth()
    }

    fn is_healthy(&self, max_silence: Duration) -> bool {
        self.writer.is_healthy(max_silence)
    }

    async fn stall(&self, duration: Duration) -> Result<(), StoreError> {
        self.writer.stall(duration).await
    }

    async fn route_command(
        &self,
        command: RoutedCommand,
        wait: Duration,
    ) -> Result<crate::control::Outcome, StoreError> {
        let c = self.conn("route a command").await?;
        commands::route(&c, &self.target, &self.node, &command, wait).await
    }

    async fn take_commands(&self) -> Result<Vec<(i64, RoutedCommand)>, StoreError> {
        let c = self.conn("take routed commands").await?;
        commands::take(&c, &self.target, &self.node).await
    }

    async fn finish_command(
        &self,
        id: i64,
        outcome: &crate::control::Outcome,
    ) -> Result<(), StoreError> {
        let c = self.conn("answer a routed command").await?;
        commands::finish(&c, &self.target, id, outcome).await
    }

    async fn save_sync_marks(&self, marks: Vec<SyncMark>) -> Result<(), StoreError> {
        let mut c = self.conn("save compat sync marks").await?;
        sync_marks::save(&mut c, &self.target, &marks).await
    }

    async fn sync_marks_after(&self, after: i64) -> Result<(i64, Vec<SyncMark>), StoreError> {
        let c = self.conn("read compat sync marks").await?;
        sync_marks::after(&c, &self.target, after).await
    }

    async fn follow_from(&self, seq: i64) -> Result<(), StoreError> {
        self.writer.follow_from(seq).await
    }

    fn is_shared(&self) -> bool {
        true
    }

    async fn record_alarm_events(
        &self,
        upto_seq: i64,
        inputs: Vec<AlarmInput>,
    ) -> Result<Vec<AlarmChange>, StoreError> {
        self.record_alarms(upto_seq, &inputs).await
    }

    async fn update_alarm(
        &self,
        id: i64,
        op: AlarmOp,
        actor: &str,
        at_ms: i64,
    ) -> Result<Result<AlarmChange, AlarmRefusal>, StoreError> {
        self.update_one_alarm(id, &op, actor, at_ms).await
    }

    async fn alarm(&self, id: i64) -> Result<Option<AlarmDetail>, StoreError> {
        let c = self.conn("read alarm").await?;
        alarm_reads::detail(&c, &self.target, id).await
    }

    async fn list_alarms(&self, query: &AlarmQuery) -> Result<Vec<Alarm>, StoreError> {
        let c = self.conn("list alarms").await?;
        alarm_reads::list(&c, &self.target, query).await
    }

    async fn open_alarms(&self) -> Result<Vec<OpenAlarm>, StoreError> {
        let c = self.conn("list open alarms").await?;
        alarm_reads::open(&c, &self.target).await
    }

    async fn alarm_changes_after(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<AlarmChange>, StoreError> {
        let c = self.conn("read alarm changes").await?;
        alarm_reads::changes_after(&c, &self.target, after_seq, limit).await
    }

    async fn last_alarm_change_seq(&self) -> Result<i64, StoreError> {
        let c = self.conn("read alarm changes").await?;
        alarm_reads::last_change_seq(&c, &self.target).await
    }

    fn alarm_changes_watch(&self) -> tokio::sync::watch::Receiver<i64> {
        self.alarm_changes.subscribe()
    }

    async fn close(&self) -> Result<(), StoreError> {
        self.closed.store(true, Ordering::Release);
        self.stop_alarm_follower().await;
        let lease = self.lease.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((stop, task)) = lease {
            stop.cancel();
            let _ = task.await;
            // A clean stop: whatever this node still holds goes offline now, and the
            // node's row goes (nobody has to wait for the lease to expire).
            if let Err(e) = self.writer.reap(self.node.clone()).await {
                tracing::warn!(error = %e, "could not release this node's panels at close");
            }
        }
        let result = match self.writer.close().await {
            Err(StoreError::Closed) => Ok(()),
            other => other,
        };
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            if task.await.is_err() {
                tracing::error!(database = %self.target.name, "the store writer task panicked");
            }
        }
        self.pool.close();
        result
    }
}
