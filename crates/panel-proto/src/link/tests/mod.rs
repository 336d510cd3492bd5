//! Link tests under passed-in time: a table of accounts, frames built with the crate's own
//! builders (or copied from protocol.md §4), and the outputs compared as short descriptions
//! so each test reads as the sequence of things the driver is asked to do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod commands;
mod deadlines;
mod rate;
mod replies;
mod security;
mod sources;

use std::cell::Cell;
use std::collections::HashMap;

use super::*;
use crate::build::{contact_id, encode, panel_frame};
use crate::escape::unescape;
use crate::frame::{Data, Frame, Id, Quirks};
use crate::framing::{decode, Decoded, DecoderConfig};

/// Wall clock of the tests: 2024-06-01 00:00:00 UTC.
const UNIX0: i64 = 1_717_200_000;
/// A Hengbo host's account (phone number) and its Ademco ID in the data block.
const HB: &str = "861234567890";

/// Accounts the test configures; everything else gets `unknown`.
struct Accounts {
    known: HashMap<&'static str, AccountPolicy>,
    unknown: Admission,
    /// Hengbo hosts whose type the caller has on record, with that type.
    types_known: Vec<(&'static str, i32)>,
    lookups: Cell<usize>,
}

impl Accounts {
    fn new() -> Accounts {
        Accounts {
            known: HashMap::new(),
            unknown: Admission::Unknown,
            types_known: Vec::new(),
            lookups: Cell::new(0),
        }
    }

    fn with(mut self, account: &'static str, policy: AccountPolicy) -> Accounts {
        self.known.insert(account, policy);
        self
    }
}

impl Policies for Accounts {
    fn policy(&self, account: &str) -> AccountPolicy {
        self.lookups.set(self.lookups.get() + 1);
        self.known
            .get(account)
            .cloned()
            .unwrap_or_else(|| AccountPolicy {
                admission: self.unknown,
                ..AccountPolicy::default()
            })
    }

    fn host_type(&self, account: &str) -> Option<i32> {
        self.types_known
            .iter()
            .find(|(a, _)| *a == account)
            .map(|(_, t)| *t)
    }
}

/// `ms` after the start of the test, wall clock moving along.
fn at(ms: u64) -> Now {
    Now {
        mono_ms: 10_000 + ms,
        unix_ms: UNIX0 * 1000 + ms as i64,
    }
}

fn config() -> LinkConfig {
    LinkConfig {
        decoder: DecoderConfig {
            max_frame_len: 1024,
            quirks: Quirks::ALL,
        },
        first_frame_timeout_ms: 30_000,
        rate_per_sec: 1000,
        rate_burst: 1000,
        type_query: None,
        seed: 7,
        peer: Some(std::net::Ipv4Addr::LOCALHOST.into()),
        max_accounts: 64,
    }
}

fn link() -> Link {
    Link::new(config(), at(0))
}

/// Feed `bytes` at `now`; every byte must be consumed.
fn feed(link: &mut Link, bytes: &[u8], now: Now, acc: &Accounts) -> Vec<Output> {
    let mut out = Vec::new();
    let n = link.read(bytes, now, acc, &mut out);
    assert_eq!(n, bytes.len(), "consumed; outputs {:?}", shape(&out));
    out
}

fn bytes(f: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    encode(f, &mut out).unwrap();
    out
}

fn text(t: &str) -> Vec<u8> {
    unescape(t).unwrap()
}

/// A HENG-BO event from the Hengbo host [`HB`] (Ademco ID 0x123).
fn hb_event(seq: u16, code: u16, zone: u16) -> Frame {
    panel_frame(
        Id::HengBo,
        seq,
        Some("123ABC"),
        Some("456DEF"),
        HB,
        Data::ContactId(contact_id(Some("000123"), code, 0, zone)),
        Some(crate::timestamp::Timestamp::from_unix(UNIX0)),
    )
}

/// A DC-09 ADM-CID event without R (the Pyronix / Ajax header shape).
fn dc09_event(account: &str, seq: u16, code: u16, zone: u16) -> Frame {
    panel_frame(
        Id::AdmCid,
        seq,
        None,
        Some("0"),
        account,
        Data::ContactId(contact_id(Some(account), code, 1, zone)),
        None,
    )
}

/// A heartbeat from `account` with the given header tokens.
fn null(account: &str, r: Option<&str>, l: Option<&str>) -> Frame {
    panel_frame(Id::Null, 0, r, l, account, Data::Empty, None)
}

/// Decode one frame the link wrote.
fn decoded(bytes: &[u8]) -> Frame {
    match decode(bytes, &DecoderConfig::default()) {
        Decoded::Frame { frame, consumed } => {
            assert_eq!(consumed, bytes.len(), "one whole frame");
            frame
        }
        other => panic!("the link wrote a frame that does not decode: {other:?}"),
    }
}

/// The replies, in order.
fn replies(out: &[Output]) -> Vec<&Reply> {
    out.iter()
        .filter_map(|o| match o {
            Output::Reply(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// The command frames written, in order.
fn sent(out: &[Output]) -> Vec<&Sent> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(s) => Some(s),
            _ => None,
        })
        .collect()
}

/// One short line per output: what the driver is asked to do.
fn shape(out: &[Output]) -> Vec<String> {
    out.iter().map(describe).collect()
}

fn describe(o: &Output) -> String {
    match o {
        Output::Online { account, .. } => format!("online {account}"),
        Output::Store(Record::Online { account, .. }) => format!("store ONLINE {account}"),
        Output::Store(Record::Event(e)) => match &e.frame.data {
            Data::ContactId(c) => format!("store {} {}", c.event_code(), e.frame.seq),
            _ => format!("store {} {}", e.frame.id.as_str(), e.frame.seq),
        },
        Output::Touch { account } => format!("touch {account}"),
        Output::Reply(r) => match r.kind {
            ReplyKind::Ack { encrypted: false } => format!("ack {}", r.to.seq),
            ReplyKind::Ack { encrypted: true } => format!("*ack {}", r.to.seq),
            ReplyKind::Duh => format!("duh {}", r.to.seq),
            ReplyKind::Nak(_) => "nak".into(),
        },
        Output::PanelAnswer(f) => format!("answer {} {}", f.id.as_str(), f.seq),
        Output::Send(s) => format!("send {} {:04} #{}", s.command, s.seq, s.attempt),
        Output::Finished(f) => format!("finished {} {}", f.command, f.outcome.as_str()),
        Output::Dropped(d) => format!("dropped: {}", d.reason),
        Output::Throttle { ms } => format!("throttle {ms}"),
        Output::Close(r) => format!("close: {}", r.as_str()),
        Output::Offline {
            account, record, ..
        } => format!("offline {account} record={record}"),
    }
}

#[test]
fn a_policy_is_looked_up_once_per_account_until_invalidated() {
    let acc = Accounts::new();
    let mut l = link();
    for seq in 1..=3 {
        feed(&mut l, &bytes(&hb_event(seq, 1130, 1)), at(0), &acc);
    }
    feed(&mut l, &bytes(&null("1409", None, Some("0"))), at(0), &acc);
    assert_eq!(acc.lookups.get(), 2, "one lookup per account");
    l.invalidate_policies();
    feed(&mut l, &bytes(&hb_event(4, 1130, 1)), at(0), &acc);
    assert_eq!(acc.lookups.get(), 3, "looked up again after invalidation");
}

#[test]
fn an_edited_policy_applies_to_the_live_link_after_invalidation() {
    let mut acc = Accounts::new().with("1409", AccountPolicy::default());
    let mut l = link();
    let f = bytes(&null("1409", None, Some("0")));
    assert_eq!(shape(&feed(&mut l, &f, at(0), &acc))[3], "ack 0000");
    acc.known.clear();
    acc.unknown = Admission::Refused;
    assert_eq!(
        shape(&feed(&mut l, &f, at(0), &acc)),
        ["touch 1409", "ack 0000"]
    );
    l.invalidate_policies();
    assert_eq!(
        shape(&feed(&mut l, &f, at(0), &acc)),
        ["dropped: unknown account (policy: drop)"]
    );
}
