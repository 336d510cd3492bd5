//! Alarm handling end to end on the real binary with access control on: a Hengbo host's
//! burglary opens an alarm, further events group into it, a restore marks its zone; two
//! operators take it at once and exactly one wins; a viewer and a forcing operator are
//! refused; an admin takes it over; notes and close with a resolution; every action in the
//! audit trail with its actor; the metrics; the CLI commands; and open alarms surviving a
//! restart and a SIGKILL right after the ACK. Argument checks and `WatchAlarms` are in
//! `api_alarms.rs` (in-process).
#![allow(clippy::unwrap_used)]

mod auth_util;
mod common;

use std::time::Duration;

use alarmhub::proto::v1 as pb;
use alarmhub::proto::v1::alarm_hub_client::AlarmHubClient;
use auth_util::{bearer, channel, rt, start_with_tokens, Ch};
use common::api::assert_invalid;
use common::{within, ACCT};
use tonic::Code;

async fn client(d: &common::Daemon, token: &str) -> AlarmHubClient<Ch> {
    AlarmHubClient::new(channel(d.grpc, None, bearer(token)).await)
}

/// The open alarms, once `pred` holds for them (bounded: the engine applies events within
/// milliseconds of their commit).
async fn open_alarms(
    c: &mut AlarmHubClient<Ch>,
    pred: impl Fn(&[pb::Alarm]) -> bool,
) -> Vec<pb::Alarm> {
    let req = pb::ListAlarmsRequest {
        state: "open".into(),
        ..Default::default()
    };
    for _ in 0..200 {
        let r = within(c.list_alarms(req.clone()))
            .await
            .unwrap()
            .into_inner();
        if pred(&r.alarms) {
            return r.alarms;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the alarms never matched");
}

fn take(id: i64, force: bool) -> pb::TakeAlarmRequest {
    pb::TakeAlarmRequest { id, force }
}

#[test]
fn operators_take_handle_and_close_an_alarm_and_every_action_is_audited() {
    let spec = [
        ("ann", "operator"),
        ("bob", "operator"),
        ("vic", "viewer"),
        ("boss", "admin"),
    ];
    let (mut d, t, _tmp) = start_with_tokens("[auth]\nrequired = true\n", &spec);
    let (ann, bob, vic, boss) = (&t[0], &t[1], &t[2], &t[3]);
    let mut host = d.host();
    host.report(1130, 3); // burglary, zone 3
    host.report(1130, 5); // zone 5: grouped into the same alarm
    host.report(3130, 3); // zone 3 restored: the alarm stays open
    let id = rt().block_on(async {
        let mut a = client(&d, ann).await;
        let alarms = open_alarms(&mut a, |v| {
            v.len() == 1 && v[0].event_count == 2 && v[0].zones.iter().any(|z| z.restored)
        })
        .await;
        let al = &alarms[0];
        assert_eq!(
            (al.account.as_str(), al.priority, al.category.as_str()),
            (ACCT, 3, "burglary")
        );
        assert_eq!(al.state, "new");
        let zones: Vec<_> = al.zones.iter().map(|z| (z.zone, z.restored)).collect();
        assert_eq!(zones, [(3, true), (5, false)]);
        assert!(
            al.take_due_ms >= al.opened_at_ms + 60_000,
            "burglary: take within 60 s"
        );
        let id = al.id;

        // A viewer reads but may not take; an operator may not force.
        let mut v = client(&d, vic).await;
        let s = v.take_alarm(take(id, false)).await.unwrap_err();
        assert_eq!(s.code(), Code::PermissionDenied, "{s:?}");
        let s = a.take_alarm(take(id, true)).await.unwrap_err();
        assert_eq!(s.code(), Code::PermissionDenied, "{s:?}");
        assert!(s.message().contains("admin"), "{}", s.message());

        // Two operators at once: exactly one holds it.
        let mut b = client(&d, bob).await;
        let (ra, rb) = tokio::join!(a.take_alarm(take(id, false)), b.take_alarm(take(id, false)));
        assert!(ra.is_ok() != rb.is_ok(), "{ra:?} / {rb:?}");
        let (winner, loser, mut w) = if ra.is_ok() {
            ("token:ann", rb, a)
        } else {
            ("token:bob", ra, b)
        };
        let s = loser.unwrap_err();
        assert_eq!(s.code(), Code::FailedPrecondition, "{s:?}");
        assert!(s.message().contains(winner), "{}", s.message());

        // Notes by the holder; a bad resolution is refused naming the field; then close.
        w.add_alarm_note(pb::AddAlarmNoteRequest {
            id,
            text: "called the keyholder".into(),
        })
        .await
        .unwrap();
        let bad = w
            .close_alarm(pb::CloseAlarmRequest {
                id,
                resolution: "nope".into(),
                ..Default::default()
            })
            .await;
        assert_invalid(bad, "resolution");

        // The supervisor takes it over, then hands it back by closing it.
        let mut s = client(&d, boss).await;
        let r = s.take_alarm(take(id, true)).await.unwrap().into_inner();
        assert_eq!(r.alarm.unwrap().taken_by, "token:boss");
        let close = pb::CloseAlarmRequest {
            id,
            resolution: "false_alarm_user".into(),
            note: "customer opened the window".into(),
            force: false,
        };
        let r = s
            .close_alarm(close)
            .await
            .unwrap()
            .into_inner()
            .alarm
            .unwrap();
        assert_eq!(
            (r.state.as_str(), r.false_alarm, r.closed_by.as_str()),
            ("closed", true, "token:boss")
        );
        let g = s
            .get_alarm(pb::GetAlarmRequest { id })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            g.events.iter().map(|e| e.code).collect::<Vec<_>>(),
            [1130, 1130, 3130]
        );
        let notes: Vec<_> = g.notes.iter().map(|n| n.text.as_str()).collect();
        assert_eq!(
            notes,
            ["called the keyholder", "customer opened the window"]
        );
        let kinds: Vec<_> = g.history.iter().map(|h| h.kind.as_str()).collect();
        assert_eq!(
            kinds,
            ["opened", "attached", "restored", "taken", "noted", "taken", "closed"]
        );

        // The audit trail names each actor, the alarm, and the take-over.
        let mut rows = Vec::new();
        for _ in 0..100 {
            rows = s
                .list_audit(pb::ListAuditRequest {
                    page_size: 100,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .entries;
            if rows
                .iter()
                .any(|r| r.action.ends_with("/CloseAlarm") && r.outcome == "ok")
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let target = format!("alarm:{id}");
        let has = |action: &str, who: &str, outcome: &str| {
            rows.iter().any(|r| {
                r.action == format!("/alarmhub.v1.AlarmHub/{action}")
                    && r.who == who
                    && r.outcome.contains(outcome)
            })
        };
        assert!(has("TakeAlarm", &winner[6..], "ok"), "{rows:#?}");
        assert!(has("TakeAlarm", &winner[6..], "ok") && has("AddAlarmNote", &winner[6..], "ok"));
        assert!(
            has("TakeAlarm", "-", "permission_denied"),
            "the viewer's refusal: {rows:#?}"
        );
        assert!(
            has("CloseAlarm", "boss", "ok") && has("CloseAlarm", &winner[6..], "InvalidArgument")
        );
        let over = rows
            .iter()
            .find(|r| r.who == "boss" && r.action.ends_with("/TakeAlarm"))
            .unwrap();
        assert_eq!(over.target, target);
        assert!(
            over.detail_json
                .contains(&format!("\"taken_over_from\":\"{winner}\"")),
            "{over:?}"
        );
        id
    });

    // The CLI: the queue, a take refused by the lifecycle (exit 1), show.
    host.report(1110, 9); // a fire opens a new alarm (the burglary one is closed)
    let ok = common::eventually(Duration::from_secs(5), || {
        let out = d.cli(&["alarms", "--token", ann]);
        String::from_utf8_lossy(&out.stdout).contains("P1 fire")
    });
    assert!(ok, "{}", d.log_tail());
    let out = d.cli(&["alarms", "--state", "closed", "--json", "--token", vic]);
    let line = String::from_utf8(out.stdout).unwrap();
    let v: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    assert_eq!(
        (v["id"].as_i64(), v["resolution"].as_str()),
        (Some(id), Some("false_alarm_user"))
    );
    let fire = id + 1;
    let out = d.cli(&["alarm", "take", &fire.to_string(), "--token", ann]);
    assert!(out.status.success(), "{out:?}");
    let out = d.cli(&["alarm", "take", &fire.to_string(), "--token", bob]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("taken by token:ann"),
        "{out:?}"
    );
    let out = d.cli(&[
        "alarm",
        "note",
        &fire.to_string(),
        "smoke seen on camera",
        "--token",
        ann,
    ]);
    assert!(out.status.success(), "{out:?}");
    let out = d.cli(&["alarm", "take", &fire.to_string(), "--token", vic]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("permission denied"),
        "{out:?}"
    );

    // Metrics: time to take and close per priority, open alarms per priority.
    let auth = format!("Bearer {vic}");
    let (code, body) =
        common::binary::http_with(d.http, "GET", "/metrics", &[("authorization", &auth)]);
    assert_eq!(code, 200, "{body}");
    for series in [
        "alarmhub_alarm_take_seconds_count{priority=\"3\"} 1",
        "alarmhub_alarm_close_seconds_count{priority=\"3\"} 1",
        "alarmhub_alarms_closed_total{outcome=\"false_alarm\"} 1",
    ] {
        assert!(body.contains(series), "{series} not in {body}");
    }
    let ok = common::eventually(Duration::from_secs(5), || {
        let (_, body) =
            common::binary::http_with(d.http, "GET", "/metrics", &[("authorization", &auth)]);
        body.contains("alarmhub_alarms_open{priority=\"1\"} 1")
    });
    assert!(ok, "the open-alarms gauge shows the fire");

    // A restart keeps the open alarm, its holder and its note.
    drop(host);
    assert_eq!(d.stop(), Some(0));
    d.restart();
    let out = d.cli(&["alarm", "show", &fire.to_string(), "--token", vic]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    // (The host's disconnect reported OFFLINE, which joined the open fire alarm.)
    assert!(
        text.contains(" taken ") && text.contains("by token:ann"),
        "{text}"
    );
    assert!(text.contains("smoke seen on camera"), "{text}");
    let out = d.cli(&[
        "alarm",
        "close",
        &fire.to_string(),
        "--resolution",
        "fire_brigade_dispatched",
        "--token",
        ann,
    ]);
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn an_alarm_acked_just_before_a_sigkill_is_opened_once_after_the_restart() {
    let (mut d, t, _tmp) = start_with_tokens("[auth]\nrequired = true\n", &[("vic", "viewer")]);
    let vic = &t[0];
    let mut host = d.host();
    host.report(1120, 1); // panic: ACKed once durable
    d.kill_9();
    drop(host);
    d.restart();
    let ok = common::eventually(Duration::from_secs(5), || {
        let out = d.cli(&["alarms", "--json", "--token", vic]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        text.lines().count() == 1 && text.contains("\"category\":\"panic\"")
    });
    assert!(ok, "{}", d.log_tail());
    // Applied once: no second alarm after another restart either.
    assert_eq!(d.stop(), Some(0));
    d.restart();
    let out = d.cli(&["alarms", "--state", "all", "--json", "--token", vic]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        1,
        "{out:?}"
    );
}
