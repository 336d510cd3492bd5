//! `alarmhub serve`: wire the store, registry, receiver, control, HTTP side endpoint and
//! systemd notifications together, and shut down in order (stop accepting, let sessions
//! finish the frame they hold, snapshot, flush the store last).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::control::{Connections, Control};
use crate::events::EventBus;
use crate::registry::Registry;
use crate::store::{open_default_writer, SqliteStore, Store, WriterConfig, WriterHandle};

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

/// Everything the API layers need from a running receiver.
#[derive(Clone)]
pub struct Handles {
    /// Configuration.
    pub config: Arc<Config>,
    /// Panel state.
    pub registry: Arc<Registry>,
    /// Committed events, live.
    pub bus: EventBus,
    /// Store writer.
    pub writer: WriterHandle,
    /// Remote control.
    pub control: Control,
}

/// Load the registry from the store: snapshot, then every event after it. Returns the
/// number of panels and events replayed.
pub fn restore(dir: &std::path::Path, registry: &Registry) -> anyhow::Result<(usize, usize)> {
    let reader = SqliteStore::open_reader(dir).context("opening the store for reading")?;
    let mut from = 0;
    if let Some((seq, rows)) = reader.load_snapshot()? {
        let errors = registry.restore(&rows);
        if errors.is_empty() {
            from = seq;
        } else {
            // A row that does not parse would lose that panel's state: rebuild from every
            // event instead of trusting the snapshot.
            for e in errors.iter().take(5) {
                tracing::warn!("{e}");
            }
            tracing::warn!(
                bad_rows = errors.len(),
                "snapshot not usable; replaying every event"
            );
            registry.restore(&[]);
        }
    }
    let mut replayed = 0;
    loop {
        let batch = reader.events_after(from, 50_000)?;
        if batch.is_empty() {
            break;
        }
        from = batch.last().map_or(from, |e| e.seq);
        replayed += batch.len();
        let arcs: Vec<_> = batch.into_iter().map(Arc::new).collect();
        registry.apply_all(&arcs);
    }
    registry.mark_all_offline();
    Ok((registry.counts().0, replayed))
}

/// Run until `shutdown` resolves. `on_bound` is called once every listener is bound, with
/// the handles the API layers (and in-process tests) use.
pub async fn serve(
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
    on_bound: impl FnOnce(&Bound, &Handles),
) -> anyhow::Result<()> {
    let config = Arc::new(config);
    // Before anything binds: an exposed API without TLS does not start at all.
    crate::auth::exposure::check(&config).map_err(|e| anyhow::anyhow!(e))?;
    let tls = if config.tls.enabled() {
        Some(Arc::new(crate::auth::tls::Tls::load(&config.tls)?))
    } else {
        None
    };
    // From here on SIGHUP reloads instead of killing the daemon.
    let sighup = crate::reload::Hangup::install()?;
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&[
            0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
        ])
        .ok()
        .and_then(|b| b.install_recorder().ok());
    let dir = config.store.data_dir.clone();

    let registry = Arc::new(Registry::new());
    let bus = EventBus::new(65_536);
    let (writer, writer_thread) = {
        let registry = Arc::clone(&registry);
        let bus = bus.clone();
        open_default_writer(
            &dir,
            WriterConfig {
                queue: config.store.queue,
                max_batch: config.store.max_batch,
                dedup_window_ms: config.panel.dedup_window_secs as i64 * 1000,
            },
            Box::new(move |events| {
                registry.apply_all(events);
                for e in events {
                    bus.publish(Arc::clone(e));
                }
            }),
        )
        .with_context(|| format!("opening the store in {}", dir.display()))?
    };
    let t0 = Instant::now();
    let (panels, replayed) = restore(&dir, &registry)?;
    let restore_secs = t0.elapsed().as_secs_f64();
    metrics::gauge!("alarmhub_startup_restore_seconds").set(restore_secs);
    tracing::info!(panels, replayed_events = replayed, seconds = restore_secs, data_dir = %dir.display(), "registry restored");

    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    let auth = crate::auth::Auth::start(&config, cancel.clone())
        .context("opening tokens, users and the audit trail")?;
    crate::auth::exposure::announce(&config, cancel.clone());
    sighup.run(crate::reload::Reload { tls: tls.clone() }, cancel.clone());
    let connections = Arc::new(Connections::default());
    let shared = crate::receiver::Shared::new(
        Arc::clone(&config),
        writer.clone(),
        Arc::clone(&registry),
        Arc::clone(&connections),
        cancel.clone(),
    );
    let handles = Handles {
        config: Arc::clone(&config),
        registry: Arc::clone(&registry),
        bus: bus.clone(),
        writer: writer.clone(),
        control: Control {
            connections,
            registry: Arc::clone(&registry),
            writer: writer.clone(),
            config: Arc::clone(&config),
        },
    };

    let panel_addr = config.panel.listen;
    let tcp = TcpListener::bind(panel_addr)
        .await
        .with_context(|| format!("binding the panel TCP listener on {panel_addr}"))?;
    let panel_bound = tcp.local_addr()?;
    let udp = if config.panel.udp {
        Some(
            UdpSocket::bind(panel_bound)
                .await
                .with_context(|| format!("binding the panel UDP socket on {panel_bound}"))?,
        )
    } else {
        None
    };
    let http_addr = config.http.listen;
    let http = TcpListener::bind(http_addr)
        .await
        .with_context(|| format!("binding the HTTP listener on {http_addr}"))?;
    let http_bound = http.local_addr()?;

    let grpc = crate::api::bind(config.grpc.listen).await?;
    let grpc_bound = grpc.local_addr()?;

    let listeners_bound = Arc::new(AtomicBool::new(false));
    let http_state = crate::http::HttpState {
        metrics,
        writer: writer.clone(),
        registry: Arc::clone(&registry),
        listeners_bound: Arc::clone(&listeners_bound),
        test_hooks: std::env::var("ALARMHUB_TEST_HOOKS").is_ok_and(|v| v == "1"),
        bus: Some(bus.clone()),
        auth: Arc::clone(&auth),
    };
    let http = match &tls {
        Some(t) => crate::auth::listen::HttpListener::Tls {
            ready: crate::auth::listen::tls_streams(http, Arc::clone(&t.http), cancel.clone()),
            local: http_bound,
        },
        None => crate::auth::listen::HttpListener::Plain(http),
    };
    let http_cancel = cancel.clone();
    let http_task = tokio::spawn(async move {
        let app = crate::http::router(http_state)
            .into_make_service_with_connect_info::<crate::auth::listen::PeerAddr>();
        let r = axum::serve(http, app)
            .with_graceful_shutdown(async move { http_cancel.cancelled().await })
            .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "HTTP server failed");
        }
    });

    let grpc_task = {
        let (h, c) = (handles.clone(), cancel.clone());
        let (a, t) = (Arc::clone(&auth), tls.as_ref().map(|t| Arc::clone(&t.grpc)));
        tokio::spawn(async move {
            if let Err(e) = crate::api::serve(grpc, h, a, t, c).await {
                tracing::error!(error = %e, "gRPC server failed");
            }
        })
    };
    tokio::spawn(crate::receiver::tcp::run(
        tcp,
        Arc::clone(&shared),
        tracker.clone(),
    ));
    if let Some(udp) = udp {
        tokio::spawn(crate::receiver::udp::run(
            udp,
            Arc::clone(&shared),
            tracker.clone(),
        ));
    }
    tokio::spawn(snapshot_loop(
        Arc::clone(&registry),
        writer.clone(),
        Duration::from_secs(config.store.snapshot_secs.max(1)),
        cancel.clone(),
    ));

    listeners_bound.store(true, Ordering::Release);
    let bound = Bound {
        panel: panel_bound,
        http: http_bound,
        grpc: grpc_bound,
    };
    tracing::info!(panel = %bound.panel, http = %bound.http, grpc = %bound.grpc, udp = config.panel.udp, version = env!("CARGO_PKG_VERSION"), "alarmhub ready");
    on_bound(&bound, &handles);
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    let watchdog = tokio::spawn(watchdog_loop(writer.clone(), cancel.clone()));

    shutdown.await;
    tracing::info!("shutting down: no new connections; finishing frames in flight");
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    cancel.cancel();
    tracker.close();
    if tokio::time::timeout(Duration::from_secs(10), tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("some sessions did not finish within 10 s");
    }
    let _ = http_task.await;
    if tokio::time::timeout(Duration::from_secs(5), grpc_task)
        .await
        .is_err()
    {
        tracing::warn!("gRPC streams did not end within 5 s");
    }
    let _ = watchdog.await;
    let (seq, rows) = registry.snapshot();
    if let Err(e) = writer.snapshot(seq, rows).await {
        tracing::warn!(error = %e, "final snapshot failed (events replay at next start)");
    }
    drop(shared);
    drop(handles);
    drop(writer);
    // The writer thread drains its queue and exits once every handle is gone. A handle
    // still held elsewhere (an API stream winding down) must not hang the shutdown: every
    // commit is already on disk, so waiting is bounded.
    let join = tokio::task::spawn_blocking(move || writer_thread.join());
    if tokio::time::timeout(Duration::from_secs(5), join)
        .await
        .is_err()
    {
        tracing::warn!(
            "store writer still referenced after 5 s; exiting anyway (all commits are durable)"
        );
    }
    tracing::info!("stopped");
    Ok(())
}

async fn snapshot_loop(
    registry: Arc<Registry>,
    writer: WriterHandle,
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
        let (seq, rows) = registry.snapshot();
        if seq == 0 {
            continue;
        }
        if let Err(e) = writer.snapshot(seq, rows).await {
            tracing::warn!(error = %e, "registry snapshot failed");
        }
    }
}

/// systemd watchdog: ping at half the configured interval, but only while the store
/// writer is alive; a stuck writer stops the pings and systemd restarts the service.
async fn watchdog_loop(writer: WriterHandle, cancel: CancellationToken) {
    let Some(usec) = watchdog_usec() else { return };
    let interval = Duration::from_micros(usec / 2);
    let max_silence = Duration::from_micros(usec / 2).max(Duration::from_secs(2));
    let mut stopped = false;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        if writer.is_healthy(max_silence) {
            if stopped {
                tracing::info!("store writer healthy again; watchdog pings resume");
                stopped = false;
            }
            let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
        } else if !stopped {
            tracing::error!(
                "store writer stuck; withholding watchdog pings so systemd restarts alarmhub"
            );
            stopped = true;
        }
    }
}

/// The watchdog interval systemd asks for, as libsystemd's `sd_watchdog_enabled` reads it:
/// `WATCHDOG_USEC` set, and `WATCHDOG_PID` either absent or this process.
fn watchdog_usec() -> Option<u64> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    (usec > 0).then_some(usec)
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
