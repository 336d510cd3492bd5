//! Panel listeners and sessions: `tcp` accepts connections (caps, backoff), `udp` turns
//! datagrams into per-peer sessions, `session` holds the protocol rules both share, and
//! `frame_event` maps frames to stored events.

pub mod frame_event;
pub mod session;
pub mod tcp;
pub mod udp;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use panel_proto::framing::{Decoder, DecoderConfig};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::control::Connections;
use crate::registry::Registry;
use crate::store::Store;

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
    /// Cancelled at shutdown.
    pub shutdown: CancellationToken,
}

impl Shared {
    /// Everything a session needs.
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        registry: Arc<Registry>,
        connections: Arc<Connections>,
        shutdown: CancellationToken,
    ) -> Arc<Shared> {
        let decoder = Decoder::new(DecoderConfig {
            max_frame_len: config.panel.max_frame_len,
            quirks: config.union_quirks(),
        });
        Arc::new(Shared {
            config,
            store,
            registry,
            connections,
            decoder,
            next_conn_id: AtomicU64::new(1),
            shutdown,
        })
    }
}
