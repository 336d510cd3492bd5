//! The alarm record and its change log, as every backend stores them and every API shows
//! them: [`Alarm`], [`AlarmState`], [`Priority`], [`Category`], [`AlarmChange`] with its
//! [`ChangeKind`]. What the store is asked to apply is in [`super::request`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where an alarm is in its lifecycle: `new` → `taken` → `closed` (release: back to `new`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmState {
    /// Waiting for an operator.
    New,
    /// One operator holds it.
    Taken,
    /// Handled, with a resolution.
    Closed,
}

impl AlarmState {
    /// Stable lower-case name (storage, API, CLI).
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmState::New => "new",
            AlarmState::Taken => "taken",
            AlarmState::Closed => "closed",
        }
    }

    /// Not closed.
    pub fn is_open(self) -> bool {
        self != AlarmState::Closed
    }
}

impl FromStr for AlarmState {
    type Err = String;

    fn from_str(s: &str) -> Result<AlarmState, String> {
        match s {
            "new" => Ok(AlarmState::New),
            "taken" => Ok(AlarmState::Taken),
            "closed" => Ok(AlarmState::Closed),
            _ => Err(format!("unknown alarm state {s:?} (new, taken, closed)")),
        }
    }
}

impl fmt::Display for AlarmState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Alarm priority: 1 is the most urgent, 9 the least. The queue is ordered by priority,
/// then age.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Priority(u8);

impl Priority {
    /// Most urgent.
    pub const HIGHEST: Priority = Priority(1);
    /// Least urgent.
    pub const LOWEST: Priority = Priority(9);

    /// `n` when it is 1..=9.
    pub fn new(n: u8) -> Option<Priority> {
        (1..=9).contains(&n).then_some(Priority(n))
    }

    /// The number, 1..=9.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Priority {
    type Error = String;

    fn try_from(n: u8) -> Result<Priority, String> {
        Priority::new(n).ok_or_else(|| format!("priority {n} is out of range (1..=9)"))
    }
}

impl From<Priority> for u8 {
    fn from(p: Priority) -> u8 {
        p.0
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What kind of alarm an event raises; decides the default priority (`[alarms]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Fire, smoke, heat, gas, carbon monoxide.
    Fire,
    /// Panic, duress, hold-up, emergency, SOS.
    Panic,
    /// Medical and personal emergency.
    Medical,
    /// Burglary and intrusion.
    Burglary,
    /// Tamper (host, zone, sensor).
    Tamper,
    /// Any other alarm-class event (water, temperature, 24-hour non-burglary …).
    Other,
    /// The receiver's own OFFLINE: supervision failure.
    Offline,
    /// Faults (power, battery, sensor …); opens no alarm unless configured.
    Trouble,
}

impl Category {
    /// Every category, in default priority order.
    pub const ALL: [Category; 8] = [
        Category::Fire,
        Category::Panic,
        Category::Medical,
        Category::Burglary,
        Category::Tamper,
        Category::Other,
        Category::Offline,
        Category::Trouble,
    ];

    /// Stable lower-case name (config keys, storage, API).
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Fire => "fire",
            Category::Panic => "panic",
            Category::Medical => "medical",
            Category::Burglary => "burglary",
            Category::Tamper => "tamper",
            Category::Other => "other",
            Category::Offline => "offline",
            Category::Trouble => "trouble",
        }
    }
}

impl FromStr for Category {
    type Err = String;

    fn from_str(s: &str) -> Result<Category, String> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown alarm category {s:?} (fire, panic, medical, burglary, tamper, \
                     other, offline, trouble)"
                )
            })
    }
}

/// One zone that reported into an alarm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmZone {
    /// Zone (or user) number.
    pub zone: u16,
    /// The code of its latest alarm event.
    pub code: u16,
    /// A restore came after its latest alarm event.
    pub restored: bool,
    /// When the zone last reported (alarm or restore), Unix ms.
    pub last_ms: i64,
}

/// An open alarm as the escalation ticker and the open-alarms gauge see it: what decides
/// whether and when it escalates, without the rest of the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenAlarm {
    /// Store-assigned id.
    pub id: i64,
    /// `new` or `taken`.
    pub state: AlarmState,
    /// Current priority.
    pub priority: Priority,
    /// When it was opened, Unix ms.
    pub opened_at_ms: i64,
    /// A `new` alarm escalated already. Always `false` for a taken one: a taken alarm does
    /// not escalate, so the store need not read the flag for it.
    pub escalated: bool,
}

impl OpenAlarm {
    /// From a store's columns (state name, priority number): what is wrong when a stored
    /// value is not a state or a priority.
    pub fn from_columns(
        id: i64,
        state: &str,
        priority: i64,
        opened_at_ms: i64,
        escalated: bool,
    ) -> Result<OpenAlarm, String> {
        let priority = u8::try_from(priority)
            .map_err(|_| format!("priority {priority} is out of range (1..=9)"))
            .and_then(Priority::try_from)?;
        Ok(OpenAlarm {
            id,
            state: state.parse()?,
            priority,
            opened_at_ms,
            escalated,
        })
    }
}

impl From<&Alarm> for OpenAlarm {
    fn from(a: &Alarm) -> OpenAlarm {
        OpenAlarm {
            id: a.id,
            state: a.state,
            priority: a.priority,
            opened_at_ms: a.opened_at_ms,
            escalated: a.escalated && a.state == AlarmState::New,
        }
    }
}

/// One alarm record. Times are Unix ms; `0` means "not yet".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alarm {
    /// Store-assigned id, increasing.
    pub id: i64,
    /// Panel account.
    pub account: String,
    /// Lifecycle state.
    pub state: AlarmState,
    /// Current priority (the most urgent of its events).
    pub priority: Priority,
    /// Category of the event that set the priority.
    pub category: Category,
    /// When it was opened (the receive time of its first event).
    pub opened_at_ms: i64,
    /// Seq of the event that opened it.
    pub first_seq: i64,
    /// That event's 4-digit code (0 for SIA-only events).
    pub code: u16,
    /// That event's SIA code.
    pub sia_code: Option<String>,
    /// That event's zone.
    pub zone: u16,
    /// That event's group.
    pub group: u16,
    /// Events attached, the first included.
    pub event_count: u32,
    /// Receive time of the latest attached event.
    pub last_event_ms: i64,
    /// Every zone that reported, by zone number.
    pub zones: Vec<AlarmZone>,
    /// Who holds it (`token:NAME`, `user:NAME` …), when taken.
    pub taken_by: Option<String>,
    /// When it was first taken.
    pub taken_at_ms: i64,
    /// Not taken within `take_within_secs` of its priority.
    pub escalated: bool,
    /// When it escalated.
    pub escalated_at_ms: i64,
    /// When it was closed.
    pub closed_at_ms: i64,
    /// Who closed it.
    pub closed_by: Option<String>,
    /// Resolution code (from `[alarms] resolutions`).
    pub resolution: Option<String>,
    /// The resolution is flagged false alarm.
    pub false_alarm: bool,
    /// Time of the latest change.
    pub updated_at_ms: i64,
    /// Seq of the latest change.
    pub change_seq: i64,
}

/// What an alarm change was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// An event opened the alarm.
    Opened,
    /// A further event of the account attached to it.
    Attached,
    /// A restore marked a zone restored (the alarm stays open).
    Restored,
    /// An operator took it (or an admin took it over).
    Taken,
    /// Its holder (or an admin) put it back to `new`.
    Released,
    /// A note was added.
    Noted,
    /// Closed with a resolution.
    Closed,
    /// Not taken in time.
    Escalated,
}

impl ChangeKind {
    /// Every kind.
    pub const ALL: [ChangeKind; 8] = [
        ChangeKind::Opened,
        ChangeKind::Attached,
        ChangeKind::Restored,
        ChangeKind::Taken,
        ChangeKind::Released,
        ChangeKind::Noted,
        ChangeKind::Closed,
        ChangeKind::Escalated,
    ];

    /// Stable lower-case name (storage, API).
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Opened => "opened",
            ChangeKind::Attached => "attached",
            ChangeKind::Restored => "restored",
            ChangeKind::Taken => "taken",
            ChangeKind::Released => "released",
            ChangeKind::Noted => "noted",
            ChangeKind::Closed => "closed",
            ChangeKind::Escalated => "escalated",
        }
    }

    /// Inverse of [`ChangeKind::as_str`].
    pub fn parse(s: &str) -> Option<ChangeKind> {
        ChangeKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The actor of changes the daemon makes itself (opened, attached, restored, escalated).
pub const SYSTEM_ACTOR: &str = "system";

/// One entry of the alarm change log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmChange {
    /// Change sequence: strictly increasing in commit order, its own counter (not the
    /// event seq).
    pub seq: i64,
    /// The alarm.
    pub alarm_id: i64,
    /// What happened.
    pub kind: ChangeKind,
    /// Who did it ([`SYSTEM_ACTOR`] for the daemon).
    pub actor: String,
    /// When, Unix ms.
    pub at_ms: i64,
    /// The event of an opened/attached/restored change; 0 otherwise.
    pub event_seq: i64,
    /// JSON detail: note text, resolution, taken over from … (`{}` when none).
    pub detail: String,
    /// The alarm after the change.
    pub alarm: Alarm,
}

/// A note on an alarm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmNote {
    /// When, Unix ms.
    pub at_ms: i64,
    /// Who wrote it.
    pub author: String,
    /// The text.
    pub text: String,
}

/// An alarm with everything attached to it (`GetAlarm`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmDetail {
    /// The record.
    pub alarm: Alarm,
    /// Seqs of the attached events, oldest first.
    pub event_seqs: Vec<i64>,
    /// Notes, oldest first.
    pub notes: Vec<AlarmNote>,
    /// Every change, oldest first.
    pub history: Vec<AlarmChange>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_alarm_columns_name_a_stored_value_that_is_not_a_state_or_priority() {
        let a = OpenAlarm::from_columns(7, "taken", 3, 1_000, false).unwrap();
        assert_eq!((a.id, a.state, a.priority.get()), (7, AlarmState::Taken, 3));
        let bad = |state: &str, p: i64| OpenAlarm::from_columns(7, state, p, 0, false).unwrap_err();
        assert!(bad("new", 0).contains("priority 0"), "{}", bad("new", 0));
        assert!(
            bad("new", 300).contains("priority 300"),
            "{}",
            bad("new", 300)
        );
        assert!(bad("lost", 1).contains("lost"), "{}", bad("lost", 1));
    }
}
