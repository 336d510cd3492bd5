//! `[store] retention_days` with the daemon in-process: old events are removed in batches,
//! only below the registry snapshot, so panel state and open alarms survive a restart, and
//! `alarmhub_events_oldest_seq`'s source (`Store::oldest_seq`) says where history starts.
#![allow(clippy::unwrap_used)]

mod common;

use alarmhub::daemon::retention::{purge_once, BATCH};
use alarmhub::events::Source;
use alarmhub::store::Snapshot;
use common::{Hub, Setup};

const DAY: i64 = 86_400_000;

#[tokio::test]
async fn old_events_go_in_batches_below_the_snapshot_and_the_panel_state_stays() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = Hub::start_in(tmp.path(), Setup::new()).await;
    let now = alarmhub::clock::now_ms();
    let old = now - 400 * DAY;
    // An alarm that is still open, then a long history, all older than a year.
    hub.append("P1", Source::Panel, 1130, 5, old).await;
    for i in 0..(BATCH as i64 + 20) {
        hub.append("P2", Source::Panel, 1602, 0, old + i).await;
    }
    let store = hub.handles.store.clone();
    assert_eq!(
        purge_once(store.as_ref(), 365, now).await.unwrap(),
        0,
        "nothing the snapshot does not cover"
    );
    let (last_seq, panels) = hub.handles.registry.snapshot();
    store
        .save_snapshot(Snapshot { last_seq, panels })
        .await
        .unwrap();
    let recent = hub.append("P2", Source::Panel, 1602, 0, now).await;
    let removed = purge_once(store.as_ref(), 365, now).await.unwrap();
    assert_eq!(
        removed as i64,
        last_seq - 1,
        "everything old below the snapshot seq"
    );
    assert_eq!(store.oldest_seq().await.unwrap(), last_seq);
    assert!(store
        .events_after(0, 0)
        .await
        .unwrap()
        .iter()
        .any(|e| e.seq == recent));
    hub.stop().await;

    // Restart: the open alarm of P1 is still known.
    let hub = Hub::start_in(tmp.path(), Setup::new()).await;
    let p1 = hub.handles.registry.get("P1").unwrap();
    assert!(p1.active_alarms.contains_key(&5), "{p1:?}");
    hub.stop().await;
}

#[test]
fn store_backup_copies_a_live_database_and_vacuum_runs_beside_the_daemon() {
    let d = common::Daemon::start("", "");
    let mut host = d.host();
    host.report(1130, 5);
    let dir = d.data_dir();
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join(alarmhub::store::DB_FILE);
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_alarmhub"))
            .args(args)
            .args(["--data-dir", dir.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let b = run(&["store", "backup", copy.to_str().unwrap()]);
    assert!(b.status.success(), "{b:?}");
    let reader = alarmhub::store::SqliteReader::open(tmp.path()).unwrap();
    assert!(reader
        .events_after(0, 0)
        .unwrap()
        .iter()
        .any(|e| e.event.code == 1130));
    let again = run(&["store", "backup", copy.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2), "never overwrites");
    let v = run(&["store", "vacuum"]);
    assert!(v.status.success(), "{v:?}");
    host.report(1130, 6); // the daemon still stores and ACKs
}
