//! The cross-node wake-up of the alarm change log ([`crate::store::Store::alarm_changes_watch`]
//! on PostgreSQL). The node's watch holds the highest committed alarm change seq; it moves
//! when this node commits changes (at once, before the caller is answered) and when any
//! other node does: a task `LISTEN`s on [`ALARMS_CHANNEL`] and, on each notification and
//! every [`POLL`] regardless (notifications are lost while its connection is down), reads
//! the counter row — the truth — and moves the watch forward. Followers then read the log
//! by seq (`alarm_changes_after`), so a lost or merged notification costs at most one
//! [`POLL`] of latency, never a change.

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::alarm_reads::last_change_seq;
use super::alarms::ALARMS_CHANNEL;
use super::connect::Target;
use super::PgStore;
use crate::alarms::AlarmChange;
use crate::store::StoreError;

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
    let mut listener: Option<(tokio_postgres::Client, mpsc::UnboundedReceiver<_>)> = None;
    loop {
        if listener.is_none() {
            listener = listen(&target).await;
        }
        if let Some((client, _)) = &listener {
            match last_change_seq(client, &target).await {
                Ok(seq) => advance(&watch, seq),
                Err(e) => {
                    tracing::debug!(error = %e, "alarm change follower lost its connection");
                    listener = None;
                }
            }
        }
        let note = async {
            match &mut listener {
                Some((_, rx)) => rx.recv().await.is_some(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            open = note => {
                if !open {
                    listener = None;
                }
            }
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// A connection listening on [`ALARMS_CHANNEL`], or `None` (logged; retried next round).
async fn listen(
    target: &Target,
) -> Option<(
    tokio_postgres::Client,
    mpsc::UnboundedReceiver<(String, String)>,
)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let result = async {
        let client = target
            .connect_listening("listen for alarm changes", tx)
            .await?;
        client
            .batch_execute(&format!("LISTEN {ALARMS_CHANNEL}"))
            .await
            .map_err(target.err("listen for alarm changes"))?;
        Ok::<_, StoreError>(client)
    }
    .await;
    match result {
        Ok(client) => Some((client, rx)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for other nodes' alarm changes; retrying");
            None
        }
    }
}
