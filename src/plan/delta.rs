//! `validate --online`: what a source that was found would move to its target. The target's
//! tag is looked at with a `HEAD` (the same digest: up to date, nothing more is asked); else the
//! source's manifests are read (the index the look-up read is reused, then the children the
//! platforms select) and the push plan says which blobs the copy needs; each is looked for on
//! the target with a `HEAD`. No blob is read and nothing is written, on either side. On Docker
//! Hub a manifest `GET` counts as a pull, so nothing is counted there.

use crate::copy::image::manifest_ref;
use crate::copy::push::{self, PushPlanError, SourceTree};
use crate::copy::{Engine, Format, Platforms};
use crate::digest::Digest;
use crate::plan::online::{LookedUp, Lookup};
use crate::reference::Reference;
use crate::registry::error::RegistryError;
use crate::registry::manifest::{Parsed, RawManifest};
use crate::registry::profile::ProfileChoice;
use crate::registry::Role;
use crate::report::human_bytes;
use futures::{StreamExt, TryStreamExt};
use std::collections::HashMap;

/// Manifests and blobs asked about at once, per line.
const AT_ONCE: usize = 8;
/// Lines counted at once.
const LINES_AT_ONCE: usize = 4;

/// What a copy of one found source would move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delta {
    /// The target's tag already points at what would be written.
    UpToDate,
    /// The blobs the copy needs, and how many of them (and their bytes) the target lacks.
    Moves {
        bytes: u64,
        blobs_missing: usize,
        blobs_total: usize,
        /// What the copy would write otherwise than asked, for the target: (change, why).
        adapted: Vec<(String, String)>,
    },
    /// Not counted, and why.
    NotCounted(String),
}

/// Why the blobs could not be counted.
#[derive(Debug, thiserror::Error)]
enum CountError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Plan(#[from] PushPlanError),
}

impl Delta {
    /// The end of the line `validate --online` prints for a found source.
    pub fn describe(&self) -> String {
        match self {
            Delta::UpToDate => "up to date (the target tag points at what would be written)".into(),
            Delta::Moves {
                bytes,
                blobs_missing,
                blobs_total,
                adapted,
            } => {
                let mut line = format!(
                    "would move {} in {blobs_missing} of {blobs_total} blob{}",
                    human_bytes(*bytes),
                    if *blobs_total == 1 { "" } else { "s" }
                );
                for (change, why) in adapted {
                    line.push_str(&format!("; {change}: {why}"));
                }
                line
            }
            Delta::NotCounted(why) => format!("bytes not counted: {why}"),
        }
    }

    /// The fields `--json` adds to a found line's `lookup`.
    pub fn json(&self) -> serde_json::Map<String, serde_json::Value> {
        let value = match self {
            Delta::UpToDate => {
                serde_json::json!({"up_to_date": true, "bytes": 0, "blobs_missing": 0})
            }
            Delta::Moves {
                bytes,
                blobs_missing,
                blobs_total,
                adapted,
            } => {
                let mut v = serde_json::json!({
                    "up_to_date": false,
                    "bytes": bytes,
                    "blobs_missing": blobs_missing,
                    "blobs_total": blobs_total,
                });
                if !adapted.is_empty() {
                    v["adapted"] = adapted
                        .iter()
                        .map(|(change, reason)| serde_json::json!({"change": change, "reason": reason}))
                        .collect();
                }
                v
            }
            Delta::NotCounted(why) => serde_json::json!({"bytes_not_counted": why}),
        };
        match value {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        }
    }
}

/// For each line (its source and target, and what looking the source up found), what its copy
/// would move: `None` where the source was not found, not counted when `not_counted` says why.
pub async fn count_lines(
    engine: &Engine,
    lines: &[(&Reference, &Reference)],
    looked: &[LookedUp],
    not_counted: Option<&str>,
    how: (&Platforms, Format, ProfileChoice),
) -> Vec<Option<Delta>> {
    if not_counted.is_none() {
        let targets = lines.iter().map(|(_, t)| (*t, Role::Target));
        crate::plan::online::expect(engine, targets).await;
    }
    futures::stream::iter(lines.iter().zip(looked))
        .map(|((source, target), l)| async move {
            let Lookup::Found { digest, .. } = &l.lookup else {
                return None;
            };
            if let Some(why) = not_counted {
                return Some(Delta::NotCounted(why.to_string()));
            }
            let Ok(digest) = digest.parse::<Digest>() else {
                return Some(Delta::NotCounted("the source's digest is not valid".into()));
            };
            Some(count(engine, source, target, &digest, l.index.as_ref(), how).await)
        })
        .buffered(LINES_AT_ONCE)
        .collect()
        .await
}

/// What copying `source` (found at `digest`; `index`: its index when the look-up read it) to
/// `target` under `platforms` and `format` would move.
async fn count(
    engine: &Engine,
    source: &Reference,
    target: &Reference,
    digest: &Digest,
    index: Option<&RawManifest>,
    how: (&Platforms, Format, ProfileChoice),
) -> Delta {
    let platforms = how.0;
    if source.registry() == crate::plan::pull_budget::DOCKER_HUB {
        return Delta::NotCounted("reading Docker Hub's manifests would count as pulls".into());
    }
    let counted = async {
        let to = engine
            .session
            .client(target.registry(), target.api_host(), Role::Target)
            .await?;
        let repo = target.repository();
        let existing = to.manifest_head(repo, &manifest_ref(target)).await?;
        if existing.as_ref().is_some_and(|e| e.digest == *digest) {
            return Ok(Delta::UpToDate);
        }
        let tree = tree(engine, source, digest, index, platforms).await?;
        // As the copy would write it for this target (its profile, what it refused before).
        let (plan, _, adapted) = engine.plan_for_host(to.host(), &tree, how)?;
        let adapted = adapted
            .into_iter()
            .map(|(change, why)| (change.to_string(), why))
            .collect();
        if existing.is_some_and(|e| e.digest == plan.top.digest) {
            return Ok(Delta::UpToDate);
        }
        let present: Vec<Option<u64>> = futures::stream::iter(&plan.blobs)
            .map(|b| {
                let to = to.clone();
                async move {
                    let there = to.blob_head(repo, &b.digest).await?;
                    Ok::<_, RegistryError>(there.is_none().then_some(b.size))
                }
            })
            .buffer_unordered(AT_ONCE)
            .try_collect()
            .await?;
        let missing: Vec<u64> = present.into_iter().flatten().collect();
        Ok::<_, CountError>(Delta::Moves {
            bytes: missing.iter().sum(),
            blobs_missing: missing.len(),
            blobs_total: plan.blobs.len(),
            adapted,
        })
    };
    counted
        .await
        .unwrap_or_else(|e| Delta::NotCounted(format!("could not count them: {e}")))
}

/// The source's top manifest and the children `platforms` select, read by digest.
async fn tree(
    engine: &Engine,
    source: &Reference,
    digest: &Digest,
    index: Option<&RawManifest>,
    platforms: &Platforms,
) -> Result<SourceTree, CountError> {
    let from = engine
        .session
        .client(source.registry(), source.api_host(), Role::Source)
        .await?;
    let repo = source.repository();
    let top = match index {
        Some(i) if i.digest == *digest => i.clone(),
        _ => {
            from.manifest_get(repo, digest.as_str(), Some(digest))
                .await?
        }
    };
    let mut children = HashMap::new();
    if let Parsed::Index(_) = top.parse().map_err(PushPlanError::Manifest)? {
        let selection = push::select(&top, platforms)?;
        let fetched: Vec<RawManifest> = futures::stream::iter(selection.to_fetch())
            .map(|d| {
                let from = from.clone();
                async move { from.manifest_get(repo, d.as_str(), Some(&d)).await }
            })
            .buffer_unordered(AT_ONCE)
            .try_collect()
            .await?;
        children = fetched.into_iter().map(|m| (m.digest.clone(), m)).collect();
    }
    Ok(SourceTree {
        top,
        children,
        config_platform: None,
        config: None,
    })
}

#[cfg(test)]
mod tests {
    use super::Delta;

    #[test]
    fn a_found_line_says_what_it_would_move() {
        let moves = |bytes, blobs_missing, blobs_total| Delta::Moves {
            bytes,
            blobs_missing,
            blobs_total,
            adapted: Vec::new(),
        };
        assert_eq!(
            moves(12_897_485, 4, 7).describe(),
            "would move 12.3 MiB in 4 of 7 blobs"
        );
        assert_eq!(moves(0, 0, 1).describe(), "would move 0 B in 0 of 1 blob");
        assert_eq!(
            serde_json::Value::Object(moves(10, 1, 2).json()),
            serde_json::json!({"up_to_date": false, "bytes": 10, "blobs_missing": 1, "blobs_total": 2})
        );
        assert_eq!(
            serde_json::Value::Object(Delta::UpToDate.json()),
            serde_json::json!({"up_to_date": true, "bytes": 0, "blobs_missing": 0})
        );
        let mut swr = moves(10, 1, 2);
        if let Delta::Moves { adapted, .. } = &mut swr {
            adapted.push((
                "written as Docker v2s2".into(),
                "Huawei SWR refuses OCI indexes".into(),
            ));
        }
        assert_eq!(
            swr.describe(),
            "would move 10 B in 1 of 2 blobs; written as Docker v2s2: Huawei SWR refuses OCI indexes"
        );
        assert_eq!(
            swr.json()["adapted"],
            serde_json::json!([{"change": "written as Docker v2s2", "reason": "Huawei SWR refuses OCI indexes"}])
        );
        let not = Delta::NotCounted("no target registry given".into());
        assert_eq!(
            not.describe(),
            "bytes not counted: no target registry given"
        );
        assert_eq!(
            serde_json::Value::Object(not.json()),
            serde_json::json!({"bytes_not_counted": "no target registry given"})
        );
    }
}
