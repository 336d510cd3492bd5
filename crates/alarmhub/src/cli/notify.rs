//! `alarmhub notify test CHANNEL`: send a test message through one configured channel and
//! print how the service answered — the way to check a robot URL, a signing secret or an
//! SMTP login before an alarm depends on it. No daemon is needed; the message goes straight
//! from this process (nothing is queued, nothing is retried).
//!
//! Exit status: 0 delivered (to every recipient), 1 the service refused or could not be
//! reached (the reason is printed), 2 bad arguments, no or bad configuration, unknown channel.
//!
//! `alarmhub notify log` (in `notify_log.rs`) lists the durable outbox.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Subcommand};

use crate::config::Config;
use crate::notify::send::Outgoing;
use crate::notify::{
    ChannelConfig, ChannelKind, Notification, NotificationId, Outcome, Sender, What,
};

/// `alarmhub notify …`.
#[derive(Subcommand, Debug, Clone)]
pub enum NotifyCmd {
    /// Send a test message through a configured channel and print the outcome.
    Test(TestArgs),
    /// List recent deliveries of the outbox with their status (daemon running or not).
    Log(super::notify_log::LogArgs),
    /// Re-enable a channel its endpoint disabled (webhook HTTP 410); audited.
    Enable(super::notify_log::EnableArgs),
}

/// Arguments of `alarmhub notify test`.
#[derive(Args, Debug, Clone)]
pub struct TestArgs {
    /// The channel's `name` in `[[notify.channels]]`.
    pub channel: String,
    /// TOML configuration file.
    #[arg(long, env = "ALARMHUB_CONFIG")]
    pub config: Option<PathBuf>,
    /// Only this recipient (a WeChat openid); default: every configured one.
    #[arg(long)]
    pub to: Option<String>,
}

/// Run a notify command (builds its own runtime). `json`: one JSON object per line.
pub fn main(cmd: NotifyCmd, json: bool) -> ExitCode {
    let args = match cmd {
        NotifyCmd::Test(args) => args,
        NotifyCmd::Log(args) => return super::notify_log::run(&args, json),
        NotifyCmd::Enable(args) => return super::notify_log::enable(&args),
    };
    let channel = match load_channel(&args) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("alarmhub notify test: {message}");
            return ExitCode::from(2);
        }
    };
    if !channel.enabled {
        eprintln!(
            "alarmhub notify test: note: channel {:?} has enabled = false; testing it anyway",
            channel.name
        );
    }
    let sender = match Sender::new(&channel) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("alarmhub notify test: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("alarmhub notify test: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let recipients = recipients(&channel, args.to.as_deref());
    let all_delivered = rt.block_on(async {
        let mut ok = true;
        for r in recipients {
            ok &= send_one(&sender, &channel.name, r, json).await;
        }
        ok
    });
    if all_delivered {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn load_channel(args: &TestArgs) -> Result<ChannelConfig, String> {
    let path = args
        .config
        .as_ref()
        .ok_or("no configuration: give --config FILE (or set ALARMHUB_CONFIG)")?;
    let config = Config::load(path).map_err(|e| e.to_string())?;
    if let Some(c) = config.notify.channel(&args.channel) {
        return Ok(c.clone());
    }
    let names: Vec<&str> = config
        .notify
        .channels
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    Err(if names.is_empty() {
        format!(
            "no channel is named {:?}: {} has no [[notify.channels]]",
            args.channel,
            path.display()
        )
    } else {
        format!(
            "no channel is named {:?}; channels: {}",
            args.channel,
            names.join(", ")
        )
    })
}

fn recipients(channel: &ChannelConfig, only: Option<&str>) -> Vec<Option<String>> {
    match (channel.kind, only) {
        (_, Some(to)) => vec![Some(to.to_string())],
        (ChannelKind::Wechat, None) => channel.openids.iter().cloned().map(Some).collect(),
        _ => vec![None],
    }
}

fn test_notification(now_ms: i64) -> Notification {
    // The id is unique per run: receivers that drop duplicates must not drop a re-test.
    let id = NotificationId::new(format!("ntf_test_{now_ms}"))
        .unwrap_or_else(|_| NotificationId::for_event(0, What::Test));
    let mut n = Notification::for_event(id, What::Test, "0000", 1601, None, now_ms);
    n.panel_name = "alarmhub".into();
    n.detail = "notify test".into();
    n
}

async fn send_one(sender: &Sender, channel: &str, recipient: Option<String>, json: bool) -> bool {
    let now_ms = crate::notify::Clock::System.now_ms();
    let out = Outgoing::single(test_notification(now_ms), recipient.clone(), now_ms);
    let started = Instant::now();
    let outcome = sender.send(&out).await;
    let millis = started.elapsed().as_millis();
    let who = match &recipient {
        Some(r) => format!("{channel} → {r}"),
        None => channel.to_string(),
    };
    if json {
        println!(
            "{}",
            serde_json::json!({
                "channel": channel,
                "recipient": recipient,
                "id": out.id,
                "outcome": outcome.as_str(),
                "reason": outcome.reason(),
                "millis": millis,
            })
        );
    } else if outcome == Outcome::Delivered {
        println!("{who}: delivered in {millis} ms (id {})", out.id);
    } else {
        eprintln!(
            "{who}: not delivered ({}): {}",
            outcome.as_str(),
            outcome.reason().unwrap_or("")
        );
    }
    outcome == Outcome::Delivered
}
