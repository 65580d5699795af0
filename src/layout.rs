//! OCI image layouts on disk, written `oci:PATH[:NAME]` like skopeo: `PATH/oci-layout`,
//! `PATH/index.json` (images named by the `org.opencontainers.image.ref.name` annotation) and
//! `PATH/blobs/<alg>/<hex>`. A layout can be the source or the target of a copy.
//!
//! Blobs are streamed into a temporary file beside their final place, hashed on the way, and
//! renamed only when size and digest check out; `index.json` is rewritten through a temporary
//! file too, so a crash never leaves a half-written layout behind.

use crate::digest::Digest;
use crate::registry::error::RegistryError;
use crate::registry::manifest::RawManifest;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// The annotation naming an image in `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// `oci:PATH[:NAME]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutRef {
    pub path: PathBuf,
    pub name: Option<String>,
}

impl LayoutRef {
    /// `None` when `text` is not an `oci:` reference. Like skopeo, the path ends at the first
    /// `:` after `oci:`; the name may hold more (`oci:/tmp/l:nginx:1.27` names `nginx:1.27`).
    pub fn parse(text: &str) -> Option<Result<LayoutRef, String>> {
        let rest = text.trim().strip_prefix("oci:")?;
        let (path, name) = match rest.split_once(':') {
            Some((p, n)) => (p, Some(n)),
            None => (rest, None),
        };
        if path.is_empty() {
            return Some(Err(format!(
                "`{text}` names no directory: write `oci:PATH[:NAME]`, e.g. `oci:./images:nginx-1.27`"
            )));
        }
        if let Some(n) = name {
            if n.is_empty() || n.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return Some(Err(format!(
                    "`{text}`: the image name after the path must be non-empty, without spaces"
                )));
            }
        }
        Some(Ok(LayoutRef {
            path: PathBuf::from(path),
            name: name.map(str::to_string),
        }))
    }
}

impl std::fmt::Display for LayoutRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "oci:{}", self.path.display())?;
        if let Some(n) = &self.name {
            write!(f, ":{n}")?;
        }
        Ok(())
    }
}

/// An image named in `index.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
}

/// One layout directory.
pub struct Layout {
    root: PathBuf,
    /// Serializes `index.json` rewrites within this run.
    index_lock: tokio::sync::Mutex<()>,
}

fn err(path: &Path, detail: impl std::fmt::Display) -> RegistryError {
    RegistryError::Config(format!("OCI layout `{}`: {detail}", path.display()))
}

impl Layout {
    /// An existing layout, for reading.
    pub fn open(root: &Path) -> Result<Layout, RegistryError> {
        if !root.join("oci-layout").is_file() || !root.join("index.json").is_file() {
            return Err(err(
                root,
                "not an OCI image layout (no `oci-layout` and `index.json`); create one with `registry-mirror copy IMAGE oci:PATH:NAME`",
            ));
        }
        Ok(Layout {
            root: root.to_path_buf(),
            index_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// A layout for writing: created when missing, an existing one is kept.
    pub fn create(root: &Path) -> Result<Layout, RegistryError> {
        std::fs::create_dir_all(root.join("blobs").join("sha256")).map_err(|e| err(root, e))?;
        let marker = root.join("oci-layout");
        if !marker.exists() {
            std::fs::write(&marker, br#"{"imageLayoutVersion":"1.0.0"}"#)
                .map_err(|e| err(root, e))?;
        }
        let index = root.join("index.json");
        if !index.exists() {
            let empty = json!({"schemaVersion": 2, "mediaType": crate::registry::manifest::media_type::OCI_INDEX, "manifests": []});
            std::fs::write(&index, empty.to_string()).map_err(|e| err(root, e))?;
        }
        Ok(Layout {
            root: root.to_path_buf(),
            index_lock: tokio::sync::Mutex::new(()),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn index(&self) -> Result<Value, RegistryError> {
        let text =
            crate::bounded::read(&self.root.join("index.json"), &crate::bounded::LAYOUT_INDEX)
                .map_err(|e| err(&self.root, e))?;
        serde_json::from_slice(&text)
            .map_err(|e| err(&self.root, format!("`index.json` is not valid JSON: {e}")))
    }

    /// Every name in `index.json`.
    pub fn names(&self) -> Result<Vec<String>, RegistryError> {
        Ok(self.index()?["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["annotations"][REF_NAME].as_str().map(str::to_string))
            .collect())
    }

    /// The image named `name`; without a name, the only image of the layout.
    pub fn find(&self, name: Option<&str>) -> Result<Option<Entry>, RegistryError> {
        let index = self.index()?;
        let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
        let pick = match name {
            Some(n) => manifests
                .iter()
                .find(|m| m["annotations"][REF_NAME].as_str() == Some(n)),
            None if manifests.len() == 1 => manifests.first(),
            None if manifests.is_empty() => None,
            None => {
                return Err(err(
                    &self.root,
                    format!(
                        "holds {} images; name one: {}",
                        manifests.len(),
                        self.names()?
                            .iter()
                            .map(|n| format!("`oci:{}:{n}`", self.root.display()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ))
            }
        };
        let Some(m) = pick else { return Ok(None) };
        let digest: Digest = m["digest"]
            .as_str()
            .unwrap_or_default()
            .parse()
            .map_err(|e| err(&self.root, format!("`index.json`: {e}")))?;
        Ok(Some(Entry {
            media_type: m["mediaType"].as_str().unwrap_or_default().to_string(),
            digest,
            size: m["size"].as_u64().unwrap_or_default(),
        }))
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm())
            .join(digest.encoded())
    }

    /// Whether the blob is there with the expected size.
    pub fn has_blob(&self, digest: &Digest, size: u64) -> bool {
        std::fs::metadata(self.blob_path(digest)).is_ok_and(|m| m.len() == size)
    }

    /// A small blob, read whole and verified.
    pub async fn read_blob(&self, digest: &Digest) -> Result<Bytes, RegistryError> {
        let path = self.blob_path(digest);
        let bytes = tokio::task::spawn_blocking(move || {
            crate::bounded::read(&path, &crate::bounded::LAYOUT_BLOB)
        })
        .await
        .map_err(|e| err(&self.root, format!("blob `{digest}`: {e}")))?
        .map_err(|e| err(&self.root, format!("blob `{digest}`: {e}")))?;
        if !digest.matches(&bytes) {
            return Err(RegistryError::DigestMismatch {
                what: format!("blob `{digest}` in `{}`", self.root.display()),
                expected: digest.clone(),
                actual: Digest::sha256(&bytes),
            });
        }
        Ok(Bytes::from(bytes))
    }

    /// A manifest by digest, verified.
    pub async fn manifest(
        &self,
        digest: &Digest,
        media_type: Option<&str>,
    ) -> Result<RawManifest, RegistryError> {
        let bytes = self.read_blob(digest).await?;
        RawManifest::from_bytes(bytes, media_type)
            .map_err(|e| RegistryError::Manifest(e.to_string()))
    }

    /// A blob as a stream of chunks, with its length (the reader verifies it).
    pub async fn blob_stream(
        &self,
        digest: &Digest,
    ) -> Result<
        (
            u64,
            impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
        ),
        RegistryError,
    > {
        let file = tokio::fs::File::open(self.blob_path(digest))
            .await
            .map_err(|e| err(&self.root, format!("blob `{digest}`: {e}")))?;
        let len = file.metadata().await.map(|m| m.len()).unwrap_or_default();
        Ok((
            len,
            tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024),
        ))
    }

    /// Write a blob from `stream`, verifying size and digest before it takes its name.
    pub async fn write_blob<S>(
        &self,
        digest: &Digest,
        size: u64,
        mut stream: S,
    ) -> Result<u64, RegistryError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Unpin,
    {
        let path = self.blob_path(digest);
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| err(&self.root, e))?;
        let tmp = dir.join(format!(
            ".{}.{}-{}.partial",
            digest.encoded(),
            std::process::id(),
            fastrand::u64(..)
        ));
        let mut file = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| err(&self.root, e))?;
        let mut hasher = digest.verifier();
        let mut seen = 0u64;
        let result: Result<(), RegistryError> = async {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| RegistryError::Transport {
                    url: format!("blob `{digest}`"),
                    detail: e.to_string(),
                })?;
                seen += chunk.len() as u64;
                if seen > size {
                    return Err(RegistryError::SizeMismatch {
                        what: format!("blob `{digest}`"),
                        expected: size,
                        actual: seen,
                    });
                }
                hasher.update(&chunk);
                file.write_all(&chunk)
                    .await
                    .map_err(|e| err(&self.root, e))?;
            }
            file.flush().await.map_err(|e| err(&self.root, e))?;
            if seen != size {
                return Err(RegistryError::SizeMismatch {
                    what: format!("blob `{digest}`"),
                    expected: size,
                    actual: seen,
                });
            }
            let actual = hasher.clone().finish();
            if &actual != digest {
                return Err(RegistryError::DigestMismatch {
                    what: format!("blob `{digest}`"),
                    expected: digest.clone(),
                    actual,
                });
            }
            Ok(())
        }
        .await;
        drop(file);
        match result {
            Ok(()) => {
                tokio::fs::rename(&tmp, &path)
                    .await
                    .map_err(|e| err(&self.root, e))?;
                Ok(seen)
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                Err(e)
            }
        }
    }

    /// Write bytes (a manifest or a small blob) under their digest.
    pub async fn write_bytes(&self, digest: &Digest, bytes: Bytes) -> Result<(), RegistryError> {
        if self.has_blob(digest, bytes.len() as u64) {
            return Ok(());
        }
        let len = bytes.len() as u64;
        let stream = futures::stream::iter([Ok::<Bytes, std::io::Error>(bytes)]);
        self.write_blob(digest, len, stream).await.map(drop)
    }

    /// Name `manifest` `name` in `index.json` (replacing the image that had the name).
    pub async fn tag(&self, name: &str, manifest: &RawManifest) -> Result<(), RegistryError> {
        let _guard = self.index_lock.lock().await;
        let mut index = self.index()?;
        let mut manifests = index["manifests"].as_array().cloned().unwrap_or_default();
        manifests.retain(|m| m["annotations"][REF_NAME].as_str() != Some(name));
        manifests.push(json!({
            "mediaType": manifest.media_type,
            "digest": manifest.digest.as_str(),
            "size": manifest.bytes.len(),
            "annotations": {REF_NAME: name},
        }));
        index["manifests"] = Value::Array(manifests);
        let tmp = self
            .root
            .join(format!(".index.json.{}.partial", std::process::id()));
        std::fs::write(&tmp, serde_json::to_vec_pretty(&index).unwrap_or_default())
            .map_err(|e| err(&self.root, e))?;
        std::fs::rename(&tmp, self.root.join("index.json")).map_err(|e| err(&self.root, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_like_skopeo() {
        let r = LayoutRef::parse("oci:/tmp/l:nginx:1.27")
            .expect("oci")
            .expect("valid");
        assert_eq!(r.path, PathBuf::from("/tmp/l"));
        assert_eq!(r.name.as_deref(), Some("nginx:1.27"));
        assert_eq!(r.to_string(), "oci:/tmp/l:nginx:1.27");
        let r = LayoutRef::parse("oci:./out").expect("oci").expect("valid");
        assert_eq!(r.name, None);
        assert!(LayoutRef::parse("docker.io/library/nginx:1.27").is_none());
        assert!(LayoutRef::parse("oci:").expect("oci").is_err());
        assert!(LayoutRef::parse("oci:/x:").expect("oci").is_err());
    }

    #[tokio::test]
    async fn blobs_are_verified_before_they_take_their_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let l = Layout::create(dir.path()).expect("create");
        let data = Bytes::from_static(b"hello layout");
        let d = Digest::sha256(&data);
        l.write_bytes(&d, data.clone()).await.expect("write");
        assert!(l.has_blob(&d, data.len() as u64));
        assert_eq!(l.read_blob(&d).await.expect("read"), data);
        // Wrong bytes for a digest: refused, nothing left behind.
        let other = Digest::sha256(b"other");
        let e = l
            .write_blob(
                &other,
                5,
                futures::stream::iter([Ok(Bytes::from_static(b"wrong"))]),
            )
            .await
            .expect_err("digest");
        assert!(matches!(e, RegistryError::DigestMismatch { .. }), "{e}");
        assert!(!l.blob_path(&other).exists());
        let leftovers = std::fs::read_dir(l.blob_path(&d).parent().expect("dir"))
            .expect("ls")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".partial"))
            })
            .count();
        assert_eq!(leftovers, 0);
    }
}
