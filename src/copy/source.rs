//! Where an image is read from: a registry repository or an OCI layout. The engine reads
//! manifests and blobs through this, so everything after the read (plan, conversions,
//! uploads, verification) is the same for both.

use crate::layout::Layout;
use crate::registry::client::{ManifestHead, RegistryClient};
use crate::registry::digest::Digest;
use crate::registry::error::RegistryError;
use crate::registry::manifest::RawManifest;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use std::sync::Arc;

pub enum Source {
    Registry {
        client: Arc<RegistryClient>,
        repo: String,
    },
    Layout(Arc<Layout>),
}

impl Source {
    /// For messages: `registry/repo` or `oci:PATH`.
    pub fn describe(&self) -> String {
        match self {
            Source::Registry { client, repo } => format!("{}/{repo}", client.registry()),
            Source::Layout(l) => format!("oci:{}", l.root().display()),
        }
    }

    /// The registry client, when the source is a registry (for cross-repository mounts).
    pub fn registry(&self) -> Option<(&RegistryClient, &str)> {
        match self {
            Source::Registry { client, repo } => Some((client, repo)),
            Source::Layout(_) => None,
        }
    }

    pub async fn manifest_head(
        &self,
        reference: &str,
    ) -> Result<Option<ManifestHead>, RegistryError> {
        match self {
            Source::Registry { client, repo } => client.manifest_head(repo, reference).await,
            Source::Layout(l) => {
                if let Ok(d) = reference.parse::<Digest>() {
                    if !l.blob_path(&d).is_file() {
                        return Ok(None);
                    }
                    let m = l.manifest(&d, None).await?;
                    return Ok(Some(ManifestHead {
                        digest: d,
                        media_type: m.media_type,
                        size: Some(m.bytes.len() as u64),
                    }));
                }
                Ok(l.find(Some(reference))?.map(|e| ManifestHead {
                    digest: e.digest,
                    media_type: e.media_type,
                    size: Some(e.size),
                }))
            }
        }
    }

    /// A manifest by digest (verified).
    pub async fn manifest_get(&self, digest: &Digest) -> Result<RawManifest, RegistryError> {
        match self {
            Source::Registry { client, repo } => {
                client
                    .manifest_get(repo, digest.as_str(), Some(digest))
                    .await
            }
            Source::Layout(l) => l.manifest(digest, None).await,
        }
    }

    /// A small blob, read whole (verified).
    pub async fn blob_small(&self, digest: &Digest, limit: usize) -> Result<Bytes, RegistryError> {
        match self {
            Source::Registry { client, repo } => client.blob_get_small(repo, digest, limit).await,
            Source::Layout(l) => l.read_blob(digest).await,
        }
    }

    /// A blob as a stream, with its length when known; the caller verifies size and digest.
    pub async fn blob_stream(
        &self,
        digest: &Digest,
    ) -> Result<
        (
            Option<u64>,
            BoxStream<'static, Result<Bytes, std::io::Error>>,
        ),
        RegistryError,
    > {
        match self {
            Source::Registry { client, repo } => {
                let resp = client.blob_get(repo, digest).await?;
                let len = resp.content_length();
                let stream = resp
                    .bytes_stream()
                    .map(|r| r.map_err(|e| std::io::Error::other(e.without_url())))
                    .boxed();
                Ok((len, stream))
            }
            Source::Layout(l) => {
                let (len, stream) = l.blob_stream(digest).await?;
                Ok((Some(len), stream.boxed()))
            }
        }
    }
}
