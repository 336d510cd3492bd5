//! `kind = "webhook"`: POST JSON to any URL, signed per Standard Webhooks 1.0.
//!
//! Headers: `webhook-id` (the notification's stable id — the same on every retry and from
//! every node, so receivers can drop duplicates), `webhook-timestamp` (Unix seconds of this
//! attempt) and `webhook-signature` = `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))
//! where the key is the base64 text after `whsec_`. A 2xx answer is success; 410 Gone
//! disables the channel; 429 is a rate limit; everything else is retried.
//!
//! Body: `{"type": "alarm.opened", "timestamp": "…Z", "data": {…notification…, "text": …}}`;
//! a digest is `{"type": "digest", …, "data": {"count", "text", "notifications": […]}}`.

use std::fmt;
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::header::HeaderName;
use serde_json::json;
use sha2::Sha256;
use url::Url;

use super::http::{self, Reply};
use super::{required, Outcome, Outgoing, SenderError, Texts};
use crate::notify::check::webhook_secret;
use crate::notify::config::ChannelConfig;
use crate::notify::template::local_time;

/// Sends to one webhook endpoint.
pub struct WebhookSender {
    channel: String,
    url: Url,
    key: Vec<u8>,
    client: reqwest::Client,
    texts: Texts,
}

impl fmt::Debug for WebhookSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSender")
            .field("channel", &self.channel)
            .field("host", &http::host_of(&self.url))
            .finish_non_exhaustive()
    }
}

/// The `webhook-signature` value for `body` sent as message `id` at `timestamp`.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// `alarm_opened` → `alarm.opened`: Standard Webhooks event types are dotted.
fn event_type(out: &Outgoing) -> String {
    match out.notifications.as_slice() {
        [one] => one.what.as_str().replacen('_', ".", 1),
        _ => "digest".to_string(),
    }
}

fn rfc3339(ms: i64) -> String {
    format!("{}Z", local_time(ms, 0).replace(' ', "T"))
}

impl WebhookSender {
    pub(super) fn new(c: &ChannelConfig, timeout: Duration) -> Result<Self, SenderError> {
        let url = required(&c.url, c, "url")?;
        let secret = required(&c.secret, c, "secret")?;
        let key = webhook_secret(secret.expose()).map_err(|reason| SenderError::Url {
            channel: c.name.clone(),
            field: "secret",
            reason,
        })?;
        Ok(WebhookSender {
            channel: c.name.clone(),
            url: http::endpoint(&c.name, "url", url.expose(), c.api_base.as_deref())?,
            key,
            client: http::client(&c.name, timeout)?,
            texts: Texts::of(c),
        })
    }

    /// The JSON body of a message.
    pub fn body(&self, out: &Outgoing) -> Vec<u8> {
        let text = self.texts.message(out);
        let value = match out.notifications.as_slice() {
            [one] => {
                let mut data = serde_json::to_value(one).unwrap_or_default();
                if let Some(map) = data.as_object_mut() {
                    map.insert("text".into(), text.into());
                }
                json!({ "type": event_type(out), "timestamp": rfc3339(one.time_ms), "data": data })
            }
            many => json!({
                "type": "digest",
                "timestamp": rfc3339(out.now_ms),
                "data": { "count": many.len(), "text": text, "notifications": many },
            }),
        };
        serde_json::to_vec(&value).unwrap_or_default()
    }

    pub(super) async fn send(&self, out: &Outgoing) -> Outcome {
        let body = self.body(out);
        let ts = out.now_ms.div_euclid(1000);
        let signature = sign(&self.key, &out.id, ts, &body);
        let headers = [
            (HeaderName::from_static("webhook-id"), out.id.clone()),
            (HeaderName::from_static("webhook-timestamp"), ts.to_string()),
            (HeaderName::from_static("webhook-signature"), signature),
        ];
        match http::post_json(&self.client, &self.url, body, &headers).await {
            Ok(reply) => self.classify(&reply),
            Err(outcome) => outcome,
        }
    }

    fn classify(&self, reply: &Reply) -> Outcome {
        if reply.status.is_success() {
            Outcome::Delivered
        } else if reply.status.as_u16() == 410 {
            Outcome::Disabled {
                reason: format!(
                    "HTTP 410 Gone from {}: the endpoint asked for no more webhooks",
                    http::host_of(&self.url)
                ),
            }
        } else {
            http::status_outcome(reply, &self.url)
        }
    }
}
