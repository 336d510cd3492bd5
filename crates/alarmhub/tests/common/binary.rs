//! The real `alarmhub` binary: [`Daemon`] writes a loopback configuration (every port 0) into
//! a directory, starts `alarmhub serve --log-format json`, waits (bounded) for its "alarmhub
//! ready" line and takes the bound addresses from it, and keeps reading its log. It stops with
//! SIGTERM, dies with SIGKILL, and starts again in the same data directory (what the crash
//! test needs). Also: the CLI pointed at a daemon, a minimal HTTP/1.1 client, signals by pid.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{BlockingHost, Panel, Setup};

/// Longest wait for "alarmhub ready" after a start.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Log lines kept for failure messages.
const TAIL_LINES: usize = 100;

/// A running daemon; killed (SIGKILL) when dropped, so a failing test leaves nothing behind.
pub struct Daemon {
    pub child: Child,
    pub panel: SocketAddr,
    pub http: SocketAddr,
    pub grpc: SocketAddr,
    /// The directory holding `alarmhub.toml` and the store (`data/`).
    pub dir: PathBuf,
    /// Log lines (JSON) after "alarmhub ready", in order; [`Daemon::wait_log`] and
    /// [`Daemon::drain_log`] read them.
    pub log: mpsc::Receiver<String>,
    env: Vec<(String, String)>,
    /// While set, the log reader stops reading: standard error becomes a pipe nobody reads.
    log_paused: Arc<std::sync::atomic::AtomicBool>,
    tail: Arc<Mutex<VecDeque<String>>>,
    reader: Option<JoinHandle<()>>,
    _tmp: Option<tempfile::TempDir>,
}

impl Daemon {
    /// Start with `extra` TOML appended to a loopback config (sections other than
    /// [panel]/[http]/[store] may be given whole; for [panel] keys use `panel_extra`).
    pub fn start(panel_extra: &str, extra: &str) -> Daemon {
        Daemon::with(&Setup::new().panel(panel_extra).extra(extra))
    }

    /// Start with `setup` in a temporary directory of its own.
    pub fn with(setup: &Setup) -> Daemon {
        let tmp = tempfile::tempdir().unwrap();
        let mut d = Daemon::launch(tmp.path(), setup, &[]);
        d._tmp = Some(tmp);
        d
    }

    /// Start in `dir` (config `dir/alarmhub.toml`, store `dir/data`) with extra environment.
    pub fn start_in(dir: &Path, panel_extra: &str, extra: &str, env: &[(&str, &str)]) -> Daemon {
        Daemon::launch(dir, &Setup::new().panel(panel_extra).extra(extra), env)
    }

    /// Start in `dir` with the test hooks on (`ALARMHUB_TEST_HOOKS=1`: `stall_writer`).
    pub fn with_hooks(dir: &Path, panel_extra: &str) -> Daemon {
        Daemon::start_in(dir, panel_extra, "", &[("ALARMHUB_TEST_HOOKS", "1")])
    }

    /// Write `setup` as `dir/alarmhub.toml` (store in `dir/data`) and start on it.
    pub fn launch(dir: &Path, setup: &Setup, env: &[(&str, &str)]) -> Daemon {
        std::fs::write(dir.join("alarmhub.toml"), setup.toml(&dir.join("data"))).unwrap();
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Daemon::spawn(dir, env)
    }

    // The child moves into `Daemon`, whose Drop kills and waits for it.
    #[allow(clippy::zombie_processes)]
    fn spawn(dir: &Path, env: Vec<(String, String)>) -> Daemon {
        // `ALARMHUB_TEST_ULIMIT_N`: start under `ulimit -n` of that value (a shell in between;
        // the workspace forbids the `unsafe` a pre-exec hook would need).
        let ulimit = env
            .iter()
            .find(|(k, _)| k == "ALARMHUB_TEST_ULIMIT_N")
            .map(|(_, v)| v.clone());
        let mut cmd = match &ulimit {
            Some(n) => {
                let mut c = Command::new("sh");
                c.args(["-c", &format!("ulimit {n} && exec \"$0\" \"$@\"")])
                    .arg(env!("CARGO_BIN_EXE_alarmhub"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_alarmhub")),
        };
        cmd.args(["serve", "--config"])
            .arg(dir.join("alarmhub.toml"))
            .args(["--log-format", "json"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start alarmhub");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let log_paused = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Keep draining stderr until the process is gone, so logging never blocks it.
        let reader = {
            let tail = Arc::clone(&tail);
            let paused = Arc::clone(&log_paused);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    while paused.load(std::sync::atomic::Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    {
                        let mut t = tail.lock().unwrap();
                        if t.len() == TAIL_LINES {
                            t.pop_front();
                        }
                        t.push_back(line.clone());
                    }
                    // The receiver may be gone (the Daemon was dropped): keep draining.
                    let _ = tx.send(line);
                }
            })
        };
        let mut d = Daemon {
            child,
            panel: "127.0.0.1:1".parse().unwrap(),
            http: "127.0.0.1:1".parse().unwrap(),
            grpc: "127.0.0.1:1".parse().unwrap(),
            dir: dir.to_path_buf(),
            log: rx,
            env,
            log_paused,
            tail,
            reader: Some(reader),
            _tmp: None,
        };
        d.wait_ready();
        d
    }

    /// Read log lines until "alarmhub ready"; take the bound addresses from it.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = self.log.recv_timeout(left) else {
                let status = self.child.try_wait();
                panic!(
                    "alarmhub did not report ready within {READY_TIMEOUT:?} (status {status:?}); log:\n{}",
                    self.log_tail()
                );
            };
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if log_message(&v) == Some("alarmhub ready") {
                let addr = |k: &str| -> SocketAddr {
                    let a = log_field(&v, k).and_then(|a| a.as_str());
                    a.and_then(|a| a.parse().ok())
                        .unwrap_or_else(|| panic!("no {k} address in {line}"))
                };
                (self.panel, self.http, self.grpc) = (addr("panel"), addr("http"), addr("grpc"));
                return;
            }
        }
    }

    /// Start again on the same configuration and data directory (after [`Daemon::kill_9`] or
    /// [`Daemon::stop`]; a daemon still running is killed first). The addresses change; log
    /// lines of the previous run not drained yet are dropped.
    pub fn restart(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill_9();
        }
        let next = Daemon::spawn(&self.dir, std::mem::take(&mut self.env));
        let tmp = self._tmp.take();
        let _ = std::mem::replace(self, next);
        self._tmp = tmp;
    }

    /// Stop (`true`) or resume reading the daemon's standard error: while stopped it is a
    /// pipe nobody reads, as under a stuck supervisor.
    pub fn pause_log(&self, paused: bool) {
        self.log_paused
            .store(paused, std::sync::atomic::Ordering::Relaxed);
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

    /// The last log lines (for failure messages; reading them consumes nothing).
    pub fn log_tail(&self) -> String {
        let t = self.tail.lock().unwrap();
        t.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    pub fn connect(&self) -> Panel {
        Panel::connect(self.panel)
    }

    /// The scripted Hengbo host, connected to the panel port.
    pub fn host(&self) -> BlockingHost {
        BlockingHost::connect(self.panel)
    }

    /// `alarmhub ARGS…` to completion, `ALARMHUB_GRPC` naming this daemon.
    pub fn cli(&self, args: &[&str]) -> Output {
        // Through the environment: the offline commands (`token`, `user`, `audit`,
        // `notify log` …) refuse a `--grpc` flag, and a flag in `args` still wins.
        Command::new(env!("CARGO_BIN_EXE_alarmhub"))
            .args(args)
            .env("ALARMHUB_GRPC", self.grpc.to_string())
            .output()
            .unwrap()
    }

    /// SIGTERM and wait; returns the exit status code.
    pub fn stop(&mut self) -> Option<i32> {
        self.terminate(Duration::from_secs(15))
            .and_then(|s| s.code())
    }

    /// SIGTERM, and wait up to `limit` for the exit (SIGKILL after that: `None`).
    pub fn terminate(&mut self, limit: Duration) -> Option<ExitStatus> {
        unsafe_free_sigterm(self.child.id());
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if let Some(s) = self.child.try_wait().unwrap() {
                self.join_reader();
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill_9();
        None
    }

    /// SIGKILL and reap; every log line it wrote is readable afterwards.
    pub fn kill_9(&mut self) {
        self.child.kill().expect("SIGKILL alarmhub");
        let status = self.child.wait().expect("reap alarmhub");
        assert!(!status.success(), "a SIGKILLed daemon cannot exit 0");
        self.join_reader();
    }

    fn join_reader(&mut self) {
        self.pause_log(false);
        if let Some(r) = self.reader.take() {
            // The pipe closes when the process is gone; bounded anyway.
            let until = Instant::now() + Duration::from_secs(5);
            while !r.is_finished() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(10));
            }
            if r.is_finished() {
                r.join().unwrap();
            }
        }
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

    /// Stall the store's writer for `secs` (test hook; the daemon runs with
    /// `ALARMHUB_TEST_HOOKS=1`); returns when the stall was accepted.
    pub fn stall_writer(&self, secs: u64) -> Instant {
        let path = format!("/debug/stall-writer?secs={secs}");
        assert_eq!(http(self.http, "POST", &path).0, 202, "stall not accepted");
        Instant::now()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.pause_log(false);
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The `message` of a JSON log line (top level, or under `fields`).
pub fn log_message(v: &serde_json::Value) -> Option<&str> {
    log_field(v, "message").and_then(|m| m.as_str())
}

/// A field of a JSON log line (top level, or under `fields`).
pub fn log_field<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    v.get(key)
        .or_else(|| v.get("fields").and_then(|f| f.get(key)))
}

// The `kill` command rather than libc: the workspace forbids `unsafe`.
pub fn unsafe_free_sigterm(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
}

/// SIGHUP (reload) to `pid`.
pub fn unsafe_free_sighup(pid: u32) {
    let _ = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status();
}

/// Minimal HTTP/1.1 client for the side endpoint.
pub fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    http_with(addr, method, path, &[])
}

/// [`http`] with extra request headers (`authorization` …).
pub fn http_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}Content-Length: 0\r\n\r\n"
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
