//! A real CNCF distribution registry (`docker-registry serve`) per test, storing into its own
//! temp dir.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::client::{ClientAuth, RegistryClient};
use super::token::{TokenIssuer, TokenRequest, TokenServer};

/// How the registry authenticates clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// No authentication: anyone may push and pull.
    Anonymous,
    /// HTTP basic auth against an htpasswd file (bcrypt) holding this one user.
    Htpasswd { user: String, password: String },
    /// Docker token auth: the registry sends clients to the in-process token server, which knows
    /// this one user (full rights) and grants anonymous callers `pull` only.
    Token { user: String, password: String },
}

/// Service name the token-auth registry expects in `aud` (and announces in its challenge).
pub const TOKEN_SERVICE: &str = "test-registry";
/// Issuer the token-auth registry trusts.
pub const TOKEN_ISSUER: &str = "test-issuer";

type LogBuffer = Arc<Mutex<Vec<u8>>>;

/// A running registry. Dropping it kills the process (and stops the token server); if the
/// thread is panicking the tail of the registry's log is printed to stderr first, so failed tests
/// show it.
pub struct Registry {
    process: Process,
    port: u16,
    tls: bool,
    auth: Auth,
    ca_pem: Option<String>,
    ca_pem_path: Option<PathBuf>,
    issuer: Option<Arc<TokenIssuer>>,
    token_server: Option<TokenServer>,
    dir: tempfile::TempDir,
}

fn registry_binary() -> PathBuf {
    let default = Path::new("/usr/bin/docker-registry");
    if default.is_file() {
        return default.to_path_buf();
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("docker-registry");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!("docker-registry not found: install it with `apt-get install -y docker-registry`");
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

fn spawn_reader(mut source: impl Read + Send + 'static, log: LogBuffer) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match source.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => log
                    .lock()
                    .expect("registry log")
                    .extend_from_slice(&buf[..n]),
            }
        }
    });
}

fn log_text(log: &LogBuffer) -> String {
    String::from_utf8_lossy(&log.lock().expect("registry log")).into_owned()
}

fn yaml_str(path: &Path) -> String {
    format!("{:?}", path.to_str().expect("utf-8 temp path"))
}

fn write(path: &Path, contents: &[u8]) {
    std::fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

impl Registry {
    /// Starts a registry with the given auth, over HTTPS (a fresh test CA) when `tls`.
    /// Panics (with the registry's log) if it does not come up within ~10 s.
    pub fn start(auth: Auth, tls: bool) -> Registry {
        let binary = registry_binary();
        let dir = tempfile::Builder::new()
            .prefix("rm-registry-")
            .tempdir()
            .expect("registry temp dir");

        let mut tls_section = String::new();
        let mut ca_pem = None;
        let mut ca_pem_path = None;
        if tls {
            let certs = super::tls::server_certs();
            let ca_path = dir.path().join("ca.pem");
            let cert_path = dir.path().join("server.pem");
            let key_path = dir.path().join("server.key");
            write(&ca_path, certs.ca_pem.as_bytes());
            write(&cert_path, certs.cert_pem.as_bytes());
            write(&key_path, certs.key_pem.as_bytes());
            tls_section = format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                yaml_str(&cert_path),
                yaml_str(&key_path)
            );
            ca_pem = Some(certs.ca_pem);
            ca_pem_path = Some(ca_path);
        }

        let mut issuer = None;
        let mut token_server = None;
        let auth_section = match &auth {
            Auth::Anonymous => String::new(),
            Auth::Htpasswd { user, password } => {
                assert!(!user.contains(':'), "htpasswd user must not contain ':'");
                let hash = bcrypt::hash(password, 4).expect("bcrypt hash");
                let path = dir.path().join("htpasswd");
                write(&path, format!("{user}:{hash}\n").as_bytes());
                format!(
                    "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                    yaml_str(&path)
                )
            }
            Auth::Token { user, password } => {
                let token_issuer = Arc::new(TokenIssuer::new(TOKEN_ISSUER, TOKEN_SERVICE));
                let bundle = dir.path().join("token-root.pem");
                write(&bundle, token_issuer.cert_pem().as_bytes());
                let server = TokenServer::start(user, password, token_issuer.clone());
                let section = format!(
                    "auth:\n  token:\n    realm: {:?}\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
                    server.realm(),
                    yaml_str(&bundle)
                );
                issuer = Some(token_issuer);
                token_server = Some(server);
                section
            }
        };

        // Filesystem rather than inmemory storage: distribution 2.8's inmemory driver lists no
        // repositories in `/v2/_catalog`, and files on disk let tests damage blobs on purpose.
        let storage_dir = dir.path().join("storage");
        std::fs::create_dir_all(&storage_dir).expect("create storage dir");
        let storage = yaml_str(&storage_dir);
        let config_path = dir.path().join("config.yml");
        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let secret = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
            let config = format!(
                "version: 0.1\n\
                 log:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: false\n\
                 storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\n\
                 http:\n  addr: 127.0.0.1:{port}\n  secret: {secret}\n{tls_section}\
                 health:\n  storagedriver:\n    enabled: false\n\
                 {auth_section}"
            );
            write(&config_path, config.as_bytes());

            let mut command = Command::new(&binary);
            command
                .arg("serve")
                .arg(&config_path)
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            for (key, _) in std::env::vars_os() {
                if key.to_string_lossy().starts_with("REGISTRY_") {
                    command.env_remove(key);
                }
            }
            let child = command
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", binary.display()));
            let mut process = Process::new(child);
            let scheme = if tls { "https" } else { "http" };
            let url = format!("{scheme}://127.0.0.1:{port}/v2/");
            match wait_ready(&mut process, ca_pem.as_deref(), &url) {
                Ok(()) => {
                    return Registry {
                        process,
                        port,
                        tls,
                        auth,
                        ca_pem,
                        ca_pem_path,
                        issuer,
                        token_server,
                        dir,
                    };
                }
                Err(ReadyError::PortTaken) => {
                    last_log = log_text(&process.log);
                    // `process` is dropped (killed); try another port.
                    continue;
                }
                Err(ReadyError::Failed(why)) => {
                    let log = log_text(&process.log);
                    drop(process);
                    panic!(
                        "docker-registry did not start: {why}\nconfig:\n{}\n--- registry log ---\n{log}",
                        std::fs::read_to_string(&config_path).unwrap_or_default()
                    );
                }
            }
        }
        panic!("docker-registry could not bind a free port after 5 attempts\n--- last log ---\n{last_log}");
    }

    /// Anonymous registry over plain HTTP.
    pub fn anonymous() -> Registry {
        Registry::start(Auth::Anonymous, false)
    }

    /// htpasswd (basic auth) registry over plain HTTP.
    pub fn basic(user: &str, password: &str) -> Registry {
        Registry::start(
            Auth::Htpasswd {
                user: user.to_string(),
                password: password.to_string(),
            },
            false,
        )
    }

    /// Token-auth registry over plain HTTP, with its token server.
    pub fn token(user: &str, password: &str) -> Registry {
        Registry::start(
            Auth::Token {
                user: user.to_string(),
                password: password.to_string(),
            },
            false,
        )
    }

    /// Anonymous registry over HTTPS with a fresh test CA ([`Registry::ca_pem_path`]).
    pub fn tls() -> Registry {
        Registry::start(Auth::Anonymous, true)
    }

    /// `127.0.0.1:PORT` (also for TLS: the certificate has IP SAN 127.0.0.1 and DNS SAN
    /// localhost).
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port the registry listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.host())
    }

    /// `127.0.0.1:PORT/REPO:TAG`, an image reference into this registry.
    pub fn reference(&self, repo: &str, tag: &str) -> String {
        format!("{}/{repo}:{tag}", self.host())
    }

    /// `127.0.0.1:PORT/REPO@DIGEST`.
    pub fn reference_by_digest(&self, repo: &str, digest: &str) -> String {
        format!("{}/{repo}@{digest}", self.host())
    }

    pub fn is_tls(&self) -> bool {
        self.tls
    }

    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// `(user, password)` for htpasswd and token registries, `None` for anonymous ones.
    pub fn credentials(&self) -> Option<(String, String)> {
        match &self.auth {
            Auth::Anonymous => None,
            Auth::Htpasswd { user, password } | Auth::Token { user, password } => {
                Some((user.clone(), password.clone()))
            }
        }
    }

    /// Path of the test CA (`ca.pem`) for a TLS registry.
    pub fn ca_pem_path(&self) -> Option<PathBuf> {
        self.ca_pem_path.clone()
    }

    /// The test CA in PEM for a TLS registry.
    pub fn ca_pem(&self) -> Option<String> {
        self.ca_pem.clone()
    }

    /// The registry's temp dir (config, certificates, htpasswd). Lives as long as `self`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The registry's storage root (filesystem driver), under [`Registry::dir`].
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// Path of the `data` file holding blob `digest` (`sha256:...`) in the storage.
    pub fn blob_data_path(&self, digest: &str) -> PathBuf {
        let hex = digest
            .strip_prefix("sha256:")
            .unwrap_or_else(|| panic!("not a sha256 digest: {digest}"));
        self.storage_dir()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Overwrites the stored content of blob `digest` with `data` (same digest, wrong bytes), so
    /// the registry serves content that does not match its digest. Panics if the blob is absent.
    pub fn corrupt_blob(&self, digest: &str, data: &[u8]) {
        let path = self.blob_data_path(digest);
        assert!(
            path.is_file(),
            "blob {digest} is not stored at {}",
            path.display()
        );
        write(&path, data);
    }

    /// The token server's realm URL (`http://127.0.0.1:PORT/token`) for a token registry.
    pub fn token_realm(&self) -> Option<String> {
        self.token_server.as_ref().map(TokenServer::realm)
    }

    /// An admin client with full push/pull/delete rights (basic auth for htpasswd; for token
    /// registries it mints tokens in-process, so it never shows up in [`Registry::token_requests`]).
    pub fn client(&self) -> RegistryClient {
        let auth = match (&self.auth, &self.issuer) {
            (Auth::Anonymous, _) => ClientAuth::Anonymous,
            (Auth::Htpasswd { user, password }, _) => ClientAuth::Basic {
                user: user.clone(),
                password: password.clone(),
            },
            (Auth::Token { user, .. }, Some(issuer)) => ClientAuth::Minted {
                subject: user.clone(),
                issuer: issuer.clone(),
            },
            (Auth::Token { .. }, None) => unreachable!("token registry without issuer"),
        };
        self.client_with(auth)
    }

    /// A client that behaves like an ordinary registry client: it answers the registry's
    /// `WWW-Authenticate` challenges (Basic, or Bearer through the token server over HTTP) with
    /// `credentials`, or anonymously when `None`. Its token requests are recorded.
    pub fn client_as(&self, credentials: Option<(&str, &str)>) -> RegistryClient {
        self.client_with(ClientAuth::Challenge {
            credentials: credentials.map(|(u, p)| (u.to_string(), p.to_string())),
        })
    }

    fn client_with(&self, auth: ClientAuth) -> RegistryClient {
        let http = http_builder(self.ca_pem.as_deref(), Duration::from_secs(60))
            .build()
            .expect("build registry client");
        RegistryClient::new(http, self.base_url(), auth, Some(self.process.log.clone()))
    }

    /// Every request the token server has received so far (empty unless token auth).
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.token_server
            .as_ref()
            .map(TokenServer::requests)
            .unwrap_or_default()
    }

    /// The token server refuses (400) requests with more than `n` scopes from now on.
    pub fn limit_token_scopes(&self, n: usize) {
        if let Some(server) = &self.token_server {
            server.limit_scopes(n);
        }
    }

    /// The token server grants nothing on `repo` from now on.
    pub fn deny_repository(&self, repo: &str) {
        if let Some(server) = &self.token_server {
            server.deny(repo);
        }
    }

    /// Forgets the recorded token requests.
    pub fn clear_token_requests(&self) {
        if let Some(server) = &self.token_server {
            server.clear_requests();
        }
    }

    /// The registry's stdout and stderr so far (it logs every request, plus an access log).
    pub fn log(&self) -> String {
        log_text(&self.process.log)
    }

    /// The requests of the access log after the first `skip` lines of [`Registry::log`], as
    /// `METHOD PATH?QUERY`.
    pub fn requests_after(&self, skip: usize) -> Vec<String> {
        self.log()
            .lines()
            .skip(skip)
            .filter_map(|l| l.split('"').nth(1))
            .filter_map(|r| r.strip_suffix(" HTTP/1.1"))
            .map(str::to_string)
            .collect()
    }
}

enum ReadyError {
    PortTaken,
    Failed(String),
}

impl Drop for Registry {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Stop it first so the log is complete.
            self.process.kill();
            eprintln!(
                "--- docker-registry log ({}) ---\n{}\n--- end of registry log ---",
                self.base_url(),
                super::tail(&self.log(), 40)
            );
        }
    }
}

/// The child process and its captured output; killed on drop.
struct Process {
    child: Child,
    log: LogBuffer,
}

impl Process {
    fn new(mut child: Child) -> Process {
        let log: LogBuffer = Arc::new(Mutex::new(Vec::new()));
        spawn_reader(child.stdout.take().expect("child stdout"), log.clone());
        spawn_reader(child.stderr.take().expect("child stderr"), log.clone());
        Process { child, log }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A reqwest builder that trusts only `ca_pem` when given (else the built-in roots) and ignores
/// proxies.
pub(crate) fn http_builder(
    ca_pem: Option<&str>,
    timeout: Duration,
) -> reqwest::blocking::ClientBuilder {
    let mut builder = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(2));
    if let Some(pem) = ca_pem {
        let cert = reqwest::Certificate::from_pem(pem.as_bytes()).expect("parse test CA");
        builder = builder
            .tls_built_in_root_certs(false)
            .add_root_certificate(cert);
    }
    builder
}

/// Waits until the registry has logged that it listens and `GET /v2/` answers 200 or 401. (The
/// log line makes sure we talk to our process, not to someone who grabbed the port meanwhile.)
fn wait_ready(process: &mut Process, ca_pem: Option<&str>, url: &str) -> Result<(), ReadyError> {
    let client = http_builder(ca_pem, Duration::from_secs(2))
        .build()
        .map_err(|e| ReadyError::Failed(format!("readiness client: {e}")))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(status)) = process.child.try_wait() {
            // Let the reader threads collect the last words.
            std::thread::sleep(Duration::from_millis(50));
            if log_text(&process.log).contains("address already in use") {
                return Err(ReadyError::PortTaken);
            }
            return Err(ReadyError::Failed(format!("the process exited ({status})")));
        }
        if log_text(&process.log).contains("listening on") {
            if let Ok(response) = client.get(url).send() {
                let status = response.status().as_u16();
                if status == 200 || status == 401 {
                    return Ok(());
                }
                return Err(ReadyError::Failed(format!("GET /v2/ answered {status}")));
            }
        }
        if Instant::now() > deadline {
            return Err(ReadyError::Failed("not ready after 10 s".to_string()));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
