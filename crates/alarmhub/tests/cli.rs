//! The CLI client against the real daemon: the scripted Hengbo host reports and answers
//! commands; `alarmhub sync/machines/events/watch/arm/disarm` run as separate processes.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Daemon, ACCT};

#[test]
fn sync_machines_events_and_watch_show_what_the_panel_reported() {
    let d = Daemon::start("", "");
    let mut host = d.host();
    host.report(1737, 0);
    host.report(1400, 0);
    host.report(1130, 5);
    let out = d.cli(&["sync"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with(&format!(
            "{ACCT} online WIRED disarm alarm zone 5 event 1130"
        )),
        "{text}"
    );
    // A peek: the deployed compat client still gets the alarm, so a second sync shows it too.
    let again = String::from_utf8(d.cli(&["sync"]).stdout).unwrap();
    assert_eq!(again, text, "sync does not consume");
    // --consume does what the compat client does, and says so.
    let consumed = d.cli(&["sync", "--consume"]);
    assert!(consumed.status.success(), "{consumed:?}");
    assert_eq!(String::from_utf8_lossy(&consumed.stdout), text);
    assert!(
        String::from_utf8_lossy(&consumed.stderr).contains("will not receive"),
        "{consumed:?}"
    );
    // Delivered once: nothing has changed since.
    let after = String::from_utf8(d.cli(&["sync"]).stdout).unwrap();
    assert!(after.is_empty(), "{after}");
    let one = String::from_utf8(d.cli(&["sync", "--account", ACCT]).stdout).unwrap();
    assert!(one.contains("no alarm"), "{one}");

    let m = d.cli(&["machines", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&m.stdout).unwrap();
    assert_eq!(
        (
            v["account"].as_str(),
            v["type"].as_i64(),
            v["status"].as_i64()
        ),
        (Some(ACCT), Some(6), Some(2))
    );
    assert_eq!(v["active_alarm_zones"], serde_json::json!([5]));

    let ev = String::from_utf8(d.cli(&["events", ACCT, "--json"]).stdout).unwrap();
    let codes: Vec<i64> = ev
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["code"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(codes, vec![1130, 1400, 1737, 1946], "newest first");

    let w = d.cli(&["watch", "--from", "0", "--count", "4", "--json"]);
    assert!(w.status.success());
    assert_eq!(String::from_utf8(w.stdout).unwrap().lines().count(), 4);
}

#[test]
fn arm_exits_zero_only_when_the_host_confirms() {
    let d = Daemon::start("", "[control]\ntimeout_secs = 1\nretries = 0\n");
    let mut host = d.host();
    host.report(1737, 0);
    let grpc = d.grpc.to_string();
    let child = std::thread::spawn(move || {
        Command::new(env!("CARGO_BIN_EXE_alarmhub"))
            .args(["arm", ACCT, "--grpc", &grpc])
            .output()
            .unwrap()
    });
    let cmd = host.recv().unwrap();
    assert_eq!(cmd.contact_id().unwrap().event_code(), 3400);
    host.answer(&cmd); // ACK, then "armed" (3400, zone 99)
    let out = child.join().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("confirmed"));

    // A wrong password: the host answers 1701 and stays armed; exit 1, and it says so.
    let grpc = d.grpc.to_string();
    let child = std::thread::spawn(move || {
        Command::new(env!("CARGO_BIN_EXE_alarmhub"))
            .args(["disarm", ACCT, "--password", "654321", "--grpc", &grpc])
            .output()
            .unwrap()
    });
    let cmd = host.command(1400);
    host.answer(&cmd); // ACK, then 1701
    let out = child.join().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("wrong password")
            && String::from_utf8_lossy(&out.stderr).contains("(wrong_password)"),
        "{out:?}"
    );

    // No ACK this time: exit 1 with a clear message.
    let out = d.cli(&["disarm", ACCT, "--password", "123456"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("did not confirm"),
        "{out:?}"
    );
    // Offline panel and bad arguments.
    let out = d.cli(&["arm", "NOPANEL"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("offline"),
        "{out:?}"
    );
    let out = d.cli(&["disarm", ACCT, "--password", "12x"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn client_commands_say_clearly_when_the_daemon_is_not_running() {
    let out = Command::new(env!("CARGO_BIN_EXE_alarmhub"))
        .args(["machines", "--grpc", "127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is `alarmhub serve` running"),
        "{out:?}"
    );
}

#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let d = Daemon::start("", "");
    let mut host = d.host();
    host.report(1737, 0);
    host.report(1130, 5);
    // `alarmhub watch | head -1`: the reader goes away after one line.
    let mut child = Command::new(env!("CARGO_BIN_EXE_alarmhub"))
        .args(["watch", "--from", "0", "--grpc", &d.grpc.to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    std::io::Read::read_exact(&mut out, &mut first).unwrap();
    drop(out);
    host.report(1110, 7);
    host.report(3110, 7);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "watch did not end after its reader went away"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(status.code(), Some(0), "{err}");
}
