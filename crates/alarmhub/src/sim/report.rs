//! What the simulator prints: a progress line on stderr once per second while it runs, and
//! at the end a summary, for people or (with `--json`) as one JSON object on the last line
//! of stdout.

use std::time::Duration;

use serde_json::{json, Value};

use super::panel::Ctx;
use super::stats::get;

/// The final numbers of a run.
pub(crate) struct Summary {
    pub value: Value,
    /// Everything that went wrong, added up (the `errors` key).
    pub errors: u64,
    /// Events and heartbeats ACKed.
    pub acked_total: u64,
}

/// The progress line for second `secs` (counts since the previous line in `last`).
pub(crate) fn progress(ctx: &Ctx, secs: f64, last: &mut (u64, u64)) -> String {
    let c = &ctx.stats.c;
    let (sent, acked) = (get(&c.sent), get(&c.acked));
    let (p, _) = ctx.stats.events.percentiles_ms(&[0.99]);
    let line = format!(
        "simulate {secs:>5.0}s  panels {}/{} up  sent {sent} (+{})  acked {acked} (+{})  \
         retx {}  p99 {:.2} ms  hb {}/{}  backlog {}  errors {}",
        get(&c.connected),
        ctx.s.panels,
        sent - last.0,
        acked - last.1,
        get(&c.retransmits),
        p[0],
        get(&c.heartbeats_acked),
        get(&c.heartbeats_sent),
        get(&c.backlog),
        error_count(ctx),
    );
    *last = (sent, acked);
    line
}

fn error_count(ctx: &Ctx) -> u64 {
    let c = &ctx.stats.c;
    get(&c.connect_errors) + get(&c.disconnects) + get(&c.ack_timeouts) + get(&c.protocol_errors)
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Collect the summary. `active` is how long counted events were generated (the duration
/// after the warm-up, or less when interrupted); `elapsed` includes the final drain.
pub(crate) fn summarize(
    ctx: &Ctx,
    active: Duration,
    elapsed: Duration,
    nofile: Option<u64>,
    interrupted: bool,
) -> Summary {
    let c = &ctx.stats.c;
    let s = &ctx.s;
    let (p, max) = ctx.stats.events.percentiles_ms(&[0.5, 0.99, 0.999]);
    let (hp, hmax) = ctx.stats.heartbeats.percentiles_ms(&[0.5, 0.99]);
    let unacked = get(&c.inflight);
    let errors = error_count(ctx) + unacked;
    let acked = get(&c.acked);
    let secs = active.as_secs_f64().max(1e-3);
    let value = json!({
        "sent": get(&c.sent),
        "acked": acked,
        "retransmits": get(&c.retransmits),
        "events_per_sec": round3(acked as f64 / secs),
        "ack_p50_ms": round3(p[0]),
        "ack_p99_ms": round3(p[1]),
        "ack_p999_ms": round3(p[2]),
        "ack_max_ms": round3(max),
        "errors": errors,
        "connect_errors": get(&c.connect_errors),
        "disconnects": get(&c.disconnects),
        "ack_timeouts": get(&c.ack_timeouts),
        "protocol_errors": get(&c.protocol_errors),
        "unacked": unacked,
        "heartbeats_sent": get(&c.heartbeats_sent),
        "heartbeats_acked": get(&c.heartbeats_acked),
        "heartbeat_p50_ms": round3(hp[0]),
        "heartbeat_p99_ms": round3(hp[1]),
        "heartbeat_max_ms": round3(hmax),
        "commands": get(&c.commands),
        "naks": get(&c.naks),
        "stale_acks": get(&c.stale_acks),
        "backlog": get(&c.backlog),
        "overflow": get(&c.overflow),
        "panels": s.panels,
        "panels_started": get(&c.panels_started),
        "connections": get(&c.connections),
        "connected_max": get(&c.connected_max),
        "dialect": s.dialect.as_str(),
        "encrypted": s.key.is_some(),
        "transport": if s.udp { "udp" } else { "tcp" },
        "target": s.targets.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(","),
        "offered_rate": round3(s.rate),
        "duration_s": round3(active.as_secs_f64()),
        "warmup_s": round3(s.warmup.as_secs_f64()),
        "elapsed_s": round3(elapsed.as_secs_f64()),
        "nofile_limit": nofile,
        "interrupted": interrupted,
        "error_samples": ctx.stats.samples(),
    });
    Summary {
        value,
        errors,
        acked_total: acked + get(&c.heartbeats_acked),
    }
}

impl Summary {
    /// The summary for people (several lines, no trailing newline).
    pub(crate) fn human(&self) -> String {
        let v = &self.value;
        let n = |k: &str| v[k].as_u64().unwrap_or(0);
        let f = |k: &str| v[k].as_f64().unwrap_or(0.0);
        let mut out = format!(
            "alarmhub simulate: {} panels ({}, {}{}) -> {} for {:.1} s{}{}\n\
             events:      sent {}  acked {}  retransmits {}  unacked {}  {:.1} events/s \
             (offered {:.1}/s, backlog {}, overflow {})\n\
             ACK latency: p50 {:.3} ms  p99 {:.3} ms  p99.9 {:.3} ms  max {:.3} ms\n\
             heartbeats:  sent {}  acked {}  p99 {:.3} ms\n\
             connections: {} opened  {} max at once  {} connect errors  {} lost\n\
             errors:      {} total ({} protocol, {} ACK timeouts, {} NAKs seen, {} commands \
             answered)",
            n("panels"),
            v["dialect"].as_str().unwrap_or(""),
            v["transport"].as_str().unwrap_or(""),
            if v["encrypted"] == true {
                ", encrypted"
            } else {
                ""
            },
            v["target"].as_str().unwrap_or(""),
            f("duration_s"),
            if f("warmup_s") > 0.0 {
                format!(" after a {:.1} s warm-up", f("warmup_s"))
            } else {
                String::new()
            },
            if v["interrupted"] == true {
                " (interrupted)"
            } else {
                ""
            },
            n("sent"),
            n("acked"),
            n("retransmits"),
            n("unacked"),
            f("events_per_sec"),
            f("offered_rate"),
            n("backlog"),
            n("overflow"),
            f("ack_p50_ms"),
            f("ack_p99_ms"),
            f("ack_p999_ms"),
            f("ack_max_ms"),
            n("heartbeats_sent"),
            n("heartbeats_acked"),
            f("heartbeat_p99_ms"),
            n("connections"),
            n("connected_max"),
            n("connect_errors"),
            n("disconnects"),
            n("errors"),
            n("protocol_errors"),
            n("ack_timeouts"),
            n("naks"),
            n("commands"),
        );
        if let Some(samples) = v["error_samples"].as_array().filter(|a| !a.is_empty()) {
            out.push_str("\nfirst errors:");
            for s in samples {
                out.push_str("\n  ");
                out.push_str(s.as_str().unwrap_or(""));
            }
        }
        out
    }
}
