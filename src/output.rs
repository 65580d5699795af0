//! The one path of what goes to stdout: result lines, plans, selections, dry-run comments.
//! Every line is scrubbed of secrets on the way ([`crate::untrusted::scrub`]); logs go to
//! stderr through tracing instead.

use std::io::Write;

/// Write `text` (one or more lines, a newline added) to stdout, scrubbed.
pub(crate) fn line(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", crate::untrusted::scrub(text));
}

/// Write `text` as it is (it carries its own newlines, e.g. GitHub workflow commands), scrubbed.
pub(crate) fn raw(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{}", crate::untrusted::scrub(text));
    let _ = out.flush();
}

/// GitHub's `::add-mask::` commands: the one text written unscrubbed, since it must name the
/// secrets for the runner to hide them (the runner consumes these lines; they are never shown).
pub(crate) fn mask_commands(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{text}");
    let _ = out.flush();
}

/// An error for the user on stderr: `error: …` and, when known, `hint: …`, bounded and inert.
pub(crate) fn error(message: &str, hint: Option<&str>) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "error: {}",
        crate::untrusted::inert_lines(message, 8000)
    );
    if let Some(h) = hint {
        let _ = writeln!(err, "hint: {}", crate::untrusted::inert_lines(h, 2000));
    }
}
