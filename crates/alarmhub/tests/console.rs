//! The web console over real HTTP against the real binary: login sessions (cookie flags,
//! logout, wrong passwords), CSRF on every state change, role checks on the server (a viewer
//! is refused a forged control request, and the refusal is audited), the panel page's disarm
//! with the scripted host's real answer and its audit rows, admin pages, and the page
//! language.
#![allow(clippy::unwrap_used)]

mod common;

use common::console::{add_user, request, Browser};
use common::{Daemon, ACCT};
use panel_proto::codes::code;
use serde_json::json;

const PW: &str = "a long password 1";

fn daemon_with_users() -> Daemon {
    let d = Daemon::start(
        "",
        &format!("[[accounts]]\naccount = \"{ACCT}\"\nname = \"Warehouse 7\"\n"),
    );
    for (name, role) in [("olga", "operator"), ("vic", "viewer"), ("ada", "admin")] {
        add_user(&d.data_dir(), name, role, PW);
    }
    d
}

/// Log in, retrying for up to 3 s while the daemon reloads the users the CLI just added.
fn login(d: &Daemon, name: &str) -> Browser {
    let mut b = Browser::new(d.http);
    for _ in 0..30 {
        if b.login(name, PW).status == 200 {
            return b;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{name} could not log in");
}

#[test]
fn login_sets_a_strict_http_only_cookie_and_logout_ends_the_session() {
    let d = daemon_with_users();
    let b = login(&d, "olga");
    let me = b.get("/console/api/me");
    assert_eq!(me.status, 200, "{}", me.body);
    let v = me.json();
    assert_eq!(
        (v["name"].as_str(), v["role"].as_str()),
        (Some("olga"), Some("operator"))
    );
    assert_eq!(v["may"]["control"], true);
    assert_eq!(v["may"]["audit"], false);

    let mut again = Browser::new(d.http);
    let r = again.login("olga", PW);
    let cookie = r.header("set-cookie").unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");

    let out = b.post("/console/api/logout", &json!({}));
    assert_eq!(out.status, 200, "{}", out.body);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(
        b.get("/console/api/me").status,
        401,
        "the old cookie is dead"
    );
    assert_eq!(
        again.get("/console/api/me").status,
        200,
        "other sessions live on"
    );
}

#[test]
fn a_wrong_password_or_no_session_gets_nothing_but_the_page_shell() {
    let d = daemon_with_users();
    let mut b = Browser::new(d.http);
    let r = b.login("olga", "not the password");
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.header("set-cookie").is_none());
    for path in [
        "/console/api/me",
        "/console/api/panels",
        "/console/api/events",
    ] {
        let r = b.get(path);
        assert_eq!(r.status, 401, "{path}: {}", r.body);
        assert!(
            r.json()["error"].as_str().unwrap().contains("log in"),
            "{}",
            r.body
        );
    }
    let shell = b.get("/");
    assert_eq!(shell.status, 200);
    assert!(shell.body.contains("/console/assets/app.js"));
    assert!(shell
        .header("content-security-policy")
        .unwrap()
        .contains("default-src 'self'"));
    assert_eq!(b.get("/console/assets/app.js").status, 200);
    assert_eq!(b.get("/console/assets/nope.js").status, 404);
    // A forged session cookie is no session.
    let forged = request(
        d.http,
        "GET",
        "/console/api/me",
        &[("cookie", "alarmhub_session=abc")],
        "",
    );
    assert_eq!(forged.status, 401);
}

#[test]
fn a_state_change_without_the_csrf_token_or_as_a_form_is_refused() {
    let d = daemon_with_users();
    let b = login(&d, "olga");
    let path = format!("/console/api/panels/{ACCT}/control");
    let body = json!({ "action": "arm_away" }).to_string();
    let no_token = b.post_raw(&path, &[("content-type", "application/json")], &body);
    assert_eq!(no_token.status, 403, "{}", no_token.body);
    assert!(no_token.body.contains("CSRF"), "{}", no_token.body);
    let wrong = b.post_raw(
        &path,
        &[
            ("content-type", "application/json"),
            ("x-csrf-token", "guess"),
        ],
        &body,
    );
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    let token = b.csrf.clone().unwrap();
    let form = b.post_raw(
        &path,
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("x-csrf-token", &token),
        ],
        "action=arm_away",
    );
    assert_eq!(form.status, 403, "{}", form.body);
    // Logout is a state change too.
    let out = b.post_raw(
        "/console/api/logout",
        &[("content-type", "application/json")],
        "{}",
    );
    assert_eq!(out.status, 403);
    assert_eq!(b.get("/console/api/me").status, 200, "still logged in");
}

#[test]
fn a_viewer_sees_no_control_and_a_forged_control_request_is_refused_and_audited() {
    let d = daemon_with_users();
    let mut host = d.host();
    host.report(1737, 0);
    let v = login(&d, "vic");
    assert_eq!(v.get("/console/api/me").json()["may"]["control"], false);
    let page = v.get(&format!("/console/api/panels/{ACCT}"));
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.json()["may_control"], false);
    assert_eq!(page.json()["panel"]["name"], "Warehouse 7");
    // The viewer's own valid session and CSRF token: still refused by role on the server.
    let forged = v.post(
        &format!("/console/api/panels/{ACCT}/control"),
        &json!({ "action": "disarm", "password": "123456" }),
    );
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(forged.body.contains("control panels"), "{}", forged.body);
    assert_eq!(v.get("/console/api/audit").status, 403);
    assert_eq!(v.get("/console/api/users").status, 403);

    let admin = login(&d, "ada");
    let mut found = false;
    for _ in 0..30 {
        let rows = admin.get("/console/api/audit?who=vic").json();
        found = rows["entries"].as_array().unwrap().iter().any(|r| {
            r["outcome"] == "permission_denied"
                && r["action"].as_str().unwrap().contains("/control")
        });
        if found {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(found, "no audit row for the refused request");
}

#[test]
fn an_operator_disarms_from_the_panel_page_and_gets_the_hosts_answer() {
    let d = daemon_with_users();
    let mut host = d.host();
    host.report(1737, 0);
    host.report(3400, 0);
    let b = login(&d, "olga");
    let path = format!("/console/api/panels/{ACCT}/control");
    let ask = |pw: &str| {
        let (b, path, pw) = (b.clone(), path.clone(), pw.to_string());
        std::thread::spawn(move || b.post(&path, &json!({ "action": "disarm", "password": pw })))
    };
    let wrong = ask("654321");
    let cmd = host.command(code::DISARM);
    host.answer(&cmd);
    let r = wrong.join().unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    // The host took the command; what it did shows in its next report: 1701, still armed.
    let page = b.get(&format!("/console/api/panels/{ACCT}")).json();
    assert_eq!(page["panel"]["status"], 0, "{page}");
    assert!(
        page["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["code"] == 1701),
        "{page}"
    );

    let right = ask("123456");
    let cmd = host.command(code::DISARM);
    host.answer(&cmd);
    let r = right.join().unwrap();
    assert_eq!(r.json()["outcome"], "done", "{}", r.body);
    let page = b.get(&format!("/console/api/panels/{ACCT}")).json();
    assert_eq!(page["panel"]["status"], 2, "disarmed: {page}");
    let by = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["source"] == "control")
        .map(|e| e["peer"].as_str().unwrap().to_string())
        .unwrap();
    assert!(by.contains("user:olga"), "{by}");

    let admin = login(&d, "ada");
    let rows = admin.get("/console/api/audit?who=olga").json();
    assert!(
        rows["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["action"] == "/alarmhub.v1.AlarmHub/Control" && r["target"] == ACCT),
        "{rows}"
    );
    // The panel page's audit: the audit log's rows about this panel, with actor and the
    // host's outcome, for anyone who may read the panel (without client addresses).
    let viewer = login(&d, "vic");
    let audit_path = format!("/console/api/panels/{ACCT}/audit");
    let mut panel_audit = serde_json::Value::Null;
    let found = common::eventually(std::time::Duration::from_secs(3), || {
        panel_audit = viewer.get(&audit_path).json();
        panel_audit["entries"].as_array().is_some_and(|rows| {
            rows.iter().any(|r| {
                r["who"] == "olga"
                    && r["action"] == "Control"
                    && r["outcome"] == "done"
                    && r["detail"]["action"] == "disarm"
            })
        })
    });
    assert!(found, "{panel_audit}");
    assert!(
        !panel_audit.to_string().contains("127.0.0.1"),
        "{panel_audit}"
    );
    let other = viewer.get("/console/api/panels/000000000000/audit").json();
    assert!(other["entries"].as_array().unwrap().is_empty(), "{other}");
    let bad = b.post(&path, &json!({ "action": "self_destruct" }));
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("action"), "{}", bad.body);
}

#[test]
fn admins_list_users_and_tokens_without_secrets() {
    let d = daemon_with_users();
    let a = login(&d, "ada");
    let users = a.get("/console/api/users");
    assert_eq!(users.status, 200, "{}", users.body);
    let names: Vec<_> = users.json()["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(!users.body.contains("argon2"), "{}", users.body);
    assert_eq!(a.get("/console/api/tokens").status, 200);
    assert_eq!(login(&d, "olga").get("/console/api/tokens").status, 403);
}

#[test]
fn the_page_speaks_chinese_to_a_chinese_browser_unless_switched() {
    let d = daemon_with_users();
    let zh = request(
        d.http,
        "GET",
        "/",
        &[("accept-language", "zh-CN,zh;q=0.9")],
        "",
    );
    assert!(zh.body.contains("lang=\"zh-CN\""), "{}", zh.body);
    let switched = request(
        d.http,
        "GET",
        "/",
        &[("accept-language", "zh-CN"), ("cookie", "alarmhub_lang=en")],
        "",
    );
    assert!(switched.body.contains("lang=\"en\""));
}
