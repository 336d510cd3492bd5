//! `alarmhub alarms [--state new|taken|closed|open|all]` and `alarmhub alarm take|release|
//! note|close|show|watch ID …`: alarm handling from the command line, over the same gRPC
//! calls the console uses.
//!
//! Exit status: 0 done; 1 the daemon refused it by the alarm's lifecycle (taken by someone
//! else, closed, not taken, no such alarm); 2 usage errors, an unreachable daemon, a bad
//! argument or a refused call (no token, role too low).

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use super::output::time_ms;
use super::{emit, status_err, Ch, ClientOpts};
use crate::proto::v1::alarm_hub_client::AlarmHubClient;
use crate::proto::v1::{self as pb, watch_alarms_reply};

/// `alarmhub alarm …`.
#[derive(Subcommand, Debug, Clone)]
pub enum AlarmCmd {
    /// Take an alarm: you handle it, nobody else can take it.
    Take {
        /// Alarm id.
        id: i64,
        /// Take it over from the operator who holds it (admin; audited).
        #[arg(long)]
        force: bool,
    },
    /// Release an alarm you hold: back to `new` for someone else.
    Release {
        /// Alarm id.
        id: i64,
        /// Release another operator's alarm (admin).
        #[arg(long)]
        force: bool,
    },
    /// Add a note to an alarm you hold.
    Note {
        /// Alarm id.
        id: i64,
        /// The note (quote it).
        text: String,
    },
    /// Close an alarm you hold, with a resolution code from `[alarms] resolutions`.
    Close {
        /// Alarm id.
        id: i64,
        /// Resolution code (e.g. false_alarm_user, police_dispatched).
        #[arg(long)]
        resolution: String,
        /// Closing note.
        #[arg(long, default_value = "")]
        note: String,
        /// Close an alarm you do not hold, or one nobody took (admin).
        #[arg(long)]
        force: bool,
    },
    /// Show one alarm with its events, notes and history.
    Show {
        /// Alarm id.
        id: i64,
    },
    /// Stream alarm changes: replay after --from (a change seq), then live.
    Watch {
        /// Replay changes after this change seq first (-1 = live only).
        #[arg(long, default_value_t = -1)]
        from: i64,
        /// Stop after this many changes (0 = run until interrupted).
        #[arg(long, default_value_t = 0)]
        count: u64,
    },
}

/// A failed alarm call: lifecycle refusals exit 1, everything else 2.
fn refused(what: &str, s: tonic::Status) -> Result<ExitCode, String> {
    match s.code() {
        tonic::Code::FailedPrecondition | tonic::Code::NotFound => {
            eprintln!("alarmhub: {what}: {}", s.message());
            Ok(ExitCode::from(1))
        }
        _ => Err(status_err(what, s)),
    }
}

/// `alarmhub alarms`: the queue (open alarms by priority then age) or a state's alarms.
pub async fn list(
    opts: &ClientOpts,
    ch: Ch,
    state: String,
    account: Option<String>,
) -> Result<ExitCode, String> {
    let mut c = AlarmHubClient::new(ch);
    let state = if state == "all" { String::new() } else { state };
    let mut token = String::new();
    loop {
        let r = c
            .list_alarms(pb::ListAlarmsRequest {
                state: state.clone(),
                account: account.clone().unwrap_or_default(),
                page_size: 1000,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .map_err(|s| status_err("ListAlarms", s))?
            .into_inner();
        for a in &r.alarms {
            emit(&line(a, opts.json));
        }
        if r.next_page_token.is_empty() {
            return Ok(ExitCode::SUCCESS);
        }
        token = r.next_page_token;
    }
}

/// `alarmhub alarm …`.
pub async fn run(opts: &ClientOpts, ch: Ch, cmd: AlarmCmd) -> Result<ExitCode, String> {
    let mut c = AlarmHubClient::new(ch);
    let (what, r) = match cmd {
        AlarmCmd::Take { id, force } => (
            "TakeAlarm",
            c.take_alarm(pb::TakeAlarmRequest { id, force }).await,
        ),
        AlarmCmd::Release { id, force } => (
            "ReleaseAlarm",
            c.release_alarm(pb::ReleaseAlarmRequest { id, force }).await,
        ),
        AlarmCmd::Note { id, text } => (
            "AddAlarmNote",
            c.add_alarm_note(pb::AddAlarmNoteRequest { id, text }).await,
        ),
        AlarmCmd::Close {
            id,
            resolution,
            note,
            force,
        } => (
            "CloseAlarm",
            c.close_alarm(pb::CloseAlarmRequest {
                id,
                resolution,
                note,
                force,
            })
            .await,
        ),
        AlarmCmd::Show { id } => return show(opts, c, id).await,
        AlarmCmd::Watch { from, count } => return watch(opts, c, from, count).await,
    };
    match r {
        Ok(r) => {
            if let Some(a) = r.into_inner().alarm {
                emit(&line(&a, opts.json));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(s) => refused(what, s),
    }
}

async fn show(opts: &ClientOpts, mut c: AlarmHubClient<Ch>, id: i64) -> Result<ExitCode, String> {
    let r = match c.get_alarm(pb::GetAlarmRequest { id }).await {
        Ok(r) => r.into_inner(),
        Err(s) => return refused("GetAlarm", s),
    };
    let Some(a) = &r.alarm else {
        return Ok(ExitCode::from(1));
    };
    if opts.json {
        let history: Vec<_> = r.history.iter().map(change_json).collect();
        let events: Vec<_> = r
            .events
            .iter()
            .map(|e| super::output::event(e, true))
            .collect();
        emit(&json!({ "alarm": alarm_json(a), "events": events, "history": history }).to_string());
        return Ok(ExitCode::SUCCESS);
    }
    emit(&line(a, false));
    for e in &r.events {
        emit(&format!("  event  {}", super::output::event(e, false)));
    }
    for h in &r.history {
        emit(&format!(
            "  {} {:<9} {} {}",
            time_ms(h.at_ms),
            h.kind,
            h.actor,
            if h.detail_json == "{}" {
                ""
            } else {
                &h.detail_json
            }
        ));
    }
    Ok(ExitCode::SUCCESS)
}

async fn watch(
    opts: &ClientOpts,
    mut c: AlarmHubClient<Ch>,
    from: i64,
    count: u64,
) -> Result<ExitCode, String> {
    let mut s = c
        .watch_alarms(pb::WatchAlarmsRequest { from_seq: from })
        .await
        .map_err(|s| status_err("WatchAlarms", s))?
        .into_inner();
    let mut seen = 0u64;
    while let Some(r) = s
        .message()
        .await
        .map_err(|s| status_err("WatchAlarms", s))?
    {
        match r.item {
            Some(watch_alarms_reply::Item::Change(ch)) => {
                if opts.json {
                    emit(&change_json(&ch).to_string());
                } else {
                    let a = ch
                        .alarm
                        .as_ref()
                        .map(|a| line(a, false))
                        .unwrap_or_default();
                    emit(&format!("#{} {} by {}: {a}", ch.seq, ch.kind, ch.actor));
                }
                seen += 1;
                if count > 0 && seen >= count {
                    break;
                }
            }
            Some(watch_alarms_reply::Item::Live(_)) if !opts.json => eprintln!("-- live --"),
            _ => {}
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn alarm_json(a: &pb::Alarm) -> serde_json::Value {
    json!({
        "id": a.id, "account": a.account, "state": a.state, "priority": a.priority,
        "category": a.category, "opened_at_ms": a.opened_at_ms, "code": a.code,
        "sia_code": a.sia_code, "zone": a.zone, "event_count": a.event_count,
        "zones": a.zones.iter().map(|z| json!({ "zone": z.zone, "code": z.code, "restored": z.restored })).collect::<Vec<_>>(),
        "taken_by": a.taken_by, "taken_at_ms": a.taken_at_ms, "escalated": a.escalated,
        "closed_at_ms": a.closed_at_ms, "closed_by": a.closed_by, "resolution": a.resolution,
        "false_alarm": a.false_alarm, "change_seq": a.change_seq, "take_due_ms": a.take_due_ms,
    })
}

fn change_json(c: &pb::AlarmChange) -> serde_json::Value {
    json!({
        "seq": c.seq, "alarm_id": c.alarm_id, "kind": c.kind, "actor": c.actor,
        "at_ms": c.at_ms, "event_seq": c.event_seq,
        "detail": serde_json::from_str::<serde_json::Value>(&c.detail_json).unwrap_or_default(),
        "alarm": c.alarm.as_ref().map(alarm_json),
    })
}

/// One alarm as a line: `#12 P3 burglary 1001 zone 3 new opened 2026-… (2 events) …`.
pub fn line(a: &pb::Alarm, as_json: bool) -> String {
    if as_json {
        return alarm_json(a).to_string();
    }
    let mut s = format!(
        "#{} P{} {} {} zone {} {} opened {} ({} event{})",
        a.id,
        a.priority,
        a.category,
        a.account,
        a.zone,
        a.state,
        time_ms(a.opened_at_ms),
        a.event_count,
        if a.event_count == 1 { "" } else { "s" }
    );
    if a.escalated {
        s.push_str(" ESCALATED");
    }
    if !a.taken_by.is_empty() && a.state == "taken" {
        s.push_str(&format!(" by {}", a.taken_by));
    }
    if a.state == "closed" {
        s.push_str(&format!(
            " closed by {} at {}: {}{}",
            a.closed_by,
            time_ms(a.closed_at_ms),
            a.resolution,
            if a.false_alarm { " (false alarm)" } else { "" }
        ));
    }
    s
}
