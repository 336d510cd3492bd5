//! [`Alarms`]: the one entry point for alarm handling that the gRPC API, the console and the
//! engine share. It checks arguments (resolution codes, note length), decides who may force
//! (admins take over, audited by the caller's access layer), stamps the time from its
//! [`Clock`], asks the store, and records the metrics (time to take and to close per
//! priority, escalations, open alarms per priority).

use std::sync::Arc;

use metrics::{counter, gauge, histogram};
use thiserror::Error;

use super::config::AlarmsConfig;
use super::{
    Alarm, AlarmChange, AlarmDetail, AlarmOp, AlarmQuery, AlarmRefusal, AlarmState, ChangeKind,
    OpenAlarm, Priority,
};
use crate::auth::{Identity, Permission};
use crate::clock::Clock;
use crate::metrics::names;
use crate::store::{Store, StoreError};

/// Longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 2000;

/// Why an alarm call did not happen.
#[derive(Debug, Clone, Error)]
pub enum AlarmsError {
    /// The lifecycle refuses it (taken by someone else, closed, not taken …).
    #[error(transparent)]
    Refused(#[from] AlarmRefusal),
    /// A bad argument: which field, and what is wrong.
    #[error("{field}: {message}")]
    BadArgument {
        /// The field (`resolution`, `text` …).
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The caller's role may not force this.
    #[error("{0}")]
    Forbidden(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Alarm handling over a store. Cheap to clone.
#[derive(Clone)]
pub struct Alarms {
    store: Arc<dyn Store>,
    config: Arc<AlarmsConfig>,
    clock: Clock,
}

impl std::fmt::Debug for Alarms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alarms")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Alarms {
    /// Alarm handling over `store` with `[alarms]`, stamping times from `clock`.
    pub fn new(store: Arc<dyn Store>, config: Arc<AlarmsConfig>, clock: Clock) -> Alarms {
        Alarms {
            store,
            config,
            clock,
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// `[alarms]`.
    pub fn config(&self) -> &AlarmsConfig {
        &self.config
    }

    /// The clock times are stamped with.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// When `alarm` escalates if still not taken (0 once taken, closed or escalated).
    pub fn take_due_ms(&self, alarm: &Alarm) -> i64 {
        super::engine::deadline(&self.config, &OpenAlarm::from(alarm)).unwrap_or(0)
    }

    /// Alarms matching `query` (see [`Store::list_alarms`] for the order).
    pub async fn list(&self, query: &AlarmQuery) -> Result<Vec<Alarm>, AlarmsError> {
        Ok(self.store.list_alarms(query).await?)
    }

    /// One alarm with its events, notes and history.
    pub async fn get(&self, id: i64) -> Result<AlarmDetail, AlarmsError> {
        self.store
            .alarm(id)
            .await?
            .ok_or(AlarmsError::Refused(AlarmRefusal::NotFound(id)))
    }

    /// Take alarm `id` for `who`; `force` takes it over from another holder (admins).
    pub async fn take(
        &self,
        id: i64,
        who: &Identity,
        force: bool,
    ) -> Result<AlarmChange, AlarmsError> {
        may_force(who, force)?;
        self.update(id, AlarmOp::Take { force }, who).await
    }

    /// Put alarm `id` back to `new`; `force` releases another holder's (admins).
    pub async fn release(
        &self,
        id: i64,
        who: &Identity,
        force: bool,
    ) -> Result<AlarmChange, AlarmsError> {
        may_force(who, force)?;
        self.update(id, AlarmOp::Release { force }, who).await
    }

    /// Add a note to alarm `id`, which `who` holds (an admin may note any open alarm).
    pub async fn note(
        &self,
        id: i64,
        who: &Identity,
        text: &str,
    ) -> Result<AlarmChange, AlarmsError> {
        let text = note_text("text", text)?.ok_or_else(|| AlarmsError::BadArgument {
            field: "text",
            message: "the note is empty".into(),
        })?;
        let force = who.role.allows(Permission::SuperviseAlarms);
        self.update(id, AlarmOp::Note { text, force }, who).await
    }

    /// Close alarm `id` with `resolution` (a configured code) and an optional note; `force`
    /// closes one the caller does not hold (admins).
    pub async fn close(
        &self,
        id: i64,
        who: &Identity,
        resolution: &str,
        note: &str,
        force: bool,
    ) -> Result<AlarmChange, AlarmsError> {
        may_force(who, force)?;
        let r = self
            .config
            .resolution(resolution)
            .ok_or_else(|| AlarmsError::BadArgument {
                field: "resolution",
                message: format!(
                    "unknown resolution {resolution:?} (one of: {})",
                    self.config
                        .resolutions
                        .iter()
                        .map(|r| r.code.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?;
        let op = AlarmOp::Close {
            resolution: r.code.clone(),
            false_alarm: r.false_alarm,
            note: note_text("note", note)?,
            force,
        };
        self.update(id, op, who).await
    }

    async fn update(
        &self,
        id: i64,
        op: AlarmOp,
        who: &Identity,
    ) -> Result<AlarmChange, AlarmsError> {
        let at = self.clock.now_ms();
        let change = self.store.update_alarm(id, op, &who.actor(), at).await??;
        self.observe(std::slice::from_ref(&change));
        Ok(change)
    }

    /// Record the metrics of changes just written (by this service or the engine).
    pub fn observe(&self, changes: &[AlarmChange]) {
        for c in changes {
            let a = &c.alarm;
            let p = a.priority.get().to_string();
            match c.kind {
                ChangeKind::Taken if a.taken_at_ms == c.at_ms => {
                    histogram!(names::ALARM_TAKE_SECONDS, "priority" => p)
                        .record(secs(c.at_ms - a.opened_at_ms));
                }
                ChangeKind::Closed => {
                    histogram!(names::ALARM_CLOSE_SECONDS, "priority" => p)
                        .record(secs(c.at_ms - a.opened_at_ms));
                    let outcome = if a.false_alarm { "false_alarm" } else { "real" };
                    counter!(names::ALARMS_CLOSED_TOTAL, "outcome" => outcome).increment(1);
                }
                ChangeKind::Escalated => {
                    counter!(names::ALARM_ESCALATIONS_TOTAL, "priority" => p).increment(1);
                }
                _ => {}
            }
        }
    }

    /// Set the open-alarms gauge (every priority) from `open`, the alarms open now (the
    /// escalation ticker calls it every round).
    pub fn set_open_gauge(&self, open: &[OpenAlarm]) {
        for n in 1..=9u8 {
            let Some(p) = Priority::new(n) else { continue };
            let count = open
                .iter()
                .filter(|a| a.priority == p && a.state != AlarmState::Closed)
                .count();
            gauge!(names::ALARMS_OPEN, "priority" => n.to_string()).set(count as f64);
        }
    }
}

fn secs(ms: i64) -> f64 {
    ms.max(0) as f64 / 1000.0
}

/// Only admins (permission `SuperviseAlarms`) may force.
fn may_force(who: &Identity, force: bool) -> Result<(), AlarmsError> {
    if force && !who.role.allows(Permission::SuperviseAlarms) {
        return Err(AlarmsError::Forbidden(format!(
            "{who} may not {} (needs role admin)",
            Permission::SuperviseAlarms.describe()
        )));
    }
    Ok(())
}

/// A note's text: trimmed, `None` when empty, at most [`MAX_NOTE_CHARS`] characters and no
/// control characters but newlines and tabs.
fn note_text(field: &'static str, text: &str) -> Result<Option<String>, AlarmsError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let n = t.chars().count();
    if n > MAX_NOTE_CHARS {
        return Err(AlarmsError::BadArgument {
            field,
            message: format!("{n} characters; at most {MAX_NOTE_CHARS}"),
        });
    }
    if t.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(AlarmsError::BadArgument {
            field,
            message: "control characters are not allowed".into(),
        });
    }
    Ok(Some(t.to_string()))
}
