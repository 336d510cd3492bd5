//! Notification metrics, all labelled by channel. Names (Prometheus):
//! * `alarmhub_notify_messages_total{channel, outcome}` — messages sent (a digest is one),
//!   by outcome: delivered, retry, rate_limited, disabled, failed;
//! * `alarmhub_notify_delivered_total{channel}` — notifications delivered (a digest counts
//!   each one it carried);
//! * `alarmhub_notify_retried_total{channel}` — deliveries scheduled for another attempt;
//! * `alarmhub_notify_dead_letter_total{channel}` — deliveries given up;
//! * `alarmhub_notify_digests_total{channel}` — digest messages;
//! * `alarmhub_notify_delivery_seconds{channel}` — from queued to delivered;
//! * `alarmhub_notify_backlog{channel}` — deliveries waiting;
//! * `alarmhub_notify_channel_disabled{channel}` — 1 while an endpoint has disabled it.

use super::outbox::{Delivery, Settlement};
use super::send::Outcome;

/// Count one sent message and its outcome.
pub(crate) fn message(channel: &str, outcome: &Outcome, digest: bool) {
    metrics::counter!("alarmhub_notify_messages_total", "channel" => channel.to_string(), "outcome" => outcome.as_str())
        .increment(1);
    if digest {
        metrics::counter!("alarmhub_notify_digests_total", "channel" => channel.to_string())
            .increment(1);
    }
}

/// Count how a delivery was settled.
pub(crate) fn settled(channel: &str, d: &Delivery, s: &Settlement) {
    let ch = channel.to_string();
    match s {
        Settlement::Delivered { at_ms, .. } => {
            metrics::counter!("alarmhub_notify_delivered_total", "channel" => ch.clone())
                .increment(1);
            let secs = (at_ms - d.queued_ms).max(0) as f64 / 1000.0;
            metrics::histogram!("alarmhub_notify_delivery_seconds", "channel" => ch).record(secs);
        }
        Settlement::Retry { .. } => {
            metrics::counter!("alarmhub_notify_retried_total", "channel" => ch).increment(1);
        }
        Settlement::DeadLetter { .. } => {
            metrics::counter!("alarmhub_notify_dead_letter_total", "channel" => ch).increment(1);
        }
        Settlement::Postpone { .. } => {}
    }
}

/// Set the backlog gauge of a channel.
pub(crate) fn backlog(channel: &str, waiting: u64) {
    metrics::gauge!("alarmhub_notify_backlog", "channel" => channel.to_string())
        .set(waiting as f64);
}

/// Set whether a channel is disabled by its endpoint.
pub(crate) fn disabled(channel: &str, disabled: bool) {
    metrics::gauge!("alarmhub_notify_channel_disabled", "channel" => channel.to_string())
        .set(if disabled { 1.0 } else { 0.0 });
}
