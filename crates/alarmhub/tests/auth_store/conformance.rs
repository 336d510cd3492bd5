//! The auth store contract — tokens, users, roles, console sessions, audit rows and the
//! generation number — written once against `Box<dyn AuthBackend>`: every backend passes it.
//!
//! A backend provides an [`AuthStoreBackend`] (a fresh, empty store per test; every `open`
//! is a new handle on that same store, so two handles are two nodes of a cluster, or the CLI
//! beside the daemon) and instantiates the suite in its test file:
//!
//! ```ignore
//! #[macro_use]
//! #[path = "auth_store/conformance.rs"]
//! mod conformance;
//! mod postgres_conformance {
//!     auth_store_conformance_suite!(crate::postgres);   // async fn() -> impl AuthStoreBackend
//! }
//! ```
//!
//! The contracts are blocking, like the stores. The suite calls them straight from async
//! code, as the daemon's refresher does; `auth_store_conformance_suite!(from_a_plain_thread
//! …)` calls them from a thread without a runtime, as the CLI does (this matters for
//! PostgreSQL, whose store runs its own runtime).

use alarmhub::auth::secret::{generate_token, hash_token};
use alarmhub::auth::store::{TokenRow, UserRow};
use alarmhub::auth::{AuditQuery, AuditRecord, AuthBackend, AuthStoreError, Role, SessionRow};

/// How the suite gets at one backend's store.
pub trait AuthStoreBackend: Send + Sync {
    /// A new handle on the test's store (the same store on every call).
    fn open(&self) -> Box<dyn AuthBackend>;
}

/// What a backend constructor may return: the backend, or `None` when its server is not
/// reachable (PostgreSQL; the test is then skipped, and the constructor says so loudly —
/// or fails under `ALARMHUB_REQUIRE_PG=1`).
pub trait MaybeAuthStoreBackend {
    type B: AuthStoreBackend;
    fn available(self) -> Option<Self::B>;
}

impl<B: AuthStoreBackend> MaybeAuthStoreBackend for B {
    type B = B;
    fn available(self) -> Option<B> {
        Some(self)
    }
}

impl<B: AuthStoreBackend> MaybeAuthStoreBackend for Option<B> {
    type B = B;
    fn available(self) -> Option<B> {
        self
    }
}

pub fn token(name: &str, role: Role) -> TokenRow {
    TokenRow {
        name: name.into(),
        role,
        hash: hash_token(generate_token().expose()),
        created_at_ms: 1,
        last_used_ms: None,
        expires_at_ms: None,
    }
}

fn user(name: &str, role: Role) -> UserRow {
    UserRow {
        name: name.into(),
        role,
        password_hash: "$argon2id$x".into(),
        created_at_ms: 5,
        last_login_ms: None,
        disabled: false,
    }
}

fn session(h: u8, seen: i64) -> SessionRow {
    SessionRow {
        id_hash: [h; 32],
        name: "olga".into(),
        created_at_ms: seen,
        last_seen_ms: seen,
    }
}

pub fn tokens_are_created_touched_and_revoked_with_a_generation_bump_every_handle_sees(
    b: &dyn AuthStoreBackend,
) {
    let (mut a, other) = (b.open(), b.open());
    let g0 = other.generation().unwrap();
    let t = token("app", Role::Viewer);
    a.create_token(&t).unwrap();
    for s in [&a, &other] {
        assert!(s.generation().unwrap() > g0, "every handle sees the change");
    }
    let e = a.create_token(&token("app", Role::Admin)).unwrap_err();
    assert!(
        matches!(e, AuthStoreError::Exists { what: "token", .. }),
        "{e}"
    );
    // A name without a token is passed over.
    a.touch_tokens(&[("app".into(), 42), ("nobody".into(), 7)])
        .unwrap();
    for s in [&a, &other] {
        let (tokens, users) = s.load().unwrap();
        assert_eq!(tokens.len(), 1);
        assert_eq!((tokens[0].hash, tokens[0].last_used_ms), (t.hash, Some(42)));
        assert_eq!(tokens[0].role, Role::Viewer);
        assert!(users.is_empty());
    }
    let g1 = a.generation().unwrap();
    assert!(a.revoke_token("app").unwrap());
    assert!(!a.revoke_token("app").unwrap());
    for s in [&a, &other] {
        assert!(s.generation().unwrap() > g1);
        assert!(s.load().unwrap().0.is_empty());
    }
}

pub fn users_and_audit_rows_round_trip_and_page_newest_first(b: &dyn AuthStoreBackend) {
    let mut s = b.open();
    let u = user("alice", Role::Operator);
    s.add_user(&u).unwrap();
    assert!(format!("{u:?}").contains("****") && !format!("{u:?}").contains("argon"));
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
    let a = AuditQuery {
        who: Some("a".into()),
        since_ms: Some(15),
        ..Default::default()
    };
    assert_eq!(s.query_audit(&a).unwrap().len(), 1);
    let page = s
        .query_audit(&AuditQuery {
            before_id: Some(all[0].id),
            limit: 1,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].at_ms, 20);
}

pub fn roles_expiry_and_disabled_users_are_stored_and_disabling_ends_sessions(
    b: &dyn AuthStoreBackend,
) {
    let (mut a, other) = (b.open(), b.open());
    a.add_user(&user("olga", Role::Operator)).unwrap();
    let mut t = token("erp", Role::Integration);
    t.expires_at_ms = Some(99);
    a.create_token(&t).unwrap();
    assert!(a.set_role("olga", Role::Viewer, 6).unwrap());
    assert!(!a.set_role("nobody", Role::Viewer, 6).unwrap());
    a.create_session(&session(4, 400), 0, 10).unwrap();
    assert!(a.set_disabled("olga", true, 7).unwrap());
    assert_eq!(other.session(&[4; 32]).unwrap(), None);
    let (tokens, users) = other.load().unwrap();
    assert_eq!(tokens[0].expires_at_ms, Some(99));
    assert_eq!((users[0].role, users[0].disabled), (Role::Viewer, true));
}

pub fn sessions_are_shared_touched_ended_expired_and_capped(b: &dyn AuthStoreBackend) {
    let (mut a, mut other) = (b.open(), b.open());
    a.add_user(&user("olga", Role::Operator)).unwrap();
    // A session started through one handle (node) is found through the other.
    a.create_session(&session(1, 100), 0, 10).unwrap();
    a.create_session(&session(2, 200), 0, 10).unwrap();
    assert_eq!(other.session(&[1; 32]).unwrap(), Some(session(1, 100)));
    other.touch_session(&[1; 32], 150).unwrap();
    assert_eq!(a.session(&[1; 32]).unwrap().unwrap().last_seen_ms, 150);
    assert!(other.remove_session(&[1; 32]).unwrap());
    assert_eq!(a.session(&[1; 32]).unwrap(), None);
    // Expired ones go when a session starts; beyond `max`, the longest idle.
    a.create_session(&session(3, 300), 250, 10).unwrap();
    assert_eq!(a.session(&[2; 32]).unwrap(), None, "idle since before 250");
    a.create_session(&session(4, 400), 0, 1).unwrap();
    assert_eq!(a.session(&[3; 32]).unwrap(), None, "beyond max = 1");
    assert_eq!(other.session(&[4; 32]).unwrap(), Some(session(4, 400)));
}

pub fn audit_rows_are_found_by_target_through_every_handle(b: &dyn AuthStoreBackend) {
    let (mut a, other) = (b.open(), b.open());
    let audit = |target: &str| AuditRecord {
        at_ms: 1,
        who: "olga".into(),
        action: "/alarmhub.v1.AlarmHub/Control".into(),
        target: target.into(),
        ..AuditRecord::default()
    };
    a.append_audit(&[audit("861234567890"), audit("other"), audit("861234567890")])
        .unwrap();
    let rows = other
        .query_audit(&AuditQuery {
            target: Some("861234567890".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.target == "861234567890"));
}

/// One test per contract, on the backend `$backend()` (an async fn returning an
/// [`AuthStoreBackend`] over a fresh store, or `Option` of one: `None` skips the test).
/// By default each is a `#[tokio::test]` calling the store straight from async code, as the
/// daemon's refresher does; `from_a_plain_thread` makes each a `#[test]` calling it from a
/// thread without a runtime, as the CLI does.
#[macro_export]
macro_rules! auth_store_conformance_suite {
    ($backend:path) => {
        $crate::auth_store_conformance_suite!(@each async_code $backend);
    };
    (from_a_plain_thread $backend:path) => {
        $crate::auth_store_conformance_suite!(@each plain_thread $backend);
    };
    (@each $mode:ident $backend:path) => {
        $crate::auth_store_conformance_suite!(@tests $mode $backend;
            tokens_are_created_touched_and_revoked_with_a_generation_bump_every_handle_sees,
            users_and_audit_rows_round_trip_and_page_newest_first,
            roles_expiry_and_disabled_users_are_stored_and_disabling_ends_sessions,
            sessions_are_shared_touched_ended_expired_and_capped,
            audit_rows_are_found_by_target_through_every_handle,
        );
    };
    (@tests async_code $backend:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                use $crate::conformance::MaybeAuthStoreBackend;
                let Some(backend) = $backend().await.available() else {
                    return;
                };
                $crate::conformance::$name(&backend);
            }
        )*
    };
    (@tests plain_thread $backend:path; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                use $crate::conformance::MaybeAuthStoreBackend;
                // Only to set the backend up; the contract runs outside it.
                let rt = tokio::runtime::Runtime::new().unwrap();
                let Some(backend) = rt.block_on($backend()).available() else {
                    return;
                };
                $crate::conformance::$name(&backend);
            }
        )*
    };
}
