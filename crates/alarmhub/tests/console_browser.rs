//! The web console in a real browser (issue #15): headless Chromium from Debian's packages,
//! driven by playwright-core (`tests/browser/scenario.mjs`), against the real binary and the
//! scripted Hengbo host. The script prints `STEP burglary` / `STEP disarm` when it needs the
//! panel to act; this test makes the host act and answers `ok`.
//!
//! Ignored by a plain `cargo test` (it needs Chromium and node_modules); `.ci/run` runs it
//! once after `.ci/browser-setup.sh`:
//! `cargo test -p alarmhub --test console_browser -- --ignored`. With
//! `ALARMHUB_SCREENSHOTS=DIR` it saves the README's screenshots there.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::console::add_user;
use common::{Daemon, ACCT};
use panel_proto::codes::code;

const PW: &str = "a long password 1";
/// The whole scenario, at most.
const LIMIT: Duration = Duration::from_secs(180);

/// A central station on 127.0.0.1 that ACKs every Sur-Gard message (bytes up to DC4), for
/// the outputs page; it ends with the scenario (at most [`LIMIT`]).
fn central_station() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let start = Instant::now();
        let mut buf = [0u8; 256];
        while start.elapsed() < LIMIT {
            match std::io::Read::read(&mut s, &mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    let acks = vec![0x06; buf[..n].iter().filter(|&&b| b == 0x14).count()];
                    if s.write_all(&acks).is_err() {
                        return;
                    }
                }
                Err(_) => continue,
            }
        }
    });
    addr
}

#[test]
#[ignore = "needs Chromium and playwright-core: run by .ci/run after .ci/browser-setup.sh"]
fn an_operator_handles_a_burglary_alarm_in_a_real_browser() {
    let d = Daemon::start(
        "",
        &format!(
            "[[accounts]]\naccount = \"{ACCT}\"\nname = \"Warehouse 7\"\ncms_account = \"C0DE\"\n\
             [[automation]]\nname = \"cms\"\nkind = \"surgard\"\nmode = \"connect\"\n\
             target = \"{}\"\n",
            central_station()
        ),
    );
    for (name, role) in [
        ("olga", "operator"),
        ("otto", "operator"),
        ("vic", "viewer"),
        ("ada", "admin"),
    ] {
        add_user(&d.data_dir(), name, role, PW);
    }
    std::thread::sleep(Duration::from_millis(1500)); // the daemon reloads users every second
    let mut host = d.host();
    host.report(1737, 0); // a wired host
    host.report(3400, 0); // armed away

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser");
    let mut child = Command::new("node")
        .arg("scenario.mjs")
        .current_dir(&dir)
        .env("BASE_URL", format!("http://{}", d.http))
        .env("ACCOUNT", ACCT)
        .env("PASSWORD", PW)
        .env(
            "SCREENSHOTS",
            std::env::var("ALARMHUB_SCREENSHOTS").unwrap_or_default(),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node (run .ci/browser-setup.sh first)");
    let mut to_script = child.stdin.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let mut passed = false;
    while start.elapsed() < LIMIT {
        let line = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(l) => l,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                host.heartbeat(); // keep the panel online while the browser works
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        println!("browser: {line}");
        match line.as_str() {
            "STEP burglary" => host.report(1130, 3),
            "STEP disarm" => {
                let cmd = host.command(code::DISARM);
                host.answer(&cmd);
            }
            "PASS" => passed = true,
            _ => continue,
        }
        if line.starts_with("STEP") {
            writeln!(to_script, "ok").unwrap();
        }
    }
    let status = child.wait().unwrap();
    assert!(
        passed && status.success(),
        "the browser scenario failed ({status}); log:\n{}",
        d.log_tail()
    );
}
