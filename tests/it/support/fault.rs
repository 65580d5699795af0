//! A fault-injection proxy in front of a real registry: it plays the network between a client
//! and a registry in the field, the one that cuts bodies, flips bytes, stalls, loses answers to
//! writes that did happen, and lets registries answer 5xx or 429 now and then.
//!
//! It is written on raw tokio TCP with a minimal HTTP/1.1 server, so that it can cut, stall and
//! drop connections precisely (hyper cannot close without answering). Each request (request
//! line, headers, a `Content-Length` or `Transfer-Encoding: chunked` body; `Expect:
//! 100-continue` is answered) is forwarded to the upstream registry with reqwest: no redirects
//! followed, hop-by-hop headers dropped, `Host` passed on unchanged so the registry's `Location`
//! headers point back at the proxy. The answer is buffered and written back with its real
//! `Content-Length`, or a fault instead. Connections are kept alive (`Connection: close` and
//! HTTP/1.0 are honoured); after a fault that breaks a connection it is closed.
//!
//! Token auth: a `WWW-Authenticate: Bearer realm="http://127.0.0.1:PORT/PATH"` from the upstream
//! is rewritten to `realm="http://PROXY/__token/PORT/PATH"`, and requests there are forwarded
//! to `http://127.0.0.1:PORT/PATH` (query kept) and classified as [`Kind::Token`], so token reads
//! can be faulted too.
//!
//! Every request is classified into a [`Kind`] from its method and path (the repository name
//! may have any number of components): `GET`/`HEAD /v2/` is `Ping`; `.../manifests/REF` is
//! `ManifestHead`, `ManifestGet` or `ManifestPut`; `.../blobs/DIGEST` is `BlobHead`, or for a
//! `GET` `SmallBlobGet` when the blob is at most [`SMALL_BLOB`] bytes (the total of a `206`'s
//! `Content-Range`, else the answer's `Content-Length`) and `BlobGet` otherwise, which is why blob
//! `GET`s always reach the registry, even when they are then answered with a fault; `POST
//! .../blobs/uploads/` is `UploadStart`, or `Mount` with `mount=` in the query; a session
//! `.../blobs/uploads/ID` is `UploadPatch` (`PATCH`), `UploadPut` (`PUT`), `UploadStatus` (`GET`)
//! or `UploadDelete` (`DELETE`); `.../tags/list` is `TagList`, `/v2/_catalog` `Catalog`,
//! `.../referrers/DIGEST` `Referrers`; anything else (deletes of manifests and blobs, ...) is
//! `Other`.
//!
//! Fault classes ([`Fault`]), as they go out on the wire:
//! - `Status(code)`: that status with a registry error envelope
//!   `{"errors":[{"code":…,"message":…}]}` (no body on `HEAD`); the request never reaches the
//!   registry (except blob `GET`s, see above); the connection stays usable.
//! - `TooMany { retry_after }`: the same with 429 `TOOMANYREQUESTS` and `Retry-After` in seconds
//!   or as an HTTP date ([`RetryAfter`]), or none.
//! - `Cut`: the registry's status and headers with the real `Content-Length`, the first half of
//!   the body, then the connection is closed.
//! - `Corrupt`: the whole answer with the same `Content-Length`, up to three body bytes inverted
//!   (at a quarter, half and three quarters of it); the connection stays usable.
//! - `Stall`: status, headers and the first half of the body, then nothing more; the connection is
//!   held open until the client closes it or the proxy is dropped.
//! - `StallBeforeAnswer`: the request is read (and not forwarded), then nothing is ever sent.
//! - `LoseAnswer`: the request is forwarded and the registry's answer read in full (so a write
//!   did happen), then the connection is closed without a single byte of answer.
//!
//! Body faults act on whatever body the registry sent, an error body too; on an answer without a
//! body (`HEAD`, 204) `Cut` and `Stall` send the head only and `Corrupt` has nothing to change.
//!
//! Plans ([`FaultPlan`]) say which requests get which fault: a table ("the Nth request of kind
//! K", "the first N", "every one": [`FaultPlan::endless`]) and/or seeded chaos
//! ([`FaultPlan::seeded`]: each request has a chance to get one of the given faults that fits its
//! kind, at most `budget` in all). Decisions are taken in the order the proxy classifies
//! requests, so the same seed over the same sequence of requests injects the same faults (with
//! concurrent clients the order, and so the outcome, may vary). [`FaultProxy::injected`] lists
//! what was injected and [`FaultProxy::seen`] every request with the status sent. Stalled
//! connections never hold up other connections, and dropping the proxy ends them all at once.
//!
//! Requests the proxy cannot forward (upstream unreachable) get a 502 envelope that is recorded
//! in `seen` but is not an injected fault.

use std::collections::{BTreeSet, HashMap};
use std::net::TcpListener as StdTcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::{Buf as _, Bytes, BytesMut};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::registry::Registry;

/// Blob `GET`s of at most this many bytes are [`Kind::SmallBlobGet`] (configs, small layers).
pub const SMALL_BLOB: u64 = 1 << 20;

/// Path prefix under which the proxy serves rewritten token realms: `/__token/PORT/PATH`.
pub const TOKEN_PREFIX: &str = "/__token/";

/// Largest request head (request line and headers) the proxy reads.
const MAX_HEAD: usize = 64 * 1024;

/// What a request is, from its method and path (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `GET`/`HEAD /v2/`.
    Ping,
    ManifestHead,
    /// By tag or digest.
    ManifestGet,
    ManifestPut,
    BlobHead,
    /// A blob `GET` of at most [`SMALL_BLOB`] bytes.
    SmallBlobGet,
    /// A larger blob `GET`.
    BlobGet,
    /// `POST .../blobs/uploads/` without `mount=`.
    UploadStart,
    /// `POST .../blobs/uploads/?mount=…`.
    Mount,
    UploadPatch,
    /// The `PUT …?digest=` that closes an upload session.
    UploadPut,
    /// `GET` on an upload session.
    UploadStatus,
    UploadDelete,
    TagList,
    Catalog,
    /// A request to a rewritten token realm.
    Token,
    /// `GET .../referrers/DIGEST`.
    Referrers,
    /// Anything else (manifest and blob deletes, unknown paths).
    Other,
}

impl Kind {
    /// Whether the client reads a body from the answer (where `Cut`, `Corrupt` and `Stall`
    /// make sense).
    pub fn has_body(self) -> bool {
        matches!(
            self,
            Kind::ManifestGet
                | Kind::SmallBlobGet
                | Kind::BlobGet
                | Kind::TagList
                | Kind::Catalog
                | Kind::Token
                | Kind::Referrers
        )
    }

    /// Whether the request changes the registry (where `LoseAnswer` makes sense).
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Kind::ManifestPut
                | Kind::UploadStart
                | Kind::Mount
                | Kind::UploadPatch
                | Kind::UploadPut
                | Kind::UploadDelete
        )
    }
}

/// The `Retry-After` of a 429.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetryAfter {
    /// `Retry-After: N` (delay-seconds).
    Seconds(u64),
    /// `Retry-After: <HTTP date>` N seconds after the answer is sent (the format drops the
    /// fraction of the second, so the wait may be up to a second shorter).
    DateIn(u64),
    /// `Retry-After: <HTTP date>` of this moment.
    Date(SystemTime),
}

impl RetryAfter {
    fn header_value(&self) -> String {
        match self {
            RetryAfter::Seconds(n) => n.to_string(),
            RetryAfter::DateIn(n) => {
                httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(*n))
            }
            RetryAfter::Date(at) => httpdate::fmt_http_date(*at),
        }
    }
}

/// A fault the proxy puts in place of (or into) the registry's answer (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// This status with a registry error envelope; the request is not forwarded.
    Status(u16),
    /// 429 with an optional `Retry-After`; the request is not forwarded.
    TooMany { retry_after: Option<RetryAfter> },
    /// Status, headers (real `Content-Length`), half the body, close.
    Cut,
    /// The full-length body with some bytes inverted.
    Corrupt,
    /// Status, headers and half the body, then silence with the connection open.
    Stall,
    /// The request is read, never forwarded, never answered; the connection stays open.
    StallBeforeAnswer,
    /// The request is forwarded (the write happens), then the connection is closed unanswered.
    LoseAnswer,
}

impl Fault {
    /// Whether the seeded plan may give this fault to a request of `kind`: `Cut`, `Corrupt` and
    /// `Stall` only where the answer has a body, `LoseAnswer` only on writes, the others anywhere.
    /// (Table rules apply their fault to whatever kind they name.)
    pub fn fits(&self, kind: Kind) -> bool {
        match self {
            Fault::Cut | Fault::Corrupt | Fault::Stall => kind.has_body(),
            Fault::LoseAnswer => kind.is_write(),
            Fault::Status(_) | Fault::TooMany { .. } | Fault::StallBeforeAnswer => true,
        }
    }

    /// Whether the registry must answer before the fault can be played.
    fn forwards(&self) -> bool {
        matches!(
            self,
            Fault::Cut | Fault::Corrupt | Fault::Stall | Fault::LoseAnswer
        )
    }
}

/// A fault the proxy injected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Injected {
    pub kind: Kind,
    pub fault: Fault,
    pub method: String,
    /// Path and query, as in the request line.
    pub uri: String,
}

/// One request the proxy saw, with the status it sent (`None` when it sent no answer: a lost
/// answer or a stall before the answer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub kind: Kind,
    pub method: String,
    /// Path and query, as in the request line.
    pub uri: String,
    pub status_sent: Option<u16>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    Nth(usize),
    First(usize),
    Always,
}

#[derive(Clone, Debug)]
struct TableRule {
    kind: Kind,
    which: Which,
    fault: Fault,
}

#[derive(Clone, Debug)]
struct Chaos {
    seed: u64,
    faults: Vec<Fault>,
    budget: usize,
    rate: f64,
    kinds: Option<Vec<Kind>>,
}

/// Which requests get which fault. Table rules are checked first, in the order they were
/// added (the first that matches wins); then the seeded chaos, if any, rolls its dice.
#[derive(Clone, Debug, Default)]
pub struct FaultPlan {
    rules: Vec<TableRule>,
    chaos: Option<Chaos>,
}

impl FaultPlan {
    /// No faults: a plain pass-through proxy.
    pub fn none() -> FaultPlan {
        FaultPlan::default()
    }

    /// The `n`th request (counting from 1) of `kind` gets `fault`.
    pub fn nth(mut self, kind: Kind, n: usize, fault: Fault) -> FaultPlan {
        assert!(n >= 1, "requests are counted from 1");
        self.rules.push(TableRule {
            kind,
            which: Which::Nth(n),
            fault,
        });
        self
    }

    /// The first `n` requests of `kind` get `fault`.
    pub fn first(mut self, kind: Kind, n: usize, fault: Fault) -> FaultPlan {
        self.rules.push(TableRule {
            kind,
            which: Which::First(n),
            fault,
        });
        self
    }

    /// Every request of `kind` gets `fault`.
    pub fn always(mut self, kind: Kind, fault: Fault) -> FaultPlan {
        self.rules.push(TableRule {
            kind,
            which: Which::Always,
            fault,
        });
        self
    }

    /// Every request of `kind` gets `fault`, forever (to test giving up).
    pub fn endless(kind: Kind, fault: Fault) -> FaultPlan {
        FaultPlan::none().always(kind, fault)
    }

    /// Bounded seeded chaos: with a PRNG seeded by `seed`, each request gets, with probability
    /// [`FaultPlan::rate`] (default 1/4), one of the `faults` that [`Fault::fits`] its kind
    /// (picked at random), until `budget` faults have been injected. Each request draws the same
    /// amount of randomness whatever happens, so its fate depends only on the seed, its position
    /// in the sequence, its kind and the budget left.
    pub fn seeded(seed: u64, faults: &[Fault], budget: usize) -> FaultPlan {
        FaultPlan {
            rules: Vec::new(),
            chaos: Some(Chaos {
                seed,
                faults: faults.to_vec(),
                budget,
                rate: 0.25,
                kinds: None,
            }),
        }
    }

    /// The probability (0 to 1) that a request gets a seeded fault. Panics unless the plan
    /// comes from [`FaultPlan::seeded`].
    pub fn rate(mut self, probability: f64) -> FaultPlan {
        assert!((0.0..=1.0).contains(&probability), "rate {probability}");
        self.chaos
            .as_mut()
            .expect("rate() needs a seeded plan")
            .rate = probability;
        self
    }

    /// Restricts the seeded faults to requests of these kinds (the others still roll the dice,
    /// so the sequence stays aligned). Panics unless the plan comes from [`FaultPlan::seeded`].
    pub fn only(mut self, kinds: &[Kind]) -> FaultPlan {
        self.chaos
            .as_mut()
            .expect("only() needs a seeded plan")
            .kinds = Some(kinds.to_vec());
        self
    }
}

/// A plan being played: how many requests of each kind came, the dice, the budget left.
struct PlanState {
    plan: FaultPlan,
    counts: HashMap<Kind, usize>,
    rng: fastrand::Rng,
    left: usize,
}

impl PlanState {
    fn new(plan: FaultPlan) -> PlanState {
        let (seed, left) = plan
            .chaos
            .as_ref()
            .map_or((0, 0), |chaos| (chaos.seed, chaos.budget));
        PlanState {
            plan,
            counts: HashMap::new(),
            rng: fastrand::Rng::with_seed(seed),
            left,
        }
    }

    fn decide(&mut self, kind: Kind) -> Option<Fault> {
        let count = self.counts.entry(kind).or_insert(0);
        *count += 1;
        let n = *count;
        let table = self
            .plan
            .rules
            .iter()
            .find(|rule| {
                rule.kind == kind
                    && match rule.which {
                        Which::Nth(k) => n == k,
                        Which::First(k) => n <= k,
                        Which::Always => true,
                    }
            })
            .map(|rule| rule.fault.clone());
        let Some(chaos) = self.plan.chaos.as_ref() else {
            return table;
        };
        // Always two draws, so later requests see the same dice whatever happened here.
        let roll = self.rng.f64();
        let pick = self.rng.u64(..);
        if table.is_some() {
            return table;
        }
        if self.left == 0 || roll >= chaos.rate {
            return None;
        }
        if chaos
            .kinds
            .as_ref()
            .is_some_and(|kinds| !kinds.contains(&kind))
        {
            return None;
        }
        let fitting: Vec<&Fault> = chaos.faults.iter().filter(|f| f.fits(kind)).collect();
        if fitting.is_empty() {
            return None;
        }
        self.left -= 1;
        Some(fitting[(pick % fitting.len() as u64) as usize].clone())
    }
}

struct State {
    upstream: String,
    proxy_host: String,
    client: reqwest::Client,
    plan: Mutex<PlanState>,
    injected: Mutex<Vec<Injected>>,
    seen: Mutex<Vec<Seen>>,
    connections: AtomicUsize,
}

/// The running proxy, on its own tokio runtime and loopback port. Dropping it closes every
/// connection, stalled ones too, within a fraction of a second.
pub struct FaultProxy {
    runtime: Option<tokio::runtime::Runtime>,
    port: u16,
    state: Arc<State>,
}

impl FaultProxy {
    /// Proxies to `upstream` (`http://127.0.0.1:PORT`, no trailing slash) following `plan`.
    pub fn start(upstream: &str, plan: FaultPlan) -> FaultProxy {
        FaultProxy::start_with_ca(upstream, None, plan)
    }

    /// Proxies to `registry` (trusting its test CA when it is a TLS registry; the proxy itself
    /// speaks plain HTTP).
    pub fn over(registry: &Registry, plan: FaultPlan) -> FaultProxy {
        FaultProxy::start_with_ca(&registry.base_url(), registry.ca_pem().as_deref(), plan)
    }

    fn start_with_ca(upstream: &str, ca_pem: Option<&str>, plan: FaultPlan) -> FaultProxy {
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(120));
        if let Some(pem) = ca_pem {
            builder = builder
                .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).expect("CA"));
        }
        let client = builder.build().expect("fault proxy client");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("fault-proxy")
            .enable_all()
            .build()
            .expect("fault proxy runtime");
        let listener = StdTcpListener::bind("127.0.0.1:0").expect("bind fault proxy");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("fault proxy addr").port();
        let state = Arc::new(State {
            upstream: upstream.trim_end_matches('/').to_string(),
            proxy_host: format!("127.0.0.1:{port}"),
            client,
            plan: Mutex::new(PlanState::new(plan)),
            injected: Mutex::new(Vec::new()),
            seen: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
        });
        let accepting = state.clone();
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                accepting.connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(connection(stream, accepting.clone()));
            }
        });
        FaultProxy {
            runtime: Some(runtime),
            port,
            state,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.state.proxy_host.clone()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// `127.0.0.1:PORT/REPO:TAG`, an image reference through the proxy.
    pub fn reference(&self, repo: &str, tag: &str) -> String {
        format!("{}/{repo}:{tag}", self.host())
    }

    /// Every fault injected so far, in order.
    pub fn injected(&self) -> Vec<Injected> {
        self.state.injected.lock().expect("injected").clone()
    }

    /// Every request seen so far, in the order they were answered (or not).
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().expect("seen").clone()
    }

    /// How many client connections the proxy has accepted.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Replaces the plan (counts, dice and budget start afresh); the records are kept.
    pub fn set_plan(&self, plan: FaultPlan) {
        *self.state.plan.lock().expect("plan") = PlanState::new(plan);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_millis(100));
        }
    }
}

/// One request as read from the client.
struct Request {
    method: String,
    /// Path and query, as in the request line.
    target: String,
    /// `(name, value)` in order, names as sent.
    headers: Vec<(String, Vec<u8>)>,
    /// `None` when the request had no body framing at all.
    body: Option<Bytes>,
    close: bool,
}

impl Request {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    fn is_head(&self) -> bool {
        self.method == "HEAD"
    }
}

/// The answer to write: status, headers (with the `Content-Length` to announce) and the body
/// to send when the answer is complete.
struct Answer {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: Bytes,
}

impl Answer {
    fn head(&self, close: bool) -> Vec<u8> {
        let reason = reqwest::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Unknown");
        let mut out = format!("HTTP/1.1 {} {reason}\r\n", self.status).into_bytes();
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        if close {
            out.extend_from_slice(b"connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    /// A registry error envelope (no body on `HEAD`, the length announced all the same).
    fn envelope(status: u16, kind: Kind, head: bool, extra: Vec<(String, Vec<u8>)>) -> Answer {
        let code = match (status, kind) {
            (401, _) => "UNAUTHORIZED",
            (403, _) => "DENIED",
            (404, Kind::ManifestHead | Kind::ManifestGet | Kind::ManifestPut) => "MANIFEST_UNKNOWN",
            (404, Kind::BlobHead | Kind::SmallBlobGet | Kind::BlobGet) => "BLOB_UNKNOWN",
            (
                404,
                Kind::UploadPatch | Kind::UploadPut | Kind::UploadStatus | Kind::UploadDelete,
            ) => "BLOB_UPLOAD_UNKNOWN",
            (404, _) => "NAME_UNKNOWN",
            (405, _) => "UNSUPPORTED",
            (429, _) => "TOOMANYREQUESTS",
            (503, _) => "UNAVAILABLE",
            _ => "UNKNOWN",
        };
        let body = serde_json::json!({"errors": [{
            "code": code,
            "message": format!("injected by the fault proxy: HTTP {status}"),
        }]})
        .to_string();
        let mut headers = vec![
            ("content-type".to_string(), b"application/json".to_vec()),
            (
                "content-length".to_string(),
                body.len().to_string().into_bytes(),
            ),
        ];
        headers.extend(extra);
        Answer {
            status,
            headers,
            body: if head {
                Bytes::new()
            } else {
                Bytes::from(body)
            },
        }
    }

    fn bad_gateway(why: &str) -> Answer {
        let body = serde_json::json!({"errors": [{"code": "UNKNOWN", "message": why}]}).to_string();
        Answer {
            status: 502,
            headers: vec![
                ("content-type".to_string(), b"application/json".to_vec()),
                (
                    "content-length".to_string(),
                    body.len().to_string().into_bytes(),
                ),
            ],
            body: Bytes::from(body),
        }
    }
}

/// The registry's answer, headers read, body not yet.
struct Upstream {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    response: reqwest::Response,
}

impl Upstream {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// The blob's size: the total of a `Content-Range`, else the `Content-Length`.
    fn blob_size(&self) -> Option<u64> {
        self.header("content-range")
            .and_then(|range| range.rsplit_once('/'))
            .and_then(|(_, total)| total.trim().parse().ok())
            .or_else(|| {
                self.header("content-length")
                    .and_then(|n| n.trim().parse().ok())
            })
    }

    /// Reads the body and makes the answer to send on (`head`: the request was a `HEAD`).
    async fn answer(self, head: bool) -> Result<Answer, String> {
        let bodyless = head || self.status < 200 || self.status == 204 || self.status == 304;
        let body = self
            .response
            .bytes()
            .await
            .map_err(|e| format!("upstream body: {e}"))?;
        let mut headers = self.headers;
        if bodyless {
            // A HEAD announces the length of the body it does not carry: pass it on.
            return Ok(Answer {
                status: self.status,
                headers,
                body: Bytes::new(),
            });
        }
        headers.retain(|(k, _)| !k.eq_ignore_ascii_case("content-length"));
        headers.push((
            "content-length".to_string(),
            body.len().to_string().into_bytes(),
        ));
        Ok(Answer {
            status: self.status,
            headers,
            body,
        })
    }
}

fn hop_by_hop(name: &str) -> bool {
    [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

/// Points a Bearer realm on a loopback HTTP token server at the proxy's `/__token/PORT/...`.
fn rewrite_challenge(value: &[u8], proxy_host: &str) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(value) else {
        return value.to_vec();
    };
    let Some(at) = text.to_ascii_lowercase().find("realm=\"") else {
        return value.to_vec();
    };
    let start = at + "realm=\"".len();
    let Some(len) = text[start..].find('"') else {
        return value.to_vec();
    };
    let Ok(realm) = url::Url::parse(&text[start..start + len]) else {
        return value.to_vec();
    };
    let loopback = matches!(realm.host_str(), Some("127.0.0.1" | "localhost"));
    let Some(port) = realm.port_or_known_default() else {
        return value.to_vec();
    };
    if realm.scheme() != "http" || !loopback {
        return value.to_vec();
    }
    let mut new = format!("http://{proxy_host}{TOKEN_PREFIX}{port}{}", realm.path());
    if let Some(query) = realm.query() {
        new.push('?');
        new.push_str(query);
    }
    format!("{}{new}{}", &text[..start], &text[start + len..]).into_bytes()
}

/// The URL to forward a request to: the token server for `/__token/PORT/...`, else the registry.
fn upstream_url(state: &State, target: &str) -> String {
    if let Some(rest) = target.strip_prefix(TOKEN_PREFIX) {
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (port, path) = rest.split_at(end);
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        return format!("http://127.0.0.1:{port}{path}");
    }
    format!("{}{target}", state.upstream)
}

/// Classifies a request from its method and request target (see the module docs). Blob `GET`s
/// come out as `BlobGet` and are told apart by size once the registry has answered.
fn classify(method: &str, target: &str) -> Kind {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path.starts_with(TOKEN_PREFIX) {
        return Kind::Token;
    }
    if path == "/v2/" || path == "/v2" {
        return match method {
            "GET" | "HEAD" => Kind::Ping,
            _ => Kind::Other,
        };
    }
    if path == "/v2/_catalog" {
        return if method == "GET" {
            Kind::Catalog
        } else {
            Kind::Other
        };
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return Kind::Other;
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let n = segments.len();
    // At least one repository component before the resource.
    if n < 3 {
        return Kind::Other;
    }
    let (third, second, last) = (segments[n - 3], segments[n - 2], segments[n - 1]);
    let mount = url::form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "mount");
    let start = |method: &str| match method {
        "POST" if mount => Kind::Mount,
        "POST" => Kind::UploadStart,
        _ => Kind::Other,
    };
    if third == "blobs" && second == "uploads" && n >= 4 {
        if last.is_empty() {
            return start(method);
        }
        return match method {
            "PATCH" => Kind::UploadPatch,
            "PUT" => Kind::UploadPut,
            "GET" => Kind::UploadStatus,
            "DELETE" => Kind::UploadDelete,
            _ => Kind::Other,
        };
    }
    match (second, last, method) {
        ("blobs", "uploads", _) => start(method),
        ("manifests", _, "HEAD") => Kind::ManifestHead,
        ("manifests", _, "GET") => Kind::ManifestGet,
        ("manifests", _, "PUT") => Kind::ManifestPut,
        ("blobs", _, "HEAD") => Kind::BlobHead,
        ("blobs", _, "GET") => Kind::BlobGet,
        ("tags", "list", "GET") => Kind::TagList,
        ("referrers", _, "GET") => Kind::Referrers,
        _ => Kind::Other,
    }
}

/// A client connection with what has been read from it but not yet used.
struct Conn {
    stream: TcpStream,
    buf: BytesMut,
}

impl Conn {
    /// Reads more; `false` at the end of the stream.
    async fn more(&mut self) -> std::io::Result<bool> {
        Ok(self.stream.read_buf(&mut self.buf).await? > 0)
    }

    async fn fill(&mut self, n: usize) -> std::io::Result<()> {
        while self.buf.len() < n {
            if !self.more().await? {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(())
    }

    /// One CRLF-terminated line, without the CRLF.
    async fn line(&mut self) -> std::io::Result<Vec<u8>> {
        loop {
            if let Some(at) = find(&self.buf, b"\r\n") {
                let line = self.buf.split_to(at).to_vec();
                self.buf.advance(2);
                return Ok(line);
            }
            if self.buf.len() > MAX_HEAD {
                return Err(std::io::ErrorKind::InvalidData.into());
            }
            if !self.more().await? {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// The next request, `None` when the client closed the connection between requests.
    async fn request(&mut self) -> std::io::Result<Option<Request>> {
        let end = loop {
            if let Some(at) = find(&self.buf, b"\r\n\r\n") {
                break at;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(std::io::ErrorKind::InvalidData.into());
            }
            if !self.more().await? {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        };
        let head = self.buf.split_to(end + 4);
        let text = String::from_utf8_lossy(&head[..end]).into_owned();
        let mut lines = text.split("\r\n");
        let request_line = lines.next().unwrap_or_default();
        let mut parts = request_line.split(' ');
        let (Some(method), Some(target), Some(version)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(std::io::ErrorKind::InvalidData.into());
        };
        let headers: Vec<(String, Vec<u8>)> = head[..end]
            .split(|b| *b == b'\n')
            .skip(1)
            .filter_map(|line| {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let colon = line.iter().position(|b| *b == b':')?;
                let name = String::from_utf8_lossy(&line[..colon]).trim().to_string();
                Some((name, line[colon + 1..].trim_ascii().to_vec()))
            })
            .collect();
        let mut request = Request {
            method: method.to_string(),
            target: target.to_string(),
            headers,
            body: None,
            close: false,
        };
        let connection = request
            .header("connection")
            .map(|v| String::from_utf8_lossy(v).to_ascii_lowercase())
            .unwrap_or_default();
        request.close = if version == "HTTP/1.0" {
            !connection.contains("keep-alive")
        } else {
            connection.contains("close")
        };
        let chunked = request.header("transfer-encoding").is_some_and(|v| {
            String::from_utf8_lossy(v)
                .to_ascii_lowercase()
                .contains("chunked")
        });
        let length = request
            .header("content-length")
            .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse::<usize>().ok());
        if (chunked || length.is_some_and(|n| n > 0))
            && request
                .header("expect")
                .is_some_and(|v| v.eq_ignore_ascii_case(b"100-continue"))
        {
            self.stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await?;
        }
        if chunked {
            let mut body = Vec::new();
            loop {
                let line = self.line().await?;
                let size = String::from_utf8_lossy(&line);
                let size = size.split(';').next().unwrap_or_default().trim();
                let size = usize::from_str_radix(size, 16)
                    .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidData))?;
                if size == 0 {
                    // Trailers, up to the empty line.
                    while !self.line().await?.is_empty() {}
                    break;
                }
                self.fill(size + 2).await?;
                body.extend_from_slice(&self.buf[..size]);
                self.buf.advance(size + 2);
            }
            request.body = Some(Bytes::from(body));
        } else if let Some(n) = length {
            self.fill(n).await?;
            request.body = Some(self.buf.split_to(n).freeze());
        }
        Ok(Some(request))
    }

    async fn send(&mut self, answer: &Answer, body: &[u8], close: bool) -> std::io::Result<()> {
        self.stream.write_all(&answer.head(close)).await?;
        self.stream.write_all(body).await?;
        self.stream.flush().await
    }

    /// Holds the connection open and silent until the client closes it (or the runtime is shut
    /// down), throwing away whatever it still sends.
    async fn stall(&mut self) {
        let mut sink = [0u8; 8192];
        while let Ok(n) = self.stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    }

    async fn close(&mut self) {
        let _ = self.stream.shutdown().await;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// What to do with the connection after an exchange.
enum Next {
    KeepAlive,
    Close,
    Stall,
}

async fn connection(stream: TcpStream, state: Arc<State>) {
    let _ = stream.set_nodelay(true);
    let mut conn = Conn {
        stream,
        buf: BytesMut::with_capacity(16 * 1024),
    };
    loop {
        let request = match conn.request().await {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(_) => {
                conn.close().await;
                return;
            }
        };
        match exchange(&state, &mut conn, request).await {
            Next::KeepAlive => continue,
            Next::Close => {
                conn.close().await;
                return;
            }
            Next::Stall => {
                conn.stall().await;
                return;
            }
        }
    }
}

async fn forward(state: &State, request: &Request, kind: Kind) -> Result<Upstream, String> {
    let method = reqwest::Method::from_bytes(request.method.as_bytes())
        .map_err(|e| format!("method {}: {e}", request.method))?;
    let mut out = state
        .client
        .request(method, upstream_url(state, &request.target));
    for (name, value) in &request.headers {
        if hop_by_hop(name)
            || name.eq_ignore_ascii_case("content-length")
            || (kind == Kind::Token && name.eq_ignore_ascii_case("host"))
        {
            continue;
        }
        out = out.header(name.as_str(), value.as_slice());
    }
    if let Some(body) = &request.body {
        out = out.body(body.clone());
    }
    let response = out.send().await.map_err(|e| format!("upstream: {e}"))?;
    let headers = response
        .headers()
        .iter()
        .filter(|(name, _)| !hop_by_hop(name.as_str()))
        .map(|(name, value)| {
            let value = if name == reqwest::header::WWW_AUTHENTICATE {
                rewrite_challenge(value.as_bytes(), &state.proxy_host)
            } else {
                value.as_bytes().to_vec()
            };
            (name.as_str().to_string(), value)
        })
        .collect();
    Ok(Upstream {
        status: response.status().as_u16(),
        headers,
        response,
    })
}

impl State {
    fn saw(&self, kind: Kind, request: &Request, status_sent: Option<u16>) {
        self.seen.lock().expect("seen").push(Seen {
            kind,
            method: request.method.clone(),
            uri: request.target.clone(),
            status_sent,
        });
    }

    fn inject(&self, kind: Kind, fault: &Fault, request: &Request) {
        self.injected.lock().expect("injected").push(Injected {
            kind,
            fault: fault.clone(),
            method: request.method.clone(),
            uri: request.target.clone(),
        });
    }
}

/// Answers one request, or plays its fault. Records go in before the first byte goes out, so
/// a client that has its answer (or its error) finds them in place.
async fn exchange(state: &State, conn: &mut Conn, request: Request) -> Next {
    let mut kind = classify(&request.method, &request.target);
    let (fault, upstream) = if kind == Kind::BlobGet {
        // The size decides the kind: ask the registry first (a read, so harmless).
        let upstream = forward(state, &request, kind).await;
        if let Ok(up) = &upstream {
            if up.blob_size().is_some_and(|n| n <= SMALL_BLOB) {
                kind = Kind::SmallBlobGet;
            }
        }
        let fault = state.plan.lock().expect("plan").decide(kind);
        (fault, Some(upstream))
    } else {
        let fault = state.plan.lock().expect("plan").decide(kind);
        let upstream = if fault.as_ref().is_none_or(Fault::forwards) {
            Some(forward(state, &request, kind).await)
        } else {
            None
        };
        (fault, upstream)
    };
    let close = request.close;
    let keep = |result: std::io::Result<()>| match result {
        Ok(()) if !close => Next::KeepAlive,
        _ => Next::Close,
    };

    // Faults that need no answer from the registry.
    match &fault {
        Some(Fault::Status(code)) => {
            state.inject(kind, fault.as_ref().expect("fault"), &request);
            let answer = Answer::envelope(*code, kind, request.is_head(), Vec::new());
            state.saw(kind, &request, Some(answer.status));
            return keep(conn.send(&answer, &answer.body, close).await);
        }
        Some(Fault::TooMany { retry_after }) => {
            state.inject(kind, fault.as_ref().expect("fault"), &request);
            let extra = retry_after
                .iter()
                .map(|r| ("retry-after".to_string(), r.header_value().into_bytes()))
                .collect();
            let answer = Answer::envelope(429, kind, request.is_head(), extra);
            state.saw(kind, &request, Some(answer.status));
            return keep(conn.send(&answer, &answer.body, close).await);
        }
        Some(Fault::StallBeforeAnswer) => {
            state.inject(kind, &Fault::StallBeforeAnswer, &request);
            state.saw(kind, &request, None);
            return Next::Stall;
        }
        Some(Fault::LoseAnswer) => {
            if let Some(Ok(up)) = upstream {
                // Let the registry finish the write before the answer is lost.
                let _ = up.response.bytes().await;
            }
            state.inject(kind, &Fault::LoseAnswer, &request);
            state.saw(kind, &request, None);
            return Next::Close;
        }
        _ => {}
    }

    let answer = match upstream {
        Some(Ok(up)) => up.answer(request.is_head()).await,
        Some(Err(why)) => Err(why),
        None => Err("not forwarded".to_string()),
    };
    let answer = match answer {
        Ok(answer) => answer,
        Err(why) => {
            let answer = Answer::bad_gateway(&why);
            state.saw(kind, &request, Some(answer.status));
            let _ = conn.send(&answer, &answer.body, true).await;
            return Next::Close;
        }
    };
    let Some(fault) = fault else {
        state.saw(kind, &request, Some(answer.status));
        return keep(conn.send(&answer, &answer.body, close).await);
    };
    state.inject(kind, &fault, &request);
    state.saw(kind, &request, Some(answer.status));
    let half = &answer.body[..answer.body.len() / 2];
    match fault {
        Fault::Cut => {
            let _ = conn.send(&answer, half, false).await;
            Next::Close
        }
        Fault::Stall => match conn.send(&answer, half, false).await {
            Ok(()) => Next::Stall,
            Err(_) => Next::Close,
        },
        Fault::Corrupt => {
            let mut body = answer.body.to_vec();
            let len = body.len();
            let spots: BTreeSet<usize> = [len / 4, len / 2, len * 3 / 4]
                .into_iter()
                .filter(|&i| i < len)
                .collect();
            for i in spots {
                body[i] ^= 0xff;
            }
            keep(conn.send(&answer, &body, close).await)
        }
        // Played above.
        Fault::Status(_) | Fault::TooMany { .. } | Fault::StallBeforeAnswer | Fault::LoseAnswer => {
            Next::Close
        }
    }
}
