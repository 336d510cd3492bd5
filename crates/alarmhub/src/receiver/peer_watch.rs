//! A panel's socket while its session waits for the store: a pass may wait seconds for its
//! commit when the database lags. A panel that gave up meanwhile (no ACK in time, so it
//! reconnects or fails over) used to leave its old socket in CLOSE_WAIT on this node for the
//! whole wait: under a lagging store and reconnecting panels those sockets added up to
//! thousands of descriptors per node, and with them the connection cap refused live panels
//! (issue #14, cluster-100k).
//!
//! So the TCP loop (`tcp.rs`) keeps reading the socket while stores are pending
//! (`pipeline.rs`): bytes that come in are taken or buffered to a bound, and an end of
//! stream or a read error is noticed at once. A peer that only shut down its sending side
//! may still read its ACK, so the socket is kept for [`HALF_CLOSE_GRACE`] more; then it is
//! released (the socket and its slot under the connection caps, an [`Open`]) while the
//! stores finish. The panel retransmits what was not ACKed, to this node or another; the
//! store deduplicates.

use std::time::Duration;

use tokio::net::TcpStream;

/// How long a socket whose peer sent its end of stream is kept for the ACK of a step that is
/// still waiting for the store.
pub const HALF_CLOSE_GRACE: Duration = Duration::from_secs(2);

/// An open panel socket and whatever else must be released with it (the slots it takes
/// under the connection caps).
pub struct Open<S> {
    /// The socket.
    pub stream: TcpStream,
    /// Released with the socket.
    pub slot: S,
}
