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
    /// Time of one alarm-engine batch in the store, its commit included (histogram, s); on
    /// SQLite the event commits wait behind it on the one writer.
    pub const STORE_ALARM_COMMIT_SECONDS: &str = "alarmhub_store_alarm_commit_seconds";
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
    /// Bytes the size cap removed (estimated: the store's size before minus after).
    pub const EVENTS_PURGED_BYTES_TOTAL: &str = "alarmhub_events_purged_bytes_total";
    /// The event store's size as the size cap measures it.
    pub const STORE_SIZE_BYTES: &str = "alarmhub_store_size_bytes";
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
    /// Audit rows written.
    pub const AUDIT_ROWS_TOTAL: &str = "alarmhub_audit_rows_total";
    /// Audit rows dropped because the audit writer's queue was full.
    pub const AUDIT_DROPPED_TOTAL: &str = "alarmhub_audit_dropped_total";
    /// API and console calls refused, by `reason`.
    pub const AUTH_REFUSED_TOTAL: &str = "alarmhub_auth_refused_total";
    /// MQTT commands, by `result` (a control outcome, a refusal, or retained).
    pub const MQTT_COMMANDS_TOTAL: &str = "alarmhub_mqtt_commands_total";
    /// MQTT messages waiting to be published.
    pub const MQTT_BACKLOG: &str = "alarmhub_mqtt_backlog";
    /// 1 while the MQTT bridge is connected to its broker.
    pub const MQTT_CONNECTED: &str = "alarmhub_mqtt_connected";
    /// 1 while an automation output's link to the central station is up, by `output`.
    pub const AUTOMATION_LINK_UP: &str = "alarmhub_automation_link_up";
    /// Messages the central station acknowledged, by `output`.
    pub const AUTOMATION_MESSAGES_TOTAL: &str = "alarmhub_automation_messages_total";
    /// Unix time of the central station's last acknowledgement, by `output`.
    pub const AUTOMATION_LAST_ACK_TIMESTAMP_SECONDS: &str =
        "alarmhub_automation_last_ack_timestamp_seconds";
    /// Events waiting for an automation output, by `output`.
    pub const AUTOMATION_BACKLOG: &str = "alarmhub_automation_backlog";
    /// Events an automation output did not send, by `output` and `reason`.
    pub const AUTOMATION_SKIPPED_TOTAL: &str = "alarmhub_automation_skipped_total";
}

/// Buckets of the latency histograms (seconds): 0.5 ms to 5 s.
const LATENCY_SECONDS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];
/// Buckets of notification delivery (seconds): 100 ms to an hour (retries included).
const DELIVERY_SECONDS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];
/// Buckets of alarm handling (seconds): 5 s to a day.
const HANDLING_SECONDS: &[f64] = &[
    5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 14400.0, 86400.0,
];
/// Buckets of the events per group commit (a count, not seconds): 1 to the largest batch.
const BATCH_EVENTS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0,
];

/// The label values a series is registered with at start, so that it is present with 0.
#[derive(Debug, Clone, Copy)]
enum Labels {
    /// No labels.
    None,
    /// One label and its known values.
    One(&'static str, &'static [&'static str]),
    /// Every combination of two labels' known values.
    Two(
        &'static str,
        &'static [&'static str],
        &'static str,
        &'static [&'static str],
    ),
    /// One series per configured notification channel (`channel`).
    Channel,
    /// Per configured channel, with each of `outcome`'s values.
    ChannelOutcome(&'static [&'static str]),
    /// One series per `[[automation]]` output (`output`).
    Output,
    /// Per output, with each of `reason`'s values.
    OutputReason(&'static [&'static str]),
}

/// The `id` label of frames: ID tokens by name; every unknown token is `other`, so a panel
/// cannot create label values.
pub const FRAME_IDS: [&str; 9] = [
    "NULL", "ACK", "NAK", "DUH", "RSP", "ADM-CID", "SIA-DCS", "HENG-BO", "other",
];
const CONTROL_ACTIONS: &[&str] = &["arm_away", "arm_stay", "disarm", "emergency", "query_type"];
const CONTROL_OUTCOMES: &[&str] = &[
    "done",
    "timed_out",
    "wrong_password",
    "not_done",
    "panel_offline",
    "not_supported",
    "bad_request",
];
const PRIORITIES: &[&str] = &["1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// Frame outcomes that exist for one ID only (besides `id` × acked/nak/dropped).
const FRAME_SPECIALS: &[(&str, &str)] = &[
    ("event", "duplicate"),
    ("event", "store_error"),
    ("other", "duh"),
    ("invalid", "dropped"),
];

/// Every series: kind (histograms with their buckets, in the series' own unit), name, help
/// text, and the label values it starts with. (No units in the help: the exporter could
/// append them to the names.)
#[rustfmt::skip]
const SERIES: &[(Kind, &str, &str, Labels)] = {
    use names::*;
    use Kind::{Counter as C, Gauge as G, Histogram as H};
    use Labels::{Channel, ChannelOutcome, None as N, One, Output, OutputReason, Two};
    &[
        (H(LATENCY_SECONDS), ACK_SECONDS, "Frame decoded to ACK ready to write, durable commit included", N),
        (C, FRAMES_TOTAL, "Panel frames handled, by ID token and outcome", Two("id", &FRAME_IDS, "outcome", &["acked", "nak", "dropped"])),
        (C, RATE_LIMITED_TOTAL, "Panel frames delayed by the per-connection rate limit", N),
        (G, CONNECTIONS_OPEN, "Panel TCP connections open", N),
        (C, CONNECTIONS_REFUSED_TOTAL, "Panel connections refused, by reason", One("reason", &["max_connections", "per_ip", "penalty", "connect_rate", "fd_limit"])),
        (G, PANELS, "Panels known, by state (online, offline)", One("state", &["online", "offline"])),
        (C, CONTROL_COMMANDS_TOTAL, "Remote commands, by action and outcome", Two("action", CONTROL_ACTIONS, "outcome", CONTROL_OUTCOMES)),
        (C, STORE_EVENTS_TOTAL, "Events handed to the store, by outcome (stored, duplicate, error)", One("outcome", &["stored", "duplicate", "error"])),
        (H(LATENCY_SECONDS), STORE_COMMIT_SECONDS, "Duration of one group commit, fsync included", N),
        (H(LATENCY_SECONDS), STORE_ALARM_COMMIT_SECONDS, "Duration of one alarm-engine batch in the store, its commit included (on SQLite, event commits wait behind it)", N),
        (H(BATCH_EVENTS), STORE_BATCH_SIZE, "Events per group commit", N),
        (G, STORE_QUEUE_DEPTH, "Requests waiting for the store writer", N),
        (G, STORE_WAL_PAGES, "Pages in the SQLite write-ahead log after the last checkpoint (0 with PostgreSQL)", N),
        (G, STARTUP_RESTORE_SECONDS, "Seconds the registry restore took at start", N),
        (G, GRPC_SUBSCRIBERS, "Live gRPC streams and consumer groups", N),
        (G, API_WATCHERS, "WatchEvents streams open", N),
        (C, API_WATCH_LAGGED_TOTAL, "WatchEvents streams that fell behind and resumed from the store", N),
        (C, API_REDELIVERIES_TOTAL, "Subscribe events redelivered after their ack timeout", N),
        (C, LOG_LINES_DROPPED_TOTAL, "Log lines dropped because standard error did not keep up", N),
        (C, FRAMES_REFUSED_TOTAL, "Panel frames refused by a security rule, by reason", One("reason", &["source_not_allowed", "plaintext", "too_many_accounts", "new_account_limit", "unknown_account", "two_addresses"])),
        (C, UDP_DROPPED_TOTAL, "UDP datagrams dropped on arrival, by reason", One("reason", &["oversize", "too_many_peers", "memory_budget", "peer_queue", "garbage", "penalty"])),
        (G, UDP_QUEUED_BYTES, "Bytes of UDP datagrams queued for all peers", N),
        (C, GRPC_STREAMS_LIMITED_TOTAL, "gRPC streams refused or ended by a stream limit, by reason", One("reason", &["max_streams", "max_streams_per_source"])),
        (G, GRPC_STREAM_QUEUED_BYTES, "Bytes of replies queued for all gRPC server streams", N),
        (C, GRPC_IDLE_CLOSED_TOTAL, "gRPC connections closed after grpc.idle_timeout_secs without a call", N),
        (C, PENALTIES_TOTAL, "Sources put in the penalty box for invalid input, by transport", One("transport", &["tcp", "udp"])),
        (G, FD_LIMIT, "Soft limit on open file descriptors after start", N),
        (G, EVENTS_OLDEST_SEQ, "Lowest event seq still stored (history starts here; older ones were removed by retention)", N),
        (C, EVENTS_PURGED_TOTAL, "Events removed by [store] retention_days or max_size_mb", N),
        (C, EVENTS_PURGED_BYTES_TOTAL, "Bytes of events removed by [store] max_size_mb (the store size before minus after)", N),
        (G, STORE_SIZE_BYTES, "Size of the events with their indexes as [store] max_size_mb measures it (0 until measured)", N),
        (C, NOTIFY_QUEUED_TOTAL, "Notification deliveries queued in the outbox, by channel", Channel),
        (C, NOTIFY_MESSAGES_TOTAL, "Notification messages sent (a digest is one), by channel and outcome", ChannelOutcome(&["delivered", "retry", "rate_limited", "disabled", "failed"])),
        (C, NOTIFY_DELIVERED_TOTAL, "Notifications delivered, by channel", Channel),
        (C, NOTIFY_RETRIED_TOTAL, "Notification deliveries scheduled for another attempt, by channel", Channel),
        (C, NOTIFY_DEAD_LETTER_TOTAL, "Notification deliveries given up (dead letters), by channel", Channel),
        (C, NOTIFY_DIGESTS_TOTAL, "Notification digest messages sent, by channel", Channel),
        (H(DELIVERY_SECONDS), NOTIFY_DELIVERY_SECONDS, "Notification queued to delivered, by channel", Channel),
        (G, NOTIFY_BACKLOG, "Notification deliveries waiting, by channel", Channel),
        (G, NOTIFY_CHANNEL_DISABLED, "1 while a channel's endpoint has disabled it, by channel", Channel),
        (G, ALARMS_OPEN, "Alarms open (new or taken), by priority", One("priority", PRIORITIES)),
        (H(HANDLING_SECONDS), ALARM_TAKE_SECONDS, "Time from an alarm's opening to its first take, by priority", One("priority", PRIORITIES)),
        (H(HANDLING_SECONDS), ALARM_CLOSE_SECONDS, "Time from an alarm's opening to its close, by priority", One("priority", PRIORITIES)),
        (C, ALARM_ESCALATIONS_TOTAL, "Alarms escalated because nobody took them in time, by priority", One("priority", PRIORITIES)),
        (C, ALARMS_CLOSED_TOTAL, "Alarms closed, by outcome (false_alarm, real)", One("outcome", &["false_alarm", "real"])),
        (C, AUDIT_ROWS_TOTAL, "Audit rows written", N),
        (C, AUDIT_DROPPED_TOTAL, "Audit rows dropped because the audit queue was full", N),
        (C, AUTH_REFUSED_TOTAL, "API and console calls refused, by reason", One("reason", &["unauthenticated", "permission_denied", "rate_limited"])),
        (C, MQTT_COMMANDS_TOTAL, "MQTT commands, by result (a control outcome, a refusal, or retained)", One("result", CONTROL_OUTCOMES)),
        (G, MQTT_BACKLOG, "Events waiting for the MQTT bridge", N),
        (G, MQTT_CONNECTED, "1 while the MQTT bridge is connected to its broker", N),
        (G, AUTOMATION_LINK_UP, "1 while an automation output's link to the central station is up, by output", Output),
        (C, AUTOMATION_MESSAGES_TOTAL, "Messages (events, resends, heartbeats) written to the central station, by output", Output),
        (G, AUTOMATION_LAST_ACK_TIMESTAMP_SECONDS, "Unix time of the central station's last acknowledgement, by output", Output),
        (G, AUTOMATION_BACKLOG, "Events waiting for an automation output, by output", Output),
        (C, AUTOMATION_SKIPPED_TOTAL, "Events an automation output did not send, by output and reason", OutputReason(&["not_a_signal", "account", "field"])),
    ]
};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Counter,
    Gauge,
    /// With its bucket bounds.
    Histogram(&'static [f64]),
}

/// Every histogram with its bucket bounds, for the exporter.
pub fn histogram_buckets() -> impl Iterator<Item = (&'static str, &'static [f64])> {
    SERIES.iter().filter_map(|s| match s.0 {
        Kind::Histogram(b) => Some((s.1, b)),
        _ => None,
    })
}

/// The default buckets (seconds) of a histogram without buckets of its own.
pub const DEFAULT_BUCKETS: &[f64] = LATENCY_SECONDS;

/// Register the help text of every series with the installed recorder (call once, after
/// installing it).
pub fn describe() {
    for &(kind, name, help, _) in SERIES {
        match kind {
            Kind::Counter => describe_counter!(name, help),
            Kind::Gauge => describe_gauge!(name, help),
            Kind::Histogram(_) => describe_histogram!(name, help),
        }
    }
}

/// The label sets a series starts with, given the configured notification channels and
/// automation outputs.
fn label_sets(
    labels: Labels,
    channels: &[String],
    outputs: &[String],
) -> Vec<Vec<(&'static str, String)>> {
    let per = |key: &'static str, names: &[String]| -> Vec<Vec<(&'static str, String)>> {
        names.iter().map(|n| vec![(key, n.clone())]).collect()
    };
    let times = |sets: Vec<Vec<(&'static str, String)>>, key: &'static str, values: &[&str]| {
        sets.into_iter()
            .flat_map(|set| {
                values.iter().map(move |v| {
                    let mut s = set.clone();
                    s.push((key, (*v).to_string()));
                    s
                })
            })
            .collect()
    };
    match labels {
        Labels::None => vec![Vec::new()],
        Labels::One(k, values) => times(vec![Vec::new()], k, values),
        Labels::Two(k1, v1, k2, v2) => times(times(vec![Vec::new()], k1, v1), k2, v2),
        Labels::Channel => per("channel", channels),
        Labels::ChannelOutcome(values) => times(per("channel", channels), "outcome", values),
        Labels::Output => per("output", outputs),
        Labels::OutputReason(values) => times(per("output", outputs), "reason", values),
    }
}

/// Make every series present from start: each with its known label values (the
/// configured channels and outputs for theirs) at 0, or untouched if it already has a value.
pub fn register_all(channels: &[String], outputs: &[String]) {
    for &(kind, name, _, labels) in SERIES {
        let mut sets = label_sets(labels, channels, outputs);
        if name == names::FRAMES_TOTAL {
            sets.extend(FRAME_SPECIALS.iter().map(|(id, outcome)| {
                vec![
                    ("id", (*id).to_string()),
                    ("outcome", (*outcome).to_string()),
                ]
            }));
        }
        for set in sets {
            let labels: Vec<::metrics::Label> = set
                .into_iter()
                .map(|(k, v)| ::metrics::Label::new(k, v))
                .collect();
            match kind {
                Kind::Counter => ::metrics::counter!(name, labels).increment(0),
                Kind::Gauge => ::metrics::gauge!(name, labels).increment(0.0),
                Kind::Histogram(_) => drop(::metrics::histogram!(name, labels)),
            }
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
        assert_eq!(seen.len(), 56);
    }

    #[test]
    fn histograms_measure_seconds_unless_they_count() {
        for (name, buckets) in histogram_buckets() {
            assert!(buckets.windows(2).all(|w| w[0] < w[1]), "{name}");
            if name.ends_with("_seconds") {
                assert!(!std::ptr::eq(buckets, BATCH_EVENTS), "{name}");
            } else {
                // Counts: whole numbers from 1, never the sub-second latency bounds.
                assert!(
                    buckets.iter().all(|b| b.fract() == 0.0 && *b >= 1.0),
                    "{name}"
                );
            }
        }
        let handling = histogram_buckets().find(|(n, _)| *n == names::ALARM_TAKE_SECONDS);
        assert!(handling.is_some_and(|(_, b)| b.last().is_some_and(|l| *l >= 3600.0)));
    }

    #[test]
    fn configured_channels_and_outputs_get_their_series() {
        let sets = label_sets(
            Labels::ChannelOutcome(&["delivered", "failed"]),
            &["ops".into()],
            &[],
        );
        assert_eq!(sets.len(), 2);
        assert_eq!(
            sets[1],
            vec![
                ("channel", "ops".to_string()),
                ("outcome", "failed".to_string())
            ]
        );
        assert!(label_sets(Labels::Output, &[], &[]).is_empty());
        assert_eq!(label_sets(Labels::None, &[], &[]), vec![Vec::new()]);
    }
}
