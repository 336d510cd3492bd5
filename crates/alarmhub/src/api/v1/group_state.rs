//! Delivery bookkeeping of one consumer group, without I/O: which events are waiting, which
//! are in flight with which member since when, how far the group has acknowledged, and when
//! the store must be read because the bus cannot be trusted. The actor in [`super::group`]
//! does the sending, the store reads and the cursor writes; this state machine only decides.
//!
//! Invariants: every event with seq <= `fetched` was either filtered out, acknowledged, or is
//! in `pending` / `in_flight`; so the group has acknowledged everything below the smallest
//! outstanding seq ([`GroupState::acked_through`]), which is what the persistent cursor
//! records. Events are taken from the bus only when they are the next seq (`fetched + 1`);
//! anything else (a hole, a lag, a full queue, a refill in progress) marks the group as
//! having missed events, and the next store read picks them up by seq.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::events::StoredEvent;

/// Member ids are unique in the process.
pub(crate) type MemberId = u64;

/// Events waiting for a member before the group stops taking more from the bus (and later
/// reads them from the store instead).
pub(crate) const PENDING_MAX: usize = 10_000;
/// Store reads start only below this many waiting events.
const REFILL_BELOW: usize = PENDING_MAX / 2;

struct Slot {
    max_in_flight: usize,
    in_flight: usize,
    /// Its channel was full: skip it until it acks or the next tick.
    stalled: bool,
}

impl Slot {
    fn has_room(&self) -> bool {
        !self.stalled && self.in_flight < self.max_in_flight
    }
}

struct Pending {
    ev: Arc<StoredEvent>,
    redelivery: bool,
    /// Prefer another member than this one (it let the event time out).
    avoid: Option<MemberId>,
}

struct InFlight {
    member: MemberId,
    sent_at: Instant,
    ev: Arc<StoredEvent>,
    redelivery: bool,
}

/// One event to send to one member.
pub(crate) struct Delivery {
    /// The member.
    pub(crate) member: MemberId,
    /// The event.
    pub(crate) ev: Arc<StoredEvent>,
    /// Sent before and not acknowledged.
    pub(crate) redelivery: bool,
}

/// The state of one consumer group.
pub(crate) struct GroupState {
    filter: Option<String>,
    fetched: i64,
    /// Events at or below this seq were handed out by an earlier incarnation of the group
    /// (before its last member left): sending them again is a redelivery.
    seen_high: i64,
    delivered_high: i64,
    pending: BTreeMap<i64, Pending>,
    in_flight: BTreeMap<i64, InFlight>,
    members: BTreeMap<MemberId, Slot>,
    last_picked: MemberId,
    refilling: bool,
    /// Events after `fetched` were not taken from the bus.
    missed: bool,
    /// The last store read returned a full page.
    more: bool,
}

impl GroupState {
    /// A group whose cursor is `cursor`, delivering events of `filter` (every account when
    /// `None`). The first store read starts right away.
    pub(crate) fn new(cursor: i64, seen_high: i64, filter: Option<String>) -> GroupState {
        GroupState {
            filter,
            fetched: cursor,
            seen_high,
            delivered_high: seen_high,
            pending: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            members: BTreeMap::new(),
            last_picked: 0,
            refilling: false,
            missed: false,
            more: true,
        }
    }

    /// The account filter of the group.
    pub(crate) fn filter(&self) -> Option<&str> {
        self.filter.as_deref()
    }

    /// Add a member that may hold `max_in_flight` unacknowledged events.
    pub(crate) fn attach(&mut self, id: MemberId, max_in_flight: usize) {
        self.members.insert(
            id,
            Slot {
                max_in_flight: max_in_flight.max(1),
                in_flight: 0,
                stalled: false,
            },
        );
    }

    /// Remove a member; its unacknowledged events go back to the queue as redeliveries.
    /// Returns how many.
    pub(crate) fn detach(&mut self, id: MemberId) -> usize {
        self.members.remove(&id);
        let orphaned: Vec<i64> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.member == id)
            .map(|(s, _)| *s)
            .collect();
        for seq in &orphaned {
            if let Some(f) = self.in_flight.remove(seq) {
                self.requeue(*seq, f.ev, None);
            }
        }
        orphaned.len()
    }

    /// No member left.
    pub(crate) fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Highest seq handed to any member (for the next incarnation's redelivery flags).
    pub(crate) fn delivered_high(&self) -> i64 {
        self.delivered_high
    }

    /// The group has acknowledged every event up to this seq.
    pub(crate) fn acked_through(&self) -> i64 {
        let p = self.pending.keys().next().copied();
        let f = self.in_flight.keys().next().copied();
        match (p, f) {
            (Some(a), Some(b)) => a.min(b) - 1,
            (Some(a), None) | (None, Some(a)) => a - 1,
            (None, None) => self.fetched,
        }
    }

    /// Events waiting for a member.
    #[cfg(test)]
    pub(crate) fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// A live event from the bus: taken when it is the next seq and nothing else is in the
    /// way; otherwise remembered as missed (the store will supply it).
    pub(crate) fn offer(&mut self, ev: &Arc<StoredEvent>) {
        if ev.seq <= self.fetched {
            return;
        }
        let blocked =
            self.refilling || self.more || self.missed || self.pending.len() >= PENDING_MAX;
        if blocked || ev.seq != self.fetched + 1 {
            self.missed = true;
            return;
        }
        self.accept(Arc::clone(ev));
    }

    /// The bus dropped events for this group (it lagged).
    pub(crate) fn lagged(&mut self) {
        self.missed = true;
    }

    /// If the store should be read now, the seq to read after (and the read counts as
    /// started).
    pub(crate) fn start_refill(&mut self) -> Option<i64> {
        let needed = self.missed || self.more;
        if self.refilling || !needed || self.pending.len() >= REFILL_BELOW {
            return None;
        }
        self.refilling = true;
        self.missed = false;
        self.more = false;
        Some(self.fetched)
    }

    /// The store read finished with `page`; `full` when it returned as many as asked.
    pub(crate) fn refilled(&mut self, page: Vec<StoredEvent>, full: bool) {
        self.refilling = false;
        for ev in page {
            if ev.seq > self.fetched {
                self.accept(Arc::new(ev));
            }
        }
        self.more |= full;
    }

    /// The store read failed; it is retried later.
    pub(crate) fn refill_failed(&mut self) {
        self.refilling = false;
        self.missed = true;
    }

    fn accept(&mut self, ev: Arc<StoredEvent>) {
        self.fetched = ev.seq;
        if self
            .filter
            .as_deref()
            .is_some_and(|a| ev.event.account != a)
        {
            return;
        }
        let redelivery = ev.seq <= self.seen_high;
        self.pending.insert(
            ev.seq,
            Pending {
                ev,
                redelivery,
                avoid: None,
            },
        );
    }

    fn requeue(&mut self, seq: i64, ev: Arc<StoredEvent>, avoid: Option<MemberId>) {
        self.pending.insert(
            seq,
            Pending {
                ev,
                redelivery: true,
                avoid,
            },
        );
    }

    /// The next event to send and its member (lowest seq first, members in turn), recorded
    /// as in flight from `now`. `None` when nothing waits or no member has room.
    pub(crate) fn next_delivery(&mut self, now: Instant) -> Option<Delivery> {
        let (&seq, first) = self.pending.iter().next()?;
        let member = self.pick(first.avoid)?;
        let p = self.pending.remove(&seq)?;
        if let Some(slot) = self.members.get_mut(&member) {
            slot.in_flight += 1;
        }
        self.last_picked = member;
        self.delivered_high = self.delivered_high.max(seq);
        self.in_flight.insert(
            seq,
            InFlight {
                member,
                sent_at: now,
                ev: Arc::clone(&p.ev),
                redelivery: p.redelivery,
            },
        );
        Some(Delivery {
            member,
            ev: p.ev,
            redelivery: p.redelivery,
        })
    }

    /// Members with room, in turn after the last one picked; `avoid` only if nobody else.
    fn pick(&self, avoid: Option<MemberId>) -> Option<MemberId> {
        let after = self.members.range(self.last_picked + 1..);
        let before = self.members.range(..=self.last_picked);
        let mut fallback = None;
        for (&id, slot) in after.chain(before) {
            if !slot.has_room() {
                continue;
            }
            if Some(id) != avoid {
                return Some(id);
            }
            fallback = Some(id);
        }
        fallback
    }

    /// A delivery could not be handed to its member's channel: back to the queue. A full
    /// channel stalls the member until it acks (or the next tick).
    pub(crate) fn undeliverable(&mut self, d: &Delivery) {
        let seq = d.ev.seq;
        if let Some(f) = self.in_flight.remove(&seq) {
            if let Some(slot) = self.members.get_mut(&f.member) {
                slot.in_flight = slot.in_flight.saturating_sub(1);
                slot.stalled = true;
            }
            self.pending.insert(
                seq,
                Pending {
                    ev: f.ev,
                    redelivery: f.redelivery,
                    avoid: None,
                },
            );
        }
    }

    /// Member `by` acknowledged `seqs`. An ack counts from any member (a late ack of an
    /// event already queued again still settles it); seqs never handed out are ignored.
    /// Returns how many were settled.
    pub(crate) fn ack(&mut self, by: MemberId, seqs: &[i64]) -> usize {
        if let Some(slot) = self.members.get_mut(&by) {
            slot.stalled = false;
        }
        let mut settled = 0;
        for seq in seqs {
            if let Some(f) = self.in_flight.remove(seq) {
                if let Some(slot) = self.members.get_mut(&f.member) {
                    slot.in_flight = slot.in_flight.saturating_sub(1);
                }
                settled += 1;
            } else if self.pending.get(seq).is_some_and(|p| p.redelivery) {
                self.pending.remove(seq);
                settled += 1;
            }
        }
        settled
    }

    /// Events in flight longer than `timeout` go back to the queue as redeliveries, to
    /// another member when there is one. Returns how many.
    pub(crate) fn expire(&mut self, now: Instant, timeout: Duration) -> usize {
        let late: Vec<i64> = self
            .in_flight
            .iter()
            .filter(|(_, f)| now.saturating_duration_since(f.sent_at) >= timeout)
            .map(|(s, _)| *s)
            .collect();
        for seq in &late {
            if let Some(f) = self.in_flight.remove(seq) {
                if let Some(slot) = self.members.get_mut(&f.member) {
                    slot.in_flight = slot.in_flight.saturating_sub(1);
                }
                self.requeue(*seq, f.ev, Some(f.member));
            }
        }
        late.len()
    }

    /// Give stalled members another chance.
    pub(crate) fn unstall(&mut self) {
        for slot in self.members.values_mut() {
            slot.stalled = false;
        }
    }
}

#[cfg(test)]
#[path = "group_state_tests.rs"]
mod tests;
