//! File descriptors at start: raise the soft `RLIMIT_NOFILE` to the hard limit, warn when
//! the configured caps do not fit in it, and size the panel connection cap so that
//! `panel.fd_reserve` descriptors stay free for the API, the health endpoints, the store
//! and the outputs however many panels connect.

use rustix::process::{getrlimit, setrlimit, Resource};

use crate::config::Config;
use crate::metrics::names;

/// Descriptors the daemon holds whatever the load (store, listeners, logs, runtime).
const BASE_FDS: u64 = 64;

/// The descriptor limits after [`raise`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// The soft limit before raising it.
    pub before: Option<u64>,
    /// The soft limit now (`None`: unlimited).
    pub soft: Option<u64>,
}

/// Raise the soft limit to the hard limit (logged when it changes).
pub fn raise() -> FdLimit {
    let lim = getrlimit(Resource::Nofile);
    let before = lim.current;
    if lim.current != lim.maximum {
        let mut raised = lim;
        raised.current = lim.maximum;
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => tracing::info!(before = ?lim.current, now = ?lim.maximum,
                "raised the open file limit (RLIMIT_NOFILE) to its hard limit"),
            Err(e) => tracing::warn!(error = %e, soft = ?lim.current, hard = ?lim.maximum,
                "could not raise the open file limit (RLIMIT_NOFILE)"),
        }
    }
    let soft = getrlimit(Resource::Nofile).current;
    if let Some(s) = soft {
        metrics::gauge!(names::FD_LIMIT).set(s as f64);
    }
    FdLimit { before, soft }
}

/// The panel TCP connection cap that keeps `fd_reserve` descriptors free, warning when the
/// configured caps do not fit under `limit`.
pub fn panel_cap(config: &Config, limit: FdLimit) -> usize {
    let configured = config.panel.max_connections;
    let Some(soft) = limit.soft else {
        return configured;
    };
    let reserve = config.panel.fd_reserve as u64;
    let room = soft.saturating_sub(reserve).saturating_sub(BASE_FDS);
    let room = usize::try_from(room).unwrap_or(usize::MAX).max(1);
    if configured > room {
        tracing::warn!(
            max_connections = configured,
            fd_limit = soft,
            fd_reserve = reserve,
            panel_connections = room,
            "panel.max_connections does not fit in the open file limit; panel connections \
             stop at the limit minus panel.fd_reserve so the API and health endpoints keep \
             answering (raise the hard limit, e.g. LimitNOFILE= in systemd)"
        );
    }
    configured.min(room)
}
