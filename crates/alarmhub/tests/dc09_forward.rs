#![allow(clippy::unwrap_used, clippy::expect_used)]
//! DC-09 forwarding (`[[automation]] kind = "dc09"`) against a test upstream receiver on
//! 127.0.0.1 that reads the frames with panel-proto's own decoder and decryption: the
//! account mapping, AES, a Hengbo code translated to the standard one, a SIA block passed
//! on, the door bell not sent; a NAK gets the same frame (same sequence number) again, and
//! the cursor moves only past what the receiver ACKed.

#[path = "outputs_support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use alarmhub::config::{AutomationConfig, AutomationKind, AutomationMode, Config, Secret};
use alarmhub::events::{NewEvent, Source};
use alarmhub::outputs::{self, CursorStore};
use panel_proto::build::{ack_encrypted, nak};
use panel_proto::crypto::{Key, KeyFormat};
use panel_proto::framing::{Decoded, Decoder, DecoderConfig};
use panel_proto::parse::decrypt;
use panel_proto::timestamp::Timestamp;
use panel_proto::{Data, Frame, Id};
use support::{cid, Memory, Refuse};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const KEY: &str = "000102030405060708090A0B0C0D0E0F";
const LIMIT: Duration = Duration::from_secs(20);

/// The upstream receiver's side: the next frame, decrypted.
async fn next_frame(s: &mut TcpStream, buf: &mut Vec<u8>, key: &Key) -> Frame {
    let decoder = Decoder::new(DecoderConfig::default());
    loop {
        match decoder.decode(buf) {
            Decoded::Frame {
                mut frame,
                consumed,
            } => {
                buf.drain(..consumed);
                assert!(frame.encrypted, "{frame:?}");
                decrypt(&mut frame, key).unwrap();
                return frame;
            }
            Decoded::Invalid { error, .. } => panic!("bad frame: {error}"),
            Decoded::Incomplete => {
                let mut chunk = [0u8; 1024];
                let n = timeout(LIMIT, s.read(&mut chunk)).await.unwrap().unwrap();
                assert!(n > 0, "the output closed the connection");
                buf.extend_from_slice(&chunk[..n]);
            }
        }
    }
}

fn now() -> Timestamp {
    Timestamp::from_unix(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
    )
}

fn sia(account: &str, code: &str, body: &str) -> NewEvent {
    let mut e = cid(account, 0, 1, 1);
    e.source = Source::Panel;
    e.protocol = "SIA-DCS".into();
    e.facts.dialect = Some(panel_proto::rules::Dialect::Dc09);
    e.sia_code = Some(code.into());
    e.detail = serde_json::json!({ "sia_body": body }).into();
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_the_upstream_receiver_encrypted_mapped_and_only_once_acked() {
    let key = Key::parse(KEY, KeyFormat::Hex).unwrap();
    let mem = Memory::new();
    mem.cursors.set("automation:upstream", 0);
    let door_bell = mem.log.append(cid("861234567890", 1134, 0, 1));
    let water = mem.log.append(cid("861234567890", 1113, 0, 2));
    let burglary = mem.log.append(sia("2345", "BA", "Nri1/BA01"));
    assert!(door_bell < water && water < burglary);

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut automation = AutomationConfig {
        kind: AutomationKind::Dc09,
        mode: AutomationMode::Connect,
        target: Some(listener.local_addr().unwrap().to_string()),
        key: Some(Secret::new(KEY)),
        ack_timeout_secs: 2,
        ..AutomationConfig::surgard("upstream")
    };
    automation
        .account_map
        .insert("861234567890".into(), "C0DE".into());
    let mut config = Config::default();
    config.automation.push(automation);
    config.reindex();
    config.validate().unwrap();
    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    let _running = outputs::spawn(
        &config,
        mem.sources(Arc::new(Refuse)),
        cancel.clone(),
        &tracker,
    );

    let (mut s, _) = timeout(LIMIT, listener.accept()).await.unwrap().unwrap();
    let mut buf = Vec::new();
    // The door bell is HB-private: the first frame is the water leak, as standard 1154.
    let first = next_frame(&mut s, &mut buf, &key).await;
    assert_eq!(
        (first.id.clone(), first.account.as_deref()),
        (Id::AdmCid, Some("C0DE"))
    );
    let Data::ContactId(c) = &first.data else {
        panic!("{first:?}")
    };
    assert_eq!(
        (c.account.as_deref(), c.raw.as_str()),
        (Some("C0DE"), "1154 00 002")
    );
    // NAK: the same frame again (same sequence number, a new timestamp).
    let mut out = Vec::new();
    nak(now(), &mut out).unwrap();
    s.write_all(&out).await.unwrap();
    let again = next_frame(&mut s, &mut buf, &key).await;
    assert_eq!(
        (again.id.clone(), again.seq.clone()),
        (Id::AdmCid, first.seq.clone())
    );
    out.clear();
    ack_encrypted(&again, &key, now(), &[7; 16], &mut out).unwrap();
    s.write_all(&out).await.unwrap();

    let second = next_frame(&mut s, &mut buf, &key).await;
    assert_eq!(
        (second.id.clone(), second.account.as_deref()),
        (Id::SiaDcs, Some("2345"))
    );
    let Data::Sia(b) = &second.data else {
        panic!("{second:?}")
    };
    assert_eq!(b.body.as_str(), "Nri1/BA01");
    assert_ne!(second.seq, first.seq);
    // Not ACKed yet: the cursor stays after the water leak.
    let saved = mem.cursors.load("automation:upstream").await.unwrap();
    assert!(saved.unwrap_or(0) < burglary, "{saved:?}");
    out.clear();
    ack_encrypted(&second, &key, now(), &[9; 16], &mut out).unwrap();
    s.write_all(&out).await.unwrap();
    timeout(LIMIT, async {
        while mem.cursors.load("automation:upstream").await.unwrap() != Some(burglary) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the cursor did not move past the ACKed burglary");
    cancel.cancel();
    tracker.close();
    timeout(LIMIT, tracker.wait()).await.unwrap();
}
