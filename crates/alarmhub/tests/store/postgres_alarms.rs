//! Alarm records across PostgreSQL nodes: two stores on one database are two nodes. A take
//! is a compare-and-set across them (of a take on each node exactly one wins), the alarm
//! change log has one gap-free sequence that a follower on either node reads without ever
//! skipping a change that commits later, and a node's wake-up moves when the *other* node
//! writes (LISTEN/NOTIFY, with the counter as the truth).

use std::sync::Arc;
use std::time::{Duration, Instant};

use alarmhub::alarms::{AlarmInput, AlarmOp, AlarmRefusal, Category, EventAction, Priority};
use alarmhub::clock::Clock;
use alarmhub::store::{PgStore, Store, StoreOptions};

use super::conformance::{NOW, WINDOW};
use super::pg::TestDb;

async fn node(url: &str) -> Arc<PgStore> {
    let opts = StoreOptions {
        dedup_window_ms: WINDOW,
        clock: Clock::manual(NOW),
        ..StoreOptions::default()
    };
    PgStore::open(url, opts, Box::new(|_| {})).await.unwrap()
}

fn input(seq: i64, account: &str) -> AlarmInput {
    AlarmInput {
        seq,
        account: account.into(),
        code: 1130,
        sia_code: None,
        zone: 1,
        group: 1,
        at_ms: NOW + seq,
        action: EventAction::Alarm {
            priority: Priority::new(2).unwrap(),
            category: Category::Burglary,
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_a_take_on_each_of_two_nodes_exactly_one_wins() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let (a, b) = tokio::join!(node(&db.url), node(&db.url));
    let inputs = (1..=20).map(|i| input(i, &format!("P{i}"))).collect();
    let opened = a.record_alarm_events(20, inputs).await.unwrap();
    assert_eq!(opened.len(), 20);
    for c in opened {
        let id = c.alarm_id;
        let take = AlarmOp::Take { force: false };
        let (ra, rb) = tokio::join!(
            a.update_alarm(id, take.clone(), "user:ann", NOW),
            b.update_alarm(id, take, "user:bob", NOW)
        );
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert!(ra.is_ok() != rb.is_ok(), "alarm {id}: {ra:?} / {rb:?}");
        let (winner, loser) = if ra.is_ok() {
            ("user:ann", rb)
        } else {
            ("user:bob", ra)
        };
        assert_eq!(
            loser,
            Err(AlarmRefusal::TakenBy {
                id,
                holder: winner.into()
            })
        );
        let d = b.alarm(id).await.unwrap().unwrap();
        assert_eq!(d.alarm.taken_by.as_deref(), Some(winner));
        assert_eq!(d.history.len(), 2, "one opened, one taken");
    }
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_nodes_write_one_gap_free_change_log_and_wake_each_others_followers() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let (a, b) = tokio::join!(node(&db.url), node(&db.url));
    let opened = a
        .record_alarm_events(2, vec![input(1, "A"), input(2, "B")])
        .await
        .unwrap();
    let (ida, idb) = (opened[0].alarm_id, opened[1].alarm_id);
    // B's wake-up moves although only A wrote.
    let mut wake = b.alarm_changes_watch();
    let deadline = Instant::now() + Duration::from_secs(5);
    while *wake.borrow_and_update() < opened[1].seq && Instant::now() < deadline {
        let _ = tokio::time::timeout(Duration::from_millis(200), wake.changed()).await;
    }
    assert_eq!(*wake.borrow(), opened[1].seq, "B woke for A's changes");
    // 2 × 60 notes from both nodes at once, while a follower on B reads the log by seq:
    // every page continues exactly where the last ended.
    let total = 2 + 2 * 60;
    let follower = {
        let b: Arc<dyn Store> = b.clone();
        tokio::spawn(async move {
            let mut cursor = 0;
            let mut wake = b.alarm_changes_watch();
            let deadline = Instant::now() + Duration::from_secs(30);
            while cursor < total && Instant::now() < deadline {
                for c in b.alarm_changes_after(cursor, 0).await.unwrap() {
                    assert_eq!(c.seq, cursor + 1, "follower skipped past a gap");
                    cursor = c.seq;
                }
                let _ = tokio::time::timeout(Duration::from_millis(100), wake.changed()).await;
            }
            cursor
        })
    };
    let write = |s: Arc<PgStore>, id: i64, who: &'static str| {
        tokio::spawn(async move {
            for k in 0..60 {
                let note = AlarmOp::Note {
                    text: format!("{who} {k}"),
                    force: true,
                };
                s.update_alarm(id, note, who, NOW + k)
                    .await
                    .unwrap()
                    .unwrap();
            }
        })
    };
    let (wa, wb) = (
        write(a.clone(), ida, "user:ann"),
        write(b.clone(), idb, "user:bob"),
    );
    wa.await.unwrap();
    wb.await.unwrap();
    assert_eq!(follower.await.unwrap(), total);
    let seqs: Vec<i64> = a
        .alarm_changes_after(0, 0)
        .await
        .unwrap()
        .iter()
        .map(|c| c.seq)
        .collect();
    assert_eq!(seqs, (1..=total).collect::<Vec<_>>());
    assert_eq!(a.last_alarm_change_seq().await.unwrap(), total);
    a.close().await.unwrap();
    b.close().await.unwrap();
}
