//! `kind = "wechat"`: template messages of a WeChat official account (服务号模板消息).
//!
//! The access token comes from `POST {api_base}/cgi-bin/stable_token` (`grant_type =
//! client_credential`, `appid`, `secret`, `force_refresh = false`); it is cached and
//! fetched again before it expires (WeChat hands out a new one in the last 5 minutes) and
//! whenever a send answers 40001, 40014 or 42001 (invalid or expired token). The stable
//! token is shared by every caller, so several alarmhub nodes never invalidate each
//! other's token.
//!
//! A message is `POST {api_base}/cgi-bin/message/template/send?access_token=…` with
//! `{"touser", "template_id", "url", "data": {key: {"value": …}}}`, one per recipient.
//! 43117 (this openid receives too often) pauses the recipient, 45009 (daily quota) the
//! channel; 43004 (recipient does not follow the account), 40003, 40037 and 47003 are
//! permanent.

use std::fmt;
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::sync::Mutex;
use url::Url;

use super::http::{self, Meaning, Reply};
use super::{required, Outcome, Outgoing, SenderError, Texts};
use crate::config::Secret;
use crate::notify::config::{defaults, ChannelConfig};
use crate::notify::template::{Context, Language, Template};
use crate::notify::wording;

/// `errcode`s of the token endpoint.
const TOKEN_CODES: &[(i64, Meaning)] = &[
    (40001, Meaning::Permanent("the AppSecret is wrong")),
    (40125, Meaning::Permanent("the AppSecret is wrong")),
    (40013, Meaning::Permanent("the AppID is wrong")),
    (
        40164,
        Meaning::Permanent("this host's IP is not on the account's allow-list"),
    ),
    (45009, Meaning::RateLimited(3600)),
];

/// `errcode`s of the template message endpoint.
pub(crate) const SEND_CODES: &[(i64, Meaning)] = &[
    (0, Meaning::Ok),
    (45009, Meaning::RateLimited(3600)),
    (
        43004,
        Meaning::Permanent("the recipient does not follow the official account"),
    ),
    (
        40003,
        Meaning::Permanent("the openid is not a user of this official account"),
    ),
    (40037, Meaning::Permanent("template_id is wrong")),
    (
        47003,
        Meaning::Permanent("the data keys do not fit the template"),
    ),
    (43116, Meaning::Permanent("the template was banned")),
    (
        48001,
        Meaning::Permanent("the account may not send template messages"),
    ),
];

/// Token errors that mean "fetch a new token and try once more".
const STALE_TOKEN: &[i64] = &[40001, 40014, 42001];
/// Per-recipient rate limit: "sending messages to this openid too frequently".
const RECIPIENT_LIMIT: i64 = 43117;

struct Token {
    value: Secret,
    refresh_at_ms: i64,
}

/// Sends template messages of one official account.
pub struct WechatSender {
    channel: String,
    base: String,
    appid: String,
    secret: Secret,
    template_id: String,
    link: Option<String>,
    data: Vec<(String, Template)>,
    client: reqwest::Client,
    texts: Texts,
    token: Mutex<Option<Token>>,
}

impl fmt::Debug for WechatSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatSender")
            .field("channel", &self.channel)
            .field("appid", &self.appid)
            .finish_non_exhaustive()
    }
}

impl WechatSender {
    pub(super) fn new(c: &ChannelConfig, timeout: Duration) -> Result<Self, SenderError> {
        let base = c.api_base.as_deref().unwrap_or(defaults::WECHAT_API_BASE);
        Url::parse(base).map_err(|e| SenderError::Url {
            channel: c.name.clone(),
            field: "api_base",
            reason: e.to_string(),
        })?;
        Ok(WechatSender {
            channel: c.name.clone(),
            base: base.trim_end_matches('/').to_string(),
            appid: required(&c.appid, c, "appid")?.clone(),
            secret: required(&c.secret, c, "secret")?.clone(),
            template_id: required(&c.template_id, c, "template_id")?.clone(),
            link: c.link.clone(),
            data: c.data.iter().map(|(k, t)| (k.clone(), t.clone())).collect(),
            client: http::client(&c.name, timeout)?,
            texts: Texts::of(c),
            token: Mutex::new(None),
        })
    }

    fn url(&self, path: &str) -> Result<Url, Outcome> {
        Url::parse(&format!("{}{path}", self.base)).map_err(|e| Outcome::Failed {
            reason: format!("api_base: {e}"),
        })
    }

    /// A valid access token: the cached one, or a fresh one when it is due for refresh or
    /// `stale` is the token a send just rejected.
    async fn token(&self, now_ms: i64, stale: Option<&Secret>) -> Result<Secret, Outcome> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref() {
            if now_ms < t.refresh_at_ms && Some(&t.value) != stale {
                return Ok(t.value.clone());
            }
        }
        let url = self.url("/cgi-bin/stable_token")?;
        let body = json!({
            "grant_type": "client_credential",
            "appid": self.appid,
            "secret": self.secret.expose(),
            "force_refresh": false,
        });
        let reply = http::post_json(
            &self.client,
            &url,
            serde_json::to_vec(&body).unwrap_or_default(),
            &[],
        )
        .await?;
        let json = reply.json().unwrap_or_default();
        let (Some(token), Some(expires_in)) = (
            json.get("access_token").and_then(Value::as_str),
            json.get("expires_in").and_then(Value::as_i64),
        ) else {
            return Err(token_error(&reply, &url));
        };
        // Refresh ahead of expiry: WeChat issues the next token in the last 5 minutes.
        let margin = 300.min(expires_in / 2);
        let fresh = Secret::new(token);
        *cached = Some(Token {
            value: fresh.clone(),
            refresh_at_ms: now_ms + (expires_in - margin) * 1000,
        });
        Ok(fresh)
    }

    fn payload(&self, out: &Outgoing, recipient: &str) -> Value {
        let mut data = Map::new();
        if let Some(ctx) = self.texts.context(out) {
            for (key, value) in self.data_values(out, &ctx) {
                data.insert(key, json!({ "value": value }));
            }
        }
        let mut body = json!({
            "touser": recipient,
            "template_id": self.template_id,
            "data": data,
        });
        if let (Some(link), Some(map)) = (&self.link, body.as_object_mut()) {
            map.insert("url".into(), link.clone().into());
        }
        body
    }

    /// The configured data keys, or the classic first/keyword1..3/remark layout.
    fn data_values(&self, out: &Outgoing, ctx: &Context<'_>) -> Vec<(String, String)> {
        if !self.data.is_empty() {
            return self
                .data
                .iter()
                .map(|(k, t)| (k.clone(), t.render(ctx)))
                .collect();
        }
        let zh = self.texts.language == Language::ZhCn;
        let render = |src: &str| {
            Template::parse(src)
                .map(|t| t.render(ctx))
                .unwrap_or_default()
        };
        let (first, remark) = if out.is_digest() {
            let all = out.notifications.iter().all(|n| n.what.is_alarm());
            let title = wording::digest_title(self.texts.language, out.notifications.len(), all);
            (title, self.texts.message(out))
        } else if zh {
            (render("【{what}】{panel}"), render("账号 {account}"))
        } else {
            (render("[{what}] {panel}"), render("Account {account}"))
        };
        let zone = if zh {
            render("防区{zone}")
        } else {
            render("zone {zone}")
        };
        vec![
            ("first".into(), first),
            ("keyword1".into(), render("{event}")),
            ("keyword2".into(), zone),
            ("keyword3".into(), render("{time}")),
            ("remark".into(), remark),
        ]
    }

    async fn post(&self, token: &Secret, body: &Value) -> Result<(Reply, Url), Outcome> {
        let mut url = self.url("/cgi-bin/message/template/send")?;
        url.query_pairs_mut()
            .append_pair("access_token", token.expose());
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        let reply = http::post_json(&self.client, &url, bytes, &[]).await?;
        Ok((reply, url))
    }

    pub(super) async fn send(&self, out: &Outgoing) -> Outcome {
        let Some(recipient) = out.recipient.as_deref() else {
            return Outcome::Failed {
                reason: "a WeChat message needs a recipient openid".into(),
            };
        };
        let body = self.payload(out, recipient);
        let mut token = match self.token(out.now_ms, None).await {
            Ok(t) => t,
            Err(o) => return o,
        };
        for attempt in 0..2 {
            let (reply, url) = match self.post(&token, &body).await {
                Ok(r) => r,
                Err(o) => return o,
            };
            let code = reply.code("errcode");
            if attempt == 0 && code.is_some_and(|c| STALE_TOKEN.contains(&c)) {
                token = match self.token(out.now_ms, Some(&token)).await {
                    Ok(t) => t,
                    Err(o) => return o,
                };
                continue;
            }
            return send_outcome(&reply, &url, code);
        }
        Outcome::Retry {
            reason: "WeChat refused a freshly fetched access token".into(),
            after: None,
        }
    }
}

fn send_outcome(reply: &Reply, url: &Url, code: Option<i64>) -> Outcome {
    let msg = reply.text("errmsg");
    if code == Some(RECIPIENT_LIMIT) {
        return Outcome::RateLimited {
            reason: format!("WeChat error {RECIPIENT_LIMIT}: {msg}"),
            after: Some(Duration::from_secs(60)),
            whole_channel: false,
        };
    }
    // The URL carries the token: reasons name the host only (robot_outcome does).
    http::robot_outcome("WeChat", reply, url, code, &msg, SEND_CODES)
}

fn token_error(reply: &Reply, url: &Url) -> Outcome {
    let code = reply.code("errcode");
    let msg = reply.text("errmsg");
    match http::robot_outcome("WeChat token", reply, url, code, &msg, TOKEN_CODES) {
        // No code in the table means "not a token": retry, never "delivered".
        Outcome::Delivered => Outcome::Retry {
            reason: "WeChat token endpoint answered without a token".into(),
            after: None,
        },
        other => other,
    }
}
