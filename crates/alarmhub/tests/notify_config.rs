//! `[notify]` in the configuration: the commented examples of `alarmhub config example`
//! are valid once uncommented, secrets never show in `Debug` or in error messages, and the
//! validation pass reports every notify problem with its field path. (Single-problem
//! cases are fixtures in `config_fixtures/invalid/notify_*.toml`.)
#![allow(clippy::unwrap_used)]

use alarmhub::config::{Config, ConfigError};
use alarmhub::notify::ChannelKind;

/// The example file with the notify examples uncommented.
fn example_with_notify() -> String {
    let example = Config::example();
    let start = example.find("# # Any HTTP endpoint").unwrap();
    // The notify examples end at the next section separator.
    let end = start + example[start..].find("\n# ----").unwrap() + 1;
    let uncommented: String = example[start..end]
        .lines()
        .map(|l| l.strip_prefix("# ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    format!("{}{uncommented}\n{}", &example[..start], &example[end..])
}

#[test]
fn the_example_channels_rules_and_quiet_periods_are_valid_once_uncommented() {
    let c = Config::from_toml_str(&example_with_notify(), "<example>").unwrap();
    let kinds: Vec<ChannelKind> = c.notify.channels.iter().map(|ch| ch.kind).collect();
    assert_eq!(
        kinds,
        [
            ChannelKind::Webhook,
            ChannelKind::Wecom,
            ChannelKind::Dingtalk,
            ChannelKind::Feishu,
            ChannelKind::Wechat,
            ChannelKind::Email
        ]
    );
    assert_eq!(c.notify.rules.len(), 1);
    assert_eq!(c.notify.rules[0].repeat_secs, 1800);
    assert_eq!(c.notify.quiet.len(), 1);
    let wx = c.notify.channel("duty-wechat").unwrap();
    assert_eq!(wx.data.len(), 3);
}

#[test]
fn the_default_configuration_sends_nothing() {
    let c = Config::default();
    assert!(c.notify.channels.is_empty() && c.notify.rules.is_empty());
    assert_eq!(c.notify.dead_letter_after_secs, 86_400);
}

#[test]
fn notify_secrets_are_masked_in_debug_output() {
    let c = Config::from_toml_str(&example_with_notify(), "<example>").unwrap();
    let shown = format!("{c:?}");
    for secret in [
        "REPLACE-WITH-ROBOT-KEY",
        "REPLACE-WITH-ACCESS-TOKEN",
        "SECREPLACE-WITH-SIGNING-SECRET",
        "REPLACE-WITH-HOOK-ID",
        "REPLACE-WITH-APPSECRET",
        "REPLACE-WITH-PASSWORD",
        "cmVwbGFjZS13aXRo",
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(shown.contains("ops-dingtalk") && shown.contains("****"));
}

#[test]
fn url_problems_never_repeat_the_url() {
    let text = "[[notify.channels]]\nname = \"d\"\nkind = \"dingtalk\"\n\
                url = \"ftp://oapi.dingtalk.com/robot/send?access_token=TOKEN-123\"\n\
                [[notify.channels]]\nname = \"w\"\nkind = \"wecom\"\nurl = \"not a url TOKEN-456\"\n";
    let msg = Config::from_toml_str(text, "<string>")
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("notify.channels[0].url: channel \"d\": must be an http:// or https:// URL"),
        "{msg}"
    );
    assert!(
        msg.contains("notify.channels[1].url: channel \"w\": not a valid URL"),
        "{msg}"
    );
    assert!(!msg.contains("TOKEN-"), "{msg}");
}

#[test]
fn every_notify_problem_is_reported_with_its_field() {
    let text = "[notify]\ndead_letter_after_secs = 5\n\
                [[notify.channels]]\nname = \"bad name\"\nkind = \"email\"\ntimeout_secs = 0\nurl = \"https://x\"\n\
                [[notify.rules]]\nchannels = []\nstates = []\nmax_priority = 0\nsia_codes = [\"B\"]\n";
    let ConfigError::Invalid { problems, .. } =
        Config::from_toml_str(text, "<string>").unwrap_err()
    else {
        panic!("expected validation problems");
    };
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "notify.dead_letter_after_secs",
            "notify.channels[0].name",
            "notify.channels[0].url",
            "notify.channels[0].timeout_secs",
            "notify.channels[0].smtp_host",
            "notify.channels[0].from",
            "notify.channels[0].to",
            "notify.rules[0].channels",
            "notify.rules[0].states",
            "notify.rules[0].max_priority",
            "notify.rules[0].sia_codes",
        ]
    );
}
