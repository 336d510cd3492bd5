#![allow(clippy::unwrap_used)]
//! Configuration: built-in defaults, the fixture folders (`tests/config_fixtures/valid` must
//! parse; each file in `invalid` must fail with the text of its `# expect:` first line), the
//! example file, secrets, account lookup and quirks.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use alarmhub::config::{
    AccountConfig, Config, ConfigError, LogFormat, Quirk, Secret, Tz, UnknownAccountPolicy,
};
use panel_proto::crypto::KeyFormat;

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/config_fixtures")
        .join(kind);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn parse(text: &str) -> Config {
    Config::from_toml_str(text, "<string>").unwrap()
}

fn parse_err(text: &str) -> String {
    Config::from_toml_str(text, "<string>")
        .unwrap_err()
        .to_string()
}

#[test]
fn defaults_equal_the_design_document() {
    let c = Config::default();
    assert_eq!(c.panel.listen, addr("0.0.0.0:12345"));
    assert!(c.panel.udp);
    assert_eq!(c.panel.max_connections, 200_000);
    assert_eq!(c.panel.max_connections_per_ip, 10_000);
    assert_eq!(c.panel.first_frame_timeout_secs, 30);
    assert_eq!(c.panel.max_frame_len, 1024);
    assert_eq!(c.panel.rate_limit_per_sec, 50);
    assert_eq!(c.panel.rate_limit_burst, 200);
    assert_eq!(c.panel.unknown_accounts, UnknownAccountPolicy::Accept);
    assert_eq!(c.panel.supervision_secs, 180);
    assert_eq!(c.panel.supervision_grace_secs, 30);
    assert_eq!(c.panel.dedup_window_secs, 300);
    assert_eq!(c.panel.time_window_past_secs, 40);
    assert_eq!(c.panel.time_window_future_secs, 20);
    assert_eq!(c.panel.write_timeout_secs, 10);
    assert_eq!(c.grpc.listen, addr("127.0.0.1:50051"));
    assert!(!c.grpc.serve_passwords);
    assert_eq!(c.grpc.ack_timeout_secs, 30);
    assert_eq!(c.http.listen, addr("127.0.0.1:8080"));
    assert_eq!(c.store.data_dir, PathBuf::from("./alarmhub-data"));
    assert_eq!(c.store.queue, 10_000);
    assert_eq!(c.store.max_batch, 1024);
    assert_eq!(c.store.snapshot_secs, 60);
    assert_eq!(c.control.timeout_secs, 20);
    assert_eq!(c.control.retries, 3);
    assert_eq!(c.log.format, LogFormat::Text);
    assert_eq!(c.log.filter, "info");
    assert!(c.accounts.is_empty());
    c.validate().unwrap();
}

#[test]
fn empty_text_gives_the_defaults() {
    assert_eq!(parse(""), Config::default());
}

#[test]
fn every_valid_fixture_parses() {
    let files = fixtures("valid");
    assert!(files.len() >= 5, "valid fixtures missing: {files:?}");
    for path in files {
        if let Err(e) = Config::load(&path) {
            panic!("{} should parse:\n{e}", path.display());
        }
    }
}

#[test]
fn every_invalid_fixture_fails_with_its_documented_message() {
    let files = fixtures("invalid");
    assert!(files.len() >= 12, "invalid fixtures missing: {files:?}");
    let mut failures = Vec::new();
    for path in files {
        let text = fs::read_to_string(&path).unwrap();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{}: first line must be `# expect: …`", path.display()));
        match Config::load(&path) {
            Ok(_) => failures.push(format!("{}: parsed, expected an error", path.display())),
            Err(e) => {
                let msg = e.to_string();
                let named = msg.starts_with(&format!("config {}: ", path.display()));
                if !msg.contains(expect) || !named {
                    failures.push(format!(
                        "{}:\n  expected (and the file name) {expect:?}\n  got {msg}",
                        path.display()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_full_fixture_reads_every_field() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/config_fixtures/valid/full.toml");
    let c = Config::load(&path).unwrap();
    assert_eq!(c.panel.unknown_accounts, UnknownAccountPolicy::Flag);
    assert_eq!(c.log.format, LogFormat::Json);
    let a = c.account("1234").unwrap();
    assert_eq!(a.name.as_deref(), Some("Warehouse 7"));
    assert_eq!(a.key_format, KeyFormat::Hex);
    assert_eq!(a.supervision_secs, Some(90));
    assert_eq!(a.timezone.offset_secs(), 8 * 3600);
    assert_eq!(a.quirks.len(), 6);
    assert_eq!(a.password.as_ref().unwrap().expose(), "864321");
    assert_eq!(a.time_window_past_secs, Some(120));
    assert_eq!(a.time_window_future_secs, Some(60));
    assert_eq!(a.allowed_networks().len(), 2);
    assert!(a.allow_plaintext);
    assert_eq!(c.panel.udp_max_datagrams_per_sec, 20_000);
    assert_eq!(
        (c.panel.max_accounts_per_connection, c.panel.fd_reserve),
        (4, 100)
    );
    assert_eq!(
        (
            c.grpc.max_streams,
            c.grpc.max_streams_per_source,
            c.grpc.stream_buffer_bytes
        ),
        (50, 20, 131072)
    );
    let p = &c.panel;
    assert_eq!(
        (
            p.max_invalid_per_min,
            p.penalty_secs,
            p.penalty_max_secs,
            p.connect_rate_per_source,
            p.connect_burst_per_source,
            c.grpc.idle_timeout_secs
        ),
        (50, 5, 60, 20, 100, 120)
    );
    assert!(a.parsed_key().unwrap().is_some());
    assert_eq!(
        c.account("861234567890123").unwrap().timezone.to_string(),
        "-05:30"
    );
}

#[test]
fn secrets_are_masked_in_debug_output() {
    let c = parse(
        "[[accounts]]\naccount = \"1234\"\nkey = \"00112233445566778899AABBCCDDEEFF\"\n\
         password = \"87654321\"\n",
    );
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("00112233445566778899AABBCCDDEEFF"),
        "{shown}"
    );
    assert!(!shown.contains("87654321"), "{shown}");
    assert!(shown.contains("****"), "{shown}");
    let secret = Secret::new("hunter2");
    assert_eq!(format!("{secret:?}"), "****");
    assert_eq!(secret.to_string(), "****");
    assert_eq!(secret.expose(), "hunter2");
}

#[test]
fn key_errors_do_not_show_the_key() {
    let msg =
        parse_err("[[accounts]]\naccount = \"1\"\nkey = \"ABCDEF0123456789ABCDEF01234567\"\n");
    assert!(!msg.contains("ABCDEF0123456789"), "{msg}");
}

#[test]
fn example_parses_to_the_defaults() {
    assert_eq!(parse(Config::example()), Config::default());
}

#[test]
fn packaging_example_file_is_config_example() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/alarmhub.example.toml");
    assert_eq!(fs::read_to_string(path).unwrap(), Config::example());
}

#[test]
fn example_account_is_valid_once_uncommented() {
    let example = Config::example();
    let start = example.find("# [[accounts]]").unwrap();
    let uncommented: String = example[start..]
        .lines()
        .map(|l| l.strip_prefix("# ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let c = parse(&format!("{}{uncommented}\n", &example[..start]));
    assert_eq!(c.accounts.len(), 1);
    let a = &c.accounts[0];
    assert!(a.key.is_some() && a.password.is_some() && a.name.is_some());
    assert_eq!(a.timezone, "+08:00".parse::<Tz>().unwrap());
    assert_eq!(a.quirks, vec![Quirk::LocalTime]);
    assert!(a.parsed_key().unwrap().is_some());
}

#[test]
fn account_lookup_ignores_case() {
    let c = parse("[[accounts]]\naccount = \"AbC12\"\n[[accounts]]\naccount = \"9999\"\n");
    assert_eq!(c.account("abc12").unwrap().account, "AbC12");
    assert_eq!(c.account("ABC12").unwrap().account, "AbC12");
    assert_eq!(c.account("9999").unwrap().account, "9999");
    assert!(c.account("abc1").is_none());
    assert!(c.account("").is_none());
    assert!(c.account(&"9".repeat(40)).is_none());
    assert!(c.account("ÄbC12").is_none());
}

#[test]
fn account_lookup_sees_accounts_added_in_code() {
    let mut c = Config::default();
    c.accounts.push(AccountConfig {
        account: "F00D".into(),
        ..AccountConfig::default()
    });
    assert_eq!(c.account("f00d").unwrap().account, "F00D");
    c.accounts[0].account = "BEEF".into();
    c.reindex();
    assert!(c.account("f00d").is_none());
    assert_eq!(c.account("beef").unwrap().account, "BEEF");
}

#[test]
fn union_quirks_ors_every_account() {
    let c = parse(
        "[[accounts]]\naccount = \"1\"\nquirks = [\"missing_l\"]\n\
         [[accounts]]\naccount = \"2\"\nquirks = [\"binary_crc\", \"local_time\"]\n\
         [[accounts]]\naccount = \"3\"\n",
    );
    let u = c.union_quirks();
    assert!(u.missing_l && u.binary_crc && u.local_time);
    assert!(!u.crc_with_cr && !u.decimal_length && !u.missing_account);
    assert!(c.account("3").unwrap().quirks().is_empty());
    assert!(Config::default().union_quirks().is_empty());
}

#[test]
fn keys_parse_in_their_format() {
    let c = parse(
        "[[accounts]]\naccount = \"H\"\nkey = \"000102030405060708090a0b0c0d0e0f\"\n\
         [[accounts]]\naccount = \"A\"\nkey = \"ABCDEFGHIJKLMNOP\"\nkey_format = \"ascii\"\n\
         [[accounts]]\naccount = \"N\"\n",
    );
    assert!(c.account("h").unwrap().parsed_key().unwrap().is_some());
    assert!(c.account("a").unwrap().parsed_key().unwrap().is_some());
    assert!(c.account("n").unwrap().parsed_key().unwrap().is_none());
    let bad = AccountConfig {
        account: "X".into(),
        key: Some(Secret::new("ABCDEFGHIJKLMNOP")),
        ..AccountConfig::default()
    };
    let msg = bad.parsed_key().unwrap_err().to_string();
    assert!(
        msg.contains("accounts[\"X\"].key: hex key character 6 is not a hex digit"),
        "{msg}"
    );
}

#[test]
fn parse_errors_name_the_file_line_column_and_key() {
    let err = Config::from_toml_str(
        "[panel]\nudp = true\nlisten = 12345\n",
        "/etc/alarmhub.toml",
    )
    .unwrap_err();
    let ConfigError::Parse {
        origin,
        line,
        column,
        key,
        ..
    } = &err
    else {
        panic!("expected a parse error, got {err:?}");
    };
    assert_eq!(origin, "/etc/alarmhub.toml");
    assert_eq!((*line, *column), (Some(3), Some(10)));
    assert_eq!(key.as_deref(), Some("panel.listen"));
    let msg = err.to_string();
    assert!(
        msg.starts_with("config /etc/alarmhub.toml: panel.listen: "),
        "{msg}"
    );
    assert!(msg.contains("3 | listen = 12345"), "{msg}");
}

#[test]
fn unreadable_file_error_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.toml");
    let msg = Config::load(&path).unwrap_err().to_string();
    assert!(
        msg.starts_with(&format!("config {}: cannot read", path.display())),
        "{msg}"
    );
}

#[test]
fn validation_reports_every_problem_with_its_field() {
    let mut c = Config::default();
    c.panel.max_frame_len = 50;
    c.store.queue = 0;
    c.accounts.push(AccountConfig::default());
    let ConfigError::Invalid { origin, problems } = c.validate().unwrap_err() else {
        panic!("expected a validation error");
    };
    assert_eq!(origin, None);
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        ["panel.max_frame_len", "store.queue", "accounts[0].account"]
    );
}

#[test]
fn timezones_accept_utc_and_fixed_offsets_only() {
    assert_eq!("UTC".parse::<Tz>().unwrap(), Tz::utc());
    assert_eq!("Z".parse::<Tz>().unwrap(), Tz::utc());
    assert_eq!("-05:30".parse::<Tz>().unwrap().offset_secs(), -19_800);
    assert_eq!("+14:00".parse::<Tz>().unwrap().to_string(), "+14:00");
    for bad in ["+14:30", "8", "+8:00", "CST", "Europe/Berlin"] {
        let err = bad.parse::<Tz>().unwrap_err();
        assert!(err.contains(bad), "{err}");
    }
}
