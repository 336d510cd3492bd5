//! Panel listeners and the connection driver around the pure link
//! ([`panel_proto::link`]): `tcp` accepts connections (caps, backoff), `udp` turns
//! datagrams into per-peer sessions, `session` drives one link (buffer, clock, commands,
//! deadlines), `effects` carries out the link's outputs (store, write, registry, metrics,
//! logs), `policy` turns configuration into the link's account policies, `frame_event`
//! maps frames to stored events, `presence` supervises connect-on-demand panels, and
//! `guard` / `penalty` keep one bad source from hurting the others. Protocol decisions live in the link, not here.

mod effects;
pub mod frame_event;
pub mod guard;
pub mod peer_watch;
pub mod penalty;
mod pipeline;
pub mod policy;
pub mod presence;
pub mod session;
pub mod tcp;
pub mod udp;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use panel_proto::framing::{Decoder, DecoderConfig};
use panel_proto::link::{LinkConfig, Retry};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::control::Connections;
use crate::events::{Appended, NewEvent};
use crate::registry::Registry;
use crate::store::{Store, StoreError};

/// What every session shares.
pub struct Shared {
    /// Configuration.
    pub config: Arc<Config>,
    /// The event store (ACK after commit).
    pub store: Arc<dyn Store>,
    /// Live panel state.
    pub registry: Arc<Registry>,
    /// Accounts → sessions, for control.
    pub connections: Arc<Connections>,
    /// Frame decoder allowing the union of every account's quirks (each frame is then
    /// checked against its own account's flags).
    pub decoder: Decoder,
    /// Connection ids.
    pub next_conn_id: AtomicU64,
    /// Bumped when account settings change; each session then drops its links' cached
    /// policies before the next frame or command.
    pub policy_epoch: AtomicU64,
    /// Cross-connection abuse guards (new accounts per source, security events, log
    /// summaries).
    pub guards: guard::Guards,
    /// Panel TCP connections open at most: `panel.max_connections`, lowered to keep
    /// `panel.fd_reserve` descriptors free.
    pub max_connections: usize,
    /// Cancelled at shutdown.
    pub shutdown: CancellationToken,
    /// Metric handles of the per-event path, looked up once.
    pub(crate) hot: effects::HotMetrics,
}

impl Shared {
    /// Everything a session needs.
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        registry: Arc<Registry>,
        connections: Arc<Connections>,
        max_connections: usize,
        shutdown: CancellationToken,
    ) -> Arc<Shared> {
        let decoder = Decoder::new(DecoderConfig {
            max_frame_len: config.panel.max_frame_len,
            quirks: config.union_quirks(),
        });
        let guards = guard::Guards::new(std::time::Duration::from_secs(
            config.panel.security_event_interval_secs,
        ));
        Arc::new(Shared {
            config,
            store,
            registry,
            connections,
            decoder,
            next_conn_id: AtomicU64::new(1),
            policy_epoch: AtomicU64::new(0),
            guards,
            max_connections,
            shutdown,
            hot: effects::HotMetrics::new(),
        })
    }

    /// The store hand-off of the receiver: every event of one read pass (or one close) in
    /// one group-commit request, answered once, outcomes in order.
    pub async fn store_events(&self, events: Vec<NewEvent>) -> Result<Vec<Appended>, StoreError> {
        self.store.append(events).await
    }

    /// [`Shared::store_events`] handed over now, awaited through the ticket (a TCP
    /// connection keeps it in its pipeline while it goes on reading).
    pub(crate) fn submit_events(&self, events: Vec<NewEvent>) -> crate::store::AppendTicket {
        Arc::clone(&self.store).submit(events)
    }

    /// Put `source` in the penalty box for too much invalid input on `transport` (counted,
    /// logged once per minute per source).
    pub fn punish(&self, source: std::net::IpAddr, transport: &'static str) {
        // The live values: a reload may change them.
        let settings = self.config.settings();
        let p = &settings.panel;
        let now = std::time::Instant::now();
        let length = self.guards.penalty.punish(
            source,
            now,
            std::time::Duration::from_secs(p.penalty_secs),
            std::time::Duration::from_secs(p.penalty_max_secs),
        );
        if length.is_zero() {
            return;
        }
        metrics::counter!(crate::metrics::names::PENALTIES_TOTAL, "transport" => transport)
            .increment(1);
        let key = format!("penalty:{source}");
        if let Some(suppressed) = self.guards.refusals.note(&key, now) {
            tracing::warn!(%source, transport, secs = length.as_secs(), suppressed,
                limit = p.max_invalid_per_min,
                "too much invalid input: source refused for a while (penalty box; then one line per minute)");
        }
    }

    /// Whether `account` is configured as connecting per message.
    pub fn is_on_demand(&self, account: &str) -> bool {
        self.config
            .account(account)
            .is_some_and(|a| a.connection == crate::config::Connection::OnDemand)
    }

    /// Account settings changed: live links look their policies up again.
    pub fn accounts_changed(&self) {
        self.policy_epoch.fetch_add(1, Ordering::Relaxed);
    }

    /// Changes of account settings so far (this receiver's and the live table's): a session
    /// whose last look differs drops its links' cached policies.
    pub fn policy_epoch(&self) -> u64 {
        let live = self.config.live_accounts().map_or(0, |l| l.epoch());
        let settings = self.config.live_settings().map_or(0, |l| l.epoch());
        self.policy_epoch
            .load(Ordering::Relaxed)
            .wrapping_add(live)
            .wrapping_add(settings)
    }

    /// The settings of a new connection's link from `peer`; `seed` feeds its `*ACK` pads.
    pub fn link_config(&self, seed: u64, peer: std::net::IpAddr) -> LinkConfig {
        let settings = self.config.settings();
        let (p, c) = (&settings.panel, &settings.control);
        LinkConfig {
            decoder: *self.decoder.config(),
            first_frame_timeout_ms: p.first_frame_timeout_secs.saturating_mul(1000),
            rate_per_sec: p.rate_limit_per_sec,
            rate_burst: p.rate_limit_burst,
            type_query: Some(Retry {
                timeout_ms: c.timeout_secs.saturating_mul(1000),
                retries: c.retries,
            }),
            seed,
            peer: Some(peer),
            max_accounts: p.max_accounts_per_connection,
        }
    }
}
