//! `[[accounts]]`: one entry per known panel, and the value types it uses — [`Secret`] for
//! keys and passwords, [`Tz`] for the panel clock's offset, [`Quirk`] for tolerated protocol
//! deviations.

use std::fmt;
use std::str::FromStr;

use panel_proto::crypto::{Key, KeyFormat};
use panel_proto::Quirks;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::{ConfigError, Problem};

/// One configured panel account. `Serialize` writes every field, secrets included (the
/// store keeps accounts as this JSON); what is shown to people is
/// [`crate::accounts::public_view`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// The account as the panel sends it: 1..=32 printable ASCII characters, none of
    /// `[ ] | " #` and no spaces. Matched case-insensitively.
    pub account: String,
    /// A label for people (customer, site).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// DC-09 AES key text; read according to `key_format`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Secret>,
    /// How `key` is read: hex digits (DC-09 Annex B) or the ASCII bytes (pysiaalarm).
    #[serde(
        default,
        deserialize_with = "key_format_from_str",
        serialize_with = "key_format_to_str"
    )]
    pub key_format: KeyFormat,
    /// Supervision interval in seconds for this panel; `[panel] supervision_secs` if unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervision_secs: Option<u64>,
    /// How the panel connects: `permanent` (the default, how Hengbo hosts work: a closed
    /// connection takes it offline) or `on_demand` (a communicator that connects per
    /// message: presence follows its periodic reports within the supervision interval).
    #[serde(default)]
    pub connection: Connection,
    /// The offset of the panel's clock, for panels that send local time.
    #[serde(default)]
    pub timezone: Tz,
    /// Protocol deviations tolerated from this panel.
    #[serde(default)]
    pub quirks: Vec<Quirk>,
    /// Hengbo host user password (6 to 8 digits, [`panel_proto::build::check_hb_password`]):
    /// served over the compat API only when `grpc.serve_passwords = true`, and used by
    /// control for disarm when the caller gives none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// Overrides `[panel] time_window_past_secs` for this panel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_window_past_secs: Option<u32>,
    /// Overrides `[panel] time_window_future_secs` for this panel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_window_future_secs: Option<u32>,
    /// The account the central station knows this panel by, for `[[automation]]` outputs
    /// whose account field the panel's own account does not fit (1 to 6 hex digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cms_account: Option<String>,
    /// Networks this panel's frames may come from (`"192.0.2.0/24"`, `"2001:db8::/32"`, one
    /// address); frames from anywhere else are dropped without a reply. Empty: anywhere.
    #[serde(default)]
    pub allowed_sources: Vec<String>,
    /// With a `key`, also accept plaintext frames (by default an account with a key accepts
    /// only encrypted ones).
    #[serde(default)]
    pub allow_plaintext: bool,
}

impl AccountConfig {
    /// The account's quirk list as the decoder's flag set.
    pub fn quirks(&self) -> Quirks {
        let mut q = Quirks::default();
        for quirk in &self.quirks {
            quirk.set(&mut q);
        }
        q
    }

    /// `allowed_sources` parsed; the entries that do not parse (validation refused them at
    /// start) are left out.
    pub fn allowed_networks(&self) -> Vec<panel_proto::link::Cidr> {
        self.allowed_sources
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect()
    }

    /// The AES key, parsed with `key_format`; `None` when the account has no key.
    pub fn parsed_key(&self) -> Result<Option<Key>, ConfigError> {
        let field = format!("accounts[{:?}].key", self.account);
        self.parse_key_at(&field).map_err(|p| ConfigError::Invalid {
            origin: None,
            problems: vec![p],
        })
    }

    /// [`AccountConfig::parsed_key`] with the problem reported under `field`.
    pub(crate) fn parse_key_at(&self, field: &str) -> Result<Option<Key>, Problem> {
        let Some(text) = &self.key else {
            return Ok(None);
        };
        Key::parse(text.expose(), self.key_format)
            .map(Some)
            .map_err(|e| {
                let message = match e {
                    // The variant's Display adds "bad key: "; the field path says that already.
                    panel_proto::Error::BadKey(m) => m,
                    other => other.to_string(),
                };
                Problem::new(field, message)
            })
    }
}

fn key_format_to_str<S: Serializer>(f: &KeyFormat, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(f.as_str())
}

fn key_format_from_str<'de, D: Deserializer<'de>>(d: D) -> Result<KeyFormat, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map_err(serde::de::Error::custom)
}

/// How a panel keeps its link to the receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Connection {
    /// One long-lived connection; its end is a supervision failure (OFFLINE).
    #[default]
    Permanent,
    /// A connection per message (connect-on-demand DC-09 communicators): closing it is
    /// normal; OFFLINE only when no report arrives within the supervision interval + grace.
    OnDemand,
}

/// A secret text (key, password). `Debug` and `Display` print `****`; read it with
/// [`Secret::expose`] only where it is used. `Serialize` writes the text itself: only the
/// store's account rows are serialized with it.
#[derive(Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret text.
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    /// The secret text itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

/// A fixed UTC offset (no daylight saving): written `"UTC"`, `"Z"`, `"+08:00"`, `"-05:30"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Tz {
    offset_secs: i32,
}

/// Largest offset accepted, as in RFC 3339 practice (UTC+14 is the furthest real zone).
const MAX_OFFSET_SECS: i32 = 14 * 3600;

impl Tz {
    /// UTC itself.
    pub const fn utc() -> Tz {
        Tz { offset_secs: 0 }
    }

    /// An offset east of UTC in seconds; `None` beyond ±14 hours.
    pub fn from_offset_secs(offset_secs: i32) -> Option<Tz> {
        (offset_secs.abs() <= MAX_OFFSET_SECS).then_some(Tz { offset_secs })
    }

    /// Seconds east of UTC (negative west of it).
    pub fn offset_secs(&self) -> i32 {
        self.offset_secs
    }
}

impl FromStr for Tz {
    type Err = String;

    fn from_str(s: &str) -> Result<Tz, String> {
        let hint = "write \"UTC\" or a fixed offset like \"+08:00\" or \"-05:30\"";
        if s.eq_ignore_ascii_case("utc") || s.eq_ignore_ascii_case("z") {
            return Ok(Tz::utc());
        }
        let b = s.as_bytes();
        let sign = match b.first() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ if s.contains('/') => {
                return Err(format!(
                    "time zone {s:?}: named zones are not supported (panels do not follow \
                     daylight saving); {hint}"
                ))
            }
            _ => return Err(format!("time zone {s:?} is not understood; {hint}")),
        };
        let two = |i: usize| -> Option<i32> {
            let (h, l) = (*b.get(i)?, *b.get(i + 1)?);
            (h.is_ascii_digit() && l.is_ascii_digit())
                .then(|| i32::from(h - b'0') * 10 + i32::from(l - b'0'))
        };
        let (Some(hours), Some(minutes), 6, Some(b':')) = (two(1), two(4), b.len(), b.get(3))
        else {
            return Err(format!("time zone {s:?} is not understood; {hint}"));
        };
        if minutes >= 60 {
            return Err(format!("time zone {s:?}: minutes must be below 60"));
        }
        Tz::from_offset_secs(sign * (hours * 3600 + minutes * 60))
            .ok_or_else(|| format!("time zone {s:?}: offset is more than 14 hours from UTC"))
    }
}

impl fmt::Display for Tz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.offset_secs == 0 {
            return f.write_str("UTC");
        }
        let sign = if self.offset_secs < 0 { '-' } else { '+' };
        let abs = self.offset_secs.unsigned_abs();
        write!(f, "{sign}{:02}:{:02}", abs / 3600, abs % 3600 / 60)
    }
}

impl Serialize for Tz {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Tz {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One tolerated deviation from DC-09 (protocol.md §4.4, §5); see [`panel_proto::Quirks`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quirk {
    /// CRC over the span plus the CR; the length may count the CR (Eldes).
    CrcWithCr,
    /// Length field in decimal instead of hex.
    DecimalLength,
    /// Two raw CRC bytes instead of four hex characters.
    BinaryCrc,
    /// No `L` token in the header.
    MissingL,
    /// No `#acct` token in the header; the account comes from the data block.
    MissingAccount,
    /// Timestamps are the panel's local time (see `timezone`), not GMT.
    LocalTime,
}

impl Quirk {
    /// Turn this quirk on in a flag set.
    fn set(self, q: &mut Quirks) {
        match self {
            Quirk::CrcWithCr => q.crc_with_cr = true,
            Quirk::DecimalLength => q.decimal_length = true,
            Quirk::BinaryCrc => q.binary_crc = true,
            Quirk::MissingL => q.missing_l = true,
            Quirk::MissingAccount => q.missing_account = true,
            Quirk::LocalTime => q.local_time = true,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn offsets_parse_and_print_back() {
        for (text, secs, shown) in [
            ("UTC", 0, "UTC"),
            ("z", 0, "UTC"),
            ("+08:00", 8 * 3600, "+08:00"),
            ("-05:30", -(5 * 3600 + 1800), "-05:30"),
            ("+14:00", 14 * 3600, "+14:00"),
            ("-00:00", 0, "UTC"),
        ] {
            let tz: Tz = text.parse().unwrap();
            assert_eq!(tz.offset_secs(), secs, "{text}");
            assert_eq!(tz.to_string(), shown);
        }
    }

    #[test]
    fn malformed_offsets_are_refused() {
        for text in [
            "",
            "+8",
            "+08",
            "+0800",
            "08:00",
            "+14:01",
            "+08:60",
            "Asia/Shanghai",
            "+a8:00",
        ] {
            assert!(text.parse::<Tz>().is_err(), "{text:?}");
        }
    }

    #[test]
    fn quirk_list_maps_to_flags() {
        let a = AccountConfig {
            quirks: vec![Quirk::MissingL, Quirk::LocalTime],
            ..AccountConfig::default()
        };
        let q = a.quirks();
        assert!(q.missing_l && q.local_time && !q.crc_with_cr && !q.binary_crc);
    }
}
