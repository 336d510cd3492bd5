//! From the durable event log to notifications: which stored events announce something a
//! person should hear about, and the [`Notification`] each one becomes. Pure; the daemon's
//! feed (`daemon/notify.rs`) reads the log by cursor, asks [`for_event`], routes, and
//! records the batch with its cursor in one outbox transaction.
//!
//! * A receiver OFFLINE (1944) → [`What::PanelOffline`], every time.
//! * A receiver ONLINE (1946) → [`What::PanelOnline`] only when the panel had been reported
//!   offline (its previous receiver event is an OFFLINE): a panel that merely opens a new
//!   connection, or reconnects after the daemon restarted, is not news. The feed answers
//!   that question from the log ([`OnlineCheck`]).
//! * A control command (source `control`) → [`What::ControlOutcome`] with the action, the
//!   outcome and who asked in `detail`.
//!
//! From the alarm change log ([`for_alarm_change`]):
//! * opened → [`What::AlarmOpened`], and its reminders start ("repeat until handled");
//! * escalated → [`What::AlarmEscalated`];
//! * closed → [`What::AlarmClosed`], and its reminders end;
//! * taken → no message, reminders stop; released (new again) → reminders start again.
//!
//! Notification ids are derived from the event's seq or the alarm's id (and the change seq
//! for escalations), so deriving them again after a crash (or on another node) gives the
//! same ids and the outbox keeps one row each.

use crate::alarms::{Alarm, AlarmChange, ChangeKind};
use crate::config::Config;
use crate::events::{codes, Source, StoredEvent};

use super::model::{Notification, NotificationId, What};

/// Whether an ONLINE event needs the "was it offline?" question answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnlineCheck {
    /// Not an ONLINE event.
    NotNeeded,
    /// Ask the log; notify only when the panel's previous receiver event was an OFFLINE.
    Ask,
}

/// The notification `ev` announces, if any, with the account's name and time zone from
/// `config`. For ONLINE events the caller must still check [`OnlineCheck::Ask`].
pub fn for_event(ev: &StoredEvent, config: &Config) -> Option<(Notification, OnlineCheck)> {
    let e = &ev.event;
    let (what, check) = match e.source {
        Source::Receiver if e.code == codes::OFFLINE => {
            (What::PanelOffline, OnlineCheck::NotNeeded)
        }
        Source::Receiver if e.code == codes::ONLINE => (What::PanelOnline, OnlineCheck::Ask),
        Source::Control if e.facts.control.is_some() => {
            (What::ControlOutcome, OnlineCheck::NotNeeded)
        }
        _ => return None,
    };
    let id = NotificationId::for_event(ev.seq, what);
    let mut n = Notification::for_event(
        id,
        what,
        &e.account,
        e.code,
        e.sia_code.as_deref(),
        e.received_at_ms,
    );
    n.event_seq = Some(ev.seq);
    n.group = e.group;
    if let Some(a) = config.account(&e.account) {
        n.panel_name = a.name.clone().unwrap_or_default();
        n.utc_offset_secs = a.timezone.offset_secs();
    }
    if let Some(c) = e.facts.control {
        n.detail = format!(
            "{} {} ({})",
            c.action.as_str(),
            c.outcome.as_str(),
            if e.peer.is_empty() { "-" } else { &e.peer }
        );
    } else {
        // Receiver events are about the whole panel, not a zone.
        n.zone = 0;
    }
    Some((n, check))
}

/// What an alarm change does to the alarm's reminders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReminderEffect {
    /// Nothing.
    None,
    /// Start (opened) or resume (released): the alarm is new.
    Start,
    /// Pause: the alarm was taken.
    Stop,
    /// The alarm was closed.
    End,
}

/// The alarm `a` as a notification of kind `what` (number `n` of its kind) at `time_ms`.
pub fn alarm_notification(
    a: &Alarm,
    what: What,
    n: u32,
    time_ms: i64,
    config: &Config,
) -> Notification {
    let id = NotificationId::for_alarm(a.id, what, n);
    let mut x =
        Notification::for_event(id, what, &a.account, a.code, a.sia_code.as_deref(), time_ms);
    x.alarm_id = Some(a.id);
    x.event_seq = Some(a.first_seq);
    x.zone = a.zone;
    x.group = a.group;
    x.priority = a.priority.get();
    if let Some(acct) = config.account(&a.account) {
        x.panel_name = acct.name.clone().unwrap_or_default();
        x.utc_offset_secs = acct.timezone.offset_secs();
    }
    x
}

/// The notification an alarm change announces (if any) and what it does to reminders.
pub fn for_alarm_change(
    c: &AlarmChange,
    config: &Config,
) -> (Option<Notification>, ReminderEffect) {
    let a = &c.alarm;
    match c.kind {
        ChangeKind::Opened => (
            Some(alarm_notification(
                a,
                What::AlarmOpened,
                0,
                a.opened_at_ms,
                config,
            )),
            ReminderEffect::Start,
        ),
        ChangeKind::Escalated => {
            let n = u32::try_from(c.seq).unwrap_or(u32::MAX);
            let mut x = alarm_notification(a, What::AlarmEscalated, n, c.at_ms, config);
            x.detail = "not taken in time".into();
            (Some(x), ReminderEffect::None)
        }
        ChangeKind::Closed => {
            let mut x = alarm_notification(a, What::AlarmClosed, 0, c.at_ms, config);
            x.detail = format!(
                "{}{} ({})",
                a.resolution.as_deref().unwrap_or("closed"),
                if a.false_alarm { ", false alarm" } else { "" },
                c.actor
            );
            (Some(x), ReminderEffect::End)
        }
        ChangeKind::Taken => (None, ReminderEffect::Stop),
        ChangeKind::Released => (None, ReminderEffect::Start),
        ChangeKind::Attached | ChangeKind::Restored | ChangeKind::Noted => {
            (None, ReminderEffect::None)
        }
    }
}

/// Reminder number `n` of an alarm announced by `opened`.
pub fn reminder(opened: &Notification, n: u32) -> Notification {
    let mut r = opened.clone();
    r.what = What::AlarmReminder;
    r.id = NotificationId::for_alarm(opened.alarm_id.unwrap_or(0), What::AlarmReminder, n);
    r.detail = format!("reminder {n}: not taken yet");
    r
}

/// Whether an ONLINE at `online_seq` follows an OFFLINE: the last OFFLINE before it is newer
/// than the last ONLINE before it.
pub fn back_online(last_offline_before: Option<i64>, last_online_before: Option<i64>) -> bool {
    match (last_offline_before, last_online_before) {
        (Some(off), Some(on)) => off > on,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::events::{ControlAction, ControlFacts, ControlOutcome, Detail, Facts, NewEvent};

    fn stored(seq: i64, source: Source, code: u16, facts: Facts) -> StoredEvent {
        StoredEvent {
            seq,
            event: NewEvent {
                account: "861234567890".into(),
                source,
                code,
                sia_code: None,
                group: 0,
                zone: 99,
                received_at_ms: 1_000,
                panel_time: None,
                protocol: String::new(),
                frame_seq: String::new(),
                peer: "api:alice".into(),
                facts,
                detail: Detail::empty(),
                dedup_key: None,
            },
        }
    }

    fn config() -> Config {
        toml::from_str(
            "[[accounts]]\naccount = \"861234567890\"\nname = \"商铺12\"\ntimezone = \"+08:00\"\n",
        )
        .unwrap()
    }

    #[test]
    fn offline_online_and_control_events_become_notifications_with_stable_ids() {
        let c = config();
        let (off, check) = for_event(
            &stored(7, Source::Receiver, codes::OFFLINE, Facts::default()),
            &c,
        )
        .unwrap();
        assert_eq!(off.what, What::PanelOffline);
        assert_eq!(off.id.as_str(), "ntf_e7_panel_offline");
        assert_eq!(
            (off.panel_name.as_str(), off.utc_offset_secs),
            ("商铺12", 28_800)
        );
        assert_eq!(
            (off.event_seq, off.zone, check),
            (Some(7), 0, OnlineCheck::NotNeeded)
        );
        let (_, check) = for_event(
            &stored(8, Source::Receiver, codes::ONLINE, Facts::default()),
            &c,
        )
        .unwrap();
        assert_eq!(check, OnlineCheck::Ask);
        let facts = Facts {
            control: Some(ControlFacts {
                action: ControlAction::ArmAway,
                outcome: ControlOutcome::TimedOut,
            }),
            ..Facts::default()
        };
        let (ctl, _) = for_event(&stored(9, Source::Control, 3400, facts), &c).unwrap();
        assert_eq!(ctl.what, What::ControlOutcome);
        assert_eq!(ctl.detail, "arm_away timed_out (api:alice)");
    }

    #[test]
    fn panel_reports_and_other_events_announce_nothing_here() {
        let c = config();
        assert!(for_event(&stored(1, Source::Panel, 1130, Facts::default()), &c).is_none());
        assert!(for_event(&stored(2, Source::Ingest, 1944, Facts::default()), &c).is_none());
        assert!(for_event(&stored(3, Source::Control, 3400, Facts::default()), &c).is_none());
    }

    #[test]
    fn online_is_news_only_after_an_offline() {
        assert!(back_online(Some(5), Some(3)));
        assert!(back_online(Some(5), None));
        assert!(!back_online(Some(3), Some(5)));
        assert!(!back_online(None, Some(5)));
        assert!(!back_online(None, None));
    }
}
