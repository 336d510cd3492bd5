//! The message model: one [`Notification`] is one thing that happened (an alarm opened,
//! escalated, closed or still untaken; a panel going offline or online; a control command's
//! outcome), with every field a template or a service payload may show.
//!
//! A notification is created by whoever records the change (the store, in the same
//! transaction as the alarm change) and is immutable afterwards: retries, reminders of the
//! same alarm and every channel see the same text and the same [`NotificationId`].

use std::fmt;

use panel_proto::codes::{self, Class};
use serde::{Deserialize, Serialize};

/// Stable identity of one notification: the same on every retry, from every node, and in
/// every channel (the Standard Webhooks `webhook-id`, the e-mail `Message-ID`).
///
/// Only ASCII letters, digits, `_` and `-`: the id is part of a signed text in which `.`
/// separates fields, and it travels in headers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NotificationId(String);

/// Longest id accepted; ids are derived from numbers, so this is generous.
const ID_MAX_LEN: usize = 100;

impl NotificationId {
    /// Check and wrap an id.
    pub fn new(text: impl Into<String>) -> Result<NotificationId, String> {
        let text = text.into();
        let ok = !text.is_empty()
            && text.len() <= ID_MAX_LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(NotificationId(text))
        } else {
            Err(format!(
                "notification id {text:?} must be 1..={ID_MAX_LEN} ASCII letters, digits, _ or -"
            ))
        }
    }

    /// The id of a notification about alarm `alarm_id`; `n` tells apart several
    /// notifications of the same kind (the n-th reminder, a second escalation).
    /// Deterministic, so two nodes recording the same change produce the same id.
    pub fn for_alarm(alarm_id: i64, what: What, n: u32) -> NotificationId {
        NotificationId(format!("ntf_a{alarm_id}_{}_{n}", what.as_str()))
    }

    /// The id of a notification caused by the stored event `seq` (panel offline/online,
    /// control outcomes).
    pub fn for_event(seq: i64, what: What) -> NotificationId {
        NotificationId(format!("ntf_e{seq}_{}", what.as_str()))
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for NotificationId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        NotificationId::new(s)
    }
}

impl From<NotificationId> for String {
    fn from(id: NotificationId) -> String {
        id.0
    }
}

impl fmt::Display for NotificationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What happened. Rules select on it (`states = [...]`); templates show it (`{what}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum What {
    /// An alarm record was opened.
    AlarmOpened,
    /// An alarm was escalated (not taken in time, or raised in priority).
    AlarmEscalated,
    /// An alarm was closed.
    AlarmClosed,
    /// An opened alarm is still not taken (repeat until handled).
    AlarmReminder,
    /// A panel went offline (supervision expired).
    PanelOffline,
    /// A panel came back online.
    PanelOnline,
    /// A control command finished (confirmed, failed, timed out).
    ControlOutcome,
    /// A test message from `alarmhub notify test`.
    Test,
}

impl What {
    /// Stable snake_case name, as in the webhook `type` and the rule `states`.
    pub fn as_str(self) -> &'static str {
        match self {
            What::AlarmOpened => "alarm_opened",
            What::AlarmEscalated => "alarm_escalated",
            What::AlarmClosed => "alarm_closed",
            What::AlarmReminder => "alarm_reminder",
            What::PanelOffline => "panel_offline",
            What::PanelOnline => "panel_online",
            What::ControlOutcome => "control_outcome",
            What::Test => "test",
        }
    }

    /// The label shown in Chinese messages (`【报警】…`).
    pub fn label_zh(self) -> &'static str {
        match self {
            What::AlarmOpened => "报警",
            What::AlarmEscalated => "报警升级",
            What::AlarmClosed => "报警已处理",
            What::AlarmReminder => "报警未处理",
            What::PanelOffline => "离线",
            What::PanelOnline => "上线",
            What::ControlOutcome => "控制",
            What::Test => "测试",
        }
    }

    /// The label shown in English messages.
    pub fn label_en(self) -> &'static str {
        match self {
            What::AlarmOpened => "Alarm",
            What::AlarmEscalated => "Alarm escalated",
            What::AlarmClosed => "Alarm closed",
            What::AlarmReminder => "Alarm not taken",
            What::PanelOffline => "Offline",
            What::PanelOnline => "Online",
            What::ControlOutcome => "Control",
            What::Test => "Test",
        }
    }

    /// Whether this is about an alarm record (the digest calls these "alarms").
    pub fn is_alarm(self) -> bool {
        matches!(
            self,
            What::AlarmOpened | What::AlarmEscalated | What::AlarmClosed | What::AlarmReminder
        )
    }
}

/// Broad class of the event, mirroring [`panel_proto::codes::Class`] with serde names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventClass {
    /// An alarm condition (burglary, fire, panic …).
    Alarm,
    /// An alarm condition returned to normal.
    AlarmRestore,
    /// A fault.
    Trouble,
    /// A fault cleared.
    TroubleRestore,
    /// Arming or disarming.
    ArmDisarm,
    /// A test report.
    Test,
    /// Link supervision (online, offline).
    Supervision,
    /// Anything else.
    Info,
}

impl From<Class> for EventClass {
    fn from(c: Class) -> EventClass {
        match c {
            Class::Alarm => EventClass::Alarm,
            Class::AlarmRestore => EventClass::AlarmRestore,
            Class::Trouble => EventClass::Trouble,
            Class::TroubleRestore => EventClass::TroubleRestore,
            Class::ArmDisarm => EventClass::ArmDisarm,
            Class::Test => EventClass::Test,
            Class::Supervision => EventClass::Supervision,
            Class::Info => EventClass::Info,
        }
    }
}

impl EventClass {
    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventClass::Alarm => "alarm",
            EventClass::AlarmRestore => "alarm_restore",
            EventClass::Trouble => "trouble",
            EventClass::TroubleRestore => "trouble_restore",
            EventClass::ArmDisarm => "arm_disarm",
            EventClass::Test => "test",
            EventClass::Supervision => "supervision",
            EventClass::Info => "info",
        }
    }
}

/// One notification. Fields are public: the producer fills what it knows, and
/// [`Notification::for_event`] fills the event names and class from the code tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Stable id (see [`NotificationId`]).
    pub id: NotificationId,
    /// What happened.
    pub what: What,
    /// The alarm record, for alarm notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_id: Option<i64>,
    /// The stored event that caused it, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_seq: Option<i64>,
    /// Panel account.
    pub account: String,
    /// The account's name for people (`[[accounts]] name`); empty when not configured.
    #[serde(default)]
    pub panel_name: String,
    /// Zone or user number.
    #[serde(default)]
    pub zone: u16,
    /// Group / partition / section.
    #[serde(default)]
    pub group: u16,
    /// 4-digit Contact ID style code; 0 when the event has none.
    #[serde(default)]
    pub code: u16,
    /// SIA two-letter code, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sia_code: Option<String>,
    /// Event name in Chinese (falls back to English where the tables have none).
    #[serde(default)]
    pub event_zh: String,
    /// Event name in English.
    #[serde(default)]
    pub event_en: String,
    /// Broad class of the event.
    pub class: EventClass,
    /// Alarm priority: 1 is the most urgent.
    #[serde(default)]
    pub priority: u8,
    /// When it happened, Unix milliseconds.
    pub time_ms: i64,
    /// The account's offset from UTC in seconds, for showing local time.
    #[serde(default)]
    pub utc_offset_secs: i32,
    /// Free text: the control outcome, who took or closed the alarm, an escalation reason.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

impl Notification {
    /// A notification about an event with `code` (or `sia_code`) on `account` at `time_ms`,
    /// with the event names and class looked up in the code tables. Zone, group, priority,
    /// panel name, offset and detail are left for the caller to set.
    pub fn for_event(
        id: NotificationId,
        what: What,
        account: &str,
        code: u16,
        sia_code: Option<&str>,
        time_ms: i64,
    ) -> Notification {
        let (event_zh, event_en, class) = describe(code, sia_code);
        Notification {
            id,
            what,
            alarm_id: None,
            event_seq: None,
            account: account.to_string(),
            panel_name: String::new(),
            zone: 0,
            group: 0,
            code,
            sia_code: sia_code.map(str::to_string),
            event_zh,
            event_en,
            class,
            priority: 0,
            time_ms,
            utc_offset_secs: 0,
            detail: String::new(),
        }
    }

    /// The panel name, or the account when the panel has no name.
    pub fn panel_label(&self) -> &str {
        if self.panel_name.is_empty() {
            &self.account
        } else {
            &self.panel_name
        }
    }
}

/// Event names (zh, en) and class for a code; unknown codes keep the raw code as the name.
fn describe(code: u16, sia_code: Option<&str>) -> (String, String, EventClass) {
    if let Some(info) = codes::event_info(code).filter(|_| code != 0) {
        let zh = if info.zh.is_empty() {
            info.description
        } else {
            info.zh
        };
        return (
            zh.to_string(),
            info.description.to_string(),
            info.class.into(),
        );
    }
    if let Some(info) = sia_code.and_then(codes::sia_code) {
        let en = info.description.to_string();
        return (en.clone(), en, info.class.into());
    }
    let raw = match sia_code {
        Some(s) => s.to_string(),
        None => format!("{code:04}"),
    };
    (raw.clone(), raw, EventClass::Info)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ids_are_checked_and_derived_deterministically() {
        assert!(NotificationId::new("ntf_a1_alarm_opened_0").is_ok());
        for bad in ["", "a.b", "a b", "ü", &"x".repeat(101)] {
            assert!(NotificationId::new(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            NotificationId::for_alarm(42, What::AlarmReminder, 3).as_str(),
            "ntf_a42_alarm_reminder_3"
        );
        assert_eq!(
            NotificationId::for_event(7, What::PanelOffline).as_str(),
            "ntf_e7_panel_offline"
        );
    }

    #[test]
    fn event_names_come_from_the_code_tables() {
        let id = NotificationId::new("x").unwrap();
        let n = Notification::for_event(id.clone(), What::AlarmOpened, "1", 1130, None, 0);
        assert_eq!(
            (n.event_zh.as_str(), n.event_en.as_str()),
            ("盗警", "burglary alarm")
        );
        assert_eq!(n.class, EventClass::Alarm);
        let s = Notification::for_event(id.clone(), What::AlarmOpened, "1", 0, Some("FA"), 0);
        assert_eq!(s.class, EventClass::Alarm);
        let u = Notification::for_event(id, What::AlarmOpened, "1", 0, Some("QQ"), 0);
        assert_eq!((u.event_en.as_str(), u.class), ("QQ", EventClass::Info));
    }

    #[test]
    fn serialises_with_snake_case_names_and_round_trips() {
        let id = NotificationId::new("ntf_1").unwrap();
        let n = Notification::for_event(id, What::PanelOffline, "1234", 1944, None, 5);
        let json = serde_json::to_string(&n).unwrap();
        assert!(json.contains("\"what\":\"panel_offline\""), "{json}");
        assert!(json.contains("\"class\":\"supervision\""), "{json}");
        let back: Notification = serde_json::from_str(&json).unwrap();
        assert_eq!(back, n);
        assert!(serde_json::from_str::<NotificationId>("\"a.b\"").is_err());
    }
}
