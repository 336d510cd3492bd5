//! From panel state to Home Assistant's `alarm_control_panel` states.
//!
//! In order of precedence:
//! 1. a command is pending for this host or section → `arming` / `disarming`;
//! 2. an alarm is open (until its restore) in it → `triggered` (section 0 counts every
//!    section's alarms);
//! 3. a command the host confirmed, until the host's own status report moves on → its target;
//! 4. the HB status: 0 → `armed_away`, 1 → `armed_home`, 2 and 3 (settings mode, not
//!    armed) → `disarmed`; unknown → nothing is published (Home Assistant keeps `unknown`).

use crate::outputs::source::{ArmAction, PanelSnapshot};

/// A command in flight for a host or section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pending {
    /// Arm away or stay was sent, no outcome yet.
    Arming,
    /// Disarm was sent, no outcome yet.
    Disarming,
}

impl Pending {
    /// The pending state of `action`.
    pub fn of(action: ArmAction) -> Pending {
        match action {
            ArmAction::ArmAway | ArmAction::ArmStay => Pending::Arming,
            ArmAction::Disarm => Pending::Disarming,
        }
    }
}

/// A command the host confirmed: its target status holds until the panel's status for the
/// section differs from `status_before`, i.e. until the host's own report arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confirmed {
    /// HB status the command set (0, 1 or 2).
    pub target: i32,
    /// HB status when the command was confirmed.
    pub status_before: i32,
}

impl Confirmed {
    /// The target status of a confirmed `action`.
    pub fn new(action: ArmAction, status_before: i32) -> Confirmed {
        let target = match action {
            ArmAction::ArmAway => 0,
            ArmAction::ArmStay => 1,
            ArmAction::Disarm => 2,
        };
        Confirmed {
            target,
            status_before,
        }
    }
}

/// The HB status of `section`, clamped to the four tracked slots.
pub fn status_of(p: &PanelSnapshot, section: u8) -> i32 {
    p.status.get(usize::from(section)).copied().unwrap_or(-1)
}

/// The Home Assistant state of `section` (0 = whole host), `None` when unknown.
pub fn ha_state(
    p: &PanelSnapshot,
    section: u8,
    pending: Option<Pending>,
    confirmed: Option<Confirmed>,
) -> Option<&'static str> {
    match pending {
        Some(Pending::Arming) => return Some("arming"),
        Some(Pending::Disarming) => return Some("disarming"),
        None => {}
    }
    let alarm_open = p
        .active_alarms
        .values()
        .any(|&g| section == 0 || g == u16::from(section) || g == 0);
    if alarm_open {
        return Some("triggered");
    }
    let status = status_of(p, section);
    let status = match confirmed {
        Some(c) if c.status_before == status => c.target,
        _ => status,
    };
    match status {
        0 => Some("armed_away"),
        1 => Some("armed_home"),
        2 | 3 => Some("disarmed"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panel(status: [i32; 4]) -> PanelSnapshot {
        PanelSnapshot {
            account: "1".into(),
            online: true,
            machine_type: 8,
            status,
            ..PanelSnapshot::default()
        }
    }

    #[test]
    fn hb_statuses_map_to_ha_states() {
        for (s, want) in [
            (0, Some("armed_away")),
            (1, Some("armed_home")),
            (2, Some("disarmed")),
            (3, Some("disarmed")),
            (-1, None),
        ] {
            assert_eq!(
                ha_state(&panel([s, -1, -1, -1]), 0, None, None),
                want,
                "{s}"
            );
        }
    }

    #[test]
    fn pending_comes_first_then_alarms() {
        let mut p = panel([2, 2, 2, 2]);
        p.active_alarms.insert(5, 2);
        assert_eq!(ha_state(&p, 0, Some(Pending::Arming), None), Some("arming"));
        assert_eq!(
            ha_state(&p, 1, Some(Pending::Disarming), None),
            Some("disarming")
        );
        assert_eq!(ha_state(&p, 0, None, None), Some("triggered"));
        assert_eq!(ha_state(&p, 2, None, None), Some("triggered"));
        assert_eq!(ha_state(&p, 1, None, None), Some("disarmed"));
    }

    #[test]
    fn a_confirmed_command_holds_until_the_host_reports() {
        let p = panel([2, -1, -1, -1]);
        let c = Confirmed::new(ArmAction::ArmAway, 2);
        assert_eq!(ha_state(&p, 0, None, Some(c)), Some("armed_away"));
        // The host later reports disarm after arm: its report wins.
        let p = panel([0, -1, -1, -1]);
        assert_eq!(ha_state(&p, 0, None, Some(c)), Some("armed_away"));
        let p = panel([1, -1, -1, -1]);
        assert_eq!(ha_state(&p, 0, None, Some(c)), Some("armed_home"));
    }
}
