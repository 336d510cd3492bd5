//! The Python side of the compatibility tests: an interpreter with grpcio and the stubs of
//! the frozen `alarm_server.proto`, and `tests/python/compat_client.py` run against a daemon
//! like the deployed PHP cron worker polls it. Child processes run to completion within a
//! time limit (killed after it).
//!
//! The interpreter: `ALARMHUB_PYTHON` (with grpcio and grpcio-tools; the stubs are then
//! generated into a temporary directory), otherwise the venv `.ci/python-setup.sh` makes (run
//! every time: idempotent, and without network once the venv has the pinned versions).
//! Without python3 a test is skipped with a loud message, except under CI (`CI` set), where
//! that is a failure.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The repository's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether the tests run under CI (`CI` set to something true).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// A finished child process.
#[derive(Debug)]
pub struct Ran {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn ok(&self) -> bool {
        self.status.success()
    }
}

/// Run `cmd` to completion within `limit` (killed and a panic after it).
pub fn run(mut cmd: Command, limit: Duration) -> Ran {
    let what = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("starting {what}: {e}"));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = (out_t.join().unwrap(), err_t.join().unwrap());
    match status {
        Some(status) => Ran {
            status,
            stdout,
            stderr,
        },
        None => {
            panic!("{what} did not finish within {limit:?}\nstdout:\n{stdout}\nstderr:\n{stderr}")
        }
    }
}

/// An interpreter with grpcio, and the directory holding the compat stubs.
pub struct Python {
    pub python: PathBuf,
    pub stubs: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

/// The interpreter and its stubs, or `None` to skip (no python3, not under CI).
pub fn python() -> Option<Python> {
    if let Some(py) = std::env::var_os("ALARMHUB_PYTHON") {
        let py = PathBuf::from(py);
        let tmp = tempfile::tempdir().unwrap();
        let stubs = tmp.path().join("stubs");
        std::fs::create_dir_all(&stubs).unwrap();
        let mut cmd = Command::new(&py);
        cmd.args(["-m", "grpc_tools.protoc", "-I"])
            .arg(root().join("crates/alarmhub/proto"))
            .arg(format!("--python_out={}", stubs.display()))
            .arg(format!("--grpc_python_out={}", stubs.display()))
            .arg("alarm_server.proto");
        let r = run(cmd, Duration::from_secs(120));
        assert!(
            r.ok(),
            "generating stubs with ALARMHUB_PYTHON={py:?} failed:\n{}",
            r.stderr
        );
        return Some(Python {
            python: py,
            stubs,
            _tmp: Some(tmp),
        });
    }
    let have_python3 = Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have_python3 {
        assert!(
            !in_ci(),
            "python3 is required for the compat client tests under CI"
        );
        // Straight to stderr, past the test harness's output capture.
        let _ = std::io::stderr().write_all(
            b"\n!!! SKIPPED: python3 not found. Install Python 3.10+ (with venv)\n\
              !!! or set ALARMHUB_PYTHON. Under CI (CI set) this is a failure instead.\n\n",
        );
        return None;
    }
    let mut cmd = Command::new("bash");
    cmd.arg(root().join(".ci/python-setup.sh"));
    // pip has its own 900 s bound inside the script.
    let r = run(cmd, Duration::from_secs(1200));
    assert!(r.ok(), ".ci/python-setup.sh failed:\n{}", r.stderr);
    let py = PathBuf::from(r.stdout.lines().last().unwrap_or("").trim());
    assert!(
        py.is_file(),
        "setup printed no interpreter path: {:?}\n{}",
        r.stdout,
        r.stderr
    );
    let stubs = root().join("target/python-stubs");
    assert!(
        stubs.join("alarm_server_pb2.py").is_file(),
        "no stubs in {}",
        stubs.display()
    );
    Some(Python {
        python: py,
        stubs,
        _tmp: None,
    })
}

impl Python {
    /// `compat_client.py --target TARGET --stubs … ARGS…`, bounded to 60 s.
    pub fn compat_client(&self, target: SocketAddr, args: &[&str]) -> Ran {
        let mut cmd = Command::new(&self.python);
        cmd.arg(root().join("crates/alarmhub/tests/python/compat_client.py"))
            .arg("--target")
            .arg(target.to_string())
            .arg("--stubs")
            .arg(&self.stubs)
            .args(args);
        run(cmd, Duration::from_secs(60))
    }
}
