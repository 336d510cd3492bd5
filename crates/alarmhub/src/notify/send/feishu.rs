//! `kind = "feishu"`: a Feishu (Lark) custom bot. POST `{"msg_type": "text", "content":
//! {"text": …}}` to `…/open-apis/bot/v2/hook/<token>`. With a signing secret the body also
//! carries `timestamp` (Unix seconds, as a string) and `sign` = base64(HMAC-SHA256(key =
//! timestamp + "\n" + secret, message = empty)).
//!
//! The answer carries `code` (older deployments `StatusCode`): 0 is success; 11232 and
//! 99991400 are rate limits (100 a minute and 5 a second per bot), with the wait in the
//! `x-ogw-ratelimit-reset` header; 19021 a bad signature or clock; 19022 an IP refusal;
//! 19024 missing keywords; 9499 and 19001 a malformed request.

use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use url::Url;

use super::http::{self, Meaning, Reply};
use super::{required, Outcome, Outgoing, SenderError, Texts};
use crate::config::Secret;
use crate::notify::config::ChannelConfig;

/// Feishu `code`s and what they mean.
pub(crate) const CODES: &[(i64, Meaning)] = &[
    (0, Meaning::Ok),
    (11232, Meaning::RateLimited(60)),
    (99991400, Meaning::RateLimited(60)),
    (9499, Meaning::Permanent("the request was malformed")),
    (
        19001,
        Meaning::Permanent("the request parameters were refused"),
    ),
    (
        19021,
        Meaning::Permanent("check the secret and this host's clock"),
    ),
    (
        19022,
        Meaning::Permanent("this host's IP is not on the bot's allow-list"),
    ),
    (
        19024,
        Meaning::Permanent("the text lacks the bot's keywords; add one to the template"),
    ),
];

/// Sends to one Feishu bot.
pub struct FeishuSender {
    channel: String,
    url: Url,
    secret: Option<Secret>,
    client: reqwest::Client,
    texts: Texts,
}

impl std::fmt::Debug for FeishuSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeishuSender")
            .field("channel", &self.channel)
            .field("host", &http::host_of(&self.url))
            .field("signed", &self.secret.is_some())
            .finish_non_exhaustive()
    }
}

/// The Feishu `sign` field for `timestamp_secs`.
pub fn sign(secret: &str, timestamp_secs: i64) -> String {
    let key = format!("{timestamp_secs}\n{secret}");
    let Ok(mac) = Hmac::<Sha256>::new_from_slice(key.as_bytes()) else {
        return String::new();
    };
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

impl FeishuSender {
    pub(super) fn new(c: &ChannelConfig, timeout: Duration) -> Result<Self, SenderError> {
        let url = required(&c.url, c, "url")?;
        Ok(FeishuSender {
            channel: c.name.clone(),
            url: http::endpoint(&c.name, "url", url.expose(), c.api_base.as_deref())?,
            secret: c.secret.clone(),
            client: http::client(&c.name, timeout)?,
            texts: Texts::of(c),
        })
    }

    pub(super) async fn send(&self, out: &Outgoing) -> Outcome {
        let mut body =
            json!({ "msg_type": "text", "content": { "text": self.texts.message(out) } });
        if let (Some(secret), Some(map)) = (&self.secret, body.as_object_mut()) {
            let ts = out.now_ms.div_euclid(1000);
            map.insert("timestamp".into(), ts.to_string().into());
            map.insert("sign".into(), sign(secret.expose(), ts).into());
        }
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        match http::post_json(&self.client, &self.url, bytes, &[]).await {
            Ok(reply) => classify(&reply, &self.url),
            Err(outcome) => outcome,
        }
    }
}

fn classify(reply: &Reply, url: &Url) -> Outcome {
    let code = reply.code("code").or_else(|| reply.code("StatusCode"));
    let msg = match reply.text("msg") {
        m if m.is_empty() => reply.text("StatusMessage"),
        m => m,
    };
    let mut outcome = http::robot_outcome("Feishu", reply, url, code, &msg, CODES);
    // Feishu says how long to wait in its own header.
    if let Outcome::RateLimited { after, .. } = &mut outcome {
        if let Some(reset) = reply.header_secs("x-ogw-ratelimit-reset") {
            *after = Some(reset);
        }
    }
    outcome
}
