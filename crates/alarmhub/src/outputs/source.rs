//! The four small interfaces the outputs need from the daemon, kept here so the outputs do not
//! depend on how the store, the registry or the control path are built:
//!
//! * [`EventLog`]: committed events by sequence number, and a wake-up when newer ones exist;
//! * [`CursorStore`]: one durable sequence number per output ("delivered up to here");
//! * [`Controller`]: run an arm/disarm command and report what really happened;
//! * [`PanelView`]: the live state of a panel, for Home Assistant's state topics.
//!
//! All are object safe (`Arc<dyn …>`): async methods return boxed futures.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::config::Secret;
use crate::events::StoredEvent;

/// Why the event log or the cursor store could not answer. The outputs retry after a pause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// Reading the event log failed.
    #[error("event log: {0}")]
    Log(String),
    /// Loading or saving a cursor failed.
    #[error("cursor store: {0}")]
    Cursor(String),
}

/// Committed events in sequence order.
pub trait EventLog: Send + Sync + 'static {
    /// Up to `limit` events with a sequence number above `after`, ascending, without gaps
    /// other than those the store itself has.
    fn read_after(
        &self,
        after: i64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Arc<StoredEvent>>, SourceError>>;

    /// The highest sequence number stored (0 when the log is empty).
    fn last_seq(&self) -> BoxFuture<'_, Result<i64, SourceError>>;

    /// Resolves once an event with a sequence number above `after` exists, including one that
    /// was committed before the call (implementations subscribe to their wake-up first, then
    /// check the log). May resolve early; callers read again with [`EventLog::read_after`],
    /// which is the truth. Dropping the future is always safe.
    fn wait_after(&self, after: i64) -> BoxFuture<'_, ()>;
}

/// Durable "delivered up to" positions, one per output name.
pub trait CursorStore: Send + Sync + 'static {
    /// The saved position of `output`, `None` for an output never saved.
    fn load<'a>(&'a self, output: &'a str) -> BoxFuture<'a, Result<Option<i64>, SourceError>>;

    /// Save the position of `output` durably (it survives a crash once this resolves).
    fn save<'a>(&'a self, output: &'a str, seq: i64) -> BoxFuture<'a, Result<(), SourceError>>;
}

/// What an output may ask a panel to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArmAction {
    /// Arm away (HB 3400).
    ArmAway,
    /// Arm stay / home (HB 3456).
    ArmStay,
    /// Disarm (HB 1400, needs the host password).
    Disarm,
}

impl ArmAction {
    /// Stable name, the same as the control API's.
    pub fn as_str(&self) -> &'static str {
        match self {
            ArmAction::ArmAway => "arm_away",
            ArmAction::ArmStay => "arm_stay",
            ArmAction::Disarm => "disarm",
        }
    }
}

/// One command from an output, run through the same control path as the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlCommand {
    /// Panel account.
    pub account: String,
    /// What to do.
    pub action: ArmAction,
    /// 0 = whole host, 1..=3 = a section of a three-section host.
    pub section: u8,
    /// The HB host password (from Home Assistant's code); `None` lets the control path use
    /// the account's configured password.
    pub password: Option<Secret>,
    /// Who asked, for the audit trail (`mqtt`).
    pub actor: String,
}

/// How a command really ended (DESIGN.md contract 8: "done" only when the host confirmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandOutcome {
    /// The host confirmed the command.
    Done,
    /// The host refused the password (HB 1701).
    WrongPassword,
    /// The host did not confirm in time, after every retry.
    TimedOut,
    /// The host received the command but did not report the new status.
    NotDone,
    /// The panel has no connection.
    PanelOffline,
    /// The panel cannot do this (type, dialect, sections).
    NotSupported(String),
    /// The request itself is wrong (section, password format …).
    BadRequest(String),
}

impl CommandOutcome {
    /// Stable name for topics, metrics and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            CommandOutcome::Done => "done",
            CommandOutcome::WrongPassword => "wrong_password",
            CommandOutcome::TimedOut => "timed_out",
            CommandOutcome::NotDone => "not_done",
            CommandOutcome::PanelOffline => "panel_offline",
            CommandOutcome::NotSupported(_) => "not_supported",
            CommandOutcome::BadRequest(_) => "bad_request",
        }
    }

    /// Human text.
    pub fn message(&self) -> String {
        match self {
            CommandOutcome::Done => "the host confirmed the command".into(),
            CommandOutcome::WrongPassword => "the host refused the password".into(),
            CommandOutcome::TimedOut => "the host did not confirm the command in time".into(),
            CommandOutcome::NotDone => {
                "the host received the command but did not report the new status".into()
            }
            CommandOutcome::PanelOffline => "the panel is offline".into(),
            CommandOutcome::NotSupported(m) | CommandOutcome::BadRequest(m) => m.clone(),
        }
    }
}

/// Runs commands on panels.
pub trait Controller: Send + Sync + 'static {
    /// Run `command` to completion (it may take the control path's whole timeout and
    /// retries) and report the truthful outcome. The audit trail is the control path's job.
    fn execute(&self, command: ControlCommand) -> BoxFuture<'_, CommandOutcome>;
}

/// What Home Assistant needs to know about one panel.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PanelSnapshot {
    /// Account.
    pub account: String,
    /// Online now (supervision says so).
    pub online: bool,
    /// HB machine type, -1 unknown (8 = three-section host).
    pub machine_type: i32,
    /// HB status per section (0 whole host, 1..=3): 0 arm away, 1 arm stay, 2 disarm,
    /// 3 setting, -1 unknown.
    pub status: [i32; 4],
    /// Zones with an open alarm (until their restore) → the group / section that raised it.
    pub active_alarms: BTreeMap<u16, u16>,
    /// Zones that ever reported an event (zone 0, the host itself, excluded).
    pub zones_seen: BTreeSet<u16>,
}

/// Read access to the live panel state (the registry).
pub trait PanelView: Send + Sync + 'static {
    /// One panel, `None` when never seen.
    fn panel(&self, account: &str) -> Option<PanelSnapshot>;

    /// Every known account, sorted.
    fn accounts(&self) -> Vec<String>;
}
