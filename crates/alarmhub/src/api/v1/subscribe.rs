//! `Subscribe`: a bidirectional stream joining a consumer group (see [`super::groups`]
//! and [`super::group`]).
//!
//! The client's first message is `start` (group, optional account filter, max in flight);
//! after it only `ack`s. Events come back on one bounded channel per member. The member
//! leaves its group — and its unacknowledged events are redelivered to others — when it
//! closes its request stream, when its connection drops, or when it stops reading replies
//! and the server notices the reply stream was dropped.

use std::sync::Arc;
use std::time::Duration;

use tonic::{Status, Streaming};

use super::groups::{self, MemberSpec, Membership, Msg, ReplyTx};
use super::Ctx;
use crate::proto::v1 as pb;
use crate::proto::v1::subscribe_request::Msg as Req;

/// How long a client has to send `start`.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// `max_in_flight` when the client leaves it 0.
const DEFAULT_MAX_IN_FLIGHT: usize = 100;
/// Largest `max_in_flight` accepted.
const MAX_IN_FLIGHT: usize = 10_000;
/// Longest group name accepted.
const MAX_GROUP_LEN: usize = 200;

/// The validated `start` message.
#[derive(Debug, PartialEq)]
struct Start {
    group: String,
    account: Option<String>,
    max_in_flight: usize,
}

fn validate(s: pb::SubscribeStart) -> Result<Start, Status> {
    if s.group.is_empty() {
        return Err(Status::invalid_argument(
            "group is empty (name the consumer group)",
        ));
    }
    if s.group.len() > MAX_GROUP_LEN {
        return Err(Status::invalid_argument(format!(
            "group is {} bytes long; the maximum is {MAX_GROUP_LEN}",
            s.group.len()
        )));
    }
    let max_in_flight = match usize::try_from(s.max_in_flight) {
        Ok(0) => DEFAULT_MAX_IN_FLIGHT,
        Ok(n) if n <= MAX_IN_FLIGHT => n,
        _ => {
            return Err(Status::invalid_argument(format!(
                "max_in_flight {} is out of range (1..={MAX_IN_FLIGHT}, or 0 for {DEFAULT_MAX_IN_FLIGHT})",
                s.max_in_flight
            )))
        }
    };
    Ok(Start {
        group: s.group,
        account: (!s.account.is_empty()).then_some(s.account),
        max_in_flight,
    })
}

/// Read `start`, join the group, and forward the client's acks to it; `source` is the
/// client's address (for `grpc.max_streams_per_source`).
pub(crate) async fn start(
    ctx: &Arc<Ctx>,
    mut inbound: Streaming<pb::SubscribeRequest>,
    source: Option<std::net::IpAddr>,
) -> Result<crate::api::budget::BudgetStream<pb::SubscribeReply>, Status> {
    let first = tokio::time::timeout(START_TIMEOUT, inbound.message())
        .await
        .map_err(|_| Status::deadline_exceeded("no start message within 10 s"))??;
    let start = match first.and_then(|m| m.msg) {
        Some(Req::Start(s)) => validate(s)?,
        Some(Req::Ack(_)) => {
            return Err(Status::invalid_argument(
                "the first message must be start, not ack",
            ))
        }
        None => return Err(Status::invalid_argument("the first message must be start")),
    };
    let permit = ctx.streams.open("Subscribe", source)?;
    // At most `grpc.stream_buffer_bytes` queued for this member, whatever its
    // max_in_flight: what does not fit stays in the group and is delivered (or redelivered
    // after the ack timeout) once the member reads.
    let (tx, rx) = crate::api::budget::channel(ctx.h.config.grpc.stream_buffer_bytes);
    let spec = MemberSpec {
        account: start.account,
        max_in_flight: start.max_in_flight,
        tx: tx.clone(),
    };
    let membership = groups::attach(ctx, &start.group, spec).await?;
    tracing::debug!(group = %start.group, member = membership.id, "subscriber joined");
    ctx.h.tasks.spawn(forward_acks(
        Arc::clone(ctx),
        inbound,
        membership,
        tx,
        permit,
    ));
    Ok(rx)
}

/// Pass acks on until the client is gone, then leave the group.
async fn forward_acks(
    ctx: Arc<Ctx>,
    mut inbound: Streaming<pb::SubscribeRequest>,
    m: Membership,
    tx: ReplyTx,
    _permit: super::limits::StreamPermit,
) {
    loop {
        let msg = tokio::select! {
            biased;
            () = tx.closed() => break,
            () = ctx.shutdown.cancelled() => break,
            msg = inbound.message() => msg,
        };
        match msg {
            Ok(Some(pb::SubscribeRequest {
                msg: Some(Req::Ack(a)),
            })) => {
                if m.tx
                    .send(Msg::Ack {
                        id: m.id,
                        seqs: a.seqs,
                    })
                    .await
                    .is_err()
                {
                    break;
                }
            }
            Ok(Some(pb::SubscribeRequest {
                msg: Some(Req::Start(_)),
            })) => {
                let _ = tx.try_send(Err(Status::invalid_argument(
                    "start may be sent only once per stream",
                )));
                break;
            }
            Ok(Some(pb::SubscribeRequest { msg: None })) => {}
            Ok(None) | Err(_) => break,
        }
    }
    let _ = m.tx.send(Msg::Detach { id: m.id }).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(group: &str, max: i32) -> pb::SubscribeStart {
        pb::SubscribeStart {
            group: group.into(),
            account: String::new(),
            max_in_flight: max,
        }
    }

    #[test]
    fn start_defaults_and_limits() {
        let s = validate(start("g", 0)).unwrap();
        assert_eq!((s.max_in_flight, s.account), (DEFAULT_MAX_IN_FLIGHT, None));
        for (bad, field) in [
            (start("", 1), "group"),
            (start("g", -1), "max_in_flight"),
            (start("g", 10_001), "max_in_flight"),
        ] {
            let e = validate(bad).unwrap_err();
            assert_eq!(e.code(), tonic::Code::InvalidArgument);
            assert!(e.message().contains(field), "{}", e.message());
        }
    }
}
