//! The console's outputs endpoint over real HTTP against the real binary: a Sur-Gard output
//! connected to a test central station that ACKs (state up, backlog 0, last ACK time), one
//! whose central station is down (connecting), and an MQTT bridge with no broker (not
//! connected) — served to a logged-in user (the route needs `Metrics`, which every role
//! has), refused without a session or after logout, and read-only.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::console::{add_user, request, Browser};
use common::{Daemon, ACCT};
use serde_json::{json, Value};

const PW: &str = "a long password 1";

/// A central station on 127.0.0.1 that ACKs every message (bytes up to DC4) and sends
/// each one on `tx`; ends after 60 s or when the daemon hangs up.
fn central_station() -> (std::net::SocketAddr, mpsc::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let start = Instant::now();
        let mut msg = Vec::new();
        let mut buf = [0u8; 256];
        while start.elapsed() < Duration::from_secs(60) {
            let n = match s.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => n,
                Err(_) => continue,
            };
            for &b in &buf[..n] {
                msg.push(b);
                if b == 0x14 {
                    if s.write_all(&[0x06]).is_err() {
                        return;
                    }
                    let _ = tx.send(std::mem::take(&mut msg));
                }
            }
        }
    });
    (addr, rx)
}

fn login(d: &Daemon, name: &str) -> Browser {
    let mut b = Browser::new(d.http);
    for _ in 0..30 {
        if b.login(name, PW).status == 200 {
            return b;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{name} could not log in");
}

/// Poll the endpoint until `done` holds (at most 15 s); returns the last answer.
fn outputs_until(b: &Browser, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let r = b.get("/console/api/outputs");
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json();
        if done(&v) || start.elapsed() > Duration::from_secs(15) {
            return v;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_console_shows_each_output_link_to_a_logged_in_user_and_nothing_without_a_session() {
    let (cms, messages) = central_station();
    let d = Daemon::start(
        "",
        &format!(
            "[[accounts]]\naccount = \"{ACCT}\"\ncms_account = \"C0DE\"\n\
             [[automation]]\nname = \"cms\"\nkind = \"surgard\"\nmode = \"connect\"\n\
             target = \"{cms}\"\n\
             [[automation]]\nname = \"spare\"\nkind = \"surgard\"\nmode = \"connect\"\n\
             target = \"127.0.0.1:1\"\n\
             [mqtt]\nurl = \"mqtt://127.0.0.1:1\"\n"
        ),
    );
    for (name, role) in [("vic", "viewer"), ("ada", "admin")] {
        add_user(&d.data_dir(), name, role, PW);
    }
    let mut host = d.host();
    host.report(1130, 3);
    let want = b"5011 18C0DEE13000003\x14".to_vec();
    let start = Instant::now();
    loop {
        let m = messages
            .recv_timeout(Duration::from_secs(15))
            .expect("the central station got nothing");
        if m == want {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "no burglary");
    }

    let vic = login(&d, "vic");
    assert_eq!(vic.get("/console/api/me").json()["may"]["outputs"], true);
    let v = outputs_until(&vic, |v| {
        let a = &v["automation"][0];
        a["state"] == "up" && a["backlog"] == 0 && a["last_ack_ms"].is_i64()
    });
    let cms_row = &v["automation"][0];
    assert_eq!(
        (
            &cms_row["name"],
            &cms_row["kind"],
            &cms_row["mode"],
            &cms_row["state"]
        ),
        (
            &json!("cms"),
            &json!("surgard"),
            &json!("connect"),
            &json!("up")
        ),
        "{v}"
    );
    assert_eq!(cms_row["backlog"], 0, "{v}");
    assert!(cms_row["sent"].as_u64().unwrap() >= 1, "{v}");
    let acked = cms_row["last_ack_ms"].as_i64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!((now - 60_000..=now).contains(&acked), "{acked} vs {now}");
    let spare = &v["automation"][1];
    assert_eq!(
        (&spare["name"], &spare["state"], &spare["target"]),
        (&json!("spare"), &json!("connecting"), &json!("127.0.0.1:1")),
        "{v}"
    );
    assert_eq!(v["mqtt"]["connected"], false, "{v}");
    assert_eq!(v["mqtt"]["broker"], "mqtt://127.0.0.1:1", "{v}");
    let ada = login(&d, "ada");
    assert_eq!(ada.get("/console/api/outputs").status, 200);

    // No session, a dead session, and anything but GET get nothing.
    let anon = request(d.http, "GET", "/console/api/outputs", &[], "");
    assert_eq!(anon.status, 401, "{}", anon.body);
    assert!(!anon.body.contains("C0DE") && !anon.body.contains("cms"));
    let post = vic.post("/console/api/outputs", &json!({}));
    assert_eq!(post.status, 404, "{}", post.body);
    assert_eq!(vic.post("/console/api/logout", &json!({})).status, 200);
    assert_eq!(vic.get("/console/api/outputs").status, 401);
}
