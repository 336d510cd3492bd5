//! What only the PostgreSQL outbox has: several nodes on one outbox. Two outboxes opened on
//! the same database are two nodes: both record the same changes (one row each), both
//! claim at once (each row goes to exactly one), a dead node's lease runs out and a living
//! node takes the row with the same notification id, and opening does not release the
//! leases other nodes hold.

use std::collections::BTreeSet;
use std::sync::Arc;

use alarmhub::notify::outbox::{FeedBatch, Settlement};
use alarmhub::notify::Outbox;
use alarmhub::store::postgres::PgOutbox;

use super::conformance::{alarm, target, NOW};
use super::pg::TestDb;

async fn node(db: &TestDb) -> Arc<dyn Outbox> {
    Arc::new(PgOutbox::open(&db.url).await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_recording_the_same_changes_and_claiming_together_deliver_each_once() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let (a, b) = tokio::join!(node(&db), node(&db));
    // Both nodes derive the same 200 notifications from the shared logs.
    let ns: Vec<_> = (0..200)
        .map(|i| (alarm(&format!("ntf_{i}"), i), vec![target("hook")]))
        .collect();
    let batch = FeedBatch {
        feed: "notify.alarms".into(),
        up_to: 200,
        notifications: ns,
        reminders: Vec::new(),
    };
    let (ra, rb) = tokio::join!(a.record(batch.clone(), NOW), b.record(batch, NOW));
    assert_eq!(ra.unwrap() + rb.unwrap(), 200, "one row per notification");
    // Both claim in small pages at the same time until nothing is due; every row is
    // claimed by exactly one node (the lease is long: nothing comes back in between).
    let claim = |o: Arc<dyn Outbox>| {
        tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..200 {
                let page = o.claim_due("hook", NOW, 7, 600_000).await.unwrap();
                if page.is_empty() {
                    break;
                }
                let settled = page
                    .iter()
                    .map(|d| {
                        let s = Settlement::Delivered {
                            attempts: 1,
                            at_ms: NOW,
                        };
                        (d.id, s)
                    })
                    .collect();
                got.extend(page.into_iter().map(|d| d.notification.id.to_string()));
                o.settle(settled).await.unwrap();
            }
            got
        })
    };
    let (ga, gb) = (claim(Arc::clone(&a)), claim(Arc::clone(&b)));
    let (ga, gb) = (ga.await.unwrap(), gb.await.unwrap());
    let all: BTreeSet<_> = ga.iter().chain(gb.iter()).cloned().collect();
    assert_eq!(ga.len() + gb.len(), 200, "no row claimed twice");
    assert_eq!(all.len(), 200, "every row claimed");
    assert!(a.backlog().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_lease_runs_out_and_another_node_delivers_with_the_same_id() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let a = node(&db).await;
    a.enqueue(&alarm("ntf_x", 1), &[target("hook")], NOW)
        .await
        .unwrap();
    let claimed = a.claim_due("hook", NOW, 10, 30_000).await.unwrap();
    assert_eq!(claimed.len(), 1);
    drop(a); // node A dies mid-send
             // A node starting now does not release A's lease (A might still be sending) …
    let b = node(&db).await;
    assert!(b
        .claim_due("hook", NOW + 1, 10, 30_000)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(b.next_due_ms("hook").await.unwrap(), Some(NOW + 30_000));
    // … and takes the row once the lease has run out, with the same notification id.
    let again = b.claim_due("hook", NOW + 30_000, 10, 30_000).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].notification.id.as_str(), "ntf_x");
}
