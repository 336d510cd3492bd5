//! The live state of every panel, derived from committed events in sequence order (so it
//! can be rebuilt exactly from the store), plus heartbeats that are not stored.
//!
//! Also tracks what the compat API needs: which panels changed since the last full `Sync`
//! and which alarms were not delivered yet, with version numbers so a change that races a
//! `Sync` is never lost.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::RwLock;

use panel_proto::codes::{self, code, Class};
use panel_proto::rules::Dialect;
use serde::{Deserialize, Serialize};

use crate::events::{dialect_serde, Source, StoredEvent};

/// Sections tracked per host: 0 = whole host, 1..=3 for three-section hosts.
pub const SECTIONS: usize = 4;

/// One alarm zone that is active until its restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveAlarm {
    /// 4-digit event code that raised it.
    pub code: u16,
    /// Group / section.
    pub group: u16,
    /// When it was received, Unix ms.
    pub since_ms: i64,
}

/// The most recent alarm of a panel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastAlarm {
    /// Zone (0 = the panel itself).
    pub zone: u16,
    /// 4-digit event code (or 0 for SIA, see `sia_code`).
    pub code: u16,
    /// SIA code when the alarm came as SIA.
    pub sia_code: Option<String>,
    /// Unix ms when received.
    pub time_ms: i64,
    /// Where it came from.
    pub source: Source,
    /// Store sequence number of the event.
    pub seq: i64,
    /// Dialect of the event, which decides the table naming its code (absent in snapshots
    /// written before it was kept: named by the panel's dialect then).
    #[serde(
        default,
        with = "dialect_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub dialect: Option<Dialect>,
}

/// Live state of one panel. Fields added in later versions default when an older snapshot
/// is loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PanelState {
    /// Account.
    pub account: String,
    /// Hengbo Ademco ID when known.
    pub ademco_id: Option<u32>,
    /// Hengbo or plain DC-09, once seen (`"hb"` / `"dc09"` in snapshots).
    #[serde(with = "dialect_serde")]
    pub dialect: Option<Dialect>,
    /// HB machine type number, -1 unknown.
    pub machine_type: i32,
    /// HB status per section (index 0 = whole host), -1 unknown.
    pub status: [i32; SECTIONS],
    /// Online now.
    pub online: bool,
    /// Remote address of the last frame.
    pub remote_addr: String,
    /// Last valid frame, Unix ms.
    pub last_seen_ms: i64,
    /// HB signal strength 0..=31 when reported.
    pub signal_strength: Option<u8>,
    /// Active alarms by zone.
    pub active_alarms: BTreeMap<u16, ActiveAlarm>,
    /// Last alarm.
    pub last_alarm: Option<LastAlarm>,
    /// Store sequence number of the last event applied.
    pub last_event_seq: i64,
    /// Reported by an account that is not configured (policy "flag").
    pub unknown_account: bool,
    /// Zones that ever reported an event (zone 0, the host itself, and zones that name who
    /// acted rather than where, excluded): Home Assistant gets a sensor for each.
    pub zones_seen: BTreeSet<u16>,
    /// Bumped on every change the compat API reports (online, type, status, alarm).
    pub version: u64,
    /// `version` at the last full Sync that delivered this panel.
    pub synced_version: u64,
    /// Bumped on every new alarm.
    pub alarm_version: u64,
    /// `alarm_version` that was last delivered by Sync.
    pub delivered_alarm_version: u64,
}

impl Default for PanelState {
    fn default() -> Self {
        PanelState::new("")
    }
}

impl PanelState {
    /// A panel never seen before.
    pub fn new(account: &str) -> PanelState {
        PanelState {
            account: account.to_string(),
            ademco_id: None,
            dialect: None,
            machine_type: -1,
            status: [-1; SECTIONS],
            online: false,
            remote_addr: String::new(),
            last_seen_ms: 0,
            signal_strength: None,
            active_alarms: BTreeMap::new(),
            last_alarm: None,
            last_event_seq: 0,
            unknown_account: false,
            zones_seen: BTreeSet::new(),
            version: 0,
            synced_version: 0,
            alarm_version: 0,
            delivered_alarm_version: 0,
        }
    }

    /// Changed since the last full Sync.
    pub fn changed(&self) -> bool {
        self.version > self.synced_version
    }

    /// Has an alarm not yet delivered by Sync.
    pub fn alarm_pending(&self) -> bool {
        self.alarm_version > self.delivered_alarm_version
    }

    /// Whole-host status (section 0), or the first known section status.
    pub fn host_status(&self) -> i32 {
        if self.status[0] >= 0 {
            return self.status[0];
        }
        self.status[1..]
            .iter()
            .copied()
            .find(|s| *s >= 0)
            .unwrap_or(-1)
    }

    /// Apply one committed event (its typed facts; the display detail is never read).
    pub fn apply(&mut self, e: &StoredEvent) {
        let ev_ = &e.event;
        let facts = &ev_.facts;
        self.last_event_seq = e.seq;
        let before = (self.online, self.machine_type, self.status);
        if let Some(id) = facts.ademco_id {
            self.ademco_id = Some(id);
        }
        if let Some(d) = facts.dialect {
            self.dialect = Some(d);
        }
        if facts.unknown_account {
            self.unknown_account = true;
        }
        match ev_.source {
            Source::Panel => {
                self.online = true;
                self.last_seen_ms = self.last_seen_ms.max(ev_.received_at_ms);
                if !ev_.peer.is_empty() {
                    self.remote_addr.clone_from(&ev_.peer);
                }
            }
            Source::Receiver if ev_.code == code::ONLINE => {
                self.online = true;
                self.last_seen_ms = self.last_seen_ms.max(ev_.received_at_ms);
                self.remote_addr.clone_from(&ev_.peer);
            }
            Source::Receiver if ev_.code == code::OFFLINE => self.online = false,
            _ => {}
        }
        if matches!(ev_.source, Source::Panel | Source::Ingest) {
            self.apply_panel_event(e);
        }
        if before != (self.online, self.machine_type, self.status) {
            self.version += 1;
        }
    }

    fn apply_panel_event(&mut self, e: &StoredEvent) {
        let ev_ = &e.event;
        if ev_.zone > 0 && !codes::zone_is_source(ev_.code) {
            self.zones_seen.insert(ev_.zone);
        }
        // Type reports are Hengbo private codes: a plain DC-09 panel's 1737 is not one.
        let hengbo = ev_.facts.dialect != Some(Dialect::Dc09);
        if let Some(t) = codes::machine_type_from_event(ev_.code).filter(|_| hengbo) {
            self.machine_type = t;
        }
        if let Some(s) = codes::status_from_event(ev_.code) {
            let section = usize::from(ev_.group).min(SECTIONS - 1);
            self.status[section] = s.number();
            // A whole-host change applies to every section of a three-section host.
            if section == 0 && self.machine_type == 8 {
                for st in &mut self.status[1..] {
                    *st = s.number();
                }
            }
        }
        if ev_.code == code::SIGNAL_STRENGTH {
            if let Some(s) = ev_.facts.signal_strength {
                self.signal_strength = Some(s);
            }
        }
        match ev_.class() {
            Some(Class::Alarm) => {
                self.active_alarms.insert(
                    ev_.zone,
                    ActiveAlarm {
                        code: ev_.code,
                        group: ev_.group,
                        since_ms: ev_.received_at_ms,
                    },
                );
                self.last_alarm = Some(LastAlarm {
                    zone: ev_.zone,
                    code: ev_.code,
                    sia_code: ev_.sia_code.clone(),
                    time_ms: ev_.received_at_ms,
                    source: ev_.source,
                    seq: e.seq,
                    dialect: ev_.facts.dialect,
                });
                self.alarm_version += 1;
                self.version += 1;
            }
            Some(Class::AlarmRestore) if self.active_alarms.remove(&ev_.zone).is_some() => {
                self.version += 1;
            }
            _ => {}
        }
    }
}

/// All panels, behind one lock (reads are short copies; writes come from the store writer
/// in commit order).
#[derive(Debug, Default)]
pub struct Registry {
    panels: RwLock<HashMap<String, PanelState>>,
    /// Panels with `changed()`, kept up to date under the write lock so the compat API's
    /// `IsNeedSync` is O(1).
    changed: std::sync::atomic::AtomicUsize,
    /// Sync marks another node recorded for panels this registry has not seen yet (its
    /// follower lags): applied when the panel's first event arrives.
    early_marks: std::sync::Mutex<HashMap<String, SyncToken>>,
}

/// Keep the changed-panel counter right across one panel's mutation.
fn track(counter: &std::sync::atomic::AtomicUsize, was: bool, now: bool) {
    use std::sync::atomic::Ordering::Relaxed;
    match (was, now) {
        (false, true) => {
            counter.fetch_add(1, Relaxed);
        }
        (true, false) => {
            counter.fetch_sub(1, Relaxed);
        }
        _ => {}
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, PanelState>> {
        self.panels.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, PanelState>> {
        self.panels.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Apply committed events (in sequence order).
    pub fn apply_all(&self, events: &[std::sync::Arc<StoredEvent>]) {
        let mut map = self.write();
        for e in events {
            // Look up by &str first: no key allocation for panels already known.
            let p = match map.get_mut(e.event.account.as_str()) {
                Some(p) => p,
                // A command's audit event never creates a machine: only what a panel (or
                // an ingesting system) reports does.
                None if e.event.source == Source::Control => continue,
                None => {
                    let mut p = PanelState::new(&e.event.account);
                    if let Some(t) = self.take_early_mark(&e.event.account) {
                        p.synced_version = t.version;
                        p.delivered_alarm_version = t.alarm_version;
                    }
                    map.entry(e.event.account.clone()).or_insert(p)
                }
            };
            if e.seq > p.last_event_seq {
                let was = p.changed();
                p.apply(e);
                track(&self.changed, was, p.changed());
            }
        }
    }

    /// A valid frame that is not stored (heartbeat) arrived from `account`.
    pub fn touch(&self, account: &str, now_ms: i64, peer: &str) {
        let mut map = self.write();
        if let Some(p) = map.get_mut(account) {
            p.last_seen_ms = p.last_seen_ms.max(now_ms);
            if p.remote_addr != peer {
                p.remote_addr = peer.to_string();
            }
        }
    }

    /// `account` is configured now (adopted): it is no longer shown as unknown. Matched
    /// ignoring ASCII case; whether a flagged panel was found.
    pub fn adopt(&self, account: &str) -> bool {
        let mut map = self.write();
        let mut found = false;
        for p in map.values_mut() {
            if p.account.eq_ignore_ascii_case(account) && p.unknown_account {
                p.unknown_account = false;
                p.version += 1;
                found = true;
            }
        }
        found
    }

    /// The Hengbo host type on record for `account` (from its last stored type report),
    /// without copying the panel's state.
    pub fn machine_type(&self, account: &str) -> Option<i32> {
        self.read()
            .get(account)
            .map(|p| p.machine_type)
            .filter(|t| *t >= 0)
    }

    /// A copy of one panel's state.
    pub fn get(&self, account: &str) -> Option<PanelState> {
        self.read().get(account).cloned()
    }

    /// Copies of every panel matching `filter`, sorted by account.
    pub fn list(&self, filter: impl Fn(&PanelState) -> bool) -> Vec<PanelState> {
        let mut v: Vec<PanelState> = self
            .read()
            .values()
            .filter(|p| filter(p))
            .cloned()
            .collect();
        v.sort_by(|a, b| a.account.cmp(&b.account));
        v
    }

    /// Every known account, sorted.
    pub fn accounts(&self) -> Vec<String> {
        let mut v: Vec<String> = self.read().keys().cloned().collect();
        v.sort_unstable();
        v
    }

    /// Number of panels, and how many are online.
    pub fn counts(&self) -> (usize, usize) {
        let map = self.read();
        (map.len(), map.values().filter(|p| p.online).count())
    }

    /// Every panel offline (at start: connections did not survive the restart).
    pub fn mark_all_offline(&self) {
        for p in self.write().values_mut() {
            if p.online {
                let was = p.changed();
                p.online = false;
                p.version += 1;
                track(&self.changed, was, p.changed());
            }
        }
    }

    /// Serialise every panel for a store snapshot: (account, JSON) pairs and the highest
    /// sequence number applied.
    pub fn snapshot(&self) -> (i64, Vec<(String, String)>) {
        let map = self.read();
        let mut last = 0;
        let rows = map
            .values()
            .filter_map(|p| {
                last = last.max(p.last_event_seq);
                serde_json::to_string(p)
                    .ok()
                    .map(|s| (p.account.clone(), s))
            })
            .collect();
        (last, rows)
    }

    /// Load a snapshot (replacing everything). Rows that do not parse are skipped and
    /// returned as errors; the caller then replays the whole store instead.
    pub fn restore(&self, rows: &[(String, String)]) -> Vec<String> {
        let mut map = self.write();
        map.clear();
        self.changed.store(0, std::sync::atomic::Ordering::Relaxed);
        let mut errors = Vec::new();
        for (acct, json) in rows {
            match serde_json::from_str::<PanelState>(json) {
                Ok(p) => {
                    track(&self.changed, false, p.changed());
                    map.insert(acct.clone(), p);
                }
                Err(e) => errors.push(format!("snapshot row for {acct}: {e}")),
            }
        }
        errors
    }
}

#[path = "registry_sync.rs"]
mod sync;
pub use sync::SyncToken;

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
