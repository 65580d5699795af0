//! Manifest conversion between OCI and Docker v2s2, per the table in `docs/REGISTRY-QUIRKS.md`.
//!
//! Only manifests change: config and layer bytes (and so their digests) stay as they are, so a
//! converted image needs no blob work beyond the copy itself. Conversion to Docker drops
//! annotations, `subject` and `artifactType`, which Docker manifests cannot carry.

use crate::registry::manifest::{media_type as mt, Descriptor, ImageManifest, Kind, RawManifest};
use serde_json::{json, Map, Value};

/// Why a manifest cannot be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error("layer `{digest}` is `{media_type}`, which Docker v2s2 cannot carry")]
    Layer { digest: String, media_type: String },
    #[error("manifest `{digest}` is an OCI artifact (config `{config}`), not an image; Docker v2s2 cannot carry it")]
    Artifact { digest: String, config: String },
    #[error("manifest `{digest}` has config media type `{config}`, which has no {to} equivalent")]
    Config {
        digest: String,
        config: String,
        to: &'static str,
    },
}

/// The Docker layer type for an OCI (or Docker) layer type.
pub fn layer_to_docker(media_type: &str) -> Option<&'static str> {
    Some(match media_type {
        mt::OCI_LAYER_GZIP | mt::DOCKER_LAYER_GZIP => mt::DOCKER_LAYER_GZIP,
        mt::OCI_LAYER | mt::DOCKER_LAYER => mt::DOCKER_LAYER,
        mt::OCI_FOREIGN_GZIP | mt::DOCKER_FOREIGN_GZIP => mt::DOCKER_FOREIGN_GZIP,
        mt::OCI_FOREIGN | mt::DOCKER_FOREIGN => mt::DOCKER_FOREIGN,
        _ => return None,
    })
}

/// The OCI layer type for a Docker (or OCI) layer type; unknown OCI types pass unchanged.
pub fn layer_to_oci(media_type: &str) -> Option<&'static str> {
    Some(match media_type {
        mt::DOCKER_LAYER_GZIP | mt::OCI_LAYER_GZIP => mt::OCI_LAYER_GZIP,
        mt::DOCKER_LAYER | mt::OCI_LAYER => mt::OCI_LAYER,
        mt::DOCKER_FOREIGN_GZIP | mt::OCI_FOREIGN_GZIP => mt::OCI_FOREIGN_GZIP,
        mt::DOCKER_FOREIGN | mt::OCI_FOREIGN => mt::OCI_FOREIGN,
        mt::OCI_LAYER_ZSTD => mt::OCI_LAYER_ZSTD,
        _ => return None,
    })
}

/// A new descriptor in the key order of the target format's own types (Docker: mediaType, size,
/// digest; OCI: mediaType, digest, size), so conversions give the bytes skopeo gives.
fn descriptor_json(media_type: &str, d: &Descriptor, keep_urls: bool, to: Kind) -> Value {
    let mut o = Map::new();
    o.insert("mediaType".into(), json!(media_type));
    if to.is_oci() {
        o.insert("digest".into(), json!(d.digest.as_str()));
        o.insert("size".into(), json!(d.size));
    } else {
        o.insert("size".into(), json!(d.size));
        o.insert("digest".into(), json!(d.digest.as_str()));
    }
    if keep_urls && !d.urls.is_empty() {
        o.insert("urls".into(), json!(d.urls));
    }
    Value::Object(o)
}

/// Convert an image manifest to `to` (Docker v2s2 or OCI manifest). `None`: already that kind.
pub fn convert_image(
    raw: &RawManifest,
    image: &ImageManifest,
    to: Kind,
) -> Result<Option<RawManifest>, ConvertError> {
    if raw.kind() == Some(to) {
        return Ok(None);
    }
    let digest = raw.digest.to_string();
    let (config_type, layer_map): (&str, fn(&str) -> Option<&'static str>) = match to {
        Kind::DockerManifest => {
            if image.artifact_type.is_some() || image.config.media_type == mt::OCI_EMPTY {
                return Err(ConvertError::Artifact {
                    digest,
                    config: image.config.media_type.clone(),
                });
            }
            if image.config.media_type != mt::OCI_CONFIG
                && image.config.media_type != mt::DOCKER_CONFIG
            {
                return Err(ConvertError::Config {
                    digest,
                    config: image.config.media_type.clone(),
                    to: "Docker v2s2",
                });
            }
            (mt::DOCKER_CONFIG, layer_to_docker)
        }
        _ => {
            if image.config.media_type != mt::OCI_CONFIG
                && image.config.media_type != mt::DOCKER_CONFIG
            {
                return Err(ConvertError::Config {
                    digest,
                    config: image.config.media_type.clone(),
                    to: "OCI",
                });
            }
            (mt::OCI_CONFIG, layer_to_oci)
        }
    };
    let layers = image
        .layers
        .iter()
        .map(|l| {
            let t = layer_map(&l.media_type).ok_or_else(|| ConvertError::Layer {
                digest: l.digest.to_string(),
                media_type: l.media_type.clone(),
            })?;
            Ok(descriptor_json(t, l, true, to))
        })
        .collect::<Result<Vec<_>, ConvertError>>()?;
    let out = json!({
        "schemaVersion": 2,
        "mediaType": to.media_type(),
        "config": descriptor_json(config_type, &image.config, false, to),
        "layers": layers,
    });
    Ok(Some(RawManifest::from_json(&out, to.media_type())))
}

/// One entry of a rewritten index: the original descriptor and the manifest now behind it.
pub struct IndexEntry<'a> {
    pub original: &'a Descriptor,
    pub manifest: &'a RawManifest,
}

/// Rebuild an index over `entries` as `to`. Unchanged kind keeps the original document's other
/// fields (annotations, `schemaVersion`, ...) and each entry's platform and annotations; a kind
/// change writes a plain document, without annotations when the target is Docker.
pub fn rebuild_index(
    original: &RawManifest,
    entries: &[IndexEntry<'_>],
    to: Kind,
) -> Result<RawManifest, String> {
    let same_kind = original.kind() == Some(to);
    let mut doc = if same_kind {
        original.json()?
    } else {
        json!({"schemaVersion": 2, "mediaType": to.media_type()})
    };
    let manifests: Vec<Value> = entries
        .iter()
        .map(|e| {
            let o = if same_kind {
                let mut o = e.original.raw.as_object().cloned().unwrap_or_default();
                o.insert("mediaType".into(), json!(e.manifest.media_type));
                o.insert("size".into(), json!(e.manifest.bytes.len()));
                o.insert("digest".into(), json!(e.manifest.digest.as_str()));
                o
            } else {
                // A new entry in the key order the target format's own types write (the
                // bytes skopeo produces): Docker mediaType, size, digest; OCI mediaType,
                // digest, size; then the platform.
                let mut o = Map::new();
                o.insert("mediaType".into(), json!(e.manifest.media_type));
                if to.is_oci() {
                    o.insert("digest".into(), json!(e.manifest.digest.as_str()));
                    o.insert("size".into(), json!(e.manifest.bytes.len()));
                } else {
                    o.insert("size".into(), json!(e.manifest.bytes.len()));
                    o.insert("digest".into(), json!(e.manifest.digest.as_str()));
                }
                if let Some(p) = e.original.raw.get("platform") {
                    o.insert("platform".into(), docker_platform(p));
                }
                o
            };
            let mut o = o;
            if to == Kind::DockerList {
                o.remove("annotations");
                o.remove("artifactType");
            }
            Value::Object(o)
        })
        .collect();
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("manifests".into(), Value::Array(manifests));
        if to == Kind::DockerList {
            obj.remove("annotations");
            obj.remove("subject");
            obj.remove("artifactType");
        }
        obj.insert("mediaType".into(), json!(to.media_type()));
    }
    Ok(RawManifest::from_json(&doc, to.media_type()))
}

/// A platform object with Docker's key order: architecture, os, os.version, os.features,
/// variant, features, then anything else as it came.
fn docker_platform(p: &Value) -> Value {
    let Some(src) = p.as_object() else {
        return p.clone();
    };
    const ORDER: [&str; 6] = [
        "architecture",
        "os",
        "os.version",
        "os.features",
        "variant",
        "features",
    ];
    let mut out = Map::new();
    for k in ORDER {
        if let Some(v) = src.get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    for (k, v) in src {
        if !ORDER.contains(&k.as_str()) {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::manifest::Parsed;
    use bytes::Bytes;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

    fn oci_image(layer_type: &str) -> RawManifest {
        let doc = json!({
            "schemaVersion": 2,
            "mediaType": mt::OCI_MANIFEST,
            "config": {"mediaType": mt::OCI_CONFIG, "digest": D1, "size": 10},
            "layers": [{"mediaType": layer_type, "digest": D2, "size": 20, "annotations": {"a": "b"}}],
            "annotations": {"org.opencontainers.image.created": "now"}
        });
        RawManifest::from_bytes(Bytes::from(serde_json::to_vec(&doc).expect("json")), None)
            .expect("manifest")
    }

    fn image_of(raw: &RawManifest) -> ImageManifest {
        match raw.parse().expect("parse") {
            Parsed::Image(i) => i,
            Parsed::Index(_) => panic!("image expected"),
        }
    }

    #[test]
    fn oci_to_docker_maps_types_and_drops_annotations() {
        let raw = oci_image(mt::OCI_LAYER_GZIP);
        let out = convert_image(&raw, &image_of(&raw), Kind::DockerManifest)
            .expect("convert")
            .expect("changed");
        assert_eq!(out.media_type, mt::DOCKER_MANIFEST);
        let v = out.json().expect("json");
        assert_eq!(v["config"]["mediaType"], mt::DOCKER_CONFIG);
        assert_eq!(v["config"]["digest"], D1);
        assert_eq!(v["layers"][0]["mediaType"], mt::DOCKER_LAYER_GZIP);
        assert_eq!(v["layers"][0]["digest"], D2);
        assert!(v.get("annotations").is_none());
        assert!(v["layers"][0].get("annotations").is_none());
        assert!(out.digest.matches(&out.bytes));
        // And back.
        let back = convert_image(&out, &image_of(&out), Kind::OciManifest)
            .expect("convert")
            .expect("changed");
        assert_eq!(
            back.json().expect("json")["layers"][0]["mediaType"],
            mt::OCI_LAYER_GZIP
        );
    }

    #[test]
    fn same_kind_is_untouched() {
        let raw = oci_image(mt::OCI_LAYER_GZIP);
        assert!(convert_image(&raw, &image_of(&raw), Kind::OciManifest)
            .expect("ok")
            .is_none());
    }

    #[test]
    fn zstd_and_artifacts_are_refused() {
        let raw = oci_image(mt::OCI_LAYER_ZSTD);
        let err = convert_image(&raw, &image_of(&raw), Kind::DockerManifest).expect_err("zstd");
        assert_eq!(
            err.to_string(),
            format!("layer `{D2}` is `application/vnd.oci.image.layer.v1.tar+zstd`, which Docker v2s2 cannot carry")
        );
        let doc = json!({
            "schemaVersion": 2, "mediaType": mt::OCI_MANIFEST,
            "artifactType": "application/vnd.in-toto+json",
            "config": {"mediaType": mt::OCI_EMPTY, "digest": D1, "size": 2},
            "layers": [{"mediaType": "application/vnd.in-toto+json", "digest": D2, "size": 20}],
            "subject": {"mediaType": mt::OCI_MANIFEST, "digest": D3, "size": 5}
        });
        let raw =
            RawManifest::from_bytes(Bytes::from(serde_json::to_vec(&doc).expect("json")), None)
                .expect("m");
        assert!(matches!(
            convert_image(&raw, &image_of(&raw), Kind::DockerManifest),
            Err(ConvertError::Artifact { .. })
        ));
    }

    #[test]
    fn rebuilds_index_as_docker_list() {
        let child = oci_image(mt::OCI_LAYER_GZIP);
        let index = json!({
            "schemaVersion": 2, "mediaType": mt::OCI_INDEX,
            "annotations": {"x": "y"},
            "manifests": [{"mediaType": mt::OCI_MANIFEST, "digest": child.digest.as_str(), "size": child.bytes.len(),
                           "platform": {"os": "linux", "architecture": "amd64"}, "annotations": {"k": "v"}}]
        });
        let raw =
            RawManifest::from_bytes(Bytes::from(serde_json::to_vec(&index).expect("json")), None)
                .expect("m");
        let Parsed::Index(idx) = raw.parse().expect("parse") else {
            panic!("index")
        };
        let converted = convert_image(&child, &image_of(&child), Kind::DockerManifest)
            .expect("ok")
            .expect("changed");
        let out = rebuild_index(
            &raw,
            &[IndexEntry {
                original: &idx.manifests[0],
                manifest: &converted,
            }],
            Kind::DockerList,
        )
        .expect("rebuild");
        let v = out.json().expect("json");
        assert_eq!(v["mediaType"], mt::DOCKER_LIST);
        assert!(v.get("annotations").is_none());
        assert_eq!(v["manifests"][0]["digest"], converted.digest.as_str());
        assert_eq!(v["manifests"][0]["mediaType"], mt::DOCKER_MANIFEST);
        assert_eq!(v["manifests"][0]["platform"]["architecture"], "amd64");
        assert!(v["manifests"][0].get("annotations").is_none());
        // Same kind keeps the document's annotations.
        let same = rebuild_index(
            &raw,
            &[IndexEntry {
                original: &idx.manifests[0],
                manifest: &child,
            }],
            Kind::OciIndex,
        )
        .expect("rebuild");
        assert_eq!(same.json().expect("json")["annotations"]["x"], "y");
    }
}
