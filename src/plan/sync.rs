//! Syncing repositories: list a repository's tags (or a namespace's repositories through
//! `/v2/_catalog`), apply the tag filters, and turn what is kept into copy jobs. Shared by the
//! `sync` command and the `sync:` jobs of `run --config`. Reads only; the engine copies.

use crate::copy::Engine;
use crate::input::tag_filter::{Sort, TagFilter};
use crate::plan::Pair;
use crate::reference::Reference;
use crate::registry::error::RegistryError;
use crate::registry::manifest::Parsed;
use crate::registry::{RegistryClient, Role};
use crate::report::{DroppedTag, RepoSelection};
use futures::{StreamExt, TryStreamExt};
use std::collections::HashMap;
use tracing::info;

/// One sync: a repository (or, with `all_repos`, a `REGISTRY/NAMESPACE`) into a target
/// repository (or target prefix).
#[derive(Debug, Clone)]
pub struct SyncSpec {
    /// `registry/repository` as written, without tag.
    pub source: String,
    /// `registry/repository` (or prefix) as written, without tag.
    pub target: String,
    pub all_repos: bool,
    pub filter: TagFilter,
    /// Tags or repositories asked for per page.
    pub page_size: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("`{text}` is not a repository: {message}")]
    Repository { text: String, message: String },
    #[error("`{registry}` offers no repository catalog (`/v2/_catalog`): {message}")]
    NoCatalog { registry: String, message: String },
    #[error("no repository of `{registry}` is under `{namespace}`")]
    EmptyNamespace { registry: String, namespace: String },
    #[error("cannot list the tags of `{repository}`: {source}")]
    Tags {
        repository: String,
        #[source]
        source: Box<RegistryError>,
    },
    #[error("cannot read `{reference}` to sort by `created`: {source}")]
    Created {
        reference: String,
        #[source]
        source: Box<RegistryError>,
    },
}

impl SyncError {
    pub fn hint(&self) -> Option<String> {
        match self {
            SyncError::Repository { .. } => Some(
                "write a repository without a tag, e.g. `docker.io/library/nginx`, and a target like `registry.example.com/mirrors/nginx`"
                    .into(),
            ),
            SyncError::NoCatalog { .. } => Some(
                "Docker Hub and most public registries do not list their repositories: sync them one by one (one `sync` per repository), or list the images in an `images:` job"
                    .into(),
            ),
            SyncError::EmptyNamespace { .. } => Some(
                "check the namespace, and that the credentials may list the catalog".into(),
            ),
            SyncError::Tags { source, .. } | SyncError::Created { source, .. } => {
                crate::hints::for_registry(source)
            }
        }
    }
}

/// The registry a `sync` source or target names: its first component, normalized like a
/// reference's (`nginx` alone means Docker Hub).
pub fn registry_of(text: &str) -> String {
    let first = text.trim().split('/').next().unwrap_or_default();
    Reference::parse(&format!("{first}/x"))
        .map(|r| r.registry().to_string())
        .unwrap_or_else(|_| first.to_string())
}

/// `registry/repository` without tag or digest.
pub fn repository(text: &str) -> Result<Reference, SyncError> {
    let bad = |message: String| SyncError::Repository {
        text: text.to_string(),
        message,
    };
    let r = Reference::parse(text.trim()).map_err(|e| bad(e.to_string()))?;
    if r.tag().is_some() || r.digest().is_some() {
        return Err(bad("it names a tag or digest".into()));
    }
    Ok(r)
}

/// What can be refused without a request: names that are not repositories, and a namespace
/// sync from a registry that has no catalog (Docker Hub).
pub fn check(spec: &SyncSpec) -> Result<(), SyncError> {
    if spec.all_repos {
        namespace_of(spec).map(drop)
    } else {
        repository(&spec.source)?;
        repository(&spec.target)?;
        Ok(())
    }
}

/// The registry and namespace of a namespace sync, refused when the registry lists nothing.
fn namespace_of(spec: &SyncSpec) -> Result<(Reference, String), SyncError> {
    let text = spec.source.trim().trim_end_matches('/');
    let (registry, namespace) = text.split_once('/').unwrap_or((text, ""));
    let probe = Reference::parse(&format!("{registry}/x")).map_err(|e| SyncError::Repository {
        text: text.to_string(),
        message: e.to_string(),
    })?;
    if probe.registry() != registry || probe.registry() == "docker.io" {
        return Err(SyncError::NoCatalog {
            registry: probe.registry().to_string(),
            message: "Docker Hub does not list repositories".into(),
        });
    }
    Ok((probe, namespace.to_string()))
}

/// The jobs of a sync and what the filters did, per source repository.
pub async fn plan(
    engine: &Engine,
    spec: &SyncSpec,
) -> Result<(Vec<Pair>, Vec<RepoSelection>), SyncError> {
    let pairs = if spec.all_repos {
        namespace_pairs(engine, spec).await?
    } else {
        vec![(repository(&spec.source)?, repository(&spec.target)?)]
    };
    let mut jobs = Vec::new();
    let mut selections = Vec::new();
    for (src, dst) in pairs {
        let client = engine
            .session
            .client(src.registry(), src.api_host(), Role::Source)
            .await
            .map_err(|source| SyncError::Tags {
                repository: src.to_string(),
                source: Box::new(source),
            })?;
        let tags = client
            .tag_list(src.repository(), spec.page_size)
            .await
            .map_err(|source| SyncError::Tags {
                repository: src.to_string(),
                source: Box::new(source),
            })?;
        // The run's referrer lookups read this listing instead of listing again.
        engine.know_tags(client.host(), src.repository(), &tags);
        // Signature, SBOM and attestation tags (`sha256-<hex>`, `.sig`, `.att`, `.sbom`) are
        // not images: they follow the images they refer to (`--referrers`).
        let (referrer_tags, tags): (Vec<String>, Vec<String>) = tags
            .into_iter()
            .partition(|t| crate::copy::referrers::is_referrer_tag(t));
        let created = if spec.filter.sort == Sort::Created {
            let (candidates, _) = spec.filter.matching(&tags);
            info!(
                repository = %src,
                "sorting {} tags by `created` reads each one's manifest and config: about {} requests",
                candidates.len(),
                candidates.len() * 2
            );
            created_dates(&client, &src, &candidates).await?
        } else {
            HashMap::new()
        };
        let selection = spec.filter.select(&tags, &created);
        for t in &selection.kept {
            jobs.push(Pair {
                source: src.with_tag(t),
                target: dst.with_tag(t),
            });
        }
        let follows = "a signature, SBOM or attestation tag: it follows the image it refers to";
        selections.push(RepoSelection {
            source: src.to_string(),
            target: dst.to_string(),
            tags: tags.len() + referrer_tags.len(),
            kept: selection.kept,
            dropped: selection
                .dropped
                .into_iter()
                .chain(referrer_tags.into_iter().map(|t| (t, follows.to_string())))
                .map(|(tag, reason)| DroppedTag { tag, reason })
                .collect(),
        });
    }
    Ok((jobs, selections))
}

/// The repositories under `REGISTRY/NAMESPACE`, each with its target below the target prefix.
async fn namespace_pairs(
    engine: &Engine,
    spec: &SyncSpec,
) -> Result<Vec<(Reference, Reference)>, SyncError> {
    let (probe, namespace) = namespace_of(spec)?;
    let registry = probe.registry();
    let namespace = namespace.as_str();
    let client = engine
        .session
        .client(probe.registry(), probe.api_host(), Role::Source)
        .await
        .map_err(|e| SyncError::NoCatalog {
            registry: registry.to_string(),
            message: e.to_string(),
        })?;
    let all = client
        .catalog(spec.page_size)
        .await
        .map_err(|e| SyncError::NoCatalog {
            registry: registry.to_string(),
            message: e.to_string(),
        })?;
    let prefix = if namespace.is_empty() {
        String::new()
    } else {
        format!("{namespace}/")
    };
    let target = spec.target.trim().trim_end_matches('/');
    let mut pairs = Vec::new();
    for repo in all {
        let Some(rest) = repo.strip_prefix(&prefix) else {
            continue;
        };
        pairs.push((
            repository(&format!("{registry}/{repo}"))?,
            repository(&format!("{target}/{rest}"))?,
        ));
    }
    if pairs.is_empty() {
        return Err(SyncError::EmptyNamespace {
            registry: registry.to_string(),
            namespace: namespace.to_string(),
        });
    }
    Ok(pairs)
}

/// `created` of each tag's image config (an index: its first image's).
async fn created_dates(
    client: &RegistryClient,
    repo: &Reference,
    tags: &[String],
) -> Result<HashMap<String, String>, SyncError> {
    // Several tags at once: each is two or three small requests, round trips dominate.
    let found: Vec<Option<(String, String)>> = futures::stream::iter(tags)
        .map(|tag| async move {
            created_of(client, repo, tag)
                .await
                .map(|c| c.map(|c| (tag.clone(), c)))
                .map_err(|source| SyncError::Created {
                    reference: repo.with_tag(tag).to_string(),
                    source: Box::new(source),
                })
        })
        .buffered(8)
        .try_collect()
        .await?;
    Ok(found.into_iter().flatten().collect())
}

/// `created` of one tag's image config (an index: its first image's), when it has one.
async fn created_of(
    client: &RegistryClient,
    repo: &Reference,
    tag: &str,
) -> Result<Option<String>, RegistryError> {
    let mut raw = client.manifest_get(repo.repository(), tag, None).await?;
    if let Ok(Parsed::Index(idx)) = raw.parse() {
        let Some(first) = idx.manifests.first() else {
            return Ok(None);
        };
        raw = client
            .manifest_get(
                repo.repository(),
                first.digest.as_str(),
                Some(&first.digest),
            )
            .await?;
    }
    let Ok(Parsed::Image(img)) = raw.parse() else {
        return Ok(None);
    };
    let config = client
        .blob_get_small(repo.repository(), &img.config.digest, 4 << 20)
        .await?;
    Ok(serde_json::from_slice::<serde_json::Value>(&config)
        .ok()
        .and_then(|v| v["created"].as_str().map(normalize_time)))
}

/// RFC 3339 as UTC text that sorts by time (`humantime` reads it; fall back to the text).
fn normalize_time(s: &str) -> String {
    humantime::parse_rfc3339_weak(s.trim_end_matches('Z').split('.').next().unwrap_or(s))
        .map(|t| humantime::format_rfc3339_seconds(t).to_string())
        .unwrap_or_else(|_| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_have_no_tag() {
        assert_eq!(
            repository("nginx").expect("repo").to_string(),
            "docker.io/library/nginx"
        );
        let e = repository("nginx:1.27").expect_err("tag");
        assert_eq!(
            e.to_string(),
            "`nginx:1.27` is not a repository: it names a tag or digest"
        );
    }

    #[test]
    fn times_sort_as_text() {
        assert_eq!(
            normalize_time("2024-03-01T10:00:00.123456789Z"),
            "2024-03-01T10:00:00Z"
        );
    }
}
