use super::*;
use crate::alarms::{rules, AlarmInput, EventAction};

fn input(seq: i64, zone: u16, restore: bool, p: u8) -> AlarmInput {
    AlarmInput {
        seq,
        account: "1234".into(),
        code: if restore { 3130 } else { 1130 },
        sia_code: None,
        zone,
        group: 1,
        at_ms: 1_700_000_000_000 + seq * 10,
        action: if restore {
            EventAction::Restore
        } else {
            EventAction::Alarm {
                priority: Priority::new(p).unwrap(),
                category: if p < 3 {
                    Category::Fire
                } else {
                    Category::Burglary
                },
            }
        },
    }
}

/// Every change of a long, mixed history, stored and read back (from the start, and from
/// any change in the middle), is exactly the alarm the rules produced.
#[test]
fn stored_changes_resolve_to_the_alarm_after_each_change() {
    let mut alarm = rules::open(&input(1, 7, false, 4)).unwrap();
    alarm.id = 9;
    alarm.change_seq = 1;
    let mut log = vec![(
        1,
        encode(ChangeKind::Opened, &alarm, 7).unwrap(),
        alarm.clone(),
    )];
    // A fixed pseudo-random walk over 25 zones: attaches, restores, priority changes.
    let mut x: u32 = 12345;
    for seq in 2..400 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let zone = u16::try_from((x >> 8) % 25).unwrap();
        let restore = (x >> 4) % 3 == 0;
        let p = u8::try_from(1 + (x >> 12) % 9).unwrap();
        if let Some(kind) = rules::on_event(&mut alarm, &input(seq, zone, restore, p)) {
            alarm.change_seq = seq;
            log.push((seq, encode(kind, &alarm, zone).unwrap(), alarm.clone()));
        }
    }
    let deltas = log.iter().filter(|(_, t, _)| t.starts_with(DELTA_PREFIX));
    assert!(deltas.count() > log.len() / 2, "most changes are deltas");
    let full = serde_json::to_string(&alarm).unwrap();
    let last = &log.last().unwrap().1;
    assert!(
        last.len() * 3 < full.len(),
        "{} vs {}",
        last.len(),
        full.len()
    );
    // From the start.
    let mut r = Resolver::default();
    for (seq, text, want) in &log {
        let got = r.resolve(9, *seq, Stored::parse(text).unwrap()).unwrap();
        assert_eq!(&got, want, "change {seq}");
    }
    // From the middle: read back to a whole snapshot, then forward.
    for start in 1..log.len() {
        let back: Vec<_> = log[..start]
            .iter()
            .rev()
            .map(|(s, t, _)| (*s, Stored::parse(t).unwrap()))
            .collect();
        let mut r = Resolver::default();
        r.seed(9, fold_back(back).unwrap());
        let (seq, text, want) = &log[start];
        let got = r.resolve(9, *seq, Stored::parse(text).unwrap()).unwrap();
        assert_eq!(&got, want, "change {seq} read from the middle");
    }
}

#[test]
fn whole_snapshots_are_stored_for_opened_operator_and_every_16th_event() {
    let mut alarm = rules::open(&input(1, 1, false, 3)).unwrap();
    assert!(encode(ChangeKind::Opened, &alarm, 1)
        .unwrap()
        .starts_with("{\"id\":"));
    assert!(encode(ChangeKind::Taken, &alarm, 0)
        .unwrap()
        .starts_with("{\"id\":"));
    alarm.event_count = FULL_EVERY;
    assert!(!encode(ChangeKind::Attached, &alarm, 1)
        .unwrap()
        .starts_with(DELTA_PREFIX));
    alarm.event_count = FULL_EVERY + 1;
    assert!(encode(ChangeKind::Attached, &alarm, 1)
        .unwrap()
        .starts_with(DELTA_PREFIX));
}

#[test]
fn a_delta_without_a_whole_snapshot_before_it_is_reported_not_invented() {
    let mut alarm = rules::open(&input(1, 1, false, 3)).unwrap();
    rules::on_event(&mut alarm, &input(2, 2, false, 3));
    let d = Stored::parse(&encode(ChangeKind::Attached, &alarm, 2).unwrap()).unwrap();
    assert!(fold_back(vec![(2, d.clone())]).is_none());
    let raw = RawChange {
        seq: 2,
        alarm_id: 5,
        kind: ChangeKind::Attached,
        actor: "system".into(),
        at_ms: 0,
        event_seq: 2,
        detail: "{}".into(),
        stored: d,
    };
    assert_eq!(bases_needed(std::slice::from_ref(&raw)), [(5, 2)]);
    assert_eq!(
        resolve_all(&mut Resolver::default(), vec![raw]).unwrap_err(),
        2
    );
}
