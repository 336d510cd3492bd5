use super::*;
use crate::alarms::{Category, Priority};

fn input(seq: i64, zone: u16, action: EventAction) -> AlarmInput {
    AlarmInput {
        seq,
        account: "1001".into(),
        code: 1130,
        sia_code: None,
        zone,
        group: 1,
        at_ms: 1_000 * seq,
        action,
    }
}

fn burglary(p: u8) -> EventAction {
    EventAction::Alarm {
        priority: Priority::new(p).unwrap(),
        category: Category::Burglary,
    }
}

fn new_alarm() -> Alarm {
    let mut a = open(&input(1, 3, burglary(3))).unwrap();
    a.id = 7;
    a
}

#[test]
fn a_restore_never_opens_an_alarm() {
    assert!(open(&input(1, 3, EventAction::Restore)).is_none());
    let a = new_alarm();
    assert_eq!(
        (a.state, a.event_count, a.zones.len()),
        (AlarmState::New, 1, 1)
    );
}

#[test]
fn further_events_attach_count_list_zones_and_raise_the_priority() {
    let mut a = new_alarm();
    assert_eq!(
        on_event(&mut a, &input(2, 5, burglary(3))),
        Some(ChangeKind::Attached)
    );
    let fire = EventAction::Alarm {
        priority: Priority::new(1).unwrap(),
        category: Category::Fire,
    };
    assert_eq!(
        on_event(&mut a, &input(3, 3, fire)),
        Some(ChangeKind::Attached)
    );
    assert_eq!(a.event_count, 3);
    assert_eq!(a.zones.iter().map(|z| z.zone).collect::<Vec<_>>(), [3, 5]);
    assert_eq!((a.priority.get(), a.category), (1, Category::Fire));
    // A less urgent event does not lower it again.
    on_event(&mut a, &input(4, 9, burglary(5)));
    assert_eq!(a.priority.get(), 1);
}

#[test]
fn a_restore_marks_its_zone_restored_and_keeps_the_alarm_open() {
    let mut a = new_alarm();
    assert_eq!(
        on_event(&mut a, &input(2, 3, EventAction::Restore)),
        Some(ChangeKind::Restored)
    );
    assert!(a.zones[0].restored);
    assert_eq!(a.state, AlarmState::New);
    // Again, or for a zone that never alarmed: nothing to record.
    assert_eq!(on_event(&mut a, &input(3, 3, EventAction::Restore)), None);
    assert_eq!(on_event(&mut a, &input(4, 8, EventAction::Restore)), None);
    // The zone alarming again is no longer restored.
    on_event(&mut a, &input(5, 3, burglary(3)));
    assert!(!a.zones[0].restored);
}

#[test]
fn only_one_operator_holds_an_alarm_and_an_admin_may_take_it_over() {
    let mut a = new_alarm();
    assert_eq!(
        apply(&mut a, &AlarmOp::Take { force: false }, "user:ann", 5)
            .unwrap()
            .0,
        ChangeKind::Taken
    );
    assert_eq!(
        (a.state, a.taken_by.as_deref(), a.taken_at_ms),
        (AlarmState::Taken, Some("user:ann"), 5)
    );
    let e = apply(&mut a, &AlarmOp::Take { force: false }, "user:bob", 6).unwrap_err();
    assert_eq!(
        e,
        AlarmRefusal::TakenBy {
            id: 7,
            holder: "user:ann".into()
        }
    );
    assert_eq!(a.taken_by.as_deref(), Some("user:ann"));
    let (_, detail) = apply(&mut a, &AlarmOp::Take { force: true }, "user:boss", 7).unwrap();
    assert!(
        detail.contains("\"taken_over_from\":\"user:ann\""),
        "{detail}"
    );
    assert_eq!(a.taken_by.as_deref(), Some("user:boss"));
    // The first take's time stays: it is what "time to take" measures.
    assert_eq!(a.taken_at_ms, 5);
}

#[test]
fn notes_and_close_need_the_alarm_held_by_the_caller() {
    let mut a = new_alarm();
    let note = AlarmOp::Note {
        text: "called keyholder".into(),
        force: false,
    };
    assert_eq!(
        apply(&mut a, &note, "user:ann", 2),
        Err(AlarmRefusal::NotTaken(7))
    );
    let close = AlarmOp::Close {
        resolution: "false_alarm_user".into(),
        false_alarm: true,
        note: Some("cat".into()),
        force: false,
    };
    assert_eq!(
        apply(&mut a, &close, "user:ann", 2),
        Err(AlarmRefusal::NotTaken(7))
    );
    apply(&mut a, &AlarmOp::Take { force: false }, "user:ann", 3).unwrap();
    assert!(matches!(
        apply(&mut a, &note, "user:bob", 4),
        Err(AlarmRefusal::TakenBy { .. })
    ));
    assert_eq!(
        apply(&mut a, &note, "user:ann", 4).unwrap().0,
        ChangeKind::Noted
    );
    assert!(matches!(
        apply(&mut a, &close, "user:bob", 5),
        Err(AlarmRefusal::TakenBy { .. })
    ));
    let (kind, detail) = apply(&mut a, &close, "user:ann", 6).unwrap();
    assert_eq!(kind, ChangeKind::Closed);
    assert!(detail.contains("\"text\":\"cat\""), "{detail}");
    assert_eq!(
        (a.state, a.closed_at_ms, a.false_alarm),
        (AlarmState::Closed, 6, true)
    );
    assert_eq!(a.resolution.as_deref(), Some("false_alarm_user"));
    // Closed is final.
    for op in [
        AlarmOp::Take { force: true },
        AlarmOp::Release { force: true },
        note,
        close,
        AlarmOp::Escalate,
    ] {
        assert_eq!(
            apply(&mut a, &op, "user:boss", 9),
            Err(AlarmRefusal::Closed(7)),
            "{op:?}"
        );
    }
}

#[test]
fn release_puts_it_back_to_new_for_the_holder_or_a_forcing_admin() {
    let mut a = new_alarm();
    assert_eq!(
        apply(&mut a, &AlarmOp::Release { force: false }, "user:ann", 1),
        Err(AlarmRefusal::NotTaken(7))
    );
    apply(&mut a, &AlarmOp::Take { force: false }, "user:ann", 2).unwrap();
    assert!(matches!(
        apply(&mut a, &AlarmOp::Release { force: false }, "user:bob", 3),
        Err(AlarmRefusal::TakenBy { .. })
    ));
    assert_eq!(
        apply(&mut a, &AlarmOp::Release { force: false }, "user:ann", 3)
            .unwrap()
            .0,
        ChangeKind::Released
    );
    assert_eq!((a.state, a.taken_by.clone()), (AlarmState::New, None));
    apply(&mut a, &AlarmOp::Take { force: false }, "user:bob", 4).unwrap();
    assert!(apply(&mut a, &AlarmOp::Release { force: true }, "user:boss", 5).is_ok());
}

#[test]
fn escalation_happens_once_and_only_while_new() {
    let mut a = new_alarm();
    assert_eq!(
        apply(&mut a, &AlarmOp::Escalate, "system", 9).unwrap().0,
        ChangeKind::Escalated
    );
    assert!(a.escalated);
    assert_eq!(
        apply(&mut a, &AlarmOp::Escalate, "system", 10),
        Err(AlarmRefusal::NotEscalable(7))
    );
    let mut b = new_alarm();
    apply(&mut b, &AlarmOp::Take { force: false }, "user:ann", 2).unwrap();
    assert_eq!(
        apply(&mut b, &AlarmOp::Escalate, "system", 10),
        Err(AlarmRefusal::NotEscalable(7))
    );
}
