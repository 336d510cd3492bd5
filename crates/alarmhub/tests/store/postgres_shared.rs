//! What nodes on one PostgreSQL share beyond events: routed commands never leave a disarm
//! password behind (the owner clears it with the outcome; the lease sweep removes the rows
//! of an issuer that died while it waited), and the compat API's Sync marks one node
//! records are read back by every node, merged (never going back) and in order.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alarmhub::clock::Clock;
use alarmhub::control::Outcome;
use alarmhub::events::codes::ONLINE;
use alarmhub::store::{PgStore, RoutedCommand, Store, StoreOptions, SyncMark};
use panel_proto::build::Command;

use super::conformance::{NOW, WINDOW};
use super::pg::TestDb;

async fn node(url: &str) -> Arc<PgStore> {
    let opts = StoreOptions {
        dedup_window_ms: WINDOW,
        clock: Clock::manual(NOW),
        ..StoreOptions::default()
    };
    let store = PgStore::open(url, opts, Box::new(|_| {})).await.unwrap();
    store.follow_from(0).await.unwrap();
    store
}

fn online(account: &str) -> alarmhub::events::NewEvent {
    alarmhub::receiver::frame_event::receiver_event(
        account,
        ONLINE,
        "127.0.0.1:40000",
        "test",
        panel_proto::rules::Dialect::Hb,
    )
}

fn disarm(account: &str) -> RoutedCommand {
    RoutedCommand {
        account: account.into(),
        command: Command::Disarm {
            password: "246810".into(),
        },
        section: 0,
        ademco_id: None,
    }
}

/// `(rows, rows still holding a password)` in `ah_commands`.
async fn command_rows(db: &TestDb) -> (i64, i64) {
    let (c, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let r = c
        .query_one("SELECT count(*), count(password) FROM ah_commands", &[])
        .await
        .unwrap();
    (r.get(0), r.get(1))
}

/// Wait (bounded) until `f` holds for the command rows.
async fn rows_until(db: &TestDb, within: Duration, f: impl Fn((i64, i64)) -> bool) -> (i64, i64) {
    let deadline = Instant::now() + within;
    loop {
        let rows = command_rows(db).await;
        if f(rows) || Instant::now() > deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_routed_disarm_keeps_its_password_only_until_the_owner_answers() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let (a, b) = (node(&db.url).await, node(&db.url).await);
    b.append(vec![online("X")]).await.unwrap();
    let issuer = {
        let a = Arc::clone(&a);
        tokio::spawn(async move { a.route_command(disarm("X"), Duration::from_secs(20)).await })
    };
    // The owner needs the password until it has sent the command.
    assert_eq!(
        rows_until(&db, Duration::from_secs(10), |r| r.0 == 1).await,
        (1, 1)
    );
    let taken = b.take_commands().await.unwrap();
    assert_eq!(taken.len(), 1);
    match &taken[0].1.command {
        Command::Disarm { password } => assert_eq!(password, "246810"),
        other => panic!("{other:?}"),
    }
    b.finish_command(taken[0].0, &Outcome::Done).await.unwrap();
    // Answered: no password in the database from now on, whether or not the issuer has
    // read the outcome yet.
    assert_eq!(command_rows(&db).await.1, 0);
    assert_eq!(issuer.await.unwrap().unwrap(), Outcome::Done);
    assert_eq!(
        command_rows(&db).await,
        (0, 0),
        "the issuer removes its row"
    );
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuer_killed_while_it_waits_leaves_no_password_and_no_command_behind() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let (a, b) = (node(&db.url).await, node(&db.url).await);
    b.append(vec![online("X")]).await.unwrap();
    let issuer = {
        let a = Arc::clone(&a);
        tokio::spawn(async move { a.route_command(disarm("X"), Duration::from_secs(60)).await })
    };
    assert_eq!(
        rows_until(&db, Duration::from_secs(10), |r| r.0 == 1).await,
        (1, 1)
    );
    // Node A dies as kill -9 would: its wait stops, its lease is no longer renewed.
    issuer.abort();
    a.crash().await;
    let t0 = Instant::now();
    // B's lease task sweeps the row once A's lease (5 s) expired.
    let rows = rows_until(&db, Duration::from_secs(15), |r| r == (0, 0)).await;
    assert_eq!(
        rows,
        (0, 0),
        "the dead issuer's command (and its password) stayed"
    );
    assert!(t0.elapsed() < Duration::from_secs(12), "{:?}", t0.elapsed());
    // Nothing is left for the owner to carry out on behalf of a dead issuer.
    assert!(b.take_commands().await.unwrap().is_empty());
    b.close().await.unwrap();
}

fn mark(account: &str, version: u64, alarm_version: u64) -> SyncMark {
    SyncMark {
        account: account.into(),
        version,
        alarm_version,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_marks_one_node_records_are_read_by_the_others_merged_and_in_order() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let (a, b) = (node(&db.url).await, node(&db.url).await);
    let (c0, none) = b.sync_marks_after(0).await.unwrap();
    assert!(none.is_empty());
    a.save_sync_marks(vec![mark("P1", 3, 1), mark("P2", 5, 0)])
        .await
        .unwrap();
    let (c1, got) = b.sync_marks_after(c0).await.unwrap();
    assert_eq!(got, vec![mark("P1", 3, 1), mark("P2", 5, 0)]);
    // A lower mark (an overlapping, older Sync) never takes a panel back.
    b.save_sync_marks(vec![mark("P1", 2, 2)]).await.unwrap();
    let (c2, got) = a.sync_marks_after(c1).await.unwrap();
    assert_eq!(got, vec![mark("P1", 3, 2)]);
    assert!(c2 > c1 && c1 > c0);
    // Nothing new: the same cursor, nothing read.
    assert_eq!(a.sync_marks_after(c2).await.unwrap(), (c2, Vec::new()));
    // A fresh reader gets every panel once, at its highest.
    let (_, all) = a.sync_marks_after(0).await.unwrap();
    assert_eq!(all, vec![mark("P2", 5, 0), mark("P1", 3, 2)]);
    a.close().await.unwrap();
    b.close().await.unwrap();
}
