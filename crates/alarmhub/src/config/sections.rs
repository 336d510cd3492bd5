//! The fixed sections of the configuration file (`[panel]`, `[grpc]`, `[http]`, `[store]`,
//! `[control]`, `[log]`) and their named defaults.
//!
//! Each section owns its defaults as constants in [`defaults`], so the `Default` impls, the
//! example file and the documentation all point at one number.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;

use serde::Deserialize;

/// The built-in defaults, one constant per setting (DESIGN.md "Defaults").
pub mod defaults {
    use super::*;

    /// Panel listener, TCP and UDP on the same address.
    pub const PANEL_LISTEN: SocketAddr =
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 12345));
    /// Whether the panel listener also receives UDP.
    pub const PANEL_UDP: bool = true;
    /// Open panel connections, all peers together.
    pub const MAX_CONNECTIONS: usize = 200_000;
    /// Open panel connections from one IP address.
    pub const MAX_CONNECTIONS_PER_IP: usize = 10_000;
    /// Seconds a new connection may stay silent before its first valid frame.
    pub const FIRST_FRAME_TIMEOUT_SECS: u64 = 30;
    /// Largest panel frame in bytes.
    pub const MAX_FRAME_LEN: usize = 1024;
    /// Sustained frames per second per connection.
    pub const RATE_LIMIT_PER_SEC: u32 = 50;
    /// Frames a connection may send in a burst above the sustained rate.
    pub const RATE_LIMIT_BURST: u32 = 200;
    /// Panel supervision interval in seconds (when the account does not set its own).
    pub const SUPERVISION_SECS: u64 = 180;
    /// Seconds after the supervision deadline before a panel is declared offline.
    pub const SUPERVISION_GRACE_SECS: u64 = 30;
    /// Window in seconds in which a retransmitted event is ACKed but stored once.
    pub const DEDUP_WINDOW_SECS: u64 = 300;
    /// How far in the past a DC-09 timestamp may be, in seconds.
    pub const TIME_WINDOW_PAST_SECS: u32 = 40;
    /// How far in the future a DC-09 timestamp may be, in seconds.
    pub const TIME_WINDOW_FUTURE_SECS: u32 = 20;
    /// Seconds a write to a panel may block before the connection is dropped.
    pub const WRITE_TIMEOUT_SECS: u64 = 10;
    /// Accounts one connection may speak for.
    pub const MAX_ACCOUNTS_PER_CONNECTION: usize = 64;
    /// New unknown accounts one source address may bring per minute.
    pub const MAX_NEW_ACCOUNTS_PER_SOURCE_PER_MIN: u32 = 60;
    /// Seconds between two security events (plaintext refused, account seen from two
    /// addresses) of one account.
    pub const SECURITY_EVENT_INTERVAL_SECS: u64 = 600;
    /// File descriptors kept free for the API, health endpoints and the store.
    pub const FD_RESERVE: usize = 256;
    /// Bytes of datagrams queued per UDP peer.
    pub const UDP_PEER_QUEUE_BYTES: usize = 16 * 1024;
    /// Bytes of datagrams queued for all UDP peers together.
    pub const UDP_MEMORY_BYTES: usize = 16 * 1024 * 1024;
    /// Datagrams the UDP receive loop reads per second at most (256 per 5 ms).
    pub const UDP_MAX_DATAGRAMS_PER_SEC: u32 = 51_200;
    /// Invalid inputs (runs of bytes that do not frame) one connection or UDP peer may send
    /// per minute before it is closed and its source put in the penalty box.
    pub const MAX_INVALID_PER_MIN: u32 = 100;
    /// Seconds a source stays in the penalty box the first time (doubling each time again).
    pub const PENALTY_SECS: u64 = 10;
    /// Longest stay in the penalty box, in seconds.
    pub const PENALTY_MAX_SECS: u64 = 600;
    /// New TCP connections per second one source address may open (sustained).
    pub const CONNECT_RATE_PER_SOURCE: u32 = 200;
    /// New TCP connections one source address may open in a burst.
    pub const CONNECT_BURST_PER_SOURCE: u32 = 2000;
    /// HTTP/2 streams one gRPC connection may have open.
    pub const GRPC_MAX_STREAMS_PER_CONNECTION: u32 = 100;
    /// Server-streaming calls (WatchEvents, Subscribe, compat streams) open in total.
    pub const GRPC_MAX_STREAMS: usize = 1000;
    /// Server-streaming calls one client address may have open.
    pub const GRPC_MAX_STREAMS_PER_SOURCE: usize = 100;
    /// Bytes of messages queued per server stream before it is told of a gap or closed.
    pub const GRPC_STREAM_BUFFER_BYTES: usize = 64 * 1024;
    /// Seconds between HTTP/2 keepalive pings to gRPC clients.
    pub const GRPC_KEEPALIVE_SECS: u64 = 30;
    /// Seconds a gRPC client has to answer a keepalive ping before it is dropped.
    pub const GRPC_KEEPALIVE_TIMEOUT_SECS: u64 = 20;
    /// Seconds a gRPC connection may stay open without a call before it is closed.
    pub const GRPC_IDLE_TIMEOUT_SECS: u64 = 300;
    /// gRPC listener.
    pub const GRPC_LISTEN: SocketAddr =
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 50051));
    /// Seconds a Subscribe client has to ACK an event before it is redelivered.
    pub const GRPC_ACK_TIMEOUT_SECS: u64 = 30;
    /// HTTP listener (health, readiness, metrics).
    pub const HTTP_LISTEN: SocketAddr =
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080));
    /// Console sessions end after this long without a request (15 minutes).
    pub const CONSOLE_IDLE_TIMEOUT_SECS: u64 = 900;
    /// Data directory (SQLite database).
    pub const DATA_DIR: &str = "./alarmhub-data";
    /// Events waiting for the store writer before sockets stop being read.
    pub const STORE_QUEUE: usize = 10_000;
    /// Events committed in one transaction at most.
    pub const STORE_MAX_BATCH: usize = 1024;
    /// Seconds between snapshots of the panel registry.
    pub const SNAPSHOT_SECS: u64 = 60;
    /// `[store] retention_days`: a year of history.
    pub const RETENTION_DAYS: u64 = 365;
    /// Seconds to wait for a panel's answer to a control command.
    pub const CONTROL_TIMEOUT_SECS: u64 = 20;
    /// Times a control command is re-sent after a timeout.
    pub const CONTROL_RETRIES: u32 = 3;
    /// Log filter (tracing `EnvFilter` syntax).
    pub const LOG_FILTER: &str = "info";
}

/// `[panel]`: the panel listener and the protocol rules applied to every connection.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PanelConfig {
    /// Address for TCP and UDP.
    pub listen: SocketAddr,
    /// Also receive DC-09 over UDP on the same address.
    pub udp: bool,
    /// Open connections, all peers together.
    pub max_connections: usize,
    /// Open connections from one IP address.
    pub max_connections_per_ip: usize,
    /// Idle timeout before the first valid frame, in seconds.
    pub first_frame_timeout_secs: u64,
    /// Largest frame in bytes.
    pub max_frame_len: usize,
    /// Sustained frames per second per connection.
    pub rate_limit_per_sec: u32,
    /// Burst of frames above the sustained rate.
    pub rate_limit_burst: u32,
    /// What to do with frames from accounts not listed in `[[accounts]]`.
    pub unknown_accounts: UnknownAccountPolicy,
    /// Supervision interval in seconds for accounts that do not set their own.
    pub supervision_secs: u64,
    /// Seconds after the supervision deadline before a panel is declared offline.
    pub supervision_grace_secs: u64,
    /// Retransmission window in seconds: ACKed again, stored once.
    pub dedup_window_secs: u64,
    /// How far in the past a DC-09 timestamp may be, in seconds.
    pub time_window_past_secs: u32,
    /// How far in the future a DC-09 timestamp may be, in seconds.
    pub time_window_future_secs: u32,
    /// A client that does not read its ACKs for this many seconds is dropped.
    pub write_timeout_secs: u64,
    /// Accounts one connection may speak for; frames of more are dropped.
    pub max_accounts_per_connection: usize,
    /// New unknown accounts (not configured, never seen) one source address may bring per
    /// minute; frames of more are dropped. 0: no limit.
    pub max_new_accounts_per_source_per_min: u32,
    /// Seconds between two security events of one account (plaintext refused, account
    /// seen from two addresses).
    pub security_event_interval_secs: u64,
    /// File descriptors kept free for the API, health endpoints and the store: panel
    /// connections stop at the descriptor limit minus this.
    pub fd_reserve: usize,
    /// Bytes of datagrams queued per UDP peer while its session is busy or paused.
    pub udp_peer_queue_bytes: usize,
    /// Bytes of datagrams queued for all UDP peers together.
    pub udp_memory_bytes: usize,
    /// Datagrams the UDP receive loop reads per second at most (counted per 5 ms tick);
    /// under a flood the rest wait in the socket's buffer and the kernel drops what does
    /// not fit. At least 200 (one per tick).
    pub udp_max_datagrams_per_sec: u32,
    /// Invalid inputs per minute one connection (or UDP peer) may send; one more closes it
    /// and puts its source address in the penalty box. 0: no limit.
    pub max_invalid_per_min: u32,
    /// Seconds in the penalty box (refused at accept, datagrams dropped on arrival), doubled
    /// for each stay that follows within a day, up to `penalty_max_secs`. 0: no penalty box.
    pub penalty_secs: u64,
    /// Longest stay in the penalty box, in seconds.
    pub penalty_max_secs: u64,
    /// New TCP connections per second one source address may open; more are refused at
    /// accept. 0: no limit.
    pub connect_rate_per_source: u32,
    /// New TCP connections one source address may open in a burst above the rate.
    pub connect_burst_per_source: u32,
}

impl Default for PanelConfig {
    fn default() -> Self {
        PanelConfig {
            listen: defaults::PANEL_LISTEN,
            udp: defaults::PANEL_UDP,
            max_connections: defaults::MAX_CONNECTIONS,
            max_connections_per_ip: defaults::MAX_CONNECTIONS_PER_IP,
            first_frame_timeout_secs: defaults::FIRST_FRAME_TIMEOUT_SECS,
            max_frame_len: defaults::MAX_FRAME_LEN,
            rate_limit_per_sec: defaults::RATE_LIMIT_PER_SEC,
            rate_limit_burst: defaults::RATE_LIMIT_BURST,
            unknown_accounts: UnknownAccountPolicy::default(),
            supervision_secs: defaults::SUPERVISION_SECS,
            supervision_grace_secs: defaults::SUPERVISION_GRACE_SECS,
            dedup_window_secs: defaults::DEDUP_WINDOW_SECS,
            time_window_past_secs: defaults::TIME_WINDOW_PAST_SECS,
            time_window_future_secs: defaults::TIME_WINDOW_FUTURE_SECS,
            write_timeout_secs: defaults::WRITE_TIMEOUT_SECS,
            max_accounts_per_connection: defaults::MAX_ACCOUNTS_PER_CONNECTION,
            max_new_accounts_per_source_per_min: defaults::MAX_NEW_ACCOUNTS_PER_SOURCE_PER_MIN,
            security_event_interval_secs: defaults::SECURITY_EVENT_INTERVAL_SECS,
            fd_reserve: defaults::FD_RESERVE,
            udp_peer_queue_bytes: defaults::UDP_PEER_QUEUE_BYTES,
            udp_memory_bytes: defaults::UDP_MEMORY_BYTES,
            udp_max_datagrams_per_sec: defaults::UDP_MAX_DATAGRAMS_PER_SEC,
            max_invalid_per_min: defaults::MAX_INVALID_PER_MIN,
            penalty_secs: defaults::PENALTY_SECS,
            penalty_max_secs: defaults::PENALTY_MAX_SECS,
            connect_rate_per_source: defaults::CONNECT_RATE_PER_SOURCE,
            connect_burst_per_source: defaults::CONNECT_BURST_PER_SOURCE,
        }
    }
}

/// What the receiver does with a frame from an account that is not configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownAccountPolicy {
    /// Store and ACK it like any other panel.
    #[default]
    Accept,
    /// Store and ACK it, marked as coming from an unknown account.
    Flag,
    /// Neither store nor acknowledge it.
    Drop,
}

/// `[grpc]`: the gRPC API (compat `alarm_server.AlarmServer`, `alarmhub.v1`, health, reflection).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Serve account passwords over the compat API (it has a field for them).
    pub serve_passwords: bool,
    /// Seconds a Subscribe client has to ACK an event before it is redelivered.
    pub ack_timeout_secs: u64,
    /// HTTP/2 streams one connection may have open at once.
    pub max_streams_per_connection: u32,
    /// Server-streaming calls open in total; more get `RESOURCE_EXHAUSTED`.
    pub max_streams: usize,
    /// Server-streaming calls one client address may have open; more get
    /// `RESOURCE_EXHAUSTED`. 0: no per-address limit.
    pub max_streams_per_source: usize,
    /// Bytes of messages queued per server stream; a stream whose client reads slower is
    /// made to wait (WatchEvents, WatchAlarms: they resume from the store) or has its events
    /// kept in the group (Subscribe).
    pub stream_buffer_bytes: usize,
    /// Seconds between HTTP/2 keepalive pings.
    pub keepalive_secs: u64,
    /// Seconds to answer a keepalive ping before the connection is closed.
    pub keepalive_timeout_secs: u64,
    /// Seconds a connection may stay open with no call in progress (no stream open) before
    /// the server closes it. 0: never.
    pub idle_timeout_secs: u64,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        GrpcConfig {
            listen: defaults::GRPC_LISTEN,
            serve_passwords: false,
            ack_timeout_secs: defaults::GRPC_ACK_TIMEOUT_SECS,
            max_streams_per_connection: defaults::GRPC_MAX_STREAMS_PER_CONNECTION,
            max_streams: defaults::GRPC_MAX_STREAMS,
            max_streams_per_source: defaults::GRPC_MAX_STREAMS_PER_SOURCE,
            stream_buffer_bytes: defaults::GRPC_STREAM_BUFFER_BYTES,
            keepalive_secs: defaults::GRPC_KEEPALIVE_SECS,
            keepalive_timeout_secs: defaults::GRPC_KEEPALIVE_TIMEOUT_SECS,
            idle_timeout_secs: defaults::GRPC_IDLE_TIMEOUT_SECS,
        }
    }
}

/// `[http]`: health, readiness and metrics.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Listen address.
    pub listen: SocketAddr,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: defaults::HTTP_LISTEN,
        }
    }
}

/// `[console]`: the operator web console on the HTTP listener.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// A console session ends after this many seconds without a request (60..=86400).
    pub idle_timeout_secs: u64,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            idle_timeout_secs: defaults::CONSOLE_IDLE_TIMEOUT_SECS,
        }
    }
}

/// `[store]`: durable event storage.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Directory of the SQLite database; created if missing. With `url` set it still holds
    /// the SQLite tokens, users and audit trail.
    pub data_dir: PathBuf,
    /// The shared PostgreSQL database (`postgres://USER@HOST/DB`) instead of SQLite in
    /// `data_dir`; several nodes may name the same one. Also `--store` / `ALARMHUB_STORE`.
    pub url: Option<String>,
    /// Events waiting for the writer before sockets stop being read (back-pressure).
    pub queue: usize,
    /// Events committed in one transaction at most.
    pub max_batch: usize,
    /// Seconds between registry snapshots.
    pub snapshot_secs: u64,
    /// Events older than this many days are removed (in small batches, off the ACK path);
    /// 0 keeps everything.
    pub retention_days: u64,
    /// Size cap of the event store in MiB: over it the oldest events are removed (in small
    /// batches, off the ACK path). Absent: no cap.
    pub max_size_mb: Option<u64>,
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: shown without it.
        f.debug_struct("StoreConfig")
            .field("data_dir", &self.data_dir)
            .field(
                "url",
                &self
                    .url
                    .as_deref()
                    .map(crate::store::postgres::describe_url),
            )
            .field("queue", &self.queue)
            .field("max_batch", &self.max_batch)
            .field("snapshot_secs", &self.snapshot_secs)
            .field("retention_days", &self.retention_days)
            .field("max_size_mb", &self.max_size_mb)
            .finish()
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            data_dir: PathBuf::from(defaults::DATA_DIR),
            url: None,
            queue: defaults::STORE_QUEUE,
            max_batch: defaults::STORE_MAX_BATCH,
            snapshot_secs: defaults::SNAPSHOT_SECS,
            retention_days: defaults::RETENTION_DAYS,
            max_size_mb: None,
        }
    }
}

/// `[control]`: remote commands (arm, disarm …) to Hengbo hosts.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlConfig {
    /// Seconds to wait for the panel's answer to one attempt.
    pub timeout_secs: u64,
    /// Re-sends after a timeout before the command fails.
    pub retries: u32,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            timeout_secs: defaults::CONTROL_TIMEOUT_SECS,
            retries: defaults::CONTROL_RETRIES,
        }
    }
}

/// `[log]`: log output.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Human-readable lines or one JSON object per line.
    pub format: LogFormat,
    /// Which events to log, in tracing `EnvFilter` syntax (`RUST_LOG` overrides it).
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::default(),
            filter: defaults::LOG_FILTER.to_string(),
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}
