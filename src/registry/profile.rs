//! Target profiles: what a kind of registry is known to refuse, by name or by host pattern.
//!
//! A profile lists only what is known to be refused (each with the registry's documented
//! behaviour as the reason). Everything else is tried as the options ask, and a refusal met
//! on the way is learned: for the rest of the run, and per host in `--state` for the next.
//! Nothing here does I/O; the engine applies what a profile says (`copy::adapt`).

use serde::{Deserialize, Serialize};

/// Something a registry may refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// OCI image indexes (multi-platform images as OCI).
    OciIndex,
    /// OCI image manifests.
    OciManifest,
    /// Build attestation manifests inside an index (BuildKit's `unknown/unknown` entries).
    Attestations,
    /// OCI artifacts as referrers: manifests with `artifactType` or the empty config.
    Artifacts,
    /// The referrers API (`GET /v2/<name>/referrers/<digest>`).
    ReferrersApi,
    /// A blob streamed in one request (one `PATCH` without `Content-Range`).
    StreamedUpload,
    /// Chunked uploads (`PATCH` with `Content-Range`).
    ChunkedUpload,
}

impl Capability {
    /// What it is, for people.
    pub fn describe(self) -> &'static str {
        match self {
            Capability::OciIndex => "OCI indexes",
            Capability::OciManifest => "OCI manifests",
            Capability::Attestations => "attestation manifests",
            Capability::Artifacts => "OCI artifacts (artifactType, empty config)",
            Capability::ReferrersApi => "the referrers API",
            Capability::StreamedUpload => "streamed uploads",
            Capability::ChunkedUpload => "chunked uploads",
        }
    }
}

/// A kind of target registry.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Aliyun Container Registry, personal and enterprise instances.
    Acr,
    /// Tencent Container Registry (TCR enterprise, CCR personal).
    Tcr,
    /// Huawei Cloud SoftWare Repository for Container (SWR).
    Swr,
    /// Harbor 2.x (older ones are learned from their refusals).
    Harbor,
    /// GitHub Container Registry.
    Ghcr,
    /// Quay.io and Red Hat Quay.
    Quay,
    /// Docker Hub.
    Dockerhub,
    /// Google Artifact Registry.
    Gar,
    /// A plain registry (CNCF distribution) or any other: nothing known to be refused.
    #[default]
    Distribution,
}

/// `--target-profile`: a profile by name, or by the target's host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProfileChoice {
    #[default]
    Auto,
    Named(Profile),
}

impl std::str::FromStr for ProfileChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<ProfileChoice, String> {
        let s = s.trim().to_ascii_lowercase();
        if s == "auto" {
            return Ok(ProfileChoice::Auto);
        }
        <Profile as clap::ValueEnum>::from_str(&s, true)
            .map(ProfileChoice::Named)
            .map_err(|_| {
                format!(
                    "`{s}` is not a target profile; use auto or one of {}",
                    Profile::names().join(", ")
                )
            })
    }
}

impl<'de> Deserialize<'de> for ProfileChoice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ProfileChoice, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl ProfileChoice {
    /// The profile for a target at `host`.
    pub fn for_host(self, host: &str) -> (Profile, bool) {
        match self {
            ProfileChoice::Named(p) => (p, false),
            ProfileChoice::Auto => (Profile::for_host(host), true),
        }
    }
}

/// The largest chunk GHCR takes in one `PATCH`.
pub const GHCR_MAX_CHUNK: u64 = 4 * 1024 * 1024;

impl Profile {
    pub fn names() -> Vec<&'static str> {
        <Profile as clap::ValueEnum>::value_variants()
            .iter()
            .map(|p| p.name())
            .collect()
    }

    pub fn name(self) -> &'static str {
        match self {
            Profile::Acr => "acr",
            Profile::Tcr => "tcr",
            Profile::Swr => "swr",
            Profile::Harbor => "harbor",
            Profile::Ghcr => "ghcr",
            Profile::Quay => "quay",
            Profile::Dockerhub => "dockerhub",
            Profile::Gar => "gar",
            Profile::Distribution => "distribution",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Profile::Acr => "Aliyun ACR",
            Profile::Tcr => "Tencent TCR",
            Profile::Swr => "Huawei SWR",
            Profile::Harbor => "Harbor",
            Profile::Ghcr => "GHCR",
            Profile::Quay => "Quay",
            Profile::Dockerhub => "Docker Hub",
            Profile::Gar => "Google Artifact Registry",
            Profile::Distribution => "a plain registry",
        }
    }

    /// The profile a host's name points to; a plain registry when none does. Harbor has no
    /// host of its own: name it, or let a refusal teach it.
    pub fn for_host(host: &str) -> Profile {
        let host = host.to_ascii_lowercase();
        let name = match host.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host.as_str(),
        };
        let under = |domain: &str| name == domain || name.ends_with(&format!(".{domain}"));
        if under("aliyuncs.com") {
            Profile::Acr
        } else if under("tencentyun.com") || under("tencentcloudcr.com") {
            Profile::Tcr
        } else if name.starts_with("swr.")
            && (under("myhuaweicloud.com") || under("myhuaweicloud.eu"))
        {
            Profile::Swr
        } else if name == "ghcr.io" {
            Profile::Ghcr
        } else if name == "quay.io" {
            Profile::Quay
        } else if matches!(
            name,
            "docker.io" | "registry-1.docker.io" | "index.docker.io" | "registry.hub.docker.com"
        ) {
            Profile::Dockerhub
        } else if name.ends_with("-docker.pkg.dev") {
            Profile::Gar
        } else {
            Profile::Distribution
        }
    }

    /// What it is known to refuse, each with why.
    pub fn refuses(self) -> &'static [(Capability, &'static str)] {
        match self {
            Profile::Acr => &[
                (
                    Capability::Attestations,
                    "refuses manifests whose config is the empty one (`unknown manifest class`)",
                ),
                (
                    Capability::Artifacts,
                    "refuses OCI artifacts (`unknown manifest class`)",
                ),
                (
                    Capability::ReferrersApi,
                    "has no referrers API (referrers live in `sha256-…` tags)",
                ),
            ],
            Profile::Swr => &[(
                Capability::OciIndex,
                "refuses OCI indexes (`MANIFEST_INVALID`) and takes a Docker manifest list",
            )],
            Profile::Gar => &[(Capability::ChunkedUpload, "takes no chunked uploads")],
            // Whether these have the referrers API depends on their version: asked once a
            // run, and a 404 is remembered in `--state`.
            Profile::Tcr
            | Profile::Harbor
            | Profile::Quay
            | Profile::Ghcr
            | Profile::Dockerhub
            | Profile::Distribution => &[],
        }
    }

    /// The largest chunk it takes in a chunked upload, when it has a limit.
    pub fn max_chunk(self) -> Option<u64> {
        (self == Profile::Ghcr).then_some(GHCR_MAX_CHUNK)
    }

    /// Whether its namespaces are Harbor projects (created with `--create-namespace`).
    pub fn is_harbor(self) -> bool {
        matches!(self, Profile::Harbor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_point_to_their_profiles() {
        for (host, profile) in [
            ("registry.cn-hangzhou.aliyuncs.com", Profile::Acr),
            ("registry-vpc.cn-shanghai.aliyuncs.com", Profile::Acr),
            ("myco-registry.cn-beijing.cr.aliyuncs.com", Profile::Acr),
            ("ccr.ccs.tencentyun.com", Profile::Tcr),
            ("myco.tencentcloudcr.com", Profile::Tcr),
            ("swr.cn-north-4.myhuaweicloud.com", Profile::Swr),
            ("swr.eu-west-101.myhuaweicloud.eu", Profile::Swr),
            ("GHCR.io", Profile::Ghcr),
            ("quay.io", Profile::Quay),
            ("docker.io", Profile::Dockerhub),
            ("europe-west1-docker.pkg.dev", Profile::Gar),
            ("127.0.0.1:5000", Profile::Distribution),
            ("harbor.example.com", Profile::Distribution),
            // Look-alikes are not the vendor.
            ("aliyuncs.com.evil.example", Profile::Distribution),
            ("notghcr.io", Profile::Distribution),
            ("myhuaweicloud.com", Profile::Distribution),
        ] {
            assert_eq!(Profile::for_host(host), profile, "{host}");
        }
    }

    #[test]
    fn choices_parse_by_name_or_auto_and_say_what_exists() {
        assert_eq!("auto".parse::<ProfileChoice>(), Ok(ProfileChoice::Auto));
        assert_eq!(
            "SWR".parse::<ProfileChoice>(),
            Ok(ProfileChoice::Named(Profile::Swr))
        );
        let e = "ecr".parse::<ProfileChoice>().expect_err("unknown");
        assert!(e.contains("acr, tcr, swr, harbor"), "{e}");
        assert_eq!(
            ProfileChoice::Auto.for_host("quay.io"),
            (Profile::Quay, true)
        );
        assert_eq!(
            ProfileChoice::Named(Profile::Harbor).for_host("quay.io"),
            (Profile::Harbor, false)
        );
    }

    #[test]
    fn only_known_refusals_are_listed() {
        let caps = |p: Profile| p.refuses().iter().map(|(c, _)| *c).collect::<Vec<_>>();
        assert_eq!(caps(Profile::Swr), vec![Capability::OciIndex]);
        assert!(caps(Profile::Acr).contains(&Capability::Attestations));
        assert!(caps(Profile::Distribution).is_empty());
        assert_eq!(Profile::Ghcr.max_chunk(), Some(GHCR_MAX_CHUNK));
    }
}
