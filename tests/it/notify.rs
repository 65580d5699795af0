//! Notifications: every channel's exact payload at a local receiver, signatures recomputed here
//! independently, `errcode` answers, a receiver that never answers, truncation of a long
//! failure list, and no URL or secret in any output.

use crate::support::{
    bin, image_with_base, push_image, Format, Outcome, Receiver, Registry, Reply,
};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

const DING_SECRET: &str = "SECding0123456789";
const FEISHU_SECRET: &str = "feishuSECRET42";
const TOKEN: &str = "tok3n-in-the-url";

fn mirror(dst: &Registry, list: &str, args: &[&str], env: &[(&str, String)]) -> Outcome {
    let mut cli = bin();
    cli.args(["mirror", "-f", "-", "--target-namespace", "mirrors"])
        .args(["--target-registry", &dst.host()])
        .args(args)
        .write_stdin(list.to_string());
    for (k, v) in env {
        cli.env(k, v);
    }
    cli.run_with_report()
}

fn hmac_b64(key: &[u8], message: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn assert_no_secrets(o: &Outcome) {
    for s in [DING_SECRET, FEISHU_SECRET, TOKEN] {
        for (name, text) in [
            ("stdout", &o.stdout),
            ("stderr", &o.stderr),
            ("report", &o.report_text),
        ] {
            assert!(!text.contains(s), "`{s}` leaked into {name}:\n{text}");
        }
    }
    for path in ["/wecom", "/dingtalk", "/feishu", "/slack", "/hook"] {
        for text in [&o.stdout, &o.stderr, &o.report_text] {
            assert!(
                !text.contains(&format!("{path}?")),
                "a webhook URL leaked:\n{text}"
            );
        }
    }
}

fn ok_receivers() -> Receiver {
    Receiver::start(&[
        (
            "/wecom",
            Reply::Json(200, json!({"errcode": 0, "errmsg": "ok"})),
        ),
        (
            "/dingtalk",
            Reply::Json(200, json!({"errcode": 0, "errmsg": "ok"})),
        ),
        (
            "/feishu",
            Reply::Json(200, json!({"code": 0, "msg": "success", "data": {}})),
        ),
        ("/slack", Reply::Text(200, "ok".into())),
        ("/hook", Reply::Text(204, String::new())),
    ])
}

fn all_channels(r: &Receiver) -> Vec<(&'static str, String)> {
    vec![
        ("WECOM_WEBHOOK_URL", r.url(&format!("/wecom?key={TOKEN}"))),
        (
            "DINGTALK_WEBHOOK_URL",
            r.url(&format!("/dingtalk?access_token={TOKEN}")),
        ),
        ("DINGTALK_SECRET", DING_SECRET.to_string()),
        ("FEISHU_WEBHOOK_URL", r.url(&format!("/feishu?t={TOKEN}"))),
        ("FEISHU_SECRET", FEISHU_SECRET.to_string()),
        ("SLACK_WEBHOOK_URL", r.url(&format!("/slack?t={TOKEN}"))),
        ("NOTIFY_WEBHOOK_URL", r.url(&format!("/hook?t={TOKEN}"))),
    ]
}

#[test]
fn every_channel_gets_its_exact_payload_with_valid_signatures() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let img = image_with_base(Format::Docker, "linux", "amd64", None, &[], &[1000], 70);
    push_image(&src.client(), "lib/ok", Some("1"), &img);
    let list = format!(
        "{}\n{}\n",
        src.reference("lib/ok", "1"),
        src.reference("lib/gone", "1")
    );
    let r = ok_receivers();
    let o = mirror(&dst, &list, &[], &all_channels(&r));
    assert_eq!(
        o.code, 1,
        "the copy outcome decides: {}\n{}",
        o.stdout, o.stderr
    );
    assert_no_secrets(&o);
    let failed_target = format!("{}/mirrors/gone:1", dst.host());

    // WeCom: markdown, one message.
    let wecom = r.at("/wecom");
    assert_eq!(wecom.len(), 1);
    assert_eq!(wecom[0].query("key"), Some(TOKEN));
    assert_eq!(wecom[0].content_type.as_deref(), Some("application/json"));
    assert_eq!(wecom[0].body["msgtype"], "markdown");
    let content = wecom[0].body["markdown"]["content"].as_str().unwrap();
    assert!(
        content.starts_with("⚠️ **registry-mirror: mirror (2 images)** — some images failed\n"),
        "{content}"
    );
    assert!(
        content.contains("> total **2** · copied 1 · up to date 0 · failed 1\n"),
        "{content}"
    );
    assert!(
        content.contains(&format!(
            "- `{failed_target}`: line 2: not copied: no such repository"
        )),
        "{content}"
    );
    assert_eq!(wecom[0].body.as_object().unwrap().len(), 2);

    // DingTalk: markdown with title, signed in the query.
    let ding = r.at("/dingtalk");
    assert_eq!(ding.len(), 1);
    let ts = ding[0].query("timestamp").expect("timestamp");
    assert_eq!(ts.len(), 13, "milliseconds: {ts}");
    let expected = hmac_b64(
        DING_SECRET.as_bytes(),
        format!("{ts}\n{DING_SECRET}").as_bytes(),
    );
    assert_eq!(ding[0].query("sign"), Some(expected.as_str()));
    assert_eq!(ding[0].query("access_token"), Some(TOKEN));
    assert_eq!(ding[0].body["msgtype"], "markdown");
    assert_eq!(
        ding[0].body["markdown"]["title"],
        "registry-mirror: mirror (2 images) partly failed"
    );
    assert_eq!(ding[0].body["markdown"]["text"].as_str().unwrap(), content);

    // Feishu: an interactive card, signed in the body.
    let feishu = r.at("/feishu");
    assert_eq!(feishu.len(), 1);
    let b = &feishu[0].body;
    assert_eq!(b["msg_type"], "interactive");
    let ts = b["timestamp"].as_str().expect("timestamp string");
    assert_eq!(ts.len(), 10, "seconds: {ts}");
    let expected = hmac_b64(format!("{ts}\n{FEISHU_SECRET}").as_bytes(), b"");
    assert_eq!(b["sign"], expected);
    assert_eq!(
        b["card"]["header"]["title"]["content"],
        "registry-mirror: mirror (2 images) partly failed"
    );
    assert_eq!(b["card"]["header"]["template"], "orange");
    assert_eq!(b["card"]["elements"][0]["tag"], "markdown");
    assert_eq!(
        b["card"]["elements"][0]["content"].as_str().unwrap(),
        content
    );

    // Slack: mrkdwn text.
    let slack = r.at("/slack");
    assert_eq!(slack.len(), 1);
    let text = slack[0].body["text"].as_str().unwrap();
    assert!(
        text.starts_with(":warning: *registry-mirror: mirror (2 images)* — some images failed\n"),
        "{text}"
    );
    assert!(text.contains(&format!("• `{failed_target}`: ")), "{text}");

    // The generic webhook: the summary and the failed images as JSON.
    let hook = r.at("/hook");
    assert_eq!(hook.len(), 1);
    let b = &hook[0].body;
    assert_eq!(b["source"], "registry-mirror");
    assert_eq!(b["task"], "mirror (2 images)");
    assert_eq!(b["status"], "partial");
    assert_eq!(b["summary"]["total"], 2);
    assert_eq!(b["summary"]["copied"], 1);
    assert_eq!(b["summary"]["failed"], 1);
    assert_eq!(b["failed"][0]["source"], src.reference("lib/gone", "1"));
    assert_eq!(b["failed"][0]["target"], failed_target);
    assert!(b["failed"][0]["error"]
        .as_str()
        .unwrap()
        .contains("not copied: no such repository"));

    assert_eq!(
        o.report["notifications"],
        json!([
            {"channel": "wecom", "ok": true, "error": null},
            {"channel": "dingtalk", "ok": true, "error": null},
            {"channel": "feishu", "ok": true, "error": null},
            {"channel": "slack", "ok": true, "error": null},
            {"channel": "webhook", "ok": true, "error": null},
        ])
    );
}

#[test]
fn errors_inside_http_200_and_a_silent_receiver_are_failed_deliveries_not_failed_runs() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let img = image_with_base(Format::Docker, "linux", "amd64", None, &[], &[1000], 71);
    push_image(&src.client(), "lib/ok", Some("1"), &img);
    let r = Receiver::start(&[
        (
            "/wecom",
            Reply::Json(
                200,
                json!({"errcode": 93000, "errmsg": "invalid webhook url"}),
            ),
        ),
        (
            "/dingtalk",
            Reply::Json(200, json!({"errcode": 310000, "errmsg": "sign not match"})),
        ),
        (
            "/feishu",
            Reply::Json(
                200,
                json!({"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"}),
            ),
        ),
        ("/hook", Reply::Hang),
    ]);
    let env = vec![
        ("WECOM_WEBHOOK_URL", r.url(&format!("/wecom?key={TOKEN}"))),
        (
            "DINGTALK_WEBHOOK_URL",
            r.url(&format!("/dingtalk?access_token={TOKEN}")),
        ),
        ("DINGTALK_SECRET", DING_SECRET.to_string()),
        ("FEISHU_WEBHOOK_URL", r.url(&format!("/feishu?t={TOKEN}"))),
        ("NOTIFY_WEBHOOK_URL", r.url(&format!("/hook?t={TOKEN}"))),
    ];
    let o = mirror(
        &dst,
        &src.reference("lib/ok", "1"),
        &["--notify-timeout", "1"],
        &env,
    );
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert_no_secrets(&o);
    assert_eq!(
        o.report["notifications"],
        json!([
            {"channel": "wecom", "ok": false, "error": "errcode 93000: invalid webhook url"},
            {"channel": "dingtalk", "ok": false, "error": "errcode 310000: sign not match"},
            {"channel": "feishu", "ok": false, "error": "code 19021: sign match fail or timestamp is not within one hour from current time"},
            {"channel": "webhook", "ok": false, "error": "no answer within 1s"},
        ])
    );
    // A silent receiver is tried twice (one retry), an answered error once.
    assert_eq!(r.at("/hook").len(), 2);
    assert_eq!(r.at("/wecom").len(), 1);
    assert!(
        o.stderr
            .contains("notification not delivered: errcode 93000"),
        "{}",
        o.stderr
    );
}

#[test]
fn a_500_image_failure_list_fits_in_one_wecom_message() {
    let dst = Registry::anonymous();
    let src = Registry::anonymous();
    let list: String = (0..500)
        .map(|i| format!("{}\n", src.reference(&format!("gone/app{i}"), "1")))
        .collect();
    let r = ok_receivers();
    let env = vec![("WECOM_WEBHOOK_URL", r.url("/wecom?key=k"))];
    let o = mirror(
        &dst,
        &list,
        &["--max-images", "500", "--parallel", "16"],
        &env,
    );
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert_eq!(o.report["summary"]["failed"], 500);
    let content = r.at("/wecom")[0].body["markdown"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(content.len() <= 4096, "{} bytes", content.len());
    assert!(
        content.starts_with("❌ **registry-mirror: mirror (500 images)** — every image failed"),
        "{content}"
    );
    let listed = content.lines().filter(|l| l.starts_with("- `")).count();
    assert!(listed > 0 && listed < 500, "{listed}");
    assert!(
        content.contains(&format!("- … and {} more", 500 - listed)),
        "{content}"
    );
}

#[test]
fn notify_on_failure_and_dry_runs_send_nothing() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let img = image_with_base(Format::Docker, "linux", "amd64", None, &[], &[1000], 72);
    push_image(&src.client(), "lib/ok", Some("1"), &img);
    let r = ok_receivers();
    let env = vec![("WECOM_WEBHOOK_URL", r.url("/wecom?key=k"))];
    let o = mirror(
        &dst,
        &src.reference("lib/ok", "1"),
        &["--notify-on", "failure"],
        &env,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o2 = mirror(&dst, &src.reference("lib/gone", "1"), &["--dry-run"], &env);
    assert_eq!(o2.code, 1, "{}", o2.stderr);
    assert!(r.got().is_empty(), "{:#?}", r.got());
    assert!(o.report.get("notifications").is_none());
    // And `--notify-on failure` does send when something failed.
    let o = mirror(
        &dst,
        &src.reference("lib/gone", "1"),
        &["--notify-on", "failure"],
        &env,
    );
    assert_eq!(o.code, 1);
    assert_eq!(r.at("/wecom").len(), 1);
}

#[test]
fn help_never_prints_webhook_urls_or_secrets_from_the_environment() {
    for cmd in ["copy", "mirror", "sync", "run", "issue"] {
        let mut cli = bin();
        cli.args([cmd, "--help"])
            .env(
                "WECOM_WEBHOOK_URL",
                format!("https://qyapi.example/send?key={TOKEN}"),
            )
            .env("DINGTALK_SECRET", DING_SECRET)
            .env("FEISHU_SECRET", FEISHU_SECRET);
        let out = cli.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{cmd}");
        assert!(text.contains("--wecom-webhook"), "{cmd}: {text}");
        for secret in [TOKEN, DING_SECRET, FEISHU_SECRET] {
            assert!(!text.contains(secret), "{cmd} --help shows {secret}");
        }
    }
}
