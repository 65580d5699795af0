//! Registry credentials: the [`Credentials`] type (whose `Debug` never shows a secret), the
//! `USER:PASSWORD` text of flags and environment variables, where credentials came from
//! ([`CredentialSource`], for messages) and why they could not be read ([`CredentialError`]).
//! Docker's `config.json` and its credential helpers are read in
//! [`docker_config`](super::docker_config).
//!
//! Resolution order for one registry host, as the caller applies it: explicit `USER:PASSWORD`
//! ([`Credentials::from_user_pass`]), else docker `config.json`, else anonymous (`None`).

use std::fmt;
use std::path::PathBuf;

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Basic {
        username: String,
        password: String,
    },
    /// An OAuth2 refresh token (docker config `identitytoken`, or a helper answering username `<token>`).
    IdentityToken(String),
}

/// Prints `<redacted>` in place of a secret.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Debug for Credentials {
    /// `Basic { username: "bob", password: "<redacted>" }`, `IdentityToken(<redacted>)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Credentials::IdentityToken(_) => {
                f.debug_tuple("IdentityToken").field(&Redacted).finish()
            }
        }
    }
}

impl Credentials {
    /// `USER:PASSWORD`, split on the first `:` (the password may hold more). The user and the
    /// password must both be non-empty. Errors never quote the text.
    pub fn from_user_pass(s: &str) -> Result<Credentials, CredentialError> {
        let Some((username, password)) = s.split_once(':') else {
            return Err(CredentialError::UserPass {
                problem: "there is no `:` between the user and the password",
            });
        };
        if username.is_empty() {
            return Err(CredentialError::UserPass {
                problem: "the user before the first `:` is empty",
            });
        }
        if password.is_empty() {
            return Err(CredentialError::UserPass {
                problem: "the password after the first `:` is empty",
            });
        }
        Ok(Credentials::Basic {
            username: username.to_string(),
            password: password.to_string(),
        })
    }

    /// The user name, for Basic credentials.
    #[cfg(test)]
    pub fn username(&self) -> Option<&str> {
        match self {
            Credentials::Basic { username, .. } => Some(username),
            Credentials::IdentityToken(_) => None,
        }
    }

    /// Every form a secret of these credentials takes on the wire: the password and
    /// `user:password` (what Basic auth encodes), or the token.
    pub fn secret_forms(&self) -> Vec<String> {
        match self {
            Credentials::Basic { username, password } => {
                vec![password.clone(), format!("{username}:{password}")]
            }
            Credentials::IdentityToken(token) => vec![token.clone()],
        }
    }

    /// Every non-empty secret string inside (password or token), for masking in logs.
    pub fn secrets(&self) -> Vec<&str> {
        let secret = match self {
            Credentials::Basic { password, .. } => password,
            Credentials::IdentityToken(token) => token,
        };
        [secret.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect()
    }
}

/// Where credentials came from, so that an error about them can say which ones to fix. Never
/// holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// A command-line flag, e.g. `--dest-creds`.
    Flag(&'static str),
    /// A `_USER`/`_PASSWORD` pair of environment variables.
    Env {
        user: &'static str,
        password: &'static str,
    },
    /// Docker `config.json` at this path.
    DockerConfig(PathBuf),
    /// Environment variables named by a config file's `registries:` entry.
    ConfigEnv {
        file: String,
        user: String,
        password: String,
    },
}

impl fmt::Display for CredentialSource {
    /// `` `--dest-creds` ``, `` `TARGET_REGISTRY_USER`/`TARGET_REGISTRY_PASSWORD` ``,
    /// `` docker config `/home/me/.docker/config.json` ``.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::Flag(flag) => write!(f, "`{flag}`"),
            CredentialSource::Env { user, password } => write!(f, "`{user}`/`{password}`"),
            CredentialSource::DockerConfig(path) => {
                write!(f, "docker config `{}`", path.display())
            }
            CredentialSource::ConfigEnv {
                file,
                user,
                password,
            } => write!(f, "`{user}`/`{password}` (named in `{file}`)"),
        }
    }
}

/// Why credentials could not be read. Messages name the file, the key and the helper, never a
/// secret.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// Bad `USER:PASSWORD` text.
    #[error("invalid credentials: {problem}")]
    UserPass { problem: &'static str },
    /// It cannot be read, is not a regular file, or is over [`crate::bounded::DOCKER_CONFIG`]'s cap.
    #[error(transparent)]
    Read(#[from] crate::bounded::FileError),
    /// Invalid JSON; `message` is serde's, with the line and column.
    #[error("cannot parse docker config `{}`: {message}; fix the file or point `DOCKER_CONFIG` at another directory", path.display())]
    Parse {
        path: PathBuf,
        message: String,
        line: usize,
        column: usize,
    },
    /// A key with an unusable value.
    #[error("docker config `{}`: `{key}` {problem}", path.display())]
    Entry {
        path: PathBuf,
        key: String,
        problem: String,
    },
    /// The helper program is not installed.
    #[error(
        "credential helper `{helper}` for `{host}` was not found on PATH (`{key}` in docker config `{}`); \
         install it, or remove `{key}` from the file",
        path.display()
    )]
    HelperMissing {
        helper: String,
        host: String,
        key: String,
        path: PathBuf,
    },
    #[error("cannot run credential helper `{helper}` for `{host}`: {source}")]
    HelperRun {
        helper: String,
        host: String,
        source: std::io::Error,
    },
    /// The helper exited non-zero for another reason than "credentials not found".
    #[error("credential helper `{helper}` failed for `{host}` ({status}): {detail}")]
    HelperFailed {
        helper: String,
        host: String,
        status: String,
        detail: String,
    },
    /// The helper wrote more than [`crate::bounded::HELPER_OUTPUT_LIMIT`] bytes; it was stopped.
    #[error(
        "credential helper `{helper}` answered for `{host}` with more than {}; it was stopped",
        crate::bounded::human(crate::bounded::HELPER_OUTPUT_LIMIT)
    )]
    HelperOutputTooLarge { helper: String, host: String },
    /// The helper did not answer in time (it may be waiting for a prompt no one sees).
    #[error(
        "credential helper `{helper}` did not answer for `{host}` within {seconds}s and was stopped; \
         unlock it or log in again (`docker login {host}`), or remove it from docker config"
    )]
    HelperTimeout {
        helper: String,
        host: String,
        seconds: f64,
    },
    /// The helper succeeded but its answer is not `{"ServerURL","Username","Secret"}`.
    #[error(
        "credential helper `{helper}` answered for `{host}` with something other than JSON \
         `{{\"ServerURL\",\"Username\",\"Secret\"}}`"
    )]
    HelperOutput { helper: String, host: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(u: &str, p: &str) -> Option<Credentials> {
        Some(Credentials::Basic {
            username: u.into(),
            password: p.into(),
        })
    }

    #[test]
    fn credential_sources_name_where_to_look() {
        assert_eq!(
            CredentialSource::Flag("--dest-creds").to_string(),
            "`--dest-creds`"
        );
        let env = CredentialSource::Env {
            user: "TARGET_REGISTRY_USER",
            password: "TARGET_REGISTRY_PASSWORD",
        };
        assert_eq!(
            env.to_string(),
            "`TARGET_REGISTRY_USER`/`TARGET_REGISTRY_PASSWORD`"
        );
        let config = CredentialSource::DockerConfig(PathBuf::from("/home/me/.docker/config.json"));
        assert_eq!(
            config.to_string(),
            "docker config `/home/me/.docker/config.json`"
        );
    }

    #[test]
    fn debug_never_shows_secrets() {
        let b = Credentials::Basic {
            username: "bob".into(),
            password: "hunter2".into(),
        };
        assert_eq!(
            format!("{b:?}"),
            r#"Basic { username: "bob", password: "<redacted>" }"#
        );
        assert!(!format!("{b:#?}").contains("hunter2"));
        let t = Credentials::IdentityToken("tok-secret".into());
        assert_eq!(format!("{t:?}"), "IdentityToken(<redacted>)");
        assert!(!format!("{:?}", Some(&t)).contains("tok-secret"));
    }

    #[test]
    fn user_pass_text() {
        assert_eq!(Credentials::from_user_pass("a:b:c").ok(), basic("a", "b:c"));
        assert_eq!(
            Credentials::from_user_pass("bob:p@ss word").ok(),
            basic("bob", "p@ss word")
        );
        for bad in [":x", "nocolon", "", "bob:", ":"] {
            let err = Credentials::from_user_pass(bad).expect_err(bad).to_string();
            assert!(err.starts_with("invalid credentials: "), "{err}");
            if bad.len() > 1 {
                assert!(!err.contains(bad.trim_matches(':')), "{bad}: {err}");
            }
        }
        assert!(Credentials::from_user_pass("nocolon")
            .expect_err("error")
            .to_string()
            .contains("no `:`"));
        assert!(Credentials::from_user_pass(":x")
            .expect_err("error")
            .to_string()
            .contains("user before the first `:` is empty"));
    }

    #[test]
    fn accessors() {
        let b = Credentials::from_user_pass("bob:pw").expect("creds");
        assert_eq!(b.username(), Some("bob"));
        assert_eq!(b.secrets(), ["pw"]);
        let t = Credentials::IdentityToken("tok".into());
        assert_eq!(t.username(), None);
        assert_eq!(t.secrets(), ["tok"]);
        assert!(Credentials::IdentityToken(String::new())
            .secrets()
            .is_empty());
    }
}
