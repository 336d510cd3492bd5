//! Outputs to other systems, each fed from the durable event log by a stored cursor
//! (DESIGN.md contract 6): an outage of any length loses nothing.
//!
//! * [`surgard`]: the Sur-Gard automation output that central-station software speaks;
//! * [`dc09`]: DC-09 forwarding to an upstream receiver (another ARC);
//! * [`mqtt`]: the MQTT bridge with Home Assistant discovery and two-way arming.
//!
//! The outputs see the daemon only through the small interfaces in [`source`]
//! ([`EventLog`], [`CursorStore`], [`Controller`], [`PanelView`]); [`memory`] has in-memory
//! versions for tests. [`spawn`] starts every configured output.

use std::collections::HashMap;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{AutomationKind, Config};

pub mod backoff;
pub mod dc09;
pub mod feed;
pub mod memory;
pub mod mqtt;
pub mod source;
pub mod surgard;

pub use source::{
    ArmAction, CommandOutcome, ControlCommand, Controller, CursorStore, EventLog, PanelSnapshot,
    PanelView, SourceError,
};

/// What the daemon needs from the daemon to run the outputs.
#[derive(Clone)]
pub struct Sources {
    /// Committed events.
    pub log: Arc<dyn EventLog>,
    /// Output cursors.
    pub cursors: Arc<dyn CursorStore>,
    /// The control path (MQTT commands).
    pub controller: Arc<dyn Controller>,
    /// Live panel state (MQTT state topics).
    pub panels: Arc<dyn PanelView>,
}

/// Handles to watch the running outputs (console, tests).
#[derive(Debug, Default, Clone)]
pub struct Running {
    /// One per `[[automation]]` output (Sur-Gard and DC-09), in configuration order.
    pub surgard: Vec<surgard::StatusWatch>,
    /// The MQTT bridge, when `[mqtt]` is configured.
    pub mqtt: Option<mqtt::StatusWatch>,
}

/// Start every output `config` asks for on `tracker`; they stop when `cancel` fires (saving
/// their cursors first).
pub fn spawn(
    config: &Config,
    sources: Sources,
    cancel: CancellationToken,
    tracker: &TaskTracker,
) -> Running {
    let mut running = Running::default();
    let cms_accounts: Arc<HashMap<String, String>> = Arc::new(
        config
            .accounts
            .iter()
            .filter_map(|a| {
                let cms = a.cms_account.as_ref()?;
                Some((a.account.to_ascii_lowercase(), cms.to_ascii_uppercase()))
            })
            .collect(),
    );
    for a in &config.automation {
        match a.kind {
            AutomationKind::Surgard => {
                let initial = match a.mode {
                    crate::config::AutomationMode::Listen => surgard::LinkState::Waiting,
                    crate::config::AutomationMode::Connect => surgard::LinkState::Connecting,
                };
                let (reporter, watch) = surgard::status::Reporter::new(&a.name, initial);
                let output = surgard::SurgardOutput {
                    config: a.clone(),
                    log: sources.log.clone(),
                    cursors: sources.cursors.clone(),
                    cms_accounts: cms_accounts.clone(),
                    reporter,
                };
                tracker.spawn(output.run(cancel.child_token()));
                running.surgard.push(watch);
            }
            AutomationKind::Dc09 => {
                let (reporter, watch) =
                    surgard::status::Reporter::new(&a.name, surgard::LinkState::Connecting);
                let output = dc09::Dc09Output {
                    config: a.clone(),
                    log: sources.log.clone(),
                    cursors: sources.cursors.clone(),
                    reporter,
                };
                tracker.spawn(output.run(cancel.child_token()));
                running.surgard.push(watch);
            }
        }
    }
    if let Some(m) = &config.mqtt {
        let names = config
            .accounts
            .iter()
            .filter_map(|a| Some((a.account.to_ascii_lowercase(), a.name.clone()?)))
            .collect();
        running.mqtt = Some(mqtt::spawn(
            m.clone(),
            names,
            sources,
            cancel.child_token(),
            tracker,
        ));
    }
    running
}
