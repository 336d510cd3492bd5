//! Presence of connect-on-demand panels (`connection = "on_demand"`): such a communicator
//! opens a connection per message, so its connections say nothing about whether it is
//! alive. The link records no OFFLINE when their connection ends; instead this task checks,
//! about once a second, that every such panel that is online reported something (an event
//! or a heartbeat) within its supervision interval + grace, and stores OFFLINE for one that
//! did not. Its next message brings it back ONLINE (the link's first frame on a connection,
//! stored only while the registry says offline).

use std::sync::Arc;
use std::time::Duration;

use panel_proto::rules::Dialect;

use super::frame_event::receiver_event;
use super::Shared;
use crate::config::Connection;
use crate::events::codes;

/// How often the deadlines are checked.
const EVERY: Duration = Duration::from_secs(1);

/// Why the OFFLINE event was written.
const REASON: &str = "no report within the supervision interval (connect-on-demand panel)";

/// Check about once a second until shutdown.
pub async fn run(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shared.shutdown.cancelled() => return,
            _ = tick.tick() => check(&shared, crate::clock::now_ms()).await,
        }
    }
}

/// Store OFFLINE for each online on-demand panel silent past its deadline at `now_ms`.
pub async fn check(shared: &Shared, now_ms: i64) {
    let events: Vec<_> = overdue(shared, now_ms)
        .into_iter()
        .map(|(account, dialect, peer)| {
            tracing::info!(account = %account, reason = REASON, "panel offline");
            receiver_event(&account, codes::OFFLINE, &peer, REASON, dialect)
        })
        .collect();
    if events.is_empty() {
        return;
    }
    if let Err(e) = shared.store_events(events).await {
        tracing::error!(error = %e, "could not store OFFLINE of a connect-on-demand panel");
    }
}

/// (account, dialect, last peer) of every online on-demand panel silent past its deadline.
fn overdue(shared: &Shared, now_ms: i64) -> Vec<(String, Dialect, String)> {
    let settings = shared.config.settings();
    let panel = &settings.panel;
    let grace = panel.supervision_grace_secs;
    shared
        .config
        .all_accounts()
        .iter()
        .filter(|a| a.connection == Connection::OnDemand)
        .filter_map(|a| {
            let secs = a
                .supervision_secs
                .unwrap_or(panel.supervision_secs)
                .saturating_add(grace);
            let limit = i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
            let p = shared.registry.get(&a.account)?;
            let silent = now_ms.saturating_sub(p.last_seen_ms) > limit;
            // A connection still open is that panel's current message: not overdue.
            let connected = shared.connections.get(&p.account).is_some();
            (p.online && silent && !connected)
                .then(|| (p.account, p.dialect.unwrap_or(Dialect::Dc09), p.remote_addr))
        })
        .collect()
}
