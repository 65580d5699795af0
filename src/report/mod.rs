//! What a run did, as data: [`RunReport`] with one [`ImageReport`] per image, serialized as the
//! JSON report (its schema is in the README). No I/O here beyond rendering to strings.

pub(crate) mod actions;
pub(crate) mod markdown;

use serde::Serialize;
use std::time::{Duration, SystemTime};

/// The outcome of one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Something was written to the target.
    Copied,
    /// The target already held exactly what this run would write.
    Skipped,
    Failed,
    /// Dry run: what would happen.
    Planned,
}

/// Blob counters of one image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct BlobCounts {
    pub copied: u64,
    pub skipped: u64,
    pub mounted: u64,
}

/// What kind of thing refers to an image (`referrers` of the report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReferrerKind {
    /// cosign, notation, a sigstore bundle.
    Signature,
    /// SPDX, CycloneDX.
    Sbom,
    /// in-toto statements (provenance, vulnerability scans, ...).
    Attestation,
    /// Any other artifact.
    Artifact,
}

impl ReferrerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReferrerKind::Signature => "signature",
            ReferrerKind::Sbom => "sbom",
            ReferrerKind::Attestation => "attestation",
            ReferrerKind::Artifact => "artifact",
        }
    }
}

/// What became of one referrer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReferrerStatus {
    /// Written to the target.
    Copied,
    /// Already at the target, or left out by `--referrers`.
    Skipped,
    /// Cannot follow: its subject was converted (a new digest).
    Dropped,
    /// Dry run: would be copied.
    Planned,
    Failed,
}

impl ReferrerStatus {
    /// As the text outputs say it.
    pub fn as_str(self) -> &'static str {
        match self {
            ReferrerStatus::Copied => "copied",
            ReferrerStatus::Skipped => "skipped",
            ReferrerStatus::Dropped => "dropped",
            ReferrerStatus::Planned => "would copy",
            ReferrerStatus::Failed => "failed",
        }
    }
}

/// One referrer of an image: a signature, SBOM or attestation of one of its manifests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ReferrerReport {
    pub kind: ReferrerKind,
    pub digest: String,
    pub status: ReferrerStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The Markdown outputs' rows of referrers: the image's source, the kind, a short digest, the
/// status and the reason. At most `limit` rows.
pub fn referrer_rows(images: &[ImageReport], limit: usize) -> Vec<serde_json::Value> {
    images
        .iter()
        .flat_map(|i| i.referrers.iter().map(move |r| (i, r)))
        .take(limit)
        .map(|(i, r)| {
            serde_json::json!({
                "source": i.source, "kind": r.kind.as_str(),
                "digest": markdown::short(&Some(r.digest.clone())), "status": r.status.as_str(),
                "reason": r.reason,
            })
        })
        .collect()
}

/// Something written otherwise than the options ask, because of what the target accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Adaptation {
    /// What was done instead, e.g. "written as Docker v2s2".
    pub change: String,
    /// Why: the target's profile, a refusal remembered in `--state`, or the target's answer.
    pub reason: String,
}

/// The Markdown outputs' rows of adaptations: the image's source, the change and its reason.
/// At most `limit` rows.
pub fn adapted_rows(images: &[ImageReport], limit: usize) -> Vec<serde_json::Value> {
    images
        .iter()
        .flat_map(|i| i.adapted.iter().map(move |a| (i, a)))
        .take(limit)
        .map(|(i, a)| serde_json::json!({"source": i.source, "change": a.change, "reason": a.reason}))
        .collect()
}

/// One image of a run.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ImageReport {
    pub source: String,
    pub target: String,
    pub status: Status,
    pub source_digest: Option<String>,
    /// What the target tag points to now (or would, in a dry run).
    pub digest: Option<String>,
    pub platforms: Vec<String>,
    pub converted: bool,
    pub dropped: Vec<String>,
    /// Bytes uploaded (dry run: bytes that would be uploaded).
    pub bytes: u64,
    pub blobs: BlobCounts,
    pub duration_ms: u64,
    pub error: Option<String>,
    /// Dry run: `copy`, `up to date` or `would overwrite`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Signatures, SBOMs and attestations of its manifests (`--referrers`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub referrers: Vec<ReferrerReport>,
    /// What was adapted to the target (`--target-profile`, refusals).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adapted: Vec<Adaptation>,
}

impl ImageReport {
    pub fn new(source: impl Into<String>, target: impl Into<String>) -> ImageReport {
        ImageReport {
            source: source.into(),
            target: target.into(),
            status: Status::Failed,
            source_digest: None,
            digest: None,
            platforms: Vec::new(),
            converted: false,
            dropped: Vec::new(),
            bytes: 0,
            blobs: BlobCounts::default(),
            duration_ms: 0,
            error: None,
            action: None,
            warnings: Vec::new(),
            referrers: Vec::new(),
            adapted: Vec::new(),
        }
    }

    /// Say that `change` was made because of `reason` (once).
    pub fn adapt(&mut self, change: impl Into<String>, reason: impl Into<String>) {
        let a = Adaptation {
            change: change.into(),
            reason: reason.into(),
        };
        if !self.adapted.contains(&a) {
            self.adapted.push(a);
        }
    }
}

impl ImageReport {
    fn make_inert(&mut self) {
        use crate::untrusted::{inert, inert_lines, REPORT_TEXT_CHARS};
        self.source = inert(&self.source, 1024);
        self.target = inert(&self.target, 1024);
        if let Some(e) = &self.error {
            self.error = Some(inert_lines(e, REPORT_TEXT_CHARS));
        }
        for t in self.warnings.iter_mut().chain(self.dropped.iter_mut()) {
            *t = inert(t, 1024);
        }
        for a in &mut self.adapted {
            a.reason = inert(&a.reason, 1024);
        }
        for r in &mut self.referrers {
            r.digest = inert(&r.digest, 100);
            if let Some(why) = &r.reason {
                r.reason = Some(inert(why, 1024));
            }
        }
    }
}

/// Totals over every image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Summary {
    pub total: u64,
    pub copied: u64,
    pub skipped: u64,
    pub failed: u64,
    pub bytes: u64,
    pub blobs_copied: u64,
    pub blobs_skipped: u64,
    pub blobs_mounted: u64,
}

/// A whole run.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct RunReport {
    pub version: u32,
    pub started_at: String,
    pub duration_ms: u64,
    pub dry_run: bool,
    pub summary: Summary,
    pub images: Vec<ImageReport>,
    /// Syncs: per source repository, the tags kept and dropped by the filters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync: Vec<RepoSelection>,
    /// How each notification channel fared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<Delivery>,
}

/// A chat channel a run's message goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    Wecom,
    Dingtalk,
    Feishu,
    Slack,
    Webhook,
}

/// How one notification channel fared (the report's `notifications`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Delivery {
    pub channel: ChannelKind,
    pub ok: bool,
    pub error: Option<String>,
}

/// What the tag filters made of one source repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RepoSelection {
    pub source: String,
    pub target: String,
    /// Tags listed in the source.
    pub tags: usize,
    pub kept: Vec<String>,
    pub dropped: Vec<DroppedTag>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DroppedTag {
    pub tag: String,
    pub reason: String,
}

impl RunReport {
    ///
    /// Every text of the images (errors, warnings, what was dropped) may quote a registry, so
    /// it is made inert here, once for every output: bounded, without control, ANSI or
    /// bidirectional characters, and scrubbed of credentials.
    pub fn new(
        started: SystemTime,
        elapsed: Duration,
        dry_run: bool,
        mut images: Vec<ImageReport>,
    ) -> RunReport {
        for i in &mut images {
            i.make_inert();
        }
        let mut summary = Summary {
            total: images.len() as u64,
            ..Summary::default()
        };
        for i in &images {
            match i.status {
                Status::Copied => summary.copied += 1,
                Status::Skipped => summary.skipped += 1,
                Status::Failed => summary.failed += 1,
                Status::Planned => {}
            }
            summary.bytes += i.bytes;
            summary.blobs_copied += i.blobs.copied;
            summary.blobs_skipped += i.blobs.skipped;
            summary.blobs_mounted += i.blobs.mounted;
        }
        RunReport {
            version: 1,
            started_at: humantime::format_rfc3339_seconds(started).to_string(),
            duration_ms: elapsed.as_millis() as u64,
            dry_run,
            summary,
            images,
            sync: Vec::new(),
            notifications: Vec::new(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into())
    }

    /// The exit code of a run: 1 when any image failed, else 0.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.summary.failed > 0)
    }
}

/// One report from several (the shards of a run): images, tag selections and notifications in
/// order, the earliest start, the longest duration, totals recomputed.
pub fn merge(reports: Vec<RunReport>) -> RunReport {
    let started_at = reports
        .iter()
        .map(|r| r.started_at.clone())
        .min()
        .unwrap_or_default();
    let duration_ms = reports.iter().map(|r| r.duration_ms).max().unwrap_or(0);
    let dry_run = reports.iter().any(|r| r.dry_run);
    let mut images = Vec::new();
    let mut sync = Vec::new();
    let mut notifications = Vec::new();
    for r in reports {
        images.extend(r.images);
        for s in r.sync {
            if !sync.contains(&s) {
                sync.push(s);
            }
        }
        notifications.extend(r.notifications);
    }
    let mut run = RunReport::new(
        std::time::SystemTime::now(),
        Duration::from_millis(duration_ms),
        dry_run,
        images,
    );
    run.started_at = started_at;
    run.sync = sync;
    run.notifications = notifications;
    run
}

/// `1.5 GiB`, `320 KiB`, `12 B`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_and_schema() {
        let mut a = ImageReport::new("docker.io/library/nginx:1.27", "r/ns/nginx:1.27");
        a.status = Status::Copied;
        a.bytes = 100;
        a.blobs = BlobCounts {
            copied: 2,
            skipped: 1,
            mounted: 1,
        };
        let mut b = ImageReport::new("x", "y");
        b.error = Some("boom".into());
        let r = RunReport::new(
            SystemTime::UNIX_EPOCH,
            Duration::from_millis(1500),
            false,
            vec![a, b],
        );
        assert_eq!(r.exit_code(), 1);
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).expect("json");
        assert_eq!(v["version"], 1);
        assert_eq!(v["started_at"], "1970-01-01T00:00:00Z");
        assert_eq!(v["duration_ms"], 1500);
        assert_eq!(
            v["summary"],
            serde_json::json!({"total":2,"copied":1,"skipped":0,"failed":1,"bytes":100,
                               "blobs_copied":2,"blobs_skipped":1,"blobs_mounted":1})
        );
        let img = &v["images"][0];
        for key in [
            "source",
            "target",
            "status",
            "source_digest",
            "digest",
            "platforms",
            "converted",
            "dropped",
            "bytes",
            "blobs",
            "duration_ms",
            "error",
        ] {
            assert!(img.get(key).is_some(), "missing {key}");
        }
        assert_eq!(img["status"], "copied");
        assert_eq!(v["images"][1]["status"], "failed");
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(1 << 30), "1.0 GiB");
    }
}
