//! The validation pass of `[notify]`: every channel has the keys its kind needs and none of
//! another kind's, URLs and secrets have the right shape, rules name existing channels, and
//! numbers are in range. Problems carry the field path (`notify.channels[2].url`) and the
//! channel's name; URLs are never repeated in a message, since robot URLs carry tokens.

use std::collections::HashMap;

use base64::Engine;

use super::config::{ChannelConfig, ChannelKind, NotifyConfig, RuleConfig};
use super::rules::Glob;
use crate::config::Problem;

/// Keys that belong to some kinds only, and the kinds that use them.
const KIND_KEYS: &[(&str, &[ChannelKind])] = {
    use ChannelKind::*;
    &[
        ("url", &[Webhook, Wecom, Dingtalk, Feishu]),
        ("secret", &[Webhook, Dingtalk, Feishu, Wechat]),
        ("api_base", &[Webhook, Wecom, Dingtalk, Feishu, Wechat]),
        ("appid", &[Wechat]),
        ("template_id", &[Wechat]),
        ("openids", &[Wechat]),
        ("link", &[Wechat]),
        ("data", &[Wechat]),
        ("smtp_host", &[Email]),
        ("smtp_port", &[Email]),
        ("tls", &[Email]),
        ("username", &[Email]),
        ("password", &[Email]),
        ("from", &[Email]),
        ("to", &[Email]),
        ("subject", &[Email]),
        ("body", &[Email]),
        ("template", &[Webhook, Wecom, Dingtalk, Feishu]),
    ]
};

/// Longest channel name.
const NAME_MAX_LEN: usize = 64;
/// Standard Webhooks: signing secrets are 24 to 64 random bytes.
const WHSEC_BYTES: std::ops::RangeInclusive<usize> = 24..=64;

/// Every problem in `[notify]`, in file order.
pub(crate) fn check(c: &NotifyConfig, p: &mut Vec<Problem>) {
    if !(60..=7 * 86_400).contains(&c.dead_letter_after_secs) {
        p.push(Problem::new(
            "notify.dead_letter_after_secs",
            format!(
                "{} is outside 60..=604800 (a minute to a week)",
                c.dead_letter_after_secs
            ),
        ));
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (i, ch) in c.channels.iter().enumerate() {
        check_channel(i, ch, p);
        if let Some(first) = names.insert(ch.name.as_str(), i) {
            p.push(Problem::new(
                "notify.channels",
                format!(
                    "channel name {:?} is used twice (notify.channels[{first}] and \
                     notify.channels[{i}])",
                    ch.name
                ),
            ));
        }
    }
    for (i, rule) in c.rules.iter().enumerate() {
        check_rule(i, rule, c, p);
    }
    for (i, q) in c.quiet.iter().enumerate() {
        let at = format!("notify.quiet[{i}]");
        globs(p, &format!("{at}.accounts"), &q.accounts, true);
        if let (Some(from), Some(until)) = (q.from, q.until) {
            if from >= until {
                p.push(Problem::new(
                    format!("{at}.until"),
                    "must be later than `from`",
                ));
            }
        }
    }
}

/// Which kind-specific keys a channel sets.
fn keys_set(c: &ChannelConfig) -> Vec<&'static str> {
    let flags = [
        ("url", c.url.is_some()),
        ("secret", c.secret.is_some()),
        ("api_base", c.api_base.is_some()),
        ("appid", c.appid.is_some()),
        ("template_id", c.template_id.is_some()),
        ("openids", !c.openids.is_empty()),
        ("link", c.link.is_some()),
        ("data", !c.data.is_empty()),
        ("smtp_host", c.smtp_host.is_some()),
        ("smtp_port", c.smtp_port.is_some()),
        ("tls", c.tls.is_some()),
        ("username", c.username.is_some()),
        ("password", c.password.is_some()),
        ("from", c.from.is_some()),
        ("to", !c.to.is_empty()),
        ("subject", c.subject.is_some()),
        ("body", c.body.is_some()),
        ("template", c.template.is_some()),
    ];
    flags
        .iter()
        .filter(|(_, set)| *set)
        .map(|(k, _)| *k)
        .collect()
}

fn check_channel(i: usize, c: &ChannelConfig, p: &mut Vec<Problem>) {
    let at = |key: &str| format!("notify.channels[{i}].{key}");
    let who = format!("channel {:?}", c.name);
    if let Err(m) = channel_name(&c.name) {
        p.push(Problem::new(at("name"), m));
    }
    for key in keys_set(c) {
        let users = KIND_KEYS
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(&[][..], |(_, kinds)| *kinds);
        if !users.contains(&c.kind) {
            let used_by: Vec<&str> = users.iter().map(|k| k.as_str()).collect();
            p.push(Problem::new(
                at(key),
                format!(
                    "{who}: not used by kind = \"{}\" (only by {})",
                    c.kind.as_str(),
                    used_by.join(", ")
                ),
            ));
        }
    }
    if !(1..=60).contains(&c.timeout_secs) {
        p.push(Problem::new(
            at("timeout_secs"),
            format!("{who}: {} is outside 1..=60", c.timeout_secs),
        ));
    }
    if !(1..=256).contains(&c.concurrency) {
        p.push(Problem::new(
            at("concurrency"),
            format!("{who}: {} is outside 1..=256", c.concurrency),
        ));
    }
    if let Some(base) = &c.api_base {
        if let Err(m) = http_url(base, false) {
            p.push(Problem::new(at("api_base"), format!("{who}: {m}")));
        }
    }
    match c.kind {
        ChannelKind::Webhook => check_webhook(c, &at, &who, p),
        ChannelKind::Wecom => check_robot(c, Some("key"), &at, &who, p),
        ChannelKind::Dingtalk => check_robot(c, Some("access_token"), &at, &who, p),
        ChannelKind::Feishu => check_robot(c, None, &at, &who, p),
        ChannelKind::Wechat => check_wechat(c, &at, &who, p),
        ChannelKind::Email => check_email(c, &at, &who, p),
    }
}

/// Channel names appear in metrics labels, logs and the command line.
pub(crate) fn channel_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= NAME_MAX_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?}: use 1 to {NAME_MAX_LEN} ASCII letters, digits, '_', '-' or '.'"
        ))
    }
}

/// Whether `text` is an http(s) URL; the message never repeats the text.
fn http_url(text: &str, query_allowed: bool) -> Result<url::Url, String> {
    let u = url::Url::parse(text).map_err(|e| format!("not a valid URL ({e})"))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err("must be an http:// or https:// URL with a host".into());
    }
    if !query_allowed && u.query().is_some() {
        return Err("must not have a query (?…)".into());
    }
    Ok(u)
}

fn require<T>(
    v: &Option<T>,
    key: &str,
    at: &dyn Fn(&str) -> String,
    who: &str,
    p: &mut Vec<Problem>,
) {
    if v.is_none() {
        p.push(Problem::new(at(key), format!("{who}: is required")));
    }
}

fn check_webhook(c: &ChannelConfig, at: &dyn Fn(&str) -> String, who: &str, p: &mut Vec<Problem>) {
    require(&c.url, "url", at, who, p);
    require(&c.secret, "secret", at, who, p);
    if let Some(Err(m)) = c.url.as_ref().map(|u| http_url(u.expose(), true)) {
        p.push(Problem::new(at("url"), format!("{who}: {m}")));
    }
    if let Some(s) = &c.secret {
        if let Err(m) = webhook_secret(s.expose()) {
            p.push(Problem::new(at("secret"), format!("{who}: {m}")));
        }
    }
}

/// Decode a Standard Webhooks `whsec_…` secret into the HMAC key.
pub(crate) fn webhook_secret(text: &str) -> Result<Vec<u8>, String> {
    let b64 = text
        .strip_prefix("whsec_")
        .ok_or("must start with \"whsec_\" followed by base64 (Standard Webhooks)")?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| "the text after \"whsec_\" is not valid base64".to_string())?;
    if !WHSEC_BYTES.contains(&key.len()) {
        return Err(format!(
            "decodes to {} bytes; Standard Webhooks secrets are 24 to 64 bytes",
            key.len()
        ));
    }
    Ok(key)
}

/// WeCom, DingTalk and Feishu robots: a URL, with the robot's key in `query_key` (WeCom
/// `key`, DingTalk `access_token`) or in the path (Feishu `/hook/<token>`).
fn check_robot(
    c: &ChannelConfig,
    query_key: Option<&str>,
    at: &dyn Fn(&str) -> String,
    who: &str,
    p: &mut Vec<Problem>,
) {
    require(&c.url, "url", at, who, p);
    let Some(url) = &c.url else { return };
    let u = match http_url(url.expose(), true) {
        Ok(u) => u,
        Err(m) => return p.push(Problem::new(at("url"), format!("{who}: {m}"))),
    };
    let found = match query_key {
        Some(k) => u.query_pairs().any(|(name, v)| name == k && !v.is_empty()),
        None => u.path().contains("/hook/") && !u.path().ends_with("/hook/"),
    };
    if !found {
        let what = match query_key {
            Some(k) => format!("its {k}=… query parameter"),
            None => "the /hook/<token> path".to_string(),
        };
        p.push(Problem::new(
            at("url"),
            format!("{who}: lacks {what}; paste the robot's URL as the service shows it"),
        ));
    }
}

fn check_wechat(c: &ChannelConfig, at: &dyn Fn(&str) -> String, who: &str, p: &mut Vec<Problem>) {
    require(&c.appid, "appid", at, who, p);
    require(&c.secret, "secret", at, who, p);
    require(&c.template_id, "template_id", at, who, p);
    if c.openids.is_empty() {
        p.push(Problem::new(
            at("openids"),
            format!("{who}: list at least one recipient"),
        ));
    }
    if let Some(Err(m)) = c.link.as_deref().map(|l| http_url(l, true)) {
        p.push(Problem::new(at("link"), format!("{who}: {m}")));
    }
}

fn check_email(c: &ChannelConfig, at: &dyn Fn(&str) -> String, who: &str, p: &mut Vec<Problem>) {
    require(&c.smtp_host, "smtp_host", at, who, p);
    require(&c.from, "from", at, who, p);
    if c.to.is_empty() {
        p.push(Problem::new(
            at("to"),
            format!("{who}: list at least one recipient"),
        ));
    }
    if c.username.is_some() != c.password.is_some() {
        p.push(Problem::new(
            at("password"),
            format!("{who}: give both username and password, or neither"),
        ));
    }
    for (key, addr) in c
        .from
        .iter()
        .map(|a| ("from", a))
        .chain(c.to.iter().map(|a| ("to", a)))
    {
        if addr.parse::<lettre::message::Mailbox>().is_err() {
            p.push(Problem::new(
                at(key),
                format!("{who}: {addr:?} is not an e-mail address"),
            ));
        }
    }
}

fn check_rule(i: usize, r: &RuleConfig, c: &NotifyConfig, p: &mut Vec<Problem>) {
    let at = |key: &str| format!("notify.rules[{i}].{key}");
    if r.channels.is_empty() {
        p.push(Problem::new(at("channels"), "list at least one channel"));
    }
    for name in &r.channels {
        if c.channel(name).is_none() {
            let known: Vec<&str> = c.channels.iter().map(|c| c.name.as_str()).collect();
            p.push(Problem::new(
                at("channels"),
                format!(
                    "no channel is named {name:?} (channels: {})",
                    known.join(", ")
                ),
            ));
        }
    }
    if r.states.is_empty() {
        p.push(Problem::new(at("states"), "list at least one state"));
    }
    if r.repeat_secs != 0 && !(60..=86_400).contains(&r.repeat_secs) {
        p.push(Problem::new(
            at("repeat_secs"),
            format!(
                "{} is outside 60..=86400 (0 turns reminders off)",
                r.repeat_secs
            ),
        ));
    }
    if r.max_priority == Some(0) {
        p.push(Problem::new(at("max_priority"), "priorities start at 1"));
    }
    for code in &r.sia_codes {
        if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
            p.push(Problem::new(
                at("sia_codes"),
                format!("{code:?} is not a two-letter SIA code"),
            ));
        }
    }
    globs(p, &at("accounts"), &r.accounts, false);
    globs(p, &at("except_accounts"), &r.except_accounts, false);
}

fn globs(p: &mut Vec<Problem>, field: &str, patterns: &[String], required: bool) {
    if required && patterns.is_empty() {
        p.push(Problem::new(
            field,
            "list at least one account (\"*\" for all)",
        ));
    }
    for g in patterns {
        if let Err(m) = Glob::new(g) {
            p.push(Problem::new(field, m));
        }
    }
}
