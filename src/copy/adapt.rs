//! What each target accepts, and what a copy does about it before it asks.
//!
//! Three sources, first match wins: a refusal met earlier in this run (any image's), the
//! target's profile (`--target-profile`, else by host name: [`crate::registry::profile::Profile::for_host`]), and a
//! refusal remembered per host in `--state`. What is known refused is not sent: an index the
//! target refuses as OCI is written as a Docker manifest list, attestation manifests are left
//! out, artifacts are not offered, the referrers API is not asked, uploads take the form the
//! target takes. Every change is said in the image's report with its reason.
//!
//! A refusal is learned where the stricter way then succeeds (the manifest fallback in
//! [`super::image`], a refused artifact, a missing referrers API, a refused streamed upload);
//! the registry's words are kept, inert and bounded.

use super::ledger::lock;
use super::push::{self, Fallback, PushPlan, PushPlanError, SourceTree};
use super::state::State;
use super::target::Target;
use super::{CopyOptions, Engine, Format, Platforms};
use crate::registry::manifest::Kind;
use crate::registry::profile::{Capability, ProfileChoice};
use crate::report::ImageReport;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

/// What the run knows of its targets.
pub(crate) struct Targets {
    /// Refusals met in this run, per host: what, and the registry's words.
    learned: Mutex<HashMap<String, BTreeMap<Capability, String>>>,
    /// How many refusals were learned so far: a plan made before the count moved is made again.
    generation: AtomicUsize,
    started: SystemTime,
}

impl Default for Targets {
    fn default() -> Targets {
        Targets {
            learned: Default::default(),
            generation: AtomicUsize::new(0),
            started: SystemTime::now(),
        }
    }
}

impl Targets {
    /// Changes whenever a refusal is learned.
    pub(crate) fn generation(&self) -> usize {
        self.generation.load(Ordering::Acquire)
    }

    /// Why `what` is not sent to `host`, when it is known refused there. `choice`: the
    /// target's `--target-profile` (`Auto` for a source: known by its name).
    pub(crate) fn refuses(
        &self,
        host: &str,
        what: Capability,
        choice: ProfileChoice,
        state: Option<&State>,
    ) -> Option<String> {
        let key = host.to_ascii_lowercase();
        if let Some(words) = lock(&self.learned).get(&key).and_then(|m| m.get(&what)) {
            return Some(format!(
                "{host} refused {} earlier in this run: {words}",
                what.describe()
            ));
        }
        let (profile, auto) = choice.for_host(host);
        if let Some((_, why)) = profile.refuses().iter().find(|(c, _)| *c == what) {
            return Some(format!(
                "{} {why} (target profile `{}`{})",
                profile.title(),
                profile.name(),
                if auto { ", from the host's name" } else { "" }
            ));
        }
        let (_, remembered) = state?
            .refusals(host, self.started)
            .into_iter()
            .find(|(c, _)| *c == what)?;
        Some(format!(
            "{host} refused {} on {}: {} (remembered in --state)",
            what.describe(),
            remembered.at.get(..10).unwrap_or(&remembered.at),
            remembered.reason
        ))
    }

    /// `host` refused `what` in `words`: known for the rest of the run, and in `--state` for
    /// the next ones. Said once a host.
    pub(crate) fn learn(&self, host: &str, what: Capability, words: &str, state: Option<&State>) {
        let words = crate::untrusted::inert(words, super::state::WORDS_MAX);
        let key = host.to_ascii_lowercase();
        let fresh = lock(&self.learned)
            .entry(key)
            .or_default()
            .insert(what, words.clone())
            .is_none();
        if fresh {
            self.generation.fetch_add(1, Ordering::AcqRel);
            tracing::info!(
                registry = host,
                "{host} refuses {}: {words}",
                what.describe()
            );
            if let Some(s) = state {
                s.record_refusal(host, what, &words);
            }
        }
    }
}

/// What a plan changed for the target: (change, why).
pub(crate) type Changes = Vec<(&'static str, String)>;

/// The change made when the target refuses OCI.
pub(crate) const AS_V2S2: &str = "written as Docker v2s2";
/// The change made when the target refuses attestation manifests.
pub(crate) const NO_ATTESTATIONS: &str = "attestation manifests left out";

impl Engine {
    /// The push plan for `tree` as `target` accepts it: built as the options ask, then
    /// stricter where the target is known to refuse what it holds (each change in `report`).
    /// Returns the plan and the fallback level it was built at.
    pub(crate) fn adapted_plan(
        &self,
        target: &Target,
        tree: &SourceTree,
        opts: &CopyOptions,
        format: Format,
        report: &mut ImageReport,
    ) -> Result<(PushPlan, Fallback), PushPlanError> {
        let Target::Registry { client, .. } = target else {
            let plain = push::build(tree, &opts.platforms, format, Fallback::default())?;
            return Ok((plain, Fallback::default()));
        };
        let how = (&opts.platforms, format, opts.target_profile);
        let (plan, fb, changes) = self.plan_for_host(client.host(), tree, how)?;
        for (change, why) in changes {
            report.adapt(change, why);
        }
        Ok((plan, fb))
    }

    /// [`Engine::adapted_plan`] for a registry `host`, the changes returned with their reasons.
    pub(crate) fn plan_for_host(
        &self,
        host: &str,
        tree: &SourceTree,
        (platforms, format, choice): (&Platforms, Format, ProfileChoice),
    ) -> Result<(PushPlan, Fallback, Changes), PushPlanError> {
        let plain = push::build(tree, platforms, format, Fallback::default())?;
        let state = self.state.as_ref();
        let refuses = |what| self.targets.refuses(host, what, choice, state);
        let mut fb = Fallback::default();
        let mut changes = Vec::new();
        let source_oci = tree.top.kind().is_some_and(Kind::is_oci);
        if plain.writes_oci && (source_oci || plain.converted) {
            let index = plain.top.kind().is_some_and(Kind::is_index);
            let why = index
                .then(|| refuses(Capability::OciIndex))
                .flatten()
                .or_else(|| refuses(Capability::OciManifest));
            if let Some(why) = why {
                fb.force_v2s2 = true;
                fb.drop_attestations = true;
                changes.push((AS_V2S2, why));
            }
        }
        if plain.has_attestations && !fb.drop_attestations {
            if let Some(why) = refuses(Capability::Attestations) {
                fb.drop_attestations = true;
                changes.push((NO_ATTESTATIONS, why));
            }
        }
        if fb == Fallback::default() {
            return Ok((plain, fb, changes));
        }
        let plan = push::build(tree, platforms, format, fb)?;
        Ok((plan, fb, changes))
    }

    /// The chunk size uploads to `target` use: `--chunk-size` where the target takes chunked
    /// uploads (no larger than it takes), else none; the change said in `report`. A target
    /// known to refuse streamed uploads gets chunked ones (the blob path's own fallback, taken
    /// before the first refusal).
    pub(crate) fn chunk_size_for(
        &self,
        target: &Target,
        opts: &CopyOptions,
        report: &mut ImageReport,
    ) -> Option<u64> {
        let Target::Registry { client, .. } = target else {
            return opts.chunk_size;
        };
        let host = client.host();
        let choice = opts.target_profile;
        let state = self.state.as_ref();
        if opts.chunk_size.is_none() {
            let key = host.to_string();
            let known = lock(&self.ledger.chunked_only).contains(&key);
            if !known {
                if let Some(why) =
                    self.targets
                        .refuses(host, Capability::StreamedUpload, choice, state)
                {
                    lock(&self.ledger.chunked_only).insert(key);
                    report.adapt("blobs uploaded in chunks", why);
                }
            }
        }
        let size = opts.chunk_size?;
        if let Some(why) =
            self.targets
                .refuses(host, Capability::ChunkedUpload, choice, self.state.as_ref())
        {
            report.adapt("blobs uploaded whole (--chunk-size not used)", why);
            return None;
        }
        let (profile, _) = choice.for_host(host);
        match profile.max_chunk() {
            Some(max) if size > max => {
                report.adapt(
                    format!(
                        "chunks of {} (not {})",
                        crate::report::human_bytes(max),
                        crate::report::human_bytes(size)
                    ),
                    format!(
                        "{} takes at most {} a chunk (target profile `{}`)",
                        profile.title(),
                        crate::report::human_bytes(max),
                        profile.name()
                    ),
                );
                Some(max)
            }
            _ => Some(size),
        }
    }

    /// What the blob path learned of `target`'s uploads in this run, kept with the refusals
    /// and said in `report` the first time.
    pub(crate) fn learn_uploads(&self, target: &Target, report: &mut ImageReport) {
        let Target::Registry { client, .. } = target else {
            return;
        };
        let host = client.host();
        let state = self.state.as_ref();
        let known = |what| {
            let auto = ProfileChoice::Auto;
            self.targets.refuses(host, what, auto, state).is_some()
        };
        let seen = [
            (
                &self.ledger.chunked_only,
                Capability::StreamedUpload,
                "blobs uploaded in chunks",
                "the target refused a blob streamed in one request",
            ),
            (
                &self.ledger.whole_only,
                Capability::ChunkedUpload,
                "blobs uploaded whole (--chunk-size not used)",
                "the target refused a chunked upload",
            ),
        ];
        for (set, what, change, words) in seen {
            if lock(set).contains(host) && !known(what) {
                self.targets.learn(host, what, words, state);
                report.adapt(change, words);
            }
        }
    }

    /// `target` refused `what` in `words` (a registry target; a layout refuses nothing).
    pub(crate) fn learn_target(&self, target: &Target, what: Capability, words: &str) {
        if let Target::Registry { client, .. } = target {
            (self.targets).learn(client.host(), what, words, self.state.as_ref());
        }
    }
}

/// What a manifest refusal says the target refuses, from the stricter way (`after`) taken
/// after the refused one (`before`): OCI (the index's, when the named index was the one
/// refused), else attestations. Learned only once that way is accepted.
pub(crate) fn refused_capability(
    before: Fallback,
    after: Fallback,
    top_refused: bool,
    top_was_index: bool,
) -> Option<Capability> {
    if after.force_v2s2 && !before.force_v2s2 {
        Some(match top_refused && top_was_index {
            true => Capability::OciIndex,
            false => Capability::OciManifest,
        })
    } else if after.drop_attestations && !before.drop_attestations {
        Some(Capability::Attestations)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::profile::Profile;

    #[test]
    fn profiles_by_name_or_host_and_refusals_learned_in_the_run() {
        let t = Targets::default();
        let swr = ProfileChoice::Named(Profile::Swr);
        let why = t
            .refuses("r.example.com:5000", Capability::OciIndex, swr, None)
            .expect("refused");
        assert!(why.contains("Huawei SWR") && why.contains("`swr`"), "{why}");
        let auto = ProfileChoice::Auto;
        assert!(t
            .refuses("r.example.com:5000", Capability::OciIndex, auto, None)
            .is_none());
        let why = t
            .refuses(
                "swr.cn-north-4.myhuaweicloud.com",
                Capability::OciIndex,
                auto,
                None,
            )
            .expect("by name");
        assert!(why.contains("from the host's name"), "{why}");
        assert!(t
            .refuses("r.example.com:5000", Capability::Attestations, swr, None)
            .is_none());
        t.learn(
            "r.example.com:5000",
            Capability::Attestations,
            "denied: unknown manifest class\n\u{1b}[31mtoken=abc123",
            None,
        );
        let why = t
            .refuses("R.example.com:5000", Capability::Attestations, auto, None)
            .expect("learned");
        assert!(why.contains("earlier in this run"), "{why}");
        assert!(
            !why.contains('\n') && !why.contains('\u{1b}'),
            "inert: {why}"
        );
        assert!(!why.contains("abc123"), "scrubbed: {why}");
    }

    #[test]
    fn refusals_remembered_in_the_state_count_until_they_expire() {
        let dir = std::env::temp_dir().join(format!("rm-adapt-{}", std::process::id()));
        let path = dir.join("state.json");
        let _ = std::fs::remove_file(&path);
        let state = State::load(&path).expect("state");
        let t = Targets::default();
        t.learn(
            "h.example",
            Capability::OciIndex,
            "MANIFEST_INVALID",
            Some(&state),
        );
        state.save().expect("save");
        let again = State::load(&path).expect("again");
        let next = Targets::default();
        let why = next
            .refuses(
                "h.example",
                Capability::OciIndex,
                ProfileChoice::Auto,
                Some(&again),
            )
            .expect("remembered");
        assert!(
            why.contains("remembered in --state") && why.contains("MANIFEST_INVALID"),
            "{why}"
        );
        let later = SystemTime::now()
            + std::time::Duration::from_secs(super::super::state::REFUSAL_DAYS * 86_400 + 60);
        assert!(again.refusals("h.example", later).is_empty(), "expired");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
