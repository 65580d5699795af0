//! Markdown templates for issue comments (and later chat messages): the files under
//! `templates/<lang>/`, embedded in the binary, each overridable by a file of the same name in
//! `--templates DIR/<lang>/`. Rendered with minijinja.
//!
//! Nothing a user typed reaches a comment raw: templates pass every value through one of the
//! filters below, which escape Markdown, HTML, @-mentions, `#123` references and autolinks, or
//! put the text in a code span or fenced block that GitHub does not interpret.

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

const NAMES: [&str; 6] = [PLAN, REPORT, INVALID, NOT_ALLOWED, NOTIFY, NOTIFY_SLACK];

const EMBEDDED: &[(&str, &str, &str)] = &[
    ("en", PLAN, include_str!("../templates/en/plan.md")),
    ("en", REPORT, include_str!("../templates/en/report.md")),
    ("en", INVALID, include_str!("../templates/en/invalid.md")),
    (
        "en",
        NOT_ALLOWED,
        include_str!("../templates/en/not_allowed.md"),
    ),
    ("en", NOTIFY, include_str!("../templates/en/notify.md")),
    (
        "en",
        NOTIFY_SLACK,
        include_str!("../templates/en/notify_slack.md"),
    ),
    ("zh", PLAN, include_str!("../templates/zh/plan.md")),
    ("zh", REPORT, include_str!("../templates/zh/report.md")),
    ("zh", INVALID, include_str!("../templates/zh/invalid.md")),
    (
        "zh",
        NOT_ALLOWED,
        include_str!("../templates/zh/not_allowed.md"),
    ),
    ("zh", NOTIFY, include_str!("../templates/zh/notify.md")),
    (
        "zh",
        NOTIFY_SLACK,
        include_str!("../templates/zh/notify_slack.md"),
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
        env.add_filter("text", |s: String| text(&s));
        env.add_filter("code", |s: String| code(&s));
        env.add_filter("msg", |s: String| message(&s));
        env.add_filter("fence", |s: String| fence(&s));
        env.add_filter("plain", |s: String| plain(&s));
        env.add_filter("slack", |s: String| slack(&s));
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

/// Drop control characters; newlines and tabs become spaces.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == '\n' || c == '\t' || c == '\r' {
                ' '
            } else {
                c
            }
        })
        .filter(|c| !c.is_control())
        .collect()
}

/// Plain text in Markdown (table cells too: `|` is escaped): no emphasis, links, HTML, mentions,
/// issue references or autolinks.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    // GitHub links URLs, `@user` and `#123` after Markdown is parsed, so escapes alone do not
    // stop it; a word joiner (U+2060, invisible) does.
    let s = one_line(s)
        .replace("://", ":\u{2060}//")
        .replace("www.", "www\u{2060}.");
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '|' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '@' => out.push_str("@\u{2060}"),
            '#' => out.push_str("\\#\u{2060}"),
            c => out.push(c),
        }
    }
    out
}

/// An inline code span that holds any text safely (GitHub interprets nothing inside).
pub fn code(s: &str) -> String {
    let s = one_line(s).replace('|', "\\|");
    if s.trim().is_empty() {
        return "` `".to_string();
    }
    let longest = longest_run(&s, '`');
    let ticks = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{s}{pad}{ticks}")
}

/// One of our messages (`… write `nginx:latest` …`): the back-quoted parts become code spans,
/// the rest plain text. With an odd number of backticks it is all plain text.
pub fn message(s: &str) -> String {
    let parts: Vec<&str> = s.split('`').collect();
    if parts.len() % 2 == 0 {
        return text(s);
    }
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| if i % 2 == 1 { code(p) } else { text(p) })
        .collect()
}

/// Text for chat robots' Markdown (WeCom, DingTalk, Feishu), which knows no escapes: one line,
/// no backticks, no HTML, no mentions.
pub fn plain(s: &str) -> String {
    one_line(s)
        .replace('`', "'")
        .replace('<', "‹")
        .replace('>', "›")
        .replace('@', "@\u{2060}")
}

/// Text for Slack's mrkdwn: `&`, `<` and `>` are the characters Slack asks to escape.
pub fn slack(s: &str) -> String {
    one_line(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('`', "'")
}

/// A fenced code block holding any text (control characters dropped, lines kept).
pub fn fence(s: &str) -> String {
    let clean: String = s
        .replace("\r\n", "\n")
        .chars()
        .filter(|c| *c == '\n' || *c == '\t' || !c.is_control())
        .collect();
    let ticks = "`".repeat(longest_run(&clean, '`').max(2) + 1);
    format!("{ticks}text\n{}\n{ticks}", clean.trim_end())
}

fn longest_run(s: &str, ch: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for c in s.chars() {
        if c == ch {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_cannot_inject() {
        assert_eq!(
            text("@octocat <img src=x> **bold** [a](http://e.x) #12"),
            "@\u{2060}octocat &lt;img src=x&gt; \\*\\*bold\\*\\* \\[a\\]\\(http:\u{2060}//e.x\\) \\#\u{2060}12"
        );
        assert_eq!(text("a\nb\u{1b}[31m"), "a b\\[31m");
        assert_eq!(text("x | y"), "x \\| y");
    }

    #[test]
    fn code_spans_hold_backticks_and_pipes() {
        assert_eq!(code("nginx:1.27"), "`nginx:1.27`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x`"), "`` `x` ``");
        assert_eq!(code("a|b\nc"), "`a\\|b c`");
        assert_eq!(code(""), "` `");
    }

    #[test]
    fn messages_keep_their_code_parts() {
        assert_eq!(
            message("has no tag; write `nginx:latest` @here"),
            "has no tag; write `nginx:latest` @\u{2060}here"
        );
        assert_eq!(message("odd ` tick"), "odd \\` tick");
    }

    #[test]
    fn fences_outlast_the_content() {
        assert_eq!(fence("plain"), "```text\nplain\n```");
        assert_eq!(fence("a ```` b\n"), "`````text\na ```` b\n`````");
    }

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
