//! `Ingest`: another system streams events in; each is stored durably (and so applied to
//! the registry and published on the bus, like a panel's event) before it is counted.
//!
//! Appends of different accounts run concurrently so a stream is not limited to one commit
//! per event; events of one account are appended strictly one after the other, so their
//! seq order is the stream order (an alarm is never stored after its own restore). An
//! `idempotency_key` makes a retried event a duplicate within the store's dedup window.
//!
//! The API never creates machines: an event for an account that is neither configured (in
//! `[[accounts]]` or added at runtime) nor already known from its panel ends the stream with
//! `NOT_FOUND`, naming the event and the account, like any other bad event.

use std::collections::{HashMap, VecDeque};

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use tonic::{Status, Streaming};

use super::{store_status, Ctx};
use crate::events::{fnv1a, Appended, Detail, Facts, NewEvent, Source};
use crate::proto::v1 as pb;
use crate::store::{Store, StoreError};

/// Events read ahead of their commit (running and queued behind their account).
const WINDOW: usize = 256;
/// Longest account accepted (the configuration's limit).
const MAX_ACCOUNT_LEN: usize = 32;

/// An ingested event as the store takes it, or what is wrong with it (naming the field).
fn new_event(e: pb::IngestEvent, peer: &str, now_ms: i64) -> Result<NewEvent, String> {
    if e.account.is_empty() {
        return Err("account is empty".into());
    }
    if e.account.len() > MAX_ACCOUNT_LEN || e.account.chars().any(char::is_control) {
        return Err(format!(
            "account {:?} is longer than {MAX_ACCOUNT_LEN} bytes or has control characters",
            e.account
        ));
    }
    let code = u16::try_from(e.code)
        .ok()
        .filter(|c| *c <= 9999)
        .ok_or_else(|| format!("code {} is out of range (0..=9999)", e.code))?;
    let sia_code = match e.sia_code.as_str() {
        "" => None,
        s if s.len() == 2 && s.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Some(s.to_ascii_uppercase())
        }
        s => return Err(format!("sia_code {s:?} is not a two-letter SIA code")),
    };
    if code == 0 && sia_code.is_none() {
        return Err("code is 0 and sia_code is empty (an event needs one of them)".into());
    }
    let group = u16::try_from(e.group)
        .map_err(|_| format!("group {} is out of range (0..=65535)", e.group))?;
    let zone = u16::try_from(e.zone)
        .map_err(|_| format!("zone {} is out of range (0..=65535)", e.zone))?;
    if e.panel_time < 0 {
        return Err(format!(
            "panel_time {} is negative (Unix seconds, 0 = none)",
            e.panel_time
        ));
    }
    let detail = if e.detail_json.trim().is_empty() {
        Detail::empty()
    } else {
        match serde_json::from_str::<serde_json::Value>(&e.detail_json) {
            Ok(v) if v.is_object() => Detail::from(v),
            Ok(_) => return Err("detail_json is not a JSON object".into()),
            Err(err) => return Err(format!("detail_json is not a JSON object: {err}")),
        }
    };
    let dedup_key = (!e.idempotency_key.is_empty()).then(|| {
        fnv1a(&[
            b"ingest",
            e.account.as_bytes(),
            e.idempotency_key.as_bytes(),
        ])
    });
    Ok(NewEvent {
        account: e.account,
        source: Source::Ingest,
        code,
        sia_code,
        group,
        zone,
        received_at_ms: now_ms,
        panel_time: (e.panel_time > 0).then_some(e.panel_time),
        protocol: String::new(),
        frame_seq: String::new(),
        peer: peer.to_string(),
        facts: Facts::default(),
        detail,
        dedup_key,
    })
}

type Running<'a> = FuturesUnordered<BoxFuture<'a, (String, Result<Appended, StoreError>)>>;

/// Appends in flight: at most one per account, later events of that account queued.
struct Pipeline<'a> {
    store: &'a dyn Store,
    running: Running<'a>,
    behind: HashMap<String, VecDeque<NewEvent>>,
    queued: usize,
}

impl<'a> Pipeline<'a> {
    fn push(&mut self, ev: NewEvent) {
        if let Some(q) = self.behind.get_mut(&ev.account) {
            q.push_back(ev);
            self.queued += 1;
        } else {
            self.behind.insert(ev.account.clone(), VecDeque::new());
            self.start(ev);
        }
    }

    fn start(&mut self, ev: NewEvent) {
        let store = self.store;
        self.running.push(Box::pin(async move {
            let account = ev.account.clone();
            (account, store.append_one(ev).await)
        }));
    }

    fn len(&self) -> usize {
        self.running.len() + self.queued
    }

    /// The next finished append (starting the next event of its account), `None` when
    /// nothing is in flight.
    async fn next(&mut self) -> Option<Result<Appended, StoreError>> {
        let (account, r) = self.running.next().await?;
        match self.behind.get_mut(&account).and_then(VecDeque::pop_front) {
            Some(ev) => {
                self.queued -= 1;
                self.start(ev);
            }
            None => {
                self.behind.remove(&account);
            }
        }
        Some(r)
    }
}

#[derive(Default)]
struct Tally {
    accepted: i64,
    duplicates: i64,
    last_seq: i64,
    failure: Option<Status>,
}

impl Tally {
    fn add(&mut self, r: Result<Appended, StoreError>) {
        match r {
            Ok(a) => {
                match a {
                    Appended::Stored(_) => self.accepted += 1,
                    Appended::Duplicate(_) => self.duplicates += 1,
                }
                self.last_seq = self.last_seq.max(a.seq());
            }
            Err(e) if self.failure.is_none() => {
                self.failure = Some(store_status("storing an ingested event", &e))
            }
            Err(_) => {}
        }
    }

    /// `status` with how much of the stream was stored before it.
    fn fail(&self, status: &Status) -> Status {
        let msg = format!(
            "{}; {} earlier events were stored and {} were duplicates",
            status.message(),
            self.accepted,
            self.duplicates
        );
        Status::new(status.code(), msg)
    }
}

/// Whether `account` is a machine already: configured, or seen from its panel.
fn known(ctx: &Ctx, account: &str) -> bool {
    ctx.h.config.account(account).is_some() || ctx.h.registry.get(account).is_some()
}

/// The status for an event of an account the centre does not know.
fn unknown(index: u64, account: &str) -> Status {
    Status::not_found(format!(
        "event {index}: account {account:?} is unknown (not configured and never seen from \
         its panel); the API does not create machines: add the account first \
         (`alarmhub account add {account}`)"
    ))
}

/// `Ingest`.
pub(crate) async fn run(
    ctx: &Ctx,
    mut inbound: Streaming<pb::IngestEvent>,
    peer: String,
) -> Result<pb::IngestReply, Status> {
    let mut pipe = Pipeline {
        store: ctx.h.store.as_ref(),
        running: FuturesUnordered::new(),
        behind: HashMap::new(),
        queued: 0,
    };
    let mut tally = Tally::default();
    let mut index = 0u64;
    let stop: Option<Status> = loop {
        if tally.failure.is_some() {
            break None;
        }
        let room = pipe.len() < WINDOW;
        let busy = pipe.len() > 0;
        tokio::select! {
            biased;
            Some(r) = pipe.next(), if busy => tally.add(r),
            msg = inbound.message(), if room => match msg {
                Ok(Some(e)) => {
                    index += 1;
                    match new_event(e, &peer, crate::clock::now_ms()) {
                        Ok(ev) if !known(ctx, &ev.account) => break Some(unknown(index, &ev.account)),
                        Ok(ev) => pipe.push(ev),
                        Err(why) => break Some(Status::invalid_argument(format!("event {index}: {why}"))),
                    }
                }
                Ok(None) => break None,
                Err(status) => break Some(status),
            },
        }
    };
    // Everything already handed to the store is counted before replying, error or not.
    while let Some(r) = pipe.next().await {
        tally.add(r);
    }
    if let Some(status) = stop.as_ref().or(tally.failure.as_ref()) {
        return Err(tally.fail(status));
    }
    Ok(pb::IngestReply {
        accepted: tally.accepted,
        duplicates: tally.duplicates,
        last_seq: tally.last_seq,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev() -> pb::IngestEvent {
        pb::IngestEvent {
            account: "A1".into(),
            code: 1130,
            zone: 3,
            ..pb::IngestEvent::default()
        }
    }

    #[test]
    fn a_valid_event_becomes_an_ingest_event_with_its_key_hashed_per_account() {
        let e = new_event(
            pb::IngestEvent {
                idempotency_key: "k1".into(),
                detail_json: r#"{"x":1}"#.into(),
                ..ev()
            },
            "grpc:p",
            5,
        )
        .unwrap();
        assert_eq!(
            (e.source, e.code, e.zone, e.received_at_ms, e.peer.as_str()),
            (Source::Ingest, 1130, 3, 5, "grpc:p")
        );
        assert_eq!(e.detail, Detail::from(serde_json::json!({"x": 1})));
        assert_eq!(e.dedup_key, Some(fnv1a(&[b"ingest", b"A1", b"k1"])));
        assert_eq!(new_event(ev(), "", 0).unwrap().dedup_key, None);
        let sia = new_event(
            pb::IngestEvent {
                code: 0,
                sia_code: "ba".into(),
                ..ev()
            },
            "",
            0,
        )
        .unwrap();
        assert_eq!(sia.sia_code.as_deref(), Some("BA"));
    }

    #[test]
    fn bad_events_name_their_field() {
        for (e, field) in [
            (
                pb::IngestEvent {
                    account: String::new(),
                    ..ev()
                },
                "account",
            ),
            (
                pb::IngestEvent {
                    code: 10_000,
                    ..ev()
                },
                "code",
            ),
            (pb::IngestEvent { code: -1, ..ev() }, "code"),
            (pb::IngestEvent { code: 0, ..ev() }, "sia_code"),
            (
                pb::IngestEvent {
                    sia_code: "BAD".into(),
                    ..ev()
                },
                "sia_code",
            ),
            (
                pb::IngestEvent {
                    zone: 70_000,
                    ..ev()
                },
                "zone",
            ),
            (pb::IngestEvent { group: -2, ..ev() }, "group"),
            (
                pb::IngestEvent {
                    detail_json: "[1]".into(),
                    ..ev()
                },
                "detail_json",
            ),
            (
                pb::IngestEvent {
                    detail_json: "{".into(),
                    ..ev()
                },
                "detail_json",
            ),
        ] {
            let why = new_event(e, "", 0).unwrap_err();
            assert!(why.contains(field), "{why}");
        }
    }
}
