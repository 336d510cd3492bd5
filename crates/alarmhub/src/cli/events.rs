//! `alarmhub events` (stored events, filtered on the daemon by account, time, code —
//! Contact ID or SIA — and zone) and `alarmhub watch` (the live stream), and how
//! `--since`/`--until` are read.

use std::process::ExitCode;

use clap::Args;

use super::zone::Zone;
use super::{emit, output, status_err, Ch, ClientArgs, ClientOpts};
use crate::proto::v1::alarm_hub_client::AlarmHubClient;
use crate::proto::v1::{self as pb, subscribe_request, watch_events_reply};

/// How `--since` and `--until` are read (the `events --help` epilogue).
pub const TIME_HELP: &str = "TIME (--since, --until) is one of:
  30s, 15m, 2h, 3d, 1w     that long ago
  now                      now
  2026-11-29               midnight starting that day, local time (UTC with --utc)
  2026-11-29 08:00[:00]    local time (UTC with --utc); a T instead of the space works too
  2026-11-29T08:00:00Z     RFC 3339 with Z or an offset (+08:00): that instant
Times are printed in the local time zone (TZ, else /etc/localtime); --utc prints UTC.";

/// `alarmhub events`.
#[derive(Args, Debug, Clone)]
pub struct EventsArgs {
    /// Panel account; every panel when left out.
    pub account: Option<String>,
    /// How many events at most (newest first).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub limit: u32,
    /// Only events received at or after TIME (see below).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only events received before TIME (see below).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only this event code: a Contact ID / Hengbo code (1130 burglary, 1400 disarm …) or a
    /// two-letter SIA code (BA burglary, FA fire …; matched against the event's SIA code).
    #[arg(long, value_name = "CODE", value_parser = parse_code)]
    pub code: Option<EventCode>,
    /// Only this zone (0: the host itself).
    #[arg(long, value_parser = clap::value_parser!(u16).range(0..=999))]
    pub zone: Option<u16>,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// The `--code` of `events`: which code field of the event it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventCode {
    /// A Contact ID / Hengbo code, 1 to 9999 (the event's `code`).
    ContactId(u16),
    /// A two-letter SIA code, upper case (the event's `sia_code`).
    Sia(String),
}

/// `--code`: 1 to 9999 digits-only, or two letters (either case; SIA codes are upper
/// case). clap puts the flag and the value before the message.
fn parse_code(s: &str) -> Result<EventCode, String> {
    let t = s.trim();
    if !t.is_empty() && t.len() <= 4 && t.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(c @ 1..=9999) = t.parse::<u16>() {
            return Ok(EventCode::ContactId(c));
        }
    }
    if t.len() == 2 && t.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Ok(EventCode::Sia(t.to_ascii_uppercase()));
    }
    Err("not an event code: give a Contact ID code (1 to 9999, e.g. 1130) or a two-letter SIA code (e.g. BA)".into())
}

/// `alarmhub watch`.
#[derive(Args, Debug, Clone)]
pub struct WatchArgs {
    /// Replay events after this sequence number first (-1 = live only).
    #[arg(long, default_value_t = -1)]
    pub from: i64,
    /// Join a consumer group (acknowledged, resumable delivery; each event to one member).
    #[arg(long)]
    pub group: Option<String>,
    /// Only this account.
    #[arg(long)]
    pub account: Option<String>,
    /// Stop after this many events (0 = run until interrupted).
    #[arg(long, default_value_t = 0)]
    pub count: u64,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// A `--since`/`--until` value as Unix milliseconds (see [`TIME_HELP`]); `flag` names the
/// option in the error.
pub fn parse_time(flag: &str, s: &str, now_ms: i64, zone: &Zone) -> Result<i64, String> {
    let bad = || {
        format!(
            "{flag} {s:?}: use 2h, 3d, now, 2026-11-29, 2026-11-29 08:00, or 2026-11-29T08:00:00Z"
        )
    };
    let t = s.trim();
    if t == "now" {
        return Ok(now_ms);
    }
    if t.len() > 19 {
        return rfc3339(t).ok_or_else(bad);
    }
    if let Some(unit) = t.chars().last().filter(|c| c.is_ascii_alphabetic()) {
        let n: i64 = t[..t.len() - 1].parse().map_err(|_| bad())?;
        let secs = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Err(bad()),
        };
        if n < 0 {
            return Err(bad());
        }
        return n
            .checked_mul(secs * 1000)
            .map(|ago| now_ms.saturating_sub(ago))
            .ok_or_else(bad);
    }
    local(t, zone).ok_or_else(bad)
}

fn rfc3339(t: &str) -> Option<i64> {
    t.parse::<crate::notify::DateTime>().ok().map(|d| d.unix_ms)
}

/// `YYYY-MM-DD[( |T)HH:MM[:SS]]` as a wall-clock time in `zone`.
fn local(t: &str, zone: &Zone) -> Option<i64> {
    let b = t.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u16> {
        let part = t.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let n8 = |r| num(r).and_then(|v| u8::try_from(v).ok());
    let (hour, minute, second) = match b.len() {
        10 => (0, 0, 0),
        16 | 19 if matches!(b[10], b' ' | b'T' | b't') && b[13] == b':' => {
            let second = if b.len() == 19 {
                (b[16] == b':').then(|| n8(17..19))??
            } else {
                0
            };
            (n8(11..13)?, n8(14..16)?, second)
        }
        _ => return None,
    };
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let wall = panel_proto::timestamp::Timestamp {
        year: num(0..4)?,
        month: n8(5..7)?,
        day: n8(8..10)?,
        hour,
        minute,
        second,
    };
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    Some(zone.to_utc(wall.to_unix()?) * 1000)
}

/// `events`: pages of `ListEvents` (filters applied by the daemon) until `--limit`.
pub async fn list(opts: &ClientOpts, ch: Ch, a: EventsArgs) -> Result<ExitCode, String> {
    let zone = output::zone();
    let now = crate::clock::now_ms();
    let from_ms = match &a.since {
        Some(s) => parse_time("--since", s, now, &zone)?,
        None => 0,
    };
    let to_ms = match &a.until {
        Some(s) => parse_time("--until", s, now, &zone)?,
        None => 0,
    };
    if from_ms > 0 && to_ms > 0 && to_ms <= from_ms {
        return Err(format!(
            "--until {:?} is not after --since {:?}",
            a.until.unwrap_or_default(),
            a.since.unwrap_or_default()
        ));
    }
    let mut c = AlarmHubClient::new(ch);
    let mut left = a.limit as usize;
    let mut token = String::new();
    while left > 0 {
        let r = c
            .list_events(pb::ListEventsRequest {
                account: a.account.clone().unwrap_or_default(),
                from_ms,
                to_ms,
                code: match &a.code {
                    Some(EventCode::ContactId(c)) => i32::from(*c),
                    _ => 0,
                },
                sia_code: match &a.code {
                    Some(EventCode::Sia(c)) => c.clone(),
                    _ => String::new(),
                },
                zone: a.zone.map(i32::from),
                page_size: i32::try_from(left.min(1000)).unwrap_or(1000),
                page_token: token.clone(),
                oldest_first: false,
            })
            .await
            .map_err(|s| status_err("ListEvents", s))?
            .into_inner();
        for e in r.events.iter().take(left) {
            emit(&output::event(e, opts.json));
        }
        left = left.saturating_sub(r.events.len());
        if r.next_page_token.is_empty() {
            break;
        }
        token = r.next_page_token;
    }
    Ok(ExitCode::SUCCESS)
}

/// `watch`: `WatchEvents`, or `Subscribe` in a consumer group with `--group`.
pub async fn watch(opts: &ClientOpts, ch: Ch, a: WatchArgs) -> Result<ExitCode, String> {
    let mut c = AlarmHubClient::new(ch);
    let mut seen = 0u64;
    let done = |seen: u64| a.count > 0 && seen >= a.count;
    if let Some(group) = a.group {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let start = pb::SubscribeRequest {
            msg: Some(subscribe_request::Msg::Start(pb::SubscribeStart {
                group,
                account: a.account.unwrap_or_default(),
                max_in_flight: 100,
            })),
        };
        tx.send(start).await.map_err(|e| e.to_string())?;
        let mut s = c
            .subscribe(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .map_err(|s| status_err("Subscribe", s))?
            .into_inner();
        while let Some(r) = s.message().await.map_err(|s| status_err("Subscribe", s))? {
            if let Some(e) = &r.event {
                emit(&output::event(e, opts.json));
                let ack = pb::SubscribeRequest {
                    msg: Some(subscribe_request::Msg::Ack(pb::Ack { seqs: vec![e.seq] })),
                };
                if tx.send(ack).await.is_err() {
                    break;
                }
                seen += 1;
                if done(seen) {
                    break;
                }
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut s = c
        .watch_events(pb::WatchEventsRequest {
            from_seq: a.from,
            account: a.account.unwrap_or_default(),
        })
        .await
        .map_err(|s| status_err("WatchEvents", s))?
        .into_inner();
    while let Some(r) = s
        .message()
        .await
        .map_err(|s| status_err("WatchEvents", s))?
    {
        match r.item {
            Some(watch_events_reply::Item::Event(e)) => {
                emit(&output::event(&e, opts.json));
                seen += 1;
                if done(seen) {
                    break;
                }
            }
            Some(watch_events_reply::Item::Gap(g)) => {
                eprintln!(
                    "gap: events {}..{} are not available ({})",
                    g.from_seq, g.to_seq, g.reason
                );
            }
            Some(watch_events_reply::Item::Live(_)) if !opts.json => eprintln!("-- live --"),
            Some(watch_events_reply::Item::Live(_)) | None => {}
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const NOW: i64 = 1_795_953_600_000; // 2026-11-29T12:00:00Z

    #[test]
    fn relative_absolute_and_local_times() {
        let utc = Zone::utc();
        let p = |s: &str| parse_time("--since", s, NOW, &utc);
        assert_eq!(p("now").unwrap(), NOW);
        assert_eq!(p("2h").unwrap(), NOW - 7_200_000);
        assert_eq!(p("3d").unwrap(), NOW - 3 * 86_400_000);
        assert_eq!(p("1w").unwrap(), NOW - 7 * 86_400_000);
        assert_eq!(p("90s").unwrap(), NOW - 90_000);
        assert_eq!(p("2026-11-29T12:00:00Z").unwrap(), NOW);
        assert_eq!(p("2026-11-29T20:00:00+08:00").unwrap(), NOW);
        assert_eq!(p("2026-11-29 12:00").unwrap(), NOW);
        assert_eq!(p("2026-11-29T12:00:00").unwrap(), NOW);
        assert_eq!(p("2026-11-29").unwrap(), NOW - 12 * 3_600_000);
        let shanghai = Zone::from_tz("<+08>-8").unwrap();
        let local = |s: &str| parse_time("--until", s, NOW, &shanghai);
        assert_eq!(local("2026-11-29 20:00").unwrap(), NOW);
        assert_eq!(local("2026-11-29 20:00:00").unwrap(), NOW);
        // An explicit offset is not moved by the local zone.
        assert_eq!(local("2026-11-29T12:00:00Z").unwrap(), NOW);
    }

    #[test]
    fn codes_are_contact_id_numbers_or_two_sia_letters() {
        assert_eq!(parse_code("1130"), Ok(EventCode::ContactId(1130)));
        assert_eq!(parse_code("602"), Ok(EventCode::ContactId(602)));
        assert_eq!(parse_code("BA"), Ok(EventCode::Sia("BA".into())));
        assert_eq!(parse_code("fa"), Ok(EventCode::Sia("FA".into())));
        for bad in [
            "", "0", "10000", "01130", "B", "BAX", "B1", "+12", "-5", "ÄB",
        ] {
            let e = parse_code(bad).unwrap_err();
            assert!(e.contains("1130") && e.contains("BA"), "{bad}: {e}");
        }
    }

    #[test]
    fn bad_times_name_the_flag_and_the_value() {
        let utc = Zone::utc();
        for bad in [
            "",
            "yesterday",
            "2x",
            "-2h",
            "2026-13-01",
            "2026-11-31",
            "2026-11-29 25:00",
            "2026-11-29 08",
            "29/11/2026",
            "2026-11-29T08:00:00+99:00",
        ] {
            let e = parse_time("--until", bad, NOW, &utc).unwrap_err();
            assert!(
                e.starts_with("--until ") && e.contains(&format!("{bad:?}")),
                "{e}"
            );
        }
    }
}
