//! Authorization for one registry: Basic credentials, or Bearer tokens from the token realm of
//! the registry's own challenge (cached per scope set, refreshed early), with the OAuth2 form
//! for identity tokens. Hosts we are redirected to get anonymous tokens of their own: our
//! credentials never leave the registry they belong to.
//!
//! A token answer is one exchange: a cut, unreadable or unparseable answer, or a 5xx/429 from
//! the token server, is temporary ([`RegistryError::TokenUnavailable`]) and the request that
//! needed the token is tried again whole.

use crate::registry::auth::{scope_key, Challenge, Scope, Token, TokenResponse};
use crate::registry::client::RegistryClient;
use crate::registry::credentials::Credentials;
use crate::registry::error::{
    describe_reqwest, is_retryable_status, RegistryError, StatusError, ERROR_BODY_LIMIT,
};
use crate::registry::exchange::{host_port, read_capped};
use crate::registry::session::lock;
use base64::Engine as _;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Response, StatusCode};
use std::sync::Arc;
use tracing::debug;
use url::Url;

/// Token answers are read up to this size.
const TOKEN_LIMIT: usize = 256 * 1024;

impl RegistryClient {
    /// The `Authorization` value for the registry's own host and these scopes.
    pub(super) async fn authorization(
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

    /// A cached token for `scopes`, fetched when missing, stale or `force`d. Where the run's
    /// repositories here are grouped ([`ScopeGroups`](super::scopes::ScopeGroups)), the token
    /// of the group that covers `scopes`; a group token that did not do (`force`: a 401 with
    /// it) or that the token server would not give sends these scopes on their own.
    async fn token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[Scope],
        force: bool,
    ) -> Result<Token, RegistryError> {
        let wide = {
            let mut groups = lock(&self.scope_groups);
            let wide = groups.widen(scopes, |r| self.repo_scope(r));
            // Forced with the group's token in hand: that token was refused for these.
            if force && wide.as_ref().is_some_and(|w| self.holds_token(w)) {
                groups.take_out(scopes);
                None
            } else {
                wide
            }
        };
        if let Some(wide) = wide {
            let slot = self.token_slot(&wide);
            let mut held = slot.lock().await;
            // A request that waited for a group fetch that failed goes on alone.
            let still = lock(&self.scope_groups)
                .widen(scopes, |r| self.repo_scope(r))
                .is_some_and(|w| w == wide);
            if still {
                match self.fill(&mut held, realm, service, &wide, force).await {
                    Ok(t) => return Ok(t),
                    Err(e) => {
                        debug!(error = %e, "no token for a group of repositories; asking for each alone");
                        lock(&self.scope_groups).take_out(&wide);
                    }
                }
            }
        }
        let slot = self.token_slot(scopes);
        let mut held = slot.lock().await;
        self.fill(&mut held, realm, service, scopes, force).await
    }

    /// The cache slot of the token for exactly `scopes` (held while it is fetched, so one
    /// fetch at a time per scope set).
    fn token_slot(&self, scopes: &[Scope]) -> Arc<tokio::sync::Mutex<Option<Token>>> {
        lock(&self.tokens)
            .entry(scope_key(scopes))
            .or_default()
            .clone()
    }

    /// Whether a token for exactly `scopes` was fetched (or is being fetched).
    fn holds_token(&self, scopes: &[Scope]) -> bool {
        lock(&self.tokens)
            .get(&scope_key(scopes))
            .is_some_and(|slot| slot.try_lock().map_or(true, |t| t.is_some()))
    }

    /// The token in `held` when fresh and not `force`d, else a new one for `scopes`, kept there.
    async fn fill(
        &self,
        held: &mut Option<Token>,
        realm: &str,
        service: Option<&str>,
        scopes: &[Scope],
        force: bool,
    ) -> Result<Token, RegistryError> {
        if !force {
            if let Some(t) = held.as_ref().filter(|t| t.is_fresh()) {
                return Ok(t.clone());
            }
        }
        let token = self
            .fetch_token(realm, service, scopes, self.creds.as_ref())
            .await?;
        *held = Some(token.clone());
        Ok(token)
    }

    /// An anonymous token for a host we were redirected to, from its own challenge.
    pub(super) async fn foreign_token_for(
        &self,
        url: &Url,
        challenge: &Challenge,
        scopes: &[Scope],
    ) -> Result<(), RegistryError> {
        let Challenge::Bearer {
            realm,
            service,
            scope,
            ..
        } = challenge
        else {
            return Ok(());
        };
        let scopes: Vec<Scope> = if scope.is_empty() {
            scopes.iter().map(|s| Scope::pull(&s.name)).collect()
        } else {
            scope.iter().filter_map(|s| Scope::parse(s)).collect()
        };
        let token = self
            .fetch_token(realm, service.as_deref(), &scopes, None)
            .await?;
        lock(&self.foreign).insert(host_port(url), token);
        Ok(())
    }

    /// A fresh anonymous token for a host we were redirected to.
    pub(super) fn foreign_token(&self, url: &Url) -> Option<Token> {
        lock(&self.foreign)
            .get(&host_port(url))
            .filter(|t| t.is_fresh())
            .cloned()
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
            detail: format!(
                "the registry named a bad token realm `{}`: {e}",
                crate::untrusted::inert(realm, 200)
            ),
            who: None,
        })?;
        let realm_host = host_port(&realm_url);
        let stall = self.transport.stall();
        let http = self
            .transport
            .http(self.insecure || self.transport.is_insecure(&realm_host))?;
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
                .timeout(stall)
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
        let mut rb = http.get(url).timeout(stall);
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
        let stall = self.transport.stall();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let realm = crate::registry::error::redact_url(realm);
            let status = status.as_u16();
            let (detail, who) = if had_creds {
                (
                    format!(
                        "the token server `{realm}` rejected {} (HTTP {status})",
                        self.identity()
                    ),
                    Some(self.refused()),
                )
            } else {
                (
                    format!(
                        "the token server `{realm}` refused anonymous access (HTTP {status}); credentials are needed"
                    ),
                    // With credentials of our own this was a redirect target's token server.
                    self.creds.is_none().then(|| self.refused()),
                )
            };
            return Err(RegistryError::Auth {
                host: self.host.clone(),
                detail,
                who,
            });
        }
        if !status.is_success() {
            let body = read_capped(resp, ERROR_BODY_LIMIT, stall)
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
                who: None,
            });
        }
        // A cut or garbled answer is the network's fault, not the server's verdict.
        let body = read_capped(resp, TOKEN_LIMIT, stall).await.map_err(|e| {
            RegistryError::TokenUnavailable {
                host: self.host.clone(),
                detail: format!("the token answer was cut: {e}"),
            }
        })?;
        let parsed: TokenResponse =
            serde_json::from_slice(&body).map_err(|e| RegistryError::TokenUnavailable {
                host: self.host.clone(),
                detail: format!("the token answer is not valid JSON: {e}"),
            })?;
        parsed.into_token().ok_or_else(|| RegistryError::Auth {
            host: self.host.clone(),
            detail: "the token server answered without a token".into(),
            who: None,
        })
    }
}

pub(super) fn basic_header(user: &str, pass: &str) -> HeaderValue {
    let enc = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    let mut v = HeaderValue::from_str(&format!("Basic {enc}"))
        .unwrap_or_else(|_| HeaderValue::from_static("Basic"));
    v.set_sensitive(true);
    v
}

pub(super) fn bearer_header(token: &str) -> HeaderValue {
    let mut v = HeaderValue::from_str(&format!("Bearer {token}"))
        .unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
    v.set_sensitive(true);
    v
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_headers() {
        assert!(basic_header("u", "p").is_sensitive());
        assert!(bearer_header("t").is_sensitive());
    }
}
