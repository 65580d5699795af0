//! Copying images: [`push`] (what to write, no side effects), [`blob`] (moving one blob), and
//! [`image`] (one image end to end). [`Engine`] holds what all images of a run share: the
//! session (clients, tokens, connections), the limit on blobs in flight, and the ledger of
//! blobs already in each target registry.

pub mod batch;
pub mod blob;
mod export;
pub mod image;
pub mod push;
pub mod source;
pub mod state;

use crate::registry::platform::Platform;
use crate::registry::Session;
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

/// Which platforms of a multi-arch source to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Platforms {
    All,
    Only(Vec<Platform>),
}

impl Platforms {
    pub fn describe(&self) -> Vec<String> {
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
}

/// What every copy of a run shares.
pub struct Engine {
    pub session: Arc<Session>,
    pub ledger: blob::Ledger,
    pub blob_slots: tokio::sync::Semaphore,
    pub retries: u32,
    /// Bytes moved by every blob transfer so far (for progress display).
    pub bytes_moved: Arc<std::sync::atomic::AtomicU64>,
    /// What converted sources became (`--state FILE`), when kept.
    pub state: Option<state::State>,
    /// OCI layouts written in this run, one handle per directory (they serialize `index.json`).
    pub layouts:
        std::sync::Mutex<std::collections::HashMap<std::path::PathBuf, Arc<crate::layout::Layout>>>,
}

impl Engine {
    /// `blobs_in_flight`: the most blob bodies moving at once, over all images.
    pub fn new(session: Session, blobs_in_flight: usize, retries: u32) -> Engine {
        Engine {
            session: Arc::new(session),
            ledger: blob::Ledger::default(),
            blob_slots: tokio::sync::Semaphore::new(blobs_in_flight.max(1)),
            retries,
            bytes_moved: Arc::default(),
            layouts: Default::default(),
            state: None,
        }
    }
}
