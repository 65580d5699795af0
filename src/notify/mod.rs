//! One message per run to the chat groups operators live in: WeCom, DingTalk, Feishu/Lark,
//! Slack, and a generic JSON webhook. The message (task, status, duration, totals, failed
//! images with short reasons, time, link) comes from the `notify` templates.
//!
//! Delivery never fails a run: each channel gets a timeout and one retry on network errors, and
//! its outcome lands in the report (`notifications`) and the log. Webhook URLs and secrets never
//! appear in either: errors are built without the URL.

mod channels;

use crate::render::templates::{self, Templates};
use crate::report::{RunReport, Status};
use serde::Serialize;
use std::time::Duration;
use tracing::{info, warn};

pub use channels::{dingtalk_sign, feishu_sign};

/// WeCom's limit on a markdown message's content, in bytes.
pub const WECOM_LIMIT: usize = 4096;
/// DingTalk accepts about 20 000 bytes; stay under it.
pub const DINGTALK_LIMIT: usize = 18_000;
/// Feishu cards and Slack texts: stay well under their limits.
pub const FEISHU_LIMIT: usize = 20_000;
pub const SLACK_LIMIT: usize = 3_500;
/// Characters of an error kept as a failed image's reason.
const REASON_CHARS: usize = 160;

pub(crate) use crate::report::{ChannelKind as Kind, Delivery};

/// One destination: a webhook URL and, for DingTalk and Feishu, a signing secret.
#[derive(Clone)]
pub struct Channel {
    pub kind: Kind,
    pub url: String,
    pub secret: Option<String>,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the URL or the secret.
        write!(f, "Channel({:?})", self.kind)
    }
}

/// What the message is about.
pub struct Subject<'a> {
    /// Issue title, job name or command.
    pub task: &'a str,
    /// The issue or the run.
    pub link: Option<&'a str>,
}

#[derive(Serialize)]
struct Failed {
    image: String,
    reason: String,
    #[serde(skip)]
    source: String,
    #[serde(skip)]
    error: String,
}

/// The message as data, ready for the templates and the generic webhook.
struct Message {
    task: String,
    status: &'static str,
    link: Option<String>,
    time: String,
    duration: String,
    run: serde_json::Value,
    failed: Vec<Failed>,
}

impl Message {
    fn new(run: &RunReport, subject: &Subject<'_>) -> Message {
        let s = &run.summary;
        let status = if s.failed == 0 {
            "success"
        } else if s.failed == s.total {
            "failed"
        } else {
            "partial"
        };
        let failed = run
            .images
            .iter()
            .filter(|i| i.status == Status::Failed)
            .map(|i| {
                let error = i.error.clone().unwrap_or_default();
                let first = error.lines().next().unwrap_or("").trim();
                let reason = if first.chars().count() > REASON_CHARS {
                    format!("{}…", first.chars().take(REASON_CHARS).collect::<String>())
                } else {
                    first.to_string()
                };
                Failed {
                    image: i.target.clone(),
                    reason,
                    source: i.source.clone(),
                    error,
                }
            })
            .collect();
        Message {
            task: subject.task.to_string(),
            status,
            link: subject.link.map(str::to_string),
            time: format!(
                "{} UTC",
                humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                    .to_string()
                    .replace('T', " ")
                    .trim_end_matches('Z')
            ),
            duration: format!("{:.1}s", run.duration_ms as f64 / 1000.0),
            run: serde_json::json!({
                "total": s.total, "copied": s.copied, "skipped": s.skipped, "failed": s.failed,
                "bytes": s.bytes,
            }),
            failed,
        }
    }

    fn title(&self) -> String {
        let status = match self.status {
            "success" => "succeeded",
            "failed" => "failed",
            _ => "partly failed",
        };
        // A plain-text field in every channel: inert text, no markup to escape.
        let task = crate::untrusted::inert(&self.task, 200);
        format!("registry-mirror: {task} {status}")
    }

    /// Render `template` with at most `shown` failed images.
    fn render(&self, t: &Templates, template: &str, shown: usize) -> Result<String, String> {
        let shown = shown.min(self.failed.len());
        t.render(
            template,
            &serde_json::json!({
                "task": self.task,
                "status": self.status,
                "status_text": match self.status { "success" => "all images in place", "failed" => "every image failed", _ => "some images failed" },
                "status_text_zh": match self.status { "success" => "全部完成", "failed" => "全部失败", _ => "部分失败" },
                "summary": self.run,
                "duration": self.duration,
                "time": self.time,
                "failed": &self.failed[..shown],
                "failed_omitted": self.failed.len() - shown,
                "link": self.link,
            }),
        )
        .map(|text| crate::untrusted::scrub(&text))
        .map_err(|e| e.to_string())
    }

    /// The rendered message within `limit` bytes: fewer failed images first, then a cut on a
    /// UTF-8 boundary with a pointer to the run.
    fn fitted(&self, t: &Templates, template: &str, limit: usize) -> Result<String, String> {
        let mut shown = self.failed.len();
        loop {
            let text = self.render(t, template, shown)?;
            if text.len() <= limit {
                return Ok(text);
            }
            if shown == 0 {
                return Ok(cut_bytes(&text, limit, self.link.as_deref()));
            }
            shown /= 2;
        }
    }

    fn webhook_json(&self) -> serde_json::Value {
        serde_json::json!({
            "source": "registry-mirror",
            "task": self.task,
            "status": self.status,
            "summary": self.run,
            "duration": self.duration,
            "time": self.time,
            "link": self.link,
            "failed": self.failed.iter().map(|f| serde_json::json!({
                "source": f.source, "target": f.image, "error": f.error,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Cut `text` to at most `limit` bytes on a character boundary, ending with a pointer.
pub fn cut_bytes(text: &str, limit: usize, link: Option<&str>) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let tail = match link {
        Some(l) => format!("\n… (cut; full report: {l})"),
        None => "\n… (cut)".to_string(),
    };
    let mut end = limit.saturating_sub(tail.len());
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{tail}", &text[..end])
}

/// Send the message about `run` to every channel; one delivery record per channel.
pub async fn send(
    run: &RunReport,
    channels: &[Channel],
    subject: &Subject<'_>,
    lang: &str,
    templates_dir: Option<&std::path::Path>,
    timeout: Duration,
) -> Vec<Delivery> {
    if channels.is_empty() {
        return Vec::new();
    }
    let message = Message::new(run, subject);
    let templates = match Templates::load(lang, templates_dir) {
        Ok(t) => t,
        Err(e) => {
            return channels
                .iter()
                .map(|c| failed(c.kind, format!("cannot render the message: {e}")))
                .collect()
        }
    };
    let client = match reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("registry-mirror/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            let e = e.without_url().to_string();
            return channels.iter().map(|c| failed(c.kind, e.clone())).collect();
        }
    };
    let mut out = Vec::new();
    for c in channels {
        let result = match payload(c, &message, &templates) {
            Ok((url, body)) => channels::deliver(&client, c.kind, &url, &body, timeout).await,
            Err(e) => Err(e),
        };
        let d = match result {
            Ok(()) => {
                info!(channel = ?c.kind, "notification sent");
                Delivery {
                    channel: c.kind,
                    ok: true,
                    error: None,
                }
            }
            Err(e) => {
                warn!(channel = ?c.kind, "notification not delivered: {e}");
                failed(c.kind, e)
            }
        };
        out.push(d);
    }
    out
}

fn failed(kind: Kind, error: String) -> Delivery {
    Delivery {
        channel: kind,
        ok: false,
        // May quote the receiver's answer.
        error: Some(crate::untrusted::inert(&error, 500)),
    }
}

/// The URL to POST to and the JSON body, per channel.
fn payload(c: &Channel, m: &Message, t: &Templates) -> Result<(String, serde_json::Value), String> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    Ok(match c.kind {
        Kind::Wecom => (
            c.url.clone(),
            serde_json::json!({"msgtype": "markdown", "markdown": {"content": m.fitted(t, templates::NOTIFY, WECOM_LIMIT)?}}),
        ),
        Kind::Dingtalk => {
            let mut url = c.url.clone();
            if let Some(secret) = &c.secret {
                let sign = dingtalk_sign(now_ms, secret);
                let sep = if url.contains('?') { '&' } else { '?' };
                url = format!(
                    "{url}{sep}timestamp={now_ms}&sign={}",
                    url::form_urlencoded::byte_serialize(sign.as_bytes()).collect::<String>()
                );
            }
            (
                url,
                serde_json::json!({"msgtype": "markdown", "markdown": {"title": m.title(), "text": m.fitted(t, templates::NOTIFY, DINGTALK_LIMIT)?}}),
            )
        }
        Kind::Feishu => {
            let color = match m.status {
                "success" => "green",
                "failed" => "red",
                _ => "orange",
            };
            let mut body = serde_json::json!({
                "msg_type": "interactive",
                "card": {
                    "header": {"title": {"tag": "plain_text", "content": m.title()}, "template": color},
                    "elements": [{"tag": "markdown", "content": m.fitted(t, templates::NOTIFY, FEISHU_LIMIT)?}],
                },
            });
            if let Some(secret) = &c.secret {
                let ts = now_ms / 1000;
                body["timestamp"] = serde_json::Value::from(ts.to_string());
                body["sign"] = serde_json::Value::from(feishu_sign(ts, secret));
            }
            (c.url.clone(), body)
        }
        Kind::Slack => (
            c.url.clone(),
            serde_json::json!({"text": m.fitted(t, templates::NOTIFY_SLACK, SLACK_LIMIT)?}),
        ),
        Kind::Webhook => (c.url.clone(), m.webhook_json()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ImageReport;

    fn run_with_failures(n: usize) -> RunReport {
        let images = (0..n)
            .map(|i| {
                let mut r = ImageReport::new(
                    format!("docker.io/library/app{i}:1.0"),
                    format!("registry.example.com/mirrors/app{i}:1.0"),
                );
                r.error = Some(format!(
                    "manifest `docker.io/library/app{i}:1.0` not found\nhint: check the tag"
                ));
                r
            })
            .collect();
        RunReport::new(
            std::time::SystemTime::now(),
            Duration::from_secs(2),
            false,
            images,
        )
    }

    #[test]
    fn a_long_failure_list_is_cut_to_the_wecom_limit() {
        let run = run_with_failures(500);
        let m = Message::new(
            &run,
            &Subject {
                task: "nightly",
                link: Some("https://ci.example/run/1"),
            },
        );
        for lang in ["en", "zh"] {
            let t = Templates::load(lang, None).expect("templates");
            let text = m
                .fitted(&t, templates::NOTIFY, WECOM_LIMIT)
                .expect("render");
            assert!(text.len() <= WECOM_LIMIT, "{}", text.len());
            assert!(text.contains("app0:1.0"));
            assert!(!text.contains("app499:1.0"));
            assert!(text.contains("https://ci.example/run/1"));
            assert!(text.contains(if lang == "en" { "more" } else { "另有" }));
        }
    }

    #[test]
    fn cuts_land_on_character_boundaries() {
        let text = "镜像".repeat(3000);
        let out = cut_bytes(&text, 4096, Some("https://x/1"));
        assert!(out.len() <= 4096);
        assert!(out.ends_with("full report: https://x/1)"));
    }

    #[test]
    fn channels_never_print_their_url() {
        let c = Channel {
            kind: Kind::Wecom,
            url: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRET".into(),
            secret: None,
        };
        assert_eq!(format!("{c:?}"), "Channel(Wecom)");
    }
}
