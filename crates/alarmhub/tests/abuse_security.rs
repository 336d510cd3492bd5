//! Issue #13, impersonation and replay, against the receiver run in-process (real sockets on
//! loopback, real SQLite): a second address cannot take a live panel's commands over,
//! `allowed_sources` refuses everything else, keyed accounts refuse plaintext, an encrypted
//! replay with another seq is stored once, a connection or a source cannot squat thousands
//! of accounts, the API creates no machines, and no password is ever stored.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use alarmhub::control::{ControlRequest, Outcome};
use alarmhub::events::StoredEvent;
use alarmhub::store::EventQuery;
use common::frames::{bytes, cid_frame, FrameBuf};
use common::{within, Host, Hub, ACCT};
use panel_proto::build::{encode_encrypted, Command};
use panel_proto::crypto::{Key, KeyFormat};
use panel_proto::{Frame, Id, Xdata};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HOME: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const ELSEWHERE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const KEY: &str = "0123456789ABCDEF0123456789ABCDEF";

async fn events(hub: &Hub, account: &str) -> Vec<StoredEvent> {
    let q = EventQuery {
        account: Some(account.into()),
        ..EventQuery::default()
    };
    within(hub.handles.store.query_events(&q)).await.unwrap()
}

fn disarm(account: &str) -> ControlRequest {
    ControlRequest {
        account: account.into(),
        command: Command::Disarm {
            password: String::new(),
        },
        section: 0,
        requested_by: "test".into(),
    }
}

/// Whether `host` receives a command with event code `code` within `wait`.
async fn receives_command(host: &mut Host, code: u16, wait: Duration) -> bool {
    tokio::time::timeout(wait, async {
        while let Some(f) = host.recv().await {
            if f.id == Id::HengBo && f.contact_id().map(|c| c.event_code()) == Some(code) {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false)
}

const WITH_PASSWORD: &str = "[control]\ntimeout_secs = 2\nretries = 0\n\
    [[accounts]]\naccount = \"861234567890\"\npassword = \"123456\"\n";

#[tokio::test]
async fn a_second_address_claiming_a_live_account_gets_no_commands_and_raises_a_trouble_alarm() {
    let hub = Hub::start("", WITH_PASSWORD).await;
    let mut real = Host::connect_from(hub.bound.panel, HOME).await;
    real.report(1737, 0).await;
    let mut impostor = Host::connect_from(hub.bound.panel, ELSEWHERE).await;
    impostor.heartbeat().await;

    let control = hub.handles.control.clone();
    let disarm = tokio::spawn(async move { control.execute(disarm(ACCT)).await });
    assert!(
        !receives_command(&mut impostor, 1400, Duration::from_millis(1500)).await,
        "the impostor must not get the disarm"
    );
    real.answer_command(1400).await;
    assert_eq!(within(disarm).await.unwrap(), Outcome::Done);

    let two: Vec<_> = events(&hub, ACCT)
        .await
        .into_iter()
        .filter(|e| e.event.code == 1350)
        .collect();
    assert_eq!(two.len(), 1, "one 'seen from two addresses' event");
    let d = two[0].event.detail.to_value();
    assert_eq!(d["reason"], "account seen from two addresses");
    let addrs = d["addresses"].to_string();
    assert!(
        addrs.contains("127.0.0.1:") && addrs.contains("127.0.0.2:"),
        "{addrs}"
    );
    assert_eq!(
        two[0].event.class(),
        Some(panel_proto::codes::Class::Trouble)
    );
    hub.stop().await;
}

#[tokio::test]
async fn a_reconnect_from_the_same_address_or_after_the_old_connection_ended_takes_over() {
    let hub = Hub::start("", WITH_PASSWORD).await;
    let mut old = Host::connect_from(hub.bound.panel, HOME).await;
    old.report(1737, 0).await;
    // Same address, old connection still open: the new one takes over.
    let mut new = Host::connect_from(hub.bound.panel, HOME).await;
    new.heartbeat().await;
    let control = hub.handles.control.clone();
    let c = control.clone();
    let t = tokio::spawn(async move { c.execute(disarm(ACCT)).await });
    new.answer_command(1400).await;
    assert_eq!(within(t).await.unwrap(), Outcome::Done);
    drop(old);

    // Another address while `new` lives: standby; once `new` is gone, it takes over.
    let mut moved = Host::connect_from(hub.bound.panel, ELSEWHERE).await;
    moved.heartbeat().await;
    drop(new);
    tokio::time::sleep(Duration::from_millis(300)).await;
    moved.heartbeat().await;
    let c = control.clone();
    let t = tokio::spawn(async move { c.execute(disarm(ACCT)).await });
    moved.answer_command(1400).await;
    assert_eq!(within(t).await.unwrap(), Outcome::Done);
    hub.stop().await;
}

#[tokio::test]
async fn frames_from_outside_allowed_sources_get_silence_and_are_not_stored() {
    let hub = Hub::start(
        "",
        "[[accounts]]\naccount = \"861234567890\"\nallowed_sources = [\"127.0.0.1/32\", \"10.0.0.0/8\"]\n",
    )
    .await;
    let mut outsider = TcpStream::connect(hub.bound.panel).await.unwrap();
    drop(outsider);
    outsider = {
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        s.bind((ELSEWHERE, 0).into()).unwrap();
        within(s.connect(hub.bound.panel)).await.unwrap()
    };
    for seq in 1..=20 {
        let f = common::frames::hb_event(seq, ACCT, 1130, 0, 3);
        outsider.write_all(&bytes(&f)).await.unwrap();
    }
    let mut buf = [0u8; 256];
    let got = tokio::time::timeout(Duration::from_millis(800), outsider.read(&mut buf)).await;
    assert!(got.is_err(), "silence for a refused source, got {got:?}");
    assert!(events(&hub, ACCT).await.is_empty(), "nothing stored");

    let mut home = Host::connect_from(hub.bound.panel, HOME).await;
    home.report(1130, 3).await;
    assert_eq!(events(&hub, ACCT).await.len(), 2, "ONLINE and the alarm");
    hub.stop().await;
}

fn encrypted(account: &str, seq: u16, code: u16, at: i64, pad: u8) -> Vec<u8> {
    let key = Key::parse(KEY, KeyFormat::Hex).unwrap();
    let f = cid_frame(
        Id::AdmCid,
        seq,
        account,
        Some(account),
        code,
        1,
        5,
        Some(at),
    );
    let mut out = Vec::new();
    encode_encrypted(&f, &key, &[pad; 16], &mut out).unwrap();
    out
}

fn now_secs() -> i64 {
    alarmhub::clock::now_ms() / 1000
}

async fn exchange(s: &mut TcpStream, rx: &mut FrameBuf, bytes: &[u8]) -> Option<Frame> {
    s.write_all(bytes).await.unwrap();
    let read = async {
        loop {
            // The receiver's own type query (1798) to what looks like a Hengbo host is
            // not a reply.
            while let Some(f) = rx.next_frame() {
                let f = f.unwrap();
                if f.id != Id::HengBo {
                    return Some(f);
                }
            }
            let mut b = [0u8; 1024];
            match s.read(&mut b).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => rx.push(&b[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_millis(800), read)
        .await
        .ok()
        .flatten()
}

#[tokio::test]
async fn a_keyed_account_refuses_plaintext_with_one_tamper_event_unless_it_allows_plaintext() {
    let hub = Hub::start(
        "",
        &format!(
            "[[accounts]]\naccount = \"4F39\"\nkey = \"{KEY}\"\n\
             [[accounts]]\naccount = \"4F40\"\nkey = \"{KEY}\"\nallow_plaintext = true\n"
        ),
    )
    .await;
    let mut s = TcpStream::connect(hub.bound.panel).await.unwrap();
    let mut rx = FrameBuf::default();
    for seq in 1..=3 {
        let plain = cid_frame(Id::AdmCid, seq, "4F39", Some("4F39"), 1130, 1, 5, None);
        assert!(
            exchange(&mut s, &mut rx, &bytes(&plain)).await.is_none(),
            "not ACKed"
        );
    }
    let stored = events(&hub, "4F39").await;
    let codes: Vec<u16> = stored.iter().map(|e| e.event.code).collect();
    assert_eq!(codes, [1137], "only one tamper event, no alarm: {codes:?}");
    assert_eq!(
        stored[0].event.detail.to_value()["reason"],
        "plaintext frame refused: the account has a key"
    );
    let enc = encrypted("4F39", 4, 1130, now_secs(), b'A');
    let ack = exchange(&mut s, &mut rx, &enc).await.expect("*ACK");
    assert!(ack.encrypted, "encrypted frames are still ACKed");

    let mut t = TcpStream::connect(hub.bound.panel).await.unwrap();
    let plain = cid_frame(Id::AdmCid, 1, "4F40", Some("4F40"), 1130, 1, 5, None);
    let ack = exchange(&mut t, &mut FrameBuf::default(), &bytes(&plain)).await;
    assert_eq!(ack.map(|a| a.id), Some(Id::Ack), "allow_plaintext = true");
    hub.stop().await;
}

#[tokio::test]
async fn an_encrypted_replay_with_another_seq_is_acked_as_a_duplicate_and_stored_once() {
    let hub = Hub::start(
        "",
        &format!("[[accounts]]\naccount = \"4F39\"\nkey = \"{KEY}\"\n"),
    )
    .await;
    let at = now_secs();
    let mut s = TcpStream::connect(hub.bound.panel).await.unwrap();
    let mut rx = FrameBuf::default();
    let ack = exchange(&mut s, &mut rx, &encrypted("4F39", 7, 1130, at, b'A')).await;
    assert_eq!(ack.map(|a| a.seq.to_string()), Some("0007".into()));
    // The attacker's copy: same ciphertext, clear-text seq changed (CRC fixed), another
    // connection from another address.
    let mut a = {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind((ELSEWHERE, 0).into()).unwrap();
        within(sock.connect(hub.bound.panel)).await.unwrap()
    };
    let mut arx = FrameBuf::default();
    for seq in [8, 9, 1234] {
        let ack = exchange(&mut a, &mut arx, &encrypted("4F39", seq, 1130, at, b'A')).await;
        let ack = ack.expect("a reply");
        assert_eq!(
            (ack.id.clone(), ack.encrypted),
            (Id::Ack, true),
            "ACKed as a duplicate: {ack:?}"
        );
    }
    let alarms = events(&hub, "4F39")
        .await
        .into_iter()
        .filter(|e| e.event.code == 1130)
        .count();
    assert_eq!(alarms, 1, "stored once");
    // The same content encrypted anew (another random pad) is a new event.
    let ack = exchange(&mut s, &mut rx, &encrypted("4F39", 11, 1130, at, b'B')).await;
    assert_eq!(ack.map(|a| a.id), Some(Id::Ack));
    let alarms = events(&hub, "4F39")
        .await
        .into_iter()
        .filter(|e| e.event.code == 1130)
        .count();
    assert_eq!(alarms, 2, "a fresh encryption is stored");
    // Outside the window: NAK.
    let nak = exchange(
        &mut a,
        &mut arx,
        &encrypted("4F39", 10, 1130, at - 120, b'A'),
    )
    .await;
    assert_eq!(nak.map(|n| n.id), Some(Id::Nak));
    hub.stop().await;
}

#[tokio::test]
async fn one_source_cannot_squat_thousands_of_accounts_and_the_api_creates_no_machines() {
    // No invalid budget here: frames beyond the per-connection cap would otherwise put the
    // source in the penalty box after the first connection (abuse_penalty.rs).
    let hub = Hub::start(
        "max_accounts_per_connection = 10\nmax_new_accounts_per_source_per_min = 25\n\
         max_invalid_per_min = 0\n",
        "",
    )
    .await;
    let mut total_acked = 0;
    for conn in 0..4u32 {
        let mut s = TcpStream::connect(hub.bound.panel).await.unwrap();
        let mut all = Vec::new();
        for i in 0..1000u32 {
            let account = format!("S{conn}{i:04}");
            let f = cid_frame(Id::Null, 0, &account, None, 0, 0, 0, None);
            let mut f = f;
            f.data = panel_proto::Data::Empty;
            all.extend(bytes(&f));
        }
        s.write_all(&all).await.unwrap();
        let mut rx = FrameBuf::default();
        let read = async {
            loop {
                let mut b = [0u8; 4096];
                match s.read(&mut b).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => rx.push(&b[..n]),
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_millis(700), read).await;
        while let Some(Ok(f)) = rx.next_frame() {
            if f.id == Id::Ack {
                total_acked += 1;
            }
        }
    }
    let machines = hub.handles.registry.accounts().len();
    assert!(machines <= 25, "{machines} machines from one source");
    assert_eq!(machines, 25, "up to the per-source limit");
    assert_eq!(total_acked, 25);

    let out = hub.handles.control.execute(disarm("NEVER-SEEN")).await;
    assert_eq!(out, Outcome::PanelOffline);
    assert!(
        hub.handles.registry.get("NEVER-SEEN").is_none(),
        "no machine from the API"
    );
    hub.stop().await;
}

#[tokio::test]
async fn a_password_echoed_under_any_code_is_never_stored() {
    let hub = Hub::start("", "").await;
    let mut h = hub.host().await;
    for code in [1456u16, 1401, 3456] {
        let mut f = h.event(code, 0, 99);
        f.xdata = vec![Xdata::HbBinary(b"123456".to_vec())];
        h.send(&f).await;
        assert_eq!(h.recv_reply().await.unwrap().id, Id::Ack);
    }
    let mut f = h.event(1799, 0, 0);
    f.xdata = vec![Xdata::HbBinary(vec![0x21])];
    h.send(&f).await;
    assert_eq!(h.recv_reply().await.unwrap().id, Id::Ack);
    let stored = events(&hub, ACCT).await;
    for e in &stored {
        let d = e.event.detail.to_value().to_string();
        assert!(
            !d.contains("123456") && !d.contains("313233343536"),
            "password kept under {}: {d}",
            e.event.code
        );
    }
    let signal = stored.iter().find(|e| e.event.code == 1799).unwrap();
    assert_eq!(
        signal.event.detail.to_value()["xdata"][0]["hex"],
        "21",
        "other xdata kept"
    );
    hub.stop().await;
}
