//! Manifests: `HEAD`, `GET` (the exact bytes, verified, retried whole when cut or corrupt) and
//! `PUT` (after an ambiguous failure the reference is looked up before the `PUT` is repeated:
//! when it already names our digest, the write landed and its answer was only lost).

use crate::digest::Digest;
use crate::registry::client::RegistryClient;
use crate::registry::error::RegistryError;
use crate::registry::exchange::read_capped;
use crate::registry::manifest::{media_type, ManifestBytesError, RawManifest, MANIFEST_LIMIT};
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use tracing::debug;

/// What a manifest HEAD tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestHead {
    pub digest: Digest,
    pub media_type: String,
    pub size: Option<u64>,
}

fn accept_manifests() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(ACCEPT, HeaderValue::from_static(media_type::ACCEPT));
    h
}

fn content_digest(headers: &HeaderMap) -> Option<Digest> {
    headers
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<Digest>().ok())
}

impl RegistryClient {
    /// HEAD a manifest by tag or digest. `None` when the registry has no such manifest.
    pub async fn manifest_head(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<ManifestHead>, RegistryError> {
        let url = self
            .url(&format!("v2/{repo}/manifests/{reference}"))
            .await?;
        let resp = self
            .send(self.request(Method::HEAD, url, repo, accept_manifests()))
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(self.fail(resp, "HEAD", "manifest", repo).await);
        }
        let h = resp.headers();
        let media_type = h
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_string())
            .unwrap_or_default();
        let size = h
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        match content_digest(h) {
            Some(digest) => Ok(Some(ManifestHead {
                digest,
                media_type,
                size,
            })),
            // No digest header: fall back to a GET (counts as a pull on Docker Hub).
            None => {
                let m = self.manifest_get(repo, reference, None).await?;
                Ok(Some(ManifestHead {
                    digest: m.digest.clone(),
                    media_type: m.media_type.clone(),
                    size: Some(m.bytes.len() as u64),
                }))
            }
        }
    }

    /// GET a manifest's exact bytes. Pulled by digest (or with `expected`), the bytes are
    /// verified against it; a tag's `Docker-Content-Digest` is not trusted. A cut body, bytes
    /// that do not parse or do not match are retried like a 5xx.
    pub async fn manifest_get(
        &self,
        repo: &str,
        reference: &str,
        expected: Option<&Digest>,
    ) -> Result<RawManifest, RegistryError> {
        let url = self
            .url(&format!("v2/{repo}/manifests/{reference}"))
            .await?;
        let shown = format!(
            "{}/{}{}{}",
            self.registry,
            repo,
            if reference.contains(':') { "@" } else { ":" },
            reference
        );
        let want = expected
            .cloned()
            .or_else(|| reference.parse::<Digest>().ok());
        let stall = self.transport.stall();
        let req = self.request(Method::GET, url, repo, accept_manifests());
        self.exchange(req, |resp| {
            let (shown, want) = (&shown, &want);
            async move {
                if resp.status() == StatusCode::NOT_FOUND {
                    let err = self.fail(resp, "GET", "manifest", repo).await;
                    return Err(match err {
                        RegistryError::Status(s) if s.has_code("NAME_UNKNOWN") => {
                            RegistryError::NameUnknown {
                                reference: format!("{}/{}", self.registry, repo),
                            }
                        }
                        _ => RegistryError::ManifestUnknown {
                            reference: shown.clone(),
                        },
                    });
                }
                if !resp.status().is_success() {
                    return Err(self.fail(resp, "GET", "manifest", repo).await);
                }
                let content_type = resp
                    .headers()
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let bytes =
                    read_capped(resp, MANIFEST_LIMIT + 1, stall)
                        .await
                        .map_err(|detail| RegistryError::Transport {
                            url: shown.clone(),
                            detail,
                        })?;
                if bytes.len() > MANIFEST_LIMIT {
                    return Err(RegistryError::Manifest(format!(
                        "manifest `{shown}` is larger than 4 MiB"
                    )));
                }
                let actual = Digest::sha256(&bytes);
                if let Some(want) = want {
                    if want != &actual {
                        return Err(RegistryError::DigestMismatch {
                            what: format!("manifest `{shown}`"),
                            expected: want.clone(),
                            actual,
                        });
                    }
                }
                RawManifest::from_bytes(Bytes::from(bytes), content_type.as_deref()).map_err(|e| {
                    match e {
                        ManifestBytesError::Json(m) => {
                            RegistryError::Corrupt(format!("`{shown}`: {m}"))
                        }
                        ManifestBytesError::Kind(m) => {
                            RegistryError::Manifest(format!("`{shown}`: {m}"))
                        }
                    }
                })
            }
        })
        .await
    }

    /// PUT a manifest by tag or digest; the registry's digest must equal ours. A failure whose
    /// outcome is unknown (a cut connection, a stall, a 5xx) is followed by a HEAD of the
    /// reference: when it names our digest the write landed; otherwise it is sent again.
    pub async fn manifest_put(
        &self,
        repo: &str,
        reference: &str,
        manifest: &RawManifest,
    ) -> Result<(), RegistryError> {
        self.manifest_put_answer(repo, reference, manifest)
            .await
            .map(|_| ())
    }

    /// [`Self::manifest_put`], telling whether the registry answered with an `OCI-Subject`
    /// header: it then keeps referrers itself (the referrers API), and no fallback index is
    /// due. A write found landed after a lost answer says `false` (not known).
    pub async fn manifest_put_answer(
        &self,
        repo: &str,
        reference: &str,
        manifest: &RawManifest,
    ) -> Result<bool, RegistryError> {
        let url = self
            .url(&format!("v2/{repo}/manifests/{reference}"))
            .await?;
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_str(&manifest.media_type).map_err(|_| {
                RegistryError::Manifest(format!("bad media type `{}`", manifest.media_type))
            })?,
        );
        let policy = self.transport.retry();
        let mut attempt = 0;
        loop {
            let mut req = self.request(Method::PUT, url.clone(), repo, headers.clone());
            req.body = crate::registry::exchange::Body::Bytes(manifest.bytes.clone());
            req.retry = false;
            let result = self
                .exchange(req, |resp| async move {
                    if !resp.status().is_success() {
                        return Err(self.fail(resp, "PUT", "manifest", repo).await);
                    }
                    match content_digest(resp.headers()) {
                        Some(d) if d != manifest.digest => Err(RegistryError::DigestMismatch {
                            what: format!(
                                "manifest pushed to `{}/{repo}:{reference}`",
                                self.registry
                            ),
                            expected: manifest.digest.clone(),
                            actual: d,
                        }),
                        _ => Ok(resp.headers().contains_key("oci-subject")),
                    }
                })
                .await;
            match result {
                Err(e) if e.is_temporary() && attempt < policy.retries => {
                    attempt += 1;
                    tokio::time::sleep(policy.delay(attempt, e.retry_after())).await;
                    // The PUT may have landed although its answer was lost: look first.
                    if let Ok(Some(head)) = self.manifest_head(repo, reference).await {
                        if head.digest == manifest.digest {
                            debug!(
                                repo,
                                reference, "the manifest PUT had landed; its answer was lost"
                            );
                            return Ok(false);
                        }
                    }
                    debug!(repo, reference, attempt, error = %e, "sending the manifest again");
                }
                other => return other,
            }
        }
    }
}
