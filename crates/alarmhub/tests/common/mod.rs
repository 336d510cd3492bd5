//! Test helpers: start the real `alarmhub` binary on loopback port 0 and talk raw bytes.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use panel_proto::escape::unescape;
use panel_proto::framing::{Decoded, Decoder, DecoderConfig};
use panel_proto::Frame;

/// A running daemon.
pub struct Daemon {
    pub child: Child,
    pub panel: SocketAddr,
    pub http: SocketAddr,
    pub grpc: SocketAddr,
    pub dir: PathBuf,
    pub log: mpsc::Receiver<String>,
    _tmp: Option<tempfile::TempDir>,
}

impl Daemon {
    /// Start with `extra` TOML appended to a loopback config (sections other than
    /// [panel]/[http]/[store] may be given whole; for [panel] keys use `panel_extra`).
    pub fn start(panel_extra: &str, extra: &str) -> Daemon {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut d = Daemon::start_in(&dir, panel_extra, extra, &[]);
        d._tmp = Some(tmp);
        d
    }

    // The child moves into `Daemon`, whose Drop kills and waits for it.
    #[allow(clippy::zombie_processes)]
    pub fn start_in(dir: &Path, panel_extra: &str, extra: &str, env: &[(&str, &str)]) -> Daemon {
        let cfg = format!(
            "[panel]\nlisten = \"127.0.0.1:0\"\n{panel_extra}\n[http]\nlisten = \"127.0.0.1:0\"\n[grpc]\nlisten = \"127.0.0.1:0\"\n[store]\ndata_dir = \"{}\"\n{extra}\n",
            dir.join("data").display()
        );
        let cfg_path = dir.join("alarmhub.toml");
        std::fs::write(&cfg_path, cfg).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_alarmhub"));
        cmd.args(["serve", "--config"])
            .arg(&cfg_path)
            .args(["--log-format", "json"]);
        cmd.env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .expect("daemon did not report ready within 30 s");
            let v: serde_json::Value = match serde_json::from_str(&line) {
                Ok(v) => v,
                Err(_) => continue,
            };
            if v["message"] == "alarmhub ready" {
                let panel = v["panel"].as_str().unwrap().parse().unwrap();
                let http = v["http"].as_str().unwrap().parse().unwrap();
                let grpc = v["grpc"].as_str().unwrap().parse().unwrap();
                return Daemon {
                    child,
                    panel,
                    http,
                    grpc,
                    dir: dir.to_path_buf(),
                    log: rx,
                    _tmp: None,
                };
            }
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Log lines received so far.
    pub fn drain_log(&self) -> Vec<String> {
        self.log.try_iter().collect()
    }

    /// Wait for a log line containing `needle`.
    pub fn wait_log(&self, needle: &str, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.log.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return Some(l),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }

    pub fn connect(&self) -> Panel {
        Panel::connect(self.panel)
    }

    /// SIGTERM and wait; returns the exit status code.
    pub fn stop(&mut self) -> Option<i32> {
        unsafe_free_sigterm(self.child.id());
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        None
    }

    /// Events in the store.
    pub fn events(&self) -> Vec<alarmhub::events::StoredEvent> {
        let r = alarmhub::store::SqliteReader::open(&self.data_dir()).unwrap();
        r.events_after(0, 1_000_000).unwrap()
    }

    /// HTTP GET on the side endpoint: (status, body).
    pub fn http_get(&self, path: &str) -> (u16, String) {
        http(self.http, "GET", path)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn unsafe_free_sigterm(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
}

/// Minimal HTTP/1.1 client for the side endpoint.
pub fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

/// A scripted panel on a TCP connection.
pub struct Panel {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Panel {
    pub fn connect(addr: SocketAddr) -> Panel {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Panel {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    pub fn send_text(&mut self, text: &str) {
        self.send(&unescape(text).unwrap());
    }

    /// The next reply from the receiver, skipping commands it sends on its own (the 1798
    /// type query to Hengbo hosts); None on timeout/EOF.
    pub fn recv(&mut self, within: Duration) -> Option<Frame> {
        loop {
            let f = self.recv_any(within)?;
            if f.id != panel_proto::Id::HengBo {
                return Some(f);
            }
        }
    }

    /// The next frame from the receiver, or None on timeout/EOF.
    pub fn recv_any(&mut self, within: Duration) -> Option<Frame> {
        self.stream.set_read_timeout(Some(within)).unwrap();
        let dec = Decoder::new(DecoderConfig::default());
        loop {
            match dec.decode(&self.buf) {
                Decoded::Frame { frame, consumed } => {
                    self.buf.drain(..consumed);
                    return Some(frame);
                }
                Decoded::Invalid { consumed, error } => {
                    panic!("receiver sent an invalid frame: {error} ({consumed})")
                }
                Decoded::Incomplete => {}
            }
            let mut tmp = [0u8; 4096];
            match self.stream.read(&mut tmp) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
            }
        }
    }

    /// Raw bytes of the next read (for exact reply checks).
    pub fn recv_raw(&mut self, within: Duration) -> Vec<u8> {
        self.stream.set_read_timeout(Some(within)).unwrap();
        let mut tmp = [0u8; 4096];
        match self.stream.read(&mut tmp) {
            Ok(n) => tmp[..n].to_vec(),
            Err(_) => Vec::new(),
        }
    }

    /// Whether the receiver closed the connection within `within`.
    pub fn closed_within(&mut self, within: Duration) -> bool {
        self.stream.set_read_timeout(Some(within)).unwrap();
        let mut tmp = [0u8; 256];
        matches!(self.stream.read(&mut tmp), Ok(0))
    }
}

/// Wait until `f` holds (polling), bounded.
pub fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    f()
}

/// SIGHUP (reload) to `pid`.
pub fn unsafe_free_sighup(pid: u32) {
    let _ = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status();
}
