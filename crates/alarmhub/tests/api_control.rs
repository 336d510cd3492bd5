//! `Control` of `alarmhub.v1.AlarmHub`, end to end: the outcome of the control path for an
//! offline panel, an unsupported command and one the scripted Hengbo host confirms; bad
//! arguments refused; the audit event naming the gRPC client. The receiver runs in-process
//! (`common::Hub`); the client calls the daemon's own gRPC listener.
#![allow(clippy::unwrap_used)]

mod common;

use alarmhub::proto::v1 as pb;
use common::api::{self, assert_invalid};
use common::{within, Hub, ACCT};

#[tokio::test]
async fn control_reports_the_control_paths_outcome_and_refuses_bad_arguments() {
    let hub = Hub::with(api::setup()).await;
    let mut c = hub.client().await;
    let req = |account: &str, action: &str, section| pb::ControlRequest {
        account: account.into(),
        action: action.into(),
        section,
        password: String::new(),
    };
    let r = within(c.control(req("nobody", "arm_away", 0)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.outcome, "panel_offline");
    assert_invalid(
        within(c.control(req("nobody", "explode", 0))).await,
        "action",
    );
    assert_invalid(
        within(c.control(req("nobody", "arm_away", 4))).await,
        "section",
    );
    assert_invalid(within(c.control(req("", "disarm", 0))).await, "account");

    let mut host = hub.host().await;
    host.report(1737, 0).await; // wired host: arm away supported, arm stay not
    let r = within(c.control(req(ACCT, "arm_stay", 0)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.outcome, "not_supported", "{}", r.message);
    let mut c2 = c.clone();
    let arm = tokio::spawn(async move { c2.control(req(ACCT, "arm_away", 0)).await });
    host.answer_command(3400).await; // ACK, then "armed" (zone 99)
    let r = within(arm).await.unwrap().unwrap().into_inner();
    assert_eq!(r.outcome, "done", "{}", r.message);
    // A wrong password: the host ACKs and answers 1701; the reply says so.
    let mut c2 = c.clone();
    let disarm = tokio::spawn(async move {
        c2.control(pb::ControlRequest {
            password: "654321".into(),
            ..req(ACCT, "disarm", 0)
        })
        .await
    });
    host.answer_command(1400).await;
    let r = within(disarm).await.unwrap().unwrap().into_inner();
    assert_eq!(r.outcome, "wrong_password", "{}", r.message);
    // The audit event names the gRPC client.
    let audit = within(c.list_events(pb::ListEventsRequest {
        account: ACCT.into(),
        code: 3400,
        ..Default::default()
    }))
    .await
    .unwrap()
    .into_inner();
    assert!(
        audit
            .events
            .iter()
            .any(|e| e.source == "control" && e.peer.starts_with("grpc:127.0.0.1:")),
        "{audit:?}"
    );
    hub.stop().await;
}
