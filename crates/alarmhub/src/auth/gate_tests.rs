use super::*;
use crate::auth::secret::generate_token;
use crate::auth::store::{TokenRow, UserRow};
use crate::auth::table::grpc_rule;

fn addr(ip: [u8; 4]) -> Option<SocketAddr> {
    Some(SocketAddr::from((ip, 4000)))
}

fn with_token(role: Role, compat: CompatAnonymous) -> (Auth, String) {
    let auth = Auth::detached(true, compat);
    let t = generate_token();
    auth.cache.replace(
        1,
        vec![TokenRow {
            name: "t1".into(),
            role,
            hash: hash_token(t.expose()),
            created_at_ms: 0,
            last_used_ms: None,
            expires_at_ms: None,
        }],
        vec![],
    );
    (auth, format!("Bearer {}", t.expose()))
}

#[test]
fn bearer_header_shapes() {
    assert_eq!(bearer(None), None);
    assert_eq!(bearer(Some(b"Bearer abc")), Some(Ok("abc")));
    assert_eq!(bearer(Some(b"bearer  abc ")), Some(Ok("abc")));
    assert_eq!(bearer(Some(b"Basic abc")), Some(Err(())));
    assert_eq!(bearer(Some(b"Bearer")), Some(Err(())));
}

#[test]
fn tokens_roles_and_anonymous_compat_decide_the_code() {
    let control = grpc_rule("/alarmhub.v1.AlarmHub/Control");
    let compat = grpc_rule("/alarm_server.AlarmServer/IsNeedSync");
    let (auth, viewer) = with_token(Role::Viewer, CompatAnonymous::Loopback);
    let local = addr([127, 0, 0, 1]);
    let remote = addr([192, 0, 2, 7]);
    let id = auth
        .check(compat, "c", Some(viewer.as_bytes()), remote)
        .unwrap();
    assert_eq!(
        (id.name.as_str(), id.role, id.kind),
        ("t1", Role::Viewer, Kind::Token)
    );
    assert!(matches!(
        auth.check(control, "c", Some(viewer.as_bytes()), local),
        Err(Refusal::PermissionDenied(m)) if m.contains("operator or admin")
    ));
    assert!(matches!(
        auth.check(control, "c", None, local),
        Err(Refusal::Unauthenticated(_))
    ));
    assert!(
        auth.check(compat, "c", None, local).is_ok(),
        "anonymous compat from loopback"
    );
    assert!(matches!(
        auth.check(compat, "c", None, remote),
        Err(Refusal::Unauthenticated(_))
    ));
    let (never, _) = with_token(Role::Viewer, CompatAnonymous::Never);
    assert!(never.check(compat, "c", None, local).is_err());
    let (always, _) = with_token(Role::Viewer, CompatAnonymous::Always);
    assert!(always.check(compat, "c", None, remote).is_ok());
    assert!(matches!(
        auth.check(Rule::Unknown, "x", Some(viewer.as_bytes()), local),
        Err(Refusal::PermissionDenied(_))
    ));
}

#[test]
fn with_access_control_off_everyone_is_admin_and_tokens_still_name_callers() {
    let auth = Auth::detached(false, CompatAnonymous::Never);
    let control = grpc_rule("/alarmhub.v1.AlarmHub/Control");
    let id = auth.check(control, "c", None, None).unwrap();
    assert_eq!((id.role, id.kind), (Role::Admin, Kind::Anonymous));
    let id = auth
        .check(control, "c", Some(b"Bearer nope"), None)
        .unwrap();
    assert_eq!(id.kind, Kind::Anonymous);
}

#[test]
fn bad_tokens_from_one_address_are_rate_limited_and_good_ones_then_too() {
    let (auth, good) = with_token(Role::Admin, CompatAnonymous::Loopback);
    let rule = grpc_rule("/alarmhub.v1.AlarmHub/ListMachines");
    let a = addr([192, 0, 2, 9]);
    for _ in 0..crate::auth::limiter::MAX_FAILURES {
        assert!(matches!(
            auth.check(rule, "m", Some(b"Bearer guess"), a),
            Err(Refusal::Unauthenticated(_))
        ));
    }
    let r = auth.check(rule, "m", Some(good.as_bytes()), a).unwrap_err();
    assert!(
        matches!(r, Refusal::RateLimited { ref who, .. } if who == "192.0.2.9"),
        "{r:?}"
    );
    assert!(
        !r.to_string().contains("guess"),
        "the presented secret is never echoed: {r}"
    );
    assert!(auth
        .check(rule, "m", Some(good.as_bytes()), addr([192, 0, 2, 10]))
        .is_ok());
}

#[tokio::test]
async fn login_checks_argon2_passwords_and_limits_guesses_per_name() {
    let auth = Auth::detached(true, CompatAnonymous::Loopback);
    let pw = Sensitive::new("a long enough password");
    let hash = crate::auth::secret::hash_password(&pw).unwrap();
    auth.cache.replace(
        1,
        vec![],
        vec![UserRow {
            name: "alice".into(),
            role: Role::Operator,
            password_hash: hash,
            created_at_ms: 0,
            last_login_ms: None,
            disabled: false,
        }],
    );
    let id = auth.login("alice", &pw, addr([10, 0, 0, 1])).await.unwrap();
    assert_eq!((id.kind, id.role), (Kind::User, Role::Operator));
    let wrong = Sensitive::new("wrong password!!");
    for i in 0..crate::auth::limiter::MAX_FAILURES {
        // A different address every time: the per-name limit still counts them.
        let r = auth.login("alice", &wrong, addr([10, 0, 1, i as u8])).await;
        assert!(matches!(r, Err(Refusal::Unauthenticated(_))), "{r:?}");
    }
    let r = auth.login("alice", &pw, addr([10, 0, 2, 1])).await;
    assert!(
        matches!(r, Err(Refusal::RateLimited { ref who, .. }) if who == "alice"),
        "{r:?}"
    );
    assert!(auth.login("nobody", &pw, None).await.is_err());
}

#[tokio::test]
async fn expired_tokens_and_disabled_users_are_refused() {
    let auth = Auth::detached(true, CompatAnonymous::Never);
    let (fresh, old) = (generate_token(), generate_token());
    let row = |name: &str, t: &Sensitive, expires_at_ms| TokenRow {
        name: name.into(),
        role: Role::Viewer,
        hash: hash_token(t.expose()),
        created_at_ms: 0,
        last_used_ms: None,
        expires_at_ms,
    };
    let pw = Sensitive::new("a long enough password");
    let user = UserRow {
        name: "bob".into(),
        role: Role::Operator,
        password_hash: crate::auth::secret::hash_password(&pw).unwrap(),
        created_at_ms: 0,
        last_login_ms: None,
        disabled: true,
    };
    let now = crate::clock::now_ms();
    auth.cache.replace(
        1,
        vec![
            row("fresh", &fresh, Some(now + 3_600_000)),
            row("old", &old, Some(now - 1)),
        ],
        vec![user],
    );
    let rule = grpc_rule("/alarmhub.v1.AlarmHub/ListMachines");
    let h = |t: &Sensitive| format!("Bearer {}", t.expose());
    assert!(auth
        .check(rule, "m", Some(h(&fresh).as_bytes()), None)
        .is_ok());
    let r = auth.check(rule, "m", Some(h(&old).as_bytes()), None);
    assert!(
        matches!(&r, Err(Refusal::Unauthenticated(m)) if m.contains("expired")),
        "{r:?}"
    );
    let r = auth.login("bob", &pw, None).await;
    assert!(
        matches!(&r, Err(Refusal::Unauthenticated(m)) if m.contains("disabled")),
        "{r:?}"
    );
    assert_eq!(
        auth.user_role("bob"),
        None,
        "a disabled user has no live role"
    );
}
