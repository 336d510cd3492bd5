//! POSIX `TZ` rules (`CET-1CEST,M3.5.0,M10.5.0/3`, `<+08>-8`): the `TZ` variable's own
//! form, and the footer of TZif files for times after their last transition.

use panel_proto::timestamp::Timestamp;

/// A POSIX `TZ` rule: a fixed offset, or standard and daylight time with their dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rule {
    Fixed(i32),
    Dst {
        std: i32,
        dst: i32,
        start: (Day, i32),
        end: (Day, i32),
    },
}

/// The day a POSIX rule changes: `Jn` (1..=365, no Feb 29), `n` (0..=365), `Mm.w.d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Day {
    Julian1(u16),
    Julian0(u16),
    Month { month: u8, week: u8, weekday: u8 },
}

impl Rule {
    /// Seconds east of UTC at the UTC instant `t`.
    pub(super) fn offset_at(&self, t: i64) -> i32 {
        let (std, dst, start, end) = match *self {
            Rule::Fixed(o) => return o,
            Rule::Dst {
                std,
                dst,
                start,
                end,
            } => (std, dst, start, end),
        };
        let year = Timestamp::from_unix(t + i64::from(std)).year;
        // Start is given in standard time, end in daylight time (both local).
        let on = day_start(year, start.0) + i64::from(start.1) - i64::from(std);
        let off = day_start(year, end.0) + i64::from(end.1) - i64::from(dst);
        let in_dst = if on < off {
            t >= on && t < off
        } else {
            t < off || t >= on
        };
        if in_dst {
            dst
        } else {
            std
        }
    }
}

fn is_leap(y: u16) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Unix second of 00:00 (as if UTC) of the rule's day in `year`.
fn day_start(year: u16, day: Day) -> i64 {
    let jan1 = midnight(year, 1, 1);
    match day {
        Day::Julian1(n) => {
            let n = i64::from(n) - 1;
            let leap_shift = i64::from(is_leap(year) && n >= 59);
            jan1 + (n + leap_shift) * 86_400
        }
        Day::Julian0(n) => jan1 + i64::from(n) * 86_400,
        Day::Month {
            month,
            week,
            weekday,
        } => {
            let first = midnight(year, month, 1);
            // 1970-01-01 was a Thursday (4).
            let wd1 = (first.div_euclid(86_400) + 4).rem_euclid(7);
            let mut day = 1 + (i64::from(weekday) - wd1).rem_euclid(7) + (i64::from(week) - 1) * 7;
            let len = i64::from(month_len(year, month));
            while day > len {
                day -= 7;
            }
            first + (day - 1) * 86_400
        }
    }
}

fn month_len(year: u16, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn midnight(year: u16, month: u8, day: u8) -> i64 {
    Timestamp {
        year,
        month,
        day,
        hour: 0,
        minute: 0,
        second: 0,
    }
    .to_unix()
    .unwrap_or(0)
}

/// A POSIX TZ rule: `STDoffset[DST[offset][,start[/time],end[/time]]]`.
pub(super) fn parse_rule(s: &str) -> Option<Rule> {
    let mut p = Cursor {
        s: s.as_bytes(),
        i: 0,
    };
    p.name()?;
    // POSIX offsets count west of UTC: negate.
    let std = -p.hms()?;
    if p.done() {
        return Some(Rule::Fixed(std));
    }
    p.name()?;
    let dst = if matches!(p.peek(), Some(b',') | None) {
        std + 3600
    } else {
        -p.hms()?
    };
    let (start, end) = if p.done() {
        // The US rule, as POSIX leaves it to the implementation.
        (
            (
                Day::Month {
                    month: 3,
                    week: 2,
                    weekday: 0,
                },
                7200,
            ),
            (
                Day::Month {
                    month: 11,
                    week: 1,
                    weekday: 0,
                },
                7200,
            ),
        )
    } else {
        p.eat(b',')?;
        let start = p.change()?;
        p.eat(b',')?;
        let end = p.change()?;
        (start, end)
    };
    p.done().then_some(Rule::Dst {
        std,
        dst,
        start,
        end,
    })
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn done(&self) -> bool {
        self.i == self.s.len()
    }
    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }
    /// A zone abbreviation: 3+ letters, or `<…>`.
    fn name(&mut self) -> Option<()> {
        let from = self.i;
        if self.eat(b'<').is_some() {
            while self.peek()? != b'>' {
                self.i += 1;
            }
            self.i += 1;
            return Some(());
        }
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.i += 1;
        }
        (self.i - from >= 3).then_some(())
    }
    fn number(&mut self) -> Option<i32> {
        let from = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[from..self.i])
            .ok()?
            .parse()
            .ok()
    }
    /// `[+-]hh[:mm[:ss]]` in seconds.
    fn hms(&mut self) -> Option<i32> {
        let sign = match self.peek() {
            Some(b'-') => {
                self.i += 1;
                -1
            }
            Some(b'+') => {
                self.i += 1;
                1
            }
            _ => 1,
        };
        let mut secs = self.number()? * 3600;
        if self.eat(b':').is_some() {
            secs += self.number()? * 60;
            if self.eat(b':').is_some() {
                secs += self.number()?;
            }
        }
        Some(sign * secs)
    }
    /// `date[/time]`.
    fn change(&mut self) -> Option<(Day, i32)> {
        let day = match self.peek()? {
            b'J' => {
                self.i += 1;
                Day::Julian1(
                    u16::try_from(self.number()?)
                        .ok()
                        .filter(|n| (1..=365).contains(n))?,
                )
            }
            b'M' => {
                self.i += 1;
                let month = u8::try_from(self.number()?)
                    .ok()
                    .filter(|m| (1..=12).contains(m))?;
                self.eat(b'.')?;
                let week = u8::try_from(self.number()?)
                    .ok()
                    .filter(|w| (1..=5).contains(w))?;
                self.eat(b'.')?;
                let weekday = u8::try_from(self.number()?).ok().filter(|d| *d <= 6)?;
                Day::Month {
                    month,
                    week,
                    weekday,
                }
            }
            _ => Day::Julian0(u16::try_from(self.number()?).ok().filter(|n| *n <= 365)?),
        };
        let time = if self.eat(b'/').is_some() {
            self.hms()?
        } else {
            7200
        };
        Some((day, time))
    }
}
