//! DC-09 timestamps (`_HH:MM:SS,MM-DD-YYYY`) and the replay window check.
//!
//! Conversion to and from Unix seconds is arithmetic (no libc, no time zone database):
//! a receiver parses one per frame, and `mktime` was most of ademco_hb's parse time.

use std::fmt;

/// Length of a timestamp on the wire, underscore included.
pub const LEN: usize = 20;

/// A wall-clock time as written in a frame. Which zone it is in (GMT for DC-09, often local
/// time for Hengbo) is the caller's knowledge, not the frame's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timestamp {
    /// Year, e.g. 2024.
    pub year: u16,
    /// Month 1..=12.
    pub month: u8,
    /// Day 1..=31.
    pub day: u8,
    /// Hour 0..=23.
    pub hour: u8,
    /// Minute 0..=59.
    pub minute: u8,
    /// Second 0..=59 (60 tolerated for leap seconds).
    pub second: u8,
}

fn two(b: &[u8], i: usize) -> Option<u8> {
    let hi = b.get(i)?.checked_sub(b'0').filter(|d| *d < 10)?;
    let lo = b.get(i + 1)?.checked_sub(b'0').filter(|d| *d < 10)?;
    Some(hi * 10 + lo)
}

impl Timestamp {
    /// Parse exactly 20 bytes of the form `_HH:MM:SS,MM-DD-YYYY`. Returns `None` when the
    /// shape is wrong; values out of range are kept (see [`Timestamp::to_unix`]).
    pub fn parse(b: &[u8]) -> Option<Timestamp> {
        if b.len() != LEN
            || b[0] != b'_'
            || b[3] != b':'
            || b[6] != b':'
            || b[9] != b','
            || b[12] != b'-'
            || b[15] != b'-'
        {
            return None;
        }
        Some(Timestamp {
            hour: two(b, 1)?,
            minute: two(b, 4)?,
            second: two(b, 7)?,
            month: two(b, 10)?,
            day: two(b, 13)?,
            year: u16::from(two(b, 16)?) * 100 + u16::from(two(b, 18)?),
        })
    }

    /// Whether every field is in range (month 1..12, day valid for the month, …).
    pub fn is_valid(&self) -> bool {
        (1..=12).contains(&self.month)
            && self.day >= 1
            && self.day <= days_in_month(self.year, self.month)
            && self.hour < 24
            && self.minute < 60
            && self.second <= 60
    }

    /// Seconds since 1970-01-01 00:00:00, reading the fields as UTC; `None` when a field is
    /// out of range.
    pub fn to_unix(&self) -> Option<i64> {
        if !self.is_valid() {
            return None;
        }
        let days = days_from_civil(i64::from(self.year), self.month, self.day);
        Some(
            days * 86_400
                + i64::from(self.hour) * 3600
                + i64::from(self.minute) * 60
                + i64::from(self.second),
        )
    }

    /// The UTC wall-clock time of `secs` seconds since the Unix epoch (years 0..=9999).
    pub fn from_unix(secs: i64) -> Timestamp {
        let secs = secs.clamp(-62_167_219_200, 253_402_300_799);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Timestamp {
            year: year as u16,
            month,
            day,
            hour: (rem / 3600) as u8,
            minute: (rem % 3600 / 60) as u8,
            second: (rem % 60) as u8,
        }
    }

    /// Append the 20-byte wire form to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        fn push2(out: &mut Vec<u8>, v: u8) {
            out.push(b'0' + (v / 10) % 10);
            out.push(b'0' + v % 10);
        }
        out.push(b'_');
        push2(out, self.hour);
        out.push(b':');
        push2(out, self.minute);
        out.push(b':');
        push2(out, self.second);
        out.push(b',');
        push2(out, self.month);
        out.push(b'-');
        push2(out, self.day);
        out.push(b'-');
        push2(out, (self.year / 100) as u8);
        push2(out, (self.year % 100) as u8);
    }
}

impl fmt::Display for Timestamp {
    /// ISO 8601 form, e.g. `2024-06-01T00:30:00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

fn is_leap(year: u16) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's civil-date algorithms: exact for the proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: u8, d: u8) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The accepted skew between a frame's timestamp and the receiver's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// How many seconds the frame may be behind the receiver (DC-09 default 40).
    pub past_secs: u32,
    /// How many seconds the frame may be ahead of the receiver (DC-09 default 20).
    pub future_secs: u32,
}

impl Default for Window {
    fn default() -> Self {
        Window {
            past_secs: 40,
            future_secs: 20,
        }
    }
}

/// Outcome of a window check that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowError {
    /// The frame has no usable timestamp.
    Missing,
    /// Frame time minus receiver time, in seconds, outside the window.
    Skew(i64),
}

impl Window {
    /// Check a frame time (Unix seconds, already converted from the panel's zone) against
    /// `now` (Unix seconds). Pure: the caller reads the clock.
    pub fn check(&self, frame_time: Option<i64>, now: i64) -> Result<(), WindowError> {
        let t = frame_time.ok_or(WindowError::Missing)?;
        let skew = t - now;
        if skew < -i64::from(self.past_secs) || skew > i64::from(self.future_secs) {
            Err(WindowError::Skew(skew))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_month_day_year_order() {
        let t = Timestamp::parse(b"_17:15:29,12-09-2015").unwrap();
        assert_eq!((t.year, t.month, t.day), (2015, 12, 9));
        assert_eq!((t.hour, t.minute, t.second), (17, 15, 29));
        assert_eq!(t.to_unix(), Some(1_449_681_329));
    }

    #[test]
    fn wrong_shape_is_rejected() {
        for bad in [
            &b"_17:15:29,12-09-201"[..],
            b"17:15:29,12-09-20155",
            b"_17-15:29,12-09-2015",
            b"_1x:15:29,12-09-2015",
        ] {
            assert_eq!(Timestamp::parse(bad), None, "{:?}", bad);
        }
    }

    #[test]
    fn out_of_range_values_parse_but_have_no_unix_time() {
        let t = Timestamp::parse(b"_25:00:00,13-40-2015").unwrap();
        assert!(!t.is_valid());
        assert_eq!(t.to_unix(), None);
    }

    #[test]
    fn unix_round_trip_over_many_days() {
        let mut s = -86_400 * 800;
        while s < 4_102_444_800 {
            let t = Timestamp::from_unix(s);
            assert_eq!(t.to_unix(), Some(s));
            s += 86_399 * 7 + 13;
        }
    }

    #[test]
    fn write_gives_the_wire_form() {
        let mut out = Vec::new();
        Timestamp::from_unix(1_717_201_800).write(&mut out);
        assert_eq!(out, b"_00:30:00,06-01-2024");
    }

    #[test]
    fn window_is_minus_40_plus_20_by_default() {
        let w = Window::default();
        assert_eq!(w.check(Some(1000 - 40), 1000), Ok(()));
        assert_eq!(w.check(Some(1000 + 20), 1000), Ok(()));
        assert_eq!(w.check(Some(1000 - 41), 1000), Err(WindowError::Skew(-41)));
        assert_eq!(w.check(Some(1000 + 21), 1000), Err(WindowError::Skew(21)));
        assert_eq!(w.check(None, 1000), Err(WindowError::Missing));
    }
}
