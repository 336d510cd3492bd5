//! Configuration errors, and the translation of TOML errors into messages that name the file,
//! the line and column, and the key (`panel.listen`, `accounts[2].key`).

use std::fmt;
use std::path::PathBuf;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("config {}: cannot read: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid TOML, or does not fit the configuration's shape (unknown key,
    /// wrong type, bad value).
    #[error("config {origin}: {message}{}", snippet_suffix(.snippet))]
    Parse {
        /// The file path, or `<string>`.
        origin: String,
        /// 1-based line of the problem, when known.
        line: Option<u32>,
        /// 1-based column of the problem, when known.
        column: Option<u32>,
        /// Dotted key path of the problem (`panel.listen`, `accounts[1].quirks[0]`), when known.
        key: Option<String>,
        /// What is wrong, with the key path.
        message: String,
        /// toml's own report: position and the offending line with a caret.
        snippet: String,
    },
    /// The configuration parsed but breaks a rule (range, duplicate, key length …).
    #[error("{}", render_problems(.origin.as_deref(), .problems))]
    Invalid {
        /// The file path, or `<string>`; `None` when validating a `Config` built in code.
        origin: Option<String>,
        /// Every rule broken, in file order.
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// Attach the file path to a validation error.
    pub(crate) fn with_origin(self, origin: &str) -> ConfigError {
        match self {
            ConfigError::Invalid { problems, .. } => ConfigError::Invalid {
                origin: Some(origin.to_string()),
                problems,
            },
            other => other,
        }
    }

    /// Translate a toml error on `text` into a [`ConfigError::Parse`].
    pub(crate) fn from_toml(err: &toml::de::Error, text: &str, origin: &str) -> ConfigError {
        let span = err.span();
        let (line, column) = match &span {
            Some(s) => {
                let (l, c) = line_column(text, s.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        let path = span.and_then(|s| key_path_at(text, s.start));
        let message = contextual_message(err.message(), path.as_deref());
        // toml's Display ends with the bare message, which `message` already carries.
        let full = err.to_string();
        let snippet = full
            .trim_end()
            .strip_suffix(err.message().trim_end())
            .unwrap_or(&full)
            .trim_end()
            .to_string();
        ConfigError::Parse {
            origin: origin.to_string(),
            line,
            column,
            key: path.map(|p| render_path(&p)),
            message,
            snippet,
        }
    }
}

/// One broken rule: the field path and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Field path, e.g. `accounts[2].key` or `panel.max_frame_len`.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// 1-based line of the field's value in the file, when it was read from text.
    pub line: Option<u32>,
}

impl Problem {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            field: field.into(),
            message: message.into(),
            line: None,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}: {}", self.field, self.message),
            None => write!(f, "{}: {}", self.field, self.message),
        }
    }
}

/// Give each problem of a validation error the line of its field in `text`.
pub(crate) fn with_lines(e: ConfigError, text: &str) -> ConfigError {
    let ConfigError::Invalid { origin, problems } = e else {
        return e;
    };
    let Ok(doc) = DeTable::parse(text) else {
        return ConfigError::Invalid { origin, problems };
    };
    let problems = problems
        .into_iter()
        .map(|mut p| {
            p.line = span_of(doc.get_ref(), &p.field).map(|pos| line_column(text, pos).0);
            p
        })
        .collect();
    ConfigError::Invalid { origin, problems }
}

/// Byte offset of the value at `field` (`panel.listen`, `accounts[2].key`); the deepest
/// part of the path that exists (a missing key points at its table).
fn span_of(table: &DeTable<'_>, field: &str) -> Option<usize> {
    let mut segs = Vec::new();
    for part in field.split('.') {
        let (name, rest) = part.split_once('[').unwrap_or((part, ""));
        segs.push(Seg::Key(name.to_string()));
        for idx in rest.split('[') {
            if let Ok(i) = idx.trim_end_matches(']').parse::<usize>() {
                segs.push(Seg::Index(i));
            }
        }
    }
    let mut at: Option<&Spanned<DeValue<'_>>> = None;
    let mut found = None;
    let mut current = table;
    for seg in &segs {
        let next = match (seg, at.map(|v| v.get_ref())) {
            (Seg::Key(k), None) => current.get(k.as_str()),
            (Seg::Key(k), Some(DeValue::Table(t))) => t.get(k.as_str()),
            (Seg::Index(i), Some(DeValue::Array(items))) => items.get(*i),
            _ => None,
        };
        let Some(v) = next else { break };
        found = Some(v.span().start);
        if let DeValue::Table(t) = v.get_ref() {
            current = t;
        }
        at = Some(v);
    }
    found
}

fn snippet_suffix(snippet: &str) -> String {
    if snippet.is_empty() {
        String::new()
    } else {
        format!("\n{snippet}")
    }
}

fn render_problems(origin: Option<&str>, problems: &[Problem]) -> String {
    let mut out = origin.map(|o| format!("config {o}: ")).unwrap_or_default();
    match problems {
        [one] => out.push_str(&one.to_string()),
        many => {
            out.push_str(&format!("{} problems:", many.len()));
            for p in many {
                out.push_str(&format!("\n  {p}"));
            }
        }
    }
    out
}

/// 1-based line and column (in characters) of byte offset `pos`. `u32` keeps the error
/// small; a config file with four billion lines is not a concern.
fn line_column(text: &str, pos: usize) -> (u32, u32) {
    let pos = pos.min(text.len());
    let before = text.get(..pos).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    let narrow = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    (narrow(line), narrow(column))
}

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn render_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Put the key path into toml/serde's message: "unknown field `x` in [panel], expected …"
/// for unknown keys (the path ends at the unknown key), "panel.udp: invalid type …" otherwise.
fn contextual_message(message: &str, path: Option<&[Seg]>) -> String {
    let Some(path) = path.filter(|p| !p.is_empty()) else {
        return message.to_string();
    };
    if let Some(rest) = message.strip_prefix("unknown field `") {
        if let Some(end) = rest.find('`') {
            let parent = &path[..path.len() - 1];
            let place = if parent.is_empty() {
                "at the top level".to_string()
            } else if parent.iter().all(|s| matches!(s, Seg::Key(_))) {
                format!("in [{}]", render_path(parent))
            } else {
                format!("in {}", render_path(parent))
            };
            let (name, tail) = rest.split_at(end + 1);
            return format!("unknown field `{name} {place}{tail}");
        }
    }
    format!("{}: {message}", render_path(path))
}

/// The key path whose key or value covers byte offset `pos`, innermost first.
fn key_path_at(text: &str, pos: usize) -> Option<Vec<Seg>> {
    let doc = DeTable::parse(text).ok()?;
    let mut path = Vec::new();
    find_in_table(doc.get_ref(), pos, &mut path).then_some(path)
}

fn find_in_table(table: &DeTable<'_>, pos: usize, path: &mut Vec<Seg>) -> bool {
    for (key, value) in table.iter() {
        path.push(Seg::Key(key.get_ref().to_string()));
        if key.span().contains(&pos) || find_in_value(value, pos, path) {
            return true;
        }
        path.pop();
    }
    false
}

fn find_in_value(value: &Spanned<DeValue<'_>>, pos: usize, path: &mut Vec<Seg>) -> bool {
    match value.get_ref() {
        DeValue::Table(t) if find_in_table(t, pos, path) => return true,
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Seg::Index(i));
                if find_in_value(item, pos, path) {
                    return true;
                }
                path.pop();
            }
        }
        _ => {}
    }
    value.span().contains(&pos)
}
