//! The daemon side of the outputs' four interfaces ([`crate::outputs::source`]): the event
//! log is the store read by sequence number with the event bus as the wake-up, cursors are
//! the store's named cursors, commands go through the same control path as the API (the
//! audit trail names the output as the actor), and panel state comes from the registry.

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::FutureExt;
use panel_proto::build::Command;
use tokio::sync::broadcast::error::RecvError;

use crate::control::{Control, ControlRequest, Outcome};
use crate::events::{EventBus, StoredEvent};
use crate::outputs::{
    ArmAction, CommandOutcome, ControlCommand, Controller, CursorStore, EventLog, PanelSnapshot,
    PanelView, SourceError, Sources,
};
use crate::registry::Registry;
use crate::store::Store;

/// The store's events by seq; the bus only wakes readers up (the outputs and the
/// notification feed read the log through it).
pub(super) struct StoreLog {
    store: Arc<dyn Store>,
    bus: EventBus,
}

impl StoreLog {
    /// The log of `store`, woken by `bus`.
    pub(super) fn new(store: Arc<dyn Store>, bus: EventBus) -> StoreLog {
        StoreLog { store, bus }
    }
}

impl EventLog for StoreLog {
    fn read_after(
        &self,
        after: i64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Arc<StoredEvent>>, SourceError>> {
        async move {
            let events = self
                .store
                .events_after(after, limit)
                .await
                .map_err(|e| SourceError::Log(e.to_string()))?;
            Ok(events.into_iter().map(Arc::new).collect())
        }
        .boxed()
    }

    fn last_seq(&self) -> BoxFuture<'_, Result<i64, SourceError>> {
        async move {
            self.store
                .last_seq()
                .await
                .map_err(|e| SourceError::Log(e.to_string()))
        }
        .boxed()
    }

    fn wait_after(&self, after: i64) -> BoxFuture<'_, ()> {
        // Subscribe before looking, so an event committed in between still wakes us.
        let mut rx = self.bus.subscribe();
        async move {
            if self.store.last_seq().await.map_or(true, |s| s > after) {
                return;
            }
            loop {
                match rx.recv().await {
                    Ok(e) if e.seq > after => return,
                    Ok(_) => {}
                    // A lagged receiver has missed events: they are in the store.
                    Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return,
                }
            }
        }
        .boxed()
    }
}

/// Named cursors in the store.
struct StoreCursors(Arc<dyn Store>);

impl CursorStore for StoreCursors {
    fn load<'a>(&'a self, output: &'a str) -> BoxFuture<'a, Result<Option<i64>, SourceError>> {
        async move {
            self.0
                .cursor(output)
                .await
                .map_err(|e| SourceError::Cursor(e.to_string()))
        }
        .boxed()
    }

    fn save<'a>(&'a self, output: &'a str, seq: i64) -> BoxFuture<'a, Result<(), SourceError>> {
        async move {
            self.0
                .set_cursor(output, seq)
                .await
                .map_err(|e| SourceError::Cursor(e.to_string()))
        }
        .boxed()
    }
}

/// The control path, as an output sees it.
struct ControlPath(Control);

impl Controller for ControlPath {
    fn execute(&self, c: ControlCommand) -> BoxFuture<'_, CommandOutcome> {
        async move {
            let command = match c.action {
                ArmAction::ArmAway => Command::ArmAway,
                ArmAction::ArmStay => Command::ArmStay,
                // An empty password makes the control path use the account's configured one.
                ArmAction::Disarm => Command::Disarm {
                    password: c
                        .password
                        .as_ref()
                        .map(|p| p.expose().to_string())
                        .unwrap_or_default(),
                },
            };
            let outcome = self
                .0
                .execute(ControlRequest {
                    account: c.account,
                    command,
                    section: c.section,
                    requested_by: c.actor,
                })
                .await;
            outcome_for_output(outcome)
        }
        .boxed()
    }
}

/// The control path's outcome in the outputs' vocabulary.
fn outcome_for_output(o: Outcome) -> CommandOutcome {
    match o {
        Outcome::Done => CommandOutcome::Done,
        Outcome::TimedOut => CommandOutcome::TimedOut,
        Outcome::WrongPassword => CommandOutcome::WrongPassword,
        Outcome::NotDone => CommandOutcome::NotDone,
        Outcome::PanelOffline => CommandOutcome::PanelOffline,
        Outcome::NotSupported(m) => CommandOutcome::NotSupported(m),
        Outcome::BadRequest(m) => CommandOutcome::BadRequest(m),
    }
}

/// The registry, as Home Assistant's state topics need it.
struct RegistryView(Arc<Registry>);

impl PanelView for RegistryView {
    fn panel(&self, account: &str) -> Option<PanelSnapshot> {
        let p = self.0.get(account)?;
        Some(PanelSnapshot {
            account: p.account.clone(),
            online: p.online,
            machine_type: p.machine_type,
            status: p.status,
            active_alarms: p
                .active_alarms
                .iter()
                .map(|(zone, a)| (*zone, a.group))
                .collect(),
            zones_seen: p.zones_seen.clone(),
        })
    }

    fn accounts(&self) -> Vec<String> {
        self.0.accounts()
    }
}

/// The outputs' sources over the running daemon's parts.
pub(super) fn sources(
    store: &Arc<dyn Store>,
    bus: &EventBus,
    control: &Control,
    registry: &Arc<Registry>,
) -> Sources {
    Sources {
        log: Arc::new(StoreLog {
            store: Arc::clone(store),
            bus: bus.clone(),
        }),
        cursors: Arc::new(StoreCursors(Arc::clone(store))),
        controller: Arc::new(ControlPath(control.clone())),
        panels: Arc::new(RegistryView(Arc::clone(registry))),
    }
}
