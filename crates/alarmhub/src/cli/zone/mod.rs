//! The local time zone of the client commands (times printed, `--since`/`--until` read):
//! `TZ` when set (a zone name such as `Asia/Shanghai`, or a POSIX rule such as
//! `CET-1CEST,M3.5.0,M10.5.0/3`), else `/etc/localtime`. Zone files are TZif (RFC 8536),
//! read without a time zone crate: the transitions, then the file's POSIX rule for later
//! times.

use std::path::Path;

use panel_proto::timestamp::Timestamp;

mod rule;

use rule::{parse_rule, Rule};

/// A time zone: UTC offsets by instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    /// `(UTC second of the transition, offset east of UTC from then on)`, ascending.
    transitions: Vec<(i64, i32)>,
    /// The offset before the first transition.
    initial: i32,
    /// The rule after the last transition (or for every time when there are none).
    rule: Option<Rule>,
}

impl Zone {
    /// UTC.
    pub fn utc() -> Zone {
        Zone {
            transitions: Vec::new(),
            initial: 0,
            rule: Some(Rule::Fixed(0)),
        }
    }

    /// The zone the process runs in: `TZ`, else `/etc/localtime`; UTC when neither can be
    /// read (with the reason).
    pub fn local() -> Result<Zone, String> {
        match std::env::var("TZ") {
            Ok(tz) if !tz.is_empty() => Zone::from_tz(&tz),
            _ if Path::new("/etc/localtime").exists() => {
                Zone::from_file(Path::new("/etc/localtime"))
            }
            _ => Ok(Zone::utc()),
        }
    }

    /// A `TZ` value: `:NAME` or `NAME` of a file under `/usr/share/zoneinfo` (or an absolute
    /// path), else a POSIX rule.
    pub fn from_tz(tz: &str) -> Result<Zone, String> {
        let name = tz.strip_prefix(':').unwrap_or(tz);
        let path = if name.starts_with('/') {
            std::path::PathBuf::from(name)
        } else {
            Path::new("/usr/share/zoneinfo").join(name)
        };
        if !name.contains("..") && path.is_file() {
            return Zone::from_file(&path);
        }
        let rule = parse_rule(name).ok_or_else(|| {
            format!("TZ={tz:?}: neither a zone in /usr/share/zoneinfo nor a POSIX TZ rule")
        })?;
        Ok(Zone {
            transitions: Vec::new(),
            initial: rule.offset_at(0),
            rule: Some(rule),
        })
    }

    /// A TZif file.
    pub fn from_file(path: &Path) -> Result<Zone, String> {
        let b = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        parse_tzif(&b).ok_or_else(|| format!("{}: not a TZif zone file", path.display()))
    }

    /// Seconds east of UTC at the UTC instant `t` (Unix seconds).
    pub fn offset_at(&self, t: i64) -> i32 {
        let i = self.transitions.partition_point(|&(at, _)| at <= t);
        if i == 0 && !self.transitions.is_empty() {
            return self.initial;
        }
        match (i, &self.rule) {
            (n, Some(rule)) if n == self.transitions.len() => rule.offset_at(t),
            (0, _) => self.initial,
            (n, _) => self.transitions[n - 1].1,
        }
    }

    /// The UTC instant of a local wall-clock time (Unix seconds as if the wall clock were
    /// UTC). In a gap (clocks forward) the time after it; in an overlap the earlier one.
    pub fn to_utc(&self, local: i64) -> i64 {
        // The offsets in force a day either side (zones do not change twice in a day).
        let offsets = [
            self.offset_at(local - 86_400),
            self.offset_at(local),
            self.offset_at(local + 86_400),
        ];
        let maps_back = |t: i64| t + i64::from(self.offset_at(t)) == local;
        offsets
            .iter()
            .map(|&o| local - i64::from(o))
            .filter(|&t| maps_back(t))
            .min()
            .unwrap_or_else(|| local - i64::from(offsets.iter().copied().min().unwrap_or(0)))
    }

    /// Unix milliseconds as `2026-11-21T20:00:00+08:00` (`…Z` when the offset is 0).
    pub fn format_ms(&self, ms: i64) -> String {
        let secs = ms.div_euclid(1000);
        let off = self.offset_at(secs);
        let wall = Timestamp::from_unix(secs + i64::from(off));
        if off == 0 {
            return format!("{wall}Z");
        }
        let sign = if off < 0 { '-' } else { '+' };
        let a = off.unsigned_abs();
        format!("{wall}{sign}{:02}:{:02}", a / 3600, a / 60 % 60)
    }
}

/// A TZif file (v1: 32-bit data; v2+: the 64-bit block and the footer rule).
fn parse_tzif(b: &[u8]) -> Option<Zone> {
    let header = |at: usize| -> Option<(u8, [usize; 6])> {
        if b.get(at..at + 4)? != b"TZif" {
            return None;
        }
        let version = *b.get(at + 4)?;
        let mut counts = [0usize; 6];
        for (i, c) in counts.iter_mut().enumerate() {
            let o = at + 20 + i * 4;
            *c = u32::from_be_bytes(b.get(o..o + 4)?.try_into().ok()?) as usize;
        }
        Some((version, counts))
    };
    let (version, counts) = header(0)?;
    // counts: isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
    let block_len =
        |c: [usize; 6], t: usize| c[3] * t + c[3] + c[4] * 6 + c[5] + c[2] * (t + 4) + c[1] + c[0];
    let (start, counts, tsize) = if version >= b'2' {
        let second = 44 + block_len(counts, 4);
        let (_, c2) = header(second)?;
        (second + 44, c2, 8)
    } else {
        (44, counts, 4)
    };
    let [_, _, _, timecnt, typecnt, _] = counts;
    let times = start;
    let idxs = times + timecnt * tsize;
    let types = idxs + timecnt;
    let read_time = |i: usize| -> Option<i64> {
        let o = times + i * tsize;
        Some(if tsize == 8 {
            i64::from_be_bytes(b.get(o..o + 8)?.try_into().ok()?)
        } else {
            i64::from(i32::from_be_bytes(b.get(o..o + 4)?.try_into().ok()?))
        })
    };
    let utoff = |t: usize| -> Option<i32> {
        if t >= typecnt {
            return None;
        }
        let o = types + t * 6;
        Some(i32::from_be_bytes(b.get(o..o + 4)?.try_into().ok()?))
    };
    let mut transitions = Vec::with_capacity(timecnt);
    for i in 0..timecnt {
        let t = usize::from(*b.get(idxs + i)?);
        transitions.push((read_time(i)?, utoff(t)?));
    }
    let initial = utoff(0)?;
    let rule = if version >= b'2' {
        let end = start + block_len(counts, 8);
        let footer = b.get(end..)?;
        let text = std::str::from_utf8(footer).ok()?.trim_matches('\n');
        if text.is_empty() {
            None
        } else {
            Some(parse_rule(text)?)
        }
    } else {
        None
    };
    Some(Zone {
        transitions,
        initial,
        rule,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const BERLIN: &str = "CET-1CEST,M3.5.0,M10.5.0/3";

    #[test]
    fn posix_rules_switch_on_the_right_days() {
        let z = Zone::from_tz(BERLIN).unwrap();
        // 2026-03-29 01:00 UTC: summer time starts; 2026-10-25 01:00 UTC: it ends.
        assert_eq!(z.offset_at(1_774_745_999), 3600);
        assert_eq!(z.offset_at(1_774_746_000), 7200);
        assert_eq!(z.offset_at(1_792_889_999), 7200);
        assert_eq!(z.offset_at(1_792_890_000), 3600);
        assert_eq!(z.format_ms(1_774_746_000_000), "2026-03-29T03:00:00+02:00");
        let fixed = Zone::from_tz("<+08>-8").unwrap();
        assert_eq!(fixed.format_ms(0), "1970-01-01T08:00:00+08:00");
        assert_eq!(
            Zone::from_tz("UTC0").unwrap().format_ms(0),
            "1970-01-01T00:00:00Z"
        );
        let west = Zone::from_tz("EST5EDT,M3.2.0,M11.1.0").unwrap();
        assert_eq!(
            west.format_ms(1_795_910_400_000),
            "2026-11-28T19:00:00-05:00"
        );
    }

    #[test]
    fn zone_files_agree_with_the_rules() {
        let Ok(file) = Zone::from_tz("Europe/Berlin") else {
            return; // no tzdata on this machine; the rule test covers the arithmetic
        };
        let rule = Zone::from_tz(BERLIN).unwrap();
        for t in (1_600_000_000..2_100_000_000).step_by(86_400 * 7 + 3_601) {
            assert_eq!(file.offset_at(t), rule.offset_at(t), "at {t}");
        }
        // 1990 is in the file's transitions, not the rule.
        assert_eq!(file.format_ms(646_786_800_000), "1990-07-01T01:00:00+02:00");
        let shanghai = Zone::from_tz("Asia/Shanghai").unwrap();
        assert_eq!(shanghai.offset_at(1_795_910_400), 8 * 3600);
    }

    #[test]
    fn wall_times_map_back_to_utc_across_changes() {
        let z = Zone::from_tz(BERLIN).unwrap();
        let wall = |s: i64| s; // wall clock seconds as if UTC
                               // 2026-11-29 12:00 local = 11:00 UTC.
        assert_eq!(z.to_utc(wall(1_795_953_600)), 1_795_950_000);
        // 2026-07-01 12:00 local = 10:00 UTC.
        assert_eq!(z.to_utc(wall(1_782_907_200)), 1_782_900_000);
        // 02:30 on 2026-03-29 does not exist: the time after the gap.
        let gap = z.to_utc(wall(1_774_751_400));
        assert_eq!(z.offset_at(gap), 7200);
        // 02:30 on 2026-10-25 happens twice: the earlier (summer time).
        let overlap = z.to_utc(wall(1_792_895_400));
        assert_eq!(overlap, 1_792_895_400 - 7200);
    }

    #[test]
    fn bad_tz_values_are_refused() {
        for tz in [
            "",
            "X",
            "CET-1CEST,M13.1.0,M10.5.0",
            "Nowhere/City",
            "../etc/passwd",
        ] {
            assert!(Zone::from_tz(tz).is_err(), "{tz}");
        }
    }
}
