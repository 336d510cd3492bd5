//! The dispatcher over the in-memory outbox against local services: bursts folded into
//! digests within the limit, retries with the same id until delivered or dead-lettered,
//! a 410 disabling the channel without losing anything, rate-limit pauses, a crashed
//! claimer's rows delivered again after its lease, and the run loop woken by new rows.
#![allow(clippy::unwrap_used)]

mod notify_support;

use std::sync::Arc;
use std::time::Duration;

use alarmhub::notify::outbox::Status;
use alarmhub::notify::{Clock, Dispatcher, MemoryOutbox, NotifyConfig, Outbox, Router};
use notify_support::*;
use tokio_util::sync::CancellationToken;

const T0: i64 = 1_800_000_000_000;

fn config(channels: &str) -> NotifyConfig {
    let c: NotifyConfig =
        toml::from_str(&format!("{channels}\n[[rules]]\nchannels = [\"c\"]\n")).unwrap();
    let mut whole = alarmhub::config::Config::default();
    whole.notify = c.clone();
    whole.validate().unwrap();
    c
}

fn wecom(base: &str) -> NotifyConfig {
    config(&format!(
        "[[channels]]\nname = \"c\"\nkind = \"wecom\"\n\
         url = \"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K\"\napi_base = \"{base}\"\n"
    ))
}

fn webhook(base: &str, extra: &str) -> NotifyConfig {
    let (secret, _) = whsec();
    config(&format!(
        "dead_letter_after_secs = 60\n[[channels]]\nname = \"c\"\nkind = \"webhook\"\n\
         url = \"{base}/hook\"\nsecret = \"{secret}\"\n{extra}"
    ))
}

struct Rig {
    outbox: Arc<MemoryOutbox>,
    dispatcher: Dispatcher<MemoryOutbox>,
    clock: Clock,
    router: Router,
}

fn rig(c: &NotifyConfig) -> Rig {
    let outbox = Arc::new(MemoryOutbox::new());
    let clock = Clock::manual(T0);
    Rig {
        dispatcher: Dispatcher::with_clock(c, outbox.clone(), clock.clone()).unwrap(),
        outbox,
        clock,
        router: Router::new(c),
    }
}

impl Rig {
    async fn alarm(&self, id: &str) {
        let n = burglary(id);
        let targets = self.router.targets(&n);
        assert!(!targets.is_empty());
        self.outbox
            .enqueue(&n, &targets, self.clock.now_ms())
            .await
            .unwrap();
    }

    fn statuses(&self) -> Vec<Status> {
        self.outbox.records().iter().map(|r| r.status).collect()
    }
}

#[tokio::test]
async fn a_burst_of_200_becomes_ten_singles_and_one_digest_within_the_limit() {
    let svc = Service::always(Reply::ok(r#"{"errcode":0,"errmsg":"ok"}"#)).await;
    let r = rig(&wecom(&svc.base()));
    for i in 0..200 {
        r.alarm(&format!("ntf_a{i}_alarm_opened_0")).await;
    }
    let report = r.dispatcher.round("c").await.unwrap();
    assert_eq!(
        (report.claimed, report.messages, report.delivered),
        (200, 11, 200)
    );
    let texts: Vec<String> = svc
        .requests()
        .iter()
        .map(|q| q.json()["text"]["content"].as_str().unwrap().to_string())
        .collect();
    // Sent concurrently, so in any order: ten singles and one digest.
    let (digests, singles): (Vec<&String>, Vec<&String>) =
        texts.iter().partition(|t| t.starts_with("【汇总】"));
    assert_eq!((singles.len(), digests.len()), (10, 1));
    assert!(singles.iter().all(|t| *t == BURGLARY_LINE));
    assert!(
        digests[0].starts_with("【汇总】190 条新报警：\n"),
        "{}",
        digests[0]
    );
    assert!(digests[0].ends_with("…另有 180 条"), "{}", digests[0]);
    assert!(r.statuses().iter().all(|s| *s == Status::Delivered));
    // More alarms in the same minute: the channel is in a storm and waits for its pace.
    for i in 200..250 {
        r.alarm(&format!("ntf_a{i}_alarm_opened_0")).await;
    }
    let report = r.dispatcher.round("c").await.unwrap();
    assert_eq!((report.messages, report.postponed), (0, 50));
    r.clock.set_ms(T0 + 6_200);
    let report = r.dispatcher.round("c").await.unwrap();
    assert_eq!(
        (report.messages, report.delivered),
        (1, 50),
        "one digest of the 50"
    );
    assert_eq!(svc.requests().len(), 12, "never more than 20 in a minute");
}

#[tokio::test]
async fn a_failing_webhook_is_retried_with_the_same_id_until_it_answers() {
    let svc = Service::script(vec![
        Reply::new(500, ""),
        Reply::new(503, ""),
        Reply::new(200, ""),
    ])
    .await;
    let r = rig(&webhook(&svc.base(), ""));
    r.alarm("ntf_a1_alarm_opened_0").await;
    assert_eq!(r.dispatcher.round("c").await.unwrap().retried, 1);
    assert_eq!(
        r.dispatcher.round("c").await.unwrap().claimed,
        0,
        "not due before 4 s"
    );
    r.clock.set_ms(T0 + 6_000);
    assert_eq!(r.dispatcher.round("c").await.unwrap().retried, 1);
    r.clock.set_ms(T0 + 6_000 + 36_000);
    assert_eq!(r.dispatcher.round("c").await.unwrap().delivered, 1);
    let ids: Vec<String> = svc
        .requests()
        .iter()
        .map(|q| q.header("webhook-id").unwrap().to_string())
        .collect();
    assert_eq!(ids, ["ntf_a1_alarm_opened_0"; 3]);
    let rec = &r.outbox.records()[0];
    assert_eq!((rec.status, rec.attempts), (Status::Delivered, 3));
    assert_eq!(
        rec.last_error.as_deref(),
        Some(format!("HTTP 503 from {}", svc.addr).as_str())
    );
}

#[tokio::test]
async fn a_delivery_failing_past_the_deadline_becomes_a_dead_letter() {
    let svc = Service::always(Reply::new(500, "")).await;
    let r = rig(&webhook(&svc.base(), ""));
    r.alarm("ntf_a1_alarm_opened_0").await;
    for _ in 0..10 {
        r.dispatcher.round("c").await.unwrap();
        match r.outbox.next_due_ms("c").await.unwrap() {
            Some(due) => r.clock.set_ms(due),
            None => break,
        }
    }
    let rec = &r.outbox.records()[0];
    assert_eq!(rec.status, Status::DeadLetter);
    assert!(
        rec.last_error
            .as_deref()
            .unwrap()
            .starts_with("gave up after"),
        "{rec:?}"
    );
    assert!(
        r.clock.now_ms() <= T0 + 60_000,
        "the last try is at the 60 s deadline"
    );
}

#[tokio::test]
async fn http_410_disables_the_channel_and_keeps_what_is_queued() {
    let svc = Service::always(Reply::new(410, "")).await;
    let r = rig(&webhook(&svc.base(), ""));
    r.alarm("ntf_a1_alarm_opened_0").await;
    r.alarm("ntf_a2_alarm_opened_0").await;
    let report = r.dispatcher.round("c").await.unwrap();
    assert_eq!((report.messages, report.postponed), (2, 2));
    let state = r.outbox.channel_state("c").await.unwrap();
    assert!(state.disabled.unwrap().contains("410"));
    r.clock.set_ms(T0 + 120_000);
    let report = r.dispatcher.round("c").await.unwrap();
    assert_eq!(
        (report.claimed, report.messages),
        (2, 0),
        "nothing more is sent"
    );
    assert_eq!(svc.requests().len(), 2);
    assert_eq!(
        r.statuses(),
        [Status::Pending, Status::Pending],
        "nothing lost"
    );
}

#[tokio::test]
async fn a_permanent_refusal_is_dead_lettered_at_once() {
    let svc = Service::always(Reply::ok(
        r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#,
    ))
    .await;
    let r = rig(&wecom(&svc.base()));
    r.alarm("ntf_a1_alarm_opened_0").await;
    assert_eq!(r.dispatcher.round("c").await.unwrap().dead, 1);
    let rec = &r.outbox.records()[0];
    assert!(
        rec.last_error.as_deref().unwrap().contains("93000"),
        "{rec:?}"
    );
}

#[tokio::test]
async fn a_service_rate_limit_pauses_the_whole_channel() {
    let svc = Service::script(vec![
        Reply::ok(r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#),
        Reply::ok(r#"{"errcode":0,"errmsg":"ok"}"#),
    ])
    .await;
    let r = rig(&wecom(&svc.base()));
    r.alarm("ntf_a1_alarm_opened_0").await;
    r.dispatcher.round("c").await.unwrap();
    r.alarm("ntf_a2_alarm_opened_0").await;
    let report = r.dispatcher.round("c").await.unwrap();
    assert_eq!(
        (report.claimed, report.postponed),
        (1, 1),
        "paused: the new one waits"
    );
    r.clock.set_ms(T0 + 60_000);
    let report = r.dispatcher.round("c").await.unwrap();
    assert_eq!(report.delivered, 2);
    assert_eq!(svc.requests().len(), 3);
}

#[tokio::test]
async fn rows_of_a_crashed_dispatcher_are_delivered_after_its_lease_with_the_same_id() {
    let svc = Service::script(vec![
        Reply::new(200, "").after(Duration::from_secs(30)),
        Reply::new(200, ""),
    ])
    .await;
    let c = webhook(&svc.base(), "timeout_secs = 1\n");
    let r = rig(&c);
    r.alarm("ntf_a9_alarm_opened_0").await;
    // The first dispatcher is killed while its request is in flight.
    let first = Dispatcher::with_clock(&c, r.outbox.clone(), Clock::manual(T0)).unwrap();
    let task = tokio::spawn(async move { first.round("c").await });
    for _ in 0..200 {
        if !svc.requests().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    task.abort();
    assert_eq!(
        r.dispatcher.round("c").await.unwrap().claimed,
        0,
        "still leased"
    );
    r.clock.set_ms(T0 + 3_600_000);
    assert_eq!(r.dispatcher.round("c").await.unwrap().delivered, 1);
    let ids: Vec<String> = svc
        .requests()
        .iter()
        .map(|q| q.header("webhook-id").unwrap().to_string())
        .collect();
    assert_eq!(ids, ["ntf_a9_alarm_opened_0", "ntf_a9_alarm_opened_0"]);
}

#[tokio::test]
async fn the_run_loop_delivers_as_soon_as_it_is_woken_and_stops_on_shutdown() {
    let svc = Service::always(Reply::new(200, "")).await;
    let c = webhook(&svc.base(), "");
    let outbox = Arc::new(MemoryOutbox::new());
    let d = Dispatcher::new(&c, outbox.clone()).unwrap();
    let handle = d.handle();
    let stop = CancellationToken::new();
    let task = tokio::spawn(d.run(stop.clone()));
    // Let the worker go idle (its poll sleep is a second).
    tokio::time::sleep(Duration::from_millis(100)).await;
    let n = burglary("ntf_a1_alarm_opened_0");
    let router = Router::new(&c);
    let started = std::time::Instant::now();
    outbox
        .enqueue(&n, &router.targets(&n), now_ms())
        .await
        .unwrap();
    handle.wake();
    while svc.requests().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}: woken, not polled",
        started.elapsed()
    );
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outbox.records()[0].status, Status::Delivered);
}

#[tokio::test]
async fn one_wechat_recipient_over_its_limit_does_not_hold_back_the_others() {
    let svc = Service::start(|q, _| match q.path.as_str() {
        "/cgi-bin/stable_token" => Reply::ok(r#"{"access_token":"T","expires_in":7200}"#),
        _ if q.json()["touser"] == "o1" => Reply::ok(
            r#"{"errcode":43117,"errmsg":"Sending messages to this openid too frequently"}"#,
        ),
        _ => Reply::ok(r#"{"errcode":0,"errmsg":"ok"}"#),
    })
    .await;
    let r = rig(&config(&format!(
        "[[channels]]\nname = \"c\"\nkind = \"wechat\"\nappid = \"a\"\nsecret = \"s\"\n\
         template_id = \"t\"\nopenids = [\"o1\", \"o2\"]\napi_base = \"{}\"\n",
        svc.base()
    )));
    r.alarm("ntf_a1_alarm_opened_0").await;
    let report = r.dispatcher.round("c").await.unwrap();
    assert_eq!(
        (report.claimed, report.delivered, report.retried),
        (2, 1, 1)
    );
    let recs = r.outbox.records();
    let o1 = recs
        .iter()
        .find(|x| x.recipient.as_deref() == Some("o1"))
        .unwrap();
    assert_eq!(o1.status, Status::Retrying);
    let state = r.outbox.channel_state("c").await.unwrap();
    assert_eq!(state.paused_until_ms, None, "only the recipient waits");
    assert_eq!(r.outbox.next_due_ms("c").await.unwrap(), Some(T0 + 60_000));
}
