//! GitHub Actions workflow commands and outputs, used when `GITHUB_ACTIONS=true`:
//! `::add-mask::` for every secret (before anything else is printed), a `::group::` per image,
//! `::error::`/`::warning::` annotations, and the step outputs `copied`, `skipped`, `failed` and
//! `report` appended to `GITHUB_OUTPUT`.

use crate::report::{ImageReport, RunReport, Status};
use std::io::Write;
use std::path::Path;

/// True when running as a GitHub Actions step.
pub fn enabled() -> bool {
    crate::env::var(crate::env::GITHUB_ACTIONS).as_deref() == Some("true")
}

/// Escape a workflow-command message (`%`, CR and LF).
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// `::add-mask::` lines for `secrets` (each line of a multi-line secret masked on its own).
pub fn mask_commands<'a>(secrets: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for secret in secrets {
        for part in secret.lines().map(str::trim).filter(|p| !p.is_empty()) {
            out.push_str(&format!("::add-mask::{}\n", escape_data(part)));
        }
    }
    out
}

/// The lines for one finished image: a collapsed group holding its result, and an annotation
/// for a failure or each warning.
pub fn image_commands(img: &ImageReport, result_line: &str) -> String {
    let mut out = format!(
        "::group::{} {} -> {}\n{result_line}\n::endgroup::\n",
        status_word(img.status),
        escape_data(&img.source),
        escape_data(&img.target)
    );
    if img.status == Status::Failed {
        out.push_str(&format!(
            "::error title={}::{}\n",
            escape_property(&format!("registry-mirror: {} failed", img.source)),
            escape_data(img.error.as_deref().unwrap_or("unknown error"))
        ));
    }
    for w in img
        .dropped
        .iter()
        .map(|d| format!("dropped {d}"))
        .chain(img.warnings.iter().cloned())
    {
        out.push_str(&format!(
            "::warning title={}::{}\n",
            escape_property(&format!("registry-mirror: {}", img.source)),
            escape_data(&w)
        ));
    }
    out
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Copied => "copied",
        Status::Skipped => "up to date",
        Status::Failed => "FAILED",
        Status::Planned => "planned",
    }
}

/// Escape a workflow-command property value (also `:` and `,`).
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// The step outputs: `copied`, `skipped`, `failed` counts and `report`, the JSON report's path.
pub fn outputs(run: &RunReport, report_path: &Path) -> String {
    format!(
        "copied={}\nskipped={}\nfailed={}\nreport={}\n",
        run.summary.copied,
        run.summary.skipped,
        run.summary.failed,
        report_path.display()
    )
}

/// Append the step outputs to the `GITHUB_OUTPUT` file, when set.
pub fn write_outputs(run: &RunReport, report_path: &Path) -> std::io::Result<()> {
    let Some(file) = crate::env::var(crate::env::GITHUB_OUTPUT) else {
        return Ok(());
    };
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?
        .write_all(outputs(run, report_path).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(escape_data("50% done\r\nnext"), "50%25 done%0D%0Anext");
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
    }

    #[test]
    fn masks_every_line_of_every_secret() {
        assert_eq!(
            mask_commands(["s3cret", "line1\nline2\n", ""]),
            "::add-mask::s3cret\n::add-mask::line1\n::add-mask::line2\n"
        );
    }

    #[test]
    fn failed_image_gets_a_group_and_an_error_annotation() {
        let mut img = ImageReport::new(
            "docker.io/library/nginx:1.27",
            "r.example.com/ns/nginx:1.27",
        );
        img.status = Status::Failed;
        img.error = Some("manifest `x` not found\nhint: check the tag".into());
        let out = image_commands(&img, "failed   a -> b");
        assert_eq!(
            out,
            "::group::FAILED docker.io/library/nginx:1.27 -> r.example.com/ns/nginx:1.27\n\
             failed   a -> b\n::endgroup::\n\
             ::error title=registry-mirror%3A docker.io/library/nginx%3A1.27 failed::manifest `x` not found%0Ahint: check the tag\n"
        );
    }

    #[test]
    fn outputs_format() {
        let mut ok = ImageReport::new("a:1", "b:1");
        ok.status = Status::Copied;
        let mut bad = ImageReport::new("c:1", "d:1");
        bad.status = Status::Failed;
        let run = RunReport::new(
            std::time::SystemTime::UNIX_EPOCH,
            std::time::Duration::from_millis(5),
            false,
            vec![ok, bad],
        );
        assert_eq!(
            outputs(&run, Path::new("/tmp/r.json")),
            "copied=1\nskipped=0\nfailed=1\nreport=/tmp/r.json\n"
        );
    }
}
