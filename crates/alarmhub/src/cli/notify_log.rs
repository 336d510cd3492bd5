//! `alarmhub notify log [--channel C] [--json]`: the newest deliveries of the durable outbox
//! with their status (pending, retrying, delivered, dead_letter), attempts and last error,
//! read from the data directory, or from the cluster's PostgreSQL with `--store URL` (or
//! `[store] url` in `--config`) — whether the daemon runs or not (like `alarmhub token
//! list`; times in the local zone, `--utc` for UTC). Channels an endpoint has disabled (webhook HTTP 410) are named after the list.
//!
//! `alarmhub notify enable CHANNEL`: an operator re-enables a channel its endpoint disabled;
//! its waiting deliveries go out at the next round of a running daemon. Audited as
//! `cli:<os user>`, like the token commands.
//!
//! Exit status: 0 listed (possibly nothing) / enabled, 1 the channel was not disabled, 2 bad
//! arguments or an unusable data directory (missing, unreadable, not a database).

use std::process::ExitCode;

use clap::Args;

use super::admin::{store_config, DataDirArgs};
use crate::notify::outbox::{DeliveryRecord, Outbox, Status};
use crate::store::outbox::SqliteOutbox;
use crate::store::postgres::PgOutbox;

/// Most rows one call lists.
const MAX_LIMIT: usize = 10_000;

/// Arguments of `alarmhub notify log`.
#[derive(Args, Debug, Clone)]
pub struct LogArgs {
    /// Only deliveries through this channel.
    #[arg(long)]
    pub channel: Option<String>,
    /// At most this many deliveries (newest first), up to 10000.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    #[command(flatten)]
    pub utc: super::opts::UtcArg,
    #[command(flatten)]
    pub dir: DataDirArgs,
}

/// Arguments of `alarmhub notify enable`.
#[derive(Args, Debug, Clone)]
pub struct EnableArgs {
    /// The channel's `name` in `[[notify.channels]]`.
    pub channel: String,
    #[command(flatten)]
    pub dir: DataDirArgs,
}

/// The outbox the arguments name: the cluster's on PostgreSQL with `--store` (or the
/// config's `[store] url`), else the data directory's SQLite file, opened without creating
/// anything.
async fn open_outbox(a: &DataDirArgs) -> Result<Box<dyn Outbox>, String> {
    let store = store_config(a)?;
    Ok(match &store.url {
        Some(url) => Box::new(PgOutbox::open(url).await.map_err(|e| e.to_string())?),
        None => Box::new(SqliteOutbox::open_read_only(&store.data_dir).map_err(|e| e.to_string())?),
    })
}

/// Run `alarmhub notify enable`.
pub fn enable(a: &EnableArgs) -> ExitCode {
    let r = (|| -> Result<bool, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the runtime: {e}"))?;
        let was = rt.block_on(async {
            let outbox = open_outbox(&a.dir).await?;
            outbox
                .enable_channel(&a.channel, crate::clock::now_ms())
                .await
                .map_err(|e| e.to_string())
        })?;
        if was {
            let mut audit = super::admin::open(&a.dir)?;
            super::admin::record(
                audit.as_mut(),
                "notify.enable",
                &a.channel,
                serde_json::json!({}),
            );
        }
        Ok(was)
    })();
    match r {
        Ok(true) => {
            println!(
                "channel {} enabled; waiting deliveries go out now",
                a.channel
            );
            ExitCode::SUCCESS
        }
        Ok(false) => {
            eprintln!(
                "alarmhub notify enable: channel {:?} is not disabled",
                a.channel
            );
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("alarmhub notify enable: {e}");
            ExitCode::from(2)
        }
    }
}

fn status_text(s: Status) -> &'static str {
    match s {
        Status::Pending => "pending",
        Status::Retrying => "retrying",
        Status::Delivered => "delivered",
        Status::DeadLetter => "dead_letter",
    }
}

fn line(r: &DeliveryRecord) -> String {
    let channel = match &r.recipient {
        Some(to) => format!("{} → {to}", r.channel),
        None => r.channel.clone(),
    };
    let when = r.delivered_ms.unwrap_or(r.queued_ms);
    format!(
        "{} {:<11} {:<24} {:<16} {:<16} attempts {:<2} {} {}",
        super::output::time_ms(when),
        status_text(r.status),
        channel,
        r.what.as_str(),
        r.account,
        r.attempts,
        r.notification_id,
        r.last_error.as_deref().unwrap_or("")
    )
    .trim_end()
    .to_string()
}

/// Run `alarmhub notify log`; `json`: one JSON object per line.
pub fn run(a: &LogArgs, json: bool) -> ExitCode {
    match list(a, json) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("alarmhub notify log: {e}");
            ExitCode::from(2)
        }
    }
}

fn list(a: &LogArgs, json: bool) -> Result<(), String> {
    if a.limit == 0 || a.limit > MAX_LIMIT {
        return Err(format!("--limit must be 1 to {MAX_LIMIT}"));
    }
    super::output::use_zone(a.utc.utc);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    rt.block_on(async {
        let outbox = open_outbox(&a.dir).await?;
        let rows = outbox
            .recent(a.channel.as_deref(), a.limit)
            .await
            .map_err(|e| e.to_string())?;
        for r in &rows {
            super::emit(&if json {
                serde_json::to_string(r).map_err(|e| e.to_string())?
            } else {
                line(r)
            });
        }
        let mut channels: Vec<&str> = rows.iter().map(|r| r.channel.as_str()).collect();
        channels.extend(a.channel.as_deref());
        channels.sort_unstable();
        channels.dedup();
        for c in channels {
            let state = outbox.channel_state(c).await.map_err(|e| e.to_string())?;
            if let Some(why) = state.disabled {
                eprintln!("channel {c}: disabled by its endpoint ({why}); nothing is sent until `alarmhub notify enable {c}`");
            }
        }
        if rows.is_empty() && !json {
            eprintln!("no deliveries recorded");
        }
        Ok(())
    })
}
