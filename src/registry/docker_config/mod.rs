//! Docker's `config.json`: credentials per host from `credHelpers`, `auths` and `credsStore`,
//! running `docker-credential-*` helpers with docker's credential-helper protocol (server URL
//! on stdin, `{"ServerURL","Username","Secret"}` on stdout), their outputs bounded and their
//! time limited.

use crate::registry::credentials::{CredentialError, Credentials};
use base64::Engine as _;
use serde_json::{Map, Value};
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
mod tests;
