//! Notification metrics, all labelled by channel; the names and help texts are in
//! [`crate::metrics::names`] (`alarmhub_notify_*`).

use super::outbox::{Delivery, Settlement};
use super::send::Outcome;
use crate::metrics::names;

/// Count one sent message and its outcome.
pub(crate) fn message(channel: &str, outcome: &Outcome, digest: bool) {
    metrics::counter!(names::NOTIFY_MESSAGES_TOTAL, "channel" => channel.to_string(), "outcome" => outcome.as_str())
        .increment(1);
    if digest {
        metrics::counter!(names::NOTIFY_DIGESTS_TOTAL, "channel" => channel.to_string())
            .increment(1);
    }
}

/// Count how a delivery was settled.
pub(crate) fn settled(channel: &str, d: &Delivery, s: &Settlement) {
    let ch = channel.to_string();
    match s {
        Settlement::Delivered { at_ms, .. } => {
            metrics::counter!(names::NOTIFY_DELIVERED_TOTAL, "channel" => ch.clone()).increment(1);
            let secs = (at_ms - d.queued_ms).max(0) as f64 / 1000.0;
            metrics::histogram!(names::NOTIFY_DELIVERY_SECONDS, "channel" => ch).record(secs);
        }
        Settlement::Retry { .. } => {
            metrics::counter!(names::NOTIFY_RETRIED_TOTAL, "channel" => ch).increment(1);
        }
        Settlement::DeadLetter { .. } => {
            metrics::counter!(names::NOTIFY_DEAD_LETTER_TOTAL, "channel" => ch).increment(1);
        }
        Settlement::Postpone { .. } => {}
    }
}

/// Set the backlog gauge of a channel.
pub(crate) fn backlog(channel: &str, waiting: u64) {
    metrics::gauge!(names::NOTIFY_BACKLOG, "channel" => channel.to_string()).set(waiting as f64);
}

/// Set whether a channel is disabled by its endpoint.
pub(crate) fn disabled(channel: &str, disabled: bool) {
    metrics::gauge!(names::NOTIFY_CHANNEL_DISABLED, "channel" => channel.to_string())
        .set(if disabled { 1.0 } else { 0.0 });
}
