#![allow(clippy::unwrap_used)]
//! The notification outbox: the shared conformance suite (`notify_outbox/conformance.rs`,
//! the contract every backend passes) on the memory outbox and on SQLite files, what is
//! SQLite's own (leases of a crashed run released at open, the read-only open of
//! `alarmhub notify log`), the suite on a real PostgreSQL (a database of its own per test,
//! dropped after) plus what is PostgreSQL's own — several nodes on one outbox
//! (`notify_outbox/postgres.rs`) — and the dispatcher over the SQLite outbox against a local robot:
//! a burst of 200 alarms to a 20-a-minute channel folded into digests, nothing lost, the
//! limit never exceeded, state kept across a reopen.

#[macro_use]
#[path = "notify_outbox/conformance.rs"]
mod conformance;
mod notify_support;
#[path = "common/postgres.rs"]
mod pg;
#[path = "notify_outbox/postgres.rs"]
mod postgres_nodes;

use std::sync::Arc;

use alarmhub::notify::outbox::Status;
use alarmhub::notify::{Clock, Dispatcher, MemoryOutbox, NotifyConfig, Outbox, Router};
use alarmhub::store::outbox::SqliteOutbox;
use alarmhub::store::Store;
use async_trait::async_trait;
use conformance::{alarm, target, NOW};
use notify_support::{Reply, Service};

pub struct MemoryBackend(Arc<MemoryOutbox>);

#[async_trait]
impl conformance::OutboxBackend for MemoryBackend {
    async fn open(&self) -> Arc<dyn Outbox> {
        self.0.clone()
    }
}

async fn memory() -> MemoryBackend {
    MemoryBackend(Arc::new(MemoryOutbox::new()))
}

pub struct SqliteBackend {
    dir: tempfile::TempDir,
}

#[async_trait]
impl conformance::OutboxBackend for SqliteBackend {
    async fn open(&self) -> Arc<dyn Outbox> {
        Arc::new(SqliteOutbox::open(self.dir.path()).unwrap())
    }
}

async fn sqlite() -> SqliteBackend {
    SqliteBackend {
        dir: tempfile::tempdir().unwrap(),
    }
}

/// A fresh PostgreSQL database of its own, dropped with the backend.
pub struct PgBackend {
    pub db: pg::TestDb,
}

#[async_trait]
impl conformance::OutboxBackend for PgBackend {
    async fn open(&self) -> Arc<dyn Outbox> {
        Arc::new(
            alarmhub::store::postgres::PgOutbox::open(&self.db.url)
                .await
                .unwrap(),
        )
    }
}

async fn postgres() -> Option<PgBackend> {
    Some(PgBackend {
        db: pg::TestDb::create().await?,
    })
}

mod postgres_conformance {
    outbox_conformance_suite!(crate::postgres);
}

mod memory_conformance {
    outbox_conformance_suite!(crate::memory);
}

mod sqlite_conformance {
    outbox_conformance_suite!(crate::sqlite);
}

#[tokio::test]
async fn a_crashed_runs_leases_are_released_when_sqlite_opens_again() {
    let dir = tempfile::tempdir().unwrap();
    let o = SqliteOutbox::open(dir.path()).unwrap();
    o.enqueue(&alarm("n1", 1), &[target("a")], NOW)
        .await
        .unwrap();
    assert_eq!(o.claim_due("a", NOW, 10, 600_000).await.unwrap().len(), 1);
    drop(o);
    let o = SqliteOutbox::open(dir.path()).unwrap();
    let again = o.claim_due("a", NOW + 1, 10, 600_000).await.unwrap();
    assert_eq!(again.len(), 1, "claimable at once, not after ten minutes");
    assert_eq!(again[0].notification.id.as_str(), "n1");
}

#[tokio::test]
async fn the_read_only_open_creates_nothing_and_names_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let e = SqliteOutbox::open_read_only(&missing)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("nowhere/alarmhub.db") && e.contains("no database"),
        "{e}"
    );
    assert!(!missing.exists());
    // A database the outbox never touched (only events so far) reads as empty.
    alarmhub::store::SqliteStore::open(dir.path(), Default::default(), Box::new(|_| {}))
        .unwrap()
        .close()
        .await
        .unwrap();
    let o = SqliteOutbox::open_read_only(dir.path()).unwrap();
    assert!(o.recent(None, 10).await.unwrap().is_empty());
}

fn wecom(base: &str) -> NotifyConfig {
    let c: NotifyConfig = toml::from_str(&format!(
        "[[channels]]\nname = \"c\"\nkind = \"wecom\"\n\
         url = \"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K\"\napi_base = \"{base}\"\n\
         [[rules]]\nchannels = [\"c\"]\n"
    ))
    .unwrap();
    let mut whole = alarmhub::config::Config::default();
    whole.notify = c.clone();
    whole.validate().unwrap();
    c
}

/// Most sends in any window of `span_ms`.
fn busiest(sends: &[i64], span_ms: i64) -> usize {
    sends
        .iter()
        .map(|t| {
            sends
                .iter()
                .filter(|u| **u >= *t && **u < t + span_ms)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_200_alarms_to_a_20_a_minute_robot_arrives_in_digests_within_the_limit() {
    let robot = Service::always(Reply::ok(r#"{"errcode":0,"errmsg":"ok"}"#)).await;
    let c = wecom(&robot.base());
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(NOW);
    let outbox: Arc<dyn Outbox> = Arc::new(SqliteOutbox::open(dir.path()).unwrap());
    let router = Router::new(&c);
    for i in 0..200 {
        let n = alarm(&format!("ntf_a{i}_alarm_opened_0"), i);
        outbox.enqueue(&n, &router.targets(&n), NOW).await.unwrap();
    }
    // Second by second (a manual clock, real requests). Halfway through the first minute
    // the outbox is reopened, as a restart would, and 50 more alarms come: the sends before
    // the restart still count against the limit.
    let mut sent_at = Vec::new();
    let mut dispatcher = Dispatcher::with_clock(&c, Arc::clone(&outbox), clock.clone()).unwrap();
    for second in 0..180 {
        let now = NOW + second * 1000;
        clock.set_ms(now);
        if second == 30 {
            let reopened: Arc<dyn Outbox> = Arc::new(SqliteOutbox::open(dir.path()).unwrap());
            for i in 200..250 {
                let n = alarm(&format!("ntf_a{i}_alarm_opened_0"), i);
                reopened
                    .enqueue(&n, &router.targets(&n), now)
                    .await
                    .unwrap();
            }
            dispatcher = Dispatcher::with_clock(&c, reopened, clock.clone()).unwrap();
        }
        let before = robot.requests().len();
        dispatcher.round("c").await.unwrap();
        sent_at.extend(std::iter::repeat_n(now, robot.requests().len() - before));
    }
    let log = outbox.recent(None, 1000).await.unwrap();
    assert_eq!(log.len(), 250);
    assert!(
        log.iter().all(|r| r.status == Status::Delivered),
        "nothing lost"
    );
    assert!(
        busiest(&sent_at, 60_000) <= 20,
        "limit exceeded: {sent_at:?}"
    );
    let texts: Vec<String> = robot
        .requests()
        .iter()
        .map(|r| {
            r.json()["text"]["content"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert!(texts.len() <= 40, "{} messages for 250 alarms", texts.len());
    assert!(
        texts.iter().any(|t| t.contains("190")),
        "one digest names the count: {texts:?}"
    );
}
