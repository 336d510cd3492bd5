//! The outbox contract, written once against `Arc<dyn Outbox>`: every backend passes it.
//!
//! A backend provides an [`OutboxBackend`] (a fresh, empty outbox per test; `open` opens the
//! same one again, for the reopen tests) and instantiates the suite in its test file:
//!
//! ```ignore
//! #[macro_use]
//! #[path = "notify_outbox/conformance.rs"]
//! mod conformance;
//! mod postgres_outbox {
//!     outbox_conformance_suite!(crate::postgres_backend);   // async fn() -> impl OutboxBackend
//! }
//! ```
//!
//! Time is passed in (`now_ms`), never read, so leases and due times are crossed by
//! arithmetic, not by waiting.

use std::sync::Arc;

use alarmhub::notify::outbox::{ChannelState, FeedBatch, ReminderChange, Settlement, Status};
use alarmhub::notify::{Notification, NotificationId, Outbox, Target, What};
use async_trait::async_trait;

pub const NOW: i64 = 1_800_000_000_000;

/// How the suite gets at one backend's outbox.
#[async_trait]
pub trait OutboxBackend: Send + Sync {
    /// Open the test's outbox (the same one on every call).
    async fn open(&self) -> Arc<dyn Outbox>;
}

/// What a backend constructor may return: the backend, or `None` when its server is not
/// reachable (PostgreSQL; the test is then skipped, and the constructor says so loudly).
pub trait MaybeOutboxBackend {
    type B: OutboxBackend;
    fn available(self) -> Option<Self::B>;
}

impl<B: OutboxBackend> MaybeOutboxBackend for B {
    type B = B;
    fn available(self) -> Option<B> {
        Some(self)
    }
}

impl<B: OutboxBackend> MaybeOutboxBackend for Option<B> {
    type B = B;
    fn available(self) -> Option<B> {
        self
    }
}

pub fn target(channel: &str) -> Target {
    Target {
        channel: channel.into(),
        recipient: None,
    }
}

pub fn to(channel: &str, recipient: &str) -> Target {
    Target {
        channel: channel.into(),
        recipient: Some(recipient.into()),
    }
}

pub fn alarm(id: &str, alarm_id: i64) -> Notification {
    let mut n = Notification::for_event(
        NotificationId::new(id).unwrap(),
        What::AlarmOpened,
        "861234567890",
        1130,
        None,
        NOW,
    );
    n.alarm_id = Some(alarm_id);
    n.zone = 3;
    n.priority = 1;
    n
}

fn batch(feed: &str, up_to: i64, ns: Vec<(Notification, Vec<Target>)>) -> FeedBatch {
    FeedBatch {
        feed: feed.into(),
        up_to,
        notifications: ns,
        reminders: Vec::new(),
    }
}

pub async fn queuing_the_same_notification_and_target_twice_keeps_one_row(b: &dyn OutboxBackend) {
    let o = b.open().await;
    let n = alarm("n1", 1);
    let first = o
        .enqueue(&n, &[target("a"), to("wx", "o1"), to("wx", "o2")], NOW)
        .await
        .unwrap();
    assert_eq!(first.len(), 3);
    let again = o
        .enqueue(&n, &[target("a"), to("wx", "o1"), to("wx", "o3")], NOW + 5)
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "only o3 is new");
    let backlog = o.backlog().await.unwrap();
    assert_eq!((backlog["a"], backlog["wx"]), (1, 3));
    let rows = o.claim_due("wx", NOW + 5, 10, 1000).await.unwrap();
    let recipients: Vec<_> = rows
        .iter()
        .map(|d| d.target.recipient.clone().unwrap())
        .collect();
    assert_eq!(recipients, ["o1", "o2", "o3"]);
    assert!(rows.iter().all(|d| d.notification == n && d.attempts == 0));
}

pub async fn claims_lease_due_rows_of_one_channel_oldest_first(b: &dyn OutboxBackend) {
    let o = b.open().await;
    for i in 0..5 {
        o.enqueue(&alarm(&format!("n{i}"), i), &[target("a")], NOW + i)
            .await
            .unwrap();
    }
    o.enqueue(&alarm("other", 9), &[target("b")], NOW)
        .await
        .unwrap();
    assert!(
        o.claim_due("a", NOW - 1, 10, 1000)
            .await
            .unwrap()
            .is_empty(),
        "none due yet"
    );
    let first = o.claim_due("a", NOW + 10, 2, 1000).await.unwrap();
    let ids: Vec<_> = first
        .iter()
        .map(|d| d.notification.id.to_string())
        .collect();
    assert_eq!(ids, ["n0", "n1"]);
    let rest = o.claim_due("a", NOW + 500, 10, 1000).await.unwrap();
    assert_eq!(rest.len(), 3, "leased rows are not claimed twice");
    assert!(o
        .claim_due("a", NOW + 600, 10, 1000)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        o.next_due_ms("a").await.unwrap(),
        Some(NOW + 1010),
        "when the first lease ends"
    );
    let again = o.claim_due("a", NOW + 1010, 10, 1000).await.unwrap();
    assert_eq!(
        again.len(),
        2,
        "a lease that ran out lets the row be claimed again"
    );
    assert_eq!(o.claim_due("b", NOW, 10, 1000).await.unwrap().len(), 1);
}

pub async fn settlements_deliver_retry_dead_letter_and_postpone(b: &dyn OutboxBackend) {
    let o = b.open().await;
    for i in 0..4 {
        o.enqueue(&alarm(&format!("n{i}"), i), &[target("a")], NOW)
            .await
            .unwrap();
    }
    let rows = o.claim_due("a", NOW, 10, 60_000).await.unwrap();
    let id = |i: usize| rows[i].id;
    o.settle(vec![
        (
            id(0),
            Settlement::Delivered {
                attempts: 1,
                at_ms: NOW + 7,
            },
        ),
        (
            id(1),
            Settlement::Retry {
                attempts: 1,
                due_ms: NOW + 5_000,
                error: "HTTP 500".into(),
            },
        ),
        (
            id(2),
            Settlement::DeadLetter {
                attempts: 3,
                at_ms: NOW + 8,
                error: "gone".into(),
            },
        ),
        (
            id(3),
            Settlement::Postpone {
                due_ms: NOW + 60_000,
                note: "rate limit".into(),
            },
        ),
    ])
    .await
    .unwrap();
    assert_eq!(
        o.backlog().await.unwrap()["a"],
        2,
        "retrying and postponed rows wait"
    );
    assert_eq!(
        o.next_due_ms("a").await.unwrap(),
        Some(NOW + 5_000),
        "settling ends the lease"
    );
    let retry = o.claim_due("a", NOW + 5_000, 10, 1000).await.unwrap();
    assert_eq!(retry.len(), 1);
    assert_eq!((retry[0].id, retry[0].attempts), (id(1), 1));
    let log = o.recent(None, 10).await.unwrap();
    let status = |rid: i64| log.iter().find(|r| r.id == rid).unwrap().clone();
    let d = status(id(0));
    assert_eq!(
        (d.status, d.attempts, d.delivered_ms),
        (Status::Delivered, 1, Some(NOW + 7))
    );
    let r = status(id(1));
    assert_eq!(
        (r.status, r.last_error.as_deref()),
        (Status::Retrying, Some("HTTP 500"))
    );
    let dead = status(id(2));
    assert_eq!((dead.status, dead.attempts), (Status::DeadLetter, 3));
    assert_eq!(
        status(id(3)).status,
        Status::Pending,
        "postponing is not an attempt"
    );
    assert!(
        o.claim_due("a", NOW + 10_000_000, 10, 1000)
            .await
            .unwrap()
            .iter()
            .all(|d| d.id != id(0) && d.id != id(2)),
        "delivered and dead rows are never claimed again"
    );
}

pub async fn settling_an_unknown_row_is_an_error(b: &dyn OutboxBackend) {
    let o = b.open().await;
    let r = o
        .settle(vec![(
            424_242,
            Settlement::Delivered {
                attempts: 1,
                at_ms: NOW,
            },
        )])
        .await;
    assert!(r.is_err());
}

pub async fn channel_state_round_trips_and_survives_reopen(b: &dyn OutboxBackend) {
    let o = b.open().await;
    assert_eq!(o.channel_state("a").await.unwrap(), ChannelState::default());
    let mut s = ChannelState {
        disabled: Some("HTTP 410 Gone".into()),
        paused_until_ms: Some(NOW + 60_000),
        ..ChannelState::default()
    };
    s.sends.insert(String::new(), vec![NOW, NOW + 1]);
    o.save_channel_state("a", &s).await.unwrap();
    drop(o);
    let o = b.open().await;
    assert_eq!(o.channel_state("a").await.unwrap(), s);
    assert_eq!(o.channel_state("b").await.unwrap(), ChannelState::default());
    // An operator re-enables it: the mark goes, the rest stays, waiting rows are due now.
    o.enqueue(&alarm("held", 1), &[target("a")], NOW)
        .await
        .unwrap();
    let rows = o.claim_due("a", NOW, 10, 1000).await.unwrap();
    o.settle(vec![(
        rows[0].id,
        Settlement::Postpone {
            due_ms: NOW + 60_000,
            note: "disabled".into(),
        },
    )])
    .await
    .unwrap();
    assert!(o.enable_channel("a", NOW + 5).await.unwrap());
    assert!(
        !o.enable_channel("a", NOW + 5).await.unwrap(),
        "already enabled"
    );
    let after = o.channel_state("a").await.unwrap();
    assert_eq!(
        (after.disabled, after.paused_until_ms),
        (None, s.paused_until_ms)
    );
    assert_eq!(o.next_due_ms("a").await.unwrap(), Some(NOW + 5));
}

pub async fn a_recorded_batch_moves_its_cursor_and_a_replay_adds_nothing(b: &dyn OutboxBackend) {
    let o = b.open().await;
    assert_eq!(o.feed_cursor("notify.events").await.unwrap(), None);
    let ns = vec![
        (alarm("e1", 1), vec![target("a"), target("b")]),
        (alarm("e2", 2), vec![]),
        (alarm("e3", 3), vec![target("a")]),
    ];
    assert_eq!(
        o.record(batch("notify.events", 30, ns.clone()), NOW)
            .await
            .unwrap(),
        3
    );
    assert_eq!(o.feed_cursor("notify.events").await.unwrap(), Some(30));
    assert_eq!(
        o.feed_cursor("notify.alarms").await.unwrap(),
        None,
        "cursors are per feed"
    );
    assert_eq!(
        o.record(batch("notify.events", 30, ns), NOW + 1)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        o.record(batch("notify.events", 31, vec![]), NOW)
            .await
            .unwrap(),
        0
    );
    drop(o);
    let o = b.open().await;
    assert_eq!(o.feed_cursor("notify.events").await.unwrap(), Some(31));
    let backlog = o.backlog().await.unwrap();
    assert_eq!((backlog["a"], backlog["b"]), (2, 1));
}

pub async fn reminders_start_once_repeat_on_schedule_and_stop(b: &dyn OutboxBackend) {
    let o = b.open().await;
    let start = |alarm_id: i64, first: i64| ReminderChange::Start {
        opened: Box::new(alarm(&format!("open{alarm_id}"), alarm_id)),
        first_due_ms: first,
        repeat_ms: 1_800_000,
    };
    let mut b1 = batch("notify.alarms", 1, vec![]);
    b1.reminders = vec![start(1, NOW + 1_800_000), start(2, NOW + 1_000)];
    o.record(b1, NOW).await.unwrap();
    let mut again = batch("notify.alarms", 1, vec![]);
    again.reminders = vec![start(1, NOW + 5)];
    o.record(again, NOW).await.unwrap();
    assert_eq!(
        o.due_reminders(NOW + 999, 10).await.unwrap(),
        vec![],
        "a start is not repeated"
    );
    let due = o.due_reminders(NOW + 1_800_000, 10).await.unwrap();
    assert_eq!(
        due.iter().map(|r| r.alarm_id).collect::<Vec<_>>(),
        [2, 1],
        "earliest first"
    );
    let row = &due[0];
    assert_eq!(
        (row.sent, row.repeat_ms, row.opened.alarm_id),
        (0, 1_800_000, Some(2))
    );
    let mut reminder = row.opened.clone();
    reminder.what = What::AlarmReminder;
    reminder.id = NotificationId::for_alarm(2, What::AlarmReminder, 1);
    let next = NOW + 1_800_000 + 1_800_000;
    assert!(o
        .remind(row, &reminder, &[target("a")], next, NOW + 1_800_000)
        .await
        .unwrap());
    assert!(
        !o.remind(row, &reminder, &[target("a")], next, NOW + 1_800_000)
            .await
            .unwrap(),
        "a schedule that moved on is not moved again"
    );
    assert_eq!(o.backlog().await.unwrap()["a"], 1);
    let later = o.due_reminders(next, 10).await.unwrap();
    let two_row = later.iter().find(|r| r.alarm_id == 2).unwrap().clone();
    assert_eq!(two_row.sent, 1);
    let mut stop = batch("notify.alarms", 2, vec![]);
    stop.reminders = vec![
        ReminderChange::Stop { alarm_id: 2 },
        ReminderChange::Stop { alarm_id: 77 },
    ];
    o.record(stop, NOW).await.unwrap();
    let left = o.due_reminders(i64::MAX, 10).await.unwrap();
    assert_eq!(left.iter().map(|r| r.alarm_id).collect::<Vec<_>>(), [1]);
    assert!(
        !o.remind(&two_row, &reminder, &[target("a")], next, NOW)
            .await
            .unwrap(),
        "a stopped schedule is not moved"
    );
    // Released (new again): the schedule resumes, its count kept; closed: gone for good.
    let mut resume = batch("notify.alarms", 3, vec![]);
    resume.reminders = vec![start(2, NOW + 7)];
    o.record(resume, NOW).await.unwrap();
    let back = o.due_reminders(NOW + 7, 10).await.unwrap();
    let two = back.iter().find(|r| r.alarm_id == 2).unwrap();
    assert_eq!((two.sent, two.due_ms), (1, NOW + 7));
    let mut end = batch("notify.alarms", 4, vec![]);
    end.reminders = vec![ReminderChange::End { alarm_id: 2 }];
    o.record(end, NOW).await.unwrap();
    let left = o.due_reminders(i64::MAX, 10).await.unwrap();
    assert_eq!(left.iter().map(|r| r.alarm_id).collect::<Vec<_>>(), [1]);
    assert!(
        !o.remind(two, &reminder, &[target("a")], next, NOW)
            .await
            .unwrap(),
        "ended"
    );
}

pub async fn pruning_removes_only_settled_rows_older_than_the_mark(b: &dyn OutboxBackend) {
    let o = b.open().await;
    for i in 0..3 {
        o.enqueue(&alarm(&format!("n{i}"), i), &[target("a")], NOW)
            .await
            .unwrap();
    }
    let rows = o.claim_due("a", NOW, 10, 1000).await.unwrap();
    o.settle(vec![
        (
            rows[0].id,
            Settlement::Delivered {
                attempts: 1,
                at_ms: NOW + 10,
            },
        ),
        (
            rows[1].id,
            Settlement::DeadLetter {
                attempts: 1,
                at_ms: NOW + 20,
                error: "x".into(),
            },
        ),
        (
            rows[2].id,
            Settlement::Retry {
                attempts: 1,
                due_ms: NOW + 5,
                error: "y".into(),
            },
        ),
    ])
    .await
    .unwrap();
    assert_eq!(
        o.prune(NOW + 10).await.unwrap(),
        0,
        "settled at the mark is kept"
    );
    assert_eq!(o.prune(NOW + 21).await.unwrap(), 2);
    let left = o.recent(None, 10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].status, Status::Retrying);
}

pub async fn the_log_lists_newest_first_and_filters_by_channel(b: &dyn OutboxBackend) {
    let o = b.open().await;
    for i in 0..4 {
        let t = if i % 2 == 0 {
            target("a")
        } else {
            to("wx", "o1")
        };
        o.enqueue(&alarm(&format!("n{i}"), i), &[t], NOW + i)
            .await
            .unwrap();
    }
    let all = o.recent(None, 3).await.unwrap();
    let ids: Vec<_> = all.iter().map(|r| r.notification_id.clone()).collect();
    assert_eq!(ids, ["n3", "n2", "n1"]);
    let wx = o.recent(Some("wx"), 10).await.unwrap();
    assert_eq!(wx.len(), 2);
    assert!(wx
        .iter()
        .all(|r| r.recipient.as_deref() == Some("o1") && r.status == Status::Pending));
    assert_eq!(
        (wx[0].what, wx[0].account.as_str()),
        (What::AlarmOpened, "861234567890")
    );
    assert!(o.recent(Some("none"), 10).await.unwrap().is_empty());
}

/// One `#[tokio::test]` per contract, on the backend `$backend()` (an async fn returning an
/// [`OutboxBackend`] over a fresh outbox, or `Option` of one: `None` skips the test).
#[macro_export]
macro_rules! outbox_conformance_suite {
    ($backend:path) => {
        $crate::outbox_conformance_suite!(@tests $backend;
            queuing_the_same_notification_and_target_twice_keeps_one_row,
            claims_lease_due_rows_of_one_channel_oldest_first,
            settlements_deliver_retry_dead_letter_and_postpone,
            settling_an_unknown_row_is_an_error,
            channel_state_round_trips_and_survives_reopen,
            a_recorded_batch_moves_its_cursor_and_a_replay_adds_nothing,
            reminders_start_once_repeat_on_schedule_and_stop,
            pruning_removes_only_settled_rows_older_than_the_mark,
            the_log_lists_newest_first_and_filters_by_channel,
        );
    };
    (@tests $backend:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                use $crate::conformance::MaybeOutboxBackend;
                let Some(backend) = $backend().await.available() else {
                    return;
                };
                $crate::conformance::$name(&backend).await;
            }
        )*
    };
}
