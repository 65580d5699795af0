//! Where a source lands in the target namespace (README, "Naming"), and the check that two
//! different sources never land on one target.

use crate::input::list::{Entry, TargetSpec};
use crate::reference::{Reference, ReferenceError};
use std::collections::HashMap;

pub(crate) use crate::input::Naming;

/// Where a run's images go: `REGISTRY/NAMESPACE`, and how source names map into it.
#[derive(Debug, Clone)]
pub(crate) struct Namespace {
    /// `None`: only list lines with a full target of their own are valid (and `validate`
    /// shows a placeholder).
    pub(crate) registry: Option<String>,
    pub(crate) namespace: String,
    pub(crate) naming: Naming,
}

/// The target of `source` under `naming`. The tag is the source's; a source digest is not
/// part of the target (tags are what a mirror writes).
pub fn target_for(
    source: &Reference,
    naming: Naming,
    registry: &str,
    namespace: &str,
) -> Result<Reference, ReferenceError> {
    let path = match naming {
        Naming::Flatten => source
            .repository()
            .rsplit('/')
            .next()
            .unwrap_or(source.repository())
            .to_string(),
        Naming::Path => source.repository().to_string(),
        Naming::Full => format!(
            "{}/{}",
            source.registry().replace(':', "-"),
            source.repository()
        ),
    };
    place(registry, namespace, &path, source.tag().unwrap_or("latest"))
}

/// The target of a list entry: its own target when the line named one, else [`target_for`].
pub fn target_of_entry(
    entry: &Entry,
    naming: Naming,
    registry: &str,
    namespace: &str,
) -> Result<Reference, ReferenceError> {
    let tag = entry.source.tag().unwrap_or("latest");
    match &entry.target {
        Some(TargetSpec::Full(r)) if r.tag().is_some() || r.digest().is_some() => Ok(r.clone()),
        Some(TargetSpec::Full(r)) => Ok(r.with_tag(tag)),
        Some(TargetSpec::InNamespace { path, tag: own }) => {
            place(registry, namespace, path, own.as_deref().unwrap_or(tag))
        }
        None => target_for(&entry.source, naming, registry, namespace),
    }
}

fn place(
    registry: &str,
    namespace: &str,
    path: &str,
    tag: &str,
) -> Result<Reference, ReferenceError> {
    let ns = namespace.trim_matches('/');
    let text = if ns.is_empty() {
        format!("{registry}/{path}:{tag}")
    } else {
        format!("{registry}/{ns}/{path}:{tag}")
    };
    Reference::parse(&text)
}

/// Two different sources mapped to one target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "line {line} (`{source_ref}`) and line {first_line} (`{first_source}`) both map to `{target}`"
)]
pub struct Collision {
    pub target: String,
    pub first_line: usize,
    pub first_source: String,
    pub line: usize,
    pub source_ref: String,
}

/// Every collision among `(line, source, target)`; the same source twice is not one.
pub fn collisions(pairs: &[(usize, &Reference, &Reference)]) -> Vec<Collision> {
    let mut by_target: HashMap<String, (usize, String)> = HashMap::new();
    let mut out = Vec::new();
    for (line, source, target) in pairs {
        let t = target.to_string();
        let s = source.to_string();
        match by_target.get(&t) {
            Some((first_line, first_source)) if *first_source != s => out.push(Collision {
                target: t,
                first_line: *first_line,
                first_source: first_source.clone(),
                line: *line,
                source_ref: s,
            }),
            Some(_) => {}
            None => {
                by_target.insert(t, (*line, s));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Reference {
        Reference::parse(s).expect("reference")
    }

    #[test]
    fn the_three_namings() {
        let table = [
            (
                "gcr.io/google-containers/pause:3.9",
                Naming::Flatten,
                "r.io",
                "ns",
                "r.io/ns/pause:3.9",
            ),
            (
                "gcr.io/google-containers/pause:3.9",
                Naming::Path,
                "r.io",
                "ns",
                "r.io/ns/google-containers/pause:3.9",
            ),
            (
                "gcr.io/google-containers/pause:3.9",
                Naming::Full,
                "r.io",
                "ns",
                "r.io/ns/gcr.io/google-containers/pause:3.9",
            ),
            (
                "nginx:1.27",
                Naming::Flatten,
                "r.io",
                "ns",
                "r.io/ns/nginx:1.27",
            ),
            (
                "nginx:1.27",
                Naming::Path,
                "r.io",
                "ns",
                "r.io/ns/library/nginx:1.27",
            ),
            (
                "nginx:1.27",
                Naming::Full,
                "r.io",
                "a/b",
                "r.io/a/b/docker.io/library/nginx:1.27",
            ),
            (
                "localhost:5000/x/app:1",
                Naming::Full,
                "r.io",
                "ns",
                "r.io/ns/localhost-5000/x/app:1",
            ),
            (
                "quay.io/a/b:1",
                Naming::Flatten,
                "r.io:5000",
                "",
                "r.io:5000/b:1",
            ),
        ];
        for (src, naming, reg, ns, expected) in table {
            let t = target_for(&r(src), naming, reg, ns).expect("target");
            assert_eq!(t.to_string(), expected, "{src} {naming:?}");
        }
        let pinned = r(
            "nginx:1.27@sha256:0123456789012345678901234567890123456789012345678901234567890123",
        );
        assert_eq!(
            target_for(&pinned, Naming::Flatten, "r.io", "ns")
                .expect("target")
                .to_string(),
            "r.io/ns/nginx:1.27"
        );
    }

    #[test]
    fn collisions_name_both_lines() {
        let (a, b, c) = (
            r("gcr.io/x/pause:3.9"),
            r("registry.k8s.io/pause:3.9"),
            r("gcr.io/x/pause:3.9"),
        );
        let t = r("r.io/ns/pause:3.9");
        let found = collisions(&[(1, &a, &t), (2, &c, &t), (4, &b, &t)]);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].to_string(),
            "line 4 (`registry.k8s.io/pause:3.9`) and line 1 (`gcr.io/x/pause:3.9`) both map to `r.io/ns/pause:3.9`"
        );
    }
}
