//! The GitHub REST calls of issue mode, through octocrab: comment, edit a comment, make sure a
//! label exists, label, unlabel, close. The base URL comes from `GITHUB_API_URL`, so GitHub
//! Enterprise works. Requests follow the shared retry policy ([`crate::retry`]) on 5xx, 429
//! and secondary rate limits (403 with `Retry-After` or a "secondary rate limit" message),
//! honouring `Retry-After` (seconds or HTTP date) and `x-ratelimit-reset`.
//!
//! Creating a comment is not idempotent: every new comment carries a hidden marker unique to
//! this run, and after a failure whose outcome is unknown (no answer, a 5xx) the issue's
//! comments are searched for it before the comment is posted again, so a lost answer never
//! leaves two comments. The token never appears in an error or a log line.

use crate::retry::RetryPolicy;
use octocrab::Octocrab;
use serde_json::{json, Value};
use std::time::Duration;
use tracing::{debug, warn};

/// Longest wait for one retry; GitHub asks for at most a minute on secondary limits.
const MAX_WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error("GitHub API `{method} {path}` answered HTTP {status}: {message}")]
    Status {
        method: &'static str,
        path: String,
        status: u16,
        message: String,
    },
    #[error("GitHub API `{method} {path}` failed: {message}")]
    Transport {
        method: &'static str,
        path: String,
        message: String,
    },
    #[error("cannot set up the GitHub client for `{url}`: {message}")]
    Setup { url: String, message: String },
}

/// One repository's issues API.
pub struct GitHub {
    octo: Octocrab,
    repo: String,
    policy: RetryPolicy,
    /// Unique to this client: the hidden markers of the comments it creates start with it.
    run_marker: String,
    created: std::sync::atomic::AtomicU64,
}

/// Comments listed per page when looking for a marker, and pages looked at.
const COMMENTS_PAGE: usize = 100;
const COMMENT_PAGES: usize = 20;

#[derive(Clone, Copy)]
enum Verb {
    Get,
    Post,
    Patch,
    Delete,
}

impl Verb {
    fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Patch => "PATCH",
            Verb::Delete => "DELETE",
        }
    }
}

impl GitHub {
    /// A client for `repo` (`owner/name`) at `api_url` with `token`.
    pub fn new(
        api_url: &str,
        token: &str,
        repo: &str,
        retries: u32,
    ) -> Result<GitHub, GitHubError> {
        let setup = |message: String| GitHubError::Setup {
            url: api_url.to_string(),
            message,
        };
        let octo = Octocrab::builder()
            .base_uri(api_url)
            .map_err(|e| setup(e.to_string()))?
            .personal_token(token.to_string())
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(|e| setup(e.to_string()))?;
        Ok(GitHub {
            octo,
            repo: repo.to_string(),
            policy: RetryPolicy {
                retries,
                base: Duration::from_millis(500),
                max: MAX_WAIT,
                max_retry_after: MAX_WAIT,
            },
            run_marker: format!("{:016x}", fastrand::u64(..)),
            created: Default::default(),
        })
    }

    /// `POST /repos/{repo}/issues/{n}/comments`; returns the comment id. After a failure
    /// whose outcome is unknown, the comment is looked for (by its marker) before it is posted
    /// again.
    pub async fn create_comment(&self, issue: u64, body: &str) -> Result<u64, GitHubError> {
        let n = self
            .created
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let marker = format!("<!-- registry-mirror:comment {}-{n} -->", self.run_marker);
        let path = format!("/repos/{}/issues/{issue}/comments", self.repo);
        let payload = json!({ "body": format!("{body}\n{marker}\n") });
        let mut attempt = 0;
        loop {
            match self.call(Verb::Post, &path, Some(&payload), false).await {
                Ok((_, v)) => return Ok(v["id"].as_u64().unwrap_or_default()),
                Err(e) if e.is_ambiguous() && attempt < self.policy.retries => {
                    attempt += 1;
                    tokio::time::sleep(self.policy.delay(attempt, None)).await;
                    if let Some(id) = self.find_comment(issue, &marker).await? {
                        debug!(
                            issue,
                            id, "the comment had been created; its answer was lost"
                        );
                        return Ok(id);
                    }
                    warn!("{e}; the comment is not there, posting it again");
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The id of the comment of issue `issue` whose body holds `marker`.
    async fn find_comment(&self, issue: u64, marker: &str) -> Result<Option<u64>, GitHubError> {
        for page in 1..=COMMENT_PAGES {
            let path = format!(
                "/repos/{}/issues/{issue}/comments?per_page={COMMENTS_PAGE}&page={page}",
                self.repo
            );
            let (_, v) = self.send(Verb::Get, &path, None).await?;
            let comments = v.as_array().cloned().unwrap_or_default();
            if let Some(c) = comments
                .iter()
                .find(|c| c["body"].as_str().is_some_and(|b| b.contains(marker)))
            {
                return Ok(c["id"].as_u64());
            }
            if comments.len() < COMMENTS_PAGE {
                break;
            }
        }
        Ok(None)
    }

    /// `PATCH /repos/{repo}/issues/comments/{id}`.
    pub async fn update_comment(&self, id: u64, body: &str) -> Result<(), GitHubError> {
        let path = format!("/repos/{}/issues/comments/{id}", self.repo);
        self.send(Verb::Patch, &path, Some(json!({ "body": body })))
            .await
            .map(drop)
    }

    /// Create the label when the repository does not have it yet.
    pub async fn ensure_label(
        &self,
        name: &str,
        color: &str,
        description: &str,
    ) -> Result<(), GitHubError> {
        let path = format!("/repos/{}/labels/{}", self.repo, encode(name));
        match self.send(Verb::Get, &path, None).await {
            Ok(_) => Ok(()),
            Err(GitHubError::Status { status: 404, .. }) => {
                let path = format!("/repos/{}/labels", self.repo);
                let body = json!({"name": name, "color": color, "description": description});
                match self.send(Verb::Post, &path, Some(body)).await {
                    // Created meanwhile by a concurrent run: fine.
                    Err(GitHubError::Status { status: 422, .. }) => Ok(()),
                    other => other.map(drop),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// `POST /repos/{repo}/issues/{n}/labels`.
    pub async fn add_labels(&self, issue: u64, labels: &[&str]) -> Result<(), GitHubError> {
        let path = format!("/repos/{}/issues/{issue}/labels", self.repo);
        self.send(Verb::Post, &path, Some(json!({ "labels": labels })))
            .await
            .map(drop)
    }

    /// `DELETE /repos/{repo}/issues/{n}/labels/{name}`; a label already gone is fine.
    pub async fn remove_label(&self, issue: u64, name: &str) -> Result<(), GitHubError> {
        let path = format!(
            "/repos/{}/issues/{issue}/labels/{}",
            self.repo,
            encode(name)
        );
        match self.send(Verb::Delete, &path, None).await {
            Err(GitHubError::Status { status: 404, .. }) => Ok(()),
            other => other.map(drop),
        }
    }

    /// Close the issue as completed.
    pub async fn close_completed(&self, issue: u64) -> Result<(), GitHubError> {
        let path = format!("/repos/{}/issues/{issue}", self.repo);
        let body = json!({"state": "closed", "state_reason": "completed"});
        self.send(Verb::Patch, &path, Some(body)).await.map(drop)
    }

    /// An idempotent call with retries; returns the status and the JSON body (`null` when
    /// empty).
    async fn send(
        &self,
        verb: Verb,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), GitHubError> {
        self.call(verb, path, body.as_ref(), true).await
    }

    /// One call. Refusals to be retried (rate limits) always are; failures whose outcome is
    /// unknown (no answer, 5xx) only when `idempotent`, else they are returned at once for
    /// the caller to find out what happened.
    async fn call(
        &self,
        verb: Verb,
        path: &str,
        body: Option<&Value>,
        idempotent: bool,
    ) -> Result<(u16, Value), GitHubError> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let result = match verb {
                Verb::Get => self.octo._get(path).await,
                Verb::Post => self.octo._post(path, body).await,
                Verb::Patch => self.octo._patch(path, body).await,
                Verb::Delete => self.octo._delete(path, None::<&()>).await,
            };
            let response = match result {
                Ok(r) => r,
                Err(e) => {
                    let err = GitHubError::Transport {
                        method: verb.as_str(),
                        path: path.to_string(),
                        message: short(&e.to_string()),
                    };
                    if idempotent && attempt <= self.policy.retries {
                        let wait = self.policy.delay(attempt, None);
                        warn!("{err}; retrying in {}s", wait.as_secs_f32());
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    return Err(err);
                }
            };
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let text = self.octo.body_to_string(response).await.unwrap_or_default();
            debug!(method = verb.as_str(), path, status, "GitHub API");
            if (200..300).contains(&status) {
                let value = serde_json::from_str(&text).unwrap_or(Value::Null);
                return Ok((status, value));
            }
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| short(&text));
            let refusal = status == 429 || status == 403;
            if let Some(wait) = retry_wait(status, &headers, &message, &self.policy, attempt) {
                if (idempotent || refusal) && attempt <= self.policy.retries {
                    warn!(
                        "GitHub API `{} {path}` answered HTTP {status} ({message}); retrying in {}s",
                        verb.as_str(),
                        wait.as_secs_f32()
                    );
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
            return Err(GitHubError::Status {
                method: verb.as_str(),
                path: path.to_string(),
                status,
                message,
            });
        }
    }
}

impl GitHubError {
    /// The request may have been carried out although no success came back: no answer, or a
    /// 5xx from GitHub or a proxy in between.
    fn is_ambiguous(&self) -> bool {
        match self {
            GitHubError::Transport { .. } => true,
            GitHubError::Status { status, .. } => *status >= 500,
            GitHubError::Setup { .. } => false,
        }
    }
}

/// How long to wait before retrying, or `None` when the answer is final.
fn retry_wait(
    status: u16,
    headers: &http::HeaderMap,
    message: &str,
    policy: &RetryPolicy,
    attempt: u32,
) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let retry_after = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(crate::retry::parse_retry_after);
    let rate_limited = status == 429
        || (status == 403
            && (retry_after.is_some()
                || header("x-ratelimit-remaining") == Some(0)
                || message.to_ascii_lowercase().contains("rate limit")));
    if !(rate_limited || status >= 500) {
        return None;
    }
    if let Some(wait) = retry_after {
        return Some(wait.min(MAX_WAIT));
    }
    if header("x-ratelimit-remaining") == Some(0) {
        if let Some(reset) = header("x-ratelimit-reset") {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default();
            return Some(Duration::from_secs(reset.saturating_sub(now)).min(MAX_WAIT));
        }
    }
    // GitHub's advice for secondary limits without a header: wait at least a minute. For 5xx,
    // exponential backoff.
    if rate_limited {
        return Some(MAX_WAIT);
    }
    Some(policy.delay(attempt, None))
}

/// Percent-encode a path segment (label names may hold spaces and non-ASCII).
fn encode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn short(text: &str) -> String {
    let t = text.trim();
    if t.chars().count() > 300 {
        format!("{}…", t.chars().take(300).collect::<String>())
    } else {
        t.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("header value"));
        }
        h
    }

    #[test]
    fn what_is_retried() {
        let none = headers(&[]);
        let p = RetryPolicy {
            retries: 3,
            base: Duration::from_millis(500),
            max: MAX_WAIT,
            max_retry_after: MAX_WAIT,
        };
        assert_eq!(retry_wait(404, &none, "Not Found", &p, 1), None);
        assert_eq!(retry_wait(422, &none, "Validation Failed", &p, 1), None);
        assert_eq!(
            retry_wait(403, &none, "Resource not accessible by integration", &p, 1),
            None
        );
        let wait = retry_wait(502, &none, "Bad Gateway", &p, 1).expect("retried");
        assert!(wait >= Duration::from_millis(250) && wait <= Duration::from_millis(500));
        assert_eq!(
            retry_wait(403, &headers(&[("retry-after", "3")]), "x", &p, 1),
            Some(Duration::from_secs(3))
        );
        let date = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(20));
        let wait = retry_wait(429, &headers(&[("retry-after", &date)]), "", &p, 1).expect("date");
        assert!(
            wait > Duration::from_secs(17) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert_eq!(
            retry_wait(
                403,
                &none,
                "You have exceeded a secondary rate limit. Please wait a few minutes.",
                &p,
                1
            ),
            Some(MAX_WAIT)
        );
        assert_eq!(
            retry_wait(429, &headers(&[("retry-after", "600")]), "", &p, 1),
            Some(MAX_WAIT)
        );
    }

    #[test]
    fn label_names_are_encoded() {
        assert_eq!(encode("mirror request"), "mirror%20request");
        assert_eq!(encode("镜像"), "%E9%95%9C%E5%83%8F");
    }
}
