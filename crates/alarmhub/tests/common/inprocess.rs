//! The receiver run in-process: [`Hub`] spawns `alarmhub::daemon::serve` on the test's
//! runtime (real sockets on 127.0.0.1 port 0, real SQLite), hands the test the daemon's own
//! [`ApiState`] handles, and connects gRPC clients to the daemon's own gRPC listener
//! ([`Bound::grpc`]) — the services under test are exactly the ones the daemon serves.
//!
//! Paused time: [`Hub::start_paused`] is for `#[tokio::test(start_paused = true)]`. Its waits
//! carry no tokio timeout (an idle runtime jumps paused time to the next timer, which would
//! fire a timeout while the store's writer thread works), and its hosts wait for frames with a
//! virtual bound that only has to exceed the receiver's own timers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use alarmhub::api::ApiState;
use alarmhub::config::Config;
use alarmhub::daemon::{serve, Bound, DaemonError};
use alarmhub::events::{NewEvent, Source};
use alarmhub::proto::alarm_server::alarm_server_client::AlarmServerClient;
use alarmhub::proto::v1::alarm_hub_client::AlarmHubClient;
use tokio::sync::oneshot;
use tonic::transport::Channel;

use super::{within, Host, Setup};

/// Longest wait for the daemon to stop (its own grace periods are 10 s each).
const STOP_LIMIT: Duration = Duration::from_secs(20);
/// A host's wait for one frame under paused (virtual) time.
const PAUSED_LIMIT: Duration = Duration::from_secs(600);

/// A daemon served in the test's runtime.
pub struct Hub {
    pub bound: Bound,
    /// The daemon's own parts: registry, store, control, bus, config.
    pub handles: ApiState,
    paused: bool,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), DaemonError>>,
    dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Hub {
    /// Start in a temporary directory with keys for `[panel]` and whole sections `extra`.
    pub async fn start(panel_extra: &str, extra: &str) -> Hub {
        Hub::with(Setup::new().panel(panel_extra).extra(extra)).await
    }

    /// [`Hub::start`] under `#[tokio::test(start_paused = true)]`.
    pub async fn start_paused(panel_extra: &str, extra: &str) -> Hub {
        let tmp = tempfile::tempdir().unwrap();
        let setup = Setup::new().panel(panel_extra).extra(extra);
        let mut hub = Hub::launch(tmp.path(), setup, true).await;
        hub._tmp = Some(tmp);
        hub
    }

    /// Start with `setup` in a temporary directory of its own.
    pub async fn with(setup: Setup) -> Hub {
        let tmp = tempfile::tempdir().unwrap();
        let mut hub = Hub::launch(tmp.path(), setup, false).await;
        hub._tmp = Some(tmp);
        hub
    }

    /// Start with `setup` and the store in `dir`, which outlives the hub (restart tests).
    pub async fn start_in(dir: &Path, setup: Setup) -> Hub {
        Hub::launch(dir, setup, false).await
    }

    async fn launch(dir: &Path, setup: Setup, paused: bool) -> Hub {
        alarmhub::logging::init(alarmhub::config::LogFormat::Text, "debug");
        // UDP off, and no periodic snapshot during a test.
        let setup = setup.panel("udp = false").store("snapshot_secs = 86400");
        let config = Config::from_toml_str(&setup.toml(dir), "<test>").unwrap();
        let (btx, brx) = oneshot::channel();
        let (stop, srx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(
            config,
            async move {
                let _ = srx.await;
            },
            move |b: &Bound, h: &ApiState| {
                let _ = btx.send((b.clone(), h.clone()));
            },
        ));
        let bound = match paused {
            true => brx.await,
            false => within(brx).await,
        };
        let (bound, handles) = bound.expect("serve stopped before it was bound");
        Hub {
            bound,
            handles,
            paused,
            stop,
            task,
            dir: dir.to_path_buf(),
            _tmp: None,
        }
    }

    /// The store's directory.
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// A scripted Hengbo host connected to the panel port.
    pub async fn host(&self) -> Host {
        match self.paused {
            true => Host::connect_with_limit(self.bound.panel, PAUSED_LIMIT).await,
            false => Host::connect(self.bound.panel).await,
        }
    }

    /// An `alarmhub.v1.AlarmHub` client on the daemon's gRPC listener.
    pub async fn client(&self) -> AlarmHubClient<Channel> {
        within(AlarmHubClient::connect(format!(
            "http://{}",
            self.bound.grpc
        )))
        .await
        .unwrap()
    }

    /// An `alarm_server.AlarmServer` (compat) client on the daemon's gRPC listener.
    pub async fn compat_client(&self) -> AlarmServerClient<Channel> {
        within(AlarmServerClient::connect(format!(
            "http://{}",
            self.bound.grpc
        )))
        .await
        .unwrap()
    }

    /// Store an event the way a session does; its seq.
    pub async fn append(
        &self,
        account: &str,
        source: Source,
        code: u16,
        zone: u16,
        at_ms: i64,
    ) -> i64 {
        let ev = NewEvent {
            account: account.into(),
            source,
            code,
            sia_code: None,
            group: 0,
            zone,
            received_at_ms: at_ms,
            panel_time: None,
            protocol: "HENG-BO".into(),
            frame_seq: String::new(),
            peer: "test".into(),
            facts: Default::default(),
            detail: Default::default(),
            dedup_key: None,
        };
        within(self.handles.store.append_one(ev))
            .await
            .unwrap()
            .seq()
    }

    /// Stop the daemon and wait for it: streams end, groups write their cursors, the registry
    /// snapshot is written and the store closed. (The test's handles go first; the daemon
    /// closes the store itself.)
    pub async fn stop(self) {
        let Hub {
            stop,
            task,
            handles,
            ..
        } = self;
        drop(handles);
        let _ = stop.send(());
        tokio::time::timeout(STOP_LIMIT, task)
            .await
            .expect("the daemon did not stop in time")
            .unwrap()
            .unwrap();
    }
}
