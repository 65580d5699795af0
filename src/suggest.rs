//! Suggestions for names that do not exist: the nearest tags of a repository, a repository's
//! likely name (Docker Hub's `library/`, registries that moved), and keys a little off. Pure
//! functions over what a registry listed; nothing here makes a request.

use crate::input::tag_filter::compare_versions;

/// At most this many tags are suggested.
pub const TAGS_SHOWN: usize = 5;

/// Registries (and namespaces) that moved, with where their images went: `from` prefix of a
/// `registry/repository` name -> `to` prefix.
const MOVES: &[(&str, &str)] = &[
    ("k8s.gcr.io/", "registry.k8s.io/"),
    ("gcr.io/google_containers/", "registry.k8s.io/"),
    ("gcr.io/google-containers/", "registry.k8s.io/"),
    ("docker.io/bitnami/", "docker.io/bitnamilegacy/"),
    (
        "quay.io/kubernetes-ingress-controller/",
        "registry.k8s.io/ingress-nginx/",
    ),
];

/// Edit distance (Levenshtein), for "did you mean".
pub fn distance(a: &str, b: &str) -> usize {
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

/// `major.minor` of a version-like tag (`v1.27.3-alpine` -> `1.27`), and what follows the
/// version (`-alpine`), so `1.27.9-alpine` is near `1.27.3-alpine` and not `1.27.3`.
fn family(tag: &str) -> Option<(String, String)> {
    let t = tag.strip_prefix('v').unwrap_or(tag);
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (version, rest) = t.split_at(end);
    let mut parts = version.split('.').filter(|p| !p.is_empty());
    let (major, minor) = (parts.next()?, parts.next()?);
    Some((format!("{major}.{minor}"), rest.to_string()))
}

/// The tags of `existing` nearest `wanted`: those of the same `major.minor` (and suffix),
/// newest first; then close spellings, closest first. At most [`TAGS_SHOWN`].
pub fn nearest_tags(wanted: &str, existing: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(fam) = family(wanted) {
        let mut same: Vec<&String> = existing
            .iter()
            .filter(|t| family(t).as_ref() == Some(&fam))
            .collect();
        same.sort_by(|a, b| compare_versions(b, a));
        out.extend(same.into_iter().take(TAGS_SHOWN).cloned());
    }
    let limit = (wanted.chars().count() / 3).max(2);
    let mut close: Vec<(usize, &String)> = existing
        .iter()
        .filter(|t| !out.contains(t))
        .map(|t| (distance(wanted, t), t))
        .filter(|(d, _)| *d <= limit)
        .collect();
    // Equally close: the newer first.
    close.sort_by(|(da, a), (db, b)| da.cmp(db).then_with(|| compare_versions(b, a)));
    out.extend(
        close
            .into_iter()
            .map(|(_, t)| t.clone())
            .take(TAGS_SHOWN.saturating_sub(out.len())),
    );
    out.truncate(TAGS_SHOWN);
    out
}

/// Names a missing `registry/repository` likely meant: a registry that moved, or Docker Hub's
/// official image of the same last name (`docker.io/library/<last>`).
pub fn likely_repositories(registry: &str, repository: &str) -> Vec<String> {
    let full = format!("{registry}/{repository}");
    let mut out: Vec<String> = MOVES
        .iter()
        .filter_map(|(from, to)| full.strip_prefix(from).map(|rest| format!("{to}{rest}")))
        .collect();
    if registry == "docker.io" && !repository.starts_with("library/") {
        if let Some(last) = repository.rsplit('/').next() {
            out.push(format!("docker.io/library/{last}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn same_minor_newest_first_then_close_spellings() {
        let existing = tags(&[
            "1.26.3",
            "1.27.0",
            "1.27.10",
            "1.27.2",
            "1.27.3-alpine",
            "1.28.0",
            "latest",
            "1.27.1",
        ]);
        assert_eq!(
            nearest_tags("1.27.9", &existing),
            vec!["1.27.10", "1.27.2", "1.27.1", "1.27.0", "1.28.0"]
        );
        assert_eq!(nearest_tags("1.27.9-alpine", &existing)[0], "1.27.3-alpine");
        assert_eq!(nearest_tags("lastest", &existing), vec!["latest"]);
        assert!(nearest_tags("zzzzzz", &existing).is_empty());
    }

    #[test]
    fn moved_registries_and_docker_hub_official_images() {
        assert_eq!(
            likely_repositories("k8s.gcr.io", "pause"),
            vec!["registry.k8s.io/pause"]
        );
        assert_eq!(
            likely_repositories("docker.io", "bitnami/redis"),
            vec!["docker.io/bitnamilegacy/redis", "docker.io/library/redis"]
        );
        assert!(likely_repositories("ghcr.io", "o/app").is_empty());
        assert!(likely_repositories("docker.io", "library/nginx").is_empty());
    }

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("images", "imagez"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
