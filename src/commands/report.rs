//! `report merge FILE...`: one report from the reports of several shards.

use crate::report::{human_bytes, RunReport};
use crate::settings::{Environment, Outputs, ProcessEnv};
use crate::usage::UsageError;

/// `report merge FILE...`: one report from the shards' reports.
pub(crate) fn merge_reports(cmd: crate::cli::MergeCmd) -> Result<u8, UsageError> {
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
    crate::output::line(&format!(
        "{} images: {} copied, {} up to date, {} failed, {} moved ({} reports merged)",
        run.summary.total,
        run.summary.copied,
        run.summary.skipped,
        run.summary.failed,
        human_bytes(run.summary.bytes),
        cmd.files.len()
    ));
    let env = ProcessEnv;
    let outputs = Outputs {
        report_json: cmd.report_json.clone(),
        summary: cmd
            .summary
            .clone()
            .or_else(|| env.var(crate::env::GITHUB_STEP_SUMMARY).map(Into::into)),
        lang: env
            .var(crate::env::REPORT_LANG)
            .map(|l| l.trim().to_string())
            .unwrap_or_else(|| "en".into()),
    };
    crate::pipeline::write_outputs(&run, &outputs, "registry-mirror (merged shards)")?;
    Ok(run.exit_code())
}
