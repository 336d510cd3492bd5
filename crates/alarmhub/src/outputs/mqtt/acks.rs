//! Which stored events the broker has confirmed, from the client's packet events — so the
//! MQTT cursor moves only past events whose every message got its PUBACK.
//!
//! Every publish is QoS 1, so each request yields exactly one `Outgoing::Publish(pkid)` with
//! a packet id not in flight, in request order, and later one `PubAck(pkid)`. Requests are
//! tagged with the sequence number of the event they belong to (or none: discovery,
//! command results), matched to packet ids in order, and counted down on PUBACK. After a
//! reconnect the session is clean and nothing unacknowledged is resent by the client:
//! [`Acks::reset`] forgets it, and the bridge reads again from the cursor.

use std::collections::{BTreeMap, HashMap, VecDeque};

/// Publishes handed to the client and not yet acknowledged.
#[derive(Debug, Default)]
pub struct Acks {
    /// Requests whose packet id is not known yet, in order.
    queued: VecDeque<Option<i64>>,
    /// Packet id → event.
    in_flight: HashMap<u16, Option<i64>>,
    /// Event → messages not yet acknowledged; every event handled appears here.
    open: BTreeMap<i64, u32>,
}

impl Acks {
    /// A publish for event `tag` (or none) was handed to the client.
    pub fn queued(&mut self, tag: Option<i64>) {
        if let Some(seq) = tag {
            *self.open.entry(seq).or_insert(0) += 1;
        }
        self.queued.push_back(tag);
    }

    /// Event `seq` is handled: all its publishes were queued (possibly none).
    pub fn handled(&mut self, seq: i64) {
        self.open.entry(seq).or_insert(0);
    }

    /// The client sent a publish with packet id `pkid`.
    pub fn outgoing(&mut self, pkid: u16) {
        if pkid == 0 || self.in_flight.contains_key(&pkid) {
            // QoS 0 (never used here) or a resend of a packet already matched.
            return;
        }
        if let Some(tag) = self.queued.pop_front() {
            self.in_flight.insert(pkid, tag);
        }
    }

    /// The broker acknowledged `pkid`.
    pub fn acked(&mut self, pkid: u16) {
        if let Some(Some(seq)) = self.in_flight.remove(&pkid) {
            if let Some(n) = self.open.get_mut(&seq) {
                *n = n.saturating_sub(1);
            }
        }
    }

    /// The highest event such that it and every event before it are fully acknowledged;
    /// those events are forgotten.
    pub fn take_confirmed(&mut self) -> Option<i64> {
        let mut last = None;
        while let Some(entry) = self.open.first_entry() {
            if *entry.get() > 0 {
                break;
            }
            last = Some(*entry.key());
            entry.remove();
        }
        last
    }

    /// Publishes not yet acknowledged.
    pub fn outstanding(&self) -> usize {
        self.queued.len() + self.in_flight.len()
    }

    /// A new connection: nothing from the old one will be acknowledged.
    pub fn reset(&mut self) {
        *self = Acks::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirms_in_order_only() {
        let mut a = Acks::default();
        a.queued(Some(1));
        a.queued(None);
        a.queued(Some(1));
        a.handled(1);
        a.queued(Some(2));
        a.handled(2);
        a.handled(3); // no publish for event 3
        for pkid in 1..=4 {
            a.outgoing(pkid);
        }
        assert_eq!(a.outstanding(), 4);
        a.acked(4); // event 2 first
        a.acked(2);
        assert_eq!(a.take_confirmed(), None);
        a.acked(1);
        assert_eq!(a.take_confirmed(), None);
        a.acked(3);
        assert_eq!(a.take_confirmed(), Some(3));
        assert_eq!(a.outstanding(), 0);
        assert_eq!(a.take_confirmed(), None);
    }

    #[test]
    fn resends_and_reused_ids_are_matched_right() {
        let mut a = Acks::default();
        a.queued(Some(1));
        a.queued(Some(2));
        a.handled(1);
        a.handled(2);
        a.outgoing(7);
        a.outgoing(7); // resend of 7
        a.outgoing(8);
        a.acked(7);
        a.acked(8);
        assert_eq!(a.take_confirmed(), Some(2));
        a.queued(Some(3));
        a.handled(3);
        a.outgoing(7); // id reused after its ack
        a.acked(7);
        assert_eq!(a.take_confirmed(), Some(3));
    }

    #[test]
    fn reset_forgets_the_old_connection() {
        let mut a = Acks::default();
        a.queued(Some(1));
        a.handled(1);
        a.outgoing(1);
        a.reset();
        assert_eq!(a.outstanding(), 0);
        assert_eq!(a.take_confirmed(), None);
    }
}
