//! Deterministic test images, multi-arch indexes and BuildKit-style attestations.
//!
//! Layers are random bytes (nobody decompresses them); their `diff_ids` in the config are the
//! sha256 of the bytes themselves. Everything is derived from the `seed` arguments, so the same
//! call always yields the same digests. Docker-format manifests are pretty-printed JSON (like
//! docker writes them), OCI ones compact, so byte-exact copying is exercised both ways.

use serde_json::{json, Value};

use super::client::RegistryClient;
use super::sha256_digest;

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// The OCI 1.1 empty descriptor's media type, and its 2-byte `{}` blob's digest.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const OCI_EMPTY_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
pub const INTOTO_LAYER: &str = "application/vnd.in-toto+json";
/// `artifactType` of OCI 1.1 artifact-form attestation manifests.
pub const ATTESTATION_MANIFEST_TYPE: &str = "application/vnd.docker.attestation.manifest.v1+json";

/// Manifest flavour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Docker schema 2 manifest / manifest list with docker config and gzip layer types.
    Docker,
    /// OCI image manifest / index with OCI config and gzip layer types.
    Oci,
}

impl Format {
    pub fn manifest_type(self) -> &'static str {
        match self {
            Format::Docker => DOCKER_MANIFEST,
            Format::Oci => OCI_MANIFEST,
        }
    }

    pub fn index_type(self) -> &'static str {
        match self {
            Format::Docker => DOCKER_MANIFEST_LIST,
            Format::Oci => OCI_INDEX,
        }
    }

    pub fn config_type(self) -> &'static str {
        match self {
            Format::Docker => DOCKER_CONFIG,
            Format::Oci => OCI_CONFIG,
        }
    }

    pub fn layer_type(self) -> &'static str {
        match self {
            Format::Docker => DOCKER_LAYER,
            Format::Oci => OCI_LAYER,
        }
    }

    fn serialize(self, value: &Value) -> Vec<u8> {
        match self {
            Format::Docker => serde_json::to_vec_pretty(value).expect("manifest json"),
            Format::Oci => serde_json::to_vec(value).expect("manifest json"),
        }
    }
}

/// One layer blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    pub media_type: String,
    pub data: Vec<u8>,
}

impl Layer {
    pub fn digest(&self) -> String {
        sha256_digest(&self.data)
    }

    pub fn size(&self) -> usize {
        self.data.len()
    }

    fn descriptor(&self) -> Value {
        json!({"mediaType": self.media_type, "size": self.data.len(), "digest": self.digest()})
    }
}

/// A single-platform image (or, for attestations, an artifact manifest) with all its blobs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub config: Vec<u8>,
    pub config_media_type: String,
    pub layers: Vec<Layer>,
    pub format: Format,
    /// The exact manifest bytes.
    pub manifest: Vec<u8>,
    /// The manifest's media type (also its `mediaType` field).
    pub media_type: String,
    /// `sha256:` of `manifest`.
    pub digest: String,
}

impl Image {
    pub fn config_digest(&self) -> String {
        sha256_digest(&self.config)
    }

    pub fn layer_digests(&self) -> Vec<String> {
        self.layers.iter().map(Layer::digest).collect()
    }

    /// Every blob `(digest, bytes)`: the config first, then the layers.
    pub fn blobs(&self) -> Vec<(String, &[u8])> {
        let mut blobs = vec![(self.config_digest(), self.config.as_slice())];
        blobs.extend(self.layers.iter().map(|l| (l.digest(), l.data.as_slice())));
        blobs
    }

    /// `(os, architecture, variant)` from the config (`unknown`s for attestations).
    pub fn platform(&self) -> (String, String, Option<String>) {
        let config: Value = serde_json::from_slice(&self.config).unwrap_or(Value::Null);
        let field = |name: &str| config.get(name).and_then(Value::as_str).map(str::to_string);
        (
            field("os").unwrap_or_else(|| "unknown".to_string()),
            field("architecture").unwrap_or_else(|| "unknown".to_string()),
            field("variant"),
        )
    }

    /// `{mediaType, size, digest}` of the manifest.
    pub fn descriptor(&self) -> Value {
        json!({"mediaType": self.media_type, "size": self.manifest.len(), "digest": self.digest})
    }

    /// The manifest parsed as JSON.
    pub fn manifest_json(&self) -> Value {
        serde_json::from_slice(&self.manifest).expect("manifest json")
    }
}

/// `count` random layers of the given sizes with the format's gzip layer type, from `seed`.
/// Use them as `base` of [`image_with_base`] to make images that share layers.
pub fn layers(format: Format, sizes: &[usize], seed: u64) -> Vec<Layer> {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0xba5e_1a7e_0000_0000);
    sizes
        .iter()
        .map(|&size| {
            let mut data = vec![0u8; size];
            rng.fill(&mut data);
            Layer {
                media_type: format.layer_type().to_string(),
                data,
            }
        })
        .collect()
}

fn config_json(
    os: &str,
    arch: &str,
    variant: Option<&str>,
    layers: &[Layer],
    seed: u64,
) -> Vec<u8> {
    let mut config = serde_json::Map::new();
    config.insert("architecture".into(), json!(arch));
    config.insert("os".into(), json!(os));
    if let Some(variant) = variant {
        config.insert("variant".into(), json!(variant));
    }
    config.insert("created".into(), json!("2024-01-01T00:00:00Z"));
    config.insert(
        "config".into(),
        json!({
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/sh"],
            "Labels": {"org.example.seed": seed.to_string()},
        }),
    );
    config.insert(
        "rootfs".into(),
        json!({"type": "layers", "diff_ids": layers.iter().map(Layer::digest).collect::<Vec<_>>()}),
    );
    config.insert(
        "history".into(),
        Value::Array(
            (0..layers.len())
                .map(|i| json!({"created": "2024-01-01T00:00:00Z", "created_by": format!("layer {i} of seed {seed}")}))
                .collect(),
        ),
    );
    serde_json::to_vec(&Value::Object(config)).expect("config json")
}

/// Assembles an image manifest from its parts.
fn assemble(format: Format, config: Vec<u8>, config_media_type: &str, layers: Vec<Layer>) -> Image {
    let media_type = format.manifest_type().to_string();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {
            "mediaType": config_media_type,
            "size": config.len(),
            "digest": sha256_digest(&config),
        },
        "layers": layers.iter().map(Layer::descriptor).collect::<Vec<_>>(),
    });
    let manifest = format.serialize(&manifest);
    Image {
        digest: sha256_digest(&manifest),
        config,
        config_media_type: config_media_type.to_string(),
        layers,
        format,
        manifest,
        media_type,
    }
}

/// A single-platform image with random layers of `layer_sizes` bytes, deterministic in `seed`.
/// The config has `architecture`, `os`, `variant` (if any), `created`, `config`, `rootfs` and
/// `history`.
pub fn image(
    format: Format,
    os: &str,
    arch: &str,
    variant: Option<&str>,
    layer_sizes: &[usize],
    seed: u64,
) -> Image {
    image_with_base(format, os, arch, variant, &[], layer_sizes, seed)
}

/// Like [`image`], but the first layers are exactly `base` (e.g. from [`layers`]), followed by
/// random layers of `extra_layer_sizes`. Images built on the same base share those blobs.
pub fn image_with_base(
    format: Format,
    os: &str,
    arch: &str,
    variant: Option<&str>,
    base: &[Layer],
    extra_layer_sizes: &[usize],
    seed: u64,
) -> Image {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut all = base.to_vec();
    for &size in extra_layer_sizes {
        let mut data = vec![0u8; size];
        rng.fill(&mut data);
        all.push(Layer {
            media_type: format.layer_type().to_string(),
            data,
        });
    }
    let config = config_json(os, arch, variant, &all, seed);
    assemble(format, config, format.config_type(), all)
}

/// The same image with layer `idx`'s media type replaced (e.g. [`OCI_LAYER_ZSTD`]); the manifest
/// and digest are recomputed.
pub fn with_layer_media_type(img: Image, idx: usize, media_type: &str) -> Image {
    let Image {
        config,
        config_media_type,
        mut layers,
        format,
        ..
    } = img;
    assert!(idx < layers.len(), "layer index {idx} out of range");
    layers[idx].media_type = media_type.to_string();
    assemble(format, config, &config_media_type, layers)
}

/// Whether and how [`index`] adds one attestation manifest per image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttestationStyle {
    None,
    /// What BuildKit writes: an OCI image manifest with an OCI config (`architecture`/`os`
    /// `unknown`) and in-toto layers; the index entry has platform `unknown/unknown` and the
    /// annotations `vnd.docker.reference.type: attestation-manifest` and
    /// `vnd.docker.reference.digest: <image digest>`.
    Classic,
    /// OCI 1.1 artifact form: config is the empty descriptor (`{}` blob), `artifactType`
    /// [`ATTESTATION_MANIFEST_TYPE`] and `subject` pointing at the image; the index entry is as
    /// for `Classic` plus `artifactType`.
    Artifact,
}

/// A multi-platform index (OCI index or Docker manifest list) with its children.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Index {
    pub manifest: Vec<u8>,
    pub media_type: String,
    pub digest: String,
    pub format: Format,
    pub images: Vec<Image>,
    /// `attestations[i]` attests `images[i]` (empty for [`AttestationStyle::None`]).
    pub attestations: Vec<Image>,
}

impl Index {
    /// Digests of every child manifest in index order (images, then attestations).
    pub fn child_digests(&self) -> Vec<String> {
        self.images
            .iter()
            .chain(&self.attestations)
            .map(|i| i.digest.clone())
            .collect()
    }

    pub fn manifest_json(&self) -> Value {
        serde_json::from_slice(&self.manifest).expect("index json")
    }

    pub fn descriptor(&self) -> Value {
        json!({"mediaType": self.media_type, "size": self.manifest.len(), "digest": self.digest})
    }

    /// The image for `os`/`arch` (first match).
    pub fn image_for(&self, os: &str, arch: &str) -> Option<&Image> {
        self.images.iter().find(|i| {
            let (o, a, _) = i.platform();
            o == os && a == arch
        })
    }
}

fn intoto_layer(subject: &Image, predicate_type: &str, predicate: Value) -> (Layer, Value) {
    let (os, arch, variant) = subject.platform();
    let mut platform = format!("{os}/{arch}");
    if let Some(v) = variant {
        platform.push('/');
        platform.push_str(&v);
    }
    let statement = json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": predicate_type,
        "subject": [{
            "name": format!("pkg:docker/test/image@latest?platform={}", platform.replace('/', "%2F")),
            "digest": {"sha256": subject.digest.trim_start_matches("sha256:")},
        }],
        "predicate": predicate,
    });
    let layer = Layer {
        media_type: INTOTO_LAYER.to_string(),
        data: serde_json::to_vec(&statement).expect("in-toto json"),
    };
    let mut descriptor = layer.descriptor();
    descriptor["annotations"] = json!({"in-toto.io/predicate-type": predicate_type});
    (layer, descriptor)
}

fn attestation(subject: &Image, style: AttestationStyle) -> Image {
    let (sbom, sbom_desc) = intoto_layer(
        subject,
        "https://spdx.dev/Document",
        json!({
            "spdxVersion": "SPDX-2.3",
            "dataLicense": "CC0-1.0",
            "SPDXID": "SPDXRef-DOCUMENT",
            "name": format!("sbom-{}", subject.digest),
            "packages": [],
        }),
    );
    let (provenance, provenance_desc) = intoto_layer(
        subject,
        "https://slsa.dev/provenance/v0.2",
        json!({
            "builder": {"id": ""},
            "buildType": "https://mobyproject.org/buildkit@v1",
            "metadata": {"buildInvocationID": subject.digest},
        }),
    );
    let layers = vec![sbom, provenance];
    let layer_descriptors = vec![sbom_desc, provenance_desc];

    let (config, config_media_type, manifest) = match style {
        AttestationStyle::Classic | AttestationStyle::None => {
            let config = serde_json::to_vec(&json!({
                "architecture": "unknown",
                "os": "unknown",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": layers.iter().map(Layer::digest).collect::<Vec<_>>()},
            }))
            .expect("attestation config");
            let manifest = json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(&config), "size": config.len()},
                "layers": layer_descriptors,
            });
            (config, OCI_CONFIG, manifest)
        }
        AttestationStyle::Artifact => {
            let config = b"{}".to_vec();
            let manifest = json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "artifactType": ATTESTATION_MANIFEST_TYPE,
                "config": {"mediaType": OCI_EMPTY, "digest": OCI_EMPTY_DIGEST, "size": 2, "data": "e30="},
                "layers": layer_descriptors,
                "subject": subject.descriptor(),
            });
            (config, OCI_EMPTY, manifest)
        }
    };
    let manifest = serde_json::to_vec(&manifest).expect("attestation manifest");
    Image {
        digest: sha256_digest(&manifest),
        config,
        config_media_type: config_media_type.to_string(),
        layers,
        format: Format::Oci,
        manifest,
        media_type: OCI_MANIFEST.to_string(),
    }
}

/// A multi-platform index over `images` (an OCI index or a Docker manifest list by `format`;
/// each entry keeps its image's own media type and gets the platform from its config), with one
/// attestation manifest per image after all image entries, as BuildKit writes them.
pub fn index(format: Format, images: Vec<Image>, attestations: AttestationStyle) -> Index {
    let mut entries: Vec<Value> = Vec::new();
    for img in &images {
        let (os, arch, variant) = img.platform();
        let mut platform = json!({"architecture": arch, "os": os});
        if let Some(variant) = variant {
            platform["variant"] = json!(variant);
        }
        let mut entry = img.descriptor();
        entry["platform"] = platform;
        entries.push(entry);
    }
    let attestation_images: Vec<Image> = if attestations == AttestationStyle::None {
        Vec::new()
    } else {
        images
            .iter()
            .map(|img| attestation(img, attestations))
            .collect()
    };
    for (att, img) in attestation_images.iter().zip(&images) {
        let mut entry = att.descriptor();
        if attestations == AttestationStyle::Artifact {
            entry["artifactType"] = json!(ATTESTATION_MANIFEST_TYPE);
        }
        entry["annotations"] = json!({
            "vnd.docker.reference.digest": img.digest,
            "vnd.docker.reference.type": "attestation-manifest",
        });
        entry["platform"] = json!({"architecture": "unknown", "os": "unknown"});
        entries.push(entry);
    }
    let media_type = format.index_type().to_string();
    let manifest = format.serialize(&json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": entries,
    }));
    Index {
        digest: sha256_digest(&manifest),
        manifest,
        media_type,
        format,
        images,
        attestations: attestation_images,
    }
}

/// Pushes the image's blobs (skipping ones already there), then its manifest by `tag`, or by
/// digest when `tag` is `None`. Asserts the registry computed the expected digest.
pub fn push_image(client: &RegistryClient, repo: &str, tag: Option<&str>, img: &Image) {
    for (digest, data) in img.blobs() {
        if !client.blob_exists(repo, &digest) {
            let pushed = client.push_blob(repo, data);
            assert_eq!(pushed, digest);
        }
    }
    let reference = tag.unwrap_or(&img.digest);
    let digest = client.push_manifest(repo, reference, &img.media_type, &img.manifest);
    assert_eq!(digest, img.digest, "registry digest of {repo}:{reference}");
}

/// Pushes every child image by digest, then the attestations (after their subjects), then the
/// index by `tag`.
pub fn push_index(client: &RegistryClient, repo: &str, tag: &str, idx: &Index) {
    for img in idx.images.iter().chain(&idx.attestations) {
        push_image(client, repo, None, img);
    }
    let digest = client.push_manifest(repo, tag, &idx.media_type, &idx.manifest);
    assert_eq!(digest, idx.digest, "registry digest of index {repo}:{tag}");
}
