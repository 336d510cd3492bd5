//! Remote control and supervision with the receiver run in-process (`common::Hub`: real
//! sockets on 127.0.0.1, real SQLite) against the scripted Hengbo host: commands confirmed
//! by the host, resent with the same seq, refused clearly, per section; and supervision under
//! paused time.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use alarmhub::control::{ControlRequest, Outcome};
use common::{Hub, ACCT};
use panel_proto::build::Command;
use panel_proto::{Id, Xdata};

fn request(command: Command, section: u8) -> ControlRequest {
    ControlRequest {
        account: ACCT.into(),
        command,
        section,
        requested_by: "test".into(),
    }
}

/// A disarm; `None` leaves the password to the account's configuration.
fn disarm(password: Option<&str>) -> Command {
    Command::Disarm {
        password: password.unwrap_or_default().into(),
    }
}

#[tokio::test(start_paused = true)]
async fn heartbeats_keep_a_panel_online_and_silence_takes_it_offline_after_interval_plus_grace() {
    let r = Hub::start_paused("supervision_secs = 60\nsupervision_grace_secs = 30\n", "").await;
    let mut h = r.host().await;
    h.heartbeat().await;
    // Heartbeats every 50 s of (paused) time keep it online.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_secs(50)).await;
        h.heartbeat().await;
    }
    assert!(r.handles.registry.get(ACCT).unwrap().online);
    let t0 = tokio::time::Instant::now();
    // Silence: the receiver closes the link after 60 + 30 s and stores OFFLINE.
    assert!(
        h.recv_reply().await.is_none(),
        "connection closed by the receiver"
    );
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_secs(90) && waited < Duration::from_secs(92),
        "{waited:?}"
    );
    // Real time again: the OFFLINE event's commit happens on the writer thread.
    tokio::time::resume();
    let reg = Arc::clone(&r.handles.registry);
    for _ in 0..200 {
        if !reg.get(ACCT).unwrap().online {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!reg.get(ACCT).unwrap().online);
    r.stop().await;
}

#[tokio::test]
async fn arm_and_disarm_are_confirmed_by_the_host_and_the_new_status_is_tracked() {
    let r = Hub::start("", "[control]\ntimeout_secs = 2\nretries = 1\n[[accounts]]\naccount = \"861234567890\"\npassword = \"123456\"\n").await;
    let mut h = r.host().await;
    h.report(1737, 0).await; // I am a wired host (type 6)
    h.report(1400, 0).await; // disarmed
    let p = r.handles.registry.get(ACCT).unwrap();
    assert_eq!(
        (p.machine_type, p.status[0], p.ademco_id),
        (6, 2, Some(0x123))
    );

    let control = r.handles.control.clone();
    let arm = tokio::spawn(async move { control.execute(request(Command::ArmAway, 0)).await });
    let cmd = h.recv().await.unwrap();
    let c = cmd.contact_id().unwrap();
    assert_eq!(
        (
            cmd.id.clone(),
            c.event_code(),
            c.group,
            c.account.as_deref()
        ),
        (Id::HengBo, 3400, 0, Some("000123"))
    );
    h.answer(&cmd).await; // ACK, then "armed" (3400, zone 99: the receiving centre)
    assert_eq!(arm.await.unwrap(), Outcome::Done);
    assert_eq!(r.handles.registry.get(ACCT).unwrap().status[0], 0);

    // Disarm: the configured password travels in binary-length xdata.
    let control = r.handles.control.clone();
    let disarm = tokio::spawn(async move { control.execute(request(disarm(None), 0)).await });
    let cmd = h.recv().await.unwrap();
    assert_eq!(cmd.contact_id().unwrap().event_code(), 1400);
    assert_eq!(cmd.xdata, vec![Xdata::HbBinary(b"123456".to_vec())]);
    h.answer(&cmd).await;
    assert_eq!(disarm.await.unwrap(), Outcome::Done);

    // The audit trail holds every command with its outcome.
    let reader = alarmhub::store::SqliteReader::open(&r.handles.config.store.data_dir).unwrap();
    let control: Vec<_> = reader
        .events_after(0, 1000)
        .unwrap()
        .into_iter()
        .filter(|e| e.event.source == alarmhub::events::Source::Control)
        .collect();
    let audit: Vec<(u16, String)> = control
        .iter()
        .map(|e| {
            (
                e.event.code,
                e.event.detail.to_value()["outcome"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        audit,
        vec![(3400, "done".to_string()), (1400, "done".to_string())]
    );
    // The same, as the typed facts the store keeps in columns.
    let typed: Vec<_> = control
        .iter()
        .map(|e| {
            e.event
                .facts
                .control
                .map(|c| (c.action.as_str(), c.outcome.as_str()))
        })
        .collect();
    assert_eq!(
        typed,
        vec![Some(("arm_away", "done")), Some(("disarm", "done"))]
    );
    r.stop().await;
}

#[tokio::test]
async fn an_unanswered_command_is_resent_with_the_same_seq_then_times_out() {
    let r = Hub::start("", "[control]\ntimeout_secs = 1\nretries = 1\n").await;
    let mut h = r.host().await;
    h.report(1737, 0).await;
    let control = r.handles.control.clone();
    let arm = tokio::spawn(async move { control.execute(request(Command::ArmAway, 0)).await });
    let first = h.recv().await.unwrap();
    let second = h.recv().await.unwrap();
    assert_eq!(first.seq, second.seq, "a retry keeps its seq");
    assert_eq!(arm.await.unwrap(), Outcome::TimedOut);
    r.stop().await;
}

#[tokio::test]
async fn commands_to_offline_unsupported_or_malformed_targets_are_refused_clearly() {
    let r = Hub::start("", "").await;
    let c = r.handles.control.clone();
    assert_eq!(
        c.execute(request(Command::ArmAway, 0)).await,
        Outcome::PanelOffline
    );
    let mut h = r.host().await;
    h.report(1737, 0).await; // wired host: no arm stay, no sections
    assert!(matches!(
        c.execute(request(Command::ArmStay, 0)).await,
        Outcome::NotSupported(_)
    ));
    assert!(matches!(
        c.execute(request(Command::ArmAway, 2)).await,
        Outcome::NotSupported(_)
    ));
    assert!(matches!(
        c.execute(request(Command::ArmAway, 7)).await,
        Outcome::BadRequest(_)
    ));
    assert!(
        matches!(
            c.execute(request(disarm(None), 0)).await,
            Outcome::BadRequest(_)
        ),
        "no password anywhere"
    );
    assert!(matches!(
        c.execute(request(disarm(Some("12ab")), 0)).await,
        Outcome::BadRequest(_)
    ));
    drop((h, c));
    r.stop().await;
}

#[tokio::test]
async fn a_three_section_host_is_armed_per_section_and_tracks_each_section() {
    let r = Hub::start("", "[control]\ntimeout_secs = 2\nretries = 0\n").await;
    let mut h = r.host().await;
    h.report(1757, 0).await; // three-section host (type 8)
    let control = r.handles.control.clone();
    let arm = tokio::spawn(async move { control.execute(request(Command::ArmAway, 2)).await });
    let cmd = h.recv().await.unwrap();
    assert_eq!(cmd.contact_id().unwrap().group, 2);
    h.answer(&cmd).await; // ACK, then section 2 armed
    assert_eq!(arm.await.unwrap(), Outcome::Done);
    h.report_in(1400, 3, 0).await;
    let p = r.handles.registry.get(ACCT).unwrap();
    assert_eq!((p.status[2], p.status[3]), (0, 2));
    r.stop().await;
}

/// The control events stored for [`ACCT`]: (code, outcome in the detail, typed outcome).
fn stored_outcomes(r: &Hub) -> Vec<(u16, String, &'static str)> {
    let reader = alarmhub::store::SqliteReader::open(&r.handles.config.store.data_dir).unwrap();
    reader
        .events_after(0, 1000)
        .unwrap()
        .into_iter()
        .filter(|e| e.event.source == alarmhub::events::Source::Control)
        .map(|e| {
            let detail = e.event.detail.to_value()["outcome"]
                .as_str()
                .unwrap()
                .to_string();
            let typed = e.event.facts.control.map_or("", |c| c.outcome.as_str());
            (e.event.code, detail, typed)
        })
        .collect()
}

#[tokio::test]
async fn a_disarm_the_host_refuses_with_1701_is_a_wrong_password_and_the_host_stays_armed() {
    let r = Hub::start("", "[control]\ntimeout_secs = 2\nretries = 0\n").await;
    let mut h = r.host().await;
    h.report(1737, 0).await;
    h.report(3400, 0).await; // armed
    let control = r.handles.control.clone();
    let disarm =
        tokio::spawn(async move { control.execute(request(disarm(Some("654321")), 0)).await });
    // The scripted host accepts 123456 only: ACK, then 1701.
    h.answer_command(1400).await;
    assert_eq!(disarm.await.unwrap(), Outcome::WrongPassword);
    assert_eq!(
        r.handles.registry.get(ACCT).unwrap().status[0],
        0,
        "still armed"
    );
    assert_eq!(
        stored_outcomes(&r),
        vec![(1400, "wrong_password".into(), "wrong_password")]
    );
    r.stop().await;
}

#[tokio::test]
async fn a_command_the_host_acks_without_reporting_the_new_status_is_not_done() {
    let r = Hub::start("", "[control]\ntimeout_secs = 1\nretries = 0\n").await;
    let mut h = r.host().await;
    h.report(1737, 0).await;
    let control = r.handles.control.clone();
    let arm = tokio::spawn(async move { control.execute(request(Command::ArmAway, 0)).await });
    let cmd = h.command(3400).await;
    h.ack(&cmd).await; // received, but the host stays as it was
    assert_eq!(arm.await.unwrap(), Outcome::NotDone);
    assert_eq!(
        stored_outcomes(&r),
        vec![(3400, "not_done".into(), "not_done")]
    );
    r.stop().await;
}
