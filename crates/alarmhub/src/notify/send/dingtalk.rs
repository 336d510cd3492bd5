//! `kind = "dingtalk"`: a DingTalk custom robot. POST `{"msgtype": "text", "text":
//! {"content": …}}` to `…/robot/send?access_token=…`. With a signing secret (`SEC…`), the
//! URL also carries `timestamp` (Unix milliseconds) and `sign` = URL-encoded
//! base64(HMAC-SHA256(key = secret, message = timestamp + "\n" + secret)).
//!
//! The answer is HTTP 200 with `{"errcode": 0}` on success; 130101 means more than 20
//! messages in a minute (the robot is then refused for 10 minutes); 310000 a signature,
//! keyword or IP allow-list refusal; 300001 an unknown access token.

use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use url::Url;

use super::http::{self, Meaning};
use super::{required, Outcome, Outgoing, SenderError, Texts};
use crate::config::Secret;
use crate::notify::config::ChannelConfig;

/// DingTalk `errcode`s and what they mean.
pub(crate) const CODES: &[(i64, Meaning)] = &[
    (0, Meaning::Ok),
    (130101, Meaning::RateLimited(600)),
    (
        310000,
        Meaning::Permanent(
            "check the secret, the robot's keywords, its IP allow-list and this host's clock",
        ),
    ),
    (
        300001,
        Meaning::Permanent("the access_token in url is wrong or the robot was removed"),
    ),
];

/// Sends to one DingTalk robot.
pub struct DingtalkSender {
    channel: String,
    url: Url,
    secret: Option<Secret>,
    client: reqwest::Client,
    texts: Texts,
}

impl std::fmt::Debug for DingtalkSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DingtalkSender")
            .field("channel", &self.channel)
            .field("host", &http::host_of(&self.url))
            .field("signed", &self.secret.is_some())
            .finish_non_exhaustive()
    }
}

/// The DingTalk `sign` parameter (before URL encoding) for `timestamp_ms`.
pub fn sign(secret: &str, timestamp_ms: i64) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(format!("{timestamp_ms}\n{secret}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

impl DingtalkSender {
    pub(super) fn new(c: &ChannelConfig, timeout: Duration) -> Result<Self, SenderError> {
        let url = required(&c.url, c, "url")?;
        Ok(DingtalkSender {
            channel: c.name.clone(),
            url: http::endpoint(&c.name, "url", url.expose(), c.api_base.as_deref())?,
            secret: c.secret.clone(),
            client: http::client(&c.name, timeout)?,
            texts: Texts::of(c),
        })
    }

    pub(super) async fn send(&self, out: &Outgoing) -> Outcome {
        let mut url = self.url.clone();
        if let Some(secret) = &self.secret {
            // query_pairs_mut form-encodes, which is the URL encoding DingTalk documents
            // for `sign` (+ / = become %2B %2F %3D).
            url.query_pairs_mut()
                .append_pair("timestamp", &out.now_ms.to_string())
                .append_pair("sign", &sign(secret.expose(), out.now_ms));
        }
        let body = json!({ "msgtype": "text", "text": { "content": self.texts.message(out) } });
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        match http::post_json(&self.client, &url, bytes, &[]).await {
            Ok(reply) => {
                let code = reply.code("errcode");
                let msg = reply.text("errmsg");
                http::robot_outcome("DingTalk", &reply, &url, code, &msg, CODES)
            }
            Err(outcome) => outcome,
        }
    }
}
