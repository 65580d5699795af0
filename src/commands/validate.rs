//! `validate`: parse and check a list (or an issue body) offline; print the normalized plan.

use crate::app::{list_jobs, read_list, UsageError};
use crate::cli::ValidateCmd;
use crate::list_jobs::PLACEHOLDER_REGISTRY;
use crate::reference::Reference;
use std::io::Write;

/// Check the list (or the issue body) offline and print where each image would go.
pub fn validate(cmd: ValidateCmd) -> Result<u8, UsageError> {
    let (text, platforms) = match &cmd.issue_body {
        Some(path) => {
            let body = read_issue_body(path)?;
            let form = crate::issue_form::parse(&body);
            let platforms = if form.all_platforms || cmd.all_platforms {
                vec!["all".to_string()]
            } else {
                form.platforms
                    .clone()
                    .unwrap_or_else(|| cmd.platform.clone())
                    .split(',')
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty())
                    .collect()
            };
            if form.images.trim().is_empty() {
                return Err(UsageError::new("the issue lists no images")
                    .hint("write one image a line under `### Images`, e.g. `nginx:1.27`"));
            }
            (form.images, platforms)
        }
        None => {
            let platforms = if cmd.all_platforms {
                vec!["all".to_string()]
            } else {
                cmd.platform
                    .split(',')
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty())
                    .collect()
            };
            (read_list(&cmd.list)?, platforms)
        }
    };
    if platforms != ["all"] {
        crate::registry::platform::parse_list(&platforms.join(","))
            .map_err(|e| UsageError::new(format!("platforms: {e}")).hint("write platforms as `os/arch[/variant]`, comma-separated, e.g. `linux/amd64,linux/arm64`"))?;
    }
    // `--target-registry oci:PATH`: shown as the names the images get in that layout.
    let layout = match cmd
        .target
        .target_registry
        .as_deref()
        .and_then(crate::layout::LayoutRef::parse)
    {
        Some(l) => Some(l.map_err(|e| UsageError::new(format!("--target-registry: {e}")))?),
        None => None,
    };
    let mut target = cmd.target.clone();
    if layout.is_some() {
        target.target_registry = Some(crate::commands::mirror::LAYOUT_REGISTRY.to_string());
    }
    let jobs = list_jobs(&text, cmd.list.max_images, &target, false)?;
    let shown = |r: &Reference| {
        if let Some(l) = &layout {
            return format!(
                "oci:{}:{}:{}",
                l.path.display(),
                r.repository(),
                r.tag().unwrap_or("latest")
            );
        }
        r.to_string()
            .replace(PLACEHOLDER_REGISTRY, "$TARGET_REGISTRY")
    };
    let mut out = std::io::stdout().lock();
    if cmd.json {
        let images: Vec<serde_json::Value> = jobs
            .iter()
            .map(|j| serde_json::json!({"line": j.line, "source": j.job.source.to_string(), "target": shown(&j.job.target), "platforms": platforms}))
            .collect();
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"images": images}))
                .unwrap_or_default()
        );
    } else {
        for j in &jobs {
            let _ = writeln!(
                out,
                "line {:>3}: {} -> {} [{}]",
                j.line,
                j.job.source,
                shown(&j.job.target),
                platforms.join(", ")
            );
        }
        let _ = writeln!(
            out,
            "{} image{} valid",
            jobs.len(),
            if jobs.len() == 1 { "" } else { "s" }
        );
    }
    Ok(0)
}

/// The issue body of `--issue-body FILE` (`-`: stdin), at most [`crate::bounded::ISSUE_BODY`]'s
/// cap. Its images are counted by the list parser, after the form is read.
fn read_issue_body(path: &std::path::Path) -> Result<String, UsageError> {
    let input = &crate::bounded::ISSUE_BODY;
    if path == std::path::Path::new("-") {
        crate::app::read_stream(path, input.what, input.limit, &input.hint(), None)
    } else {
        Ok(crate::bounded::read_to_string(path, input)?)
    }
}
