//! Copying images, from a registry or an OCI layout to a registry or an OCI layout.
//!
//! - [`image`]: one image end to end, one path for both kinds of target (skip check, plan,
//!   dry-run accounting, blobs, manifests, the name last, fallbacks, the write deadline).
//! - `source` and `target`: where an image is read from and written to, a registry repository
//!   or a layout; each holds only what differs between the two kinds.
//! - `push`: the push plan, what to write for a source, without side effects.
//! - `blob`: one blob into a registry (skip, mount, streamed, chunked or small uploads, with
//!   recovery); [`ledger`]: the run's record of which repositories hold which blobs.
//! - [`referrers`]: signatures, SBOMs and attestations after their images.
//! - [`batch`]: many images at once. [`state`]: what a run leaves for the next (`--state`).
//!
//! [`Engine`] holds what all images of a run share: the session (clients, tokens,
//! connections), the limit on blobs in flight, the ledger, the layouts being written and the
//! state. Nothing here parses command lines or prints: callers get one
//! [`crate::report::ImageReport`] per image.

mod adapt;
pub mod batch;
mod blob;
pub mod image;
pub(crate) mod ledger;
pub(crate) mod push;
pub mod referrers;
mod source;
pub mod state;
mod target;

use crate::layout::Layout;
use crate::registry::platform::Platform;
use crate::registry::Session;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// The manifest format written to the target.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Docker v2 schema 2: Docker manifests pass through byte for byte, OCI ones are converted.
    #[default]
    V2s2,
    /// OCI: Docker manifests are converted to OCI.
    Oci,
    /// Never convert; digests are kept.
    Preserve,
}

/// Which referrers (signatures, SBOMs, attestations: manifests whose `subject` is a copied
/// manifest, and cosign's `sha256-<hex>.sig|.att|.sbom` tags) follow their images.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ReferrerMode {
    /// Every referrer.
    #[default]
    All,
    /// Signatures only (cosign, notation, sigstore bundles).
    Signatures,
    /// None.
    None,
}

/// Which platforms of a multi-arch source to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Platforms {
    All,
    Only(Vec<Platform>),
}

impl Platforms {
    pub(crate) fn describe(&self) -> Vec<String> {
        match self {
            Platforms::All => vec!["all".into()],
            Platforms::Only(list) => list.iter().map(Platform::to_string).collect(),
        }
    }
}

/// How to copy.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    pub platforms: Platforms,
    pub format: Format,
    pub dry_run: bool,
    /// Upload in chunks of this many bytes instead of one streamed request.
    pub chunk_size: Option<u64>,
    pub referrers: ReferrerMode,
    /// A push Harbor refuses because the project does not exist creates it, then retries.
    pub create_namespace: bool,
    /// What the target accepts (`--target-profile`).
    pub target_profile: crate::registry::profile::ProfileChoice,
}

/// What every copy of a run shares.
pub struct Engine {
    pub session: Arc<Session>,
    ledger: ledger::Ledger,
    blob_slots: tokio::sync::Semaphore,
    /// Bytes moved by every blob transfer so far (for progress display).
    pub bytes_moved: Arc<std::sync::atomic::AtomicU64>,
    /// What converted sources became (`--state FILE`), when kept.
    pub state: Option<state::State>,
    /// Which registries lack the referrers API; source repositories' tags.
    referrer_memory: referrers::Memory,
    /// Source `HEAD`s answered before the copy (the pre-flight lookup): `host/repo:reference`
    /// -> the answer, taken by the copy instead of asking again.
    seen_heads: std::sync::Mutex<HashMap<String, crate::registry::ManifestHead>>,
    /// Source manifests read before the copy (the look-up's indexes), by `host/repo@digest`.
    seen_manifests: std::sync::Mutex<HashMap<String, crate::registry::manifest::RawManifest>>,
    /// What targets refused in this run (with the profiles and `--state`: `adapt`).
    targets: adapt::Targets,
    /// Harbor projects this run created, per host (`--create-namespace`); held while one is
    /// looked up and created, so images refused together create it once and all write again.
    created_namespaces: tokio::sync::Mutex<std::collections::HashSet<(String, String)>>,
    /// OCI layouts written in this run, one handle per directory (they serialize `index.json`).
    layouts: std::sync::Mutex<HashMap<PathBuf, Arc<Layout>>>,
}

impl Engine {
    /// `blobs_in_flight`: the most blob bodies moving at once, over all images. Attempt counts
    /// come from the session's transport.
    pub fn new(session: Session, blobs_in_flight: usize) -> Engine {
        Engine {
            session: Arc::new(session),
            ledger: ledger::Ledger::default(),
            blob_slots: tokio::sync::Semaphore::new(blobs_in_flight.max(1)),
            bytes_moved: Arc::default(),
            layouts: Default::default(),
            referrer_memory: Default::default(),
            created_namespaces: Default::default(),
            targets: Default::default(),
            seen_heads: Default::default(),
            seen_manifests: Default::default(),
            state: None,
        }
    }
}
