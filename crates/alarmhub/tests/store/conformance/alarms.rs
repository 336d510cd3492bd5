//! The alarm contract: events open and group alarms idempotently with the engine cursor
//! moved in the same transaction; the lifecycle refusals; the take as a compare-and-set
//! under concurrency; the change log's own strictly increasing seq with the alarm snapshot;
//! the wake-up; listing order and paging; and everything surviving a reopen.

use super::*;
use alarmhub::alarms::{
    AlarmCursor, AlarmInput, AlarmOp, AlarmQuery, AlarmRefusal, AlarmState, Category, EventAction,
    OpenAlarm, Priority, ENGINE_CURSOR,
};

fn input(seq: i64, account: &str, zone: u16, p: u8) -> AlarmInput {
    AlarmInput {
        seq,
        account: account.into(),
        code: 1130,
        sia_code: None,
        zone,
        group: 1,
        at_ms: NOW + seq * 1000,
        action: EventAction::Alarm {
            priority: Priority::new(p).unwrap(),
            category: Category::Burglary,
        },
    }
}

fn restore(seq: i64, account: &str, zone: u16) -> AlarmInput {
    AlarmInput {
        action: EventAction::Restore,
        code: 3130,
        ..input(seq, account, zone, 3)
    }
}

fn take() -> AlarmOp {
    AlarmOp::Take { force: false }
}

fn close() -> AlarmOp {
    AlarmOp::Close {
        resolution: "false_alarm_user".into(),
        false_alarm: true,
        note: Some("the cat".into()),
        force: false,
    }
}

fn open_states() -> AlarmQuery {
    AlarmQuery {
        states: vec![AlarmState::New, AlarmState::Taken],
        ..AlarmQuery::default()
    }
}

pub async fn alarm_events_open_group_and_restore_once_with_the_cursor(b: &dyn Backend) {
    let s = Open::at(b, NOW).await;
    let batch = vec![
        input(1, "A", 3, 3),
        input(2, "B", 1, 1),
        input(4, "A", 5, 3),
        restore(5, "A", 3),
    ];
    let changes = s.store.record_alarm_events(6, batch.clone()).await.unwrap();
    let kinds: Vec<_> = changes
        .iter()
        .map(|c| (c.alarm.account.as_str(), c.kind.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("A", "opened"),
            ("B", "opened"),
            ("A", "attached"),
            ("A", "restored")
        ]
    );
    assert_eq!(s.store.cursor(ENGINE_CURSOR).await.unwrap(), Some(6));
    // Applied again (the engine crashed before it saw the answer): nothing changes.
    assert!(s
        .store
        .record_alarm_events(6, batch)
        .await
        .unwrap()
        .is_empty());
    // A cursor never moves back.
    s.store.record_alarm_events(2, vec![]).await.unwrap();
    assert_eq!(s.store.cursor(ENGINE_CURSOR).await.unwrap(), Some(6));
    let a = s
        .store
        .list_alarms(&AlarmQuery {
            account: Some("A".into()),
            ..AlarmQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(a.len(), 1);
    let a = &a[0];
    assert_eq!(
        (a.event_count, a.first_seq, a.state),
        (2, 1, AlarmState::New)
    );
    let zones: Vec<_> = a.zones.iter().map(|z| (z.zone, z.restored)).collect();
    assert_eq!(zones, [(3, true), (5, false)]);
    let d = s.store.alarm(a.id).await.unwrap().unwrap();
    assert_eq!(d.event_seqs, [1, 4, 5]);
    assert!(s.store.alarm(999).await.unwrap().is_none());
    // A restore for an account without an open alarm opens nothing.
    assert!(s
        .store
        .record_alarm_events(7, vec![restore(7, "C", 1)])
        .await
        .unwrap()
        .is_empty());
    s.close().await;
}

pub async fn a_closed_alarm_is_final_and_the_next_event_opens_a_new_one(b: &dyn Backend) {
    let s = Open::at(b, NOW).await;
    let c = s
        .store
        .record_alarm_events(1, vec![input(1, "A", 3, 3)])
        .await
        .unwrap();
    let id = c[0].alarm_id;
    let st = &s.store;
    assert_eq!(
        st.update_alarm(id, close(), "user:ann", NOW).await.unwrap(),
        Err(AlarmRefusal::NotTaken(id))
    );
    st.update_alarm(id, take(), "user:ann", NOW + 1)
        .await
        .unwrap()
        .unwrap();
    let note = AlarmOp::Note {
        text: "called the keyholder".into(),
        force: false,
    };
    st.update_alarm(id, note, "user:ann", NOW + 2)
        .await
        .unwrap()
        .unwrap();
    let closed = st
        .update_alarm(id, close(), "user:ann", NOW + 3)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (closed.alarm.state, closed.alarm.false_alarm),
        (AlarmState::Closed, true)
    );
    assert_eq!(
        st.update_alarm(id, take(), "user:bob", NOW + 4)
            .await
            .unwrap(),
        Err(AlarmRefusal::Closed(id))
    );
    assert_eq!(
        st.update_alarm(77, take(), "user:bob", NOW).await.unwrap(),
        Err(AlarmRefusal::NotFound(77))
    );
    let c = st
        .record_alarm_events(2, vec![input(2, "A", 3, 3)])
        .await
        .unwrap();
    assert_eq!(c[0].kind.as_str(), "opened");
    assert_ne!(c[0].alarm_id, id);
    let d = st.alarm(id).await.unwrap().unwrap();
    let notes: Vec<_> = d
        .notes
        .iter()
        .map(|n| (n.author.as_str(), n.text.as_str()))
        .collect();
    assert_eq!(
        notes,
        [
            ("user:ann", "called the keyholder"),
            ("user:ann", "the cat")
        ]
    );
    let kinds: Vec<_> = d.history.iter().map(|c| c.kind.as_str()).collect();
    assert_eq!(kinds, ["opened", "taken", "noted", "closed"]);
    s.close().await;
}

pub async fn of_two_concurrent_takes_exactly_one_wins(b: &dyn Backend) {
    let s = Open::at(b, NOW).await;
    let inputs = (1..=20).map(|i| input(i, &format!("P{i}"), 1, 3)).collect();
    let opened = s.store.record_alarm_events(20, inputs).await.unwrap();
    for c in opened {
        let (a, b2) = (Arc::clone(&s.store), Arc::clone(&s.store));
        let id = c.alarm_id;
        let ann =
            tokio::spawn(async move { a.update_alarm(id, take(), "user:ann", NOW).await.unwrap() });
        let bob =
            tokio::spawn(
                async move { b2.update_alarm(id, take(), "user:bob", NOW).await.unwrap() },
            );
        let (ann, bob) = (ann.await.unwrap(), bob.await.unwrap());
        assert!(ann.is_ok() != bob.is_ok(), "alarm {id}: {ann:?} / {bob:?}");
        let winner = if ann.is_ok() { "user:ann" } else { "user:bob" };
        let loser = if ann.is_ok() { bob } else { ann };
        assert_eq!(
            loser,
            Err(AlarmRefusal::TakenBy {
                id,
                holder: winner.into()
            })
        );
        let d = s.store.alarm(id).await.unwrap().unwrap();
        assert_eq!(d.alarm.taken_by.as_deref(), Some(winner));
        assert_eq!(d.history.len(), 2, "one opened, one taken");
    }
    s.close().await;
}

pub async fn a_batch_of_updates_applies_each_op_and_refuses_only_its_own(b: &dyn Backend) {
    let s = Open::at(b, NOW).await;
    let inputs = (1..=3).map(|i| input(i, &format!("U{i}"), 1, 3)).collect();
    let opened = s.store.record_alarm_events(3, inputs).await.unwrap();
    let ids: Vec<i64> = opened.iter().map(|c| c.alarm_id).collect();
    // The second alarm is taken first, so escalating it is refused; an unknown id too.
    s.store
        .update_alarm(ids[1], take(), "user:ann", NOW)
        .await
        .unwrap()
        .unwrap();
    let ops = vec![
        (ids[0], AlarmOp::Escalate),
        (ids[1], AlarmOp::Escalate),
        (999_999, AlarmOp::Escalate),
        (ids[2], AlarmOp::Escalate),
    ];
    let out = s.store.update_alarms(ops, "system", NOW + 5).await.unwrap();
    assert_eq!(out.len(), 4, "{out:?}");
    let first = out[0].as_ref().expect("first escalated");
    let last = out[3].as_ref().expect("last escalated");
    assert!(
        out[1].is_err(),
        "a taken alarm is not escalated: {:?}",
        out[1]
    );
    assert_eq!(out[2], Err(AlarmRefusal::NotFound(999_999)));
    assert!(
        first.seq < last.seq,
        "changes in op order: {} {}",
        first.seq,
        last.seq
    );
    for id in [ids[0], ids[2]] {
        let d = s.store.alarm(id).await.unwrap().unwrap();
        assert!(d.alarm.escalated, "alarm {id} escalated");
    }
    let d = s.store.alarm(ids[1]).await.unwrap().unwrap();
    assert!(!d.alarm.escalated);
    assert_eq!(d.alarm.taken_by.as_deref(), Some("user:ann"));
    // The escalation ticker's read sees the flags too (not escalated again).
    let mut flags: Vec<(i64, bool)> = s
        .store
        .open_alarms()
        .await
        .unwrap()
        .iter()
        .map(|a| (a.id, a.escalated))
        .collect();
    flags.sort_unstable();
    assert_eq!(flags, vec![(ids[0], true), (ids[1], false), (ids[2], true)]);
    s.close().await;
}

pub async fn alarm_changes_have_their_own_increasing_seq_and_wake_followers(b: &dyn Backend) {
    let s = Open::at(b, NOW).await;
    let mut wake = s.store.alarm_changes_watch();
    let start = *wake.borrow_and_update();
    assert_eq!(start, s.store.last_alarm_change_seq().await.unwrap());
    let c = s
        .store
        .record_alarm_events(1, vec![input(1, "A", 3, 3)])
        .await
        .unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), wake.changed())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(*wake.borrow_and_update(), c[0].seq);
    let id = c[0].alarm_id;
    s.store
        .update_alarm(id, take(), "user:ann", NOW + 5)
        .await
        .unwrap()
        .unwrap();
    s.store
        .update_alarm(id, AlarmOp::Release { force: false }, "user:ann", NOW + 6)
        .await
        .unwrap()
        .unwrap();
    // A refusal writes no change.
    let _ = s
        .store
        .update_alarm(id, AlarmOp::Release { force: false }, "user:ann", NOW + 7)
        .await
        .unwrap();
    let log = s.store.alarm_changes_after(0, 0).await.unwrap();
    let seqs: Vec<i64> = log.iter().map(|c| c.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(log.len(), 3);
    let last = &log[2];
    assert_eq!(
        (last.kind.as_str(), last.actor.as_str(), last.at_ms),
        ("released", "user:ann", NOW + 6)
    );
    assert_eq!(
        (last.alarm.state, last.alarm.change_seq),
        (AlarmState::New, last.seq)
    );
    assert_eq!(
        s.store.alarm_changes_after(seqs[0], 1).await.unwrap()[0].seq,
        seqs[1]
    );
    assert_eq!(s.store.last_alarm_change_seq().await.unwrap(), seqs[2]);
    s.close().await;
}

/// Four new alarms, A to D, of priorities 3, 1, 3, 2, opened a second apart.
fn queue_of_four() -> Vec<AlarmInput> {
    vec![
        input(1, "A", 1, 3),
        input(2, "B", 1, 1),
        input(3, "C", 1, 3),
        input(4, "D", 1, 2),
    ]
}

pub async fn the_queue_is_ordered_by_priority_then_age_and_pages(b: &dyn Backend) {
    let s = Open::at(b, NOW).await;
    s.store
        .record_alarm_events(4, queue_of_four())
        .await
        .unwrap();
    let accounts =
        |v: Vec<alarmhub::alarms::Alarm>| v.into_iter().map(|a| a.account).collect::<Vec<_>>();
    let q = open_states();
    assert_eq!(
        accounts(s.store.list_alarms(&q).await.unwrap()),
        ["B", "D", "A", "C"]
    );
    let first = s
        .store
        .list_alarms(&AlarmQuery {
            limit: 2,
            ..q.clone()
        })
        .await
        .unwrap();
    let after = AlarmCursor::after(first.last().unwrap(), true);
    let rest = s
        .store
        .list_alarms(&AlarmQuery {
            after: Some(after),
            ..q.clone()
        })
        .await
        .unwrap();
    assert_eq!(accounts(rest), ["A", "C"]);
    // Every state: newest first, paged by id.
    let all = s.store.list_alarms(&AlarmQuery::default()).await.unwrap();
    assert_eq!(accounts(all.clone()), ["D", "C", "B", "A"]);
    let older = AlarmQuery {
        after: Some(AlarmCursor::Id(all[1].id)),
        ..AlarmQuery::default()
    };
    assert_eq!(
        accounts(s.store.list_alarms(&older).await.unwrap()),
        ["B", "A"]
    );
    let p3 = AlarmQuery {
        priority: Priority::new(3),
        ..q.clone()
    };
    assert_eq!(
        accounts(s.store.list_alarms(&p3).await.unwrap()),
        ["A", "C"]
    );
    let b_id = s
        .store
        .list_alarms(&AlarmQuery {
            account: Some("B".into()),
            ..AlarmQuery::default()
        })
        .await
        .unwrap()[0]
        .id;
    s.store
        .update_alarm(b_id, take(), "user:ann", NOW)
        .await
        .unwrap()
        .unwrap();
    let taken = AlarmQuery {
        states: vec![AlarmState::Taken],
        ..AlarmQuery::default()
    };
    assert_eq!(accounts(s.store.list_alarms(&taken).await.unwrap()), ["B"]);
    s.close().await;
}

pub async fn the_open_alarms_read_for_escalation_match_the_full_records(b: &dyn Backend) {
    let s = Open::at(b, NOW).await;
    let mut inputs = queue_of_four();
    inputs.push(input(5, "E", 1, 4));
    let opened = s.store.record_alarm_events(5, inputs).await.unwrap();
    let id = |account: &str| {
        opened
            .iter()
            .find(|c| c.alarm.account == account)
            .map(|c| c.alarm_id)
            .unwrap()
    };
    let st = &s.store;
    // B escalated; C taken; D taken and closed; E escalated, then taken.
    let ops = vec![(id("B"), AlarmOp::Escalate), (id("E"), AlarmOp::Escalate)];
    for out in st.update_alarms(ops, "system", NOW + 5).await.unwrap() {
        out.unwrap();
    }
    for account in ["C", "D", "E"] {
        st.update_alarm(id(account), take(), "user:ann", NOW + 6)
            .await
            .unwrap()
            .unwrap();
    }
    st.update_alarm(id("D"), close(), "user:ann", NOW + 7)
        .await
        .unwrap()
        .unwrap();

    let open = st.open_alarms().await.unwrap();
    let full = st.list_alarms(&open_states()).await.unwrap();
    let expected: Vec<OpenAlarm> = full.iter().map(OpenAlarm::from).collect();
    assert_eq!(open, expected);
    let seen: Vec<(i64, AlarmState, u8, bool)> = open
        .iter()
        .map(|a| (a.id, a.state, a.priority.get(), a.escalated))
        .collect();
    assert_eq!(
        seen,
        [
            (id("B"), AlarmState::New, 1, true),
            (id("A"), AlarmState::New, 3, false),
            (id("C"), AlarmState::Taken, 3, false),
            // Taken after it escalated: a taken alarm does not escalate, so the flag is off.
            (id("E"), AlarmState::Taken, 4, false),
        ]
    );
    assert!(open.iter().all(|a| a.opened_at_ms >= NOW), "{open:?}");
    s.close().await;
}

pub async fn open_alarms_and_the_change_log_survive_reopen(b: &dyn Backend) {
    let s = Open::at(b, NOW).await;
    let c = s
        .store
        .record_alarm_events(3, vec![input(1, "A", 1, 3), input(3, "B", 1, 2)])
        .await
        .unwrap();
    s.store
        .update_alarm(c[0].alarm_id, take(), "user:ann", NOW)
        .await
        .unwrap()
        .unwrap();
    let before = s.store.list_alarms(&AlarmQuery::default()).await.unwrap();
    let last = s.store.last_alarm_change_seq().await.unwrap();
    s.close().await;
    let s = Open::at(b, NOW).await;
    assert_eq!(
        s.store.list_alarms(&AlarmQuery::default()).await.unwrap(),
        before
    );
    assert_eq!(s.store.cursor(ENGINE_CURSOR).await.unwrap(), Some(3));
    assert_eq!(*s.store.alarm_changes_watch().borrow(), last);
    let next = s
        .store
        .record_alarm_events(4, vec![input(4, "C", 1, 3)])
        .await
        .unwrap();
    assert!(next[0].seq > last);
    assert!(next[0].alarm_id > before.iter().map(|a| a.id).max().unwrap());
    s.close().await;
}
