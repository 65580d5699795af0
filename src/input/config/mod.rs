//! The config file of `run --config FILE` (README, section `run --config`): `version: 1`,
//! `defaults`, `registries`, `jobs` (`images:` or `sync:`), `notify`. Unknown keys are errors;
//! every error names the file, the line and the field. Secrets are only ever named by
//! environment variable. Parsing and checking only: no network, no environment reads.

use crate::copy::Format;
use crate::input::tag_filter::Sort;
use crate::input::Naming;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub version: u32,
    #[serde(default)]
    pub defaults: Settings,
    #[serde(default)]
    pub registries: BTreeMap<String, RegistryConfig>,
    pub jobs: Vec<Job>,
    #[serde(default)]
    pub notify: Option<Notify>,
}

/// What `defaults` holds and every job may override.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub target: Option<Target>,
    pub platforms: Option<Vec<String>>,
    pub all_platforms: Option<bool>,
    pub format: Option<Format>,
    pub naming: Option<Naming>,
    pub parallel: Option<u32>,
    pub referrers: Option<crate::copy::ReferrerMode>,
    pub target_profile: Option<crate::registry::profile::ProfileChoice>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub registry: Option<String>,
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    #[serde(default)]
    pub insecure: bool,
    pub ca_cert: Option<PathBuf>,
    pub username_env: Option<String>,
    pub password_env: Option<String>,
    pub endpoint: Option<String>,
}

/// A string or a list of strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn lines(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum NotifyOn {
    #[default]
    Always,
    Failure,
    Never,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    pub name: String,
    /// An `images` job: a list in the list syntax.
    pub images: Option<OneOrMany>,
    /// A `sync` job: a repository, or `REGISTRY/NAMESPACE` with `all_repos: true`.
    pub sync: Option<String>,
    #[serde(default)]
    pub all_repos: bool,
    pub include: Option<OneOrMany>,
    pub exclude: Option<OneOrMany>,
    pub keep_latest: Option<usize>,
    pub sort: Option<Sort>,
    pub notify_on: Option<NotifyOn>,
    #[serde(flatten)]
    pub settings: Settings,
    /// The 1-based line of the job's `name:` (else of its item), for messages; set by [`parse`].
    #[serde(skip)]
    pub line: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    pub on: Option<NotifyOn>,
    pub wecom: Option<Webhook>,
    pub dingtalk: Option<Webhook>,
    pub feishu: Option<Webhook>,
    pub slack: Option<Webhook>,
    pub webhook: Option<Webhook>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    pub webhook_env: String,
    pub secret_env: Option<String>,
}

/// A config error: file, line (when known), field, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: Option<usize>,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if let Some(k) = &self.field {
            write!(f, ": `{k}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Flow collections (`[`, `{`) nested deeper than this are refused before the YAML parser sees
/// the text: its time grows fast with the depth (100 000 `[` took 20 s), and a config needs two or
/// three levels.
pub const MAX_FLOW_DEPTH: usize = 64;

/// Parse and check `text` (read from `file`). Linear in the text: every line number comes from
/// one index of the text, built once.
pub fn parse(file: &str, text: &str) -> Result<Config, ConfigError> {
    let err = |line: Option<usize>, field: Option<String>, message: String| ConfigError {
        file: file.to_string(),
        line,
        field,
        message,
    };
    if let Some(line) = too_deep(text, MAX_FLOW_DEPTH) {
        return Err(err(
            Some(line),
            None,
            format!("`[` and `{{` are nested more than {MAX_FLOW_DEPTH} deep"),
        ));
    }
    let index = Lines::new(text);
    let line_of = |job: Option<usize>, key: &str| index.line_of(job, key);
    let mut config: Config = serde_yaml_ng::from_str(text).map_err(|e| {
        let (line, field, message) = yaml_error(&e, &index);
        err(line, field, message)
    })?;
    let at = |key: &str| line_of(None, key);
    if config.version != 1 {
        return Err(err(
            at("version"),
            Some("version".into()),
            format!(
                "version {} is not supported; this registry-mirror reads `version: 1`",
                config.version
            ),
        ));
    }
    if config.jobs.is_empty() {
        return Err(err(at("jobs"), Some("jobs".into()), "no jobs".into()));
    }
    check_settings(&config.defaults, "defaults", |k| line_of(None, k), file)?;
    let mut names = BTreeMap::new();
    for (i, job) in config.jobs.iter().enumerate() {
        let jl = |key: &str| line_of(Some(i), key);
        let field = |k: &str| Some(format!("jobs[{i}].{k}"));
        if job.name.trim().is_empty() {
            return Err(err(jl("name"), field("name"), "a job needs a name".into()));
        }
        if let Some(first) = names.insert(job.name.clone(), i) {
            return Err(err(
                jl("name"),
                field("name"),
                format!(
                    "`{}` is also the name of jobs[{first}]; names must be unique",
                    job.name
                ),
            ));
        }
        check_job(job, i).map_err(|(key, field, message)| err(jl(key), Some(field), message))?;
        check_settings(&job.settings, &format!("jobs[{i}]"), jl, file)?;
    }
    for (host, r) in &config.registries {
        let rl = || line_of(None, host).or_else(|| line_of(None, &format!("\"{host}\"")));
        if r.username_env.is_some() != r.password_env.is_some() {
            return Err(err(
                rl(),
                Some(format!("registries.{host}")),
                "give both `username_env` and `password_env`, or neither".into(),
            ));
        }
    }
    for (i, job) in config.jobs.iter_mut().enumerate() {
        job.line = line_of(Some(i), "name");
    }
    Ok(config)
}

/// A serde_yaml_ng error as (line, field, message): `jobs[0]: unknown field `x`, expected ...
/// at line 5 column 3` becomes the path and the message, the unknown key's own line, and a
/// "did you mean" for a key a little off.
fn yaml_error(
    e: &serde_yaml_ng::Error,
    index: &Lines<'_>,
) -> (Option<usize>, Option<String>, String) {
    let line = e.location().map(|l| l.line());
    let raw = e.to_string();
    let raw = raw.split(" at line ").next().unwrap_or(&raw).to_string();
    let (field, message) = match raw.split_once(": ") {
        Some((path, msg)) if !path.contains(' ') => (Some(path.to_string()), msg.to_string()),
        _ => (None, raw),
    };
    let field = field.or_else(|| {
        message
            .strip_prefix("unknown field `")
            .and_then(|m| m.split('`').next())
            .map(str::to_string)
    });
    // Inside a job (its settings are flattened), serde points at the job's first line; the
    // key's own line is more useful.
    let job = field
        .as_deref()
        .and_then(|f| f.strip_prefix("jobs["))
        .and_then(|f| f.split(']').next())
        .and_then(|n| n.parse::<usize>().ok());
    let unknown = message
        .strip_prefix("unknown field `")
        .and_then(|m| m.split('`').next());
    let line = match (job, unknown) {
        (Some(i), Some(key)) => index.line_of(Some(i), key).or(line),
        _ => line,
    };
    let message = match unknown.and_then(|k| {
        KEYS.iter()
            .filter(|known| crate::suggest::distance(k, known) <= 2)
            .min_by_key(|known| crate::suggest::distance(k, known))
    }) {
        Some(close) if !message.contains("expected") || job.is_some() => {
            format!("{message}; did you mean `{close}`?")
        }
        _ => message,
    };
    (line, field, message)
}

/// One job's own rules: `images` or `sync` (not both), sync keys only on sync jobs, valid
/// patterns. The error is (the key to point at, the field, the message).
fn check_job(job: &Job, i: usize) -> Result<(), (&'static str, String, String)> {
    let field = |k: &str| format!("jobs[{i}].{k}");
    match (&job.images, &job.sync) {
        (Some(_), Some(_)) => Err((
            "sync",
            field("sync"),
            "a job has either `images` or `sync`, not both".into(),
        )),
        (None, None) => Err((
            "name",
            field("images"),
            format!("job `{}` has neither `images` nor `sync`", job.name),
        )),
        (Some(_), None) => {
            let sync_keys = [
                ("include", job.include.is_some()),
                ("exclude", job.exclude.is_some()),
                ("keep_latest", job.keep_latest.is_some()),
                ("sort", job.sort.is_some()),
                ("all_repos", job.all_repos),
            ];
            match sync_keys.into_iter().find(|(_, set)| *set) {
                Some((k, _)) => Err((
                    k,
                    field(k),
                    format!(
                        "`{k}` belongs to `sync` jobs; job `{}` is an `images` job",
                        job.name
                    ),
                )),
                None => Ok(()),
            }
        }
        (None, Some(_)) => {
            for (k, v) in [("include", &job.include), ("exclude", &job.exclude)] {
                if let Some(v) = v {
                    crate::input::tag_filter::patterns(k, &v.lines()).map_err(|e| {
                        (
                            k,
                            field(k),
                            format!(
                                "`{}` is not a valid regular expression: {}",
                                e.pattern, e.message
                            ),
                        )
                    })?;
                }
            }
            Ok(())
        }
    }
}

/// A job's keys over `defaults`.
pub(crate) fn merged(defaults: &Settings, job: &Settings) -> Settings {
    Settings {
        target: match (&job.target, &defaults.target) {
            (Some(j), Some(d)) => Some(Target {
                registry: j.registry.clone().or_else(|| d.registry.clone()),
                namespace: j.namespace.clone().or_else(|| d.namespace.clone()),
            }),
            (j, d) => j.clone().or_else(|| d.clone()),
        },
        platforms: job.platforms.clone().or_else(|| defaults.platforms.clone()),
        all_platforms: job.all_platforms.or(defaults.all_platforms),
        format: job.format.or(defaults.format),
        naming: job.naming.or(defaults.naming),
        parallel: job.parallel.or(defaults.parallel),
        referrers: job.referrers.or(defaults.referrers),
        target_profile: job.target_profile.or(defaults.target_profile),
    }
}

/// Every key the config knows, for "did you mean".
const KEYS: &[&str] = &[
    "version",
    "defaults",
    "registries",
    "jobs",
    "notify",
    "target",
    "registry",
    "namespace",
    "platforms",
    "all_platforms",
    "format",
    "naming",
    "parallel",
    "referrers",
    "target_profile",
    "insecure",
    "ca_cert",
    "username_env",
    "password_env",
    "endpoint",
    "name",
    "images",
    "sync",
    "all_repos",
    "include",
    "exclude",
    "keep_latest",
    "sort",
    "notify_on",
    "on",
    "wecom",
    "dingtalk",
    "feishu",
    "slack",
    "webhook",
    "webhook_env",
    "secret_env",
];

fn check_settings(
    s: &Settings,
    path: &str,
    line: impl Fn(&str) -> Option<usize>,
    file: &str,
) -> Result<(), ConfigError> {
    if let Some(p) = &s.platforms {
        crate::registry::platform::parse_list(&p.join(",")).map_err(|e| ConfigError {
            file: file.to_string(),
            line: line("platforms"),
            field: Some(format!("{path}.platforms")),
            message: e.to_string(),
        })?;
    }
    if s.parallel == Some(0) {
        return Err(ConfigError {
            file: file.to_string(),
            line: line("parallel"),
            field: Some(format!("{path}.parallel")),
            message: "must be at least 1".into(),
        });
    }
    Ok(())
}

/// Where keys are, from one pass over the text, so that each line number is a lookup instead
/// of a scan of the whole text (20 000 jobs took 50 s that way).
struct Lines<'a> {
    /// Each line without its indentation and `- ` bullets: what keys are matched against.
    stripped: Vec<&'a str>,
    /// Per key (a stripped line's text before its first `:`), the lines (0-based, ascending)
    /// that start with it.
    by_key: std::collections::HashMap<&'a str, Vec<usize>>,
    /// The first line of each item of the top-level `jobs:` list, and the line that ends the
    /// list; None without a `jobs:` line.
    jobs: Option<(Vec<usize>, usize)>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Lines<'a> {
        let lines: Vec<&str> = text.lines().collect();
        let stripped: Vec<&str> = lines
            .iter()
            .map(|l| l.trim_start().trim_start_matches("- ").trim_start())
            .collect();
        let mut by_key: std::collections::HashMap<&str, Vec<usize>> =
            std::collections::HashMap::new();
        for (n, t) in stripped.iter().enumerate() {
            if let Some(colon) = t.find(':') {
                by_key.entry(&t[..colon]).or_default().push(n);
            }
        }
        let jobs = lines
            .iter()
            .position(|l| l.starts_with("jobs:"))
            .map(|jobs| {
                let mut items = Vec::new();
                let mut indent = None;
                let mut end = lines.len();
                for (n, l) in lines.iter().enumerate().skip(jobs + 1) {
                    let t = l.trim_start();
                    if t.is_empty() || t.starts_with('#') {
                        continue;
                    }
                    let ind = l.len() - t.len();
                    if ind == 0 && !t.starts_with("- ") {
                        end = n;
                        break;
                    }
                    if t.starts_with("- ") && indent.is_none_or(|x| x == ind) {
                        indent = Some(ind);
                        items.push(n);
                    }
                }
                (items, end)
            });
        Lines {
            stripped,
            by_key,
            jobs,
        }
    }

    /// The 1-based line of `key:` — the first in the text, or the first inside the `job`-th
    /// item of `jobs:` (else that item's first line).
    fn line_of(&self, job: Option<usize>, key: &str) -> Option<usize> {
        let (start, end) = match job {
            None => (0, self.stripped.len()),
            Some(i) => self.job_range(i)?,
        };
        self.first(key, start, end)
            .map(|n| n + 1)
            .or(job.map(|_| start + 1))
    }

    /// The first line (0-based) in `start..end` that starts with `key:`.
    fn first(&self, key: &str, start: usize, end: usize) -> Option<usize> {
        if key.contains(':') {
            // Not indexed (the index holds the text before a line's first `:`): scanned.
            let wanted = format!("{key}:");
            return (start..end).find(|&n| self.stripped[n].starts_with(&wanted));
        }
        let lines = self.by_key.get(key)?;
        let i = lines.partition_point(|&n| n < start);
        lines.get(i).copied().filter(|&n| n < end)
    }

    /// Line range (0-based, end exclusive) of the `i`-th item of the top-level `jobs:` list.
    fn job_range(&self, i: usize) -> Option<(usize, usize)> {
        let (items, end) = self.jobs.as_ref()?;
        let s = *items.get(i)?;
        let e = items.get(i + 1).copied().unwrap_or(*end);
        Some((s, e))
    }
}

/// The 1-based line where flow collections (`[`, `{`) first nest deeper than `max`, outside
/// quoted strings, comments and block scalars (`|`, `>`); None when they never do.
fn too_deep(text: &str, max: usize) -> Option<usize> {
    let mut depth = 0usize;
    // Inside a quoted string: its quote byte.
    let mut quote: Option<u8> = None;
    // Inside a block scalar: lines indented more than this belong to it.
    let mut block: Option<usize> = None;
    for (n, line) in text.split('\n').enumerate() {
        let bytes = line.as_bytes();
        let indent = bytes.iter().take_while(|b| **b == b' ').count();
        if let Some(parent) = block {
            if line.trim().is_empty() || indent > parent {
                continue;
            }
            block = None;
        }
        let mut i = 0;
        // Where the last plain token of the line starts, for a block scalar header.
        let mut content_end = bytes.len();
        while i < bytes.len() {
            let b = bytes[i];
            let after_space = i == 0 || matches!(bytes[i - 1], b' ' | b'\t');
            match quote {
                Some(b'"') if b == b'\\' => i += 1,
                Some(q) if b == q => {
                    // `''` inside single quotes is a quote.
                    if q == b'\'' && bytes.get(i + 1) == Some(&b'\'') {
                        i += 1;
                    } else {
                        quote = None;
                    }
                }
                Some(_) => {}
                None => match b {
                    b'#' if after_space => {
                        content_end = i;
                        break;
                    }
                    b'"' | b'\''
                        if after_space || matches!(bytes[i - 1], b'[' | b'{' | b',' | b':') =>
                    {
                        quote = Some(b)
                    }
                    b'[' | b'{' => {
                        depth += 1;
                        if depth > max {
                            return Some(n + 1);
                        }
                    }
                    b']' | b'}' => depth = depth.saturating_sub(1),
                    _ => {}
                },
            }
            i += 1;
        }
        if quote.is_none() && depth == 0 {
            // `key: |`, `- >-`, `|2`: the lines after it, indented more than its key, are text.
            let content = line[..content_end].trim_end();
            let header = content.rsplit([' ', '\t']).next().unwrap_or_default();
            let is_header = matches!(header.as_bytes().first(), Some(b'|' | b'>'))
                && header[1..]
                    .bytes()
                    .all(|b| b == b'-' || b == b'+' || b.is_ascii_digit());
            let before = content[..content.len() - header.len()].trim_end();
            if is_header && (before.is_empty() || before.ends_with(':') || before.ends_with('-')) {
                // The key's column: after the indentation and any `- ` bullets.
                let key = line.trim_start().trim_start_matches("- ").trim_start();
                block = Some(line.len() - key.len());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests;
