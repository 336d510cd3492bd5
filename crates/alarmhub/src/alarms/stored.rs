//! How the change log stores "the alarm after the change" (`alarm_changes.alarm` in SQLite,
//! `ah_alarm_changes.alarm` in PostgreSQL) — the same text in both backends.
//!
//! An `attached` or `restored` change (the engine's, by far the most frequent) stores a
//! [`Delta`]: the few fields such a change can touch and the one zone it touched, as
//! `{"delta":{…}}` (~150 bytes instead of the whole alarm with its zone list, ~1.2 KB once
//! a panel has reported 20 zones). Every other change (opened, taken, released, noted,
//! closed, escalated) and every [`FULL_EVERY`]-th event of an alarm store the whole alarm,
//! as before (rows written by older versions are all whole alarms).
//!
//! Readers hand out the whole alarm as it was after each change, exactly as before: a
//! [`Resolver`] applies each delta to the alarm after the previous change of the same
//! alarm (rules: [`crate::alarms::rules::on_event`] changes nothing else), starting from the
//! nearest whole snapshot before it ([`fold_back`]).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{Alarm, AlarmChange, AlarmZone, Category, ChangeKind, Priority};

/// A whole snapshot at least every this many attached events of an alarm, so a reader
/// that starts in the middle of the log reads a short chain back.
pub const FULL_EVERY: u32 = 16;

/// How a stored delta starts (serde_json writes no whitespace; a whole alarm starts with
/// `{"id":`).
const DELTA_PREFIX: &str = "{\"delta\":";

/// What an `attached`/`restored` change did to the alarm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    /// [`Alarm::event_count`] after the change.
    pub event_count: u32,
    /// [`Alarm::last_event_ms`] after the change.
    pub last_event_ms: i64,
    /// [`Alarm::priority`] after the change.
    pub priority: Priority,
    /// [`Alarm::category`] after the change.
    pub category: Category,
    /// [`Alarm::updated_at_ms`] after the change.
    pub updated_at_ms: i64,
    /// The zone the change touched, as it is after the change (added if new).
    pub zone: AlarmZone,
}

#[derive(Serialize, Deserialize)]
struct DeltaRow {
    delta: Delta,
}

/// One stored change snapshot, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// The whole alarm after the change.
    Full(Alarm),
    /// What the change did to the alarm after the previous change.
    Delta(Delta),
}

impl Stored {
    /// Decode the stored text.
    pub fn parse(text: &str) -> Result<Stored, serde_json::Error> {
        if text.starts_with(DELTA_PREFIX) {
            Ok(Stored::Delta(serde_json::from_str::<DeltaRow>(text)?.delta))
        } else {
            Ok(Stored::Full(serde_json::from_str(text)?))
        }
    }

    /// A whole alarm (needs nothing before it).
    pub fn is_full(&self) -> bool {
        matches!(self, Stored::Full(_))
    }
}

/// The text to store for a change of `kind` whose result is `alarm` (`zone`: the zone of
/// the event of an attached/restored change).
pub fn encode(kind: ChangeKind, alarm: &Alarm, zone: u16) -> Result<String, serde_json::Error> {
    let delta = match kind {
        ChangeKind::Attached => alarm.event_count % FULL_EVERY != 0,
        ChangeKind::Restored => true,
        _ => false,
    };
    if let Some(z) = alarm
        .zones
        .iter()
        .find(|z| z.zone == zone)
        .filter(|_| delta)
    {
        return serde_json::to_string(&DeltaRow {
            delta: Delta {
                event_count: alarm.event_count,
                last_event_ms: alarm.last_event_ms,
                priority: alarm.priority,
                category: alarm.category,
                updated_at_ms: alarm.updated_at_ms,
                zone: z.clone(),
            },
        });
    }
    serde_json::to_string(alarm)
}

/// Apply change `seq`'s delta to the alarm after the previous change.
pub fn apply(alarm: &mut Alarm, d: Delta, seq: i64) {
    alarm.event_count = d.event_count;
    alarm.last_event_ms = d.last_event_ms;
    alarm.priority = d.priority;
    alarm.category = d.category;
    alarm.updated_at_ms = d.updated_at_ms;
    match alarm.zones.iter_mut().find(|z| z.zone == d.zone.zone) {
        Some(z) => *z = d.zone,
        None => {
            alarm.zones.push(d.zone);
            alarm.zones.sort_by_key(|z| z.zone);
        }
    }
    alarm.change_seq = seq;
}

/// The alarm after the newest of `rows_desc` — changes of one alarm, newest first, back to
/// a whole snapshot; `None` when there is none among them.
pub fn fold_back(rows_desc: Vec<(i64, Stored)>) -> Option<Alarm> {
    let full_at = rows_desc.iter().position(|(_, s)| s.is_full())?;
    let mut chain = rows_desc.into_iter().take(full_at + 1).rev();
    let Some((_, Stored::Full(mut alarm))) = chain.next() else {
        return None;
    };
    for (seq, s) in chain {
        match s {
            Stored::Delta(d) => apply(&mut alarm, d, seq),
            Stored::Full(a) => alarm = a,
        }
    }
    Some(alarm)
}

/// Turns stored snapshots read in seq order back into whole alarms.
#[derive(Debug, Default)]
pub struct Resolver {
    current: HashMap<i64, Alarm>,
}

impl Resolver {
    /// `true` when a delta of alarm `id` can be applied without reading further back.
    pub fn knows(&self, id: i64) -> bool {
        self.current.contains_key(&id)
    }

    /// The alarm `id` as it was just before the next change to resolve.
    pub fn seed(&mut self, id: i64, alarm: Alarm) {
        self.current.insert(id, alarm);
    }

    /// The alarm `id` after its change `seq`; `None` for a delta of an alarm not known.
    pub fn resolve(&mut self, id: i64, seq: i64, stored: Stored) -> Option<Alarm> {
        match stored {
            Stored::Full(a) => {
                self.current.insert(id, a.clone());
                Some(a)
            }
            Stored::Delta(d) => {
                let a = self.current.get_mut(&id)?;
                apply(a, d, seq);
                Some(a.clone())
            }
        }
    }
}

/// A change row as read, its snapshot not yet resolved to the whole alarm.
#[derive(Debug, Clone)]
pub struct RawChange {
    /// [`AlarmChange::seq`].
    pub seq: i64,
    /// [`AlarmChange::alarm_id`].
    pub alarm_id: i64,
    /// [`AlarmChange::kind`].
    pub kind: ChangeKind,
    /// [`AlarmChange::actor`].
    pub actor: String,
    /// [`AlarmChange::at_ms`].
    pub at_ms: i64,
    /// [`AlarmChange::event_seq`].
    pub event_seq: i64,
    /// [`AlarmChange::detail`].
    pub detail: String,
    /// The stored snapshot.
    pub stored: Stored,
}

/// The alarms (id, seq of their first change here) whose first change among `raws` (seq
/// order) is a delta: their state before it must be read ([`fold_back`]) and
/// [`Resolver::seed`]ed before [`resolve_all`].
pub fn bases_needed(raws: &[RawChange]) -> Vec<(i64, i64)> {
    let mut seen = std::collections::HashSet::new();
    raws.iter()
        .filter(|r| seen.insert(r.alarm_id) && !r.stored.is_full())
        .map(|r| (r.alarm_id, r.seq))
        .collect()
}

/// The changes with their whole alarms; `Err(seq)`: change `seq` is a delta of an alarm the
/// resolver does not know (a broken log).
pub fn resolve_all(resolver: &mut Resolver, raws: Vec<RawChange>) -> Result<Vec<AlarmChange>, i64> {
    raws.into_iter()
        .map(|r| {
            let alarm = resolver.resolve(r.alarm_id, r.seq, r.stored).ok_or(r.seq)?;
            Ok(AlarmChange {
                seq: r.seq,
                alarm_id: r.alarm_id,
                kind: r.kind,
                actor: r.actor,
                at_ms: r.at_ms,
                event_seq: r.event_seq,
                detail: r.detail,
                alarm,
            })
        })
        .collect()
}

#[cfg(test)]
#[path = "stored_tests.rs"]
mod tests;
