//! What a run knows about target registries ([`Ledger`]): which repositories hold which blobs,
//! which repositories had their tag before the run, which registries take uploads only in
//! chunks or with a `PATCH` first, and one lock per blob and registry so a blob travels once.

use crate::digest::Digest;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// (registry host, or `oci:PATH` for a layout; digest): one transfer of a blob into a registry
/// at a time, so the next repository that needs it waits and then mounts it instead of
/// uploading it again.
type SlotKey = (String, Digest);

/// What this run knows about target registries: which repositories hold which blobs, so a blob
/// travels to a registry once and later repositories mount it; and per-[`SlotKey`] locks so two
/// tasks never move the same blob into the same registry (or layout) at once.
#[derive(Default)]
pub(crate) struct Ledger {
    known: Mutex<HashMap<(String, Digest), HashSet<String>>>,
    inflight: Mutex<HashMap<SlotKey, Arc<tokio::sync::Mutex<()>>>>,
    /// Registries that refused a streamed PATCH and take chunks only.
    pub(super) chunked_only: Mutex<HashSet<String>>,
    /// Registries that refused a chunked upload (`--chunk-size`) and take blobs whole.
    pub(super) whole_only: Mutex<HashSet<String>>,
    /// Registries that refused a blob in the closing `PUT` itself and take a `PATCH` first.
    pub(super) patch_first: Mutex<HashSet<String>>,
    /// (registry host, repository) whose tag this run found there before writing: they may
    /// hold any blob, so each is looked for with a `HEAD`.
    tagged: Mutex<HashSet<(String, String)>>,
}

impl Ledger {
    pub(crate) fn record(&self, host: &str, repo: &str, digest: &Digest) {
        lock(&self.known)
            .entry((host.to_string(), digest.clone()))
            .or_default()
            .insert(repo.to_string());
    }

    pub(crate) fn has(&self, host: &str, repo: &str, digest: &Digest) -> bool {
        lock(&self.known)
            .get(&(host.to_string(), digest.clone()))
            .is_some_and(|r| r.contains(repo))
    }

    /// Other repositories of `host` known to hold `digest`.
    pub(crate) fn holders(&self, host: &str, digest: &Digest, except: &str) -> Vec<String> {
        let mut v: Vec<String> = lock(&self.known)
            .get(&(host.to_string(), digest.clone()))
            .map(|r| r.iter().filter(|r| r.as_str() != except).cloned().collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// The target's tag was there before this run wrote it: the repository may hold any blob.
    pub(crate) fn saw_tag(&self, host: &str, repo: &str) {
        lock(&self.tagged).insert((host.to_string(), repo.to_string()));
    }

    pub(super) fn tagged(&self, host: &str, repo: &str) -> bool {
        lock(&self.tagged).contains(&(host.to_string(), repo.to_string()))
    }

    pub(crate) fn slot(&self, host: &str, digest: &Digest) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.inflight)
            .entry((host.to_string(), digest.clone()))
            .or_default()
            .clone()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_tracks_holders() {
        let l = Ledger::default();
        let d = Digest::sha256(b"x");
        l.record("r:5000", "ns/a", &d);
        l.record("r:5000", "ns/b", &d);
        assert!(l.has("r:5000", "ns/a", &d));
        assert!(!l.has("r:5000", "ns/c", &d));
        assert!(!l.has("other", "ns/a", &d));
        assert_eq!(l.holders("r:5000", &d, "ns/a"), vec!["ns/b".to_string()]);
    }
}
