//! `alarmhub simulate`: many virtual alarm panels in one process, for load tests and
//! end-to-end checks of a receiver.
//!
//! Each panel behaves like a real host (see `panel`): it connects, reports its status
//! (and, Hengbo, its type), sends heartbeats and a realistic mix of events, waits for the
//! ACK with the same seq and retransmits the same frame when none comes, answers commands
//! from the receiver, and reconnects with backoff. One small tokio task per panel; shared
//! atomic counters and a fixed log-linear latency histogram (`stats`).
//!
//! * `settings`: the checked command-line settings.
//! * `events`: the event mix and frame writing (HB, DC-09 Contact ID / SIA, encryption).
//! * `panel`: the transport-independent protocol state of one panel.
//! * `tcp` / `udp`: the transports.
//! * `limits`: open-file limit and ephemeral ports.
//! * `report`: progress line and summary.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use panel_proto::framing::{Decoder, DecoderConfig};
use tokio::task::JoinSet;
use tokio::time::{sleep_until, Instant, MissedTickBehavior};

mod command;
mod events;
mod limits;
mod panel;
mod report;
mod settings;
mod stats;
mod tcp;
mod udp;

#[cfg(test)]
mod panel_tests;

use panel::Ctx;
use stats::{inc, Stats};

/// What the virtual panels speak.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimDialect {
    /// Hengbo hosts: HENG-BO / ADM-CID with R123ABC L456DEF, heartbeats, answer commands.
    Hb,
    /// SIA DC-09 with Contact ID bodies (ADM-CID), `L0` and no `R`.
    #[value(name = "dc09-cid")]
    Dc09Cid,
    /// SIA DC-09 with SIA DC-03 bodies (SIA-DCS), `L0` and no `R`.
    #[value(name = "dc09-sia")]
    Dc09Sia,
}

/// How `--key` is read.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimKeyFormat {
    /// 32, 48 or 64 hex digits (AES-128/192/256), as in DC-09 Annex B.
    Hex,
    /// The 16, 24 or 32 characters themselves, as pysiaalarm and Home Assistant read keys.
    Ascii,
}

/// Simulate many alarm panels against a receiver and report throughput and ACK latency.
///
/// Accounts are PREFIX + 6 digits (SIM000001, SIM000002, …). Progress goes to stderr once
/// per second; the summary to stdout (one JSON object on the last line with --json).
/// Exit status: 0 success, 1 when errors occurred or nothing was ACKed, 2 bad arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct SimArgs {
    /// The receiver's panel address, HOST:PORT (e.g. 127.0.0.1:12345); several, comma
    /// separated (A,B,…), for a cluster: panels are spread over them and a panel whose
    /// connection fails moves on to the next, like a panel with a primary and a secondary
    /// receiver.
    #[arg(long)]
    pub target: String,
    /// Number of virtual panels (1 to 1000000).
    #[arg(long)]
    pub panels: u32,
    /// Protocol the panels speak.
    #[arg(long, value_enum, default_value = "hb")]
    pub dialect: SimDialect,
    /// DC-09 AES key: encrypt every frame and decrypt the *ACK (dc09 dialects only).
    #[arg(long)]
    pub key: Option<String>,
    /// How --key is read.
    #[arg(long, value_enum, default_value = "hex")]
    pub key_format: SimKeyFormat,
    /// Use UDP (one socket per panel) instead of TCP.
    #[arg(long)]
    pub udp: bool,
    /// Heartbeat (NULL) after this many seconds without sending anything; 0 = none.
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    pub heartbeat: f64,
    /// Events per second, all panels together (Poisson arrivals)
    /// [default: panels / 10, i.e. one event per panel every 10 s].
    #[arg(long, value_name = "EVENTS_PER_SEC")]
    pub rate: Option<f64>,
    /// Seconds to generate events; in-flight frames then get up to --ack-timeout more.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub duration: f64,
    /// Leave frames first sent in the first SECS (the connect burst) out of sent, acked,
    /// events/s and the latencies; errors are always counted.
    #[arg(long, default_value_t = 0.0, value_name = "SECS")]
    pub warmup: f64,
    /// Bind panel sockets to these source addresses in turn, FIRST-LAST (e.g.
    /// 127.0.0.2-127.0.0.40), so many connections fit in the ephemeral port range.
    #[arg(long, value_name = "FIRST-LAST")]
    pub source_ips: Option<String>,
    /// Print the summary as one JSON object on the last line of stdout.
    #[arg(long)]
    pub json: bool,
    /// Account prefix: accounts are PREFIX + 6 digits (at most 32 characters in all; use a
    /// hex prefix such as A for receivers that require hex accounts).
    #[arg(long, default_value = "SIM")]
    pub account_prefix: String,
    /// Seconds to wait for an ACK before sending the same frame (same seq) again.
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    pub ack_timeout: f64,
    /// Retransmissions of a frame before the panel drops the connection and reconnects
    /// (with backoff: 1 s doubling to 30 s).
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
    /// New connections per second while ramping up (100,000 panels take 50 s at 2000).
    #[arg(long, default_value_t = 2000.0, value_name = "PER_SEC")]
    pub connect_rate: f64,
    /// DC-09 receiver number to send as the `R` token (1 to 6 hex digits, e.g. 0); default:
    /// no `R` token. Some receivers (pysiaalarm) mis-echo frames without one.
    #[arg(long, value_name = "HEX")]
    pub receiver_number: Option<String>,
    /// Disarm password the virtual Hengbo hosts accept; a different one is answered with
    /// 1701 (wrong password). Default: any 6..8 digits.
    #[arg(long)]
    pub password: Option<String>,
}

/// Run the simulator; builds its own multi-thread tokio runtime. Exit status 0 on success,
/// 1 when errors occurred or nothing was ACKed, 2 on bad arguments.
pub fn main(args: SimArgs) -> ExitCode {
    let s = match settings::validate(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("alarmhub simulate: {e}");
            return ExitCode::from(2);
        }
    };
    let (nofile, warnings) = limits::prepare(s.panels, s.source_ips.len(), s.udp);
    for w in warnings {
        eprintln!("alarmhub simulate: warning: {w}");
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("alarmhub simulate: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let json = s.json;
    let summary = rt.block_on(run(s, nofile));
    // Panels still busy past the hard deadline are abandoned, not awaited.
    rt.shutdown_timeout(Duration::from_millis(200));
    if json {
        println!("{}", summary.value);
    } else {
        println!("{}", summary.human());
    }
    if summary.errors > 0 || summary.acked_total == 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

async fn run(s: settings::Settings, nofile: Option<u64>) -> report::Summary {
    let start = Instant::now();
    let (panels, connect_rate, udp) = (s.panels, s.connect_rate, s.udp);
    let ctx = Arc::new(Ctx {
        end: start + s.duration,
        warm_end: start + s.warmup,
        stats: Stats::new(),
        decoder: Decoder::new(DecoderConfig {
            max_frame_len: tcp::RX,
            ..DecoderConfig::default()
        }),
        s,
    });
    // The process always ends: drain, plus slack for connects started just before the end.
    let hard_deadline = ctx.drain_deadline() + Duration::from_secs(2);
    let offset = |i: u32| Duration::from_secs_f64(f64::from(i) / connect_rate);
    let mut set = JoinSet::new();
    let mut spawned = 0u32;
    let mut tick = tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut interrupted = None;
    let mut last = (0, 0);
    loop {
        let next_spawn = start + offset(spawned);
        let spawning = spawned < panels && next_spawn < ctx.end;
        if !spawning && set.is_empty() {
            break;
        }
        tokio::select! {
            _ = sleep_until(next_spawn), if spawning => {
                let now = Instant::now();
                while spawned < panels && start + offset(spawned) <= now {
                    let ctx = Arc::clone(&ctx);
                    let index = spawned;
                    inc(&ctx.stats.c.panels_started);
                    if udp {
                        set.spawn(udp::run(ctx, index));
                    } else {
                        set.spawn(tcp::run(ctx, index));
                    }
                    spawned += 1;
                }
            }
            Some(_) = set.join_next(), if !set.is_empty() => {}
            _ = tick.tick() => {
                let secs = start.elapsed().as_secs_f64().round();
                eprintln!("{}", report::progress(&ctx, secs, &mut last));
            }
            _ = &mut ctrl_c => {
                interrupted = Some(Instant::now());
                break;
            }
            _ = sleep_until(hard_deadline) => break,
        }
    }
    set.abort_all();
    let end = interrupted.unwrap_or(ctx.end).min(ctx.end);
    report::summarize(
        &ctx,
        end.saturating_duration_since(ctx.warm_end.min(end)),
        start.elapsed(),
        nofile,
        interrupted.is_some(),
    )
}
