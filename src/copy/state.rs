//! What this run learned for the next (`--state FILE`), two things:
//! - **What converted sources became.** A source written unchanged is judged up to date by
//!   comparing digests from two HEADs, but a converted one (an OCI image written as Docker
//!   v2s2, a filtered index) has a new digest that only its manifests can tell. Remembering
//!   "source digest + options -> written digest" lets a re-run stop at the HEADs for those too,
//!   which matters where manifest GETs count against a pull limit (Docker Hub).
//! - **Which target repository holds a blob** (per registry host), so a later run that writes a
//!   new repository asks for a shared layer with one mount (`POST ?mount=&from=`) instead of
//!   uploading it. A remembered holder is only a candidate: the registry's 201 is the proof, and a
//!   holder that no longer lends the blob costs nothing more than the upload it falls back to.
//!
//! - **What each target host refused** (an OCI index, attestation manifests, artifacts, the
//!   referrers API, streamed or chunked uploads), with the registry's words and when: the next
//!   run adapts before it asks (see `copy::adapt`). A refusal is remembered for
//!   [`REFUSAL_DAYS`] days, then asked again (registries are upgraded).
//!
//! The file is JSON, read at start (at most [`crate::bounded::STATE`]'s cap) and replaced
//! atomically at the end. A missing or unreadable file is an empty state: it only ever saves
//! requests, never decides what is correct, because the target's digest is always checked
//! against it. A path that is not a regular file (a FIFO would hang the read) is refused. The
//! first format (one flat map of written digests) is still read.

use crate::copy::CopyOptions;
use crate::digest::Digest;
use crate::registry::profile::Capability;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// At most this many remembered blob holders (about 150 bytes each), and as many indexes'
/// children; beyond it, those this run did not touch are dropped first.
const HOLDERS_MAX: usize = 100_000;
/// At most this many children are remembered of one index.
const CHILDREN_MAX: usize = 64;
/// A remembered refusal is trusted this long.
pub(crate) const REFUSAL_DAYS: u64 = 30;
/// At most this many hosts' refusals are kept, and this many characters of the words.
const HOSTS_MAX: usize = 256;
pub(crate) const WORDS_MAX: usize = 300;

/// A host refused something: the registry's words (scrubbed, bounded) and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Refused {
    pub(crate) reason: String,
    /// RFC 3339, seconds.
    pub(crate) at: String,
}

#[derive(Default, Serialize, Deserialize)]
struct Content {
    /// "source digest, options" -> the digest written.
    written: BTreeMap<String, String>,
    /// "registry host, blob digest" -> a repository there that held it.
    #[serde(default)]
    holders: BTreeMap<String, String>,
    /// A source index's digest -> the child manifests a copy took from it: the subjects whose
    /// signatures a re-run looks for when two HEADs said the image is up to date.
    #[serde(default)]
    children: BTreeMap<String, Vec<String>>,
    /// Registry host -> what it refused.
    #[serde(default)]
    refused: BTreeMap<String, BTreeMap<Capability, Refused>>,
}

/// What a file may hold: the current layout, or the first one (the written map alone).
#[derive(Deserialize)]
#[serde(untagged)]
enum OnDisk {
    Current(Content),
    First(BTreeMap<String, String>),
}

#[derive(Default)]
struct Inner {
    content: Content,
    changed: bool,
    /// Holder keys this run set or confirmed (kept first when the map is over its cap).
    touched: HashSet<String>,
}

pub struct State {
    path: PathBuf,
    inner: Mutex<Inner>,
}

fn key(source: &Digest, opts: &CopyOptions) -> String {
    format!(
        "{source} {:?} {}",
        opts.format,
        opts.platforms.describe().join(",")
    )
    .to_lowercase()
}

/// Keep `map` within [`HOLDERS_MAX`] entries, dropping those this run did not touch first.
fn prune<V>(map: &mut BTreeMap<String, V>, touched: &HashSet<String>) {
    if map.len() <= HOLDERS_MAX {
        return;
    }
    let mut spare = map.len() - HOLDERS_MAX;
    map.retain(|k, _| {
        let drop = spare > 0 && !touched.contains(k);
        spare -= usize::from(drop);
        !drop
    });
    while map.len() > HOLDERS_MAX {
        map.pop_last();
    }
}

fn holder_key(host: &str, digest: &Digest) -> String {
    format!("{} {digest}", host.to_ascii_lowercase())
}

impl State {
    /// The state in `path`; missing, unreadable or garbage is an empty state. A path that is not
    /// a regular file, or a file over [`crate::bounded::STATE`]'s cap, is refused.
    pub fn load(path: &Path) -> Result<State, crate::bounded::FileError> {
        use crate::bounded::FileError;
        let content = match crate::bounded::read(path, &crate::bounded::STATE) {
            Ok(b) => match serde_json::from_slice::<OnDisk>(&b) {
                Ok(OnDisk::Current(c)) => c,
                Ok(OnDisk::First(written)) => Content {
                    written,
                    ..Content::default()
                },
                Err(_) => Content::default(),
            },
            Err(e @ (FileError::NotRegular { .. } | FileError::TooLarge { .. })) => return Err(e),
            Err(_) => Content::default(),
        };
        Ok(State {
            path: path.to_path_buf(),
            inner: Mutex::new(Inner {
                content,
                ..Inner::default()
            }),
        })
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What `source` became the last time it was written with `opts`.
    pub(crate) fn written(&self, source: &Digest, opts: &CopyOptions) -> Option<String> {
        self.inner()
            .content
            .written
            .get(&key(source, opts))
            .cloned()
    }

    pub(crate) fn record(&self, source: &Digest, opts: &CopyOptions, written: &Digest) {
        let mut inner = self.inner();
        let old = inner
            .content
            .written
            .insert(key(source, opts), written.to_string());
        if old.as_deref() != Some(written.as_str()) {
            inner.changed = true;
        }
    }

    /// A repository of `host` that held `digest` when a run last saw it there. Only a valid
    /// repository name comes back (the file is a cache anyone could have edited).
    pub(crate) fn holder(&self, host: &str, digest: &Digest) -> Option<String> {
        self.inner()
            .content
            .holders
            .get(&holder_key(host, digest))
            .filter(|r| crate::reference::is_valid_repository(r))
            .cloned()
    }

    /// The child manifests a copy took from the source index `top` last time.
    pub(crate) fn children(&self, top: &Digest) -> Vec<Digest> {
        self.inner()
            .content
            .children
            .get(top.as_str())
            .map(|l| l.iter().filter_map(|d| d.parse().ok()).collect())
            .unwrap_or_default()
    }

    /// Remember the children taken from `top` (nothing for a single image).
    pub(crate) fn record_children(&self, top: &Digest, children: &[&Digest]) {
        if children.is_empty() {
            return;
        }
        let list: Vec<String> = children
            .iter()
            .take(CHILDREN_MAX)
            .map(|d| d.to_string())
            .collect();
        let mut inner = self.inner();
        inner.touched.insert(top.to_string());
        if inner.content.children.get(top.as_str()) != Some(&list) {
            inner.content.children.insert(top.to_string(), list);
            inner.changed = true;
        }
    }

    /// `repo` of `host` holds `digest` (seen in this run).
    pub(crate) fn hold(&self, host: &str, digest: &Digest, repo: &str) {
        let k = holder_key(host, digest);
        let mut inner = self.inner();
        inner.touched.insert(k.clone());
        if inner.content.holders.get(&k).map(String::as_str) != Some(repo) {
            inner.content.holders.insert(k, repo.to_string());
            inner.changed = true;
        }
    }

    /// The remembered holder of `digest` did not lend it: forget it (unless this run has seen
    /// it there since).
    pub(crate) fn forget(&self, host: &str, digest: &Digest, repo: &str) {
        let k = holder_key(host, digest);
        let mut inner = self.inner();
        if !inner.touched.contains(&k)
            && inner.content.holders.get(&k).map(String::as_str) == Some(repo)
        {
            inner.content.holders.remove(&k);
            inner.changed = true;
        }
    }

    /// What `host` refused within the last [`REFUSAL_DAYS`] days (`now`: the run's start).
    pub(crate) fn refusals(
        &self,
        host: &str,
        now: std::time::SystemTime,
    ) -> Vec<(Capability, Refused)> {
        let fresh = |r: &Refused| {
            humantime::parse_rfc3339(&r.at).is_ok_and(|at| {
                now.duration_since(at)
                    .map_or(true, |age| age.as_secs() < REFUSAL_DAYS * 86_400)
            })
        };
        self.inner()
            .content
            .refused
            .get(&host.to_ascii_lowercase())
            .map(|m| {
                m.iter()
                    .filter(|(_, r)| fresh(r))
                    .map(|(c, r)| (*c, r.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `host` refused `what` now, in `words` (untrusted: kept inert and bounded).
    pub(crate) fn record_refusal(&self, host: &str, what: Capability, words: &str) {
        let mut inner = self.inner();
        let map = &mut inner.content.refused;
        let host = host.to_ascii_lowercase();
        if !map.contains_key(&host) && map.len() >= HOSTS_MAX {
            return;
        }
        let entry = Refused {
            reason: crate::untrusted::inert(words, WORDS_MAX),
            at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        };
        // Refused again (after the memory ran out, or by another run): from now on.
        map.entry(host).or_default().insert(what, entry);
        inner.changed = true;
    }

    /// Write the file back when anything changed.
    pub fn save(&self) -> std::io::Result<()> {
        let bytes = {
            let mut inner = self.inner();
            if !inner.changed {
                return Ok(());
            }
            let Inner {
                content, touched, ..
            } = &mut *inner;
            prune(&mut content.holders, touched);
            prune(&mut content.children, touched);
            serde_json::to_vec_pretty(content).unwrap_or_default()
        };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("partial");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy::{Format, Platforms};

    fn all_platforms_v2s2() -> CopyOptions {
        CopyOptions {
            platforms: Platforms::All,
            format: Format::V2s2,
            dry_run: false,
            chunk_size: None,
            referrers: crate::copy::ReferrerMode::All,
            create_namespace: false,
            target_profile: Default::default(),
        }
    }

    #[test]
    fn remembers_per_source_and_options_and_survives_a_save() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        let opts = all_platforms_v2s2();
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

    #[test]
    fn remembers_blob_holders_per_host_and_forgets_those_that_did_not_lend() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        let (d, e) = (Digest::sha256(b"layer"), Digest::sha256(b"other"));
        let s = State::load(&path).expect("state");
        s.hold("Reg:5000", &d, "ns/a");
        s.hold("reg:5000", &e, "ns/b");
        s.save().expect("save");
        let s = State::load(&path).expect("state");
        assert_eq!(s.holder("reg:5000", &d).as_deref(), Some("ns/a"));
        assert_eq!(s.holder("other:5000", &d), None, "per host");
        s.forget("reg:5000", &d, "ns/zzz");
        assert_eq!(
            s.holder("reg:5000", &d).as_deref(),
            Some("ns/a"),
            "another repo"
        );
        s.forget("reg:5000", &d, "ns/a");
        assert_eq!(s.holder("reg:5000", &d), None);
        // An index's children, for the next run's referrer lookups.
        let (top, child) = (Digest::sha256(b"index"), Digest::sha256(b"child"));
        assert!(s.children(&top).is_empty());
        s.record_children(&top, &[&child]);
        assert_eq!(s.children(&top), vec![child.clone()]);
        // Seen in this run: a stale forget does not undo it.
        s.hold("reg:5000", &e, "ns/c");
        s.forget("reg:5000", &e, "ns/c");
        assert_eq!(s.holder("reg:5000", &e).as_deref(), Some("ns/c"));
    }

    #[test]
    fn reads_the_first_format_and_ignores_invalid_holders() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        let opts = all_platforms_v2s2();
        let (a, b) = (Digest::sha256(b"a"), Digest::sha256(b"b"));
        let first = serde_json::json!({ key(&a, &opts): b.to_string() });
        std::fs::write(&path, first.to_string()).expect("write");
        let s = State::load(&path).expect("state");
        assert_eq!(s.written(&a, &opts), Some(b.to_string()));
        // A holder that is not a repository name never becomes a mount's `from`.
        let d = Digest::sha256(b"layer");
        let edited = serde_json::json!({
            "written": {},
            "holders": { holder_key("reg:5000", &d): "../../v2/x?y=1" },
        });
        std::fs::write(&path, edited.to_string()).expect("write");
        assert_eq!(
            State::load(&path).expect("state").holder("reg:5000", &d),
            None
        );
    }

    #[test]
    fn the_holders_stay_under_their_cap_keeping_what_this_run_saw() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        let holders: BTreeMap<String, String> = (0..HOLDERS_MAX + 10)
            .map(|i| {
                let d = Digest::sha256(i.to_string().as_bytes());
                (holder_key("reg:5000", &d), "ns/old".to_string())
            })
            .collect();
        let content = serde_json::json!({ "written": {}, "holders": holders });
        std::fs::write(&path, content.to_string()).expect("write");
        let s = State::load(&path).expect("state");
        let fresh = Digest::sha256(b"fresh");
        s.hold("reg:5000", &fresh, "ns/new");
        s.save().expect("save");
        let s = State::load(&path).expect("state");
        assert_eq!(s.inner().content.holders.len(), HOLDERS_MAX);
        assert_eq!(s.holder("reg:5000", &fresh).as_deref(), Some("ns/new"));
    }
}
