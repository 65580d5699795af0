//! Blobs: `HEAD`, streamed `GET` (and `Range` resumption), small `GET`s read whole and
//! verified, cross-repository mounts and the upload session (`POST`, `PATCH`, status `GET`,
//! closing `PUT`, `DELETE`).
//!
//! Session writes (`PATCH`, the closing `PUT`) are not repeated blindly: their outcome after a
//! failure is found out by the caller ([`RegistryClient::blob_head`],
//! [`RegistryClient::blob_upload_status`]) before anything is sent again.

use crate::digest::Digest;
use crate::registry::auth::Scope;
use crate::registry::client::RegistryClient;
use crate::registry::error::RegistryError;
use crate::registry::exchange::{location_of, read_capped, Body};
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Method, Response, StatusCode};
use tracing::debug;
use url::Url;

/// The answer to a mount request.
#[derive(Debug)]
pub enum Mount {
    /// 201: the blob is now in the target repository.
    Mounted,
    /// Not mounted; an upload session was opened instead (or must be).
    Upload(Option<Url>),
}

fn digest_of(headers: &HeaderMap) -> Option<Digest> {
    headers
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<Digest>().ok())
}

impl RegistryClient {
    /// HEAD a blob: `Some(size)` when present. Some registries answer 403 for absent blobs.
    pub async fn blob_head(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<Option<u64>, RegistryError> {
        let url = self.url(&format!("v2/{repo}/blobs/{digest}")).await?;
        let resp = self
            .send(self.request(Method::HEAD, url, repo, HeaderMap::new()))
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(Some(
                resp.headers()
                    .get(CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            )),
            StatusCode::NOT_FOUND | StatusCode::FORBIDDEN => Ok(None),
            _ => Err(self.fail(resp, "HEAD", "blob", repo).await),
        }
    }

    /// GET a blob as a response whose body the caller streams (redirects followed).
    pub async fn blob_get(&self, repo: &str, digest: &Digest) -> Result<Response, RegistryError> {
        let url = self.url(&format!("v2/{repo}/blobs/{digest}")).await?;
        let req = self.request(Method::GET, url, repo, HeaderMap::new());
        self.exchange(req, |resp| async move {
            self.blob_answer(resp, repo, digest).await
        })
        .await
    }

    async fn blob_answer(
        &self,
        resp: Response,
        repo: &str,
        digest: &Digest,
    ) -> Result<Response, RegistryError> {
        if resp.status() == StatusCode::NOT_FOUND {
            let _ = self.fail(resp, "GET", "blob", repo).await;
            return Err(RegistryError::Manifest(format!(
                "blob `{digest}` is missing from `{}/{repo}`",
                self.registry
            )));
        }
        if !resp.status().is_success() {
            return Err(self.fail(resp, "GET", "blob", repo).await);
        }
        Ok(resp)
    }

    /// GET the rest of a blob from byte `offset` (`Range: bytes=OFFSET-`), to resume a cut read.
    /// `None` when the registry (or its CDN) does not answer with that range.
    pub async fn blob_get_from(
        &self,
        repo: &str,
        digest: &Digest,
        offset: u64,
    ) -> Result<Option<Response>, RegistryError> {
        let url = self.url(&format!("v2/{repo}/blobs/{digest}")).await?;
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&format!("bytes={offset}-")) {
            headers.insert(reqwest::header::RANGE, v);
        }
        let resp = self
            .send(self.request(Method::GET, url, repo, headers))
            .await?;
        let starts_at_offset = resp
            .headers()
            .get(reqwest::header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("bytes "))
            .and_then(|v| v.split('-').next())
            .and_then(|v| v.trim().parse::<u64>().ok())
            == Some(offset);
        if resp.status() == StatusCode::PARTIAL_CONTENT && starts_at_offset {
            Ok(Some(resp))
        } else {
            Ok(None)
        }
    }

    /// GET a small blob (an image config) whole and verified; a cut or corrupt body is tried
    /// again like a 5xx.
    pub async fn blob_get_small(
        &self,
        repo: &str,
        digest: &Digest,
        limit: usize,
    ) -> Result<Bytes, RegistryError> {
        let url = self.url(&format!("v2/{repo}/blobs/{digest}")).await?;
        let req = self.request(Method::GET, url, repo, HeaderMap::new());
        let stall = self.transport.stall();
        self.exchange(req, |resp| async move {
            let resp = self.blob_answer(resp, repo, digest).await?;
            let bytes = read_capped(resp, limit + 1, stall)
                .await
                .map_err(|detail| RegistryError::Transport {
                    url: format!("{}/{repo}@{digest}", self.registry),
                    detail,
                })?;
            if bytes.len() > limit {
                return Err(RegistryError::Manifest(format!(
                    "blob `{digest}` is larger than {limit} bytes"
                )));
            }
            if !digest.matches(&bytes) {
                return Err(RegistryError::DigestMismatch {
                    what: format!("blob `{}/{repo}@{digest}`", self.registry),
                    expected: digest.clone(),
                    actual: Digest::sha256(&bytes),
                });
            }
            Ok(Bytes::from(bytes))
        })
        .await
    }

    /// Ask the registry to mount `digest` from `from` into `repo`. Only 201 counts as mounted
    /// (Harbor answers 401 for a missing source project); 202 opens an upload session. A lost
    /// answer is harmless to repeat: the mount happens again, or another session opens.
    pub async fn blob_mount(
        &self,
        repo: &str,
        digest: &Digest,
        from: &str,
    ) -> Result<Mount, RegistryError> {
        let mut url = self.url(&format!("v2/{repo}/blobs/uploads/")).await?;
        url.query_pairs_mut()
            .append_pair("mount", digest.as_str())
            .append_pair("from", from);
        let mut req = self.request(Method::POST, url, repo, HeaderMap::new());
        Scope::merge_into(&mut req.scopes, Scope::pull(from));
        req.headers
            .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        let resp = self.send(req).await?;
        match resp.status() {
            StatusCode::CREATED => Ok(Mount::Mounted),
            StatusCode::ACCEPTED => Ok(Mount::Upload(location_of(&resp)?)),
            status => {
                debug!(repo, %digest, from, status = status.as_u16(), "mount refused");
                Ok(Mount::Upload(None))
            }
        }
    }

    /// Open an upload session: the Location to send the data to. (A lost answer leaves an
    /// unused session behind, which the registry expires.)
    pub async fn blob_upload_start(&self, repo: &str) -> Result<Url, RegistryError> {
        let url = self.url(&format!("v2/{repo}/blobs/uploads/")).await?;
        let mut req = self.request(Method::POST, url, repo, HeaderMap::new());
        req.headers
            .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        let resp = self.send(req).await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(self.fail(resp, "POST", "blob upload", repo).await);
        }
        location_of(&resp)?.ok_or_else(|| {
            RegistryError::Manifest("the registry opened an upload without a Location".into())
        })
    }

    /// Where an upload session stands: the Location to go on with and the bytes it holds;
    /// `None` when the session is gone (finished, expired, or unknown to the registry).
    pub async fn blob_upload_status(
        &self,
        repo: &str,
        location: &Url,
    ) -> Result<Option<(Url, u64)>, RegistryError> {
        let resp = self
            .send(self.request(Method::GET, location.clone(), repo, HeaderMap::new()))
            .await?;
        if !resp.status().is_success() {
            debug!(repo, status = resp.status().as_u16(), "upload session gone");
            return Ok(None);
        }
        // `Range: 0-N`, N inclusive. Distribution answers `0-0` for an empty session too, so
        // `0-0` counts as nothing held: starting over is always safe, resuming too far is not.
        let offset = resp
            .headers()
            .get(reqwest::header::RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim_start_matches("bytes=").split('-').nth(1))
            .and_then(|end| end.trim().parse::<u64>().ok())
            .filter(|end| *end > 0)
            .map(|end| end + 1)
            .unwrap_or(0);
        let next = location_of(&resp)?.unwrap_or_else(|| location.clone());
        Ok(Some((next, offset)))
    }

    /// PATCH data into an upload session; returns the next Location. `range` is
    /// `Some((start, end_inclusive))` for a chunk of a chunked upload, `None` for one streamed
    /// PATCH. Never repeated here: after a failure ask [`RegistryClient::blob_upload_status`].
    pub async fn blob_upload_patch(
        &self,
        repo: &str,
        location: &Url,
        body: Body,
        length: u64,
        range: Option<(u64, u64)>,
    ) -> Result<Url, RegistryError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
        if let Some((start, end)) = range {
            headers.insert(
                "content-range",
                HeaderValue::from_str(&format!("{start}-{end}"))
                    .map_err(|e| RegistryError::Config(e.to_string()))?,
            );
        }
        let mut req = self.request(Method::PATCH, location.clone(), repo, headers);
        req.body = body;
        req.retry = false;
        let resp = self.send(req).await?;
        if resp.status() != StatusCode::ACCEPTED && resp.status() != StatusCode::NO_CONTENT {
            return Err(self.fail(resp, "PATCH", "blob upload", repo).await);
        }
        Ok(location_of(&resp)?.unwrap_or_else(|| location.clone()))
    }

    /// Close an upload session with the digest (`PUT Location&digest=…`), optionally with data.
    /// Never repeated here: after a failure the caller HEADs the blob, since the PUT may have
    /// landed (and a repeat would only meet `BLOB_UPLOAD_UNKNOWN`).
    pub async fn blob_upload_finish(
        &self,
        repo: &str,
        location: &Url,
        digest: &Digest,
        body: Body,
        length: u64,
    ) -> Result<(), RegistryError> {
        let mut url = location.clone();
        url.query_pairs_mut().append_pair("digest", digest.as_str());
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
        if length > 0 {
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
        }
        let mut req = self.request(Method::PUT, url, repo, headers);
        req.body = body;
        req.retry = false;
        let resp = self.send(req).await?;
        if !resp.status().is_success() {
            return Err(self.fail(resp, "PUT", "blob upload", repo).await);
        }
        if let Some(d) = digest_of(resp.headers()) {
            if &d != digest {
                return Err(RegistryError::DigestMismatch {
                    what: format!("blob uploaded to `{}/{repo}`", self.registry),
                    expected: digest.clone(),
                    actual: d,
                });
            }
        }
        Ok(())
    }

    /// Abandon an upload session (best effort).
    pub async fn blob_upload_cancel(&self, repo: &str, location: &Url) {
        let mut req = self.request(Method::DELETE, location.clone(), repo, HeaderMap::new());
        req.retry = false;
        if let Err(e) = self.send(req).await {
            debug!(repo, error = %e, "cancelling upload failed");
        }
    }
}
