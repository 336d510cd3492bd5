//! The `alarmhub` binary: command-line parsing and dispatch. Everything it runs lives in
//! the library.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use alarmhub::cli::opts::{JsonArg, WithJson};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

/// mimalloc instead of glibc's allocator: the ACK path allocates and frees many small,
/// short-lived buffers across threads (frames, events, replies), where glibc spent about a
/// sixth of the daemon's CPU in `malloc`/`free` and consolidation (perf, saturated run).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("ALARMHUB_GIT_REV"),
    ")"
);

/// alarmhub — alarm receiving centre for Hengbo and SIA DC-09 panels.
#[derive(Parser, Debug)]
#[command(name = "alarmhub", version = VERSION, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
    #[command(flatten)]
    client: alarmhub::cli::LeadingClientArgs,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the receiver: panels over TCP+UDP, HTTP health/readiness/metrics.
    Serve(ServeArgs),
    /// Decode captured frames and print one JSON object per frame.
    Decode(DecodeArgs),
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Simulate panels against a receiver (load tests, deployment checks).
    Simulate(alarmhub::sim::SimArgs),
    /// Notifications: send a test message through a channel, list recent deliveries.
    Notify(WithJson<alarmhub::cli::notify::NotifyCmd>),
    /// API tokens for programs: create (printed once), list, revoke. Works on the data
    /// directory, daemon running or not.
    Token(WithJson<alarmhub::cli::admin::TokenCmd>),
    /// Users for people (the operator console): add, passwd, list, remove.
    User(WithJson<alarmhub::cli::admin::UserCmd>),
    /// The audit trail: control commands, credential changes, logins, refused calls.
    Audit(AuditCmdArgs),
    /// Database upkeep: vacuum, backup FILE (online). Works on the data directory.
    #[command(subcommand)]
    Store(alarmhub::cli::store::StoreCmd),
    #[command(flatten)]
    Client(alarmhub::cli::ClientCmd),
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// TOML configuration file (unknown keys are errors).
    #[arg(long, env = "ALARMHUB_CONFIG")]
    config: Option<PathBuf>,
    /// Panel listener, TCP and UDP [default: 0.0.0.0:12345].
    #[arg(long, env = "ALARMHUB_PANEL_LISTEN")]
    panel_listen: Option<std::net::SocketAddr>,
    /// gRPC listener [default: 127.0.0.1:50051].
    #[arg(long, env = "ALARMHUB_GRPC_LISTEN")]
    grpc_listen: Option<std::net::SocketAddr>,
    /// HTTP listener for /healthz, /readyz, /metrics [default: 127.0.0.1:8080].
    #[arg(long, env = "ALARMHUB_HTTP_LISTEN")]
    http_listen: Option<std::net::SocketAddr>,
    /// Data directory (SQLite database) [default: ./alarmhub-data].
    #[arg(long, env = "ALARMHUB_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Shared PostgreSQL store for several nodes, postgres://USER@HOST/DB ([store] url);
    /// SQLite in the data directory when absent.
    #[arg(long, env = "ALARMHUB_STORE", hide_env_values = true)]
    store: Option<String>,
    /// Log format: text (default) or json.
    #[arg(long, env = "ALARMHUB_LOG_FORMAT")]
    log_format: Option<LogFormatArg>,
    /// TLS certificate chain (PEM) for the gRPC and HTTP listeners ([tls] cert).
    #[arg(long, env = "ALARMHUB_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) ([tls] key).
    #[arg(long, env = "ALARMHUB_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve a non-loopback API listener without TLS ([auth] insecure); warned about hourly.
    #[arg(long)]
    insecure: bool,
}

/// `alarmhub audit` with `--json`.
#[derive(Args, Debug)]
struct AuditCmdArgs {
    #[command(flatten)]
    audit: alarmhub::cli::admin::AuditArgs,
    #[command(flatten)]
    json: JsonArg,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormatArg {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum KeyFormatArg {
    Hex,
    Ascii,
}

#[derive(Args, Debug)]
struct DecodeArgs {
    /// The frame as text (escapes: <LF> <CR> <XX> \n \r \xXX), or `-` to read raw bytes
    /// from standard input and decode every frame in them.
    frame: String,
    /// DC-09 AES key for encrypted frames.
    #[arg(long)]
    key: Option<String>,
    /// How the key text is read: hex digits or the ASCII bytes themselves.
    #[arg(long, value_enum, default_value = "hex")]
    key_format: KeyFormatArg,
    /// Largest frame accepted, in bytes.
    #[arg(long, default_value_t = 4096)]
    max_frame_len: usize,
}

#[derive(Subcommand, Debug)]
enum ConfigCmd {
    /// Print a commented configuration file with every default.
    Example,
    /// Check a configuration file and report the first problem.
    Check {
        /// The file to check.
        file: PathBuf,
    },
}

/// The client options given before the command (on the command line, not from the
/// environment), for refusing them where they do nothing.
const LEADING: [&str; 4] = ["grpc", "json", "token", "ca"];

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let given = |id: &str| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
    let (takes, name) = match &cli.command {
        Cmd::Client(_) => (&LEADING[..], ""),
        Cmd::Notify(_) | Cmd::Token(_) | Cmd::User(_) | Cmd::Audit(_) => (&LEADING[1..2], ""),
        Cmd::Serve(_) => (&[][..], "serve"),
        Cmd::Decode(_) => (&[][..], "decode"),
        Cmd::Config(_) => (&[][..], "config"),
        Cmd::Simulate(_) => (&[][..], "simulate"),
        Cmd::Store(_) => (&[][..], "store"),
    };
    if let Some(id) = LEADING.iter().find(|id| given(id) && !takes.contains(id)) {
        let name = matches.subcommand_name().unwrap_or(name);
        eprintln!("alarmhub: --{id} is an option of the client commands; `alarmhub {name}` does not take it");
        return ExitCode::from(2);
    }
    let json = cli.client.json;
    match cli.command {
        Cmd::Client(c) => alarmhub::cli::main(&cli.client, c),
        Cmd::Serve(a) => serve(a),
        Cmd::Simulate(a) => alarmhub::sim::main(a),
        Cmd::Notify(c) => alarmhub::cli::notify::main(c.cmd, json || c.json.json),
        Cmd::Token(c) => alarmhub::cli::admin::token(c.cmd, json || c.json.json),
        Cmd::User(c) => alarmhub::cli::admin::user(c.cmd, json || c.json.json),
        Cmd::Audit(a) => alarmhub::cli::admin::audit(a.audit, json || a.json.json),
        Cmd::Store(c) => alarmhub::cli::store::main(c),
        Cmd::Decode(a) => decode(a),
        Cmd::Config(ConfigCmd::Example) => {
            print!("{}", alarmhub::config::Config::example());
            ExitCode::SUCCESS
        }
        Cmd::Config(ConfigCmd::Check { file }) => match alarmhub::config::Config::load(&file) {
            Ok(_) => {
                println!("{}: ok", file.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("alarmhub: {e}");
                ExitCode::from(2)
            }
        },
    }
}

fn decode(a: DecodeArgs) -> ExitCode {
    use alarmhub::decode::{decode_bytes, frame_arg_bytes, parse_key, DecodeOptions};
    let format = match a.key_format {
        KeyFormatArg::Hex => panel_proto::crypto::KeyFormat::Hex,
        KeyFormatArg::Ascii => panel_proto::crypto::KeyFormat::Ascii,
    };
    let key = match parse_key(a.key.as_deref(), format) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("alarmhub decode: {e}");
            return ExitCode::from(2);
        }
    };
    let input = if a.frame == "-" {
        let mut b = Vec::new();
        if let Err(e) = std::io::stdin().read_to_end(&mut b) {
            eprintln!("alarmhub decode: reading stdin: {e}");
            return ExitCode::from(2);
        }
        b
    } else {
        match frame_arg_bytes(&a.frame) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("alarmhub decode: {e}");
                return ExitCode::from(2);
            }
        }
    };
    let opts = DecodeOptions {
        key,
        max_frame_len: a.max_frame_len,
    };
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut out = stdout.lock();
    let mut err = stderr.lock();
    match decode_bytes(&input, &opts, &mut out, &mut err) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            let _ = writeln!(err, "alarmhub decode: {e}");
            ExitCode::from(2)
        }
    }
}

fn serve(a: ServeArgs) -> ExitCode {
    let mut config = match &a.config {
        Some(path) => match alarmhub::config::Config::load(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("alarmhub: {e}");
                return ExitCode::from(2);
            }
        },
        None => alarmhub::config::Config::default(),
    };
    if let Some(v) = a.panel_listen {
        config.panel.listen = v;
    }
    if let Some(v) = a.grpc_listen {
        config.grpc.listen = v;
    }
    if let Some(v) = a.http_listen {
        config.http.listen = v;
    }
    if let Some(v) = a.data_dir {
        config.store.data_dir = v;
    }
    if let Some(v) = a.store {
        config.store.url = Some(v);
    }
    if let (Some(cert), Some(key)) = (a.tls_cert, a.tls_key) {
        config.tls.cert = Some(cert);
        config.tls.key = Some(key);
    }
    if a.insecure {
        config.auth.insecure = true;
    }
    if let Some(f) = a.log_format {
        config.log.format = match f {
            LogFormatArg::Text => alarmhub::config::LogFormat::Text,
            LogFormatArg::Json => alarmhub::config::LogFormat::Json,
        };
    }
    if let Err(e) = config.validate() {
        eprintln!("alarmhub: {e}");
        return ExitCode::from(2);
    }
    let _log = alarmhub::logging::init(config.log.format, &config.log.filter);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("alarmhub: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let r = rt.block_on(alarmhub::daemon::serve(
        config,
        alarmhub::daemon::shutdown_signal(),
        |_, _| {},
    ));
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("alarmhub: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// clap's own consistency checks over every subcommand (they run lazily otherwise:
    /// a clash would only show when that subcommand is used).
    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
