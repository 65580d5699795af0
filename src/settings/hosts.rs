//! The per-host credential table: which credentials go to which registry.
//!
//! A credential belongs to exactly one registry (as written in references: `docker.io`,
//! `ghcr.io`, `127.0.0.1:5000`) and one role (read as a source, written as a target), and the
//! registry client sends it to that registry and to the token realm of that registry's own
//! challenge, never elsewhere. Where the binding comes from:
//! - `HOST=USER:PASSWORD` (`--src-creds`, `--dest-creds`, repeatable): that host;
//! - `USER:PASSWORD` without a host, or the `TARGET_REGISTRY_*` variables: the target registry
//!   (the destination of `copy`/`sync`, `--target-registry`, a config job's target); a run
//!   without one is refused;
//! - `--src-creds USER:PASSWORD` without a host, or the `SOURCE_REGISTRY_*` variables: the
//!   source registry of `copy`/`sync`, or of a list whose sources all live on one registry
//!   (`SOURCE_REGISTRY` names it explicitly). A list spread over several registries is refused;
//!   so is a list others wrote (issue mode) unless the registry is named, since its author would
//!   otherwise choose where the credentials go;
//! - a config file's `registries:` entries: their host, both roles;
//! - docker `config.json`: looked up per host by the registry client when the table has nothing.
//!
//! [`Hosts`] is the per-host table a run resolves once: for every registry, whether it is
//! insecure, its extra CA files, the endpoint it is reached at and the credentials bound to it
//! (flags over environment over a config's `registries:`). CA files are trusted for every host
//! of the run (the TLS client is shared); the table records which host named them.

use crate::cli::CopyArgs;
use crate::reference::Reference;
use crate::registry::credentials::{CredentialError, CredentialSource, Credentials};
use crate::registry::transport::TransportOptions;
use crate::registry::Role;
use crate::settings::{ConfigFile, Environment};
use crate::usage::UsageError;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// One credential as given, before it is bound.
#[derive(Debug, Clone)]
pub struct Given {
    /// The registry named with `HOST=`, normalized; `None` when the text had no host.
    pub host: Option<String>,
    pub credentials: Credentials,
    pub source: CredentialSource,
}

/// Everything that gives credentials, per side.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub source: Vec<Given>,
    pub target: Vec<Given>,
}

/// The registries of a run that credentials without a host may belong to.
#[derive(Debug, Clone, Default)]
pub struct Registries {
    /// Where the images go: the destination of `copy`/`sync`, `--target-registry`, the targets
    /// of a config's jobs.
    pub targets: Vec<String>,
    /// Every registry images are read from.
    pub sources: Vec<String>,
    /// The sources come from a list other people write (issue mode).
    pub untrusted_sources: bool,
}

impl Registries {
    /// `copy`, `sync` and other runs whose registries come from the command line.
    pub fn of(sources: &[&str], targets: &[&str]) -> Registries {
        Registries {
            targets: targets.iter().map(|t| t.to_string()).collect(),
            sources: sources.iter().map(|s| s.to_string()).collect(),
            untrusted_sources: false,
        }
    }
}

/// The registry of `--target-registry` (or a config's `target.registry`) as references write
/// it; `None` when unset or empty.
pub fn target_registry(text: Option<&str>) -> Option<String> {
    let text = text.map(str::trim).filter(|t| !t.is_empty())?;
    Some(
        Reference::parse(&format!("{text}/x"))
            .map(|r| r.registry().to_string())
            .unwrap_or_else(|_| text.to_string()),
    )
}

/// Why credentials cannot be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("{given} has no registry to belong to: this run has no target registry")]
    NoTarget { given: String },
    #[error(
        "{given} would go to every source registry of the list ({}); a credential belongs to one registry",
        registries.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", ")
    )]
    ManySources {
        given: String,
        registries: Vec<String>,
    },
    #[error("{given} would go to `{registry}` because the request's images are there; in issue mode the registry must be named")]
    UntrustedSources { given: String, registry: String },
    #[error("`{text}` before `=` is not a registry host")]
    BadHost { text: String },
}

impl BindError {
    pub fn hint(&self) -> String {
        match self {
            BindError::NoTarget { .. } => "set `--target-registry` (or `TARGET_REGISTRY`), or bind the credential to its registry: `--dest-creds HOST=USER:PASSWORD`".into(),
            BindError::ManySources { registries, .. } => format!(
                "bind each credential to its registry: `--src-creds {}=USER:PASSWORD` (repeatable), or `SOURCE_REGISTRY=HOST` for the `SOURCE_REGISTRY_*` variables",
                registries.first().map(String::as_str).unwrap_or("HOST")
            ),
            BindError::UntrustedSources { registry, .. } => format!(
                "name the registry the source credentials are for: `--src-creds {registry}=USER:PASSWORD`, or `SOURCE_REGISTRY={registry}` beside `SOURCE_REGISTRY_USER`/`SOURCE_REGISTRY_PASSWORD`"
            ),
            BindError::BadHost { .. } => "write `HOST=USER:PASSWORD` with a registry host such as `ghcr.io` or `127.0.0.1:5000`, or `USER:PASSWORD`".into(),
        }
    }
}

/// `--src-creds`/`--dest-creds` text: `HOST=USER:PASSWORD` or `USER:PASSWORD`.
///
/// `HOST=` is recognised when the text before the first `=` is a registry host (a name with a
/// `.` or a port, or `localhost`) and a `:` follows; otherwise the whole text is
/// `USER:PASSWORD` (a password may hold `=`). Errors never quote the secret part.
pub fn parse_given(text: &str, flag: &'static str) -> Result<Given, GivenError> {
    let (host, rest) = match text.split_once('=') {
        Some((h, rest)) if looks_like_host(h) && rest.contains(':') => (Some(h), rest),
        _ => (None, text),
    };
    let credentials = Credentials::from_user_pass(rest).map_err(GivenError::Credentials)?;
    let host = host.map(registry_of).transpose()?;
    Ok(Given {
        host,
        credentials,
        source: CredentialSource::Flag(flag),
    })
}

/// Why a credential text cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum GivenError {
    #[error(transparent)]
    Credentials(CredentialError),
    #[error(transparent)]
    Bind(#[from] BindError),
}

/// A domain with a `.` or a port, `localhost`, or `[v6]:port`, in reference-grammar characters.
fn looks_like_host(h: &str) -> bool {
    let name = h.split(':').next().unwrap_or_default();
    let domainish = h.contains('.') || h.contains(':') || name == "localhost";
    domainish
        && !h.is_empty()
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// A host as written by a user (`index.docker.io`, `GHCR.IO`) as references write it.
pub fn registry_of(host: &str) -> Result<String, BindError> {
    let bad = || BindError::BadHost {
        text: host.to_string(),
    };
    let host = host.trim();
    if !looks_like_host(host) {
        return Err(bad());
    }
    let lower = host.to_ascii_lowercase();
    Reference::parse(&format!("{lower}/x"))
        .map(|r| r.registry().to_string())
        .map_err(|_| bad())
}

/// Credentials bound to (registry, role).
#[derive(Debug, Clone, Default)]
pub struct CredentialTable {
    entries: BTreeMap<(String, Role), (Credentials, CredentialSource)>,
}

impl CredentialTable {
    /// Bind every input to its registry; the first binding of a (registry, role) wins, and
    /// `HOST=` bindings come before host-less ones.
    pub fn bind(inputs: &Inputs, registries: &Registries) -> Result<CredentialTable, BindError> {
        let mut table = CredentialTable::default();
        let sides = [
            (Role::Source, &inputs.source),
            (Role::Target, &inputs.target),
        ];
        for (role, given) in sides {
            for g in given.iter().filter(|g| g.host.is_some()) {
                if let Some(h) = &g.host {
                    table.insert(h, role, g.credentials.clone(), g.source.clone());
                }
            }
        }
        let targets = distinct(&registries.targets);
        if let Some(g) = inputs.target.iter().find(|g| g.host.is_none()) {
            if targets.is_empty() {
                return Err(BindError::NoTarget {
                    given: g.source.to_string(),
                });
            }
            for t in &targets {
                table.insert(t, Role::Target, g.credentials.clone(), g.source.clone());
            }
        }
        if let Some(g) = inputs.source.iter().find(|g| g.host.is_none()) {
            let sources = distinct(&registries.sources);
            match sources.as_slice() {
                [] => tracing::debug!("{} is not used: no source registry", g.source),
                [one] if registries.untrusted_sources => {
                    return Err(BindError::UntrustedSources {
                        given: g.source.to_string(),
                        registry: one.clone(),
                    })
                }
                [one] => table.insert(one, Role::Source, g.credentials.clone(), g.source.clone()),
                many => {
                    return Err(BindError::ManySources {
                        given: g.source.to_string(),
                        registries: many.to_vec(),
                    })
                }
            }
        }
        Ok(table)
    }

    /// Bind `credentials` to `registry` in `role` unless something is bound there already.
    pub fn insert(
        &mut self,
        registry: &str,
        role: Role,
        credentials: Credentials,
        source: CredentialSource,
    ) {
        self.entries
            .entry((registry.to_string(), role))
            .or_insert((credentials, source));
    }

    /// Bind `credentials` to `registry` in both roles, over anything bound before (a config's
    /// `registries:` entry names its host itself).
    pub fn set_both(&mut self, registry: &str, credentials: Credentials, source: CredentialSource) {
        for role in [Role::Source, Role::Target] {
            self.entries.insert(
                (registry.to_string(), role),
                (credentials.clone(), source.clone()),
            );
        }
    }

    /// Every binding: (registry, role, credentials, where they came from).
    pub fn iter(&self) -> impl Iterator<Item = (&str, Role, &Credentials, &CredentialSource)> {
        self.entries
            .iter()
            .map(|((r, role), (c, s))| (r.as_str(), *role, c, s))
    }
}

/// One registry's settings.
#[derive(Debug, Clone, Default)]
pub(crate) struct Host {
    /// Plain HTTP, or HTTPS without certificate checks.
    pub(crate) insecure: bool,
    /// CA files named for this host (a config's `ca_cert`, relative to the config).
    pub(crate) ca: Vec<PathBuf>,
    /// `HOST[:PORT]` it is reached at instead of its name.
    pub(crate) endpoint: Option<String>,
    pub(crate) credentials: BTreeMap<Role, (Credentials, CredentialSource)>,
}

/// The per-host table of a run, plus the CA files given for every host (`--ca-cert`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Hosts {
    hosts: BTreeMap<String, Host>,
    ca_everywhere: Vec<PathBuf>,
}

impl Hosts {
    /// Resolve the flags, the environment and a config's `registries:`; bind credentials
    /// given without a host to `registries`.
    pub(crate) fn resolve(
        args: &CopyArgs,
        env: &dyn Environment,
        file: Option<&ConfigFile<'_>>,
        registries: &Registries,
    ) -> Result<Hosts, UsageError> {
        let mut hosts = Hosts {
            hosts: BTreeMap::new(),
            ca_everywhere: args.ca_cert.clone(),
        };
        // Flags, else the environment's comma lists.
        let insecure = if args.insecure_registry.is_empty() {
            super::env_list(env, crate::env::INSECURE_REGISTRIES)
        } else {
            args.insecure_registry.clone()
        };
        for h in insecure.iter().map(|h| h.trim()).filter(|h| !h.is_empty()) {
            hosts.entry(h).insecure = true;
        }
        let endpoints = if args.endpoint.is_empty() {
            super::env_list(env, crate::env::REGISTRY_ENDPOINTS)
        } else {
            args.endpoint.clone()
        };
        for e in &endpoints {
            let (reg, at) = e
                .split_once('=')
                .map(|(r, h)| (r.trim(), h.trim()))
                .filter(|(r, h)| !r.is_empty() && !h.is_empty())
                .ok_or_else(|| {
                    UsageError::new(format!("--endpoint `{e}`: expected `REGISTRY=HOST[:PORT]`"))
                        .hint("e.g. `--endpoint docker.io=mirror.example.com:5000`")
                })?;
            hosts.entry(reg).endpoint = Some(at.to_string());
        }
        // The config's entries, under the flags and the environment.
        let mut named = Vec::new();
        if let Some(f) = file {
            for (host, r) in &f.config.registries {
                let entry = hosts.entry(host);
                entry.insecure |= r.insecure;
                if let Some(ca) = &r.ca_cert {
                    entry.ca.push(f.dir.join(ca));
                }
                if entry.endpoint.is_none() {
                    entry.endpoint = r.endpoint.clone();
                }
                if let (Some(u), Some(p)) = (&r.username_env, &r.password_env) {
                    let read = |name: &str| {
                        env.var(name).ok_or_else(|| {
                            UsageError::new(format!(
                                "`{name}` is not set (named in `{}` for `{host}`)",
                                f.name
                            ))
                            .hint(format!(
                                "set `{name}`, e.g. from a repository secret in the workflow's `env:`"
                            ))
                        })
                    };
                    let creds = Credentials::Basic {
                        username: read(u)?,
                        password: read(p)?,
                    };
                    named.push((
                        host.clone(),
                        creds,
                        CredentialSource::ConfigEnv {
                            file: f.name.to_string(),
                            user: u.clone(),
                            password: p.clone(),
                        },
                    ));
                }
            }
        }
        let inputs = Inputs {
            source: side_credentials(
                &args.src_creds,
                "--src-creds",
                crate::env::SOURCE_REGISTRY_USER,
                crate::env::SOURCE_REGISTRY_PASSWORD,
                Some(crate::env::SOURCE_REGISTRY),
                env,
            )?,
            target: side_credentials(
                &args.dest_creds,
                "--dest-creds",
                crate::env::TARGET_REGISTRY_USER,
                crate::env::TARGET_REGISTRY_PASSWORD,
                None,
                env,
            )?,
        };
        let mut table = CredentialTable::bind(&inputs, registries)
            .map_err(|e| UsageError::new(e.to_string()).hint(e.hint()))?;
        for (registry, c, from) in named {
            table.set_both(&registry, c, from);
        }
        for (registry, role, c, from) in table.iter() {
            for s in c.secret_forms() {
                crate::untrusted::register_secret(&s);
            }
            hosts
                .entry(registry)
                .credentials
                .insert(role, (c.clone(), from.clone()));
        }
        Ok(hosts)
    }

    fn entry(&mut self, host: &str) -> &mut Host {
        self.hosts.entry(host.to_string()).or_default()
    }

    /// The settings of `host` as written (a registry, or an `--insecure-registry` entry).
    #[cfg(test)]
    pub(crate) fn host(&self, host: &str) -> Option<&Host> {
        self.hosts.get(host)
    }

    /// Every credential: (registry, role, credentials, where they came from).
    pub(crate) fn credentials(
        &self,
    ) -> impl Iterator<Item = (&str, Role, &Credentials, &CredentialSource)> {
        self.hosts.iter().flat_map(|(h, host)| {
            host.credentials
                .iter()
                .map(move |(role, (c, s))| (h.as_str(), *role, c, s))
        })
    }

    /// The passwords and tokens of the table, for `::add-mask::`.
    pub(crate) fn secrets(&self) -> Vec<String> {
        self.credentials()
            .flat_map(|(_, _, c, _)| {
                c.secrets()
                    .into_iter()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// How the transport reaches these hosts.
    pub(crate) fn transport_options(
        &self,
        retries: u32,
        stall: std::time::Duration,
    ) -> TransportOptions {
        let mut ca = self.ca_everywhere.clone();
        for h in self.hosts.values() {
            ca.extend(h.ca.iter().cloned());
        }
        TransportOptions {
            insecure: self
                .hosts
                .iter()
                .filter(|(_, h)| h.insecure)
                .map(|(name, _)| name.clone())
                .collect(),
            ca_certs: ca,
            endpoints: self
                .hosts
                .iter()
                .filter_map(|(name, h)| h.endpoint.clone().map(|e| (name.clone(), e)))
                .collect(),
            retry: crate::retry::RetryPolicy::with_retries(retries),
            stall,
            requests_per_host: crate::registry::transport::DEFAULT_REQUESTS_PER_HOST,
        }
    }
}

/// The credentials of one side: every `--src-creds`/`--dest-creds` value, then the
/// `_USER`/`_PASSWORD` pair (bound to `host_var`'s registry when that is set).
fn side_credentials(
    flags: &[String],
    flag_name: &'static str,
    user_var: &'static str,
    pass_var: &'static str,
    host_var: Option<&'static str>,
    env: &dyn Environment,
) -> Result<Vec<Given>, UsageError> {
    let mut out = Vec::new();
    for text in flags {
        let given = parse_given(text, flag_name).map_err(|e| match e {
            GivenError::Bind(b) => UsageError::new(format!("{flag_name}: {b}")).hint(b.hint()),
            GivenError::Credentials(c) => UsageError::new(format!("{flag_name}: {c}")).hint(
                "write credentials as `USER:PASSWORD`, or `HOST=USER:PASSWORD` for one registry",
            ),
        })?;
        out.push(given);
    }
    let both = format!("set both `{user_var}` and `{pass_var}`, or neither");
    match (env.var(user_var), env.var(pass_var)) {
        (Some(username), Some(password)) => {
            let host = host_var
                .and_then(|v| env.var(v))
                .filter(|h| !h.trim().is_empty())
                .map(|h| {
                    registry_of(&h).map_err(|e| {
                        UsageError::new(format!("`{}`: {e}", host_var.unwrap_or_default()))
                            .hint(e.hint())
                    })
                })
                .transpose()?;
            out.push(Given {
                host,
                credentials: Credentials::Basic { username, password },
                source: CredentialSource::Env {
                    user: user_var,
                    password: pass_var,
                },
            });
        }
        (Some(_), None) => {
            return Err(
                UsageError::new(format!("`{user_var}` is set but `{pass_var}` is not")).hint(both),
            )
        }
        (None, Some(_)) => {
            return Err(
                UsageError::new(format!("`{pass_var}` is set but `{user_var}` is not")).hint(both),
            )
        }
        (None, None) => {}
    }
    Ok(out)
}

fn distinct(list: &[String]) -> Vec<String> {
    list.iter()
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(text: &str) -> Given {
        parse_given(text, "--dest-creds").expect("valid")
    }

    fn bound(table: &CredentialTable) -> Vec<(String, Role, String)> {
        table
            .iter()
            .map(|(r, role, c, _)| (r.to_string(), role, c.username().unwrap_or("").to_string()))
            .collect()
    }

    #[test]
    fn host_forms() {
        assert_eq!(given("ghcr.io=bob:pw").host.as_deref(), Some("ghcr.io"));
        assert_eq!(
            given("127.0.0.1:5000=bob:pw=x").host.as_deref(),
            Some("127.0.0.1:5000")
        );
        assert_eq!(
            given("index.docker.io=bob:pw").host.as_deref(),
            Some("docker.io")
        );
        assert_eq!(given("localhost=bob:pw").host.as_deref(), Some("localhost"));
        // No host: the `=` is part of the user or the password.
        for text in ["bob:pa=ss", "bob=x:pw", "alice:1=2"] {
            assert_eq!(given(text).host, None, "{text}");
        }
        assert_eq!(given("bob:pa=ss").credentials.username(), Some("bob"));
        assert!(parse_given("ghcr.io=nopassword", "--dest-creds").is_err());
    }

    #[test]
    fn hostless_target_credentials_go_to_the_target_registry_only() {
        let inputs = Inputs {
            target: vec![given("bob:pw")],
            ..Default::default()
        };
        let regs = Registries {
            targets: vec!["r.example.com".into()],
            sources: vec!["docker.io".into(), "evil.example".into()],
            untrusted_sources: false,
        };
        let t = CredentialTable::bind(&inputs, &regs).expect("bound");
        assert_eq!(
            bound(&t),
            [("r.example.com".into(), Role::Target, "bob".into())]
        );
        let e = CredentialTable::bind(&inputs, &Registries::default()).expect_err("no target");
        assert!(matches!(e, BindError::NoTarget { .. }), "{e}");
    }

    #[test]
    fn hostless_source_credentials_need_one_source_registry() {
        let inputs = Inputs {
            source: vec![parse_given("al:pw", "--src-creds").expect("valid")],
            ..Default::default()
        };
        let one = Registries {
            sources: vec!["ghcr.io".into(), "ghcr.io".into()],
            ..Default::default()
        };
        let t = CredentialTable::bind(&inputs, &one).expect("bound");
        assert_eq!(bound(&t), [("ghcr.io".into(), Role::Source, "al".into())]);
        let many = Registries {
            sources: vec!["ghcr.io".into(), "quay.io".into()],
            ..Default::default()
        };
        let e = CredentialTable::bind(&inputs, &many).expect_err("many");
        assert_eq!(
            e.to_string(),
            "`--src-creds` would go to every source registry of the list (`ghcr.io`, `quay.io`); a credential belongs to one registry"
        );
        assert!(
            e.hint().contains("--src-creds ghcr.io=USER:PASSWORD"),
            "{}",
            e.hint()
        );
        let untrusted = Registries {
            untrusted_sources: true,
            ..one
        };
        let e = CredentialTable::bind(&inputs, &untrusted).expect_err("issue mode");
        assert!(matches!(e, BindError::UntrustedSources { .. }), "{e}");
    }

    #[test]
    fn named_hosts_win_and_stay_on_their_host() {
        let inputs = Inputs {
            source: vec![
                parse_given("quay.io=q:1", "--src-creds").expect("valid"),
                parse_given("ghcr.io=g:2", "--src-creds").expect("valid"),
            ],
            target: vec![given("r.example.com=named:3"), given("hostless:4")],
        };
        let regs = Registries {
            targets: vec!["r.example.com".into()],
            sources: vec!["quay.io".into(), "ghcr.io".into(), "docker.io".into()],
            untrusted_sources: true,
        };
        let t = CredentialTable::bind(&inputs, &regs).expect("bound");
        assert_eq!(
            bound(&t),
            [
                ("ghcr.io".into(), Role::Source, "g".into()),
                ("quay.io".into(), Role::Source, "q".into()),
                ("r.example.com".into(), Role::Target, "named".into()),
            ]
        );
    }
}
