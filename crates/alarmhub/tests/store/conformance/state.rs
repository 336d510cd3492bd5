//! The rest of the contract: registry snapshots, named cursors, the writability probe and
//! health, and closing (nothing accepted after it, everything before it kept).

use super::*;
use alarmhub::store::{Snapshot, StoreError};

pub async fn snapshot_round_trips_and_a_new_one_replaces_it_whole(b: &dyn Backend) {
    let s = Open::at(b, NOW).await;
    assert_eq!(s.store.load_snapshot().await.unwrap(), None);
    assert_eq!(s.store.snapshot_seq().await.unwrap(), None);
    let first = Snapshot {
        last_seq: 10,
        panels: vec![
            ("B".to_string(), r#"{"status":0}"#.to_string()),
            ("A".to_string(), r#"{"status":2}"#.to_string()),
        ],
    };
    s.store.save_snapshot(first.clone()).await.unwrap();
    let loaded = s.store.load_snapshot().await.unwrap().unwrap();
    assert_eq!(loaded.last_seq, 10);
    assert_eq!(s.store.snapshot_seq().await.unwrap(), Some(10));
    assert_eq!(
        loaded.panels,
        vec![first.panels[1].clone(), first.panels[0].clone()]
    );

    let second = Snapshot {
        last_seq: 20,
        panels: vec![("C".to_string(), "{}".to_string())],
    };
    s.store.save_snapshot(second.clone()).await.unwrap();
    s.close().await;
    let s = Open::at(b, NOW).await;
    assert_eq!(s.store.load_snapshot().await.unwrap(), Some(second));
    assert_eq!(s.store.snapshot_seq().await.unwrap(), Some(20));
}

pub async fn cursors_survive_reopen(b: &dyn Backend) {
    let s = Open::at(b, NOW).await;
    assert_eq!(s.store.cursor("app").await.unwrap(), None);
    s.store.set_cursor("app", 5).await.unwrap();
    s.store.set_cursor("app", 9).await.unwrap();
    s.store.set_cursor("console", 1).await.unwrap();
    assert_eq!(s.store.cursor("app").await.unwrap(), Some(9));
    s.close().await;
    let s = Open::at(b, NOW).await;
    assert_eq!(s.store.cursor("app").await.unwrap(), Some(9));
    assert_eq!(s.store.cursor("console").await.unwrap(), Some(1));
}

pub async fn check_writable_succeeds_on_a_healthy_store(b: &dyn Backend) {
    let s = Open::at(b, NOW).await;
    s.store.check_writable().await.unwrap();
    assert!(s.store.is_healthy(std::time::Duration::from_secs(5)));
    assert_eq!(s.store.queue_depth(), 0);
}

pub async fn a_closed_store_refuses_work(b: &dyn Backend) {
    let s = Open::at(b, NOW).await;
    s.append(vec![event("1", 1130, NOW, None)]).await;
    s.store.close().await.unwrap();
    let refused = s.store.append(vec![event("1", 1130, NOW, None)]).await;
    assert!(matches!(refused, Err(StoreError::Closed)), "{refused:?}");
    assert!(matches!(s.store.last_seq().await, Err(StoreError::Closed)));
    // Closing again is harmless; what was answered before is kept.
    s.store.close().await.unwrap();
    let s = Open::at(b, NOW).await;
    assert_eq!(seqs(&s.all().await), vec![1]);
}
