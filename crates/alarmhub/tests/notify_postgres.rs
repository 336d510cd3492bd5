//! Notifications of a two-node cluster on a real PostgreSQL, through the real binary: both
//! `alarmhub serve --store` nodes follow the same logs and record the same notifications,
//! and the shared outbox (`FOR UPDATE SKIP LOCKED` claims with a lease) makes exactly one
//! of them deliver each — the webhook sees one `alarm.opened` for one alarm, and
//! `alarmhub notify log --store URL` lists one delivered row.
#![allow(clippy::unwrap_used)]

mod common;
mod notify_support;

use std::time::{Duration, Instant};

use common::postgres::TestDb;
use common::{Daemon, Setup};
use notify_support::{whsec, Reply, Seen, Service};

fn node(db: &TestDb, hook: &str) -> Daemon {
    let (secret, _) = whsec();
    Daemon::with(
        &Setup::new()
            .store(&format!("url = {:?}", db.url))
            .extra(&format!(
                "[[notify.channels]]\nname = \"ops\"\nkind = \"webhook\"\nurl = \"{hook}/hook\"\n\
                 secret = \"{secret}\"\n\
                 [[notify.rules]]\nchannels = [\"ops\"]\nstates = [\"opened\"]\n"
            )),
    )
}

fn opened(svc: &Service) -> Vec<Seen> {
    svc.requests()
        .into_iter()
        .filter(|r| r.json()["type"] == "alarm.opened")
        .collect()
}

#[test]
fn an_alarm_on_a_two_node_cluster_is_delivered_once_by_one_node() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let Some(db) = rt.block_on(TestDb::create()) else {
        return;
    };
    let svc = rt.block_on(Service::always(Reply::new(204, "")));
    let mut a = node(&db, &svc.base());
    let mut b = node(&db, &svc.base());
    let mut host = a.host();
    host.report(1130, 3);
    let deadline = Instant::now() + Duration::from_secs(30);
    while opened(&svc).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    // Both nodes' feeds and dispatchers run a few more rounds: still one delivery.
    std::thread::sleep(Duration::from_secs(3));
    let seen = opened(&svc);
    assert_eq!(seen.len(), 1, "delivered once, not by each node");
    let id = seen[0].header("webhook-id").unwrap().to_string();
    assert!(
        id.starts_with("ntf_a") && id.ends_with("_alarm_opened_0"),
        "{id}"
    );
    let out = b.cli(&["notify", "log", "--json", "--store", &db.url]);
    assert!(out.status.success(), "{out:?}");
    let rows: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|r: &serde_json::Value| r["what"] == "alarm_opened")
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (
            rows[0]["notification_id"].as_str(),
            rows[0]["status"].as_str()
        ),
        (Some(id.as_str()), Some("delivered"))
    );
    drop(host);
    assert_eq!(a.stop(), Some(0));
    assert_eq!(b.stop(), Some(0));
}
