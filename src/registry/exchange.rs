//! One exchange with a registry: the request, its whole answer, and the check of that answer,
//! retried as a unit.
//!
//! [`RegistryClient::exchange`] sends a [`Request`] and hands the answer to a reader (read the
//! whole body, check its size and digest, parse it). When the connection fails, the registry
//! answers 408/429/5xx, the body is cut or corrupt, or the reader says the answer is bad, the
//! whole exchange is tried again with exponential backoff and jitter, `Retry-After` honoured,
//! up to `--retries` times. A 429 (or 503 with `Retry-After`) slows every request to that host.
//!
//! Every attempt attaches Basic credentials or a Bearer token for the request's scopes, replays
//! once after a 401 with a fresh token (merging an `insufficient_scope` challenge's scope), and
//! follows redirects itself: another host never sees our credentials, and its own Bearer
//! challenge is answered anonymously.
//!
//! A stall is a cut: no byte sent or received for the transport's stall timeout ends the
//! attempt (a watchdog is touched by every chunk of a request body, [`read_capped`] and
//! [`stall_guarded`] bound every wait for a chunk of an answer).
//!
//! Writes whose outcome is unknown after a failure set [`Request::retry`] to `false` and
//! find out what happened themselves before repeating (see the resource modules).

use crate::registry::auth::{parse_challenges, Challenge, Scope};
use crate::registry::client::RegistryClient;
use crate::registry::error::{describe_reqwest, is_retryable_status, redact_url, RegistryError};
use crate::registry::token::bearer_header;
use crate::retry::parse_retry_after;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use reqwest::header::{
    HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_LENGTH, LOCATION, WWW_AUTHENTICATE,
};
use reqwest::{Method, Response, StatusCode};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;
use tracing::{debug, warn};
use url::Url;

const MAX_REDIRECTS: usize = 10;
/// Byte bodies above this size are sent in pieces, so a slow link shows progress.
const PIECE: usize = 64 * 1024;

/// A stream of body chunks.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// A request body: replayable bytes, or a one-shot stream.
pub enum Body {
    Empty,
    Bytes(Bytes),
    Stream(Mutex<Option<ByteStream>>),
}

impl Body {
    pub fn stream(s: ByteStream) -> Body {
        Body::Stream(Mutex::new(Some(s)))
    }

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
    /// Retry temporary failures here. Writes whose outcome must be checked before they are
    /// repeated set this to `false` and recover themselves.
    pub retry: bool,
}

/// When an exchange last made progress (a chunk of its body handed to the connection).
#[derive(Clone)]
pub(crate) struct Activity {
    start: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Activity {
    pub(crate) fn new() -> Activity {
        Activity {
            start: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    pub(crate) fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }

    /// Resolves once nothing happened for `stall`.
    pub(crate) async fn stalled(&self, stall: Duration) {
        loop {
            let idle = self.idle();
            if idle >= stall {
                return;
            }
            tokio::time::sleep(stall - idle).await;
        }
    }
}

/// A body stream that touches `activity` with every chunk the connection takes.
struct Tracked {
    inner: ByteStream,
    activity: Activity,
}

impl Stream for Tracked {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = self.inner.as_mut().poll_next(cx);
        if matches!(item, Poll::Ready(Some(Ok(_)))) {
            self.activity.touch();
        }
        item
    }
}

/// `stream` failing with `TimedOut` when a chunk takes longer than `stall` to arrive.
pub fn stall_guarded<S>(stream: S, stall: Duration) -> ByteStream
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
{
    let stream = Box::pin(stream);
    Box::pin(futures::stream::unfold(
        (stream, false),
        move |(mut s, failed)| async move {
            if failed {
                return None;
            }
            match tokio::time::timeout(stall, s.next()).await {
                Ok(Some(item)) => Some((item, (s, false))),
                Ok(None) => None,
                Err(_) => Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("stalled: no byte for {}s", stall.as_secs()),
                    )),
                    (s, true),
                )),
            }
        },
    ))
}

/// Read a body up to `limit` bytes (more is cut off); no chunk may take longer than `stall`.
pub async fn read_capped(resp: Response, limit: usize, stall: Duration) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    loop {
        let chunk = match tokio::time::timeout(stall, stream.next()).await {
            Err(_) => return Err(format!("stalled: no byte for {}s", stall.as_secs())),
            Ok(None) => break,
            Ok(Some(chunk)) => chunk.map_err(|e| describe_reqwest(&e))?,
        };
        let room = limit.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

impl RegistryClient {
    /// Send `req` (retried as configured) and give back the answer unread: for streamed blob
    /// bodies, and for answers whose status decides (HEAD).
    pub async fn send(&self, req: Request) -> Result<Response, RegistryError> {
        self.exchange(req, |resp| async move { Ok(resp) }).await
    }

    /// Send `req` and `read` its answer; a temporary failure anywhere (connection, status, a
    /// cut or bad body, a failed check in `read`) tries the whole exchange again.
    pub async fn exchange<T, F, Fut>(
        &self,
        mut req: Request,
        mut read: F,
    ) -> Result<T, RegistryError>
    where
        F: FnMut(Response) -> Fut,
        Fut: Future<Output = Result<T, RegistryError>>,
    {
        let policy = self.transport.retry();
        let mut attempt = 0;
        loop {
            // Another task may have been told by this host to slow down: wait with it.
            let wait = self.transport.wait_for(&self.host);
            if !wait.is_zero() {
                debug!(host = %self.host, wait_ms = wait.as_millis() as u64, "waiting out the host's backoff");
                tokio::time::sleep(wait).await;
            }
            let can_retry = req.retry && req.body.replayable() && attempt < policy.retries;
            let (why, retry_after) = match self.send_once(&mut req).await {
                Ok(resp) if is_retryable_status(resp.status().as_u16()) => {
                    let status = resp.status().as_u16();
                    let ra = retry_after(resp.headers());
                    if status == 429 || (status == 503 && ra.is_some()) {
                        // Throttling is about the host, not this request: everyone backs off.
                        let delay = ra.unwrap_or_else(|| policy.delay(attempt + 1, None));
                        self.transport
                            .back_off(&self.host, delay.min(policy.max_retry_after));
                    }
                    let waitable = ra.is_none_or(|ra| ra <= policy.max_retry_after);
                    if !(can_retry && waitable) {
                        return read(resp).await;
                    }
                    (format!("status {status}"), ra)
                }
                Ok(resp) => match read(resp).await {
                    Err(e) if e.is_temporary() && can_retry => (e.to_string(), None),
                    other => return other,
                },
                Err(e) if e.is_temporary() && can_retry => (e.to_string(), None),
                Err(e) => return Err(e),
            };
            attempt += 1;
            let delay = policy.delay(attempt, retry_after);
            warn!(
                method = %req.method,
                url = %redact_url(&req.url),
                attempt,
                delay_ms = delay.as_millis() as u64,
                "retrying after {why}"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// One attempt: authorization, the 401 replay and redirects, with the stall watchdog.
    async fn send_once(&self, req: &mut Request) -> Result<Response, RegistryError> {
        let base = self.base().await?.clone();
        let mut url = req.url.clone();
        let mut method = req.method.clone();
        let mut auth_retried = false;
        let mut force_token = false;
        let stall = self.transport.stall();
        for _hop in 0..=MAX_REDIRECTS {
            let own = host_port(&url) == host_port(&base) && url.scheme() == base.scheme();
            let http = self.transport.http(own && self.insecure)?;
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
            let activity = Activity::new();
            let replayable = req.body.replayable();
            rb = match &req.body {
                Body::Empty => rb,
                Body::Bytes(b) if b.len() <= PIECE => rb.body(b.clone()),
                Body::Bytes(b) => {
                    let pieces: Vec<Result<Bytes, std::io::Error>> = (0..b.len())
                        .step_by(PIECE)
                        .map(|at| Ok(b.slice(at..(at + PIECE).min(b.len()))))
                        .collect();
                    let tracked = Tracked {
                        inner: Box::pin(futures::stream::iter(pieces)),
                        activity: activity.clone(),
                    };
                    rb.header(CONTENT_LENGTH, HeaderValue::from(b.len() as u64))
                        .body(reqwest::Body::wrap_stream(tracked))
                }
                Body::Stream(s) => match s.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    Some(inner) => rb.body(reqwest::Body::wrap_stream(Tracked {
                        inner,
                        activity: activity.clone(),
                    })),
                    None => {
                        return Err(RegistryError::Transport {
                            url: redact_url(&url),
                            detail: "a streamed body cannot be sent twice".into(),
                        })
                    }
                },
            };
            // A place in the host's budget until the answer's headers are in; a streamed body
            // (a blob upload) is bounded by the engine's blob slots instead.
            let slot = match &req.body {
                Body::Stream(_) => None,
                _ => self.transport.request_slot(&host_port(&url)).await,
            };
            let sent_at = std::time::Instant::now();
            let resp = tokio::select! {
                r = rb.send() => r.map_err(|e| transport_error(&url, &e))?,
                () = activity.stalled(stall) => {
                    return Err(RegistryError::Transport {
                        url: redact_url(&url),
                        detail: format!("stalled: no byte for {}s", stall.as_secs()),
                    })
                }
            };
            drop(slot);
            log_rate_limit(&url, resp.headers());
            if let Some(limit) = crate::registry::transport::RateLimit::from_headers(resp.headers())
            {
                self.transport.note_rate_limit(&host_port(&url), limit);
            }
            let status = resp.status();
            // One line a request at `-vv` (trace): where the time of a run goes.
            tracing::trace!(
                method = %method,
                url = %redact_url(&url),
                status = status.as_u16(),
                ms = sent_at.elapsed().as_millis() as u64,
                "answered"
            );
            if status == StatusCode::UNAUTHORIZED && !auth_retried && replayable {
                auth_retried = true;
                let challenges = challenges_of(resp.headers());
                let chosen = challenges
                    .iter()
                    .find(|c| matches!(c, Challenge::Bearer { .. }))
                    .or_else(|| challenges.first());
                if own {
                    if let Some(c) = chosen {
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
                } else if let Some(c @ Challenge::Bearer { .. }) = chosen {
                    // Another host (a redirect target): answer its challenge anonymously.
                    self.foreign_token_for(&url, c, &req.scopes).await?;
                    continue;
                }
                return Ok(resp);
            }
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                let Some(loc) = resp.headers().get(LOCATION).and_then(|l| l.to_str().ok()) else {
                    return Ok(resp);
                };
                let next = url.join(loc).map_err(|e| RegistryError::Transport {
                    url: redact_url(&url),
                    detail: format!("bad redirect location: {e}"),
                })?;
                debug!(from = %redact_url(&url), to = %redact_url(&next), "redirect");
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
            url: redact_url(&req.url),
            detail: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }
}

pub(super) fn challenges_of(headers: &HeaderMap) -> Vec<Challenge> {
    parse_challenges(
        headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
}

pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after)
}

pub(super) fn host_port(url: &Url) -> String {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => String::new(),
    }
}

/// The `Location` header resolved against the final request URL.
pub(super) fn location_of(resp: &Response) -> Result<Option<Url>, RegistryError> {
    let Some(loc) = resp.headers().get(LOCATION).and_then(|l| l.to_str().ok()) else {
        return Ok(None);
    };
    resp.url()
        .join(loc)
        .map(Some)
        .map_err(|e| RegistryError::Transport {
            url: redact_url(resp.url()),
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
            url: redact_url(url),
            detail: describe_reqwest(e),
        }
    }
}

fn log_rate_limit(url: &Url, headers: &HeaderMap) {
    let get = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(|v| crate::untrusted::inert(v, 100))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_stall_is_noticed_and_activity_postpones_it() {
        let a = Activity::new();
        let stall = Duration::from_secs(3);
        let t0 = tokio::time::Instant::now();
        tokio::time::sleep(Duration::from_secs(2)).await;
        a.touch();
        a.stalled(stall).await;
        assert_eq!(t0.elapsed().as_secs(), 5, "2 s, then 3 s without activity");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_that_goes_silent_fails_with_timed_out() {
        let chunks = futures::stream::iter(vec![Ok(Bytes::from_static(b"ab"))])
            .chain(futures::stream::pending());
        let mut s = stall_guarded(chunks, Duration::from_secs(3));
        assert_eq!(
            s.next().await.and_then(Result::ok),
            Some(Bytes::from_static(b"ab"))
        );
        let e = s.next().await.and_then(Result::err).expect("timed out");
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        assert!(s.next().await.is_none(), "ends after failing");
    }
}
