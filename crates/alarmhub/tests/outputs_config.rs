#![allow(clippy::unwrap_used)]
//! `[mqtt]`, `[[automation]]` and `cms_account`: defaults, the fixture with every key, the
//! example file's sections, masked secrets, broker urls.

use std::path::Path;

use alarmhub::config::{
    parse_broker_url, AutomationConfig, AutomationKind, AutomationMode, BrokerUrl, Config,
    MqttConfig,
};

fn fixture(name: &str) -> Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/config_fixtures/valid")
        .join(name);
    Config::load(&path).unwrap()
}

#[test]
fn outputs_are_off_by_default() {
    let c = Config::default();
    assert!(c.mqtt.is_none());
    assert!(c.automation.is_empty());
}

#[test]
fn an_empty_mqtt_section_takes_every_default() {
    let c = Config::from_toml_str("[mqtt]\n", "<string>").unwrap();
    let m = c.mqtt.unwrap();
    assert_eq!(m, MqttConfig::default());
    assert_eq!(m.url, "mqtt://127.0.0.1:1883");
    assert_eq!(m.base_topic, "alarmhub");
    assert_eq!(m.discovery_prefix, "homeassistant");
    assert!(m.control_accounts.is_empty());
    assert_eq!(m.command_max_age_secs, 30);
}

#[test]
fn a_minimal_automation_takes_the_sur_gard_defaults() {
    let c = Config::from_toml_str(
        "[[automation]]\nname = \"cms\"\nkind = \"surgard\"\n",
        "<string>",
    )
    .unwrap();
    assert_eq!(c.automation, vec![AutomationConfig::surgard("cms")]);
    let a = &c.automation[0];
    assert_eq!(a.listen.to_string(), "127.0.0.1:1025");
    assert_eq!((a.receiver.as_str(), a.line.as_str()), ("01", "1"));
    assert_eq!(
        (a.heartbeat_secs, a.ack_timeout_secs, a.max_resends),
        (30, 4, 4)
    );
}

#[test]
fn the_outputs_fixture_reads_every_key() {
    let c = fixture("outputs.toml");
    let m = c.mqtt.as_ref().unwrap();
    assert_eq!(m.url, "mqtts://broker.example:8883");
    assert_eq!(m.password.as_ref().unwrap().expose(), "s3cret");
    assert_eq!(m.base_topic, "site/alarmhub");
    assert_eq!(m.control_accounts, vec!["1234".to_string()]);
    assert_eq!((m.command_max_age_secs, m.keep_alive_secs), (60, 20));
    assert_eq!(c.automation.len(), 2);
    assert_eq!(c.automation[0].kind, AutomationKind::Surgard);
    assert_eq!(
        (
            c.automation[0].receiver.as_str(),
            c.automation[0].line.as_str()
        ),
        ("3C", "E")
    );
    assert_eq!(c.automation[1].mode, AutomationMode::Connect);
    assert_eq!(c.automation[1].target.as_deref(), Some("cms.example:1025"));
    assert_eq!(c.accounts[1].cms_account.as_deref(), Some("c0de"));
    let debug = format!("{c:?}");
    assert!(!debug.contains("s3cret"), "{debug}");
}

#[test]
fn the_example_output_sections_are_valid_once_uncommented() {
    let example = Config::example();
    // Each section runs from its commented header to the next separator line.
    let section = |header: &str| -> String {
        let start = example.find(header).unwrap();
        let end = start + example[start..].find("# ----").unwrap();
        example[start..end]
            .lines()
            .map(|l| l.strip_prefix("# ").unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let text = format!("{}\n{}", section("# [mqtt]"), section("# [[automation]]"));
    let c = Config::from_toml_str(&text, "<example>").unwrap();
    assert_eq!(c.mqtt, Some(MqttConfig::default()));
    assert_eq!(c.automation, vec![AutomationConfig::surgard("cms")]);
}

#[test]
fn broker_urls() {
    let ok = |u: &str, host: &str, port: u16, tls: bool| {
        assert_eq!(
            parse_broker_url(u).unwrap(),
            BrokerUrl {
                host: host.into(),
                port,
                tls
            },
            "{u}"
        );
    };
    ok("mqtt://127.0.0.1:1883", "127.0.0.1", 1883, false);
    ok("mqtt://broker", "broker", 1883, false);
    ok("mqtts://broker/", "broker", 8883, true);
    ok("mqtt://[::1]:1884", "::1", 1884, false);
    for bad in [
        "127.0.0.1:1883",
        "mqtt://",
        "mqtt://u@h:1",
        "mqtt://h:x",
        "mqtt://h:0",
    ] {
        assert!(parse_broker_url(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_dc09_output_connects_with_a_usable_key_and_dc09_accounts() {
    let ok = "[[automation]]\nname = \"up\"\nkind = \"dc09\"\nmode = \"connect\"\n\
              target = \"10.0.0.9:5000\"\nkey = \"000102030405060708090A0B0C0D0E0F\"\n\
              [automation.account_map]\n\"861234567890\" = \"C0DE\"\n";
    let c = Config::from_toml_str(ok, "<string>").unwrap();
    let a = &c.automation[0];
    assert_eq!(a.kind, AutomationKind::Dc09);
    assert_eq!(a.account_map["861234567890"], "C0DE");
    assert!(!format!("{a:?}").contains("0A0B0C"), "the key is masked");

    for (bad, field, words) in [
        (
            "[[automation]]\nname = \"up\"\nkind = \"dc09\"\n",
            "automation[0].mode",
            "connect",
        ),
        (
            "[[automation]]\nname = \"up\"\nkind = \"dc09\"\nmode = \"connect\"\n\
             target = \"h:1\"\nkey = \"abc\"\n",
            "automation[0].key",
            "",
        ),
        (
            "[[automation]]\nname = \"up\"\nkind = \"dc09\"\nmode = \"connect\"\n\
             target = \"h:1\"\n[automation.account_map]\n\"1234\" = \"12\"\n",
            "automation[0].account_map",
            "3 to 16 hex digits",
        ),
        (
            "[[automation]]\nname = \"cms\"\nkind = \"surgard\"\n\
             key = \"000102030405060708090A0B0C0D0E0F\"\n",
            "automation[0].key",
            "dc09",
        ),
    ] {
        let e = Config::from_toml_str(bad, "<string>")
            .unwrap_err()
            .to_string();
        assert!(e.contains(field) && e.contains(words), "{bad}: {e}");
        assert!(!e.contains("0A0B0C"), "no key material in {e}");
    }
}
