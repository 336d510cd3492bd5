//! Step 4 of `serve`: start every long-running task — panel listeners (whose sessions
//! join the same tracker), HTTP, gRPC, the outputs, notifications, the snapshot loop,
//! metrics upkeep and the systemd watchdog — under the daemon's one [`TaskTracker`], each
//! with a child of its one cancellation token.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{systemd, Access, Core, Listeners, Running};
use crate::api::ApiState;
use crate::auth::listen::{tls_streams, HttpListener, PeerAddr};
use crate::auth::Auth;
use crate::config::Config;
use crate::control::{Connections, Control};
use crate::registry::Registry;
use crate::store::{Snapshot, Store};

/// Step 4: start every task under one tracker and one cancellation tree.
pub(super) fn spawn(
    config: &Arc<Config>,
    mut core: Core,
    listeners: Listeners,
    prometheus: Option<PrometheusHandle>,
    access: Access,
    auth: Arc<Auth>,
    cancel: CancellationToken,
) -> Running {
    let tracker = TaskTracker::new();
    let connections = Arc::new(Connections::default());
    crate::auth::exposure::announce(config, cancel.child_token());
    let reload = crate::reload::Reload {
        tls: access.tls.clone(),
        config: crate::reload::ConfigReload::new(config, Arc::clone(&core.store)),
    };
    access.hangup.run(reload, cancel.child_token());
    let api = api_state(config, &core, Arc::clone(&connections), &auth, &tracker);
    crate::alarms::engine::spawn(&api.alarms, &core.bus, &tracker, &cancel);
    let sources = super::outputs::sources(&core.store, &core.bus, &api.control, &core.registry);
    let outputs = crate::outputs::spawn(config, sources, cancel.child_token(), &tracker);
    if let Some(n) = core.notifier.take() {
        super::notify::spawn(n, config, &core.store, &core.bus, &tracker, &cancel);
    }
    spawn_panel_listeners(
        config,
        &core,
        connections,
        listeners.panel_tcp,
        listeners.panel_udp,
        &tracker,
        &cancel,
    );
    let http = match &access.tls {
        Some(t) => HttpListener::Tls {
            local: listeners.bound.http,
            ready: tls_streams(listeners.http, Arc::clone(&t.http), cancel.child_token()),
        },
        None => HttpListener::Plain(listeners.http),
    };
    let console =
        crate::console::ConsoleState::new(&api, access.tls.is_some(), cancel.child_token())
            .with_outputs(outputs.clone());
    if let Some(handle) = &prometheus {
        tracker.spawn(metrics_upkeep(handle.clone(), cancel.child_token()));
    }
    spawn_http(
        &core,
        http,
        prometheus,
        auth,
        console,
        &tracker,
        cancel.child_token(),
    );
    let grpc_tls = access.tls.as_ref().map(|t| Arc::clone(&t.grpc));
    spawn_grpc(
        listeners.grpc,
        api.clone(),
        grpc_tls,
        &tracker,
        cancel.child_token(),
    );
    let every = Duration::from_secs(config.store.snapshot_secs.max(1));
    tracker.spawn(snapshot_loop(
        Arc::clone(&core.registry),
        Arc::clone(&core.store),
        every,
        cancel.child_token(),
    ));
    if let Some(live) = config.live_accounts() {
        spawn_account_follower(&core, Arc::clone(live), &tracker, &cancel);
    }
    if core.store.is_shared() {
        tracker.spawn(crate::routing::inbox(
            api.control.clone(),
            Arc::clone(&core.store),
            cancel.child_token(),
        ));
    }
    tracker.spawn(super::retention::run(
        Arc::clone(&core.store),
        Arc::clone(config),
        cancel.child_token(),
    ));
    tracker.spawn(systemd::watchdog_loop(
        Arc::clone(&core.store),
        cancel.child_token(),
    ));
    Running {
        core,
        cancel,
        tracker,
        api,
        outputs,
    }
}

/// On a shared store: follow the accounts other nodes change (nothing on SQLite).
fn spawn_account_follower(
    core: &Core,
    live: Arc<crate::accounts::LiveAccounts>,
    tracker: &TaskTracker,
    cancel: &CancellationToken,
) {
    let store = Arc::clone(&core.store);
    let stop = cancel.child_token();
    tracker.spawn(async move {
        if let Some(changes) = store.follow_accounts(stop.clone()).await {
            crate::accounts::follow(store, live, changes, stop).await;
        }
    });
}

/// How often the Prometheus recorder's histograms are drained.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// Drain the recorder's histogram samples into their buckets now and then: without it every
/// sample (one per ACK) is kept until the next `/metrics` scrape, so a daemon nobody
/// scrapes grows without bound.
async fn metrics_upkeep(handle: PrometheusHandle, cancel: CancellationToken) {
    let mut every = tokio::time::interval(METRICS_UPKEEP);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = every.tick() => handle.run_upkeep(),
        }
    }
}

/// What the gRPC services (and in-process tests) get: the daemon's parts, and its tracker
/// for their stream tasks.
fn api_state(
    config: &Arc<Config>,
    core: &Core,
    connections: Arc<Connections>,
    auth: &Arc<Auth>,
    tracker: &TaskTracker,
) -> ApiState {
    ApiState {
        config: Arc::clone(config),
        registry: Arc::clone(&core.registry),
        bus: core.bus.clone(),
        store: Arc::clone(&core.store),
        control: Control {
            connections,
            registry: Arc::clone(&core.registry),
            store: Arc::clone(&core.store),
            config: Arc::clone(config),
        },
        auth: Arc::clone(auth),
        alarms: crate::alarms::Alarms::new(
            Arc::clone(&core.store),
            Arc::new(config.alarms.clone()),
            crate::clock::Clock::system(),
        ),
        tasks: tracker.clone(),
        compat_marks: crate::api::compat_marks::SharedMarks::new(&core.store, &core.registry),
    }
}

/// The panel TCP listener and UDP socket; their sessions run on the same tracker.
fn spawn_panel_listeners(
    config: &Arc<Config>,
    core: &Core,
    connections: Arc<Connections>,
    tcp: TcpListener,
    udp: Option<UdpSocket>,
    tracker: &TaskTracker,
    cancel: &CancellationToken,
) {
    let shared = crate::receiver::Shared::new(
        Arc::clone(config),
        Arc::clone(&core.store),
        Arc::clone(&core.registry),
        connections,
        super::fds::panel_cap(config, super::fds::raise()),
        cancel.child_token(),
    );
    tracker.spawn(crate::receiver::presence::run(Arc::clone(&shared)));
    tracker.spawn(crate::receiver::tcp::run(
        tcp,
        Arc::clone(&shared),
        tracker.clone(),
    ));
    if let Some(udp) = udp {
        tracker.spawn(crate::receiver::udp::run(udp, shared, tracker.clone()));
    }
}

/// `/healthz`, `/readyz`, `/metrics` (and the test hooks) and the web console; ready once this runs, because
/// every listener is bound by then.
fn spawn_http(
    core: &Core,
    listener: HttpListener,
    metrics: Option<PrometheusHandle>,
    auth: Arc<Auth>,
    console: crate::console::ConsoleState,
    tracker: &TaskTracker,
    cancel: CancellationToken,
) {
    let state = crate::http::HttpState {
        metrics,
        store: Arc::clone(&core.store),
        registry: Arc::clone(&core.registry),
        // Every listener is bound before this runs.
        listeners_bound: Arc::new(AtomicBool::new(true)),
        test_hooks: std::env::var("ALARMHUB_TEST_HOOKS").is_ok_and(|v| v == "1"),
        bus: Some(core.bus.clone()),
        auth,
        console: Some(console),
    };
    tracker.spawn(async move {
        let app = crate::http::router(state).into_make_service_with_connect_info::<PeerAddr>();
        let r = axum::serve(listener, app)
            .with_graceful_shutdown(async move { cancel.cancelled().await })
            .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "HTTP server failed");
        }
    });
}

/// The gRPC services (compat, v1, health, reflection).
fn spawn_grpc(
    listener: TcpListener,
    api: ApiState,
    tls: Option<Arc<rustls::ServerConfig>>,
    tracker: &TaskTracker,
    cancel: CancellationToken,
) {
    tracker.spawn(async move {
        if let Err(e) = crate::api::serve(listener, api, tls, cancel).await {
            tracing::error!(error = %e, "gRPC server failed");
        }
    });
}

/// Save a registry snapshot every `every` (events after it replay at the next start).
async fn snapshot_loop(
    registry: Arc<Registry>,
    store: Arc<dyn Store>,
    every: Duration,
    cancel: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let (last_seq, panels) = registry.snapshot();
        if last_seq == 0 {
            continue;
        }
        if let Err(e) = store.save_snapshot(Snapshot { last_seq, panels }).await {
            tracing::warn!(error = %e, "registry snapshot failed");
        }
    }
}
