//! What converted sources became (`--state FILE`): a source written unchanged is judged up to
//! date by comparing digests from two HEADs, but a converted one (an OCI image written as Docker
//! v2s2, a filtered index) has a new digest that only its manifests can tell. Remembering
//! "source digest + options -> written digest" lets a re-run stop at the HEADs for those too,
//! which matters where manifest GETs count against a pull limit (Docker Hub).
//!
//! The file is JSON, read at start (at most [`crate::bounded::STATE`]'s cap) and replaced
//! atomically at the end. A missing or unreadable file is an empty state: it only ever saves
//! requests, never decides what is correct, because the target's digest is always checked
//! against it. A path that is not a regular file (a FIFO would hang the read) is refused.

use crate::copy::CopyOptions;
use crate::digest::Digest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub struct State {
    path: PathBuf,
    map: Mutex<BTreeMap<String, String>>,
    changed: Mutex<bool>,
}

fn key(source: &Digest, opts: &CopyOptions) -> String {
    format!(
        "{source} {:?} {}",
        opts.format,
        opts.platforms.describe().join(",")
    )
    .to_lowercase()
}

impl State {
    /// The state in `path`; missing, unreadable or garbage is an empty state. A path that is not
    /// a regular file, or a file over [`crate::bounded::STATE`]'s cap, is refused.
    pub fn load(path: &Path) -> Result<State, crate::bounded::FileError> {
        use crate::bounded::FileError;
        let map = match crate::bounded::read(path, &crate::bounded::STATE) {
            Ok(b) => serde_json::from_slice::<BTreeMap<String, String>>(&b).unwrap_or_default(),
            Err(e @ (FileError::NotRegular { .. } | FileError::TooLarge { .. })) => return Err(e),
            Err(_) => BTreeMap::new(),
        };
        Ok(State {
            path: path.to_path_buf(),
            map: Mutex::new(map),
            changed: Mutex::new(false),
        })
    }

    /// What `source` became the last time it was written with `opts`.
    pub(crate) fn written(&self, source: &Digest, opts: &CopyOptions) -> Option<String> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key(source, opts))
            .cloned()
    }

    pub(crate) fn record(&self, source: &Digest, opts: &CopyOptions, written: &Digest) {
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map
            .insert(key(source, opts), written.to_string())
            .as_deref()
            != Some(written.as_str())
        {
            *self
                .changed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        }
    }

    /// Write the file back when anything changed.
    pub fn save(&self) -> std::io::Result<()> {
        if !*self
            .changed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            return Ok(());
        }
        let map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("partial");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&map).unwrap_or_default())?;
        std::fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy::{Format, Platforms};

    #[test]
    fn remembers_per_source_and_options_and_survives_a_save() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        let opts = CopyOptions {
            platforms: Platforms::All,
            format: Format::V2s2,
            dry_run: false,
            chunk_size: None,
        };
        let (a, b) = (Digest::sha256(b"a"), Digest::sha256(b"b"));
        let s = State::load(&path).expect("state");
        assert_eq!(s.written(&a, &opts), None);
        s.record(&a, &opts, &b);
        s.save().expect("save");
        let s = State::load(&path).expect("state");
        assert_eq!(s.written(&a, &opts), Some(b.to_string()));
        let oci = CopyOptions {
            format: Format::Oci,
            ..opts.clone()
        };
        assert_eq!(s.written(&a, &oci), None, "other options, other entry");
        // Garbage in the file is an empty state, not an error.
        std::fs::write(&path, "not json").expect("write");
        assert_eq!(State::load(&path).expect("state").written(&a, &opts), None);
        // A directory (or a FIFO) is refused, not read.
        let err = State::load(dir.path()).err().expect("refused");
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }
}
