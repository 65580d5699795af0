//! One registry in one role: who we are to it ([`RegistryClient`]), where it is (the ping that
//! finds the scheme and the challenge), and the request builder the resource modules use.
//!
//! The client's work is spread over one file a concern: [`exchange`](super::exchange) (send,
//! redirects, retries, stalls), [`token`](super::token) (Basic and Bearer authorization),
//! [`answer`](super::answer) (a registry's answer as a typed error), and the resources
//! [`manifests`](super::manifests), [`blobs`](super::blobs) and [`listing`](super::listing).

use crate::registry::auth::{Challenge, Scope, Token};
use crate::registry::credentials::{CredentialSource, Credentials};
use crate::registry::error::{describe_reqwest, is_retryable_status, Refused, RegistryError};
use crate::registry::exchange::{challenges_of, retry_after, Body, Request};
use crate::registry::scopes::ScopeGroups;
use crate::registry::session::Role;
use crate::registry::transport::Transport;
use reqwest::header::HeaderMap;
use reqwest::Method;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use tracing::debug;
use url::Url;

/// A client for one registry in one role.
pub struct RegistryClient {
    pub(super) registry: String,
    pub(super) host: String,
    pub(super) insecure: bool,
    pub(super) role: Role,
    pub(super) transport: Arc<Transport>,
    pub(super) creds: Option<Credentials>,
    /// Where `creds` came from, for error messages.
    pub(super) creds_source: Option<CredentialSource>,
    base: tokio::sync::OnceCell<Url>,
    pub(super) challenge: RwLock<Option<Challenge>>,
    pub(super) tokens: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Token>>>>>,
    /// Anonymous tokens for hosts we were redirected to, keyed by `host:port`.
    pub(super) foreign: Mutex<HashMap<String, Token>>,
    /// The repositories this run will use here, grouped so one token covers several.
    pub(super) scope_groups: Mutex<ScopeGroups>,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("registry", &self.registry)
            .field("host", &self.host)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// A client for `registry` (as written in references) reached at `host`.
    pub(super) fn new(
        registry: &str,
        host: String,
        role: Role,
        transport: Arc<Transport>,
        creds: Option<(Credentials, CredentialSource)>,
    ) -> RegistryClient {
        let insecure = transport.is_insecure(&host) || transport.is_insecure(registry);
        let (creds, creds_source) = match creds {
            Some((c, s)) => (Some(c), Some(s)),
            None => (None, None),
        };
        RegistryClient {
            registry: registry.to_string(),
            host,
            insecure,
            role,
            transport,
            creds,
            creds_source,
            base: tokio::sync::OnceCell::new(),
            challenge: RwLock::new(None),
            tokens: Mutex::new(HashMap::new()),
            foreign: Mutex::new(HashMap::new()),
            scope_groups: Mutex::new(ScopeGroups::default()),
        }
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// How long an exchange may go without a byte (`--stall-timeout`).
    pub fn stall(&self) -> std::time::Duration {
        self.transport.stall()
    }

    /// The retry policy every exchange of this client follows.
    pub fn retry_policy(&self) -> crate::retry::RetryPolicy {
        self.transport.retry()
    }

    /// Same registry host: a cross-repository mount is worth trying (with this side's
    /// credentials; a registry that cannot mount answers with an upload session instead).
    pub fn same_registry(&self, other: &RegistryClient) -> bool {
        self.host == other.host
    }

    /// `repo` will be used in this run: its token may be asked for with others'.
    pub fn expect_repository(&self, repo: &str) {
        crate::registry::session::lock(&self.scope_groups).expect(repo);
    }

    pub(super) fn repo_scope(&self, repo: &str) -> Scope {
        match self.role {
            Role::Source => Scope::pull(repo),
            Role::Target => Scope::push_pull(repo),
        }
    }

    /// Who we are to the registry, for messages: `` user `alice` from `--dest-creds` ``.
    pub(super) fn identity(&self) -> String {
        let who = match &self.creds {
            Some(Credentials::Basic { username, .. }) => format!("user `{username}`"),
            Some(Credentials::IdentityToken(_)) => "the identity token".to_string(),
            None => return "anonymous access".to_string(),
        };
        match &self.creds_source {
            Some(source) => format!("{who} from {source}"),
            None => who,
        }
    }

    /// Who was refused, for the layer above to say which credentials to give or fix.
    pub(super) fn refused(&self) -> Box<Refused> {
        Box::new(Refused {
            registry: self.registry.clone(),
            role: self.role,
            source: self.creds_source.clone(),
            had_credentials: self.creds.is_some(),
            identity: self.identity(),
        })
    }

    /// `scheme://host/` of the registry, found by the first ping.
    pub async fn base(&self) -> Result<&Url, RegistryError> {
        self.base.get_or_try_init(|| self.ping()).await
    }

    pub(super) async fn url(&self, path: &str) -> Result<Url, RegistryError> {
        let base = self.base().await?;
        base.join(path)
            .map_err(|e| RegistryError::Config(format!("bad URL path `{path}`: {e}")))
    }

    /// `GET /v2/`: learn the scheme (HTTPS, or HTTP for insecure hosts) and the challenge.
    async fn ping(&self) -> Result<Url, RegistryError> {
        // Like docker, a loopback registry may speak plain HTTP; HTTPS is tried first and keeps
        // its certificate checks.
        let schemes: &[&str] = if self.insecure || is_loopback(&self.host) {
            &["https", "http"]
        } else {
            &["https"]
        };
        let mut last_err: Option<String> = None;
        for scheme in schemes {
            let base = Url::parse(&format!("{scheme}://{}/", self.host)).map_err(|e| {
                RegistryError::Config(format!("bad registry host `{}`: {e}", self.host))
            })?;
            let url = base
                .join("v2/")
                .map_err(|e| RegistryError::Config(e.to_string()))?;
            let policy = self.transport.retry();
            let stall = self.transport.stall();
            let mut attempt = 0;
            let outcome = loop {
                let send = self
                    .transport
                    .http(self.insecure)?
                    .get(url.clone())
                    .timeout(stall)
                    .send();
                match send.await {
                    Ok(resp)
                        if is_retryable_status(resp.status().as_u16())
                            && attempt < policy.retries =>
                    {
                        attempt += 1;
                        let ra = retry_after(resp.headers());
                        tokio::time::sleep(policy.delay(attempt, ra)).await;
                    }
                    Err(e) if !e.is_connect() && e.is_timeout() && attempt < policy.retries => {
                        attempt += 1;
                        tokio::time::sleep(policy.delay(attempt, None)).await;
                    }
                    other => break other,
                }
            };
            match outcome {
                // A registry answers `/v2/` with 200, or 401/403 before credentials; anything
                // else (e.g. a TLS server's 400 to plain HTTP) is not a registry speaking.
                Ok(resp)
                    if !(resp.status().is_success()
                        || matches!(resp.status().as_u16(), 401 | 403)) =>
                {
                    debug!(host = %self.host, scheme, status = resp.status().as_u16(), "ping: not a registry answer");
                    last_err = Some(format!(
                        "`{url}` answered HTTP {}, which is not a registry API answer",
                        resp.status().as_u16()
                    ));
                }
                Ok(resp) => {
                    let challenges = challenges_of(resp.headers());
                    let chosen = challenges
                        .iter()
                        .find(|c| matches!(c, Challenge::Bearer { .. }))
                        .or_else(|| challenges.first())
                        .cloned();
                    debug!(host = %self.host, status = resp.status().as_u16(), challenge = ?chosen, "ping");
                    *self.challenge.write().unwrap_or_else(|p| p.into_inner()) = chosen;
                    return Ok(base);
                }
                Err(e) => {
                    let detail = describe_reqwest(&e);
                    debug!(host = %self.host, scheme, error = %detail, "ping failed");
                    // The server speaks TLS but its certificate is not trusted: falling back
                    // to plain HTTP would only hide the real problem.
                    let untrusted = *scheme == "https" && detail.contains("certificate");
                    last_err = Some(detail);
                    if untrusted && !self.insecure {
                        break;
                    }
                }
            }
        }
        let detail = last_err.unwrap_or_default();
        Err(RegistryError::Connect {
            host: self.host.clone(),
            detail,
        })
    }

    /// A request on `repo` with this role's scope, retried as a whole on temporary failures.
    pub(super) fn request(
        &self,
        method: Method,
        url: Url,
        repo: &str,
        headers: HeaderMap,
    ) -> Request {
        Request {
            method,
            url,
            headers,
            body: Body::Empty,
            scopes: vec![self.repo_scope(repo)],
            retry: true,
        }
    }
}

/// `localhost`, `127.0.0.0/8` or `[::1]`, with or without a port.
pub fn is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "registry.local:5000",
            "10.0.0.1:5000",
            "localhost.example.com",
            "ghcr.io",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}
