//! Commands to a Hengbo host: seq, frame, ACK matching, resend, timeout, the 1798 query.

use super::*;
use crate::build::{ack, AckStyle, Command};
use crate::frame::Xdata;
use crate::timestamp::Timestamp;

const RETRY: Retry = Retry {
    timeout_ms: 20_000,
    retries: 2,
};

/// Arm away the whole host `account`, request `id`.
pub(super) fn arm(account: &str, id: u64) -> CommandRequest {
    CommandRequest {
        id,
        account: account.into(),
        command: Command::ArmAway,
        section: 0,
        retry: RETRY,
        ademco_id: None,
    }
}

/// A link with the Hengbo host online (it said it is a wired host, type 6).
fn online_host(acc: &Accounts) -> Link {
    let mut l = link();
    feed(&mut l, &bytes(&hb_event(1, 1737, 0)), at(0), acc);
    l
}

fn issue(l: &mut Link, req: CommandRequest, now: Now, acc: &Accounts) -> Vec<Output> {
    let mut out = Vec::new();
    l.command(req, now, acc, &mut out);
    out
}

/// The host's answer `id` (ACK, DUH, NAK) to a command frame: same header and seq.
fn host_answer(cmd: &[u8], id: Id) -> Vec<u8> {
    let mut f = decoded(cmd);
    f.id = id;
    f.data = Data::Empty;
    f.xdata.clear();
    bytes(&f)
}

#[test]
fn a_command_to_an_account_the_connection_does_not_serve_is_panel_offline() {
    let acc = Accounts::new();
    let mut l = link();
    let out = issue(&mut l, arm(HB, 1), at(0), &acc);
    assert_eq!(shape(&out), ["finished arm_away panel_offline"]);
    let mut l = online_host(&acc);
    let out = issue(&mut l, arm("somebody-else", 2), at(0), &acc);
    assert_eq!(shape(&out), ["finished arm_away panel_offline"]);
}

#[test]
fn a_command_gets_the_next_seq_and_the_hosts_ack_with_that_seq_completes_it() {
    let acc = Accounts::new().with(
        HB,
        AccountPolicy {
            tz_offset_secs: 8 * 3600,
            ..AccountPolicy::default()
        },
    );
    let mut l = online_host(&acc);
    let out = issue(&mut l, arm(HB, 42), at(0), &acc);
    assert_eq!(shape(&out), ["send arm_away 0001 #0"]);
    let s = sent(&out)[0];
    assert_eq!(s.request, Some(42));
    let cmd = decoded(&s.bytes);
    let c = cmd.contact_id().unwrap();
    assert_eq!(
        (
            cmd.id.clone(),
            cmd.seq.as_str(),
            c.event_code(),
            c.group,
            c.account.as_deref()
        ),
        (Id::HengBo, "0001", 3400, 0, Some("000123")),
        "the Ademco ID comes from the host's own frames"
    );
    assert_eq!(cmd.timestamp, Some(Timestamp::from_unix(UNIX0 + 8 * 3600)));
    let answer = feed(&mut l, &host_answer(&s.bytes, Id::Ack), at(500), &acc);
    assert_eq!(
        shape(&answer),
        ["answer ACK 0001"],
        "an ACK says the host received it, not that it did it"
    );
    assert_eq!(l.next_deadline(), Some(at(500).mono_ms + 20_000));
    let status = feed(&mut l, &bytes(&hb_event(2, 3400, 99)), at(600), &acc);
    let last = shape(&status).pop();
    assert_eq!(last.as_deref(), Some("finished arm_away done"));
    let Some(Output::Finished(f)) = status.last() else {
        panic!()
    };
    assert_eq!(f.request, Some(42));
    assert_eq!(
        l.next_deadline(),
        Some(at(600).mono_ms + 180_000 + 30_000),
        "the host's report is a sign of life; nothing else is pending"
    );
}

fn disarm(password: &str) -> CommandRequest {
    CommandRequest {
        command: Command::Disarm {
            password: password.into(),
        },
        ..arm(HB, 7)
    }
}

#[test]
fn a_disarm_the_host_answers_with_1701_is_a_wrong_password_not_done() {
    let acc = Accounts::new();
    let mut l = online_host(&acc);
    let out = issue(&mut l, disarm("654321"), at(0), &acc);
    feed(
        &mut l,
        &host_answer(&sent(&out)[0].bytes, Id::Ack),
        at(1),
        &acc,
    );
    let report = feed(&mut l, &bytes(&hb_event(2, 1701, 99)), at(2), &acc);
    let shapes = shape(&report);
    assert!(shapes[0].starts_with("store"), "{shapes:?}");
    assert_eq!(
        shapes.last().map(String::as_str),
        Some("finished disarm wrong_password")
    );
}

#[test]
fn a_host_that_acks_but_reports_no_new_status_has_not_done_the_command() {
    let acc = Accounts::new();
    let mut l = online_host(&acc);
    let out = issue(&mut l, disarm("123456"), at(0), &acc);
    feed(
        &mut l,
        &host_answer(&sent(&out)[0].bytes, Id::Ack),
        at(1),
        &acc,
    );
    // Another status (the host stays armed) completes nothing.
    let other = feed(&mut l, &bytes(&hb_event(2, 3400, 0)), at(2), &acc);
    assert!(!shape(&other).iter().any(|s| s.starts_with("finished")));
    let mut t = Vec::new();
    l.tick(at(20_000), &mut t);
    assert!(t.is_empty(), "no resend after the ACK: {:?}", shape(&t));
    l.tick(at(20_001), &mut t);
    assert_eq!(shape(&t), ["finished disarm not_done"]);
}

#[test]
fn a_status_report_before_the_ack_still_completes_the_command() {
    let acc = Accounts::new();
    let mut l = online_host(&acc);
    let out = issue(&mut l, disarm("123456"), at(0), &acc);
    let report = feed(&mut l, &bytes(&hb_event(2, 1400, 99)), at(1), &acc);
    assert_eq!(
        shape(&report).last().map(String::as_str),
        Some("finished disarm done")
    );
    let late_ack = feed(
        &mut l,
        &host_answer(&sent(&out)[0].bytes, Id::Ack),
        at(2),
        &acc,
    );
    assert!(!shape(&late_ack).iter().any(|s| s.starts_with("finished")));
}

#[test]
fn the_callers_ademco_id_wins_over_the_one_the_link_saw() {
    let acc = Accounts::new();
    let mut l = online_host(&acc);
    let req = CommandRequest {
        ademco_id: Some(0xABC),
        ..arm(HB, 1)
    };
    let out = issue(&mut l, req, at(0), &acc);
    let cmd = decoded(&sent(&out)[0].bytes);
    assert_eq!(cmd.contact_id().unwrap().account.as_deref(), Some("000ABC"));
}

#[test]
fn an_unanswered_command_is_resent_with_the_same_seq_then_times_out() {
    let acc = Accounts::new();
    let mut l = online_host(&acc);
    let first = issue(&mut l, arm(HB, 1), at(0), &acc);
    let bytes0 = sent(&first)[0].bytes.clone();
    let mut got = Vec::new();
    for t in [19_999, 20_000, 39_999, 40_000, 60_000] {
        let mut out = Vec::new();
        l.tick(at(t), &mut out);
        for s in sent(&out) {
            assert_eq!(s.bytes, bytes0, "a resend is the same frame");
        }
        got.push(shape(&out).join(", "));
    }
    assert_eq!(
        got,
        [
            "",
            "send arm_away 0001 #1",
            "",
            "send arm_away 0001 #2",
            "finished arm_away timed_out"
        ]
    );
}

#[test]
fn a_duh_or_nak_to_a_command_finishes_it_as_not_supported() {
    for id in [Id::Duh, Id::Nak] {
        let acc = Accounts::new();
        let mut l = online_host(&acc);
        let out = issue(&mut l, arm(HB, 1), at(0), &acc);
        let answer = feed(
            &mut l,
            &host_answer(&sent(&out)[0].bytes, id.clone()),
            at(1),
            &acc,
        );
        assert_eq!(
            shape(&answer)[0],
            "finished arm_away not_supported",
            "{id:?}"
        );
    }
}

#[test]
fn an_ack_with_another_seq_or_from_another_account_completes_nothing() {
    let acc = Accounts::new();
    let mut l = online_host(&acc);
    let out = issue(&mut l, arm(HB, 1), at(0), &acc);
    let mut other_seq = decoded(&sent(&out)[0].bytes);
    other_seq.seq = "0002".into();
    let mut other_account = decoded(&sent(&out)[0].bytes);
    other_account.account = Some("999999".into());
    for f in [other_seq, other_account] {
        let mut b = Vec::new();
        ack(&f, AckStyle::Hb, Timestamp::from_unix(UNIX0), &mut b).unwrap();
        let answer = feed(&mut l, &b, at(1), &acc);
        assert!(
            !shape(&answer).iter().any(|s| s.starts_with("finished")),
            "{:?}",
            shape(&answer)
        );
    }
}

#[test]
fn command_seqs_count_up_and_wrap_from_9999_to_1() {
    let acc = Accounts::new();
    let mut l = online_host(&acc);
    let mut seqs = Vec::new();
    for i in 0..10_001u64 {
        let out = issue(&mut l, arm(HB, i), at(0), &acc);
        seqs.push(sent(&out)[0].seq);
    }
    assert_eq!(&seqs[..2], [1, 2]);
    assert_eq!(&seqs[9997..], [9998, 9999, 1, 2]);
}

#[test]
fn malformed_commands_are_bad_requests_and_send_nothing() {
    let acc = Accounts::new();
    let mut l = online_host(&acc);
    for (command, section) in [
        (
            Command::Disarm {
                password: "12ab".into(),
            },
            0,
        ),
        (
            Command::Disarm {
                password: String::new(),
            },
            0,
        ),
        (Command::ArmAway, 4),
    ] {
        let req = CommandRequest {
            command,
            section,
            ..arm(HB, 1)
        };
        let out = issue(&mut l, req, at(0), &acc);
        assert_eq!(shape(&out).len(), 1);
        assert!(shape(&out)[0].ends_with("bad_request"), "{:?}", shape(&out));
    }
}

#[test]
fn the_disarm_password_travels_in_binary_length_xdata() {
    let acc = Accounts::new();
    let mut l = online_host(&acc);
    let req = CommandRequest {
        command: Command::Disarm {
            password: "123456".into(),
        },
        section: 2,
        ..arm(HB, 1)
    };
    let out = issue(&mut l, req, at(0), &acc);
    let cmd = decoded(&sent(&out)[0].bytes);
    assert_eq!(cmd.contact_id().unwrap().event_code(), 1400);
    assert_eq!(cmd.contact_id().unwrap().group, 2);
    assert_eq!(cmd.xdata, vec![Xdata::HbBinary(b"123456".to_vec())]);
}

#[test]
fn a_hengbo_host_of_unknown_type_is_asked_with_1798_once() {
    let query = Some(Retry {
        timeout_ms: 1000,
        retries: 0,
    });
    let f16 = bytes(&hb_event(2, 1130, 5));
    let mut with_type = bytes(&hb_event(1, 1737, 0));
    with_type.extend(&f16);
    let pyronix = bytes(&null("1409", None, Some("0")));
    for (what, input, type_query, caller_knows, asked) in [
        ("unknown HB host", &f16, query, false, true),
        ("caller knows the type", &f16, query, true, false),
        ("host said its type", &with_type, query, false, false),
        ("a DC-09 panel", &pyronix, query, false, false),
        ("queries off", &f16, None, false, false),
    ] {
        let mut acc = Accounts::new();
        if caller_knows {
            acc.types_known.push((HB, 1));
        }
        let mut l = Link::new(
            LinkConfig {
                type_query,
                ..config()
            },
            at(0),
        );
        let out = feed(&mut l, input, at(0), &acc);
        let queries: Vec<String> = shape(&out)
            .into_iter()
            .filter(|s| s.starts_with("send"))
            .collect();
        let want: &[&str] = if asked {
            &["send query_type 0001 #0"]
        } else {
            &[]
        };
        assert_eq!(queries, want, "{what}");
        if asked {
            assert_eq!(sent(&out)[0].request, None, "the link's own query");
            assert!(
                matches!(out.last(), Some(Output::Send(_))),
                "after every reply"
            );
            let again = feed(&mut l, input, at(1), &acc);
            assert!(sent(&again).is_empty(), "asked once per connection");
            let mut t = Vec::new();
            l.tick(at(1000), &mut t);
            assert_eq!(shape(&t), ["finished query_type timed_out"]);
        }
    }
}

#[test]
fn a_type_report_repeating_the_type_on_record_is_acked_without_being_stored() {
    // 1737 reports type 6 (wired), 1717 type 4 (GPRS); the caller has type 6 on record.
    let mut acc = Accounts::new();
    acc.types_known.push((HB, 6));
    let mut l = link();
    let out = feed(&mut l, &bytes(&hb_event(1, 1737, 0)), at(0), &acc);
    assert_eq!(
        shape(&out),
        [
            "online 861234567890",
            "store ONLINE 861234567890",
            "touch 861234567890",
            "ack 0001"
        ],
        "same type: ACKed, only the ONLINE stored"
    );
    let out = feed(&mut l, &bytes(&hb_event(2, 1717, 0)), at(1), &acc);
    assert_eq!(
        shape(&out),
        ["store 1717 0002", "ack 0002"],
        "a changed type"
    );
    acc.types_known.clear();
    let out = feed(&mut l, &bytes(&hb_event(3, 1737, 0)), at(2), &acc);
    assert_eq!(
        shape(&out),
        ["store 1737 0003", "ack 0003"],
        "no type on record"
    );
    // A plain DC-09 panel's 1737 is not a type report: always stored.
    acc.types_known.push(("1409", 6));
    let mut l = link();
    let out = feed(&mut l, &bytes(&dc09_event("1409", 1, 1737, 0)), at(0), &acc);
    assert!(
        shape(&out).contains(&"store 1737 0001".to_string()),
        "{:?}",
        shape(&out)
    );
}
