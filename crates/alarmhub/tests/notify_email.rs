//! The e-mail channel against a scripted SMTP server on a loopback socket: the envelope,
//! the headers (subject, Message-ID from the notification id) and the body as lettre
//! writes them; SMTP 5xx refusals are permanent, 4xx and connection failures are retried.
#![allow(clippy::unwrap_used)]

mod notify_support;

use std::net::SocketAddr;

use alarmhub::notify::send::Outgoing;
use alarmhub::notify::{Outcome, Sender};
use notify_support::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// What the SMTP server was told.
#[derive(Debug, Default)]
struct Transcript {
    commands: Vec<String>,
    data: String,
}

/// Serve one SMTP session; RCPT TO is answered with `rcpt_reply`.
async fn smtp(rcpt_reply: &'static str) -> (SocketAddr, tokio::task::JoinHandle<Transcript>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let (r, mut w) = sock.into_split();
        let mut lines = BufReader::new(r).lines();
        let mut t = Transcript::default();
        w.write_all(b"220 test.local ESMTP\r\n").await.unwrap();
        while let Ok(Some(line)) = lines.next_line().await {
            let upper = line.to_ascii_uppercase();
            t.commands.push(line.clone());
            let reply: &str = if upper.starts_with("EHLO") {
                "250-test.local\r\n250 8BITMIME\r\n"
            } else if upper.starts_with("MAIL FROM") || upper.starts_with("RSET") {
                "250 ok\r\n"
            } else if upper.starts_with("RCPT TO") {
                rcpt_reply
            } else if upper == "DATA" {
                w.write_all(b"354 go ahead\r\n").await.unwrap();
                while let Ok(Some(l)) = lines.next_line().await {
                    if l == "." {
                        break;
                    }
                    t.data.push_str(&l);
                    t.data.push('\n');
                }
                "250 queued\r\n"
            } else if upper == "QUIT" {
                w.write_all(b"221 bye\r\n").await.unwrap();
                break;
            } else {
                "502 unknown\r\n"
            };
            w.write_all(reply.as_bytes()).await.unwrap();
        }
        t
    });
    (addr, task)
}

fn email(addr: SocketAddr, language: &str) -> Sender {
    Sender::new(&channel(&format!(
        "name = \"mail\"\nkind = \"email\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {}\ntls = \"none\"\n\
         from = \"alarmhub <alarms@example.com>\"\nto = [\"duty@example.com\", \"boss@example.com\"]\n\
         language = \"{language}\"\n",
        addr.port()
    )))
    .unwrap()
}

/// The value of a header line (unfolded).
fn header(data: &str, name: &str) -> String {
    let mut out = String::new();
    let mut lines = data.lines().peekable();
    while let Some(l) = lines.next() {
        if let Some(v) = l.strip_prefix(&format!("{name}: ")) {
            out.push_str(v);
            while let Some(next) = lines
                .peek()
                .filter(|n| n.starts_with(' ') || n.starts_with('\t'))
            {
                out.push_str(next);
                lines.next();
            }
            return out;
        }
    }
    panic!("no {name} header in\n{data}");
}

/// Decode RFC 2047 `=?utf-8?b?…?=` words, as lettre writes non-ASCII subjects: white
/// space between two encoded words is not part of the text, elsewhere it is.
fn decode_words(v: &str) -> String {
    let mut out = String::new();
    let mut prev_encoded = false;
    for (i, w) in v.split(' ').enumerate() {
        let inner = w
            .strip_prefix("=?utf-8?b?")
            .and_then(|w| w.strip_suffix("?="));
        if i > 0 && !(prev_encoded && inner.is_some()) {
            out.push(' ');
        }
        match inner {
            Some(b) => out.push_str(&String::from_utf8(unb64(b)).unwrap()),
            None => out.push_str(w),
        }
        prev_encoded = inner.is_some();
    }
    out
}

fn body(data: &str) -> String {
    let (head, body) = data.split_once("\n\n").unwrap();
    match header(head, "Content-Transfer-Encoding").as_str() {
        // lettre writes CRLF line ends inside the encoded text too.
        "base64" => String::from_utf8(unb64(&body.replace('\n', "")))
            .unwrap()
            .replace("\r\n", "\n"),
        "7bit" | "8bit" => body.to_string(),
        other => panic!("transfer encoding {other} in\n{data}"),
    }
}

#[tokio::test]
async fn an_email_goes_to_every_recipient_with_subject_id_and_body() {
    let (addr, server) = smtp("250 ok\r\n").await;
    let mut n = burglary("ntf_a1_alarm_opened_0");
    n.panel_name = "Shop 12".into();
    let outcome = email(addr, "en")
        .send(&Outgoing::single(n, None, now_ms()))
        .await;
    assert_eq!(outcome, Outcome::Delivered);
    let t = server.await.unwrap();
    assert!(t.commands[0].starts_with("EHLO "), "{:?}", t.commands);
    assert_eq!(t.commands[1], "MAIL FROM:<alarms@example.com>");
    assert_eq!(
        &t.commands[2..4],
        ["RCPT TO:<duty@example.com>", "RCPT TO:<boss@example.com>"]
    );
    let d = &t.data;
    assert_eq!(
        header(d, "Subject"),
        "[Alarm] Shop 12 zone 3 burglary alarm 2026-11-29 12:00:01"
    );
    assert_eq!(header(d, "Message-ID"), "<ntf_a1_alarm_opened_0@alarmhub>");
    assert_eq!(header(d, "From"), "alarmhub <alarms@example.com>");
    assert_eq!(header(d, "To"), "duty@example.com, boss@example.com");
    let text = body(d);
    assert!(
        text.starts_with("Alarm\nAccount: 12\nName: Shop 12\nEvent: burglary alarm (1130)\n"),
        "{text}"
    );
    assert!(
        text.contains("Time: 2026-11-29 12:00:01 (UTC+08:00)"),
        "{text}"
    );
}

#[tokio::test]
async fn chinese_subjects_and_bodies_survive_the_mail_encodings() {
    let (addr, server) = smtp("250 ok\r\n").await;
    let out = Outgoing::single(burglary("ntf_a1_alarm_opened_0"), None, now_ms());
    assert_eq!(email(addr, "zh-CN").send(&out).await, Outcome::Delivered);
    let t = server.await.unwrap();
    assert_eq!(decode_words(&header(&t.data, "Subject")), BURGLARY_LINE);
    let text = body(&t.data);
    assert!(
        text.starts_with("报警\n账号：12\n名称：商铺12 北门\n事件：盗警"),
        "{text}"
    );
}

#[tokio::test]
async fn smtp_refusals_are_permanent_and_deferrals_are_retried() {
    for (reply, want) in [
        ("550 no such user\r\n", "failed"),
        ("451 try later\r\n", "retry"),
    ] {
        let (addr, server) = smtp(reply).await;
        let out = Outgoing::single(burglary("n1"), None, now_ms());
        let outcome = email(addr, "en").send(&out).await;
        assert_eq!(outcome.as_str(), want, "{reply}: {outcome:?}");
        assert!(outcome
            .reason()
            .unwrap()
            .contains(&format!("127.0.0.1:{}", addr.port())));
        server.abort();
    }
}

#[tokio::test]
async fn an_unreachable_smtp_server_is_retried() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let outcome = email(addr, "en")
        .send(&Outgoing::single(burglary("n1"), None, now_ms()))
        .await;
    assert_eq!(outcome.as_str(), "retry", "{outcome:?}");
}
