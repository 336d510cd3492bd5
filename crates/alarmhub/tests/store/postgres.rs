//! What only the PostgreSQL store has: several nodes on one database. Two stores opened on
//! the same database are two nodes: they share one gap-free sequence, dedup each other's
//! retransmissions, see each other's events through `on_commit` in seq order, and migrate
//! an empty database together without tripping over each other; a node leaves a snapshot
//! another node saved recently; the dedup lookup goes by key whatever the planner's
//! statistics say. Connection errors name the database without its password.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alarmhub::clock::Clock;
use alarmhub::events::{Appended, StoredEvent};
use alarmhub::store::{OnCommit, PgStore, Snapshot, Store, StoreError, StoreOptions};

use super::conformance::{event, NOW, WINDOW};
use super::pg::TestDb;

/// One node: its store and every seq its `on_commit` saw.
struct Node {
    store: Arc<PgStore>,
    seen: Arc<Mutex<Vec<i64>>>,
}

async fn node(url: &str) -> Node {
    node_with(url, Clock::manual(NOW)).await
}

/// A node whose "now" is `clock`.
async fn node_with(url: &str, clock: Clock) -> Node {
    let seen: Arc<Mutex<Vec<i64>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let on_commit: OnCommit = Box::new(move |evs: &[Arc<StoredEvent>]| {
        sink.lock().unwrap().extend(evs.iter().map(|e| e.seq));
    });
    let opts = StoreOptions {
        dedup_window_ms: WINDOW,
        clock,
        ..StoreOptions::default()
    };
    let store = PgStore::open(url, opts, on_commit).await.unwrap();
    store.follow_from(0).await.unwrap();
    Node { store, seen }
}

/// Wait (bounded) until `node` saw `n` events.
async fn saw(node: &Node, n: usize) -> Vec<i64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = node.seen.lock().unwrap().clone();
        if seen.len() >= n || Instant::now() > deadline {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_one_gap_free_sequence_and_each_sees_every_event_in_order() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let (a, b) = tokio::join!(node(&db.url), node(&db.url));
    // A reader following by seq while both nodes write: every page must continue exactly
    // where the last one ended (a late commit of a lower seq would show up as a gap).
    let reader = {
        let store: Arc<dyn Store> = a.store.clone();
        tokio::spawn(async move {
            let mut cursor = 0;
            let deadline = Instant::now() + Duration::from_secs(20);
            while cursor < 400 && Instant::now() < deadline {
                for e in store.events_after(cursor, 0).await.unwrap() {
                    assert_eq!(e.seq, cursor + 1, "reader skipped past a gap");
                    cursor = e.seq;
                }
            }
            cursor
        })
    };
    let mut tasks = Vec::new();
    for (i, n) in [&a, &b].into_iter().enumerate() {
        for t in 0..10 {
            let store = Arc::clone(&n.store);
            tasks.push(tokio::spawn(async move {
                let mut got = Vec::new();
                for k in 0..20 {
                    let e = event(&format!("n{i}t{t}"), 1130, NOW + k, None);
                    got.extend(store.append(vec![e]).await.unwrap());
                }
                got
            }));
        }
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap().into_iter().map(|a| a.seq()));
    }
    all.sort_unstable();
    assert_eq!(all, (1..=400).collect::<Vec<_>>());
    assert_eq!(reader.await.unwrap(), 400);
    for n in [&a, &b] {
        assert_eq!(saw(n, 400).await, (1..=400).collect::<Vec<_>>());
    }
    a.store.close().await.unwrap();
    b.store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retransmission_to_another_node_is_answered_with_the_original_seq() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let a = node(&db.url).await;
    let b = node(&db.url).await;
    let first = a
        .store
        .append(vec![event("1234", 1130, NOW, Some(42))])
        .await
        .unwrap();
    assert_eq!(first, vec![Appended::Stored(1)]);
    let again = b
        .store
        .append(vec![
            event("1234", 1130, NOW + 1, Some(42)),
            event("1234", 1131, NOW + 1, Some(43)),
        ])
        .await
        .unwrap();
    assert_eq!(again, vec![Appended::Duplicate(1), Appended::Stored(2)]);
    // B's on_commit saw A's event before B's own, and B answered only after that.
    assert_eq!(*b.seen.lock().unwrap(), vec![1, 2]);
    assert_eq!(b.store.events_after(0, 0).await.unwrap().len(), 2);
    a.store.close().await.unwrap();
    b.store.close().await.unwrap();
}

/// A plain connection to the test's database (catalog reads, ANALYZE).
async fn client(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

/// How often each of the indexes `names` was scanned, waiting (bounded) until the first has
/// at least `at_least_first` scans: a backend reports its counts within ~10 s of going idle.
async fn index_scans(url: &str, names: [&str; 2], at_least_first: i64) -> [i64; 2] {
    let client = client(url).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut got = [0; 2];
        for (slot, name) in got.iter_mut().zip(names) {
            *slot = client
                .query_one(
                    "SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = $1",
                    &[&name],
                )
                .await
                .unwrap()
                .get(0);
        }
        if got[0] >= at_least_first || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dedup_lookup_reads_the_dedup_index_not_every_event_of_the_window() {
    // The append runs as a generic plan on a table whose statistics lag behind it. Taken
    // when the stored keys were few, they make the planner go by `received_at_ms > cutoff`,
    // which reads every event of the dedup window on each append — 300,000 rows a batch
    // with 100,000 panels connecting, and the cluster collapsed. It must go by `dedup_key`
    // whatever the statistics say.
    let Some(db) = TestDb::create().await else {
        return;
    };
    let a = node(&db.url).await;
    // Old events (before the window, so each is stored) with three keys, then statistics.
    let old = (0..200)
        .map(|k| {
            event(
                &format!("o{k}"),
                1130,
                NOW - 3_600_000 + k,
                Some(k as u64 % 3),
            )
        })
        .collect();
    a.store.append(old).await.unwrap();
    client(&db.url)
        .await
        .batch_execute("ANALYZE ah_events")
        .await
        .unwrap();
    for round in 1..=4u64 {
        let batch = (0..50)
            .map(|k| {
                event(
                    &format!("p{k}"),
                    1130,
                    NOW + k as i64,
                    Some(round * 100 + k),
                )
            })
            .collect();
        a.store.append(batch).await.unwrap();
    }
    // A retransmission inside the window beside new events: found by its key.
    let again = a
        .store
        .append(vec![
            event("p7", 1130, NOW + 500, Some(107)),
            event("p8", 1131, NOW + 500, Some(999)),
        ])
        .await
        .unwrap();
    assert_eq!(again, vec![Appended::Duplicate(208), Appended::Stored(401)]);
    let [dedup, received_at] =
        index_scans(&db.url, ["ah_events_dedup", "ah_events_received_at"], 6).await;
    assert!(
        dedup >= 6,
        "the dedup lookup did not use ah_events_dedup ({dedup} scans)"
    );
    assert_eq!(received_at, 0, "an append scanned ah_events_received_at");
    a.store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_leaves_a_snapshot_another_node_saved_recently_and_replaces_an_older_one() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let (clock_a, clock_b) = (Clock::manual(NOW), Clock::manual(NOW));
    let a = node_with(&db.url, clock_a.clone()).await;
    let b = node_with(&db.url, clock_b.clone()).await;
    let snap = |seq: i64, account: &str| Snapshot {
        last_seq: seq,
        panels: vec![(account.to_owned(), "{}".to_owned())],
    };
    a.store.save_snapshot(snap(10, "A")).await.unwrap();
    // B, a second later: A's snapshot (the default interval is 60 s) serves both.
    clock_b.set_ms(NOW + 1_000);
    b.store.save_snapshot(snap(12, "B")).await.unwrap();
    assert_eq!(b.store.load_snapshot().await.unwrap(), Some(snap(10, "A")));
    assert_eq!(b.store.snapshot_seq().await.unwrap(), Some(10));
    // A's own next save replaces its snapshot at once.
    clock_a.set_ms(NOW + 2_000);
    a.store.save_snapshot(snap(13, "A")).await.unwrap();
    assert_eq!(a.store.snapshot_seq().await.unwrap(), Some(13));
    // Half an interval after A's save, B's is taken.
    clock_b.set_ms(NOW + 32_000);
    b.store.save_snapshot(snap(20, "B")).await.unwrap();
    assert_eq!(a.store.load_snapshot().await.unwrap(), Some(snap(20, "B")));
    // A lagging node never replaces a newer snapshot, however old that one is.
    clock_a.set_ms(NOW + 600_000);
    a.store.save_snapshot(snap(19, "A")).await.unwrap();
    assert_eq!(a.store.snapshot_seq().await.unwrap(), Some(20));
    a.store.close().await.unwrap();
    b.store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_on_an_empty_database_migrate_it_once() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let opens = (0..4).map(|_| node(&db.url));
    let nodes = futures::future::join_all(opens).await;
    for n in &nodes {
        assert_eq!(n.store.last_seq().await.unwrap(), 0);
    }
    let client = client(&db.url).await;
    let versions: i64 = client
        .query_one("SELECT count(*) FROM ah_schema", &[])
        .await
        .unwrap()
        .get(0);
    let distinct: i64 = client
        .query_one("SELECT count(DISTINCT version) FROM ah_schema", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(versions, distinct, "a migration ran twice");
    for n in nodes {
        n.store.close().await.unwrap();
    }
}

#[tokio::test]
async fn an_unreachable_database_is_an_error_naming_it_without_the_password() {
    // Port 1 on loopback: refused at once.
    let url = "postgres://alice:s3cret@127.0.0.1:1/hub";
    let err = PgStore::open(url, StoreOptions::default(), Box::new(|_| {}))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Postgres { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("postgres://alice@127.0.0.1:1/hub"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
}

fn presence(account: &str, code: u16) -> alarmhub::events::NewEvent {
    alarmhub::receiver::frame_event::receiver_event(
        account,
        code,
        "127.0.0.1:40000",
        "test",
        panel_proto::rules::Dialect::Hb,
    )
}

fn offline_accounts(events: &[StoredEvent]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.event.code == alarmhub::events::codes::OFFLINE)
        .map(|e| e.event.account.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_connection_ending_on_one_node_does_not_mark_offline_a_panel_that_moved() {
    use alarmhub::events::codes::{OFFLINE, ONLINE};
    let Some(db) = TestDb::create().await else {
        return;
    };
    let a = node(&db.url).await;
    let b = node(&db.url).await;
    a.store.append(vec![presence("X", ONLINE)]).await.unwrap();
    b.store.append(vec![presence("X", ONLINE)]).await.unwrap();
    // A's stale connection times out after the panel moved to B.
    let out = a.store.append(vec![presence("X", OFFLINE)]).await.unwrap();
    assert!(matches!(out[0], Appended::Duplicate(_)), "{out:?}");
    assert!(offline_accounts(&b.store.events_after(0, 0).await.unwrap()).is_empty());
    // When B's connection ends, that is the panel going offline.
    let out = b.store.append(vec![presence("X", OFFLINE)]).await.unwrap();
    assert_eq!(out, vec![Appended::Stored(3)]);
    a.store.close().await.unwrap();
    b.store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panel_reconnecting_to_the_same_node_within_one_batch_stays_owned_by_it() {
    use alarmhub::events::codes::{OFFLINE, ONLINE};
    let Some(db) = TestDb::create().await else {
        return;
    };
    let a = node(&db.url).await;
    let b = node(&db.url).await;
    a.store.append(vec![presence("X", ONLINE)]).await.unwrap();
    // The old connection's OFFLINE and the new one's ONLINE in one commit of A: both are
    // stored, and A still owns the panel afterwards.
    let out = a
        .store
        .append(vec![presence("X", OFFLINE), presence("X", ONLINE)])
        .await
        .unwrap();
    assert_eq!(out, vec![Appended::Stored(2), Appended::Stored(3)]);
    // So a stale connection of X ending on B is not the panel going offline.
    let out = b.store.append(vec![presence("X", OFFLINE)]).await.unwrap();
    assert_eq!(
        out,
        vec![Appended::Duplicate(3)],
        "answered with the last seq"
    );
    // In one batch, an ONLINE then OFFLINE of a panel B never held: both stored (B held
    // it in between), and B's OFFLINE leaves A's ownership alone.
    let out = b
        .store
        .append(vec![presence("X", ONLINE), presence("X", OFFLINE)])
        .await
        .unwrap();
    assert_eq!(out, vec![Appended::Stored(4), Appended::Stored(5)]);
    assert_eq!(saw(&a, 5).await, vec![1, 2, 3, 4, 5]);
    a.store.close().await.unwrap();
    b.store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_panels_go_offline_after_its_lease_expires_except_those_that_moved() {
    use alarmhub::events::codes::ONLINE;
    let Some(db) = TestDb::create().await else {
        return;
    };
    let a = node(&db.url).await;
    let b = node(&db.url).await;
    a.store
        .append(vec![presence("STAYED", ONLINE), presence("MOVED", ONLINE)])
        .await
        .unwrap();
    a.store.crash().await;
    b.store
        .append(vec![presence("MOVED", ONLINE)])
        .await
        .unwrap();
    // Lease 5 s, heartbeat 1 s: B reaps A within ~7 s.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut offline = Vec::new();
    while offline.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        offline = offline_accounts(&b.store.events_after(0, 0).await.unwrap());
    }
    assert_eq!(offline, vec!["STAYED".to_string()]);
    // B's live state got it too, in order.
    assert_eq!(saw(&b, 4).await, vec![1, 2, 3, 4]);
    // Once only, whatever further heartbeats do.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        offline_accounts(&b.store.events_after(0, 0).await.unwrap()),
        vec!["STAYED".to_string()]
    );
    b.store.close().await.unwrap();
}

fn arm(account: &str) -> alarmhub::store::RoutedCommand {
    alarmhub::store::RoutedCommand {
        account: account.into(),
        command: panel_proto::build::Command::ArmAway,
        section: 0,
        ademco_id: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_for_a_panel_held_by_another_node_is_carried_out_there_and_answered_here() {
    use alarmhub::control::Outcome;
    use alarmhub::events::codes::ONLINE;
    let Some(db) = TestDb::create().await else {
        return;
    };
    let a = node(&db.url).await;
    let b = node(&db.url).await;
    // Nobody holds it yet: offline at once.
    let t0 = Instant::now();
    let out = b
        .store
        .route_command(arm("X"), Duration::from_secs(10))
        .await;
    assert_eq!(out.unwrap(), Outcome::PanelOffline);
    assert!(t0.elapsed() < Duration::from_secs(2));

    a.store.append(vec![presence("X", ONLINE)]).await.unwrap();
    let owner = {
        let store = Arc::clone(&a.store);
        tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                let taken = store.take_commands().await.unwrap();
                if let Some((id, cmd)) = taken.into_iter().next() {
                    assert_eq!(cmd.account, "X");
                    assert_eq!(cmd.command.name(), "arm_away");
                    store.finish_command(id, &Outcome::Done).await.unwrap();
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            false
        })
    };
    let out = b
        .store
        .route_command(arm("X"), Duration::from_secs(10))
        .await;
    assert_eq!(out.unwrap(), Outcome::Done);
    assert!(owner.await.unwrap(), "the owner never took the command");
    a.store.close().await.unwrap();
    b.store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_whose_node_dies_ends_panel_offline_instead_of_hanging() {
    use alarmhub::control::Outcome;
    use alarmhub::events::codes::ONLINE;
    let Some(db) = TestDb::create().await else {
        return;
    };
    let a = node(&db.url).await;
    let b = node(&db.url).await;
    a.store.append(vec![presence("X", ONLINE)]).await.unwrap();
    a.store.crash().await;
    let t0 = Instant::now();
    let out = b
        .store
        .route_command(arm("X"), Duration::from_secs(60))
        .await;
    assert_eq!(out.unwrap(), Outcome::PanelOffline);
    // The lease (5 s) bounds it, not the command's 60 s.
    assert!(t0.elapsed() < Duration::from_secs(15), "{:?}", t0.elapsed());
    b.store.close().await.unwrap();
}
