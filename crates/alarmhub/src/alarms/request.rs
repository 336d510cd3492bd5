//! What the store is asked to do with alarms: the engine's [`AlarmInput`]s (with the
//! [`EventAction`] `[alarms]` decided), an operator's [`AlarmOp`] and why the lifecycle may
//! refuse it ([`AlarmRefusal`]), and listing filters ([`AlarmQuery`], [`AlarmCursor`]).

use super::model::{Alarm, AlarmState, Category, Priority};

/// What an event asks of the alarms (decided by `[alarms]`, applied by the store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventAction {
    /// Open an alarm for the account, or attach to the one open.
    Alarm {
        /// Priority of this event.
        priority: Priority,
        /// Its category.
        category: Category,
    },
    /// Mark the zone restored on the account's open alarm (if any); never closes it.
    Restore,
}

/// One stored event the alarm engine hands to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmInput {
    /// The event's seq (idempotency: an event is applied at most once).
    pub seq: i64,
    /// Panel account.
    pub account: String,
    /// 4-digit code (0 for SIA-only).
    pub code: u16,
    /// SIA code.
    pub sia_code: Option<String>,
    /// Zone.
    pub zone: u16,
    /// Group.
    pub group: u16,
    /// Receive time, Unix ms.
    pub at_ms: i64,
    /// What to do.
    pub action: EventAction,
}

/// An operator's (or the escalation ticker's) request on one alarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlarmOp {
    /// Take it; `force` takes it over from another holder (admins only, checked before).
    Take {
        /// Take over from another holder.
        force: bool,
    },
    /// Put it back to `new`; `force` releases another holder's alarm.
    Release {
        /// Release another holder's alarm.
        force: bool,
    },
    /// Add a note (the alarm must be taken by the actor, or `force`).
    Note {
        /// The text.
        text: String,
        /// Note on an alarm the actor does not hold.
        force: bool,
    },
    /// Close with a resolution.
    Close {
        /// Resolution code.
        resolution: String,
        /// Whether that resolution is a false alarm.
        false_alarm: bool,
        /// Optional closing note.
        note: Option<String>,
        /// Close an alarm the actor does not hold (or nobody took).
        force: bool,
    },
    /// Mark it escalated (the ticker): only while `new` and not escalated yet.
    Escalate,
}

/// Why an [`AlarmOp`] was refused: the lifecycle rules, not a store failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlarmRefusal {
    /// No such alarm.
    #[error("alarm {0} does not exist")]
    NotFound(i64),
    /// Someone else holds it.
    #[error("alarm {id} is taken by {holder}")]
    TakenBy {
        /// The alarm.
        id: i64,
        /// Who holds it.
        holder: String,
    },
    /// It is already closed.
    #[error("alarm {0} is closed")]
    Closed(i64),
    /// The operation needs the alarm taken (by the caller) first.
    #[error("alarm {0} is not taken: take it first")]
    NotTaken(i64),
    /// Already escalated, or taken: nothing to escalate.
    #[error("alarm {0} does not need escalating")]
    NotEscalable(i64),
}

/// Filters for listing alarms. All optional; they combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlarmQuery {
    /// Only these states (empty: every state).
    pub states: Vec<AlarmState>,
    /// Only this priority.
    pub priority: Option<Priority>,
    /// Only this account.
    pub account: Option<String>,
    /// Paging: continue after this position.
    pub after: Option<AlarmCursor>,
    /// At most this many; 0 means no limit.
    pub limit: usize,
}

impl AlarmQuery {
    /// Whether the listing is in queue order (priority, then age) rather than newest first:
    /// when only open states are asked for.
    pub fn queue_order(&self) -> bool {
        !self.states.is_empty() && self.states.iter().all(|s| s.is_open())
    }
}

/// A position in an alarm listing (the last alarm of the previous page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmCursor {
    /// Queue order: (priority, opened_at_ms, id).
    Queue {
        /// Priority of the last alarm.
        priority: u8,
        /// Its opening time.
        opened_at_ms: i64,
        /// Its id.
        id: i64,
    },
    /// Newest-first order: the last id.
    Id(i64),
}

impl AlarmCursor {
    /// The cursor after `alarm` in the order `queue` says.
    pub fn after(alarm: &Alarm, queue: bool) -> AlarmCursor {
        if queue {
            AlarmCursor::Queue {
                priority: alarm.priority.get(),
                opened_at_ms: alarm.opened_at_ms,
                id: alarm.id,
            }
        } else {
            AlarmCursor::Id(alarm.id)
        }
    }
}
