//! The alarm queue's endpoints: list (paged, queue order), one alarm with its panel's
//! context, the live change stream as server-sent events, and take / release / note / close.
//! Each runs the `alarmhub.v1` handler of the same name (which calls
//! [`crate::alarms::Alarms`]), so the console and the API share every rule: the atomic take,
//! who may force, the resolution codes, the audit rows.

use std::convert::Infallible;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use futures::Stream;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_stream::StreamExt;

use super::api::Answer;
use super::json;
use super::session::Session;
use super::{ConsoleError, ConsoleState};
use crate::alarms::{AlarmQuery, AlarmState};
use crate::proto::v1 as pb;
use crate::proto::v1::alarm_hub_server::AlarmHub;
use crate::proto::v1::watch_alarms_reply::Item;

/// `GET /console/api/alarms` query (the `ListAlarms` fields).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ListQuery {
    state: String,
    priority: i32,
    account: String,
    page_size: i32,
    page_token: String,
}

/// `GET /console/api/alarms`: one page of `ListAlarms` (default: open alarms in queue
/// order, 100 a page), the change seq to stream from, and the resolution codes.
pub async fn list(
    State(c): State<ConsoleState>,
    Extension(s): Extension<Session>,
    Query(q): Query<ListQuery>,
) -> Answer {
    // Read before the list, so no change between the two is missed by the stream.
    let change_seq = c
        .api
        .store
        .last_alarm_change_seq()
        .await
        .map_err(|e| ConsoleError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    let req = pb::ListAlarmsRequest {
        state: if q.state.is_empty() {
            "open".into()
        } else {
            q.state
        },
        priority: q.priority,
        account: q.account.trim().to_string(),
        page_size: q.page_size,
        page_token: q.page_token,
    };
    let r = c.finish(&s, "ListAlarms", c.v1.list_alarms(c.request(&s, req)).await)?;
    let resolutions: Vec<Value> = c
        .api
        .config
        .alarms
        .resolutions
        .iter()
        .map(|r| json!({ "code": r.code, "label": r.label, "false_alarm": r.false_alarm }))
        .collect();
    Ok(Json(json!({
        "alarms": r.alarms.iter().map(|a| json::alarm(&c.api.config, a)).collect::<Vec<_>>(),
        "next_page_token": r.next_page_token,
        "change_seq": change_seq,
        "resolutions": resolutions,
        "me": s.identity.actor(),
    })))
}

/// `GET /console/api/alarms/{id}`: `GetAlarm` plus the panel's context (state, active
/// zones, arm status, online, latest events).
pub async fn get(
    State(c): State<ConsoleState>,
    Extension(s): Extension<Session>,
    Path(id): Path<i64>,
) -> Answer {
    let r = c.finish(
        &s,
        "GetAlarm",
        c.v1.get_alarm(c.request(&s, pb::GetAlarmRequest { id }))
            .await,
    )?;
    let Some(a) = r.alarm.as_ref() else {
        return Err(ConsoleError::new(
            StatusCode::NOT_FOUND,
            format!("no alarm {id}"),
        ));
    };
    let account = a.account.clone();
    let m =
        c.v1.get_machine(c.request(
            &s,
            pb::GetMachineRequest {
                account: account.clone(),
            },
        ))
        .await
        .ok()
        .map(|m| json::machine(&c.api.config, m.get_ref()));
    let recent = pb::ListEventsRequest {
        account,
        page_size: 10,
        ..pb::ListEventsRequest::default()
    };
    let recent = c.finish(
        &s,
        "ListEvents",
        c.v1.list_events(c.request(&s, recent)).await,
    )?;
    Ok(Json(json!({
        "alarm": json::alarm(&c.api.config, a),
        "events": r.events.iter().map(json::event).collect::<Vec<_>>(),
        "notes": r.notes.iter().map(|n| json!({ "at_ms": n.at_ms, "author": n.author, "text": n.text })).collect::<Vec<_>>(),
        "history": r.history.iter().map(|h| json!({ "seq": h.seq, "kind": h.kind, "actor": h.actor, "at_ms": h.at_ms, "detail": h.detail_json })).collect::<Vec<_>>(),
        "panel": m,
        "recent_events": recent.events.iter().map(json::event).collect::<Vec<_>>(),
    })))
}

/// `GET /console/api/alarms/stream` query.
#[derive(Deserialize)]
pub struct StreamQuery {
    /// The change seq to replay after (`-1`: live only; the default).
    #[serde(default = "live_only")]
    from_seq: i64,
}

fn live_only() -> i64 {
    -1
}

/// Where a stream starts: the `Last-Event-ID` the browser's `EventSource` sends when it
/// reconnects by itself (the seq of the last change it received), else `from_seq`.
pub fn resume_seq(headers: &HeaderMap, from_seq: i64) -> Result<i64, ConsoleError> {
    let Some(v) = headers.get("last-event-id") else {
        return Ok(from_seq);
    };
    v.to_str()
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .filter(|n| *n >= 0)
        .ok_or_else(|| {
            ConsoleError::new(
                StatusCode::BAD_REQUEST,
                "Last-Event-ID must be the change seq of the last event received (an integer >= 0)",
            )
        })
}

/// `GET /console/api/alarms/stream?from_seq=N`: `WatchAlarms` as server-sent events:
/// `change` (the alarm after each change, `id` = change seq) and `live` once the replay is
/// done. A dropped stream resumes from its cursor: the browser reconnects with
/// `Last-Event-ID` (or the page passes the last seq as `from_seq`) and gets every change
/// made meanwhile, nothing twice. Ends with the daemon.
pub async fn stream(
    State(c): State<ConsoleState>,
    Extension(s): Extension<Session>,
    Query(q): Query<StreamQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ConsoleError> {
    let req = pb::WatchAlarmsRequest {
        from_seq: resume_seq(&headers, q.from_seq)?,
    };
    let changes = c.finish(
        &s,
        "WatchAlarms",
        c.v1.watch_alarms(c.request(&s, req)).await,
    )?;
    let config = std::sync::Arc::clone(&c.api.config);
    let events = changes.map_while(move |item| {
        let reply = item.ok()?;
        Some(Ok(match reply.item {
            Some(Item::Change(ch)) => {
                let alarm = ch.alarm.as_ref().map(|a| json::alarm(&config, a));
                let data = json!({ "seq": ch.seq, "kind": ch.kind, "actor": ch.actor, "at_ms": ch.at_ms, "alarm": alarm });
                Event::default()
                    .event("change")
                    .id(ch.seq.to_string())
                    .data(data.to_string())
            }
            Some(Item::Live(_)) => Event::default().event("live").data("{}"),
            None => Event::default().comment("nothing"),
        }))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Body of take / release.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Force {
    force: bool,
}

/// `POST /console/api/alarms/{id}/take`: `TakeAlarm` (exactly one operator wins).
pub async fn take(
    State(c): State<ConsoleState>,
    Extension(s): Extension<Session>,
    Path(id): Path<i64>,
    Json(b): Json<Force>,
) -> Answer {
    let req = pb::TakeAlarmRequest { id, force: b.force };
    changed(
        &c,
        c.finish(&s, "TakeAlarm", c.v1.take_alarm(c.request(&s, req)).await)?,
    )
}

/// `POST /console/api/alarms/{id}/release`: `ReleaseAlarm`.
pub async fn release(
    State(c): State<ConsoleState>,
    Extension(s): Extension<Session>,
    Path(id): Path<i64>,
    Json(b): Json<Force>,
) -> Answer {
    let req = pb::ReleaseAlarmRequest { id, force: b.force };
    changed(
        &c,
        c.finish(
            &s,
            "ReleaseAlarm",
            c.v1.release_alarm(c.request(&s, req)).await,
        )?,
    )
}

/// Body of note.
#[derive(Deserialize)]
pub struct Note {
    text: String,
}

/// `POST /console/api/alarms/{id}/note`: `AddAlarmNote`.
pub async fn note(
    State(c): State<ConsoleState>,
    Extension(s): Extension<Session>,
    Path(id): Path<i64>,
    Json(b): Json<Note>,
) -> Answer {
    let req = pb::AddAlarmNoteRequest { id, text: b.text };
    changed(
        &c,
        c.finish(
            &s,
            "AddAlarmNote",
            c.v1.add_alarm_note(c.request(&s, req)).await,
        )?,
    )
}

/// Body of close.
#[derive(Deserialize)]
pub struct Close {
    resolution: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    force: bool,
}

/// `POST /console/api/alarms/{id}/close`: `CloseAlarm` with a resolution code.
pub async fn close(
    State(c): State<ConsoleState>,
    Extension(s): Extension<Session>,
    Path(id): Path<i64>,
    Json(b): Json<Close>,
) -> Answer {
    let req = pb::CloseAlarmRequest {
        id,
        resolution: b.resolution,
        note: b.note,
        force: b.force,
    };
    changed(
        &c,
        c.finish(&s, "CloseAlarm", c.v1.close_alarm(c.request(&s, req)).await)?,
    )
}

fn changed(c: &ConsoleState, r: pb::AlarmReply) -> Answer {
    let alarm = r.alarm.as_ref().map(|a| json::alarm(&c.api.config, a));
    Ok(Json(json!({ "alarm": alarm, "change_seq": r.change_seq })))
}

/// Open alarms per priority, alarms closed since `day_start_ms` and their median time to
/// take, recomputed at most every two seconds for every browser together.
#[derive(Debug, Default)]
pub struct Summary {
    cached: Mutex<Option<(Instant, i64, Value)>>,
}

/// Closed alarms looked at for "handled today" (newest first).
const CLOSED_SCAN: usize = 5000;

impl Summary {
    /// The dashboard's alarm figures.
    pub async fn get(&self, c: &ConsoleState, day_start_ms: i64) -> Result<Value, ConsoleError> {
        if let Some((at, day, v)) = &*self.cached.lock().unwrap_or_else(|p| p.into_inner()) {
            if at.elapsed() < Duration::from_secs(2) && *day == day_start_ms {
                return Ok(v.clone());
            }
        }
        let err = |e: crate::alarms::AlarmsError| {
            ConsoleError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        };
        let open = c
            .api
            .alarms
            .list(&AlarmQuery {
                states: vec![AlarmState::New, AlarmState::Taken],
                ..AlarmQuery::default()
            })
            .await
            .map_err(err)?;
        let mut per = std::collections::BTreeMap::new();
        for a in &open {
            *per.entry(a.priority.get().to_string()).or_insert(0u64) += 1;
        }
        let closed = c
            .api
            .alarms
            .list(&AlarmQuery {
                states: vec![AlarmState::Closed],
                limit: CLOSED_SCAN,
                ..AlarmQuery::default()
            })
            .await
            .map_err(err)?;
        let today: Vec<_> = closed
            .iter()
            .filter(|a| a.closed_at_ms >= day_start_ms)
            .collect();
        let mut takes: Vec<i64> = today
            .iter()
            .filter(|a| a.taken_at_ms > 0)
            .map(|a| a.taken_at_ms - a.opened_at_ms)
            .collect();
        takes.sort_unstable();
        let median = takes.get(takes.len() / 2).copied();
        let v = json!({
            "open_alarms": per,
            "open_total": open.len(),
            "handled_today": today.len(),
            "median_take_ms": median,
        });
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), day_start_ms, v.clone()));
        Ok(v)
    }
}
