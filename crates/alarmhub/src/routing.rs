//! The owner's side of remote control across nodes: the inbox task that takes the commands
//! other nodes routed to this one (because this node holds the panel's connection), sends
//! each over the local connection through [`Control::send_local`] and writes the outcome
//! back. The issuing node keeps the audit trail; see `store/postgres/commands.rs` for the
//! whole flow. Runs only on a shared store.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::control::Control;
use crate::store::Store;

/// How often the inbox looks for commands.
const POLL: Duration = Duration::from_millis(200);

/// Take and carry out routed commands until `cancel`.
pub async fn inbox(control: Control, store: Arc<dyn Store>, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let taken = match store.take_commands().await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "taking routed commands failed; retrying");
                continue;
            }
        };
        for (id, cmd) in taken {
            let (control, store) = (control.clone(), Arc::clone(&store));
            tokio::spawn(async move {
                let account = cmd.account.clone();
                let name = cmd.command.name();
                let outcome = control.send_local(cmd).await;
                tracing::info!(account = %account, command = name, outcome = outcome.as_str(),
                    "routed command carried out for another node");
                if let Err(e) = store.finish_command(id, &outcome).await {
                    tracing::warn!(error = %e, account = %account, "could not write a routed command's outcome back");
                }
            });
        }
    }
}
