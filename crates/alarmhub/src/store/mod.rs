//! Durable event storage: the [`Store`] trait — everything the daemon and the APIs may ask
//! of the database — and its backends: SQLite ([`SqliteStore`], one file, one group-commit
//! writer thread plus a pool of read-only connections; the default) and PostgreSQL
//! ([`PgStore`], several nodes on one database; `[store] url = "postgres://…"`). Both pass
//! the same conformance suite (`tests/store/conformance/`).
//!
//! # Contract (DESIGN.md §1–2; the conformance suite checks each point)
//!
//! * [`Store::append`] returns only once its events are committed durably (SQLite:
//!   `synchronous=FULL`). Events of one call are committed together, in order; calls from
//!   many callers are group-committed, but each call gets one answer.
//! * Every stored event gets a sequence number: strictly increasing, no gaps in commit order.
//! * An event whose `dedup_key` matches one received within the dedup window (earlier in the
//!   same call, in an earlier call, or before a restart) is not stored again; it is answered
//!   [`Appended::Duplicate`] with the original seq. Events without a key never are.
//! * The [`CommitHooks`] given when the store is opened see the newly stored events of each
//!   commit, in seq order: `committed` before any caller of that commit is answered (the
//!   registry is fed from it, so an ACK never precedes the live state), `answered` after
//!   every caller of it is (the event bus, so its fan-out never holds up an ACK).
//! * Reads ([`Store::events_after`], [`Store::query_events`] …) see every committed event and
//!   never block appends.
//! * After [`Store::close`] nothing more is accepted; everything answered before it is on
//!   disk, and reopening the same database continues where it stopped.
//!
//! # Growing the trait
//!
//! Later issues add tokens, users and audit rows, alarm records with atomic take/close,
//! per-output cursors and a notification outbox. They fit this shape: rows derived from an
//! event (alarm changes) are added by the backend inside the commit of [`Store::append`]
//! through a hook given at open, like the commit hooks, so `append` keeps its signature; the rest
//! are new methods (atomic ones named for what they do, e.g. `take_alarm`), each added to the
//! conformance suite. The notification outbox became a trait of its own ([`outbox`]): it
//! follows the logs by a cursor it keeps itself rather than writing inside the event commit.
//! Cursors are already named rows (`cursor` / `set_cursor`), so outputs get theirs by name.

mod error;
mod events_size;
pub mod outbox;
pub mod postgres;
pub mod sqlite;
mod ticket;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::alarms::{
    Alarm, AlarmChange, AlarmDetail, AlarmInput, AlarmOp, AlarmQuery, AlarmRefusal, AlarmState,
    OpenAlarm,
};
use crate::clock::Clock;
use crate::config::Config;
use crate::events::{Appended, NewEvent, StoredEvent};

pub use error::StoreError;
pub use events_size::EventsSize;
pub use postgres::{is_postgres_url, PgStore};
pub use sqlite::{SqliteReader, SqliteStore, DB_FILE};
pub use ticket::{AppendAnswer, AppendFuture, AppendTicket};

/// Called with the newly stored events (no duplicates) of each commit, in seq order, before
/// any caller of that commit is answered. Runs on the store's writer; must be quick and
/// must not panic.
pub type OnCommit = Box<dyn FnMut(&[Arc<StoredEvent>]) + Send>;

/// What a store calls with the newly stored events (no duplicates) of each commit, in seq
/// order, on its writer (both must be quick and must not panic):
///
/// * `committed` before any caller of the commit is answered — what an answer promises is
///   visible (the daemon's registry);
/// * `answered`, when set, after every caller of the commit is answered — fan-out that
///   must not hold up the answers (the daemon's event bus: waking a thousand API streams
///   first would queue the panel sessions' ACKs behind them). Events no caller waits for
///   (other nodes' commits, on PostgreSQL) get it right after `committed`.
pub struct CommitHooks {
    /// Before the commit's callers are answered.
    pub committed: OnCommit,
    /// After the commit's callers are answered.
    pub answered: Option<OnCommit>,
}

impl CommitHooks {
    /// Only a `committed` hook.
    pub fn committed_only(f: impl FnMut(&[Arc<StoredEvent>]) + Send + 'static) -> CommitHooks {
        let committed: OnCommit = Box::new(f);
        committed.into()
    }

    pub(crate) fn committed(&mut self, events: &[Arc<StoredEvent>]) {
        (self.committed)(events);
    }

    pub(crate) fn answered(&mut self, events: &[Arc<StoredEvent>]) {
        if let Some(answered) = self.answered.as_mut() {
            answered(events);
        }
    }
}

/// One hook, called before the callers are answered.
impl From<OnCommit> for CommitHooks {
    fn from(committed: OnCommit) -> CommitHooks {
        CommitHooks {
            committed,
            answered: None,
        }
    }
}

impl std::fmt::Debug for CommitHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitHooks")
            .field("answered", &self.answered.is_some())
            .finish_non_exhaustive()
    }
}

/// A remote command for a panel whose connection another node holds (shared stores route
/// it to that node; see `postgres/commands.rs`).
#[derive(Debug, Clone)]
pub struct RoutedCommand {
    /// Panel account.
    pub account: String,
    /// What to send (a disarm carries its password).
    pub command: panel_proto::build::Command,
    /// 0 whole host, 1..=3 section.
    pub section: u8,
    /// The host's Ademco ID, when known.
    pub ademco_id: Option<u32>,
}

/// Most marks [`Store::sync_marks_after`] returns at once.
pub const SYNC_MARKS_PAGE: usize = 50_000;

/// What a full compat `Sync` delivered of one panel (its registry versions, which every
/// node derives alike from the shared event sequence): shared stores keep the highest per
/// panel so every node's `IsNeedSync` counts without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncMark {
    /// Panel account.
    pub account: String,
    /// Panel version delivered.
    pub version: u64,
    /// Alarm version delivered.
    pub alarm_version: u64,
}

/// A registry snapshot: the seq it was taken at and one JSON state per panel account.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// Every event up to this seq is reflected in `panels`.
    pub last_seq: i64,
    /// `(account, JSON state)`, ordered by account when loaded.
    pub panels: Vec<(String, String)>,
}

/// Filters for [`Store::query_events`]. All filters are optional and combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventQuery {
    /// Only this panel account.
    pub account: Option<String>,
    /// Received at or after this time (Unix ms, inclusive).
    pub from_ms: Option<i64>,
    /// Received before this time (Unix ms, exclusive).
    pub to_ms: Option<i64>,
    /// Only this Contact ID style code.
    pub code: Option<u16>,
    /// Only this two-letter SIA event code (`BA`, `FA` …; SIA-only events have code 0).
    pub sia_code: Option<String>,
    /// Only this zone (0: the host itself).
    pub zone: Option<u16>,
    /// Paging cursor: only events with `seq > after_seq`.
    pub after_seq: Option<i64>,
    /// Paging cursor: only events with `seq < before_seq`.
    pub before_seq: Option<i64>,
    /// At most this many events; 0 means no limit (callers facing clients should cap it).
    pub limit: usize,
    /// Descending seq order (newest first) instead of ascending.
    pub newest_first: bool,
}

/// How a store behaves, whatever the backend.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Retransmission window for dedup, ms.
    pub dedup_window_ms: i64,
    /// Requests that may wait for the writer before callers are held back (back-pressure).
    pub queue: usize,
    /// Most events taken into one commit (one call's events are never split).
    pub max_batch: usize,
    /// "Now" for the dedup window and for snapshot and cursor stamps.
    pub clock: Clock,
    /// How often the daemon saves the registry snapshot (`[store] snapshot_secs`): on a
    /// shared store a node skips its save while another node's is younger than half of it.
    pub snapshot_every: std::time::Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            dedup_window_ms: 300_000,
            queue: 10_000,
            max_batch: 1024,
            clock: Clock::system(),
            snapshot_every: std::time::Duration::from_secs(60),
        }
    }
}

impl StoreOptions {
    /// The options `[store]` and `[panel] dedup_window_secs` ask for.
    pub fn from_config(config: &Config) -> StoreOptions {
        StoreOptions {
            dedup_window_ms: i64::try_from(config.panel.dedup_window_secs)
                .unwrap_or(i64::MAX / 1000)
                .saturating_mul(1000),
            queue: config.store.queue,
            max_batch: config.store.max_batch,
            clock: Clock::system(),
            snapshot_every: std::time::Duration::from_secs(config.store.snapshot_secs.max(1)),
        }
    }
}

/// Durable event storage, shared as `Arc<dyn Store>` by the receiver, the control path, the
/// registry restore and the APIs. See the module docs for the contract.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Store `events` durably in one commit; one outcome per event, in order. On error
    /// nothing of the call is stored. An empty call returns at once.
    async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<Appended>, StoreError>;

    /// [`Store::append`], handed over now and awaited through the ticket, which holds no
    /// borrow of the store (the receiver keeps it in the connection's pipeline). A backend
    /// with a queue of its own overrides this to skip the boxed future (SQLite: one queue
    /// push while the writer's queue has room).
    fn submit(self: Arc<Self>, events: Vec<NewEvent>) -> AppendTicket {
        AppendTicket::Future(Box::pin(async move { self.append(events).await }))
    }

    /// Highest stored seq, 0 when the store is empty.
    async fn last_seq(&self) -> Result<i64, StoreError>;

    /// Events with `seq > after_seq` in ascending seq order, at most `limit` (0 = no limit).
    async fn events_after(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// Events matching `query`.
    async fn query_events(&self, query: &EventQuery) -> Result<Vec<StoredEvent>, StoreError>;

    /// Replace the registry snapshot as a whole, atomically.
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError>;

    /// The latest registry snapshot, panels ordered by account.
    async fn load_snapshot(&self) -> Result<Option<Snapshot>, StoreError>;

    /// The seq the latest registry snapshot covers, without reading its panels (what
    /// retention keeps below); `None` when there is none.
    async fn snapshot_seq(&self) -> Result<Option<i64>, StoreError>;

    /// The stored cursor (last acknowledged seq) named `name`: a consumer group today,
    /// outputs later.
    async fn cursor(&self, name: &str) -> Result<Option<i64>, StoreError>;

    /// Record the cursor named `name`.
    async fn set_cursor(&self, name: &str, seq: i64) -> Result<(), StoreError>;

    /// Remove at most `max_rows` of the oldest events that were received before
    /// `before_ms` and have `seq < below_seq` (the caller keeps what the registry snapshot
    /// does not cover); returns how many were removed. Seqs are never reused.
    async fn purge_events(
        &self,
        before_ms: i64,
        below_seq: i64,
        max_rows: usize,
    ) -> Result<usize, StoreError>;

    /// The backend yields to appends by itself while it purges (SQLite: purge requests wait
    /// for the writer's spare time and go in short steps), so the caller asks for large
    /// purges back to back; `false`: the caller keeps each request short and pauses between
    /// them.
    fn purge_paces_itself(&self) -> bool {
        false
    }

    /// The lowest stored seq (where history starts), 0 when the store is empty.
    async fn oldest_seq(&self) -> Result<i64, StoreError>;

    /// How much room the events take now (`None`: the backend cannot say; no size cap).
    async fn events_size(&self) -> Result<Option<EventsSize>, StoreError> {
        Ok(None)
    }

    /// After a size-cap purge: make the room of removed events reusable now (PostgreSQL:
    /// a plain `VACUUM` of the events table, which never blocks appends). SQLite reuses
    /// free pages by itself: nothing to do.
    async fn reclaim(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Other nodes change the accounts too (PostgreSQL): a watch bumped (within about a
    /// second) whenever the stored accounts change, by any node, until `stop`; the daemon
    /// then reloads its live accounts from [`Store::accounts`]. `None`: only this process
    /// changes them (SQLite).
    async fn follow_accounts(
        &self,
        stop: tokio_util::sync::CancellationToken,
    ) -> Option<tokio::sync::watch::Receiver<u64>> {
        let _ = stop;
        None
    }

    /// Every stored panel account: its settings as a JSON object (the `[[accounts]]` entry,
    /// secrets included; opaque to the store), ordered by account ignoring ASCII case.
    async fn accounts(&self) -> Result<Vec<String>, StoreError>;

    /// Store `settings` (a JSON object) as the account `account`, replacing the stored
    /// settings of the same account, matched ignoring ASCII case.
    async fn put_account(&self, account: &str, settings: &str) -> Result<(), StoreError>;

    /// Remove the account `account` (ignoring ASCII case); whether it was stored.
    async fn remove_account(&self, account: &str) -> Result<bool, StoreError>;

    /// A cheap real write (for `/readyz`): fails when the medium is read-only or full.
    async fn check_writable(&self) -> Result<(), StoreError>;

    /// Write requests waiting for the writer (a gauge; back-pressure shows here first).
    fn queue_depth(&self) -> usize;

    /// The writer is running and was alive within `max_silence` (the systemd watchdog).
    fn is_healthy(&self, max_silence: Duration) -> bool;

    /// Test hook (`/debug/stall-writer`): make the writer stop for `duration` once it reaches
    /// this request, as a hung disk would. Returns once queued.
    async fn stall(&self, duration: Duration) -> Result<(), StoreError> {
        let _ = duration;
        Err(StoreError::Unsupported {
            what: "stalling the writer",
        })
    }

    /// Other nodes write the same store (PostgreSQL): panel presence comes from the
    /// shared events and ownership, not from this process's connections alone.
    fn is_shared(&self) -> bool {
        false
    }

    /// Start handing the commit hooks the events other nodes commit, from `seq` on (the daemon
    /// calls it once the registry is restored up to `seq`). A no-op for a store no other
    /// node writes (SQLite).
    async fn follow_from(&self, seq: i64) -> Result<(), StoreError> {
        let _ = seq;
        Ok(())
    }

    /// Send `command` through the node that holds the panel's connection and wait at most
    /// `wait` for its outcome (never longer; a node that dies hands it to the panel's new
    /// node or ends it `panel_offline`). `panel_offline` on a store no other node shares.
    async fn route_command(
        &self,
        command: RoutedCommand,
        wait: Duration,
    ) -> Result<crate::control::Outcome, StoreError> {
        let _ = (command, wait);
        Ok(crate::control::Outcome::PanelOffline)
    }

    /// Commands other nodes routed to this one, claimed (none on an unshared store).
    async fn take_commands(&self) -> Result<Vec<(i64, RoutedCommand)>, StoreError> {
        Ok(Vec::new())
    }

    /// Write back the outcome of a command taken with [`Store::take_commands`].
    async fn finish_command(
        &self,
        id: i64,
        outcome: &crate::control::Outcome,
    ) -> Result<(), StoreError> {
        let _ = (id, outcome);
        Ok(())
    }

    /// Record compat `Sync` marks for every node (merged: a panel's mark never goes back).
    /// A no-op on a store no other node shares.
    async fn save_sync_marks(&self, marks: Vec<SyncMark>) -> Result<(), StoreError> {
        let _ = marks;
        Ok(())
    }

    /// Marks recorded (by any node) after the cursor `after`, in the order they were
    /// recorded (at most [`SYNC_MARKS_PAGE`]), and the cursor to pass next time. Nothing on an unshared store.
    async fn sync_marks_after(&self, after: i64) -> Result<(i64, Vec<SyncMark>), StoreError> {
        Ok((after, Vec::new()))
    }

    /// Finish what was queued, write what upkeep holds back, and stop: later calls fail
    /// with [`StoreError::Closed`]. The daemon calls this last, after every other task.
    async fn close(&self) -> Result<(), StoreError>;

    // ---- Alarms (crate::alarms). A backend applies the pure rules of
    // `crate::alarms::rules` inside its transactions, and writes every alarm change into the
    // alarm change log (own strictly increasing seq) in the same transaction as the alarm
    // row. The defaults answer `Unsupported` so a backend can be merged before it has them;
    // the conformance suite (`tests/store/conformance/alarms.rs`) says what is missing.

    /// Apply the alarm effects of the events up to `upto_seq` (the engine's batch; `inputs`
    /// are its events that concern alarms, ascending seq) and move the engine cursor
    /// ([`crate::alarms::ENGINE_CURSOR`]) to `upto_seq` in the same transaction. Inputs at
    /// or below the stored cursor were applied before and are skipped (idempotent per
    /// event seq). Returns the changes written, ascending change seq.
    async fn record_alarm_events(
        &self,
        upto_seq: i64,
        inputs: Vec<AlarmInput>,
    ) -> Result<Vec<AlarmChange>, StoreError> {
        let _ = (upto_seq, inputs);
        Err(StoreError::Unsupported {
            what: "alarm records",
        })
    }

    /// Apply `op` by `actor` at `at_ms` to alarm `id` atomically (the take is a
    /// compare-and-set: of two concurrent takes exactly one wins). The inner `Err` is the
    /// lifecycle's refusal; nothing is written then.
    async fn update_alarm(
        &self,
        id: i64,
        op: AlarmOp,
        actor: &str,
        at_ms: i64,
    ) -> Result<Result<AlarmChange, AlarmRefusal>, StoreError> {
        let _ = (id, op, actor, at_ms);
        Err(StoreError::Unsupported {
            what: "alarm records",
        })
    }

    /// Apply each `(id, op)` of `ops` by `actor` at `at_ms`, as [`Store::update_alarm`] does
    /// one at a time; a backend may do them in one transaction (the escalation ticker's
    /// round: one commit instead of one per alarm). One result per op, in order.
    async fn update_alarms(
        &self,
        ops: Vec<(i64, AlarmOp)>,
        actor: &str,
        at_ms: i64,
    ) -> Result<Vec<Result<AlarmChange, AlarmRefusal>>, StoreError> {
        let mut out = Vec::with_capacity(ops.len());
        for (id, op) in ops {
            out.push(self.update_alarm(id, op, actor, at_ms).await?);
        }
        Ok(out)
    }

    /// One alarm with its event seqs, notes and history; `None` when there is no such id.
    async fn alarm(&self, id: i64) -> Result<Option<AlarmDetail>, StoreError> {
        let _ = id;
        Err(StoreError::Unsupported {
            what: "alarm records",
        })
    }

    /// Alarms matching `query`: in queue order (priority, then opening time, then id) when
    /// it asks only for open states, else newest first (id descending).
    async fn list_alarms(&self, query: &AlarmQuery) -> Result<Vec<Alarm>, StoreError> {
        let _ = query;
        Err(StoreError::Unsupported {
            what: "alarm records",
        })
    }

    /// Every open alarm (`new` or `taken`), in queue order, as the escalation ticker needs it
    /// once a second: a backend can read these few columns instead of whole records. The
    /// default derives them from [`Store::list_alarms`].
    async fn open_alarms(&self) -> Result<Vec<OpenAlarm>, StoreError> {
        let query = AlarmQuery {
            states: vec![AlarmState::New, AlarmState::Taken],
            ..AlarmQuery::default()
        };
        Ok(self
            .list_alarms(&query)
            .await?
            .iter()
            .map(OpenAlarm::from)
            .collect())
    }

    /// Alarm changes with `seq > after_seq`, ascending, at most `limit` (0 = no limit).
    async fn alarm_changes_after(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<AlarmChange>, StoreError> {
        let _ = (after_seq, limit);
        Err(StoreError::Unsupported {
            what: "alarm records",
        })
    }

    /// Highest alarm change seq, 0 when there is none.
    async fn last_alarm_change_seq(&self) -> Result<i64, StoreError> {
        Err(StoreError::Unsupported {
            what: "alarm records",
        })
    }

    /// The in-process wake-up: holds the highest committed alarm change seq and changes
    /// after every commit that wrote changes. Followers read the log by seq and wait on
    /// this; it never carries the changes themselves. The default never changes (a backend
    /// without alarms).
    fn alarm_changes_watch(&self) -> tokio::sync::watch::Receiver<i64> {
        tokio::sync::watch::channel(0).1
    }

    /// [`Store::append`] for one event.
    async fn append_one(&self, event: NewEvent) -> Result<Appended, StoreError> {
        let mut out = self.append(vec![event]).await?;
        // A backend answers one outcome per event; none would mean nothing was stored.
        out.pop().ok_or(StoreError::Closed)
    }
}

/// Open the store the configuration names — PostgreSQL when `[store] url` is set, else
/// SQLite in `[store] data_dir` — with `hooks` fed every commit.
pub async fn open(config: &Config, hooks: CommitHooks) -> Result<Arc<dyn Store>, StoreError> {
    let opts = StoreOptions::from_config(config);
    let store: Arc<dyn Store> = match &config.store.url {
        Some(url) => PgStore::open_with_hooks(url, opts, hooks).await?,
        None => SqliteStore::open_with_hooks(&config.store.data_dir, opts, hooks)?,
    };
    Ok(store)
}

/// How logs and errors name the configured store: the PostgreSQL database (no password) or
/// the SQLite data directory.
pub fn describe(config: &Config) -> String {
    match &config.store.url {
        Some(url) => postgres::describe_url(url),
        None => config.store.data_dir.display().to_string(),
    }
}
