//! Registry authentication: `WWW-Authenticate` challenges, scopes, and Bearer tokens.
//!
//! A registry answers `GET /v2/` with 200 (no auth), or 401 and one or more challenges. Basic
//! challenges take the credentials on every request; Bearer challenges send us to a token server
//! (`realm`) with the `service` and the `scope`s we need. Tokens are cached per scope set until a
//! few seconds before they expire. The HTTP exchange itself lives in [`crate::registry::client`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// An authentication scheme a registry asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic {
        realm: Option<String>,
    },
    Bearer {
        realm: String,
        service: Option<String>,
        /// `scope` the server asked for (space-separated scopes split).
        scope: Vec<String>,
        /// `error`, e.g. `insufficient_scope` or `invalid_token`.
        error: Option<String>,
    },
}

/// Parse every challenge out of the `WWW-Authenticate` header values. Schemes and parameter
/// names are case-insensitive; values may be tokens or quoted strings with `\` escapes; one header
/// may carry several challenges separated by commas.
pub fn parse_challenges<'a>(headers: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    let mut out = Vec::new();
    for header in headers {
        for (scheme, params) in split_challenges(header) {
            match scheme.to_ascii_lowercase().as_str() {
                "basic" => out.push(Challenge::Basic {
                    realm: params.get("realm").cloned(),
                }),
                "bearer" => {
                    if let Some(realm) = params.get("realm") {
                        out.push(Challenge::Bearer {
                            realm: realm.clone(),
                            service: params.get("service").cloned(),
                            scope: params
                                .get("scope")
                                .map(|s| {
                                    s.split(' ')
                                        .filter(|s| !s.is_empty())
                                        .map(str::to_string)
                                        .collect()
                                })
                                .unwrap_or_default(),
                            error: params.get("error").cloned(),
                        });
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// Split one header value into (scheme, params) pairs.
fn split_challenges(header: &str) -> Vec<(String, BTreeMap<String, String>)> {
    let mut out: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    let chars: Vec<char> = header.chars().collect();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && (chars[*i] == ' ' || chars[*i] == '\t' || chars[*i] == ',') {
            *i += 1;
        }
    };
    while i < chars.len() {
        skip_ws(&mut i);
        // A token: either a scheme or a parameter name.
        let start = i;
        while i < chars.len() && !matches!(chars[i], ' ' | '\t' | ',' | '=') {
            i += 1;
        }
        if start == i {
            i += 1;
            continue;
        }
        let token: String = chars[start..i].iter().collect();
        // Look past spaces for '=' to tell a parameter from a scheme.
        let mut j = i;
        while j < chars.len() && (chars[j] == ' ' || chars[j] == '\t') {
            j += 1;
        }
        if j < chars.len() && chars[j] == '=' && !out.is_empty() {
            i = j + 1;
            while i < chars.len() && (chars[i] == ' ' || chars[i] == '\t') {
                i += 1;
            }
            let mut value = String::new();
            if i < chars.len() && chars[i] == '"' {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        i += 1;
                    }
                    value.push(chars[i]);
                    i += 1;
                }
                i += 1;
            } else {
                while i < chars.len() && !matches!(chars[i], ',' | ' ' | '\t') {
                    value.push(chars[i]);
                    i += 1;
                }
            }
            if let Some((_, params)) = out.last_mut() {
                params.insert(token.to_ascii_lowercase(), value);
            }
        } else {
            out.push((token, BTreeMap::new()));
        }
    }
    out
}

/// A token scope such as `repository:library/nginx:pull`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

impl Scope {
    pub fn pull(repository: &str) -> Scope {
        Scope {
            kind: "repository".into(),
            name: repository.into(),
            actions: vec!["pull".into()],
        }
    }

    /// `pull,push`, in the order docker writes it (token servers that
    /// compare scope strings expect it). A push request puts this scope first in its list.
    pub fn push_pull(repository: &str) -> Scope {
        Scope {
            kind: "repository".into(),
            name: repository.into(),
            actions: vec!["pull".into(), "push".into()],
        }
    }

    /// Parse `type:name:actions`; the name may itself hold a `host:port`, so the type ends at
    /// the first colon and the actions start after the last.
    pub fn parse(s: &str) -> Option<Scope> {
        let (kind, rest) = s.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        Some(Scope {
            kind: kind.into(),
            name: name.into(),
            actions: actions
                .split(',')
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect(),
        })
    }

    /// Merge `other` into `list`: same kind and name add their actions, new ones are appended.
    pub fn merge_into(list: &mut Vec<Scope>, other: Scope) {
        if let Some(existing) = list
            .iter_mut()
            .find(|s| s.kind == other.kind && s.name == other.name)
        {
            for a in other.actions {
                if !existing.actions.contains(&a) {
                    existing.actions.push(a);
                }
            }
        } else {
            list.push(other);
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.kind, self.name, self.actions.join(","))
    }
}

/// The cache key of a scope set: sorted, space-joined.
pub fn scope_key(scopes: &[Scope]) -> String {
    let mut parts: Vec<String> = scopes.iter().map(Scope::to_string).collect();
    parts.sort();
    parts.join(" ")
}

/// A bearer token and when to stop using it.
#[derive(Clone)]
pub struct Token {
    pub value: String,
    pub refresh_at: Instant,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    pub fn is_fresh(&self) -> bool {
        Instant::now() < self.refresh_at
    }
}

/// A token server's answer.
#[derive(serde::Deserialize)]
pub struct TokenResponse {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub access_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

impl TokenResponse {
    /// `token` or `access_token`; `expires_in` defaults to 60 s; refresh 10 s early (but keep at
    /// least half the lifetime).
    pub fn into_token(self) -> Option<Token> {
        let value = self.token.filter(|t| !t.is_empty()).or(self.access_token)?;
        if value.is_empty() {
            return None;
        }
        // Never shown anywhere, even if a registry echoes it back.
        crate::untrusted::register_secret(&value);
        let lifetime = self.expires_in.unwrap_or(60).max(1);
        let early = 10.min(lifetime / 2);
        Some(Token {
            value,
            refresh_at: Instant::now() + Duration::from_secs(lifetime - early),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_and_basic() {
        let c = parse_challenges([
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#,
        ]);
        assert_eq!(
            c,
            vec![Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: vec!["repository:library/nginx:pull".into()],
                error: None,
            }]
        );
        let c = parse_challenges([r#"basic Realm="Registry Realm""#]);
        assert_eq!(
            c,
            vec![Challenge::Basic {
                realm: Some("Registry Realm".into())
            }]
        );
    }

    #[test]
    fn parses_several_challenges_escapes_and_case() {
        let c = parse_challenges([
            r#"Basic realm="a, b", BEARER Realm="https://t.example/token?x=1" , Service=svc, scope="repository:a:pull repository:b:push,pull", error="insufficient_scope""#,
        ]);
        assert_eq!(c.len(), 2);
        assert_eq!(
            c[0],
            Challenge::Basic {
                realm: Some("a, b".into())
            }
        );
        let Challenge::Bearer {
            realm,
            service,
            scope,
            error,
        } = &c[1]
        else {
            panic!("bearer expected");
        };
        assert_eq!(realm, "https://t.example/token?x=1");
        assert_eq!(service.as_deref(), Some("svc"));
        assert_eq!(
            scope,
            &vec![
                "repository:a:pull".to_string(),
                "repository:b:push,pull".into()
            ]
        );
        assert_eq!(error.as_deref(), Some("insufficient_scope"));
        let c = parse_challenges([r#"Bearer realm="q\"uote""#]);
        assert!(matches!(&c[0], Challenge::Bearer { realm, .. } if realm == "q\"uote"));
        assert!(parse_challenges(["Negotiate"]).is_empty());
        assert!(
            parse_challenges(["Bearer service=x"]).is_empty(),
            "no realm, no bearer"
        );
    }

    #[test]
    fn scopes_with_ports_and_merging() {
        let s = Scope::parse("repository:localhost:5000/foo/bar:pull,push").expect("scope");
        assert_eq!(s.name, "localhost:5000/foo/bar");
        assert_eq!(s.actions, vec!["pull", "push"]);
        let mut list = vec![Scope::pull("a")];
        Scope::merge_into(&mut list, Scope::push_pull("a"));
        Scope::merge_into(&mut list, Scope::pull("b"));
        assert_eq!(scope_key(&list), "repository:a:pull,push repository:b:pull");
        assert_eq!(Scope::push_pull("x").to_string(), "repository:x:pull,push");
    }

    #[test]
    fn token_defaults() {
        let t: TokenResponse = serde_json::from_str(r#"{"access_token":"abc"}"#).expect("json");
        let t = t.into_token().expect("token");
        assert_eq!(t.value, "abc");
        assert!(t.is_fresh());
        assert_eq!(format!("{t:?}"), "Token(<redacted>)");
        let none: TokenResponse = serde_json::from_str(r#"{"token":""}"#).expect("json");
        assert!(none.into_token().is_none());
    }
}
