//! The day-two rough edges of the CLI against the real binary and a real daemon: `events`
//! filters (`--since/--until/--code/--zone`), failed commands shown as failed, times in the
//! local zone (`TZ`) or UTC (`--utc`), and client options only where they do something
//! (the data-directory commands' times are in `cli_times.rs`).
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Output};

use common::{Daemon, ACCT};
use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_alarmhub"))
}

fn json_lines(out: &Output) -> Vec<Value> {
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn field(events: &[Value], name: &str) -> Vec<i64> {
    events.iter().map(|e| e[name].as_i64().unwrap()).collect()
}

/// Yesterday's date (UTC) as `YYYY-MM-DD`.
fn yesterday() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    panel_proto::timestamp::Timestamp::from_unix(now - 86_400).to_string()[..10].to_string()
}

#[test]
fn events_filters_by_code_zone_and_time_on_the_daemon() {
    let d = Daemon::start("", "");
    let mut host = d.host();
    host.report(1737, 0);
    host.report(1130, 5);
    host.report(1110, 7);
    host.report(1130, 7);
    let all = json_lines(&d.cli(&["events", ACCT, "--json"]));
    assert_eq!(field(&all, "code"), vec![1130, 1110, 1130, 1737, 1946]);

    let burglary = json_lines(&d.cli(&["events", ACCT, "--code", "1130", "--json"]));
    assert_eq!(field(&burglary, "zone"), vec![7, 5]);
    let zone7 = json_lines(&d.cli(&["events", ACCT, "--zone", "7", "--json"]));
    assert_eq!(field(&zone7, "code"), vec![1130, 1110]);
    // Zone 0 is the host itself, not "every zone"; no account = every panel.
    let host_zone = json_lines(&d.cli(&["events", "--zone", "0", "--json"]));
    assert!(!host_zone.is_empty());
    assert!(
        field(&host_zone, "zone").iter().all(|z| *z == 0),
        "{host_zone:?}"
    );
    let both = json_lines(&d.cli(&["events", "--code", "1130", "--zone", "5", "--json"]));
    assert_eq!(field(&both, "zone"), vec![5]);
    assert_eq!(
        json_lines(&d.cli(&["events", ACCT, "--limit", "2", "--json"])).len(),
        2
    );

    // Time: relative, a local date, an RFC 3339 instant; from inclusive, until exclusive.
    assert_eq!(
        json_lines(&d.cli(&["events", ACCT, "--since", "1h", "--json"])).len(),
        5
    );
    assert!(json_lines(&d.cli(&["events", ACCT, "--until", "1h", "--json"])).is_empty());
    let day = yesterday();
    assert_eq!(
        json_lines(&d.cli(&["events", ACCT, "--since", &day, "--utc", "--json"])).len(),
        5
    );
    let first = all.last().unwrap()["received_at_ms"].as_i64().unwrap();
    let before_first = panel_proto::timestamp::Timestamp::from_unix(first / 1000 - 1);
    let until = format!("{before_first}Z");
    assert!(json_lines(&d.cli(&["events", ACCT, "--until", &until, "--json"])).is_empty());
    assert_eq!(
        json_lines(&d.cli(&["events", ACCT, "--since", &until, "--json"])).len(),
        5
    );
    assert!(json_lines(&d.cli(&["events", "--since", "2099-01-01 00:00", "--json"])).is_empty());

    // Bad values say which option and what is accepted.
    let bad = d.cli(&["events", ACCT, "--since", "yesterday"]);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("--since \"yesterday\"") && err.contains("2h"),
        "{err}"
    );
    let backwards = d.cli(&["events", "--since", "1h", "--until", "2h"]);
    assert_eq!(backwards.status.code(), Some(2), "{backwards:?}");
    assert!(String::from_utf8_lossy(&backwards.stderr).contains("is not after"));
    let zone = d.cli(&["events", "--zone", "1000"]);
    assert_eq!(zone.status.code(), Some(2), "{zone:?}");
}

/// A DC-09 SIA-DCS frame of `account` carrying `block` (`Nri1/BA01`), answered.
fn sia_report(d: &Daemon, seq: u16, account: &str, block: &str) {
    use panel_proto::build::{encode, panel_frame, sia_data};
    let f = panel_frame(
        panel_proto::Id::SiaDcs,
        seq,
        None,
        Some("0"),
        account,
        panel_proto::Data::Sia(sia_data(None, block)),
        None,
    );
    let mut bytes = Vec::new();
    encode(&f, &mut bytes).unwrap();
    let mut p = d.connect();
    p.send(&bytes);
    assert!(
        p.recv(std::time::Duration::from_secs(5)).is_some(),
        "{block} answered"
    );
}

#[test]
fn events_code_takes_sia_letters_for_sia_only_events() {
    let d = Daemon::start("", "");
    sia_report(&d, 1, "5A01", "Nri1/BA01");
    sia_report(&d, 2, "5A01", "Nri1/FA02");
    sia_report(&d, 3, "5A01", "Nri1/BA03");
    let zones = |code: &str| {
        let e = json_lines(&d.cli(&["events", "5A01", "--code", code, "--json"]));
        assert!(
            e.iter().all(|e| e["sia_code"] == code.to_uppercase()),
            "{e:?}"
        );
        field(&e, "zone")
    };
    assert_eq!(zones("BA"), vec![3, 1]);
    assert_eq!(zones("FA"), vec![2]);
    assert_eq!(zones("ba"), vec![3, 1], "letters in either case");
    assert!(zones("YK").is_empty());
    // Every panel: the SIA filter is the daemon's, not this one account's.
    let all = json_lines(&d.cli(&["events", "--code", "FA", "--json"]));
    assert_eq!(field(&all, "zone"), vec![2]);
    // A Contact ID code still matches the Contact ID code only.
    let text = String::from_utf8(d.cli(&["events", "5A01", "--code", "1130"]).stdout).unwrap();
    assert!(text.is_empty(), "{text}");
    for bad in ["B", "BA1", "11300", "0", "x-"] {
        let out = d.cli(&["events", "--code", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--code") && err.contains(&format!("'{bad}'")) && err.contains("SIA"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn a_failed_command_is_shown_as_failed_in_events() {
    let d = Daemon::start("", "[control]\ntimeout_secs = 1\nretries = 0\n");
    let mut host = d.host();
    host.report(1737, 0);
    let grpc = d.grpc.to_string();
    let arm =
        std::thread::spawn(move || bin().args(["arm", ACCT, "--grpc", &grpc]).output().unwrap());
    let cmd = host.recv().unwrap();
    host.answer(&cmd); // ACK, then armed
    assert!(arm.join().unwrap().status.success());
    let grpc = d.grpc.to_string();
    let disarm = std::thread::spawn(move || {
        bin()
            .args(["disarm", ACCT, "--password", "654321", "--grpc", &grpc])
            .output()
            .unwrap()
    });
    let cmd = host.command(1400);
    host.answer(&cmd); // ACK, then 1701 wrong password
    assert_eq!(disarm.join().unwrap().status.code(), Some(1));

    let control: Vec<Value> = json_lines(&d.cli(&["events", ACCT, "--json"]))
        .into_iter()
        .filter(|e| e["source"] == "control")
        .collect();
    assert_eq!(control.len(), 2, "{control:?}");
    assert_eq!(
        (
            control[0]["code"].as_i64(),
            control[0]["outcome"].as_str(),
            control[0]["failed"].as_bool()
        ),
        (Some(1400), Some("wrong_password"), Some(true))
    );
    assert_eq!(
        (
            control[1]["code"].as_i64(),
            control[1]["outcome"].as_str(),
            control[1]["failed"].as_bool()
        ),
        (Some(3400), Some("done"), Some(false))
    );
    let text = String::from_utf8(d.cli(&["events", ACCT, "--code", "1400"]).stdout).unwrap();
    let line = text.lines().find(|l| l.contains("control")).unwrap();
    assert!(line.contains("FAILED (wrong_password)"), "{text}");
    let text = String::from_utf8(d.cli(&["events", ACCT, "--code", "3400"]).stdout).unwrap();
    let line = text.lines().find(|l| l.contains("control")).unwrap();
    assert!(line.contains(" done") && !line.contains("FAILED"), "{text}");
}

#[test]
fn times_are_local_unless_utc_is_asked_for() {
    let d = Daemon::start("", "");
    let mut host = d.host();
    host.report(1130, 5);
    let run = |tz: &str, args: &[&str]| {
        let out = bin()
            .args(args)
            .args(["--grpc", &d.grpc.to_string()])
            .env("TZ", tz)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let shanghai = run("Asia/Shanghai", &["events", ACCT]);
    assert!(
        shanghai.lines().all(|l| l.contains("+08:00 ")),
        "{shanghai}"
    );
    let posix = run("<-03>3", &["events", ACCT]);
    assert!(posix.lines().all(|l| l.contains("-03:00 ")), "{posix}");
    let utc = run("Asia/Shanghai", &["events", ACCT, "--utc"]);
    assert!(
        utc.lines()
            .all(|l| l.contains("Z ") && !l.contains("+08:00")),
        "{utc}"
    );
    let machines = run("Asia/Shanghai", &["machines"]);
    assert!(machines.starts_with("ACCOUNT "), "header row: {machines}");
    assert!(
        machines.lines().nth(1).unwrap().contains("+08:00"),
        "{machines}"
    );
    // The header names the columns the rows fill.
    let header = machines.lines().next().unwrap();
    for column in ["STATE", "TYPE", "STATUS", "SIGNAL", "LAST SEEN", "ALARMS"] {
        assert!(header.contains(column), "{header}");
    }
}

fn help(args: &[&str]) -> String {
    let out = bin().args(args).arg("--help").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn only_client_commands_list_client_options() {
    for cmd in [
        &["serve"][..],
        &["decode"],
        &["config"],
        &["config", "check"],
        &["config", "example"],
        &["store", "backup"],
    ] {
        let h = help(cmd);
        for flag in ["--grpc ", "--json", "--token", "--ca ", "--utc"] {
            assert!(
                !h.contains(flag),
                "`alarmhub {} --help` lists {flag}:\n{h}",
                cmd.join(" ")
            );
        }
    }
    // `simulate --json` is its own (the summary as JSON); the client options are not there.
    let h = help(&["simulate"]);
    for flag in ["--grpc ", "--token", "--ca ", "--utc"] {
        assert!(
            !h.contains(flag),
            "`alarmhub simulate --help` lists {flag}:\n{h}"
        );
    }
    for cmd in [
        &["machines"][..],
        &["events"],
        &["disarm"],
        &["account", "show"],
        &["alarm", "take"],
    ] {
        let h = help(cmd);
        for flag in ["--grpc ", "--json", "--token", "--ca ", "--utc"] {
            assert!(
                h.contains(flag),
                "`alarmhub {} --help` lacks {flag}:\n{h}",
                cmd.join(" ")
            );
        }
    }
    for cmd in [
        &["token", "list"][..],
        &["user", "list"],
        &["audit"],
        &["notify", "log"],
    ] {
        let h = help(cmd);
        assert!(
            h.contains("--json") && h.contains("--utc") && !h.contains("--grpc "),
            "{h}"
        );
    }
    // `--utc` only where times are printed.
    for cmd in [
        &["token", "create"][..],
        &["user", "add"],
        &["notify", "test"],
    ] {
        let h = help(cmd);
        assert!(
            !h.contains("--utc"),
            "`alarmhub {} --help` lists --utc:\n{h}",
            cmd.join(" ")
        );
    }
    // Given where they do nothing, they are refused rather than ignored.
    let out = bin().args(["--json", "serve"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--json"),
        "{out:?}"
    );
    let out = bin()
        .args(["decode", "--grpc", "x", "<LF>x<CR>"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn client_options_work_before_and_after_the_command_and_from_the_environment() {
    let d = Daemon::start("", "");
    let mut host = d.host();
    host.report(1130, 5);
    let grpc = d.grpc.to_string();
    let ok = |mut c: Command| {
        let out = c.output().unwrap();
        let lines = json_lines(&out);
        assert_eq!(lines[0]["account"], ACCT, "{out:?}");
    };
    let mut before = bin();
    before.args(["--grpc", &grpc, "--json", "machines"]);
    ok(before);
    let mut after = bin();
    after.args(["machines", "--grpc", &grpc, "--json"]);
    ok(after);
    let mut env = bin();
    env.args(["machines", "--json"]).env("ALARMHUB_GRPC", &grpc);
    ok(env);
    // After the command wins over the environment and over before it.
    let mut over = bin();
    over.args([
        "--grpc",
        "127.0.0.1:1",
        "machines",
        "--grpc",
        &grpc,
        "--json",
    ])
    .env("ALARMHUB_GRPC", "127.0.0.1:2");
    ok(over);
    let mut nested = bin();
    nested.args(["account", "list", "--json", "--grpc", &grpc]);
    let out = nested.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().to_str().unwrap();
    for args in [
        &["--json", "token", "list", "--data-dir", dir][..],
        &["token", "list", "--json", "--data-dir", dir],
        &["audit", "--json", "--data-dir", dir],
    ] {
        let out = bin().args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
}
