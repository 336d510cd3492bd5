//! The nodes area: leases and panel ownership.
//!
//! Every [`super::PgStore`] is a node with a random id (`<host>-<pid>-<random>`). It writes
//! a row in `ah_nodes` at open and renews its lease every [`HEARTBEAT`] (lease
//! [`LEASE`]); a clean close removes it. Ownership of panels is kept *by the appends
//! themselves*, inside the transaction that holds the sequence lock (`append.rs`):
//!
//! * a receiver ONLINE stored by node N makes N the panel's owner;
//! * a receiver OFFLINE from node N is stored only when no other node owns the panel — so a
//!   panel that already reconnected elsewhere gets no false OFFLINE when N's old connection
//!   times out — and then releases N's ownership.
//!
//! The lease task also looks for nodes whose lease expired: for each, the writer's *reap*
//! transaction deletes the dead node's ownership rows and stores an OFFLINE for every panel
//! still owned by it (not those that moved: their rows already name another node), then the
//! node's row. Because it runs under the sequence lock it cannot interleave with an ONLINE
//! from the panel's new node. If two survivors reap the same node, the second finds nothing.
//! Each heartbeat also sweeps routed commands nobody waits for any more (issuer dead, or
//! far past the deadline: `commands.rs`), so no disarm password outlives its issuer.
//! A node that finds its own row gone (it was reaped while cut off from the database)
//! registers again; its panels come back ONLINE as they next report.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::connect::Target;
use super::writer::WriterHandle;
use crate::store::StoreError;

/// How often a node renews its lease and looks for dead nodes.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long a lease lasts without renewal: a node silent this long is dead.
pub(crate) const LEASE: Duration = Duration::from_secs(5);

/// Take every panel of a dead node.
pub(crate) const TAKE_PANELS: &str =
    "DELETE FROM ah_panel_owners WHERE node_id = $1 RETURNING account, dialect";
/// Forget a node.
pub(crate) const FORGET_NODE: &str = "DELETE FROM ah_nodes WHERE node_id = $1";

/// A fresh node id: host name, process id and a random part (unique across restarts).
pub(crate) fn new_node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "node".to_owned());
    format!(
        "{host}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

fn lease_ms() -> i64 {
    i64::try_from(LEASE.as_millis()).unwrap_or(5_000)
}

/// Write this node's row with a fresh lease.
pub(crate) async fn register(
    client: &tokio_postgres::Client,
    target: &Target,
    node: &str,
) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO ah_nodes (node_id, lease_until) \
             VALUES ($1, now() + $2 * interval '1 millisecond') \
             ON CONFLICT (node_id) DO UPDATE SET lease_until = excluded.lease_until",
            &[&node, &(lease_ms() as f64)],
        )
        .await
        .map_err(target.err("register node"))?;
    Ok(())
}

/// Renew the lease every [`HEARTBEAT`] and reap nodes whose lease expired, until `stop`.
pub(crate) async fn lease_loop(
    target: Target,
    node: String,
    writer: WriterHandle,
    stop: CancellationToken,
) {
    let mut client: Option<tokio_postgres::Client> = None;
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if client.as_ref().is_none_or(|c| c.is_closed()) {
            client = match target.connect("renew node lease").await {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, node = %node, "cannot renew the node lease; retrying");
                    continue;
                }
            };
        }
        let Some(c) = client.as_ref() else { continue };
        if let Err(e) = beat(c, &target, &node, &writer).await {
            tracing::warn!(error = %e, node = %node, "node heartbeat failed; retrying");
            client = None;
        }
    }
}

/// One heartbeat: renew (re-register when reaped), then reap the dead.
async fn beat(
    c: &tokio_postgres::Client,
    target: &Target,
    node: &str,
    writer: &WriterHandle,
) -> Result<(), StoreError> {
    let renewed = c
        .execute(
            "UPDATE ah_nodes SET lease_until = now() + $2 * interval '1 millisecond' \
             WHERE node_id = $1",
            &[&node, &(lease_ms() as f64)],
        )
        .await
        .map_err(target.err("renew node lease"))?;
    if renewed == 0 {
        tracing::error!(node = %node, "this node's lease had expired and it was reaped; registering again");
        register(c, target, node).await?;
    }
    let dead = c
        .query(
            "SELECT node_id FROM ah_nodes WHERE lease_until < now() AND node_id <> $1",
            &[&node],
        )
        .await
        .map_err(target.err("look for dead nodes"))?;
    for row in dead {
        let dead: String = row.get(0);
        let offline = writer.reap(dead.clone()).await?;
        tracing::warn!(dead_node = %dead, panels_offline = offline,
            "a node's lease expired: its panels that did not reconnect elsewhere are offline");
    }
    let swept = super::commands::sweep(c, target).await?;
    if swept > 0 {
        tracing::warn!(
            commands = swept,
            "routed commands whose issuing node died (or far past their deadline) removed"
        );
    }
    Ok(())
}
