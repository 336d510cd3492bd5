//! The commands that read the data directory (`token list`, `user list`, `audit`,
//! `notify log`) print times like the client commands, against the real binary: in the
//! local zone (`TZ`), or UTC with `--utc`; and `audit --since` reads wall-clock times in the
//! zone it prints in.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

use serde_json::Value;

const ACCT: &str = "861234567890";

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

/// Run `args` with `TZ=tz`; stdout, which must not be empty.
fn with_tz(tz: &str, args: &[&str]) -> String {
    let out = bin().args(args).env("TZ", tz).output().unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.trim().is_empty(), "{args:?} printed nothing");
    text
}

#[test]
fn data_directory_commands_print_local_times_unless_utc_is_asked_for() {
    use alarmhub::cli::zone::Zone;
    use alarmhub::notify::{Notification, NotificationId, Outbox, Target, What};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    let made = bin()
        .args([
            "token",
            "create",
            "--name",
            "t1",
            "--role",
            "viewer",
            "--data-dir",
            dir,
        ])
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let mut add = bin()
        .args([
            "user",
            "add",
            "alice",
            "--role",
            "viewer",
            "--password-stdin",
            "--data-dir",
            dir,
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    add.stdin
        .take()
        .unwrap()
        .write_all(b"a long password 1\n")
        .unwrap();
    assert!(add.wait().unwrap().success());
    let queued_ms = 1_795_953_600_000; // 2026-11-29T12:00:00Z
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let outbox = alarmhub::store::outbox::SqliteOutbox::open(tmp.path()).unwrap();
        let id = NotificationId::new("ntf_tz").unwrap();
        let n = Notification::for_event(id, What::PanelOffline, ACCT, 0, None, queued_ms);
        let to = Target {
            channel: "ops".into(),
            recipient: None,
        };
        outbox.enqueue(&n, &[to], queued_ms).await.unwrap();
    });

    let shanghai = Zone::from_tz("Asia/Shanghai").unwrap();
    let created = |args: &[&str], key: &str| -> i64 {
        let mut a = args.to_vec();
        a.extend(["--json", "--data-dir", dir]);
        json_lines(&bin().args(&a).output().unwrap())[0][key]
            .as_i64()
            .unwrap()
    };
    let commands: [(&[&str], i64); 4] = [
        (
            &["token", "list"],
            created(&["token", "list"], "created_at_ms"),
        ),
        (
            &["user", "list"],
            created(&["user", "list"], "created_at_ms"),
        ),
        (
            &["audit", "--limit", "1"],
            created(&["audit", "--limit", "1"], "at_ms"),
        ),
        (&["notify", "log"], queued_ms),
    ];
    for (cmd, at_ms) in commands {
        let mut args = cmd.to_vec();
        args.extend(["--data-dir", dir]);
        let local = with_tz("Asia/Shanghai", &args);
        let want = shanghai.format_ms(at_ms);
        assert!(want.ends_with("+08:00"), "{want}");
        assert!(
            local.lines().next().unwrap().contains(&want),
            "{cmd:?} in Shanghai: want {want}:\n{local}"
        );
        args.push("--utc");
        let utc = with_tz("Asia/Shanghai", &args);
        let want = Zone::utc().format_ms(at_ms);
        assert!(want.ends_with('Z'), "{want}");
        assert!(
            utc.lines().next().unwrap().contains(&want) && !utc.contains("+08:00"),
            "{cmd:?} --utc: want {want}:\n{utc}"
        );
    }
    // `audit --since` reads a wall-clock time in the zone it prints in: a minute before the
    // row in Shanghai time finds it; the same text read as UTC (`--utc`) is 8 h later.
    let row_ms = created(&["audit", "--limit", "1"], "at_ms");
    let wall = shanghai.format_ms(row_ms - 60_000).replace("+08:00", "");
    let since = |utc: bool| {
        let mut args = vec!["audit", "--since", &wall, "--data-dir", dir];
        if utc {
            args.push("--utc");
        }
        let out = bin()
            .args(&args)
            .env("TZ", "Asia/Shanghai")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap().lines().count()
    };
    assert!(since(false) >= 1, "--since {wall} in Shanghai");
    assert_eq!(since(true), 0, "--since {wall} --utc");
    let bad = bin()
        .args(["audit", "--since", "soon", "--data-dir", dir])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("--since \"soon\""),
        "{bad:?}"
    );
}
