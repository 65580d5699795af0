//! Referrers: the manifests whose `subject` is a given manifest (signatures, SBOMs,
//! attestations). Asked through the OCI 1.1 referrers API (`GET /v2/<name>/referrers/<digest>`);
//! a registry without it answers 404, and its referrers are kept in the tag schema's fallback
//! index instead (tag `sha256-<hex>`, an OCI index listing them), which cosign and notation
//! maintain there. cosign's older tags (`sha256-<hex>.sig`, `.att`, `.sbom`) are found by name.
//!
//! Everything read is a registry's text: bounded (a page at most [`MANIFEST_LIMIT`], at most
//! [`MAX_PAGES`] pages), and every descriptor's digest parsed before it becomes a URL.

use crate::digest::Digest;
use crate::registry::client::RegistryClient;
use crate::registry::error::{redact_url, RegistryError};
use crate::registry::exchange::read_capped;
use crate::registry::listing::next_page;
use crate::registry::manifest::{media_type, Descriptor, MANIFEST_LIMIT};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// A registry that keeps sending `next` links for one subject is stopped here.
const MAX_PAGES: usize = 16;
/// At most this many referrers of one subject are taken.
pub const MAX_REFERRERS: usize = 1024;

/// What a registry's referrers API answered.
#[derive(Debug, Clone)]
pub enum Listed {
    /// The API is there: these refer to the subject (maybe none).
    Referrers(Vec<Descriptor>),
    /// The registry has no referrers API (404, 400, 405, 501): the fallback tag holds them.
    NoApi,
}

/// The tag schema's tag for referrers of `subject` (and the stem of cosign's tags).
pub fn fallback_tag(subject: &Digest) -> String {
    subject.as_str().replacen(':', "-", 1)
}

/// The descriptors of an index's `manifests`, each with a valid digest; at most
/// [`MAX_REFERRERS`]. Anything else in the document is ignored.
pub fn index_entries(doc: &Value) -> Vec<Descriptor> {
    doc.get("manifests")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|d| Descriptor::parse(d).ok())
                .take(MAX_REFERRERS)
                .collect()
        })
        .unwrap_or_default()
}

impl RegistryClient {
    /// The referrers of `subject` in `repo` through the referrers API, all pages; with
    /// `artifact_type`, only those of that type (filtered here when the registry did not).
    pub async fn referrers(
        &self,
        repo: &str,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Listed, RegistryError> {
        let mut url = self.url(&format!("v2/{repo}/referrers/{subject}")).await?;
        if let Some(t) = artifact_type {
            url.query_pairs_mut().append_pair("artifactType", t);
        }
        let stall = self.transport.stall();
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let mut headers = HeaderMap::new();
            headers.insert(ACCEPT, HeaderValue::from_static(media_type::OCI_INDEX));
            let req = self.request(Method::GET, url.clone(), repo, headers);
            let page_url = &url;
            let page = self
                .exchange(req, |resp| async move {
                    let status = resp.status();
                    if matches!(
                        status,
                        StatusCode::NOT_FOUND
                            | StatusCode::BAD_REQUEST
                            | StatusCode::METHOD_NOT_ALLOWED
                            | StatusCode::NOT_IMPLEMENTED
                    ) {
                        return Ok(None);
                    }
                    if !status.is_success() {
                        return Err(self.fail(resp, "GET", "referrers", repo).await);
                    }
                    let filtered = resp.headers().contains_key("oci-filters-applied");
                    let next = next_page(resp.headers(), page_url);
                    let body =
                        read_capped(resp, MANIFEST_LIMIT, stall)
                            .await
                            .map_err(|detail| RegistryError::Transport {
                                url: redact_url(page_url),
                                detail,
                            })?;
                    let doc: Value = serde_json::from_slice(&body).map_err(|e| {
                        RegistryError::Corrupt(format!(
                            "the referrers of `{repo}@{subject}` are not valid JSON: {e}"
                        ))
                    })?;
                    Ok(Some((index_entries(&doc), filtered, next)))
                })
                .await?;
            let Some((entries, filtered, next)) = page else {
                return Ok(Listed::NoApi);
            };
            out.extend(entries.into_iter().filter(|d| {
                filtered || artifact_type.is_none_or(|t| d.artifact_type() == Some(t))
            }));
            out.truncate(MAX_REFERRERS);
            match next {
                Some(n) if n != url && out.len() < MAX_REFERRERS => url = n,
                _ => return Ok(Listed::Referrers(out)),
            }
        }
        Ok(Listed::Referrers(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fallback_tag_is_the_digest_with_a_dash() {
        let d = Digest::sha256(b"x");
        let tag = fallback_tag(&d);
        assert_eq!(tag, format!("sha256-{}", d.encoded()));
        assert!(crate::reference::is_valid_tag(&tag));
    }

    #[test]
    fn index_entries_keep_valid_descriptors_only() {
        let good = Digest::sha256(b"sig");
        let doc = serde_json::json!({"manifests": [
            {"mediaType": media_type::OCI_MANIFEST, "digest": good.as_str(), "size": 10,
             "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json"},
            {"mediaType": media_type::OCI_MANIFEST, "digest": "sha256:../../etc", "size": 1},
            {"mediaType": media_type::OCI_MANIFEST},
        ]});
        let entries = index_entries(&doc);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].digest, good);
        assert_eq!(
            entries[0].artifact_type(),
            Some("application/vnd.dev.cosign.artifact.sig.v1+json")
        );
        assert!(index_entries(&serde_json::json!({"manifests": 3})).is_empty());
    }
}
