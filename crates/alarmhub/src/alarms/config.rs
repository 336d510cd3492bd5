//! `[alarms]`: which events open alarms and at what priority, how soon each priority must
//! be taken, and the resolution codes operators close with. [`AlarmsConfig::classify`] is
//! the one decision "does this event need a person?".
//!
//! Defaults (issue #15): Contact ID / SIA events of class alarm and the receiver's own
//! OFFLINE open alarms; priorities fire 1, panic and medical 2, burglary 3, other alarms 3,
//! tamper 4, offline 5, trouble 6 (trouble opens nothing unless `open = true`); take within
//! 30 s for priority 1, 60 s for priority 3, 120 s for the rest.

use std::collections::BTreeMap;

use panel_proto::codes::Class;
use serde::Deserialize;

use super::{Category, EventAction, Priority};
use crate::config::Problem;
use crate::events::{codes, NewEvent, Source};

/// `[alarms]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlarmsConfig {
    /// Open alarms at all (false: events are only stored).
    pub enabled: bool,
    /// `[alarms.classes.<category>]`: per category, whether it opens alarms and at what
    /// priority. Categories left out keep their defaults.
    pub classes: BTreeMap<Category, ClassRule>,
    /// `[[alarms.codes]]`: per-code overrides (a 4-digit code or a SIA code).
    pub codes: Vec<CodeRule>,
    /// `[alarms.take_within_secs]`: priority ("1".."9") → seconds before an alarm not taken
    /// escalates; `default` for the priorities not listed.
    pub take_within_secs: BTreeMap<String, u64>,
    /// `[[alarms.resolutions]]`: the codes an alarm may be closed with.
    pub resolutions: Vec<Resolution>,
}

/// Whether a category opens alarms, and at what priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassRule {
    /// Events of this category open (or attach to) an alarm.
    pub open: bool,
    /// Their priority.
    pub priority: Priority,
}

/// A per-code override.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeRule {
    /// A 4-digit Contact ID / Hengbo code (`1130`) — or
    #[serde(default)]
    pub code: Option<u16>,
    /// a SIA two-letter code (`"BA"`).
    #[serde(default)]
    pub sia: Option<String>,
    /// Open an alarm (default: what the category says).
    #[serde(default)]
    pub open: Option<bool>,
    /// Priority (default: the category's).
    #[serde(default)]
    pub priority: Option<Priority>,
    /// Count as this category (default: derived from the code).
    #[serde(default)]
    pub category: Option<Category>,
}

/// A resolution code.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    /// The code operators give (`false_alarm_user` …).
    pub code: String,
    /// What it means, for people.
    #[serde(default)]
    pub label: String,
    /// Counts as a false alarm.
    #[serde(default)]
    pub false_alarm: bool,
}

impl Default for AlarmsConfig {
    fn default() -> Self {
        AlarmsConfig {
            enabled: true,
            classes: BTreeMap::new(),
            codes: Vec::new(),
            take_within_secs: BTreeMap::new(),
            resolutions: default_resolutions(),
        }
    }
}

/// The default of a category.
pub fn default_rule(c: Category) -> ClassRule {
    let (open, p) = match c {
        Category::Fire => (true, 1),
        Category::Panic | Category::Medical => (true, 2),
        Category::Burglary | Category::Other => (true, 3),
        Category::Tamper => (true, 4),
        Category::Offline => (true, 5),
        Category::Trouble => (false, 6),
    };
    ClassRule {
        open,
        priority: Priority::new(p).unwrap_or(Priority::LOWEST),
    }
}

/// Default seconds to take an alarm of priority `p`: fire 30, burglary 60, others 120.
pub fn default_take_within_secs(p: Priority) -> u64 {
    match p.get() {
        1 => 30,
        3 => 60,
        _ => 120,
    }
}

fn default_resolutions() -> Vec<Resolution> {
    [
        ("false_alarm_user", "user error (false alarm)", true),
        (
            "false_alarm_equipment",
            "equipment fault (false alarm)",
            true,
        ),
        ("false_alarm_unknown", "false alarm, cause unknown", true),
        (
            "cancelled_by_customer",
            "cancelled by the customer with the password",
            true,
        ),
        ("police_dispatched", "real alarm, police dispatched", false),
        (
            "fire_brigade_dispatched",
            "real alarm, fire brigade dispatched",
            false,
        ),
        (
            "medical_dispatched",
            "real alarm, ambulance dispatched",
            false,
        ),
        ("guard_dispatched", "guard dispatched", false),
        ("keyholder_informed", "keyholder informed", false),
        ("test", "test or maintenance", false),
        ("connection_restored", "the panel came back online", false),
        ("other", "other (see the note)", false),
    ]
    .into_iter()
    .map(|(code, label, false_alarm)| Resolution {
        code: code.into(),
        label: label.into(),
        false_alarm,
    })
    .collect()
}

impl AlarmsConfig {
    /// The rule of category `c` (configured, or its default).
    pub fn rule(&self, c: Category) -> ClassRule {
        self.classes
            .get(&c)
            .copied()
            .unwrap_or_else(|| default_rule(c))
    }

    /// Seconds an alarm of priority `p` may wait before it escalates.
    pub fn take_within_secs(&self, p: Priority) -> u64 {
        self.take_within_secs
            .get(&p.get().to_string())
            .or_else(|| self.take_within_secs.get("default"))
            .copied()
            .unwrap_or_else(|| default_take_within_secs(p))
    }

    /// The resolution named `code`.
    pub fn resolution(&self, code: &str) -> Option<&Resolution> {
        self.resolutions.iter().find(|r| r.code == code)
    }

    /// What `event` asks of the alarms: open/attach (with its priority), restore a zone, or
    /// nothing (a signal: stored and shown only).
    pub fn classify(&self, event: &NewEvent) -> Option<EventAction> {
        if !self.enabled {
            return None;
        }
        let (category, restore) = category_of(event)?;
        let rule = self.code_rule(event);
        let category = rule.and_then(|r| r.category).unwrap_or(category);
        let base = self.rule(category);
        if restore {
            return Some(EventAction::Restore);
        }
        let open = rule.and_then(|r| r.open).unwrap_or(base.open);
        let priority = rule.and_then(|r| r.priority).unwrap_or(base.priority);
        open.then_some(EventAction::Alarm { priority, category })
    }

    fn code_rule(&self, event: &NewEvent) -> Option<&CodeRule> {
        self.codes.iter().find(|r| {
            r.code.is_some_and(|c| c != 0 && c == event.code)
                || r.sia.as_deref().is_some_and(|s| {
                    event
                        .sia_code
                        .as_deref()
                        .is_some_and(|e| e.eq_ignore_ascii_case(s))
                })
        })
    }
}

/// The category of an event and whether it is a restore; `None` for events that never
/// concern alarms (arming, tests, info …).
pub fn category_of(event: &NewEvent) -> Option<(Category, bool)> {
    if event.source == Source::Control {
        return None;
    }
    if event.code == codes::OFFLINE {
        return Some((Category::Offline, false));
    }
    if event.code == codes::ONLINE {
        return Some((Category::Offline, true));
    }
    let restore = match event.class()? {
        Class::Alarm => false,
        Class::AlarmRestore => true,
        Class::Trouble => return Some((Category::Trouble, false)),
        Class::TroubleRestore => return Some((Category::Trouble, true)),
        _ => return None,
    };
    let by_code = (event.code != 0).then(|| category_of_code(event.code % 1000));
    let category = by_code
        .flatten()
        .or_else(|| event.sia_code.as_deref().and_then(category_of_sia))
        .unwrap_or(Category::Other);
    Some((category, restore))
}

/// Contact ID 3-digit code (and HB's private ones) → category.
fn category_of_code(cid: u16) -> Option<Category> {
    Some(match cid {
        110..=119 | 151 | 162 => Category::Fire,
        100..=102 => Category::Medical,
        120..=129 | 709 => Category::Panic,
        130..=136 | 138 | 139 | 140 => Category::Burglary,
        137 | 144 | 145 | 383 => Category::Tamper,
        _ => return None,
    })
}

/// SIA two-letter code → category, by its first letter.
fn category_of_sia(sia: &str) -> Option<Category> {
    let first = sia.as_bytes().first()?.to_ascii_uppercase();
    Some(match first {
        b'F' | b'G' | b'K' => Category::Fire,
        b'P' | b'H' | b'Q' => Category::Panic,
        b'M' => Category::Medical,
        b'B' | b'D' => Category::Burglary,
        b'T' => Category::Tamper,
        _ => return None,
    })
}

/// Problems in `[alarms]`, each with its field path.
pub(crate) fn check(c: &AlarmsConfig, p: &mut Vec<Problem>) {
    for (key, secs) in &c.take_within_secs {
        let ok_key = key == "default" || key.parse::<u8>().ok().and_then(Priority::new).is_some();
        if !ok_key {
            p.push(Problem::new(
                format!("alarms.take_within_secs.{key}"),
                "must be a priority 1..9 or `default`",
            ));
        }
        if *secs == 0 || *secs > 86_400 {
            p.push(Problem::new(
                format!("alarms.take_within_secs.{key}"),
                format!("{secs} is out of range (1..=86400 seconds)"),
            ));
        }
    }
    for (i, r) in c.codes.iter().enumerate() {
        if r.code.is_some() == r.sia.is_some() {
            p.push(Problem::new(
                format!("alarms.codes[{i}]"),
                "give exactly one of `code` (4-digit) or `sia` (two letters)",
            ));
        }
        if r.sia.as_deref().is_some_and(|s| s.len() != 2) {
            p.push(Problem::new(
                format!("alarms.codes[{i}].sia"),
                "a SIA code has two letters",
            ));
        }
    }
    if c.resolutions.is_empty() {
        p.push(Problem::new(
            "alarms.resolutions",
            "at least one resolution code is needed to close alarms",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, r) in c.resolutions.iter().enumerate() {
        let valid = !r.code.is_empty()
            && r.code.len() <= 64
            && r.code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            p.push(Problem::new(
                format!("alarms.resolutions[{i}].code"),
                "1..64 characters of a-z, 0-9, `_` and `-`",
            ));
        }
        if !seen.insert(r.code.as_str()) {
            p.push(Problem::new(
                format!("alarms.resolutions[{i}].code"),
                format!("{:?} is listed twice", r.code),
            ));
        }
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
