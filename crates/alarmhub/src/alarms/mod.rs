//! Alarm handling (issue #15): an **alarm** is a record a person must handle, opened by an
//! event that needs one, taken by exactly one operator, noted and closed with a resolution.
//!
//! * [`model`]: the record ([`Alarm`]), its states, priorities and categories, and the
//!   **alarm change log** ([`AlarmChange`]): every change (opened, attached, restored,
//!   taken, released, noted, closed, escalated) with its actor, time and the alarm after it,
//!   under its own strictly increasing sequence. `WatchAlarms`, the console and the
//!   notifications follow this log by change seq.
//! * [`stored`]: how the change log stores the alarm after each change (attached and
//!   restored changes as a small delta) and how readers turn it back into the whole alarm.
//! * [`batch`]: one engine batch applied in memory, so each alarm row is read and written
//!   once per batch.
//! * [`request`]: what the engine and operators ask of the store, and the refusals.
//! * [`rules`]: the lifecycle and grouping rules as pure functions; every store backend
//!   applies them inside its transaction (the take is a compare-and-set there).
//! * [`config`]: `[alarms]` — which events open alarms, priorities, escalation times,
//!   resolution codes.
//! * [`engine`]: follows the durable event log by a stored cursor (idempotent per event
//!   seq, the cursor written in the same transaction as the alarm changes), and escalates
//!   alarms not taken in time.
//! * [`service`]: [`Alarms`], what the gRPC API, the console and the CLI call: list, get,
//!   take, release, note, close, watch — with the argument checks and metrics.

pub mod batch;
pub mod config;
pub mod engine;
pub mod model;
pub mod request;
pub mod rules;
pub mod service;
pub mod stored;

pub use config::{AlarmsConfig, ClassRule, CodeRule, Resolution};
pub use model::{
    Alarm, AlarmChange, AlarmDetail, AlarmNote, AlarmState, AlarmZone, Category, ChangeKind,
    OpenAlarm, Priority, SYSTEM_ACTOR,
};
pub use request::{AlarmCursor, AlarmInput, AlarmOp, AlarmQuery, AlarmRefusal, EventAction};
pub use service::{Alarms, AlarmsError};

/// The name of the alarm engine's cursor among the store's named cursors (the highest event
/// seq whose alarm effects are committed).
pub const ENGINE_CURSOR: &str = "alarm-engine";
