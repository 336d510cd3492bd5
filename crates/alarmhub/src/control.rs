//! Remote control of Hengbo hosts: check the request against what the registry knows,
//! find the panel's connection, hand the command to it (its link owns the seq counter, the
//! ACK wait and the retries), and store the command and its outcome as events (the audit
//! trail).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use panel_proto::build::Command;
use panel_proto::codes;
use panel_proto::link;
use panel_proto::rules::Dialect;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use crate::events::{ControlAction, ControlFacts, ControlOutcome, Facts, NewEvent, Source};
use crate::metrics::names;
use crate::registry::Registry;
use crate::store::{RoutedCommand, Store};

/// How a command ended; decided by the connection's link, named for the API.
pub use panel_proto::link::Outcome;

/// Ids for commands handed to connections (echoed back with the outcome).
static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

/// The kind of an outcome, as the audit trail stores it.
pub fn outcome_kind(o: &Outcome) -> ControlOutcome {
    match o {
        Outcome::Done => ControlOutcome::Done,
        Outcome::TimedOut => ControlOutcome::TimedOut,
        Outcome::WrongPassword => ControlOutcome::WrongPassword,
        Outcome::NotDone => ControlOutcome::NotDone,
        Outcome::PanelOffline => ControlOutcome::PanelOffline,
        Outcome::NotSupported(_) => ControlOutcome::NotSupported,
        Outcome::BadRequest(_) => ControlOutcome::BadRequest,
    }
}

/// A command handed to a connection's task.
#[derive(Debug)]
pub struct CommandRequest {
    /// What the link sends and how long it waits.
    pub request: link::CommandRequest,
    /// Where the connection reports the outcome.
    pub reply: oneshot::Sender<Outcome>,
}

/// A session's handle, registered under each account it serves.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    /// Unique per connection, so a closing session only removes itself.
    pub conn_id: u64,
    /// Commands to the session.
    pub tx: mpsc::Sender<CommandRequest>,
    /// The connection's remote address.
    pub peer: std::net::SocketAddr,
}

/// Which session serves which account.
#[derive(Debug, Default)]
pub struct Connections {
    map: Mutex<HashMap<String, SessionHandle>>,
}

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SessionHandle>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Register `h` for `account`. It replaces the connection registered before when that
    /// one is gone or comes from the same IP address (the panel reconnected); while a live
    /// connection from another address serves the account, nothing changes and that
    /// connection's address is returned: a second address does not take the commands over.
    pub fn register(&self, account: &str, h: SessionHandle) -> Result<(), std::net::SocketAddr> {
        let mut m = self.lock();
        if let Some(old) = m.get(account) {
            let live = !old.tx.is_closed();
            if live && old.conn_id != h.conn_id && old.peer.ip() != h.peer.ip() {
                return Err(old.peer);
            }
        }
        m.insert(account.to_string(), h);
        Ok(())
    }

    /// Remove `account` if it still points at `conn_id`.
    pub fn unregister(&self, account: &str, conn_id: u64) -> bool {
        let mut m = self.lock();
        if m.get(account).is_some_and(|h| h.conn_id == conn_id) {
            m.remove(account);
            true
        } else {
            false
        }
    }

    /// Whether `account` is served by the connection `conn_id`.
    pub fn is_current(&self, account: &str, conn_id: u64) -> bool {
        self.lock()
            .get(account)
            .is_some_and(|h| h.conn_id == conn_id)
    }

    /// The session serving `account`.
    pub fn get(&self, account: &str) -> Option<SessionHandle> {
        self.lock().get(account).cloned()
    }

    /// Number of registered accounts.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Control service used by the gRPC API and CLI.
#[derive(Clone)]
pub struct Control {
    /// Live connections.
    pub connections: Arc<Connections>,
    /// Panel state (type, online).
    pub registry: Arc<Registry>,
    /// Audit trail.
    pub store: Arc<dyn Store>,
    /// Per-account passwords from the configuration.
    pub config: Arc<crate::config::Config>,
}

/// A control request from the API.
#[derive(Debug, Clone)]
pub struct ControlRequest {
    /// Panel account.
    pub account: String,
    /// What to do ([`remote_command`] names). A disarm with an empty password uses the
    /// account's configured one.
    pub command: Command,
    /// 0 whole host, 1..=3 section.
    pub section: u8,
    /// Who asked (for the audit trail): gRPC peer, CLI …
    pub requested_by: String,
}

/// The command the API or CLI names (`arm_away`/`arm`, `arm_stay`, `disarm`, `emergency`,
/// `query_type`); the receiver's own commands (setting mode, pass-through) are not offered.
pub fn remote_command(name: &str) -> Option<Command> {
    Command::from_name(name).filter(is_remote)
}

fn is_remote(c: &Command) -> bool {
    matches!(
        c,
        Command::ArmAway
            | Command::ArmStay
            | Command::Disarm { .. }
            | Command::Emergency
            | Command::QueryType
    )
}

impl Control {
    /// Check the request against what is known of the panel; returns the command to send
    /// (a disarm's password filled in) and the host's Ademco ID.
    fn check(&self, req: &ControlRequest) -> Result<(Command, Option<u32>), Outcome> {
        if !is_remote(&req.command) {
            return Err(Outcome::BadRequest(format!(
                "{} is not a remote-control command",
                req.command.name()
            )));
        }
        if req.section > 3 {
            return Err(Outcome::BadRequest(format!(
                "section {} (use 0 for the whole host or 1..3)",
                req.section
            )));
        }
        let Some(panel) = self.registry.get(&req.account) else {
            return Err(Outcome::PanelOffline);
        };
        if panel.dialect == Some(Dialect::Dc09) {
            return Err(Outcome::NotSupported(
                "remote control needs a Hengbo host; this panel speaks plain DC-09".into(),
            ));
        }
        self.check_type(req, panel.machine_type)?;
        let command = match &req.command {
            Command::Disarm { password } => Command::Disarm {
                password: self.disarm_password(req, password)?,
            },
            other => other.clone(),
        };
        Ok((command, panel.ademco_id))
    }

    /// Whether a host of `machine_type` (-1 unknown: anything goes) can do the request.
    fn check_type(&self, req: &ControlRequest, machine_type: i32) -> Result<(), Outcome> {
        if machine_type < 0 {
            return Ok(());
        }
        let t = codes::machine_type(machine_type);
        let ok = match req.command {
            Command::ArmStay => t.arm_stay,
            Command::QueryType => true,
            _ => t.arm_disarm,
        };
        if !ok {
            return Err(Outcome::NotSupported(format!(
                "{} is not supported by host type {} ({})",
                req.command.name(),
                t.number,
                t.name
            )));
        }
        if req.section > 0 && t.sections == 0 {
            return Err(Outcome::NotSupported(format!(
                "sections need a three-section host; this one is type {} ({})",
                t.number, t.name
            )));
        }
        Ok(())
    }

    /// The caller's password, else the account's configured one; 6 to 8 digits.
    fn disarm_password(&self, req: &ControlRequest, given: &str) -> Result<String, Outcome> {
        let pw = if given.is_empty() {
            self.config
                .account(&req.account)
                .and_then(|a| a.password.as_ref().map(|s| s.expose().to_string()))
        } else {
            Some(given.to_string())
        };
        let Some(pw) = pw else {
            return Err(Outcome::BadRequest(
                "disarm needs the host password (--password, or `password` in the account's configuration)".into(),
            ));
        };
        if let Err(rule) = panel_proto::build::check_hb_password(&pw) {
            return Err(Outcome::BadRequest(rule.into()));
        }
        Ok(pw)
    }

    /// Run a command to completion and store it with its outcome.
    pub async fn execute(&self, req: ControlRequest) -> Outcome {
        let outcome = match self.check(&req) {
            Err(o) => o,
            Ok((cmd, ademco_id)) => self.send(&req, cmd, ademco_id).await,
        };
        let action = req.command.name();
        metrics::counter!(names::CONTROL_COMMANDS_TOTAL, "action" => action, "outcome" => outcome.as_str()).increment(1);
        tracing::info!(account = %req.account, action, section = req.section,
            outcome = outcome.as_str(), by = %req.requested_by, "control command");
        let ev = NewEvent {
            account: req.account.clone(),
            source: Source::Control,
            code: req.command.event_code(),
            sia_code: None,
            group: u16::from(req.section),
            zone: 99,
            received_at_ms: crate::clock::now_ms(),
            panel_time: None,
            protocol: String::new(),
            frame_seq: String::new(),
            peer: req.requested_by.clone(),
            facts: Facts {
                control: ControlAction::of(&req.command).map(|action| ControlFacts {
                    action,
                    outcome: outcome_kind(&outcome),
                }),
                ..Facts::default()
            },
            detail: json!({ "action": action, "outcome": outcome.as_str(), "message": outcome.message() }).into(),
            dedup_key: None,
        };
        if let Err(e) = self.store.append_one(ev).await {
            tracing::error!(account = %req.account, error = %e, "could not store control audit event");
        }
        outcome
    }

    async fn send(
        &self,
        req: &ControlRequest,
        command: Command,
        ademco_id: Option<u32>,
    ) -> Outcome {
        let routed = RoutedCommand {
            account: req.account.clone(),
            command,
            section: req.section,
            ademco_id,
        };
        if self.connections.get(&req.account).is_some() || !self.store.is_shared() {
            return self.send_local(routed).await;
        }
        // Another node holds the panel (crate::routing): at most every attempt plus a margin.
        let settings = self.config.settings();
        let c = &settings.control;
        let wait = Duration::from_secs(
            c.timeout_secs
                .saturating_mul(u64::from(c.retries) + 1)
                .saturating_add(5),
        );
        match self.store.route_command(routed, wait).await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(account = %req.account, error = %e, "routing a command to the panel's node failed");
                Outcome::PanelOffline
            }
        }
    }

    /// Send a command over this node's own connection to the panel and wait for the
    /// outcome (`panel_offline` without one). Also what routed commands end in.
    pub async fn send_local(&self, cmd: RoutedCommand) -> Outcome {
        let Some(h) = self.connections.get(&cmd.account) else {
            return Outcome::PanelOffline;
        };
        let (tx, rx) = oneshot::channel();
        let settings = self.config.settings();
        let c = &settings.control;
        let r = CommandRequest {
            request: link::CommandRequest {
                id: NEXT_REQUEST.fetch_add(1, Ordering::Relaxed),
                account: cmd.account.as_str().into(),
                command: cmd.command,
                section: cmd.section,
                retry: link::Retry {
                    timeout_ms: c.timeout_secs.saturating_mul(1000),
                    retries: c.retries,
                },
                ademco_id: cmd.ademco_id,
            },
            reply: tx,
        };
        if h.tx.send(r).await.is_err() {
            return Outcome::PanelOffline;
        }
        rx.await.unwrap_or(Outcome::PanelOffline)
    }
}
