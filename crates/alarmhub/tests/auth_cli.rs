//! Access control from the command line, against the real binary: `token`/`user`/`audit`
//! exit codes, client commands refused with exit 2 and the right wording, a token created
//! or revoked while the daemon runs honoured within 2 s, audit rows for each action (with
//! control events naming the actor), and private file modes.
#![allow(clippy::unwrap_used)]

mod auth_util;
mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use alarmhub::proto::v1 as pb;
use alarmhub::proto::v1::alarm_hub_client::AlarmHubClient;
use auth_util::{alarmhub, bearer, channel, rt, start_with_tokens, token};
use common::Daemon;

fn client(d: &Daemon, token: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alarmhub"));
    cmd.args(args).args(["--grpc", &d.grpc.to_string()]);
    cmd.env_remove("ALARMHUB_TOKEN");
    if let Some(t) = token {
        cmd.env("ALARMHUB_TOKEN", t);
    }
    cmd.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn audit_rows(data: &std::path::Path, args: &[&str]) -> Vec<serde_json::Value> {
    let dir = data.to_str().unwrap();
    let mut a = vec!["audit", "--json", "--data-dir", dir];
    a.extend_from_slice(args);
    let out = alarmhub(&a);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn refused_client_commands_exit_2_and_say_why() {
    let (d, t, _tmp) = start_with_tokens(
        "[auth]\nrequired = true\n[control]\ntimeout_secs = 1\nretries = 0\n",
        &[("view", "viewer"), ("ops", "operator")],
    );
    let out = client(&d, None, &["machines"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(text(&out).contains("unauthenticated"), "{}", text(&out));
    assert!(text(&out).contains("--token"), "{}", text(&out));
    let out = client(&d, Some("ahk_nope"), &["machines"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !text(&out).contains("ahk_nope"),
        "secrets are not echoed: {}",
        text(&out)
    );
    let out = client(&d, Some(&t[0]), &["arm", "NOPANEL"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(text(&out).contains("permission denied"), "{}", text(&out));
    // Allowed: the command runs (the panel is offline: exit 1).
    let out = client(&d, Some(&t[1]), &["arm", "NOPANEL"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let out = client(&d, Some(&t[0]), &["machines"]);
    assert!(out.status.success(), "{out:?}");
    // --token works like the variable.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alarmhub"));
    let out = cmd
        .args(["machines", "--grpc", &d.grpc.to_string(), "--token", &t[0]])
        .env_remove("ALARMHUB_TOKEN")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn token_commands_exit_codes_and_list_never_shows_the_token() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let dir = data.to_str().unwrap();
    let t = token(&data, "app", "integration");
    let out = alarmhub(&[
        "token",
        "create",
        "--name",
        "app",
        "--role",
        "viewer",
        "--data-dir",
        dir,
    ]);
    assert_eq!(out.status.code(), Some(1), "a taken name: {out:?}");
    let out = alarmhub(&[
        "token",
        "create",
        "--name",
        "x",
        "--role",
        "root",
        "--data-dir",
        dir,
    ]);
    assert_eq!(out.status.code(), Some(2), "an unknown role: {out:?}");
    let out = alarmhub(&["token", "list", "--data-dir", dir]);
    assert!(out.status.success());
    let listed = text(&out);
    assert!(
        listed.contains("app") && listed.contains("integration") && listed.contains("never"),
        "{listed}"
    );
    assert!(
        !listed.contains(&t) && !listed.contains(&t[4..20]),
        "{listed}"
    );
    assert!(alarmhub(&["token", "revoke", "app", "--data-dir", dir])
        .status
        .success());
    assert_eq!(
        alarmhub(&["token", "revoke", "app", "--data-dir", dir])
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn user_commands_add_change_list_and_remove() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let dir = dir.to_str().unwrap();
    let with_stdin = |args: &[&str], input: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_alarmhub"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        c.wait_with_output().unwrap()
    };
    let add = [
        "user",
        "add",
        "alice",
        "--role",
        "operator",
        "--password-stdin",
        "--data-dir",
        dir,
    ];
    let out = with_stdin(&add, "a long password 1\n");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        with_stdin(&add, "a long password 1\n").status.code(),
        Some(1),
        "taken"
    );
    let short = [
        "user",
        "add",
        "bob",
        "--role",
        "viewer",
        "--password-stdin",
        "--data-dir",
        dir,
    ];
    let out = with_stdin(&short, "short\n");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(text(&out).contains("at least"), "{}", text(&out));
    let passwd = [
        "user",
        "passwd",
        "alice",
        "--password-stdin",
        "--data-dir",
        dir,
    ];
    assert!(with_stdin(&passwd, "another long one\n").status.success());
    let list = text(&alarmhub(&["user", "list", "--json", "--data-dir", dir]));
    let v: serde_json::Value = serde_json::from_str(list.lines().next().unwrap()).unwrap();
    assert_eq!(
        (v["name"].as_str(), v["role"].as_str()),
        (Some("alice"), Some("operator"))
    );
    assert!(!list.contains("argon2") && !list.contains("long"), "{list}");
    assert!(alarmhub(&["user", "remove", "alice", "--data-dir", dir])
        .status
        .success());
    assert_eq!(
        alarmhub(&["user", "remove", "alice", "--data-dir", dir])
            .status
            .code(),
        Some(1)
    );
    let rows = audit_rows(&tmp.path().join("data"), &[]);
    let actions: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["user.remove", "user.passwd", "user.add"],
        "{rows:#?}"
    );
}

/// Polls ListMachines with `t` until it answers `want` (bounded).
fn wait_for(d: &Daemon, t: &str, want: tonic::Code) -> Duration {
    let t0 = Instant::now();
    rt().block_on(async {
        loop {
            // Each probe from its own address: the limiter must not decide the answer.
            let from = Some(std::net::IpAddr::from([
                127,
                0,
                1,
                (t0.elapsed().as_millis() / 50 % 250) as u8 + 1,
            ]));
            let mut c = AlarmHubClient::new(channel(d.grpc, from, bearer(t)).await);
            let got = c
                .list_machines(pb::ListMachinesRequest::default())
                .await
                .err()
                .map_or(tonic::Code::Ok, |s| s.code());
            if got == want {
                return t0.elapsed();
            }
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "still {got:?} after 5 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

#[test]
fn a_running_daemon_honours_new_and_revoked_tokens_within_two_seconds() {
    let d = Daemon::start("", "[auth]\nrequired = true\n");
    let t = token(&d.data_dir(), "late", "viewer");
    let took = wait_for(&d, &t, tonic::Code::Ok);
    assert!(
        took < Duration::from_secs(2),
        "new token honoured after {took:?}"
    );
    let dir = d.data_dir();
    assert!(alarmhub(&[
        "token",
        "revoke",
        "late",
        "--data-dir",
        dir.to_str().unwrap()
    ])
    .status
    .success());
    let took = wait_for(&d, &t, tonic::Code::Unauthenticated);
    assert!(
        took < Duration::from_secs(2),
        "revocation honoured after {took:?}"
    );
    // "last used" reaches the store in batches (every 10 s at most).
    let t2 = token(&dir, "busy", "viewer");
    wait_for(&d, &t2, tonic::Code::Ok);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let list = text(&alarmhub(&[
            "token",
            "list",
            "--json",
            "--data-dir",
            dir.to_str().unwrap(),
        ]));
        if list
            .lines()
            .any(|l| l.contains("\"busy\"") && !l.contains("\"last_used_ms\":null"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "last used never written: {list}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn control_commands_refusals_and_credential_changes_leave_audit_rows() {
    let (d, t, _tmp) = start_with_tokens(
        "[auth]\nrequired = true\n",
        &[("ops", "operator"), ("boss", "admin"), ("view", "viewer")],
    );
    let out = client(&d, Some(&t[0]), &["arm", "NOPANEL"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let out = client(
        &d,
        Some(&t[2]),
        &["disarm", "NOPANEL", "--password", "123456"],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = client(&d, None, &["events", "NOPANEL"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    // The control event names the actor.
    let out = client(&d, Some(&t[2]), &["events", "NOPANEL", "--json"]);
    let ev: serde_json::Value = serde_json::from_str(text(&out).lines().next().unwrap()).unwrap();
    assert!(
        ev["peer"]
            .as_str()
            .unwrap()
            .starts_with("token:ops grpc:127.0.0.1:"),
        "{ev}"
    );

    let want = |rows: &[serde_json::Value], action: &str, who: &str, outcome: &str| {
        rows.iter()
            .find(|r| r["action"] == action && r["who"] == who && r["outcome"] == outcome)
            .cloned()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let rows = loop {
        let rows = audit_rows(&d.data_dir(), &[]);
        if rows.len() >= 5 || Instant::now() > deadline {
            break rows;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let control = want(
        &rows,
        "/alarmhub.v1.AlarmHub/Control",
        "ops",
        "panel_offline",
    )
    .expect("control row");
    assert_eq!(
        (control["role"].as_str(), control["target"].as_str()),
        (Some("operator"), Some("NOPANEL"))
    );
    assert!(
        control["addr"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{control}"
    );
    assert!(
        control["detail"].as_str().unwrap().contains("arm_away"),
        "{control}"
    );
    let denied = want(
        &rows,
        "/alarmhub.v1.AlarmHub/Control",
        "-",
        "permission_denied",
    )
    .expect("refusal row");
    assert!(
        !denied["detail"].as_str().unwrap().contains("123456"),
        "{denied}"
    );
    want(
        &rows,
        "/alarmhub.v1.AlarmHub/ListEvents",
        "-",
        "unauthenticated",
    )
    .expect("no-token row");
    for name in ["ops", "boss", "view"] {
        let row = rows
            .iter()
            .find(|r| r["action"] == "token.create" && r["target"] == name);
        assert!(row.is_some_and(|r| r["kind"] == "local"), "{rows:#?}");
    }
    // --who and --since filter; ListAudit serves the same rows to admins.
    assert!(audit_rows(&d.data_dir(), &["--who", "ops"])
        .iter()
        .all(|r| r["who"] == "ops"));
    assert!(audit_rows(&d.data_dir(), &["--since", "2999-01-01"]).is_empty());
    rt().block_on(async {
        let mut c = AlarmHubClient::new(channel(d.grpc, None, bearer(&t[1])).await);
        let r = c
            .list_audit(pb::ListAuditRequest {
                who: "ops".into(),
                page_size: 1,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.entries.len(), 1);
        assert_eq!(r.entries[0].outcome, "panel_offline");
        assert!(
            !r.next_page_token.is_empty() || rows.iter().filter(|r| r["who"] == "ops").count() == 1
        );
    });
}

#[cfg(unix)]
#[test]
fn the_data_directory_is_0700_and_database_files_0600() {
    use std::os::unix::fs::PermissionsExt;
    let d = Daemon::start("", "");
    let data = d.data_dir();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    for f in ["alarmhub.db", "alarmhub.db-wal", "alarmhub.db-shm"] {
        let p = data.join(f);
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{f}");
        }
    }
    assert!(data.join("alarmhub.db").exists());
}

#[test]
fn user_role_disable_enable_and_token_expiry_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let dir = data.to_str().unwrap();
    let mut add = Command::new(env!("CARGO_BIN_EXE_alarmhub"))
        .args([
            "user",
            "add",
            "alice",
            "--role",
            "operator",
            "--password-stdin",
        ])
        .args(["--data-dir", dir])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(b"a long password 1\n")
        .unwrap();
    assert!(add.wait_with_output().unwrap().status.success());
    let ok = |args: &[&str]| {
        let out = alarmhub(&[args, &["--data-dir", dir]].concat());
        assert!(out.status.success(), "{args:?}: {}", text(&out));
    };
    ok(&["user", "role", "alice", "--role", "viewer"]);
    ok(&["user", "disable", "alice"]);
    let list = text(&alarmhub(&["user", "list", "--json", "--data-dir", dir]));
    let v: serde_json::Value = serde_json::from_str(list.lines().next().unwrap()).unwrap();
    assert_eq!(
        (v["role"].as_str(), v["disabled"].as_bool()),
        (Some("viewer"), Some(true))
    );
    ok(&["user", "enable", "alice"]);
    let missing = alarmhub(&["user", "disable", "bob", "--data-dir", dir]);
    assert_eq!(missing.status.code(), Some(1), "{}", text(&missing));
    let bad = alarmhub(&[
        "token",
        "create",
        "--name",
        "t",
        "--role",
        "viewer",
        "--expires",
        "soon",
        "--data-dir",
        dir,
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad).contains("--expires"), "{}", text(&bad));
    ok(&[
        "token",
        "create",
        "--name",
        "t",
        "--role",
        "viewer",
        "--expires",
        "12h",
    ]);
    let list = text(&alarmhub(&["token", "list", "--json", "--data-dir", dir]));
    let v: serde_json::Value = serde_json::from_str(list.lines().next().unwrap()).unwrap();
    let left = v["expires_at_ms"].as_i64().unwrap() - alarmhub::clock::now_ms();
    assert!((11 * 3_600_000..=12 * 3_600_000).contains(&left), "{v}");
    let rows = audit_rows(&data, &[]);
    let actions: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "token.create",
            "user.enable",
            "user.disable",
            "user.role",
            "user.add"
        ]
    );
}
