//! Roles × RPCs against the real binary with access control on: every served method is
//! called with no token, a bad token and a token of each role, and must answer exactly the
//! code the permission table gives. Also: health stays open, anonymous compat calls follow
//! `compat_anonymous`, and the failed-authentication limiter answers RESOURCE_EXHAUSTED with
//! a retry-after.
#![allow(clippy::unwrap_used)]

mod auth_util;
mod common;

use std::net::IpAddr;

use alarmhub::proto::alarm_server::alarm_server_client::AlarmServerClient;
use alarmhub::proto::alarm_server::{GetMachineRequest, IsNeedSyncRequest};
use alarmhub::proto::v1 as pb;
use alarmhub::proto::v1::alarm_hub_client::AlarmHubClient;
use auth_util::{bearer, channel, rt, start_with_tokens, Ch};
use common::Daemon;
use tonic::Code;

const METHODS: &[&str] = &[
    "IsNeedSync",
    "Sync",
    "ListMachines",
    "GetMachine",
    "ListEvents",
    "WatchEvents",
    "Subscribe",
    "Control",
    "Ingest",
    "ListAudit",
    "ListAlarms",
    "GetAlarm",
    "WatchAlarms",
    "TakeAlarm",
    "ReleaseAlarm",
    "AddAlarmNote",
    "CloseAlarm",
    "Health",
    "Reflection",
];

/// The code of one call of `method` on `ch`.
async fn call(method: &str, ch: Ch) -> Code {
    let mut hub = AlarmHubClient::new(ch.clone());
    let mut compat = AlarmServerClient::new(ch.clone());
    let code = |r: Result<(), tonic::Status>| r.err().map_or(Code::Ok, |s| s.code());
    match method {
        "IsNeedSync" => code(
            compat
                .is_need_sync(IsNeedSyncRequest {
                    empty: String::new(),
                })
                .await
                .map(drop),
        ),
        "Sync" => code(
            compat
                .sync(GetMachineRequest {
                    account: String::new(),
                })
                .await
                .map(drop),
        ),
        "ListMachines" => code(
            hub.list_machines(pb::ListMachinesRequest::default())
                .await
                .map(drop),
        ),
        "GetMachine" => code(
            hub.get_machine(pb::GetMachineRequest {
                account: "NOPANEL".into(),
            })
            .await
            .map(drop),
        ),
        "ListEvents" => code(
            hub.list_events(pb::ListEventsRequest::default())
                .await
                .map(drop),
        ),
        "WatchEvents" => code(
            hub.watch_events(pb::WatchEventsRequest {
                from_seq: -1,
                account: String::new(),
            })
            .await
            .map(drop),
        ),
        "Subscribe" => {
            let start = pb::SubscribeRequest {
                msg: Some(pb::subscribe_request::Msg::Start(pb::SubscribeStart {
                    group: "g".into(),
                    account: String::new(),
                    max_in_flight: 10,
                })),
            };
            code(
                hub.subscribe(tokio_stream::iter(vec![start]))
                    .await
                    .map(drop),
            )
        }
        "Control" => code(
            hub.control(pb::ControlRequest {
                account: "NOPANEL".into(),
                action: "arm_away".into(),
                section: 0,
                password: String::new(),
            })
            .await
            .map(drop),
        ),
        "Ingest" => code(
            hub.ingest(tokio_stream::iter(Vec::<pb::IngestEvent>::new()))
                .await
                .map(drop),
        ),
        "ListAudit" => code(
            hub.list_audit(pb::ListAuditRequest::default())
                .await
                .map(drop),
        ),
        "ListAlarms" => code(
            hub.list_alarms(pb::ListAlarmsRequest::default())
                .await
                .map(drop),
        ),
        "GetAlarm" => code(
            hub.get_alarm(pb::GetAlarmRequest { id: 999 })
                .await
                .map(drop),
        ),
        "WatchAlarms" => code(
            hub.watch_alarms(pb::WatchAlarmsRequest { from_seq: -1 })
                .await
                .map(drop),
        ),
        "TakeAlarm" => code(
            hub.take_alarm(pb::TakeAlarmRequest {
                id: 999,
                force: false,
            })
            .await
            .map(drop),
        ),
        "ReleaseAlarm" => code(
            hub.release_alarm(pb::ReleaseAlarmRequest {
                id: 999,
                force: false,
            })
            .await
            .map(drop),
        ),
        "AddAlarmNote" => code(
            hub.add_alarm_note(pb::AddAlarmNoteRequest {
                id: 999,
                text: "x".into(),
            })
            .await
            .map(drop),
        ),
        "CloseAlarm" => code(
            hub.close_alarm(pb::CloseAlarmRequest {
                id: 999,
                resolution: "other".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        ),
        "Health" => {
            let mut h = tonic_health::pb::health_client::HealthClient::new(ch);
            code(
                h.check(tonic_health::pb::HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .map(drop),
            )
        }
        "Reflection" => {
            use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
            use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
            use tonic_reflection::pb::v1::ServerReflectionRequest;
            let req = ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            };
            let mut c = ServerReflectionClient::new(ch);
            code(
                c.server_reflection_info(tokio_stream::iter(vec![req]))
                    .await
                    .map(drop),
            )
        }
        other => panic!("no call for {other}"),
    }
}

/// What an allowed call answers (the request is valid, or deliberately names no panel).
fn allowed(method: &str) -> Code {
    match method {
        "GetMachine" | "GetAlarm" | "TakeAlarm" | "ReleaseAlarm" | "AddAlarmNote"
        | "CloseAlarm" => Code::NotFound,
        _ => Code::Ok,
    }
}

/// Whether `role` may call `method` (README roles table).
fn may(role: &str, method: &str) -> bool {
    match method {
        "Health" => true,
        "IsNeedSync" | "Sync" | "ListMachines" | "GetMachine" | "ListEvents" | "Reflection" => true,
        "WatchEvents" => role != "integration",
        "Subscribe" | "Ingest" => matches!(role, "admin" | "integration"),
        "Control" => matches!(role, "operator" | "admin"),
        "ListAudit" => role == "admin",
        "ListAlarms" | "GetAlarm" => true,
        "WatchAlarms" => role != "integration",
        "TakeAlarm" | "ReleaseAlarm" | "AddAlarmNote" | "CloseAlarm" => {
            matches!(role, "operator" | "admin")
        }
        _ => false,
    }
}

fn ip(last: u8) -> Option<IpAddr> {
    Some(IpAddr::from([127, 0, 0, last]))
}

#[test]
fn every_rpc_answers_the_tables_code_for_no_token_a_bad_token_and_each_role() {
    let roles = ["viewer", "operator", "admin", "integration"];
    let names: Vec<(String, &str)> = roles.iter().map(|r| (format!("t-{r}"), *r)).collect();
    let spec: Vec<(&str, &str)> = names.iter().map(|(n, r)| (n.as_str(), *r)).collect();
    let (d, made, _tmp) = start_with_tokens("[auth]\nrequired = true\n", &spec);
    let tokens: Vec<(&str, String)> = roles.iter().copied().zip(made).collect();
    rt().block_on(async {
        let mut failures = Vec::new();
        for (i, m) in METHODS.iter().enumerate() {
            // Anonymous from loopback: only health and the compat service (compat_anonymous
            // defaults to loopback).
            let want = match *m {
                "Health" => Code::Ok,
                "IsNeedSync" | "Sync" => allowed(m),
                _ => Code::Unauthenticated,
            };
            let got = call(m, channel(d.grpc, None, None).await).await;
            if got != want {
                failures.push(format!("{m} without token: {got:?}, want {want:?}"));
            }
            // A bad token, each method from its own address (the limiter counts per address).
            let want = if *m == "Health" {
                Code::Ok
            } else {
                Code::Unauthenticated
            };
            let ch = channel(d.grpc, ip(10 + i as u8), bearer("ahk_0000")).await;
            let got = call(m, ch).await;
            if got != want {
                failures.push(format!("{m} with a bad token: {got:?}, want {want:?}"));
            }
            for (role, t) in &tokens {
                let want = if may(role, m) {
                    allowed(m)
                } else {
                    Code::PermissionDenied
                };
                let got = call(m, channel(d.grpc, None, bearer(t)).await).await;
                if got != want {
                    failures.push(format!("{m} as {role}: {got:?}, want {want:?}"));
                }
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    });
}

#[test]
fn compat_anonymous_never_refuses_anonymous_callers_but_not_token_holders() {
    let (d, t, _tmp) = start_with_tokens(
        "[auth]\nrequired = true\ncompat_anonymous = \"never\"\n",
        &[("php-worker", "viewer")],
    );
    let t = &t[0];
    rt().block_on(async {
        assert_eq!(
            call("IsNeedSync", channel(d.grpc, None, None).await).await,
            Code::Unauthenticated
        );
        assert_eq!(
            call("Sync", channel(d.grpc, None, None).await).await,
            Code::Unauthenticated
        );
        assert_eq!(
            call("IsNeedSync", channel(d.grpc, None, bearer(t)).await).await,
            Code::Ok
        );
    });
}

#[test]
fn with_access_control_off_on_loopback_everything_works_without_a_token() {
    let d = Daemon::start("", "");
    rt().block_on(async {
        for m in METHODS {
            assert_eq!(
                call(m, channel(d.grpc, None, None).await).await,
                allowed(m),
                "{m}"
            );
        }
    });
}

#[test]
fn repeated_bad_tokens_from_one_address_are_rate_limited_with_a_retry_after() {
    let (d, good, _tmp) = start_with_tokens("[auth]\nrequired = true\n", &[("good", "viewer")]);
    let good = &good[0];
    rt().block_on(async {
        for _ in 0..10 {
            let ch = channel(d.grpc, ip(77), bearer("ahk_guess")).await;
            assert_eq!(call("ListMachines", ch).await, Code::Unauthenticated);
        }
        // The eleventh attempt is refused before the token is even looked at.
        let mut c = AlarmHubClient::new(channel(d.grpc, ip(77), bearer(good)).await);
        let s = c
            .list_machines(pb::ListMachinesRequest::default())
            .await
            .unwrap_err();
        assert_eq!(s.code(), Code::ResourceExhausted, "{s:?}");
        let retry: u64 = s
            .metadata()
            .get("retry-after")
            .unwrap()
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        assert!(!s.message().contains("guess"), "{}", s.message());
        // Another address is not affected.
        assert_eq!(
            call("ListMachines", channel(d.grpc, ip(78), bearer(good)).await).await,
            Code::Ok
        );
    });
    // Logged with the address, never with the presented secret.
    let log = d.drain_log().join("\n");
    assert!(log.contains("127.0.0.77"), "{log}");
    assert!(
        !log.contains("ahk_guess") && !log.contains(good.as_str()),
        "{log}"
    );
}

#[test]
fn a_flood_of_unauthenticated_calls_from_one_address_is_cut_off_and_token_holders_keep_working() {
    let (d, good, _tmp) = start_with_tokens(
        "[auth]\nrequired = true\nunauthenticated_per_min = 20\n",
        &[("good", "viewer")],
    );
    let good = &good[0];
    let _ = d.drain_log();
    rt().block_on(async {
        let anon = channel(d.grpc, ip(90), None).await;
        let t0 = std::time::Instant::now();
        let mut codes = Vec::new();
        for _ in 0..200 {
            codes.push(call("ListMachines", anon.clone()).await);
        }
        let secs = t0.elapsed().as_secs();
        assert!(secs < 60, "{secs} s for 200 calls");
        // The burst of 20, and one more for each 3 s the flood took.
        let unauthenticated = codes
            .iter()
            .filter(|c| **c == Code::Unauthenticated)
            .count();
        let limited = codes
            .iter()
            .filter(|c| **c == Code::ResourceExhausted)
            .count();
        assert!(
            (20..=21 + secs as usize / 3).contains(&unauthenticated),
            "{unauthenticated} answered UNAUTHENTICATED"
        );
        assert_eq!(unauthenticated + limited, 200, "{codes:?}");
        assert_eq!(codes.last(), Some(&Code::ResourceExhausted));
        let mut c = AlarmHubClient::new(anon.clone());
        let s = c
            .list_machines(pb::ListMachinesRequest::default())
            .await
            .unwrap_err();
        assert_eq!(s.code(), Code::ResourceExhausted, "{s:?}");
        assert!(s.metadata().get("retry-after").is_some(), "{s:?}");
        // A token holder on the same address, and an anonymous caller on another, are not
        // affected.
        assert_eq!(
            call("ListMachines", channel(d.grpc, ip(90), bearer(good)).await).await,
            Code::Ok
        );
        assert_eq!(
            call("ListMachines", channel(d.grpc, ip(91), None).await).await,
            Code::Unauthenticated
        );
    });
    // The refused calls are not logged one line each.
    let log = d.drain_log();
    let lines = log.iter().filter(|l| l.contains("127.0.0.90")).count();
    assert!(
        lines <= 30,
        "{lines} log lines for 200 calls:\n{}",
        log.join("\n")
    );
}
