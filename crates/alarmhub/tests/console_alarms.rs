//! The alarm queue over the console's HTTP API against the real binary: a burglary from the
//! scripted host is listed, two operators take it at once and exactly one wins, a viewer's
//! forged take is refused, the holder notes and closes it with a resolution, and every
//! action is in the audit trail under the user's name.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::console::{add_user, Browser};
use common::{Daemon, ACCT};
use serde_json::json;

const PW: &str = "a long password 1";

fn login(d: &Daemon, name: &str) -> Browser {
    let mut b = Browser::new(d.http);
    for _ in 0..30 {
        if b.login(name, PW).status == 200 {
            return b;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{name} could not log in");
}

#[test]
fn two_operators_race_for_an_alarm_one_takes_it_and_closes_it_with_a_resolution() {
    let d = Daemon::start("", "");
    for (name, role) in [
        ("olga", "operator"),
        ("otto", "operator"),
        ("vic", "viewer"),
        ("ada", "admin"),
    ] {
        add_user(&d.data_dir(), name, role, PW);
    }
    let mut host = d.host();
    host.report(1130, 3);
    let (olga, otto, vic) = (login(&d, "olga"), login(&d, "otto"), login(&d, "vic"));

    let mut listed = serde_json::Value::Null;
    for _ in 0..50 {
        listed = olga.get("/console/api/alarms").json();
        if !listed["alarms"].as_array().unwrap().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let alarm = &listed["alarms"][0];
    assert_eq!(
        (alarm["account"].as_str(), alarm["state"].as_str()),
        (Some(ACCT), Some("new")),
        "{listed}"
    );
    assert_eq!(alarm["category"], "burglary");
    assert!(listed["resolutions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["code"] == "false_alarm_user"));
    let id = alarm["id"].as_i64().unwrap();
    let take = format!("/console/api/alarms/{id}/take");

    let forged = vic.post(&take, &json!({}));
    assert_eq!(forged.status, 403, "{}", forged.body);

    let racers: Vec<_> = [olga.clone(), otto.clone()]
        .into_iter()
        .map(|b| {
            let path = take.clone();
            std::thread::spawn(move || b.post(&path, &json!({})).status)
        })
        .collect();
    let mut codes: Vec<u16> = racers.into_iter().map(|t| t.join().unwrap()).collect();
    codes.sort_unstable();
    assert_eq!(codes, [200, 409], "exactly one operator holds it");

    let detail = olga.get(&format!("/console/api/alarms/{id}")).json();
    let holder = detail["alarm"]["taken_by"].as_str().unwrap().to_string();
    let (winner, loser) = if holder == "user:olga" {
        (&olga, &otto)
    } else {
        (&otto, &olga)
    };
    assert_eq!(
        detail["panel"]["account"], ACCT,
        "the panel's context comes along"
    );

    let close = format!("/console/api/alarms/{id}/close");
    let stolen = loser.post(&close, &json!({ "resolution": "false_alarm_user" }));
    assert_eq!(stolen.status, 409, "{}", stolen.body);
    let bad = winner.post(&close, &json!({ "resolution": "made_up" }));
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("made_up"), "{}", bad.body);
    let note = winner.post(
        &format!("/console/api/alarms/{id}/note"),
        &json!({ "text": "Keyholder called." }),
    );
    assert_eq!(note.status, 200, "{}", note.body);
    let closed = winner.post(
        &close,
        &json!({ "resolution": "false_alarm_user", "note": "Customer error." }),
    );
    assert_eq!(closed.status, 200, "{}", closed.body);
    assert_eq!(closed.json()["alarm"]["false_alarm"], true);
    assert!(olga.get("/console/api/alarms").json()["alarms"]
        .as_array()
        .unwrap()
        .is_empty());
    let strip = olga.get("/console/api/dashboard?day_start_ms=0").json();
    assert_eq!(strip["handled_today"], 1, "{strip}");

    let admin = login(&d, "ada");
    let who = holder.trim_start_matches("user:");
    let mut actions = Vec::new();
    for _ in 0..30 {
        let rows = admin.get(&format!("/console/api/audit?who={who}")).json();
        actions = rows["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["action"].as_str().unwrap().to_string())
            .collect();
        if actions.iter().any(|a| a.ends_with("/CloseAlarm")) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for a in ["TakeAlarm", "AddAlarmNote", "CloseAlarm"] {
        assert!(
            actions.iter().any(|x| x.ends_with(a)),
            "{a} not audited: {actions:?}"
        );
    }
}
