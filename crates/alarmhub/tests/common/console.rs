//! The web console from a test: users added with the real CLI on the daemon's data directory
//! ([`add_user`]), and [`Browser`], a minimal HTTP/1.1 client that keeps the session cookie
//! and the CSRF token the way the console's script does. Every request has a timeout.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// One HTTP answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// Header lines as (lower-case name, value).
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }
}

/// Add a console user with `role` and `password` through `alarmhub user add` on the data
/// directory (the daemon reloads users within a second).
pub fn add_user(data_dir: &Path, name: &str, role: &str, password: &str) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_alarmhub"))
        .args([
            "user",
            "add",
            name,
            "--role",
            role,
            "--password-stdin",
            "--data-dir",
        ])
        .arg(data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success(), "user add {name}: {out:?}");
}

/// Send one request; `headers` are extra header lines.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// A logged-in (or not yet) browser: its session cookie and CSRF token.
#[derive(Debug, Clone)]
pub struct Browser {
    pub addr: SocketAddr,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
}

impl Browser {
    pub fn new(addr: SocketAddr) -> Browser {
        Browser {
            addr,
            cookie: None,
            csrf: None,
        }
    }

    /// Log in; returns the reply (the cookie and token are kept on success).
    pub fn login(&mut self, name: &str, password: &str) -> Reply {
        let body = serde_json::json!({ "name": name, "password": password }).to_string();
        let r = request(
            self.addr,
            "POST",
            "/console/api/login",
            &[("content-type", "application/json")],
            &body,
        );
        if r.status == 200 {
            let set = r.header("set-cookie").expect("set-cookie").to_string();
            self.cookie = set.split(';').next().map(str::to_string);
            self.csrf = r.json()["csrf"].as_str().map(str::to_string);
        }
        r
    }

    fn cookie_header(&self) -> Vec<(&str, &str)> {
        self.cookie
            .as_deref()
            .map(|c| vec![("cookie", c)])
            .unwrap_or_default()
    }

    pub fn get(&self, path: &str) -> Reply {
        request(self.addr, "GET", path, &self.cookie_header(), "")
    }

    /// A POST as the console's script sends it: JSON with the CSRF token.
    pub fn post(&self, path: &str, body: &serde_json::Value) -> Reply {
        let mut h = self.cookie_header();
        h.push(("content-type", "application/json"));
        if let Some(t) = &self.csrf {
            h.push(("x-csrf-token", t));
        }
        request(self.addr, "POST", path, &h, &body.to_string())
    }

    /// A POST with exactly these extra headers besides the cookie (forgeries).
    pub fn post_raw(&self, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        let mut h = self.cookie_header();
        h.extend_from_slice(headers);
        request(self.addr, "POST", path, &h, body)
    }
}

/// One server-sent event.
#[derive(Debug, Clone, Default)]
pub struct SseEvent {
    pub event: String,
    pub id: String,
    pub data: String,
}

/// Open a server-sent event stream (`GET path` with the extra `headers`), read events until
/// one named `until` arrives (or `within` passes), then drop the connection — as a browser
/// whose network dropped. Returns the status and the events (`until` included).
pub fn sse_until(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    until: &str,
    within: Duration,
) -> (u16, Vec<SseEvent>) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: x\r\naccept: text/event-stream\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let deadline = std::time::Instant::now() + within;
    let (mut raw, mut events, mut status) = (Vec::new(), Vec::new(), 0u16);
    let mut buf = [0u8; 8192];
    while std::time::Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
        let text = String::from_utf8_lossy(&raw).to_string();
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        if status != 200 {
            return (status, events);
        }
        events = parse_sse(&dechunk_all(body));
        if events.iter().any(|e| e.event == until) {
            break;
        }
    }
    (status, events)
}

/// The complete chunks of a chunked body (an incomplete last chunk is left out).
fn dechunk_all(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n + 2 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

fn parse_sse(body: &str) -> Vec<SseEvent> {
    let mut out = Vec::new();
    for block in body.split("\n\n").filter(|b| !b.trim().is_empty()) {
        if !body.contains(&format!("{block}\n\n")) {
            continue;
        }
        let mut e = SseEvent::default();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                e.event = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("id:") {
                e.id = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                e.data.push_str(v.trim_start());
            }
        }
        if !e.event.is_empty() {
            out.push(e);
        }
    }
    out
}
