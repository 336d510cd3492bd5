//! The MQTT bridge (`[mqtt]`) with Home Assistant discovery and two-way arming.
//!
//! * [`topics`]: the topic scheme;
//! * [`discovery`]: Home Assistant discovery configs (`alarm_control_panel`, `binary_sensor`);
//! * [`state`]: HB status + open alarms + pending command → Home Assistant state;
//! * [`command`]: command payloads and the rules they must pass (retained, age, allow-list);
//! * [`view`]: what is published about a panel, sent only when it changes;
//! * [`acks`]: which events the broker confirmed, for the cursor;
//! * [`options`]: client options (url, TLS, credentials, last will);
//! * [`bridge`]: the task that ties them together.

use std::collections::HashMap;

use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::MqttConfig;
use crate::outputs::Sources;

pub mod acks;
pub mod bridge;
pub mod command;
pub mod discovery;
pub mod options;
pub mod state;
pub mod topics;
pub mod view;

/// The bridge as the console shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MqttStatus {
    /// Connected to the broker.
    pub connected: bool,
    /// Highest event whose messages the broker acknowledged.
    pub confirmed_seq: i64,
    /// Events stored but not yet published and acknowledged.
    pub backlog: u64,
    /// Why the last connection attempt failed.
    pub last_error: Option<String>,
}

/// A handle to watch the bridge.
pub type StatusWatch = watch::Receiver<MqttStatus>;

/// Start the bridge on `tracker`. `names` are the configured panel names by lower-case
/// account (Home Assistant device names). A configuration the client cannot use is
/// logged and the bridge does not start (its status says why).
pub fn spawn(
    cfg: MqttConfig,
    names: HashMap<String, String>,
    sources: Sources,
    cancel: CancellationToken,
    tracker: &TaskTracker,
) -> StatusWatch {
    let (status_tx, status_rx) = watch::channel(MqttStatus::default());
    let topics = topics::Topics::new(&cfg.base_topic, &cfg.discovery_prefix);
    let opts = match options::build(&cfg, &topics) {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(error = %e, "mqtt bridge not started");
            status_tx.send_modify(|s| s.last_error = Some(e.to_string()));
            return status_rx;
        }
    };
    let (client, eventloop) = rumqttc::AsyncClient::new(opts, bridge::CHANNEL);
    let view = view::View::new(topics, cfg.discovery, names);
    let (b, done_rx) = bridge::Bridge::new(cfg, view, sources, client, tracker.clone(), status_tx);
    tracker.spawn(b.run(eventloop, done_rx, cancel));
    status_rx
}
