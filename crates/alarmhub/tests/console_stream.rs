//! The alarm queue's live stream resumes from its cursor, over real HTTP against the real
//! binary: a browser's stream drops after the alarm opened; while it is away the alarm is
//! taken and noted; reconnecting with `Last-Event-ID` (what `EventSource` sends) or with
//! `from_seq` set to the last seq seen delivers exactly the changes made in between, none
//! twice; a malformed `Last-Event-ID` gets a clear 400.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::console::{add_user, sse_until, Browser, SseEvent};
use common::Daemon;
use serde_json::{json, Value};

const PW: &str = "a long password 1";
const WAIT: Duration = Duration::from_secs(10);

fn changes(events: &[SseEvent]) -> Vec<(i64, String)> {
    events
        .iter()
        .filter(|e| e.event == "change")
        .map(|e| {
            let v: Value = serde_json::from_str(&e.data).unwrap();
            assert_eq!(e.id, v["seq"].to_string(), "the event id is the change seq");
            (
                v["seq"].as_i64().unwrap(),
                v["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_dropped_alarm_stream_resumes_from_its_cursor_with_every_change_in_between() {
    let d = Daemon::start("", "");
    add_user(&d.data_dir(), "olga", "operator", PW);
    let mut olga = Browser::new(d.http);
    for _ in 0..30 {
        if olga.login("olga", PW).status == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let cookie = olga.cookie.clone().expect("logged in");
    let start = olga.get("/console/api/alarms").json()["change_seq"]
        .as_i64()
        .unwrap();
    let mut host = d.host();
    host.report(1130, 3);

    // The first connection sees the alarm open, then drops.
    let path = format!("/console/api/alarms/stream?from_seq={start}");
    let (status, first) = sse_until(d.http, &path, &[("cookie", &cookie)], "change", WAIT);
    assert_eq!(status, 200);
    let first = changes(&first);
    let (cursor, kind) = first.last().cloned().expect("the opening change");
    assert_eq!(kind, "opened", "{first:?}");
    let id = olga.get("/console/api/alarms").json()["alarms"][0]["id"]
        .as_i64()
        .unwrap();

    // While away: taken and noted.
    let take = olga.post(&format!("/console/api/alarms/{id}/take"), &json!({}));
    assert_eq!(take.status, 200, "{}", take.body);
    let note = olga.post(
        &format!("/console/api/alarms/{id}/note"),
        &json!({ "text": "Keyholder called." }),
    );
    assert_eq!(note.status, 200, "{}", note.body);

    // EventSource's own reconnect: the original URL plus Last-Event-ID.
    let last = cursor.to_string();
    let (status, resumed) = sse_until(
        d.http,
        &path,
        &[("cookie", &cookie), ("last-event-id", &last)],
        "live",
        WAIT,
    );
    assert_eq!(status, 200);
    let resumed = changes(&resumed);
    let kinds: Vec<&str> = resumed.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(
        kinds.len(),
        2,
        "exactly the two changes made meanwhile: {resumed:?}"
    );
    assert!(
        resumed.iter().all(|(seq, _)| *seq > cursor),
        "none twice: {resumed:?}"
    );
    assert_eq!(kinds[0], "taken", "{resumed:?}");

    // The page's own restart after the browser gave up: from_seq = the cursor.
    let (_, by_param) = sse_until(
        d.http,
        &format!("/console/api/alarms/stream?from_seq={cursor}"),
        &[("cookie", &cookie)],
        "live",
        WAIT,
    );
    assert_eq!(changes(&by_param), resumed);

    let (status, _) = sse_until(
        d.http,
        &path,
        &[("cookie", &cookie), ("last-event-id", "yesterday")],
        "live",
        WAIT,
    );
    assert_eq!(status, 400, "a malformed Last-Event-ID is refused");
    let bad = common::console::request(
        d.http,
        "GET",
        &path,
        &[("cookie", &cookie), ("last-event-id", "-5")],
        "",
    );
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("Last-Event-ID"), "{}", bad.body);
}
