//! One image, end to end, the same path for a registry and an OCI layout target: HEAD the
//! source, then the target, and stop when the target already holds the result; otherwise fetch
//! the source manifests, make the push plan, and either account for a dry run or write: the
//! blobs (several at once), child manifests by digest, the named manifest last. A registry that
//! refuses the manifest's kind gets it again without attestations, then as Docker v2s2.
//! Failures become data in the [`ImageReport`].
//!
//! What differs between the two kinds of target lives in the `target` module; nothing here
//! matches on the kind. What to write is the `push` module's.

use crate::copy::blob::{BlobOutcome, SMALL_BLOB};
use crate::copy::push::{self, Fallback, PushPlan, PushPlanError, SourceTree};
use crate::copy::source::Source;
use crate::copy::target::{Target, Transfer};
use crate::copy::{adapt, referrers, CopyOptions, Engine};
use crate::digest::Digest;
use crate::layout::LayoutRef;
use crate::reference::Reference;
use crate::registry::error::RegistryError;
use crate::registry::manifest::{Kind, Parsed, RawManifest};
use crate::registry::platform::Platform;
use crate::registry::profile::Capability;
use crate::registry::ManifestHead;
use crate::report::{BlobCounts, ImageReport, Status};
use futures::{StreamExt, TryStreamExt};
use std::collections::HashMap;
use std::time::Instant;
use tracing::{info, warn};

/// Why one image failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CopyError {
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

impl CopyError {
    /// The registry refused access (401/403 after credentials were tried).
    fn is_refusal(&self) -> bool {
        matches!(
            self,
            CopyError::Registry(RegistryError::Denied { .. } | RegistryError::Auth { .. })
        )
    }

    fn hint(&self) -> Option<String> {
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
    fn with_hint(&self) -> String {
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

impl Destination {
    /// The name the image is written under: in a registry the digest the target is pinned to,
    /// else its tag; in a layout its `index.json` name; `latest` when there is none.
    fn name(&self) -> String {
        match self {
            Destination::Registry(r) => manifest_ref(r),
            Destination::Layout(l) => l.name.clone().unwrap_or_else(|| "latest".to_string()),
        }
    }
}

/// The reference string used in manifest URLs: the digest when present, else the tag.
pub(crate) fn manifest_ref(r: &Reference) -> String {
    match (r.digest(), r.tag()) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.to_string(),
        (None, None) => "latest".to_string(),
    }
}

/// What the two HEADs found: the source's manifest, and what the target's name points at.
struct Found<'a> {
    head: &'a ManifestHead,
    target: &'a Target,
    existing: Option<&'a ManifestHead>,
}

/// An image looked at and planned, its write still to do ([`Engine::write`]).
pub(crate) struct Ready<'a> {
    to: &'a Destination,
    src: Source,
    target: Target,
    head: ManifestHead,
    tree: SourceTree,
    plan: PushPlan,
    /// The stricter way the plan was built for what the target refuses, and how many refusals
    /// the run knew then.
    fallback: Fallback,
    generation: usize,
    report: ImageReport,
    /// How long looking and planning took (waiting for a write slot is not the image's time).
    spent: std::time::Duration,
}

/// The first stage of a copy: done (up to date, a dry run, failed), or ready to write.
pub(crate) enum Resolved<'a> {
    Done(Box<ImageReport>),
    Write(Box<Ready<'a>>),
}

impl Engine {
    /// Steps 1 to 3, no write: the two HEADs, then (unless the target holds the source) the
    /// source manifests and the plan, and in a dry run the accounting. Reads only, so a batch
    /// runs these ahead of the writes.
    /// `check`: the image's look-up (a batch's [`crate::copy::batch::Gate`]), awaited in
    /// place of the source's `HEAD` while the target's goes; `Some` is the image's report, and
    /// it is not copied.
    pub(crate) async fn resolve<'a>(
        &self,
        source: &Origin,
        target: &'a Destination,
        opts: &CopyOptions,
        check: Option<futures::future::BoxFuture<'_, Option<Box<ImageReport>>>>,
    ) -> Resolved<'a> {
        let start = Instant::now();
        let mut report = ImageReport::new(source.to_string(), target.to_string());
        let result = async {
            // 1. The manifest the copy starts from and what the target's name points at now:
            //    one HEAD a side, both in flight together.
            let name = target.name();
            let generation = self.targets.generation();
            let with_tags = opts.referrers != crate::copy::ReferrerMode::None;
            let opening = async {
                if let Some(check) = check {
                    // The tag listing referrers need goes beside the look-up, as it goes
                    // beside the source's HEAD without one.
                    let (refused, ()) =
                        tokio::join!(check, self.list_tags_ahead(source, with_tags));
                    if let Some(refused) = refused {
                        return Err(refused);
                    }
                }
                Ok(self.open_source(source, with_tags).await)
            };
            let (opened, looked) = tokio::join!(opening, async {
                let to = self.open_target(target, opts.dry_run).await?;
                let existing = to.manifest_head(&name).await?;
                Ok::<_, RegistryError>((to, existing))
            });
            let opened = match opened {
                Ok(opened) => opened,
                Err(refused) => return Ok(Err(refused)),
            };
            let (src, head) = opened?;
            report.source_digest = Some(head.digest.to_string());
            let (to, existing) = looked?;
            if existing.is_some() {
                to.held_a_tag(&self.ledger);
            }
            let found = Found {
                head: &head,
                target: &to,
                existing: existing.as_ref(),
            };
            let planned = self.plan_copy(&src, found, opts, &mut report).await?;
            let ready =
                planned.map(|(tree, plan, fb)| (src, to, head, tree, plan, (fb, generation)));
            Ok::<_, CopyError>(Ok(ready))
        }
        .await;
        let result = match result {
            Ok(Err(refused)) => return Resolved::Done(Box::new(*refused)),
            Ok(Ok(ready)) => Ok(ready),
            Err(e) => Err(e),
        };
        match result {
            Ok(Some((src, to, head, tree, plan, (fallback, generation)))) => {
                Resolved::Write(Box::new(Ready {
                    to: target,
                    src,
                    target: to,
                    head,
                    tree,
                    plan,
                    fallback,
                    generation,
                    report,
                    spent: start.elapsed(),
                }))
            }
            Ok(None) => {
                report.duration_ms = start.elapsed().as_millis() as u64;
                Resolved::Done(Box::new(report))
            }
            Err(e) => Resolved::Done(Box::new(failed(report, &e, start.elapsed()))),
        }
    }

    /// Steps 2 and 3, the same for a registry and a layout: whether the target already holds
    /// the source, the plan, then the dry-run accounting. `Some`: what to write.
    async fn plan_copy(
        &self,
        src: &Source,
        found: Found<'_>,
        opts: &CopyOptions,
        report: &mut ImageReport,
    ) -> Result<Option<(SourceTree, PushPlan, Fallback)>, CopyError> {
        let Found {
            head,
            target,
            existing,
        } = found;
        let format = target.format(opts.format);

        // 2. Stop when the target already holds the source unchanged; where the HEADs alone
        //    cannot tell (a layout), the plan and the blobs decide below.
        if let Some(digest) = self.held_by_heads(target, head, existing, opts) {
            finish_skipped(report, &digest, opts, None);
            // The index's children as the last copy took them (`--state`): their signatures
            // are looked for too, without reading the index.
            // What two HEADs find up to date is the source itself, or what it was converted to.
            let lost = (digest != head.digest).then_some(referrers::Lost::Converted);
            let remembered = self.state.as_ref().map(|s| s.children(&head.digest));
            let subjects: Vec<referrers::Subject> = std::iter::once(head.digest.clone())
                .chain(remembered.unwrap_or_default())
                .map(|digest| referrers::Subject { digest, lost })
                .collect();
            self.add_referrers(src, target, &subjects, opts, report)
                .await;
            return Ok(None);
        }

        // 3. Fetch the source manifests and plan; the name may already point at the result.
        let seen = self.seen_manifest(src, &head.digest);
        let tree = fetch_tree(src, &head.digest, seen, opts).await?;
        let (plan, fallback) = self.adapted_plan(target, &tree, opts, format, report)?;
        if already_written(target, existing, &plan).await? {
            self.remember(target, &head.digest, opts, &plan.top.digest);
            finish_skipped(report, &plan.top.digest, opts, Some(&plan));
            let subjects = subjects_of(&tree, &plan, opts);
            self.remember_children(target, &head.digest, &subjects);
            self.add_referrers(src, target, &subjects, opts, report)
                .await;
            return Ok(None);
        }
        fill(report, &plan);

        if opts.dry_run {
            finish_dry_run(target, report, &plan, existing.is_some()).await?;
            let subjects = subjects_of(&tree, &plan, opts);
            self.add_referrers(src, target, &subjects, opts, report)
                .await;
            return Ok(None);
        }
        Ok(Some((tree, plan, fallback)))
    }

    /// Step 4, the write. Nothing hangs: stalls end attempts, and a push has a deadline from
    /// its size.
    pub(crate) async fn write(&self, ready: Ready<'_>, opts: &CopyOptions) -> ImageReport {
        let start = Instant::now();
        let Ready {
            to,
            src,
            target,
            head,
            tree,
            plan,
            fallback,
            generation,
            mut report,
            spent,
        } = ready;
        // A refusal another image met since this one was planned (ahead) applies to it too.
        let format = target.format(opts.format);
        let (plan, fallback) = match self.targets.generation() == generation {
            true => (plan, fallback),
            false => match self.adapted_plan(&target, &tree, opts, format, &mut report) {
                Ok((p, fb)) if fb != fallback => {
                    fill(&mut report, &p);
                    (p, fb)
                }
                _ => (plan, fallback),
            },
        };
        let transfer = Transfer {
            engine: self,
            src: &src,
            chunk_size: self.chunk_size_for(&target, opts, &mut report),
            prefetched: tree.config.as_ref(),
        };
        let bytes: u64 = plan.blobs.iter().map(|b| b.size).sum();
        let limit = write_deadline(bytes);
        let name = to.name();
        let again = opts.create_namespace.then(|| plan.clone());
        let write = async |planned, report: &mut ImageReport| {
            let writing = write_image(&target, &name, &tree, &transfer, opts, planned, report);
            tokio::time::timeout(limit, writing).await
        };
        let mut result = write((plan, fallback), &mut report).await;
        // Harbor refuses a push into a project that does not exist like one without rights:
        // with `--create-namespace`, its API tells, creates the project, and the write goes again.
        if let (Ok(Err(e)), Some(plan)) = (&result, again) {
            if e.is_refusal() && self.created_namespace(&target, opts, &mut report).await {
                result = write((plan, fallback), &mut report).await;
            }
        }
        self.learn_uploads(&target, &mut report);
        let written = match result {
            Ok(Ok(plan)) => plan,
            Ok(Err(e)) => return failed(report, &e, spent + start.elapsed()),
            Err(_) => {
                let e = CopyError::Deadline { limit, bytes };
                return failed(report, &e, spent + start.elapsed());
            }
        };
        report.status = Status::Copied;
        self.remember(&target, &head.digest, opts, &written.top.digest);
        let subjects = subjects_of(&tree, &written, opts);
        self.remember_children(&target, &head.digest, &subjects);
        self.add_referrers(&src, &target, &subjects, opts, &mut report)
            .await;
        info!(source = %src.describe(), target = %to, digest = %written.top.digest, bytes = report.bytes, "copied");
        report.duration_ms = (spent + start.elapsed()).as_millis() as u64;
        report
    }

    /// What the target's name points at, when the two HEADs alone show it holds what would be
    /// written: the source itself, passing through unchanged, or what a converted source became
    /// last time (`--state`). Only where a manifest implies its blobs.
    fn held_by_heads(
        &self,
        target: &Target,
        head: &ManifestHead,
        existing: Option<&ManifestHead>,
        opts: &CopyOptions,
    ) -> Option<Digest> {
        let e = existing.filter(|_| target.manifests_imply_blobs())?;
        let format = target.format(opts.format);
        if e.digest == head.digest
            && push::passes_through(&head.media_type, &opts.platforms, format)
        {
            return Some(head.digest.clone());
        }
        let remembered = self.state.as_ref()?.written(&head.digest, opts)?;
        (remembered == e.digest.as_str()).then(|| e.digest.clone())
    }

    /// The target is Harbor and the project of its repository did not exist: now it does
    /// (created private, and said in the report).
    async fn created_namespace(
        &self,
        target: &Target,
        opts: &CopyOptions,
        report: &mut ImageReport,
    ) -> bool {
        let Target::Registry { client, repo } = target else {
            return false;
        };
        let Some((project, _)) = repo.split_once('/') else {
            return false;
        };
        let mut created = self.created_namespaces.lock().await;
        let key = (client.host().to_string(), project.to_string());
        // Made by this run after this image was refused: write again.
        if created.contains(&key) {
            return true;
        }
        // Named Harbor (`--target-profile harbor`): no need to ask.
        let named = opts.target_profile.for_host(client.host()).0.is_harbor();
        if !named && !client.is_harbor().await {
            return false;
        }
        match client.harbor_project_exists(project).await {
            Ok(false) => {}
            Ok(true) => return false,
            Err(e) => {
                report.warnings.push(e.to_string());
                return false;
            }
        }
        match client.harbor_create_project(project).await {
            Ok(()) => {
                created.insert(key);
                info!(
                    project,
                    registry = client.registry(),
                    "created the Harbor project"
                );
                report
                    .warnings
                    .push(format!("created the private Harbor project `{project}`"));
                true
            }
            Err(e) => {
                report.warnings.push(e.to_string());
                false
            }
        }
    }

    /// The image's referrers after it (`--referrers`). One that could not be copied fails the
    /// image (a re-run finds it again); one that cannot follow a converted subject does not.
    async fn add_referrers(
        &self,
        src: &Source,
        target: &Target,
        subjects: &[referrers::Subject],
        opts: &CopyOptions,
        report: &mut ImageReport,
    ) {
        report.referrers = self.follow_referrers(src, target, subjects, opts).await;
        let failed = report
            .referrers
            .iter()
            .filter(|r| r.status == crate::report::ReferrerStatus::Failed)
            .count();
        if failed > 0 {
            report.status = Status::Failed;
            report.error = Some(format!(
                "the image is in place, but {failed} of its signatures, SBOMs or attestations \
                 could not be copied (see its referrers); a re-run copies them"
            ));
        }
    }

    /// Keep the children a copy took from the source index `top` (`--state`), the subjects a
    /// re-run stopped by the HEADs looks for referrers of.
    fn remember_children(&self, target: &Target, top: &Digest, subjects: &[referrers::Subject]) {
        if let Some(state) = self
            .state
            .as_ref()
            .filter(|_| target.manifests_imply_blobs())
        {
            let children: Vec<&Digest> = subjects
                .iter()
                .map(|s| &s.digest)
                .filter(|d| *d != top)
                .collect();
            state.record_children(top, &children);
        }
    }

    /// Keep what the source became (`--state`), for targets whose HEADs decide next time.
    fn remember(&self, target: &Target, source: &Digest, opts: &CopyOptions, written: &Digest) {
        if let Some(state) = self
            .state
            .as_ref()
            .filter(|_| target.manifests_imply_blobs())
        {
            state.record(source, opts, written);
        }
    }
}

/// The source manifests of a copy as referrer subjects, kept where `plan` writes them
/// unchanged.
fn subjects_of(tree: &SourceTree, plan: &PushPlan, opts: &CopyOptions) -> Vec<referrers::Subject> {
    let source: Vec<&Digest> = std::iter::once(&tree.top.digest)
        .chain(tree.children.keys())
        .collect();
    let written: Vec<&Digest> = std::iter::once(&plan.top.digest)
        .chain(plan.children.iter().map(|c| &c.digest))
        .collect();
    let filtered = !matches!(opts.platforms, crate::copy::Platforms::All);
    referrers::subjects(&source, &written, plan.converted, filtered)
}

/// The outcome when the target already holds what would be written. The fast path (one HEAD
/// per side) learns no platforms; none are claimed then.
fn finish_skipped(
    report: &mut ImageReport,
    digest: &Digest,
    opts: &CopyOptions,
    plan: Option<&PushPlan>,
) {
    report.status = if opts.dry_run {
        Status::Planned
    } else {
        Status::Skipped
    };
    if opts.dry_run {
        report.action = Some("up to date".into());
    }
    report.digest = Some(digest.to_string());
    if let Some(p) = plan {
        fill(report, p);
        report.bytes = 0;
    }
    info!(target = %report.target, %digest, "up to date");
}

/// The report of an image that failed with `e` after `spent`.
fn failed(mut report: ImageReport, e: &CopyError, spent: std::time::Duration) -> ImageReport {
    report.status = Status::Failed;
    report.error = Some(e.with_hint());
    warn!(source = %report.source, target = %report.target, "{}", e);
    report.duration_ms = spent.as_millis() as u64;
    report
}

/// The outcome of a dry run that would write: the bytes and blobs the target lacks.
async fn finish_dry_run(
    target: &Target,
    report: &mut ImageReport,
    plan: &PushPlan,
    overwrite: bool,
) -> Result<(), CopyError> {
    report.status = Status::Planned;
    report.action = Some(if overwrite { "would overwrite" } else { "copy" }.into());
    let checks = blob_presence(target, plan).await?;
    report.bytes = checks
        .iter()
        .filter(|(_, present)| !present)
        .map(|(s, _)| s)
        .sum();
    report.blobs.skipped = checks.iter().filter(|(_, present)| *present).count() as u64;
    report.blobs.copied = checks.len() as u64 - report.blobs.skipped;
    Ok(())
}

/// (size, whether the target has it) for every blob of the plan.
async fn blob_presence(
    target: &Target,
    plan: &PushPlan,
) -> Result<Vec<(u64, bool)>, RegistryError> {
    futures::stream::iter(plan.blobs.iter())
        .map(|b| async move { target.blob_exists(b).await.map(|present| (b.size, present)) })
        .buffer_unordered(8)
        .try_collect()
        .await
}

/// Whether the target's name already points at what the plan would write, with every blob
/// there: a registry vouches for the blobs of its manifests; a layout's are looked at.
async fn already_written(
    target: &Target,
    existing: Option<&ManifestHead>,
    plan: &PushPlan,
) -> Result<bool, RegistryError> {
    if existing.is_none_or(|e| e.digest != plan.top.digest) {
        return Ok(false);
    }
    if target.manifests_imply_blobs() {
        return Ok(true);
    }
    let checks = blob_presence(target, plan).await?;
    Ok(checks.iter().all(|(_, present)| *present))
}

/// GET the top manifest by digest (verified; `seen`: read already, by the look-up) and, for an index, the children the options
/// select; for a single image, its config's platform.
async fn fetch_tree(
    src: &Source,
    digest: &Digest,
    seen: Option<RawManifest>,
    opts: &CopyOptions,
) -> Result<SourceTree, CopyError> {
    let top = match seen {
        Some(top) => top,
        None => src.manifest_get(digest).await?,
    };
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

/// Blobs, children by digest, the named manifest last. A manifest the target refuses is planned
/// again with the next [`Fallback`] and the write repeated (only a registry refuses; a layout
/// takes every kind); what got it taken is learned (`adapt`). `planned`: the plan and the
/// level it was built at. Returns the plan that was written.
async fn write_image(
    target: &Target,
    name: &str,
    tree: &SourceTree,
    transfer: &Transfer<'_>,
    opts: &CopyOptions,
    planned: (PushPlan, Fallback),
    report: &mut ImageReport,
) -> Result<PushPlan, CopyError> {
    let (mut plan, mut fallback) = planned;
    // What the last refusal says the target refuses, and its words: learned once the next
    // way is accepted.
    let mut refused: Option<(Capability, String)> = None;
    loop {
        copy_blobs(target, transfer, &plan, report).await?;
        let (e, top) = match push_manifests(target, name, &plan).await {
            Ok(()) => {
                if let Some((what, words)) = &refused {
                    transfer.engine.learn_target(target, *what, words);
                }
                return Ok(plan);
            }
            Err((e, top)) if e.is_manifest_refusal() => (e, top),
            Err((e, _)) => return Err(e.into()),
        };
        let Some(next) = fallback.after_refusal(&plan, tree.top.kind()) else {
            return Err(e.into());
        };
        let what = if next.force_v2s2 && !fallback.force_v2s2 {
            adapt::AS_V2S2
        } else {
            adapt::NO_ATTESTATIONS
        };
        warn!(target = %report.target, error = %e, "the target refused the manifest; {what}");
        report.adapt(what, format!("the target refused the manifest: {e}"));
        let index = plan.top.kind().is_some_and(Kind::is_index);
        refused = adapt::refused_capability(fallback, next, top, index).map(|c| (c, e.to_string()));
        fallback = next;
        plan = push::build(tree, &opts.platforms, target.format(opts.format), fallback)?;
        fill(report, &plan);
    }
}

/// Every blob of the plan into the target, several at once; the counts go into the report.
async fn copy_blobs(
    target: &Target,
    transfer: &Transfer<'_>,
    plan: &PushPlan,
    report: &mut ImageReport,
) -> Result<(), CopyError> {
    let outcomes: Vec<BlobOutcome> = futures::stream::iter(plan.blobs.iter())
        .map(|b| target.put_blob(transfer, b))
        .buffer_unordered(plan.blobs.len().clamp(1, target.blobs_at_once()))
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

/// The child manifests by digest, all in flight together, then the named one. An error says
/// whether it was the named one's.
async fn push_manifests(
    target: &Target,
    name: &str,
    plan: &PushPlan,
) -> Result<(), (RegistryError, bool)> {
    futures::stream::iter(&plan.children)
        .map(|child| target.put_manifest(child))
        .buffer_unordered(8)
        .try_collect::<()>()
        .await
        .map_err(|e| (e, false))?;
    target.tag(&plan.top, name).await.map_err(|e| (e, true))
}

/// Writing an image may take this long, plus [`SLOWEST_RATE`] for its bytes.
const WRITE_BASE: std::time::Duration = std::time::Duration::from_secs(300);
/// Bytes per second below which a write is given up (a link that trickles is not a stall).
const SLOWEST_RATE: u64 = 100 * 1024;

/// How long writing an image of `bytes` may take in all, retries included (to a registry or
/// a layout: the source may be slow either way).
fn write_deadline(bytes: u64) -> std::time::Duration {
    WRITE_BASE + std::time::Duration::from_secs(bytes / SLOWEST_RATE)
}

/// What the report says about the plan.
fn fill(report: &mut ImageReport, plan: &PushPlan) {
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
