//! In-memory implementations of the output interfaces, for tests, benchmarks and a daemon
//! without a store: [`MemoryLog`] (an event log with a wake-up), [`MemoryCursors`] and
//! [`MemoryPanels`] (panel state folded from events the way the registry does it).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use futures::future::BoxFuture;
use futures::FutureExt;
use panel_proto::codes::{self, Class};
use tokio::sync::watch;

use super::source::{CursorStore, EventLog, PanelSnapshot, PanelView, SourceError};
use crate::events::{codes as ev, NewEvent, Source, StoredEvent};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// An append-only event log in memory. Appending also updates the attached
/// [`MemoryPanels`] before waiters are woken, as the daemon updates the registry before it
/// publishes on the bus.
#[derive(Debug)]
pub struct MemoryLog {
    events: RwLock<Vec<Arc<StoredEvent>>>,
    last: watch::Sender<i64>,
    panels: Option<Arc<MemoryPanels>>,
}

impl Default for MemoryLog {
    fn default() -> Self {
        MemoryLog::new(None)
    }
}

impl MemoryLog {
    /// An empty log, optionally feeding `panels`.
    pub fn new(panels: Option<Arc<MemoryPanels>>) -> MemoryLog {
        MemoryLog {
            events: RwLock::new(Vec::new()),
            last: watch::Sender::new(0),
            panels,
        }
    }

    /// Store `event` with the next sequence number (1, 2, 3 …) and return it.
    pub fn append(&self, event: NewEvent) -> i64 {
        let stored = {
            let mut events = self.events.write().unwrap_or_else(|p| p.into_inner());
            let seq = events.len() as i64 + 1;
            let stored = Arc::new(StoredEvent { seq, event });
            events.push(stored.clone());
            stored
        };
        if let Some(p) = &self.panels {
            p.apply(&stored);
        }
        self.last.send_replace(stored.seq);
        stored.seq
    }

    fn read(&self, after: i64, limit: usize) -> Vec<Arc<StoredEvent>> {
        let events = self.events.read().unwrap_or_else(|p| p.into_inner());
        let start = usize::try_from(after.max(0)).unwrap_or(usize::MAX);
        events.iter().skip(start).take(limit).cloned().collect()
    }
}

impl EventLog for MemoryLog {
    fn read_after(
        &self,
        after: i64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Arc<StoredEvent>>, SourceError>> {
        let events = self.read(after, limit);
        async move { Ok(events) }.boxed()
    }

    fn last_seq(&self) -> BoxFuture<'_, Result<i64, SourceError>> {
        let last = *self.last.borrow();
        async move { Ok(last) }.boxed()
    }

    fn wait_after(&self, after: i64) -> BoxFuture<'_, ()> {
        let mut rx = self.last.subscribe();
        async move {
            // The watch keeps the newest value, so an append before this call is seen too.
            let _ = rx.wait_for(|last| *last > after).await;
        }
        .boxed()
    }
}

/// Cursors in a map; `fail_saves` makes every save fail (to test the error path).
#[derive(Debug, Default)]
pub struct MemoryCursors {
    map: Mutex<HashMap<String, i64>>,
    saves: std::sync::atomic::AtomicU64,
}

impl MemoryCursors {
    /// The saved position of `output`.
    pub fn get(&self, output: &str) -> Option<i64> {
        lock(&self.map).get(output).copied()
    }

    /// Set a position directly (a test's "state before the restart").
    pub fn set(&self, output: &str, seq: i64) {
        lock(&self.map).insert(output.to_string(), seq);
    }

    /// How many saves were made.
    pub fn saves(&self) -> u64 {
        self.saves.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl CursorStore for MemoryCursors {
    fn load<'a>(&'a self, output: &'a str) -> BoxFuture<'a, Result<Option<i64>, SourceError>> {
        let v = self.get(output);
        async move { Ok(v) }.boxed()
    }

    fn save<'a>(&'a self, output: &'a str, seq: i64) -> BoxFuture<'a, Result<(), SourceError>> {
        self.set(output, seq);
        self.saves
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        async move { Ok(()) }.boxed()
    }
}

/// Panel state folded from events.
#[derive(Debug, Default)]
pub struct MemoryPanels {
    map: Mutex<BTreeMap<String, PanelSnapshot>>,
}

impl MemoryPanels {
    /// Apply one committed event.
    pub fn apply(&self, e: &StoredEvent) {
        let mut map = lock(&self.map);
        let p = map
            .entry(e.event.account.clone())
            .or_insert_with(|| new_panel(&e.event.account));
        apply_event(p, &e.event);
    }
}

impl PanelView for MemoryPanels {
    fn panel(&self, account: &str) -> Option<PanelSnapshot> {
        lock(&self.map).get(account).cloned()
    }

    fn accounts(&self) -> Vec<String> {
        lock(&self.map).keys().cloned().collect()
    }
}

fn new_panel(account: &str) -> PanelSnapshot {
    PanelSnapshot {
        account: account.to_string(),
        online: false,
        machine_type: -1,
        status: [-1; 4],
        ..PanelSnapshot::default()
    }
}

/// Fold one event into a snapshot, with the registry's rules (online, type, status per
/// section, alarms open until their restore) plus the zones seen.
pub fn apply_event(p: &mut PanelSnapshot, e: &NewEvent) {
    match (e.source, e.code) {
        (Source::Receiver, ev::ONLINE) | (Source::Panel, _) => p.online = true,
        (Source::Receiver, ev::OFFLINE) => p.online = false,
        _ => {}
    }
    if !matches!(e.source, Source::Panel | Source::Ingest) {
        return;
    }
    if let Some(t) = codes::machine_type_from_event(e.code) {
        p.machine_type = t;
    }
    if let Some(s) = codes::status_from_event(e.code) {
        let section = usize::from(e.group).min(3);
        p.status[section] = s.number();
        if section == 0 && p.machine_type == 8 {
            p.status[1..].fill(s.number());
        }
    }
    if e.zone > 0 && !codes::zone_is_source(e.code) {
        p.zones_seen.insert(e.zone);
    }
    match e.class() {
        Some(Class::Alarm) => {
            p.active_alarms.insert(e.zone, e.group);
        }
        Some(Class::AlarmRestore) => {
            p.active_alarms.remove(&e.zone);
        }
        _ => {}
    }
}
