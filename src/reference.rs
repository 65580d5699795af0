//! Image references: the Docker reference grammar and its normalization.
//!
//! A reference names a repository on a registry and, optionally, one image in it. It is written
//! `[registry/]path[:tag][@digest]`, the grammar docker/distribution's `reference` package
//! defines and every Docker-compatible tool accepts.
//!
//! The registry is a host name made of DNS labels (letters, digits and `-`, no label starting or
//! ending with `-`) joined by `.`, or an IPv6 address in brackets such as `[::1]`, optionally
//! followed by `:port`. It is written as given: upper case is kept, because host names are not
//! case sensitive and distribution does not fold them. The path is one or more components joined
//! by `/`; a component is lowercase letters and digits, where runs of them may be joined by a
//! single `.`, a single or double `_`, or any number of `-`. The tag is up to 128 letters,
//! digits, `_`, `.` and `-`, not starting with `.` or `-`. The digest is `sha256:` followed by
//! 64 lowercase hex digits (or `sha512:` and 128). The registry and the path together may not be
//! longer than 255 characters.
//!
//! Because the registry is optional, the first `/`-separated component is only taken as a
//! registry when it could not be a path component of a Docker Hub repository: when it contains a
//! `.` or a `:` (a port), starts with `[` (an IPv6 address), or is exactly `localhost`. So
//! `ghcr.io/owner/app` and `localhost:5000/app` name other registries, while `bitnami/redis` is
//! the repository `bitnami/redis` on Docker Hub.
//!
//! A reference without a registry defaults to Docker Hub, `docker.io`. The legacy name
//! `index.docker.io` is rewritten to `docker.io` as well. On Docker Hub, a repository of a single
//! component is an official image and gets the `library/` namespace: `nginx`, `docker.io/nginx`
//! and `index.docker.io/nginx` all mean `docker.io/library/nginx`. Other registries keep their
//! paths unchanged. Docker Hub's registry API is not served on `docker.io` itself but on
//! `registry-1.docker.io`, which [`Reference::api_host`] returns.
//!
//! A reference may carry a tag, a digest, both, or neither. When it has neither, the image meant
//! is the tag `latest` (the copy engine asks for it then); the parsed reference
//! itself does not invent a tag, so it prints as written. When it has both, the digest decides
//! which image is fetched and the tag is kept for display only.
//!
//! A 64-digit hex string on its own is refused, as distribution does, because it is an image ID
//! rather than a repository name. A scheme such as `https://` is refused with a hint to drop it.

use crate::digest::{Digest, DigestError};
use std::fmt;
use std::str::FromStr;

/// The registry a reference without one refers to: Docker Hub.
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// Docker Hub's former name, normalized to [`DEFAULT_REGISTRY`].
const LEGACY_DEFAULT_REGISTRY: &str = "index.docker.io";
/// The host that serves Docker Hub's registry API.
const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";
/// The namespace of Docker Hub's official images.
const OFFICIAL_NAMESPACE: &str = "library";
/// The longest allowed `registry/path`.
pub const NAME_MAX_LEN: usize = 255;
/// The longest allowed tag.
const TAG_MAX_LEN: usize = 128;

/// A parsed and normalized image reference such as `docker.io/library/nginx:1.27`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a string is not a valid image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// Nothing to parse.
    #[error("invalid reference ``: empty")]
    Empty,
    /// A URL was given instead of a reference.
    #[error(
        "invalid reference `{input}`: a reference has no scheme (drop `{scheme}://` and write `{rest}`)"
    )]
    Scheme {
        input: String,
        scheme: String,
        rest: String,
    },
    /// A bare 64-digit hex string, which is an image ID.
    #[error(
        "invalid reference `{input}`: a 64-digit hex string is an image ID, not a repository name"
    )]
    ImageId { input: String },
    /// Nothing before the `:tag` or `@digest`.
    #[error("invalid reference `{input}`: repository name is missing")]
    MissingRepository { input: String },
    /// More than one `:` after the last `/`.
    #[error(
        "invalid reference `{input}`: `{segment}` has more than one `:` (write `name:tag`, or `host:port/name` for a registry with a port)"
    )]
    ExtraColon { input: String, segment: String },
    /// The registry's host is neither DNS labels nor a bracketed IPv6 address.
    #[error(
        "invalid reference `{input}`: registry host `{host}` must be labels of letters, digits and `-` separated by `.` (no label starting or ending with `-`), or an IPv6 address in brackets like `[::1]`"
    )]
    Host { input: String, host: String },
    /// The registry's port is not a number.
    #[error("invalid reference `{input}`: port `{port}` must be one or more digits")]
    Port { input: String, port: String },
    /// A leading, trailing or doubled `/`, or no path after the registry.
    #[error("invalid reference `{input}`: empty path component")]
    EmptyComponent { input: String },
    /// A path component outside the grammar.
    #[error(
        "invalid reference `{input}`: path component `{component}` may only contain lowercase letters and digits, joined by `.`, `_`, `__` or dashes (starting and ending with a letter or digit)"
    )]
    PathComponent { input: String, component: String },
    /// A path that would be valid in lower case.
    #[error(
        "invalid reference `{input}`: repository `{repository}` must be lowercase (did you mean `{suggestion}`?)"
    )]
    Uppercase {
        input: String,
        repository: String,
        suggestion: String,
    },
    /// A `:` with nothing after it.
    #[error("invalid reference `{input}`: empty tag after `:`")]
    EmptyTag { input: String },
    /// A tag outside the grammar.
    #[error(
        "invalid reference `{input}`: tag `{tag}` may only contain letters, digits, `_`, `.` and `-` (at most 128 characters, not starting with `.` or `-`)"
    )]
    Tag { input: String, tag: String },
    /// An `@` with nothing after it.
    #[error(
        "invalid reference `{input}`: empty digest after `@` (expected `sha256:<64 hex digits>`)"
    )]
    EmptyDigest { input: String },
    /// The digest after `@` does not parse.
    #[error("invalid reference `{input}`: {error}")]
    Digest { input: String, error: DigestError },
    /// `registry/path` is too long.
    #[error("name `{name}` is longer than 255 characters ({len})")]
    NameTooLong { name: String, len: usize },
}

impl Reference {
    /// Parse and normalize. Tag and digest are both optional here.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let input = || s.to_string();
        if let Some((scheme, rest)) = s.split_once("://") {
            return Err(ReferenceError::Scheme {
                input: input(),
                scheme: scheme.to_string(),
                rest: rest.to_string(),
            });
        }
        if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(ReferenceError::ImageId { input: input() });
        }

        // `name[:tag]` and `@digest`: a digest never contains `@`, so the first one splits.
        let (name_tag, digest) = match s.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (s, None),
        };
        // The tag follows the last `:` after the last `/`; a `:` before that is a port.
        let last_segment_start = name_tag.rfind('/').map_or(0, |i| i + 1);
        let last_segment = &name_tag[last_segment_start..];
        let (name, tag) = match last_segment.find(':') {
            Some(i) => {
                if last_segment[i + 1..].contains(':') {
                    return Err(ReferenceError::ExtraColon {
                        input: input(),
                        segment: last_segment.to_string(),
                    });
                }
                let at = last_segment_start + i;
                (&name_tag[..at], Some(&name_tag[at + 1..]))
            }
            None => (name_tag, None),
        };
        if name.is_empty() {
            return Err(ReferenceError::MissingRepository { input: input() });
        }

        let (registry, path) = match name.split_once('/') {
            Some((first, rest)) if looks_like_registry(first) => (Some(first), rest),
            _ => (None, name),
        };
        if let Some(registry) = registry {
            check_registry(s, registry)?;
        }
        build(s, registry, path, tag, digest)
    }

    /// The normalized registry: `docker.io`, `ghcr.io`, `127.0.0.1:5000`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path: `library/nginx`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The `host[:port]` to contact: `registry-1.docker.io` for `docker.io`, otherwise [`Reference::registry`].
    pub fn api_host(&self) -> &str {
        if self.registry == DEFAULT_REGISTRY {
            DOCKER_HUB_API_HOST
        } else {
            &self.registry
        }
    }

    /// This repository with `tag` and no digest.
    ///
    /// The tag is not checked: tags listed by a registry are checked when listed
    /// ([`keep_valid`]), tags from users when parsed.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: Some(tag.to_string()),
            digest: None,
        }
    }

    /// Just `registry/repository`.
    pub fn without_tag_or_digest(&self) -> Reference {
        Reference {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: None,
            digest: None,
        }
    }
}

/// Validate the path, tag and digest, normalize, and check the name's length. The registry, if
/// any, is already valid.
fn build(
    input: &str,
    registry: Option<&str>,
    path: &str,
    tag: Option<&str>,
    digest: Option<&str>,
) -> Result<Reference, ReferenceError> {
    check_path(input, path)?;
    if let Some(tag) = tag {
        check_tag(input, tag)?;
    }
    let digest = match digest {
        None => None,
        Some("") => {
            return Err(ReferenceError::EmptyDigest {
                input: input.to_string(),
            })
        }
        Some(text) => Some(
            text.parse::<Digest>()
                .map_err(|error| ReferenceError::Digest {
                    input: input.to_string(),
                    error,
                })?,
        ),
    };

    let registry = match registry {
        None | Some(LEGACY_DEFAULT_REGISTRY) => DEFAULT_REGISTRY,
        Some(r) => r,
    };
    let repository = if registry == DEFAULT_REGISTRY && !path.contains('/') {
        format!("{OFFICIAL_NAMESPACE}/{path}")
    } else {
        path.to_string()
    };
    let len = registry.len() + 1 + repository.len();
    if len > NAME_MAX_LEN {
        return Err(ReferenceError::NameTooLong {
            name: format!("{registry}/{repository}"),
            len,
        });
    }
    Ok(Reference {
        registry: registry.to_string(),
        repository,
        tag: tag.map(str::to_string),
        digest,
    })
}

/// Whether the first `/`-separated component names a registry rather than a path component.
fn looks_like_registry(first: &str) -> bool {
    first.contains(['.', ':']) || first.starts_with('[') || first == "localhost"
}

/// `host[:port]`, the host being DNS labels or a bracketed IPv6 address.
fn check_registry(input: &str, registry: &str) -> Result<(), ReferenceError> {
    let host_error = |host: &str| ReferenceError::Host {
        input: input.to_string(),
        host: host.to_string(),
    };
    let port = if registry.starts_with('[') {
        let Some(end) = registry.find(']') else {
            return Err(host_error(registry));
        };
        let (host, rest) = registry.split_at(end + 1);
        let inner = &host[1..end];
        let ipv6_ok =
            !inner.is_empty() && inner.bytes().all(|b| b == b':' || b.is_ascii_hexdigit());
        if !ipv6_ok {
            return Err(host_error(host));
        }
        match rest.strip_prefix(':') {
            Some(port) => Some(port),
            None if rest.is_empty() => None,
            None => return Err(host_error(registry)),
        }
    } else {
        let (host, port) = match registry.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (registry, None),
        };
        let labels_ok = host.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
        if !labels_ok {
            return Err(host_error(host));
        }
        port
    };
    if let Some(port) = port {
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ReferenceError::Port {
                input: input.to_string(),
                port: port.to_string(),
            });
        }
    }
    Ok(())
}

/// Path components joined by `/`, all lowercase.
fn check_path(input: &str, path: &str) -> Result<(), ReferenceError> {
    for component in path.split('/') {
        if component.is_empty() {
            return Err(ReferenceError::EmptyComponent {
                input: input.to_string(),
            });
        }
        if !is_path_component(&component.to_ascii_lowercase()) {
            return Err(ReferenceError::PathComponent {
                input: input.to_string(),
                component: component.to_string(),
            });
        }
    }
    if path.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(ReferenceError::Uppercase {
            input: input.to_string(),
            repository: path.to_string(),
            suggestion: path.to_ascii_lowercase(),
        });
    }
    Ok(())
}

/// True when `tag` fits the tag grammar `[\w][\w.-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    check_tag(tag, tag).is_ok()
}

/// True when `path` is a repository path: lowercase components joined by `/`, at most 255
/// characters.
pub fn is_valid_repository(path: &str) -> bool {
    path.len() <= NAME_MAX_LEN && check_path(path, path).is_ok()
}

/// Names a registry (or a layout) listed, without those that fail `valid`; the dropped ones
/// are named in one warning, escaped and counted, and never become a URL or a path.
pub fn keep_valid(names: Vec<String>, what: &str, valid: fn(&str) -> bool) -> Vec<String> {
    let (good, bad): (Vec<String>, Vec<String>) = names.into_iter().partition(|n| valid(n));
    if !bad.is_empty() {
        const SHOWN: usize = 5;
        let listed: Vec<String> = bad
            .iter()
            .take(SHOWN)
            .map(|n| {
                let quoted = format!("{:?}", crate::untrusted::cut(n, 40));
                crate::untrusted::inert(&quoted, 60)
            })
            .collect();
        let more = bad.len().saturating_sub(SHOWN);
        tracing::warn!(
            "skipped {} invalid name{} in {what}: {}{}",
            bad.len(),
            if bad.len() == 1 { "" } else { "s" },
            listed.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
    }
    good
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn is_path_component(c: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = c.as_bytes();
    let mut i = 0;
    loop {
        // A run of letters and digits.
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        // One separator: `.`, `_`, `__` or a run of `-`.
        match bytes[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if bytes.get(i) == Some(&b'_') {
                    i += 1;
                }
            }
            b'-' => {
                while bytes.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

/// `[\w][\w.-]{0,127}`
fn check_tag(input: &str, tag: &str) -> Result<(), ReferenceError> {
    if tag.is_empty() {
        return Err(ReferenceError::EmptyTag {
            input: input.to_string(),
        });
    }
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    let ok = tag.len() <= TAG_MAX_LEN
        && word(bytes[0])
        && bytes[1..]
            .iter()
            .all(|&b| word(b) || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ReferenceError::Tag {
            input: input.to_string(),
            tag: tag.to_string(),
        })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({self})")
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

impl serde::Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// input, registry, repository, tag, digest, Display
    type ValidCase<'a> = (
        String,
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        String,
    );
    /// input, expected error
    type InvalidCase = (String, fn(&ReferenceError) -> bool);

    const HEX: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn sha(hex: &str) -> String {
        format!("sha256:{hex}")
    }

    #[test]
    fn valid_references() {
        let tag128 = "t".repeat(128);
        let digest = sha(HEX);
        #[rustfmt::skip]
        let cases: Vec<ValidCase> = vec![
            ("nginx".into(), "docker.io", "library/nginx", None, None,
                "docker.io/library/nginx".into()),
            ("nginx:1.27".into(), "docker.io", "library/nginx", Some("1.27"), None,
                "docker.io/library/nginx:1.27".into()),
            ("library/nginx".into(), "docker.io", "library/nginx", None, None,
                "docker.io/library/nginx".into()),
            ("docker.io/nginx".into(), "docker.io", "library/nginx", None, None,
                "docker.io/library/nginx".into()),
            ("index.docker.io/nginx".into(), "docker.io", "library/nginx", None, None,
                "docker.io/library/nginx".into()),
            ("index.docker.io/library/nginx:latest".into(), "docker.io", "library/nginx",
                Some("latest"), None, "docker.io/library/nginx:latest".into()),
            ("bitnami/redis:7".into(), "docker.io", "bitnami/redis", Some("7"), None,
                "docker.io/bitnami/redis:7".into()),
            ("gcr.io/google-containers/pause:3.9".into(), "gcr.io", "google-containers/pause",
                Some("3.9"), None, "gcr.io/google-containers/pause:3.9".into()),
            ("registry.k8s.io/pause:3.9".into(), "registry.k8s.io", "pause", Some("3.9"), None,
                "registry.k8s.io/pause:3.9".into()),
            ("quay.io/prometheus/node-exporter:v1.8.0".into(), "quay.io",
                "prometheus/node-exporter", Some("v1.8.0"), None,
                "quay.io/prometheus/node-exporter:v1.8.0".into()),
            ("ghcr.io/owner/repo/sub:tag".into(), "ghcr.io", "owner/repo/sub", Some("tag"), None,
                "ghcr.io/owner/repo/sub:tag".into()),
            ("localhost/foo".into(), "localhost", "foo", None, None, "localhost/foo".into()),
            ("localhost:5000/foo/bar:tag".into(), "localhost:5000", "foo/bar", Some("tag"), None,
                "localhost:5000/foo/bar:tag".into()),
            // `localhost` without a path is a Docker Hub image, and `:5000` its tag.
            ("localhost:5000".into(), "docker.io", "library/localhost", Some("5000"), None,
                "docker.io/library/localhost:5000".into()),
            ("127.0.0.1:5000/a_b/c--d/e__f:v1.0-rc.1".into(), "127.0.0.1:5000", "a_b/c--d/e__f",
                Some("v1.0-rc.1"), None, "127.0.0.1:5000/a_b/c--d/e__f:v1.0-rc.1".into()),
            ("[::1]:5000/x:y".into(), "[::1]:5000", "x", Some("y"), None,
                "[::1]:5000/x:y".into()),
            ("[fe80::1]/x".into(), "[fe80::1]", "x", None, None, "[fe80::1]/x".into()),
            (format!("registry.example.com:8443/ns/img@{digest}"), "registry.example.com:8443",
                "ns/img", None, Some(&digest), format!("registry.example.com:8443/ns/img@{digest}")),
            (format!("img:tag@{digest}"), "docker.io", "library/img", Some("tag"), Some(&digest),
                format!("docker.io/library/img:tag@{digest}")),
            ("Registry.Example.COM/a".into(), "Registry.Example.COM", "a", None, None,
                "Registry.Example.COM/a".into()),
            ("my-reg.example.com/a.b/c-d:T_1".into(), "my-reg.example.com", "a.b/c-d",
                Some("T_1"), None, "my-reg.example.com/a.b/c-d:T_1".into()),
            (format!("a:{tag128}"), "docker.io", "library/a", Some(&tag128), None,
                format!("docker.io/library/a:{tag128}")),
        ];
        for (input, registry, repository, tag, digest, display) in cases {
            let r = Reference::parse(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.registry(), registry, "{input}");
            assert_eq!(r.repository(), repository, "{input}");
            assert_eq!(r.tag(), tag, "{input}");
            assert_eq!(r.digest().map(Digest::as_str), digest, "{input}");
            assert_eq!(r.to_string(), display, "{input}");
            // The normalized form parses back to the same reference.
            assert_eq!(Reference::parse(&display).unwrap(), r, "{input}");
            assert_eq!(input.parse::<Reference>().unwrap(), r, "{input}");
        }
    }

    #[test]
    fn longest_name_is_accepted() {
        // "example.com/" is 12 characters.
        let input = format!("example.com/{}", "a".repeat(243));
        assert_eq!(input.len(), 255);
        assert_eq!(Reference::parse(&input).unwrap().to_string(), input);
    }

    #[test]
    fn invalid_references() {
        use ReferenceError as E;
        let long_name = format!("example.com/{}", "a".repeat(244));
        let tag129 = format!("a:{}", "t".repeat(129));
        #[rustfmt::skip]
        let cases: Vec<InvalidCase> = vec![
            ("".into(), |e| matches!(e, E::Empty)),
            (":tag".into(), |e| matches!(e, E::MissingRepository { .. })),
            (format!("@{}", sha(HEX)), |e| matches!(e, E::MissingRepository { .. })),
            ("/a".into(), |e| matches!(e, E::EmptyComponent { .. })),
            ("a/".into(), |e| matches!(e, E::EmptyComponent { .. })),
            ("a//b".into(), |e| matches!(e, E::EmptyComponent { .. })),
            ("docker.io/".into(), |e| matches!(e, E::EmptyComponent { .. })),
            ("UPPER".into(), |e| matches!(e, E::Uppercase { .. })),
            ("ns/Upper:1".into(), |e| matches!(e, E::Uppercase { .. })),
            ("a:".into(), |e| matches!(e, E::EmptyTag { .. })),
            ("a@".into(), |e| matches!(e, E::EmptyDigest { .. })),
            ("a@sha256:short".into(),
                |e| matches!(e, E::Digest { error: DigestError::Encoded(_, 64), .. })),
            ("a@md5:abc".into(), |e| matches!(e, E::Digest { error: DigestError::Algorithm(_), .. })),
            ("a:tag with space".into(), |e| matches!(e, E::Tag { .. })),
            (tag129, |e| matches!(e, E::Tag { .. })),
            ("a:.t".into(), |e| matches!(e, E::Tag { .. })),
            ("a:-t".into(), |e| matches!(e, E::Tag { .. })),
            ("-a".into(), |e| matches!(e, E::PathComponent { .. })),
            ("a-".into(), |e| matches!(e, E::PathComponent { .. })),
            ("a..b".into(), |e| matches!(e, E::PathComponent { .. })),
            ("a___b".into(), |e| matches!(e, E::PathComponent { .. })),
            ("a._b".into(), |e| matches!(e, E::PathComponent { .. })),
            ("a b".into(), |e| matches!(e, E::PathComponent { .. })),
            ("ns/café".into(), |e| matches!(e, E::PathComponent { .. })),
            ("http://docker.io/nginx".into(), |e| matches!(e, E::Scheme { .. })),
            (long_name, |e| matches!(e, E::NameTooLong { len: 256, .. })),
            ("a:b:c".into(), |e| matches!(e, E::ExtraColon { .. })),
            ("my_reg.com/a".into(), |e| matches!(e, E::Host { .. })),
            ("-reg.com/a".into(), |e| matches!(e, E::Host { .. })),
            ("reg..com/a".into(), |e| matches!(e, E::Host { .. })),
            ("[::g]:5000/a".into(), |e| matches!(e, E::Host { .. })),
            ("[::1/a".into(), |e| matches!(e, E::Host { .. })),
            ("localhost:/a".into(), |e| matches!(e, E::Port { .. })),
            ("localhost:50a/a".into(), |e| matches!(e, E::Port { .. })),
            (HEX.into(), |e| matches!(e, E::ImageId { .. })),
        ];
        for (input, expected) in cases {
            match Reference::parse(&input) {
                Ok(r) => panic!("{input:?} parsed as {r}"),
                Err(e) => assert!(expected(&e), "{input:?}: unexpected {e:?}"),
            }
        }
    }

    #[test]
    fn error_messages() {
        let msg = |s: &str| Reference::parse(s).unwrap_err().to_string();
        assert_eq!(msg(""), "invalid reference ``: empty");
        assert_eq!(
            msg("nginx:lat est"),
            "invalid reference `nginx:lat est`: tag `lat est` may only contain letters, digits, \
             `_`, `.` and `-` (at most 128 characters, not starting with `.` or `-`)"
        );
        assert_eq!(
            msg("Nginx:1"),
            "invalid reference `Nginx:1`: repository `Nginx` must be lowercase (did you mean `nginx`?)"
        );
        assert_eq!(
            msg("docker.io/"),
            "invalid reference `docker.io/`: empty path component"
        );
        assert_eq!(
            msg("a:b:c"),
            "invalid reference `a:b:c`: `a:b:c` has more than one `:` (write `name:tag`, or \
             `host:port/name` for a registry with a port)"
        );
        assert_eq!(
            msg("x@sha256:zz"),
            "invalid reference `x@sha256:zz`: digest `sha256:zz` must have 64 lowercase hex \
             digits after the algorithm"
        );
        assert_eq!(
            msg("http://docker.io/nginx"),
            "invalid reference `http://docker.io/nginx`: a reference has no scheme (drop \
             `http://` and write `docker.io/nginx`)"
        );
        assert_eq!(
            msg("a..b"),
            "invalid reference `a..b`: path component `a..b` may only contain lowercase letters \
             and digits, joined by `.`, `_`, `__` or dashes (starting and ending with a letter or \
             digit)"
        );
        assert_eq!(
            msg(":tag"),
            "invalid reference `:tag`: repository name is missing"
        );
        assert_eq!(
            msg("localhost:x/a"),
            "invalid reference `localhost:x/a`: port `x` must be one or more digits"
        );
        let long = "a".repeat(238);
        assert_eq!(
            msg(&long),
            format!("name `docker.io/library/{long}` is longer than 255 characters (256)")
        );
    }

    #[test]
    fn accessors_and_derived_references() {
        let d: Digest = sha(HEX).parse().unwrap();
        let r = Reference::parse("nginx:1.27").unwrap();
        assert_eq!(r.api_host(), "registry-1.docker.io");

        let pinned = Reference::parse(&format!("nginx:1.27@{d}")).unwrap();
        assert_eq!(pinned.tag(), Some("1.27"));
        assert_eq!(
            pinned.to_string(),
            format!("docker.io/library/nginx:1.27@{d}")
        );

        let retagged = pinned.with_tag("1.28");
        assert_eq!(retagged.digest(), None);
        assert_eq!(retagged.to_string(), "docker.io/library/nginx:1.28");
        assert!(is_valid_tag("1.28") && !is_valid_tag("-x"));

        assert_eq!(
            pinned.without_tag_or_digest().to_string(),
            "docker.io/library/nginx"
        );

        let g = Reference::parse("ghcr.io/owner/repo/sub:tag").unwrap();
        assert_eq!(g.api_host(), "ghcr.io");
        assert_eq!(format!("{g:?}"), "Reference(ghcr.io/owner/repo/sub:tag)");
    }

    #[test]
    fn serde_round_trip() {
        let r = Reference::parse("quay.io/prometheus/node-exporter:v1.8.0").unwrap();
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, "\"quay.io/prometheus/node-exporter:v1.8.0\"");
        assert_eq!(serde_json::from_str::<Reference>(&json).unwrap(), r);
        assert!(serde_json::from_str::<Reference>("\"UPPER\"").is_err());
    }
}
