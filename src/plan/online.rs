//! `validate --online`: each source looked up before anything is copied, with `HEAD`s and tag
//! listings (and, off Docker Hub, one read of a multi-platform index for its platforms): no
//! blob is read and nothing is written. What is missing comes with what exists: the nearest
//! tags, a repository's likely name, the platforms an image has.

use crate::copy::image::manifest_ref;
use crate::copy::{Engine, Platforms};
use crate::digest::Digest;
use crate::plan::list::LinePair;
use crate::reference::Reference;
use crate::registry::error::RegistryError;
use crate::registry::manifest::{Parsed, RawManifest};
use crate::registry::platform::Platform;
use crate::registry::Role;
use crate::report::ImageReport;
use futures::StreamExt;
use serde::Serialize;

/// Sources looked up at once.
const AT_ONCE: usize = 32;

/// What one source line came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Lookup {
    /// There; `platforms` empty when not read (a single image, or Docker Hub's pull limit).
    Found {
        digest: String,
        platforms: Vec<String>,
        /// Why the platforms were not read, when they were not.
        #[serde(skip_serializing_if = "Option::is_none")]
        unread: Option<String>,
    },
    /// There, but without (some of) the platforms asked for.
    MissingPlatform {
        digest: String,
        missing: Vec<String>,
        platforms: Vec<String>,
    },
    MissingTag {
        tag: String,
        nearest: Vec<String>,
    },
    /// No such repository (or none these credentials may read).
    MissingRepository {
        likely: Vec<String>,
    },
    /// The registry could not be asked.
    Unreachable {
        error: String,
    },
}

impl Lookup {
    pub fn is_fine(&self) -> bool {
        matches!(self, Lookup::Found { .. })
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            Lookup::Found {
                platforms, unread, ..
            } => match (platforms.is_empty(), unread) {
                (false, _) => format!("found [{}]", platforms.join(", ")),
                (true, Some(why)) => format!("found (platforms not read: {why})"),
                (true, None) => "found".into(),
            },
            Lookup::MissingPlatform {
                missing, platforms, ..
            } => format!(
                "no {} in this image; it has {}",
                missing.join(", "),
                platforms.join(", ")
            ),
            Lookup::MissingTag { tag, nearest } if nearest.is_empty() => {
                format!("no tag `{tag}`, and none near it")
            }
            Lookup::MissingTag { tag, nearest } => {
                format!("no tag `{tag}`; nearest: {}", nearest.join(", "))
            }
            Lookup::MissingRepository { likely } if likely.is_empty() => {
                "no such repository (or it is not readable with these credentials)".into()
            }
            Lookup::MissingRepository { likely } => format!(
                "no such repository (or it is not readable with these credentials); did you mean {}?",
                likely.join(" or ")
            ),
            Lookup::Unreachable { error } => format!("could not look it up: {error}"),
        }
    }
}

/// A source looked up, with the multi-platform index read on the way (off Docker Hub), so
/// what comes next need not read it again.
#[derive(Debug, Clone)]
pub struct LookedUp {
    pub lookup: Lookup,
    pub index: Option<RawManifest>,
}

impl Lookup {
    /// What to do about a line that cannot be copied.
    pub fn hint(&self) -> Option<String> {
        match self {
            Lookup::MissingTag { nearest, .. } => nearest
                .first()
                .map(|t| format!("write one of the tags that exist, e.g. `{t}`")),
            Lookup::MissingPlatform { platforms, .. } => Some(format!(
                "ask for platforms the image has (e.g. `{}`), or for all of them",
                platforms
                    .first()
                    .map(String::as_str)
                    .unwrap_or("linux/amd64")
            )),
            Lookup::MissingRepository { .. } => Some(
                "check the name; a private repository needs the source registry's credentials"
                    .into(),
            ),
            Lookup::Found { .. } | Lookup::Unreachable { .. } => None,
        }
    }
}

/// A line that cannot be copied: a failed image whose error names the line, what is missing
/// and what exists instead.
pub fn not_copied(line: usize, source: &str, target: &str, lookup: &Lookup) -> ImageReport {
    let mut report = ImageReport::new(source, target);
    let mut error = format!("line {line}: not copied: {}", lookup.describe());
    if let Some(h) = lookup.hint() {
        error.push_str(&format!("\nhint: {h}"));
    }
    report.error = Some(error);
    report
}

/// The lines to copy (found, or not reachable: the copy then says why), and those that cannot
/// be copied, with what their look-up found.
pub(crate) fn split(
    jobs: Vec<LinePair>,
    lookups: Vec<Lookup>,
) -> (Vec<LinePair>, Vec<(LinePair, Lookup)>) {
    let (fine, refused): (Vec<_>, Vec<_>) = jobs
        .into_iter()
        .zip(lookups)
        .partition(|(_, l)| l.is_fine() || matches!(l, Lookup::Unreachable { .. }));
    (fine.into_iter().map(|(j, _)| j).collect(), refused)
}

/// Look every source up, in order, [`AT_ONCE`] at a time.
pub async fn look_up(engine: &Engine, sources: &[Reference], platforms: &Platforms) -> Vec<Lookup> {
    look_up_keeping_index(engine, sources, platforms)
        .await
        .into_iter()
        .map(|l| l.lookup)
        .collect()
}

/// [`look_up`], keeping the indexes it read.
pub async fn look_up_keeping_index(
    engine: &Engine,
    sources: &[Reference],
    platforms: &Platforms,
) -> Vec<LookedUp> {
    expect(engine, sources.iter().map(|s| (s, Role::Source))).await;
    futures::stream::iter(sources)
        .map(|s| look_up_one(engine, s, Some(platforms)))
        .buffered(AT_ONCE)
        .collect()
        .await
}

/// Tell each registry's client the repositories it will be asked about, so that one token
/// covers those asked about together (a client that cannot be made fails its look-up later).
pub(crate) async fn expect<'a>(engine: &Engine, refs: impl Iterator<Item = (&'a Reference, Role)>) {
    for (r, role) in refs {
        if let Ok(client) = engine
            .session
            .client(r.registry(), r.api_host(), role)
            .await
        {
            client.expect_repository(r.repository());
        }
    }
}

/// One source looked up; `platforms`: those asked for, checked in a multi-platform index (read
/// for it), or `None` to leave the index to the copy.
pub(crate) async fn look_up_one(
    engine: &Engine,
    source: &Reference,
    platforms: Option<&Platforms>,
) -> LookedUp {
    match look(engine, source, platforms).await {
        Ok((lookup, index)) => LookedUp { lookup, index },
        Err(e) => LookedUp {
            lookup: Lookup::Unreachable {
                error: e.to_string(),
            },
            index: None,
        },
    }
}

/// A repository that is not there (or not readable): the registry's 404, or the 401/403 that
/// Docker Hub gives for a repository that does not exist.
fn absent(e: &RegistryError) -> bool {
    matches!(e, RegistryError::NameUnknown { .. }) || matches!(e.status(), Some(401 | 403 | 404))
}

async fn look(
    engine: &Engine,
    source: &Reference,
    platforms: Option<&Platforms>,
) -> Result<(Lookup, Option<RawManifest>), RegistryError> {
    let client = engine
        .session
        .client(source.registry(), source.api_host(), Role::Source)
        .await?;
    let repo = source.repository();
    let missing_repo = || Lookup::MissingRepository {
        likely: crate::suggest::likely_repositories(source.registry(), repo),
    };
    let head = match client.manifest_head(repo, &manifest_ref(source)).await {
        Ok(h) => h,
        Err(e) if absent(&e) => return Ok((missing_repo(), None)),
        Err(e) => return Err(e),
    };
    let Some(head) = head else {
        // The tag or the repository is missing: the tag list tells which.
        let lookup = match client.tag_list(repo, None).await {
            Ok(tags) => match source.tag() {
                Some(tag) => Lookup::MissingTag {
                    tag: tag.to_string(),
                    nearest: crate::suggest::nearest_tags(tag, &tags),
                },
                // A digest that is not there: no tag to be near.
                None => Lookup::MissingTag {
                    tag: source.digest().map(Digest::to_string).unwrap_or_default(),
                    nearest: Vec::new(),
                },
            },
            Err(e) if absent(&e) => missing_repo(),
            Err(e) => return Err(e),
        };
        return Ok((lookup, None));
    };
    // The copy that follows starts from this answer (one HEAD an image, not two).
    engine.saw_head(client.host(), repo, &manifest_ref(source), head.clone());
    let digest = head.digest.to_string();
    let is_index = matches!(
        head.media_type.as_str(),
        crate::registry::manifest::media_type::OCI_INDEX
            | crate::registry::manifest::media_type::DOCKER_LIST
    );
    if !is_index {
        let found = Lookup::Found {
            digest,
            platforms: Vec::new(),
            unread: Some("a single-platform image (its platform is in its config blob)".into()),
        };
        return Ok((found, None));
    }
    let Some(platforms) = platforms else {
        let found = Lookup::Found {
            digest,
            platforms: Vec::new(),
            unread: Some("left to the copy".into()),
        };
        return Ok((found, None));
    };
    if source.registry() == crate::plan::pull_budget::DOCKER_HUB {
        let found = Lookup::Found {
            digest,
            platforms: Vec::new(),
            unread: Some("reading the index would count as a Docker Hub pull".into()),
        };
        return Ok((found, None));
    }
    let index = client
        .manifest_get(repo, head.digest.as_str(), Some(&head.digest))
        .await?;
    // The copy that follows reads its index from here too.
    engine.saw_manifest(client.host(), repo, index.clone());
    let has: Vec<Platform> = match index.parse().map_err(RegistryError::Manifest)? {
        Parsed::Index(i) => i
            .manifests
            .iter()
            .filter(|d| !d.is_attestation())
            .filter_map(|d| d.platform.clone())
            .collect(),
        Parsed::Image(_) => Vec::new(),
    };
    let names: Vec<String> = has.iter().map(Platform::to_string).collect();
    let missing: Vec<String> = match platforms {
        Platforms::All => Vec::new(),
        Platforms::Only(wanted) => wanted
            .iter()
            .filter(|w| !has.iter().any(|h| w.matches(h)))
            .map(Platform::to_string)
            .collect(),
    };
    let lookup = match missing.is_empty() {
        true => Lookup::Found {
            digest,
            platforms: names,
            unread: None,
        },
        false => Lookup::MissingPlatform {
            digest,
            missing,
            platforms: names,
        },
    };
    Ok((lookup, Some(index)))
}
