//! The Markdown report (job summaries): the template `templates/<lang>/summary.md`, rendered
//! with the same escaping filters as the issue comments ([`crate::render::escape`]), so nothing from a
//! registry or a list becomes markup.

use crate::render::templates::{Templates, SUMMARY};
use crate::report::{human_bytes, RunReport, Status};

pub(crate) fn short(d: &Option<String>) -> String {
    d.as_deref()
        .map(|d| {
            d.strip_prefix("sha256:")
                .map(|h| format!("sha256:{}", &h[..h.len().min(12)]))
                .unwrap_or_else(|| d.to_string())
        })
        .unwrap_or_else(|| "-".into())
}

/// `12.3 MiB/s`, or `-` when nothing moved or no time passed.
pub fn speed(bytes: u64, ms: u64) -> String {
    if bytes == 0 || ms == 0 {
        return "-".into();
    }
    format!("{}/s", human_bytes(bytes * 1000 / ms))
}

fn seconds(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

/// What the summary template sees.
fn context(report: &RunReport, title: &str) -> serde_json::Value {
    let s = &report.summary;
    let images: Vec<serde_json::Value> = report
        .images
        .iter()
        .map(|i| {
            let (icon, status, status_zh) = match (i.status, i.action.as_deref()) {
                (Status::Copied, _) => ("✅", "copied".to_string(), "已复制".to_string()),
                (Status::Skipped, _) => ("⏭️", "up to date".into(), "已是最新".into()),
                (Status::Failed, _) => ("❌", "failed".into(), "失败".into()),
                (Status::Planned, Some(a)) => ("📝", a.to_string(), a.to_string()),
                (Status::Planned, None) => ("📝", "planned".into(), "计划中".into()),
            };
            serde_json::json!({
                "icon": icon, "status": status, "status_zh": status_zh,
                "source": i.source, "target": i.target, "digest": short(&i.digest),
                "platforms": i.platforms.join(", "), "size": human_bytes(i.bytes),
                "duration": seconds(i.duration_ms), "speed": speed(i.bytes, i.duration_ms),
            })
        })
        .collect();
    let failures: Vec<serde_json::Value> = report
        .images
        .iter()
        .filter(|i| i.status == Status::Failed)
        .map(|i| serde_json::json!({"source": i.source, "error": i.error.as_deref().unwrap_or("unknown error")}))
        .collect();
    let sync: Vec<serde_json::Value> = report
        .sync
        .iter()
        .map(|r| {
            serde_json::json!({
                "source": r.source, "tags": r.tags, "kept": r.kept.len(),
                "dropped": r.dropped.iter().map(|d| serde_json::json!({"tag": d.tag, "reason": d.reason})).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({
        "title": title,
        "dry_run": report.dry_run,
        "summary": {
            "total": s.total, "copied": s.copied, "skipped": s.skipped, "failed": s.failed,
            "bytes": human_bytes(s.bytes), "blobs_copied": s.blobs_copied,
            "blobs_mounted": s.blobs_mounted, "blobs_skipped": s.blobs_skipped,
            "duration": seconds(report.duration_ms),
        },
        "images": images,
        "failures": failures,
        "referrers": crate::report::referrer_rows(&report.images, 1000),
        "adapted": crate::report::adapted_rows(&report.images, 1000),
        "sync": sync,
    })
}

/// Render the run with `templates`' summary.
pub fn render_with(
    templates: &Templates,
    report: &RunReport,
    title: &str,
) -> Result<String, crate::render::templates::TemplateError> {
    templates.render(SUMMARY, &context(report, title))
}

/// Render the run as Markdown in `lang` (`en` when there are no templates for it).
pub fn render(report: &RunReport, title: &str, lang: &str) -> String {
    let templates = Templates::load(lang, None).or_else(|_| Templates::load("en", None));
    match templates.and_then(|t| render_with(&t, report, title)) {
        Ok(md) => md,
        // The embedded templates are tested; this is only reachable through a bug.
        Err(e) => format!(
            "## {}\n\n(the summary could not be rendered: {})\n",
            crate::render::escape::text(title),
            crate::render::escape::text(&e.to_string())
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ImageReport;
    use std::time::{Duration, SystemTime};

    #[test]
    fn renders_rows_and_escapes() {
        let mut ok = ImageReport::new("docker.io/library/nginx:1.27", "r/ns/nginx:1.27");
        ok.status = Status::Copied;
        ok.digest = Some(format!("sha256:{}", "a".repeat(64)));
        ok.platforms = vec!["linux/amd64".into()];
        ok.bytes = 2048;
        let mut bad = ImageReport::new("x|y", "t");
        bad.error = Some("boom <b>@team</b>".into());
        let r = RunReport::new(
            SystemTime::UNIX_EPOCH,
            Duration::from_secs(2),
            false,
            vec![ok, bad],
        );
        let md = render(&r, "copy", "en");
        assert!(md.contains("| ✅ copied | `docker.io/library/nginx:1.27` | `r/ns/nginx:1.27` | `sha256:aaaaaaaaaaaa` | linux/amd64 | 2.0 KiB | 0.0s | - |"), "{md}");
        assert_eq!(speed(10 << 20, 2000), "5.0 MiB/s");
        assert_eq!(speed(0, 2000), "-");
        assert!(md.contains("`x\\|y`"));
        assert!(md.contains("boom &lt;b&gt;@\u{2060}team&lt;/b&gt;"), "{md}");
        assert!(md.contains("**2** images: 1 copied, 0 up to date, 1 failed"));
        assert!(
            !md.contains("Signatures, SBOMs"),
            "no section without referrers"
        );
    }

    #[test]
    fn lists_referrers_with_their_reasons_escaped() {
        use crate::report::{ReferrerKind, ReferrerReport, ReferrerStatus};
        let mut img = ImageReport::new("ghcr.io/o/app:1", "r/ns/app:1");
        img.status = Status::Copied;
        img.referrers = vec![
            ReferrerReport {
                kind: ReferrerKind::Signature,
                digest: format!("sha256:{}", "b".repeat(64)),
                status: ReferrerStatus::Copied,
                reason: None,
            },
            ReferrerReport {
                kind: ReferrerKind::Sbom,
                digest: format!("sha256:{}", "c".repeat(64)),
                status: ReferrerStatus::Dropped,
                reason: Some("converted <i>@all</i>; hint: --format preserve".into()),
            },
        ];
        for lang in ["en", "zh"] {
            let r = RunReport::new(
                SystemTime::UNIX_EPOCH,
                Duration::ZERO,
                false,
                vec![img.clone()],
            );
            let md = render(&r, "copy", lang);
            assert!(
                md.contains("| `ghcr.io/o/app:1` | signature | `sha256:bbbbbbbbbbbb` | copied |"),
                "{md}"
            );
            assert!(md.contains("| sbom | `sha256:cccccccccccc` | dropped: converted &lt;i&gt;@\u{2060}all&lt;/i&gt;; hint: --format preserve |"), "{md}");
        }
    }

    #[test]
    fn a_sync_lists_its_dropped_tags_with_reasons() {
        let mut r = RunReport::new(SystemTime::UNIX_EPOCH, Duration::from_secs(1), true, vec![]);
        r.sync = vec![crate::report::RepoSelection {
            source: "docker.io/library/nginx".into(),
            target: "r/ns/nginx".into(),
            tags: 3,
            kept: vec!["1.27.2".into()],
            dropped: vec![
                crate::report::DroppedTag {
                    tag: "1.27.2-alpine".into(),
                    reason: "matches --exclude `alpine|slim`".into(),
                },
                crate::report::DroppedTag {
                    tag: "latest".into(),
                    reason: "matches no --include pattern".into(),
                },
            ],
        }];
        let md = render(&r, "sync", "en");
        assert!(
            md.contains("### Tags of `docker.io/library/nginx`: 3 listed, 1 kept, 2 dropped"),
            "{md}"
        );
        // The `|` of a pattern cannot split the table row.
        assert!(
            md.contains("| `1.27.2-alpine` | matches --exclude `alpine\\|slim` |"),
            "{md}"
        );
        assert!(
            md.contains("| `latest` | matches no --include pattern |"),
            "{md}"
        );
        assert!(md.contains("_Dry run: nothing was written._"), "{md}");
    }
}
