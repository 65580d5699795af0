//! The Markdown report (job summaries): a table per run, failures with their errors.
//! User-supplied text is escaped so it cannot break the table or inject markup.

use crate::report::{human_bytes, RunReport, Status};

/// Escape text for a Markdown table cell.
pub fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '`' => out.push('\''),
            '\n' | '\r' => out.push(' '),
            '@' => out.push_str("@\u{200b}"),
            c => out.push(c),
        }
    }
    out
}

fn short(d: &Option<String>) -> String {
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

/// Render the run as Markdown.
pub fn render(report: &RunReport, title: &str) -> String {
    let s = &report.summary;
    let mut out = format!("## {}\n\n", cell(title));
    if report.dry_run {
        out.push_str("_Dry run: nothing was written._\n\n");
    }
    out.push_str(&format!(
        "**{}** images: {} copied, {} up to date, {} failed · {} moved · {} blobs copied, {} mounted, {} skipped · {:.1}s\n\n",
        s.total,
        s.copied,
        s.skipped,
        s.failed,
        human_bytes(s.bytes),
        s.blobs_copied,
        s.blobs_mounted,
        s.blobs_skipped,
        report.duration_ms as f64 / 1000.0
    ));
    out.push_str("| status | source | target | digest | platforms | size | time | speed |\n|---|---|---|---|---|---|---|---|\n");
    for i in &report.images {
        let status = match (i.status, i.action.as_deref()) {
            (Status::Copied, _) => "✅ copied".to_string(),
            (Status::Skipped, _) => "⏭️ up to date".to_string(),
            (Status::Failed, _) => "❌ failed".to_string(),
            (Status::Planned, Some(a)) => format!("📝 {a}"),
            (Status::Planned, None) => "📝 planned".to_string(),
        };
        out.push_str(&format!(
            "| {} | `{}` | `{}` | `{}` | {} | {} | {:.1}s | {} |\n",
            status,
            cell(&i.source),
            cell(&i.target),
            short(&i.digest),
            cell(&i.platforms.join(", ")),
            human_bytes(i.bytes),
            i.duration_ms as f64 / 1000.0,
            speed(i.bytes, i.duration_ms)
        ));
    }
    let failed: Vec<_> = report
        .images
        .iter()
        .filter(|i| i.status == Status::Failed)
        .collect();
    if !failed.is_empty() {
        out.push_str("\n### Failures\n\n");
        for i in failed {
            out.push_str(&format!(
                "- `{}`: {}\n",
                cell(&i.source),
                cell(i.error.as_deref().unwrap_or("unknown error"))
            ));
        }
    }
    for r in &report.sync {
        out.push_str(&format!(
            "\n### Tags of `{}`: {} listed, {} kept, {} dropped\n\n",
            cell(&r.source),
            r.tags,
            r.kept.len(),
            r.dropped.len()
        ));
        if !r.dropped.is_empty() {
            out.push_str(
                "<details><summary>dropped tags</summary>\n\n| tag | reason |\n|---|---|\n",
            );
            for d in &r.dropped {
                out.push_str(&format!("| {} | {} |\n", cell(&d.tag), cell(&d.reason)));
            }
            out.push_str("\n</details>\n");
        }
    }
    out
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
        let md = render(&r, "copy");
        assert!(md.contains("| ✅ copied | `docker.io/library/nginx:1.27` | `r/ns/nginx:1.27` | `sha256:aaaaaaaaaaaa` | linux/amd64 | 2.0 KiB | 0.0s | - |"), "{md}");
        assert_eq!(speed(10 << 20, 2000), "5.0 MiB/s");
        assert_eq!(speed(0, 2000), "-");
        assert!(md.contains("`x\\|y`"));
        assert!(md.contains("boom &lt;b&gt;@\u{200b}team&lt;/b&gt;"));
        assert!(md.contains("**2** images: 1 copied, 0 up to date, 1 failed"));
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
        let md = render(&r, "sync");
        assert!(
            md.contains("### Tags of `docker.io/library/nginx`: 3 listed, 1 kept, 2 dropped"),
            "{md}"
        );
        // The `|` of a pattern cannot split the table row.
        assert!(
            md.contains("| 1.27.2-alpine | matches --exclude 'alpine\\|slim' |"),
            "{md}"
        );
        assert!(
            md.contains("| latest | matches no --include pattern |"),
            "{md}"
        );
        assert!(md.contains("_Dry run: nothing was written._"), "{md}");
    }
}
