//! Console sessions live in the store, against the real binary: a logged-in browser's
//! cookie still works after the daemon restarts, logout ends it for good (also across a
//! restart), the database holds no cookie value (the idle timeout on the stored sessions
//! is tested in `console::session`, its minimum of 60 s is too long here), and on a
//! PostgreSQL cluster any node accepts a session another node started (and a logout on one
//! ends it on all).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::console::{add_user, Browser};
use common::postgres::TestDb;
use common::{Daemon, Setup};
use serde_json::json;

const PW: &str = "a long password 1";

fn login(addr: std::net::SocketAddr, name: &str) -> Browser {
    let mut b = Browser::new(addr);
    for _ in 0..30 {
        if b.login(name, PW).status == 200 {
            return b;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{name} could not log in");
}

/// Every byte of the database files (main file and write-ahead log).
fn database_bytes(d: &Daemon) -> Vec<u8> {
    let mut all = Vec::new();
    for f in std::fs::read_dir(d.data_dir()).unwrap() {
        let p = f.unwrap().path();
        if p.is_file() {
            all.extend(std::fs::read(&p).unwrap_or_default());
        }
    }
    all
}

#[test]
fn a_session_survives_a_restart_and_logout_ends_it_for_good() {
    let mut d = Daemon::start("", "");
    add_user(&d.data_dir(), "olga", "operator", PW);
    let mut stays = login(d.http, "olga");
    let mut leaves = login(d.http, "olga");
    let cookie = stays.cookie.clone().unwrap();
    let value = cookie.split_once('=').unwrap().1.to_string();
    assert!(
        !database_bytes(&d)
            .windows(value.len())
            .any(|w| w == value.as_bytes()),
        "the database keeps only a hash of the cookie"
    );

    d.restart();
    stays.addr = d.http;
    leaves.addr = d.http;
    let me = stays.get("/console/api/me");
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(
        me.json()["csrf"].as_str(),
        stays.csrf.as_deref(),
        "same CSRF token"
    );
    let note = stays.post("/console/api/logout", &json!({}));
    assert_eq!(
        note.status, 200,
        "the CSRF token still works: {}",
        note.body
    );
    assert_eq!(stays.get("/console/api/me").status, 401, "logged out");
    assert_eq!(leaves.get("/console/api/me").status, 200);

    d.restart();
    stays.addr = d.http;
    leaves.addr = d.http;
    assert_eq!(
        stays.get("/console/api/me").status,
        401,
        "a logout is not undone by a restart"
    );
    assert_eq!(leaves.get("/console/api/me").status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_postgresql_cluster_any_node_accepts_the_session() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let url = db.url.clone();
    tokio::task::spawn_blocking(move || {
        let node = || Daemon::with(&Setup::new().store(&format!("url = {url:?}")));
        let (a, b) = (node(), node());
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_alarmhub"))
            .args([
                "user",
                "add",
                "olga",
                "--role",
                "operator",
                "--password-stdin",
            ])
            .args(["--store", &url])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin
                    .take()
                    .unwrap()
                    .write_all(format!("{PW}\n").as_bytes())?;
                c.wait_with_output()
            })
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let on_a = login(a.http, "olga");
        // Wait until node B reloaded the user, then use A's cookie there.
        let _ = login(b.http, "olga");
        let mut on_b = on_a.clone();
        on_b.addr = b.http;
        assert_eq!(
            on_b.get("/console/api/me").status,
            200,
            "B accepts A's session"
        );
        assert_eq!(on_b.post("/console/api/logout", &json!({})).status, 200);
        assert_eq!(on_a.get("/console/api/me").status, 401, "ended on A too");
    })
    .await
    .unwrap();
}
