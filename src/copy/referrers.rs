//! Referrers follow their images: after an image's manifests are in place, the signatures,
//! SBOMs and attestations that refer to them are found at the source and copied byte for byte,
//! then their own referrers (a signature on an SBOM), down to [`MAX_DEPTH`].
//!
//! Found three ways: the referrers API (`GET /v2/<name>/referrers/<digest>`); where a registry
//! has none (a 404, remembered per host for the run), the tag schema's fallback index (tag
//! `sha256-<hex>`); and cosign's older tags `sha256-<hex>.sig`, `.att`, `.sbom`. Tags are looked
//! for in one tag listing of the source repository per run, not one request per name.
//!
//! At the target, a referrer by digest goes up after its blobs; a target that does not answer
//! its `PUT` with `OCI-Subject` keeps no referrers itself, so the fallback index there is read,
//! merged by digest (entries others put there stay) and written back. A cosign tag is written
//! under its name. A referrer whose subject was converted (a new digest) cannot follow: it is
//! reported as dropped, which never fails the run.
//!
//! Registries and OCI layouts as sources and targets: registries only; a layout on either side
//! has no referrers here.

use super::source::Source;
use super::target::{Target, Transfer};
use super::{CopyOptions, Engine, ReferrerMode};
use crate::digest::Digest;
use crate::registry::error::RegistryError;
use crate::registry::manifest::{media_type, Descriptor, Parsed, RawManifest};
use crate::registry::profile::{Capability, ProfileChoice};
use crate::registry::referrers::{fallback_tag, index_entries, Listed};
use crate::registry::RegistryClient;
use crate::report::{ReferrerKind, ReferrerReport, ReferrerStatus};
use bytes::Bytes;
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use tracing::{debug, warn};

/// Referrers of referrers are followed this deep (1: those of the image's own manifests).
pub(crate) const MAX_DEPTH: usize = 3;
/// At most this many referrers follow one image (all depths).
const MAX_PER_IMAGE: usize = 256;

/// cosign's tag suffixes, with what each holds.
const COSIGN_TAGS: [(&str, ReferrerKind); 3] = [
    (".sig", ReferrerKind::Signature),
    (".att", ReferrerKind::Attestation),
    (".sbom", ReferrerKind::Sbom),
];

/// One manifest of the source image as a subject: its digest there, and why the target does
/// not hold it under that digest, when it does not (its referrers then cannot follow).
#[derive(Debug, Clone)]
pub(crate) struct Subject {
    pub(crate) digest: Digest,
    pub(crate) lost: Option<Lost>,
}

/// Why a subject is not at the target under its own digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lost {
    /// Converted to another format: a new digest.
    Converted,
    /// A multi-platform index of which only some platforms were copied.
    Filtered,
    /// An index rewritten for the target: its attestation manifests left out.
    Rewritten,
}

impl Lost {
    fn why(self, subject: &Digest, kind: ReferrerKind) -> String {
        let kind = kind.as_str();
        match self {
            Lost::Converted => format!(
                "its subject {subject} was converted to another digest, which the {kind} does \
                 not refer to; hint: --format preserve keeps digests, and with them the {kind}"
            ),
            Lost::Filtered => format!(
                "its subject {subject} is the multi-platform index, of which only the platforms \
                 asked for were copied; hint: --all-platforms (with --format preserve for OCI \
                 images) copies the index as it is, and with it the {kind}"
            ),
            Lost::Rewritten => format!(
                "its subject {subject} is the multi-platform index, written with its \
                 attestation manifests left out (the target refuses them): a new digest, which \
                 the {kind} does not refer to"
            ),
        }
    }
}

/// The subjects of a copy: every source manifest that was fetched; one the written manifests
/// do not include was `converted`, or else left out by the platforms asked for (`filtered`),
/// or else rewritten without attestations.
pub(crate) fn subjects(
    source: &[&Digest],
    written: &[&Digest],
    converted: bool,
    filtered: bool,
) -> Vec<Subject> {
    let written: HashSet<&Digest> = written.iter().copied().collect();
    let mut seen = HashSet::new();
    source
        .iter()
        .filter(|d| seen.insert(**d))
        .map(|d| Subject {
            digest: (*d).clone(),
            lost: match (written.contains(d), converted, filtered) {
                (true, _, _) => None,
                (false, true, _) => Some(Lost::Converted),
                (false, false, true) => Some(Lost::Filtered),
                (false, false, false) => Some(Lost::Rewritten),
            },
        })
        .collect()
}

/// Where a referrer was found.
#[derive(Debug, Clone)]
enum Via {
    /// In the referrers API's answer or the fallback index: pushed by digest.
    Index(Box<Descriptor>),
    /// A cosign tag: pushed under this tag.
    Tag(String),
}

/// One referrer found at the source.
#[derive(Debug, Clone)]
struct Found {
    digest: Digest,
    kind: ReferrerKind,
    via: Via,
}

/// A tag that names referrers rather than an image: the tag schema's `sha256-<hex>` and
/// cosign's `sha256-<hex>.sig`, `.att`, `.sbom`.
pub fn is_referrer_tag(tag: &str) -> bool {
    let Some(rest) = tag.strip_prefix("sha256-") else {
        return false;
    };
    let hex = COSIGN_TAGS
        .iter()
        .find_map(|(suffix, _)| rest.strip_suffix(suffix))
        .unwrap_or(rest);
    hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// What an artifact type (or a config media type) says a referrer is.
pub(crate) fn kind_of(artifact_type: &str) -> ReferrerKind {
    let t = artifact_type.to_ascii_lowercase();
    if t.contains("cosign.artifact.sig")
        || t.contains("notary.signature")
        || t.contains("sigstore.bundle")
        || t.contains("cosign.simplesigning")
    {
        ReferrerKind::Signature
    } else if t.contains("spdx") || t.contains("cyclonedx") || t.contains("sbom") {
        ReferrerKind::Sbom
    } else if t.contains("in-toto") || t.contains("dsse") || t.contains("attestation") {
        ReferrerKind::Attestation
    } else {
        ReferrerKind::Artifact
    }
}

fn wanted(mode: ReferrerMode, kind: ReferrerKind) -> bool {
    match mode {
        ReferrerMode::All => true,
        ReferrerMode::Signatures => kind == ReferrerKind::Signature,
        ReferrerMode::None => false,
    }
}

/// The two registries of a copy and what one image's referrers have come to.
struct Follow<'a> {
    engine: &'a Engine,
    src: &'a Source,
    client: &'a RegistryClient,
    repo: &'a str,
    target: &'a Target,
    opts: &'a CopyOptions,
    out: Vec<ReferrerReport>,
    /// Referrers handled for this image (by digest, or tag for cosign tags).
    done: HashSet<String>,
}

impl Engine {
    /// The referrers of `subjects` (source manifests of one image, written before this is
    /// called), copied to `target` or, in a dry run, planned. Errors are in the reports.
    pub(crate) async fn follow_referrers(
        &self,
        src: &Source,
        target: &Target,
        subjects: &[Subject],
        opts: &CopyOptions,
    ) -> Vec<ReferrerReport> {
        if opts.referrers == ReferrerMode::None || !matches!(target, Target::Registry { .. }) {
            return Vec::new();
        }
        let Some((client, repo)) = src.registry() else {
            return Vec::new();
        };
        let mut follow = Follow {
            engine: self,
            src,
            client,
            repo,
            target,
            opts,
            out: Vec::new(),
            done: HashSet::new(),
        };
        let mut level: Vec<Subject> = subjects.to_vec();
        for _depth in 0..MAX_DEPTH {
            let mut next = Vec::new();
            for subject in &level {
                next.extend(follow.subject(subject).await);
            }
            if next.is_empty() || follow.out.len() >= MAX_PER_IMAGE {
                break;
            }
            level = next;
        }
        follow.out
    }

    /// Whether `host` has the referrers API, where the run has not asked yet: not, when its
    /// profile or `--state` says so.
    fn recall_api(&self, host: &str, choice: ProfileChoice, known: &mut Option<bool>) {
        let state = self.state.as_ref();
        let refused = || (self.targets).refuses(host, Capability::ReferrersApi, choice, state);
        if known.is_none() && refused().is_some() {
            *known = Some(false);
        }
    }

    /// `host` answered the referrers API with 404: none for the run, and in `--state`.
    fn no_api(&self, host: &str, known: &mut Option<bool>) {
        *known = Some(false);
        let words = "answered the referrers API with 404";
        (self.targets).learn(host, Capability::ReferrersApi, words, self.state.as_ref());
    }

    /// `repo`'s tags at `host`, listed already (a sync): referrer lookups use them.
    pub(crate) fn know_tags(&self, host: &str, repo: &str, tags: &[String]) {
        let cell = self.referrer_memory.tags(host, repo);
        let _ = cell.set(Arc::new(tags.iter().cloned().collect()));
    }

    /// The source repository's tags, listed once per run (cosign tags and fallback indexes
    /// are looked for in it).
    pub(crate) async fn source_tags(
        &self,
        client: &RegistryClient,
        repo: &str,
    ) -> Result<Arc<BTreeSet<String>>, RegistryError> {
        let cell = self.referrer_memory.tags(client.host(), repo);
        cell.get_or_try_init(|| async {
            let tags = match client.tag_list(repo, None).await {
                Ok(tags) => tags,
                // A registry that will not list tags has no tag-schema referrers to offer.
                Err(e) if !e.is_temporary() => {
                    debug!(repo, error = %e, "no tag list; no tag-schema referrers");
                    Vec::new()
                }
                Err(e) => return Err(e),
            };
            Ok::<_, RegistryError>(Arc::new(tags.into_iter().collect()))
        })
        .await
        .cloned()
    }
}

impl Follow<'_> {
    /// One subject: its referrers found, then each copied (or reported). The referrers copied
    /// come back as the next level's subjects.
    async fn subject(&mut self, subject: &Subject) -> Vec<Subject> {
        let found = match self.find(&subject.digest).await {
            Ok(f) => f,
            Err(e) => return self.unlisted(subject, "the referrers", &e),
        };
        // What the target lists for this subject already: one request, and only where there
        // is something to follow.
        let following = found.iter().any(|f| {
            subject.lost.is_none()
                && wanted(self.opts.referrers, f.kind)
                && matches!(f.via, Via::Index(_))
        });
        let listed = match following {
            true => match self.target_listing(&subject.digest).await {
                Ok(l) => l,
                Err(e) => return self.unlisted(subject, "the target's referrers", &e),
            },
            false => Listing::default(),
        };
        let mut next = Vec::new();
        let mut indexed = Vec::new();
        for f in found {
            let key = f.digest.to_string();
            if !self.done.insert(key.clone()) || self.out.len() >= MAX_PER_IMAGE {
                continue;
            }
            let mut report = ReferrerReport {
                kind: f.kind,
                digest: key,
                status: ReferrerStatus::Skipped,
                reason: None,
            };
            if !wanted(self.opts.referrers, f.kind) {
                report.reason = Some("not a signature (--referrers signatures)".into());
                self.out.push(report);
                continue;
            }
            if let Some(lost) = subject.lost {
                report.status = ReferrerStatus::Dropped;
                report.reason = Some(lost.why(&subject.digest, f.kind));
                self.out.push(report);
                continue;
            }
            // An artifact the target is known to refuse is not offered.
            let artifact = matches!(&f.via, Via::Index(d) if d.artifact_type().is_some());
            let refused = artifact.then(|| self.refused_there(Capability::Artifacts));
            if let Some(why) = refused.flatten() {
                report.reason = Some(format!("not sent: {why}"));
                self.out.push(report);
                continue;
            }
            // Its own referrers follow once it is at the target (or would be, in a dry run).
            let there = match self.copy(&f, &listed.digests).await {
                Ok(Copied::Already) => {
                    report.reason = Some("already at the target".into());
                    true
                }
                Ok(Copied::Planned) => {
                    report.status = ReferrerStatus::Planned;
                    true
                }
                Ok(Copied::Written { api }) => {
                    report.status = ReferrerStatus::Copied;
                    if let (Via::Index(d), false) = (&f.via, api) {
                        indexed.push((**d).clone());
                    }
                    true
                }
                // A target that takes no such manifest (Aliyun ACR and its empty configs): the
                // image stands without it, and the report says why.
                Err(e) if e.is_manifest_refusal() => {
                    warn!(referrer = %report.digest, error = %e, "the target refuses a referrer");
                    report.reason = Some(format!("the target refuses it: {e}"));
                    if artifact {
                        self.learn_there(Capability::Artifacts, &e.to_string());
                    }
                    false
                }
                Err(e) => {
                    warn!(referrer = %report.digest, error = %e, "cannot copy a referrer");
                    report.status = ReferrerStatus::Failed;
                    report.reason = Some(e.to_string());
                    false
                }
            };
            if there {
                next.push(Subject {
                    digest: f.digest.clone(),
                    lost: None,
                });
            }
            self.out.push(report);
        }
        if !indexed.is_empty() {
            let merged = self.merge_fallback_index(&subject.digest, &indexed, listed.index);
            if let Err(e) = merged.await {
                warn!(subject = %subject.digest, error = %e, "cannot update the referrers index");
                for r in self.out.iter_mut().rev().take(indexed.len()) {
                    r.status = ReferrerStatus::Failed;
                    r.reason = Some(format!("updating the target's referrers index failed: {e}"));
                }
            }
        }
        next
    }

    /// Why the target is not sent `what`, when it is known to refuse it.
    fn refused_there(&self, what: Capability) -> Option<String> {
        let Target::Registry { client, .. } = self.target else {
            return None;
        };
        let state = self.engine.state.as_ref();
        self.engine
            .targets
            .refuses(client.host(), what, self.opts.target_profile, state)
    }

    /// The target refused `what`, in `words`.
    fn learn_there(&self, what: Capability, words: &str) {
        if let Target::Registry { client, .. } = self.target {
            let state = self.engine.state.as_ref();
            self.engine.targets.learn(client.host(), what, words, state);
        }
    }

    /// `what` of `subject` could not be listed: a failed entry, and nothing to follow.
    fn unlisted(&mut self, subject: &Subject, what: &str, e: &RegistryError) -> Vec<Subject> {
        warn!(subject = %subject.digest, error = %e, "cannot list {what}");
        self.out.push(ReferrerReport {
            kind: ReferrerKind::Artifact,
            digest: subject.digest.to_string(),
            status: ReferrerStatus::Failed,
            reason: Some(format!("listing {what} of {} failed: {e}", subject.digest)),
        });
        Vec::new()
    }

    /// The referrers of `subject` at the source: the API's (or the fallback index's) and
    /// cosign's tags.
    async fn find(&self, subject: &Digest) -> Result<Vec<Found>, RegistryError> {
        let host = self.client.host();
        let mut out = Vec::new();
        // Whether the registry has the API is asked once: the first lookup goes alone, the
        // others wait for its answer (a 404 then spares them theirs).
        let api = self.engine.referrer_memory.api(host);
        let mut known = api.lock().await;
        self.engine
            .recall_api(host, ProfileChoice::Auto, &mut known);
        let listed = match *known {
            Some(false) => None,
            Some(true) => {
                drop(known);
                match self.client.referrers(self.repo, subject, None).await? {
                    Listed::Referrers(list) => Some(list),
                    Listed::NoApi => None,
                }
            }
            None => match self.client.referrers(self.repo, subject, None).await? {
                Listed::Referrers(list) => {
                    *known = Some(true);
                    Some(list)
                }
                Listed::NoApi => {
                    debug!(registry = host, "no referrers API; using the tag schema");
                    self.engine.no_api(host, &mut known);
                    None
                }
            },
        };
        let tags = self.engine.source_tags(self.client, self.repo).await?;
        let stem = fallback_tag(subject);
        let list = match listed {
            Some(list) => list,
            None if tags.contains(&stem) => {
                let index = self.client.manifest_get(self.repo, &stem, None).await?;
                index
                    .json()
                    .map(|doc| index_entries(&doc))
                    .unwrap_or_default()
            }
            None => Vec::new(),
        };
        for d in list {
            let kind = kind_of(d.artifact_type().unwrap_or(&d.media_type));
            out.push(Found {
                digest: d.digest.clone(),
                kind,
                via: Via::Index(Box::new(d)),
            });
        }
        for (suffix, kind) in COSIGN_TAGS {
            let tag = format!("{stem}{suffix}");
            if !tags.contains(&tag) {
                continue;
            }
            if let Some(head) = self.client.manifest_head(self.repo, &tag).await? {
                out.push(Found {
                    digest: head.digest,
                    kind,
                    via: Via::Tag(tag),
                });
            }
        }
        Ok(out)
    }

    /// The referrers of `subject` the target lists: its referrers API's answer, or (without
    /// one) its fallback index, kept for the merge.
    async fn target_listing(&self, subject: &Digest) -> Result<Listing, RegistryError> {
        let Target::Registry { client: dst, repo } = self.target else {
            return Ok(Listing::default());
        };
        let api = self.engine.referrer_memory.api(dst.host());
        let mut known = api.lock().await;
        self.engine
            .recall_api(dst.host(), self.opts.target_profile, &mut known);
        if *known != Some(false) {
            match dst.referrers(repo, subject, None).await? {
                Listed::Referrers(list) => {
                    *known = Some(true);
                    return Ok(Listing {
                        digests: list.into_iter().map(|d| d.digest).collect(),
                        index: None,
                    });
                }
                Listed::NoApi => self.engine.no_api(dst.host(), &mut known),
            }
        }
        drop(known);
        let index = fallback_index(dst, repo, subject).await?;
        let digests = index
            .as_ref()
            .and_then(|m| m.json().ok())
            .map(|doc| index_entries(&doc).into_iter().map(|d| d.digest).collect())
            .unwrap_or_default();
        Ok(Listing {
            digests,
            index: Some(index),
        })
    }

    /// One referrer to the target: nothing when it is listed there, else its blobs, then
    /// itself. A cosign tag is looked at with a `HEAD`.
    async fn copy(&self, f: &Found, listed: &HashSet<Digest>) -> Result<Copied, RegistryError> {
        let Target::Registry { client: dst, repo } = self.target else {
            return Ok(Copied::Already);
        };
        let (name, manifest) = match &f.via {
            Via::Index(d) => {
                if listed.contains(&d.digest) {
                    return Ok(Copied::Already);
                }
                if self.opts.dry_run {
                    return Ok(Copied::Planned);
                }
                let m = self.src.manifest_get(&d.digest).await?;
                (d.digest.to_string(), m)
            }
            Via::Tag(tag) => {
                if let Some(head) = dst.manifest_head(repo, tag).await? {
                    if head.digest == f.digest {
                        return Ok(Copied::Already);
                    }
                }
                if self.opts.dry_run {
                    return Ok(Copied::Planned);
                }
                let m = self.src.manifest_get(&f.digest).await?;
                (tag.clone(), m)
            }
        };
        self.blobs_of(&manifest).await?;
        let api = dst.manifest_put_answer(repo, &name, &manifest).await?;
        debug!(referrer = %manifest.digest, name, api, "referrer copied");
        Ok(Copied::Written { api })
    }

    /// The blobs of a referrer (an image manifest: config and layers), at the target. An
    /// index referrer's children are manifests, copied before it.
    async fn blobs_of(&self, manifest: &RawManifest) -> Result<(), RegistryError> {
        let transfer = Transfer {
            engine: self.engine,
            src: self.src,
            chunk_size: self.opts.chunk_size,
            prefetched: None,
        };
        match manifest.parse().map_err(RegistryError::Manifest)? {
            Parsed::Image(m) => {
                let blobs = std::iter::once(&m.config).chain(m.layers.iter());
                for b in blobs {
                    self.target.put_blob(&transfer, b).await?;
                }
            }
            Parsed::Index(i) => {
                for child in &i.manifests {
                    let m = self.src.manifest_get(&child.digest).await?;
                    if let Parsed::Image(img) = m.parse().map_err(RegistryError::Manifest)? {
                        for b in std::iter::once(&img.config).chain(img.layers.iter()) {
                            self.target.put_blob(&transfer, b).await?;
                        }
                    }
                    self.target.put_manifest(&m).await?;
                }
            }
        }
        Ok(())
    }

    /// The target keeps no referrers itself: add `entries` to its fallback index for
    /// `subject` (tag `sha256-<hex>`), keeping every entry already there.
    /// `read`: the index as [`Self::target_listing`] found it (read again when it asked the
    /// API instead).
    async fn merge_fallback_index(
        &self,
        subject: &Digest,
        entries: &[Descriptor],
        read: Option<Option<RawManifest>>,
    ) -> Result<(), RegistryError> {
        let Target::Registry { client: dst, repo } = self.target else {
            return Ok(());
        };
        let tag = fallback_tag(subject);
        let existing = match read {
            Some(m) => m,
            None => fallback_index(dst, repo, subject).await?,
        };
        let (mut doc, mut have) = match existing.as_ref().and_then(|m| m.json().ok()) {
            Some(doc)
                if doc
                    .get("manifests")
                    .is_some_and(serde_json::Value::is_array) =>
            {
                let have: HashSet<String> = index_entries(&doc)
                    .into_iter()
                    .map(|d| d.digest.to_string())
                    .collect();
                (doc, have)
            }
            _ => (
                serde_json::json!({
                    "schemaVersion": 2,
                    "mediaType": media_type::OCI_INDEX,
                    "manifests": [],
                }),
                HashSet::new(),
            ),
        };
        let mut added = false;
        if let Some(list) = doc.get_mut("manifests").and_then(|m| m.as_array_mut()) {
            for e in entries {
                if have.insert(e.digest.to_string()) {
                    list.push(e.raw.clone());
                    added = true;
                }
            }
        }
        if !added {
            return Ok(());
        }
        let bytes = Bytes::from(serde_json::to_vec(&doc).map_err(|e| {
            RegistryError::Manifest(format!("cannot write the referrers index: {e}"))
        })?);
        let index = RawManifest {
            media_type: media_type::OCI_INDEX.to_string(),
            digest: Digest::sha256(&bytes),
            bytes,
        };
        dst.manifest_put(repo, &tag, &index).await
    }
}

/// What the target lists for one subject.
#[derive(Default)]
struct Listing {
    digests: HashSet<Digest>,
    /// Its fallback index, when that is where the list came from (`Some(None)`: there is none).
    index: Option<Option<RawManifest>>,
}

/// The fallback index of `subject` in `repo`, when there is one.
async fn fallback_index(
    client: &RegistryClient,
    repo: &str,
    subject: &Digest,
) -> Result<Option<RawManifest>, RegistryError> {
    match client
        .manifest_get(repo, &fallback_tag(subject), None)
        .await
    {
        Ok(m) => Ok(Some(m)),
        Err(RegistryError::ManifestUnknown { .. } | RegistryError::NameUnknown { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// What copying one referrer did.
enum Copied {
    Already,
    Planned,
    /// `api`: the target answered with `OCI-Subject` (it keeps referrers itself).
    Written {
        api: bool,
    },
}

/// What a run learned about referrers: which registries lack the API, and each source
/// repository's tags (listed once).
#[derive(Default)]
pub(crate) struct Memory {
    /// Per registry host: has it the referrers API (`None`: not asked yet)?
    #[allow(clippy::type_complexity)]
    api: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<Option<bool>>>>>,
    #[allow(clippy::type_complexity)]
    tags: std::sync::Mutex<
        std::collections::HashMap<
            (String, String),
            Arc<tokio::sync::OnceCell<Arc<BTreeSet<String>>>>,
        >,
    >,
}

impl Memory {
    fn api(&self, host: &str) -> Arc<tokio::sync::Mutex<Option<bool>>> {
        self.api
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(host.to_string())
            .or_default()
            .clone()
    }

    fn tags(&self, host: &str, repo: &str) -> Arc<tokio::sync::OnceCell<Arc<BTreeSet<String>>>> {
        self.tags
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry((host.to_string(), repo.to_string()))
            .or_default()
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_artifact_types() {
        use ReferrerKind::*;
        for (t, k) in [
            ("application/vnd.dev.cosign.artifact.sig.v1+json", Signature),
            ("application/vnd.cncf.notary.signature", Signature),
            ("application/vnd.dev.sigstore.bundle.v0.3+json", Signature),
            ("application/spdx+json", Sbom),
            ("application/vnd.cyclonedx+json", Sbom),
            ("application/vnd.in-toto+json", Attestation),
            ("application/vnd.example.thing", Artifact),
        ] {
            assert_eq!(kind_of(t), k, "{t}");
        }
        assert!(wanted(ReferrerMode::Signatures, Signature));
        assert!(!wanted(ReferrerMode::Signatures, Sbom));
        assert!(!wanted(ReferrerMode::None, Signature));
        assert!(wanted(ReferrerMode::All, Artifact));
    }

    #[test]
    fn referrer_tags_are_the_tag_schema_and_cosign_names() {
        let hex = "a".repeat(64);
        for t in ["", ".sig", ".att", ".sbom"] {
            assert!(is_referrer_tag(&format!("sha256-{hex}{t}")), "{t}");
        }
        assert!(!is_referrer_tag(&format!("sha256-{hex}.txt")));
        assert!(!is_referrer_tag("sha256-abc.sig"));
        assert!(!is_referrer_tag(&format!("sha256-{}", "A".repeat(64))));
        assert!(!is_referrer_tag("v1.2.3"));
    }

    #[test]
    fn subjects_are_kept_where_the_written_digests_include_them() {
        let (a, b, c) = (
            Digest::sha256(b"a"),
            Digest::sha256(b"b"),
            Digest::sha256(b"c"),
        );
        let s = subjects(&[&a, &b, &a], &[&a, &c], false, true);
        assert_eq!(s.len(), 2);
        assert!(s[0].lost.is_none() && s[0].digest == a);
        assert_eq!((s[1].lost, &s[1].digest), (Some(Lost::Filtered), &b));
        let s = subjects(&[&b], &[&c], true, true);
        assert_eq!(s[0].lost, Some(Lost::Converted));
        let s = subjects(&[&b], &[&c], false, false);
        assert_eq!(s[0].lost, Some(Lost::Rewritten));
    }
}
