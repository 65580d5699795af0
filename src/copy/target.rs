//! Where an image is written: a registry repository or an OCI layout, behind the write-side
//! operations the copy needs (what a name points at now, whether a blob is there, putting a
//! blob, a manifest by digest, and the name last). The copy path in [`super::image`] is written
//! once against these; this file holds only what differs between the two kinds of target.
//!
//! It must not decide what to write (that is the push plan's, [`super::push`]) nor when to
//! stop, skip or fall back (that is the copy path's): every operation here does one thing to
//! one target.

use crate::copy::blob::{BlobJob, BlobOutcome};
use crate::copy::image::Destination;
use crate::copy::ledger::Ledger;
use crate::copy::source::Source;
use crate::copy::{Engine, Format};
use crate::digest::Digest;
use crate::layout::Layout;
use crate::registry::error::RegistryError;
use crate::registry::manifest::{Descriptor, RawManifest};
use crate::registry::{ManifestHead, RegistryClient, Role};
use bytes::Bytes;
use futures::StreamExt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// How often a cut read of one blob may resume while it is written into a layout.
const LAYOUT_RESUMES: u32 = 3;

/// A registry repository or an OCI layout, for writing.
pub(crate) enum Target {
    Registry {
        client: Arc<RegistryClient>,
        repo: String,
    },
    /// `None` only in a dry run whose directory is not a layout (yet): nothing is there, and
    /// nothing is written.
    Layout(Option<Arc<Layout>>),
}

/// What moving one blob needs besides the target: the source, what the run shares (ledger,
/// blob slots, progress), and the blob the plan already read.
pub(crate) struct Transfer<'a> {
    pub(crate) engine: &'a Engine,
    pub(crate) src: &'a Source,
    /// Force chunked uploads of this size (registries only).
    pub(crate) chunk_size: Option<u64>,
    /// A small blob already read (and verified) while planning, written without a second read.
    pub(crate) prefetched: Option<&'a (Digest, Bytes)>,
}

impl Engine {
    /// The target `to` names. A dry run does not create a missing layout.
    pub(crate) async fn open_target(
        &self,
        to: &Destination,
        dry_run: bool,
    ) -> Result<Target, RegistryError> {
        match to {
            Destination::Registry(r) => {
                let client = self
                    .session
                    .client(r.registry(), r.api_host(), Role::Target)
                    .await?;
                Ok(Target::Registry {
                    client,
                    repo: r.repository().to_string(),
                })
            }
            Destination::Layout(l) if dry_run => {
                Ok(Target::Layout(Layout::open(&l.path).ok().map(Arc::new)))
            }
            Destination::Layout(l) => Ok(Target::Layout(Some(self.layout_for_write(&l.path)?))),
        }
    }

    /// The one handle of this run for the layout at `path`, created when missing.
    fn layout_for_write(&self, path: &std::path::Path) -> Result<Arc<Layout>, RegistryError> {
        let mut map = self
            .layouts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(l) = map.get(path) {
            return Ok(l.clone());
        }
        let l = Arc::new(Layout::create(path)?);
        map.insert(path.to_path_buf(), l.clone());
        Ok(l)
    }
}

impl Target {
    /// Whether a manifest under a name proves its blobs are there. A registry refuses a
    /// manifest whose blobs it lacks, so two HEADs can tell an image is up to date (and what a
    /// converted source became is worth remembering); in a layout a blob file can be missing
    /// behind a name, so its blobs are looked at too.
    pub(crate) fn manifests_imply_blobs(&self) -> bool {
        matches!(self, Target::Registry { .. })
    }

    /// The format written here when `asked` for. An OCI layout holds OCI manifests (skopeo and
    /// containerd look for nothing else), so the default v2s2 means OCI there; `preserve` keeps
    /// what the source has.
    pub(crate) fn format(&self, asked: Format) -> Format {
        match (self, asked) {
            (Target::Layout(_), Format::V2s2) => Format::Oci,
            (_, other) => other,
        }
    }

    /// How many blobs of one image move at once (the engine's blob slots bound the bodies).
    pub(crate) fn blobs_at_once(&self) -> usize {
        match self {
            Target::Registry { .. } => 16,
            Target::Layout(_) => 8,
        }
    }

    /// What `name` (a tag or a digest; a layout's `index.json` name) points at now.
    pub(crate) async fn manifest_head(
        &self,
        name: &str,
    ) -> Result<Option<ManifestHead>, RegistryError> {
        match self {
            Target::Registry { client, repo } => client.manifest_head(repo, name).await,
            Target::Layout(None) => Ok(None),
            Target::Layout(Some(l)) => Ok(l.find(Some(name))?.map(|e| ManifestHead {
                digest: e.digest,
                media_type: e.media_type,
                size: Some(e.size),
            })),
        }
    }

    /// The target's name pointed at something before this run wrote it: the repository may
    /// hold any blob (the ledger then looks for each with a `HEAD`).
    pub(crate) fn held_a_tag(&self, ledger: &Ledger) {
        if let Target::Registry { client, repo } = self {
            ledger.saw_tag(client.host(), repo);
        }
    }

    /// Whether the blob is there (in a layout: with its size).
    pub(crate) async fn blob_exists(&self, desc: &Descriptor) -> Result<bool, RegistryError> {
        match self {
            Target::Registry { client, repo } => {
                Ok(client.blob_head(repo, &desc.digest).await?.is_some())
            }
            Target::Layout(None) => Ok(false),
            Target::Layout(Some(l)) => Ok(l.has_blob(&desc.digest, desc.size)),
        }
    }

    /// Make `desc` present here. A registry: skip, mount or upload with recovery
    /// ([`BlobJob`]); a layout: a streamed write whose size and digest are checked before the
    /// blob takes its name.
    pub(crate) async fn put_blob(
        &self,
        with: &Transfer<'_>,
        desc: &Descriptor,
    ) -> Result<BlobOutcome, RegistryError> {
        match self {
            Target::Registry { client, repo } => {
                let job = BlobJob {
                    src: with.src,
                    dst: client,
                    dst_repo: repo,
                    ledger: &with.engine.ledger,
                    slots: &with.engine.blob_slots,
                    chunk_size: with.chunk_size,
                    progress: Some(with.engine.bytes_moved.clone()),
                    prefetched: with.prefetched,
                    state: with.engine.state.as_ref(),
                };
                job.run(desc).await
            }
            Target::Layout(l) => put_layout_blob(writable(l)?, with, desc).await,
        }
    }

    /// A manifest under its digest (a child of the named one).
    pub(crate) async fn put_manifest(&self, manifest: &RawManifest) -> Result<(), RegistryError> {
        match self {
            Target::Registry { client, repo } => {
                client
                    .manifest_put(repo, manifest.digest.as_str(), manifest)
                    .await
            }
            Target::Layout(l) => {
                writable(l)?
                    .write_bytes(&manifest.digest, manifest.bytes.clone())
                    .await
            }
        }
    }

    /// Point `name` at `manifest`, the last write of a copy. A registry: the manifest PUT by
    /// tag (or by the digest the target is pinned to); a layout: the manifest under its digest,
    /// then its entry in `index.json` (rewritten atomically).
    pub(crate) async fn tag(
        &self,
        manifest: &RawManifest,
        name: &str,
    ) -> Result<(), RegistryError> {
        match self {
            Target::Registry { client, repo } => client.manifest_put(repo, name, manifest).await,
            Target::Layout(l) => {
                let layout = writable(l)?;
                layout
                    .write_bytes(&manifest.digest, manifest.bytes.clone())
                    .await?;
                layout.tag(name, manifest).await
            }
        }
    }
}

/// The layout to write into; a dry run never gets here.
fn writable(layout: &Option<Arc<Layout>>) -> Result<&Layout, RegistryError> {
    layout
        .as_deref()
        .ok_or_else(|| RegistryError::Config("a dry run writes no OCI layout".into()))
}

/// One blob into a layout: one transfer per blob at a time (the ledger's slot), nothing to do
/// when it is there with its size, the prefetched bytes when the plan read them, otherwise a
/// streamed read from the source (resumed when cut) written through [`Layout::write_blob`].
async fn put_layout_blob(
    layout: &Layout,
    with: &Transfer<'_>,
    b: &Descriptor,
) -> Result<BlobOutcome, RegistryError> {
    let key = format!("oci:{}", layout.root().display());
    let slot = with.engine.ledger.slot(&key, &b.digest);
    let _guard = slot.lock().await;
    if layout.has_blob(&b.digest, b.size) {
        return Ok(BlobOutcome::Skipped);
    }
    if let Some((d, bytes)) = with.prefetched.filter(|(d, _)| d == &b.digest) {
        layout.write_bytes(d, bytes.clone()).await?;
        return Ok(BlobOutcome::Copied(b.size));
    }
    let _permit = with
        .engine
        .blob_slots
        .acquire()
        .await
        .map_err(|_| RegistryError::Config("shutting down".into()))?;
    let resumes = Arc::new(AtomicU32::new(LAYOUT_RESUMES));
    let (len, stream) = with.src.blob_stream(&b.digest, resumes).await?;
    if let Some(len) = len.filter(|l| *l != b.size) {
        return Err(RegistryError::SizeMismatch {
            what: format!("blob `{}@{}`", with.src.describe(), b.digest),
            expected: b.size,
            actual: len,
        });
    }
    let moved = with.engine.bytes_moved.clone();
    let counted = stream.inspect(move |c| {
        if let Ok(c) = c {
            moved.fetch_add(c.len() as u64, Ordering::Relaxed);
        }
    });
    layout
        .write_blob(&b.digest, b.size, Box::pin(counted))
        .await?;
    Ok(BlobOutcome::Copied(b.size))
}
