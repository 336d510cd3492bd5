//! [`Facts`]: what the receiver and the control path know about an event as typed fields,
//! so the registry never reads them back out of display JSON. Each fact has a column of its
//! own in the store (text for the enums, so a person reading the database sees `hb`,
//! `arm_away`, `timed_out`).

use panel_proto::codes::code;
use panel_proto::rules::Dialect;

/// Typed facts of one event. All optional: a receiver ONLINE has a dialect and nothing
/// else, an ingested event usually has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Facts {
    /// Dialect of the panel the event is about (`None` for ingested events).
    pub dialect: Option<Dialect>,
    /// Ademco ID from the Contact ID data account, when it had one.
    pub ademco_id: Option<u32>,
    /// Signal strength 0..=31 from an HB 1799 report.
    pub signal_strength: Option<u8>,
    /// Reported by an account that is not configured (unknown-account policy "flag").
    pub unknown_account: bool,
    /// For a remote command (source `control`): what was asked and how it ended.
    pub control: Option<ControlFacts>,
}

/// A remote command and its outcome, as the audit trail keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlFacts {
    /// What was asked.
    pub action: ControlAction,
    /// How it ended.
    pub outcome: ControlOutcome,
}

/// Remote actions on a Hengbo host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlAction {
    /// Arm away (3400).
    ArmAway,
    /// Arm stay (3456).
    ArmStay,
    /// Disarm (1400, password).
    Disarm,
    /// Emergency (1120).
    Emergency,
    /// Ask the host type (1798).
    QueryType,
}

impl ControlAction {
    /// The audit vocabulary's name for a remote command (`None` for the receiver's own
    /// commands, which are not offered to callers).
    pub fn of(command: &panel_proto::build::Command) -> Option<ControlAction> {
        use panel_proto::build::Command;
        Some(match command {
            Command::ArmAway => ControlAction::ArmAway,
            Command::ArmStay => ControlAction::ArmStay,
            Command::Disarm { .. } => ControlAction::Disarm,
            Command::Emergency => ControlAction::Emergency,
            Command::QueryType => ControlAction::QueryType,
            _ => return None,
        })
    }

    /// Parse the API / CLI name (`arm` is accepted for `arm_away`).
    pub fn parse(s: &str) -> Option<ControlAction> {
        Some(match s {
            "arm_away" | "arm" => ControlAction::ArmAway,
            "arm_stay" => ControlAction::ArmStay,
            "disarm" => ControlAction::Disarm,
            "emergency" => ControlAction::Emergency,
            "query_type" => ControlAction::QueryType,
            _ => return None,
        })
    }

    /// Stable name (API, metrics, the store's `control_action` column).
    pub fn as_str(&self) -> &'static str {
        match self {
            ControlAction::ArmAway => "arm_away",
            ControlAction::ArmStay => "arm_stay",
            ControlAction::Disarm => "disarm",
            ControlAction::Emergency => "emergency",
            ControlAction::QueryType => "query_type",
        }
    }

    /// The event code the command is sent (and audited) as.
    pub fn code(&self) -> u16 {
        match self {
            ControlAction::ArmAway => code::ARM_AWAY,
            ControlAction::ArmStay => code::ARM_STAY,
            ControlAction::Disarm => code::DISARM,
            ControlAction::Emergency => code::EMERGENCY,
            ControlAction::QueryType => code::WHAT_IS_YOUR_TYPE,
        }
    }
}

/// How a remote command ended (the kind; the human message goes into the detail).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlOutcome {
    /// The host ACKed the command and reported the status it asked for.
    Done,
    /// No ACK after every retry.
    TimedOut,
    /// The host refused a disarm's password (1701).
    WrongPassword,
    /// The host ACKed but did not report the new status.
    NotDone,
    /// The panel had no connection.
    PanelOffline,
    /// The panel's type or dialect cannot do this.
    NotSupported,
    /// The request itself was wrong.
    BadRequest,
}

impl ControlOutcome {
    /// Stable name (API, metrics, the store's `control_outcome` column).
    pub fn as_str(&self) -> &'static str {
        match self {
            ControlOutcome::Done => "done",
            ControlOutcome::TimedOut => "timed_out",
            ControlOutcome::WrongPassword => "wrong_password",
            ControlOutcome::NotDone => "not_done",
            ControlOutcome::PanelOffline => "panel_offline",
            ControlOutcome::NotSupported => "not_supported",
            ControlOutcome::BadRequest => "bad_request",
        }
    }

    /// Inverse of [`ControlOutcome::as_str`].
    pub fn parse(s: &str) -> Option<ControlOutcome> {
        Some(match s {
            "done" => ControlOutcome::Done,
            "timed_out" => ControlOutcome::TimedOut,
            "wrong_password" => ControlOutcome::WrongPassword,
            "not_done" => ControlOutcome::NotDone,
            "panel_offline" => ControlOutcome::PanelOffline,
            "not_supported" => ControlOutcome::NotSupported,
            "bad_request" => ControlOutcome::BadRequest,
            _ => return None,
        })
    }
}

/// Inverse of `Dialect::as_str` (`"hb"`, `"dc09"`).
pub fn parse_dialect(s: &str) -> Option<Dialect> {
    match s {
        "hb" => Some(Dialect::Hb),
        "dc09" => Some(Dialect::Dc09),
        _ => None,
    }
}

/// Serde for `Option<Dialect>` as `"hb"` / `"dc09"` / `null`, the form registry snapshots
/// have always used (`#[serde(with = "dialect_serde")]`).
pub mod dialect_serde {
    use panel_proto::rules::Dialect;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Write `"hb"`, `"dc09"` or `null`.
    pub fn serialize<S: Serializer>(d: &Option<Dialect>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(d.as_str()),
            None => s.serialize_none(),
        }
    }

    /// Read `"hb"`, `"dc09"` or `null`; anything else is an error naming the value.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Dialect>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| {
            super::parse_dialect(&t)
                .ok_or_else(|| serde::de::Error::custom(format!("unknown dialect {t:?}")))
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in [
            ControlAction::ArmAway,
            ControlAction::ArmStay,
            ControlAction::Disarm,
            ControlAction::Emergency,
            ControlAction::QueryType,
        ] {
            assert_eq!(ControlAction::parse(a.as_str()), Some(a));
        }
        for o in [
            ControlOutcome::Done,
            ControlOutcome::TimedOut,
            ControlOutcome::WrongPassword,
            ControlOutcome::NotDone,
            ControlOutcome::PanelOffline,
            ControlOutcome::NotSupported,
            ControlOutcome::BadRequest,
        ] {
            assert_eq!(ControlOutcome::parse(o.as_str()), Some(o));
        }
        for d in [Dialect::Hb, Dialect::Dc09] {
            assert_eq!(parse_dialect(d.as_str()), Some(d));
        }
        assert_eq!(ControlAction::Disarm.code(), 1400);
    }
}
