//! Moving one blob into a registry repository, cheapest way first: already known in this run,
//! HEAD (present), cross-repository mount, then a streamed GET -> upload with size and digest
//! checked on the fly. The body never lands in memory or on disk, except blobs of at most
//! [`SMALL_BLOB`] bytes, which go up in one monolithic PUT to save a round trip. Also the
//! run's [`Ledger`] (in [`super::ledger`]) of which repositories hold which blobs.
//!
//! Registry uploads only: a blob into an OCI layout is [`super::target`]'s, and which blobs to
//! move is the push plan's.

use super::ledger::{lock, Ledger};
use crate::digest::{Digest, Hasher};
use crate::registry::error::RegistryError;
use crate::registry::manifest::Descriptor;
use crate::registry::{Body, Mount, RegistryClient};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tracing::{debug, warn};
use url::Url;

/// Blobs up to this size are read whole and sent with one PUT.
pub(crate) const SMALL_BLOB: u64 = 1024 * 1024;
/// Blobs up to this size are asked for by a mount from their own repository where no `HEAD`
/// is due; bigger ones get the `HEAD` (see [`BlobJob::run`]).
const SELF_MOUNT_MAX: u64 = 16 * 1024 * 1024;
/// Chunk size of the chunked-upload fallback (GHCR's limit).
const DEFAULT_CHUNK: u64 = 4 * 1024 * 1024;

/// What asking the target for a blob found: held (found or mounted), or where to upload it
/// (`None`: a session is still to open).
enum Asked {
    Held(BlobOutcome),
    Upload(Option<Url>),
}

/// A source read started before its upload session was open.
enum Early {
    Bytes(Bytes),
    Stream(Box<Verified>, Arc<Mutex<Verdict>>),
}

/// What became of one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlobOutcome {
    Skipped,
    Mounted,
    Copied(u64),
}

/// Everything a blob transfer needs besides the blob.
pub(crate) struct BlobJob<'a> {
    pub(crate) src: &'a super::source::Source,
    pub(crate) dst: &'a RegistryClient,
    pub(crate) dst_repo: &'a str,
    pub(crate) ledger: &'a Ledger,
    pub(crate) slots: &'a tokio::sync::Semaphore,
    /// Force chunked uploads of this size.
    pub(crate) chunk_size: Option<u64>,
    /// Bytes moved so far, for progress display.
    pub(crate) progress: Option<Arc<AtomicU64>>,
    /// A small blob already read (and verified) while planning, sent without a second read.
    pub(crate) prefetched: Option<&'a (Digest, Bytes)>,
    /// What earlier runs saw (`--state`): the holders of blobs, to mount from.
    pub(crate) state: Option<&'a super::state::State>,
}

impl BlobJob<'_> {
    /// Make `desc` present in the target repository.
    pub(crate) async fn run(&self, desc: &Descriptor) -> Result<BlobOutcome, RegistryError> {
        let host = self.dst.host().to_string();
        let digest = &desc.digest;
        let slot = self.ledger.slot(&host, digest);
        let _guard = slot.lock().await;
        if self.ledger.has(&host, self.dst_repo, digest) {
            return Ok(BlobOutcome::Skipped);
        }
        // Where the blob may already be, the cheapest question. In a repository whose tag was
        // there, a `HEAD`. Elsewhere a small blob is asked for with the upload's own `POST`,
        // mounting from the repository itself (201: it holds it; 202: the session to upload
        // into), so a repository this run creates gets two requests a blob, the protocol's
        // floor. A registry that ignores mounts answers 202 and the blob goes up again, which
        // a big blob is not risked on: it gets its `HEAD`.
        let tagged = self.ledger.tagged(&host, self.dst_repo);
        if (tagged || desc.size > SELF_MOUNT_MAX)
            && self.dst.blob_head(self.dst_repo, digest).await?.is_some()
        {
            self.held(digest);
            return Ok(BlobOutcome::Skipped);
        }
        let mut candidates = self.ledger.holders(&host, digest, self.dst_repo);
        if let Some((client, repo)) = self.src.registry() {
            if client.same_registry(self.dst) && repo != self.dst_repo {
                candidates.insert(0, repo.to_string());
            }
        }
        candidates.truncate(3);
        // A holder an earlier run saw, when this run knows none (`--state`).
        let remembered = match candidates.is_empty() {
            true => self
                .state
                .and_then(|s| s.holder(&host, digest))
                .filter(|r| r != self.dst_repo),
            false => None,
        };
        candidates.extend(remembered.clone());
        if candidates.is_empty() && !tagged && desc.size <= SELF_MOUNT_MAX {
            candidates.push(self.dst_repo.to_string());
        }
        // A blob that no known holder can lend is most likely uploaded: its source read starts
        // while the `POST` is on its way (in a blob slot, like any body). The read is wasted
        // only when the repository turns out to hold the blob (at most [`SELF_MOUNT_MAX`]).
        let policy = self.dst.retry_policy();
        // Source reads of this blob may resume this many times in all, over every attempt.
        let resumes = Arc::new(AtomicU32::new(policy.retries));
        let prefetched = self.prefetched.is_some_and(|(d, _)| d == digest);
        let in_put = self.chunk_size.is_none()
            && !lock(&self.ledger.chunked_only).contains(&host)
            && !lock(&self.ledger.patch_first).contains(&host);
        let read_early = desc.size <= SELF_MOUNT_MAX
            && (desc.size <= SMALL_BLOB || in_put)
            && !prefetched
            && candidates.iter().all(|c| c == self.dst_repo);
        let early_permit = match read_early {
            true => Some(self.blob_slot().await?),
            false => None,
        };
        let (asked, mut early) = if read_early {
            let (asked, read) = tokio::join!(
                self.ask(digest, &candidates, None, true),
                self.read_early(desc, &resumes)
            );
            (asked?, read.ok())
        } else {
            let asked = self.ask(digest, &candidates, remembered.as_deref(), false);
            (asked.await?, None)
        };
        let mut location = match asked {
            Asked::Held(outcome) => return Ok(outcome),
            Asked::Upload(loc) => loc,
        };
        let _permit = match early_permit {
            Some(p) => p,
            None => self.blob_slot().await?,
        };
        let mut attempt = 0;
        // An interrupted session that can go on: its Location and the bytes it holds.
        let mut resume: Option<(Url, u64)> = None;
        loop {
            let (loc, offset) = match (resume.take(), location.take()) {
                (Some(r), _) => r,
                (None, Some(l)) => (l, 0),
                (None, None) => (self.dst.blob_upload_start(self.dst_repo).await?, 0),
            };
            let whole = lock(&self.ledger.whole_only).contains(&host);
            let chunked = self.chunk_size.filter(|_| !whole).or_else(|| {
                lock(&self.ledger.chunked_only)
                    .contains(&host)
                    .then_some(DEFAULT_CHUNK)
            });
            let patch_first = lock(&self.ledger.patch_first).contains(&host);
            let (result, session) = match chunked {
                _ if desc.size <= SMALL_BLOB => {
                    let bytes = match early.take() {
                        Some(Early::Bytes(b)) => Some(b),
                        _ => None,
                    };
                    (self.upload_small(desc, &loc, bytes).await, loc)
                }
                // A fresh session: the blob in the closing `PUT` itself (two requests in all).
                None if offset == 0 && !patch_first => {
                    let opened = match early.take() {
                        Some(Early::Stream(stream, verdict)) => Some((*stream, verdict)),
                        _ => None,
                    };
                    self.upload_in_put(desc, loc, opened, &resumes).await
                }
                Some(chunk) => {
                    self.upload_chunked(desc, loc, offset, chunk, &resumes)
                        .await
                }
                None => self.upload_streamed(desc, loc, offset, &resumes).await,
            };
            let e = match result {
                Ok(()) => {
                    self.held(digest);
                    return Ok(BlobOutcome::Copied(desc.size));
                }
                Err(e) => e,
            };
            // After a retry, "no such upload" means the session finished: the question is
            // whether the blob is there, as after any failure whose outcome is unknown.
            let gone = e.has_code("BLOB_UPLOAD_UNKNOWN");
            // A resumed session whose bytes do not add up (the registry held less than it
            // said): start over with a fresh session.
            let misjoined = offset > 0 && e.has_code("DIGEST_INVALID");
            let retryable = e.is_temporary() || gone || misjoined;
            if retryable && self.landed(desc).await {
                debug!(%digest, "the upload had landed; only its answer was lost");
                self.held(digest);
                return Ok(BlobOutcome::Copied(desc.size));
            }
            let refused_stream = chunked.is_none()
                && offset == 0
                && desc.size > SMALL_BLOB
                && matches!(e.status(), Some(400 | 405 | 411 | 413 | 416 | 501))
                && !e.has_code("DIGEST_INVALID")
                && !e.has_code("SIZE_INVALID");
            if refused_stream && !patch_first && lock(&self.ledger.patch_first).insert(host.clone())
            {
                warn!(registry = %host, error = %e, "the registry refused a blob in the closing PUT; sending it with a PATCH first");
                self.dst.blob_upload_cancel(self.dst_repo, &session).await;
                continue;
            }
            if refused_stream && lock(&self.ledger.chunked_only).insert(host.clone()) {
                warn!(registry = %host, error = %e, "the registry refused a streamed upload; using chunked uploads");
                self.dst.blob_upload_cancel(self.dst_repo, &session).await;
                continue;
            }
            // `--chunk-size` on a registry that takes no chunks: the blob goes whole.
            let refused_chunks = self.chunk_size.is_some()
                && chunked.is_some()
                && offset == 0
                && desc.size > SMALL_BLOB
                && matches!(e.status(), Some(400 | 405 | 416 | 501))
                && !e.has_code("DIGEST_INVALID")
                && !e.has_code("SIZE_INVALID")
                && !lock(&self.ledger.chunked_only).contains(&host);
            if refused_chunks && lock(&self.ledger.whole_only).insert(host.clone()) {
                warn!(registry = %host, error = %e, "the registry refused a chunked upload; sending blobs whole");
                self.dst.blob_upload_cancel(self.dst_repo, &session).await;
                continue;
            }
            if !retryable || attempt >= policy.retries {
                self.dst.blob_upload_cancel(self.dst_repo, &session).await;
                return Err(e);
            }
            attempt += 1;
            tokio::time::sleep(policy.delay(attempt, e.retry_after())).await;
            // Can the session go on from where it stands?
            if desc.size > SMALL_BLOB && !misjoined {
                if let Ok(Some((next, held))) =
                    self.dst.blob_upload_status(self.dst_repo, &session).await
                {
                    if held > 0 && held <= desc.size {
                        warn!(%digest, attempt, offset = held, error = %e, "blob upload interrupted; resuming the session from what it holds");
                        resume = Some((next, held));
                        continue;
                    }
                }
            }
            warn!(%digest, attempt, error = %e, "blob copy failed; starting again from a fresh read");
            self.dst.blob_upload_cancel(self.dst_repo, &session).await;
        }
    }

    /// Whether the blob is in the target repository with its size (a write whose answer was
    /// lost may have landed).
    async fn landed(&self, desc: &Descriptor) -> bool {
        matches!(
            self.dst.blob_head(self.dst_repo, &desc.digest).await,
            Ok(Some(size)) if size == desc.size || size == 0
        )
    }

    fn what(&self, digest: &Digest) -> String {
        format!("blob `{}@{digest}`", self.src.describe())
    }

    async fn source_stream(
        &self,
        desc: &Descriptor,
        resumes: &Arc<AtomicU32>,
    ) -> Result<(Verified, Arc<Mutex<Verdict>>), RegistryError> {
        let (len, inner) = self.src.blob_stream(&desc.digest, resumes.clone()).await?;
        if let Some(len) = len {
            if len != desc.size {
                return Err(RegistryError::SizeMismatch {
                    what: self.what(&desc.digest),
                    expected: desc.size,
                    actual: len,
                });
            }
        }
        let verdict = Arc::new(Mutex::new(Verdict::Pending));
        let stream = Verified {
            inner,
            hasher: Some(desc.digest.verifier()),
            expected: desc.digest.clone(),
            size: desc.size,
            seen: 0,
            verdict: verdict.clone(),
            progress: self.progress.clone(),
        };
        Ok((stream, verdict))
    }

    fn verdict_error(&self, desc: &Descriptor, verdict: &Mutex<Verdict>) -> Option<RegistryError> {
        match &*lock(verdict) {
            Verdict::Size(actual) => Some(RegistryError::SizeMismatch {
                what: self.what(&desc.digest),
                expected: desc.size,
                actual: *actual,
            }),
            Verdict::Digest(actual) => Some(RegistryError::DigestMismatch {
                what: self.what(&desc.digest),
                expected: desc.digest.clone(),
                actual: actual.clone(),
            }),
            Verdict::Pending => Some(RegistryError::Transport {
                url: format!("{}@{}", self.src.describe(), desc.digest),
                detail: "the source stream ended early".into(),
            }),
            Verdict::Ok => None,
        }
    }

    /// One streamed PATCH of the bytes from `offset` on (all of them, or the rest of an
    /// interrupted session), then `PUT ?digest=`; the PUT is only sent once the bytes checked
    /// out. The bytes before `offset` are read and hashed, not sent. Returns the result and
    /// the session's latest Location.
    async fn upload_streamed(
        &self,
        desc: &Descriptor,
        loc: Url,
        offset: u64,
        resumes: &Arc<AtomicU32>,
    ) -> (Result<(), RegistryError>, Url) {
        let (stream, verdict) = match self.source_stream(desc, resumes).await {
            Ok(v) => v,
            Err(e) => return (Err(e), loc),
        };
        let mut rest = Skip {
            inner: Box::pin(stream),
            left: offset,
        };
        let patched = if offset < desc.size {
            let range = (offset > 0).then(|| (offset, desc.size - 1));
            let body = Body::stream(Box::pin(rest));
            self.dst
                .blob_upload_patch(self.dst_repo, &loc, body, desc.size - offset, range)
                .await
        } else {
            // The session holds every byte: read the source through to check it.
            while let Some(item) = rest.next().await {
                if item.is_err() {
                    break;
                }
            }
            Ok(loc.clone())
        };
        if let Some(e) = self.verdict_error(desc, &verdict) {
            if patched.is_err() || !matches!(e, RegistryError::Transport { .. }) {
                return (Err(e), loc);
            }
        }
        let next = match patched {
            Ok(n) => n,
            Err(e) => return (Err(e), loc),
        };
        let done = self
            .dst
            .blob_upload_finish(self.dst_repo, &next, &desc.digest, Body::Empty, 0)
            .await;
        (done, next)
    }

    /// The whole blob streamed in the `PUT` that closes the session (`PUT Location&digest=…`
    /// with the body): with the `POST`, two requests. The stream fails before its last chunk
    /// when the size or digest is wrong, so a bad blob never completes the `PUT`.
    async fn upload_in_put(
        &self,
        desc: &Descriptor,
        loc: Url,
        opened: Option<(Verified, Arc<Mutex<Verdict>>)>,
        resumes: &Arc<AtomicU32>,
    ) -> (Result<(), RegistryError>, Url) {
        let opened = match opened {
            Some(o) => Ok(o),
            None => self.source_stream(desc, resumes).await,
        };
        let (stream, verdict) = match opened {
            Ok(v) => v,
            Err(e) => return (Err(e), loc),
        };
        let body = Body::stream(Box::pin(stream));
        let done = self
            .dst
            .blob_upload_finish(self.dst_repo, &loc, &desc.digest, body, desc.size)
            .await;
        match (done, self.verdict_error(desc, &verdict)) {
            // The source's fault comes first: it says why the upload broke.
            (Err(_), Some(e)) => (Err(e), loc),
            (done, _) => (done, loc),
        }
    }

    /// Chunks of `chunk` bytes with `Content-Range` from `offset` on, for registries that
    /// refuse one big PATCH. Returns the result and the session's latest Location.
    async fn upload_chunked(
        &self,
        desc: &Descriptor,
        loc: Url,
        offset: u64,
        chunk: u64,
        resumes: &Arc<AtomicU32>,
    ) -> (Result<(), RegistryError>, Url) {
        let (stream, verdict) = match self.source_stream(desc, resumes).await {
            Ok(v) => v,
            Err(e) => return (Err(e), loc),
        };
        let mut stream = Skip {
            inner: Box::pin(stream),
            left: offset,
        };
        let mut loc = loc;
        let mut offset = offset;
        let mut buf = Vec::with_capacity(chunk.min(desc.size) as usize);
        loop {
            let next = stream.next().await;
            let done = next.is_none();
            if let Some(item) = next {
                match item {
                    Ok(bytes) => buf.extend_from_slice(&bytes),
                    Err(_) => {
                        let e = self.verdict_error(desc, &verdict).unwrap_or_else(|| {
                            RegistryError::Transport {
                                url: format!("{}@{}", self.src.describe(), desc.digest),
                                detail: "the source stream failed".into(),
                            }
                        });
                        return (Err(e), loc);
                    }
                }
            }
            while buf.len() as u64 >= chunk || (done && !buf.is_empty()) {
                let n = (buf.len() as u64).min(chunk) as usize;
                let part: Vec<u8> = buf.drain(..n).collect();
                let end = offset + n as u64 - 1;
                let sent = self
                    .dst
                    .blob_upload_patch(
                        self.dst_repo,
                        &loc,
                        Body::Bytes(Bytes::from(part)),
                        n as u64,
                        Some((offset, end)),
                    )
                    .await;
                match sent {
                    Ok(next) => loc = next,
                    Err(e) => return (Err(e), loc),
                }
                offset += n as u64;
            }
            if done {
                break;
            }
        }
        if let Some(e) = self.verdict_error(desc, &verdict) {
            return (Err(e), loc);
        }
        let done = self
            .dst
            .blob_upload_finish(self.dst_repo, &loc, &desc.digest, Body::Empty, 0)
            .await;
        (done, loc)
    }

    /// Ask the target with mounts from `candidates` (the repository itself among them: then 201
    /// means it holds the blob): held, or the session a 202 opened. With `open`, a `POST`
    /// opens a session when no mount did. A `remembered` holder (from `--state`) that does not
    /// lend the blob is forgotten; one refused outright (no pull access there any more) is
    /// passed over, not an error.
    async fn ask(
        &self,
        digest: &Digest,
        candidates: &[String],
        remembered: Option<&str>,
        open: bool,
    ) -> Result<Asked, RegistryError> {
        let host = self.dst.host();
        for from in candidates {
            let earlier = remembered == Some(from.as_str());
            let mount = match self.dst.blob_mount(self.dst_repo, digest, from).await {
                Err(e) if earlier && !e.is_temporary() => {
                    debug!(%digest, from, error = %e, "a remembered holder refused the mount");
                    Err(())
                }
                Err(e) => return Err(e),
                Ok(m) => Ok(m),
            };
            if earlier && !matches!(mount, Ok(Mount::Mounted)) {
                if let Some(state) = self.state {
                    state.forget(host, digest, from);
                }
            }
            let Ok(mount) = mount else { continue };
            match mount {
                Mount::Mounted => {
                    self.held(digest);
                    if from == self.dst_repo {
                        debug!(%digest, repo = self.dst_repo, "already there");
                        return Ok(Asked::Held(BlobOutcome::Skipped));
                    }
                    debug!(%digest, from, to = self.dst_repo, "mounted");
                    return Ok(Asked::Held(BlobOutcome::Mounted));
                }
                Mount::Upload(Some(loc)) => return Ok(Asked::Upload(Some(loc))),
                Mount::Upload(None) => {}
            }
        }
        match open {
            true => Ok(Asked::Upload(Some(
                self.dst.blob_upload_start(self.dst_repo).await?,
            ))),
            false => Ok(Asked::Upload(None)),
        }
    }

    /// The target repository holds `digest`: for the rest of this run, and for the next
    /// (`--state`).
    fn held(&self, digest: &Digest) {
        let host = self.dst.host();
        self.ledger.record(host, self.dst_repo, digest);
        if let Some(state) = self.state {
            state.hold(host, digest, self.dst_repo);
        }
    }

    /// One of the engine's blob slots (they bound the bodies in flight over all images).
    async fn blob_slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>, RegistryError> {
        self.slots
            .acquire()
            .await
            .map_err(|_| RegistryError::Config("shutting down".into()))
    }

    /// The source read [`Self::run`] starts early: a small blob whole, else its stream opened.
    async fn read_early(
        &self,
        desc: &Descriptor,
        resumes: &Arc<AtomicU32>,
    ) -> Result<Early, RegistryError> {
        if desc.size <= SMALL_BLOB {
            return self.read_small(desc).await.map(Early::Bytes);
        }
        let (stream, verdict) = self.source_stream(desc, resumes).await?;
        Ok(Early::Stream(Box::new(stream), verdict))
    }

    /// A small blob read whole and verified, for [`Self::upload_small`].
    async fn read_small(&self, desc: &Descriptor) -> Result<Bytes, RegistryError> {
        self.src
            .blob_small(&desc.digest, SMALL_BLOB.max(desc.size) as usize)
            .await
    }

    /// A small blob (`early`: read already, else read now; verified), then one monolithic
    /// `PUT ?digest=` with the body.
    async fn upload_small(
        &self,
        desc: &Descriptor,
        loc: &Url,
        early: Option<Bytes>,
    ) -> Result<(), RegistryError> {
        let bytes = match (early, self.prefetched) {
            (Some(bytes), _) => bytes,
            (None, Some((digest, bytes))) if digest == &desc.digest => bytes.clone(),
            (None, _) => self.read_small(desc).await?,
        };
        if bytes.len() as u64 != desc.size {
            return Err(RegistryError::SizeMismatch {
                what: self.what(&desc.digest),
                expected: desc.size,
                actual: bytes.len() as u64,
            });
        }
        if let Some(p) = &self.progress {
            p.fetch_add(desc.size, Ordering::Relaxed);
        }
        let len = bytes.len() as u64;
        self.dst
            .blob_upload_finish(self.dst_repo, loc, &desc.digest, Body::Bytes(bytes), len)
            .await
    }
}

/// A stream without its first `left` bytes (read, so that they are hashed, but not sent).
struct Skip {
    inner: Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>,
    left: u64,
}

impl Stream for Skip {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match self.inner.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) if self.left > 0 => {
                    let n = self.left.min(chunk.len() as u64);
                    self.left -= n;
                    if (n as usize) < chunk.len() {
                        return Poll::Ready(Some(Ok(chunk.slice(n as usize..))));
                    }
                }
                other => return other,
            }
        }
    }
}

/// The result of checking a streamed body.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Pending,
    Ok,
    Size(u64),
    Digest(Digest),
}

/// A body stream that hashes and counts what passes through and fails instead of ending when
/// the size or digest is wrong, so the upload is cut before it can complete.
struct Verified {
    inner: Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>,
    hasher: Option<Hasher>,
    expected: Digest,
    size: u64,
    seen: u64,
    verdict: Arc<Mutex<Verdict>>,
    progress: Option<Arc<AtomicU64>>,
}

fn failure(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}

impl Stream for Verified {
    type Item = Result<Bytes, std::io::Error>;

    /// The digest is checked as soon as the declared size has passed, before the last chunk is
    /// handed on: an HTTP client sending a body of known length stops polling at that point,
    /// so a check at the end of the stream would come too late to cut the upload.
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if matches!(*lock(&this.verdict), Verdict::Size(_) | Verdict::Digest(_)) {
            // A failed stream never yields again.
            return Poll::Ready(None);
        }
        match this.inner.as_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => {
                this.seen += chunk.len() as u64;
                if this.seen > this.size {
                    *lock(&this.verdict) = Verdict::Size(this.seen);
                    return Poll::Ready(Some(Err(failure(
                        "source blob is larger than its descriptor",
                    ))));
                }
                if let Some(h) = this.hasher.as_mut() {
                    h.update(&chunk);
                }
                if this.seen == this.size {
                    if let Some(hasher) = this.hasher.take() {
                        let actual = hasher.finish();
                        if actual != this.expected {
                            *lock(&this.verdict) = Verdict::Digest(actual);
                            return Poll::Ready(Some(Err(failure("source blob digest mismatch"))));
                        }
                        *lock(&this.verdict) = Verdict::Ok;
                    }
                }
                if let Some(p) = &this.progress {
                    p.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            // Verdict stays pending: the source connection broke, a temporary failure.
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => {
                if this.seen != this.size {
                    *lock(&this.verdict) = Verdict::Size(this.seen);
                    return Poll::Ready(Some(Err(failure(
                        "source blob is shorter than its descriptor",
                    ))));
                }
                if let Some(hasher) = this.hasher.take() {
                    // A zero-length blob: nothing passed through.
                    let actual = hasher.finish();
                    if actual != this.expected {
                        *lock(&this.verdict) = Verdict::Digest(actual);
                        return Poll::Ready(Some(Err(failure("source blob digest mismatch"))));
                    }
                    *lock(&this.verdict) = Verdict::Ok;
                }
                Poll::Ready(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn drain(
        chunks: Vec<&'static [u8]>,
        expected: Digest,
        size: u64,
    ) -> (Vec<Result<Bytes, String>>, Verdict) {
        // Build a reqwest-free stream by mapping from plain bytes.
        let verdict = Arc::new(Mutex::new(Verdict::Pending));
        let inner = futures::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<Bytes, std::io::Error>(Bytes::from_static(c))),
        );
        let mut s = Verified {
            inner: Box::pin(inner),
            hasher: Some(expected.verifier()),
            expected,
            size,
            seen: 0,
            verdict: verdict.clone(),
            progress: None,
        };
        let mut out = Vec::new();
        while let Some(item) = s.next().await {
            out.push(item.map_err(|e| e.to_string()));
        }
        let v = lock(&verdict).clone();
        (out, v)
    }

    #[tokio::test]
    async fn verified_stream_checks_digest_and_size() {
        let d = Digest::sha256(b"hello world");
        let (out, v) = drain(vec![b"hello ", b"world"], d.clone(), 11).await;
        assert_eq!(v, Verdict::Ok);
        assert!(out.iter().all(Result::is_ok));

        let (out, v) = drain(vec![b"hello ", b"WORLD"], d.clone(), 11).await;
        assert!(matches!(v, Verdict::Digest(_)));
        assert_eq!(
            out.len(),
            2,
            "the last chunk is replaced by the error: {out:?}"
        );
        assert!(out[1].is_err());

        let (_, v) = drain(vec![b"hello"], d.clone(), 11).await;
        assert_eq!(v, Verdict::Size(5));

        let (out, v) = drain(vec![b"hello world!!"], d, 11).await;
        assert_eq!(v, Verdict::Size(13));
        assert_eq!(out.len(), 1, "the oversized chunk is never passed on");
        assert!(out[0].is_err());
    }
}
