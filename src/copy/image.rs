//! One image, end to end: HEAD both sides and stop when the target already has it; otherwise
//! fetch the source manifests, plan, move the blobs (several at once), push child manifests by
//! digest and the tagged manifest last. A target that refuses the manifest's kind gets it again
//! without attestations, then as Docker v2s2. Failures become data in the [`ImageReport`].

use crate::copy::blob::{BlobJob, BlobOutcome, SMALL_BLOB};
use crate::copy::push::{self, Fallback, PushPlan, PushPlanError, SourceTree};
use crate::copy::source::Source;
use crate::copy::{CopyOptions, Engine, Platforms};
use crate::layout::{Layout, LayoutRef};
use crate::reference::Reference;
use crate::registry::digest::Digest;
use crate::registry::error::RegistryError;
use crate::registry::manifest::{Kind, Parsed, RawManifest};
use crate::registry::platform::Platform;
use crate::registry::{ManifestHead, RegistryClient, Role};
use crate::report::{BlobCounts, ImageReport, Status};
use futures::{StreamExt, TryStreamExt};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tracing::{info, warn};

/// Why one image failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    PushPlan(#[from] PushPlanError),
    #[error("`{reference}` now points to `{actual}`, not the pinned `{pinned}`")]
    PinnedDigest {
        reference: String,
        pinned: Digest,
        actual: Digest,
    },
    #[error(
        "the copy did not finish within {}s (the time allowed for {} at the slowest expected speed)",
        limit.as_secs(),
        crate::report::human_bytes(*bytes)
    )]
    Deadline {
        limit: std::time::Duration,
        bytes: u64,
    },
}

/// Writing an image may take this long, plus [`SLOWEST_RATE`] for its bytes.
const WRITE_BASE: std::time::Duration = std::time::Duration::from_secs(300);
/// Bytes per second below which a write is given up (a link that trickles is not a stall).
const SLOWEST_RATE: u64 = 100 * 1024;

/// How long writing `bytes` may take in all, retries included.
fn write_deadline(bytes: u64) -> std::time::Duration {
    WRITE_BASE + std::time::Duration::from_secs(bytes / SLOWEST_RATE)
}

impl CopyError {
    pub fn hint(&self) -> Option<String> {
        match self {
            CopyError::Registry(e) => crate::hints::for_registry(e),
            CopyError::PushPlan(e) => e.hint(),
            CopyError::PinnedDigest { .. } => Some(
                "the tag moved since the list was written: update the digest or drop it".into(),
            ),
            CopyError::Deadline { .. } => Some(
                "the link is too slow or keeps failing; nothing was tagged, run again later".into(),
            ),
        }
    }

    /// The message with its hint on a second line, as users see it.
    pub fn with_hint(&self) -> String {
        match self.hint() {
            Some(h) => format!("{self}\nhint: {h}"),
            None => self.to_string(),
        }
    }
}

/// Where a copy reads from.
#[derive(Debug, Clone)]
pub enum Origin {
    Registry(Reference),
    Layout(LayoutRef),
}

/// Where a copy writes to.
#[derive(Debug, Clone)]
pub enum Destination {
    Registry(Reference),
    Layout(LayoutRef),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Registry(r) => write!(f, "{r}"),
            Origin::Layout(l) => write!(f, "{l}"),
        }
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Registry(r) => write!(f, "{r}"),
            Destination::Layout(l) => write!(f, "{l}"),
        }
    }
}

/// The reference string used in manifest URLs: the digest when present, else the tag.
fn manifest_ref(r: &Reference) -> String {
    match (r.digest(), r.tag()) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.to_string(),
        (None, None) => "latest".to_string(),
    }
}

impl Engine {
    /// Copy `source` to `target`; never fails: the outcome is in the report.
    pub async fn copy(
        &self,
        source: &Reference,
        target: &Reference,
        opts: &CopyOptions,
    ) -> ImageReport {
        self.copy_from(
            &Origin::Registry(source.clone()),
            &Destination::Registry(target.clone()),
            opts,
        )
        .await
    }

    /// Copy from a registry or an OCI layout to a registry or an OCI layout.
    pub async fn copy_from(
        &self,
        source: &Origin,
        target: &Destination,
        opts: &CopyOptions,
    ) -> ImageReport {
        let start = Instant::now();
        let mut report = ImageReport::new(source.to_string(), target.to_string());
        let result = async {
            let (src, head) = self.open_source(source, &mut report).await?;
            match target {
                Destination::Registry(t) => {
                    self.copy_resolved(&src, &head, t, opts, &mut report).await
                }
                Destination::Layout(t) => {
                    self.export_resolved(&src, &head, t, opts, &mut report)
                        .await
                }
            }
        }
        .await;
        if let Err(e) = result {
            report.status = Status::Failed;
            report.error = Some(e.with_hint());
            warn!(source = %source, target = %target, "{}", e);
        }
        report.duration_ms = start.elapsed().as_millis() as u64;
        report
    }

    /// The source, and the manifest the copy starts from (HEAD only, where it can).
    async fn open_source(
        &self,
        origin: &Origin,
        report: &mut ImageReport,
    ) -> Result<(Source, ManifestHead), CopyError> {
        let source = match origin {
            Origin::Registry(r) => r,
            Origin::Layout(l) => {
                let layout = Arc::new(Layout::open(&l.path)?);
                let entry = layout.find(l.name.as_deref())?.ok_or_else(|| {
                    RegistryError::ManifestUnknown {
                        reference: l.to_string(),
                    }
                })?;
                report.source_digest = Some(entry.digest.to_string());
                let head = ManifestHead {
                    digest: entry.digest,
                    media_type: entry.media_type,
                    size: Some(entry.size),
                };
                return Ok((Source::Layout(layout), head));
            }
        };
        let src = self
            .session
            .client(source.registry(), source.api_host(), Role::Source)
            .await?;
        let src_repo = source.repository();

        // 1. HEAD the source (free against Docker Hub's pull limit). A tag pinned by digest
        //    must still point there.
        let unknown = || RegistryError::ManifestUnknown {
            reference: source.to_string(),
        };
        let head = match (source.tag(), source.digest()) {
            (Some(tag), Some(pinned)) => match src.manifest_head(src_repo, tag).await? {
                Some(t) if &t.digest != pinned => {
                    return Err(CopyError::PinnedDigest {
                        reference: source.without_tag_or_digest().with_tag(tag).to_string(),
                        pinned: pinned.clone(),
                        actual: t.digest,
                    });
                }
                Some(t) => t,
                None => src
                    .manifest_head(src_repo, pinned.as_str())
                    .await?
                    .ok_or_else(unknown)?,
            },
            _ => src
                .manifest_head(src_repo, &manifest_ref(source))
                .await?
                .ok_or_else(unknown)?,
        };
        report.source_digest = Some(head.digest.to_string());
        Ok((
            Source::Registry {
                client: src,
                repo: src_repo.to_string(),
            },
            head,
        ))
    }

    async fn copy_resolved(
        &self,
        src: &Source,
        head: &ManifestHead,
        target: &Reference,
        opts: &CopyOptions,
        report: &mut ImageReport,
    ) -> Result<(), CopyError> {
        let dst = self
            .session
            .client(target.registry(), target.api_host(), Role::Target)
            .await?;
        let dst_repo = target.repository();

        // 2. HEAD the target and stop when it already holds the source unchanged.
        let dst_ref = manifest_ref(target);
        let existing = dst.manifest_head(dst_repo, &dst_ref).await?;
        if let Some(e) = &existing {
            if e.digest == head.digest && passes_through(&head.media_type, opts) {
                return self.finish_skipped(report, &head.digest, opts, None);
            }
            // A converted source: what it became last time, if the target still holds that.
            let remembered = self
                .state
                .as_ref()
                .and_then(|s| s.written(&head.digest, opts));
            if remembered.as_deref() == Some(e.digest.as_str()) {
                return self.finish_skipped(report, &e.digest, opts, None);
            }
        }

        // 3. Fetch the source manifests and plan.
        let tree = self.fetch_tree(src, &head.digest, opts).await?;
        let mut fallback = Fallback::default();
        let mut plan = push::build(&tree, &opts.platforms, opts.format, fallback)?;
        if existing
            .as_ref()
            .is_some_and(|e| e.digest == plan.top.digest)
        {
            if let Some(state) = &self.state {
                state.record(&head.digest, opts, &plan.top.digest);
            }
            return self.finish_skipped(report, &plan.top.digest, opts, Some(&plan));
        }
        fill(report, &plan);

        if opts.dry_run {
            return self
                .finish_planned(&dst, dst_repo, report, &plan, existing.is_some())
                .await;
        }

        // 4. Write: blobs, children by digest, the tagged manifest last; fall back on refusal.
        let job = BlobJob {
            src,
            dst: &dst,
            dst_repo,
            ledger: &self.ledger,
            slots: &self.blob_slots,
            chunk_size: opts.chunk_size,
            retries: self.retries,
            progress: Some(self.bytes_moved.clone()),
            prefetched: tree.config.as_ref(),
        };
        // Nothing hangs: stalls end attempts, and the whole write has a deadline from its size.
        let limit = write_deadline(report.bytes);
        let write = async {
            loop {
                self.copy_blobs(&job, &plan, report).await?;
                match self.push_manifests(&dst, dst_repo, &dst_ref, &plan).await {
                    Ok(()) => break,
                    Err(e) if e.is_manifest_refusal() => {
                        let next = next_fallback(fallback, &plan, tree.top.kind());
                        let Some(next) = next else {
                            return Err(e.into());
                        };
                        let what = if next.force_v2s2 && !fallback.force_v2s2 {
                            "converted to Docker v2s2"
                        } else {
                            "without attestations"
                        };
                        warn!(target = %target, error = %e, "the target refused the manifest; pushing it {what}");
                        report.warnings.push(format!(
                            "the target refused the manifest ({e}); pushed it {what}"
                        ));
                        fallback = next;
                        plan = push::build(&tree, &opts.platforms, opts.format, fallback)?;
                        fill(report, &plan);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Ok::<PushPlan, CopyError>(plan)
        };
        let plan =
            tokio::time::timeout(limit, write)
                .await
                .map_err(|_| CopyError::Deadline {
                    limit,
                    bytes: report.bytes,
                })??;
        report.status = Status::Copied;
        if let Some(state) = &self.state {
            state.record(&head.digest, opts, &plan.top.digest);
        }
        info!(source = %src.describe(), target = %target, digest = %plan.top.digest, bytes = report.bytes, "copied");
        Ok(())
    }

    pub(super) fn finish_skipped(
        &self,
        report: &mut ImageReport,
        digest: &Digest,
        opts: &CopyOptions,
        plan: Option<&PushPlan>,
    ) -> Result<(), CopyError> {
        report.status = if opts.dry_run {
            Status::Planned
        } else {
            Status::Skipped
        };
        if opts.dry_run {
            report.action = Some("up to date".into());
        }
        report.digest = Some(digest.to_string());
        // The fast path (one HEAD per side) learns no platforms; none are claimed then.
        if let Some(p) = plan {
            fill(report, p);
            report.bytes = 0;
        }
        info!(target = %report.target, %digest, "up to date");
        Ok(())
    }

    async fn finish_planned(
        &self,
        dst: &RegistryClient,
        dst_repo: &str,
        report: &mut ImageReport,
        plan: &PushPlan,
        overwrite: bool,
    ) -> Result<(), CopyError> {
        report.status = Status::Planned;
        report.action = Some(if overwrite { "would overwrite" } else { "copy" }.into());
        // Bytes to move: what the target repository does not have yet.
        let checks = futures::stream::iter(plan.blobs.iter())
            .map(|b| async move {
                dst.blob_head(dst_repo, &b.digest)
                    .await
                    .map(|h| (b.size, h.is_some()))
            })
            .buffer_unordered(8)
            .try_collect::<Vec<_>>()
            .await?;
        report.bytes = checks
            .iter()
            .filter(|(_, present)| !present)
            .map(|(s, _)| s)
            .sum();
        report.blobs.skipped = checks.iter().filter(|(_, present)| *present).count() as u64;
        report.blobs.copied = checks.len() as u64 - report.blobs.skipped;
        Ok(())
    }

    /// GET the top manifest by digest (verified) and, for an index, the children the options
    /// select; for a single image, its config's platform.
    pub(super) async fn fetch_tree(
        &self,
        src: &Source,
        digest: &Digest,
        opts: &CopyOptions,
    ) -> Result<SourceTree, CopyError> {
        let top = src.manifest_get(digest).await?;
        let mut tree = SourceTree {
            top,
            children: HashMap::new(),
            config_platform: None,
            config: None,
        };
        match tree
            .top
            .parse()
            .map_err(|e| PushPlanError::Manifest(e.to_string()))?
        {
            Parsed::Index(_) => {
                let sel = push::select(&tree.top, &opts.platforms)?;
                let fetched: Vec<RawManifest> = futures::stream::iter(sel.to_fetch())
                    .map(|d| async move { src.manifest_get(&d).await })
                    .buffer_unordered(8)
                    .try_collect()
                    .await?;
                tree.children = fetched.into_iter().map(|m| (m.digest.clone(), m)).collect();
            }
            Parsed::Image(img) => {
                if img.artifact_type.is_none() && img.config.size <= SMALL_BLOB {
                    let config = src
                        .blob_small(&img.config.digest, SMALL_BLOB as usize)
                        .await?;
                    tree.config_platform = serde_json::from_slice::<serde_json::Value>(&config)
                        .ok()
                        .as_ref()
                        .and_then(Platform::from_descriptor_json);
                    tree.config = Some((img.config.digest.clone(), config));
                }
            }
        }
        Ok(tree)
    }

    async fn copy_blobs(
        &self,
        job: &BlobJob<'_>,
        plan: &PushPlan,
        report: &mut ImageReport,
    ) -> Result<(), CopyError> {
        let outcomes: Vec<BlobOutcome> = futures::stream::iter(plan.blobs.iter())
            .map(|b| job.run(b))
            .buffer_unordered(plan.blobs.len().clamp(1, 16))
            .try_collect()
            .await?;
        let mut counts = BlobCounts::default();
        let mut bytes = 0;
        for o in outcomes {
            match o {
                BlobOutcome::Skipped => counts.skipped += 1,
                BlobOutcome::Mounted => counts.mounted += 1,
                BlobOutcome::Copied(n) => {
                    counts.copied += 1;
                    bytes += n;
                }
            }
        }
        // Across fallback rounds, add up what moved.
        report.blobs.copied += counts.copied;
        report.blobs.mounted += counts.mounted;
        report.blobs.skipped = report.blobs.skipped.max(counts.skipped);
        report.bytes += bytes;
        Ok(())
    }

    async fn push_manifests(
        &self,
        dst: &RegistryClient,
        repo: &str,
        reference: &str,
        plan: &PushPlan,
    ) -> Result<(), RegistryError> {
        for child in &plan.children {
            dst.manifest_put(repo, child.digest.as_str(), child).await?;
        }
        dst.manifest_put(repo, reference, &plan.top).await
    }
}

/// Whether the source's manifest would be written unchanged (so equal digests mean up to date)
/// judging by its media type alone: a single Docker image under v2s2, an OCI image under oci,
/// anything under preserve; an index only when every platform is kept.
fn passes_through(media_type: &str, opts: &CopyOptions) -> bool {
    let Some(kind) = Kind::from_media_type(media_type) else {
        return false;
    };
    if kind.is_index() && opts.platforms != Platforms::All {
        return false;
    }
    match opts.format {
        crate::copy::Format::Preserve => true,
        crate::copy::Format::V2s2 => !kind.is_oci(),
        crate::copy::Format::Oci => kind.is_oci() && kind.is_index() || kind == Kind::OciManifest,
    }
}

fn next_fallback(
    current: Fallback,
    plan: &PushPlan,
    source_kind: Option<Kind>,
) -> Option<Fallback> {
    if plan.has_attestations && !current.drop_attestations {
        return Some(Fallback {
            drop_attestations: true,
            ..current
        });
    }
    let source_oci = source_kind.is_some_and(Kind::is_oci);
    if plan.writes_oci && (source_oci || plan.converted) && !current.force_v2s2 {
        return Some(Fallback {
            drop_attestations: true,
            force_v2s2: true,
        });
    }
    None
}

pub(super) fn fill(report: &mut ImageReport, plan: &PushPlan) {
    report.digest = Some(plan.top.digest.to_string());
    report.platforms = plan.platforms.iter().map(Platform::to_string).collect();
    report.converted = plan.converted;
    report.dropped = plan.dropped.clone();
    for w in &plan.warnings {
        if !report.warnings.contains(w) {
            report.warnings.push(w.clone());
        }
    }
}
