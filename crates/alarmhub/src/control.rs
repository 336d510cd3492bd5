//! Remote control of Hengbo hosts: find the panel's connection, hand the command to its
//! session (which owns the seq counter, the ACK wait and the retries), store the command
//! and its outcome as events (the audit trail).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use panel_proto::build::Command;
use panel_proto::codes;
use panel_proto::rules::Dialect;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use crate::events::{ControlFacts, ControlOutcome, Facts, NewEvent, Source};
use crate::metrics::names;
use crate::registry::Registry;
use crate::store::Store;

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The host ACKed the command.
    Done,
    /// No ACK after every retry.
    TimedOut,
    /// The panel has no connection (or lost it while the command was pending).
    PanelOffline,
    /// The panel's type or dialect cannot do this.
    NotSupported(String),
    /// The request itself is wrong (bad section, missing password …).
    BadRequest(String),
}

impl Outcome {
    /// Stable name for events, metrics and the API.
    pub fn as_str(&self) -> &'static str {
        self.kind().as_str()
    }

    /// The kind, as the audit trail stores it.
    pub fn kind(&self) -> ControlOutcome {
        match self {
            Outcome::Done => ControlOutcome::Done,
            Outcome::TimedOut => ControlOutcome::TimedOut,
            Outcome::PanelOffline => ControlOutcome::PanelOffline,
            Outcome::NotSupported(_) => ControlOutcome::NotSupported,
            Outcome::BadRequest(_) => ControlOutcome::BadRequest,
        }
    }

    /// Human text.
    pub fn message(&self) -> String {
        match self {
            Outcome::Done => "the host confirmed the command".into(),
            Outcome::TimedOut => "the host did not confirm the command in time".into(),
            Outcome::PanelOffline => "the panel is offline".into(),
            Outcome::NotSupported(m) | Outcome::BadRequest(m) => m.clone(),
        }
    }
}

/// A command handed to a session.
#[derive(Debug)]
pub struct CommandRequest {
    /// What to send.
    pub command: Command,
    /// Section (gg): 0 whole host, 1..=3.
    pub section: u8,
    /// Wait for the ACK this long per attempt.
    pub timeout: Duration,
    /// Resend this many times after the first attempt.
    pub retries: u32,
    /// Where the session reports the outcome.
    pub reply: oneshot::Sender<Outcome>,
}

/// A session's handle, registered under each account it serves.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    /// Unique per connection, so a closing session only removes itself.
    pub conn_id: u64,
    /// Commands to the session.
    pub tx: mpsc::Sender<CommandRequest>,
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

    /// Register `h` for `account`, replacing an older connection (the panel reconnected).
    pub fn register(&self, account: &str, h: SessionHandle) {
        self.lock().insert(account.to_string(), h);
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
    /// `arm_away`, `arm_stay`, `disarm`, `emergency`, `query_type`.
    pub action: Action,
    /// 0 whole host, 1..=3 section.
    pub section: u8,
    /// Disarm password (falls back to the account's configured password).
    pub password: Option<String>,
    /// Who asked (for the audit trail): gRPC peer, CLI …
    pub requested_by: String,
}

/// Remote actions (the audit trail's vocabulary, kept with the events).
pub use crate::events::ControlAction as Action;

impl Control {
    /// Check the request against what is known of the panel.
    fn check(&self, req: &ControlRequest) -> Result<Command, Outcome> {
        if req.section > 3 {
            return Err(Outcome::BadRequest(format!(
                "section {} (use 0 for the whole host or 1..3)",
                req.section
            )));
        }
        let panel = self.registry.get(&req.account);
        let Some(panel) = panel else {
            return Err(Outcome::PanelOffline);
        };
        if panel.dialect == Some(Dialect::Dc09) {
            return Err(Outcome::NotSupported(
                "remote control needs a Hengbo host; this panel speaks plain DC-09".into(),
            ));
        }
        let t = codes::machine_type(panel.machine_type);
        if panel.machine_type >= 0 {
            let ok = match req.action {
                Action::ArmStay => t.arm_stay,
                Action::QueryType => true,
                _ => t.arm_disarm,
            };
            if !ok {
                return Err(Outcome::NotSupported(format!(
                    "{} is not supported by host type {} ({})",
                    req.action.as_str(),
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
        }
        Ok(match req.action {
            Action::ArmAway => Command::ArmAway,
            Action::ArmStay => Command::ArmStay,
            Action::Emergency => Command::Emergency,
            Action::QueryType => Command::QueryType,
            Action::Disarm => {
                let pw = req.password.clone().or_else(|| {
                    self.config
                        .account(&req.account)
                        .and_then(|a| a.password.as_ref())
                        .map(|s| s.expose().to_string())
                });
                let Some(pw) = pw else {
                    return Err(Outcome::BadRequest(
                        "disarm needs the host password (--password, or `password` in the account's configuration)".into(),
                    ));
                };
                if !(6..=8).contains(&pw.len()) || !pw.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(Outcome::BadRequest(
                        "the password must be 6 to 8 digits".into(),
                    ));
                }
                Command::Disarm { password: pw }
            }
        })
    }

    /// Run a command to completion and store it with its outcome.
    pub async fn execute(&self, req: ControlRequest) -> Outcome {
        let outcome = match self.check(&req) {
            Err(o) => o,
            Ok(cmd) => self.send(&req, cmd).await,
        };
        metrics::counter!(names::CONTROL_COMMANDS_TOTAL, "action" => req.action.as_str(), "outcome" => outcome.as_str()).increment(1);
        tracing::info!(account = %req.account, action = req.action.as_str(), section = req.section,
            outcome = outcome.as_str(), by = %req.requested_by, "control command");
        let ev = NewEvent {
            account: req.account.clone(),
            source: Source::Control,
            code: req.action.code(),
            sia_code: None,
            group: u16::from(req.section),
            zone: 99,
            received_at_ms: crate::clock::now_ms(),
            panel_time: None,
            protocol: String::new(),
            frame_seq: String::new(),
            peer: req.requested_by.clone(),
            facts: Facts {
                control: Some(ControlFacts {
                    action: req.action,
                    outcome: outcome.kind(),
                }),
                ..Facts::default()
            },
            detail: json!({ "action": req.action.as_str(), "outcome": outcome.as_str(), "message": outcome.message() }).into(),
            dedup_key: None,
        };
        if let Err(e) = self.store.append_one(ev).await {
            tracing::error!(account = %req.account, error = %e, "could not store control audit event");
        }
        outcome
    }

    async fn send(&self, req: &ControlRequest, command: Command) -> Outcome {
        let Some(h) = self.connections.get(&req.account) else {
            return Outcome::PanelOffline;
        };
        let (tx, rx) = oneshot::channel();
        let r = CommandRequest {
            command,
            section: req.section,
            timeout: Duration::from_secs(self.config.control.timeout_secs),
            retries: self.config.control.retries,
            reply: tx,
        };
        if h.tx.send(r).await.is_err() {
            return Outcome::PanelOffline;
        }
        rx.await.unwrap_or(Outcome::PanelOffline)
    }
}
