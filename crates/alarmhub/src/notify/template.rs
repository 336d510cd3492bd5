//! Message text: a small `{field}` template language and local time formatting. The
//! built-in texts (zh-CN and English) and digests are in `wording`.
//!
//! A template is literal text with placeholders such as `{panel}` or `{time}`; `{{` and `}}`
//! stand for literal braces. Templates from the configuration are parsed when the file is
//! read, so an unknown placeholder is an error naming the file, line and key — never a
//! surprise in a message at three in the morning.

use std::fmt::{self, Write};

use panel_proto::timestamp::Timestamp;
use serde::{Deserialize, Deserializer};

use super::model::Notification;

/// Language of the built-in texts (`{what}`, `{event}`, defaults, digests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
pub enum Language {
    /// Simplified Chinese (the default).
    #[default]
    #[serde(rename = "zh-CN", alias = "zh")]
    ZhCn,
    /// English.
    #[serde(rename = "en")]
    En,
}

/// One placeholder a template may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Id,
    What,
    WhatZh,
    WhatEn,
    Account,
    Panel,
    PanelName,
    Zone,
    Group,
    Code,
    Sia,
    Event,
    EventZh,
    EventEn,
    Class,
    Priority,
    Time,
    TimeUtc,
    Offset,
    AlarmId,
    Detail,
    Count,
}

/// Every placeholder name, in the order the error message lists them.
const FIELDS: &[(&str, Field)] = &[
    ("what", Field::What),
    ("what_zh", Field::WhatZh),
    ("what_en", Field::WhatEn),
    ("account", Field::Account),
    ("panel", Field::Panel),
    ("panel_name", Field::PanelName),
    ("zone", Field::Zone),
    ("group", Field::Group),
    ("event", Field::Event),
    ("event_zh", Field::EventZh),
    ("event_en", Field::EventEn),
    ("code", Field::Code),
    ("sia", Field::Sia),
    ("class", Field::Class),
    ("priority", Field::Priority),
    ("time", Field::Time),
    ("time_utc", Field::TimeUtc),
    ("offset", Field::Offset),
    ("alarm_id", Field::AlarmId),
    ("id", Field::Id),
    ("detail", Field::Detail),
    ("count", Field::Count),
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(Field),
}

/// A parsed template. `Debug` shows the source text.
#[derive(Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    pieces: Vec<Piece>,
}

/// Why a template text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{name}` where `name` is not a known field.
    #[error("unknown placeholder {{{name}}}; known: {}", known_names())]
    UnknownField {
        /// The name inside the braces.
        name: String,
    },
    /// A `{` with no matching `}`.
    #[error("unclosed {{ at character {position}; write {{{{ for a literal brace")]
    Unclosed {
        /// 1-based character position.
        position: usize,
    },
    /// A lone `}`.
    #[error("unmatched }} at character {position}; write }}}} for a literal brace")]
    Unmatched {
        /// 1-based character position.
        position: usize,
    },
}

fn known_names() -> String {
    FIELDS
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Template {
    /// Parse a template text.
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        Ok(Template {
            source: source.to_string(),
            pieces: tokenize(source)?,
        })
    }

    /// The text as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Fill in the placeholders.
    pub fn render(&self, ctx: &Context<'_>) -> String {
        let mut out = String::with_capacity(self.source.len() + 32);
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Field(f) => ctx.write_field(*f, &mut out),
            }
        }
        out
    }
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Template({:?})", self.source)
    }
}

impl<'de> Deserialize<'de> for Template {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Template, D::Error> {
        let text = String::deserialize(d)?;
        Template::parse(&text).map_err(serde::de::Error::custom)
    }
}

fn tokenize(source: &str) -> Result<Vec<Piece>, TemplateError> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = source.chars().enumerate().peekable();
    while let Some((i, ch)) = chars.next() {
        match ch {
            '{' if chars.peek().map(|(_, c)| *c) == Some('{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek().map(|(_, c)| *c) == Some('}') => {
                chars.next();
                text.push('}');
            }
            '}' => return Err(TemplateError::Unmatched { position: i + 1 }),
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some((_, '}')) => break,
                        Some((_, c)) => name.push(c),
                        None => return Err(TemplateError::Unclosed { position: i + 1 }),
                    }
                }
                let field = FIELDS
                    .iter()
                    .find(|(n, _)| *n == name.trim())
                    .map(|(_, f)| *f)
                    .ok_or(TemplateError::UnknownField { name })?;
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Field(field));
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// What a template is rendered against: one notification (or the most urgent one of a
/// digest, with `count` folded in), in a language.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The notification whose fields are shown.
    pub notification: &'a Notification,
    /// Language of `{what}` and `{event}`.
    pub language: Language,
    /// How many notifications the message stands for (1 unless a digest).
    pub count: usize,
}

impl<'a> Context<'a> {
    /// Context for a single notification.
    pub fn one(notification: &'a Notification, language: Language) -> Context<'a> {
        Context {
            notification,
            language,
            count: 1,
        }
    }

    fn write_field(&self, field: Field, out: &mut String) {
        let n = self.notification;
        let zh = self.language == Language::ZhCn;
        // Writing to a String cannot fail.
        let _ = match field {
            Field::Id => write!(out, "{}", n.id),
            Field::What if zh => write!(out, "{}", n.what.label_zh()),
            Field::What | Field::WhatEn => write!(out, "{}", n.what.label_en()),
            Field::WhatZh => write!(out, "{}", n.what.label_zh()),
            Field::Account => write!(out, "{}", n.account),
            Field::Panel => write!(out, "{}", n.panel_label()),
            Field::PanelName => write!(out, "{}", n.panel_name),
            Field::Zone => write!(out, "{}", n.zone),
            Field::Group => write!(out, "{}", n.group),
            Field::Code if n.code == 0 => Ok(()),
            Field::Code => write!(out, "{:04}", n.code),
            Field::Sia => write!(out, "{}", n.sia_code.as_deref().unwrap_or("")),
            Field::Event if zh => write!(out, "{}", n.event_zh),
            Field::Event | Field::EventEn => write!(out, "{}", n.event_en),
            Field::EventZh => write!(out, "{}", n.event_zh),
            Field::Class => write!(out, "{}", n.class.as_str()),
            Field::Priority => write!(out, "{}", n.priority),
            Field::Time => write!(out, "{}", local_time(n.time_ms, n.utc_offset_secs)),
            Field::TimeUtc => write!(out, "{}Z", local_time(n.time_ms, 0).replace(' ', "T")),
            Field::Offset => write!(out, "{}", offset_text(n.utc_offset_secs)),
            Field::AlarmId => match n.alarm_id {
                Some(a) => write!(out, "{a}"),
                None => Ok(()),
            },
            Field::Detail => write!(out, "{}", n.detail),
            Field::Count => write!(out, "{}", self.count),
        };
    }
}

/// `YYYY-MM-DD HH:MM:SS` of `time_ms` shifted by `offset_secs`.
pub fn local_time(time_ms: i64, offset_secs: i32) -> String {
    let t = Timestamp::from_unix(time_ms.div_euclid(1000) + i64::from(offset_secs));
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

/// `+08:00`, `-05:30`, `+00:00`.
fn offset_text(offset_secs: i32) -> String {
    let sign = if offset_secs < 0 { '-' } else { '+' };
    let abs = offset_secs.unsigned_abs();
    format!("{sign}{:02}:{:02}", abs / 3600, abs % 3600 / 60)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::notify::model::{NotificationId, What};

    fn burglary() -> Notification {
        let id = NotificationId::new("ntf_a1_alarm_opened_0").unwrap();
        // 2026-11-29 04:00:01 UTC = 12:00:01 at +08:00.
        let mut n = Notification::for_event(id, What::AlarmOpened, "12", 1130, None, 0);
        n.time_ms = 1_795_924_801_000;
        n.utc_offset_secs = 8 * 3600;
        n.panel_name = "商铺12 北门".into();
        n.zone = 3;
        n
    }

    #[test]
    fn placeholders_escapes_and_errors() {
        let n = burglary();
        let t = Template::parse("{{{account}}} {time_utc} {offset} {code}{sia} #{count}").unwrap();
        let ctx = Context {
            notification: &n,
            language: Language::En,
            count: 4,
        };
        assert_eq!(t.render(&ctx), "{12} 2026-11-29T04:00:01Z +08:00 1130 #4");
        let e = Template::parse("x {zone} {colour}").unwrap_err();
        assert!(e
            .to_string()
            .starts_with("unknown placeholder {colour}; known: what,"));
        assert_eq!(
            Template::parse("ab {zone").unwrap_err(),
            TemplateError::Unclosed { position: 4 }
        );
        assert_eq!(
            Template::parse("a}b").unwrap_err(),
            TemplateError::Unmatched { position: 2 }
        );
    }

    #[test]
    fn local_time_handles_negative_offsets_and_day_changes() {
        assert_eq!(local_time(0, -3600), "1969-12-31 23:00:00");
        assert_eq!(local_time(1_999, 0), "1970-01-01 00:00:01");
        assert_eq!(offset_text(-19_800), "-05:30");
    }
}
