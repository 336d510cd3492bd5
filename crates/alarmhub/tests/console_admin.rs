//! The users and tokens pages over real HTTP against the real binary: an administrator
//! creates a user (who can log in at once), changes its role (its open session takes it),
//! disables and enables it, resets its password, creates a token (shown once, never listed)
//! with an expiry and revokes it; bad input gets a clear 4xx naming what is wrong; operators
//! and viewers are refused (403); a forged request without the CSRF token changes nothing;
//! every change is in the audit trail under the administrator's name, with no secret.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::console::{add_user, Browser};
use common::{eventually, Daemon};
use serde_json::{json, Value};

const PW: &str = "a long password 1";
const NEW_PW: &str = "another long password 2";

fn daemon_with_users() -> Daemon {
    let d = Daemon::start("", "");
    for (name, role) in [("olga", "operator"), ("vic", "viewer"), ("ada", "admin")] {
        add_user(&d.data_dir(), name, role, PW);
    }
    d
}

fn login_as(d: &Daemon, name: &str, pw: &str) -> Browser {
    let mut b = Browser::new(d.http);
    for _ in 0..30 {
        if b.login(name, pw).status == 200 {
            return b;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{name} could not log in");
}

/// Audit rows by `who`, newest first (the CLI on the data directory).
fn audit(d: &Daemon, who: &str) -> Vec<Value> {
    let out = d.cli(&[
        "audit",
        "--json",
        "--who",
        who,
        "--data-dir",
        d.data_dir().to_str().unwrap(),
    ]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn user<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == name)
        .unwrap_or_else(|| panic!("no user {name} in {list}"))
}

#[test]
fn an_admin_manages_users_in_the_console_and_each_change_takes_effect_at_once() {
    let d = daemon_with_users();
    let ada = login_as(&d, "ada", PW);
    let made = ada.post(
        "/console/api/users",
        &json!({ "name": "oleg", "role": "operator", "password": PW }),
    );
    assert_eq!(made.status, 200, "{}", made.body);
    let mut oleg = Browser::new(d.http);
    assert_eq!(oleg.login("oleg", PW).status, 200, "no wait for a reload");
    assert_eq!(oleg.get("/console/api/me").json()["role"], "operator");

    // Bad input: a clear message naming what is wrong, nothing changed.
    let cases = [
        (
            json!({ "name": "oleg", "role": "viewer", "password": PW }),
            409,
            "exists already",
        ),
        (
            json!({ "name": "weak", "role": "viewer", "password": "short" }),
            400,
            "at least",
        ),
        (
            json!({ "name": "root", "role": "root", "password": PW }),
            400,
            "unknown role \"root\"",
        ),
        (
            json!({ "name": "bad name!", "role": "viewer", "password": PW }),
            400,
            "not allowed",
        ),
    ];
    for (body, status, says) in cases {
        let r = ada.post("/console/api/users", &body);
        assert_eq!(r.status, status, "{body}: {}", r.body);
        assert!(
            r.json()["error"].as_str().unwrap().contains(says),
            "{}",
            r.body
        );
    }
    let list = ada.get("/console/api/users").json();
    assert_eq!(list["users"].as_array().unwrap().len(), 4, "{list}");
    assert!(!list.to_string().contains("argon2"), "{list}");

    // A role change reaches the open session on its next request.
    let r = ada.post("/console/api/users/oleg/role", &json!({ "role": "viewer" }));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(oleg.get("/console/api/me").json()["role"], "viewer");
    let r = ada.post(
        "/console/api/users/nobody/role",
        &json!({ "role": "viewer" }),
    );
    assert_eq!(r.status, 404, "{}", r.body);

    // Disabled: the session ends and a login is refused with the reason; enabled again.
    assert_eq!(
        ada.post("/console/api/users/oleg/disable", &json!({}))
            .status,
        200
    );
    assert_eq!(oleg.get("/console/api/me").status, 401);
    let r = Browser::new(d.http).login("oleg", PW);
    assert_eq!(r.status, 401);
    assert!(r.body.contains("disabled"), "{}", r.body);
    assert!(user(&ada.get("/console/api/users").json(), "oleg")["disabled"] == true);
    assert_eq!(
        ada.post("/console/api/users/oleg/enable", &json!({}))
            .status,
        200
    );
    assert_eq!(Browser::new(d.http).login("oleg", PW).status, 200);

    // Password reset: the weak one refused, the old one dead, the new one works.
    let path = "/console/api/users/oleg/password";
    let r = ada.post(path, &json!({ "password": "short" }));
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(ada.post(path, &json!({ "password": NEW_PW })).status, 200);
    assert_eq!(Browser::new(d.http).login("oleg", PW).status, 401);
    login_as(&d, "oleg", NEW_PW);

    // An administrator cannot lock themselves out.
    let r = ada.post("/console/api/users/ada/disable", &json!({}));
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("another administrator"), "{}", r.body);

    let wanted = [
        ("user.add", "ok"),
        ("user.add", "exists"),
        ("user.add", "invalid"),
        ("user.role", "ok"),
        ("user.role", "not_found"),
        ("user.disable", "ok"),
        ("user.enable", "ok"),
        ("user.passwd", "invalid"),
        ("user.passwd", "ok"),
        ("user.disable", "invalid"),
    ];
    // Refusals go through the daemon's batched audit writer: give it a moment.
    let mut rows = Vec::new();
    let all_there = eventually(Duration::from_secs(3), || {
        rows = audit(&d, "ada");
        wanted
            .iter()
            .all(|(a, o)| rows.iter().any(|r| r["action"] == *a && r["outcome"] == *o))
    });
    assert!(all_there, "{wanted:?} not all in {rows:#?}");
    let changes: Vec<&Value> = rows
        .iter()
        .filter(|r| r["action"].as_str().unwrap().starts_with("user."))
        .collect();
    assert!(
        changes
            .iter()
            .all(|r| r["kind"] == "user" && r["role"] == "admin" && r["addr"] != "-"),
        "each change names the admin, as a user, and the address: {changes:#?}"
    );
    let text = serde_json::to_string(&rows).unwrap() + &d.log_tail();
    assert!(
        !text.contains(PW) && !text.contains(NEW_PW),
        "no password in audit rows or logs"
    );
}

#[test]
fn a_token_is_shown_once_listed_without_its_secret_and_revoked() {
    let d = daemon_with_users();
    let ada = login_as(&d, "ada", PW);
    let r = ada.post(
        "/console/api/tokens",
        &json!({ "name": "erp", "role": "integration", "expires": "90d" }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let token = r.json()["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("ahk_"), "{token}");
    let expires = r.json()["expires_at_ms"].as_i64().unwrap();
    let day = 86_400_000;
    assert!((expires - alarmhub::clock::now_ms() - 90 * day).abs() < day);

    let list = ada.get("/console/api/tokens");
    assert_eq!(list.status, 200);
    assert_eq!(list.json()["tokens"][0]["expires_at_ms"], expires);
    assert!(!list.body.contains(&token), "never served again");
    let again = ada.post(
        "/console/api/tokens",
        &json!({ "name": "erp", "role": "viewer" }),
    );
    assert_eq!(again.status, 409, "{}", again.body);
    for (body, says) in [
        (json!({ "name": "x", "role": "boss" }), "unknown role"),
        (
            json!({ "name": "x", "role": "viewer", "expires": "soon" }),
            "expiry",
        ),
    ] {
        let r = ada.post("/console/api/tokens", &body);
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body.contains(says), "{}", r.body);
    }

    // The CLI sees the console's token, with its expiry; the daemon serves it.
    let cli = d.cli(&[
        "token",
        "list",
        "--json",
        "--data-dir",
        d.data_dir().to_str().unwrap(),
    ]);
    let listed: Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(
        (listed["name"].as_str(), listed["expires_at_ms"].as_i64()),
        (Some("erp"), Some(expires))
    );
    assert_eq!(
        ada.post("/console/api/tokens/erp/revoke", &json!({}))
            .status,
        200
    );
    assert_eq!(
        ada.post("/console/api/tokens/erp/revoke", &json!({}))
            .status,
        404
    );
    assert!(ada.get("/console/api/tokens").json()["tokens"]
        .as_array()
        .unwrap()
        .is_empty());
    let rows = audit(&d, "ada");
    assert!(eventually(Duration::from_secs(3), || audit(&d, "ada")
        .iter()
        .any(
            |r| r["action"] == "token.create" && r["outcome"] == "exists"
        )));
    let create = rows
        .iter()
        .find(|r| r["action"] == "token.create" && r["outcome"] == "ok")
        .unwrap();
    assert_eq!(create["target"], "erp");
    assert!(create["detail"].as_str().unwrap().contains("integration"));
    assert!(rows.iter().any(|r| r["action"] == "token.revoke"));
    let text = serde_json::to_string(&rows).unwrap() + &d.log_tail();
    assert!(
        !text.contains(&token),
        "the token is in no audit row or log"
    );
}

#[test]
fn operators_viewers_and_forged_requests_are_refused() {
    let d = daemon_with_users();
    let (olga, vic, ada) = (
        login_as(&d, "olga", PW),
        login_as(&d, "vic", PW),
        login_as(&d, "ada", PW),
    );
    let new_user = json!({ "name": "mallory", "role": "admin", "password": PW });
    let changes = [
        ("/console/api/users", new_user.clone()),
        ("/console/api/users/ada/role", json!({ "role": "viewer" })),
        ("/console/api/users/ada/disable", json!({})),
        ("/console/api/users/olga/enable", json!({})),
        ("/console/api/users/ada/password", json!({ "password": PW })),
        (
            "/console/api/tokens",
            json!({ "name": "t", "role": "admin" }),
        ),
        ("/console/api/tokens/t/revoke", json!({})),
    ];
    for b in [&olga, &vic] {
        for (path, body) in &changes {
            let r = b.post(path, body);
            assert_eq!(r.status, 403, "{path}: {}", r.body);
        }
        assert_eq!(b.get("/console/api/users").status, 403);
        assert_eq!(b.get("/console/api/tokens").status, 403);
    }
    // An administrator's browser tricked into a request without the token, or as a form.
    let body = new_user.to_string();
    let no_token = ada.post_raw(
        "/console/api/users",
        &[("content-type", "application/json")],
        &body,
    );
    assert_eq!(no_token.status, 403, "{}", no_token.body);
    assert!(no_token.body.contains("CSRF"), "{}", no_token.body);
    let csrf = ada.csrf.clone().unwrap();
    let form = ada.post_raw(
        "/console/api/users",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("x-csrf-token", &csrf),
        ],
        "name=mallory&role=admin",
    );
    assert_eq!(form.status, 403, "{}", form.body);
    let users = ada.get("/console/api/users").json();
    assert!(
        !users.to_string().contains("mallory"),
        "nothing was created: {users}"
    );
    assert!(eventually(Duration::from_secs(3), || {
        audit(&d, "olga").iter().any(|r| {
            r["action"] == "POST /console/api/users" && r["outcome"] == "permission_denied"
        })
    }));
}
