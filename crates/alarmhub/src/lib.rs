//! alarmhub: an alarm receiving centre for Hengbo and SIA DC-09 panels.
//!
//! The one `alarmhub` binary (see `main.rs`) is a thin shell over this library:
//! * [`config`]: configuration file, defaults, validation.
//! * [`store`]: durable event storage behind the [`store::Store`] trait (SQLite today).
//! * [`events`]: the event record (typed facts, display detail, naming) and the bus.
//! * [`registry`]: live state of every panel.
//! * [`receiver`]: panel listeners (TCP, UDP) and sessions.
//! * [`control`]: remote commands to Hengbo hosts.
//! * [`api`]: the gRPC services, over their own [`api::ApiState`].
//! * [`http`]: health, readiness and metrics endpoints; [`console`]: the operator web console.
//! * [`daemon`]: `alarmhub serve` in named steps (open store, restore, bind, spawn, shut
//!   down), systemd integration.
//! * [`metrics`]: every metric series name and its help text; [`clock`]: the wall clock.
//! * [`decode`]: `alarmhub decode`; [`sim`]: `alarmhub simulate`; [`cli`]: client commands.
//!
//! Dependencies point one way: `daemon` wires `store`, `registry`, `receiver`, `control`,
//! `api` and `http`, none of which imports `daemon`.
//! * [`outputs`]: MQTT / Home Assistant and Sur-Gard automation outputs.
//! * [`auth`]: access control (tokens, users, roles), TLS and the audit trail.
//! * [`alarms`]: alarm records (open, take, close, escalate) and the alarm change log.
//! * [`accounts`]: panel accounts at runtime (store + `[[accounts]]`, the live table).
pub mod accounts;
pub mod alarms;
pub mod api;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod control;
pub mod daemon;
pub mod decode;
pub mod events;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod outputs;
pub mod proto;
pub mod receiver;
pub mod registry;
pub mod reload;
pub mod routing;
pub mod sim;
pub mod store;

/// The daemon under its earlier name, so harnesses written against `alarmhub::server`
/// (`serve`, `Bound`, `shutdown_signal`) keep compiling until they move to [`daemon`].
pub use daemon as server;
