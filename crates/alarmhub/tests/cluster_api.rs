//! The APIs of a cluster answer the same on every node: two `alarmhub serve` nodes (the
//! real binary) on one real PostgreSQL. A compat client (`alarm_server.AlarmServer`) that
//! polls node B sees the changes a panel on node A caused, and what a full `Sync` delivered
//! on one node is not counted or delivered again by the other (the marks are shared);
//! `ListAudit` reads through the node's pool instead of a connection per call.
//!
//! Skipped with a loud message when no PostgreSQL answers (CI sets `ALARMHUB_REQUIRE_PG=1`,
//! which makes that a failure).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use alarmhub::proto::alarm_server::alarm_server_client::AlarmServerClient;
use alarmhub::proto::alarm_server::{GetMachineRequest, IsNeedSyncRequest, MachineReply};
use alarmhub::proto::v1 as pb;
use alarmhub::proto::v1::alarm_hub_client::AlarmHubClient;
use common::postgres::TestDb;
use common::{Daemon, Host, Setup, ACCT};
use tonic::transport::Channel;

fn node(db: &TestDb) -> Daemon {
    Daemon::with(&Setup::new().store(&format!("url = {:?}", db.url)))
}

async fn channel(d: &Daemon) -> Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{}", d.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

async fn need(c: &mut AlarmServerClient<Channel>) -> i32 {
    c.is_need_sync(IsNeedSyncRequest::default())
        .await
        .unwrap()
        .into_inner()
        .changed_machine_count
}

/// A full `Sync`: every reply.
async fn sync_all(c: &mut AlarmServerClient<Channel>) -> Vec<MachineReply> {
    let mut s = c
        .sync(GetMachineRequest {
            account: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut out = Vec::new();
    while let Some(r) = s.message().await.unwrap() {
        out.push(r);
    }
    out
}

/// Poll `IsNeedSync` (bounded) until it reports a change.
async fn until_changed(c: &mut AlarmServerClient<Channel>, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while need(c).await == 0 {
        assert!(Instant::now() < deadline, "{what}: IsNeedSync stayed 0");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Full `Sync`s until `IsNeedSync` says 0 (bounded): every reply, in order.
async fn drain(c: &mut AlarmServerClient<Channel>) -> Vec<MachineReply> {
    let mut all = Vec::new();
    for _ in 0..10 {
        all.extend(sync_all(c).await);
        if need(c).await == 0 {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("IsNeedSync never reached 0: {all:?}");
}

/// The alarm a reply delivers as new (`valid`): `(zone, event)`.
fn new_alarms(replies: &[MachineReply]) -> Vec<(i32, i32)> {
    replies
        .iter()
        .filter(|r| r.account == ACCT)
        .filter_map(|r| r.alarm_message.as_ref())
        .filter(|a| a.valid)
        .map(|a| (a.zone, a.event))
        .collect()
}

#[test]
fn compat_is_need_sync_and_sync_give_the_same_answers_on_every_node() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = rt.block_on(TestDb::create()) else {
        return;
    };
    let (a, b) = (node(&db), node(&db));
    rt.block_on(async {
        let (mut ca, mut cb) = (
            AlarmServerClient::new(channel(&a).await),
            AlarmServerClient::new(channel(&b).await),
        );
        // A panel on node A raises a burglary alarm in zone 3.
        let mut host = Host::connect(a.panel).await;
        host.report(1130, 3).await;

        // A client polling node B sees it, and gets the alarm as new exactly once.
        until_changed(&mut cb, "node B after an alarm on node A").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let on_b = drain(&mut cb).await;
        assert_eq!(new_alarms(&on_b), vec![(3, 1130)], "{on_b:?}");
        let r = on_b.iter().find(|r| r.account == ACCT).unwrap();
        assert!(r.online, "{r:?}");

        // Node A knows it was delivered: nothing to count, nothing delivered again.
        assert_eq!(need(&mut ca).await, 0, "node A counts what B delivered");
        let again = sync_all(&mut ca).await;
        assert!(again.is_empty(), "node A delivered again: {again:?}");

        // The other way round: the next alarm is delivered by node A; node B then counts
        // nothing at once, even if its follower has not applied the alarm yet.
        host.report(1130, 5).await;
        until_changed(&mut ca, "node A after a second alarm").await;
        let on_a = drain(&mut ca).await;
        assert_eq!(new_alarms(&on_a), vec![(5, 1130)], "{on_a:?}");
        assert_eq!(need(&mut cb).await, 0, "node B counts what A delivered");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            need(&mut cb).await,
            0,
            "node B counts A's alarm once applied"
        );
        let again = sync_all(&mut cb).await;
        assert!(
            new_alarms(&again).is_empty(),
            "node B delivered again: {again:?}"
        );

        // The v1 view of "changed since the last full Sync" (the CLI's `alarmhub sync`
        // peek) follows the marks too: after a Sync on B, node A lists nothing.
        host.report(1130, 7).await;
        until_changed(&mut cb, "node B after a third alarm").await;
        assert_eq!(new_alarms(&drain(&mut cb).await), vec![(7, 1130)]);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut va = AlarmHubClient::new(channel(&a).await);
        let changed = va
            .list_machines(pb::ListMachinesRequest {
                changed_since_sync: true,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .machines;
        assert!(changed.is_empty(), "node A lists as changed: {changed:?}");

        // A Sync of one account (nothing marked) answers alike on both nodes.
        let one = |c: &mut AlarmServerClient<Channel>| {
            let mut c = c.clone();
            async move {
                let mut s = c
                    .sync(GetMachineRequest {
                        account: ACCT.into(),
                    })
                    .await
                    .unwrap()
                    .into_inner();
                s.message().await.unwrap().unwrap()
            }
        };
        let (ra, rb) = (one(&mut ca).await, one(&mut cb).await);
        assert_eq!(ra, rb);
        assert_eq!(
            ra.alarm_message.as_ref().map(|m| (m.zone, m.valid)),
            Some((7, false))
        );
    });
}

/// Sessions ever opened on the test's database (PostgreSQL's cumulative statistics).
async fn sessions(db: &TestDb) -> i64 {
    let (c, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    c.query_one(
        "SELECT sessions FROM pg_stat_database WHERE datname = current_database()",
        &[],
    )
    .await
    .unwrap()
    .get(0)
}

#[test]
fn list_audit_on_postgres_opens_no_connection_per_call() {
    const CALLS: i64 = 8;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = rt.block_on(TestDb::create()) else {
        return;
    };
    let a = node(&db);
    rt.block_on(async {
        let mut c = AlarmHubClient::new(channel(&a).await);
        let list = |c: &mut AlarmHubClient<Channel>| {
            let mut c = c.clone();
            async move {
                c.list_audit(pb::ListAuditRequest::default())
                    .await
                    .unwrap()
                    .into_inner()
            }
        };
        // Warm: the pool's first connection.
        list(&mut c).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let before = sessions(&db).await;
        for _ in 0..CALLS {
            list(&mut c).await;
        }
        // Statistics of ended sessions are flushed within a second.
        tokio::time::sleep(Duration::from_secs(2)).await;
        // Our own two statistics readers count as sessions too.
        let opened = sessions(&db).await - before - 1;
        assert!(
            opened < CALLS / 2,
            "{opened} sessions opened for {CALLS} ListAudit calls"
        );
    });
}
