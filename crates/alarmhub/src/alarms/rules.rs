//! The lifecycle and grouping rules, as pure functions every store backend calls inside its
//! transaction (so SQLite and PostgreSQL cannot disagree): [`open`] a new alarm from an
//! event, [`on_event`] for a further event of an account whose alarm is open (attach or
//! restore), [`apply`] for an operator's (or the ticker's) [`AlarmOp`].

use serde_json::json;

use super::{
    Alarm, AlarmInput, AlarmOp, AlarmRefusal, AlarmState, AlarmZone, ChangeKind, EventAction,
};

/// A new alarm opened by `input` (an [`EventAction::Alarm`]); `None` for a restore, which
/// never opens one. The id and change seq are the store's to fill in.
pub fn open(input: &AlarmInput) -> Option<Alarm> {
    let EventAction::Alarm { priority, category } = input.action else {
        return None;
    };
    Some(Alarm {
        id: 0,
        account: input.account.clone(),
        state: AlarmState::New,
        priority,
        category,
        opened_at_ms: input.at_ms,
        first_seq: input.seq,
        code: input.code,
        sia_code: input.sia_code.clone(),
        zone: input.zone,
        group: input.group,
        event_count: 1,
        last_event_ms: input.at_ms,
        zones: vec![zone_of(input)],
        taken_by: None,
        taken_at_ms: 0,
        escalated: false,
        escalated_at_ms: 0,
        closed_at_ms: 0,
        closed_by: None,
        resolution: None,
        false_alarm: false,
        updated_at_ms: input.at_ms,
        change_seq: 0,
    })
}

fn zone_of(input: &AlarmInput) -> AlarmZone {
    AlarmZone {
        zone: input.zone,
        code: input.code,
        restored: false,
        last_ms: input.at_ms,
    }
}

/// A further event of the account while `alarm` is open: an alarm event attaches (count,
/// zone list, and the priority rises to the event's if that is more urgent); a restore
/// marks its zone restored. `None` when nothing changes (a restore of a zone that is not
/// in the alarm, or already restored).
pub fn on_event(alarm: &mut Alarm, input: &AlarmInput) -> Option<ChangeKind> {
    match input.action {
        EventAction::Alarm { priority, category } => {
            alarm.event_count = alarm.event_count.saturating_add(1);
            alarm.last_event_ms = alarm.last_event_ms.max(input.at_ms);
            if priority < alarm.priority {
                alarm.priority = priority;
                alarm.category = category;
            }
            match alarm.zones.iter_mut().find(|z| z.zone == input.zone) {
                Some(z) => {
                    z.code = input.code;
                    z.restored = false;
                    z.last_ms = input.at_ms;
                }
                None => {
                    alarm.zones.push(zone_of(input));
                    alarm.zones.sort_by_key(|z| z.zone);
                }
            }
            alarm.updated_at_ms = input.at_ms;
            Some(ChangeKind::Attached)
        }
        EventAction::Restore => {
            let z = alarm
                .zones
                .iter_mut()
                .find(|z| z.zone == input.zone && !z.restored)?;
            z.restored = true;
            z.last_ms = input.at_ms;
            alarm.updated_at_ms = input.at_ms;
            Some(ChangeKind::Restored)
        }
    }
}

/// Apply `op` by `actor` at `at_ms` to `alarm`: the change kind and its JSON detail, or why
/// the lifecycle refuses it (the alarm is then unchanged).
pub fn apply(
    alarm: &mut Alarm,
    op: &AlarmOp,
    actor: &str,
    at_ms: i64,
) -> Result<(ChangeKind, String), AlarmRefusal> {
    let id = alarm.id;
    if alarm.state == AlarmState::Closed {
        return Err(AlarmRefusal::Closed(id));
    }
    let holder = alarm.taken_by.clone().unwrap_or_default();
    let mine = alarm.state == AlarmState::Taken && holder == actor;
    // Operations that need the alarm held by the caller (or an admin's force).
    let held = |force: bool| -> Result<(), AlarmRefusal> {
        match alarm.state {
            AlarmState::Taken if mine || force => Ok(()),
            AlarmState::Taken => Err(AlarmRefusal::TakenBy {
                id,
                holder: holder.clone(),
            }),
            _ if force => Ok(()),
            _ => Err(AlarmRefusal::NotTaken(id)),
        }
    };
    let (kind, detail) = match op {
        AlarmOp::Take { force } => {
            let detail = match alarm.state {
                AlarmState::Taken if !mine && !force => {
                    return Err(AlarmRefusal::TakenBy { id, holder })
                }
                AlarmState::Taken if !mine => json!({ "taken_over_from": holder }),
                _ => json!({}),
            };
            alarm.state = AlarmState::Taken;
            alarm.taken_by = Some(actor.to_string());
            if alarm.taken_at_ms == 0 {
                alarm.taken_at_ms = at_ms;
            }
            (ChangeKind::Taken, detail)
        }
        AlarmOp::Release { force } => {
            if alarm.state == AlarmState::New {
                return Err(AlarmRefusal::NotTaken(id));
            }
            held(*force)?;
            alarm.state = AlarmState::New;
            alarm.taken_by = None;
            (ChangeKind::Released, json!({ "held_by": holder }))
        }
        AlarmOp::Note { text, force } => {
            held(*force)?;
            (ChangeKind::Noted, json!({ "text": text }))
        }
        AlarmOp::Close {
            resolution,
            false_alarm,
            note,
            force,
        } => {
            held(*force)?;
            alarm.state = AlarmState::Closed;
            alarm.closed_at_ms = at_ms;
            alarm.closed_by = Some(actor.to_string());
            alarm.resolution = Some(resolution.clone());
            alarm.false_alarm = *false_alarm;
            (
                ChangeKind::Closed,
                json!({ "resolution": resolution, "false_alarm": false_alarm, "text": note }),
            )
        }
        AlarmOp::Escalate => {
            if alarm.state != AlarmState::New || alarm.escalated {
                return Err(AlarmRefusal::NotEscalable(id));
            }
            alarm.escalated = true;
            alarm.escalated_at_ms = at_ms;
            (ChangeKind::Escalated, json!({ "priority": alarm.priority }))
        }
    };
    alarm.updated_at_ms = at_ms;
    Ok((kind, detail.to_string()))
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
