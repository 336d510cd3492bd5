//! `alarmhub notify test` through the real binary against a local webhook server: exit 0
//! and a signed request when the service accepts, 1 with the reason when it does not, 2
//! for an unknown channel or a missing configuration.
#![allow(clippy::unwrap_used)]

mod notify_support;

use std::path::Path;
use std::process::Output;

use notify_support::*;

async fn notify_test(config: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_alarmhub"));
    cmd.args(["notify", "test"])
        .args(args)
        .env_remove("ALARMHUB_CONFIG");
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    tokio::time::timeout(std::time::Duration::from_secs(30), cmd.output())
        .await
        .unwrap()
        .unwrap()
}

fn write_config(dir: &Path, base: &str) -> std::path::PathBuf {
    let (secret, _) = whsec();
    let path = dir.join("alarmhub.toml");
    std::fs::write(
        &path,
        format!(
            "[[notify.channels]]\nname = \"ops\"\nkind = \"webhook\"\nurl = \"{base}/in\"\nsecret = \"{secret}\"\n\
             [[notify.channels]]\nname = \"robot\"\nkind = \"wecom\"\n\
             url = \"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY-789\"\napi_base = \"{base}\"\n"
        ),
    )
    .unwrap();
    path
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivered_test_message_exits_0_and_is_signed() {
    let svc = Service::always(Reply::new(200, "")).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &svc.base());
    let out = notify_test(Some(&cfg), &["ops"]).await;
    assert!(out.status.success(), "{out:?}");
    assert!(
        text(&out.stdout).starts_with("ops: delivered in "),
        "{}",
        text(&out.stdout)
    );
    let r = &svc.requests()[0];
    let id = r.header("webhook-id").unwrap();
    assert!(id.starts_with("ntf_test_"), "{id}");
    let ts = r.header("webhook-timestamp").unwrap();
    let (_, key) = whsec();
    let mut signed = format!("{id}.{ts}.").into_bytes();
    signed.extend_from_slice(&r.body);
    assert_eq!(
        r.header("webhook-signature").unwrap(),
        format!("v1,{}", b64(&hmac_sha256(&key, &signed)))
    );
    assert_eq!(r.json()["type"], "test");
    assert!(r.json()["data"]["text"]
        .as_str()
        .unwrap()
        .starts_with("【测试】alarmhub 通知测试 "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_test_message_exits_1_with_the_reason_and_no_key() {
    let svc = Service::always(Reply::ok(
        r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#,
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &svc.base());
    let out = notify_test(Some(&cfg), &["robot"]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = text(&out.stderr);
    assert!(
        err.starts_with("robot: not delivered (failed): WeCom error 93000: invalid webhook url"),
        "{err}"
    );
    assert!(!err.contains("KEY-789") && !text(&out.stdout).contains("KEY-789"));
    let json = notify_test(Some(&cfg), &["robot", "--json"]).await;
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        (v["channel"].as_str(), v["outcome"].as_str()),
        (Some("robot"), Some("failed"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_channels_and_missing_configuration_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "http://127.0.0.1:9");
    let out = notify_test(Some(&cfg), &["nope"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no channel is named \"nope\"; channels: ops, robot"),
        "{out:?}"
    );
    let out = notify_test(None, &["ops"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("give --config FILE"), "{out:?}");
}
