//! `ListAlarms`, `GetAlarm`, `TakeAlarm`, `ReleaseAlarm`, `AddAlarmNote`, `CloseAlarm`:
//! thin handlers over [`crate::alarms::Alarms`] (which checks arguments and forces). The
//! access layer has already checked the permission table and writes the audit row with the
//! [`AuditNote`] each mutating handler leaves (target `alarm:<id>`, the outcome).
//!
//! Page tokens: `q:<priority>:<opened_at_ms>:<id>` in queue order, `h:<id>` newest first.

use tonic::{Response, Status};

use super::{convert, page_size, store_status, Ctx};
use crate::alarms::{
    Alarm, AlarmChange, AlarmCursor, AlarmQuery, AlarmRefusal, AlarmState, AlarmsError, Priority,
};
use crate::auth::grpc::AuditNote;
use crate::auth::Identity;
use crate::proto::v1 as pb;
use crate::store::EventQuery;

/// `state` of a request → the states it means.
fn states(state: &str) -> Result<Vec<AlarmState>, Status> {
    Ok(match state {
        "" => Vec::new(),
        "open" => vec![AlarmState::New, AlarmState::Taken],
        s => vec![s
            .parse::<AlarmState>()
            .map_err(|e| Status::invalid_argument(format!("state: {e}, or open")))?],
    })
}

fn parse_token(token: &str) -> Result<Option<AlarmCursor>, Status> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || {
        Status::invalid_argument(format!(
            "page_token {token:?} is not a ListAlarms token (pass next_page_token back unchanged)"
        ))
    };
    if let Some(id) = token.strip_prefix("h:") {
        return id
            .parse()
            .map(|id| Some(AlarmCursor::Id(id)))
            .map_err(|_| bad());
    }
    let rest = token.strip_prefix("q:").ok_or_else(bad)?;
    let mut parts = rest.split(':');
    let (Some(p), Some(t), Some(id), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    Ok(Some(AlarmCursor::Queue {
        priority: p.parse().map_err(|_| bad())?,
        opened_at_ms: t.parse().map_err(|_| bad())?,
        id: id.parse().map_err(|_| bad())?,
    }))
}

fn token(c: AlarmCursor) -> String {
    match c {
        AlarmCursor::Queue {
            priority,
            opened_at_ms,
            id,
        } => format!("q:{priority}:{opened_at_ms}:{id}"),
        AlarmCursor::Id(id) => format!("h:{id}"),
    }
}

/// `ListAlarms`.
pub(crate) async fn list(
    ctx: &Ctx,
    req: pb::ListAlarmsRequest,
) -> Result<pb::ListAlarmsReply, Status> {
    let size = page_size(req.page_size)?;
    let priority = match req.priority {
        0 => None,
        n => Some(
            u8::try_from(n)
                .ok()
                .and_then(Priority::new)
                .ok_or_else(|| {
                    Status::invalid_argument(format!(
                        "priority {n} is out of range (1..=9, or 0 for every priority)"
                    ))
                })?,
        ),
    };
    let q = AlarmQuery {
        states: states(&req.state)?,
        priority,
        account: (!req.account.is_empty()).then_some(req.account),
        after: parse_token(&req.page_token)?,
        limit: size + 1,
    };
    let alarms = ctx
        .h
        .alarms
        .list(&q)
        .await
        .map_err(|e| status("listing alarms", &e))?;
    let more = alarms.len() > size;
    let page: Vec<&Alarm> = alarms.iter().take(size).collect();
    let next_page_token = match (more, page.last()) {
        (true, Some(a)) => token(AlarmCursor::after(a, q.queue_order())),
        _ => String::new(),
    };
    Ok(pb::ListAlarmsReply {
        alarms: page.into_iter().map(|a| alarm(ctx, a)).collect(),
        next_page_token,
    })
}

/// `GetAlarm`.
pub(crate) async fn get(ctx: &Ctx, req: pb::GetAlarmRequest) -> Result<pb::GetAlarmReply, Status> {
    let d = ctx
        .h
        .alarms
        .get(req.id)
        .await
        .map_err(|e| status("reading the alarm", &e))?;
    let mut events = Vec::with_capacity(d.event_seqs.len());
    // Attached events are few and seqs ascending: one range read between the first and last.
    if let (Some(&first), Some(&last)) = (d.event_seqs.first(), d.event_seqs.last()) {
        let q = EventQuery {
            account: Some(d.alarm.account.clone()),
            after_seq: Some(first - 1),
            before_seq: Some(last + 1),
            ..EventQuery::default()
        };
        let found = ctx
            .h
            .store
            .query_events(&q)
            .await
            .map_err(|e| store_status("reading the alarm's events", &e))?;
        events.extend(
            found
                .iter()
                .filter(|e| d.event_seqs.binary_search(&e.seq).is_ok())
                .map(convert::event),
        );
    }
    Ok(pb::GetAlarmReply {
        alarm: Some(alarm(ctx, &d.alarm)),
        events,
        notes: d
            .notes
            .into_iter()
            .map(|n| pb::AlarmNote {
                at_ms: n.at_ms,
                author: n.author,
                text: n.text,
            })
            .collect(),
        history: d.history.iter().map(|c| change(ctx, c, false)).collect(),
    })
}

/// What a mutating call did: the reply with its audit note.
pub(crate) fn reply(
    ctx: &Ctx,
    id: i64,
    detail: serde_json::Value,
    result: Result<AlarmChange, AlarmsError>,
) -> Result<Response<pb::AlarmReply>, Status> {
    let c = result.map_err(|e| status("changing the alarm", &e))?;
    let mut resp = Response::new(pb::AlarmReply {
        alarm: Some(alarm(ctx, &c.alarm)),
        change_seq: c.seq,
    });
    let mut detail = detail;
    if let Some(from) = serde_json::from_str::<serde_json::Value>(&c.detail)
        .ok()
        .and_then(|v| v.get("taken_over_from").cloned())
    {
        detail["taken_over_from"] = from;
    }
    detail["change_seq"] = c.seq.into();
    resp.extensions_mut().insert(AuditNote {
        target: format!("alarm:{id}"),
        outcome: "ok".into(),
        detail: detail.to_string(),
    });
    Ok(resp)
}

/// The caller (the access layer always puts one in; anonymous when access control is off).
pub(crate) fn caller<T>(req: &tonic::Request<T>) -> Identity {
    req.extensions()
        .get::<Identity>()
        .cloned()
        .unwrap_or_else(|| Identity::anonymous(crate::auth::Role::Admin, req.remote_addr()))
}

/// An alarm error as a gRPC status.
pub(crate) fn status(what: &str, e: &AlarmsError) -> Status {
    match e {
        AlarmsError::Refused(AlarmRefusal::NotFound(_)) => Status::not_found(e.to_string()),
        AlarmsError::Refused(_) => Status::failed_precondition(e.to_string()),
        AlarmsError::BadArgument { .. } => Status::invalid_argument(e.to_string()),
        AlarmsError::Forbidden(m) => Status::permission_denied(m.clone()),
        AlarmsError::Store(s) => store_status(what, s),
    }
}

/// An alarm for the API.
pub(crate) fn alarm(ctx: &Ctx, a: &Alarm) -> pb::Alarm {
    pb::Alarm {
        id: a.id,
        account: a.account.clone(),
        state: a.state.as_str().into(),
        priority: i32::from(a.priority.get()),
        category: a.category.as_str().into(),
        opened_at_ms: a.opened_at_ms,
        first_seq: a.first_seq,
        code: i32::from(a.code),
        sia_code: a.sia_code.clone().unwrap_or_default(),
        zone: i32::from(a.zone),
        group: i32::from(a.group),
        event_count: i32::try_from(a.event_count).unwrap_or(i32::MAX),
        last_event_ms: a.last_event_ms,
        zones: a
            .zones
            .iter()
            .map(|z| pb::AlarmZone {
                zone: i32::from(z.zone),
                code: i32::from(z.code),
                restored: z.restored,
                last_ms: z.last_ms,
            })
            .collect(),
        taken_by: a.taken_by.clone().unwrap_or_default(),
        taken_at_ms: a.taken_at_ms,
        escalated: a.escalated,
        escalated_at_ms: a.escalated_at_ms,
        closed_at_ms: a.closed_at_ms,
        closed_by: a.closed_by.clone().unwrap_or_default(),
        resolution: a.resolution.clone().unwrap_or_default(),
        false_alarm: a.false_alarm,
        updated_at_ms: a.updated_at_ms,
        change_seq: a.change_seq,
        take_due_ms: ctx.h.alarms.take_due_ms(a),
    }
}

/// A change for the API (`with_alarm`: include the snapshot).
pub(crate) fn change(ctx: &Ctx, c: &AlarmChange, with_alarm: bool) -> pb::AlarmChange {
    pb::AlarmChange {
        seq: c.seq,
        alarm_id: c.alarm_id,
        kind: c.kind.as_str().into(),
        actor: c.actor.clone(),
        at_ms: c.at_ms,
        event_seq: c.event_seq,
        detail_json: c.detail.clone(),
        alarm: with_alarm.then(|| alarm(ctx, &c.alarm)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_bad_ones_name_the_field() {
        for c in [
            AlarmCursor::Id(7),
            AlarmCursor::Queue {
                priority: 3,
                opened_at_ms: 1_700_000_000_000,
                id: 9,
            },
        ] {
            assert_eq!(parse_token(&token(c)).ok(), Some(Some(c)));
        }
        for bad in ["x", "q:1:2", "h:", "q:a:b:c", "q:1:2:3:4"] {
            let e = parse_token(bad).err().map(|s| s.message().to_string());
            assert!(e.is_some_and(|m| m.contains("page_token")), "{bad}");
        }
    }

    #[test]
    fn state_filters_accept_open_and_name_the_choices() {
        assert_eq!(states("").ok(), Some(vec![]));
        assert_eq!(
            states("open").ok(),
            Some(vec![AlarmState::New, AlarmState::Taken])
        );
        let e = states("done").err().map(|s| s.message().to_string());
        assert!(e.is_some_and(|m| m.contains("new, taken, closed")));
    }
}
