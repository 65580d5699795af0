//! Where an image is read from: a registry repository or an OCI layout. The engine reads
//! manifests and blobs through this, so everything after the read (plan, conversions,
//! uploads, verification) is the same for both. Read side only: writing is [`super::target`]'s.

use crate::copy::image::{manifest_ref, CopyError, Origin};
use crate::copy::ledger::lock;
use crate::copy::Engine;
use crate::digest::Digest;
use crate::layout::Layout;
use crate::registry::error::RegistryError;
use crate::registry::manifest::RawManifest;
use crate::registry::{ManifestHead, RegistryClient, Role};
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// A registry repository or an OCI layout, for reading.
pub(crate) enum Source {
    Registry {
        client: Arc<RegistryClient>,
        repo: String,
    },
    Layout(Arc<Layout>),
}

impl Engine {
    /// The source `origin` names, and the manifest the copy starts from (HEAD only, where it can).
    /// `with_tags`: the repository's tags are listed alongside the HEAD, for the referrer
    /// lookups that follow (off their critical path).
    pub(crate) async fn open_source(
        &self,
        origin: &Origin,
        with_tags: bool,
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

        // HEAD the source (free against Docker Hub's pull limit). A tag pinned by digest must
        // still point there.
        let unknown = || RegistryError::ManifestUnknown {
            reference: source.to_string(),
        };
        let listing = async {
            if with_tags {
                // Kept for the lookups; a failure here is theirs to retry and report.
                let _ = self.source_tags(&src, src_repo).await;
            }
        };
        let heading = async {
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
                _ => match self.seen_head(src.host(), src_repo, &manifest_ref(source)) {
                    Some(h) => h,
                    None => src
                        .manifest_head(src_repo, &manifest_ref(source))
                        .await?
                        .ok_or_else(unknown)?,
                },
            };
            Ok::<_, CopyError>(head)
        };
        let (head, ()) = tokio::join!(heading, listing);
        let head = head?;
        Ok((
            Source::Registry {
                client: src,
                repo: src_repo.to_string(),
            },
            head,
        ))
    }
}

impl Engine {
    /// A source `HEAD` answered before the copy (the pre-flight lookup): the copy of that
    /// reference starts from it instead of asking again (once; the copy is of what was shown).
    pub(crate) fn saw_head(&self, host: &str, repo: &str, reference: &str, head: ManifestHead) {
        let key = format!("{host}/{repo}:{reference}");
        lock(&self.seen_heads).insert(key, head);
    }

    fn seen_head(&self, host: &str, repo: &str, reference: &str) -> Option<ManifestHead> {
        lock(&self.seen_heads).remove(&format!("{host}/{repo}:{reference}"))
    }

    /// The source repository's tags, listed for the referrer lookups ahead of
    /// [`Engine::open_source`] (which then finds them listed); failures are its to report.
    pub(crate) async fn list_tags_ahead(&self, origin: &Origin, with_tags: bool) {
        let Origin::Registry(r) = origin else {
            return;
        };
        if !with_tags {
            return;
        }
        let client = self
            .session
            .client(r.registry(), r.api_host(), Role::Source);
        if let Ok(client) = client.await {
            let _ = self.source_tags(&client, r.repository()).await;
        }
    }

    /// A source manifest read (and verified) before the copy: the look-up's index.
    pub(crate) fn saw_manifest(&self, host: &str, repo: &str, manifest: RawManifest) {
        let key = format!("{host}/{repo}@{}", manifest.digest);
        lock(&self.seen_manifests).insert(key, manifest);
    }

    /// The manifest `digest` of `src`, when the look-up read it (once).
    pub(crate) fn seen_manifest(&self, src: &Source, digest: &Digest) -> Option<RawManifest> {
        let Source::Registry { client, repo } = src else {
            return None;
        };
        lock(&self.seen_manifests).remove(&format!("{}/{repo}@{digest}", client.host()))
    }
}

impl Source {
    /// For messages: `registry/repo` or `oci:PATH`.
    pub(crate) fn describe(&self) -> String {
        match self {
            Source::Registry { client, repo } => format!("{}/{repo}", client.registry()),
            Source::Layout(l) => format!("oci:{}", l.root().display()),
        }
    }

    /// The registry client, when the source is a registry (for cross-repository mounts).
    pub(crate) fn registry(&self) -> Option<(&RegistryClient, &str)> {
        match self {
            Source::Registry { client, repo } => Some((client, repo)),
            Source::Layout(_) => None,
        }
    }

    /// A manifest by digest (verified).
    pub(crate) async fn manifest_get(&self, digest: &Digest) -> Result<RawManifest, RegistryError> {
        match self {
            Source::Registry { client, repo } => {
                client
                    .manifest_get(repo, digest.as_str(), Some(digest))
                    .await
            }
            Source::Layout(l) => l.manifest(digest, None).await,
        }
    }

    /// A small blob, read whole (verified).
    pub(crate) async fn blob_small(
        &self,
        digest: &Digest,
        limit: usize,
    ) -> Result<Bytes, RegistryError> {
        match self {
            Source::Registry { client, repo } => client.blob_get_small(repo, digest, limit).await,
            Source::Layout(l) => l.read_blob(digest).await,
        }
    }

    /// A blob as a stream, with its length when known; the caller verifies size and digest.
    /// A broken or stalled read resumes with `Range` while `resumes` (shared by every attempt
    /// at one blob) lasts.
    pub(crate) async fn blob_stream(
        &self,
        digest: &Digest,
        resumes: Arc<AtomicU32>,
    ) -> Result<
        (
            Option<u64>,
            BoxStream<'static, Result<Bytes, std::io::Error>>,
        ),
        RegistryError,
    > {
        match self {
            Source::Registry { client, repo } => {
                let resp = client.blob_get(repo, digest).await?;
                let len = resp.content_length();
                let resume = Resume {
                    client: client.clone(),
                    repo: repo.clone(),
                    digest: digest.clone(),
                    inner: body(resp, client.stall()),
                    seen: 0,
                    left: resumes,
                    done: false,
                };
                Ok((len, resumable(resume)))
            }
            Source::Layout(l) => {
                let (len, stream) = l.blob_stream(digest).await?;
                Ok((Some(len), stream.boxed()))
            }
        }
    }
}

/// The body of a blob answer; a chunk that takes longer than `stall` ends it like a cut.
fn body(
    resp: reqwest::Response,
    stall: std::time::Duration,
) -> BoxStream<'static, Result<Bytes, std::io::Error>> {
    let chunks = resp
        .bytes_stream()
        .map(|r| r.map_err(|e| std::io::Error::other(e.without_url())));
    crate::registry::exchange::stall_guarded(chunks, stall)
}

/// A blob read that, when its connection breaks or stalls, continues where it stopped with a
/// `Range` request (206 from the same offset), up to `--retries` times, so the upload it feeds
/// carries on.
struct Resume {
    client: Arc<RegistryClient>,
    repo: String,
    digest: Digest,
    inner: BoxStream<'static, Result<Bytes, std::io::Error>>,
    seen: u64,
    left: Arc<AtomicU32>,
    done: bool,
}

fn resumable(state: Resume) -> BoxStream<'static, Result<Bytes, std::io::Error>> {
    futures::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            match st.inner.next().await {
                Some(Ok(chunk)) => {
                    st.seen += chunk.len() as u64;
                    return Some((Ok(chunk), st));
                }
                None => return None,
                Some(Err(e)) => {
                    let take = st
                        .left
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
                    if take.is_ok() {
                        tracing::warn!(
                            digest = %st.digest,
                            offset = st.seen,
                            "the blob read broke ({e}); resuming from where it stopped"
                        );
                        if let Ok(Some(resp)) =
                            st.client.blob_get_from(&st.repo, &st.digest, st.seen).await
                        {
                            st.inner = body(resp, st.client.stall());
                            continue;
                        }
                    }
                    st.done = true;
                    return Some((Err(e), st));
                }
            }
        }
    })
    .boxed()
}
