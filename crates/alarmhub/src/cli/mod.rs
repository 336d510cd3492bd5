//! The client commands of the `alarmhub` binary (`machines`, `sync`, `watch`, `events`,
//! `arm`, `arm-stay`, `disarm`, `emergency`, `alarms`, `alarm …` ([`alarms`]), `account`): talk
//! to a running daemon over gRPC, print
//! human lines by default or JSON with `--json`.
//!
//! Exit status: 0 success (for control: the host reported the new status), 1 the command ran
//! but did not succeed (wrong password, not done, timed out, panel offline, not supported,
//! bad request), 2 usage errors, an
//! unreachable daemon, and a refused call ("unauthenticated": no or bad token; "permission
//! denied": the token's role may not do this).
//!
//! Every command sends `--token` (or `ALARMHUB_TOKEN`) as `authorization: Bearer …`, and
//! speaks TLS when `--ca FILE` is given or the address starts with `https://`. The
//! `token`, `user` and `audit` commands ([`admin`]) work on the data directory instead.

pub mod account;
pub mod admin;
pub mod alarms;
mod events;
pub mod notify;
mod notify_log;
pub mod opts;
mod output;
pub mod store;
pub mod zone;

use std::process::ExitCode;

use clap::{Args, Subcommand};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

pub use opts::{ClientArgs, ClientOpts, LeadingClientArgs};

use crate::proto::alarm_server::alarm_server_client::AlarmServerClient;
use crate::proto::alarm_server::{GetMachineRequest, IsNeedSyncRequest};
use crate::proto::v1 as pb;
use crate::proto::v1::alarm_hub_client::AlarmHubClient;

/// Adds the token to every call.
#[derive(Clone)]
pub struct TokenInterceptor(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for TokenInterceptor {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

/// The channel every client command uses.
pub type Ch = InterceptedService<Channel, TokenInterceptor>;

/// Client commands.
#[derive(Subcommand, Debug, Clone)]
pub enum ClientCmd {
    /// List panels with their state.
    Machines {
        /// Only online (true) or offline (false) panels.
        #[arg(long)]
        online: Option<bool>,
        /// Only accounts starting with this text.
        #[arg(long, default_value = "")]
        prefix: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// The panels the compat API's Sync would return (changed since the deployed client's
    /// last Sync), without marking them synced; or one panel with --account.
    Sync {
        /// One panel (does not mark anything synced).
        #[arg(long)]
        account: Option<String>,
        /// Consume the changes like the compat client does: they are marked synced and the
        /// deployed client will NOT see them (its alarms are lost to it). Diagnostics only.
        #[arg(long, conflicts_with = "account")]
        consume: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Stream events as they are stored: replay from --from, then live.
    Watch(events::WatchArgs),
    /// Stored events, newest first: of one panel or of all, filtered by time, code and zone.
    #[command(after_help = events::TIME_HELP)]
    Events(events::EventsArgs),
    /// Arm a Hengbo host (away).
    Arm(ControlArgs),
    /// Arm a Hengbo host in stay (half-arm) mode.
    ArmStay(ControlArgs),
    /// Disarm a Hengbo host (needs the host password, or one in the configuration).
    Disarm(ControlArgs),
    /// Trigger an emergency on a Hengbo host.
    Emergency(ControlArgs),
    /// Panel accounts on the running daemon: add, set, remove, list, show (live on the
    /// panel's next frame; secrets never printed).
    Account(opts::WithClient<account::AccountCmd>),
    /// The alarm queue: open alarms by priority then age (or --state new|taken|closed|all).
    Alarms {
        /// Which alarms: open (new and taken), new, taken, closed, or all.
        #[arg(long, default_value = "open", value_parser = ["open", "new", "taken", "closed", "all"])]
        state: String,
        /// Only this account.
        #[arg(long)]
        account: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Handle one alarm: take, release, note, close, show, watch.
    Alarm(opts::WithClient<alarms::AlarmCmd>),
}

/// Arguments of the control commands.
#[derive(Args, Debug, Clone)]
pub struct ControlArgs {
    /// Panel account.
    pub account: String,
    /// Section of a three-section host (1..3); 0 = whole host.
    #[arg(long, default_value_t = 0)]
    pub section: i32,
    /// Host user password (6 to 8 digits) for disarm.
    #[arg(long)]
    pub password: Option<String>,
    #[command(flatten)]
    pub client: ClientArgs,
}

impl ClientCmd {
    /// The client options given after the command.
    pub fn client_args(&self) -> &ClientArgs {
        match self {
            ClientCmd::Machines { client, .. }
            | ClientCmd::Sync { client, .. }
            | ClientCmd::Alarms { client, .. } => client,
            ClientCmd::Watch(a) => &a.client,
            ClientCmd::Events(a) => &a.client,
            ClientCmd::Arm(a)
            | ClientCmd::ArmStay(a)
            | ClientCmd::Disarm(a)
            | ClientCmd::Emergency(a) => &a.client,
            ClientCmd::Account(a) => &a.client,
            ClientCmd::Alarm(a) => &a.client,
        }
    }
}

/// Print one line; a closed stdout (`alarmhub watch | head`) ends the command quietly
/// instead of panicking.
fn emit(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("alarmhub: writing output: {e}");
        std::process::exit(2);
    }
}

/// Run a client command (builds its own runtime) with the options given before it.
pub fn main(leading: &LeadingClientArgs, cmd: ClientCmd) -> ExitCode {
    let opts = leading.with(cmd.client_args());
    output::use_zone(opts.utc);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("alarmhub: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(&opts, cmd)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("alarmhub: {e}");
            ExitCode::from(2)
        }
    }
}

/// Connect to the daemon: TLS with `--ca` (or an `https://` address), the token on every
/// call.
pub async fn connect(opts: &ClientOpts) -> Result<Ch, String> {
    let addr = opts.grpc.as_str();
    let tls = opts.ca.is_some() || addr.starts_with("https://");
    let url = if addr.starts_with("http://") || addr.starts_with("https://") {
        addr.to_string()
    } else if tls {
        format!("https://{addr}")
    } else {
        format!("http://{addr}")
    };
    let mut ep = Endpoint::from_shared(url).map_err(|e| format!("--grpc {addr:?}: {e}"))?;
    if tls {
        let Some(ca) = &opts.ca else {
            return Err(format!(
                "--grpc {addr:?} is https: give the CA certificate with --ca FILE"
            ));
        };
        let pem = std::fs::read(ca).map_err(|e| format!("--ca {}: {e}", ca.display()))?;
        ep = ep
            .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)))
            .map_err(|e| format!("--ca {}: {e}", ca.display()))?;
    }
    let ch = ep
        .connect_timeout(std::time::Duration::from_secs(3))
        .connect()
        .await
        .map_err(|e| {
            let detail = std::error::Error::source(&e).map_or_else(String::new, |s| format!(" ({s})"));
            format!(
                "cannot reach alarmhub at {addr}: {e}{detail} — is `alarmhub serve` running (see --grpc)?"
            )
        })?;
    let header =
        match &opts.token {
            Some(t) => Some(format!("Bearer {}", t.expose()).parse().map_err(|_| {
                "--token: not a valid header value (printable ASCII only)".to_string()
            })?),
            None => None,
        };
    Ok(InterceptedService::new(ch, TokenInterceptor(header)))
}

/// A failed call as the message the user sees. A refused call says which refusal it is,
/// and how to fix it.
fn status_err(what: &str, s: tonic::Status) -> String {
    match s.code() {
        tonic::Code::Unauthenticated => format!(
            "{what}: unauthenticated: {} — pass a token with --token or ALARMHUB_TOKEN",
            s.message()
        ),
        tonic::Code::PermissionDenied => format!("{what}: permission denied: {}", s.message()),
        tonic::Code::ResourceExhausted => format!("{what}: refused: {}", s.message()),
        _ => format!("{what}: {} ({:?})", s.message(), s.code()),
    }
}

async fn run(opts: &ClientOpts, cmd: ClientCmd) -> Result<ExitCode, String> {
    let ch = connect(opts).await?;
    match cmd {
        ClientCmd::Machines { online, prefix, .. } => machines(opts, ch, online, prefix).await,
        ClientCmd::Sync {
            account, consume, ..
        } => sync(opts, ch, account, consume).await,
        ClientCmd::Watch(a) => events::watch(opts, ch, a).await,
        ClientCmd::Events(a) => events::list(opts, ch, a).await,
        ClientCmd::Arm(a) => control(opts, ch, "arm_away", a).await,
        ClientCmd::ArmStay(a) => control(opts, ch, "arm_stay", a).await,
        ClientCmd::Disarm(a) => control(opts, ch, "disarm", a).await,
        ClientCmd::Emergency(a) => control(opts, ch, "emergency", a).await,
        ClientCmd::Account(c) => account::run(opts, ch, c.cmd).await,
        ClientCmd::Alarms { state, account, .. } => alarms::list(opts, ch, state, account).await,
        ClientCmd::Alarm(c) => alarms::run(opts, ch, c.cmd).await,
    }
}

async fn machines(
    opts: &ClientOpts,
    ch: Ch,
    online: Option<bool>,
    prefix: String,
) -> Result<ExitCode, String> {
    let mut c = AlarmHubClient::new(ch);
    let mut token = String::new();
    if !opts.json {
        emit(&output::machines_header());
    }
    loop {
        let r = c
            .list_machines(pb::ListMachinesRequest {
                online,
                account_prefix: prefix.clone(),
                page_size: 1000,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .map_err(|s| status_err("ListMachines", s))?
            .into_inner();
        for m in &r.machines {
            emit(&output::machine(m, opts.json));
        }
        if r.next_page_token.is_empty() {
            return Ok(ExitCode::SUCCESS);
        }
        token = r.next_page_token;
    }
}

/// `sync`: a peek by default (v1 `ListMachines` with `changed_since_sync`, then the compat
/// `Sync` of each of those accounts, which marks nothing); the full compat `Sync` only with
/// `--consume`.
async fn sync(
    opts: &ClientOpts,
    ch: Ch,
    account: Option<String>,
    consume: bool,
) -> Result<ExitCode, String> {
    if account.is_none() && !consume {
        return sync_peek(opts, ch).await;
    }
    let mut c = AlarmServerClient::new(ch);
    if consume {
        eprintln!(
            "alarmhub: --consume: these panels are now marked synced; a deployed compat client will not receive these changes"
        );
    }
    if account.is_none() && !opts.json {
        let n = c
            .is_need_sync(IsNeedSyncRequest {
                empty: String::new(),
            })
            .await
            .map_err(|s| status_err("IsNeedSync", s))?
            .into_inner()
            .changed_machine_count;
        eprintln!("{n} panel(s) changed since the last sync");
    }
    let mut s = c
        .sync(GetMachineRequest {
            account: account.unwrap_or_default(),
        })
        .await
        .map_err(|s| status_err("Sync", s))?
        .into_inner();
    while let Some(m) = s.message().await.map_err(|s| status_err("Sync", s))? {
        emit(&output::sync_line(&m, opts.json));
    }
    Ok(ExitCode::SUCCESS)
}

async fn sync_peek(opts: &ClientOpts, ch: Ch) -> Result<ExitCode, String> {
    let mut v1 = AlarmHubClient::new(ch.clone());
    let mut compat = AlarmServerClient::new(ch);
    let mut accounts = Vec::new();
    let mut token = String::new();
    loop {
        let r = v1
            .list_machines(pb::ListMachinesRequest {
                changed_since_sync: true,
                page_size: 1000,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .map_err(|s| status_err("ListMachines", s))?
            .into_inner();
        accounts.extend(r.machines.into_iter().map(|m| m.account));
        if r.next_page_token.is_empty() {
            break;
        }
        token = r.next_page_token;
    }
    if !opts.json {
        eprintln!(
            "{} panel(s) changed since the last sync (not marked synced; --consume to mark them)",
            accounts.len()
        );
    }
    for account in accounts {
        let mut s = compat
            .sync(GetMachineRequest { account })
            .await
            .map_err(|s| status_err("Sync", s))?
            .into_inner();
        while let Some(m) = s.message().await.map_err(|s| status_err("Sync", s))? {
            emit(&output::sync_line(&m, opts.json));
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn control(
    opts: &ClientOpts,
    ch: Ch,
    action: &str,
    a: ControlArgs,
) -> Result<ExitCode, String> {
    let mut c = AlarmHubClient::new(ch);
    let r = c
        .control(pb::ControlRequest {
            account: a.account.clone(),
            action: action.into(),
            section: a.section,
            password: a.password.unwrap_or_default(),
        })
        .await
        .map_err(|s| status_err("Control", s))?
        .into_inner();
    if opts.json {
        emit(
            &serde_json::json!({ "account": a.account, "action": action, "section": a.section, "outcome": r.outcome, "message": r.message })
                .to_string(),
        );
    } else if r.outcome == "done" {
        emit(&format!("{}: {action} confirmed by the host", a.account));
    } else {
        eprintln!(
            "{}: {action} failed: {} ({})",
            a.account, r.message, r.outcome
        );
    }
    Ok(if r.outcome == "done" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
