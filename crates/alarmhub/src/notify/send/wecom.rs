//! `kind = "wecom"`: a 企业微信 group robot. POST `{"msgtype": "text", "text": {"content": …}}`
//! to the robot's URL (`…/cgi-bin/webhook/send?key=…`). The answer is HTTP 200 with
//! `{"errcode": 0, "errmsg": "ok"}` on success; 45009 means the robot's limit (20 messages
//! a minute) was hit, 93000 that the key is wrong.

use std::time::Duration;

use serde_json::json;
use url::Url;

use super::http::{self, Meaning};
use super::{required, Outcome, Outgoing, SenderError, Texts};
use crate::notify::config::ChannelConfig;

/// WeCom `errcode`s and what they mean.
pub(crate) const CODES: &[(i64, Meaning)] = &[
    (0, Meaning::Ok),
    (45009, Meaning::RateLimited(60)),
    (
        93000,
        Meaning::Permanent("the robot key in url is wrong or the robot was removed"),
    ),
    (40008, Meaning::Permanent("the message type was refused")),
    (
        40058,
        Meaning::Permanent("the message was refused as invalid"),
    ),
    (44004, Meaning::Permanent("the text was empty")),
];

/// Sends to one WeCom group robot.
pub struct WecomSender {
    channel: String,
    url: Url,
    client: reqwest::Client,
    texts: Texts,
}

impl std::fmt::Debug for WecomSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WecomSender")
            .field("channel", &self.channel)
            .field("host", &http::host_of(&self.url))
            .finish_non_exhaustive()
    }
}

impl WecomSender {
    pub(super) fn new(c: &ChannelConfig, timeout: Duration) -> Result<Self, SenderError> {
        let url = required(&c.url, c, "url")?;
        Ok(WecomSender {
            channel: c.name.clone(),
            url: http::endpoint(&c.name, "url", url.expose(), c.api_base.as_deref())?,
            client: http::client(&c.name, timeout)?,
            texts: Texts::of(c),
        })
    }

    pub(super) async fn send(&self, out: &Outgoing) -> Outcome {
        let body = json!({ "msgtype": "text", "text": { "content": self.texts.message(out) } });
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        match http::post_json(&self.client, &self.url, bytes, &[]).await {
            Ok(reply) => {
                let code = reply.code("errcode");
                let msg = reply.text("errmsg");
                http::robot_outcome("WeCom", &reply, &self.url, code, &msg, CODES)
            }
            Err(outcome) => outcome,
        }
    }
}
