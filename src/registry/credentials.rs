//! Registry credentials: the [`Credentials`] type (whose `Debug` never shows a secret), the
//! `USER:PASSWORD` text of flags and environment variables, and the lookup in docker's
//! `config.json` — `credHelpers`, `auths` and `credsStore`, running `docker-credential-*`
//! helpers with docker's credential-helper protocol.
//!
//! Resolution order for one registry host, as the caller applies it: explicit `USER:PASSWORD`
//! ([`Credentials::from_user_pass`]), else [`lookup_docker_config`], else anonymous (`None`).

use base64::Engine as _;
use serde_json::{Map, Value};
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The key docker writes Docker Hub credentials under, and the server URL helpers are asked for.
const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";
/// Host names that all mean Docker Hub.
const DOCKER_HUB_HOSTS: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];
/// Helpers print this (in some capitalization) when they hold nothing for the server.
const NOT_FOUND: &str = "credentials not found";
/// Helper messages quoted in errors are cut to this many characters.
const DETAIL_LIMIT: usize = 200;

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

/// Where docker config lives: `$DOCKER_CONFIG/config.json` when `DOCKER_CONFIG` is set, else
/// `$HOME/.docker/config.json` (`%USERPROFILE%` on Windows); None without either.
pub fn docker_config_path() -> Option<PathBuf> {
    let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = non_empty(crate::env::DOCKER_CONFIG) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    let home = non_empty("HOME").or_else(|| {
        if cfg!(windows) {
            non_empty("USERPROFILE")
        } else {
            None
        }
    })?;
    Some(PathBuf::from(home).join(".docker").join("config.json"))
}

/// Look up credentials for `host` (as written in a reference: `docker.io`, `ghcr.io`,
/// `127.0.0.1:5000`) in the docker config at `path`; a missing file is `Ok(None)`. Order:
/// `credHelpers[host]` (final, as in docker), then a usable `auths` entry, then `credsStore`.
/// Helpers are looked up on `PATH`. Blocking: runs helper programs.
/// A helper that has not answered within `helper_timeout` is stopped and the lookup fails.
pub fn lookup_docker_config(
    path: &Path,
    host: &str,
    helper_timeout: Duration,
) -> Result<Option<Credentials>, CredentialError> {
    lookup_with_helper_dir(path, host, None, helper_timeout)
}

/// [`lookup_docker_config`], with helpers looked up in `helper_dir` instead of `PATH` when given.
pub(crate) fn lookup_with_helper_dir(
    path: &Path,
    host: &str,
    helper_dir: Option<&Path>,
    helper_timeout: Duration,
) -> Result<Option<Credentials>, CredentialError> {
    let bytes = match crate::bounded::read(path, &crate::bounded::DOCKER_CONFIG) {
        Ok(b) => b,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    // Parsed as a `Value` and read by hand: serde's type errors would quote values (secrets);
    // its syntax errors never do.
    let config: Value = serde_json::from_slice(&bytes).map_err(|e| CredentialError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
        line: e.line(),
        column: e.column(),
    })?;
    let cx = Lookup {
        path,
        host,
        helper_dir,
        helper_timeout,
    };
    let Some(config) = config.as_object() else {
        return Err(cx.entry_error("(top level)", "must be a JSON object"));
    };

    if let Some(helpers) = cx.object(config, "credHelpers")? {
        for key in cx.matching_keys(helpers) {
            let key_path = format!("credHelpers.\"{key}\"");
            if let Some(name) = cx.helper_name(helpers.get(key), &key_path)? {
                return cx.run_helper(name, &key_path);
            }
        }
    }

    if let Some(auths) = cx.object(config, "auths")? {
        for key in cx.matching_keys(auths) {
            if let Some(creds) = cx.auth_entry(auths.get(key), key)? {
                return Ok(Some(creds));
            }
        }
    }

    if let Some(name) = cx.helper_name(config.get("credsStore"), "credsStore")? {
        return cx.run_helper(name, "credsStore");
    }
    Ok(None)
}

/// The host part of an `auths` / `credHelpers` key: no scheme, no path, lowercase.
fn key_host(key: &str) -> String {
    let key = key.trim();
    let lower = key.to_ascii_lowercase();
    let rest = ["https://", "http://"]
        .iter()
        .find_map(|scheme| lower.strip_prefix(scheme))
        .unwrap_or(&lower);
    rest.split('/').next().unwrap_or_default().to_string()
}

fn is_docker_hub(host: &str) -> bool {
    DOCKER_HUB_HOSTS.contains(&host)
}

/// One lookup's context.
struct Lookup<'a> {
    path: &'a Path,
    host: &'a str,
    helper_dir: Option<&'a Path>,
    helper_timeout: Duration,
}

impl Lookup<'_> {
    fn entry_error(&self, key: &str, problem: &str) -> CredentialError {
        CredentialError::Entry {
            path: self.path.to_path_buf(),
            key: key.to_string(),
            problem: problem.to_string(),
        }
    }

    /// `config[name]` as an object; absent or null is None.
    fn object<'v>(
        &self,
        config: &'v Map<String, Value>,
        name: &str,
    ) -> Result<Option<&'v Map<String, Value>>, CredentialError> {
        match config.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(_) => Err(self.entry_error(name, "must be a JSON object")),
        }
    }

    /// The keys of `map` naming this host, best first: the key written exactly as the host (or
    /// docker's Docker Hub key), then the others in file order.
    fn matching_keys<'m>(&self, map: &'m Map<String, Value>) -> Vec<&'m str> {
        let host = key_host(self.host);
        let hub = is_docker_hub(&host);
        let mut keys: Vec<(bool, &str)> = map
            .keys()
            .filter(|k| {
                let kh = key_host(k);
                kh == host || (hub && is_docker_hub(&kh))
            })
            .map(|k| {
                let exact = k == self.host || (hub && k == DOCKER_HUB_SERVER);
                (!exact, k.as_str())
            })
            .collect();
        keys.sort_by_key(|(rank, _)| *rank);
        keys.into_iter().map(|(_, k)| k).collect()
    }

    /// A helper name setting (`credHelpers."host"` or `credsStore`); absent or empty is None.
    fn helper_name<'v>(
        &self,
        v: Option<&'v Value>,
        key: &str,
    ) -> Result<Option<&'v str>, CredentialError> {
        let name = match v {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) => s.trim(),
            Some(_) => {
                return Err(self.entry_error(
                    key,
                    "must be a string naming a credential helper, e.g. `desktop`",
                ))
            }
        };
        if name.is_empty() {
            return Ok(None);
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            return Err(self.entry_error(
                key,
                &format!("names helper `{name}`, which is not a valid helper name (letters, digits, `_`, `-`, `.`)"),
            ));
        }
        Ok(Some(name))
    }

    /// A string field of an `auths` entry; absent, null or empty is None.
    fn field<'v>(
        &self,
        entry: &'v Map<String, Value>,
        key: &str,
        name: &str,
    ) -> Result<Option<&'v str>, CredentialError> {
        match entry.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => {
                Err(self.entry_error(&format!("auths.\"{key}\".{name}"), "must be a string"))
            }
        }
    }

    /// Credentials in one `auths` entry; None when it holds nothing usable (e.g. `{}`, written
    /// by docker when a `credsStore` holds the secret).
    fn auth_entry(
        &self,
        entry: Option<&Value>,
        key: &str,
    ) -> Result<Option<Credentials>, CredentialError> {
        let entry = match entry {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Object(m)) => m,
            Some(_) => {
                return Err(self.entry_error(&format!("auths.\"{key}\""), "must be a JSON object"))
            }
        };
        if let Some(token) = self.field(entry, key, "identitytoken")? {
            return Ok(Some(Credentials::IdentityToken(token.to_string())));
        }
        if let Some(auth) = self.field(entry, key, "auth")? {
            let bad = |problem: &str| self.entry_error(&format!("auths.\"{key}\".auth"), problem);
            let decoded = base64_engine().decode(auth.trim()).map_err(|_| {
                bad("is not valid base64; write it as base64 of `user:password`, or log in again")
            })?;
            let decoded =
                String::from_utf8(decoded).map_err(|_| bad("does not decode to UTF-8 text"))?;
            let Some((username, password)) = decoded.split_once(':') else {
                return Err(bad(
                    "does not decode to `user:password` (no `:`); log in again",
                ));
            };
            if !username.is_empty() && !password.is_empty() {
                return Ok(Some(Credentials::Basic {
                    username: username.to_string(),
                    password: password.to_string(),
                }));
            }
            tracing::debug!(
                key,
                "docker config `auths` entry has an empty user or password; ignored"
            );
        }
        if let (Some(username), Some(password)) = (
            self.field(entry, key, "username")?,
            self.field(entry, key, "password")?,
        ) {
            return Ok(Some(Credentials::Basic {
                username: username.to_string(),
                password: password.to_string(),
            }));
        }
        Ok(None)
    }

    /// Where `docker-credential-<name>` is: in the helper directory when given, else on PATH.
    fn find_helper(&self, program: &str) -> Option<PathBuf> {
        let dirs: Vec<PathBuf> = match self.helper_dir {
            Some(d) => vec![d.to_path_buf()],
            None => std::env::var_os("PATH")
                .map(|p| std::env::split_paths(&p).collect())
                .unwrap_or_default(),
        };
        let names: Vec<String> = if cfg!(windows) {
            vec![
                format!("{program}.exe"),
                format!("{program}.cmd"),
                format!("{program}.bat"),
                program.to_string(),
            ]
        } else {
            vec![program.to_string()]
        };
        dirs.iter()
            .filter(|d| !d.as_os_str().is_empty())
            .flat_map(|d| names.iter().map(move |n| d.join(n)))
            .find(|p| is_executable(p))
    }

    /// Run `docker-credential-<name> get` for this host (the helper protocol): the server URL on
    /// stdin, `{"ServerURL","Username","Secret"}` on stdout. "credentials not found" is None.
    fn run_helper(&self, name: &str, key: &str) -> Result<Option<Credentials>, CredentialError> {
        let helper = format!("docker-credential-{name}");
        let host = key_host(self.host);
        let server = if is_docker_hub(&host) {
            DOCKER_HUB_SERVER
        } else {
            self.host
        };
        let Some(program) = self.find_helper(&helper) else {
            return Err(CredentialError::HelperMissing {
                helper,
                host: self.host.to_string(),
                key: key.to_string(),
                path: self.path.to_path_buf(),
            });
        };
        let run_error = |source: std::io::Error| CredentialError::HelperRun {
            helper: helper.clone(),
            host: self.host.to_string(),
            source,
        };
        tracing::debug!(helper = %helper, server, "asking credential helper");
        let mut child = Command::new(&program)
            .arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(run_error)?;
        // A helper may exit without reading stdin: a broken pipe is not an error of its own.
        let written = match child.stdin.take() {
            Some(mut stdin) => stdin.write_all(format!("{server}\n").as_bytes()),
            None => Ok(()),
        };
        // Both outputs read with a cap: stderr on a thread (so that neither pipe fills up and
        // stalls the helper); a helper that answers too much is stopped.
        let stderr_pipe = child.stderr.take();
        let stderr_reader = std::thread::spawn(move || {
            stderr_pipe
                .map(|p| read_capped(p, crate::bounded::HELPER_STDERR_LIMIT))
                .unwrap_or_default()
        });
        // stdout on a thread too, so that a helper that never answers can be stopped.
        let stdout_pipe = child.stdout.take();
        let (answered, answer) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let read = stdout_pipe
                .map(|p| read_capped(p, crate::bounded::HELPER_OUTPUT_LIMIT))
                .unwrap_or_default();
            let _ = answered.send(read);
        });
        let (stdout_bytes, too_large) = match answer.recv_timeout(self.helper_timeout) {
            Ok(read) => read,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(CredentialError::HelperTimeout {
                    helper,
                    host: self.host.to_string(),
                    seconds: self.helper_timeout.as_secs_f64(),
                });
            }
        };
        if too_large {
            let _ = child.kill();
        }
        let status = child.wait().map_err(run_error)?;
        let (stderr_bytes, _) = stderr_reader.join().unwrap_or_default();
        if too_large {
            return Err(CredentialError::HelperOutputTooLarge {
                helper,
                host: self.host.to_string(),
            });
        }
        if let Err(e) = written {
            if e.kind() != std::io::ErrorKind::BrokenPipe && status.success() {
                return Err(run_error(e));
            }
        }
        let stdout = String::from_utf8_lossy(&stdout_bytes);
        if !status.success() {
            let stderr = String::from_utf8_lossy(&stderr_bytes);
            let said = format!("{} {}", stdout.trim(), stderr.trim());
            if said.to_ascii_lowercase().contains(NOT_FOUND) {
                tracing::debug!(helper = %helper, server, "credential helper holds nothing; anonymous");
                return Ok(None);
            }
            let detail = [stderr.trim(), stdout.trim()]
                .into_iter()
                .find(|s| !s.is_empty())
                .unwrap_or("no message")
                .replace(['\n', '\r'], " ");
            let mut cut: String = detail.chars().take(DETAIL_LIMIT).collect();
            if cut.len() < detail.len() {
                cut.push('…');
            }
            return Err(CredentialError::HelperFailed {
                helper,
                host: self.host.to_string(),
                status: status.to_string(),
                detail: cut,
            });
        }
        let output_error = || CredentialError::HelperOutput {
            helper: helper.clone(),
            host: self.host.to_string(),
        };
        let answer: Value = serde_json::from_str(stdout.trim()).map_err(|_| output_error())?;
        let answer = answer.as_object().ok_or_else(output_error)?;
        let text = |name: &str| -> Result<&str, CredentialError> {
            match answer.get(name) {
                None | Some(Value::Null) => Ok(""),
                Some(Value::String(s)) => Ok(s),
                Some(_) => Err(output_error()),
            }
        };
        let (username, secret) = (text("Username")?, text("Secret")?);
        if secret.is_empty() {
            return Ok(None);
        }
        if username == "<token>" {
            return Ok(Some(Credentials::IdentityToken(secret.to_string())));
        }
        Ok(Some(Credentials::Basic {
            username: username.to_string(),
            password: secret.to_string(),
        }))
    }
}

/// At most `limit` bytes of `pipe`, and whether it held more (the rest is left unread: the
/// writer then gets a broken pipe).
fn read_capped(pipe: impl std::io::Read, limit: u64) -> (Vec<u8>, bool) {
    let mut bytes = Vec::new();
    // A read error ends the output; the exit status tells what happened.
    let _ = std::io::Read::read_to_end(&mut std::io::Read::take(pipe, limit + 1), &mut bytes);
    let more = bytes.len() as u64 > limit;
    bytes.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    (bytes, more)
}

/// Standard base64, padding optional (some tools drop it).
fn base64_engine() -> base64::engine::GeneralPurpose {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    )
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Generous: helpers in these tests answer at once (but one, which never does).
    const HELPER_WAIT: Duration = Duration::from_secs(20);
    use base64::engine::general_purpose::STANDARD;

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
    use serde_json::json;

    fn basic(u: &str, p: &str) -> Option<Credentials> {
        Some(Credentials::Basic {
            username: u.into(),
            password: p.into(),
        })
    }

    fn auth(u: &str, p: &str) -> Value {
        json!({ "auth": STANDARD.encode(format!("{u}:{p}")) })
    }

    /// A temp dir with `config.json` holding `config`.
    fn config_dir(config: &Value) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.json");
        std::fs::write(&path, serde_json::to_vec_pretty(config).expect("json")).expect("write");
        (dir, path)
    }

    fn lookup(config: &Value, host: &str) -> Result<Option<Credentials>, CredentialError> {
        let (_dir, path) = config_dir(config);
        // An empty helper dir: no helper is ever found on the machine's PATH.
        let helpers = tempfile::tempdir().expect("tempdir");
        lookup_with_helper_dir(&path, host, Some(helpers.path()), HELPER_WAIT)
    }

    #[test]
    fn missing_file_is_anonymous() {
        let dir = tempfile::tempdir().expect("tempdir");
        let got = lookup_docker_config(&dir.path().join("config.json"), "ghcr.io", HELPER_WAIT)
            .expect("lookup");
        assert_eq!(got, None);
        let path = dir.path().join("empty.json");
        std::fs::write(&path, "\n").expect("write");
        assert_eq!(
            lookup_docker_config(&path, "ghcr.io", HELPER_WAIT).expect("lookup"),
            None
        );
    }

    #[test]
    fn auths_entry_forms() {
        let config = json!({"auths": {
            "ghcr.io": auth("gh", "pa:ss"),
            "quay.io": {"username": "qu", "password": "qpass"},
            "registry.example.com": {"identitytoken": "refresh-token", "auth": STANDARD.encode("x:y")},
            "nopad.example.com": {"auth": STANDARD.encode("ab:c").trim_end_matches('=')},
            "other.example.com": auth("o", "p"),
        }});
        assert_eq!(
            lookup(&config, "ghcr.io").expect("lookup"),
            basic("gh", "pa:ss")
        );
        assert_eq!(
            lookup(&config, "quay.io").expect("lookup"),
            basic("qu", "qpass")
        );
        assert_eq!(
            lookup(&config, "registry.example.com").expect("lookup"),
            Some(Credentials::IdentityToken("refresh-token".into()))
        );
        assert_eq!(
            lookup(&config, "nopad.example.com").expect("lookup"),
            basic("ab", "c")
        );
        assert_eq!(
            lookup(&config, "unknown.example.com").expect("lookup"),
            None
        );
    }

    #[test]
    fn auths_key_forms() {
        let cases = [
            ("https://host.example/v1/", "host.example"),
            ("http://host.example", "host.example"),
            ("https://host.example", "host.example"),
            ("host.example/v2/", "host.example"),
            ("HTTPS://Host.Example/", "host.example"),
            ("http://127.0.0.1:5000", "127.0.0.1:5000"),
        ];
        for (key, host) in cases {
            let config = json!({"auths": {key: auth("u", "p")}});
            assert_eq!(
                lookup(&config, host).expect("lookup"),
                basic("u", "p"),
                "key {key}"
            );
        }
        // The port is part of the host.
        let config = json!({"auths": {"http://127.0.0.1:5000": auth("u", "p")}});
        assert_eq!(lookup(&config, "127.0.0.1").expect("lookup"), None);
        assert_eq!(lookup(&config, "127.0.0.1:5001").expect("lookup"), None);
    }

    #[test]
    fn docker_hub_key_mapping() {
        let config = json!({"auths": {"https://index.docker.io/v1/": auth("hub", "hp")}});
        for host in ["docker.io", "index.docker.io", "registry-1.docker.io"] {
            assert_eq!(
                lookup(&config, host).expect("lookup"),
                basic("hub", "hp"),
                "host {host}"
            );
        }
        let config = json!({"auths": {"docker.io": auth("hub2", "hp2")}});
        assert_eq!(
            lookup(&config, "index.docker.io").expect("lookup"),
            basic("hub2", "hp2")
        );
        assert_eq!(lookup(&config, "ghcr.io").expect("lookup"), None);
        // Docker's own key wins over other spellings.
        let config = json!({"auths": {"docker.io": auth("a", "1"), "https://index.docker.io/v1/": auth("b", "2")}});
        assert_eq!(
            lookup(&config, "docker.io").expect("lookup"),
            basic("a", "1")
        );
        assert_eq!(
            lookup(&config, "registry-1.docker.io").expect("lookup"),
            basic("b", "2")
        );
    }

    #[test]
    fn exact_key_wins_and_empty_entries_are_skipped() {
        let config = json!({"auths": {"https://ghcr.io": auth("scheme", "1"), "ghcr.io": auth("exact", "2")}});
        assert_eq!(
            lookup(&config, "ghcr.io").expect("lookup"),
            basic("exact", "2")
        );
        let config = json!({"auths": {"ghcr.io": {}, "https://ghcr.io/v1/": auth("second", "2")}});
        assert_eq!(
            lookup(&config, "ghcr.io").expect("lookup"),
            basic("second", "2")
        );
    }

    #[test]
    fn empty_entry_without_store_is_anonymous() {
        let config = json!({"auths": {"ghcr.io": {}}});
        assert_eq!(lookup(&config, "ghcr.io").expect("lookup"), None);
        let config = json!({"auths": {"ghcr.io": {"auth": ""}}, "credsStore": ""});
        assert_eq!(lookup(&config, "ghcr.io").expect("lookup"), None);
    }

    #[test]
    fn bad_entries_name_the_key_not_the_secret() {
        let config = json!({"auths": {"ghcr.io": {"auth": "!!!not-base64-hunter2"}}});
        let err = lookup(&config, "ghcr.io").expect_err("error").to_string();
        assert!(
            err.contains("`auths.\"ghcr.io\".auth` is not valid base64"),
            "{err}"
        );
        assert!(err.contains("config.json"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");

        let config = json!({"auths": {"ghcr.io": {"auth": STANDARD.encode("hunter2")}}});
        let err = lookup(&config, "ghcr.io").expect_err("error").to_string();
        assert!(err.contains("does not decode to `user:password`"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");

        let config = json!({"auths": {"ghcr.io": {"password": 12345}}});
        let err = lookup(&config, "ghcr.io").expect_err("error").to_string();
        assert!(
            err.contains("`auths.\"ghcr.io\".password` must be a string"),
            "{err}"
        );
        assert!(!err.contains("12345"), "{err}");

        let config = json!({"auths": "hunter2"});
        let err = lookup(&config, "ghcr.io").expect_err("error").to_string();
        assert!(err.contains("`auths` must be a JSON object"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn bad_json_names_file_and_position() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            "{\n  \"auths\": {\n    \"ghcr.io\": {\"auth\": \"c2VjcmV0\"}\n  \n",
        )
        .expect("write");
        let err = lookup_docker_config(&path, "ghcr.io", HELPER_WAIT).expect_err("error");
        let CredentialError::Parse { line, .. } = &err else {
            panic!("expected a parse error, got {err:?}");
        };
        assert_eq!(*line, 5);
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "cannot parse docker config `{}`: ",
                path.display()
            )),
            "{text}"
        );
        assert!(text.contains("line 5 column 0"), "{text}");
        assert!(!text.contains("c2VjcmV0"), "{text}");

        std::fs::write(&path, "[1, 2]").expect("write");
        let err = lookup_docker_config(&path, "ghcr.io", HELPER_WAIT)
            .expect_err("error")
            .to_string();
        assert!(err.contains("must be a JSON object"), "{err}");
    }

    #[test]
    fn a_docker_config_that_is_not_a_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = lookup_docker_config(dir.path(), "ghcr.io", HELPER_WAIT)
            .expect_err("error")
            .to_string();
        assert_eq!(
            err,
            format!(
                "cannot read docker config `{}`: it is a directory, not a regular file",
                dir.path().display()
            )
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

    #[test]
    fn key_host_forms() {
        for (key, want) in [
            ("ghcr.io", "ghcr.io"),
            ("https://index.docker.io/v1/", "index.docker.io"),
            ("http://localhost:5000/v2/", "localhost:5000"),
            ("Quay.IO", "quay.io"),
        ] {
            assert_eq!(key_host(key), want);
        }
    }

    #[test]
    fn missing_helper_names_helper_and_host() {
        let config = json!({"credsStore": "nosuchhelper"});
        let err = lookup(&config, "ghcr.io").expect_err("error").to_string();
        assert!(err.contains("`docker-credential-nosuchhelper`"), "{err}");
        assert!(err.contains("`ghcr.io`"), "{err}");
        assert!(err.contains("`credsStore`"), "{err}");
        let config = json!({"credHelpers": {"ghcr.io": "../evil"}});
        let err = lookup(&config, "ghcr.io").expect_err("error").to_string();
        assert!(err.contains("not a valid helper name"), "{err}");
    }

    #[cfg(unix)]
    mod helpers {
        use super::*;
        use std::os::unix::fs::PermissionsExt as _;
        use std::sync::Mutex;

        /// Writing an executable while another test thread forks can make exec fail with
        /// "text file busy"; helper tests write and run their scripts one at a time.
        static HELPER_LOCK: Mutex<()> = Mutex::new(());

        /// The test helper: records the server URL it was asked for in `asked`, then answers.
        const SCRIPT: &str = r#"#!/bin/sh
[ "$1" = get ] || { echo "unexpected arguments: $*" >&2; exit 3; }
read -r server
printf '%s\n' "$server" >> "$(dirname "$0")/asked"
case "$server" in
  ghcr.io) echo '{"ServerURL":"ghcr.io","Username":"helper-user","Secret":"helper-secret"}' ;;
  https://index.docker.io/v1/) echo '{"ServerURL":"https://index.docker.io/v1/","Username":"<token>","Secret":"hub-refresh"}' ;;
  quay.io) echo '{"ServerURL":"quay.io","Username":"store-user","Secret":"store-secret"}' ;;
  broken.example) echo 'not json'; exit 0 ;;
  fails.example) echo 'keychain locked' >&2; exit 2 ;;
  huge.example) exec yes '{"ServerURL":"huge.example","Username":"u","Secret":"s"}' ;;
  silent.example) exec sleep 600 ;;
  *) echo 'credentials not found in native keychain'; exit 1 ;;
esac
"#;

        struct Helpers {
            dir: tempfile::TempDir,
        }

        impl Helpers {
            fn new() -> Helpers {
                let dir = tempfile::tempdir().expect("tempdir");
                let path = dir.path().join("docker-credential-test");
                std::fs::write(&path, SCRIPT).expect("write helper");
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                    .expect("chmod");
                Helpers { dir }
            }

            fn lookup(
                &self,
                config: &Value,
                host: &str,
            ) -> Result<Option<Credentials>, CredentialError> {
                self.lookup_within(config, host, HELPER_WAIT)
            }

            fn lookup_within(
                &self,
                config: &Value,
                host: &str,
                wait: Duration,
            ) -> Result<Option<Credentials>, CredentialError> {
                let (_cfg, path) = config_dir(config);
                lookup_with_helper_dir(&path, host, Some(self.dir.path()), wait)
            }

            fn asked(&self) -> Vec<String> {
                std::fs::read_to_string(self.dir.path().join("asked"))
                    .unwrap_or_default()
                    .lines()
                    .map(str::to_string)
                    .collect()
            }
        }

        fn guard() -> std::sync::MutexGuard<'static, ()> {
            HELPER_LOCK.lock().unwrap_or_else(|p| p.into_inner())
        }

        #[test]
        fn cred_helpers_win_over_auths() {
            let _g = guard();
            let h = Helpers::new();
            let config = json!({
                "auths": {"ghcr.io": auth("file-user", "file-pass")},
                "credHelpers": {"ghcr.io": "test"},
            });
            assert_eq!(
                h.lookup(&config, "ghcr.io").expect("lookup"),
                basic("helper-user", "helper-secret")
            );
            assert_eq!(h.asked(), ["ghcr.io"]);
        }

        #[test]
        fn cred_helper_not_found_is_anonymous() {
            let _g = guard();
            let h = Helpers::new();
            // As in docker, a `credHelpers` entry is final: no fallback to `auths`.
            let config = json!({
                "auths": {"nothing.example": auth("file-user", "file-pass")},
                "credHelpers": {"nothing.example": "test"},
            });
            assert_eq!(h.lookup(&config, "nothing.example").expect("lookup"), None);
        }

        #[test]
        fn token_answer_is_an_identity_token() {
            let _g = guard();
            let h = Helpers::new();
            let config = json!({"credHelpers": {"index.docker.io": "test"}});
            for host in ["docker.io", "registry-1.docker.io"] {
                assert_eq!(
                    h.lookup(&config, host).expect("lookup"),
                    Some(Credentials::IdentityToken("hub-refresh".into()))
                );
            }
            assert_eq!(
                h.asked(),
                ["https://index.docker.io/v1/", "https://index.docker.io/v1/"]
            );
        }

        #[test]
        fn creds_store_fallback_and_empty_entry() {
            let _g = guard();
            let h = Helpers::new();
            let config = json!({
                "auths": {"quay.io": {}, "ghcr.io": auth("file-user", "file-pass")},
                "credsStore": "test",
            });
            // `{}` falls through to the store; a usable entry is used without asking it.
            assert_eq!(
                h.lookup(&config, "quay.io").expect("lookup"),
                basic("store-user", "store-secret")
            );
            assert_eq!(
                h.lookup(&config, "ghcr.io").expect("lookup"),
                basic("file-user", "file-pass")
            );
            assert_eq!(
                h.lookup(&config, "elsewhere.example").expect("lookup"),
                None
            );
            assert_eq!(h.asked(), ["quay.io", "elsewhere.example"]);
        }

        #[test]
        fn helper_failures_name_helper_and_host() {
            let _g = guard();
            let h = Helpers::new();
            let config = json!({"credsStore": "test"});
            let err = h
                .lookup(&config, "fails.example")
                .expect_err("error")
                .to_string();
            assert!(err.contains("`docker-credential-test`"), "{err}");
            assert!(err.contains("`fails.example`"), "{err}");
            assert!(err.contains("keychain locked"), "{err}");
            let err = h
                .lookup(&config, "broken.example")
                .expect_err("error")
                .to_string();
            assert!(
                err.contains("`docker-credential-test` answered for `broken.example`"),
                "{err}"
            );
        }

        #[test]
        fn a_helper_that_answers_without_end_is_stopped() {
            let _g = guard();
            let h = Helpers::new();
            let err = h
                .lookup(&json!({"credsStore": "test"}), "huge.example")
                .expect_err("error")
                .to_string();
            assert_eq!(
                err,
                "credential helper `docker-credential-test` answered for `huge.example` with more than 1 MiB; it was stopped"
            );
        }

        #[test]
        fn a_helper_that_never_answers_is_stopped_with_a_clear_error() {
            let _g = guard();
            let h = Helpers::new();
            let err = h
                .lookup_within(
                    &json!({"credsStore": "test"}),
                    "silent.example",
                    Duration::from_millis(300),
                )
                .expect_err("error")
                .to_string();
            assert_eq!(
                err,
                "credential helper `docker-credential-test` did not answer for `silent.example` within 0.3s and was stopped; \
                 unlock it or log in again (`docker login silent.example`), or remove it from docker config"
            );
        }

        #[test]
        fn non_executable_helper_is_missing() {
            let _g = guard();
            let h = Helpers::new();
            let path = h.dir.path().join("docker-credential-test");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            let err = h
                .lookup(&json!({"credsStore": "test"}), "ghcr.io")
                .expect_err("error")
                .to_string();
            assert!(err.contains("was not found on PATH"), "{err}");
        }
    }
}
