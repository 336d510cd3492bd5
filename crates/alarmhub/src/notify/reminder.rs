//! "Repeat until handled": when an opened alarm that nobody has taken is notified again.
//!
//! Pure: the alarm's state, when it was last notified and the interval in, a decision out.
//! Taking or closing the alarm — from any channel, the console or the API — changes its
//! state, and the next question answers [`Reminder::Never`]. After downtime an overdue
//! alarm gets one reminder, not one per missed interval.

/// The handling state of an alarm record, as far as reminders care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmState {
    /// Opened, nobody has taken it yet.
    New,
    /// An operator took it.
    Taken,
    /// Closed.
    Closed,
}

/// When to remind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reminder {
    /// Now.
    Due,
    /// At this Unix millisecond (ask again then).
    At(i64),
    /// Not any more (taken, closed, or no rule reminds).
    Never,
}

/// Whether an alarm in `state`, last notified at `last_notified_ms`, is due for a reminder
/// at `now_ms`, with `repeat_secs` between reminders (`None` or 0: no reminders).
pub fn next_reminder(
    state: AlarmState,
    last_notified_ms: i64,
    repeat_secs: Option<u64>,
    now_ms: i64,
) -> Reminder {
    let Some(repeat) = repeat_secs.filter(|s| *s > 0) else {
        return Reminder::Never;
    };
    if state != AlarmState::New {
        return Reminder::Never;
    }
    let interval = i64::try_from(repeat.saturating_mul(1000)).unwrap_or(i64::MAX);
    let due = last_notified_ms.saturating_add(interval);
    if now_ms >= due {
        Reminder::Due
    } else {
        Reminder::At(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_alarms_are_reminded_every_interval() {
        let r = |now| next_reminder(AlarmState::New, 0, Some(1800), now);
        assert_eq!(r(0), Reminder::At(1_800_000));
        assert_eq!(r(1_799_999), Reminder::At(1_800_000));
        assert_eq!(r(1_800_000), Reminder::Due);
        assert_eq!(r(99_000_000), Reminder::Due, "one reminder however late");
    }

    #[test]
    fn taken_closed_or_unreminded_alarms_are_never_reminded() {
        for state in [AlarmState::Taken, AlarmState::Closed] {
            assert_eq!(next_reminder(state, 0, Some(60), 999_999), Reminder::Never);
        }
        assert_eq!(next_reminder(AlarmState::New, 0, None, 1), Reminder::Never);
        assert_eq!(
            next_reminder(AlarmState::New, 0, Some(0), 1),
            Reminder::Never
        );
    }
}
