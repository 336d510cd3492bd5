#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The outputs wired into the real daemon: a Hengbo host reports over TCP, a central
//! station receives the Sur-Gard message from the durable log and ACKs it, a restart resumes
//! after the last ACK (nothing repeated), and Home Assistant arms the host over the real
//! Mosquitto — the state follows only the host's confirmation, through the same control
//! path as the API.

mod common;
#[path = "outputs_support/mod.rs"]
mod support;

use std::time::Duration;

use common::{Daemon, Panel};
use panel_proto::build::{ack, contact_id, encode, panel_frame, AckStyle};
use panel_proto::timestamp::Timestamp;
use panel_proto::{Data, Frame, Id};
use support::mqtt::Ha;
use support::{cid_bytes, Cms};
use tokio::net::TcpListener;
use tokio::time::timeout;

const ACCT: &str = "1234";
const WAIT: Duration = Duration::from_secs(15);

/// The host reports `code` (zone `zone`) with `seq` and waits for the ACK.
fn report(p: &mut Panel, seq: u16, code: u16, zone: u16) {
    let f = panel_frame(
        Id::HengBo,
        seq,
        Some("123ABC"),
        Some("456DEF"),
        ACCT,
        Data::ContactId(contact_id(Some("000123"), code, 0, zone)),
        Some(Timestamp::from_unix(1_717_200_000)),
    );
    let mut out = Vec::new();
    encode(&f, &mut out).unwrap();
    p.send(&out);
    let a = p.recv(Duration::from_secs(5)).unwrap();
    assert_eq!((a.id, a.seq.as_str()), (Id::Ack, f.seq.as_str()));
}

/// Read the central station's messages, ACKing each, until one equals `want`; returns every
/// message seen (heartbeats and the host's other reports included).
async fn until(cms: &mut Cms, want: &[u8]) -> Vec<Vec<u8>> {
    let mut seen = Vec::new();
    timeout(WAIT, async {
        loop {
            let m = cms.message().await;
            cms.ack().await;
            let done = m == want;
            seen.push(m);
            if done {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "no {:?} within {WAIT:?}; saw {seen:?}",
            String::from_utf8_lossy(want)
        )
    });
    seen
}

fn surgard_config(cms: &std::net::SocketAddr) -> String {
    format!(
        "[[automation]]\nname = \"cms\"\nkind = \"surgard\"\nmode = \"connect\"\ntarget = \"{cms}\"\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_reaches_the_central_station_once_and_a_restart_resumes_after_the_last_ack() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let extra = surgard_config(&addr);
    let burglary = cid_bytes(ACCT, 1130, 0, 5);

    let mut d = Daemon::start_in(tmp.path(), "", &extra, &[]);
    let (stream, _) = timeout(WAIT, listener.accept()).await.unwrap().unwrap();
    let mut cms = Cms::from(stream);
    let mut p = d.connect();
    report(&mut p, 1, 1130, 5);
    let first = until(&mut cms, &burglary).await;
    assert_eq!(first.iter().filter(|m| **m == burglary).count(), 1);
    drop(p);
    assert_eq!(d.stop(), Some(0));

    // A second run on the same data: the central station (reconnected) gets the new fire
    // alarm, and never the burglary it already ACKed.
    let d = Daemon::start_in(tmp.path(), "", &extra, &[]);
    let (stream, _) = timeout(WAIT, listener.accept()).await.unwrap().unwrap();
    let mut cms = Cms::from(stream);
    let mut p = d.connect();
    report(&mut p, 2, 1110, 7);
    let fire = cid_bytes(ACCT, 1110, 0, 7);
    let second = until(&mut cms, &fire).await;
    assert!(
        !second.contains(&burglary),
        "an ACKed message was sent again after the restart: {second:?}"
    );
}

fn ts_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn unique_base() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("ahdaemon-{}-{nanos}", std::process::id())
}

/// The host's side of a command: ACK it, then report the new status (as an HB host does).
fn confirm(p: &mut Panel, cmd: &Frame, status_code: u16, seq: u16) {
    let mut out = Vec::new();
    ack(
        cmd,
        AckStyle::Hb,
        Timestamp::from_unix(1_717_200_000),
        &mut out,
    )
    .unwrap();
    p.send(&out);
    report(p, seq, status_code, 0);
}

/// The next command frame the receiver sends (skipping its 1798 type question).
fn next_command(p: &mut Panel) -> Frame {
    loop {
        let f = p.recv_any(WAIT).expect("no command from the receiver");
        if f.id == Id::HengBo && !matches!(&f.data, Data::ContactId(c) if c.event_code() == 1798) {
            return f;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_assistant_arms_a_real_host_and_the_state_follows_its_confirmation() {
    let base = unique_base();
    let extra = format!(
        "[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\nbase_topic = \"{base}\"\ndiscovery_prefix = \"{base}-ha\"\nclient_id = \"{base}-bridge\"\ncontrol_accounts = [\"{ACCT}\"]\n"
    );
    let mut ha = Ha::connect(
        &format!("{base}-ha"),
        &[format!("{base}/#"), format!("{base}-ha/#")],
    )
    .await;
    let d = Daemon::start(
        "",
        &format!("{extra}\n[[accounts]]\naccount = \"{ACCT}\"\npassword = \"123456\"\n"),
    );
    let mut p = d.connect();
    report(&mut p, 1, 1727, 0); // LCD host: arm away and stay
    report(&mut p, 2, 1400, 0); // disarmed
    let state = format!("{base}/{ACCT}/state");
    ha.expect(&state, |s| s == "disarmed").await;
    ha.expect(&format!("{base}/{ACCT}/availability"), |s| s == "online")
        .await;

    let cmd = format!(
        r#"{{"action": "ARM_AWAY", "code": "None", "ts": {}}}"#,
        ts_now()
    );
    ha.publish(&format!("{base}/{ACCT}/set"), &cmd, false).await;
    let frame = tokio::task::spawn_blocking(move || {
        let f = next_command(&mut p);
        (p, f)
    });
    ha.expect(&state, |s| s == "arming").await;
    let (mut p, f) = timeout(WAIT, frame).await.unwrap().unwrap();
    let Data::ContactId(c) = &f.data else {
        panic!("command without Contact ID data: {f:?}")
    };
    assert_eq!(c.event_code(), 3400, "ARM_AWAY must reach the host as 3400");
    // The host holds the command unanswered: nothing may claim it is armed yet.
    ha.drain_for(Duration::from_millis(500)).await;
    assert_eq!(
        ha.last(&state).last(),
        Some(&"arming"),
        "the state moved before the host confirmed"
    );
    tokio::task::spawn_blocking(move || confirm(&mut p, &f, 3400, 3))
        .await
        .unwrap();
    ha.expect(&state, |s| s == "armed_away").await;
    ha.clear_retained(&[]).await;
}
