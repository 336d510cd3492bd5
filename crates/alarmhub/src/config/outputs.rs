//! `[mqtt]` (the Home Assistant bridge) and `[[automation]]` (central-station outputs), their
//! defaults (the rules are in `outputs_check.rs`).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;

use serde::Deserialize;

use super::account::Secret;

/// Defaults of the output sections.
pub mod output_defaults {
    use super::*;

    /// Broker address.
    pub const MQTT_URL: &str = "mqtt://127.0.0.1:1883";
    /// Root of alarmhub's own topics.
    pub const MQTT_BASE_TOPIC: &str = "alarmhub";
    /// Home Assistant's discovery prefix.
    pub const MQTT_DISCOVERY_PREFIX: &str = "homeassistant";
    /// Commands older than this (by their `ts`) are ignored.
    pub const MQTT_COMMAND_MAX_AGE_SECS: u64 = 30;
    /// MQTT keep-alive.
    pub const MQTT_KEEP_ALIVE_SECS: u64 = 30;
    /// Where a central station connects in `mode = "listen"` (Sur-Gard's port 1025, loopback
    /// until the operator opens it).
    pub const AUTOMATION_LISTEN: SocketAddr =
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1025));
    /// Receiver number `RR`.
    pub const AUTOMATION_RECEIVER: &str = "01";
    /// Line number `L`.
    pub const AUTOMATION_LINE: &str = "1";
    /// Idle seconds before a heartbeat.
    pub const AUTOMATION_HEARTBEAT_SECS: u64 = 30;
    /// Seconds the central station has to ACK a message.
    pub const AUTOMATION_ACK_TIMEOUT_SECS: u64 = 4;
    /// Sends of the same message after the first before the link is failed.
    pub const AUTOMATION_MAX_RESENDS: u32 = 4;
}

use output_defaults as d;

/// `[mqtt]`: the MQTT bridge with Home Assistant discovery. Absent = off.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// `mqtt://host:port` or `mqtts://host:port`.
    pub url: String,
    /// PEM file of the CA that signed the broker's certificate (`mqtts://` only; the
    /// system's roots are not used).
    pub ca_file: Option<PathBuf>,
    /// Broker user name.
    pub username: Option<String>,
    /// Broker password.
    pub password: Option<Secret>,
    /// MQTT client id; `alarmhub-<host name>` when unset, so each node has its own.
    pub client_id: Option<String>,
    /// Root of alarmhub's topics: `<base_topic>/<account>/state` …
    pub base_topic: String,
    /// Home Assistant's discovery prefix.
    pub discovery_prefix: String,
    /// Publish Home Assistant discovery configs.
    pub discovery: bool,
    /// Panels to publish; empty = every panel.
    pub accounts: Vec<String>,
    /// Panels that may be armed and disarmed over MQTT; empty = none.
    pub control_accounts: Vec<String>,
    /// Commands whose `ts` is further than this from alarmhub's clock are ignored.
    pub command_max_age_secs: u64,
    /// MQTT keep-alive in seconds.
    pub keep_alive_secs: u64,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            url: d::MQTT_URL.into(),
            ca_file: None,
            username: None,
            password: None,
            client_id: None,
            base_topic: d::MQTT_BASE_TOPIC.into(),
            discovery_prefix: d::MQTT_DISCOVERY_PREFIX.into(),
            discovery: true,
            accounts: Vec::new(),
            control_accounts: Vec::new(),
            command_max_age_secs: d::MQTT_COMMAND_MAX_AGE_SECS,
            keep_alive_secs: d::MQTT_KEEP_ALIVE_SECS,
        }
    }
}

/// Which automation protocol an `[[automation]]` output speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutomationKind {
    /// Sur-Gard SG automation output.
    Surgard,
    /// SIA DC-09 forwarding to an upstream receiver (another ARC).
    Dc09,
}

impl AutomationKind {
    /// Stable name, as in the configuration.
    pub fn as_str(&self) -> &'static str {
        match self {
            AutomationKind::Surgard => "surgard",
            AutomationKind::Dc09 => "dc09",
        }
    }
}

/// Who opens the TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutomationMode {
    /// The central-station software connects to `listen`.
    #[default]
    Listen,
    /// alarmhub connects to `target`.
    Connect,
}

/// One `[[automation]]` output.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutomationConfig {
    /// Unique name; also the key of its stored cursor.
    pub name: String,
    /// Protocol.
    pub kind: AutomationKind,
    /// Who connects.
    #[serde(default)]
    pub mode: AutomationMode,
    /// Address to listen on (`mode = "listen"`).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// `host:port` to connect to (`mode = "connect"`).
    #[serde(default)]
    pub target: Option<String>,
    /// Receiver number `RR`: two hex digits, not `FF`.
    #[serde(default = "default_receiver")]
    pub receiver: String,
    /// Line number `L`: one hex digit `0`..`E`.
    #[serde(default = "default_line")]
    pub line: String,
    /// Idle seconds before a heartbeat (and the heartbeat period on a failed link).
    #[serde(default = "default_heartbeat")]
    pub heartbeat_secs: u64,
    /// Seconds the central station has to ACK one message.
    #[serde(default = "default_ack_timeout")]
    pub ack_timeout_secs: u64,
    /// Sends of the same message after the first before the link is failed.
    #[serde(default = "default_max_resends")]
    pub max_resends: u32,
    /// `kind = "dc09"`: AES key (32, 48 or 64 hex digits) shared with the upstream
    /// receiver; frames are sent encrypted when set.
    #[serde(default)]
    pub key: Option<Secret>,
    /// `kind = "dc09"`: panel account → the account the upstream receiver knows (3 to 16
    /// hex digits). Accounts not listed are sent as they are when they fit.
    #[serde(default)]
    pub account_map: std::collections::BTreeMap<String, String>,
}

fn default_listen() -> SocketAddr {
    d::AUTOMATION_LISTEN
}
fn default_receiver() -> String {
    d::AUTOMATION_RECEIVER.into()
}
fn default_line() -> String {
    d::AUTOMATION_LINE.into()
}
fn default_heartbeat() -> u64 {
    d::AUTOMATION_HEARTBEAT_SECS
}
fn default_ack_timeout() -> u64 {
    d::AUTOMATION_ACK_TIMEOUT_SECS
}
fn default_max_resends() -> u32 {
    d::AUTOMATION_MAX_RESENDS
}

impl AutomationConfig {
    /// A Sur-Gard output called `name` with every default (listening on 127.0.0.1:1025).
    pub fn surgard(name: &str) -> AutomationConfig {
        AutomationConfig {
            name: name.into(),
            kind: AutomationKind::Surgard,
            mode: AutomationMode::Listen,
            listen: default_listen(),
            target: None,
            receiver: default_receiver(),
            line: default_line(),
            heartbeat_secs: default_heartbeat(),
            ack_timeout_secs: default_ack_timeout(),
            max_resends: default_max_resends(),
            key: None,
            account_map: std::collections::BTreeMap::new(),
        }
    }
}

/// The parts of an `mqtt://` / `mqtts://` url.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    /// Host name or address.
    pub host: String,
    /// Port (1883 / 8883 when the url has none).
    pub port: u16,
    /// `mqtts://`.
    pub tls: bool,
}

/// Read `mqtt://host[:port]` or `mqtts://host[:port]`.
pub fn parse_broker_url(url: &str) -> Result<BrokerUrl, String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("mqtt://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("mqtts://") {
        (true, r)
    } else {
        return Err(format!("{url:?} must start with mqtt:// or mqtts://"));
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let default_port = if tls { 8883 } else { 1883 };
    // A colon inside the host is an IPv6 address, which needs brackets to carry a port.
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.ends_with(']') => (h, p.to_string()),
        _ => (rest, default_port.to_string()),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(['/', '@', '?']) {
        return Err(format!(
            "{url:?}: write mqtt://host:port (no user, path or query)"
        ));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{url:?}: port {port:?} is not a number 1..65535"))?;
    if port == 0 {
        return Err(format!("{url:?}: port 0 is not allowed"));
    }
    Ok(BrokerUrl {
        host: host.to_string(),
        port,
        tls,
    })
}
