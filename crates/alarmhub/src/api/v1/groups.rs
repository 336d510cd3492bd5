//! The consumer groups alive in this process (by name) and how a member joins one: find
//! the group's actor or start it ([`super::group`]), then ask it to take the member. An actor
//! that is ending drops the request, and the member simply tries again with a new actor —
//! which then loads the cursor the old one wrote last.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};
use tonic::Status;

use super::group::{self, INBOX};
use super::group_state::MemberId;
use super::Ctx;
use crate::events::StoredEvent;
use crate::proto::v1 as pb;

/// A member's reply channel.
pub(crate) type ReplyTx = crate::api::budget::BudgetTx<pb::SubscribeReply>;

/// What a new member brings.
#[derive(Clone)]
pub(crate) struct MemberSpec {
    /// Only this account's events (must match the group's filter).
    pub(crate) account: Option<String>,
    /// Unacknowledged events it may hold.
    pub(crate) max_in_flight: usize,
    /// Where its events go.
    pub(crate) tx: ReplyTx,
}

/// Messages to a group actor.
pub(crate) enum Msg {
    /// Add a member; the reply says whether it was accepted. A dropped reply means the
    /// actor was ending: attach again.
    Attach {
        id: MemberId,
        spec: MemberSpec,
        reply: oneshot::Sender<Result<(), Status>>,
    },
    /// The member acknowledged these seqs.
    Ack { id: MemberId, seqs: Vec<i64> },
    /// The member is gone.
    Detach { id: MemberId },
    /// A store read finished.
    Refilled(Result<Vec<StoredEvent>, Status>),
}

/// A member's link to its group.
pub(crate) struct Membership {
    /// Its id.
    pub(crate) id: MemberId,
    /// The group actor.
    pub(crate) tx: mpsc::Sender<Msg>,
}

/// The group actors alive in this process, by group name.
#[derive(Default)]
pub(crate) struct Groups {
    inner: Mutex<GroupsInner>,
}

#[derive(Default)]
struct GroupsInner {
    live: HashMap<String, mpsc::Sender<Msg>>,
    /// Highest seq each ended group handed out (redelivery flags for its next actor).
    seen: HashMap<String, i64>,
}

impl Groups {
    fn lock(&self) -> std::sync::MutexGuard<'_, GroupsInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An ending actor: remember how far it handed events out, and unregister it if the
    /// name still points at it. `close` runs under the same lock, so no attach can find the
    /// actor open afterwards.
    pub(crate) fn retire(
        &self,
        name: &str,
        me: &mpsc::Sender<Msg>,
        delivered_high: Option<i64>,
        close: impl FnOnce(),
    ) {
        let mut g = self.lock();
        if let Some(high) = delivered_high {
            g.seen.insert(name.to_string(), high);
        }
        if g.live.get(name).is_some_and(|tx| tx.same_channel(me)) {
            g.live.remove(name);
        }
        close();
    }
}

static NEXT_MEMBER: AtomicU64 = AtomicU64::new(1);

/// Join `group`, starting its actor if needed.
pub(crate) async fn attach(
    ctx: &Arc<Ctx>,
    group: &str,
    spec: MemberSpec,
) -> Result<Membership, Status> {
    // An actor that is ending drops attaches; the next round finds it gone. Bounded: an
    // actor only ends when its last member leaves.
    for _ in 0..10 {
        let tx = {
            let mut g = ctx.groups.lock();
            match g.live.get(group) {
                Some(tx) if !tx.is_closed() => tx.clone(),
                _ => {
                    let (tx, rx) = mpsc::channel(INBOX);
                    g.live.insert(group.to_string(), tx.clone());
                    let seen = g.seen.get(group).copied().unwrap_or(0);
                    ctx.h.tasks.spawn(group::run(
                        Arc::clone(ctx),
                        group.to_string(),
                        tx.clone(),
                        rx,
                        seen,
                    ));
                    tx
                }
            }
        };
        let id = NEXT_MEMBER.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        let msg = Msg::Attach {
            id,
            spec: spec.clone(),
            reply,
        };
        if tx.send(msg).await.is_err() {
            continue;
        }
        match answer.await {
            Ok(Ok(())) => return Ok(Membership { id, tx }),
            Ok(Err(status)) => return Err(status),
            Err(_) => continue,
        }
    }
    Err(Status::unavailable(format!(
        "consumer group {group:?} is restarting; subscribe again"
    )))
}
