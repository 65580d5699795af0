//! Errors of the registry client: the registry's JSON error envelope parsed into status and spec
//! codes, URLs shown without their query (upload sessions and presigned URLs carry secrets there),
//! and [`RegistryError::is_temporary`], which drives retries.

use crate::digest::Digest;
use crate::registry::credentials::CredentialSource;
use crate::registry::session::Role;
use crate::untrusted;
use std::fmt;

/// At most this much of an error body is read.
pub const ERROR_BODY_LIMIT: usize = 64 * 1024;
/// Error codes of one answer that are kept.
const MAX_CODES: usize = 5;

/// One entry of the distribution error envelope `{"errors":[{"code","message","detail"}]}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct ErrorCode {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

#[derive(Debug, serde::Deserialize)]
struct Envelope {
    #[serde(default)]
    errors: Vec<ErrorCode>,
}

/// A failed HTTP exchange with a registry, as data.
#[derive(Debug, Clone)]
pub struct StatusError {
    pub method: String,
    /// Scheme, host and path only.
    pub url: String,
    pub status: u16,
    pub codes: Vec<ErrorCode>,
    /// The start of a body that was not an error envelope.
    pub body: String,
    /// Seconds from `Retry-After`, when the registry sent one.
    pub retry_after: Option<std::time::Duration>,
}

impl StatusError {
    /// Build from a status and an error body already read (capped by the caller).
    ///
    /// Everything taken from the body is untrusted text: at most a few codes, each code and
    /// message cut, stripped of control and bidirectional characters and scrubbed of
    /// credentials (a registry may echo our `Authorization` header back).
    pub fn new(method: &str, url: &url::Url, status: u16, body: &[u8]) -> StatusError {
        let codes: Vec<ErrorCode> = serde_json::from_slice::<Envelope>(body)
            .map(|e| e.errors)
            .unwrap_or_default()
            .into_iter()
            .take(MAX_CODES)
            .map(|c| ErrorCode {
                code: untrusted::inert(&c.code, 64),
                message: untrusted::inert(&c.message, untrusted::REGISTRY_TEXT_CHARS),
            })
            .collect();
        let body = if codes.is_empty() {
            untrusted::inert(&String::from_utf8_lossy(body), 200)
        } else {
            String::new()
        };
        StatusError {
            method: method.to_string(),
            url: redact_url(url),
            status,
            codes,
            body,
            retry_after: None,
        }
    }

    /// True when any error code equals `code`.
    pub fn has_code(&self, code: &str) -> bool {
        self.codes.iter().any(|c| c.code.eq_ignore_ascii_case(code))
    }

    /// Codes and messages joined: `MANIFEST_UNKNOWN: manifest unknown`.
    /// `HTTP 401`, or `HTTP 401: UNAUTHORIZED: authentication required` when the registry said more.
    pub fn status_text(&self) -> String {
        let detail = self.detail();
        if detail.trim().is_empty() {
            format!("HTTP {}", self.status)
        } else {
            format!("HTTP {}: {}", self.status, detail.trim())
        }
    }

    pub fn detail(&self) -> String {
        if self.codes.is_empty() {
            return self.body.clone();
        }
        self.codes
            .iter()
            .map(|c| match (c.code.is_empty(), c.message.is_empty()) {
                (false, false) => format!("{}: {}", c.code, c.message),
                (false, true) => c.code.clone(),
                _ => c.message.clone(),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} answered {}", self.method, self.url, self.status)?;
        let detail = self.detail();
        if !detail.is_empty() {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}

/// Everything the registry client can fail with.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{0}")]
    Status(StatusError),
    #[error("cannot reach `{host}`: {detail}")]
    Connect { host: String, detail: String },
    #[error("request to `{url}` failed: {detail}")]
    Transport { url: String, detail: String },
    /// Credentials missing or refused; `who` says whose (none for a broken token server).
    #[error("authentication failed for `{host}`: {detail}")]
    Auth {
        host: String,
        detail: String,
        who: Option<Box<Refused>>,
    },
    /// Authenticated (or anonymous) but not allowed.
    #[error("access denied to `{repository}` on `{host}`: {detail}")]
    Denied {
        host: String,
        repository: String,
        detail: String,
        who: Box<Refused>,
    },
    /// The token server could not be reached or failed (5xx, 429): temporary, retried.
    #[error("cannot get a token for `{host}`: {detail}")]
    TokenUnavailable { host: String, detail: String },
    #[error("manifest `{reference}` not found")]
    ManifestUnknown { reference: String },
    #[error("repository `{reference}` not found")]
    NameUnknown { reference: String },
    #[error(
        "{what} failed verification: its content has digest `{actual}`, expected `{expected}`"
    )]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("{what} has {actual} bytes, expected {expected}")]
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },
    #[error("{0}")]
    Manifest(String),
    /// An answer that did not parse (a corrupted body): temporary, retried.
    #[error("{0}")]
    Corrupt(String),
    #[error("{0}")]
    Config(String),
    /// A file input refused (a CA certificate): see [`crate::bounded`].
    #[error(transparent)]
    File(#[from] crate::bounded::FileError),
}

/// Who a registry refused, so that the layer above can say which credentials to give or fix
/// (flag and variable names belong there, not here).
#[derive(Debug, Clone)]
pub struct Refused {
    /// The registry as written in references.
    pub registry: String,
    pub role: Role,
    /// Where the refused credentials came from; `None` without credentials.
    pub source: Option<CredentialSource>,
    pub had_credentials: bool,
    /// `` user `alice` from `--dest-creds` `` or `anonymous access`.
    pub identity: String,
}

impl RegistryError {
    /// Worth retrying: connection trouble, timeouts, cut or corrupt bodies, 408/429/5xx.
    pub fn is_temporary(&self) -> bool {
        match self {
            RegistryError::Connect { .. } | RegistryError::Transport { .. } => true,
            RegistryError::DigestMismatch { .. } | RegistryError::SizeMismatch { .. } => true,
            RegistryError::Corrupt(_) => true,
            RegistryError::TokenUnavailable { .. } => true,
            RegistryError::Status(s) => {
                is_retryable_status(s.status)
                    || s.has_code("TOOMANYREQUESTS")
                    || s.has_code("UNAVAILABLE")
            }
            _ => false,
        }
    }

    /// True when the registry answered with this error code in its error envelope.
    pub fn has_code(&self, code: &str) -> bool {
        matches!(self, RegistryError::Status(s) if s.has_code(code))
    }

    /// The HTTP status, when the registry answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            RegistryError::Status(s) => Some(s.status),
            _ => None,
        }
    }

    /// A refusal of a manifest's kind (not of its content): the cue to retry without
    /// attestations or as Docker v2s2 (SWR, ACR, old Harbor).
    pub fn is_manifest_refusal(&self) -> bool {
        let RegistryError::Status(s) = self else {
            return false;
        };
        if !(400..500).contains(&s.status) || s.status == 401 || s.status == 404 {
            return false;
        }
        let text = format!("{} {}", s.detail(), s.body).to_ascii_lowercase();
        s.has_code("MANIFEST_INVALID")
            || s.has_code("UNSUPPORTED")
            || s.status == 415
            || text.contains("unknown manifest class")
            || text.contains("manifest invalid")
            || text.contains("unsupported")
    }

    /// How long the registry asked us to wait, when it said.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            RegistryError::Status(s) => s.retry_after,
            _ => None,
        }
    }
}

/// 408, 429, 499, 500, 502, 503, 504, 522.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 499 | 500 | 502 | 503 | 504 | 522)
}

/// Scheme, host, port and path of a URL; never its query, fragment or user info. The URL may
/// come from a registry (a redirect, a token realm), so it is bounded and made inert too.
pub fn redact_url(url: &url::Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_username("");
    let _ = u.set_password(None);
    untrusted::inert(u.as_str(), untrusted::REGISTRY_TEXT_CHARS)
}

/// A reqwest error as text without URLs' queries; the chain of causes joined. A rejected TLS
/// certificate is said in words, without the HTTP stack's wrapping.
pub fn describe_reqwest(err: &reqwest::Error) -> String {
    if let Some(problem) = certificate_problem(err) {
        return format!("the TLS certificate was rejected: {problem}");
    }
    let mut out = if err.is_timeout() {
        "timed out".to_string()
    } else if err.is_connect() {
        "connection failed".to_string()
    } else if err.is_body() || err.is_decode() {
        "the body was cut or unreadable".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(err);
    let mut seen = Vec::new();
    while let Some(s) = source {
        let text = s.to_string();
        if !seen.contains(&text) && !text.contains("http://") && !text.contains("https://") {
            out.push_str(": ");
            out.push_str(&text);
            seen.push(text);
        }
        source = s.source();
    }
    untrusted::inert(&out, 500)
}

/// rustls' reason for refusing the server's certificate, somewhere in the chain of causes.
fn certificate_problem(err: &reqwest::Error) -> Option<String> {
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        let text = s.to_string();
        const PREFIX: &str = "invalid peer certificate: ";
        if let Some(reason) = text.find(PREFIX).map(|at| &text[at + PREFIX.len()..]) {
            return Some(match reason {
                "UnknownIssuer" => {
                    "it is signed by a certificate authority that is not trusted (UnknownIssuer)"
                        .to_string()
                }
                "BadSignature" => "its signature does not match the trusted certificate \
                                   authority of that name (BadSignature)"
                    .to_string(),
                _ => reason.to_string(),
            });
        }
        source = s.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unavailable_token_server_is_temporary_a_refusal_is_not() {
        let down = RegistryError::TokenUnavailable {
            host: "r".into(),
            detail: "cannot reach the token server: connection refused".into(),
        };
        assert!(down.is_temporary());
        assert_eq!(
            down.to_string(),
            "cannot get a token for `r`: cannot reach the token server: connection refused"
        );
        let refused = RegistryError::Auth {
            host: "r".into(),
            detail: "rejected".into(),
            who: None,
        };
        assert!(!refused.is_temporary());
    }

    #[test]
    fn parses_error_envelope_and_redacts() {
        let url = url::Url::parse("https://r.example/v2/a/blobs/uploads/x?_state=secret&digest=d")
            .expect("url");
        let e = StatusError::new(
            "PUT",
            &url,
            400,
            br#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"}]}"#,
        );
        assert!(e.has_code("digest_invalid"));
        let text = e.to_string();
        assert_eq!(
            text,
            "PUT https://r.example/v2/a/blobs/uploads/x answered 400 (DIGEST_INVALID: provided digest did not match uploaded content)"
        );
        assert!(!text.contains("secret"));
    }

    #[test]
    fn non_envelope_body_is_cut() {
        let url = url::Url::parse("https://r.example/v2/").expect("url");
        let body = "x".repeat(1000);
        let e = StatusError::new("GET", &url, 502, body.as_bytes());
        assert_eq!(e.body.chars().count(), 200);
        assert!(RegistryError::Status(e).is_temporary());
    }

    #[test]
    fn classifies_manifest_refusals() {
        let url = url::Url::parse("https://swr.example/v2/a/manifests/t").expect("url");
        let swr = StatusError::new(
            "PUT",
            &url,
            400,
            br#"{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid"}]}"#,
        );
        assert!(RegistryError::Status(swr).is_manifest_refusal());
        let acr = StatusError::new(
            "PUT",
            &url,
            403,
            br#"{"errors":[{"code":"DENIED","message":"unknown manifest class for application/vnd.oci.empty.v1+json"}]}"#,
        );
        assert!(RegistryError::Status(acr).is_manifest_refusal());
        let denied = StatusError::new(
            "PUT",
            &url,
            403,
            br#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#,
        );
        assert!(!RegistryError::Status(denied).is_manifest_refusal());
    }
}
