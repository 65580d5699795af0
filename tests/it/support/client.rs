//! A small blocking Registry V2 client for seeding and inspecting test registries.
//!
//! It is deliberately independent of the crate under test. The panicking methods
//! (`push_blob`, `get_manifest`, ...) are for seeding and checking; the `try_*` methods return the
//! HTTP status on failure, for tests that expect a refusal.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::blocking::{Client, Response};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::Method;

use super::image::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
use super::token::{parse_scope, TokenIssuer};

/// The `Accept` header sent for manifests: all four schema-2 / OCI manifest types.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// How the client authenticates.
#[derive(Clone)]
pub(crate) enum ClientAuth {
    Anonymous,
    /// Preemptive basic auth.
    Basic {
        user: String,
        password: String,
    },
    /// Bearer tokens minted in-process for `subject` with every action on the repository.
    Minted {
        subject: String,
        issuer: Arc<TokenIssuer>,
    },
    /// Like a real client: answer `WWW-Authenticate` challenges (Basic, or Bearer via the realm).
    Challenge {
        credentials: Option<(String, String)>,
    },
}

/// A failed request: what was attempted, the status and the response body.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpError {
    pub context: String,
    pub status: u16,
    pub body: String,
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: HTTP {}: {}", self.context, self.status, self.body)
    }
}

impl fmt::Debug for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for HttpError {}

struct Inner {
    http: Client,
    base: String,
    auth: ClientAuth,
    /// scope -> (bearer token, obtained at)
    tokens: Mutex<HashMap<String, (String, Instant)>>,
    registry_log: Option<Arc<Mutex<Vec<u8>>>>,
}

/// Blocking client for one registry (cheap to clone). Created by [`super::Registry::client`]
/// (admin) or [`super::Registry::client_as`] (an ordinary user or anonymous).
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

/// Tokens are reused for this long (they live 300 s).
const TOKEN_REUSE: Duration = Duration::from_secs(200);

fn repo_scope(repo: &str, method: &Method) -> String {
    let actions = match *method {
        Method::GET | Method::HEAD => "pull",
        Method::DELETE => "delete",
        _ => "pull,push",
    };
    format!("repository:{repo}:{actions}")
}

/// Parses a `WWW-Authenticate` value into its scheme and parameters.
fn parse_challenge(value: &str) -> (String, HashMap<String, String>) {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let mut params = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.next().is_none() {
            break;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(escaped) = chars.next() {
                            val.push(escaped);
                        }
                    }
                    '"' => break,
                    _ => val.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                val.push(c);
                chars.next();
            }
        }
        params.insert(key.trim().to_ascii_lowercase(), val);
    }
    (scheme.to_ascii_lowercase(), params)
}

fn basic_header(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

impl RegistryClient {
    pub(crate) fn new(
        http: Client,
        base: String,
        auth: ClientAuth,
        registry_log: Option<Arc<Mutex<Vec<u8>>>>,
    ) -> RegistryClient {
        RegistryClient {
            inner: Arc::new(Inner {
                http,
                base,
                auth,
                tokens: Mutex::new(HashMap::new()),
                registry_log,
            }),
        }
    }

    /// `http(s)://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// The underlying reqwest client (trusts the test CA, no proxies, no auth).
    pub fn http(&self) -> &Client {
        &self.inner.http
    }

    fn registry_log_tail(&self) -> String {
        match &self.inner.registry_log {
            Some(log) => {
                let text = String::from_utf8_lossy(&log.lock().expect("registry log")).into_owned();
                format!("\n--- registry log (tail) ---\n{}", super::tail(&text, 10))
            }
            None => String::new(),
        }
    }

    fn cached_token(&self, scope: &str) -> Option<String> {
        let tokens = self.inner.tokens.lock().expect("token cache");
        tokens
            .get(scope)
            .filter(|(_, at)| at.elapsed() < TOKEN_REUSE)
            .map(|(t, _)| t.clone())
    }

    fn store_token(&self, scope: &str, token: &str) {
        self.inner
            .tokens
            .lock()
            .expect("token cache")
            .insert(scope.to_string(), (token.to_string(), Instant::now()));
    }

    /// Fetches a token from `realm` the way docker does (GET with optional Basic auth).
    fn fetch_token(
        &self,
        params: &HashMap<String, String>,
        scope: Option<&str>,
        credentials: Option<&(String, String)>,
    ) -> Option<String> {
        let realm = params.get("realm")?;
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(service) = params.get("service") {
            query.push(("service", service));
        }
        let challenge_scope = params.get("scope").map(String::as_str);
        if let Some(scope) = challenge_scope.or(scope) {
            for s in scope.split(' ').filter(|s| !s.is_empty()) {
                query.push(("scope", s));
            }
        }
        if let Some((user, _)) = credentials {
            query.push(("account", user));
        }
        let mut request = self.inner.http.get(realm).query(&query);
        if let Some((user, password)) = credentials {
            request = request.header(AUTHORIZATION, basic_header(user, password));
        }
        let response = request.send().ok()?;
        if !response.status().is_success() {
            return None;
        }
        let body: serde_json::Value = response.json().ok()?;
        body.get("token")
            .or_else(|| body.get("access_token"))
            .and_then(|t| t.as_str())
            .map(str::to_string)
    }

    /// Sends one request with authentication. `scope` is the token scope the request needs.
    fn execute(
        &self,
        method: Method,
        url: &str,
        scope: Option<&str>,
        headers: &[(reqwest::header::HeaderName, String)],
        body: Option<&[u8]>,
    ) -> Response {
        let send = |authorization: Option<String>| -> Response {
            let mut request = self.inner.http.request(method.clone(), url);
            for (name, value) in headers {
                request = request.header(name.clone(), value.as_str());
            }
            if let Some(body) = body {
                request = request.body(body.to_vec());
            }
            if let Some(authorization) = authorization {
                request = request.header(AUTHORIZATION, authorization);
            }
            request.send().unwrap_or_else(|e| {
                panic!(
                    "{method} {url}: request failed: {e:?}{}",
                    self.registry_log_tail()
                )
            })
        };
        match &self.inner.auth {
            ClientAuth::Anonymous => send(None),
            ClientAuth::Basic { user, password } => send(Some(basic_header(user, password))),
            ClientAuth::Minted { subject, issuer } => match scope {
                // e.g. `GET /v2/`: any valid token will do.
                None => send(Some(format!("Bearer {}", issuer.mint(subject, &[])))),
                Some(scope) => {
                    // Admin: ask for everything on the resource, cache per resource.
                    let access = parse_scope(scope).map(|mut a| {
                        a.actions = if a.kind == "repository" {
                            vec!["pull".into(), "push".into(), "delete".into()]
                        } else {
                            vec!["*".into()]
                        };
                        a
                    });
                    let key = access
                        .as_ref()
                        .map(|a| format!("{}:{}", a.kind, a.name))
                        .unwrap_or_else(|| scope.to_string());
                    let token = match self.cached_token(&key) {
                        Some(token) => token,
                        None => {
                            let token = issuer.mint(subject, access.as_slice());
                            self.store_token(&key, &token);
                            token
                        }
                    };
                    send(Some(format!("Bearer {token}")))
                }
            },
            ClientAuth::Challenge { credentials } => {
                let cached = scope.and_then(|s| self.cached_token(s));
                let first = send(cached.map(|t| format!("Bearer {t}")));
                if first.status() != reqwest::StatusCode::UNAUTHORIZED {
                    return first;
                }
                let Some(challenge) = first
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .map(parse_challenge)
                else {
                    return first;
                };
                match challenge.0.as_str() {
                    "basic" => match credentials {
                        Some((user, password)) => send(Some(basic_header(user, password))),
                        None => first,
                    },
                    "bearer" => match self.fetch_token(&challenge.1, scope, credentials.as_ref()) {
                        Some(token) => {
                            if let Some(scope) = scope {
                                self.store_token(scope, &token);
                            }
                            send(Some(format!("Bearer {token}")))
                        }
                        None => first,
                    },
                    _ => first,
                }
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.inner.base)
    }

    fn error(&self, context: String, response: Response) -> HttpError {
        let status = response.status().as_u16();
        let body = response.text().unwrap_or_default();
        HttpError {
            context,
            status,
            body,
        }
    }

    fn fail(&self, error: HttpError) -> ! {
        panic!("{error}{}", self.registry_log_tail())
    }

    /// `GET /v2/` with authentication; returns the final status (200 when the credentials work).
    pub fn ping(&self) -> u16 {
        let response = self.execute(Method::GET, &self.url("/v2/"), None, &[], None);
        response.status().as_u16()
    }

    /// Uploads a blob (POST, then monolithic PUT `?digest=`); returns its digest.
    pub fn try_push_blob(&self, repo: &str, data: &[u8]) -> Result<String, HttpError> {
        let digest = super::sha256_digest(data);
        let scope = repo_scope(repo, &Method::POST);
        let start_url = self.url(&format!("/v2/{repo}/blobs/uploads/"));
        let response = self.execute(Method::POST, &start_url, Some(&scope), &[], None);
        if response.status().as_u16() != 202 {
            return Err(self.error(format!("POST {start_url}"), response));
        }
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .expect("upload Location header")
            .to_string();
        let mut put_url = reqwest::Url::parse(&start_url)
            .expect("base url")
            .join(&location)
            .expect("resolve upload Location");
        put_url.query_pairs_mut().append_pair("digest", &digest);
        let response = self.execute(
            Method::PUT,
            put_url.as_str(),
            Some(&scope),
            &[(CONTENT_TYPE, "application/octet-stream".to_string())],
            Some(data),
        );
        if response.status().as_u16() != 201 {
            return Err(self.error(format!("PUT {put_url} (blob {digest})"), response));
        }
        Ok(digest)
    }

    /// Uploads a blob; returns its digest. Panics on failure.
    pub fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        self.try_push_blob(repo, data)
            .unwrap_or_else(|e| self.fail(e))
    }

    /// PUTs a manifest by tag or digest; returns the digest the registry reports
    /// (`Docker-Content-Digest`), which for these registries is the sha256 of `bytes`.
    pub fn try_push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String, HttpError> {
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        let scope = repo_scope(repo, &Method::PUT);
        let response = self.execute(
            Method::PUT,
            &url,
            Some(&scope),
            &[(CONTENT_TYPE, media_type.to_string())],
            Some(bytes),
        );
        if response.status().as_u16() != 201 {
            return Err(self.error(format!("PUT {url} ({media_type})"), response));
        }
        let digest = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| super::sha256_digest(bytes));
        Ok(digest)
    }

    /// PUTs a manifest; returns its digest. Panics on failure.
    pub fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> String {
        self.try_push_manifest(repo, reference, media_type, bytes)
            .unwrap_or_else(|e| self.fail(e))
    }

    /// GETs a manifest (Accept: all four manifest types): `(content type, bytes, sha256 of the
    /// bytes)`, `Ok(None)` on 404.
    #[allow(clippy::type_complexity)]
    pub fn try_get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<(String, Vec<u8>, String)>, HttpError> {
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        let scope = repo_scope(repo, &Method::GET);
        let response = self.execute(
            Method::GET,
            &url,
            Some(&scope),
            &[(ACCEPT, MANIFEST_ACCEPT.to_string())],
            None,
        );
        match response.status().as_u16() {
            200 => {
                let content_type = response
                    .headers()
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let bytes = response.bytes().expect("manifest body").to_vec();
                let digest = super::sha256_digest(&bytes);
                Ok(Some((content_type, bytes, digest)))
            }
            404 => Ok(None),
            _ => Err(self.error(format!("GET {url}"), response)),
        }
    }

    /// GETs a manifest: `(content type, bytes, sha256 of the bytes)`, `None` on 404. Panics on
    /// other failures.
    pub fn get_manifest(&self, repo: &str, reference: &str) -> Option<(String, Vec<u8>, String)> {
        self.try_get_manifest(repo, reference)
            .unwrap_or_else(|e| self.fail(e))
    }

    /// HEADs a manifest: its `Docker-Content-Digest`, `None` on 404.
    pub fn head_manifest(&self, repo: &str, reference: &str) -> Option<String> {
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        let scope = repo_scope(repo, &Method::HEAD);
        let response = self.execute(
            Method::HEAD,
            &url,
            Some(&scope),
            &[(ACCEPT, MANIFEST_ACCEPT.to_string())],
            None,
        );
        match response.status().as_u16() {
            200 => Some(
                response
                    .headers()
                    .get("docker-content-digest")
                    .and_then(|v| v.to_str().ok())
                    .expect("Docker-Content-Digest on manifest HEAD")
                    .to_string(),
            ),
            404 => None,
            _ => self.fail(self.error(format!("HEAD {url}"), response)),
        }
    }

    /// DELETEs a manifest by digest; true if it existed.
    pub fn delete_manifest(&self, repo: &str, digest: &str) -> bool {
        let url = self.url(&format!("/v2/{repo}/manifests/{digest}"));
        let scope = repo_scope(repo, &Method::DELETE);
        let response = self.execute(Method::DELETE, &url, Some(&scope), &[], None);
        match response.status().as_u16() {
            202 => true,
            404 => false,
            _ => self.fail(self.error(format!("DELETE {url}"), response)),
        }
    }

    /// DELETEs a blob; true if it existed.
    pub fn delete_blob(&self, repo: &str, digest: &str) -> bool {
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"));
        let scope = repo_scope(repo, &Method::DELETE);
        let response = self.execute(Method::DELETE, &url, Some(&scope), &[], None);
        match response.status().as_u16() {
            202 => true,
            404 => false,
            _ => self.fail(self.error(format!("DELETE {url}"), response)),
        }
    }

    /// HEADs a blob in `repo`.
    pub fn blob_exists(&self, repo: &str, digest: &str) -> bool {
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"));
        let scope = repo_scope(repo, &Method::HEAD);
        let response = self.execute(Method::HEAD, &url, Some(&scope), &[], None);
        match response.status().as_u16() {
            200 => true,
            404 => false,
            _ => self.fail(self.error(format!("HEAD {url}"), response)),
        }
    }

    /// GETs a blob's raw content (not verified against `digest`).
    pub fn try_get_blob(&self, repo: &str, digest: &str) -> Result<Vec<u8>, HttpError> {
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"));
        let scope = repo_scope(repo, &Method::GET);
        let response = self.execute(Method::GET, &url, Some(&scope), &[], None);
        if response.status().as_u16() != 200 {
            return Err(self.error(format!("GET {url}"), response));
        }
        Ok(response.bytes().expect("blob body").to_vec())
    }

    /// GETs a blob and asserts its content matches `digest`. Panics if missing.
    pub fn get_blob(&self, repo: &str, digest: &str) -> Vec<u8> {
        let bytes = self
            .try_get_blob(repo, digest)
            .unwrap_or_else(|e| self.fail(e));
        let actual = super::sha256_digest(&bytes);
        assert_eq!(
            actual, digest,
            "content of blob {repo}@{digest} does not match its digest"
        );
        bytes
    }

    /// The repository's tags (as the registry lists them, i.e. sorted); empty if the repository
    /// does not exist.
    pub fn tags(&self, repo: &str) -> Vec<String> {
        let url = self.url(&format!("/v2/{repo}/tags/list"));
        let scope = repo_scope(repo, &Method::GET);
        let response = self.execute(Method::GET, &url, Some(&scope), &[], None);
        match response.status().as_u16() {
            200 => {
                let body: serde_json::Value = response.json().expect("tags json");
                body.get("tags")
                    .and_then(|t| t.as_array())
                    .map(|tags| {
                        tags.iter()
                            .filter_map(|t| t.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default()
            }
            404 => Vec::new(),
            _ => self.fail(self.error(format!("GET {url}"), response)),
        }
    }

    /// The registry's repositories (`/v2/_catalog`).
    pub fn catalog(&self) -> Vec<String> {
        let url = self.url("/v2/_catalog?n=1000");
        let response = self.execute(Method::GET, &url, Some("registry:catalog:*"), &[], None);
        if response.status().as_u16() != 200 {
            self.fail(self.error(format!("GET {url}"), response));
        }
        let body: serde_json::Value = response.json().expect("catalog json");
        body.get("repositories")
            .and_then(|t| t.as_array())
            .map(|repos| {
                repos
                    .iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether `reference` resolves in `repo` (HEAD).
    pub fn manifest_exists(&self, repo: &str, reference: &str) -> bool {
        self.head_manifest(repo, reference).is_some()
    }

    /// The manifest as JSON (panics if missing).
    pub fn manifest_json(&self, repo: &str, reference: &str) -> serde_json::Value {
        let (_, bytes, _) = self
            .get_manifest(repo, reference)
            .unwrap_or_else(|| panic!("manifest {repo}:{reference} not found"));
        serde_json::from_slice(&bytes).expect("manifest is JSON")
    }
}

/// The manifest media types the client accepts (for reference in tests).
pub const MANIFEST_TYPES: [&str; 4] = [
    OCI_INDEX,
    DOCKER_MANIFEST_LIST,
    OCI_MANIFEST,
    DOCKER_MANIFEST,
];
