//! An alarm storm through `serve` (in process: real store, alarm engine, outbox, dispatcher,
//! sockets): 200 panels raise a burglary at once, the webhook allows 20 messages a minute.
//! Every alarm is announced — alone or inside a digest — nothing is lost, and the limit is
//! never exceeded.
#![allow(clippy::unwrap_used)]

mod common;
mod notify_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use alarmhub::events::Source;
use alarmhub::notify::outbox::Status;
use alarmhub::notify::Outbox;
use alarmhub::store::outbox::SqliteOutbox;
use common::{Hub, Setup};
use notify_support::{now_ms, whsec, Reply, Service};

/// Notification ids a request carried (one, or every one of a digest).
fn carried(body: &serde_json::Value) -> Vec<String> {
    if body["type"] == "digest" {
        body["data"]["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].as_str().unwrap().to_string())
            .collect()
    } else {
        vec![body["data"]["id"].as_str().unwrap().to_string()]
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_200_alarms_reaches_a_20_a_minute_webhook_in_digests_losing_nothing() {
    let hook = Service::always(Reply::new(204, "")).await;
    let (secret, _) = whsec();
    let hub = Hub::with(Setup::new().extra(&format!(
        "[[notify.channels]]\nname = \"ops\"\nkind = \"webhook\"\nurl = \"{}/hook\"\nsecret = \"{secret}\"\n\
         rate_limit_per_minute = 20\n\
         [[notify.rules]]\nchannels = [\"ops\"]\nstates = [\"opened\"]\n",
        hook.base()
    )))
    .await;
    let t0 = Instant::now();
    for i in 0..200 {
        hub.append(&format!("8612{i:08}"), Source::Panel, 1130, 3, now_ms())
            .await;
    }
    let mut ids = BTreeSet::new();
    let until = Instant::now() + Duration::from_secs(50);
    while ids.len() < 200 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(200)).await;
        ids = hook
            .requests()
            .iter()
            .flat_map(|r| carried(&r.json()))
            .collect();
    }
    let requests = hook.requests();
    assert_eq!(
        ids.len(),
        200,
        "every alarm announced ({} requests)",
        requests.len()
    );
    assert!(ids
        .iter()
        .all(|i| i.starts_with("ntf_a") && i.ends_with("_alarm_opened_0")));
    let total: usize = requests.iter().map(|r| carried(&r.json()).len()).sum();
    assert_eq!(total, 200, "each alarm announced once");
    assert!(t0.elapsed() < Duration::from_secs(60));
    assert!(
        requests.len() <= 20,
        "{} requests within the first minute",
        requests.len()
    );
    assert!(requests.iter().any(|r| r.json()["type"] == "digest"));
    let outbox = SqliteOutbox::open_read_only(hub.data_dir()).unwrap();
    let log = outbox.recent(None, 1000).await.unwrap();
    assert_eq!(log.len(), 200);
    assert!(log.iter().all(|r| r.status == Status::Delivered));
    hub.stop().await;
}
