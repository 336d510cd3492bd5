//! [`DateTime`]: the RFC 3339 date-times of `[[notify.quiet]]` periods
//! (`2026-11-29T08:00:00+08:00`, `…Z`), read without a time zone database: the offset is
//! part of the text.

use serde::{Deserialize, Deserializer};

/// An RFC 3339 date-time with an explicit offset (`2026-11-29T08:00:00+08:00`, `…Z`),
/// kept as Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateTime {
    /// Unix milliseconds.
    pub unix_ms: i64,
}

impl std::str::FromStr for DateTime {
    type Err = String;

    fn from_str(s: &str) -> Result<DateTime, String> {
        let bad = || format!("{s:?} is not a date-time like \"2026-11-29T08:00:00+08:00\"");
        let b = s.as_bytes();
        if b.len() < 20 || !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
            return Err(bad());
        }
        let num = |r: std::ops::Range<usize>| -> Option<u16> {
            let part = s.get(r)?;
            part.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| part.parse().ok())?
        };
        let (Some(year), Some(month), Some(day)) = (num(0..4), num(5..7), num(8..10)) else {
            return Err(bad());
        };
        let (Some(hour), Some(minute), Some(second)) = (num(11..13), num(14..16), num(17..19))
        else {
            return Err(bad());
        };
        let narrow = |v: u16| u8::try_from(v).map_err(|_| bad());
        let ts = panel_proto::timestamp::Timestamp {
            year,
            month: narrow(month)?,
            day: narrow(day)?,
            hour: narrow(hour)?,
            minute: narrow(minute)?,
            second: narrow(second)?,
        };
        let tz = s.get(19..).ok_or_else(bad)?;
        let offset = if tz.eq_ignore_ascii_case("z") {
            0
        } else {
            let parsed: crate::config::Tz = tz.parse().map_err(|_| bad())?;
            i64::from(parsed.offset_secs())
        };
        let local = ts.to_unix().ok_or_else(bad)?;
        Ok(DateTime {
            unix_ms: (local - offset) * 1000,
        })
    }
}

impl<'de> Deserialize<'de> for DateTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<DateTime, D::Error> {
        // TOML's own date-time values are accepted as well as strings.
        let text = match toml::Value::deserialize(d)? {
            toml::Value::String(s) => s,
            toml::Value::Datetime(dt) => dt.to_string(),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "expected a date-time, found {}",
                    other.type_str()
                )))
            }
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn date_times_need_an_offset() {
        let a: DateTime = "2026-11-29T08:00:00+08:00".parse().unwrap();
        let b: DateTime = "2026-11-29T00:00:00Z".parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(b.unix_ms, 1_795_910_400_000);
        for bad in [
            "2026-11-29T08:00:00",
            "2026-13-01T00:00:00Z",
            "tomorrow",
            "2026-11-29",
        ] {
            assert!(bad.parse::<DateTime>().is_err(), "{bad}");
        }
    }
}
