//! Unit tests of the panel protocol state: ACK matching, retransmission, NAK, commands.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use panel_proto::build::{ack, hb_command, AckStyle, Command};
use panel_proto::framing::{Decoded, Decoder};
use panel_proto::{Frame, Id};
use tokio::time::Instant;

use super::panel::{Ctx, Panel, Step};
use super::stats::{get, Stats};
use super::{settings, SimArgs};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: SimArgs,
}

fn ctx(extra: &[&str]) -> Arc<Ctx> {
    let mut argv = vec![
        "t",
        "--target",
        "127.0.0.1:9",
        "--panels",
        "1",
        "--rate",
        "0",
    ];
    argv.extend_from_slice(extra);
    let s = settings::validate(&Cli::parse_from(argv).args).unwrap();
    Arc::new(Ctx {
        end: Instant::now() + Duration::from_secs(60),
        warm_end: Instant::now(),
        stats: Stats::new(),
        decoder: Decoder::default(),
        s,
    })
}

/// Every frame in the panel's output (cleared).
fn sent(p: &mut Panel) -> Vec<Frame> {
    let (frames, rest) = Decoder::default().decode_all(&p.out);
    assert_eq!(rest, 0);
    p.out.clear();
    frames.into_iter().map(Result::unwrap).collect()
}

fn ack_of(f: &Frame) -> Frame {
    let mut out = Vec::new();
    ack(f, AckStyle::Hb, super::events::now_timestamp(), &mut out).unwrap();
    match Decoder::default().decode(&out) {
        Decoded::Frame { frame, .. } => frame,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_frame_is_retransmitted_with_the_same_seq_until_its_ack_arrives() {
    let ctx = ctx(&["--ack-timeout", "1", "--retries", "1"]);
    let t0 = Instant::now();
    let mut p = Panel::new(Arc::clone(&ctx), 0, t0);
    p.on_connected(t0, true);
    assert_eq!(p.poll(t0), Step::Continue);
    let first = sent(&mut p).remove(0);
    assert_eq!(first.contact_id().unwrap().event_code() % 1000, 400);
    assert_eq!(p.poll(t0 + Duration::from_millis(500)), Step::Continue);
    assert!(p.out.is_empty());
    p.poll(t0 + Duration::from_secs(1));
    let again = sent(&mut p).remove(0);
    assert_eq!(
        (again.seq.as_str(), &again.data),
        (first.seq.as_str(), &first.data)
    );
    // A stale ACK (other seq) does not complete it; the right one does.
    let mut stale = ack_of(&first);
    stale.seq = "0000".into();
    p.on_frame(stale, t0 + Duration::from_millis(1100));
    p.on_frame(ack_of(&first), t0 + Duration::from_millis(1200));
    let c = &ctx.stats.c;
    assert_eq!(
        (get(&c.acked), get(&c.stale_acks), get(&c.retransmits)),
        (1, 1, 1)
    );
    assert_eq!(get(&c.inflight), 0);
    // Next: the type report, then nothing; after every retry the panel asks to reconnect.
    p.poll(t0 + Duration::from_millis(1200));
    assert_eq!(sent(&mut p)[0].contact_id().unwrap().event_code(), 1717);
    p.poll(t0 + Duration::from_millis(2200));
    assert_eq!(p.poll(t0 + Duration::from_millis(3300)), Step::Reconnect);
    assert_eq!(get(&c.ack_timeouts), 1);
}

#[test]
fn commands_are_acked_with_their_seq_then_the_result_is_reported() {
    let ctx = ctx(&["--password", "123456"]);
    let t0 = Instant::now();
    let mut p = Panel::new(Arc::clone(&ctx), 0, t0);
    let now = super::events::now_timestamp();
    let cases = [
        (Command::ArmAway, 3400, 99),
        (
            Command::Disarm {
                password: "654321".into(),
            },
            1701,
            99,
        ),
        (
            Command::Disarm {
                password: "123456".into(),
            },
            1400,
            99,
        ),
        (Command::QueryType, 1717, 0),
    ];
    for (i, (cmd, result, zone)) in cases.into_iter().enumerate() {
        let seq = 40 + i as u16;
        let mut bytes = Vec::new();
        hb_command("SIM000001", Some(1), seq, 0, &cmd, now, &mut bytes).unwrap();
        let len = bytes.len();
        assert_eq!(p.feed(&mut bytes, len, t0), 0);
        let reply = sent(&mut p).remove(0);
        assert_eq!((reply.id.clone(), reply.seq_number()), (Id::Ack, Some(seq)));
        p.poll(t0);
        let ev = sent(&mut p).remove(0);
        let c = ev.contact_id().unwrap();
        assert_eq!(
            (&ev.id, c.event_code(), c.zone),
            (&Id::HengBo, result, zone)
        );
        p.on_frame(ack_of(&ev), t0);
    }
    assert_eq!(get(&ctx.stats.c.commands), 4);
}

#[test]
fn a_nak_resends_the_frame_at_once_with_the_same_seq() {
    let ctx = ctx(&[
        "--dialect",
        "dc09-cid",
        "--key",
        "000102030405060708090A0B0C0D0E0F",
    ]);
    let t0 = Instant::now();
    let mut p = Panel::new(Arc::clone(&ctx), 0, t0);
    p.on_connected(t0, true);
    p.poll(t0);
    let first = sent(&mut p).remove(0);
    assert!(first.encrypted);
    let mut nak = Vec::new();
    panel_proto::build::nak(super::events::now_timestamp(), &mut nak).unwrap();
    let len = nak.len();
    p.feed(&mut nak, len, t0);
    let again = sent(&mut p).remove(0);
    assert_eq!(again.seq, first.seq);
    assert_eq!(get(&ctx.stats.c.naks), 1);
}
