#![allow(clippy::unwrap_used)]
//! Tokens, users and the audit trail in the shared PostgreSQL database ([`PgAuthStore`]):
//! the same behaviour as SQLite's (generation bumps, `Exists` for a taken name, audit
//! paging), usable from inside a runtime (the daemon's refresher) and from the CLI with
//! `--store`, and shared by every node: a token created through one connection is seen by
//! another. Each test has a database of its own.

mod common;

use alarmhub::auth::secret::{generate_token, hash_token};
use alarmhub::auth::store::{TokenRow, UserRow};
use alarmhub::auth::{
    AuditLog, AuditQuery, AuditRecord, AuthStore, AuthStoreError, PgAuthStore, Role, SessionRow,
    SessionStore,
};
use common::postgres::TestDb;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_created_touched_and_revoked_with_a_generation_bump_seen_by_every_node() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    // Called straight from async code, as the daemon's refresher does.
    let mut a = PgAuthStore::open(&db.url).unwrap();
    let b = PgAuthStore::open(&db.url).unwrap();
    let g0 = b.generation().unwrap();
    let t = token("app", Role::Viewer);
    a.create_token(&t).unwrap();
    assert!(
        b.generation().unwrap() > g0,
        "the other node sees the change"
    );
    let e = a.create_token(&token("app", Role::Admin)).unwrap_err();
    assert!(
        matches!(e, AuthStoreError::Exists { what: "token", .. }),
        "{e}"
    );
    a.touch_tokens(&[("app".into(), 42), ("nobody".into(), 7)])
        .unwrap();
    let (tokens, users) = b.load().unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!((tokens[0].hash, tokens[0].last_used_ms), (t.hash, Some(42)));
    assert_eq!(tokens[0].role, Role::Viewer);
    assert!(users.is_empty());
    let g1 = a.generation().unwrap();
    assert!(a.revoke_token("app").unwrap());
    assert!(!a.revoke_token("app").unwrap());
    assert!(b.generation().unwrap() > g1);
    assert!(b.load().unwrap().0.is_empty());
}

#[test]
fn users_and_audit_rows_round_trip_and_page_newest_first() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = rt.block_on(TestDb::create()) else {
        return;
    };
    // Called from a plain thread, as the CLI does.
    let mut s = PgAuthStore::open(&db.url).unwrap();
    let u = UserRow {
        name: "alice".into(),
        role: Role::Operator,
        password_hash: "$argon2id$x".into(),
        created_at_ms: 5,
        last_login_ms: None,
        disabled: false,
    };
    s.add_user(&u).unwrap();
    let e = s.add_user(&u).unwrap_err();
    assert!(
        matches!(e, AuthStoreError::Exists { what: "user", .. }),
        "{e}"
    );
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
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].at_ms, 20);
    drop(s);
    drop(db);
}

#[test]
fn the_cli_creates_a_token_in_the_shared_store_with_an_audit_row() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = rt.block_on(TestDb::create()) else {
        return;
    };
    let bin = env!("CARGO_BIN_EXE_alarmhub");
    let out = std::process::Command::new(bin)
        .args([
            "token", "create", "--name", "ci", "--role", "viewer", "--store", &db.url,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = PgAuthStore::open(&db.url).unwrap();
    let tokens = s.load().unwrap().0;
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].name, "ci");
    let audit = s.query_audit(&AuditQuery::default()).unwrap();
    assert_eq!(audit[0].action, "token.create");
    assert_eq!(audit[0].target, "ci");
    // A URL that is not PostgreSQL is refused with a clear message.
    let out = std::process::Command::new(bin)
        .args(["token", "list", "--store", "mysql://x@y/z"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a PostgreSQL URL"), "{err}");
}

#[test]
fn roles_disabled_users_expiry_sessions_and_audit_by_target_are_shared() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = rt.block_on(TestDb::create()) else {
        return;
    };
    let (mut a, mut b) = (
        PgAuthStore::open(&db.url).unwrap(),
        PgAuthStore::open(&db.url).unwrap(),
    );
    let u = UserRow {
        name: "olga".into(),
        role: Role::Operator,
        password_hash: "$argon2id$x".into(),
        created_at_ms: 5,
        last_login_ms: None,
        disabled: false,
    };
    a.add_user(&u).unwrap();
    let mut t = token("erp", Role::Integration);
    t.expires_at_ms = Some(99);
    a.create_token(&t).unwrap();
    assert!(a.set_role("olga", Role::Viewer, 6).unwrap());
    assert!(!a.set_role("nobody", Role::Viewer, 6).unwrap());

    // A session started through one connection (node) is found through the other.
    let row = |h: u8, seen: i64| SessionRow {
        id_hash: [h; 32],
        name: "olga".into(),
        created_at_ms: seen,
        last_seen_ms: seen,
    };
    a.create_session(&row(1, 100), 0, 10).unwrap();
    a.create_session(&row(2, 200), 0, 10).unwrap();
    assert_eq!(b.session(&[1; 32]).unwrap(), Some(row(1, 100)));
    b.touch_session(&[1; 32], 150).unwrap();
    assert_eq!(a.session(&[1; 32]).unwrap().unwrap().last_seen_ms, 150);
    assert!(b.remove_session(&[1; 32]).unwrap());
    assert_eq!(a.session(&[1; 32]).unwrap(), None);
    // Expired ones go when a session starts; beyond `max`, the longest idle.
    a.create_session(&row(3, 300), 250, 10).unwrap();
    assert_eq!(a.session(&[2; 32]).unwrap(), None, "idle since before 250");
    a.create_session(&row(4, 400), 0, 1).unwrap();
    assert_eq!(a.session(&[3; 32]).unwrap(), None, "beyond max = 1");
    // Disabling a user ends its sessions.
    assert!(a.set_disabled("olga", true, 7).unwrap());
    assert_eq!(b.session(&[4; 32]).unwrap(), None);
    let (tokens, users) = b.load().unwrap();
    assert_eq!(tokens[0].expires_at_ms, Some(99));
    assert_eq!((users[0].role, users[0].disabled), (Role::Viewer, true));

    let audit = |target: &str| AuditRecord {
        at_ms: 1,
        who: "olga".into(),
        action: "/alarmhub.v1.AlarmHub/Control".into(),
        target: target.into(),
        ..AuditRecord::default()
    };
    a.append_audit(&[audit("861234567890"), audit("other"), audit("861234567890")])
        .unwrap();
    let rows = b
        .query_audit(&AuditQuery {
            target: Some("861234567890".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.target == "861234567890"));
}
