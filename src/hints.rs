//! What a user can do about a registry's failure, in words that name this program's flags and
//! environment variables. The registry client reports what happened and who was refused
//! ([`Refused`]); the advice lives here, above it.

use crate::registry::convert::ConvertError;
use crate::registry::credentials::CredentialSource;
use crate::registry::error::{Refused, RegistryError};
use crate::registry::session::Role;

/// Where a target's namespace is created.
const NAMESPACES: &str = "Harbor: the project, or pass --create-namespace; Aliyun ACR, Tencent \
                          TCR, Huawei SWR: the namespace or organization, in their consoles";

/// The hint for `e`, when the fix is known.
pub fn for_registry(e: &RegistryError) -> Option<String> {
    match e {
        // Harbor refuses a push into a project that does not exist as if the credentials were
        // wrong, in its own words: then the namespace may be what is missing.
        RegistryError::Auth { who, detail, .. } => who.as_deref().map(|w| {
            let harbor = detail.contains("unauthorized to access repository");
            match w.role {
                Role::Target if w.had_credentials && harbor => format!(
                    "{}, or create the namespace first ({NAMESPACES})",
                    credentials_hint(w)
                ),
                _ => credentials_hint(w),
            }
        }),
        RegistryError::Denied {
            repository, who, ..
        } => Some(denied_hint(who, repository)),
        RegistryError::DigestMismatch { .. } | RegistryError::SizeMismatch { .. } => Some(
            "the source served different bytes than its manifest names (after retries); nothing was tagged, run again later or report it to the source registry".into(),
        ),
        RegistryError::ManifestUnknown { .. } => {
            Some("check the tag: the registry has no manifest by that name".into())
        }
        RegistryError::Connect { host, detail } if detail.contains("certificate") => Some(format!(
            "trust the registry's CA with `--ca-cert FILE` or `SSL_CERT_FILE`, or skip certificate checks for it with `--insecure-registry {host}`"
        )),
        RegistryError::Connect { .. } => Some(
            "check the address; for a plain-HTTP registry use `--insecure-registry HOST[:PORT]`".into(),
        ),
        RegistryError::Transport { detail, .. } if detail.contains("stalled") => Some(
            "the connection went silent on every attempt: check the network, or allow longer silences with `--stall-timeout SECONDS`".into(),
        ),
        RegistryError::Transport { .. } => Some(
            "the connection broke on every attempt: check the network and run again (only what is missing is copied); a flaky link may need more `--retries`".into(),
        ),
        RegistryError::File(e) => e.hint(),
        _ => None,
    }
}

/// What to do when a manifest cannot be converted to the requested format.
pub fn for_convert(e: &ConvertError) -> &'static str {
    match e {
        ConvertError::Layer { .. } => {
            "copy it unconverted with `--format oci` or `--format preserve`, or pick a tag built with gzip layers"
        }
        ConvertError::Artifact { .. } => {
            "copy it unconverted with `--format oci` or `--format preserve`"
        }
        ConvertError::Config { .. } => "use `--format preserve` to copy it unconverted",
    }
}

/// The flag and environment variables that give credentials for `who`'s role.
fn credential_options(who: &Refused) -> String {
    let (flag, user, password) = match who.role {
        Role::Source => (
            "--src-creds",
            crate::env::SOURCE_REGISTRY_USER,
            crate::env::SOURCE_REGISTRY_PASSWORD,
        ),
        Role::Target => (
            "--dest-creds",
            crate::env::TARGET_REGISTRY_USER,
            crate::env::TARGET_REGISTRY_PASSWORD,
        ),
    };
    format!(
        "`{flag} USER:PASSWORD`, `{user}`/`{password}`, or `docker login {}`",
        who.registry
    )
}

/// What to do when the registry wants credentials or refused ours.
fn credentials_hint(who: &Refused) -> String {
    match (who.had_credentials, &who.source) {
        (false, _) => format!(
            "give credentials for `{}` with {}",
            who.registry,
            credential_options(who)
        ),
        (true, Some(CredentialSource::Flag(flag))) => {
            format!("check the user and password given with `{flag}`")
        }
        (true, Some(CredentialSource::Env { user, password })) => {
            format!("check `{user}` and `{password}`")
        }
        (true, Some(CredentialSource::DockerConfig(path))) => format!(
            "log in again with `docker login {}`, or fix its entry in `{}`",
            who.registry,
            path.display()
        ),
        (
            true,
            Some(CredentialSource::ConfigEnv {
                file,
                user,
                password,
            }),
        ) => format!(
            "check `{user}` and `{password}`, the variables `{file}` names for `{}`",
            who.registry
        ),
        (true, None) => format!("check the credentials ({})", credential_options(who)),
    }
}

/// What to do when the registry refused an action on `repo`.
fn denied_hint(who: &Refused, repo: &str) -> String {
    match (who.role, who.had_credentials) {
        (Role::Target, false) => format!(
            "pushing needs credentials with write access to `{repo}`: give them with {}",
            credential_options(who)
        ),
        (Role::Source, false) => format!(
            "`{repo}` does not exist or is not readable anonymously: give credentials with {}",
            credential_options(who)
        ),
        (Role::Target, true) => format!(
            "{} lacks write access to `{repo}`, or its namespace does not exist: use credentials \
             that may push there, or create the namespace first ({NAMESPACES})",
            who.identity
        ),
        (Role::Source, true) => format!(
            "{} may not pull `{repo}`, or it does not exist: check the name, or use credentials that may pull it",
            who.identity
        ),
    }
}
