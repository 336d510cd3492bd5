//! `[store] max_size_mb` against the real binary over real sockets: `alarmhub simulate`
//! fills a daemon whose cap is 1 MiB; the oldest events are removed while every event keeps
//! being ACKed, everything from the new oldest seq up is still there (nothing newer than the
//! window is lost), `alarmhub_events_oldest_seq` moves, the metrics count what went, and the
//! panel state (an open alarm whose event was removed) survives a restart.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::frames::{bytes, cid_frame};
use common::{Daemon, Setup};
use panel_proto::Id;
use serde_json::Value;

const MIB: f64 = 1024.0 * 1024.0;

/// One series' value from the `/metrics` text (0 when absent).
fn metric(d: &Daemon, name: &str) -> f64 {
    let (_, body) = d.http_get("/metrics");
    body.lines()
        .find(|l| l.split([' ', '{']).next() == Some(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// `alarmhub simulate` against `d` for `secs`: its JSON summary.
fn simulate(d: &Daemon, secs: u32, prefix: &str) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_alarmhub"))
        .args(["simulate", "--json", "--target", &d.panel.to_string()])
        .args(["--panels", "10", "--rate", "1000", "--dialect", "hb"])
        .args(["--duration", &secs.to_string(), "--account-prefix", prefix])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| {
        panic!(
            "simulate: {e}: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The stored events as (lowest seq, highest seq, count, whether 7001's alarm is there).
type Stored = (i64, i64, i64, bool);

fn setup(store: &str) -> Setup {
    Setup::new()
        .panel(
            "rate_limit_per_sec = 100000\nrate_limit_burst = 100000\n\
             max_new_accounts_per_source_per_min = 0",
        )
        .store(&format!("max_size_mb = 1\nsnapshot_secs = 1\n{store}"))
}

#[test]
fn over_the_size_cap_the_oldest_events_go_while_acks_keep_flowing() {
    let mut d = Daemon::with(&setup(""));
    check(&mut d, |d: &Daemon| {
        let events = d.events();
        let first = events.first().unwrap().seq;
        let last = events.last().unwrap().seq;
        let alarm = events
            .iter()
            .any(|e| e.event.account == "7001" && e.event.code == 1130);
        (first, last, events.len() as i64, alarm)
    });
}

#[test]
fn on_postgresql_the_size_cap_follows_the_events_table() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = rt.block_on(common::postgres::TestDb::create()) else {
        return;
    };
    let mut d = Daemon::with(&setup(&format!("url = {:?}", db.url)));
    let url = db.url.clone();
    check(&mut d, move |_| {
        rt.block_on(async {
            let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            let r = c
                .query_one(
                    "SELECT MIN(seq), MAX(seq), COUNT(*), \
                     bool_or(account = '7001' AND code = 1130) FROM ah_events",
                    &[],
                )
                .await
                .unwrap();
            (r.get(0), r.get(1), r.get(2), r.get(3))
        })
    });
    drop(d);
}

/// Fill `d` (1 MiB cap) over real sockets and check the cap; `stored` reads its events.
fn check(d: &mut Daemon, stored: impl Fn(&Daemon) -> Stored) {
    // An alarm that stays open: its event will be among the first to go.
    let mut p = d.connect();
    p.send(&bytes(&cid_frame(
        Id::AdmCid,
        1,
        "7001",
        Some("7001"),
        1130,
        1,
        5,
        None,
    )));
    assert!(p.recv(Duration::from_secs(5)).is_some(), "alarm ACKed");

    // Rounds of load until the cap starts removing (at most 5; 1 MiB is a few thousand
    // events), every event ACKed in each.
    for round in 0..5 {
        let s = simulate(d, 6, &format!("S{round}"));
        assert_eq!(s["errors"], 0, "{s}");
        assert_eq!(s["sent"], s["acked"], "every event ACKed: {s}");
        if round >= 1 && metric(d, "alarmhub_events_purged_total") > 0.0 {
            break;
        }
    }

    // The cap runs every 2 s; give it a few rounds.
    let purged = common::eventually(Duration::from_secs(30), || {
        metric(d, "alarmhub_events_purged_total") > 0.0
            && metric(d, "alarmhub_store_size_bytes") <= MIB
    });
    assert!(
        purged,
        "no purge within 30 s: purged {} size {} oldest {}\n{}",
        metric(d, "alarmhub_events_purged_total"),
        metric(d, "alarmhub_store_size_bytes"),
        metric(d, "alarmhub_events_oldest_seq"),
        d.log_tail()
    );
    assert!(metric(d, "alarmhub_events_purged_bytes_total") > 0.0);
    let oldest = metric(d, "alarmhub_events_oldest_seq") as i64;
    assert!(oldest > 1, "oldest seq moved: {oldest}");

    // Everything from the oldest stored seq up is there, with no hole: only the oldest went.
    let (first, last, len, alarm) = stored(d);
    assert!(first >= oldest, "{first} < {oldest}");
    assert_eq!(len, last - first + 1, "a hole in {first}..={last}");
    assert!(len > 1000, "a window of history is kept: {len}");
    assert!(!alarm, "the oldest event (7001's alarm) went");

    // The registry still has the open alarm of 7001 after a restart (it came from the
    // snapshot, not from the removed event), and ACKs still flow.
    d.restart();
    let m = d.cli(&["machines"]);
    let out = String::from_utf8_lossy(&m.stdout);
    assert!(out.contains("7001"), "{out}");
    let mut p = d.connect();
    p.send(&bytes(&cid_frame(
        Id::AdmCid,
        2,
        "7001",
        Some("7001"),
        1602,
        1,
        0,
        None,
    )));
    assert!(
        p.recv(Duration::from_secs(5)).is_some(),
        "ACKed after restart"
    );
}
