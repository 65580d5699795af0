//! Listings: a repository's tags and a registry's catalog, following `Link` pagination. Each
//! page is one exchange (request, whole body, JSON), retried whole; the pages together are
//! bounded; names that do not fit the reference grammar are dropped with one warning.

use crate::registry::auth::Scope;
use crate::registry::client::RegistryClient;
use crate::registry::error::{redact_url, RegistryError};
use crate::registry::exchange::{read_capped, Body, Request};
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde::de::DeserializeOwned;
use url::Url;

/// One page of a tag list or catalog is read up to this size.
const PAGE_LIMIT: usize = 16 << 20;
/// All pages of one listing together.
const LISTING_LIMIT: usize = 64 << 20;
/// A registry that keeps sending `next` links is stopped here.
const MAX_PAGES: usize = 100_000;

impl RegistryClient {
    /// Every tag of `repo`, following `Link` pagination; `page` asks for that many per page
    /// (`n`; registries then paginate with `last`).
    pub async fn tag_list(
        &self,
        repo: &str,
        page: Option<usize>,
    ) -> Result<Vec<String>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct Tags {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut url = self.url(&format!("v2/{repo}/tags/list")).await?;
        if let Some(n) = page {
            url.query_pairs_mut().append_pair("n", &n.to_string());
        }
        let scopes = vec![self.repo_scope(repo)];
        let pages: Vec<Tags> = self.paginate(url, scopes, "tag list", repo).await?;
        let out = pages
            .into_iter()
            .flat_map(|p| p.tags.unwrap_or_default())
            .collect();
        let what = format!("the tag list of `{}/{repo}`", self.registry);
        Ok(crate::reference::keep_valid(
            out,
            &what,
            crate::reference::is_valid_tag,
        ))
    }

    /// Every repository of the registry (`/v2/_catalog`), following `Link` pagination.
    pub async fn catalog(&self, page: Option<usize>) -> Result<Vec<String>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct Catalog {
            #[serde(default)]
            repositories: Option<Vec<String>>,
        }
        let mut url = self.url("v2/_catalog").await?;
        if let Some(n) = page {
            url.query_pairs_mut().append_pair("n", &n.to_string());
        }
        let scopes = vec![Scope {
            kind: "registry".into(),
            name: "catalog".into(),
            actions: vec!["*".into()],
        }];
        let pages: Vec<Catalog> = self.paginate(url, scopes, "catalog", "_catalog").await?;
        let out = pages
            .into_iter()
            .flat_map(|c| c.repositories.unwrap_or_default())
            .collect();
        let what = format!("the catalog of `{}`", self.registry);
        Ok(crate::reference::keep_valid(
            out,
            &what,
            crate::reference::is_valid_repository,
        ))
    }

    /// GET `url` and every `rel="next"` page after it, each parsed as `T`.
    async fn paginate<T: DeserializeOwned>(
        &self,
        mut url: Url,
        scopes: Vec<Scope>,
        what: &str,
        repo: &str,
    ) -> Result<Vec<T>, RegistryError> {
        let stall = self.transport.stall();
        let mut pages = Vec::new();
        let mut total = 0usize;
        loop {
            let req = Request {
                method: Method::GET,
                url: url.clone(),
                headers: HeaderMap::new(),
                body: Body::Empty,
                scopes: scopes.clone(),
                retry: true,
            };
            let page_url = &url;
            let (page, next, size) = self
                .exchange(req, |resp| async move {
                    if !resp.status().is_success() {
                        return Err(self.fail(resp, "GET", what, repo).await);
                    }
                    let next = next_page(resp.headers(), page_url);
                    let body = read_capped(resp, PAGE_LIMIT, stall)
                        .await
                        .map_err(|detail| RegistryError::Transport {
                            url: redact_url(page_url),
                            detail,
                        })?;
                    let page: T = serde_json::from_slice(&body).map_err(|e| {
                        RegistryError::Corrupt(if repo == "_catalog" {
                            format!("the catalog of `{}` is not valid JSON: {e}", self.registry)
                        } else {
                            format!("tag list of `{repo}` is not valid JSON: {e}")
                        })
                    })?;
                    Ok((page, next, body.len()))
                })
                .await?;
            total += size;
            if total > LISTING_LIMIT {
                return Err(RegistryError::Manifest(format!(
                    "the {what} of `{}/{repo}` is larger than {} MiB; stopped reading",
                    self.registry,
                    LISTING_LIMIT >> 20
                )));
            }
            pages.push(page);
            match next {
                // A registry that sends the same page again would loop forever.
                Some(n) if n != url && pages.len() < MAX_PAGES => url = n,
                _ => return Ok(pages),
            }
        }
    }
}

/// The next page's URL from an answer's `Link: <…>; rel="next"`, resolved against `url`.
pub fn next_page(headers: &reqwest::header::HeaderMap, url: &Url) -> Option<Url> {
    headers
        .get("link")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_link_next)
        .and_then(|l| url.join(&l).ok())
}

/// The `rel="next"` target of a `Link` header.
pub fn parse_link_next(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then(|| target.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header_next() {
        assert_eq!(
            parse_link_next(r#"</v2/foo/tags/list?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/foo/tags/list?last=b&n=2")
        );
        assert_eq!(parse_link_next(r#"</x>; rel="prev""#), None);
    }
}
