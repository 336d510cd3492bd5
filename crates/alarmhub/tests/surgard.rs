#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Sur-Gard automation output against a scripted central station over loopback: exact
//! bytes, ACK / NAK / timeout / resend, heartbeat timing (paused time), cursor resume, and
//! a 10,000-event outage drained in order with nothing lost or repeated after ACK.

#[path = "outputs_support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use alarmhub::config::{AccountConfig, AutomationConfig, AutomationMode, Config};
use alarmhub::outputs::surgard::{LinkState, StatusWatch};
use alarmhub::outputs::{self, CursorStore};
use support::{cid, cid_bytes, link, Cms, Memory, Refuse};
use tokio::net::TcpListener;
use tokio::time::{timeout, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const HEARTBEAT: &[u8] = b"1011           @    \x14";
/// Bound for every wait; virtual in paused tests, where it only has to exceed the
/// protocol's own timers.
const LIMIT: Duration = Duration::from_secs(600);

struct Running {
    cancel: CancellationToken,
    tracker: TaskTracker,
    status: StatusWatch,
}

impl Running {
    async fn stop(self) {
        self.cancel.cancel();
        self.tracker.close();
        timeout(LIMIT, self.tracker.wait()).await.unwrap();
    }

    async fn listening(&mut self) -> String {
        let s = timeout(LIMIT, self.status.wait_for(|s| s.listening.is_some()))
            .await
            .unwrap()
            .unwrap();
        s.listening.clone().unwrap()
    }
}

fn start(mem: &Memory, automation: AutomationConfig, accounts: Vec<AccountConfig>) -> Running {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("alarmhub=debug")
        .try_init();
    let mut config = Config::default();
    config.automation.push(automation);
    config.accounts = accounts;
    config.reindex();
    config.validate().unwrap();
    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    let running = outputs::spawn(
        &config,
        mem.sources(Arc::new(Refuse)),
        cancel.clone(),
        &tracker,
    );
    Running {
        cancel,
        tracker,
        status: running.surgard.into_iter().next().unwrap(),
    }
}

fn listen_cfg() -> AutomationConfig {
    AutomationConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..AutomationConfig::surgard("cms")
    }
}

async fn next(cms: &mut Cms) -> Vec<u8> {
    timeout(LIMIT, cms.message())
        .await
        .expect("no message in time")
}

async fn cursor(mem: &Memory) -> Option<i64> {
    mem.cursors.load("automation:cms").await.unwrap()
}

async fn wait_cursor(mem: &Memory, want: i64) {
    let deadline = Instant::now() + LIMIT;
    while cursor(mem).await != Some(want) {
        assert!(
            Instant::now() < deadline,
            "cursor stuck at {:?}",
            cursor(mem).await
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn events_reach_the_central_station_as_exact_bytes_and_move_the_cursor_on_ack() {
    let mem = Memory::new();
    let mut out = start(&mem, listen_cfg(), Vec::new());
    let addr = out.listening().await;
    mem.log.append(cid("1234", 1130, 1, 5));
    mem.log.append(link("1234", 1944));
    let mut cms = Cms::connect(&addr).await;
    assert_eq!(next(&mut cms).await, b"5011 181234E13001005\x14");
    assert_eq!(cursor(&mem).await, Some(0));
    cms.ack().await;
    assert_eq!(next(&mut cms).await, b"5011 181234E35000000\x14");
    cms.ack().await;
    wait_cursor(&mem, 2).await;
    let s = out.status.borrow().clone();
    assert_eq!(s.state, LinkState::Up);
    assert!(s.last_ack_ms.is_some());
    out.stop().await;
}

#[tokio::test]
async fn nak_gets_the_same_message_again() {
    let mem = Memory::new();
    let mut out = start(&mem, listen_cfg(), Vec::new());
    let addr = out.listening().await;
    mem.log.append(cid("0042", 3400, 0, 99));
    let mut cms = Cms::connect(&addr).await;
    let first = next(&mut cms).await;
    assert_eq!(first, b"5011 180042R40000099\x14");
    cms.nak().await;
    assert_eq!(next(&mut cms).await, first);
    cms.nak().await;
    assert_eq!(next(&mut cms).await, first);
    cms.ack().await;
    wait_cursor(&mem, 1).await;
    out.stop().await;
}

#[tokio::test]
async fn cms_accounts_and_unmappable_accounts() {
    let mem = Memory::new();
    let accounts = vec![AccountConfig {
        account: "861234567890".into(),
        cms_account: Some("C0DE".into()),
        ..AccountConfig::default()
    }];
    let mut out = start(&mem, listen_cfg(), accounts);
    let addr = out.listening().await;
    mem.log.append(cid("861234567890", 1130, 0, 3));
    mem.log.append(cid("999999999999", 1130, 0, 4)); // no mapping: skipped
    mem.log.append(cid("123456", 1110, 0, 7)); // six digits: SIA form
    let mut cms = Cms::connect(&addr).await;
    assert_eq!(next(&mut cms).await, b"5011 18C0DEE13000003\x14");
    cms.ack().await;
    assert_eq!(next(&mut cms).await, b"S011[#123456|NFA07]\x14");
    cms.ack().await;
    wait_cursor(&mem, 3).await;
    out.stop().await;
}

#[tokio::test(start_paused = true)]
async fn no_answer_resends_every_ack_timeout_then_fails_and_heartbeats() {
    let mem = Memory::new();
    let mut out = start(&mem, listen_cfg(), Vec::new());
    let addr = out.listening().await;
    mem.log.append(cid("1234", 1130, 0, 1));
    let mut cms = Cms::connect(&addr).await;
    let msg = next(&mut cms).await;
    let t0 = Instant::now();
    for i in 1..=4u64 {
        assert_eq!(next(&mut cms).await, msg);
        assert_eq!(
            Instant::now() - t0,
            Duration::from_secs(4 * i),
            "resend {i}"
        );
    }
    // The fifth send goes unanswered too: the link fails and heartbeats start one heartbeat
    // period after the last send.
    assert_eq!(next(&mut cms).await, HEARTBEAT);
    assert_eq!(Instant::now() - t0, Duration::from_secs(16 + 30));
    assert_eq!(out.status.borrow().state, LinkState::Failed);
    assert_eq!(next(&mut cms).await, HEARTBEAT);
    assert_eq!(Instant::now() - t0, Duration::from_secs(16 + 60));
    cms.ack().await;
    // The link is up again and the parked event comes first.
    assert_eq!(next(&mut cms).await, msg);
    cms.ack().await;
    wait_cursor(&mem, 1).await;
    assert_eq!(out.status.borrow().state, LinkState::Up);
    out.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_idle_link_heartbeats_every_period() {
    let mem = Memory::new();
    let mut out = start(&mem, listen_cfg(), Vec::new());
    let addr = out.listening().await;
    let mut cms = Cms::connect(&addr).await;
    let t0 = Instant::now();
    for i in 1..=3u64 {
        assert_eq!(next(&mut cms).await, HEARTBEAT);
        let at = (Instant::now() - t0).as_secs_f64();
        assert!((at - 30.0 * i as f64).abs() < 0.1, "heartbeat {i} at {at}");
        cms.ack().await;
    }
    // An event in between resets the idle timer.
    mem.log.append(cid("1234", 1130, 0, 1));
    let t1 = Instant::now();
    assert_eq!(next(&mut cms).await, b"5011 181234E13000001\x14");
    cms.ack().await;
    assert_eq!(next(&mut cms).await, HEARTBEAT);
    let at = (Instant::now() - t1).as_secs_f64();
    assert!((at - 30.0).abs() < 0.1, "heartbeat after the event at {at}");
    out.stop().await;
}

#[tokio::test]
async fn a_clean_restart_resumes_where_the_cms_last_acked() {
    let mem = Memory::new();
    let mut out = start(&mem, listen_cfg(), Vec::new());
    let addr = out.listening().await;
    for z in 1..=5 {
        mem.log.append(cid("1234", 1130, 0, z));
    }
    let mut cms = Cms::connect(&addr).await;
    for z in 1..=3 {
        assert_eq!(next(&mut cms).await, cid_bytes("1234", 1130, 0, z));
        cms.ack().await;
    }
    // The fourth is sent but never ACKed before the stop.
    assert_eq!(next(&mut cms).await, cid_bytes("1234", 1130, 0, 4));
    out.stop().await;
    assert_eq!(cursor(&mem).await, Some(3));
    let mut out = start(&mem, listen_cfg(), Vec::new());
    let addr = out.listening().await;
    let mut cms = Cms::connect(&addr).await;
    assert_eq!(next(&mut cms).await, cid_bytes("1234", 1130, 0, 4));
    cms.ack().await;
    assert_eq!(next(&mut cms).await, cid_bytes("1234", 1130, 0, 5));
    cms.ack().await;
    wait_cursor(&mem, 5).await;
    out.stop().await;
}

#[tokio::test]
async fn a_ten_thousand_event_outage_drains_in_order_with_nothing_lost_or_repeated() {
    let mem = Memory::new();
    let mut out = start(&mem, listen_cfg(), Vec::new());
    let addr = out.listening().await;
    // The central station is away while 10,000 events are stored.
    let n = 10_000u16;
    let expected: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let (code, zone) = (if i % 2 == 0 { 1130 } else { 3130 }, i % 1000);
            mem.log.append(cid("1234", code, i / 1000, zone));
            cid_bytes("1234", code, i / 1000, zone)
        })
        .collect();
    let mut cms = Cms::connect(&addr).await;
    let half = usize::from(n / 2);
    for want in &expected[..half] {
        assert_eq!(&next(&mut cms).await, want);
        cms.ack().await;
    }
    // The central station reads the next message but drops the link before ACKing it:
    // the next connection resends exactly that one, never an ACKed one.
    assert_eq!(next(&mut cms).await, expected[half]);
    drop(cms);
    let mut cms = Cms::connect(&addr).await;
    let started = std::time::Instant::now();
    for want in &expected[half..] {
        assert_eq!(&next(&mut cms).await, want);
        cms.ack().await;
    }
    eprintln!(
        "drained {} events in {:?}",
        expected.len() - half,
        started.elapsed()
    );
    wait_cursor(&mem, i64::from(n)).await;
    assert_eq!(out.status.borrow().backlog, 0);
    out.stop().await;
}

#[tokio::test]
async fn connect_mode_reconnects_and_resends_what_was_not_acked() {
    let mem = Memory::new();
    let cms_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cfg = AutomationConfig {
        mode: AutomationMode::Connect,
        target: Some(cms_listener.local_addr().unwrap().to_string()),
        ..AutomationConfig::surgard("cms")
    };
    // An output never saved starts at the end of the log; this one has delivered nothing.
    mem.cursors.set("automation:cms", 0);
    mem.log.append(cid("1234", 1120, 0, 2));
    let out = start(&mem, cfg, Vec::new());
    let (s, _) = timeout(LIMIT, cms_listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut cms = Cms::from(s);
    let msg = next(&mut cms).await;
    assert_eq!(msg, b"5011 181234E12000002\x14");
    drop(cms);
    let (s, _) = timeout(LIMIT, cms_listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut cms = Cms::from(s);
    assert_eq!(next(&mut cms).await, msg);
    cms.ack().await;
    wait_cursor(&mem, 1).await;
    out.stop().await;
}
