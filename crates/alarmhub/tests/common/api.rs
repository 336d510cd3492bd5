//! `alarmhub.v1.AlarmHub` from a client's side, for the `api_*` tests: the setup they share,
//! `WatchEvents` streams (replay up to `live`, then events), consumer-group members of
//! `Subscribe` (receive, ack), and the check that a call was refused as InvalidArgument
//! naming its field. Every await is bounded by [`within`].

use alarmhub::proto::v1 as pb;
use pb::alarm_hub_client::AlarmHubClient;
use pb::watch_events_reply::Item;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Code, Streaming};

use super::{within, Setup};

pub type Client = AlarmHubClient<Channel>;

/// What the API tests run with: a control path that gives up after 2 s without retries.
pub fn setup() -> Setup {
    // The API tests append events received at fixed times near 1970; retention (365 days)
    // would remove them after a restart, so it is off here (tests/retention.rs covers it).
    Setup::new()
        .store("retention_days = 0")
        .extra("[control]\ntimeout_secs = 2\nretries = 0\n")
}

/// A `WatchEvents` stream from `from_seq` (-1: live only), optionally for one account.
pub async fn watch(
    c: &mut Client,
    from_seq: i64,
    account: &str,
) -> Streaming<pb::WatchEventsReply> {
    let req = pb::WatchEventsRequest {
        from_seq,
        account: account.into(),
    };
    within(c.watch_events(req)).await.unwrap().into_inner()
}

pub async fn next_item(s: &mut Streaming<pb::WatchEventsReply>) -> Item {
    within(s.message()).await.unwrap().unwrap().item.unwrap()
}

pub async fn next_event(s: &mut Streaming<pb::WatchEventsReply>) -> pb::Event {
    match next_item(s).await {
        Item::Event(e) => e,
        other => panic!("expected an event, got {other:?}"),
    }
}

/// Events until `live`, as seqs.
pub async fn replay(s: &mut Streaming<pb::WatchEventsReply>) -> Vec<i64> {
    let mut seqs = Vec::new();
    loop {
        match next_item(s).await {
            Item::Event(e) => seqs.push(e.seq),
            Item::Live(true) => return seqs,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// One member of a consumer group: its request stream and its deliveries.
pub struct Member {
    pub tx: mpsc::Sender<pb::SubscribeRequest>,
    pub rx: Streaming<pb::SubscribeReply>,
}

/// Join `group` (filtered to `account`, `max_in_flight` 0 for the default).
pub async fn subscribe(
    c: &mut Client,
    group: &str,
    account: &str,
    max_in_flight: i32,
) -> Result<Member, tonic::Status> {
    use pb::subscribe_request::Msg;
    let (tx, rx) = mpsc::channel(16);
    let start = pb::SubscribeStart {
        group: group.into(),
        account: account.into(),
        max_in_flight,
    };
    tx.send(pb::SubscribeRequest {
        msg: Some(Msg::Start(start)),
    })
    .await
    .unwrap();
    let r = within(c.subscribe(ReceiverStream::new(rx))).await?;
    Ok(Member {
        tx,
        rx: r.into_inner(),
    })
}

impl Member {
    pub async fn next(&mut self) -> pb::SubscribeReply {
        within(self.rx.message()).await.unwrap().unwrap()
    }

    pub async fn ack(&self, seqs: Vec<i64>) {
        use pb::subscribe_request::Msg;
        let ack = pb::SubscribeRequest {
            msg: Some(Msg::Ack(pb::Ack { seqs })),
        };
        self.tx.send(ack).await.unwrap();
    }

    /// Receive `n` events, acking each when `ack`; returns (seq, redelivery).
    pub async fn take(&mut self, n: usize, ack: bool) -> Vec<(i64, bool)> {
        let mut got = Vec::new();
        for _ in 0..n {
            let r = self.next().await;
            let seq = r.event.unwrap().seq;
            if ack {
                self.ack(vec![seq]).await;
            }
            got.push((seq, r.redelivery));
        }
        got
    }
}

pub fn seqs(v: &[(i64, bool)]) -> Vec<i64> {
    v.iter().map(|(s, _)| *s).collect()
}

/// The call was refused as InvalidArgument with a message naming `field`.
pub fn assert_invalid(r: Result<impl std::fmt::Debug, tonic::Status>, field: &str) {
    let e = r.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains(field), "{field}: {}", e.message());
}
