//! The one harness every integration test shares, through `mod common;`:
//!
//! * [`binary`]: [`Daemon`], the real `alarmhub` binary started on a loopback configuration
//!   (every port 0) in its own data directory; its JSON log; SIGTERM, SIGKILL and a restart in
//!   the same directory; the CLI pointed at it; a minimal HTTP client.
//! * [`console`]: the web console over HTTP: users added with the CLI, a cookie-keeping
//!   client that sends the CSRF token like the console's script.
//! * [`inprocess`]: [`Hub`], `serve` run in the test's runtime (real sockets, real SQLite),
//!   paused tokio time where a test needs it, and gRPC clients on the daemon's own listener.
//! * [`host`]: [`Host`], the one scripted Hengbo host (reports with seq, reads ACKs, answers
//!   commands with an ACK and then the status a real host reports, 1701 for a wrong
//!   password), and [`BlockingHost`], the same host for tests without a runtime.
//! * [`frames`]: frame builders, [`frames::FrameBuf`] (frames found by their length field),
//!   and [`Panel`], raw bytes over a std TCP stream.
//! * [`api`]: `alarmhub.v1` client helpers — watch, consumer-group members, InvalidArgument
//!   checks.
//! * [`python`]: the Python grpcio client the compatibility tests run, and bounded child
//!   processes.
//!
//! [`Setup`] is the configuration both daemons start from. Everything listens on 127.0.0.1
//! port 0, and every wait is bounded.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod api;
pub mod binary;
pub mod console;
pub mod frames;
pub mod host;
pub mod inprocess;
pub mod python;

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

// Each test file uses a part of these; the rest would warn as unused there.
#[allow(unused_imports)]
pub use binary::{http, unsafe_free_sighup, unsafe_free_sigterm, Daemon};
#[allow(unused_imports)]
pub use frames::Panel;
#[allow(unused_imports)]
pub use host::{BlockingHost, Host};
#[allow(unused_imports)]
pub use inprocess::Hub;

/// The Hengbo host account the scripted host reports as (protocol.md §4's example).
pub const ACCT: &str = "861234567890";

/// Longest a test waits for one step (a reply, a call, a stream message) in real time.
pub const STEP: Duration = Duration::from_secs(5);

/// What a test adds to the loopback configuration: keys of the sections the harness writes
/// itself, and whole sections appended after them. Both [`Daemon`] and [`Hub`] start from it.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// Keys of `[panel]` (after `listen`).
    pub panel: String,
    /// Keys of `[grpc]` (after `listen`).
    pub grpc: String,
    /// Keys of `[store]` (after `data_dir`).
    pub store: String,
    /// Whole sections appended at the end (`[control]`, `[[accounts]]`, `[auth]` …).
    pub extra: String,
}

impl Setup {
    pub fn new() -> Setup {
        Setup::default()
    }

    /// Add keys to `[panel]`.
    pub fn panel(mut self, keys: &str) -> Setup {
        add_lines(&mut self.panel, keys);
        self
    }

    /// Add keys to `[grpc]`.
    pub fn grpc(mut self, keys: &str) -> Setup {
        add_lines(&mut self.grpc, keys);
        self
    }

    /// Add keys to `[store]`.
    pub fn store(mut self, keys: &str) -> Setup {
        add_lines(&mut self.store, keys);
        self
    }

    /// Append whole sections.
    pub fn extra(mut self, toml: &str) -> Setup {
        add_lines(&mut self.extra, toml);
        self
    }

    /// The configuration file's text, with the store in `data_dir` and every listener on
    /// 127.0.0.1 port 0.
    pub fn toml(&self, data_dir: &Path) -> String {
        let data_dir = format!("{:?}", data_dir.display().to_string());
        format!(
            "[panel]\nlisten = \"127.0.0.1:0\"\n{}\n[http]\nlisten = \"127.0.0.1:0\"\n\
             [grpc]\nlisten = \"127.0.0.1:0\"\n{}\n[store]\ndata_dir = {data_dir}\n{}\n{}\n",
            self.panel, self.grpc, self.store, self.extra
        )
    }
}

fn add_lines(to: &mut String, text: &str) {
    if text.trim().is_empty() {
        return;
    }
    to.push_str(text);
    if !text.ends_with('\n') {
        to.push('\n');
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

/// Bound an await by [`STEP`] (tokio time: do not use it under paused time, where an idle
/// runtime jumps the clock to the next timer).
pub async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP, f).await.expect("timed out")
}
