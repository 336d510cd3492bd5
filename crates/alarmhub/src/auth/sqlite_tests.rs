use super::*;
use crate::auth::secret::{generate_token, hash_token};
use crate::auth::store::{AuditLog, AuditQuery, AuditRecord};

fn token(name: &str, role: Role) -> TokenRow {
    TokenRow {
        name: name.into(),
        role,
        hash: hash_token(generate_token().expose()),
        created_at_ms: 1,
        last_used_ms: None,
        expires_at_ms: None,
    }
}

#[test]
fn tokens_are_created_listed_touched_and_revoked_with_a_generation_bump() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = SqliteAuthStore::open(&tmp.path().join("data")).unwrap();
    let g0 = s.generation().unwrap();
    let t = token("app", Role::Viewer);
    s.create_token(&t).unwrap();
    assert!(s.generation().unwrap() > g0);
    let e = s.create_token(&token("app", Role::Admin)).unwrap_err();
    assert!(
        matches!(e, AuthStoreError::Exists { what: "token", .. }),
        "{e}"
    );
    s.touch_tokens(&[("app".into(), 42)]).unwrap();
    let (tokens, users) = s.load().unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!((tokens[0].hash, tokens[0].last_used_ms), (t.hash, Some(42)));
    assert!(users.is_empty());
    let g1 = s.generation().unwrap();
    assert!(s.revoke_token("app").unwrap());
    assert!(!s.revoke_token("app").unwrap());
    assert!(s.generation().unwrap() > g1);
    assert!(s.load().unwrap().0.is_empty());
}

#[test]
fn users_and_audit_rows_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = SqliteAuthStore::open(tmp.path()).unwrap();
    let u = UserRow {
        name: "alice".into(),
        role: Role::Operator,
        password_hash: "$argon2id$x".into(),
        created_at_ms: 5,
        last_login_ms: None,
        disabled: false,
    };
    s.add_user(&u).unwrap();
    assert!(format!("{u:?}").contains("****") && !format!("{u:?}").contains("argon"));
    assert!(s.set_password("alice", "$argon2id$y", 6).unwrap());
    assert!(!s.set_password("bob", "$argon2id$y", 6).unwrap());
    s.record_login("alice", 7).unwrap();
    let users = s.load().unwrap().1;
    assert_eq!(
        (users[0].password_hash.as_str(), users[0].last_login_ms),
        ("$argon2id$y", Some(7))
    );
    assert!(s.remove_user("alice").unwrap());

    let row = |at, who: &str| AuditRecord {
        at_ms: at,
        who: who.into(),
        action: "x".into(),
        ..AuditRecord::default()
    };
    s.append_audit(&[row(10, "a"), row(20, "b"), row(30, "a")])
        .unwrap();
    let all = s.query_audit(&AuditQuery::default()).unwrap();
    assert_eq!(
        all.iter().map(|r| r.at_ms).collect::<Vec<_>>(),
        [30, 20, 10]
    );
    let a = s
        .query_audit(&AuditQuery {
            who: Some("a".into()),
            since_ms: Some(15),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(a.len(), 1);
    let page = s
        .query_audit(&AuditQuery {
            before_id: Some(all[0].id),
            limit: 1,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page[0].at_ms, 20);
}

#[test]
fn the_event_store_opens_a_database_the_cli_created_first() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    SqliteAuthStore::open(&dir)
        .unwrap()
        .create_token(&token("t", Role::Admin))
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = crate::store::SqliteStore::open(
            &dir,
            crate::store::StoreOptions::default(),
            Box::new(|_| {}),
        )
        .unwrap();
        crate::store::Store::close(&*store).await.unwrap();
    });
    let s = SqliteAuthStore::open(&dir).unwrap();
    assert_eq!(s.load().unwrap().0.len(), 1);
}
