//! Retention: old events are removed in batches, oldest first, never at or above the seq
//! the caller protects, and seqs are never reused; `oldest_seq` says where history starts.

use super::*;

pub async fn purge_removes_old_events_in_batches_and_keeps_seqs_increasing(b: &dyn Backend) {
    let s = Open::at(b, NOW).await;
    assert_eq!(s.store.oldest_seq().await.unwrap(), 0);
    // Six old events (one per minute, an hour ago), then two new ones.
    let old: Vec<_> = (0..6)
        .map(|i| {
            event(
                &format!("A{}", i % 2),
                1130,
                NOW - 3_600_000 + i * 60_000,
                None,
            )
        })
        .collect();
    s.append(old).await;
    s.append(vec![
        event("A0", 1130, NOW, None),
        event("A1", 1130, NOW, None),
    ])
    .await;
    let all = seqs(&s.all().await);
    assert_eq!(all.len(), 8);
    let cutoff = NOW - 1_000;
    // Batches of 4: four, then the two left below the protected seq (the 6th old one).
    let protect = all[5];
    assert_eq!(s.store.purge_events(cutoff, protect, 4).await.unwrap(), 4);
    assert_eq!(s.store.oldest_seq().await.unwrap(), all[4]);
    assert_eq!(s.store.purge_events(cutoff, protect, 4).await.unwrap(), 1);
    assert_eq!(s.store.purge_events(cutoff, protect, 4).await.unwrap(), 0);
    assert_eq!(
        seqs(&s.all().await),
        all[5..].to_vec(),
        "the protected seq stays"
    );
    // Account queries no longer see the purged events.
    let q = EventQuery {
        account: Some("A0".into()),
        ..EventQuery::default()
    };
    let a0 = s.query(q).await;
    assert!(a0.iter().all(|seq| *seq >= all[5]), "{a0:?}");
    // New events continue after the highest seq ever given.
    let next = s.append(vec![event("A0", 1602, NOW, None)]).await;
    assert!(
        matches!(next[0], Appended::Stored(seq) if seq > all[7]),
        "{next:?}"
    );
    s.close().await;
}
