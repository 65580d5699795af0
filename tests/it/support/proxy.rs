//! A reverse proxy in front of a real registry that can refuse or delay chosen requests: how the
//! tests stand in for registries in the field (SWR refusing OCI indexes, ACR refusing attestation
//! manifests, Docker Hub's 429s) while the real registry still stores what gets through.
//!
//! Bodies are buffered (test images are small). The `Host` header is passed on unchanged so the
//! registry's `Location` headers point back at the proxy.

use std::net::TcpListener as StdTcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::Router;

/// One request the proxy saw, with the status the client got.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub uri: String,
    pub content_type: Option<String>,
    /// Whether the request carried an `Authorization` header.
    pub authorization: bool,
    pub status: u16,
}

/// A canned answer that replaces the registry's.
#[derive(Clone, Debug)]
pub struct Refusal {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Refusal {
    /// A registry error envelope `{"errors":[{"code":…,"message":…}]}`.
    pub fn error(status: u16, code: &str, message: &str) -> Refusal {
        Refusal {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::json!({"errors": [{"code": code, "message": message}]}).to_string(),
        }
    }
}

/// Decides, per request (method, path and query, headers, body), whether to answer instead of the
/// registry. Called once per request, in arrival order.
pub type Rule = Box<dyn Fn(&Method, &str, &HeaderMap, &[u8]) -> Option<Refusal> + Send + Sync>;

/// Sees each request the registry answered (method, path and query, request body, status) and
/// may add headers to the answer: a feature the real registry lacks (`OCI-Subject`).
pub type After = Box<dyn Fn(&Method, &str, &[u8], u16, &mut HeaderMap) + Send + Sync>;

struct ProxyState {
    upstream: String,
    client: reqwest::Client,
    rule: Rule,
    after: Option<After>,
    seen: Mutex<Vec<Seen>>,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    /// Added before each request is passed on (a slow link).
    latency: Mutex<Duration>,
}

/// Counts a request as in flight while it lives.
struct InFlight<'a>(&'a ProxyState);

impl<'a> InFlight<'a> {
    fn enter(state: &'a ProxyState) -> InFlight<'a> {
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.most_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(state)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

pub struct Proxy {
    runtime: Option<tokio::runtime::Runtime>,
    port: u16,
    state: Arc<ProxyState>,
}

impl Proxy {
    /// Proxies to `upstream` (e.g. `http://127.0.0.1:5000`, no trailing slash).
    pub fn start(upstream: &str, rule: Rule) -> Proxy {
        Proxy::start_with(upstream, rule, None)
    }

    /// [`Proxy::start`], with `after` seeing every answer the registry gave.
    pub fn start_with(upstream: &str, rule: Rule, after: Option<After>) -> Proxy {
        let state = Arc::new(ProxyState {
            upstream: upstream.trim_end_matches('/').to_string(),
            client: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("proxy client"),
            rule,
            after,
            seen: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            most_in_flight: AtomicUsize::new(0),
            latency: Mutex::new(Duration::ZERO),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("proxy")
            .enable_all()
            .build()
            .expect("proxy runtime");
        let listener = StdTcpListener::bind("127.0.0.1:0").expect("bind proxy");
        listener.set_nonblocking(true).expect("non-blocking proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let app = Router::new().fallback(forward).with_state(state.clone());
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio proxy");
            axum::serve(listener, app).await.expect("proxy");
        });
        Proxy {
            runtime: Some(runtime),
            port,
            state,
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn reference(&self, repo: &str, tag: &str) -> String {
        format!("{}/{repo}:{tag}", self.host())
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().expect("seen").clone()
    }

    /// Hold each request this long before passing it on, from now on.
    pub fn set_latency(&self, latency: Duration) {
        *self.state.latency.lock().expect("latency") = latency;
    }

    /// The most requests that were being answered at once (since the last reset), and reset.
    pub fn take_most_in_flight(&self) -> usize {
        self.state.most_in_flight.swap(0, Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_millis(100));
        }
    }
}

async fn forward(State(state): State<Arc<ProxyState>>, req: Request) -> Response {
    let _in_flight = InFlight::enter(&state);
    let (parts, body) = req.into_parts();
    let body = to_bytes(body, usize::MAX).await.expect("request body");
    let latency = *state.latency.lock().expect("latency");
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let uri = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let content_type = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let record = |status: u16| Seen {
        method: parts.method.to_string(),
        uri: uri.clone(),
        content_type: content_type.clone(),
        authorization: parts.headers.contains_key("authorization"),
        status,
    };
    if let Some(r) = (state.rule)(&parts.method, &uri, &parts.headers, &body) {
        state.seen.lock().expect("seen").push(record(r.status));
        // A `content-length` larger than the body plays a connection that breaks mid-body:
        // the body goes out as a stream of unknown size, so the declared length stands.
        let declared = r
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok());
        let body = match declared {
            Some(n) if n > r.body.len() => {
                let bytes = axum::body::Bytes::from(r.body);
                Body::from_stream(futures::stream::once(async move {
                    Ok::<_, std::io::Error>(bytes)
                }))
            }
            _ => Body::from(r.body),
        };
        let mut resp = Response::new(body);
        *resp.status_mut() = StatusCode::from_u16(r.status).expect("status");
        for (k, v) in r.headers {
            resp.headers_mut().insert(
                HeaderName::try_from(k).expect("header name"),
                HeaderValue::try_from(v).expect("header value"),
            );
        }
        return resp;
    }
    let mut out = state
        .client
        .request(parts.method.clone(), format!("{}{uri}", state.upstream));
    for (k, v) in &parts.headers {
        if k != "content-length" && k != "transfer-encoding" && k != "connection" {
            out = out.header(k, v);
        }
    }
    let upstream = out
        .body(body.clone())
        .send()
        .await
        .expect("upstream registry");
    let status = upstream.status();
    state
        .seen
        .lock()
        .expect("seen")
        .push(record(status.as_u16()));
    let mut headers = upstream.headers().clone();
    if let Some(after) = &state.after {
        after(&parts.method, &uri, &body, status.as_u16(), &mut headers);
    }
    let bytes = upstream.bytes().await.expect("upstream body");
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = status;
    for (k, v) in &headers {
        if k != "content-length" && k != "transfer-encoding" && k != "connection" {
            resp.headers_mut().append(k, v.clone());
        }
    }
    if parts.method == Method::HEAD {
        if let Some(len) = headers.get("content-length") {
            resp.headers_mut().insert("content-length", len.clone());
        }
    }
    resp
}
