//! alarmhub: an alarm receiving centre for Hengbo and SIA DC-09 panels.
//!
//! The one `alarmhub` binary (see `main.rs`) is a thin shell over this library:
//! * [`config`]: configuration file, defaults, validation.
//! * [`store`]: durable event storage (SQLite, group-commit writer).
//! * [`events`]: the event record and the in-process bus.
//! * [`registry`]: live state of every panel.
//! * [`receiver`]: panel listeners (TCP, UDP) and sessions.
//! * [`control`]: remote commands to Hengbo hosts.
//! * [`auth`]: access control (tokens, users, roles), TLS and the audit trail.
//! * [`server`]: wiring everything together for `alarmhub serve`.
//! * [`decode`]: `alarmhub decode`.
pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod control;
pub mod decode;
pub mod events;
pub mod http;
pub mod logging;
pub mod proto;
pub mod receiver;
pub mod registry;
pub mod reload;
pub mod server;
pub mod sim;
pub mod store;
