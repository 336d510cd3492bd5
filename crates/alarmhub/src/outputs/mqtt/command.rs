//! Commands from Home Assistant and the rules they must pass before they reach a panel.
//!
//! Payloads: the plain `ARM_AWAY`, `ARM_HOME`, `DISARM`, or the JSON our discovery config's
//! `command_template` produces: `{"action": "DISARM", "code": "123456", "ts": 1767225600}`
//! (`code` is Home Assistant's code, passed through as the HB host password; `ts` is Home
//! Assistant's clock in Unix seconds).
//!
//! Rules, in order:
//! * a **retained** message is ignored: a retained `DISARM` must never fire after a restart
//!   (MQTT 3.1.1 sets the retain flag only on messages replayed from the broker's store);
//! * how old a command is comes from its `ts`: further than `command_max_age_secs` from
//!   alarmhub's clock, in either direction, and it is ignored. A command without `ts` is
//!   taken as live: alarmhub's session is clean, so the broker never queues commands for it
//!   while it is away, and retained ones are already dropped;
//! * the account must be in `control_accounts`.

use serde::Deserialize;

use crate::config::Secret;
use crate::outputs::source::ArmAction;

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// What to do.
    pub action: ArmAction,
    /// Home Assistant's code, when it sent one.
    pub code: Option<Secret>,
    /// Home Assistant's clock when it sent the command, Unix ms.
    pub ts_ms: Option<i64>,
}

/// Why a command is not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// A retained message (replayed by the broker).
    #[error("retained command ignored")]
    Retained,
    /// Not a command this bridge understands.
    #[error("{0}")]
    Malformed(String),
    /// Older than `command_max_age_secs`.
    #[error("command is {age_secs} s old (limit {max_secs} s); check both clocks")]
    TooOld {
        /// Its age.
        age_secs: i64,
        /// The limit.
        max_secs: u64,
    },
    /// Stamped further in the future than `command_max_age_secs`.
    #[error(
        "command is stamped {ahead_secs} s in the future (limit {max_secs} s); check both clocks"
    )]
    FromTheFuture {
        /// How far ahead.
        ahead_secs: i64,
        /// The limit.
        max_secs: u64,
    },
    /// The account is not in `control_accounts`.
    #[error("account {0:?} may not be commanded over MQTT (mqtt.control_accounts)")]
    NotAllowed(String),
    /// A command for this host or section is still running.
    #[error("another command for this panel is still running")]
    Busy,
}

impl Rejection {
    /// Stable name for the command_result topic and metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            Rejection::Retained => "retained",
            Rejection::Malformed(_) => "malformed",
            Rejection::TooOld { .. } => "too_old",
            Rejection::FromTheFuture { .. } => "from_the_future",
            Rejection::NotAllowed(_) => "not_allowed",
            Rejection::Busy => "busy",
        }
    }
}

#[derive(Deserialize)]
struct Json {
    action: String,
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default)]
    ts: Option<f64>,
}

/// Read a command payload.
pub fn parse(payload: &[u8]) -> Result<Command, Rejection> {
    let text = std::str::from_utf8(payload)
        .map_err(|_| Rejection::Malformed("payload is not UTF-8".into()))?
        .trim();
    if text.starts_with('{') {
        let j: Json = serde_json::from_str(text)
            .map_err(|e| Rejection::Malformed(format!("command JSON: {e}")))?;
        return Ok(Command {
            action: action(&j.action)?,
            code: j.code.and_then(code_text).map(Secret::new),
            ts_ms: j.ts.filter(|t| t.is_finite()).map(|t| (t * 1000.0) as i64),
        });
    }
    Ok(Command {
        action: action(text)?,
        code: None,
        ts_ms: None,
    })
}

fn action(text: &str) -> Result<ArmAction, Rejection> {
    match text {
        "ARM_AWAY" => Ok(ArmAction::ArmAway),
        "ARM_HOME" => Ok(ArmAction::ArmStay),
        "DISARM" => Ok(ArmAction::Disarm),
        other => Err(Rejection::Malformed(format!(
            "action {:?} is not supported (ARM_AWAY, ARM_HOME, DISARM)",
            other.chars().take(32).collect::<String>()
        ))),
    }
}

/// The code as text; Home Assistant renders a missing code as `None` or an empty string.
fn code_text(v: serde_json::Value) -> Option<String> {
    let s = match v {
        serde_json::Value::String(s) => s,
        serde_json::Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!s.is_empty() && s != "None" && s != "null").then_some(s)
}

/// Whether `command` may run now.
pub fn check(
    command: &Command,
    retained: bool,
    now_ms: i64,
    max_age_secs: u64,
) -> Result<(), Rejection> {
    if retained {
        return Err(Rejection::Retained);
    }
    let Some(ts) = command.ts_ms else {
        return Ok(());
    };
    let max_ms = i64::try_from(max_age_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let age = now_ms - ts;
    if age > max_ms {
        return Err(Rejection::TooOld {
            age_secs: age / 1000,
            max_secs: max_age_secs,
        });
    }
    if -age > max_ms {
        return Err(Rejection::FromTheFuture {
            ahead_secs: -age / 1000,
            max_secs: max_age_secs,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn plain_payloads() {
        for (p, a) in [
            ("ARM_AWAY", ArmAction::ArmAway),
            ("ARM_HOME\n", ArmAction::ArmStay),
            ("DISARM", ArmAction::Disarm),
        ] {
            let c = parse(p.as_bytes()).unwrap();
            assert_eq!((c.action, c.code, c.ts_ms), (a, None, None));
        }
        for bad in ["ARM_NIGHT", "disarm", "", "TRIGGER"] {
            assert!(matches!(
                parse(bad.as_bytes()),
                Err(Rejection::Malformed(_))
            ));
        }
    }

    #[test]
    fn json_payloads_carry_code_and_time() {
        let c = parse(br#"{"action":"DISARM","code":"123456","ts":1700000000.25}"#).unwrap();
        assert_eq!(c.action, ArmAction::Disarm);
        assert_eq!(c.code.unwrap().expose(), "123456");
        assert_eq!(c.ts_ms, Some(1_700_000_000_250));
        let c = parse(br#"{"action":"ARM_AWAY","code":"None","ts":1}"#).unwrap();
        assert!(c.code.is_none());
        let c = parse(br#"{"action":"ARM_AWAY","code":1234}"#).unwrap();
        assert_eq!(c.code.unwrap().expose(), "1234");
        assert!(parse(br#"{"code":"1"}"#).is_err());
    }

    #[test]
    fn the_code_is_never_printed() {
        let c = parse(br#"{"action":"DISARM","code":"987654"}"#).unwrap();
        assert!(!format!("{c:?}").contains("987654"));
    }

    #[test]
    fn retained_and_stale_commands_are_refused() {
        let now = 1_700_000_100_000;
        let live = Command {
            action: ArmAction::Disarm,
            code: None,
            ts_ms: Some(now - 5_000),
        };
        assert_eq!(check(&live, false, now, 30), Ok(()));
        assert_eq!(check(&live, true, now, 30), Err(Rejection::Retained));
        let old = Command {
            ts_ms: Some(now - 31_000),
            ..live.clone()
        };
        assert!(matches!(
            check(&old, false, now, 30),
            Err(Rejection::TooOld { age_secs: 31, .. })
        ));
        let ahead = Command {
            ts_ms: Some(now + 60_000),
            ..live.clone()
        };
        assert!(matches!(
            check(&ahead, false, now, 30),
            Err(Rejection::FromTheFuture { .. })
        ));
        let untimed = Command {
            ts_ms: None,
            ..live
        };
        assert_eq!(check(&untimed, false, now, 30), Ok(()));
        assert_eq!(check(&untimed, true, now, 30), Err(Rejection::Retained));
    }
}
