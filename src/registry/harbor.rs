//! Harbor's REST API v2.0, the part a mirror needs: whether a registry is Harbor
//! (`GET /api/v2.0/systeminfo`, public), whether a project exists (`HEAD
//! /api/v2.0/projects?project_name=`) and creating one (`POST /api/v2.0/projects`, private).
//! Harbor answers a push into a project that does not exist like a push without permission
//! (401 "unauthorized to access repository"), so only its API can tell the two apart.
//!
//! The API takes the target's Basic credentials (registry tokens are not accepted there). Each
//! call is retried on connection errors and 5xx; creating twice is harmless (409: it exists).

use crate::registry::client::RegistryClient;
use crate::registry::credentials::Credentials;
use crate::registry::error::{redact_url, RegistryError};
use crate::registry::exchange::read_capped;
use base64::Engine as _;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};

/// An API answer is read up to this size.
const ANSWER_LIMIT: usize = 64 * 1024;

impl RegistryClient {
    /// One call to Harbor's API at this registry's address, retried as the transport says.
    async fn harbor_call(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(StatusCode, Vec<u8>), RegistryError> {
        let url = self
            .base()
            .await?
            .join(path_and_query)
            .map_err(|e| RegistryError::Config(format!("bad Harbor API address: {e}")))?;
        let policy = self.transport.retry();
        let mut attempt = 0;
        loop {
            let http = self.transport.http(self.insecure)?;
            let mut rb = http.request(method.clone(), url.clone());
            if let Some(Credentials::Basic { username, password }) = &self.creds {
                let pair = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{password}"));
                let value = HeaderValue::from_str(&format!("Basic {pair}"))
                    .map_err(|_| RegistryError::Config("credentials unfit for a header".into()))?;
                rb = rb.header(AUTHORIZATION, value);
            }
            if let Some(b) = &body {
                rb = rb
                    .header(CONTENT_TYPE, "application/json")
                    .body(b.to_string());
            }
            let why = match rb.send().await {
                Ok(resp) if resp.status().is_server_error() => format!("status {}", resp.status()),
                Ok(resp) => {
                    let status = resp.status();
                    let text = read_capped(resp, ANSWER_LIMIT, self.transport.stall())
                        .await
                        .unwrap_or_default();
                    return Ok((status, text));
                }
                Err(e) => e.to_string(),
            };
            if attempt >= policy.retries {
                return Err(RegistryError::Transport {
                    url: redact_url(&url),
                    detail: why,
                });
            }
            attempt += 1;
            tokio::time::sleep(policy.delay(attempt, None)).await;
        }
    }

    /// Whether this registry is Harbor (its public `systeminfo` names a `harbor_version`).
    pub async fn is_harbor(&self) -> bool {
        match self
            .harbor_call(Method::GET, "api/v2.0/systeminfo", None)
            .await
        {
            Ok((status, body)) if status.is_success() => {
                serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v.get("harbor_version").cloned())
                    .is_some()
            }
            _ => false,
        }
    }

    /// Whether the Harbor project `name` exists.
    pub async fn harbor_project_exists(&self, name: &str) -> Result<bool, RegistryError> {
        let query = format!(
            "api/v2.0/projects?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("project_name", name)
                .finish()
        );
        let (status, _) = self.harbor_call(Method::HEAD, &query, None).await?;
        match status {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            s => Err(self.harbor_refused("look up the project", name, s)),
        }
    }

    /// Create the private Harbor project `name`; one that exists already is fine.
    pub async fn harbor_create_project(&self, name: &str) -> Result<(), RegistryError> {
        let body = serde_json::json!({"project_name": name, "metadata": {"public": "false"}});
        let (status, _) = self
            .harbor_call(Method::POST, "api/v2.0/projects", Some(body))
            .await?;
        match status {
            StatusCode::CREATED | StatusCode::CONFLICT => Ok(()),
            s => Err(self.harbor_refused("create the project", name, s)),
        }
    }

    fn harbor_refused(&self, what: &str, name: &str, status: StatusCode) -> RegistryError {
        RegistryError::Config(format!(
            "Harbor at `{}` would not {what} `{name}` (status {}); a project is created by a \
             user with the right to (Harbor's \"project creation\" setting), with Basic credentials",
            self.registry,
            status.as_u16()
        ))
    }
}
