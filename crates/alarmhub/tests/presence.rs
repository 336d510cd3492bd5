//! Connect-on-demand DC-09 panels (`connection = "on_demand"`): a connection per message
//! neither flips the panel ONLINE/OFFLINE nor counts as a supervision failure; presence
//! follows the supervision interval. The daemon runs in-process (`common::Hub`, real sockets
//! and SQLite); the presence check is called with a chosen "now" so no test waits out an
//! interval.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use alarmhub::receiver::{presence, Shared};
use common::frames::{bytes, cid_frame};
use common::{within, Hub};
use panel_proto::Id;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

const ON_DEMAND: &str = "2222";
const PERMANENT: &str = "3333";

fn setup() -> (&'static str, String) {
    (
        "supervision_secs = 60\nsupervision_grace_secs = 30",
        format!(
            "[[accounts]]\naccount = \"{ON_DEMAND}\"\nconnection = \"on_demand\"\n\
             [[accounts]]\naccount = \"{PERMANENT}\"\n"
        ),
    )
}

/// One message on a connection of its own, as a connect-on-demand communicator sends it:
/// connect, send, read the ACK, close.
async fn message(hub: &Hub, account: &str, seq: u16, code: u16) {
    let mut s = within(TcpStream::connect(hub.bound.panel)).await.unwrap();
    let f = cid_frame(Id::AdmCid, seq, account, Some(account), code, 1, 1, None);
    s.write_all(&bytes(&f)).await.unwrap();
    let mut buf = [0u8; 256];
    let n = within(s.read(&mut buf)).await.unwrap();
    assert!(
        n > 0 && buf[..n].windows(5).any(|w| w == b"\"ACK\""),
        "ACKed"
    );
}

/// Codes of the receiver's ONLINE (1946) / OFFLINE (1944) events of `account`, in order.
async fn presence_codes(hub: &Hub, account: &str) -> Vec<u16> {
    let dir = hub.data_dir().to_path_buf();
    let account = account.to_string();
    tokio::task::spawn_blocking(move || {
        let reader = alarmhub::store::SqliteReader::open(&dir).unwrap();
        reader
            .events_after(0, 10_000)
            .unwrap()
            .into_iter()
            .filter(|e| e.event.account == account && matches!(e.event.code, 1944 | 1946))
            .map(|e| e.event.code)
            .collect()
    })
    .await
    .unwrap()
}

/// Wait (bounded) until the session of the last message has ended.
async fn settle(hub: &Hub, account: &str) {
    for _ in 0..200 {
        if hub.handles.control.connections.get(account).is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the connection of {account} did not end");
}

#[tokio::test]
async fn a_panel_that_connects_per_message_stays_online_until_its_supervision_interval_passes() {
    let (panel, extra) = setup();
    let hub = Hub::start(panel, &extra).await;
    for (seq, code) in [(1, 1130), (2, 1602), (3, 3130)] {
        message(&hub, ON_DEMAND, seq, code).await;
        settle(&hub, ON_DEMAND).await;
    }
    message(&hub, PERMANENT, 1, 1130).await;
    settle(&hub, PERMANENT).await;
    for _ in 0..100 {
        if presence_codes(&hub, PERMANENT).await.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        presence_codes(&hub, PERMANENT).await,
        [1946, 1944],
        "a permanently connected panel goes offline when its connection ends"
    );
    assert_eq!(
        presence_codes(&hub, ON_DEMAND).await,
        [1946],
        "three messages on three connections: online once, never offline"
    );
    assert!(hub.handles.registry.get(ON_DEMAND).unwrap().online);

    // The presence check with the clock past interval + grace (90 s) since the last report.
    let shared = Shared::new(
        Arc::clone(&hub.handles.config),
        Arc::clone(&hub.handles.store),
        Arc::clone(&hub.handles.registry),
        Arc::clone(&hub.handles.control.connections),
        usize::MAX,
        CancellationToken::new(),
    );
    let last = hub.handles.registry.get(ON_DEMAND).unwrap().last_seen_ms;
    presence::check(&shared, last + 89_000).await;
    assert!(
        hub.handles.registry.get(ON_DEMAND).unwrap().online,
        "within 90 s"
    );
    presence::check(&shared, last + 91_000).await;
    assert!(!hub.handles.registry.get(ON_DEMAND).unwrap().online);
    assert_eq!(presence_codes(&hub, ON_DEMAND).await, [1946, 1944]);
    presence::check(&shared, last + 200_000).await;
    assert_eq!(presence_codes(&hub, ON_DEMAND).await, [1946, 1944], "once");

    // Its next report brings it back.
    message(&hub, ON_DEMAND, 4, 1602).await;
    settle(&hub, ON_DEMAND).await;
    assert_eq!(presence_codes(&hub, ON_DEMAND).await, [1946, 1944, 1946]);
    assert!(hub.handles.registry.get(ON_DEMAND).unwrap().online);
    hub.stop().await;
}
