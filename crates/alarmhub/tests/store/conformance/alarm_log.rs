//! The alarm change log read back: every change, read from any seq, in pages of any size,
//! through `GetAlarm`'s history and after a reopen, carries exactly the whole alarm that was
//! handed out when it was written (the log stores engine changes compactly; readers must
//! not see a difference).

use super::*;
use alarmhub::alarms::{AlarmChange, AlarmInput, AlarmOp, Category, EventAction, Priority};

fn event(seq: i64, restore: bool) -> AlarmInput {
    // Three accounts in turn; each account's zones walk over 1..=25.
    let account = ["A", "B", "C"][usize::try_from((seq - 1) % 3).unwrap()];
    let zone_of = |s: i64| u16::try_from((s * 7) % 25 + 1).unwrap();
    AlarmInput {
        seq,
        account: account.into(),
        code: if restore { 3130 } else { 1130 },
        sia_code: None,
        zone: if restore {
            zone_of(seq - 3)
        } else {
            zone_of(seq)
        },
        group: 1,
        at_ms: NOW + seq * 1000,
        action: if restore {
            EventAction::Restore
        } else {
            EventAction::Alarm {
                priority: Priority::new(if seq == 50 { 1 } else { 3 }).unwrap(),
                category: Category::Burglary,
            }
        },
    }
}

pub async fn every_alarm_change_reads_back_whole_from_any_seq_and_after_reopen(b: &dyn Backend) {
    let s = Open::at(b, NOW).await;
    let mut written: Vec<AlarmChange> = Vec::new();
    for batch in 0..6i64 {
        let inputs = (batch * 24 + 1..=batch * 24 + 24)
            .map(|seq| event(seq, seq % 4 == 0))
            .collect();
        let changes = s
            .store
            .record_alarm_events(batch * 24 + 24, inputs)
            .await
            .unwrap();
        written.extend(changes);
        if batch == 2 {
            // An operator's change between engine batches: the engine goes on from it.
            let id = written[0].alarm_id;
            let op = AlarmOp::Take { force: false };
            let c = s.store.update_alarm(id, op, "user:ann", NOW).await.unwrap();
            written.push(c.unwrap());
        }
    }
    let last_a = written
        .iter()
        .rev()
        .find(|c| c.alarm_id == written[0].alarm_id);
    assert!(last_a.unwrap().alarm.zones.len() >= 10, "a long zone list");
    assert!(written.iter().any(|c| c.kind.as_str() == "restored"));
    s.close().await;
    let s = Open::at(b, NOW).await;
    assert_eq!(s.store.alarm_changes_after(0, 0).await.unwrap(), written);
    // From every seq, one change.
    for c in &written {
        let got = s.store.alarm_changes_after(c.seq - 1, 1).await.unwrap();
        assert_eq!(got, std::slice::from_ref(c), "change {}", c.seq);
    }
    // In pages of 7.
    let mut paged = Vec::new();
    let mut after = 0;
    loop {
        let page = s.store.alarm_changes_after(after, 7).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        paged.extend(page);
    }
    assert_eq!(paged, written);
    // Each alarm's history, and the alarm itself as its last change left it.
    for id in [written[0].alarm_id, written[1].alarm_id] {
        let d = s.store.alarm(id).await.unwrap().unwrap();
        let mine: Vec<_> = written
            .iter()
            .filter(|c| c.alarm_id == id)
            .cloned()
            .collect();
        assert_eq!(d.history, mine);
        assert_eq!(Some(&d.alarm), mine.last().map(|c| &c.alarm));
    }
    s.close().await;
}
