//! WeChat template messages against a local server that plays the WeChat API: the stable
//! access token is fetched, cached, refreshed before it expires and after 40001; the
//! template message carries the documented fields; error codes map to outcomes.
#![allow(clippy::unwrap_used)]

mod notify_support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alarmhub::notify::send::Outgoing;
use alarmhub::notify::{Outcome, Sender};
use notify_support::*;

/// The WeChat API as far as template messages go.
#[derive(Default)]
struct Wx {
    issued: AtomicUsize,
    valid: Mutex<HashSet<String>>,
    expires_in: AtomicUsize,
    send_code: Mutex<Option<String>>,
}

impl Wx {
    fn answer(&self, r: &Seen) -> Reply {
        match r.path.as_str() {
            "/cgi-bin/stable_token" => {
                let b = r.json();
                assert_eq!(r.method, "POST");
                assert_eq!(b["grant_type"], "client_credential");
                assert_eq!(
                    (b["appid"].as_str(), b["secret"].as_str()),
                    (Some("wxAPP"), Some("app-secret"))
                );
                assert_eq!(b["force_refresh"], false);
                let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
                let token = format!("T{n}");
                self.valid.lock().unwrap().insert(token.clone());
                let exp = match self.expires_in.load(Ordering::SeqCst) {
                    0 => 7200,
                    e => e,
                };
                Reply::ok(&format!(
                    r#"{{"access_token":"{token}","expires_in":{exp}}}"#
                ))
            }
            "/cgi-bin/message/template/send" => {
                let token = r.query("access_token").unwrap_or_default();
                if !self.valid.lock().unwrap().contains(&token) {
                    return Reply::ok(
                        r#"{"errcode":40001,"errmsg":"invalid credential, access_token is invalid or not latest"}"#,
                    );
                }
                match self.send_code.lock().unwrap().clone() {
                    Some(body) => Reply::ok(&body),
                    None => Reply::ok(r#"{"errcode":0,"errmsg":"ok","msgid":200228332}"#),
                }
            }
            other => panic!("unexpected path {other}"),
        }
    }
}

async fn start(extra: &str) -> (Arc<Wx>, Service, Sender) {
    let wx = Arc::new(Wx::default());
    let w = wx.clone();
    let svc = Service::start(move |r, _| w.answer(r)).await;
    let s = Sender::new(&channel(&format!(
        "name = \"wx\"\nkind = \"wechat\"\nappid = \"wxAPP\"\nsecret = \"app-secret\"\n\
         template_id = \"TPL\"\nopenids = [\"o1\"]\napi_base = \"{}\"\n{extra}",
        svc.base()
    )))
    .unwrap();
    (wx, svc, s)
}

fn to(openid: &str, now_ms: i64) -> Outgoing {
    Outgoing::single(
        burglary("ntf_a1_alarm_opened_0"),
        Some(openid.into()),
        now_ms,
    )
}

fn count(svc: &Service, path: &str) -> usize {
    svc.requests().iter().filter(|r| r.path == path).count()
}

#[tokio::test]
async fn the_token_is_cached_and_fetched_again_after_40001() {
    let (wx, svc, s) = start("").await;
    let now = now_ms();
    assert_eq!(s.send(&to("o1", now)).await, Outcome::Delivered);
    assert_eq!(s.send(&to("o2", now + 1_000)).await, Outcome::Delivered);
    assert_eq!(count(&svc, "/cgi-bin/stable_token"), 1, "cached");
    // Someone else refreshed the token: WeChat answers 40001 for the old one.
    wx.valid.lock().unwrap().clear();
    assert_eq!(s.send(&to("o1", now + 2_000)).await, Outcome::Delivered);
    assert_eq!(count(&svc, "/cgi-bin/stable_token"), 2);
    let sends: Vec<String> = svc
        .requests()
        .iter()
        .filter(|r| r.path == "/cgi-bin/message/template/send")
        .map(|r| r.query("access_token").unwrap())
        .collect();
    assert_eq!(sends, ["T1", "T1", "T1", "T2"]);
}

#[tokio::test]
async fn the_token_is_refreshed_before_it_expires() {
    let (wx, svc, s) = start("").await;
    wx.expires_in.store(400, Ordering::SeqCst);
    let now = now_ms();
    assert_eq!(s.send(&to("o1", now)).await, Outcome::Delivered);
    // Refreshed min(300, 400 / 2) = 200 s before the 400 s expiry.
    assert_eq!(s.send(&to("o1", now + 199_000)).await, Outcome::Delivered);
    assert_eq!(count(&svc, "/cgi-bin/stable_token"), 1);
    assert_eq!(s.send(&to("o1", now + 201_000)).await, Outcome::Delivered);
    assert_eq!(count(&svc, "/cgi-bin/stable_token"), 2);
}

#[tokio::test]
async fn the_template_message_carries_recipient_template_link_and_data() {
    let (_, svc, s) = start("link = \"https://example.com/alarms/1\"\n").await;
    assert_eq!(
        s.send(&to("oRECIPIENT", now_ms())).await,
        Outcome::Delivered
    );
    let r = svc
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/send"))
        .unwrap();
    let b = r.json();
    assert_eq!(b["touser"], "oRECIPIENT");
    assert_eq!(b["template_id"], "TPL");
    assert_eq!(b["url"], "https://example.com/alarms/1");
    assert_eq!(b["data"]["first"]["value"], "【报警】商铺12 北门");
    assert_eq!(b["data"]["keyword1"]["value"], "盗警");
    assert_eq!(b["data"]["keyword2"]["value"], "防区3");
    assert_eq!(b["data"]["keyword3"]["value"], "2026-11-29 12:00:01");
    assert_eq!(b["data"]["remark"]["value"], "账号 12");
}

#[tokio::test]
async fn configured_data_keys_replace_the_classic_layout() {
    let (_, svc, s) = start("[data]\nthing1 = \"{panel}\"\ntime2 = \"{time}\"\n").await;
    assert_eq!(s.send(&to("o1", now_ms())).await, Outcome::Delivered);
    let r = svc
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/send"))
        .unwrap();
    assert_eq!(
        r.json()["data"],
        serde_json::json!({"thing1": {"value": "商铺12 北门"}, "time2": {"value": "2026-11-29 12:00:01"}})
    );
}

#[tokio::test]
async fn wechat_error_codes_are_classified() {
    let cases = [
        (
            r#"{"errcode":43117,"errmsg":"Sending messages to this openid too frequently,please try later"}"#,
            "rate_limited",
            Some(false),
        ),
        (
            r#"{"errcode":45009,"errmsg":"reach max api daily quota limit"}"#,
            "rate_limited",
            Some(true),
        ),
        (
            r#"{"errcode":43004,"errmsg":"require subscribe"}"#,
            "failed",
            None,
        ),
        (
            r#"{"errcode":40037,"errmsg":"invalid template_id"}"#,
            "failed",
            None,
        ),
        (r#"{"errcode":-1,"errmsg":"system error"}"#, "retry", None),
    ];
    for (body, want, whole) in cases {
        let (wx, _svc, s) = start("").await;
        *wx.send_code.lock().unwrap() = Some(body.to_string());
        let outcome = s.send(&to("o1", now_ms())).await;
        assert_eq!(outcome.as_str(), want, "{body}: {outcome:?}");
        if let Outcome::RateLimited {
            whole_channel,
            after,
            ..
        } = outcome
        {
            assert_eq!(Some(whole_channel), whole, "{body}");
            let secs = if whole_channel { 3600 } else { 60 };
            assert_eq!(after, Some(Duration::from_secs(secs)));
        }
    }
}

#[tokio::test]
async fn a_wrong_app_secret_is_a_permanent_failure() {
    let svc = Service::always(Reply::ok(
        r#"{"errcode":40125,"errmsg":"invalid appsecret"}"#,
    ))
    .await;
    let s = Sender::new(&channel(&format!(
        "name = \"wx\"\nkind = \"wechat\"\nappid = \"wxAPP\"\nsecret = \"nope\"\ntemplate_id = \"T\"\n\
         openids = [\"o1\"]\napi_base = \"{}\"\n",
        svc.base()
    )))
    .unwrap();
    let outcome = s.send(&to("o1", now_ms())).await;
    let Outcome::Failed { reason } = &outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        reason.contains("40125") && reason.contains("AppSecret"),
        "{reason}"
    );
    assert_eq!(
        svc.requests().len(),
        1,
        "no template message without a token"
    );
}
