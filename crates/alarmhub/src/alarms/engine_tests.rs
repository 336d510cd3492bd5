use std::sync::Arc;

use super::*;
use crate::alarms::{AlarmState, Category, EventAction, Priority};
use crate::alarms::{Alarms, AlarmsConfig};
use crate::clock::Clock;
use crate::events::{Facts, NewEvent, Source};
use crate::store::{SqliteStore, StoreOptions};

const T0: i64 = 1_700_000_000_000;

fn event(account: &str, code: u16, zone: u16, at_ms: i64) -> NewEvent {
    NewEvent {
        account: account.into(),
        source: Source::Panel,
        code,
        sia_code: None,
        group: 1,
        zone,
        received_at_ms: at_ms,
        panel_time: None,
        protocol: "ADM-CID".into(),
        frame_seq: String::new(),
        peer: String::new(),
        facts: Facts::default(),
        detail: Default::default(),
        dedup_key: None,
    }
}

fn open_store(dir: &std::path::Path, clock: &Clock) -> Arc<dyn Store> {
    let opts = StoreOptions {
        clock: clock.clone(),
        ..StoreOptions::default()
    };
    let store: Arc<dyn Store> = SqliteStore::open(dir, opts, Box::new(|_| {})).unwrap();
    store
}

fn alarms(store: &Arc<dyn Store>, clock: &Clock) -> Alarms {
    Alarms::new(
        Arc::clone(store),
        Arc::new(AlarmsConfig::default()),
        clock.clone(),
    )
}

/// A fresh store with a manual clock at `T0`, and the engine on it from its start cursor
/// (0: the log is empty).
async fn engine_at_t0() -> (tempfile::TempDir, Clock, Arc<dyn Store>, Alarms) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(T0);
    let store = open_store(dir.path(), &clock);
    let alarms = alarms(&store, &clock);
    assert_eq!(start_cursor(store.as_ref()).await.unwrap(), 0);
    (dir, clock, store, alarms)
}

/// The input of a burglary (1130, zone 1) at `T0` with priority `p`.
fn burglary(seq: i64, account: &str, p: u8) -> AlarmInput {
    AlarmInput {
        seq,
        account: account.into(),
        code: 1130,
        sia_code: None,
        zone: 1,
        group: 1,
        at_ms: T0,
        action: EventAction::Alarm {
            priority: Priority::new(p).unwrap(),
            category: Category::Burglary,
        },
    }
}

#[test]
fn the_next_deadline_follows_each_priority() {
    let config = AlarmsConfig::default();
    let mk = |id: i64, p: u8| {
        let input = burglary(id, &format!("A{id}"), p);
        let mut a = crate::alarms::rules::open(&input).unwrap();
        a.id = id;
        OpenAlarm::from(&a)
    };
    let open = [mk(1, 1), mk(2, 3), mk(3, 5)];
    assert_eq!(
        due(&config, &open, T0 + 29_999),
        (vec![], Some(T0 + 30_000))
    );
    assert_eq!(
        due(&config, &open, T0 + 30_000),
        (vec![1], Some(T0 + 60_000))
    );
    assert_eq!(
        due(&config, &open, T0 + 60_000),
        (vec![1, 2], Some(T0 + 120_000))
    );
    assert_eq!(due(&config, &open, T0 + 120_000), (vec![1, 2, 3], None));
}

#[tokio::test]
async fn events_open_alarms_once_even_when_a_batch_is_applied_again() {
    let (_dir, _clock, store, alarms) = engine_at_t0().await;
    store
        .append(vec![
            event("1001", 1130, 3, T0),
            event("1001", 3400, 0, T0 + 1),
            event("1001", 1131, 4, T0 + 2),
            event("1001", 3130, 3, T0 + 3),
        ])
        .await
        .unwrap();
    let (cursor, changes) = catch_up(&alarms, 0).await.unwrap();
    assert_eq!(cursor, 4);
    let kinds: Vec<_> = changes.iter().map(|c| c.kind.as_str()).collect();
    assert_eq!(kinds, ["opened", "attached", "restored"]);
    // The same events again (a crash before the caller saw the answer): nothing new.
    let events = store.events_after(0, 0).await.unwrap();
    let again = store
        .record_alarm_events(4, inputs(alarms.config(), &events))
        .await
        .unwrap();
    assert!(again.is_empty(), "{again:?}");
    let open = store.list_alarms(&Default::default()).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].event_count, 2);
    store.close().await.unwrap();
}

#[test]
fn a_batch_is_applied_in_commits_of_at_most_the_limit_each_moving_the_cursor() {
    let input = |seq: i64| burglary(seq, "1001", 3);
    let seqs = |c: &[(i64, Vec<AlarmInput>)]| -> Vec<(i64, usize)> {
        c.iter().map(|(upto, part)| (*upto, part.len())).collect()
    };
    // No alarm input: one empty commit that still moves the cursor to the batch's end.
    assert_eq!(seqs(&commits(Vec::new(), 50)), [(50, 0)]);
    // Fewer than the limit: one commit, up to the batch's end.
    assert_eq!(seqs(&commits((1..=3).map(input).collect(), 9)), [(9, 3)]);
    // 150 inputs (every other seq): 64 + 64 + 22, each up to its last input, the last
    // up to the end of the batch.
    let many: Vec<_> = (1..=150).map(|i| input(2 * i)).collect();
    assert_eq!(
        seqs(&commits(many, 1000)),
        [(128, 64), (256, 64), (1000, 22)]
    );
    // Exactly the limit: one commit.
    let exact: Vec<_> = (1..=64).map(input).collect();
    assert_eq!(seqs(&commits(exact, 70)), [(70, 64)]);
}

#[tokio::test]
async fn a_large_batch_opens_and_a_round_escalates_every_alarm_across_several_commits() {
    let (_dir, clock, store, alarms) = engine_at_t0().await;
    // 200 accounts, one burglary each, and a heartbeat-like event after them.
    let mut batch: Vec<_> = (0..200)
        .map(|i| event(&format!("A{i}"), 1130, 1, T0 + i64::from(i)))
        .collect();
    batch.push(event("A0", 1602, 0, T0 + 500));
    store.append(batch).await.unwrap();
    let (cursor, changes) = catch_up(&alarms, 0).await.unwrap();
    assert_eq!(cursor, 201, "past the last event, which opens nothing");
    assert_eq!(changes.len(), 200);
    assert!(changes.iter().all(|c| c.kind.as_str() == "opened"));
    assert_eq!(
        store.list_alarms(&Default::default()).await.unwrap().len(),
        200
    );
    assert_eq!(
        store.cursor(crate::alarms::ENGINE_CURSOR).await.unwrap(),
        Some(201)
    );
    // Nobody takes them: one round escalates all 200, in several commits.
    clock.advance_ms(61_000);
    let (escalated, next) = escalate_once(&alarms).await.unwrap();
    assert_eq!(escalated.len(), 200);
    assert_eq!(next, None, "nothing left to escalate");
    let open = store.list_alarms(&Default::default()).await.unwrap();
    assert!(open.iter().all(|a| a.escalated), "every alarm escalated");
    store.close().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_alarm_not_taken_in_time_escalates_under_paused_time() {
    let (_dir, clock, store, alarms) = engine_at_t0().await;
    // A fire (take within 30 s) and a burglary (60 s), both at T0.
    store
        .append(vec![event("F", 1110, 1, T0), event("B", 1130, 1, T0)])
        .await
        .unwrap();
    catch_up(&alarms, 0).await.unwrap();
    let cancel = CancellationToken::new();
    let ticker = tokio::spawn(escalate(alarms.clone(), cancel.clone()));
    let escalated = |store: Arc<dyn Store>| async move {
        let all = store.list_alarms(&Default::default()).await.unwrap();
        let mut e: Vec<String> = all
            .iter()
            .filter(|a| a.escalated)
            .map(|a| a.account.clone())
            .collect();
        e.sort();
        e
    };
    let step = |secs: u64| {
        clock.advance_ms(i64::try_from(secs).unwrap() * 1000);
        tokio::time::advance(Duration::from_secs(secs))
    };
    step(29).await;
    tokio::task::yield_now().await;
    assert!(escalated(Arc::clone(&store)).await.is_empty());
    step(2).await;
    let mut seen = Vec::new();
    for _ in 0..200 {
        seen = escalated(Arc::clone(&store)).await;
        if !seen.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen, ["F"]);
    // Taken before its deadline, the burglary never escalates.
    let b = store.list_alarms(&Default::default()).await.unwrap();
    let b = b.iter().find(|a| a.account == "B").unwrap().id;
    store
        .update_alarm(
            b,
            AlarmOp::Take { force: false },
            "user:ann",
            clock.now_ms(),
        )
        .await
        .unwrap()
        .unwrap();
    step(120).await;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(escalated(Arc::clone(&store)).await, ["F"]);
    let f = store.list_alarms(&Default::default()).await.unwrap();
    let f = f.iter().find(|a| a.account == "F").unwrap();
    assert_eq!((f.state, f.escalated_at_ms), (AlarmState::New, T0 + 31_000));
    cancel.cancel();
    ticker.await.unwrap();
    store.close().await.unwrap();
}

fn stored(seq: i64, event: NewEvent) -> Arc<StoredEvent> {
    Arc::new(StoredEvent { seq, event })
}

#[test]
fn events_from_the_bus_are_taken_only_when_they_continue_the_cursor() {
    let e = |seq: i64| stored(seq, event("1001", 1130, 1, T0));
    let seqs = |p: &[Arc<StoredEvent>]| -> Vec<i64> { p.iter().map(|e| e.seq).collect() };
    let mut pending = Vec::new();
    // Already applied (or read from the store): skipped.
    assert_eq!(take_next(5, &mut pending, e(4)), Taken::Next);
    assert_eq!(take_next(5, &mut pending, e(5)), Taken::Next);
    assert!(pending.is_empty());
    // The next ones, in order.
    assert_eq!(take_next(5, &mut pending, e(6)), Taken::Next);
    assert_eq!(take_next(5, &mut pending, e(7)), Taken::Next);
    // A repeat of a pending one is skipped too.
    assert_eq!(take_next(5, &mut pending, e(7)), Taken::Next);
    assert_eq!(seqs(&pending), [6, 7]);
    // A gap: the store must be read.
    assert_eq!(take_next(5, &mut pending, e(9)), Taken::Store);
    assert_eq!(seqs(&pending), [6, 7]);
    let mut empty = Vec::new();
    assert_eq!(take_next(5, &mut empty, e(7)), Taken::Store);
    assert!(empty.is_empty());
}

/// Wait (bounded) until the engine's stored cursor is `seq`.
async fn cursor_reaches(store: &Arc<dyn Store>, seq: i64) {
    for _ in 0..500 {
        if store.cursor(crate::alarms::ENGINE_CURSOR).await.unwrap() == Some(seq) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!(
        "the engine's cursor did not reach {seq}: {:?}",
        store.cursor(crate::alarms::ENGINE_CURSOR).await
    );
}

/// The engine following `bus` on a store holding one burglary of 1001 (seq 1), once its
/// first round (from the store) is done.
async fn following(bus: &EventBus) -> (tempfile::TempDir, Arc<dyn Store>, CancellationToken) {
    let (dir, _clock, store, alarms) = engine_at_t0().await;
    store
        .append(vec![event("1001", 1130, 1, T0)])
        .await
        .unwrap();
    let cancel = CancellationToken::new();
    tokio::spawn(follow(alarms, bus.clone(), cancel.clone()));
    cursor_reaches(&store, 1).await;
    (dir, store, cancel)
}

async fn alarm_of(store: &Arc<dyn Store>, account: &str) -> Option<crate::alarms::Alarm> {
    let query = crate::alarms::AlarmQuery {
        account: Some(account.into()),
        ..Default::default()
    };
    store.list_alarms(&query).await.unwrap().into_iter().next()
}

#[tokio::test]
async fn once_caught_up_the_engine_takes_events_from_the_bus_without_reading_them_back() {
    let bus = EventBus::new(64);
    let (_dir, store, cancel) = following(&bus).await;
    // Published, never stored: only the bus can have told the engine about it.
    bus.publish(stored(2, event("2002", 1130, 5, T0 + 10)));
    cursor_reaches(&store, 2).await;
    let alarm = alarm_of(&store, "2002").await.expect("an alarm for 2002");
    assert_eq!((alarm.first_seq, alarm.zone), (2, 5));
    assert_eq!(store.events_after(1, 0).await.unwrap().len(), 0);
    cancel.cancel();
    store.close().await.unwrap();
}

#[tokio::test]
async fn after_a_gap_on_the_bus_the_engine_reads_the_store() {
    let bus = EventBus::new(64);
    let (_dir, store, cancel) = following(&bus).await;
    // Seqs 2 and 3 are stored; the bus carries only 3.
    store
        .append(vec![
            event("1001", 1131, 2, T0 + 1),
            event("1001", 1132, 3, T0 + 2),
        ])
        .await
        .unwrap();
    let third = store.events_after(2, 0).await.unwrap();
    assert_eq!(third.len(), 1);
    bus.publish(Arc::new(third[0].clone()));
    cursor_reaches(&store, 3).await;
    let alarm = alarm_of(&store, "1001").await.unwrap();
    assert_eq!(alarm.event_count, 3, "{alarm:?}");
    cancel.cancel();
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_lagging_bus_sends_the_engine_back_to_the_store() {
    // Room for 16: the 40 published below overflow it before the engine runs again.
    let bus = EventBus::new(16);
    let (_dir, store, cancel) = following(&bus).await;
    let events: Vec<NewEvent> = (0..40)
        .map(|i| event("1001", 1130, 1 + (i % 8), T0 + 1 + i64::from(i)))
        .collect();
    store.append(events).await.unwrap();
    for e in store.events_after(1, 0).await.unwrap() {
        bus.publish(Arc::new(e));
    }
    cursor_reaches(&store, 41).await;
    let alarm = alarm_of(&store, "1001").await.unwrap();
    assert_eq!(alarm.event_count, 41, "{alarm:?}");
    cancel.cancel();
    store.close().await.unwrap();
}
