//! Every Prometheus series the daemon exports, named once, with its help text.
//!
//! Code records a series through its constant (`metrics::counter!(names::FRAMES_TOTAL, …)`),
//! so a name is spelled in one place; [`describe`] registers the `# HELP` line of every
//! series with the installed recorder. The names are a contract with dashboards and tests:
//! never rename one.

use ::metrics::{describe_counter, describe_gauge, describe_histogram};

/// The series names.
pub mod names {
    /// Frame decoded → ACK ready to write, including the durable commit (histogram, s).
    pub const ACK_SECONDS: &str = "alarmhub_ack_seconds";
    /// Frames handled, by ID token (`id`) and what happened (`outcome`).
    pub const FRAMES_TOTAL: &str = "alarmhub_frames_total";
    /// Frames delayed by a panel's rate limit.
    pub const RATE_LIMITED_TOTAL: &str = "alarmhub_rate_limited_total";
    /// Panel TCP connections open now.
    pub const CONNECTIONS_OPEN: &str = "alarmhub_connections_open";
    /// Panel connections refused, by `reason` (global or per-IP cap).
    pub const CONNECTIONS_REFUSED_TOTAL: &str = "alarmhub_connections_refused_total";
    /// Panels known, by `state` (online / offline), refreshed at scrape time.
    pub const PANELS: &str = "alarmhub_panels";
    /// Remote commands, by `action` and `outcome`.
    pub const CONTROL_COMMANDS_TOTAL: &str = "alarmhub_control_commands_total";
    /// Events handed to the store, by `outcome` (stored / duplicate / error).
    pub const STORE_EVENTS_TOTAL: &str = "alarmhub_store_events_total";
    /// Time of one group commit, fsync included (histogram, s).
    pub const STORE_COMMIT_SECONDS: &str = "alarmhub_store_commit_seconds";
    /// Events per group commit (histogram).
    pub const STORE_BATCH_SIZE: &str = "alarmhub_store_batch_size";
    /// Requests waiting for the store writer.
    pub const STORE_QUEUE_DEPTH: &str = "alarmhub_store_queue_depth";
    /// Pages in the SQLite write-ahead log after the last checkpoint.
    pub const STORE_WAL_PAGES: &str = "alarmhub_store_wal_pages";
    /// Seconds the registry restore took at start.
    pub const STARTUP_RESTORE_SECONDS: &str = "alarmhub_startup_restore_seconds";
    /// Live gRPC streams and consumer groups (bus receivers).
    pub const GRPC_SUBSCRIBERS: &str = "alarmhub_grpc_subscribers";
    /// `WatchEvents` streams open now.
    pub const API_WATCHERS: &str = "alarmhub_api_watchers";
    /// `WatchEvents` streams that fell behind the bus and resumed from the store.
    pub const API_WATCH_LAGGED_TOTAL: &str = "alarmhub_api_watch_lagged_total";
    /// `Subscribe` events redelivered after their ack timeout.
    pub const API_REDELIVERIES_TOTAL: &str = "alarmhub_api_redeliveries_total";
    /// Log lines dropped because standard error did not keep up.
    pub const LOG_LINES_DROPPED_TOTAL: &str = "alarmhub_log_lines_dropped_total";
    /// Panel frames refused by a security rule, by reason.
    pub const FRAMES_REFUSED_TOTAL: &str = "alarmhub_frames_refused_total";
    /// UDP datagrams dropped on arrival, by reason.
    pub const UDP_DROPPED_TOTAL: &str = "alarmhub_udp_dropped_total";
    /// Bytes of UDP datagrams queued for all peers.
    pub const UDP_QUEUED_BYTES: &str = "alarmhub_udp_queued_bytes";
    /// gRPC streams refused or ended because of a stream limit, by reason.
    pub const GRPC_STREAMS_LIMITED_TOTAL: &str = "alarmhub_grpc_streams_limited_total";
    /// Bytes of replies queued for all gRPC server streams (each stream at most
    /// `grpc.stream_buffer_bytes`).
    pub const GRPC_STREAM_QUEUED_BYTES: &str = "alarmhub_grpc_stream_queued_bytes";
    /// gRPC connections closed after `grpc.idle_timeout_secs` without a call.
    pub const GRPC_IDLE_CLOSED_TOTAL: &str = "alarmhub_grpc_idle_closed_total";
    /// Sources put in the penalty box for invalid input, by transport (tcp, udp).
    pub const PENALTIES_TOTAL: &str = "alarmhub_penalties_total";
    /// Soft limit on open file descriptors after start.
    pub const FD_LIMIT: &str = "alarmhub_fd_limit";
    /// The lowest seq still stored: where history starts after retention.
    pub const EVENTS_OLDEST_SEQ: &str = "alarmhub_events_oldest_seq";
    /// Events removed by retention.
    pub const EVENTS_PURGED_TOTAL: &str = "alarmhub_events_purged_total";
    /// Notification deliveries queued in the outbox, by `channel` (one per target).
    pub const NOTIFY_QUEUED_TOTAL: &str = "alarmhub_notify_queued_total";
    /// Notification messages sent (a digest is one), by `channel` and `outcome` (delivered,
    /// retry, rate_limited, disabled, failed).
    pub const NOTIFY_MESSAGES_TOTAL: &str = "alarmhub_notify_messages_total";
    /// Notifications delivered, by `channel` (a digest counts each one it carried).
    pub const NOTIFY_DELIVERED_TOTAL: &str = "alarmhub_notify_delivered_total";
    /// Deliveries that failed and were scheduled for another attempt, by `channel`.
    pub const NOTIFY_RETRIED_TOTAL: &str = "alarmhub_notify_retried_total";
    /// Deliveries given up (dead letters), by `channel`.
    pub const NOTIFY_DEAD_LETTER_TOTAL: &str = "alarmhub_notify_dead_letter_total";
    /// Digest messages sent, by `channel`.
    pub const NOTIFY_DIGESTS_TOTAL: &str = "alarmhub_notify_digests_total";
    /// From queued to delivered, by `channel` (histogram, s).
    pub const NOTIFY_DELIVERY_SECONDS: &str = "alarmhub_notify_delivery_seconds";
    /// Deliveries waiting (not yet delivered or given up), by `channel`.
    pub const NOTIFY_BACKLOG: &str = "alarmhub_notify_backlog";
    /// 1 while a channel's endpoint has disabled it (webhook HTTP 410), by `channel`.
    pub const NOTIFY_CHANNEL_DISABLED: &str = "alarmhub_notify_channel_disabled";
    /// Alarms open (new or taken), by `priority`.
    pub const ALARMS_OPEN: &str = "alarmhub_alarms_open";
    /// Opening → first take, by `priority` (histogram, s).
    pub const ALARM_TAKE_SECONDS: &str = "alarmhub_alarm_take_seconds";
    /// Opening → close, by `priority` (histogram, s).
    pub const ALARM_CLOSE_SECONDS: &str = "alarmhub_alarm_close_seconds";
    /// Alarms escalated (not taken in time), by `priority`.
    pub const ALARM_ESCALATIONS_TOTAL: &str = "alarmhub_alarm_escalations_total";
    /// Alarms closed, by `outcome` (false_alarm / real).
    pub const ALARMS_CLOSED_TOTAL: &str = "alarmhub_alarms_closed_total";
}

/// Every series with its kind and help text, for [`describe`] and the tests. (No units: the
/// exporter could append them to the names.)
#[rustfmt::skip]
const SERIES: &[(Kind, &str, &str)] = {
    use names::*;
    use Kind::{Counter as C, Gauge as G, Histogram as H};
    &[
        (H, ACK_SECONDS, "Frame decoded to ACK ready to write, durable commit included"),
        (C, FRAMES_TOTAL, "Panel frames handled, by ID token and outcome"),
        (C, RATE_LIMITED_TOTAL, "Panel frames delayed by the per-connection rate limit"),
        (G, CONNECTIONS_OPEN, "Panel TCP connections open"),
        (C, CONNECTIONS_REFUSED_TOTAL, "Panel connections refused, by reason"),
        (G, PANELS, "Panels known, by state (online, offline)"),
        (C, CONTROL_COMMANDS_TOTAL, "Remote commands, by action and outcome"),
        (C, STORE_EVENTS_TOTAL, "Events handed to the store, by outcome (stored, duplicate, error)"),
        (H, STORE_COMMIT_SECONDS, "Duration of one group commit, fsync included"),
        (H, STORE_BATCH_SIZE, "Events per group commit"),
        (G, STORE_QUEUE_DEPTH, "Requests waiting for the store writer"),
        (G, STORE_WAL_PAGES, "Pages in the SQLite write-ahead log after the last checkpoint"),
        (G, STARTUP_RESTORE_SECONDS, "Seconds the registry restore took at start"),
        (G, GRPC_SUBSCRIBERS, "Live gRPC streams and consumer groups"),
        (G, API_WATCHERS, "WatchEvents streams open"),
        (C, API_WATCH_LAGGED_TOTAL, "WatchEvents streams that fell behind and resumed from the store"),
        (C, API_REDELIVERIES_TOTAL, "Subscribe events redelivered after their ack timeout"),
        (C, LOG_LINES_DROPPED_TOTAL, "Log lines dropped because standard error did not keep up"),
        (C, FRAMES_REFUSED_TOTAL, "Panel frames refused by a security rule, by reason"),
        (C, UDP_DROPPED_TOTAL, "UDP datagrams dropped on arrival, by reason"),
        (G, UDP_QUEUED_BYTES, "Bytes of UDP datagrams queued for all peers"),
        (C, GRPC_STREAMS_LIMITED_TOTAL, "gRPC streams refused or ended by a stream limit, by reason"),
        (G, GRPC_STREAM_QUEUED_BYTES, "Bytes of replies queued for all gRPC server streams"),
        (C, GRPC_IDLE_CLOSED_TOTAL, "gRPC connections closed after grpc.idle_timeout_secs without a call"),
        (C, PENALTIES_TOTAL, "Sources put in the penalty box for invalid input, by transport"),
        (G, FD_LIMIT, "Soft limit on open file descriptors after start"),
        (G, EVENTS_OLDEST_SEQ, "Lowest event seq still stored (history starts here; older ones were removed by retention)"),
        (C, EVENTS_PURGED_TOTAL, "Events removed by [store] retention_days"),
        (C, NOTIFY_QUEUED_TOTAL, "Notification deliveries queued in the outbox, by channel"),
        (C, NOTIFY_MESSAGES_TOTAL, "Notification messages sent (a digest is one), by channel and outcome"),
        (C, NOTIFY_DELIVERED_TOTAL, "Notifications delivered, by channel"),
        (C, NOTIFY_RETRIED_TOTAL, "Notification deliveries scheduled for another attempt, by channel"),
        (C, NOTIFY_DEAD_LETTER_TOTAL, "Notification deliveries given up (dead letters), by channel"),
        (C, NOTIFY_DIGESTS_TOTAL, "Notification digest messages sent, by channel"),
        (H, NOTIFY_DELIVERY_SECONDS, "Notification queued to delivered, by channel"),
        (G, NOTIFY_BACKLOG, "Notification deliveries waiting, by channel"),
        (G, NOTIFY_CHANNEL_DISABLED, "1 while a channel's endpoint has disabled it, by channel"),
        (G, ALARMS_OPEN, "Alarms open (new or taken), by priority"),
        (H, ALARM_TAKE_SECONDS, "Time from an alarm's opening to its first take, by priority"),
        (H, ALARM_CLOSE_SECONDS, "Time from an alarm's opening to its close, by priority"),
        (C, ALARM_ESCALATIONS_TOTAL, "Alarms escalated because nobody took them in time, by priority"),
        (C, ALARMS_CLOSED_TOTAL, "Alarms closed, by outcome (false_alarm, real)"),
    ]
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Register the help text of every series with the installed recorder (call once, after
/// installing it; series without a recorded value still get no sample).
pub fn describe() {
    for &(kind, name, help) in SERIES {
        match kind {
            Kind::Counter => describe_counter!(name, help),
            Kind::Gauge => describe_gauge!(name, help),
            Kind::Histogram => describe_histogram!(name, help),
        }
    }
}

/// Every series name, for tests that check `/metrics`.
pub fn all_names() -> impl Iterator<Item = &'static str> {
    SERIES.iter().map(|s| s.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_is_named_once_and_prefixed() {
        let mut seen = std::collections::HashSet::new();
        for name in all_names() {
            assert!(name.starts_with("alarmhub_"), "{name}");
            assert!(seen.insert(name), "{name} listed twice");
        }
        assert_eq!(seen.len(), 42);
    }
}
