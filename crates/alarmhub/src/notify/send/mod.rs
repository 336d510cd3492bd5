//! One sender per service. Each builds the exact request its service documents, sends it,
//! and classifies the answer as an [`Outcome`] — from the service's JSON error codes, not
//! only the HTTP status (the Chinese robot services answer HTTP 200 to almost everything).
//!
//! Senders hold their channel's settings and an HTTP client with the channel's timeout;
//! they never log, and their outcome reasons never contain secrets or URLs with tokens.

mod dingtalk;
mod email;
mod feishu;
pub(crate) mod http;
mod text;
mod webhook;
mod wechat;
mod wecom;

use std::time::Duration;

pub use email::EmailSender;
pub use text::Texts;
pub use webhook::{sign as webhook_signature, WebhookSender};
pub use wechat::WechatSender;

use super::config::{ChannelConfig, ChannelKind};
use super::model::Notification;

/// How one delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The service accepted the message.
    Delivered,
    /// A temporary failure (timeout, 5xx, busy): try again later, not before `after`.
    Retry {
        /// What went wrong.
        reason: String,
        /// The service's own `Retry-After`, when it gave one.
        after: Option<Duration>,
    },
    /// The service refused because of its rate limit.
    RateLimited {
        /// What the service said.
        reason: String,
        /// How long it asked to wait, when it said.
        after: Option<Duration>,
        /// Whether the whole channel must wait (`false`: only this recipient).
        whole_channel: bool,
    },
    /// The endpoint asked not to be sent anything any more (webhook HTTP 410).
    Disabled {
        /// What the service said.
        reason: String,
    },
    /// A failure that a retry cannot fix (bad key, unknown recipient, refused content).
    Failed {
        /// What went wrong.
        reason: String,
    },
}

impl Outcome {
    /// Short name for metrics and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Retry { .. } => "retry",
            Outcome::RateLimited { .. } => "rate_limited",
            Outcome::Disabled { .. } => "disabled",
            Outcome::Failed { .. } => "failed",
        }
    }

    /// The reason, for anything but success.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Delivered => None,
            Outcome::Retry { reason, .. }
            | Outcome::RateLimited { reason, .. }
            | Outcome::Disabled { reason }
            | Outcome::Failed { reason } => Some(reason),
        }
    }
}

/// One message about to be sent: a single notification, or a digest of several (most
/// urgent first).
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Stable id: the notification's, or one derived from the digest's first member.
    pub id: String,
    /// What the message is about; never empty.
    pub notifications: Vec<Notification>,
    /// The recipient, for channels that send per recipient.
    pub recipient: Option<String>,
    /// Wall-clock time of this attempt, Unix milliseconds (signatures carry it).
    pub now_ms: i64,
}

impl Outgoing {
    /// A message about one notification.
    pub fn single(n: Notification, recipient: Option<String>, now_ms: i64) -> Outgoing {
        Outgoing {
            id: n.id.to_string(),
            notifications: vec![n],
            recipient,
            now_ms,
        }
    }

    /// A digest of several notifications (one notification makes a single message).
    pub fn digest(ns: Vec<Notification>, recipient: Option<String>, now_ms: i64) -> Outgoing {
        let id = match ns.as_slice() {
            [one] => one.id.to_string(),
            [first, ..] => format!("dig_{}_{}", ns.len(), first.id),
            [] => "dig_0".to_string(),
        };
        Outgoing {
            id,
            notifications: ns,
            recipient,
            now_ms,
        }
    }

    /// Whether this is a digest.
    pub fn is_digest(&self) -> bool {
        self.notifications.len() > 1
    }
}

/// A sender could not be built from its channel's settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SenderError {
    /// A required key is missing (the validation pass should have caught it).
    #[error("channel {channel:?}: {field} is required")]
    Missing {
        /// Channel name.
        channel: String,
        /// The key.
        field: &'static str,
    },
    /// A URL key does not parse; the reason never repeats the URL.
    #[error("channel {channel:?}: {field}: {reason}")]
    Url {
        /// Channel name.
        channel: String,
        /// The key.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The HTTP client or SMTP transport could not be set up.
    #[error("channel {channel:?}: {reason}")]
    Client {
        /// Channel name.
        channel: String,
        /// What is wrong.
        reason: String,
    },
}

/// A channel's sender.
#[derive(Debug)]
pub enum Sender {
    /// Standard Webhooks.
    Webhook(WebhookSender),
    /// WeCom group robot.
    Wecom(wecom::WecomSender),
    /// DingTalk custom robot.
    Dingtalk(dingtalk::DingtalkSender),
    /// Feishu custom bot.
    Feishu(feishu::FeishuSender),
    /// WeChat template messages.
    Wechat(WechatSender),
    /// E-mail.
    Email(EmailSender),
}

impl Sender {
    /// Build the sender of a validated channel, with the channel's own timeout.
    pub fn new(c: &ChannelConfig) -> Result<Sender, SenderError> {
        Sender::with_timeout(c, Duration::from_secs(c.timeout_secs))
    }

    /// Build the sender with another request timeout (tests use short ones).
    pub fn with_timeout(c: &ChannelConfig, timeout: Duration) -> Result<Sender, SenderError> {
        Ok(match c.kind {
            ChannelKind::Webhook => Sender::Webhook(WebhookSender::new(c, timeout)?),
            ChannelKind::Wecom => Sender::Wecom(wecom::WecomSender::new(c, timeout)?),
            ChannelKind::Dingtalk => Sender::Dingtalk(dingtalk::DingtalkSender::new(c, timeout)?),
            ChannelKind::Feishu => Sender::Feishu(feishu::FeishuSender::new(c, timeout)?),
            ChannelKind::Wechat => Sender::Wechat(WechatSender::new(c, timeout)?),
            ChannelKind::Email => Sender::Email(EmailSender::new(c, timeout)?),
        })
    }

    /// Send one message and classify the answer.
    pub async fn send(&self, out: &Outgoing) -> Outcome {
        if out.notifications.is_empty() {
            return Outcome::Failed {
                reason: "nothing to send".into(),
            };
        }
        match self {
            Sender::Webhook(s) => s.send(out).await,
            Sender::Wecom(s) => s.send(out).await,
            Sender::Dingtalk(s) => s.send(out).await,
            Sender::Feishu(s) => s.send(out).await,
            Sender::Wechat(s) => s.send(out).await,
            Sender::Email(s) => s.send(out).await,
        }
    }
}

/// A required secret, or the error naming it.
fn required<'a, T>(
    v: &'a Option<T>,
    c: &ChannelConfig,
    field: &'static str,
) -> Result<&'a T, SenderError> {
    v.as_ref().ok_or_else(|| SenderError::Missing {
        channel: c.name.clone(),
        field,
    })
}
