//! Registry unit tests: change counting, alarms until their restore, snapshots, and the
//! typed facts (and dialect-dependent alarm class) applied from events.

use super::*;
use crate::events::{Facts, NewEvent};
use std::sync::Arc;

fn ev(seq: i64, account: &str, code: u16, zone: u16) -> Arc<StoredEvent> {
    with_facts(seq, account, code, zone, Facts::default())
}

fn with_facts(seq: i64, account: &str, code: u16, zone: u16, facts: Facts) -> Arc<StoredEvent> {
    Arc::new(StoredEvent {
        seq,
        event: NewEvent {
            account: account.into(),
            source: Source::Panel,
            code,
            sia_code: None,
            group: 0,
            zone,
            received_at_ms: seq,
            panel_time: None,
            protocol: "HENG-BO".into(),
            frame_seq: "0001".into(),
            peer: "127.0.0.1:1".into(),
            facts,
            detail: serde_json::json!({"dialect": "not read"}).into(),
            dedup_key: None,
        },
    })
}

#[test]
fn changed_count_follows_every_mutation() {
    let r = Registry::new();
    r.apply_all(&[ev(1, "A", 1737, 0), ev(2, "B", 1400, 0)]);
    assert_eq!(r.changed_count(), 2);
    let a = r.get("A").unwrap();
    r.mark_synced(
        "A",
        SyncToken {
            version: a.version,
            alarm_version: a.alarm_version,
        },
    );
    assert_eq!(r.changed_count(), 1);
    r.apply_all(&[ev(3, "A", 1130, 5)]);
    assert_eq!(r.changed_count(), 2);
    r.mark_all_offline();
    assert_eq!(r.changed_count(), 2);
    let (_, rows) = r.snapshot();
    let r2 = Registry::new();
    assert!(r2.restore(&rows).is_empty());
    assert_eq!(r2.changed_count(), 2);
    assert_eq!(r2.changed_count(), r2.list(|p| p.changed()).len());
}

#[test]
fn alarms_stay_active_until_their_restore() {
    let r = Registry::new();
    r.apply_all(&[
        ev(1, "A", 1130, 5),
        ev(2, "A", 1110, 7),
        ev(3, "A", 3130, 5),
    ]);
    let p = r.get("A").unwrap();
    assert_eq!(p.active_alarms.keys().copied().collect::<Vec<_>>(), vec![7]);
    assert_eq!(p.last_alarm.unwrap().code, 1110);
}

#[test]
fn an_old_snapshot_row_without_new_fields_still_loads() {
    let r = Registry::new();
    assert!(r
        .restore(&[("A".into(), r#"{"account":"A","machine_type":6}"#.into())])
        .is_empty());
    assert_eq!(r.get("A").unwrap().machine_type, 6);
    assert_eq!(r.get("A").unwrap().status, [-1; SECTIONS]);
}

fn facts(dialect: Dialect) -> Facts {
    Facts {
        dialect: Some(dialect),
        ..Facts::default()
    }
}

#[test]
fn code_1134_is_an_active_alarm_on_a_dc09_panel_but_a_door_bell_on_a_hengbo_host() {
    let r = Registry::new();
    r.apply_all(&[
        with_facts(1, "DC", 1134, 4, facts(Dialect::Dc09)),
        with_facts(2, "HB", 1134, 4, facts(Dialect::Hb)),
    ]);
    let dc = r.get("DC").unwrap();
    assert_eq!(
        dc.active_alarms.keys().copied().collect::<Vec<_>>(),
        vec![4]
    );
    let last = dc.last_alarm.unwrap();
    assert_eq!((last.code, last.dialect), (1134, Some(Dialect::Dc09)));
    let hb = r.get("HB").unwrap();
    assert!(
        hb.active_alarms.is_empty() && hb.last_alarm.is_none(),
        "{hb:?}"
    );
    // The DC-09 restore (3134) clears it.
    r.apply_all(&[with_facts(3, "DC", 3134, 4, facts(Dialect::Dc09))]);
    assert!(r.get("DC").unwrap().active_alarms.is_empty());
}

#[test]
fn typed_facts_are_applied_and_the_detail_is_not_read() {
    let r = Registry::new();
    let signal = Facts {
        dialect: Some(Dialect::Hb),
        ademco_id: Some(0x123),
        signal_strength: Some(21),
        unknown_account: true,
        control: None,
    };
    r.apply_all(&[with_facts(1, "A", 1799, 0, signal)]);
    let p = r.get("A").unwrap();
    assert_eq!(
        (p.dialect, p.ademco_id, p.signal_strength, p.unknown_account),
        (Some(Dialect::Hb), Some(0x123), Some(21), true)
    );
    // Signal strength only comes with a 1799; later events without facts keep what is known.
    let stray = Facts {
        signal_strength: Some(3),
        ..Facts::default()
    };
    r.apply_all(&[with_facts(2, "A", 1130, 1, stray)]);
    let p = r.get("A").unwrap();
    assert_eq!(
        (p.signal_strength, p.dialect),
        (Some(21), Some(Dialect::Hb))
    );
}

#[test]
fn a_dc09_panel_does_not_get_a_type_from_hengbo_type_reports() {
    let r = Registry::new();
    r.apply_all(&[
        with_facts(1, "DC", 1737, 0, facts(Dialect::Dc09)),
        with_facts(2, "HB", 1737, 0, facts(Dialect::Hb)),
    ]);
    assert_eq!(r.get("DC").unwrap().machine_type, -1);
    assert_eq!(r.get("HB").unwrap().machine_type, 6);
}

#[test]
fn dialects_survive_a_snapshot_in_their_text_form() {
    let r = Registry::new();
    r.apply_all(&[with_facts(1, "DC", 1134, 4, facts(Dialect::Dc09))]);
    let (_, rows) = r.snapshot();
    assert!(rows[0].1.contains(r#""dialect":"dc09""#), "{}", rows[0].1);
    let r2 = Registry::new();
    assert!(r2.restore(&rows).is_empty());
    assert_eq!(r2.get("DC"), r.get("DC"));
    let bad = [(
        "X".to_string(),
        r#"{"account":"X","dialect":"martian"}"#.to_string(),
    )];
    let errors = Registry::new().restore(&bad);
    assert!(errors[0].contains("martian"), "{errors:?}");
}

#[test]
fn a_mark_from_another_node_holds_whether_this_node_lags_or_never_saw_the_panel() {
    // Node "B" applied two alarms and delivered them; this node ("A") has applied only the
    // first when B's mark arrives, and has never seen panel C, which B also delivered.
    let b = Registry::new();
    let events = [
        ev(1, "P", 1130, 1),
        ev(2, "P", 1130, 2),
        ev(3, "C", 1130, 1),
    ];
    b.apply_all(&events);
    let token = |r: &Registry, a: &str| {
        let p = r.get(a).unwrap();
        SyncToken {
            version: p.version,
            alarm_version: p.alarm_version,
        }
    };
    let a = Registry::new();
    a.apply_all(&events[..1]);
    assert_eq!(a.changed_count(), 1);
    a.mark_synced_elsewhere("P", token(&b, "P"));
    a.mark_synced_elsewhere("C", token(&b, "C"));
    assert_eq!(a.changed_count(), 0);
    // Catching up with what B delivered changes nothing here either.
    a.apply_all(&events[1..]);
    assert_eq!(a.changed_count(), 0);
    assert!(!a.get("P").unwrap().alarm_pending());
    assert!(!a.get("C").unwrap().alarm_pending());
    // A later change counts again, on both nodes alike.
    a.apply_all(&[ev(4, "P", 1130, 3)]);
    assert_eq!(a.changed_count(), 1);
    assert!(a.get("P").unwrap().alarm_pending());
}
