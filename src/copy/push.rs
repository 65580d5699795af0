//! The push plan: what to write for one image, computed without side effects from the source
//! manifests: which index entries to keep (platforms, attestations), what to convert, which blobs
//! to move, and in which order to write manifests (children by digest, the named one last).
//! Nothing here reads or writes a registry or a layout.

use crate::copy::{Format, Platforms};
use crate::digest::Digest;
use crate::registry::convert::{convert_image, rebuild_index, ConvertError, IndexEntry};
use crate::registry::manifest::{Descriptor, Kind, Parsed, RawManifest};
use crate::registry::platform::Platform;
use bytes::Bytes;
use std::collections::{HashMap, HashSet};

/// Stricter ways to write an image after a target refused the first attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Fallback {
    pub(crate) drop_attestations: bool,
    pub(crate) force_v2s2: bool,
}

impl Fallback {
    /// The next, stricter way after a target refused `plan`: first without attestations, then
    /// converted to Docker v2s2 (when OCI manifests were written); `None` when nothing is left.
    pub(crate) fn after_refusal(
        self,
        plan: &PushPlan,
        source_kind: Option<Kind>,
    ) -> Option<Fallback> {
        if plan.has_attestations && !self.drop_attestations {
            return Some(Fallback {
                drop_attestations: true,
                ..self
            });
        }
        let source_oci = source_kind.is_some_and(Kind::is_oci);
        if plan.writes_oci && (source_oci || plan.converted) && !self.force_v2s2 {
            return Some(Fallback {
                drop_attestations: true,
                force_v2s2: true,
            });
        }
        None
    }
}

/// Why no push plan could be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PushPlanError {
    #[error("cannot convert to Docker v2s2: {0}")]
    Convert(#[from] ConvertError),
    #[error("the source has none of the requested platforms ({requested}); it has {available}")]
    NoPlatform {
        requested: String,
        available: String,
    },
    #[error("{0}")]
    Manifest(String),
}

impl PushPlanError {
    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            PushPlanError::Convert(e) => Some(crate::hints::for_convert(e).to_string()),
            PushPlanError::NoPlatform { available, .. } => Some(format!(
                "choose one of them with `--platform`, e.g. `--platform {}`, or copy them all with `--all-platforms`",
                available.split(", ").next().unwrap_or("linux/amd64")
            )),
            PushPlanError::Manifest(_) => None,
        }
    }
}

/// The source side: the top manifest and every child manifest fetched for it.
pub(crate) struct SourceTree {
    pub(crate) top: RawManifest,
    pub(crate) children: HashMap<Digest, RawManifest>,
    /// For a single image: the platform its config declares, when known.
    pub(crate) config_platform: Option<Platform>,
    /// For a single image: its config blob (verified), read once for the platform and reused
    /// for the upload.
    pub(crate) config: Option<(Digest, Bytes)>,
}

/// What to write, in order.
#[derive(Debug, Clone)]
pub(crate) struct PushPlan {
    /// Every blob the manifests need, deduplicated, largest first.
    pub(crate) blobs: Vec<Descriptor>,
    /// Manifests pushed by digest, in push order (images, then attestations after their subjects).
    pub(crate) children: Vec<RawManifest>,
    /// The manifest the target tag will point to.
    pub(crate) top: RawManifest,
    pub(crate) platforms: Vec<Platform>,
    pub(crate) converted: bool,
    pub(crate) dropped: Vec<String>,
    pub(crate) warnings: Vec<String>,
    /// True when attestations are kept (a fallback may drop them).
    pub(crate) has_attestations: bool,
    /// True when OCI manifests are written (a fallback may convert them).
    pub(crate) writes_oci: bool,
}

/// The index entries to fetch for `top` under `platforms`: the selected images and the
/// attestations that describe them. Empty for a single image.
pub(crate) fn select(top: &RawManifest, platforms: &Platforms) -> Result<Selection, PushPlanError> {
    let parsed = top.parse().map_err(PushPlanError::Manifest)?;
    let Parsed::Index(index) = parsed else {
        return Ok(Selection::default());
    };
    let (attestations, images): (Vec<&Descriptor>, Vec<&Descriptor>) =
        index.manifests.iter().partition(|d| d.is_attestation());
    let mut sel = Selection::default();
    match platforms {
        Platforms::All => {
            sel.images = images.into_iter().cloned().collect();
        }
        Platforms::Only(wanted) => {
            for w in wanted {
                match images
                    .iter()
                    .find(|d| d.platform.as_ref().is_some_and(|p| p.matches(w)))
                {
                    Some(d) => {
                        if !sel.images.iter().any(|s| s.digest == d.digest) {
                            sel.images.push((*d).clone());
                        }
                    }
                    None => sel.missing.push(w.clone()),
                }
            }
            if sel.images.is_empty() {
                let available: Vec<String> = images
                    .iter()
                    .filter_map(|d| d.platform.as_ref().map(Platform::to_string))
                    .collect();
                return Err(PushPlanError::NoPlatform {
                    requested: wanted
                        .iter()
                        .map(Platform::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    available: if available.is_empty() {
                        "no platforms".into()
                    } else {
                        available.join(", ")
                    },
                });
            }
            sel.single = wanted.len() == 1;
        }
    }
    let kept: HashSet<&Digest> = sel.images.iter().map(|d| &d.digest).collect();
    sel.attestations = attestations
        .into_iter()
        .filter(|a| {
            a.attests().is_some_and(|d| kept.contains(&d))
                || (a.attests().is_none() && matches!(platforms, Platforms::All))
        })
        .cloned()
        .collect();
    sel.total_entries = index.manifests.len();
    Ok(sel)
}

/// Index entries chosen by [`select`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Selection {
    pub(crate) images: Vec<Descriptor>,
    pub(crate) attestations: Vec<Descriptor>,
    pub(crate) missing: Vec<Platform>,
    /// One platform was asked for: the target tag gets that child manifest itself.
    pub(crate) single: bool,
    pub(crate) total_entries: usize,
}

impl Selection {
    /// Digests of the child manifests to fetch.
    pub(crate) fn to_fetch(&self) -> Vec<Digest> {
        let mut v: Vec<Digest> = self.images.iter().map(|d| d.digest.clone()).collect();
        if !self.single {
            v.extend(self.attestations.iter().map(|d| d.digest.clone()));
        }
        v
    }
}

/// Whether the source's manifest would be written unchanged (so equal digests mean up to date)
/// judging by its media type alone: a single Docker image under v2s2, an OCI image under oci,
/// anything under preserve; an index only when every platform is kept.
pub(crate) fn passes_through(media_type: &str, platforms: &Platforms, format: Format) -> bool {
    let Some(kind) = Kind::from_media_type(media_type) else {
        return false;
    };
    if kind.is_index() && *platforms != Platforms::All {
        return false;
    }
    match format {
        Format::Preserve => true,
        Format::V2s2 => !kind.is_oci(),
        Format::Oci => kind.is_oci() && kind.is_index() || kind == Kind::OciManifest,
    }
}

/// The kind an image manifest of kind `from` is written as.
fn image_kind(from: Kind, format: Format, fb: Fallback) -> Kind {
    if fb.force_v2s2 {
        return Kind::DockerManifest;
    }
    match format {
        Format::Preserve => from,
        Format::V2s2 => Kind::DockerManifest,
        Format::Oci => Kind::OciManifest,
    }
}

fn index_kind(from: Kind, format: Format, fb: Fallback) -> Kind {
    if fb.force_v2s2 {
        return Kind::DockerList;
    }
    match format {
        Format::Preserve => from,
        Format::V2s2 => Kind::DockerList,
        Format::Oci => Kind::OciIndex,
    }
}

/// Convert one image manifest as the format asks; returns the manifest to write and its blobs.
fn image(
    raw: &RawManifest,
    format: Format,
    fb: Fallback,
) -> Result<(RawManifest, Vec<Descriptor>, bool), PushPlanError> {
    let kind = raw.kind().ok_or_else(|| {
        PushPlanError::Manifest(format!(
            "manifest `{}` has unsupported media type `{}`",
            raw.digest, raw.media_type
        ))
    })?;
    if kind.is_index() {
        return Err(PushPlanError::Manifest(format!(
            "manifest `{}` is an index inside an index; nested indexes are not supported",
            raw.digest
        )));
    }
    let Parsed::Image(img) = raw.parse().map_err(PushPlanError::Manifest)? else {
        return Err(PushPlanError::Manifest("expected an image manifest".into()));
    };
    let mut blobs = vec![img.config.clone()];
    blobs.extend(img.layers.iter().cloned());
    let to = image_kind(kind, format, fb);
    match convert_image(raw, &img, to)? {
        Some(converted) => Ok((converted, blobs, true)),
        None => Ok((raw.clone(), blobs, false)),
    }
}

/// Build the push plan for `tree` under the options and fallback level.
pub(crate) fn build(
    tree: &SourceTree,
    platforms: &Platforms,
    format: Format,
    fb: Fallback,
) -> Result<PushPlan, PushPlanError> {
    let top_kind = tree.top.kind().ok_or_else(|| {
        PushPlanError::Manifest(format!(
            "unsupported manifest media type `{}`",
            tree.top.media_type
        ))
    })?;
    let mut warnings = Vec::new();
    if !top_kind.is_index() {
        if let (Platforms::Only(wanted), Some(actual)) = (platforms, &tree.config_platform) {
            if !wanted.iter().any(|w| w.matches(actual)) {
                // Like skopeo and crane: a single-platform image is what the user named, so
                // it is copied as it is; the mismatch is reported, not fatal.
                warnings.push(format!(
                    "the source is a single-platform image for `{actual}`, not {}; copied as it is",
                    wanted
                        .iter()
                        .map(|p| format!("`{p}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        let (top, blobs, converted) = image(&tree.top, format, fb)?;
        let writes_oci = top.kind().is_some_and(Kind::is_oci);
        return Ok(PushPlan {
            blobs: dedupe(blobs, &mut warnings),
            children: Vec::new(),
            platforms: tree.config_platform.iter().cloned().collect(),
            top,
            converted,
            dropped: Vec::new(),
            warnings,
            has_attestations: false,
            writes_oci,
        });
    }

    let sel = select(&tree.top, platforms)?;
    for m in &sel.missing {
        warnings.push(format!(
            "the source has no `{m}` image; copied the other platforms"
        ));
    }
    let child = |d: &Digest| {
        tree.children
            .get(d)
            .ok_or_else(|| PushPlanError::Manifest(format!("child manifest `{d}` was not fetched")))
    };
    let mut dropped = Vec::new();

    if sel.single {
        let d = &sel.images[0];
        let (top, blobs, converted) = image(child(&d.digest)?, format, fb)?;
        if !sel.attestations.is_empty() {
            dropped.push("attestations".to_string());
        }
        let writes_oci = top.kind().is_some_and(Kind::is_oci);
        return Ok(PushPlan {
            blobs: dedupe(blobs, &mut warnings),
            children: Vec::new(),
            top,
            platforms: d.platform.iter().cloned().collect(),
            converted,
            dropped,
            warnings,
            has_attestations: false,
            writes_oci,
        });
    }

    let to_index = index_kind(top_kind, format, fb);
    let drop_attestations = fb.drop_attestations || to_index == Kind::DockerList;
    let mut blobs = Vec::new();
    let mut children = Vec::new();
    let mut entries: Vec<(&Descriptor, RawManifest)> = Vec::new();
    let mut converted_any = false;
    for d in &sel.images {
        let (m, b, converted) = image(child(&d.digest)?, format, fb)?;
        converted_any |= converted;
        blobs.extend(b);
        entries.push((d, m));
    }
    let mut kept_attestations = 0;
    if !sel.attestations.is_empty() {
        if drop_attestations {
            dropped.push("attestations".to_string());
        } else {
            for a in &sel.attestations {
                let raw = child(&a.digest)?;
                let Parsed::Image(img) = raw.parse().map_err(PushPlanError::Manifest)? else {
                    return Err(PushPlanError::Manifest(format!(
                        "attestation `{}` is not an image manifest",
                        a.digest
                    )));
                };
                blobs.push(img.config.clone());
                blobs.extend(img.layers.iter().cloned());
                entries.push((a, raw.clone()));
                kept_attestations += 1;
            }
        }
    }
    // Images first, attestations after the images they describe.
    for (_, m) in &entries {
        children.push(m.clone());
    }
    let unchanged = !converted_any && to_index == top_kind && entries.len() == sel.total_entries;
    let top = if unchanged {
        tree.top.clone()
    } else {
        let list: Vec<IndexEntry<'_>> = entries
            .iter()
            .map(|(d, m)| IndexEntry {
                original: d,
                manifest: m,
            })
            .collect();
        rebuild_index(&tree.top, &list, to_index).map_err(PushPlanError::Manifest)?
    };
    let writes_oci = top.kind().is_some_and(Kind::is_oci)
        || children.iter().any(|c| c.kind().is_some_and(Kind::is_oci));
    Ok(PushPlan {
        blobs: dedupe(blobs, &mut warnings),
        children,
        platforms: sel
            .images
            .iter()
            .filter_map(|d| d.platform.clone())
            .collect(),
        top,
        converted: converted_any || to_index != top_kind,
        dropped,
        warnings,
        has_attestations: kept_attestations > 0,
        writes_oci,
    })
}

/// What a copy that keeps zstd layers is warned of.
pub(crate) const ZSTD_WARNING: &str = "layers compressed with zstd, which Docker before 23.0 \
     (and containerd before 1.5) cannot pull; hint: rebuild the image with gzip layers for such \
     clients";

/// One entry per digest, foreign layers left out (with a warning), largest first so the long
/// transfers start early. Layers compressed with zstd are warned of: old clients cannot pull
/// them.
fn dedupe(blobs: Vec<Descriptor>, warnings: &mut Vec<String>) -> Vec<Descriptor> {
    let mut seen = HashSet::new();
    let mut out: Vec<Descriptor> = Vec::new();
    let mut zstd = 0;
    for b in blobs {
        if !seen.insert(b.digest.clone()) {
            continue;
        }
        if b.media_type.ends_with("+zstd") {
            zstd += 1;
        }
        if b.is_foreign() {
            warnings.push(format!(
                "foreign layer `{}` was not copied (registries fetch it from its URLs)",
                b.digest
            ));
            continue;
        }
        out.push(b);
    }
    if zstd > 0 {
        warnings.push(format!("{zstd} {ZSTD_WARNING}"));
    }
    out.sort_by_key(|d| std::cmp::Reverse(d.size));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::manifest::media_type as mt;
    use bytes::Bytes;
    use serde_json::json;

    fn raw(v: serde_json::Value) -> RawManifest {
        RawManifest::from_bytes(Bytes::from(serde_json::to_vec(&v).expect("json")), None)
            .expect("manifest")
    }

    fn image_manifest(kind: &str, seed: u8) -> RawManifest {
        let (cfg, layer) = if kind == mt::OCI_MANIFEST {
            (mt::OCI_CONFIG, mt::OCI_LAYER_GZIP)
        } else {
            (mt::DOCKER_CONFIG, mt::DOCKER_LAYER_GZIP)
        };
        raw(json!({
            "schemaVersion": 2, "mediaType": kind,
            "config": {"mediaType": cfg, "digest": Digest::sha256(&[seed, 0]).as_str(), "size": 100},
            "layers": [
                {"mediaType": layer, "digest": Digest::sha256(b"base").as_str(), "size": 1000},
                {"mediaType": layer, "digest": Digest::sha256(&[seed, 1]).as_str(), "size": 10 + seed as u64}
            ]
        }))
    }

    fn attestation(subject: &RawManifest) -> RawManifest {
        raw(json!({
            "schemaVersion": 2, "mediaType": mt::OCI_MANIFEST,
            "config": {"mediaType": mt::OCI_CONFIG, "digest": Digest::sha256(b"att-cfg").as_str(), "size": 10},
            "layers": [{"mediaType": "application/vnd.in-toto+json", "digest": Digest::sha256(subject.digest.as_str().as_bytes()).as_str(), "size": 50}]
        }))
    }

    fn tree(index_type: &str, child_type: &str) -> SourceTree {
        let amd = image_manifest(child_type, 1);
        let arm = image_manifest(child_type, 2);
        let att_amd = attestation(&amd);
        let att_arm = attestation(&arm);
        let entry = |m: &RawManifest, p: serde_json::Value| json!({"mediaType": m.media_type, "digest": m.digest.as_str(), "size": m.bytes.len(), "platform": p});
        let att_entry = |m: &RawManifest, of: &RawManifest| {
            json!({
                "mediaType": m.media_type, "digest": m.digest.as_str(), "size": m.bytes.len(),
                "platform": {"os": "unknown", "architecture": "unknown"},
                "annotations": {"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": of.digest.as_str()}
            })
        };
        let mut manifests = vec![
            entry(&amd, json!({"os": "linux", "architecture": "amd64"})),
            entry(
                &arm,
                json!({"os": "linux", "architecture": "arm64", "variant": "v8"}),
            ),
        ];
        if index_type == mt::OCI_INDEX {
            manifests.push(att_entry(&att_amd, &amd));
            manifests.push(att_entry(&att_arm, &arm));
        }
        let top = raw(json!({"schemaVersion": 2, "mediaType": index_type, "manifests": manifests}));
        let children = [amd, arm, att_amd, att_arm]
            .into_iter()
            .map(|m| (m.digest.clone(), m))
            .collect();
        SourceTree {
            top,
            children,
            config_platform: None,
            config: None,
        }
    }

    fn only(list: &str) -> Platforms {
        Platforms::Only(crate::registry::platform::parse_list(list).expect("platforms"))
    }

    #[test]
    fn single_platform_writes_the_child_itself() {
        let t = tree(mt::DOCKER_LIST, mt::DOCKER_MANIFEST);
        let plan =
            build(&t, &only("linux/arm64"), Format::V2s2, Fallback::default()).expect("plan");
        let arm = image_manifest(mt::DOCKER_MANIFEST, 2);
        assert_eq!(plan.top.digest, arm.digest, "byte-for-byte child");
        assert!(plan.children.is_empty());
        assert!(!plan.converted);
        assert_eq!(plan.platforms[0].to_string(), "linux/arm64");
        assert_eq!(plan.blobs.len(), 3);
        assert_eq!(plan.blobs[0].size, 1000, "largest first");
    }

    #[test]
    fn all_platforms_preserve_keeps_the_original_index() {
        let t = tree(mt::OCI_INDEX, mt::OCI_MANIFEST);
        let plan = build(&t, &Platforms::All, Format::Preserve, Fallback::default()).expect("plan");
        assert_eq!(plan.top.digest, t.top.digest);
        assert_eq!(plan.children.len(), 4);
        assert!(plan.has_attestations);
        assert!(plan.dropped.is_empty());
        // Shared base layer once.
        let base = Digest::sha256(b"base");
        assert_eq!(plan.blobs.iter().filter(|b| b.digest == base).count(), 1);
    }

    #[test]
    fn v2s2_converts_children_rebuilds_list_and_drops_attestations() {
        let t = tree(mt::OCI_INDEX, mt::OCI_MANIFEST);
        let plan = build(&t, &Platforms::All, Format::V2s2, Fallback::default()).expect("plan");
        assert_eq!(plan.top.media_type, mt::DOCKER_LIST);
        assert!(plan.converted);
        assert_eq!(plan.dropped, vec!["attestations"]);
        assert_eq!(plan.children.len(), 2);
        assert!(plan
            .children
            .iter()
            .all(|c| c.media_type == mt::DOCKER_MANIFEST));
        let v = plan.top.json().expect("json");
        let listed: Vec<&str> = v["manifests"]
            .as_array()
            .expect("list")
            .iter()
            .map(|m| m["digest"].as_str().expect("d"))
            .collect();
        let pushed: Vec<&str> = plan.children.iter().map(|c| c.digest.as_str()).collect();
        assert_eq!(listed, pushed);
    }

    #[test]
    fn filtering_keeps_only_the_attestations_of_kept_images() {
        let t = tree(mt::OCI_INDEX, mt::OCI_MANIFEST);
        let plan = build(
            &t,
            &only("linux/amd64,linux/riscv64"),
            Format::Preserve,
            Fallback::default(),
        )
        .expect("plan");
        let v = plan.top.json().expect("json");
        let entries = v["manifests"].as_array().expect("list");
        assert_eq!(entries.len(), 2, "amd64 and its attestation");
        assert_eq!(entries[0]["platform"]["architecture"], "amd64");
        assert_eq!(
            entries[1]["annotations"]["vnd.docker.reference.digest"],
            entries[0]["digest"]
        );
        assert_eq!(
            plan.warnings,
            vec!["the source has no `linux/riscv64` image; copied the other platforms"]
        );
        assert_ne!(plan.top.digest, t.top.digest);
        let dropped = build(
            &t,
            &only("linux/amd64,linux/riscv64"),
            Format::Preserve,
            Fallback {
                drop_attestations: true,
                force_v2s2: false,
            },
        )
        .expect("plan");
        assert_eq!(
            dropped.top.json().expect("json")["manifests"]
                .as_array()
                .expect("l")
                .len(),
            1
        );
        assert_eq!(dropped.dropped, vec!["attestations"]);
    }

    #[test]
    fn missing_platform_is_a_clear_error() {
        let t = tree(mt::DOCKER_LIST, mt::DOCKER_MANIFEST);
        let err =
            build(&t, &only("linux/s390x"), Format::V2s2, Fallback::default()).expect_err("none");
        assert_eq!(
            err.to_string(),
            "the source has none of the requested platforms (linux/s390x); it has linux/amd64, linux/arm64"
        );
        assert!(err.hint().expect("hint").contains("--platform linux/amd64"));
    }

    #[test]
    fn single_image_platform_mismatch() {
        let m = image_manifest(mt::DOCKER_MANIFEST, 1);
        let t = SourceTree {
            top: m,
            children: HashMap::new(),
            config_platform: Some(Platform::new("linux", "arm64", None)),
            config: None,
        };
        let plan = build(&t, &only("linux/amd64"), Format::V2s2, Fallback::default())
            .expect("copied as it is");
        assert_eq!(
            plan.warnings,
            ["the source is a single-platform image for `linux/arm64`, not `linux/amd64`; copied as it is"]
        );
        assert_eq!(plan.platforms, [Platform::new("linux", "arm64", None)]);
        assert!(build(&t, &Platforms::All, Format::V2s2, Fallback::default()).is_ok());
    }

    #[test]
    fn keeping_zstd_layers_is_warned_of() {
        let m = raw(json!({
            "schemaVersion": 2, "mediaType": mt::OCI_MANIFEST,
            "config": {"mediaType": mt::OCI_CONFIG, "digest": Digest::sha256(b"c").as_str(), "size": 10},
            "layers": [
                {"mediaType": mt::OCI_LAYER_ZSTD, "digest": Digest::sha256(b"z").as_str(), "size": 100},
                {"mediaType": mt::OCI_LAYER_GZIP, "digest": Digest::sha256(b"g").as_str(), "size": 100}
            ]
        }));
        let t = SourceTree {
            top: m,
            children: HashMap::new(),
            config_platform: None,
            config: None,
        };
        let plan = build(&t, &Platforms::All, Format::Preserve, Fallback::default()).expect("plan");
        assert_eq!(plan.warnings, [format!("1 {ZSTD_WARNING}")]);
        // As Docker v2s2 they cannot be written at all: a clear error, not a warning.
        assert!(build(&t, &Platforms::All, Format::V2s2, Fallback::default()).is_err());
    }
}
