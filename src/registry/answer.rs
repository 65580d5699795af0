//! A registry's answer that is not what was asked for, as a typed error: the error envelope
//! parsed ([`StatusError`]), a 401/403 told apart as missing or refused credentials
//! ([`RegistryError::Auth`]) or a refused action ([`RegistryError::Denied`]), with who was
//! refused so that the layer above can say which credentials to give or fix.

use crate::registry::auth::Challenge;
use crate::registry::client::RegistryClient;
use crate::registry::error::{RegistryError, StatusError, ERROR_BODY_LIMIT};
use crate::registry::exchange::{challenges_of, read_capped, retry_after};
use crate::registry::session::Role;
use reqwest::Response;

impl RegistryClient {
    /// Turn a non-success answer to `method` on `what` in `repo` into a typed error.
    pub(super) async fn fail(
        &self,
        resp: Response,
        method: &str,
        what: &str,
        repo: &str,
    ) -> RegistryError {
        let status = resp.status().as_u16();
        let url = resp.url().clone();
        let ra = retry_after(resp.headers());
        let challenges = challenges_of(resp.headers());
        let body = read_capped(resp, ERROR_BODY_LIMIT, self.transport.stall())
            .await
            .unwrap_or_default();
        let mut err = StatusError::new(method, &url, status, &body);
        err.retry_after = ra;
        let anonymous = if self.creds.is_none() {
            " without credentials"
        } else {
            ""
        };
        match status {
            401 => {
                let insufficient = challenges.iter().any(|c| {
                    matches!(c, Challenge::Bearer { error: Some(e), .. } if e == "insufficient_scope")
                });
                if insufficient
                    || (self.role == Role::Target
                        && method != "GET"
                        && method != "HEAD"
                        && self.creds.is_none())
                {
                    RegistryError::Denied {
                        host: self.host.clone(),
                        repository: repo.to_string(),
                        detail: format!(
                            "{method} {what} not permitted{anonymous} ({})",
                            err.status_text()
                        ),
                        who: self.refused(),
                    }
                } else if self.creds.is_some() {
                    RegistryError::Auth {
                        host: self.host.clone(),
                        detail: format!(
                            "the registry rejected {} ({})",
                            self.identity(),
                            err.status_text()
                        ),
                        who: Some(self.refused()),
                    }
                } else {
                    RegistryError::Auth {
                        host: self.host.clone(),
                        detail: format!(
                            "the registry requires credentials and none were given ({})",
                            err.status_text()
                        ),
                        who: Some(self.refused()),
                    }
                }
            }
            403 if !err.detail().to_ascii_lowercase().contains("manifest") => {
                RegistryError::Denied {
                    host: self.host.clone(),
                    repository: repo.to_string(),
                    detail: format!("{method} {what} refused ({})", err.status_text()),
                    who: self.refused(),
                }
            }
            _ => RegistryError::Status(err),
        }
    }
}
