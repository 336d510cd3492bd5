#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Sur-Gard output through the real daemon, one panel of each kind reporting over TCP:
//! a Hengbo host (its 1113 water leak goes out as the standard 1154, its door bell not at
//! all), a DC-09 ADM-CID panel (its standard 1134 unchanged) and a DC-09 SIA-DCS panel (the
//! Sur-Gard SIA form with the panel's own block). The central station checks exact bytes.

mod common;
#[path = "outputs_support/mod.rs"]
mod support;

use std::time::Duration;

use common::{Daemon, Panel};
use panel_proto::build::{contact_id, encode, panel_frame, sia_data};
use panel_proto::timestamp::Timestamp;
use panel_proto::{Data, Id};
use support::Cms;
use tokio::net::TcpListener;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(15);

/// Send `data` as a frame `id` from `account` and wait for the receiver's ACK. A Hengbo
/// host writes HB's placeholder receiver and line (`R123ABC L456DEF`), a DC-09 panel its
/// line only (`L0`): the receiver tells the dialects apart by them.
fn report(p: &mut Panel, id: Id, seq: u16, account: &str, data: Data) {
    let (receiver, line) = match id {
        Id::HengBo => (Some("123ABC"), "456DEF"),
        _ => (None, "0"),
    };
    let f = panel_frame(
        id,
        seq,
        receiver,
        Some(line),
        account,
        data,
        Some(Timestamp::from_unix(1_717_200_000)),
    );
    let mut out = Vec::new();
    encode(&f, &mut out).unwrap();
    p.send(&out);
    let a = p.recv(Duration::from_secs(5)).expect("no ACK");
    assert_eq!(a.id, Id::Ack, "{a:?}");
    assert_eq!(a.seq, f.seq);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_panel_kind_reaches_the_central_station_in_its_own_form() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cms_addr = listener.local_addr().unwrap();
    let mut config = String::new();
    for a in ["1234", "2345", "3456"] {
        config.push_str(&format!("[[accounts]]\naccount = \"{a}\"\n"));
    }
    config.push_str(&format!(
        "[[automation]]\nname = \"cms\"\nkind = \"surgard\"\nmode = \"connect\"\n\
         target = \"{cms_addr}\"\n"
    ));
    let d = Daemon::start("", &config);
    let (stream, _) = timeout(WAIT, listener.accept()).await.unwrap().unwrap();
    let mut cms = Cms::from(stream);

    // One panel after the other, so the central station's order is known.
    let mut hb = d.connect();
    let hb_cid = |code| Data::ContactId(contact_id(Some("000123"), code, 0, 2));
    report(&mut hb, Id::HengBo, 1, "1234", hb_cid(1134)); // door bell: not sent
    report(&mut hb, Id::HengBo, 2, "1234", hb_cid(1113)); // water leak
    let mut adm = d.connect();
    let adm_cid = Data::ContactId(contact_id(Some("2345"), 1134, 1, 5));
    report(&mut adm, Id::AdmCid, 1, "2345", adm_cid);
    let mut sia = d.connect();
    let block = Data::Sia(sia_data(Some("3456"), "Nri1/BA01"));
    report(&mut sia, Id::SiaDcs, 1, "3456", block);

    let want: [&[u8]; 3] = [
        b"5011 181234E15400002\x14",
        b"5011 182345E13401005\x14",
        b"S011[#3456|Nri1/BA01]\x14",
    ];
    let mut got = Vec::new();
    timeout(WAIT, async {
        while got.len() < want.len() {
            let m = cms.message().await;
            cms.ack().await;
            // The receiver's own ONLINE verdicts (R350) come too; heartbeats start with 1.
            let online = m.starts_with(b"5011 18") && m[11..15] == *b"R350";
            if !online && !m.starts_with(b"1011") {
                got.push(m);
            }
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "saw only {:?}; log:\n{}",
            got.iter()
                .map(|m| String::from_utf8_lossy(m))
                .collect::<Vec<_>>(),
            d.log_tail()
        )
    });
    let got: Vec<String> = got
        .iter()
        .map(|m| String::from_utf8_lossy(m).into())
        .collect();
    let want: Vec<String> = want
        .iter()
        .map(|m| String::from_utf8_lossy(m).into())
        .collect();
    assert_eq!(got, want);
}
