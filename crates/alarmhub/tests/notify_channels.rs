//! Each channel kind against a local server that plays the service and checks the request
//! the way the service documents it: Standard Webhooks signatures, DingTalk and Feishu
//! signatures (recomputed here from the documented formulas with an independent HMAC),
//! WeCom, DingTalk, Feishu and WeChat error codes, WeChat token caching and refresh.
#![allow(clippy::unwrap_used)]

mod notify_support;

use std::time::Duration;

use alarmhub::notify::send::Outgoing;
use alarmhub::notify::{Outcome, Sender};
use notify_support::*;

fn sender(toml_text: &str) -> Sender {
    Sender::new(&channel(toml_text)).unwrap()
}

fn one(id: &str) -> Outgoing {
    Outgoing::single(burglary(id), None, now_ms())
}

fn webhook(base: &str) -> Sender {
    let (secret, _) = whsec();
    sender(&format!(
        "name = \"hook\"\nkind = \"webhook\"\nurl = \"{base}/alarms?x=1\"\nsecret = \"{secret}\"\n"
    ))
}

#[tokio::test]
async fn webhook_requests_are_signed_as_standard_webhooks_documents() {
    let svc = Service::always(Reply::new(204, "")).await;
    let out = one("ntf_a1_alarm_opened_0");
    assert_eq!(webhook(&svc.base()).send(&out).await, Outcome::Delivered);
    let r = &svc.requests()[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str(), r.raw_query.as_str()),
        ("POST", "/alarms", "x=1")
    );
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(r.header("webhook-id"), Some("ntf_a1_alarm_opened_0"));
    let ts: i64 = r.header("webhook-timestamp").unwrap().parse().unwrap();
    assert!(
        (ts - now_ms() / 1000).abs() < 300,
        "timestamp {ts} is Unix seconds of now"
    );
    // v1,base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), key = base64 after whsec_.
    let (_, key) = whsec();
    let mut signed = format!("ntf_a1_alarm_opened_0.{ts}.").into_bytes();
    signed.extend_from_slice(&r.body);
    let expected = format!("v1,{}", b64(&hmac_sha256(&key, &signed)));
    assert_eq!(r.header("webhook-signature"), Some(expected.as_str()));
    let body = r.json();
    assert_eq!(body["type"], "alarm.opened");
    assert_eq!(body["timestamp"], "2026-11-29T04:00:01Z");
    assert_eq!(body["data"]["account"], "12");
    assert_eq!(body["data"]["zone"], 3);
    assert_eq!(body["data"]["event_en"], "burglary alarm");
    assert_eq!(body["data"]["text"], BURGLARY_LINE);
}

#[tokio::test]
async fn a_webhook_retry_carries_the_same_id_and_a_new_signature_time() {
    let svc = Service::script(vec![Reply::new(500, ""), Reply::new(200, "")]).await;
    let s = webhook(&svc.base());
    let mut out = one("ntf_a7_alarm_opened_0");
    assert!(matches!(s.send(&out).await, Outcome::Retry { .. }));
    out.now_ms += 5_000;
    assert_eq!(s.send(&out).await, Outcome::Delivered);
    let r = svc.requests();
    assert_eq!(r[0].header("webhook-id"), r[1].header("webhook-id"));
    assert_ne!(
        r[0].header("webhook-timestamp"),
        r[1].header("webhook-timestamp")
    );
}

#[tokio::test]
async fn webhook_answers_are_classified_by_status() {
    let cases: Vec<(Reply, &str, Option<u64>)> = vec![
        (Reply::new(200, "{}"), "delivered", None),
        (Reply::new(202, ""), "delivered", None),
        (Reply::new(500, ""), "retry", None),
        (
            Reply::new(503, "").header("retry-after", "30"),
            "retry",
            Some(30),
        ),
        (Reply::new(404, ""), "retry", None),
        (
            Reply::new(301, "").header("location", "http://127.0.0.1:9/x"),
            "retry",
            None,
        ),
        (
            Reply::new(429, "").header("retry-after", "7"),
            "rate_limited",
            Some(7),
        ),
        (Reply::new(410, ""), "disabled", None),
    ];
    for (reply, want, after) in cases {
        let status = reply.status;
        let svc = Service::always(reply).await;
        let outcome = webhook(&svc.base()).send(&one("n1")).await;
        assert_eq!(outcome.as_str(), want, "HTTP {status}: {outcome:?}");
        let got_after = match &outcome {
            Outcome::Retry { after, .. } | Outcome::RateLimited { after, .. } => *after,
            _ => None,
        };
        assert_eq!(got_after, after.map(Duration::from_secs), "HTTP {status}");
        assert_eq!(
            svc.requests().len(),
            1,
            "HTTP {status}: redirects are not followed"
        );
    }
}

#[tokio::test]
async fn a_slow_service_times_out_as_a_retry() {
    let svc = Service::always(Reply::new(200, "").after(Duration::from_secs(5))).await;
    let (secret, _) = whsec();
    let c = channel(&format!(
        "name = \"hook\"\nkind = \"webhook\"\nurl = \"{}/x\"\nsecret = \"{secret}\"\n",
        svc.base()
    ));
    let s = Sender::with_timeout(&c, Duration::from_millis(300)).unwrap();
    let started = std::time::Instant::now();
    let outcome = s.send(&one("n1")).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let Outcome::Retry { reason, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(reason, format!("timed out ({})", svc.addr));
}

#[tokio::test]
async fn an_unreachable_service_is_a_retry_whose_reason_hides_the_token() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s = sender(&format!(
        "name = \"ding\"\nkind = \"dingtalk\"\nurl = \"http://127.0.0.1:{port}/robot/send?access_token=SECRET-TOKEN\"\n"
    ));
    let outcome = s.send(&one("n1")).await;
    let Outcome::Retry { reason, .. } = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(reason, &format!("cannot connect (127.0.0.1:{port})"));
    assert!(!format!("{outcome:?} {s:?}").contains("SECRET-TOKEN"));
}

#[tokio::test]
async fn a_digest_webhook_lists_every_notification() {
    let svc = Service::always(Reply::new(200, "")).await;
    let ns = vec![
        burglary("ntf_a1_alarm_opened_0"),
        burglary("ntf_a2_alarm_opened_0"),
    ];
    let out = Outgoing::digest(ns, None, 1_795_924_900_000);
    assert_eq!(webhook(&svc.base()).send(&out).await, Outcome::Delivered);
    let r = &svc.requests()[0];
    assert_eq!(r.header("webhook-id"), Some("dig_2_ntf_a1_alarm_opened_0"));
    let body = r.json();
    assert_eq!(body["type"], "digest");
    assert_eq!(body["data"]["count"], 2);
    assert_eq!(
        body["data"]["notifications"][1]["id"],
        "ntf_a2_alarm_opened_0"
    );
    let text = body["data"]["text"].as_str().unwrap();
    assert_eq!(
        text,
        format!("【汇总】2 条新报警：\n{BURGLARY_LINE}\n{BURGLARY_LINE}")
    );
}

fn wecom(base: &str) -> Sender {
    sender(&format!(
        "name = \"wc\"\nkind = \"wecom\"\nurl = \"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K-1\"\napi_base = \"{base}\"\n"
    ))
}

#[tokio::test]
async fn wecom_posts_a_text_message_to_the_key_url() {
    let svc = Service::always(Reply::ok(r#"{"errcode":0,"errmsg":"ok"}"#)).await;
    assert_eq!(
        wecom(&svc.base()).send(&one("n1")).await,
        Outcome::Delivered
    );
    let r = &svc.requests()[0];
    assert_eq!(
        (r.path.as_str(), r.query("key").as_deref()),
        ("/cgi-bin/webhook/send", Some("K-1"))
    );
    assert_eq!(
        r.json(),
        serde_json::json!({"msgtype": "text", "text": {"content": BURGLARY_LINE}})
    );
}

/// (reply, outcome name, wait) for one robot service.
type Case = (Reply, &'static str, Option<u64>);

async fn check_codes(name: &str, make: impl Fn(&str) -> Sender, cases: Vec<Case>) {
    for (reply, want, after) in cases {
        let shown = format!("{} {}", reply.status, reply.body);
        let svc = Service::always(reply).await;
        let outcome = make(&svc.base()).send(&one("n1")).await;
        assert_eq!(outcome.as_str(), want, "{name} {shown}: {outcome:?}");
        if let Outcome::RateLimited { after: got, .. } = &outcome {
            assert_eq!(*got, after.map(Duration::from_secs), "{name} {shown}");
        }
    }
}

#[tokio::test]
async fn wecom_error_codes_are_failures_even_with_http_200() {
    check_codes(
        "WeCom",
        wecom,
        vec![
            (
                Reply::ok(r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#),
                "rate_limited",
                Some(60),
            ),
            (
                Reply::ok(r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#),
                "failed",
                None,
            ),
            (
                Reply::ok(r#"{"errcode":-1,"errmsg":"system busy"}"#),
                "retry",
                None,
            ),
            (Reply::ok("<html>proxy</html>"), "retry", None),
            (Reply::new(502, ""), "retry", None),
        ],
    )
    .await;
}

fn dingtalk(base: &str) -> Sender {
    sender(&format!(
        "name = \"dt\"\nkind = \"dingtalk\"\nurl = \"https://oapi.dingtalk.com/robot/send?access_token=AT\"\n\
         secret = \"SEC123\"\napi_base = \"{base}\"\n"
    ))
}

#[tokio::test]
async fn dingtalk_signs_the_url_as_documented() {
    let svc = Service::always(Reply::ok(r#"{"errcode":0,"errmsg":"ok"}"#)).await;
    let out = one("n1");
    assert_eq!(dingtalk(&svc.base()).send(&out).await, Outcome::Delivered);
    let r = &svc.requests()[0];
    assert_eq!(r.path, "/robot/send");
    assert_eq!(r.query("access_token").as_deref(), Some("AT"));
    let ts = r.query("timestamp").unwrap();
    assert_eq!(ts, out.now_ms.to_string(), "timestamp in milliseconds");
    // sign = urlEncode(base64(HmacSHA256(key = secret, message = timestamp + "\n" + secret)))
    let b64sign = b64(&hmac_sha256(b"SEC123", format!("{ts}\nSEC123").as_bytes()));
    assert_eq!(r.query("sign"), Some(b64sign.clone()));
    let encoded: String = url::form_urlencoded::byte_serialize(b64sign.as_bytes()).collect();
    assert_eq!(r.raw_param("sign"), Some(encoded.clone()));
    assert!(
        !encoded.contains('+') && !encoded.contains('/'),
        "{encoded}"
    );
    assert_eq!(
        r.json(),
        serde_json::json!({"msgtype": "text", "text": {"content": BURGLARY_LINE}})
    );
}

#[tokio::test]
async fn dingtalk_error_codes_are_classified() {
    check_codes(
        "DingTalk",
        dingtalk,
        vec![
            (
                Reply::ok(
                    r#"{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}"#,
                ),
                "rate_limited",
                Some(600),
            ),
            (
                Reply::ok(r#"{"errcode":310000,"errmsg":"sign not match"}"#),
                "failed",
                None,
            ),
            (
                Reply::ok(r#"{"errcode":300001,"errmsg":"token is not exist"}"#),
                "failed",
                None,
            ),
            (
                Reply::ok(r#"{"errcode":-1,"errmsg":"busy"}"#),
                "retry",
                None,
            ),
            (
                Reply::new(429, "").header("retry-after", "9"),
                "rate_limited",
                Some(9),
            ),
        ],
    )
    .await;
}

fn feishu(base: &str) -> Sender {
    sender(&format!(
        "name = \"fs\"\nkind = \"feishu\"\nurl = \"https://open.feishu.cn/open-apis/bot/v2/hook/HOOK-ID\"\n\
         secret = \"fs-secret\"\napi_base = \"{base}\"\n"
    ))
}

#[tokio::test]
async fn feishu_signs_the_body_as_documented() {
    let svc = Service::always(Reply::ok(r#"{"code":0,"msg":"success","data":{}}"#)).await;
    let out = one("n1");
    assert_eq!(feishu(&svc.base()).send(&out).await, Outcome::Delivered);
    let r = &svc.requests()[0];
    assert_eq!(r.path, "/open-apis/bot/v2/hook/HOOK-ID");
    let body = r.json();
    let ts = body["timestamp"]
        .as_str()
        .expect("timestamp is a string of seconds");
    assert_eq!(ts, (out.now_ms / 1000).to_string());
    // sign = base64(HmacSHA256(key = timestamp + "\n" + secret, message = empty))
    let expected = b64(&hmac_sha256(format!("{ts}\nfs-secret").as_bytes(), b""));
    assert_eq!(body["sign"], expected.as_str());
    assert_eq!(body["msg_type"], "text");
    assert_eq!(body["content"]["text"], BURGLARY_LINE);
}

#[tokio::test]
async fn feishu_codes_and_rate_limit_headers_are_classified() {
    check_codes("Feishu", feishu, vec![
        (Reply::ok(r#"{"StatusCode":0,"StatusMessage":"success"}"#), "delivered", None),
        (Reply::ok(r#"{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}"#), "failed", None),
        (Reply::ok(r#"{"code":19024,"msg":"Key Words Not Found"}"#), "failed", None),
        (Reply::ok(r#"{"code":11232,"msg":"frequency limited psm"}"#), "rate_limited", Some(60)),
        (Reply::new(400, r#"{"code":99991400,"msg":"request trigger frequency limit"}"#).header("x-ogw-ratelimit-reset", "52"), "rate_limited", Some(52)),
        (Reply::new(429, "").header("x-ogw-ratelimit-reset", "3"), "rate_limited", Some(3)),
        (Reply::new(500, ""), "retry", None),
    ])
    .await;
}
