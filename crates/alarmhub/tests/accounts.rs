//! Panel accounts at runtime against the real binary: `alarmhub account …` changes a live
//! daemon without a restart — a new key takes effect on the panel's next frame on the same
//! connection, a removed account follows the unknown-account policy, an added one is
//! received — secrets are never printed or audited, and runtime accounts survive a restart.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Output;
use std::time::Duration;

use common::frames::{bytes, cid_frame, Panel};
use common::Daemon;
use panel_proto::build::{contact_id, encode_encrypted, panel_frame};
use panel_proto::crypto::{Key, KeyFormat};
use panel_proto::timestamp::Timestamp;
use panel_proto::{Data, Id};

const S: Duration = Duration::from_secs(5);
const KEY1: &str = "000102030405060708090A0B0C0D0E0F";
const KEY2: &str = "F0E0D0C0B0A090807060504030201000";

fn key(text: &str) -> Key {
    Key::parse(text, KeyFormat::Hex).unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An encrypted ADM-CID frame from 12345A.
fn encrypted(k: &Key, seq: u16) -> Vec<u8> {
    let f = panel_frame(
        Id::AdmCid,
        seq,
        Some("579BDF"),
        Some("789ABC"),
        "12345A",
        Data::ContactId(contact_id(Some("12345A"), 1130, 1, 15)),
        Some(Timestamp::from_unix(now())),
    );
    let mut out = Vec::new();
    encode_encrypted(&f, k, &[b'x'; 16], &mut out).unwrap();
    out
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Whether the panel's frame gets an answer within `within`.
fn answered(p: &mut Panel, frame: &[u8], within: Duration) -> bool {
    p.send(frame);
    p.recv(within).is_some()
}

#[test]
fn account_changes_reach_a_live_daemon_on_the_next_frame_and_never_print_a_secret() {
    let mut d = Daemon::start(
        "unknown_accounts = \"drop\"",
        &format!("[[accounts]]\naccount = \"12345A\"\nkey = \"{KEY1}\"\n"),
    );
    let mut p = d.connect();
    assert!(
        answered(&mut p, &encrypted(&key(KEY1), 1), S),
        "seeded from [[accounts]]"
    );

    // A new key: the next frame on the same connection must use it.
    let set = d.cli(&[
        "account", "set", "12345A", "--key", KEY2, "--name", "Shop 12",
    ]);
    assert!(set.status.success(), "{set:?}");
    let out = text(&set);
    assert!(
        out.contains("key=set") && out.contains("name=Shop 12"),
        "{out}"
    );
    assert!(!out.contains(KEY2) && !out.contains(KEY1), "{out}");
    assert!(
        !answered(
            &mut p,
            &encrypted(&key(KEY1), 2),
            Duration::from_millis(500)
        ),
        "the old key is refused at once"
    );
    assert!(answered(&mut p, &encrypted(&key(KEY2), 3), S));

    // An account added at runtime is received (it was dropped as unknown before).
    let plain = |seq| {
        bytes(&cid_frame(
            Id::AdmCid,
            seq,
            "7777",
            Some("7777"),
            1130,
            1,
            1,
            None,
        ))
    };
    let mut q = d.connect();
    assert!(!answered(&mut q, &plain(1), Duration::from_millis(500)));
    let add = d.cli(&[
        "account",
        "add",
        "7777",
        "--password",
        "123456",
        "--connection",
        "on_demand",
    ]);
    assert!(add.status.success(), "{add:?}");
    assert!(!text(&add).contains("123456"), "{}", text(&add));
    let mut q = d.connect();
    assert!(answered(&mut q, &plain(2), S));
    let again = d.cli(&["account", "add", "7777"]);
    assert_eq!(again.status.code(), Some(1), "{again:?}");
    assert!(text(&again).contains("exists"), "{}", text(&again));
    let bad = d.cli(&["account", "set", "7777", "--supervision-secs", "1"]);
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
    assert!(text(&bad).contains("supervision_secs"), "{}", text(&bad));

    // list / show: settings, never secrets.
    let list = d.cli(&["account", "list"]);
    let out = text(&list);
    assert!(list.status.success(), "{out}");
    assert!(out.contains("12345A") && out.contains("7777 "), "{out}");
    assert!(!out.contains(KEY2) && !out.contains("123456"), "{out}");
    let show = d.cli(&["account", "show", "7777", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(
        (v["has_password"].as_bool(), v["connection"].as_str()),
        (Some(true), Some("on_demand"))
    );

    // Removed: the panel now follows the unknown-account policy (drop: silence).
    let rm = d.cli(&["account", "remove", "12345A"]);
    assert!(rm.status.success(), "{rm:?}");
    assert!(!answered(
        &mut p,
        &encrypted(&key(KEY2), 4),
        Duration::from_millis(500)
    ));
    assert_eq!(d.cli(&["account", "show", "12345A"]).status.code(), Some(1));

    // Every change is in the audit trail, without a secret.
    let dir = d.data_dir();
    let audit = std::process::Command::new(env!("CARGO_BIN_EXE_alarmhub"))
        .args(["audit", "--json", "--data-dir", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let out = text(&audit);
    assert!(
        out.contains("PutAccount") && out.contains("RemoveAccount"),
        "{out}"
    );
    assert!(!out.contains(KEY2) && !out.contains("123456"), "{out}");

    // Runtime accounts are kept in the store across a restart.
    d.restart();
    let mut q = d.connect();
    assert!(answered(&mut q, &plain(3), S), "7777 survives a restart");
}

#[cfg(unix)]
#[test]
fn sighup_reloads_accounts_from_the_file_and_refuses_an_invalid_file() {
    let d = Daemon::start(
        "unknown_accounts = \"drop\"",
        &format!("[[accounts]]\naccount = \"12345A\"\nkey = \"{KEY1}\"\n"),
    );
    let mut p = d.connect();
    assert!(answered(&mut p, &encrypted(&key(KEY1), 1), S));
    let file = d.dir.join("alarmhub.toml");
    let text = std::fs::read_to_string(&file).unwrap();

    // A new key, a new account and a changed [control] section.
    let edited = text.replace(KEY1, KEY2)
        + "[[accounts]]\naccount = \"7777\"\n[control]\ntimeout_secs = 3\n";
    std::fs::write(&file, &edited).unwrap();
    common::unsafe_free_sighup(d.child.id());
    let applied = d.wait_log("settings applied", S).expect("logged");
    assert!(applied.contains("control.timeout_secs"), "{applied}");
    let line = d.wait_log("configuration reloaded", S).expect("reloaded");
    assert!(line.contains("12345A") && line.contains("7777"), "{line}");
    assert!(!line.contains(KEY2), "{line}");
    assert!(
        answered(&mut p, &encrypted(&key(KEY2), 2), S),
        "same connection, new key"
    );
    let plain = bytes(&cid_frame(
        Id::AdmCid,
        1,
        "7777",
        Some("7777"),
        1130,
        1,
        1,
        None,
    ));
    assert!(answered(&mut d.connect(), &plain, S));

    // An invalid file is refused; the accounts in force stay.
    std::fs::write(
        &file,
        edited.replace("timeout_secs = 3", "timeout_secs = \"soon\""),
    )
    .unwrap();
    common::unsafe_free_sighup(d.child.id());
    let line = d
        .wait_log("configuration not reloaded", S)
        .expect("refused");
    assert!(line.contains("timeout_secs"), "{line}");
    assert!(answered(&mut p, &encrypted(&key(KEY2), 3), S));

    // An entry removed from the file is removed.
    std::fs::write(&file, text.replace(KEY1, KEY2)).unwrap();
    common::unsafe_free_sighup(d.child.id());
    let line = d.wait_log("configuration reloaded", S).expect("reloaded");
    assert!(line.contains("7777"), "{line}");
    assert!(!answered(
        &mut d.connect(),
        &plain,
        Duration::from_millis(500)
    ));
}

#[test]
fn a_flagged_unknown_panel_is_shown_as_unknown_and_adopted_with_one_command() {
    let d = Daemon::start("unknown_accounts = \"flag\"", "");
    let plain = bytes(&cid_frame(
        Id::AdmCid,
        1,
        "5555",
        Some("5555"),
        1130,
        1,
        1,
        None,
    ));
    assert!(answered(&mut d.connect(), &plain, S));
    let m = d.cli(&["machines"]);
    let out = text(&m);
    assert!(
        out.lines().next().unwrap().starts_with("ACCOUNT"),
        "header row: {out}"
    );
    assert!(
        out.contains("5555") && out.contains("[unknown account"),
        "{out}"
    );
    let not_unknown = d.cli(&["account", "adopt", "6666"]);
    assert_eq!(not_unknown.status.code(), Some(1), "{not_unknown:?}");
    let adopt = d.cli(&["account", "adopt", "5555", "--name", "New shop"]);
    assert!(adopt.status.success(), "{adopt:?}");
    let out = text(&d.cli(&["machines"]));
    assert!(
        out.contains("5555") && !out.contains("[unknown account"),
        "{out}"
    );
    assert!(text(&d.cli(&["account", "show", "5555"])).contains("name=New shop"));
    assert_eq!(
        d.cli(&["account", "adopt", "5555"]).status.code(),
        Some(1),
        "once"
    );
}
