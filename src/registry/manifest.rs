//! Manifests as the registry stores them: media types, exact bytes and their digest, and a parsed
//! view (descriptors, platforms, attestation markers) for planning a copy.
//!
//! A manifest that is not changed is never re-serialized: [`RawManifest::bytes`] travels as read.

use crate::digest::Digest;
use crate::registry::platform::Platform;
use bytes::Bytes;
use serde_json::Value;

/// Media type strings, in one place.
pub mod media_type {
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    pub const OCI_FOREIGN: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar";
    pub const OCI_FOREIGN_GZIP: &str =
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    pub const DOCKER_FOREIGN: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar";
    pub const DOCKER_FOREIGN_GZIP: &str =
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

    /// The `Accept` header for manifest GET and HEAD: all four current types.
    pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
}

/// Distribution refuses manifests larger than this; we refuse to read larger ones.
pub const MANIFEST_LIMIT: usize = 4 * 1024 * 1024;

/// BuildKit's annotation marking an attestation entry of an index.
pub const ANNOTATION_REFERENCE_TYPE: &str = "vnd.docker.reference.type";
/// BuildKit's annotation naming the image an attestation describes.
pub const ANNOTATION_REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";

/// What a manifest is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    DockerManifest,
    DockerList,
    OciManifest,
    OciIndex,
}

impl Kind {
    pub fn from_media_type(mt: &str) -> Option<Kind> {
        match mt {
            media_type::DOCKER_MANIFEST => Some(Kind::DockerManifest),
            media_type::DOCKER_LIST => Some(Kind::DockerList),
            media_type::OCI_MANIFEST => Some(Kind::OciManifest),
            media_type::OCI_INDEX => Some(Kind::OciIndex),
            _ => None,
        }
    }

    pub fn is_index(self) -> bool {
        matches!(self, Kind::DockerList | Kind::OciIndex)
    }

    pub fn is_oci(self) -> bool {
        matches!(self, Kind::OciManifest | Kind::OciIndex)
    }

    pub fn media_type(self) -> &'static str {
        match self {
            Kind::DockerManifest => media_type::DOCKER_MANIFEST,
            Kind::DockerList => media_type::DOCKER_LIST,
            Kind::OciManifest => media_type::OCI_MANIFEST,
            Kind::OciIndex => media_type::OCI_INDEX,
        }
    }
}

/// A manifest's exact bytes with their media type and digest.
#[derive(Debug, Clone)]
pub struct RawManifest {
    pub media_type: String,
    pub bytes: Bytes,
    pub digest: Digest,
}

impl RawManifest {
    /// Wrap bytes read from a registry; the media type comes from the JSON `mediaType` when
    /// present, else from the `Content-Type` the registry sent, else from the shape.
    pub fn from_bytes(
        bytes: Bytes,
        content_type: Option<&str>,
    ) -> Result<RawManifest, ManifestBytesError> {
        let digest = Digest::sha256(&bytes);
        let json: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ManifestBytesError::Json(format!("manifest `{digest}` is not valid JSON: {e}"))
        })?;
        let media_type =
            detect_media_type(&json, content_type).map_err(ManifestBytesError::Kind)?;
        Ok(RawManifest {
            media_type,
            bytes,
            digest,
        })
    }

    /// Serialize a rewritten manifest (compact JSON) and compute its digest.
    pub fn from_json(json: &Value, media_type: &str) -> RawManifest {
        let bytes = Bytes::from(serde_json::to_vec(json).unwrap_or_default());
        RawManifest {
            media_type: media_type.to_string(),
            digest: Digest::sha256(&bytes),
            bytes,
        }
    }

    pub fn kind(&self) -> Option<Kind> {
        Kind::from_media_type(&self.media_type)
    }

    pub fn json(&self) -> Result<Value, String> {
        serde_json::from_slice(&self.bytes).map_err(|e| format!("manifest is not valid JSON: {e}"))
    }
}

/// Why bytes are not a manifest: they do not parse (a corrupted answer, worth another read), or
/// they are a kind this program does not handle (final).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestBytesError {
    #[error("{0}")]
    Json(String),
    #[error("{0}")]
    Kind(String),
}

fn detect_media_type(json: &Value, content_type: Option<&str>) -> Result<String, String> {
    if json.get("schemaVersion").and_then(Value::as_u64) == Some(1) {
        return Err("the registry only has a Docker schema 1 manifest for this image, which is deprecated and not supported; push the image again with a current Docker or use another tag".into());
    }
    if let Some(mt) = json.get("mediaType").and_then(Value::as_str) {
        return Ok(mt.to_string());
    }
    let ct = content_type
        .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
        .filter(|c| Kind::from_media_type(c).is_some());
    if let Some(ct) = ct {
        return Ok(ct);
    }
    if json.get("manifests").is_some() {
        Ok(media_type::OCI_INDEX.into())
    } else if json.get("config").is_some() || json.get("layers").is_some() {
        Ok(media_type::OCI_MANIFEST.into())
    } else {
        Err("the manifest has no `mediaType` and is neither an index nor an image manifest".into())
    }
}

/// A content descriptor, parsed; [`Descriptor::raw`] keeps the JSON object it came from.
#[derive(Debug, Clone)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    pub platform: Option<Platform>,
    pub urls: Vec<String>,
    pub annotations: serde_json::Map<String, Value>,
    pub raw: Value,
}

impl Descriptor {
    pub fn parse(v: &Value) -> Result<Descriptor, String> {
        let media_type = v
            .get("mediaType")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let digest_text = v
            .get("digest")
            .and_then(Value::as_str)
            .ok_or("a descriptor has no `digest`")?;
        let digest: Digest = digest_text
            .parse()
            .map_err(|e| format!("a descriptor has a bad digest: {e}"))?;
        let size = v
            .get("size")
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("descriptor `{digest}` has no `size`"))?;
        let platform = v.get("platform").and_then(Platform::from_descriptor_json);
        let urls = v
            .get("urls")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|u| u.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let annotations = v
            .get("annotations")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        Ok(Descriptor {
            media_type,
            digest,
            size,
            platform,
            urls,
            annotations,
            raw: v.clone(),
        })
    }

    /// The descriptor's `artifactType` (referrers carry it in their index entries).
    pub fn artifact_type(&self) -> Option<&str> {
        self.raw.get("artifactType").and_then(Value::as_str)
    }

    /// A BuildKit attestation entry of an index: platform `unknown/unknown` or the
    /// `vnd.docker.reference.type: attestation-manifest` annotation.
    pub fn is_attestation(&self) -> bool {
        let annotated = self
            .annotations
            .get(ANNOTATION_REFERENCE_TYPE)
            .and_then(Value::as_str)
            == Some("attestation-manifest");
        annotated || self.platform.as_ref().is_some_and(Platform::is_unknown)
    }

    /// For an attestation entry: the digest of the image it describes.
    pub fn attests(&self) -> Option<Digest> {
        self.annotations
            .get(ANNOTATION_REFERENCE_DIGEST)
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
    }

    /// A layer that registries must not store (`urls` set or a non-distributable type).
    pub fn is_foreign(&self) -> bool {
        !self.urls.is_empty()
            || self.media_type.contains("foreign")
            || self.media_type.contains("nondistributable")
    }
}

/// The parsed view of an image manifest (Docker v2s2 or OCI).
#[derive(Debug, Clone)]
pub struct ImageManifest {
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    pub artifact_type: Option<String>,
}

/// The parsed view of an index (OCI index or Docker manifest list).
#[derive(Debug, Clone)]
pub struct Index {
    pub manifests: Vec<Descriptor>,
}

/// Either kind, parsed. Short-lived, so the size difference between the variants is harmless.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Parsed {
    Image(ImageManifest),
    Index(Index),
}

impl RawManifest {
    /// Parse the descriptors out of the manifest.
    pub fn parse(&self) -> Result<Parsed, String> {
        let json = self.json()?;
        let kind = self.kind().ok_or_else(|| {
            format!(
                "manifest `{}` has media type `{}`, which is not an image manifest or index",
                self.digest, self.media_type
            )
        })?;
        if kind.is_index() {
            let manifests = json
                .get("manifests")
                .and_then(Value::as_array)
                .ok_or("the index has no `manifests` list")?
                .iter()
                .map(Descriptor::parse)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Parsed::Index(Index { manifests }))
        } else {
            let config =
                Descriptor::parse(json.get("config").ok_or("the manifest has no `config`")?)?;
            let layers = match json.get("layers") {
                Some(Value::Array(a)) => a
                    .iter()
                    .map(Descriptor::parse)
                    .collect::<Result<Vec<_>, _>>()?,
                Some(Value::Null) | None => Vec::new(),
                Some(_) => return Err("the manifest's `layers` is not a list".into()),
            };
            // A `subject` must be a valid descriptor, though the copy keeps it only as bytes.
            json.get("subject").map(Descriptor::parse).transpose()?;
            let artifact_type = json
                .get("artifactType")
                .and_then(Value::as_str)
                .map(str::to_string);
            Ok(Parsed::Image(ImageManifest {
                config,
                layers,
                artifact_type,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_media_types() {
        let oci = br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
        let m = RawManifest::from_bytes(Bytes::from_static(oci), None).expect("parse");
        assert_eq!(m.media_type, media_type::OCI_MANIFEST);
        let m = RawManifest::from_bytes(
            Bytes::from_static(oci),
            Some("application/vnd.docker.distribution.manifest.v2+json; charset=utf-8"),
        )
        .expect("parse");
        assert_eq!(m.media_type, media_type::DOCKER_MANIFEST);
        let err = RawManifest::from_bytes(
            Bytes::from_static(br#"{"schemaVersion":1,"fsLayers":[]}"#),
            None,
        )
        .expect_err("schema 1");
        assert!(
            matches!(&err, ManifestBytesError::Kind(m) if m.contains("schema 1")),
            "{err}"
        );
    }

    #[test]
    fn parses_attestation_entries() {
        let d = serde_json::json!({
            "mediaType": media_type::OCI_MANIFEST,
            "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
            "size": 566,
            "platform": {"architecture": "unknown", "os": "unknown"},
            "annotations": {
                "vnd.docker.reference.digest": "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
                "vnd.docker.reference.type": "attestation-manifest"
            }
        });
        let d = Descriptor::parse(&d).expect("descriptor");
        assert!(d.is_attestation());
        assert_eq!(
            d.attests().map(|d| d.to_string()).as_deref(),
            Some("sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
        );
    }
}
