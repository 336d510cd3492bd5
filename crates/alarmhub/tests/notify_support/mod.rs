//! Test helpers for the notification tests: a local HTTP server that plays a service
//! (records every request, answers what the test's handler decides), an HMAC-SHA256
//! written from RFC 2104 on top of SHA-256 (so signatures are checked by code that shares
//! nothing with the sender's), and notification fixtures.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alarmhub::notify::{ChannelConfig, Notification, NotificationId, What};
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use sha2::{Digest, Sha256};

/// One request as the service saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// The raw query string, as sent (still URL-encoded).
    pub raw_query: String,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// A query parameter, decoded.
    pub fn query(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.raw_query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// A query parameter exactly as it was written in the URL.
    pub fn raw_param(&self, name: &str) -> Option<String> {
        self.raw_query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")).map(str::to_string))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// What the service answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(String, String)>,
    pub delay: Duration,
}

impl Reply {
    pub fn new(status: u16, body: &str) -> Reply {
        Reply {
            status,
            body: body.to_string(),
            headers: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    pub fn ok(body: &str) -> Reply {
        Reply::new(200, body)
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn after(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

type Handler = Arc<dyn Fn(&Seen, usize) -> Reply + Send + Sync>;

/// A local service on 127.0.0.1, port chosen by the OS.
pub struct Service {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Service {
    /// Start with a handler given each request and its 0-based number.
    pub async fn start(handler: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Service {
        let handler: Handler = Arc::new(handler);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (h, s) = (handler.clone(), seen.clone());
        let app = axum::Router::new().fallback(move |req: Request| {
            let (h, s) = (h.clone(), s.clone());
            async move { answer(req, h, s).await }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Service { addr, seen, task }
    }

    /// Answer every request with the same reply.
    pub async fn always(reply: Reply) -> Service {
        Service::start(move |_, _| reply.clone()).await
    }

    /// Answer with `replies` in turn, then repeat the last.
    pub async fn script(replies: Vec<Reply>) -> Service {
        Service::start(move |_, n| replies[n.min(replies.len() - 1)].clone()).await
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(req: Request, handler: Handler, seen: Arc<Mutex<Vec<Seen>>>) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap().to_vec();
    let s = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        raw_query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body,
    };
    let n = {
        let mut all = seen.lock().unwrap();
        all.push(s.clone());
        all.len() - 1
    };
    let reply = handler(&s, n);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut b = Response::builder().status(reply.status);
    for (k, v) in &reply.headers {
        b = b.header(k, v);
    }
    b.header("content-type", "application/json")
        .body(Body::from(reply.body))
        .unwrap()
}

/// HMAC-SHA256 from its definition (RFC 2104): H((K ^ opad) || H((K ^ ipad) || m)).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&ipad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize()
        .into()
}

pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn unb64(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

/// The burglary of the example: 商铺12 北门, zone 3, 2026-11-29 12:00:01 +08:00.
pub fn burglary(id: &str) -> Notification {
    let id = NotificationId::new(id).unwrap();
    let mut n = Notification::for_event(id, What::AlarmOpened, "12", 1130, None, 1_795_924_801_000);
    n.alarm_id = Some(1);
    n.utc_offset_secs = 8 * 3600;
    n.panel_name = "商铺12 北门".into();
    n.zone = 3;
    n.priority = 1;
    n
}

pub const BURGLARY_LINE: &str = "【报警】商铺12 北门 防区3 盗警 2026-11-29 12:00:01";

/// A channel from TOML text (one `[[channels]]` body).
pub fn channel(toml_text: &str) -> ChannelConfig {
    toml::from_str(toml_text).unwrap()
}

/// Now, Unix ms, from the wall clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A Standard Webhooks secret of 32 bytes 0..31, and the key it stands for.
pub fn whsec() -> (String, Vec<u8>) {
    let key: Vec<u8> = (0u8..32).collect();
    (format!("whsec_{}", b64(&key)), key)
}
