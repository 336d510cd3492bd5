//! `[notify]`: notification channels (`[[notify.channels]]`), the rules that route
//! notifications to them (`[[notify.rules]]`) and quiet periods (`[[notify.quiet]]`).
//!
//! Shapes and defaults live here; the validation pass is in `check.rs`. Channels are one
//! flat table with a `kind`, so an unknown key is reported by TOML with its line, and a key
//! that belongs to another kind is reported by the validation pass with its field path.
//! Keys, passwords and webhook URLs (which carry tokens) are [`Secret`]s.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

pub use super::datetime::DateTime;

use super::model::EventClass;
use super::template::{Language, Template};
use crate::config::Secret;

/// Named defaults of `[notify]`.
pub mod defaults {
    /// Seconds a notification is retried before it becomes a dead letter.
    pub const DEAD_LETTER_AFTER_SECS: u64 = 86_400;
    /// Seconds between reminders of an alarm nobody has taken (the 30-minute reminder).
    pub const REPEAT_SECS: u64 = 1800;
    /// HTTP request timeout in seconds.
    pub const TIMEOUT_SECS: u64 = 10;
    /// Requests one channel may have in flight at once.
    pub const CONCURRENCY: usize = 4;
    /// WeCom group robots: 20 messages a minute (WeCom robot documentation).
    pub const WECOM_PER_MINUTE: u32 = 20;
    /// DingTalk custom robots: 20 messages a minute, then 10 minutes of refusals.
    pub const DINGTALK_PER_MINUTE: u32 = 20;
    /// Feishu custom bots: 100 a minute …
    pub const FEISHU_PER_MINUTE: u32 = 100;
    /// … and 5 a second.
    pub const FEISHU_PER_SECOND: u32 = 5;
    /// WeChat template messages, per recipient. WeChat publishes no number (it answers
    /// 43117 "too frequently" per openid); this is a cautious guess, configurable.
    pub const WECHAT_PER_MINUTE: u32 = 10;
    /// WeChat API host.
    pub const WECHAT_API_BASE: &str = "https://api.weixin.qq.com";
}

/// `[notify]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Seconds a notification is retried before it is given up as a dead letter.
    pub dead_letter_after_secs: u64,
    /// `[[notify.channels]]`.
    pub channels: Vec<ChannelConfig>,
    /// `[[notify.rules]]`.
    pub rules: Vec<RuleConfig>,
    /// `[[notify.quiet]]`.
    pub quiet: Vec<QuietConfig>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            dead_letter_after_secs: defaults::DEAD_LETTER_AFTER_SECS,
            channels: Vec::new(),
            rules: Vec::new(),
            quiet: Vec::new(),
        }
    }
}

impl NotifyConfig {
    /// The channel called `name`.
    pub fn channel(&self, name: &str) -> Option<&ChannelConfig> {
        self.channels.iter().find(|c| c.name == name)
    }
}

/// The service a channel talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// Any HTTP endpoint; Standard Webhooks signatures.
    Webhook,
    /// 企业微信 group robot.
    Wecom,
    /// DingTalk custom robot.
    Dingtalk,
    /// Feishu custom bot.
    Feishu,
    /// WeChat official account template messages (服务号模板消息).
    Wechat,
    /// E-mail over SMTP.
    Email,
}

impl ChannelKind {
    /// The name as written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "webhook",
            ChannelKind::Wecom => "wecom",
            ChannelKind::Dingtalk => "dingtalk",
            ChannelKind::Feishu => "feishu",
            ChannelKind::Wechat => "wechat",
            ChannelKind::Email => "email",
        }
    }
}

/// How the e-mail channel secures its SMTP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required, never skipped); port 587.
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS); port 465.
    Tls,
    /// No encryption: a relay on the same machine, or tests; port 25.
    None,
}

/// One `[[notify.channels]]` entry. Which keys apply depends on `kind` (see the example
/// file); the validation pass rejects keys of another kind.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    /// Unique name, used by rules, logs, metrics and `alarmhub notify test`.
    pub name: String,
    /// The service.
    pub kind: ChannelKind,
    /// A disabled channel keeps its queued notifications but sends nothing.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// webhook, wecom, dingtalk, feishu: the URL (robot URLs carry the key or token).
    #[serde(default)]
    pub url: Option<Secret>,
    /// webhook: `whsec_…` signing secret; dingtalk/feishu: the robot's signing secret;
    /// wechat: the AppSecret.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// HTTP kinds: replaces scheme, host and port (and prefixes the path) of the service's
    /// address — for private gateways and tests.
    #[serde(default)]
    pub api_base: Option<String>,
    /// wechat: the official account's AppID.
    #[serde(default)]
    pub appid: Option<String>,
    /// wechat: the template's id in the official account's backend.
    #[serde(default)]
    pub template_id: Option<String>,
    /// wechat: recipients.
    #[serde(default)]
    pub openids: Vec<String>,
    /// wechat: page opened when the message is tapped.
    #[serde(default)]
    pub link: Option<String>,
    /// wechat: template data keys and the text each shows.
    #[serde(default)]
    pub data: BTreeMap<String, Template>,
    /// email: SMTP server.
    #[serde(default)]
    pub smtp_host: Option<String>,
    /// email: SMTP port; by `tls`: 587, 465 or 25.
    #[serde(default)]
    pub smtp_port: Option<u16>,
    /// email: connection security.
    #[serde(default)]
    pub tls: Option<SmtpTls>,
    /// email: SMTP user name.
    #[serde(default)]
    pub username: Option<String>,
    /// email: SMTP password.
    #[serde(default)]
    pub password: Option<Secret>,
    /// email: sender address.
    #[serde(default)]
    pub from: Option<String>,
    /// email: recipient addresses.
    #[serde(default)]
    pub to: Vec<String>,
    /// email: subject template (default: the one-line text).
    #[serde(default)]
    pub subject: Option<Template>,
    /// email: body template (default: a multi-line summary).
    #[serde(default)]
    pub body: Option<Template>,
    /// Chat kinds and webhook: the message text (default: the built-in one-line text).
    #[serde(default)]
    pub template: Option<Template>,
    /// Language of the built-in texts.
    #[serde(default)]
    pub language: Language,
    /// Seconds one request may take.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Messages per minute at most; 0 = no limit. Default by kind.
    #[serde(default)]
    pub rate_limit_per_minute: Option<u32>,
    /// Messages per second at most; 0 = no limit. Default by kind.
    #[serde(default)]
    pub rate_limit_per_second: Option<u32>,
    /// Requests in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

fn yes() -> bool {
    true
}

fn default_timeout() -> u64 {
    defaults::TIMEOUT_SECS
}

fn default_concurrency() -> usize {
    defaults::CONCURRENCY
}

/// Message limits of a channel (per recipient for WeChat).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateLimit {
    /// At most this many in any 60 seconds.
    pub per_minute: Option<u32>,
    /// At most this many in any second.
    pub per_second: Option<u32>,
}

impl ChannelConfig {
    /// The limits in force: the configured ones, else the service's known defaults.
    pub fn rate_limit(&self) -> RateLimit {
        let (minute, second) = match self.kind {
            ChannelKind::Wecom => (Some(defaults::WECOM_PER_MINUTE), None),
            ChannelKind::Dingtalk => (Some(defaults::DINGTALK_PER_MINUTE), None),
            ChannelKind::Feishu => (
                Some(defaults::FEISHU_PER_MINUTE),
                Some(defaults::FEISHU_PER_SECOND),
            ),
            ChannelKind::Wechat => (Some(defaults::WECHAT_PER_MINUTE), None),
            ChannelKind::Webhook | ChannelKind::Email => (None, None),
        };
        let pick = |set: Option<u32>, default: Option<u32>| match set {
            Some(0) => None,
            Some(n) => Some(n),
            None => default,
        };
        RateLimit {
            per_minute: pick(self.rate_limit_per_minute, minute),
            per_second: pick(self.rate_limit_per_second, second),
        }
    }
}

impl fmt::Debug for ChannelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only the keys that say what the channel is; secrets print as ****.
        f.debug_struct("ChannelConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("enabled", &self.enabled)
            .field("url", &self.url)
            .field("secret", &self.secret)
            .field("api_base", &self.api_base)
            .field("password", &self.password)
            .field("openids", &self.openids.len())
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

/// The alarm states and panel events a rule can select (`states = [...]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// An alarm was opened; reminders of it follow the same rule.
    Opened,
    /// An alarm was escalated.
    Escalated,
    /// An alarm was closed.
    Closed,
    /// A panel went offline.
    Offline,
    /// A panel came online.
    Online,
    /// A control command finished.
    Control,
}

/// One `[[notify.rules]]` entry: every condition given must hold.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// A label for logs.
    #[serde(default)]
    pub name: Option<String>,
    /// Channels that receive what the rule matches.
    pub channels: Vec<String>,
    /// Priority at most this (1 is the most urgent).
    #[serde(default)]
    pub max_priority: Option<u8>,
    /// Event classes; empty = any.
    #[serde(default)]
    pub classes: Vec<EventClass>,
    /// 4-digit event codes; empty = any (with `sia_codes`: either list may match).
    #[serde(default)]
    pub codes: Vec<u16>,
    /// SIA codes; empty = any.
    #[serde(default)]
    pub sia_codes: Vec<String>,
    /// Account globs (`*` any text, `?` one character); empty = any.
    #[serde(default)]
    pub accounts: Vec<String>,
    /// Account globs never matched by this rule.
    #[serde(default)]
    pub except_accounts: Vec<String>,
    /// What the rule reacts to.
    #[serde(default = "default_states")]
    pub states: Vec<State>,
    /// Seconds between reminders while a matched alarm stays untaken; 0 = no reminders.
    #[serde(default = "default_repeat")]
    pub repeat_secs: u64,
}

fn default_states() -> Vec<State> {
    vec![State::Opened, State::Escalated]
}

fn default_repeat() -> u64 {
    defaults::REPEAT_SECS
}

/// One `[[notify.quiet]]` entry: no notifications for these accounts (a test period, a
/// site under maintenance), always or between `from` and `until`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietConfig {
    /// Account globs.
    pub accounts: Vec<String>,
    /// Start of the quiet period; always when both are left out.
    #[serde(default)]
    pub from: Option<DateTime>,
    /// End of the quiet period (exclusive).
    #[serde(default)]
    pub until: Option<DateTime>,
    /// Why, for people reading the file.
    #[serde(default)]
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn known_limits_apply_unless_overridden_or_switched_off() {
        let mut c: ChannelConfig = toml::from_str(
            "name = \"d\"\nkind = \"feishu\"\nurl = \"https://open.feishu.cn/open-apis/bot/v2/hook/x\"\n",
        )
        .unwrap();
        assert_eq!(
            c.rate_limit(),
            RateLimit {
                per_minute: Some(100),
                per_second: Some(5)
            }
        );
        c.rate_limit_per_second = Some(0);
        c.rate_limit_per_minute = Some(30);
        assert_eq!(
            c.rate_limit(),
            RateLimit {
                per_minute: Some(30),
                per_second: None
            }
        );
        assert!(!format!("{c:?}").contains("open.feishu.cn"));
    }
}
