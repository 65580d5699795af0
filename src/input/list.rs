//! The one list parser for every input kind (arguments, files, stdin, issue bodies, dispatch
//! inputs): one image a line, `SOURCE [TARGET]`. Every invalid line is reported at once, with its
//! number, its text, the reason and a hint; nothing is copied while any line is invalid.

use crate::reference::Reference;
use std::collections::HashMap;
use std::fmt;

/// One valid line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line number in the input.
    pub line: usize,
    pub source: Reference,
    /// The line's own target, when it named one.
    pub target: Option<TargetSpec>,
}

/// A target written on a line after its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    /// A full reference (it has a registry).
    Full(Reference),
    /// `path[:tag]` inside the target namespace.
    InNamespace { path: String, tag: Option<String> },
}

/// A parsed list: its entries and what was dropped along the way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedList {
    pub entries: Vec<Entry>,
    pub warnings: Vec<String>,
}

/// One invalid line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    /// The line as written, shortened and with control characters escaped.
    pub text: String,
    pub reason: String,
    pub hint: Option<String>,
}

/// Every invalid line of a list (or a list-wide problem such as its length).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ListErrors {
    pub errors: Vec<LineError>,
    /// Errors beyond the listed ones.
    pub more: usize,
}

/// Lines with errors listed at most; the rest are counted.
const MAX_LISTED: usize = 50;
/// Characters of a line echoed back in an error.
const MAX_ECHO: usize = 80;

impl fmt::Display for ListErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len() + self.more;
        writeln!(
            f,
            "{n} invalid line{}; nothing was copied:",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.errors {
            if e.line == 0 {
                writeln!(f, "  {}", e.reason)?;
            } else {
                writeln!(f, "  line {}: `{}`: {}", e.line, e.text, e.reason)?;
            }
            if let Some(h) = &e.hint {
                writeln!(f, "    hint: {h}")?;
            }
        }
        if self.more > 0 {
            writeln!(f, "  … and {} more", self.more)?;
        }
        Ok(())
    }
}

/// Parse a list. `max_images` bounds the number of entries after duplicates are dropped.
pub fn parse(text: &str, max_images: usize) -> Result<ParsedList, ListErrors> {
    let mut out = ParsedList::default();
    let mut errors: Vec<LineError> = Vec::new();
    let mut seen: HashMap<(String, Option<String>), usize> = HashMap::new();
    let mut in_comment = false;
    let mut dropped = 0usize;
    for (i, raw) in text.split('\n').enumerate() {
        let line_no = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        // HTML comments (the issue form's own hints) may span lines.
        let mut line = line.to_string();
        if in_comment {
            match line.find("-->") {
                Some(end) => {
                    line = line[end + 3..].to_string();
                    in_comment = false;
                }
                None => continue,
            }
        }
        while let Some(start) = line.find("<!--") {
            match line[start..].find("-->") {
                Some(end) => line.replace_range(start..start + end + 3, ""),
                None => {
                    line.truncate(start);
                    in_comment = true;
                }
            }
        }
        let Some(content) = clean(&line) else {
            continue;
        };
        match parse_line(content) {
            Ok((source, target)) => {
                let key = (source.to_string(), target.as_ref().map(describe_target));
                if let Some(first) = seen.get(&key) {
                    dropped += 1;
                    if out.warnings.len() >= MAX_LISTED {
                        continue;
                    }
                    out.warnings.push(format!(
                        "line {line_no}: `{}` repeats line {first}; copied once",
                        echo(content)
                    ));
                    continue;
                }
                seen.insert(key, line_no);
                out.entries.push(Entry {
                    line: line_no,
                    source,
                    target,
                });
            }
            Err((reason, hint)) => errors.push(LineError {
                line: line_no,
                text: echo(content),
                reason,
                hint,
            }),
        }
    }
    if dropped > out.warnings.len() {
        out.warnings.push(format!(
            "… and {} more repeated lines dropped",
            dropped - out.warnings.len()
        ));
    }
    if errors.is_empty() && out.entries.len() > max_images {
        errors.push(LineError {
            line: 0,
            text: String::new(),
            reason: format!(
                "the list has {} images, more than the limit of {max_images}",
                out.entries.len()
            ),
            hint: Some(format!(
                "split the list, or raise the limit with `--max-images {}`",
                out.entries.len()
            )),
        });
    }
    if errors.is_empty() {
        return Ok(out);
    }
    let more = errors.len().saturating_sub(MAX_LISTED);
    errors.truncate(MAX_LISTED);
    Err(ListErrors { errors, more })
}

fn describe_target(t: &TargetSpec) -> String {
    match t {
        TargetSpec::Full(r) => r.to_string(),
        TargetSpec::InNamespace { path, tag } => match tag {
            Some(t) => format!("{path}:{t}"),
            None => path.clone(),
        },
    }
}

/// The meaningful part of a line, or `None` for lines that carry no image: blank, `#`
/// comments, code fences, Markdown table rules, HTML tags, `_No response_`.
fn clean(line: &str) -> Option<&str> {
    let mut s = line.trim();
    if s.is_empty() || s.starts_with('#') || s.starts_with("```") || s.starts_with("~~~") {
        return None;
    }
    // A lone HTML tag (`<details>`, `</summary>`) is layout; `<b>x</b>` is not skipped.
    let lone_tag = s.starts_with('<') && s.ends_with('>') && !s[1..].contains('<');
    if s == "_No response_" || lone_tag {
        return None;
    }
    // A trailing ` # comment`.
    if let Some(i) = s.find(" #") {
        s = s[..i].trim_end();
    }
    // List bullets: `-`, `*`, `+`, `1.`, `1)`, and task boxes `[ ]`/`[x]`.
    for b in ["- ", "* ", "+ "] {
        if let Some(rest) = s.strip_prefix(b) {
            s = rest.trim_start();
            break;
        }
    }
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 {
        let rest = &s[digits..];
        if let Some(r) = rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") ")) {
            s = r.trim_start();
        }
    }
    for b in ["[ ] ", "[x] ", "[X] "] {
        if let Some(rest) = s.strip_prefix(b) {
            s = rest.trim_start();
        }
    }
    let s = s.trim_matches('`').trim();
    if s.is_empty() {
        return None;
    }
    Some(s)
}

type LineFailure = (String, Option<String>);

fn parse_line(s: &str) -> Result<(Reference, Option<TargetSpec>), LineFailure> {
    if let Some(c) = s.chars().find(|c| c.is_control() && *c != '\t') {
        return Err((
            format!("contains the control character U+{:04X}", c as u32),
            Some("remove it; a line holds `SOURCE` or `SOURCE TARGET`".into()),
        ));
    }
    if s.starts_with('|') {
        return Err((
            "a Markdown table row is not an image".into(),
            Some("write one image a line, e.g. `nginx:1.27`".into()),
        ));
    }
    if let Some(fixed) = ascii_fixed(s) {
        return Err((
            "contains full-width characters".into(),
            Some(format!("write it in ASCII: `{}`", echo(&fixed))),
        ));
    }
    for prefix in ["docker pull ", "docker.io pull "] {
        if let Some(rest) = s.strip_prefix(prefix) {
            return Err((
                "is a command, not an image".into(),
                Some(format!("write just the image: `{}`", echo(rest.trim()))),
            ));
        }
    }
    if let Some(r) = hub_url(s) {
        return Err((
            "is a Docker Hub web page, not an image reference".into(),
            Some(format!("write the image with a tag, e.g. `{r}:latest`")),
        ));
    }
    if s.starts_with("oci:") {
        return Err((
            "is an OCI layout; lists take registry images".into(),
            Some(format!(
                "copy from a layout with `registry-mirror copy {} DESTINATION`",
                echo(s.split_whitespace().next().unwrap_or(s))
            )),
        ));
    }
    for scheme in ["https://", "http://", "docker://"] {
        if let Some(rest) = s.strip_prefix(scheme) {
            return Err((
                format!("starts with `{scheme}`"),
                Some(format!("write the reference without it: `{}`", echo(rest))),
            ));
        }
    }
    let mut words = s.split_whitespace();
    let first = words.next().unwrap_or_default();
    let second = words.next();
    if words.next().is_some() {
        return Err((
            "has more than two words".into(),
            Some("a line holds `SOURCE` or `SOURCE TARGET`".into()),
        ));
    }
    let source = source_reference(first)?;
    let target = second.map(target_spec).transpose()?;
    Ok((source, target))
}

fn source_reference(text: &str) -> Result<Reference, LineFailure> {
    let r = Reference::parse(text).map_err(|e| {
        let hint = if text.chars().any(|c| c.is_ascii_uppercase()) {
            Some(format!(
                "repository names are lowercase: `{}`",
                lowercase_path(text)
            ))
        } else {
            None
        };
        (e.to_string(), hint)
    })?;
    if r.tag().is_none() {
        let hint = match r.digest() {
            Some(d) => format!(
                "name the tag too, e.g. `{}:TAG@{d}` (the digest is then checked)",
                text.split('@').next().unwrap_or(text)
            ),
            // `docker.io/nginx` works, but the name users will see everywhere is
            // `docker.io/library/nginx`: suggest that one.
            None if text.starts_with("docker.io/") || text.starts_with("index.docker.io/") => {
                format!(
                    "write `docker.io/{}:latest` to copy the latest tag",
                    r.repository()
                )
            }
            None => format!("write `{text}:latest` to copy the latest tag"),
        };
        return Err(("has no tag".into(), Some(hint)));
    }
    Ok(r)
}

fn target_spec(text: &str) -> Result<TargetSpec, LineFailure> {
    let first = text.split('/').next().unwrap_or_default();
    let has_domain =
        text.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    if has_domain {
        return Reference::parse(text)
            .map(TargetSpec::Full)
            .map_err(|e| (format!("target {e}"), None));
    }
    // `path[:tag]` inside the namespace: checked by parsing it under a placeholder registry.
    let probe = format!("registry.invalid/{text}");
    let r = Reference::parse(&probe).map_err(|e| {
        (
            format!("target `{text}` is not a valid `path[:tag]`: {e}"),
            Some("a target is `path[:tag]` inside the namespace or a full reference".into()),
        )
    })?;
    if r.digest().is_some() {
        return Err((
            format!("target `{text}` has a digest"),
            Some("a target is written by tag: drop the `@sha256:…`".into()),
        ));
    }
    Ok(TargetSpec::InNamespace {
        path: r.repository().to_string(),
        tag: r.tag().map(str::to_string),
    })
}

/// The line with full-width forms (`：`, `／`, `＠`, U+3000 space, full-width letters and
/// digits) made ASCII; `None` when it had none.
fn ascii_fixed(s: &str) -> Option<String> {
    let mut changed = false;
    let fixed: String = s
        .chars()
        .map(|c| match c {
            '\u{3000}' => {
                changed = true;
                ' '
            }
            '\u{FF01}'..='\u{FF5E}' => {
                changed = true;
                char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)
            }
            c => c,
        })
        .collect();
    changed.then_some(fixed)
}

/// `https://hub.docker.com/_/nginx` -> `nginx`; `…/r/bitnami/redis[/tags…]` -> `bitnami/redis`.
fn hub_url(s: &str) -> Option<String> {
    let rest = s
        .strip_prefix("https://hub.docker.com/")
        .or_else(|| s.strip_prefix("http://hub.docker.com/"))
        .or_else(|| s.strip_prefix("hub.docker.com/"))?;
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        ["_", name, ..] => Some((*name).to_string()),
        ["r", ns, name, ..] => Some(format!("{ns}/{name}")),
        _ => Some("NAME".into()),
    }
}

/// The reference with its path (not its registry or tag) lowercased.
fn lowercase_path(text: &str) -> String {
    let (name, suffix) = match text.rfind([':', '@']) {
        Some(i) if !text[i..].contains('/') => (&text[..i], &text[i..]),
        _ => (text, ""),
    };
    let mut parts: Vec<String> = name.split('/').map(str::to_string).collect();
    let domain_first = parts.len() > 1
        && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost");
    for (i, p) in parts.iter_mut().enumerate() {
        if !(i == 0 && domain_first) {
            *p = p.to_lowercase();
        }
    }
    format!("{}{suffix}", parts.join("/"))
}

/// A line as shown in an error: control characters escaped, at most [`MAX_ECHO`] characters.
fn echo(s: &str) -> String {
    let mut out = String::new();
    for (n, c) in s.chars().enumerate() {
        if n >= MAX_ECHO {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.push_str(&c.escape_default().to_string());
        } else if c == '`' {
            out.push('\'');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(text: &str) -> Vec<String> {
        parse(text, 100)
            .expect("valid")
            .entries
            .iter()
            .map(|e| e.source.to_string())
            .collect()
    }

    fn only_error(text: &str) -> LineError {
        let e = parse(text, 100).expect_err("invalid");
        assert_eq!(e.errors.len(), 1, "{e}");
        e.errors[0].clone()
    }

    #[test]
    fn accepted_forms() {
        let table: &[(&str, &[&str])] = &[
            ("nginx:1.27", &["docker.io/library/nginx:1.27"]),
            ("  nginx:1.27  \r\n", &["docker.io/library/nginx:1.27"]),
            (
                "- nginx:1.27\n* alpine:3.20\n+ busybox:1",
                &[
                    "docker.io/library/nginx:1.27",
                    "docker.io/library/alpine:3.20",
                    "docker.io/library/busybox:1",
                ],
            ),
            (
                "1. nginx:1.27\n2) alpine:3.20",
                &[
                    "docker.io/library/nginx:1.27",
                    "docker.io/library/alpine:3.20",
                ],
            ),
            ("`nginx:1.27`", &["docker.io/library/nginx:1.27"]),
            (
                "```text\nnginx:1.27\n```",
                &["docker.io/library/nginx:1.27"],
            ),
            ("~~~\nnginx:1.27\n~~~", &["docker.io/library/nginx:1.27"]),
            (
                "# mirrors\n\nnginx:1.27 # the web server",
                &["docker.io/library/nginx:1.27"],
            ),
            ("docker.io/nginx:1.27", &["docker.io/library/nginx:1.27"]),
            (
                "<!-- one\nper line -->\nnginx:1.27 <!-- x -->",
                &["docker.io/library/nginx:1.27"],
            ),
            (
                "<details>\nnginx:1.27\n</details>",
                &["docker.io/library/nginx:1.27"],
            ),
            ("_No response_", &[]),
            ("- [x] nginx:1.27", &["docker.io/library/nginx:1.27"]),
        ];
        for (input, expected) in table {
            assert_eq!(sources(input), *expected, "{input:?}");
        }
    }

    #[test]
    fn per_line_targets() {
        let l = parse(
            "nginx:1.27 web/nginx:stable\nalpine:3.20 r.example.com/x/alpine:3\nbusybox:1 tools/busybox",
            100,
        )
        .expect("valid");
        assert_eq!(
            l.entries[0].target,
            Some(TargetSpec::InNamespace {
                path: "web/nginx".into(),
                tag: Some("stable".into())
            })
        );
        assert_eq!(
            l.entries[1].target,
            Some(TargetSpec::Full(
                Reference::parse("r.example.com/x/alpine:3").expect("ref")
            ))
        );
        assert_eq!(
            l.entries[2].target,
            Some(TargetSpec::InNamespace {
                path: "tools/busybox".into(),
                tag: None
            })
        );
    }

    #[test]
    fn duplicates_are_dropped_with_a_warning() {
        let l = parse("nginx:1.27\ndocker.io/library/nginx:1.27\n", 100).expect("valid");
        assert_eq!(l.entries.len(), 1);
        assert_eq!(
            l.warnings,
            ["line 2: `docker.io/library/nginx:1.27` repeats line 1; copied once"]
        );
    }

    #[test]
    fn errors_and_hints() {
        let table: &[(&str, &str, &str)] = &[
            ("nginx", "has no tag", "write `nginx:latest` to copy the latest tag"),
            ("docker.io/nginx", "has no tag", "write `docker.io/library/nginx:latest` to copy the latest tag"),
            ("index.docker.io/bitnami/redis", "has no tag", "write `docker.io/bitnami/redis:latest` to copy the latest tag"),
            ("https://hub.docker.com/_/nginx", "is a Docker Hub web page, not an image reference", "write the image with a tag, e.g. `nginx:latest`"),
            ("https://hub.docker.com/r/bitnami/redis/tags?name=7", "is a Docker Hub web page, not an image reference", "write the image with a tag, e.g. `bitnami/redis:latest`"),
            ("docker://quay.io/a/b:1", "starts with `docker://`", "write the reference without it: `quay.io/a/b:1`"),
            ("oci:./images:nginx-1.27", "is an OCI layout; lists take registry images", "copy from a layout with `registry-mirror copy oci:./images:nginx-1.27 DESTINATION`"),
            ("nginx：1.27", "contains full-width characters", "write it in ASCII: `nginx:1.27`"),
            ("docker pull nginx:1.27", "is a command, not an image", "write just the image: `nginx:1.27`"),
            ("| nginx:1.27 | x |", "a Markdown table row is not an image", "write one image a line, e.g. `nginx:1.27`"),
            ("a:1 b:2 c:3", "has more than two words", "a line holds `SOURCE` or `SOURCE TARGET`"),
            ("nginx@sha256:0123456789012345678901234567890123456789012345678901234567890123", "has no tag", "name the tag too, e.g. `nginx:TAG@sha256:0123456789012345678901234567890123456789012345678901234567890123` (the digest is then checked)"),
        ];
        for (input, reason, hint) in table {
            let e = only_error(input);
            assert_eq!(e.line, 1, "{input}");
            assert_eq!(e.reason, *reason, "{input}");
            assert_eq!(e.hint.as_deref(), Some(*hint), "{input}");
        }
        let e = only_error("quay.io/Prometheus/Node-Exporter:v1.8.0");
        assert_eq!(
            e.hint.as_deref(),
            Some("repository names are lowercase: `quay.io/prometheus/node-exporter:v1.8.0`")
        );
    }

    #[test]
    fn every_bad_line_at_once_with_the_rendered_message() {
        let e =
            parse("nginx:1.27\nnginx\n\nhttps://hub.docker.com/_/redis\n", 100).expect_err("bad");
        assert_eq!(
            e.to_string(),
            "2 invalid lines; nothing was copied:\n  \
             line 2: `nginx`: has no tag\n    hint: write `nginx:latest` to copy the latest tag\n  \
             line 4: `https://hub.docker.com/_/redis`: is a Docker Hub web page, not an image reference\n    \
             hint: write the image with a tag, e.g. `redis:latest`\n"
        );
    }

    #[test]
    fn the_limit_is_a_clear_error() {
        let text: String = (0..101).map(|i| format!("app{i}:1\n")).collect();
        let e = parse(&text, 100).expect_err("too many");
        assert_eq!(
            e.to_string(),
            "1 invalid line; nothing was copied:\n  the list has 101 images, more than the limit of 100\n    \
             hint: split the list, or raise the limit with `--max-images 101`\n"
        );
        assert_eq!(parse(&text, 101).expect("raised").entries.len(), 101);
    }

    #[test]
    fn hostile_input_is_bounded() {
        // Control characters are escaped, never echoed raw.
        let e = only_error("nginx:1.27\u{1b}[31m");
        assert_eq!(e.reason, "contains the control character U+001B");
        assert!(!e.text.contains('\u{1b}'));
        // A 100 KiB line is echoed shortened.
        let long = format!("{}:1", "a".repeat(100 * 1024));
        let e = only_error(&long);
        assert!(e.text.chars().count() <= MAX_ECHO + 1);
        // 10 000 bad lines: 50 listed, the rest counted; the message stays small.
        let many = "nginx\n".repeat(10_000);
        let e = parse(&many, 100).expect_err("bad");
        assert_eq!(e.errors.len(), MAX_LISTED);
        assert_eq!(e.more, 10_000 - MAX_LISTED);
        assert!(e.to_string().len() < 16 * 1024);
        // A 1 MiB body of valid duplicates collapses to one entry.
        let body = "nginx:1.27\n".repeat(1024 * 1024 / 11);
        let l = parse(&body, 100).expect("valid");
        assert_eq!(l.entries.len(), 1);
        assert_eq!(l.warnings.len(), MAX_LISTED + 1);
    }
}
