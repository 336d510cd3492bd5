//! `alarmhub serve`: the daemon in named steps — `prepare_access`, `open_store`,
//! [`restore`], `notify::prepare`, `bind`, `spawn`, `shut_down` — wiring the store, registry, receiver, control, HTTP side
//! endpoint, gRPC API and systemd notifications together.
//!
//! Every task runs under one [`TaskTracker`] and one [`CancellationToken`] tree (a child
//! token per component). Shutdown keeps the order the contracts need: stop accepting, let
//! sessions finish the frames they hold (and API streams and consumer groups write their
//! cursors), take the registry snapshot, and close the store last.

pub mod fds;
mod notify;
mod notify_alarms;
mod outputs;
mod restore;
pub mod retention;
pub mod size_cap;
mod systemd;
mod tasks;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::PrometheusHandle;
use thiserror::Error;
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::ApiState;
use crate::config::Config;
use crate::events::EventBus;
use crate::metrics::names;
use crate::registry::Registry;
use crate::store::{Snapshot, Store, StoreError};

pub use restore::{restore, Restored};
use tasks::spawn;

/// Longest shutdown waits for tasks (sessions, streams, groups) before closing the store.
const TASKS_GRACE: Duration = Duration::from_secs(10);
/// Longest shutdown waits for the store to finish its queue and upkeep.
const STORE_CLOSE_GRACE: Duration = Duration::from_secs(10);
/// Live events kept by the bus for slow receivers.
const BUS_CAPACITY: usize = 65_536;

/// Why the daemon could not start (it stops cleanly once started).
#[derive(Debug, Error)]
pub enum DaemonError {
    /// The store could not be opened.
    #[error("opening the store {store}: {source}")]
    OpenStore {
        /// The data directory or PostgreSQL database (no password).
        store: String,
        /// What the store reported (it names the file).
        #[source]
        source: StoreError,
    },
    /// The registry could not be read back from the store.
    #[error("restoring the registry from the store: {0}")]
    Restore(#[source] StoreError),
    /// The panel accounts could not be loaded from the store.
    #[error("loading the panel accounts: {0}")]
    Accounts(#[source] crate::accounts::AccountError),
    /// The alarm engine's cursor could not be read or set up.
    #[error("starting alarm handling: {0}")]
    Alarms(#[source] StoreError),
    /// An API listener would be exposed without TLS (the message names it and the fix).
    #[error("{0}")]
    Exposure(String),
    /// The TLS certificate, key or client CA could not be loaded.
    #[error("loading TLS: {0}")]
    Tls(#[from] crate::auth::tls::TlsError),
    /// The SIGHUP handler could not be installed.
    #[error("installing the SIGHUP handler: {0}")]
    Signal(#[source] std::io::Error),
    /// Tokens, users or the audit trail could not be opened.
    #[error("opening tokens, users and the audit trail: {0}")]
    Auth(#[source] crate::auth::AuthStoreError),
    /// The notification outbox could not be opened, or a channel could not be set up.
    #[error("starting notifications: {0}")]
    Notify(String),
    /// A listener could not be bound.
    #[error("binding the {what} on {addr}: {source}")]
    Bind {
        /// Which listener ("panel TCP listener" …).
        what: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Addresses actually bound (port 0 resolved), for tests and logs.
#[derive(Debug, Clone)]
pub struct Bound {
    /// Panel TCP (and UDP) address.
    pub panel: SocketAddr,
    /// HTTP address.
    pub http: SocketAddr,
    /// gRPC address.
    pub grpc: SocketAddr,
}

/// The store and what it feeds on every commit.
struct Core {
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    bus: EventBus,
    /// Notifications (outbox, dispatcher, rules), when any channel is configured; taken by
    /// `spawn`.
    notifier: Option<notify::Notifier>,
}

/// Every listener, bound.
struct Listeners {
    panel_tcp: TcpListener,
    panel_udp: Option<UdpSocket>,
    http: TcpListener,
    grpc: TcpListener,
    bound: Bound,
}

/// Access control prepared before anything binds: the exposure check passed, the TLS
/// certificate loaded, and SIGHUP no longer terminates the process.
struct Access {
    tls: Option<Arc<crate::auth::tls::Tls>>,
    hangup: crate::reload::Hangup,
}

/// A running daemon: what shutdown needs.
struct Running {
    core: Core,
    cancel: CancellationToken,
    tracker: TaskTracker,
    api: ApiState,
    /// The Sur-Gard and MQTT outputs' live status (the last of it is logged at shutdown).
    outputs: crate::outputs::Running,
}

/// Run until `shutdown` resolves. `on_bound` is called once every listener is bound, with
/// the state the API layers (and in-process tests) use.
pub async fn serve(
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
    on_bound: impl FnOnce(&Bound, &ApiState),
) -> Result<(), DaemonError> {
    let mut config = config;
    let access = prepare_access(&config)?;
    let prometheus = install_metrics(&config);
    let mut core = open_store(&config).await?;
    let accounts = crate::accounts::load(core.store.as_ref(), &config)
        .await
        .map_err(DaemonError::Accounts)?;
    tracing::info!(accounts = accounts.len(), "panel accounts loaded");
    config.set_live_accounts(Arc::new(crate::accounts::LiveAccounts::new(accounts)));
    let settings = crate::config::Settings::of(&config);
    config.set_live_settings(Arc::new(crate::config::LiveSettings::new(settings)));
    let config = Arc::new(config);
    let t0 = Instant::now();
    let restored = restore(&core.store, &core.registry)
        .await
        .map_err(DaemonError::Restore)?;
    let restore_secs = t0.elapsed().as_secs_f64();
    metrics::gauge!(names::STARTUP_RESTORE_SECONDS).set(restore_secs);
    tracing::info!(panels = restored.panels, replayed_events = restored.replayed,
        seconds = restore_secs, store = %crate::store::describe(&config), "registry restored");
    core.store
        .follow_from(restored.last_seq)
        .await
        .map_err(DaemonError::Restore)?;
    // Before any panel can connect: on the very first start the alarm engine's cursor is
    // set to the end of the log, so events of this run are never mistaken for history.
    let cursor = crate::alarms::engine::start_cursor(core.store.as_ref())
        .await
        .map_err(DaemonError::Alarms)?;
    tracing::debug!(cursor, "alarm engine cursor");
    core.notifier = notify::prepare(&config, &core.store).await?;
    let listeners = bind(&config).await?;
    let bound = listeners.bound.clone();
    let cancel = CancellationToken::new();
    let auth =
        crate::auth::Auth::start(&config, cancel.child_token()).map_err(DaemonError::Auth)?;
    let running = spawn(&config, core, listeners, prometheus, access, auth, cancel);
    tracing::info!(panel = %bound.panel, http = %bound.http, grpc = %bound.grpc,
        udp = config.panel.udp, version = env!("CARGO_PKG_VERSION"), "alarmhub ready");
    on_bound(&bound, &running.api);
    systemd::notify_ready();
    shutdown.await;
    shut_down(running).await;
    Ok(())
}

/// Step 0: before anything binds, refuse an exposed API without TLS, load the certificate,
/// and take SIGHUP over (reload instead of exit).
fn prepare_access(config: &Config) -> Result<Access, DaemonError> {
    crate::auth::exposure::check(config).map_err(DaemonError::Exposure)?;
    let tls = match config.tls.enabled() {
        true => Some(Arc::new(crate::auth::tls::Tls::load(&config.tls)?)),
        false => None,
    };
    let hangup = crate::reload::Hangup::install().map_err(DaemonError::Signal)?;
    Ok(Access { tls, hangup })
}

/// Install the Prometheus recorder (once per process; a second daemon in the same test
/// process serves no metrics) with each histogram's buckets in its own unit, describe every
/// series, and register each with its known label values (the configured notification
/// channels and automation outputs) so that it is present at 0 from the start.
fn install_metrics(config: &Config) -> Option<PrometheusHandle> {
    let mut builder = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(crate::metrics::DEFAULT_BUCKETS)
        .ok();
    for (name, buckets) in crate::metrics::histogram_buckets() {
        let matcher = metrics_exporter_prometheus::Matcher::Full(name.to_string());
        builder = builder.and_then(|b| b.set_buckets_for_metric(matcher, buckets).ok());
    }
    let handle = builder.and_then(|b| b.install_recorder().ok());
    crate::metrics::describe();
    let channels: Vec<String> = config
        .notify
        .channels
        .iter()
        .map(|c| c.name.clone())
        .collect();
    let outputs: Vec<String> = config.automation.iter().map(|a| a.name.clone()).collect();
    crate::metrics::register_all(&channels, &outputs);
    handle
}

/// Step 1: open the store; every commit feeds the registry, then (once its callers are
/// answered, through its relay task) the bus.
async fn open_store(config: &Config) -> Result<Core, DaemonError> {
    let registry = Arc::new(Registry::new());
    let bus = EventBus::new(BUS_CAPACITY);
    let hooks = {
        // The registry before the callers are answered (an ACKed event is in the live
        // state); the bus after, and through the relay, so the sessions' ACKs are queued
        // to run before the fan-out to every stream and the writer does not do the fan-out.
        let (registry, relay) = (Arc::clone(&registry), bus.relay());
        crate::store::CommitHooks {
            committed: Box::new(move |events: &[Arc<crate::events::StoredEvent>]| {
                registry.apply_all(events);
            }),
            answered: Some(Box::new(
                move |events: &[Arc<crate::events::StoredEvent>]| {
                    relay.publish_all(events);
                },
            )),
        }
    };
    let store =
        crate::store::open(config, hooks)
            .await
            .map_err(|source| DaemonError::OpenStore {
                store: crate::store::describe(config),
                source,
            })?;
    Ok(Core {
        store,
        registry,
        bus,
        notifier: None,
    })
}

/// Step 3: bind every listener (port 0 is resolved here, before anything is served).
async fn bind(config: &Config) -> Result<Listeners, DaemonError> {
    let bind_err = |what, addr| move |source| DaemonError::Bind { what, addr, source };
    let panel_addr = config.panel.listen;
    let panel_tcp = TcpListener::bind(panel_addr)
        .await
        .map_err(bind_err("panel TCP listener", panel_addr))?;
    let panel = panel_tcp
        .local_addr()
        .map_err(bind_err("panel TCP listener", panel_addr))?;
    let panel_udp = match config.panel.udp {
        true => Some(
            UdpSocket::bind(panel)
                .await
                .map_err(bind_err("panel UDP socket", panel))?,
        ),
        false => None,
    };
    let http_addr = config.http.listen;
    let http = TcpListener::bind(http_addr)
        .await
        .map_err(bind_err("HTTP listener", http_addr))?;
    let grpc_addr = config.grpc.listen;
    let grpc = TcpListener::bind(grpc_addr)
        .await
        .map_err(bind_err("gRPC listener", grpc_addr))?;
    let bound = Bound {
        panel,
        http: http
            .local_addr()
            .map_err(bind_err("HTTP listener", http_addr))?,
        grpc: grpc
            .local_addr()
            .map_err(bind_err("gRPC listener", grpc_addr))?,
    };
    Ok(Listeners {
        panel_tcp,
        panel_udp,
        http,
        grpc,
        bound,
    })
}

/// Step 5: stop accepting; wait (bounded) for sessions to finish their frames and for API
/// streams and groups to end; snapshot the registry; close the store last.
async fn shut_down(running: Running) {
    let Running {
        core,
        cancel,
        tracker,
        api,
        outputs,
    } = running;
    tracing::info!("shutting down: no new connections; finishing frames in flight");
    systemd::notify_stopping();
    cancel.cancel();
    tracker.close();
    if tokio::time::timeout(TASKS_GRACE, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            tasks = tracker.len(),
            "some sessions or streams did not finish within 10 s"
        );
    }
    drop(api);
    for link in &outputs.surgard {
        let s = link.borrow();
        tracing::info!(output = %s.name, state = s.state.as_str(), acked_seq = s.acked_seq,
            backlog = s.backlog, "automation output stopped");
    }
    let (last_seq, panels) = core.registry.snapshot();
    if let Err(e) = core
        .store
        .save_snapshot(Snapshot { last_seq, panels })
        .await
    {
        tracing::warn!(error = %e, "final snapshot failed (events replay at next start)");
    }
    match tokio::time::timeout(STORE_CLOSE_GRACE, core.store.close()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "closing the store failed"),
        Err(_) => tracing::warn!(
            "the store did not close within 10 s; exiting anyway (every ACKed event is durable)"
        ),
    }
    tracing::info!("stopped");
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received"),
        _ = term => tracing::info!("SIGTERM received"),
    }
}
