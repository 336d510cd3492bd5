//! The validation rules of `[mqtt]`, `[[automation]]` and `cms_account`.

use std::collections::HashMap;

use super::error::Problem;
use super::outputs::{
    parse_broker_url, AutomationConfig, AutomationKind, AutomationMode, MqttConfig,
};
use super::Config;

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
    check_dc09(i, a, p);
}

/// `kind = "dc09"`: connect mode, a usable key, mapped accounts of 3..=16 hex digits; the
/// DC-09 keys are refused on a Sur-Gard output.
fn check_dc09(i: usize, a: &AutomationConfig, p: &mut Vec<Problem>) {
    let at = |f: &str| format!("automation[{i}].{f}");
    if a.kind != AutomationKind::Dc09 {
        if a.key.is_some() {
            p.push(Problem::new(at("key"), "is only used with kind = \"dc09\""));
        }
        if !a.account_map.is_empty() {
            p.push(Problem::new(
                at("account_map"),
                "is only used with kind = \"dc09\" (Sur-Gard uses [[accounts]] cms_account)",
            ));
        }
        return;
    }
    if a.mode != AutomationMode::Connect {
        p.push(Problem::new(
            at("mode"),
            "kind = \"dc09\" connects to the upstream receiver: set mode = \"connect\" and target",
        ));
    }
    if let Some(k) = &a.key {
        let parsed =
            panel_proto::crypto::Key::parse(k.expose(), panel_proto::crypto::KeyFormat::Hex);
        if let Err(e) = parsed {
            p.push(Problem::new(at("key"), e.to_string()));
        }
    }
    for (from, to) in &a.account_map {
        if let Err(e) = super::validate::account_text(from) {
            p.push(Problem::new(at("account_map"), format!("{from:?}: {e}")));
        }
        if !crate::outputs::dc09::upstream_account_ok(to) {
            p.push(Problem::new(
                at("account_map"),
                format!("{from:?} = {to:?}: the upstream account must be 3 to 16 hex digits"),
            ));
        }
    }
}

fn host_port(t: &str) -> bool {
    t.rsplit_once(':')
        .is_some_and(|(h, port)| !h.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0))
}

/// `cms_account`: 1..=6 hex digits, and no two panels may reach the central station under
/// the same account (an alarm must never be filed under another customer).
fn check_cms_accounts(c: &Config, p: &mut Vec<Problem>) {
    let clash_matters = c
        .automation
        .iter()
        .any(|a| a.kind == AutomationKind::Surgard);
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
