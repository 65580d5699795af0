//! Which tags of a repository a sync copies: `--include` patterns (a tag must match one, when
//! any are given), then `--exclude` patterns (a tag matching one is dropped), then
//! `--keep-latest N` under an order (`semver`, `created` or `name`). Every dropped tag keeps
//! the reason it was dropped, for the plan and the report. Pure: `created` dates come in from
//! the caller.
//!
//! `semver` order is lenient the way registries' tags are: an optional `v`, one to three
//! numeric components (`1.27` is `1.27.0`), an optional `-prerelease` and `+build`. Releases
//! rank above their prereleases (`1.27.0` > `1.27.0-rc.1`); tags that are not versions rank
//! below every version, among themselves by name.

use regex::Regex;
use std::cmp::Ordering;
use std::collections::HashMap;

/// The order `--keep-latest` keeps the newest of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    /// Version order, prereleases below releases, non-versions last
    #[default]
    Semver,
    /// The image config's `created` time (one manifest and one config read per tag)
    Created,
    /// Tag name, descending
    Name,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{flag} `{pattern}` is not a valid regular expression: {message}")]
pub struct PatternError {
    pub flag: String,
    pub pattern: String,
    pub message: String,
}

/// The filters of one sync.
#[derive(Debug, Clone, Default)]
pub struct TagFilter {
    pub include: Vec<Regex>,
    pub exclude: Vec<Regex>,
    pub keep_latest: Option<usize>,
    pub sort: Sort,
}

/// What the filters did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selection {
    /// Tags to copy, newest first under the sort order.
    pub kept: Vec<String>,
    /// (tag, reason), in the repository's order.
    pub dropped: Vec<(String, String)>,
}

/// Compile `values` of `flag`; each value may hold several patterns separated by commas
/// (commas inside `{}`, `[]` or `()` belong to the pattern, e.g. `\d{1,3}`).
pub fn patterns(flag: &str, values: &[String]) -> Result<Vec<Regex>, PatternError> {
    let mut out = Vec::new();
    for v in values {
        for p in split_commas(v) {
            let p = p.trim();
            if p.is_empty() {
                continue;
            }
            out.push(Regex::new(p).map_err(|e| {
                PatternError {
                    flag: flag.to_string(),
                    pattern: p.to_string(),
                    message: e
                        .to_string()
                        .lines()
                        .last()
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                }
            })?);
        }
    }
    Ok(out)
}

fn split_commas(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut escaped) = (0i32, 0, false);
    let mut out = Vec::new();
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth <= 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

impl TagFilter {
    /// Include, then exclude; the survivors in repository order.
    pub fn matching(&self, tags: &[String]) -> (Vec<String>, Vec<(String, String)>) {
        let mut kept = Vec::new();
        let mut dropped = Vec::new();
        for t in tags {
            if !self.include.is_empty() && !self.include.iter().any(|r| r.is_match(t)) {
                dropped.push((t.clone(), "matches no --include pattern".to_string()));
            } else if let Some(r) = self.exclude.iter().find(|r| r.is_match(t)) {
                dropped.push((t.clone(), format!("matches --exclude `{}`", r.as_str())));
            } else {
                kept.push(t.clone());
            }
        }
        (kept, dropped)
    }

    /// The whole selection. `created` holds the RFC 3339 `created` of candidates (needed only
    /// for [`Sort::Created`]; a candidate without one ranks last).
    pub fn select(&self, tags: &[String], created: &HashMap<String, String>) -> Selection {
        let (mut kept, mut dropped) = self.matching(tags);
        sort_newest_first(&mut kept, self.sort, created);
        if let Some(n) = self.keep_latest {
            if kept.len() > n {
                let older = kept.split_off(n);
                let order = match self.sort {
                    Sort::Semver => "version",
                    Sort::Created => "creation time",
                    Sort::Name => "name",
                };
                let reason = format!("not among the newest {n} by {order} (--keep-latest {n})");
                dropped.extend(older.into_iter().map(|t| (t, reason.clone())));
            }
        }
        let position: HashMap<&str, usize> = tags
            .iter()
            .enumerate()
            .map(|(i, t)| (t.as_str(), i))
            .collect();
        dropped.sort_by_key(|(t, _)| position.get(t.as_str()).copied().unwrap_or(usize::MAX));
        Selection { kept, dropped }
    }
}

/// Sort `tags` newest first.
pub fn sort_newest_first(tags: &mut [String], sort: Sort, created: &HashMap<String, String>) {
    match sort {
        Sort::Semver => tags.sort_by(|a, b| compare_versions(b, a)),
        Sort::Name => tags.sort_by(|a, b| b.cmp(a)),
        Sort::Created => tags.sort_by(|a, b| {
            // RFC 3339 in UTC compares as text; a missing date ranks last.
            match (created.get(a), created.get(b)) {
                (Some(x), Some(y)) => y.cmp(x).then_with(|| b.cmp(a)),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => b.cmp(a),
            }
        }),
    }
}

/// A tag read as a version.
#[derive(Debug, PartialEq, Eq)]
struct Version<'a> {
    numbers: [u64; 3],
    pre: Option<&'a str>,
}

fn version(tag: &str) -> Option<Version<'_>> {
    let t = tag.strip_prefix('v').unwrap_or(tag);
    let t = t.split_once('+').map_or(t, |(v, _)| v);
    let (core, pre) = match t.split_once('-') {
        Some((c, p)) if !p.is_empty() => (c, Some(p)),
        Some(_) => return None,
        None => (t, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    let mut numbers = [0u64; 3];
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        numbers[i] = p.parse().ok()?;
    }
    Some(Version { numbers, pre })
}

/// Semver precedence of prerelease strings (`rc.2` < `rc.10`, numeric < alphanumeric).
fn compare_pre(a: &str, b: &str) -> Ordering {
    let mut xs = a.split('.');
    let mut ys = b.split('.');
    loop {
        match (xs.next(), ys.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let o = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

/// Ascending version order of two tags (see the module docs).
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    match (version(a), version(b)) {
        (Some(x), Some(y)) => x
            .numbers
            .cmp(&y.numbers)
            .then_with(|| match (x.pre, y.pre) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(p), Some(q)) => compare_pre(p, q),
            })
            // `1.27` and `1.27.0` are equal versions; order them by text for stability.
            .then_with(|| a.cmp(b)),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn filter(include: &[&str], exclude: &[&str], keep: Option<usize>, sort: Sort) -> TagFilter {
        TagFilter {
            include: patterns("--include", &strings(include)).expect("include"),
            exclude: patterns("--exclude", &strings(exclude)).expect("exclude"),
            keep_latest: keep,
            sort,
        }
    }

    #[test]
    fn semver_order() {
        let mut tags = strings(&[
            "1.9.0",
            "latest",
            "1.10.0",
            "1.10.0-rc.2",
            "1.10.0-rc.10",
            "v1.8",
            "1.10",
            "stable",
            "2.0.0-alpha",
            "1.10.0-alpha",
        ]);
        sort_newest_first(&mut tags, Sort::Semver, &HashMap::new());
        assert_eq!(
            tags,
            strings(&[
                "2.0.0-alpha",
                "1.10.0",
                "1.10",
                "1.10.0-rc.10",
                "1.10.0-rc.2",
                "1.10.0-alpha",
                "1.9.0",
                "v1.8",
                "stable",
                "latest",
            ])
        );
    }

    #[test]
    fn include_exclude_keep_latest_with_reasons() {
        let tags = strings(&[
            "1.25.0",
            "1.26.0",
            "1.26.0-alpine",
            "1.27.0",
            "1.27.1",
            "1.27.1-slim",
            "1.28.0-rc.1",
            "latest",
        ]);
        let f = filter(&[r"^1\.\d+\.\d+"], &["alpine,slim"], Some(2), Sort::Semver);
        let s = f.select(&tags, &HashMap::new());
        assert_eq!(s.kept, strings(&["1.28.0-rc.1", "1.27.1"]));
        assert_eq!(
            s.dropped,
            vec![
                (
                    "1.25.0".into(),
                    "not among the newest 2 by version (--keep-latest 2)".into()
                ),
                (
                    "1.26.0".into(),
                    "not among the newest 2 by version (--keep-latest 2)".into()
                ),
                ("1.26.0-alpine".into(), "matches --exclude `alpine`".into()),
                (
                    "1.27.0".into(),
                    "not among the newest 2 by version (--keep-latest 2)".into()
                ),
                ("1.27.1-slim".into(), "matches --exclude `slim`".into()),
                ("latest".into(), "matches no --include pattern".into()),
            ]
        );
    }

    #[test]
    fn commas_inside_quantifiers_stay_in_the_pattern() {
        let p = patterns("--include", &strings(&[r"^\d{1,3}\.\d+$,^v[0-9]+"])).expect("valid");
        assert_eq!(
            p.iter().map(Regex::as_str).collect::<Vec<_>>(),
            [r"^\d{1,3}\.\d+$", "^v[0-9]+"]
        );
        let e = patterns("--exclude", &strings(&["ok", "(unclosed"])).expect_err("invalid");
        assert_eq!(e.pattern, "(unclosed");
        assert!(
            e.to_string()
                .starts_with("--exclude `(unclosed` is not a valid regular expression: "),
            "{e}"
        );
    }

    #[test]
    fn created_and_name_orders() {
        let tags = strings(&["a", "b", "c"]);
        let created: HashMap<String, String> = [
            ("a".to_string(), "2024-03-01T00:00:00Z".to_string()),
            ("c".to_string(), "2024-01-01T00:00:00Z".to_string()),
        ]
        .into();
        let s = filter(&[], &[], Some(2), Sort::Created).select(&tags, &created);
        assert_eq!(s.kept, strings(&["a", "c"]));
        assert_eq!(
            s.dropped[0].1,
            "not among the newest 2 by creation time (--keep-latest 2)"
        );
        let s = filter(&[], &[], Some(1), Sort::Name).select(&tags, &HashMap::new());
        assert_eq!(s.kept, strings(&["c"]));
    }
}
