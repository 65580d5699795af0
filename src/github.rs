//! The GitHub REST calls of issue mode, through octocrab: comment, edit a comment, make sure a
//! label exists, label, unlabel, close. The base URL comes from `GITHUB_API_URL`, so GitHub
//! Enterprise works. Requests are retried on 5xx, 429 and secondary rate limits (403 with
//! `Retry-After` or a "secondary rate limit" message), honouring `Retry-After` and
//! `x-ratelimit-reset`. The token never appears in an error or a log line.

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
    retries: u32,
}

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
            retries,
        })
    }

    /// `POST /repos/{repo}/issues/{n}/comments`; returns the comment id.
    pub async fn create_comment(&self, issue: u64, body: &str) -> Result<u64, GitHubError> {
        let path = format!("/repos/{}/issues/{issue}/comments", self.repo);
        let (_, v) = self
            .send(Verb::Post, &path, Some(json!({ "body": body })))
            .await?;
        Ok(v["id"].as_u64().unwrap_or_default())
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

    /// One call with retries; returns the status and the JSON body (`null` when empty).
    async fn send(
        &self,
        verb: Verb,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), GitHubError> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let result = match verb {
                Verb::Get => self.octo._get(path).await,
                Verb::Post => self.octo._post(path, body.as_ref()).await,
                Verb::Patch => self.octo._patch(path, body.as_ref()).await,
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
                    if attempt <= self.retries {
                        let wait = backoff(attempt);
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
            if let Some(wait) = retry_wait(status, &headers, &message, attempt) {
                if attempt <= self.retries {
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

/// How long to wait before retrying, or `None` when the answer is final.
fn retry_wait(
    status: u16,
    headers: &http::HeaderMap,
    message: &str,
    attempt: u32,
) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let retry_after = header("retry-after").map(Duration::from_secs);
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
    Some(backoff(attempt))
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(500 * 2u64.pow(attempt.min(6)))
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
        assert_eq!(retry_wait(404, &none, "Not Found", 1), None);
        assert_eq!(retry_wait(422, &none, "Validation Failed", 1), None);
        assert_eq!(
            retry_wait(403, &none, "Resource not accessible by integration", 1),
            None
        );
        assert_eq!(retry_wait(502, &none, "Bad Gateway", 1), Some(backoff(1)));
        assert_eq!(
            retry_wait(403, &headers(&[("retry-after", "3")]), "x", 1),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            retry_wait(
                403,
                &none,
                "You have exceeded a secondary rate limit. Please wait a few minutes.",
                1
            ),
            Some(MAX_WAIT)
        );
        assert_eq!(
            retry_wait(429, &headers(&[("retry-after", "600")]), "", 1),
            Some(MAX_WAIT)
        );
    }

    #[test]
    fn label_names_are_encoded() {
        assert_eq!(encode("mirror request"), "mirror%20request");
        assert_eq!(encode("镜像"), "%E9%95%9C%E5%83%8F");
    }
}
