//! One registry, resource-first: `manifest_head`, `manifest_get`, `manifest_put`, `blob_head`,
//! `blob_get`, `blob_mount`, `blob_upload_*`, `tag_list`.
//!
//! Every request goes through [`RegistryClient::send`], which pings the registry once, attaches
//! Basic credentials or a Bearer token for the request's scopes, replays once after a 401 with a
//! fresh token (merging an `insufficient_scope` challenge's scope), follows redirects itself
//! (another host never sees our credentials; its own Bearer challenge is answered anonymously),
//! and retries temporary failures with backoff, honouring `Retry-After`.

use crate::registry::auth::{parse_challenges, scope_key, Challenge, Scope, Token, TokenResponse};
use crate::registry::credentials::{CredentialSource, Credentials};
use crate::registry::digest::Digest;
use crate::registry::error::{
    describe_reqwest, is_retryable_status, RegistryError, StatusError, ERROR_BODY_LIMIT,
};
use crate::registry::manifest::{media_type, RawManifest, MANIFEST_LIMIT};
use crate::registry::retry::parse_retry_after;
use crate::registry::transport::Transport;
use base64::Engine as _;
use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::{
    HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION,
    WWW_AUTHENTICATE,
};
use reqwest::{Method, Response, StatusCode};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tracing::{debug, warn};
use url::Url;

/// Which side of a copy a client serves: sources are read with `pull` scopes, targets with
/// `push,pull`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Source,
    Target,
}

/// Clients for every registry a run touches, sharing one transport (connection pools).
pub struct Session {
    transport: Arc<Transport>,
    credentials: HashMap<(String, Role), (Credentials, CredentialSource)>,
    docker_config: Option<std::path::PathBuf>,
    clients: Mutex<HashMap<(String, Role), Arc<RegistryClient>>>,
    /// Held while a client is being made, so parallel images never run a credential helper
    /// twice for one registry.
    creating: tokio::sync::Mutex<()>,
}

impl Session {
    pub fn new(transport: Transport) -> Session {
        Session {
            transport: Arc::new(transport),
            credentials: HashMap::new(),
            docker_config: crate::registry::credentials::docker_config_path(),
            clients: Mutex::new(HashMap::new()),
            creating: tokio::sync::Mutex::new(()),
        }
    }

    /// Use `creds` (given by `source`, named in errors) for `registry` (as written in
    /// references) in `role`.
    pub fn set_credentials(
        &mut self,
        registry: &str,
        role: Role,
        creds: Credentials,
        source: CredentialSource,
    ) {
        for s in creds.secret_forms() {
            crate::untrusted::register_secret(&s);
        }
        self.credentials
            .insert((registry.to_string(), role), (creds, source));
    }

    /// Read docker `config.json` from `path` instead of the default place (None: never).
    pub fn set_docker_config(&mut self, path: Option<std::path::PathBuf>) {
        self.docker_config = path;
    }

    pub fn transport(&self) -> &Arc<Transport> {
        &self.transport
    }

    /// The client for `registry` (as written in references, e.g. `docker.io`) reached at
    /// `api_host`, in `role`. Credentials: those set for it, else docker `config.json`, else none.
    pub async fn client(
        &self,
        registry: &str,
        api_host: &str,
        role: Role,
    ) -> Result<Arc<RegistryClient>, RegistryError> {
        let key = (registry.to_string(), role);
        if let Some(c) = lock(&self.clients).get(&key) {
            return Ok(c.clone());
        }
        let _creating = self.creating.lock().await;
        if let Some(c) = lock(&self.clients).get(&key) {
            return Ok(c.clone());
        }
        let (creds, creds_source) = match self.credentials.get(&key) {
            Some((c, source)) => (Some(c.clone()), Some(source.clone())),
            None => match self.docker_config_credentials(registry).await? {
                Some((c, source)) => (Some(c), Some(source)),
                None => (None, None),
            },
        };
        let host = self.transport.endpoint(registry, api_host);
        let insecure = self.transport.is_insecure(&host) || self.transport.is_insecure(registry);
        let client = Arc::new(RegistryClient {
            registry: registry.to_string(),
            host,
            insecure,
            role,
            transport: self.transport.clone(),
            creds,
            creds_source,
            base: tokio::sync::OnceCell::new(),
            challenge: RwLock::new(None),
            tokens: Mutex::new(HashMap::new()),
            foreign: Mutex::new(HashMap::new()),
        });
        let mut clients = lock(&self.clients);
        Ok(clients.entry(key).or_insert(client).clone())
    }

    async fn docker_config_credentials(
        &self,
        registry: &str,
    ) -> Result<Option<(Credentials, CredentialSource)>, RegistryError> {
        let Some(path) = self.docker_config.clone() else {
            return Ok(None);
        };
        let registry = registry.to_string();
        let lookup = path.clone();
        let creds = tokio::task::spawn_blocking(move || {
            crate::registry::credentials::lookup_docker_config(&lookup, &registry)
        })
        .await
        .map_err(|e| RegistryError::Config(format!("credential lookup stopped: {e}")))?
        .map_err(|e| RegistryError::Config(e.to_string()))?;
        for s in creds.iter().flat_map(Credentials::secret_forms) {
            crate::untrusted::register_secret(&s);
        }
        Ok(creds.map(|c| (c, CredentialSource::DockerConfig(path))))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a manifest HEAD tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestHead {
    pub digest: Digest,
    pub media_type: String,
    pub size: Option<u64>,
}

/// The answer to a mount request.
#[derive(Debug)]
pub enum Mount {
    /// 201: the blob is now in the target repository.
    Mounted,
    /// Not mounted; an upload session was opened instead (or must be).
    Upload(Option<Url>),
}

/// A request body: replayable bytes, or a one-shot stream.
pub enum Body {
    Empty,
    Bytes(Bytes),
    Stream(Mutex<Option<reqwest::Body>>),
}

impl Body {
    fn replayable(&self) -> bool {
        !matches!(self, Body::Stream(_))
    }
}

/// One HTTP exchange to make.
pub struct Request {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Body,
    pub scopes: Vec<Scope>,
    /// Whole-request timeout (none for streamed blob bodies; the client's read timeout applies).
    pub timeout: Option<Duration>,
}

const SMALL_TIMEOUT: Duration = Duration::from_secs(60);
/// One page of a tag list or catalog is read up to this size.
const PAGE_LIMIT: usize = 16 << 20;
/// All pages of one listing together.
const LISTING_LIMIT: usize = 64 << 20;
const MAX_REDIRECTS: usize = 10;

/// A client for one registry in one role.
pub struct RegistryClient {
    registry: String,
    host: String,
    insecure: bool,
    role: Role,
    transport: Arc<Transport>,
    creds: Option<Credentials>,
    /// Where `creds` came from, for error messages.
    creds_source: Option<CredentialSource>,
    base: tokio::sync::OnceCell<Url>,
    challenge: RwLock<Option<Challenge>>,
    tokens: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Token>>>>>,
    /// Anonymous tokens for hosts we were redirected to, keyed by `host scope`.
    foreign: Mutex<HashMap<String, Token>>,
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
    pub fn registry(&self) -> &str {
        &self.registry
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// Same registry and same identity: blobs can be mounted between its repositories.
    /// Same registry host: a cross-repository mount is worth trying (with this side's
    /// credentials; a registry that cannot mount answers with an upload session instead).
    pub fn same_registry(&self, other: &RegistryClient) -> bool {
        self.host == other.host
    }

    fn repo_scope(&self, repo: &str) -> Scope {
        match self.role {
            Role::Source => Scope::pull(repo),
            Role::Target => Scope::push_pull(repo),
        }
    }

    /// Who we are to the registry, for messages: `` user `alice` from `--dest-creds` ``.
    fn identity(&self) -> String {
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

    /// The flag and environment variables that give credentials for this client's role.
    fn credential_options(&self) -> String {
        let (flag, user, password) = match self.role {
            Role::Source => (
                "--src-creds",
                crate::env::SOURCE_REGISTRY_USER,
                crate::env::SOURCE_REGISTRY_PASSWORD,
            ),
            Role::Target => (
                "--dest-creds",
                crate::env::TARGET_REGISTRY_USER,
                crate::env::TARGET_REGISTRY_PASSWORD,
            ),
        };
        format!(
            "`{flag} USER:PASSWORD`, `{user}`/`{password}`, or `docker login {}`",
            self.registry
        )
    }

    /// What to do when the registry wants credentials or refused ours.
    fn credentials_hint(&self) -> String {
        match (&self.creds, &self.creds_source) {
            (None, _) => format!(
                "give credentials for `{}` with {}",
                self.registry,
                self.credential_options()
            ),
            (Some(_), Some(CredentialSource::Flag(flag))) => {
                format!("check the user and password given with `{flag}`")
            }
            (Some(_), Some(CredentialSource::Env { user, password })) => {
                format!("check `{user}` and `{password}`")
            }
            (Some(_), Some(CredentialSource::DockerConfig(path))) => format!(
                "log in again with `docker login {}`, or fix its entry in `{}`",
                self.registry,
                path.display()
            ),
            (
                Some(_),
                Some(CredentialSource::ConfigEnv {
                    file,
                    user,
                    password,
                }),
            ) => format!(
                "check `{user}` and `{password}`, the variables `{file}` names for `{}`",
                self.registry
            ),
            (Some(_), None) => format!("check the credentials ({})", self.credential_options()),
        }
    }

    /// What to do when the registry refused an action on `repo`.
    fn denied_hint(&self, repo: &str) -> String {
        match (self.role, self.creds.is_some()) {
            (Role::Target, false) => format!(
                "pushing needs credentials with write access to `{repo}`: give them with {}",
                self.credential_options()
            ),
            (Role::Source, false) => format!(
                "`{repo}` does not exist or is not readable anonymously: give credentials with {}",
                self.credential_options()
            ),
            (Role::Target, true) => format!(
                "{} lacks write access to `{repo}`: use credentials that may push there",
                self.identity()
            ),
            (Role::Source, true) => format!(
                "{} may not pull `{repo}`, or it does not exist: check the name, or use credentials that may pull it",
                self.identity()
            ),
        }
    }

    /// `scheme://host/` of the registry, found by the first ping.
    pub async fn base(&self) -> Result<&Url, RegistryError> {
        self.base.get_or_try_init(|| self.ping()).await
    }

    async fn url(&self, path: &str) -> Result<Url, RegistryError> {
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
            let mut attempt = 0;
            let outcome = loop {
                let res = self
                    .transport
                    .http(self.insecure)
                    .get(url.clone())
                    .timeout(SMALL_TIMEOUT)
                    .send()
                    .await;
                match res {
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

    /// The `Authorization` value for the registry's own host and these scopes.
    async fn authorization(
        &self,
        scopes: &[Scope],
        force: bool,
    ) -> Result<Option<HeaderValue>, RegistryError> {
        let challenge = self
            .challenge
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match challenge {
            None => Ok(None),
            Some(Challenge::Basic { .. }) => match &self.creds {
                Some(Credentials::Basic { username, password }) => {
                    Ok(Some(basic_header(username, password)))
                }
                Some(Credentials::IdentityToken(_)) | None => Ok(None),
            },
            Some(Challenge::Bearer { realm, service, .. }) => {
                let token = self
                    .token(&realm, service.as_deref(), scopes, force)
                    .await?;
                Ok(Some(bearer_header(&token.value)))
            }
        }
    }

    /// A cached token for `scopes`, fetched when missing, stale or `force`d.
    async fn token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[Scope],
        force: bool,
    ) -> Result<Token, RegistryError> {
        let key = scope_key(scopes);
        let slot = lock(&self.tokens).entry(key).or_default().clone();
        let mut guard = slot.lock().await;
        if !force {
            if let Some(t) = guard.as_ref().filter(|t| t.is_fresh()) {
                return Ok(t.clone());
            }
        }
        let token = self
            .fetch_token(realm, service, scopes, self.creds.as_ref())
            .await?;
        *guard = Some(token.clone());
        Ok(token)
    }

    /// Ask the token server: GET with Basic credentials (or none), or the OAuth2 POST form for
    /// identity tokens, falling back to GET when the server has no POST endpoint.
    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[Scope],
        creds: Option<&Credentials>,
    ) -> Result<Token, RegistryError> {
        let realm_url = Url::parse(realm).map_err(|e| RegistryError::Auth {
            host: self.host.clone(),
            detail: format!("the registry named a bad token realm `{realm}`: {e}"),
            hint: None,
        })?;
        let realm_host = host_port(&realm_url);
        let http = self
            .transport
            .http(self.insecure || self.transport.is_insecure(&realm_host));
        if let Some(Credentials::IdentityToken(refresh)) = creds {
            let mut form: Vec<(&str, String)> = vec![
                ("grant_type", "refresh_token".into()),
                ("refresh_token", refresh.clone()),
                ("client_id", "registry-mirror".into()),
                ("access_type", "offline".into()),
            ];
            if let Some(s) = service {
                form.push(("service", s.into()));
            }
            let scope = scopes
                .iter()
                .map(Scope::to_string)
                .collect::<Vec<_>>()
                .join(" ");
            if !scope.is_empty() {
                form.push(("scope", scope));
            }
            let body = form
                .iter()
                .map(|(k, v)| format!("{k}={}", urlencode(v)))
                .collect::<Vec<_>>()
                .join("&");
            let resp = http
                .post(realm_url.clone())
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body)
                .timeout(SMALL_TIMEOUT)
                .send()
                .await
                .map_err(|e| self.token_transport_error(&e))?;
            if resp.status() != StatusCode::NOT_FOUND
                && resp.status() != StatusCode::METHOD_NOT_ALLOWED
            {
                return self.read_token(resp, &realm_url, true).await;
            }
        }
        let mut url = realm_url.clone();
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            for s in scopes {
                q.append_pair("scope", &s.to_string());
            }
        }
        let mut rb = http.get(url).timeout(SMALL_TIMEOUT);
        match creds {
            Some(Credentials::Basic { username, password }) => {
                rb = rb.header(AUTHORIZATION, basic_header(username, password));
            }
            Some(Credentials::IdentityToken(t)) => {
                rb = rb.header(AUTHORIZATION, basic_header("<token>", t));
            }
            None => {}
        }
        let resp = rb
            .send()
            .await
            .map_err(|e| self.token_transport_error(&e))?;
        self.read_token(resp, &realm_url, creds.is_some()).await
    }

    fn token_transport_error(&self, e: &reqwest::Error) -> RegistryError {
        RegistryError::TokenUnavailable {
            host: self.host.clone(),
            detail: format!("cannot reach the token server: {}", describe_reqwest(e)),
        }
    }

    async fn read_token(
        &self,
        resp: Response,
        realm: &Url,
        had_creds: bool,
    ) -> Result<Token, RegistryError> {
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let realm = crate::registry::error::redact_url(realm);
            let status = status.as_u16();
            let (detail, hint) = if had_creds {
                (
                    format!(
                        "the token server `{realm}` rejected {} (HTTP {status})",
                        self.identity()
                    ),
                    Some(self.credentials_hint()),
                )
            } else {
                (
                    format!(
                        "the token server `{realm}` refused anonymous access (HTTP {status}); credentials are needed"
                    ),
                    // With credentials of our own this was a redirect target's token server.
                    self.creds.is_none().then(|| self.credentials_hint()),
                )
            };
            return Err(RegistryError::Auth {
                host: self.host.clone(),
                detail,
                hint,
            });
        }
        if !status.is_success() {
            let body = read_capped(resp, ERROR_BODY_LIMIT)
                .await
                .unwrap_or_default();
            let e = StatusError::new("GET", realm, status.as_u16(), &body);
            if is_retryable_status(status.as_u16()) {
                return Err(RegistryError::TokenUnavailable {
                    host: self.host.clone(),
                    detail: format!("token request failed: {e}"),
                });
            }
            return Err(RegistryError::Auth {
                host: self.host.clone(),
                detail: format!("token request failed: {e}"),
                hint: None,
            });
        }
        let body = read_capped(resp, 1024 * 1024)
            .await
            .map_err(|e| RegistryError::Auth {
                host: self.host.clone(),
                detail: format!("token response unreadable: {e}"),
                hint: None,
            })?;
        serde_json::from_slice::<TokenResponse>(&body)
            .ok()
            .and_then(TokenResponse::into_token)
            .ok_or_else(|| RegistryError::Auth {
                host: self.host.clone(),
                detail: "the token server answered without a token".into(),
                hint: None,
            })
    }

    /// Send with retries: connect errors, timeouts and 408/429/5xx are retried with backoff when
    /// the body can be sent again; `Retry-After` is honoured up to the policy's limit.
    pub async fn send(&self, mut req: Request) -> Result<Response, RegistryError> {
        let policy = self.transport.retry();
        let mut attempt = 0;
        loop {
            // Another task may have been told by this host to slow down: wait with it.
            let wait = self.transport.wait_for(&self.host);
            if !wait.is_zero() {
                debug!(host = %self.host, wait_ms = wait.as_millis() as u64, "waiting out the host's backoff");
                tokio::time::sleep(wait).await;
            }
            let result = self.send_once(&mut req).await;
            let retry_after = match &result {
                Ok(resp) if is_retryable_status(resp.status().as_u16()) => {
                    let ra = retry_after(resp.headers());
                    let status = resp.status().as_u16();
                    if status == 429 || (status == 503 && ra.is_some()) {
                        // Throttling is about the host, not this request: everyone backs off.
                        let policy = self.transport.retry();
                        let delay = ra.unwrap_or_else(|| policy.delay(attempt + 1, None));
                        self.transport
                            .back_off(&self.host, delay.min(policy.max_retry_after));
                    }
                    ra
                }
                Err(e) if e.is_temporary() => None,
                _ => return result,
            };
            if !req.body.replayable() || attempt >= policy.retries {
                return result;
            }
            if retry_after.is_some_and(|ra| ra > policy.max_retry_after) {
                return result;
            }
            attempt += 1;
            let delay = policy.delay(attempt, retry_after);
            let why = match &result {
                Ok(resp) => format!("status {}", resp.status().as_u16()),
                Err(e) => e.to_string(),
            };
            warn!(
                method = %req.method,
                url = %crate::registry::error::redact_url(&req.url),
                attempt,
                delay_ms = delay.as_millis() as u64,
                "retrying after {why}"
            );
            tokio::time::sleep(delay).await;
        }
    }

    async fn send_once(&self, req: &mut Request) -> Result<Response, RegistryError> {
        let base = self.base().await?.clone();
        let mut url = req.url.clone();
        let mut method = req.method.clone();
        let mut auth_retried = false;
        let mut force_token = false;
        for _hop in 0..=MAX_REDIRECTS {
            let own = host_port(&url) == host_port(&base) && url.scheme() == base.scheme();
            let http = self.transport.http(own && self.insecure);
            let mut rb = http
                .request(method.clone(), url.clone())
                .headers(req.headers.clone());
            if own {
                if let Some(h) = self.authorization(&req.scopes, force_token).await? {
                    rb = rb.header(AUTHORIZATION, h);
                }
            } else if let Some(t) = self.foreign_token(&url) {
                rb = rb.header(AUTHORIZATION, bearer_header(&t.value));
            }
            let replayable = req.body.replayable();
            rb = match &req.body {
                Body::Empty => rb,
                Body::Bytes(b) => rb.body(b.clone()),
                Body::Stream(s) => match lock(s).take() {
                    Some(body) => rb.body(body),
                    None => {
                        return Err(RegistryError::Transport {
                            url: crate::registry::error::redact_url(&url),
                            detail: "a streamed body cannot be sent twice".into(),
                        })
                    }
                },
            };
            if let Some(t) = req.timeout {
                rb = rb.timeout(t);
            }
            let resp = rb.send().await.map_err(|e| transport_error(&url, &e))?;
            log_rate_limit(&url, resp.headers());
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && !auth_retried && replayable {
                auth_retried = true;
                let challenges = challenges_of(resp.headers());
                if own {
                    if let Some(c) = challenges
                        .iter()
                        .find(|c| matches!(c, Challenge::Bearer { .. }))
                        .or_else(|| challenges.first())
                    {
                        if let Challenge::Bearer { scope, .. } = c {
                            for s in scope.iter().filter_map(|s| Scope::parse(s)) {
                                Scope::merge_into(&mut req.scopes, s);
                            }
                        }
                        let had_none = self
                            .challenge
                            .read()
                            .unwrap_or_else(|p| p.into_inner())
                            .is_none();
                        *self.challenge.write().unwrap_or_else(|p| p.into_inner()) =
                            Some(c.clone());
                        if had_none || matches!(c, Challenge::Bearer { .. }) {
                            force_token = true;
                            continue;
                        }
                    }
                } else if let Some(Challenge::Bearer {
                    realm,
                    service,
                    scope,
                    ..
                }) = challenges
                    .iter()
                    .find(|c| matches!(c, Challenge::Bearer { .. }))
                {
                    // Another host (a redirect target): answer its challenge anonymously.
                    let scopes: Vec<Scope> = if scope.is_empty() {
                        req.scopes.iter().map(|s| Scope::pull(&s.name)).collect()
                    } else {
                        scope.iter().filter_map(|s| Scope::parse(s)).collect()
                    };
                    let token = self
                        .fetch_token(realm, service.as_deref(), &scopes, None)
                        .await?;
                    lock(&self.foreign).insert(host_port(&url), token);
                    continue;
                }
                return Ok(resp);
            }
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                let Some(loc) = resp.headers().get(LOCATION).and_then(|l| l.to_str().ok()) else {
                    return Ok(resp);
                };
                let next = url.join(loc).map_err(|e| RegistryError::Transport {
                    url: crate::registry::error::redact_url(&url),
                    detail: format!("bad redirect location: {e}"),
                })?;
                debug!(from = %crate::registry::error::redact_url(&url), to = %crate::registry::error::redact_url(&next), "redirect");
                if status == StatusCode::SEE_OTHER {
                    method = Method::GET;
                }
                if !replayable {
                    return Ok(resp);
                }
                url = next;
                auth_retried = false;
                continue;
            }
            return Ok(resp);
        }
        Err(RegistryError::Transport {
            url: crate::registry::error::redact_url(&req.url),
            detail: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }

    fn foreign_token(&self, url: &Url) -> Option<Token> {
        lock(&self.foreign)
            .get(&host_port(url))
            .filter(|t| t.is_fresh())
            .cloned()
    }

    /// Turn a non-success response into a typed error.
    async fn fail(&self, resp: Response, method: &str, what: &str, repo: &str) -> RegistryError {
        let status = resp.status().as_u16();
        let url = resp.url().clone();
        let ra = retry_after(resp.headers());
        let challenges = challenges_of(resp.headers());
        let body = read_capped(resp, ERROR_BODY_LIMIT)
            .await
            .unwrap_or_default();
        let mut err = StatusError::new(method, &url, status, &body);
        err.retry_after = ra;
        match status {
            401 => {
                let insufficient = challenges.iter().any(|c| {
                    matches!(c, Challenge::Bearer { error: Some(e), .. } if e == "insufficient_scope")
                });
                if insufficient
                    || (self.role == Role::Target
                        && method != "GET"
                        && method != "HEAD"
                        && self.creds.is_none())
                {
                    RegistryError::Denied {
                        host: self.host.clone(),
                        repository: repo.to_string(),
                        detail: format!(
                            "{} {what} not permitted{} ({})",
                            method,
                            if self.creds.is_none() {
                                " without credentials"
                            } else {
                                ""
                            },
                            err.status_text()
                        ),
                        hint: self.denied_hint(repo),
                    }
                } else if self.creds.is_some() {
                    RegistryError::Auth {
                        host: self.host.clone(),
                        detail: format!(
                            "the registry rejected {} ({})",
                            self.identity(),
                            err.status_text()
                        ),
                        hint: Some(self.credentials_hint()),
                    }
                } else {
                    RegistryError::Auth {
                        host: self.host.clone(),
                        detail: format!(
                            "the registry requires credentials and none were given ({})",
                            err.status_text()
                        ),
                        hint: Some(self.credentials_hint()),
                    }
                }
            }
            403 if !err.detail().to_ascii_lowercase().contains("manifest") => {
                RegistryError::Denied {
                    host: self.host.clone(),
                    repository: repo.to_string(),
                    detail: format!("{method} {what} refused ({})", err.status_text()),
                    hint: self.denied_hint(repo),
                }
            }
            _ => RegistryError::Status(err),
        }
    }

    // ----- manifests -----

    /// HEAD a manifest by tag or digest. `None` when the registry has no such manifest.
    pub async fn manifest_head(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<ManifestHead>, RegistryError> {
        let url = self
            .url(&format!("v2/{repo}/manifests/{reference}"))
            .await?;
        let resp = self
            .send(self.request(Method::HEAD, url, repo, accept_manifests()))
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(self.fail(resp, "HEAD", "manifest", repo).await);
        }
        let h = resp.headers();
        let digest = h
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Digest>().ok());
        let media_type = h
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_string())
            .unwrap_or_default();
        let size = h
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        match digest {
            Some(digest) => Ok(Some(ManifestHead {
                digest,
                media_type,
                size,
            })),
            // No digest header: fall back to a GET (counts as a pull on Docker Hub).
            None => {
                let m = self.manifest_get(repo, reference, None).await?;
                Ok(Some(ManifestHead {
                    digest: m.digest.clone(),
                    media_type: m.media_type.clone(),
                    size: Some(m.bytes.len() as u64),
                }))
            }
        }
    }

    /// GET a manifest's exact bytes. Pulled by digest (or with `expected`), the bytes are
    /// verified against it; a tag's `Docker-Content-Digest` is not trusted.
    pub async fn manifest_get(
        &self,
        repo: &str,
        reference: &str,
        expected: Option<&Digest>,
    ) -> Result<RawManifest, RegistryError> {
        let url = self
            .url(&format!("v2/{repo}/manifests/{reference}"))
            .await?;
        let resp = self
            .send(self.request(Method::GET, url, repo, accept_manifests()))
            .await?;
        let shown = format!(
            "{}/{}{}{}",
            self.registry,
            repo,
            if reference.contains(':') { "@" } else { ":" },
            reference
        );
        if resp.status() == StatusCode::NOT_FOUND {
            let err = self.fail(resp, "GET", "manifest", repo).await;
            return Err(match err {
                RegistryError::Status(s) if s.has_code("NAME_UNKNOWN") => {
                    RegistryError::NameUnknown {
                        reference: format!("{}/{}", self.registry, repo),
                    }
                }
                _ => RegistryError::ManifestUnknown { reference: shown },
            });
        }
        if !resp.status().is_success() {
            return Err(self.fail(resp, "GET", "manifest", repo).await);
        }
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = read_capped(resp, MANIFEST_LIMIT + 1)
            .await
            .map_err(|detail| RegistryError::Transport {
                url: shown.clone(),
                detail,
            })?;
        if bytes.len() > MANIFEST_LIMIT {
            return Err(RegistryError::Manifest(format!(
                "manifest `{shown}` is larger than 4 MiB"
            )));
        }
        let manifest = RawManifest::from_bytes(Bytes::from(bytes), content_type.as_deref())
            .map_err(|e| RegistryError::Manifest(format!("`{shown}`: {e}")))?;
        let want = expected
            .cloned()
            .or_else(|| reference.parse::<Digest>().ok());
        if let Some(want) = want {
            if !want.matches(&manifest.bytes) {
                return Err(RegistryError::DigestMismatch {
                    what: format!("manifest `{shown}`"),
                    expected: want,
                    actual: manifest.digest,
                });
            }
        }
        Ok(manifest)
    }

    /// PUT a manifest by tag or digest; the registry's digest must equal ours.
    pub async fn manifest_put(
        &self,
        repo: &str,
        reference: &str,
        manifest: &RawManifest,
    ) -> Result<(), RegistryError> {
        let url = self
            .url(&format!("v2/{repo}/manifests/{reference}"))
            .await?;
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_str(&manifest.media_type).map_err(|_| {
                RegistryError::Manifest(format!("bad media type `{}`", manifest.media_type))
            })?,
        );
        let mut req = self.request(Method::PUT, url, repo, headers);
        req.body = Body::Bytes(manifest.bytes.clone());
        let resp = self.send(req).await?;
        if !resp.status().is_success() {
            return Err(self.fail(resp, "PUT", "manifest", repo).await);
        }
        if let Some(d) = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Digest>().ok())
        {
            if d != manifest.digest {
                return Err(RegistryError::DigestMismatch {
                    what: format!("manifest pushed to `{}/{repo}:{reference}`", self.registry),
                    expected: manifest.digest.clone(),
                    actual: d,
                });
            }
        }
        Ok(())
    }

    // ----- blobs -----

    /// HEAD a blob: `Some(size)` when present. Some registries answer 403 for absent blobs.
    pub async fn blob_head(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<Option<u64>, RegistryError> {
        let url = self.url(&format!("v2/{repo}/blobs/{digest}")).await?;
        let resp = self
            .send(self.request(Method::HEAD, url, repo, HeaderMap::new()))
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(Some(
                resp.headers()
                    .get(CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            )),
            StatusCode::NOT_FOUND | StatusCode::FORBIDDEN => Ok(None),
            _ => Err(self.fail(resp, "HEAD", "blob", repo).await),
        }
    }

    /// GET a blob as a response whose body the caller streams (redirects followed).
    pub async fn blob_get(&self, repo: &str, digest: &Digest) -> Result<Response, RegistryError> {
        let url = self.url(&format!("v2/{repo}/blobs/{digest}")).await?;
        let mut req = self.request(Method::GET, url, repo, HeaderMap::new());
        req.timeout = None;
        let resp = self.send(req).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            let _ = self.fail(resp, "GET", "blob", repo).await;
            return Err(RegistryError::Manifest(format!(
                "blob `{digest}` is missing from `{}/{repo}`",
                self.registry
            )));
        }
        if !resp.status().is_success() {
            return Err(self.fail(resp, "GET", "blob", repo).await);
        }
        Ok(resp)
    }

    /// GET the rest of a blob from byte `offset` (`Range: bytes=OFFSET-`), to resume a cut read.
    /// `None` when the registry (or its CDN) does not answer with that range.
    pub async fn blob_get_from(
        &self,
        repo: &str,
        digest: &Digest,
        offset: u64,
    ) -> Result<Option<Response>, RegistryError> {
        let url = self.url(&format!("v2/{repo}/blobs/{digest}")).await?;
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&format!("bytes={offset}-")) {
            headers.insert(reqwest::header::RANGE, v);
        }
        let mut req = self.request(Method::GET, url, repo, headers);
        req.timeout = None;
        let resp = self.send(req).await?;
        let starts_at_offset = resp
            .headers()
            .get(reqwest::header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("bytes "))
            .and_then(|v| v.split('-').next())
            .and_then(|v| v.trim().parse::<u64>().ok())
            == Some(offset);
        if resp.status() == StatusCode::PARTIAL_CONTENT && starts_at_offset {
            Ok(Some(resp))
        } else {
            Ok(None)
        }
    }

    /// GET a small blob (an image config) fully, verified.
    pub async fn blob_get_small(
        &self,
        repo: &str,
        digest: &Digest,
        limit: usize,
    ) -> Result<Bytes, RegistryError> {
        let resp = self.blob_get(repo, digest).await?;
        let bytes =
            read_capped(resp, limit + 1)
                .await
                .map_err(|detail| RegistryError::Transport {
                    url: format!("{}/{repo}@{digest}", self.registry),
                    detail,
                })?;
        if bytes.len() > limit {
            return Err(RegistryError::Manifest(format!(
                "blob `{digest}` is larger than {limit} bytes"
            )));
        }
        if !digest.matches(&bytes) {
            return Err(RegistryError::DigestMismatch {
                what: format!("blob `{}/{repo}@{digest}`", self.registry),
                expected: digest.clone(),
                actual: Digest::sha256(&bytes),
            });
        }
        Ok(Bytes::from(bytes))
    }

    /// Ask the registry to mount `digest` from `from` into `repo`. Only 201 counts as mounted
    /// (Harbor answers 401 for a missing source project); 202 opens an upload session.
    pub async fn blob_mount(
        &self,
        repo: &str,
        digest: &Digest,
        from: &str,
    ) -> Result<Mount, RegistryError> {
        let mut url = self.url(&format!("v2/{repo}/blobs/uploads/")).await?;
        url.query_pairs_mut()
            .append_pair("mount", digest.as_str())
            .append_pair("from", from);
        let mut req = self.request(Method::POST, url, repo, HeaderMap::new());
        Scope::merge_into(&mut req.scopes, Scope::pull(from));
        req.headers
            .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        let resp = self.send(req).await?;
        match resp.status() {
            StatusCode::CREATED => Ok(Mount::Mounted),
            StatusCode::ACCEPTED => Ok(Mount::Upload(location(&resp)?)),
            status => {
                debug!(repo, %digest, from, status = status.as_u16(), "mount refused");
                Ok(Mount::Upload(None))
            }
        }
    }

    /// Open an upload session: the Location to send the data to.
    pub async fn blob_upload_start(&self, repo: &str) -> Result<Url, RegistryError> {
        let url = self.url(&format!("v2/{repo}/blobs/uploads/")).await?;
        let mut req = self.request(Method::POST, url, repo, HeaderMap::new());
        req.headers
            .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        let resp = self.send(req).await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(self.fail(resp, "POST", "blob upload", repo).await);
        }
        location(&resp)?.ok_or_else(|| {
            RegistryError::Manifest("the registry opened an upload without a Location".into())
        })
    }

    /// PATCH data into an upload session; returns the next Location. `range` is
    /// `Some((start, end_inclusive))` for a chunk of a chunked upload, `None` for one streamed PATCH.
    pub async fn blob_upload_patch(
        &self,
        repo: &str,
        location: &Url,
        body: Body,
        length: u64,
        range: Option<(u64, u64)>,
    ) -> Result<Url, RegistryError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
        if let Some((start, end)) = range {
            headers.insert(
                "content-range",
                HeaderValue::from_str(&format!("{start}-{end}"))
                    .map_err(|e| RegistryError::Config(e.to_string()))?,
            );
        }
        let mut req = self.request(Method::PATCH, location.clone(), repo, headers);
        req.body = body;
        req.timeout = None;
        let resp = self.send(req).await?;
        if resp.status() != StatusCode::ACCEPTED && resp.status() != StatusCode::NO_CONTENT {
            return Err(self.fail(resp, "PATCH", "blob upload", repo).await);
        }
        Ok(location_of(&resp)?.unwrap_or_else(|| location.clone()))
    }

    /// Close an upload session with the digest (`PUT Location&digest=…`), optionally with data.
    pub async fn blob_upload_finish(
        &self,
        repo: &str,
        location: &Url,
        digest: &Digest,
        body: Body,
        length: u64,
    ) -> Result<(), RegistryError> {
        let mut url = location.clone();
        url.query_pairs_mut().append_pair("digest", digest.as_str());
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
        if length > 0 {
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
        }
        let mut req = self.request(Method::PUT, url, repo, headers);
        req.body = body;
        req.timeout = if length > 0 {
            None
        } else {
            Some(SMALL_TIMEOUT)
        };
        let resp = self.send(req).await?;
        if resp.status() != StatusCode::CREATED
            && resp.status() != StatusCode::NO_CONTENT
            && !resp.status().is_success()
        {
            return Err(self.fail(resp, "PUT", "blob upload", repo).await);
        }
        if let Some(d) = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Digest>().ok())
        {
            if &d != digest {
                return Err(RegistryError::DigestMismatch {
                    what: format!("blob uploaded to `{}/{repo}`", self.registry),
                    expected: digest.clone(),
                    actual: d,
                });
            }
        }
        Ok(())
    }

    /// Abandon an upload session (best effort).
    pub async fn blob_upload_cancel(&self, repo: &str, location: &Url) {
        let req = self.request(Method::DELETE, location.clone(), repo, HeaderMap::new());
        if let Err(e) = self.send(req).await {
            debug!(repo, error = %e, "cancelling upload failed");
        }
    }

    /// Every tag of `repo`, following `Link` pagination; `page` asks for that many per page
    /// (`n`; registries then paginate with `last`).
    pub async fn tag_list(
        &self,
        repo: &str,
        page: Option<usize>,
    ) -> Result<Vec<String>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct Tags {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut url = self.url(&format!("v2/{repo}/tags/list")).await?;
        if let Some(n) = page {
            url.query_pairs_mut().append_pair("n", &n.to_string());
        }
        let scopes = vec![self.repo_scope(repo)];
        let pages = self.paginate(url, scopes, "tag list", repo).await?;
        let mut out = Vec::new();
        for body in pages {
            let tags: Tags = serde_json::from_slice(&body).map_err(|e| {
                RegistryError::Manifest(format!("tag list of `{repo}` is not valid JSON: {e}"))
            })?;
            out.extend(tags.tags.unwrap_or_default());
        }
        let what = format!("the tag list of `{}/{repo}`", self.registry);
        Ok(crate::reference::keep_valid(
            out,
            &what,
            crate::reference::is_valid_tag,
        ))
    }

    /// Every repository of the registry (`/v2/_catalog`), following `Link` pagination.
    pub async fn catalog(&self, page: Option<usize>) -> Result<Vec<String>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct Catalog {
            #[serde(default)]
            repositories: Option<Vec<String>>,
        }
        let mut url = self.url("v2/_catalog").await?;
        if let Some(n) = page {
            url.query_pairs_mut().append_pair("n", &n.to_string());
        }
        let scopes = vec![Scope {
            kind: "registry".into(),
            name: "catalog".into(),
            actions: vec!["*".into()],
        }];
        let pages = self.paginate(url, scopes, "catalog", "_catalog").await?;
        let mut out = Vec::new();
        for body in pages {
            let c: Catalog = serde_json::from_slice(&body).map_err(|e| {
                RegistryError::Manifest(format!(
                    "the catalog of `{}` is not valid JSON: {e}",
                    self.registry
                ))
            })?;
            out.extend(c.repositories.unwrap_or_default());
        }
        let what = format!("the catalog of `{}`", self.registry);
        Ok(crate::reference::keep_valid(
            out,
            &what,
            crate::reference::is_valid_repository,
        ))
    }

    /// GET `url` and every `rel="next"` page after it; the bodies.
    async fn paginate(
        &self,
        mut url: Url,
        scopes: Vec<Scope>,
        what: &str,
        repo: &str,
    ) -> Result<Vec<Vec<u8>>, RegistryError> {
        let mut pages: Vec<Vec<u8>> = Vec::new();
        let mut total = 0usize;
        loop {
            let req = Request {
                method: Method::GET,
                url: url.clone(),
                headers: HeaderMap::new(),
                body: Body::Empty,
                scopes: scopes.clone(),
                timeout: Some(SMALL_TIMEOUT),
            };
            let resp = self.send(req).await?;
            if !resp.status().is_success() {
                return Err(self.fail(resp, "GET", what, repo).await);
            }
            let next = resp
                .headers()
                .get("link")
                .and_then(|v| v.to_str().ok())
                .and_then(parse_link_next)
                .and_then(|l| url.join(&l).ok());
            let body =
                read_capped(resp, PAGE_LIMIT)
                    .await
                    .map_err(|detail| RegistryError::Transport {
                        url: crate::registry::error::redact_url(&url),
                        detail,
                    })?;
            total += body.len();
            if total > LISTING_LIMIT {
                return Err(RegistryError::Manifest(format!(
                    "the {what} of `{}/{repo}` is larger than {} MiB; stopped reading",
                    self.registry,
                    LISTING_LIMIT >> 20
                )));
            }
            pages.push(body);
            match next {
                // A registry that sends the same page again would loop forever.
                Some(n) if n != url && pages.len() < 100_000 => url = n,
                _ => return Ok(pages),
            }
        }
    }

    fn request(&self, method: Method, url: Url, repo: &str, headers: HeaderMap) -> Request {
        Request {
            method,
            url,
            headers,
            body: Body::Empty,
            scopes: vec![self.repo_scope(repo)],
            timeout: Some(SMALL_TIMEOUT),
        }
    }
}

fn accept_manifests() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(ACCEPT, HeaderValue::from_static(media_type::ACCEPT));
    h
}

fn basic_header(user: &str, pass: &str) -> HeaderValue {
    let enc = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    let mut v = HeaderValue::from_str(&format!("Basic {enc}"))
        .unwrap_or_else(|_| HeaderValue::from_static("Basic"));
    v.set_sensitive(true);
    v
}

fn bearer_header(token: &str) -> HeaderValue {
    let mut v = HeaderValue::from_str(&format!("Bearer {token}"))
        .unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
    v.set_sensitive(true);
    v
}

fn challenges_of(headers: &HeaderMap) -> Vec<Challenge> {
    parse_challenges(
        headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after)
}

fn host_port(url: &Url) -> String {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => String::new(),
    }
}

fn location(resp: &Response) -> Result<Option<Url>, RegistryError> {
    location_of(resp)
}

/// The `Location` header resolved against the final request URL.
fn location_of(resp: &Response) -> Result<Option<Url>, RegistryError> {
    let Some(loc) = resp.headers().get(LOCATION).and_then(|l| l.to_str().ok()) else {
        return Ok(None);
    };
    resp.url()
        .join(loc)
        .map(Some)
        .map_err(|e| RegistryError::Transport {
            url: crate::registry::error::redact_url(resp.url()),
            detail: format!("bad upload location: {e}"),
        })
}

fn transport_error(url: &Url, e: &reqwest::Error) -> RegistryError {
    if e.is_connect() {
        RegistryError::Connect {
            host: host_port(url),
            detail: describe_reqwest(e),
        }
    } else {
        RegistryError::Transport {
            url: crate::registry::error::redact_url(url),
            detail: describe_reqwest(e),
        }
    }
}

fn log_rate_limit(url: &Url, headers: &HeaderMap) {
    let get = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    if let Some(remaining) = get("ratelimit-remaining") {
        let limit = get("ratelimit-limit").unwrap_or_default();
        let left: Option<u64> = remaining
            .split(';')
            .next()
            .and_then(|n| n.trim().parse().ok());
        if left.is_some_and(|n| n < 10) {
            warn!(
                host = url.host_str().unwrap_or(""),
                remaining, limit, "pull rate limit nearly used up"
            );
        } else {
            debug!(
                host = url.host_str().unwrap_or(""),
                remaining, limit, "pull rate limit"
            );
        }
    }
}

/// Read a body up to `limit` bytes (more is cut off).
pub async fn read_capped(resp: Response, limit: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| describe_reqwest(&e))?;
        let room = limit.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

/// The `rel="next"` target of a `Link` header.
pub fn parse_link_next(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then(|| target.to_string())
    })
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
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
    fn link_header_next() {
        assert_eq!(
            parse_link_next(r#"</v2/foo/tags/list?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/foo/tags/list?last=b&n=2")
        );
        assert_eq!(parse_link_next(r#"</x>; rel="prev""#), None);
    }

    #[test]
    fn sensitive_headers() {
        assert!(basic_header("u", "p").is_sensitive());
        assert!(bearer_header("t").is_sensitive());
    }

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
