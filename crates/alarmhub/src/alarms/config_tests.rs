use super::*;
use crate::events::{Facts, Source};
use panel_proto::rules::Dialect;

fn ev(source: Source, code: u16, sia: Option<&str>) -> NewEvent {
    NewEvent {
        account: "1001".into(),
        source,
        code,
        sia_code: sia.map(str::to_string),
        group: 1,
        zone: 3,
        received_at_ms: 0,
        panel_time: None,
        protocol: String::new(),
        frame_seq: String::new(),
        peer: String::new(),
        facts: Facts {
            dialect: Some(Dialect::Dc09),
            ..Facts::default()
        },
        detail: Default::default(),
        dedup_key: None,
    }
}

fn alarm(p: u8, c: Category) -> Option<EventAction> {
    Some(EventAction::Alarm {
        priority: Priority::new(p).unwrap(),
        category: c,
    })
}

#[test]
fn default_priorities_follow_the_issue() {
    let c = AlarmsConfig::default();
    let p = Source::Panel;
    assert_eq!(c.classify(&ev(p, 1110, None)), alarm(1, Category::Fire));
    assert_eq!(c.classify(&ev(p, 1120, None)), alarm(2, Category::Panic));
    assert_eq!(c.classify(&ev(p, 1121, None)), alarm(2, Category::Panic));
    assert_eq!(c.classify(&ev(p, 1100, None)), alarm(2, Category::Medical));
    assert_eq!(c.classify(&ev(p, 1130, None)), alarm(3, Category::Burglary));
    assert_eq!(c.classify(&ev(p, 1137, None)), alarm(4, Category::Tamper));
    assert_eq!(
        c.classify(&ev(Source::Receiver, 1944, None)),
        alarm(5, Category::Offline)
    );
    // SIA-only events by their letters.
    assert_eq!(c.classify(&ev(p, 0, Some("FA"))), alarm(1, Category::Fire));
    assert_eq!(
        c.classify(&ev(p, 0, Some("BA"))),
        alarm(3, Category::Burglary)
    );
}

#[test]
fn signals_open_nothing_and_restores_restore() {
    let c = AlarmsConfig::default();
    let p = Source::Panel;
    for code in [3400, 1400, 1602, 1301] {
        assert_eq!(c.classify(&ev(p, code, None)), None, "{code}");
    }
    assert_eq!(c.classify(&ev(p, 3130, None)), Some(EventAction::Restore));
    assert_eq!(
        c.classify(&ev(Source::Receiver, 1946, None)),
        Some(EventAction::Restore)
    );
    // A command's own event is never an alarm, whatever its code.
    assert_eq!(c.classify(&ev(Source::Control, 1120, None)), None);
}

#[test]
fn codes_and_classes_are_configurable_in_the_alarms_section() {
    let text = r#"
        [alarms.classes.trouble]
        open = true
        priority = 6
        [alarms.classes.burglary]
        open = true
        priority = 2
        [[alarms.codes]]
        code = 1130
        priority = 4
        [[alarms.codes]]
        sia = "BA"
        open = false
        [alarms.take_within_secs]
        1 = 10
        default = 90
    "#;
    let c = crate::config::Config::from_toml_str(text, "<test>")
        .unwrap()
        .alarms;
    let p = Source::Panel;
    assert_eq!(c.classify(&ev(p, 1301, None)), alarm(6, Category::Trouble));
    assert_eq!(c.classify(&ev(p, 1131, None)), alarm(2, Category::Burglary));
    assert_eq!(c.classify(&ev(p, 1130, None)), alarm(4, Category::Burglary));
    assert_eq!(c.classify(&ev(p, 0, Some("BA"))), None);
    assert_eq!(c.take_within_secs(Priority::new(1).unwrap()), 10);
    assert_eq!(c.take_within_secs(Priority::new(3).unwrap()), 90);
    let defaults = AlarmsConfig::default();
    let secs: Vec<u64> = [1, 2, 3, 5]
        .iter()
        .map(|&n| defaults.take_within_secs(Priority::new(n).unwrap()))
        .collect();
    assert_eq!(secs, [30, 120, 60, 120]);
}

#[test]
fn bad_alarm_settings_are_reported_with_their_field() {
    let text = r#"
        [alarms.take_within_secs]
        12 = 30
        default = 0
        [[alarms.codes]]
        priority = 2
        [[alarms.resolutions]]
        code = "bad code"
        [[alarms.resolutions]]
        code = "ok"
        [[alarms.resolutions]]
        code = "ok"
    "#;
    let e = crate::config::Config::from_toml_str(text, "<test>")
        .unwrap_err()
        .to_string();
    for field in [
        "alarms.take_within_secs.12",
        "alarms.take_within_secs.default",
        "alarms.codes[0]",
        "alarms.resolutions[0].code",
        "alarms.resolutions[2].code",
    ] {
        assert!(e.contains(field), "{field} missing in {e}");
    }
    let e = crate::config::Config::from_toml_str(
        "[alarms.classes.fire]\nopen = true\npriority = 0\n",
        "<test>",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("priority"), "{e}");
    let e = crate::config::Config::from_toml_str(
        "[alarms.classes.flood]\nopen = true\npriority = 1\n",
        "<test>",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("flood"), "{e}");
}
