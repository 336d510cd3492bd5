//! Panel accounts kept in the store: settings stored as opaque JSON objects (whatever fields
//! the `[[accounts]]` entry has, secrets included), one per account matched ignoring ASCII
//! case, replaced whole, removed, and kept across a reopen.

use super::*;

pub async fn accounts_are_stored_replaced_and_removed_ignoring_case_and_survive_reopen(
    b: &dyn Backend,
) {
    let s = Open::at(b, NOW).await;
    assert!(s.store.accounts().await.unwrap().is_empty());
    let a1 = r#"{"account":"12345A","name":"Shop 12","key":"0123456789ABCDEF0123456789ABCDEF","allowed_sources":["10.0.0.0/8"]}"#;
    let b1 = r#"{"account":"B7","connection":"on_demand"}"#;
    s.store.put_account("12345A", a1).await.unwrap();
    s.store.put_account("B7", b1).await.unwrap();
    let stored = s.store.accounts().await.unwrap();
    assert_eq!(
        stored,
        vec![a1.to_string(), b1.to_string()],
        "ordered by account"
    );
    // Another spelling of the same account replaces it whole.
    let a2 = r#"{"account":"12345a","name":"Shop 12 (new owner)"}"#;
    s.store.put_account("12345a", a2).await.unwrap();
    assert_eq!(
        s.store.accounts().await.unwrap(),
        vec![a2.to_string(), b1.to_string()]
    );
    assert!(s.store.remove_account("b7").await.unwrap());
    assert!(!s.store.remove_account("B7").await.unwrap(), "gone already");
    s.close().await;
    let s = Open::at(b, NOW).await;
    assert_eq!(s.store.accounts().await.unwrap(), vec![a2.to_string()]);
    s.close().await;
}
