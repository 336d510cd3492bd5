//! Timing: the rate limiter against a burst and a sustained storm in simulated time (the
//! limit is never exceeded in any real minute, nothing is lost, nobody waits long), and
//! "repeat until handled" reminders delivered to a local webhook under paused tokio time
//! until the alarm is taken.
#![allow(clippy::unwrap_used)]

mod notify_support;

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use alarmhub::notify::config::RateLimit;
use alarmhub::notify::ratelimit::plan;
use alarmhub::notify::reminder::{next_reminder, AlarmState, Reminder};
use alarmhub::notify::{
    Clock, Dispatcher, MemoryOutbox, NotificationId, NotifyConfig, Outbox, Router, What,
};
use notify_support::*;
use tokio_util::sync::CancellationToken;

struct Sim {
    sends: Vec<i64>,
    digests: usize,
    delivered: BTreeSet<u32>,
    max_wait_ms: i64,
}

/// Dispatch every 100 ms for `secs`; `arrivals(t)` says how many notifications arrive.
fn simulate(limit: RateLimit, secs: i64, arrivals: impl Fn(i64) -> u32) -> Sim {
    let mut sim = Sim {
        sends: Vec::new(),
        digests: 0,
        delivered: BTreeSet::new(),
        max_wait_ms: 0,
    };
    let mut pending: VecDeque<(u32, i64)> = VecDeque::new();
    let mut next_id = 0u32;
    for step in 0..secs * 10 {
        let now = step * 100;
        for _ in 0..arrivals(now) {
            pending.push_back((next_id, now));
            next_id += 1;
        }
        let p = plan(limit, &sim.sends, pending.len(), now);
        let taken = p.singles + p.digest;
        assert!(taken <= pending.len());
        for _ in 0..p.messages() {
            sim.sends.push(now);
        }
        sim.digests += usize::from(p.digest > 0);
        for (id, arrived) in pending.drain(..taken) {
            assert!(sim.delivered.insert(id), "{id} delivered twice");
            sim.max_wait_ms = sim.max_wait_ms.max(now - arrived);
        }
    }
    assert!(pending.is_empty(), "{} never delivered", pending.len());
    assert_eq!(sim.delivered.len(), next_id as usize, "nothing lost");
    sim
}

/// The most sends in any window of `span_ms` (the service's own window).
fn busiest(sends: &[i64], span_ms: i64) -> usize {
    sends
        .iter()
        .map(|&t| sends.iter().filter(|&&s| s >= t && s < t + span_ms).count())
        .max()
        .unwrap_or(0)
}

const TWENTY_A_MINUTE: RateLimit = RateLimit {
    per_minute: Some(20),
    per_second: None,
};

#[test]
fn a_burst_of_200_to_a_20_per_minute_channel_is_folded_and_never_exceeds_the_limit() {
    let sim = simulate(TWENTY_A_MINUTE, 120, |t| if t == 0 { 200 } else { 0 });
    assert_eq!(sim.sends.len(), 11, "ten singles and one digest");
    assert_eq!(sim.digests, 1);
    assert_eq!(sim.max_wait_ms, 0);
}

#[test]
fn a_sustained_storm_gets_a_digest_every_few_seconds_within_the_limit() {
    // 200 at once, then 5 a second for five minutes, then quiet.
    let sim = simulate(TWENTY_A_MINUTE, 400, |t| match t {
        0 => 200,
        t if t < 300_000 && t % 200 == 0 => 1,
        _ => 0,
    });
    assert!(
        busiest(&sim.sends, 60_000) <= 20,
        "{}",
        busiest(&sim.sends, 60_000)
    );
    assert!(sim.digests >= 40, "{}", sim.digests);
    assert!(sim.max_wait_ms <= 7_000, "waited {} ms", sim.max_wait_ms);
}

#[test]
fn feishu_limits_hold_per_second_and_per_minute() {
    let feishu = RateLimit {
        per_minute: Some(100),
        per_second: Some(5),
    };
    let sim = simulate(
        feishu,
        300,
        |t| if t < 120_000 && t % 100 == 0 { 3 } else { 0 },
    );
    assert!(
        busiest(&sim.sends, 1_000) <= 5,
        "{}",
        busiest(&sim.sends, 1_000)
    );
    assert!(
        busiest(&sim.sends, 60_000) <= 100,
        "{}",
        busiest(&sim.sends, 60_000)
    );
    assert!(sim.max_wait_ms <= 2_000, "waited {} ms", sim.max_wait_ms);
}

#[tokio::test(start_paused = true)]
async fn reminders_come_every_repeat_secs_until_the_alarm_is_taken() {
    let svc = Service::always(Reply::new(200, "")).await;
    let (secret, _) = whsec();
    let c: NotifyConfig = toml::from_str(&format!(
        "[[channels]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{}/h\"\nsecret = \"{secret}\"\n\
         [[rules]]\nchannels = [\"hook\"]\nrepeat_secs = 1800\n",
        svc.base()
    ))
    .unwrap();
    let outbox = Arc::new(MemoryOutbox::new());
    let clock = Clock::tokio();
    let d = Dispatcher::with_clock(&c, outbox.clone(), clock.clone()).unwrap();
    let wake = d.handle();
    let stop = CancellationToken::new();
    let task = tokio::spawn(d.run(stop.clone()));
    let router = Router::new(&c);
    let opened_at = clock.now_ms();
    let mut opened = burglary("ntf_a1_alarm_opened_0");
    opened.time_ms = opened_at;
    let repeat = router.reminder_secs(&opened);
    assert_eq!(repeat, Some(1800));
    outbox
        .enqueue(&opened, &router.targets(&opened), opened_at)
        .await
        .unwrap();
    wake.wake();
    let (mut state, mut last, mut n) = (AlarmState::New, opened_at, 0);
    for minute in 1..=180 {
        tokio::time::sleep(Duration::from_secs(60)).await;
        if minute == 100 {
            state = AlarmState::Taken;
        }
        let now = clock.now_ms();
        if next_reminder(state, last, repeat, now) == Reminder::Due {
            n += 1;
            let mut r = opened.clone();
            r.id = NotificationId::for_alarm(1, What::AlarmReminder, n);
            r.what = What::AlarmReminder;
            outbox.enqueue(&r, &router.targets(&r), now).await.unwrap();
            wake.wake();
            last = now;
        }
    }
    stop.cancel();
    task.await.unwrap();
    let got: Vec<(String, i64)> = svc
        .requests()
        .iter()
        .map(|q| {
            let ts: i64 = q.header("webhook-timestamp").unwrap().parse().unwrap();
            (
                q.header("webhook-id").unwrap().to_string(),
                (ts * 1000 - opened_at + 30_000) / 60_000,
            )
        })
        .collect();
    let want: Vec<(String, i64)> = vec![
        ("ntf_a1_alarm_opened_0".into(), 0),
        ("ntf_a1_alarm_reminder_1".into(), 30),
        ("ntf_a1_alarm_reminder_2".into(), 60),
        ("ntf_a1_alarm_reminder_3".into(), 90),
    ];
    assert_eq!(got, want, "(id, minutes after opening)");
    assert_eq!(svc.requests()[1].json()["type"], "alarm.reminder");
}
