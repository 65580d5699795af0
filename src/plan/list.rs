//! From a list's text and the target flags to the jobs of a run: parse every line, place each
//! source in the target namespace, refuse collisions. Shared by `mirror`, `validate` and (later)
//! `issue`; pure and offline.

use crate::input::list::{self, ListErrors};
use crate::plan::naming::{self, Collision, Namespace};
use crate::plan::Pair;
use std::fmt;

/// Stands in for the target registry when none is set (`validate` without `--target-registry`).
pub const PLACEHOLDER_REGISTRY: &str = "target-registry.invalid";

/// A job with the list line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinePair {
    pub line: usize,
    pub pair: Pair,
}

/// Why a list cannot run; every problem at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobsError {
    List(ListErrors),
    /// (line, message) for targets that are not valid references.
    Targets(Vec<(usize, String)>),
    NoTargetRegistry {
        lines: Vec<usize>,
    },
    Collisions(Vec<Collision>),
}

impl fmt::Display for JobsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobsError::List(e) => write!(f, "{e}"),
            JobsError::Targets(list) => {
                writeln!(f, "{} invalid target{}; nothing was copied:", list.len(), plural(list.len()))?;
                for (line, m) in list {
                    writeln!(f, "  line {line}: {m}")?;
                }
                Ok(())
            }
            JobsError::NoTargetRegistry { lines } => writeln!(
                f,
                "no target registry: {} line{} ({}) name{} no full target\n  hint: set `--target-registry` (or `TARGET_REGISTRY`), e.g. `--target-registry registry.example.com --target-namespace mirrors`",
                lines.len(),
                plural(lines.len()),
                lines.iter().map(|l| format!("line {l}")).collect::<Vec<_>>().join(", "),
                if lines.len() == 1 { "s" } else { "" }
            ),
            JobsError::Collisions(list) => {
                writeln!(f, "{} target collision{}; nothing was copied:", list.len(), plural(list.len()))?;
                for c in list {
                    writeln!(f, "  {c}")?;
                }
                writeln!(
                    f,
                    "  hint: give one of them its own target (`SOURCE TARGET` on its line), or use `--naming path`"
                )
            }
        }
    }
}

/// One problem of a list, for places that render them themselves (the issue comment).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// 1-based line, when the problem is on one line.
    pub line: Option<usize>,
    /// The line as written (shortened, control characters escaped).
    pub text: Option<String>,
    pub reason: String,
    pub hint: Option<String>,
}

impl JobsError {
    /// Every problem, in list order, and how many more were not listed.
    pub fn problems(&self) -> (Vec<Problem>, usize) {
        match self {
            JobsError::List(e) => (
                e.errors
                    .iter()
                    .map(|l| Problem {
                        line: (l.line > 0).then_some(l.line),
                        text: (l.line > 0).then(|| l.text.clone()),
                        reason: l.reason.clone(),
                        hint: l.hint.clone(),
                    })
                    .collect(),
                e.more,
            ),
            JobsError::Targets(list) => (
                list.iter()
                    .map(|(line, m)| Problem {
                        line: Some(*line),
                        text: None,
                        reason: m.clone(),
                        hint: None,
                    })
                    .collect(),
                0,
            ),
            JobsError::NoTargetRegistry { .. } => (
                vec![Problem {
                    line: None,
                    text: None,
                    reason: "no target registry is configured".into(),
                    hint: Some(
                        "the repository's maintainers set the `TARGET_REGISTRY` variable (or `--target-registry`)"
                            .into(),
                    ),
                }],
                0,
            ),
            JobsError::Collisions(list) => (
                list.iter()
                    .map(|c| Problem {
                        line: Some(c.line),
                        text: Some(c.source_ref.clone()),
                        reason: format!(
                            "maps to `{}`, like line {} (`{}`)",
                            c.target, c.first_line, c.first_source
                        ),
                        hint: Some(
                            "give one of them its own target: `SOURCE TARGET` on its line".into(),
                        ),
                    })
                    .collect(),
                0,
            ),
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The jobs of a list, plus the parser's warnings.
pub fn resolve(
    text: &str,
    max_images: usize,
    dest: &Namespace,
) -> Result<(Vec<LinePair>, Vec<String>), JobsError> {
    let list = list::parse(text, max_images).map_err(JobsError::List)?;
    let registry = dest.registry.as_deref().unwrap_or(PLACEHOLDER_REGISTRY);
    let mut jobs = Vec::new();
    let mut bad = Vec::new();
    let mut unplaced = Vec::new();
    for e in &list.entries {
        let full = matches!(e.target, Some(list::TargetSpec::Full(_)));
        if dest.registry.is_none() && !full {
            unplaced.push(e.line);
        }
        match naming::target_of_entry(e, dest.naming, registry, &dest.namespace) {
            Ok(target) => jobs.push(LinePair {
                line: e.line,
                pair: Pair {
                    source: e.source.clone(),
                    target,
                },
            }),
            Err(err) => bad.push((e.line, format!("target for `{}`: {err}", e.source))),
        }
    }
    if !bad.is_empty() {
        return Err(JobsError::Targets(bad));
    }
    let pairs: Vec<_> = jobs
        .iter()
        .map(|j| (j.line, &j.pair.source, &j.pair.target))
        .collect();
    let found = naming::collisions(&pairs);
    if !found.is_empty() {
        return Err(JobsError::Collisions(found));
    }
    if !unplaced.is_empty() && dest.registry.is_none() {
        return Err(JobsError::NoTargetRegistry { lines: unplaced });
    }
    Ok((jobs, list.warnings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::naming::Naming;

    fn dest(registry: Option<&str>) -> Namespace {
        Namespace {
            registry: registry.map(str::to_string),
            namespace: "mirrors".into(),
            naming: Naming::Flatten,
        }
    }

    #[test]
    fn jobs_in_list_order() {
        let (jobs, warnings) = resolve(
            "nginx:1.27\nregistry.k8s.io/pause:3.9 k8s/pause\n",
            100,
            &dest(Some("r.example.com")),
        )
        .expect("valid");
        assert!(warnings.is_empty());
        let pairs: Vec<(usize, String, String)> = jobs
            .iter()
            .map(|j| (j.line, j.pair.source.to_string(), j.pair.target.to_string()))
            .collect();
        assert_eq!(
            pairs,
            [
                (
                    1,
                    "docker.io/library/nginx:1.27".into(),
                    "r.example.com/mirrors/nginx:1.27".into()
                ),
                (
                    2,
                    "registry.k8s.io/pause:3.9".into(),
                    "r.example.com/mirrors/k8s/pause:3.9".into()
                ),
            ]
        );
    }

    #[test]
    fn collisions_and_missing_registry() {
        let e = resolve(
            "gcr.io/a/pause:3.9\nregistry.k8s.io/pause:3.9\n",
            100,
            &dest(Some("r.io")),
        )
        .expect_err("collision");
        assert_eq!(
            e.to_string(),
            "1 target collision; nothing was copied:\n  \
             line 2 (`registry.k8s.io/pause:3.9`) and line 1 (`gcr.io/a/pause:3.9`) both map to `r.io/mirrors/pause:3.9`\n  \
             hint: give one of them its own target (`SOURCE TARGET` on its line), or use `--naming path`\n"
        );
        let e = resolve("nginx:1.27\nalpine:3 r.io/x/alpine:3\n", 100, &dest(None))
            .expect_err("no registry");
        assert!(
            e.to_string()
                .starts_with("no target registry: 1 line (line 1) names no full target"),
            "{e}"
        );
        assert!(resolve("alpine:3 r.io/x/alpine:3\n", 100, &dest(None)).is_ok());
    }
}
