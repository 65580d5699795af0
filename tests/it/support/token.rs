//! An in-process Docker token server (the "token" auth of distribution), on a background tokio
//! runtime.
//!
//! - `GET /token?service=S&scope=repository:NAME:ACTIONS&scope=...` (scopes may repeat, and one
//!   parameter may hold several space-separated scopes), optional `Authorization: Basic`. Wrong
//!   credentials get 401; the configured user gets every requested action; anonymous callers get
//!   only `pull`. With `offline_token=true` an authenticated caller also gets a `refresh_token`.
//! - `POST /token` (form): `grant_type=password` with `username`/`password`, or
//!   `grant_type=refresh_token` with `refresh_token` (the fixed [`REFRESH_TOKEN`] stands for the
//!   configured user); `scope` holds space-separated scopes.
//!
//! Tokens are RS256 JWTs whose header carries `x5c` with a self-signed certificate that the
//! registry trusts through its `rootcertbundle`.

use std::net::TcpListener as StdTcpListener;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use rsa::pkcs8::EncodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer as _};

/// The refresh token (identity token) the token server accepts as the configured user.
pub const REFRESH_TOKEN: &str = "test-refresh-token";

/// Token lifetime announced in `expires_in` and used for `exp`.
pub const EXPIRES_IN: u64 = 300;

/// One request the token server received (admin clients mint in-process and never show up here).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// The raw query string (without `?`), empty if none.
    pub query: String,
    /// The raw `application/x-www-form-urlencoded` body of a `POST`, empty for `GET`.
    pub form: String,
    /// Whether an `Authorization: Basic` header was sent.
    pub basic_auth: bool,
    /// The authenticated user (Basic auth, password grant or refresh token); `None` when
    /// anonymous or when the credentials were wrong.
    pub user: Option<String>,
    /// Every requested scope, split on spaces, in order.
    pub scopes: Vec<String>,
    /// The `service` parameter, if any.
    pub service: Option<String>,
    /// The `grant_type` of a `POST`.
    pub grant_type: Option<String>,
    /// The HTTP status the token server answered with.
    pub status: u16,
}

/// The RSA key and certificate shared by every token server of this test process (generating a
/// 2048-bit key takes a moment, so it is done once).
struct SigningMaterial {
    key: rsa::pkcs1v15::SigningKey<sha2::Sha256>,
    cert_der: Vec<u8>,
    cert_pem: String,
}

fn signing_material() -> &'static SigningMaterial {
    static MATERIAL: OnceLock<SigningMaterial> = OnceLock::new();
    MATERIAL.get_or_init(|| {
        let mut rng = rsa::rand_core::OsRng;
        let private = rsa::RsaPrivateKey::new(&mut rng, 2048).expect("generate RSA-2048 key");
        let pkcs8 = private.to_pkcs8_der().expect("encode RSA key as PKCS#8");
        let (cert_der, cert_pem) = super::tls::self_signed_for_rsa(pkcs8.as_bytes());
        SigningMaterial {
            key: rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(private),
            cert_der,
            cert_pem,
        }
    })
}

/// Mints JWTs for one registry (`iss` = issuer, `aud` = service).
pub(crate) struct TokenIssuer {
    pub issuer: String,
    pub service: String,
}

/// One `access` entry of a token.
#[derive(Clone, Debug)]
pub(crate) struct Access {
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

/// Parses `type:name:actions` (the name may itself contain `:`, e.g. a `host:port/...`).
pub(crate) fn parse_scope(scope: &str) -> Option<Access> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    if kind.is_empty() || name.is_empty() {
        return None;
    }
    Some(Access {
        kind: kind.to_string(),
        name: name.to_string(),
        actions: actions
            .split(',')
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

impl TokenIssuer {
    pub fn new(issuer: &str, service: &str) -> TokenIssuer {
        // Force key generation now rather than in the middle of a request.
        let _ = signing_material();
        TokenIssuer {
            issuer: issuer.to_string(),
            service: service.to_string(),
        }
    }

    pub fn cert_pem(&self) -> &'static str {
        &signing_material().cert_pem
    }

    /// A signed JWT for `subject` (empty for anonymous) granting `access`.
    pub fn mint(&self, subject: &str, access: &[Access]) -> String {
        let material = signing_material();
        let header = serde_json::json!({
            "typ": "JWT",
            "alg": "RS256",
            "x5c": [base64::engine::general_purpose::STANDARD.encode(&material.cert_der)],
        });
        let now = now_secs();
        let claims = serde_json::json!({
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": now + EXPIRES_IN,
            "nbf": now.saturating_sub(10),
            "iat": now,
            "jti": format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..)),
            "access": access
                .iter()
                .map(|a| serde_json::json!({"type": a.kind, "name": a.name, "actions": a.actions}))
                .collect::<Vec<_>>(),
        });
        let signing_input = format!(
            "{}.{}",
            b64url(&serde_json::to_vec(&header).expect("header json")),
            b64url(&serde_json::to_vec(&claims).expect("claims json"))
        );
        let signature = material.key.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", b64url(&signature.to_bytes()))
    }
}

struct ServerState {
    user: String,
    password: String,
    issuer: Arc<TokenIssuer>,
    requests: Mutex<Vec<TokenRequest>>,
    /// Requests with more scopes than this are refused with 400 (some token servers cap them).
    max_scopes: std::sync::atomic::AtomicUsize,
    /// Repositories this server grants nothing on (the user has no access there).
    denied: Mutex<Vec<String>>,
}

/// The token server: an axum app on its own runtime and loopback port. Stops on drop.
pub(crate) struct TokenServer {
    runtime: Option<tokio::runtime::Runtime>,
    port: u16,
    state: Arc<ServerState>,
}

impl TokenServer {
    pub fn start(user: &str, password: &str, issuer: Arc<TokenIssuer>) -> TokenServer {
        let state = Arc::new(ServerState {
            user: user.to_string(),
            password: password.to_string(),
            issuer,
            requests: Mutex::new(Vec::new()),
            max_scopes: std::sync::atomic::AtomicUsize::new(usize::MAX),
            denied: Mutex::new(Vec::new()),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("token-server")
            .enable_all()
            .build()
            .expect("token server runtime");
        let listener = StdTcpListener::bind("127.0.0.1:0").expect("bind token server");
        listener
            .set_nonblocking(true)
            .expect("non-blocking token listener");
        let port = listener.local_addr().expect("token server addr").port();
        let app = Router::new()
            .route("/token", get(get_token).post(post_token))
            .with_state(state.clone());
        runtime.spawn(async move {
            let listener =
                tokio::net::TcpListener::from_std(listener).expect("tokio token listener");
            axum::serve(listener, app).await.expect("token server");
        });
        TokenServer {
            runtime: Some(runtime),
            port,
            state,
        }
    }

    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    pub fn requests(&self) -> Vec<TokenRequest> {
        self.state.requests.lock().expect("token requests").clone()
    }

    /// Refuse (400) token requests with more than `n` scopes from now on.
    pub fn limit_scopes(&self, n: usize) {
        self.state
            .max_scopes
            .store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// Grant nothing on `repo` from now on (the token comes back without its access).
    pub fn deny(&self, repo: &str) {
        self.state
            .denied
            .lock()
            .expect("denied")
            .push(repo.to_string());
    }

    pub fn clear_requests(&self) {
        self.state.requests.lock().expect("token requests").clear();
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_millis(100));
        }
    }
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

fn has_basic(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.len() >= 6 && v[..6].eq_ignore_ascii_case("basic "))
}

fn form_pairs(text: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(text.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn first<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn scopes_of(pairs: &[(String, String)]) -> Vec<String> {
    pairs
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').filter(|s| !s.is_empty()).map(str::to_string))
        .collect::<Vec<_>>()
}

fn grant(user: Option<&str>, scopes: &[String], denied: &[String]) -> Vec<Access> {
    scopes
        .iter()
        .filter_map(|s| parse_scope(s))
        .filter(|access| !denied.contains(&access.name))
        .filter_map(|mut access| {
            if user.is_none() {
                access
                    .actions
                    .retain(|a| a == "pull" && access.kind.starts_with("repository"));
            }
            (!access.actions.is_empty()).then_some(access)
        })
        .collect()
}

fn unauthorized(message: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [
            (header::WWW_AUTHENTICATE, "Basic realm=\"test-token\""),
            (header::CONTENT_TYPE, "application/json"),
        ],
        serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": message}]}).to_string(),
    )
        .into_response()
}

fn token_response(
    state: &ServerState,
    user: Option<&str>,
    scopes: &[String],
    refresh: bool,
) -> Response {
    let denied = state.denied.lock().expect("denied").clone();
    let token = state
        .issuer
        .mint(user.unwrap_or(""), &grant(user, scopes, &denied));
    let mut body = serde_json::json!({
        "token": token,
        "access_token": token,
        "expires_in": EXPIRES_IN,
        "issued_at": humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
    });
    if refresh && user.is_some() {
        body["refresh_token"] = serde_json::Value::from(REFRESH_TOKEN);
    }
    if !scopes.is_empty() {
        body["scope"] = serde_json::Value::from(scopes.join(" "));
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn record(state: &ServerState, request: TokenRequest) {
    state.requests.lock().expect("token requests").push(request);
}

async fn get_token(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let pairs = form_pairs(&query);
    let scopes = scopes_of(&pairs);
    let basic = has_basic(&headers);
    let too_many = scopes.len() > state.max_scopes.load(std::sync::atomic::Ordering::SeqCst);
    let (user, response) = match basic_credentials(&headers) {
        _ if too_many => (
            None,
            (StatusCode::BAD_REQUEST, "too many scopes").into_response(),
        ),
        Some((u, p)) if u == state.user && p == state.password => {
            let offline = first(&pairs, "offline_token") == Some("true");
            (
                Some(u.clone()),
                token_response(&state, Some(&u), &scopes, offline),
            )
        }
        Some(_) => (None, unauthorized("invalid username or password")),
        None if basic => (None, unauthorized("malformed basic credentials")),
        None => (None, token_response(&state, None, &scopes, false)),
    };
    record(
        &state,
        TokenRequest {
            method: Method::GET.to_string(),
            query,
            form: String::new(),
            basic_auth: basic,
            user,
            scopes,
            service: first(&pairs, "service").map(str::to_string),
            grant_type: None,
            status: response.status().as_u16(),
        },
    );
    response
}

async fn post_token(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: String,
) -> Response {
    let pairs = form_pairs(&body);
    let scopes = scopes_of(&pairs);
    let grant_type = first(&pairs, "grant_type").map(str::to_string);
    let (user, response) = match grant_type.as_deref() {
        Some("password") => {
            let ok = first(&pairs, "username") == Some(state.user.as_str())
                && first(&pairs, "password") == Some(state.password.as_str());
            if ok {
                let u = state.user.clone();
                (
                    Some(u.clone()),
                    token_response(&state, Some(&u), &scopes, true),
                )
            } else {
                (None, unauthorized("invalid username or password"))
            }
        }
        Some("refresh_token") => {
            if first(&pairs, "refresh_token") == Some(REFRESH_TOKEN) {
                let u = state.user.clone();
                (
                    Some(u.clone()),
                    token_response(&state, Some(&u), &scopes, true),
                )
            } else {
                (None, unauthorized("invalid refresh token"))
            }
        }
        other => (
            None,
            (
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "application/json")],
                serde_json::json!({
                    "error": "unsupported_grant_type",
                    "error_description": format!("unsupported grant_type {other:?}"),
                })
                .to_string(),
            )
                .into_response(),
        ),
    };
    record(
        &state,
        TokenRequest {
            method: Method::POST.to_string(),
            query: query.unwrap_or_default(),
            form: body,
            basic_auth: has_basic(&headers),
            user,
            scopes,
            service: first(&pairs, "service").map(str::to_string),
            grant_type,
            status: response.status().as_u16(),
        },
    );
    response
}
