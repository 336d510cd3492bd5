//! One delivery round of one channel, as pure functions: which claimed deliveries go out
//! now (alone or folded into a digest) and which wait, and how each delivery is settled
//! once the service answered. The [`Dispatcher`](super::Dispatcher) does the I/O around
//! these.

use std::collections::BTreeMap;
use std::time::Duration;

use super::config::RateLimit;
use super::outbox::{ChannelState, Delivery, DeliveryId, Settlement};
use super::ratelimit;
use super::retry::{self, RetryDecision};
use super::send::{Outcome, Outgoing};

/// How long a channel waits when a service said "too many" without saying how long.
pub(crate) const DEFAULT_PAUSE: Duration = Duration::from_secs(60);
/// How often deliveries of a disabled channel are looked at again.
pub(crate) const DISABLED_RECHECK_MS: i64 = 60_000;

/// One message to send and the deliveries it carries.
#[derive(Debug)]
pub(crate) struct Message {
    pub out: Outgoing,
    pub members: Vec<Delivery>,
}

/// The plan of a round.
#[derive(Debug, Default)]
pub(crate) struct Planned {
    pub messages: Vec<Message>,
    pub postponed: Vec<(DeliveryId, Settlement)>,
}

fn postpone(d: &Delivery, due_ms: i64, note: &str) -> (DeliveryId, Settlement) {
    (
        d.id,
        Settlement::Postpone {
            due_ms,
            note: note.to_string(),
        },
    )
}

/// Most urgent first: priority 1 before 2 (no priority last), then oldest, then row order.
fn urgency(d: &Delivery) -> (u8, i64, DeliveryId) {
    let p = d.notification.priority;
    (
        if p == 0 { u8::MAX } else { p },
        d.notification.time_ms,
        d.id,
    )
}

/// Plan one recipient's deliveries (`key` empty: the channel has no recipients).
fn plan_group(
    limit: RateLimit,
    history: &mut Vec<i64>,
    key: String,
    mut group: Vec<Delivery>,
    now_ms: i64,
    planned: &mut Planned,
) {
    group.sort_by_key(urgency);
    let p = ratelimit::plan(limit, history, group.len(), now_ms);
    let recipient = (!key.is_empty()).then_some(key);
    let mut rest = group.into_iter();
    for d in rest.by_ref().take(p.singles) {
        history.push(now_ms);
        let out = Outgoing::single(d.notification.clone(), recipient.clone(), now_ms);
        planned.messages.push(Message {
            out,
            members: vec![d],
        });
    }
    if p.digest > 0 {
        let members: Vec<Delivery> = rest.by_ref().take(p.digest).collect();
        history.push(now_ms);
        let ns = members.iter().map(|d| d.notification.clone()).collect();
        let out = Outgoing::digest(ns, recipient, now_ms);
        planned.messages.push(Message { out, members });
    }
    let next = p.next_ms.unwrap_or(now_ms + 1_000);
    planned
        .postponed
        .extend(rest.map(|d| postpone(&d, next, "rate limit")));
}

/// Decide what of `claimed` is sent now under `limit`, recording the sends in `state`.
pub(crate) fn plan_round(
    limit: RateLimit,
    state: &mut ChannelState,
    claimed: Vec<Delivery>,
    now_ms: i64,
) -> Planned {
    let mut planned = Planned::default();
    if let Some(until) = state.paused_until_ms.filter(|u| *u > now_ms) {
        planned.postponed = claimed
            .iter()
            .map(|d| postpone(d, until, "the service asked to wait"))
            .collect();
        return planned;
    }
    state.paused_until_ms = None;
    let mut groups: BTreeMap<String, Vec<Delivery>> = BTreeMap::new();
    for d in claimed {
        let key = d.target.recipient.clone().unwrap_or_default();
        groups.entry(key).or_default().push(d);
    }
    let span = ratelimit::history_span_ms(limit);
    for (key, group) in groups {
        let history = state.sends.entry(key.clone()).or_default();
        history.retain(|t| *t > now_ms - span);
        plan_group(limit, history, key, group, now_ms, &mut planned);
    }
    state.sends.retain(|_, h| !h.is_empty());
    if span == 0 {
        // No limit: nothing to remember (and an unchanged state is not saved again).
        state.sends.clear();
    }
    planned
}

/// How each member of a message is settled after `outcome`, updating the channel's state
/// (a rate limit pauses it, a 410 disables it).
pub(crate) fn settle(
    outcome: &Outcome,
    members: &[Delivery],
    state: &mut ChannelState,
    now_ms: i64,
    give_up_after: Duration,
    random: f64,
) -> Vec<(DeliveryId, Settlement)> {
    members
        .iter()
        .map(|d| {
            let s = settle_one(outcome, d, state, now_ms, give_up_after, random);
            (d.id, s)
        })
        .collect()
}

fn settle_one(
    outcome: &Outcome,
    d: &Delivery,
    state: &mut ChannelState,
    now_ms: i64,
    give_up_after: Duration,
    random: f64,
) -> Settlement {
    let attempts = d.attempts + 1;
    match outcome {
        Outcome::Delivered => Settlement::Delivered {
            attempts,
            at_ms: now_ms,
        },
        Outcome::Retry { reason, after } => retry_or_dead(
            retry::next_attempt(attempts, d.queued_ms, now_ms, *after, random, give_up_after),
            attempts,
            now_ms,
            reason,
        ),
        Outcome::RateLimited {
            reason,
            after,
            whole_channel,
        } => {
            let until = now_ms.saturating_add(millis(after.unwrap_or(DEFAULT_PAUSE)));
            if *whole_channel {
                state.paused_until_ms = Some(state.paused_until_ms.unwrap_or(0).max(until));
            }
            // Waiting for a rate limit does not stretch the backoff, but the deadline holds.
            let deadline = d.queued_ms.saturating_add(millis(give_up_after));
            let decision = if now_ms >= deadline {
                RetryDecision::DeadLetter
            } else {
                RetryDecision::At(until.min(deadline))
            };
            retry_or_dead(decision, attempts, now_ms, reason)
        }
        Outcome::Disabled { reason } => {
            state.disabled = Some(reason.clone());
            Settlement::Postpone {
                due_ms: now_ms + DISABLED_RECHECK_MS,
                note: reason.clone(),
            }
        }
        Outcome::Failed { reason } => Settlement::DeadLetter {
            attempts,
            at_ms: now_ms,
            error: reason.clone(),
        },
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn retry_or_dead(decision: RetryDecision, attempts: u32, now_ms: i64, reason: &str) -> Settlement {
    match decision {
        RetryDecision::At(due_ms) => Settlement::Retry {
            attempts,
            due_ms,
            error: reason.to_string(),
        },
        RetryDecision::DeadLetter => Settlement::DeadLetter {
            attempts,
            at_ms: now_ms,
            error: format!("gave up after {attempts} attempts: {reason}"),
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::notify::model::{Notification, NotificationId, What};
    use crate::notify::rules::Target;

    fn delivery(id: i64, priority: u8) -> Delivery {
        let nid = NotificationId::new(format!("n{id}")).unwrap();
        let mut n = Notification::for_event(nid, What::AlarmOpened, "1", 1130, None, id);
        n.priority = priority;
        Delivery {
            id,
            notification: n,
            target: Target {
                channel: "c".into(),
                recipient: None,
            },
            attempts: 0,
            queued_ms: 0,
            due_ms: 0,
        }
    }

    const TWENTY: RateLimit = RateLimit {
        per_minute: Some(20),
        per_second: None,
    };

    #[test]
    fn the_most_urgent_go_alone_and_the_rest_in_one_digest() {
        let mut state = ChannelState::default();
        let claimed: Vec<Delivery> = (1..=30)
            .map(|i| delivery(i, if i == 30 { 1 } else { 3 }))
            .collect();
        let p = plan_round(TWENTY, &mut state, claimed, 1_000);
        assert_eq!(p.messages.len(), 11);
        assert_eq!(p.messages[0].members[0].id, 30, "priority 1 first");
        assert_eq!(p.messages[10].members.len(), 20);
        assert!(p.messages[10].out.is_digest());
        assert!(p.postponed.is_empty());
        assert_eq!(state.sends[""], vec![1_000; 11]);
    }

    #[test]
    fn a_paused_channel_postpones_everything() {
        let mut state = ChannelState {
            paused_until_ms: Some(5_000),
            ..Default::default()
        };
        let p = plan_round(TWENTY, &mut state, vec![delivery(1, 1)], 1_000);
        assert!(p.messages.is_empty());
        assert!(matches!(
            p.postponed[0].1,
            Settlement::Postpone { due_ms: 5_000, .. }
        ));
    }

    #[test]
    fn outcomes_settle_every_member() {
        let day = Duration::from_secs(86_400);
        let members = [delivery(1, 1), delivery(2, 1)];
        let mut state = ChannelState::default();
        let s = settle(&Outcome::Delivered, &members, &mut state, 9, day, 0.5);
        assert!(s.iter().all(|(_, s)| matches!(
            s,
            Settlement::Delivered {
                attempts: 1,
                at_ms: 9
            }
        )));
        let retry = Outcome::Retry {
            reason: "HTTP 500".into(),
            after: None,
        };
        let s = settle(&retry, &members[..1], &mut state, 0, day, 0.5);
        assert!(matches!(
            &s[0].1,
            Settlement::Retry {
                attempts: 1,
                due_ms: 5_000,
                ..
            }
        ));
        let limited = Outcome::RateLimited {
            reason: "x".into(),
            after: Some(Duration::from_secs(600)),
            whole_channel: true,
        };
        let s = settle(&limited, &members[..1], &mut state, 0, day, 0.5);
        assert!(matches!(
            &s[0].1,
            Settlement::Retry {
                due_ms: 600_000,
                ..
            }
        ));
        assert_eq!(state.paused_until_ms, Some(600_000));
        let gone = Outcome::Disabled {
            reason: "410".into(),
        };
        settle(&gone, &members[..1], &mut state, 0, day, 0.5);
        assert_eq!(state.disabled.as_deref(), Some("410"));
        let failed = Outcome::Failed {
            reason: "bad key".into(),
        };
        let s = settle(&failed, &members[..1], &mut state, 0, day, 0.5);
        assert!(matches!(
            &s[0].1,
            Settlement::DeadLetter { attempts: 1, .. }
        ));
    }
}
