//! HTTP clients and where each registry is reached: rustls with the system roots plus any
//! `--ca-cert` (read with a size bound; `SSL_CERT_FILE` is checked the same way before any client
//! is built), a second client without certificate checks for `--insecure-registry` hosts,
//! `--endpoint` overrides, timeouts, the retry policy, the stall timeout, and each host's budget
//! of requests in flight (`--requests-in-flight`, shared by all images). Redirects are never
//! followed by reqwest itself: the registry client follows them so that credentials stay with
//! their host.

use crate::registry::error::RegistryError;
use crate::retry::RetryPolicy;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("registry-mirror/", env!("CARGO_PKG_VERSION"));

/// How to reach registries.
#[derive(Debug, Clone)]
pub struct TransportOptions {
    /// `HOST[:PORT]` reached over plain HTTP or HTTPS without certificate checks.
    pub insecure: Vec<String>,
    /// Extra trusted CA bundles (PEM).
    pub ca_certs: Vec<PathBuf>,
    /// Registry (as written in references) -> `HOST[:PORT]` actually contacted.
    pub endpoints: BTreeMap<String, String>,
    pub retry: RetryPolicy,
    /// No byte sent or received for this long ends an attempt (`--stall-timeout`).
    pub stall: Duration,
    /// Requests waiting for their answer at once, per host (`--requests-in-flight`); streamed
    /// blob bodies are not counted (the engine's blob slots bound those).
    pub requests_per_host: usize,
}

/// The default of `--requests-in-flight`.
pub const DEFAULT_REQUESTS_PER_HOST: usize = 32;

/// The default of `--stall-timeout`.
pub const DEFAULT_STALL: Duration = Duration::from_secs(30);

impl Default for TransportOptions {
    fn default() -> Self {
        TransportOptions {
            insecure: Vec::new(),
            ca_certs: Vec::new(),
            endpoints: BTreeMap::new(),
            retry: RetryPolicy::default(),
            stall: DEFAULT_STALL,
            requests_per_host: DEFAULT_REQUESTS_PER_HOST,
        }
    }
}

/// Shared HTTP clients (connection pools) and the options above.
#[derive(Debug)]
pub struct Transport {
    secure: reqwest::Client,
    /// Built when an insecure host is first reached (building a client reads the system roots:
    /// milliseconds that most runs need not spend twice).
    insecure: std::sync::OnceLock<Result<reqwest::Client, String>>,
    opts: TransportOptions,
    /// Per host: no request before this instant (a 429 or 503 with `Retry-After` slows every
    /// task talking to that host, not only the one that got it).
    not_before: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
    /// Per host: the requests that may wait for an answer at once, shared by every image.
    budgets: std::sync::Mutex<std::collections::HashMap<String, Arc<Semaphore>>>,
    /// Per host: the pull limit its last answer stated (Docker Hub's `ratelimit-*` headers).
    rate_limits: std::sync::Mutex<std::collections::HashMap<String, RateLimit>>,
}

/// A pull limit as a registry states it: `ratelimit-limit: 100;w=21600` and
/// `ratelimit-remaining: 76;w=21600` (pulls in a window of `w` seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: u64,
    pub remaining: u64,
    pub window_secs: Option<u64>,
}

impl RateLimit {
    /// From an answer's headers, when it states a limit.
    pub fn from_headers(headers: &reqwest::header::HeaderMap) -> Option<RateLimit> {
        let field = |name: &str| -> Option<(u64, Option<u64>)> {
            let text = headers.get(name)?.to_str().ok()?;
            let mut parts = text.split(';');
            let n = parts.next()?.trim().parse().ok()?;
            let w = parts
                .filter_map(|p| p.trim().strip_prefix("w="))
                .find_map(|w| w.parse().ok());
            Some((n, w))
        };
        let (remaining, w) = field("ratelimit-remaining")?;
        let (limit, lw) = field("ratelimit-limit").unwrap_or((remaining, None));
        Some(RateLimit {
            limit,
            remaining,
            window_secs: w.or(lw),
        })
    }
}

impl Transport {
    pub fn new(opts: TransportOptions) -> Result<Transport, RegistryError> {
        check_ssl_cert_file()?;
        let mut secure = builder();
        for path in &opts.ca_certs {
            let pem = crate::bounded::read(path, &crate::bounded::CA_CERT)?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                RegistryError::Config(format!(
                    "CA certificate `{}` is not valid PEM: {e}",
                    path.display()
                ))
            })?;
            if certs.is_empty() {
                return Err(RegistryError::Config(format!(
                    "CA certificate `{}` holds no certificate",
                    path.display()
                )));
            }
            for cert in certs {
                secure = secure.add_root_certificate(cert);
            }
        }
        let secure = secure
            .build()
            .map_err(|e| RegistryError::Config(format!("cannot set up HTTPS: {e}")))?;
        Ok(Transport {
            secure,
            insecure: std::sync::OnceLock::new(),
            opts,
            not_before: Default::default(),
            budgets: Default::default(),
            rate_limits: Default::default(),
        })
    }

    /// Ask every request to `host` to wait `delay` from now (the longest ask wins).
    pub fn back_off(&self, host: &str, delay: std::time::Duration) {
        let until = std::time::Instant::now() + delay;
        let mut map = self
            .not_before
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = map.entry(host.to_string()).or_insert(until);
        if *entry < until {
            *entry = until;
        }
    }

    /// A place in `host`'s budget of requests in flight, held until the answer's headers are in.
    /// Nothing that holds one waits for another request, so the budget cannot deadlock.
    pub async fn request_slot(&self, host: &str) -> Option<OwnedSemaphorePermit> {
        let budget = self
            .budgets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(host.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.opts.requests_per_host.max(1))))
            .clone();
        budget.acquire_owned().await.ok()
    }

    /// Keep the pull limit an answer from `host` stated.
    pub fn note_rate_limit(&self, host: &str, limit: RateLimit) {
        self.rate_limits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(host.to_string(), limit);
    }

    /// The pull limit `host` last stated.
    pub fn rate_limit(&self, host: &str) -> Option<RateLimit> {
        self.rate_limits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(host)
            .copied()
    }

    /// How long a request to `host` must still wait.
    pub fn wait_for(&self, host: &str) -> std::time::Duration {
        let map = self
            .not_before
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(host)
            .map(|t| t.saturating_duration_since(std::time::Instant::now()))
            .unwrap_or_default()
    }

    /// The `HOST[:PORT]` to contact for `registry` whose API host is `api_host`.
    pub fn endpoint(&self, registry: &str, api_host: &str) -> String {
        self.opts
            .endpoints
            .get(registry)
            .or_else(|| self.opts.endpoints.get(api_host))
            .cloned()
            .unwrap_or_else(|| api_host.to_string())
    }

    /// True when `host` (or the registry it serves) was named by `--insecure-registry`; a name
    /// without a port covers every port of that host.
    pub fn is_insecure(&self, host: &str) -> bool {
        let bare = strip_port(host);
        self.opts
            .insecure
            .iter()
            .any(|i| i == host || (!has_port(i) && i == bare))
    }

    pub fn http(&self, insecure: bool) -> Result<&reqwest::Client, RegistryError> {
        if !insecure {
            return Ok(&self.secure);
        }
        self.insecure
            .get_or_init(|| {
                builder()
                    .danger_accept_invalid_certs(true)
                    .build()
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| RegistryError::Config(format!("cannot set up HTTPS: {e}")))
    }

    pub fn retry(&self) -> RetryPolicy {
        self.opts.retry
    }

    /// How long an exchange may go without a byte sent or received.
    pub fn stall(&self) -> Duration {
        self.opts.stall
    }
}

/// Refuse `SSL_CERT_FILE`, when set, unless it is a regular file within
/// [`crate::bounded::SSL_CERT_FILE`]'s cap: the TLS stack reads that file itself, without a
/// bound, whenever an HTTPS client is built. Call it before building one.
pub fn check_ssl_cert_file() -> Result<(), crate::bounded::FileError> {
    match std::env::var_os(crate::env::SSL_CERT_FILE).filter(|v| !v.is_empty()) {
        Some(path) => crate::bounded::check(Path::new(&path), &crate::bounded::SSL_CERT_FILE),
        None => Ok(()),
    }
}

fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        // No read timeout here: reqwest's would also cap how long an upload may take. Stalls
        // are detected per exchange instead (see `registry::exchange`).
        .connect_timeout(Duration::from_secs(20))
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(32)
        .tcp_nodelay(true)
        // HTTP/2 flow control has throttled big uploads (BuildKit, crane): HTTP/1.1 over a pool.
        .http1_only()
}

fn has_port(host: &str) -> bool {
    match host.rsplit_once(':') {
        Some((h, p)) => !h.ends_with(':') && p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty(),
        None => false,
    }
}

fn strip_port(host: &str) -> &str {
    if has_port(host) {
        host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
    } else {
        host
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_backoff_holds_every_request_to_that_host_only() {
        let t = Transport::new(TransportOptions::default()).expect("transport");
        assert!(t.wait_for("registry-1.docker.io").is_zero());
        t.back_off("registry-1.docker.io", std::time::Duration::from_secs(30));
        t.back_off("registry-1.docker.io", std::time::Duration::from_secs(5));
        let w = t.wait_for("registry-1.docker.io");
        // The longest ask wins; a shorter one does not shorten it.
        assert!(
            w > std::time::Duration::from_secs(25) && w <= std::time::Duration::from_secs(30),
            "{w:?}"
        );
        assert!(t.wait_for("ghcr.io").is_zero());
    }

    #[test]
    fn rate_limits_from_docker_hub_headers() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(RateLimit::from_headers(&h), None);
        h.insert("ratelimit-limit", "100;w=21600".parse().expect("header"));
        h.insert("ratelimit-remaining", "76;w=21600".parse().expect("header"));
        let l = RateLimit::from_headers(&h).expect("limit");
        assert_eq!(
            (l.limit, l.remaining, l.window_secs),
            (100, 76, Some(21600))
        );
        h.insert("ratelimit-remaining", "lots".parse().expect("header"));
        assert_eq!(RateLimit::from_headers(&h), None);
    }

    #[test]
    fn insecure_matching_and_endpoints() {
        let mut opts = TransportOptions {
            insecure: vec!["127.0.0.1:5000".into(), "harbor.local".into()],
            ..Default::default()
        };
        opts.endpoints
            .insert("docker.io".into(), "mirror.example:5000".into());
        let t = Transport::new(opts).expect("transport");
        assert!(t.is_insecure("127.0.0.1:5000"));
        assert!(!t.is_insecure("127.0.0.1:5001"));
        assert!(t.is_insecure("harbor.local:8443"));
        assert!(t.is_insecure("harbor.local"));
        assert!(!t.is_insecure("ghcr.io"));
        assert_eq!(
            t.endpoint("docker.io", "registry-1.docker.io"),
            "mirror.example:5000"
        );
        assert_eq!(t.endpoint("ghcr.io", "ghcr.io"), "ghcr.io");
    }

    #[test]
    fn bad_ca_file_is_a_clear_error() {
        let opts = TransportOptions {
            ca_certs: vec!["/nonexistent/ca.pem".into()],
            ..Default::default()
        };
        let err = Transport::new(opts).expect_err("missing file");
        assert!(
            err.to_string()
                .starts_with("cannot read CA certificate `/nonexistent/ca.pem`"),
            "{err}"
        );
    }
}
