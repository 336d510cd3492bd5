//! `[mqtt]` (the Home Assistant bridge) and `[[automation]]` (central-station outputs), their
//! defaults and their validation rules.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;

use serde::Deserialize;

use super::account::Secret;
use super::error::Problem;
use super::Config;

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
        }
    }
}

/// Every rule of the output sections and of `cms_account`.
pub(crate) fn check(c: &Config, p: &mut Vec<Problem>) {
    if let Some(m) = &c.mqtt {
        check_mqtt(m, p);
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (i, a) in c.automation.iter().enumerate() {
        check_automation(i, a, p);
        if let Some(first) = names.insert(a.name.as_str(), i) {
            p.push(Problem::new(
                format!("automation[{i}].name"),
                format!("{:?} is also automation[{first}].name", a.name),
            ));
        }
    }
    check_listeners(c, p);
    check_cms_accounts(c, p);
}

/// A listening output must not take another listener's port.
fn check_listeners(c: &Config, p: &mut Vec<Problem>) {
    let mut taken = vec![
        ("panel.listen".to_string(), c.panel.listen),
        ("grpc.listen".to_string(), c.grpc.listen),
        ("http.listen".to_string(), c.http.listen),
    ];
    for (i, a) in c.automation.iter().enumerate() {
        if a.mode != AutomationMode::Listen {
            continue;
        }
        let name = format!("automation[{i}].listen");
        let clash = taken
            .iter()
            .find(|(_, o)| super::validate::overlaps(*o, a.listen));
        if let Some((other, addr)) = clash {
            p.push(Problem::new(
                &name,
                format!("{} overlaps {other} = {addr}; use another port", a.listen),
            ));
        }
        taken.push((name, a.listen));
    }
}

fn check_mqtt(m: &MqttConfig, p: &mut Vec<Problem>) {
    match parse_broker_url(&m.url) {
        Err(e) => p.push(Problem::new("mqtt.url", e)),
        Ok(b) if !b.tls && m.ca_file.is_some() => p.push(Problem::new(
            "mqtt.ca_file",
            "is only used with an mqtts:// url",
        )),
        Ok(b) if b.tls && m.ca_file.is_none() => p.push(Problem::new(
            "mqtt.ca_file",
            "mqtts:// needs the PEM file of the CA that signed the broker's certificate",
        )),
        Ok(_) => {}
    }
    if m.password.is_some() && m.username.is_none() {
        p.push(Problem::new("mqtt.password", "needs mqtt.username"));
    }
    if m.client_id.as_deref().is_some_and(str::is_empty) {
        p.push(Problem::new("mqtt.client_id", "must not be empty"));
    }
    topic_root(p, "mqtt.base_topic", &m.base_topic);
    topic_root(p, "mqtt.discovery_prefix", &m.discovery_prefix);
    if !(1..=3600).contains(&m.command_max_age_secs) {
        p.push(Problem::new(
            "mqtt.command_max_age_secs",
            format!("{} is outside 1..=3600", m.command_max_age_secs),
        ));
    }
    if !(5..=3600).contains(&m.keep_alive_secs) {
        p.push(Problem::new(
            "mqtt.keep_alive_secs",
            format!("{} is outside 5..=3600", m.keep_alive_secs),
        ));
    }
    for (key, list) in [
        ("accounts", &m.accounts),
        ("control_accounts", &m.control_accounts),
    ] {
        for (i, a) in list.iter().enumerate() {
            if let Err(e) = super::validate::account_text(a) {
                p.push(Problem::new(format!("mqtt.{key}[{i}]"), e));
            }
        }
    }
}

/// A topic prefix: not empty, no wildcards, no leading or trailing `/`.
fn topic_root(p: &mut Vec<Problem>, field: &str, topic: &str) {
    if topic.is_empty()
        || topic.contains(['+', '#', '\0'])
        || topic.starts_with('/')
        || topic.ends_with('/')
    {
        p.push(Problem::new(
            field,
            format!("{topic:?} must be a topic without + or #, and not start or end with /"),
        ));
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

fn check_automation(i: usize, a: &AutomationConfig, p: &mut Vec<Problem>) {
    let at = |f: &str| format!("automation[{i}].{f}");
    if a.name.is_empty()
        || !a
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
    {
        p.push(Problem::new(
            at("name"),
            format!("{:?}: use letters, digits, - and _", a.name),
        ));
    }
    match (a.mode, a.target.as_deref()) {
        (AutomationMode::Connect, None) => p.push(Problem::new(
            at("target"),
            "mode = \"connect\" needs a target",
        )),
        (AutomationMode::Connect, Some(t)) if !host_port(t) => p.push(Problem::new(
            at("target"),
            format!("{t:?} is not host:port"),
        )),
        (AutomationMode::Listen, Some(_)) => p.push(Problem::new(
            at("target"),
            "is only used with mode = \"connect\"",
        )),
        _ => {}
    }
    let hex = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_lowercase())
    };
    if a.receiver.len() != 2 || !hex(&a.receiver) || a.receiver == "FF" {
        p.push(Problem::new(
            at("receiver"),
            format!("{:?}: two hex digits 00..FE, upper case", a.receiver),
        ));
    }
    if a.line.len() != 1 || !hex(&a.line) || a.line == "F" {
        p.push(Problem::new(
            at("line"),
            format!("{:?}: one hex digit 0..E, upper case", a.line),
        ));
    }
    let secs = |p: &mut Vec<Problem>, f: &str, v: u64, max: u64| {
        if !(1..=max).contains(&v) {
            p.push(Problem::new(at(f), format!("{v} is outside 1..={max}")));
        }
    };
    secs(p, "heartbeat_secs", a.heartbeat_secs, 3600);
    secs(p, "ack_timeout_secs", a.ack_timeout_secs, 600);
    if a.max_resends > 20 {
        p.push(Problem::new(
            at("max_resends"),
            format!("{} is above the maximum 20", a.max_resends),
        ));
    }
}

fn host_port(t: &str) -> bool {
    t.rsplit_once(':')
        .is_some_and(|(h, port)| !h.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0))
}

/// `cms_account`: 1..=6 hex digits, and no two panels may reach the central station under
/// the same account (an alarm must never be filed under another customer).
fn check_cms_accounts(c: &Config, p: &mut Vec<Problem>) {
    let clash_matters = !c.automation.is_empty();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, a) in c.accounts.iter().enumerate() {
        let field = format!("accounts[{i}].cms_account");
        if let Some(cms) = &a.cms_account {
            if !(1..=6).contains(&cms.len()) || !cms.bytes().all(|b| b.is_ascii_hexdigit()) {
                p.push(Problem::new(&field, format!("{cms:?}: 1 to 6 hex digits")));
                continue;
            }
        }
        let mapped =
            crate::outputs::surgard::codec::map_account(&a.account, a.cms_account.as_deref());
        if let (true, Ok(m)) = (clash_matters, mapped) {
            let key = match m {
                crate::outputs::surgard::codec::CmsAccount::ContactId(s)
                | crate::outputs::surgard::codec::CmsAccount::SiaOnly(s) => s,
            };
            if let Some(first) = seen.insert(key.clone(), i) {
                p.push(Problem::new(
                    "accounts",
                    format!(
                        "accounts[{first}] and accounts[{i}] would both reach the central \
                         station as {key}; give one of them another cms_account"
                    ),
                ));
            }
        }
    }
}
