//! `report merge FILE...`: one report from the reports of several shards.

use crate::app::{write_report, UsageError};
use crate::report::{human_bytes, RunReport};

/// `report merge FILE...`: one report from the shards' reports.
pub fn merge_reports(cmd: crate::cli::MergeCmd) -> Result<u8, UsageError> {
    let mut reports = Vec::new();
    for path in &cmd.files {
        let text = crate::bounded::read_to_string(path, &crate::bounded::REPORT)?;
        let r: RunReport = serde_json::from_str(&text).map_err(|e| {
            UsageError::new(format!(
                "`{}` is not a registry-mirror JSON report: {e}",
                path.display()
            ))
            .hint("merge the files written by `--report-json`")
        })?;
        if r.version != 1 {
            return Err(UsageError::new(format!(
                "`{}` is a version {} report; this registry-mirror reads version 1",
                path.display(),
                r.version
            )));
        }
        reports.push(r);
    }
    let run = crate::report::merge(reports);
    println!(
        "{} images: {} copied, {} up to date, {} failed, {} moved ({} reports merged)",
        run.summary.total,
        run.summary.copied,
        run.summary.skipped,
        run.summary.failed,
        human_bytes(run.summary.bytes),
        cmd.files.len()
    );
    write_report(
        &run,
        cmd.report_json.as_deref(),
        cmd.summary.as_deref(),
        "registry-mirror (merged shards)",
        crate::env::var(crate::env::REPORT_LANG)
            .as_deref()
            .map(str::trim)
            .unwrap_or("en"),
    )?;
    Ok(run.exit_code())
}
