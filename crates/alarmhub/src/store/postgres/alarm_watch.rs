//! The cross-node wake-up of the alarm change log ([`crate::store::Store::alarm_changes_watch`]
//! on PostgreSQL). The node's watch holds the highest committed alarm change seq; it moves
//! when this node commits changes (at once, before the caller is answered) and when any
//! other node does: a task `LISTEN`s on [`ALARMS_CHANNEL`] and, on each notification and
//! every [`POLL`] regardless (notifications are lost while its connection is down), reads
//! the counter row — the truth — and moves the watch forward. Followers then read the log
//! by seq (`alarm_changes_after`), so a lost or merged notification costs at most one
//! [`POLL`] of latency, never a change.

use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::alarm_reads::last_change_seq;
use super::alarms::ALARMS_CHANNEL;
use super::connect::Target;
use super::listen_poll::{self, Channel};
use super::PgStore;
use crate::alarms::AlarmChange;

/// Longest a node goes without looking at the alarm change counter.
pub(crate) const POLL: Duration = Duration::from_millis(500);

impl PgStore {
    /// Stop the follower task (close, crash).
    pub(super) async fn stop_alarm_follower(&self) {
        let follow = self
            .alarm_follow
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some((stop, task)) = follow {
            stop.cancel();
            let _ = task.await;
        }
    }

    /// Tell this node's followers of the alarm change log that `changes` are committed.
    pub(super) fn wake_alarm_followers(&self, changes: &[AlarmChange]) {
        if let Some(last) = changes.iter().map(|c| c.seq).max() {
            advance(&self.alarm_changes, last);
        }
    }
}

/// Move `watch` forward to `seq` (never back).
pub(crate) fn advance(watch: &watch::Sender<i64>, seq: i64) {
    watch.send_if_modified(|v| {
        if seq > *v {
            *v = seq;
            true
        } else {
            false
        }
    });
}

/// Keep `watch` at the highest committed change seq of every node until `stop`.
pub(crate) async fn follow(target: Target, watch: watch::Sender<i64>, stop: CancellationToken) {
    let channel = Channel {
        name: ALARMS_CHANNEL,
        op: "listen for alarm changes",
        what: "alarm changes",
    };
    let read: listen_poll::Read<i64> = |c, t| Box::pin(last_change_seq(c, t));
    listen_poll::follow(&target, channel, POLL, &stop, read, |seq| {
        advance(&watch, seq)
    })
    .await;
}
