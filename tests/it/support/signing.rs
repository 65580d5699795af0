//! Signatures, SBOMs and attestations laid out the way cosign and notation write them, for the
//! referrers tests:
//! - cosign's tag schema: a manifest tagged `sha256-<hex>.sig` whose layer is a simple-signing
//!   payload (`application/vnd.dev.cosign.simplesigning.v1+json`) carrying the signature in the
//!   `dev.cosignproject.cosign/signature` annotation;
//! - OCI 1.1 artifacts (notation, cosign's newer layout, SBOMs): `artifactType`, the empty
//!   config `{}` (`application/vnd.oci.empty.v1+json`), one payload layer and a `subject`;
//! - the fallback index a registry without the referrers API keeps them in (tag `sha256-<hex>`).

use super::client::RegistryClient;
use super::image::{OCI_EMPTY as EMPTY_CONFIG, OCI_INDEX, OCI_MANIFEST};
use super::proxy::Proxy;
use super::sha256_digest;
use axum::http::Method;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const NOTATION: &str = "application/vnd.cncf.notary.signature";
pub const SPDX: &str = "application/spdx+json";
pub const COSIGN_SIG: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";

/// A manifest with its blobs.
#[derive(Clone, Debug)]
pub struct Artifact {
    pub manifest: Vec<u8>,
    pub media_type: String,
    pub digest: String,
    pub artifact_type: Option<String>,
    pub blobs: Vec<Vec<u8>>,
}

impl Artifact {
    /// The descriptor of this artifact, as a referrers list (or fallback index) has it.
    pub fn descriptor(&self) -> Value {
        let mut d = json!({
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.manifest.len(),
        });
        if let Some(t) = &self.artifact_type {
            d["artifactType"] = json!(t);
        }
        d
    }
}

/// The `subject` descriptor for a manifest.
pub fn subject(media_type: &str, digest: &str, size: usize) -> Value {
    json!({"mediaType": media_type, "digest": digest, "size": size})
}

/// cosign's legacy signature of `subject_digest` (pushed under `sha256-<hex>.sig`).
pub fn cosign_signature(subject_digest: &str, seed: u64) -> Artifact {
    let payload = json!({
        "critical": {
            "identity": {"docker-reference": "example.test/app"},
            "image": {"docker-manifest-digest": subject_digest},
            "type": "cosign container image signature",
        },
        "optional": {"seed": seed},
    });
    let payload = serde_json::to_vec(&payload).expect("payload");
    let config = serde_json::to_vec(&json!({
        "architecture": "", "os": "", "config": {}, "rootfs": {"type": "layers", "diff_ids": [sha256_digest(&payload)]},
    }))
    .expect("config");
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha256_digest(&config), "size": config.len()},
        "layers": [{
            "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
            "digest": sha256_digest(&payload), "size": payload.len(),
            "annotations": {"dev.cosignproject.cosign/signature": format!("MEUCIQ{seed}signature==")},
        }],
    });
    let manifest = serde_json::to_vec(&manifest).expect("manifest");
    Artifact {
        digest: sha256_digest(&manifest),
        manifest,
        media_type: OCI_MANIFEST.into(),
        artifact_type: None,
        blobs: vec![config, payload],
    }
}

/// An OCI 1.1 artifact of `artifact_type` about `subject` (a descriptor from [`subject`]).
pub fn artifact(
    artifact_type: &str,
    subject: Value,
    payload: &[u8],
    payload_type: &str,
) -> Artifact {
    let empty = b"{}".to_vec();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": EMPTY_CONFIG, "digest": sha256_digest(&empty), "size": 2},
        "layers": [{"mediaType": payload_type, "digest": sha256_digest(payload), "size": payload.len()}],
        "subject": subject,
        "annotations": {"org.opencontainers.image.created": "2026-11-30T00:00:00Z"},
    });
    let manifest = serde_json::to_vec(&manifest).expect("manifest");
    Artifact {
        digest: sha256_digest(&manifest),
        manifest,
        media_type: OCI_MANIFEST.into(),
        artifact_type: Some(artifact_type.into()),
        blobs: vec![empty, payload.to_vec()],
    }
}

/// Pushes the artifact's blobs, then the artifact under `reference` (its digest when `None`).
pub fn push_artifact(client: &RegistryClient, repo: &str, reference: Option<&str>, a: &Artifact) {
    for b in &a.blobs {
        client.push_blob(repo, b);
    }
    let digest = client.push_manifest(
        repo,
        reference.unwrap_or(&a.digest),
        &a.media_type,
        &a.manifest,
    );
    assert_eq!(digest, a.digest);
}

/// The tag schema's tag for `digest`: `sha256-<hex>`.
pub fn fallback_tag(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

/// Writes the fallback index of `subject_digest` listing `entries` (descriptors).
pub fn push_fallback_index(
    client: &RegistryClient,
    repo: &str,
    subject_digest: &str,
    entries: &[Value],
) -> String {
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries,
    }))
    .expect("index");
    client.push_manifest(repo, &fallback_tag(subject_digest), OCI_INDEX, &index)
}

/// The digests a fallback index lists, in order.
pub fn index_digests(client: &RegistryClient, repo: &str, subject_digest: &str) -> Vec<String> {
    match client.get_manifest(repo, &fallback_tag(subject_digest)) {
        Some((_, bytes, _)) => {
            let v: Value = serde_json::from_slice(&bytes).expect("index json");
            v["manifests"]
                .as_array()
                .map(|l| {
                    l.iter()
                        .map(|d| d["digest"].as_str().unwrap_or("").to_string())
                        .collect()
                })
                .unwrap_or_default()
        }
        None => Vec::new(),
    }
}

/// The target holds `a` byte for byte under `reference` (its digest when `None`), with its blobs.
pub fn assert_holds(client: &RegistryClient, repo: &str, reference: Option<&str>, a: &Artifact) {
    let reference = reference.unwrap_or(&a.digest);
    let (media_type, bytes, digest) = client
        .get_manifest(repo, reference)
        .unwrap_or_else(|| panic!("{repo}@{reference} is missing at the target"));
    assert_eq!(media_type, a.media_type);
    assert_eq!(bytes, a.manifest, "{reference}: the bytes differ");
    assert_eq!(digest, a.digest);
    for b in &a.blobs {
        assert_eq!(client.get_blob(repo, &sha256_digest(b)), *b);
    }
}

/// A registry with the OCI 1.1 referrers API: a [`Proxy`] in front of a real registry that
/// answers `GET /v2/<name>/referrers/<digest>` from its own table (with `artifactType`
/// filtering), and notes every manifest `PUT` that carries a `subject` there, answering it with
/// `OCI-Subject` as such registries do.
pub struct ReferrersApi {
    table: Arc<Mutex<HashMap<String, Vec<Value>>>>,
    pub proxy: Proxy,
}

impl ReferrersApi {
    pub fn over(registry: &super::Registry) -> ReferrersApi {
        let table: Arc<Mutex<HashMap<String, Vec<Value>>>> = Arc::default();
        let listing = table.clone();
        let rule: super::Rule = Box::new(move |method, uri, _, _| {
            if method != Method::GET {
                return None;
            }
            let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
            let (_, subject) = path.strip_prefix("/v2/")?.rsplit_once("/referrers/")?;
            let wanted = url::form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "artifactType")
                .map(|(_, v)| v.into_owned());
            let all = listing
                .lock()
                .expect("table")
                .get(subject)
                .cloned()
                .unwrap_or_default();
            let manifests: Vec<Value> = all
                .into_iter()
                .filter(|d| wanted.as_deref().is_none_or(|t| d["artifactType"] == t))
                .collect();
            let mut headers = vec![("content-type".to_string(), OCI_INDEX.to_string())];
            if wanted.is_some() {
                headers.push(("oci-filters-applied".into(), "artifactType".into()));
            }
            Some(super::Refusal {
                status: 200,
                headers,
                body: json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests})
                    .to_string(),
            })
        });
        let noting = table.clone();
        let after: super::After = Box::new(move |method, uri, body, status, headers| {
            if method != Method::PUT || status != 201 || !uri.contains("/manifests/") {
                return;
            }
            let Ok(doc) = serde_json::from_slice::<Value>(body) else {
                return;
            };
            let Some(subject) = doc["subject"]["digest"].as_str() else {
                return;
            };
            let mut d = json!({
                "mediaType": doc["mediaType"], "digest": sha256_digest(body), "size": body.len(),
            });
            let t = doc
                .get("artifactType")
                .unwrap_or(&doc["config"]["mediaType"]);
            d["artifactType"] = t.clone();
            let mut table = noting.lock().expect("table");
            let list = table.entry(subject.to_string()).or_default();
            if !list.iter().any(|e| e["digest"] == d["digest"]) {
                list.push(d);
            }
            headers.insert("oci-subject", subject.parse().expect("header"));
        });
        ReferrersApi {
            table,
            proxy: Proxy::start_with(&registry.base_url(), rule, Some(after)),
        }
    }

    /// List `referrer` (a descriptor) as a referrer of `subject`.
    pub fn add(&self, subject: &str, referrer: Value) {
        self.table
            .lock()
            .expect("table")
            .entry(subject.to_string())
            .or_default()
            .push(referrer);
    }

    /// The digests listed for `subject`.
    pub fn listed(&self, subject: &str) -> Vec<String> {
        self.table
            .lock()
            .expect("table")
            .get(subject)
            .map(|l| {
                l.iter()
                    .map(|d| d["digest"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}
