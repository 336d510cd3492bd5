//! The options of the client commands and where clap takes them: after the command
//! (`alarmhub machines --json`, global within a command's subcommands) or before it
//! (`alarmhub --grpc ADDR machines`, where the environment variables are read too). Only
//! commands that use an option list it in their `--help`: `serve`, `decode`, `config`,
//! `simulate` and `store` take none; `token`, `user`, `audit` and `notify` take `--json`, and
//! those of them that print times (`token list`, `user list`, `audit`, `notify log`) `--utc`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::auth::Sensitive;

/// Where the client commands look for the daemon when neither `--grpc` nor `ALARMHUB_GRPC`
/// says.
pub const DEFAULT_GRPC: &str = "127.0.0.1:50051";

/// The client options as given after a client command.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Client options")]
pub struct ClientArgs {
    /// gRPC address of the daemon [env: ALARMHUB_GRPC] [default: 127.0.0.1:50051].
    #[arg(long, global = true, value_name = "ADDR")]
    pub grpc: Option<String>,
    /// Print JSON (one object per line) instead of human text.
    #[arg(long, global = true)]
    pub json: bool,
    /// API token, sent as `authorization: Bearer …` (needed when access control is on)
    /// [env: ALARMHUB_TOKEN].
    #[arg(long, global = true, value_name = "TOKEN")]
    pub token: Option<Sensitive>,
    /// CA certificate (PEM) to verify the daemon's TLS certificate; turns TLS on
    /// [env: ALARMHUB_CA].
    #[arg(long, global = true, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Print times in UTC instead of the local time zone (`TZ`, else /etc/localtime).
    #[arg(long, global = true)]
    pub utc: bool,
}

/// The same options before the command (`alarmhub --ca ca.pem --grpc HOST:PORT disarm …`),
/// and the environment variables. An option after the command wins over these.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Client options (before a client command; also accepted after it)")]
pub struct LeadingClientArgs {
    /// gRPC address of the daemon [default: 127.0.0.1:50051].
    #[arg(long, env = "ALARMHUB_GRPC", value_name = "ADDR")]
    pub grpc: Option<String>,
    /// Print JSON (one object per line) instead of human text.
    #[arg(long)]
    pub json: bool,
    /// API token, sent as `authorization: Bearer …`.
    #[arg(
        long,
        env = "ALARMHUB_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<Sensitive>,
    /// CA certificate (PEM) to verify the daemon's TLS certificate; turns TLS on.
    #[arg(long, env = "ALARMHUB_CA", value_name = "FILE")]
    pub ca: Option<PathBuf>,
}

impl LeadingClientArgs {
    /// The options a command's own ones override.
    pub fn with(&self, own: &ClientArgs) -> ClientOpts {
        ClientOpts {
            grpc: own
                .grpc
                .clone()
                .or_else(|| self.grpc.clone())
                .unwrap_or_else(|| DEFAULT_GRPC.to_string()),
            json: own.json || self.json,
            token: own.token.clone().or_else(|| self.token.clone()),
            ca: own.ca.clone().or_else(|| self.ca.clone()),
            utc: own.utc,
        }
    }
}

/// The options a client command runs with.
#[derive(Debug, Clone)]
pub struct ClientOpts {
    /// gRPC address of the daemon.
    pub grpc: String,
    /// Print JSON (one object per line) instead of human text.
    pub json: bool,
    /// API token, sent as `authorization: Bearer …`.
    pub token: Option<Sensitive>,
    /// CA certificate (PEM) to verify the daemon's TLS certificate; turns TLS on.
    pub ca: Option<PathBuf>,
    /// Print times in UTC instead of the local time zone.
    pub utc: bool,
}

/// A client command with subcommands (`account`, `alarm`) and the client options.
#[derive(Args, Debug, Clone)]
pub struct WithClient<T: Subcommand> {
    /// The subcommand.
    #[command(subcommand)]
    pub cmd: T,
    /// The client options.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `--json` of the commands that work on the data directory or a configuration file.
#[derive(Args, Debug, Clone, Default)]
pub struct JsonArg {
    /// Print JSON (one object per line) instead of human text.
    #[arg(long, global = true)]
    pub json: bool,
}

/// `--utc` of the commands that work on the data directory and print times (`token list`,
/// `user list`, `audit`, `notify log`); the client commands have it in [`ClientArgs`].
#[derive(Args, Debug, Clone, Copy, Default)]
pub struct UtcArg {
    /// Print times in UTC instead of the local time zone (`TZ`, else /etc/localtime).
    #[arg(long)]
    pub utc: bool,
}

/// A command with subcommands (`token`, `user`, `notify`) and `--json`.
#[derive(Args, Debug, Clone)]
pub struct WithJson<T: Subcommand> {
    /// The subcommand.
    #[command(subcommand)]
    pub cmd: T,
    /// `--json`.
    #[command(flatten)]
    pub json: JsonArg,
}
