//! `ListMachines` and `GetMachine` of `alarmhub.v1.AlarmHub`, end to end: the receiver runs
//! in-process (`common::Hub`), the generated client calls the daemon's own gRPC listener,
//! and the machines come from events stored the way sessions store them.
#![allow(clippy::unwrap_used)]

mod common;

use alarmhub::events::Source;
use alarmhub::proto::v1 as pb;
use common::api::{self, assert_invalid};
use common::{within, Hub};
use tonic::Code;

#[tokio::test]
async fn machines_are_listed_with_filters_and_pages_and_fetched_one_by_one() {
    let hub = Hub::with(api::setup()).await;
    for (acct, src, code, zone) in [
        ("1001", Source::Panel, 1737, 0),  // wired host (type 6), online
        ("1001", Source::Panel, 1400, 0),  // disarmed
        ("1002", Source::Panel, 1757, 0),  // three-section host
        ("1002", Source::Panel, 3400, 0),  // armed: every section
        ("1003", Source::Panel, 1717, 0),  // GPRS host
        ("2001", Source::Ingest, 1737, 0), // ingested: offline
        ("2002", Source::Ingest, 1130, 5), // burglary zone 5, still active
    ] {
        hub.append(acct, src, code, zone, 1_000).await;
    }
    let mut c = hub.client().await;
    let list =
        |online, status, r#type, prefix: &str, page_size, token: &str| pb::ListMachinesRequest {
            online,
            status,
            r#type,
            account_prefix: prefix.into(),
            page_size,
            page_token: token.into(),
            changed_since_sync: false,
        };
    let accounts = |r: &pb::ListMachinesReply| {
        r.machines
            .iter()
            .map(|m| m.account.clone())
            .collect::<Vec<_>>()
    };

    let mut token = String::new();
    let mut pages = Vec::new();
    loop {
        let r = within(c.list_machines(list(None, None, None, "", 2, &token)))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.total, 5);
        pages.push(accounts(&r));
        token = r.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(
        pages,
        vec![vec!["1001", "1002"], vec!["1003", "2001"], vec!["2002"]]
    );

    for (req, want) in [
        (
            list(Some(true), None, None, "", 0, ""),
            vec!["1001", "1002", "1003"],
        ),
        (
            list(Some(false), None, None, "", 0, ""),
            vec!["2001", "2002"],
        ),
        (list(None, None, Some(6), "", 0, ""), vec!["1001", "2001"]),
        (list(None, Some(2), None, "", 0, ""), vec!["1001"]),
        (list(None, Some(0), None, "", 0, ""), vec!["1002"]),
        (list(None, None, None, "20", 0, ""), vec!["2001", "2002"]),
        (list(Some(true), None, Some(6), "1", 0, ""), vec!["1001"]),
    ] {
        let r = within(c.list_machines(req.clone()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(accounts(&r), want, "{req:?}");
        assert_eq!(r.total as usize, want.len());
    }

    let m = within(c.get_machine(pb::GetMachineRequest {
        account: "1002".into(),
    }))
    .await
    .unwrap()
    .into_inner();
    assert_eq!(
        (
            m.r#type,
            m.type_name.as_str(),
            m.status,
            m.status_name.as_str()
        ),
        (8, "THREE_SECTION", 0, "arm_away")
    );
    assert_eq!(
        (m.section_status, m.online, m.signal_strength),
        (vec![0, 0, 0], true, -1)
    );
    let m = within(c.get_machine(pb::GetMachineRequest {
        account: "2002".into(),
    }))
    .await
    .unwrap()
    .into_inner();
    assert!(!m.online);
    assert_eq!(
        m.active_alarms
            .iter()
            .map(|a| (a.zone, a.code))
            .collect::<Vec<_>>(),
        vec![(5, 1130)]
    );
    let last = m.last_alarm.unwrap();
    assert_eq!(
        (last.name.as_str(), last.event_class.as_str(), last.zone),
        ("BURGLAR", "alarm", 5)
    );

    let e = within(c.get_machine(pb::GetMachineRequest {
        account: "9999".into(),
    }))
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert_invalid(
        within(c.get_machine(pb::GetMachineRequest::default())).await,
        "account",
    );
    assert_invalid(
        within(c.list_machines(list(None, None, None, "", 1001, ""))).await,
        "page_size",
    );
    assert_invalid(
        within(c.list_machines(list(None, None, None, "", 0, "bogus"))).await,
        "page_token",
    );
    hub.stop().await;
}
