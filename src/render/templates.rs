//! Markdown templates for issue comments, job summaries and chat messages: the files under
//! `templates/<lang>/`, embedded in the binary, each overridable by a file of the same name in
//! `--templates DIR/<lang>/`. Rendered with minijinja.
//!
//! Nothing a user typed or a registry said reaches an output raw: templates pass every value
//! through one of the filters of [`crate::render::escape`] (`text`, `code`, `msg`, `fence`, `plain`,
//! `slack`), which escape Markdown, HTML, @-mentions, `#123` references and autolinks, or put
//! the text in a code span or fenced block that GitHub does not interpret.

use crate::render::escape;
use minijinja::Environment;
use serde::Serialize;
use std::path::Path;

/// Template names (file `templates/<lang>/<name>.md`).
pub const PLAN: &str = "plan";
pub const REPORT: &str = "report";
pub const INVALID: &str = "invalid";
pub const NOT_ALLOWED: &str = "not_allowed";
pub const NOTIFY: &str = "notify";
pub const NOTIFY_SLACK: &str = "notify_slack";
pub const SUMMARY: &str = "summary";

const NAMES: [&str; 7] = [
    PLAN,
    REPORT,
    INVALID,
    NOT_ALLOWED,
    NOTIFY,
    NOTIFY_SLACK,
    SUMMARY,
];

const EMBEDDED: &[(&str, &str, &str)] = &[
    ("en", PLAN, include_str!("../../templates/en/plan.md")),
    ("en", REPORT, include_str!("../../templates/en/report.md")),
    ("en", INVALID, include_str!("../../templates/en/invalid.md")),
    (
        "en",
        NOT_ALLOWED,
        include_str!("../../templates/en/not_allowed.md"),
    ),
    ("en", NOTIFY, include_str!("../../templates/en/notify.md")),
    (
        "en",
        NOTIFY_SLACK,
        include_str!("../../templates/en/notify_slack.md"),
    ),
    ("en", SUMMARY, include_str!("../../templates/en/summary.md")),
    ("zh", PLAN, include_str!("../../templates/zh/plan.md")),
    ("zh", REPORT, include_str!("../../templates/zh/report.md")),
    ("zh", INVALID, include_str!("../../templates/zh/invalid.md")),
    (
        "zh",
        NOT_ALLOWED,
        include_str!("../../templates/zh/not_allowed.md"),
    ),
    ("zh", NOTIFY, include_str!("../../templates/zh/notify.md")),
    ("zh", SUMMARY, include_str!("../../templates/zh/summary.md")),
    (
        "zh",
        NOTIFY_SLACK,
        include_str!("../../templates/zh/notify_slack.md"),
    ),
];

/// Languages with embedded templates.
pub const LANGS: [&str; 2] = ["en", "zh"];

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown language `{0}`")]
    Lang(String),
    /// An override that cannot be read, is not a regular file or is too large.
    #[error(transparent)]
    File(#[from] crate::bounded::FileError),
    #[error("template `{name}` ({origin}) is invalid: {message}")]
    Syntax {
        name: String,
        origin: String,
        message: String,
    },
    #[error("cannot render template `{name}`: {message}")]
    Render { name: String, message: String },
}

/// The templates of one language.
pub struct Templates {
    env: Environment<'static>,
    origins: Vec<(String, String)>,
}

impl Templates {
    /// Load `lang`, taking `dir/<lang>/<name>.md` over the embedded file where it exists.
    pub fn load(lang: &str, dir: Option<&Path>) -> Result<Templates, TemplateError> {
        if !LANGS.contains(&lang) {
            return Err(TemplateError::Lang(lang.to_string()));
        }
        let mut env = Environment::new();
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .map_err(|e| TemplateError::Syntax {
                name: "*".into(),
                origin: "syntax".into(),
                message: e.to_string(),
            })?;
        env.set_syntax(syntax);
        env.add_filter("text", |s: String| escape::text(&s));
        env.add_filter("code", |s: String| escape::code(&s));
        env.add_filter("msg", |s: String| escape::message(&s));
        env.add_filter("fence", |s: String| escape::fence(&s));
        env.add_filter("plain", |s: String| escape::plain(&s));
        env.add_filter("slack", |s: String| escape::slack(&s));
        let mut origins = Vec::new();
        for name in NAMES {
            let overriding = dir.map(|d| d.join(lang).join(format!("{name}.md")));
            // An override that exists must be readable; a FIFO or a huge file is refused.
            let read = overriding
                .as_deref()
                .map(|path| crate::bounded::read_to_string(path, &crate::bounded::TEMPLATE))
                .filter(|r| !matches!(r, Err(e) if e.is_not_found()))
                .transpose()?;
            let (source, origin) = match (read, overriding) {
                (Some(text), Some(path)) => (text, path.display().to_string()),
                _ => (
                    EMBEDDED
                        .iter()
                        .find(|(l, n, _)| *l == lang && *n == name)
                        .map(|(_, _, s)| s.to_string())
                        .unwrap_or_default(),
                    format!("embedded templates/{lang}/{name}.md"),
                ),
            };
            env.add_template_owned(name.to_string(), source)
                .map_err(|e| TemplateError::Syntax {
                    name: name.to_string(),
                    origin: origin.clone(),
                    message: e.to_string(),
                })?;
            origins.push((name.to_string(), origin));
        }
        Ok(Templates { env, origins })
    }

    /// Render template `name` with `ctx`.
    pub fn render<S: Serialize>(&self, name: &str, ctx: &S) -> Result<String, TemplateError> {
        let origin = self
            .origins
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, o)| o.as_str())
            .unwrap_or(name);
        self.env
            .get_template(name)
            .and_then(|t| t.render(minijinja::value::Serde(ctx)))
            .map_err(|e| TemplateError::Render {
                name: origin.to_string(),
                message: e.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_template_loads_and_overrides_win() {
        for lang in LANGS {
            Templates::load(lang, None).expect("embedded templates");
        }
        assert!(matches!(
            Templates::load("fr", None),
            Err(TemplateError::Lang(_))
        ));
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("en")).expect("mkdir");
        std::fs::write(
            dir.path().join("en/not_allowed.md"),
            "custom {{ who|text }}",
        )
        .expect("write");
        let t = Templates::load("en", Some(dir.path())).expect("load");
        let out = t
            .render(NOT_ALLOWED, &serde_json::json!({"who": "@x"}))
            .expect("render");
        assert_eq!(out, "custom @\u{2060}x");
        std::fs::write(dir.path().join("en/plan.md"), "{% if %}").expect("write");
        let e = Templates::load("en", Some(dir.path()))
            .err()
            .expect("syntax error");
        assert!(e.to_string().contains("plan.md"), "{e}");
    }

    #[test]
    fn an_override_that_is_not_a_regular_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("en/plan.md")).expect("mkdir");
        let e = Templates::load("en", Some(dir.path()))
            .err()
            .expect("refused");
        assert!(matches!(e, TemplateError::File(_)), "{e:?}");
        assert!(
            e.to_string()
                .ends_with("plan.md`: it is a directory, not a regular file"),
            "{e}"
        );
    }
}
