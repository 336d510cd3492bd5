//! What the HTTP senders share: the client (rustls, timeouts, no redirects), the service
//! address with `api_base` applied, posting JSON, reading a bounded answer, and turning
//! transport errors into outcomes whose reasons never contain a URL (robot URLs carry
//! keys and tokens; reqwest puts the URL into its error texts unless told not to).

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;
use url::Url;

use super::{Outcome, SenderError};

/// Largest answer body read; services answer with a few hundred bytes of JSON.
const MAX_REPLY_BYTES: usize = 64 * 1024;

/// The HTTP client of one channel: its own timeout, redirects refused (a redirected webhook
/// is a misconfiguration to fix, and would carry the signature elsewhere).
pub(crate) fn client(channel: &str, timeout: Duration) -> Result<reqwest::Client, SenderError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("alarmhub/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| SenderError::Client {
            channel: channel.to_string(),
            reason: e.without_url().to_string(),
        })
}

/// `url` with its scheme, host and port replaced by `api_base` (whose path, if any,
/// prefixes `url`'s path). Without `api_base`, `url` itself.
pub(crate) fn endpoint(
    channel: &str,
    field: &'static str,
    url: &str,
    api_base: Option<&str>,
) -> Result<Url, SenderError> {
    let bad = |reason: String| SenderError::Url {
        channel: channel.to_string(),
        field,
        reason,
    };
    let original = Url::parse(url).map_err(|e| bad(e.to_string()))?;
    let Some(base) = api_base else {
        return Ok(original);
    };
    let mut joined = Url::parse(base).map_err(|e| SenderError::Url {
        channel: channel.to_string(),
        field: "api_base",
        reason: e.to_string(),
    })?;
    let path = format!(
        "{}/{}",
        joined.path().trim_end_matches('/'),
        original.path().trim_start_matches('/')
    );
    joined.set_path(&path);
    joined.set_query(original.query());
    Ok(joined)
}

/// The host (and port) of `url`, for messages: never the path or query.
pub(crate) fn host_of(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => "?".to_string(),
    }
}

/// A service's answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON, when it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// An integer field of the JSON body (`errcode`, `code`).
    pub fn code(&self, field: &str) -> Option<i64> {
        self.json()?.get(field)?.as_i64()
    }

    /// A string field of the JSON body (`errmsg`, `msg`), shortened for logs.
    pub fn text(&self, field: &str) -> String {
        let v = self.json();
        let s = v
            .as_ref()
            .and_then(|v| v.get(field))
            .and_then(|v| v.as_str())
            .unwrap_or("");
        s.chars().take(200).collect()
    }

    /// Seconds from a `Retry-After` header (the date form is not used by these services).
    pub fn retry_after(&self) -> Option<Duration> {
        self.header_secs(RETRY_AFTER.as_str())
    }

    /// A header holding whole seconds.
    pub fn header_secs(&self, name: &str) -> Option<Duration> {
        let v = self.headers.get(name)?.to_str().ok()?;
        v.trim().parse::<u64>().ok().map(Duration::from_secs)
    }
}

/// POST a JSON body with extra headers; transport failures come back as an outcome.
pub(crate) async fn post_json(
    client: &reqwest::Client,
    url: &Url,
    body: Vec<u8>,
    headers: &[(HeaderName, String)],
) -> Result<Reply, Outcome> {
    let mut req = client
        .post(url.clone())
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .body(body);
    for (name, value) in headers {
        let v = HeaderValue::from_str(value).map_err(|_| Outcome::Failed {
            reason: format!("header {name} has a value that cannot be sent"),
        })?;
        req = req.header(name, v);
    }
    finish(req.send().await, url).await
}

/// Read the answer of a sent request (bounded), or explain the transport failure.
pub(crate) async fn finish(
    sent: Result<reqwest::Response, reqwest::Error>,
    url: &Url,
) -> Result<Reply, Outcome> {
    let mut resp = sent.map_err(|e| transport(e, url))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| transport(e, url))? {
        let room = MAX_REPLY_BYTES.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if room <= chunk.len() {
            break;
        }
    }
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// A transport failure: always worth retrying; the reason names the host only.
pub(crate) fn transport(e: reqwest::Error, url: &Url) -> Outcome {
    let host = host_of(url);
    let what = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        e.without_url().to_string()
    };
    Outcome::Retry {
        reason: format!("{what} ({host})"),
        after: None,
    }
}

/// The outcome of an HTTP status that the service's JSON did not explain: 2xx is for the
/// caller to read, 429 is a rate limit, anything else is retried.
pub(crate) fn status_outcome(reply: &Reply, url: &Url) -> Outcome {
    let host = host_of(url);
    if reply.status == StatusCode::TOO_MANY_REQUESTS {
        return Outcome::RateLimited {
            reason: format!("HTTP 429 from {host}"),
            after: reply.retry_after(),
            whole_channel: true,
        };
    }
    Outcome::Retry {
        reason: format!("HTTP {} from {host}", reply.status.as_u16()),
        after: reply.retry_after(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn api_base_replaces_the_origin_and_keeps_path_and_query() {
        let u = endpoint(
            "c",
            "url",
            "https://oapi.dingtalk.com/robot/send?access_token=t",
            Some("http://127.0.0.1:9/gw/"),
        )
        .unwrap();
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:9/gw/robot/send?access_token=t"
        );
        let same = endpoint("c", "url", "https://a.example/x?k=1", None).unwrap();
        assert_eq!(same.as_str(), "https://a.example/x?k=1");
        assert_eq!(host_of(&u), "127.0.0.1:9");
    }
}

/// What a service's JSON error code means to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Meaning {
    /// Accepted.
    Ok,
    /// Rate limited; wait this many seconds unless the answer says otherwise.
    RateLimited(u64),
    /// Refused for good; the hint tells the operator what to check.
    Permanent(&'static str),
}

/// Classify a robot service's answer from its JSON code (`errcode`, `code`) first — the
/// services answer HTTP 200 with an error code — then from the HTTP status. Codes not in
/// `table` are retried: an unknown code is more likely a hiccup than a reason to lose an
/// alarm.
pub(crate) fn robot_outcome(
    service: &str,
    reply: &Reply,
    url: &Url,
    code: Option<i64>,
    message: &str,
    table: &[(i64, Meaning)],
) -> Outcome {
    let Some(code) = code else {
        if reply.status.is_success() {
            return Outcome::Retry {
                reason: format!(
                    "{service} answered HTTP {} without an error code",
                    reply.status.as_u16()
                ),
                after: None,
            };
        }
        return status_outcome(reply, url);
    };
    let said = format!("{service} error {code}: {message}");
    match table.iter().find(|(c, _)| *c == code).map(|(_, m)| *m) {
        Some(Meaning::Ok) => Outcome::Delivered,
        Some(Meaning::RateLimited(secs)) => Outcome::RateLimited {
            reason: said,
            after: Some(reply.retry_after().unwrap_or(Duration::from_secs(secs))),
            whole_channel: true,
        },
        Some(Meaning::Permanent(hint)) => Outcome::Failed {
            reason: format!("{said} ({hint})"),
        },
        None if reply.status == StatusCode::TOO_MANY_REQUESTS => status_outcome(reply, url),
        None => Outcome::Retry {
            reason: said,
            after: reply.retry_after(),
        },
    }
}
