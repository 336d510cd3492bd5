//! The validation pass: every rule a parsed configuration must satisfy before anything
//! binds a socket. Collects all problems so an operator fixes the file in one go.

use std::collections::HashMap;
use std::fmt::Display;
use std::net::SocketAddr;

use super::account::AccountConfig;
use super::error::Problem;
use super::Config;

/// DC-09 supervision range: 10 seconds to 1080 hours.
pub(crate) const SUPERVISION_MIN_SECS: u64 = 10;
/// See [`SUPERVISION_MIN_SECS`].
pub(crate) const SUPERVISION_MAX_SECS: u64 = 1080 * 3600;
/// Upper bound for most durations: a day. Larger values are typos (milliseconds?) and could
/// overflow `Instant` arithmetic elsewhere.
const DAY_SECS: u64 = 86_400;
/// Longest account text.
pub(crate) const ACCOUNT_MAX_LEN: usize = 32;
/// Characters that delimit fields in DC-09 and Hengbo frames, so never part of an account.
const ACCOUNT_FORBIDDEN: &[char] = &['[', ']', '|', '"', '#'];

/// Every problem in `config`, in file order.
pub(crate) fn check(config: &Config) -> Vec<Problem> {
    let mut p = Vec::new();
    check_sections(config, &mut p);
    check_listeners(config, &mut p);
    check_tls(config, &mut p);
    for (i, account) in config.accounts.iter().enumerate() {
        check_account(i, account, &mut p);
    }
    check_duplicates(&config.accounts, &mut p);
    super::outputs_check::check(config, &mut p);
    crate::notify::check::check(&config.notify, &mut p);
    crate::alarms::config::check(&config.alarms, &mut p);
    p
}

fn check_sections(c: &Config, p: &mut Vec<Problem>) {
    let panel = &c.panel;
    at_least(p, "panel.max_connections", panel.max_connections, 1);
    at_least(
        p,
        "panel.max_connections_per_ip",
        panel.max_connections_per_ip,
        1,
    );
    range(
        p,
        "panel.first_frame_timeout_secs",
        panel.first_frame_timeout_secs,
        1,
        DAY_SECS,
    );
    range(p, "panel.max_frame_len", panel.max_frame_len, 64, 65_535);
    at_least(p, "panel.rate_limit_per_sec", panel.rate_limit_per_sec, 1);
    at_least(p, "panel.rate_limit_burst", panel.rate_limit_burst, 1);
    supervision(p, "panel.supervision_secs", panel.supervision_secs);
    range(
        p,
        "panel.supervision_grace_secs",
        panel.supervision_grace_secs,
        0,
        DAY_SECS,
    );
    range(
        p,
        "panel.dedup_window_secs",
        panel.dedup_window_secs,
        1,
        DAY_SECS,
    );
    time_window(
        p,
        "panel.time_window_past_secs",
        panel.time_window_past_secs,
    );
    time_window(
        p,
        "panel.time_window_future_secs",
        panel.time_window_future_secs,
    );
    range(
        p,
        "panel.write_timeout_secs",
        panel.write_timeout_secs,
        1,
        3600,
    );
    at_least(
        p,
        "panel.max_accounts_per_connection",
        panel.max_accounts_per_connection,
        1,
    );
    range(
        p,
        "panel.security_event_interval_secs",
        panel.security_event_interval_secs,
        1,
        DAY_SECS,
    );
    at_least(
        p,
        "panel.udp_peer_queue_bytes",
        panel.udp_peer_queue_bytes,
        panel.max_frame_len,
    );
    at_least(
        p,
        "panel.udp_memory_bytes",
        panel.udp_memory_bytes,
        panel.udp_peer_queue_bytes,
    );
    range(
        p,
        "panel.udp_max_datagrams_per_sec",
        panel.udp_max_datagrams_per_sec,
        crate::receiver::udp::TICKS_PER_SEC,
        10_000_000,
    );
    range(
        p,
        "panel.penalty_max_secs",
        panel.penalty_max_secs,
        panel.penalty_secs,
        DAY_SECS,
    );
    range(
        p,
        "panel.connect_burst_per_source",
        panel.connect_burst_per_source,
        u32::from(panel.connect_rate_per_source > 0),
        1_000_000,
    );
    range(
        p,
        "grpc.idle_timeout_secs",
        c.grpc.idle_timeout_secs,
        0,
        DAY_SECS,
    );
    at_least(
        p,
        "grpc.max_streams_per_connection",
        c.grpc.max_streams_per_connection,
        1,
    );
    at_least(p, "grpc.max_streams", c.grpc.max_streams, 1);
    range(
        p,
        "grpc.stream_buffer_bytes",
        c.grpc.stream_buffer_bytes,
        4096,
        1 << 30,
    );
    range(p, "grpc.keepalive_secs", c.grpc.keepalive_secs, 1, DAY_SECS);
    range(
        p,
        "grpc.keepalive_timeout_secs",
        c.grpc.keepalive_timeout_secs,
        1,
        3600,
    );
    range(
        p,
        "grpc.ack_timeout_secs",
        c.grpc.ack_timeout_secs,
        1,
        DAY_SECS,
    );
    if c.store.data_dir.as_os_str().is_empty() {
        p.push(Problem::new("store.data_dir", "must not be empty"));
    }
    if let Some(url) = &c.store.url {
        if !crate::store::is_postgres_url(url) {
            p.push(Problem::new(
                "store.url",
                format!(
                    "{:?} is not a PostgreSQL URL (write postgres://USER@HOST/DB; leave it out for SQLite in store.data_dir)",
                    crate::store::postgres::describe_url(url)
                ),
            ));
        }
    }
    at_least(p, "store.queue", c.store.queue, 1);
    at_least(p, "store.max_batch", c.store.max_batch, 1);
    range(p, "store.snapshot_secs", c.store.snapshot_secs, 1, DAY_SECS);
    if let Some(mb) = c.store.max_size_mb {
        // 1 MiB .. 1 PiB: a cap below the schema's own pages would empty the history.
        range(p, "store.max_size_mb", mb, 1, 1 << 30);
    }
    range(
        p,
        "console.idle_timeout_secs",
        c.console.idle_timeout_secs,
        60,
        DAY_SECS,
    );
    range(p, "control.timeout_secs", c.control.timeout_secs, 1, 3600);
    range(p, "control.retries", c.control.retries, 0, 10);
    if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&c.log.filter) {
        p.push(Problem::new(
            "log.filter",
            format!("{:?}: {e}", c.log.filter),
        ));
    }
}

/// TCP listeners that would collide at bind time are reported now, with both names.
fn check_listeners(c: &Config, p: &mut Vec<Problem>) {
    let listeners = [
        ("panel.listen", c.panel.listen),
        ("grpc.listen", c.grpc.listen),
        ("http.listen", c.http.listen),
    ];
    for (i, (name, addr)) in listeners.iter().enumerate() {
        let clash = listeners[..i].iter().find(|(_, o)| overlaps(*o, *addr));
        if let Some((other, other_addr)) = clash {
            p.push(Problem::new(
                *name,
                format!("{addr} overlaps {other} = {other_addr}; use another port"),
            ));
        }
    }
}

/// `[tls]`: cert and key come together; a client CA needs them.
fn check_tls(c: &Config, p: &mut Vec<Problem>) {
    let t = &c.tls;
    match (&t.cert, &t.key) {
        (Some(_), None) => p.push(Problem::new("tls.key", "is missing; tls.cert needs it")),
        (None, Some(_)) => p.push(Problem::new("tls.cert", "is missing; tls.key needs it")),
        _ => {}
    }
    if t.client_ca.is_some() && !t.enabled() {
        p.push(Problem::new(
            "tls.client_ca",
            "needs tls.cert and tls.key (client certificates are checked during the TLS handshake)",
        ));
    }
}

/// Same non-zero port, and the same IP or one of them is the wildcard.
pub(crate) fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

fn check_account(i: usize, a: &AccountConfig, p: &mut Vec<Problem>) {
    let at = |field: &str| format!("accounts[{i}].{field}");
    if let Err(message) = account_text(&a.account) {
        p.push(Problem::new(at("account"), message));
    }
    if let Err(problem) = a.parse_key_at(&at("key")) {
        p.push(problem);
    }
    if let Some(pw) = &a.password {
        let pw = pw.expose();
        if pw.is_empty() {
            p.push(Problem::new(
                at("password"),
                "is empty; leave it out instead",
            ));
        } else if let Err(rule) = panel_proto::build::check_hb_password(pw) {
            // Never echo the value: it is a secret.
            p.push(Problem::new(at("password"), rule));
        }
    }
    if let Some(secs) = a.supervision_secs {
        supervision(p, &at("supervision_secs"), secs);
    }
    if let Some(secs) = a.time_window_past_secs {
        time_window(p, &at("time_window_past_secs"), secs);
    }
    if let Some(secs) = a.time_window_future_secs {
        time_window(p, &at("time_window_future_secs"), secs);
    }
    for (j, net) in a.allowed_sources.iter().enumerate() {
        if let Err(e) = net.parse::<panel_proto::link::Cidr>() {
            p.push(Problem::new(
                at(&format!("allowed_sources[{j}]")),
                e.to_string(),
            ));
        }
    }
}

/// Whether `text` may be an account: 1..=32 printable ASCII characters, no spaces, no frame
/// delimiters.
pub(crate) fn account_text(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("must not be empty".into());
    }
    let bad = text
        .chars()
        .enumerate()
        .find(|(_, ch)| !ch.is_ascii_graphic() || ACCOUNT_FORBIDDEN.contains(ch));
    if let Some((pos, ch)) = bad {
        return Err(format!(
            "{text:?}: character {} ({ch:?}) is not allowed; use printable ASCII without \
             spaces or any of [ ] | \" #",
            pos + 1
        ));
    }
    if text.len() > ACCOUNT_MAX_LEN {
        return Err(format!(
            "{text:?} has {} characters; the maximum is {ACCOUNT_MAX_LEN}",
            text.len()
        ));
    }
    Ok(())
}

fn check_duplicates(accounts: &[AccountConfig], p: &mut Vec<Problem>) {
    let mut seen: HashMap<String, usize> = HashMap::with_capacity(accounts.len());
    for (i, a) in accounts.iter().enumerate() {
        if a.account.is_empty() {
            continue;
        }
        if let Some(first) = seen.insert(a.account.to_ascii_lowercase(), i) {
            p.push(Problem::new(
                "accounts",
                format!(
                    "account {:?} is listed twice (accounts[{first}] and accounts[{i}]; \
                     accounts are matched ignoring case)",
                    a.account
                ),
            ));
        }
    }
}

fn supervision(p: &mut Vec<Problem>, field: &str, secs: u64) {
    if !(SUPERVISION_MIN_SECS..=SUPERVISION_MAX_SECS).contains(&secs) {
        p.push(Problem::new(
            field,
            format!(
                "{secs} is outside {SUPERVISION_MIN_SECS}..={SUPERVISION_MAX_SECS} \
                 (DC-09 allows 10 seconds to 1080 hours)"
            ),
        ));
    }
}

fn time_window(p: &mut Vec<Problem>, field: &str, secs: u32) {
    range(p, field, u64::from(secs), 0, DAY_SECS);
}

fn at_least<T: PartialOrd + Display>(p: &mut Vec<Problem>, field: &str, value: T, min: T) {
    if value < min {
        p.push(Problem::new(
            field,
            format!("must be at least {min}, not {value}"),
        ));
    }
}

fn range<T: PartialOrd + Display>(p: &mut Vec<Problem>, field: &str, value: T, min: T, max: T) {
    if value < min {
        p.push(Problem::new(
            field,
            format!("{value} is below the minimum {min}"),
        ));
    } else if value > max {
        p.push(Problem::new(
            field,
            format!("{value} is above the maximum {max}"),
        ));
    }
}
