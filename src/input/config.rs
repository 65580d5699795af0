//! The config file of `run --config FILE` (CONTRACT.md "Config file"): `version: 1`,
//! `defaults`, `registries`, `jobs` (`images:` or `sync:`), `notify`. Unknown keys are errors;
//! every error names the file, the line and the field. Secrets are only ever named by
//! environment variable. Parsing and checking only: no network, no environment reads.

use crate::copy::Format;
use crate::input::tag_filter::Sort;
use crate::plan::naming::Naming;
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
        let line = e.location().map(|l| l.line());
        let raw = e.to_string();
        // `jobs[0]: unknown field `x`, expected ... at line 5 column 3` -> path and message.
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
        // Inside a job (its settings are flattened), serde points at the job's first line;
        // the key's own line is more useful.
        let job = field
            .as_deref()
            .and_then(|f| f.strip_prefix("jobs["))
            .and_then(|f| f.split(']').next())
            .and_then(|n| n.parse::<usize>().ok());
        let unknown = message
            .strip_prefix("unknown field `")
            .and_then(|m| m.split('`').next());
        let line = match (job, unknown) {
            (Some(i), Some(key)) => line_of(Some(i), key).or(line),
            _ => line,
        };
        let message = match unknown.and_then(|k| {
            KEYS.iter()
                .filter(|known| distance(k, known) <= 2)
                .min_by_key(|known| distance(k, known))
        }) {
            Some(close) if !message.contains("expected") || job.is_some() => {
                format!("{message}; did you mean `{close}`?")
            }
            _ => message,
        };
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
        match (&job.images, &job.sync) {
            (Some(_), Some(_)) => {
                return Err(err(
                    jl("sync"),
                    field("sync"),
                    "a job has either `images` or `sync`, not both".into(),
                ))
            }
            (None, None) => {
                return Err(err(
                    jl("name"),
                    field("images"),
                    format!("job `{}` has neither `images` nor `sync`", job.name),
                ))
            }
            (Some(_), None) => {
                let sync_keys = [
                    ("include", job.include.is_some()),
                    ("exclude", job.exclude.is_some()),
                    ("keep_latest", job.keep_latest.is_some()),
                    ("sort", job.sort.is_some()),
                    ("all_repos", job.all_repos),
                ];
                if let Some((k, _)) = sync_keys.into_iter().find(|(_, set)| *set) {
                    return Err(err(
                        jl(k),
                        field(k),
                        format!(
                            "`{k}` belongs to `sync` jobs; job `{}` is an `images` job",
                            job.name
                        ),
                    ));
                }
            }
            (None, Some(_)) => {
                for (k, v) in [("include", &job.include), ("exclude", &job.exclude)] {
                    if let Some(v) = v {
                        crate::input::tag_filter::patterns(k, &v.lines()).map_err(|e| {
                            err(
                                jl(k),
                                field(k),
                                format!(
                                    "`{}` is not a valid regular expression: {}",
                                    e.pattern, e.message
                                ),
                            )
                        })?;
                    }
                }
            }
        }
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

/// Edit distance, for suggestions.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

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
mod tests {
    use super::*;

    const GOOD: &str = r#"version: 1
defaults:
  target: {registry: registry.example.com, namespace: mirrors}
  platforms: [linux/amd64, linux/arm64]
  format: v2s2
  naming: flatten
  parallel: 5
registries:
  registry.example.com: {username_env: TARGET_REGISTRY_USER, password_env: TARGET_REGISTRY_PASSWORD}
  127.0.0.1:5000: {insecure: true, ca_cert: certs/ca.pem, endpoint: "10.0.0.5:5000"}
jobs:
  - name: kubernetes core
    images: |
      registry.k8s.io/pause:3.9
      registry.k8s.io/kube-apiserver:v1.28.0
  - name: nginx stable
    sync: docker.io/library/nginx
    include: ['^1\.2[0-9]\.[0-9]+$']
    exclude: ['alpine|slim']
    keep_latest: 5
    sort: semver
    notify_on: failure
notify:
  on: failure
  wecom: {webhook_env: WECOM_WEBHOOK_URL}
  dingtalk: {webhook_env: DINGTALK_WEBHOOK_URL, secret_env: DINGTALK_SECRET}
"#;

    #[test]
    fn the_contract_example_parses() {
        let c = parse("mirror.yaml", GOOD).expect("valid");
        assert_eq!(c.jobs.len(), 2);
        assert_eq!(c.jobs[1].keep_latest, Some(5));
        assert_eq!(c.defaults.parallel, Some(5));
        assert!(c.registries["127.0.0.1:5000"].insecure);
        assert_eq!(c.notify.expect("notify").on, Some(NotifyOn::Failure));
    }

    #[test]
    fn every_error_names_file_line_and_field() {
        let cases: &[(&str, &str, &str)] = &[
            ("version: 2\njobs: []\n", "mirror.yaml:1: `version`: version 2 is not supported", ""),
            ("version: 1\njobs: []\n", "mirror.yaml:2: `jobs`: no jobs", ""),
            ("version: 1\njobz: []\n", "mirror.yaml:2: `jobz`: unknown field `jobz`", "expected one of"),
            (
                "version: 1\njobs:\n  - name: a\n    images: nginx:1\n    imagez: x\n",
                "mirror.yaml:5: `jobs[0]`: unknown field `imagez`; did you mean `images`?",
                "",
            ),
            (
                "version: 1\njobs:\n  - name: a\n    images: x:1\n  - name: b\n    sync: docker.io/library/nginx\n    include: ['(1']\n",
                "mirror.yaml:7: `jobs[1].include`: `(1` is not a valid regular expression",
                "",
            ),
            (
                "version: 1\njobs:\n  - name: a\n    images: x:1\n    sync: y\n",
                "mirror.yaml:5: `jobs[0].sync`: a job has either `images` or `sync`, not both",
                "",
            ),
            (
                "version: 1\njobs:\n  - name: a\n    parallel: 2\n",
                "mirror.yaml:3: `jobs[0].images`: job `a` has neither `images` nor `sync`",
                "",
            ),
            (
                "version: 1\njobs:\n  - name: a\n    images: x:1\n    keep_latest: 3\n",
                "mirror.yaml:5: `jobs[0].keep_latest`: `keep_latest` belongs to `sync` jobs",
                "",
            ),
            (
                "version: 1\njobs:\n  - name: a\n    images: x:1\n  - name: a\n    images: y:1\n",
                "mirror.yaml:5: `jobs[1].name`: `a` is also the name of jobs[0]",
                "",
            ),
            (
                "version: 1\ndefaults:\n  platforms: [linux]\njobs:\n  - name: a\n    images: x:1\n",
                "mirror.yaml:3: `defaults.platforms`: ",
                "",
            ),
            (
                "version: 1\ndefaults:\n  format: docker\njobs:\n  - name: a\n    images: x:1\n",
                "mirror.yaml:3: `defaults.format`: unknown variant `docker`",
                "expected one of",
            ),
            (
                "version: 1\nregistries:\n  r.io: {username_env: U}\njobs:\n  - name: a\n    images: x:1\n",
                "mirror.yaml:3: `registries.r.io`: give both `username_env` and `password_env`",
                "",
            ),
            (
                "version: 1\nnotify:\n  wecom: {webhook: https://x}\njobs:\n  - name: a\n    images: x:1\n",
                "mirror.yaml:3: `notify.wecom`: unknown field `webhook`",
                "",
            ),
            ("version: 1\njobs:\n  - name: a\n   images: x\n", "mirror.yaml:4: ", ""),
            (
                "version: 1\nregistries:\n  127.0.0.1:5000: {insecure: true}\n  \"[::1]:5000\": {password_env: P}\njobs:\n  - name: a\n    images: x:1\n",
                "mirror.yaml:4: `registries.[::1]:5000`: give both",
                "",
            ),
            (
                "version: 1\njobs: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n",
                "mirror.yaml:2: `[` and `{` are nested more than 64 deep",
                "",
            ),
        ];
        for (text, start, contains) in cases {
            let e = parse("mirror.yaml", text).expect_err(text).to_string();
            assert!(e.starts_with(start), "{text}\n{e}");
            assert!(e.contains(contains), "{text}\n{e}");
        }
    }

    #[test]
    fn each_job_knows_its_line() {
        let c = parse("mirror.yaml", GOOD).expect("valid");
        let lines: Vec<Option<usize>> = c.jobs.iter().map(|j| j.line).collect();
        assert_eq!(lines, [Some(12), Some(16)]);
        let flow = parse("m.yaml", "version: 1\njobs: [{name: a, images: x:1}]\n").expect("valid");
        assert_eq!(flow.jobs[0].line, None);
    }

    #[test]
    fn the_index_answers_as_a_scan_would() {
        let text =
            "a: 1\njobs:\n  - name: x\n    - - sync: y\n  -   - name: z\n\nb:c: 2\nnotify: {}\n";
        let index = Lines::new(text);
        assert_eq!(index.line_of(None, "a"), Some(1));
        assert_eq!(index.line_of(None, "name"), Some(3));
        assert_eq!(index.line_of(None, "sync"), Some(4));
        assert_eq!(index.line_of(None, "b:c"), Some(7));
        assert_eq!(index.line_of(None, "b"), Some(7));
        assert_eq!(index.line_of(None, "nothing"), None);
        assert_eq!(index.line_of(Some(0), "sync"), Some(4));
        // Only one `- ` is taken off after the spaces: `-   - name:` is not a `name:` line.
        assert_eq!(index.line_of(Some(1), "name"), Some(5));
        assert_eq!(index.job_range(1), Some((4, 6)));
        assert_eq!(index.line_of(Some(2), "name"), None);
    }

    /// The scan the index replaced: `key:` searched line by line, once per lookup.
    fn scanned_line_of(text: &str, job: Option<usize>, key: &str) -> Option<usize> {
        let lines: Vec<&str> = text.lines().collect();
        let (start, end) = match job {
            None => (0, lines.len()),
            Some(i) => {
                let jobs = lines.iter().position(|l| l.starts_with("jobs:"))?;
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
                let s = *items.get(i)?;
                (s, items.get(i + 1).copied().unwrap_or(end))
            }
        };
        let wanted = format!("{key}:");
        (start..end)
            .find(|&n| {
                let t = lines[n].trim_start().trim_start_matches("- ").trim_start();
                t.starts_with(&wanted)
            })
            .map(|n| n + 1)
            .or(job.map(|_| start + 1))
    }

    #[test]
    fn the_index_agrees_with_the_scan_on_random_texts() {
        let pieces = [
            "jobs:",
            "  - ",
            "- ",
            "    ",
            "name:",
            " x",
            "sync: y",
            "# c",
            "",
            "a:b: 1",
            "a:",
            "\"h\": 1",
            "-",
            "images: |",
            "  - - name: n",
            "b",
            ":",
        ];
        let keys = ["name", "sync", "jobs", "a", "a:b", "\"h\"", "", "x", "b"];
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..2000 {
            let text: String = (0..rng.usize(0..12))
                .map(|_| {
                    let parts: String = (0..rng.usize(1..4))
                        .map(|_| pieces[rng.usize(..pieces.len())])
                        .collect();
                    parts + "\n"
                })
                .collect();
            let index = Lines::new(&text);
            for key in keys {
                for job in [None, Some(0), Some(1), Some(2), Some(5)] {
                    assert_eq!(
                        index.line_of(job, key),
                        scanned_line_of(&text, job, key),
                        "{text:?} {job:?} {key:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn flow_depth_is_counted_outside_strings_comments_and_block_scalars() {
        let deep = |n: usize| "[".repeat(n);
        assert_eq!(too_deep(&format!("a: {}", deep(64)), 64), None);
        assert_eq!(too_deep(&format!("a: 1\nb: {}", deep(65)), 64), Some(2));
        assert_eq!(too_deep(&format!("a: {}", "[]".repeat(1000)), 64), None);
        for hidden in [
            format!("a: \"{}\"\n", deep(100)),
            format!("a: '{}''{}'\n", deep(100), deep(100)),
            format!("a: \"\\\"{}\"\n", deep(100)),
            format!("a: 1 # {}\n", deep(100)),
            format!("a: |\n  {}\n  {}\nb: 1\n", deep(40), deep(40)),
            format!("- a: >-\n    {}\n    {}\n", deep(40), deep(40)),
            format!("a: it's\nb: {}\n", "[]".repeat(100)),
        ] {
            assert_eq!(too_deep(&hidden, 64), None, "{hidden}");
        }
        // A quote in the middle of a plain scalar opens nothing; a block scalar ends.
        assert_eq!(too_deep(&format!("a: x'{}", deep(65)), 64), Some(1));
        assert_eq!(
            too_deep(&format!("a: |\n  x\nb: {}\n", deep(65)), 64),
            Some(3)
        );
        assert_eq!(too_deep(&format!("a: {}'x'", "{".repeat(65)), 64), Some(1));
    }
}
