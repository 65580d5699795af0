//! Settings resolved once. The flags (clap structs, read only here and in the commands), the
//! environment ([`Environment`]) and a config file's `defaults` and `registries` become typed
//! values: flags over environment over config over defaults. Nothing below the commands sees a
//! clap struct or reads an environment variable, and config values are never turned back into
//! flag text.
//!
//! [`Settings`] holds what a run needs: the copy options, the per-host table ([`hosts::Hosts`]:
//! insecure, CA, endpoint, credentials), the network limits, sharding, the state file, the
//! outputs and the notifications. A config job's own keys are resolved on top with
//! [`Settings::for_job`].

pub(crate) mod hosts;

use crate::cli::{CopyArgs, NotifyArgs, TargetArgs};
use crate::copy::{CopyOptions, Format, Platforms, ReferrerMode};
use crate::input::config::{self, Config, NotifyOn};
use crate::notify::Channel;
use crate::plan::naming::Namespace;
use crate::plan::shard::Shard;
use crate::registry::profile::ProfileChoice;
use crate::report::ChannelKind;
use crate::usage::UsageError;
use hosts::{Hosts, Registries};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where environment variables come from: the process, or a map in tests.
pub(crate) trait Environment {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment (empty values count as unset).
pub(crate) struct ProcessEnv;

impl Environment for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        crate::env::var(name)
    }
}

impl Environment for std::collections::BTreeMap<&str, &str> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(|v| v.to_string())
            .filter(|v| !v.is_empty())
    }
}

/// A config file with where it was read from (its paths are relative to it).
pub(crate) struct ConfigFile<'a> {
    pub(crate) config: &'a Config,
    /// As the user wrote it, for messages.
    pub(crate) name: &'a str,
    pub(crate) dir: &'a Path,
}

/// Where the report and the summary go, and their language.
#[derive(Debug, Clone)]
pub(crate) struct Outputs {
    pub(crate) report_json: Option<PathBuf>,
    pub(crate) summary: Option<PathBuf>,
    /// `en` or `zh`: comments, summaries, chat messages.
    pub(crate) lang: String,
}

/// Who hears about a run, and when.
#[derive(Debug, Clone)]
pub(crate) struct Notifications {
    pub(crate) channels: Vec<Channel>,
    pub(crate) on: NotifyOn,
    pub(crate) timeout: Duration,
}

/// Everything a run needs, resolved.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) copy: CopyOptions,
    /// Images in flight at once.
    pub(crate) parallel: usize,
    pub(crate) blobs_in_flight: usize,
    /// Requests waiting for an answer at once, per registry host.
    pub(crate) requests_in_flight: usize,
    pub(crate) retries: u32,
    /// No byte for this long ends an attempt.
    pub(crate) stall: Duration,
    pub(crate) hosts: Hosts,
    pub(crate) shard: Option<Shard>,
    pub(crate) state: Option<PathBuf>,
    pub(crate) outputs: Outputs,
    pub(crate) notify: Notifications,
}

/// `value` of environment variable `name` as a number within `range`.
fn env_number<T>(
    env: &dyn Environment,
    name: &str,
    range: std::ops::RangeInclusive<T>,
) -> Result<Option<T>, UsageError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let Some(text) = env.var(name) else {
        return Ok(None);
    };
    match text.trim().parse::<T>() {
        Ok(n) if range.contains(&n) => Ok(Some(n)),
        _ => Err(UsageError::new(format!(
            "`{name}`: `{}` is not a number from {} to {}",
            crate::untrusted::inert(&text, 40),
            range.start(),
            range.end()
        ))
        .hint(format!("unset `{name}` or give a number in that range"))),
    }
}

/// A comma list from the environment, trimmed, empty items dropped.
fn env_list(env: &dyn Environment, name: &str) -> Vec<String> {
    env.var(name)
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// The platforms to keep: `--all-platforms`, else `--platform`/`PLATFORMS`, else the config's,
/// else `linux/amd64`.
pub(crate) fn platforms(
    all_flag: bool,
    flag: Option<&str>,
    env: &dyn Environment,
    config: Option<&config::Settings>,
) -> Result<Platforms, UsageError> {
    if all_flag {
        return Ok(Platforms::All);
    }
    let given = flag
        .map(str::to_string)
        .or_else(|| env.var(crate::env::PLATFORMS));
    let text = match (given, config) {
        (Some(t), _) => t,
        (None, Some(c)) if c.all_platforms == Some(true) => return Ok(Platforms::All),
        (
            None,
            Some(config::Settings {
                platforms: Some(p), ..
            }),
        ) => p.join(","),
        (None, _) => "linux/amd64".to_string(),
    };
    let list = crate::registry::platform::parse_list(&text).map_err(|e| {
        UsageError::new(format!("--platform: {e}")).hint(
            "write platforms as `os/arch[/variant]`, comma-separated, e.g. `linux/amd64,linux/arm64`",
        )
    })?;
    Ok(Platforms::Only(list))
}

/// The format: `--format`, else `FORMAT`, else the config's, else v2s2.
fn format(
    flag: Option<Format>,
    env: &dyn Environment,
    config: Option<&config::Settings>,
) -> Result<Format, UsageError> {
    if let Some(f) = flag {
        return Ok(f);
    }
    if let Some(f) = env_choice(env, crate::env::FORMAT, "a format")? {
        return Ok(f);
    }
    Ok(config.and_then(|c| c.format).unwrap_or(Format::V2s2))
}

/// One of a flag's values from the environment variable `name`, when set: `what` names the
/// kind in the error, whose hint lists the values.
fn env_choice<T: clap::ValueEnum>(
    env: &dyn Environment,
    name: &str,
    what: &str,
) -> Result<Option<T>, UsageError> {
    let Some(text) = env.var(name) else {
        return Ok(None);
    };
    T::from_str(text.trim(), true).map(Some).map_err(|_| {
        let values: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value())
            .map(|v| format!("`{}`", v.get_name()))
            .collect();
        UsageError::new(format!(
            "`{name}`: `{}` is not {what}",
            crate::untrusted::inert(&text, 40)
        ))
        .hint(format!("use one of {}", values.join(", ")))
    })
}

/// `--referrers`, else `REFERRERS`, else the config's, else `all`.
fn referrers(
    flag: Option<ReferrerMode>,
    env: &dyn Environment,
    config: Option<&config::Settings>,
) -> Result<ReferrerMode, UsageError> {
    if let Some(r) = flag {
        return Ok(r);
    }
    if let Some(r) = env_choice(env, crate::env::REFERRERS, "a choice")? {
        return Ok(r);
    }
    Ok(config.and_then(|c| c.referrers).unwrap_or_default())
}

/// `--target-profile`, else `TARGET_PROFILE`, else the config's, else `auto`.
fn target_profile(
    flag: Option<ProfileChoice>,
    env: &dyn Environment,
    config: Option<&config::Settings>,
) -> Result<ProfileChoice, UsageError> {
    if let Some(p) = flag {
        return Ok(p);
    }
    if let Some(text) = env.var(crate::env::TARGET_PROFILE) {
        return text.parse().map_err(|e: String| {
            UsageError::new(format!(
                "`{}`: {}",
                crate::env::TARGET_PROFILE,
                crate::untrusted::inert(&e, 300)
            ))
            .hint("unset it for `auto` (the target known by its host name)")
        });
    }
    Ok(config.and_then(|c| c.target_profile).unwrap_or_default())
}

/// Images in flight: `--parallel`, else `MAX_PARALLEL`, else the config's, else 5.
fn parallel(
    flag: Option<u32>,
    env: &dyn Environment,
    config: Option<&config::Settings>,
) -> Result<usize, UsageError> {
    let n = match flag {
        Some(n) => n,
        None => match env_number(env, crate::env::MAX_PARALLEL, 1..=64)? {
            Some(n) => n,
            None => config.and_then(|c| c.parallel).unwrap_or(5),
        },
    };
    Ok(n.max(1) as usize)
}

/// The language of comments and messages: `--lang`, else `REPORT_LANG`, else `en`.
pub(crate) fn lang(args: &NotifyArgs, env: &dyn Environment) -> String {
    args.lang
        .clone()
        .or_else(|| env.var(crate::env::REPORT_LANG))
        .unwrap_or_else(|| "en".into())
        .trim()
        .to_string()
}

/// The notification channels the flags and their variables name.
fn channels(args: &NotifyArgs, env: &dyn Environment) -> Vec<Channel> {
    let pick = |flag: &Option<String>, var: &str| {
        flag.clone()
            .or_else(|| env.var(var))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let mut out = Vec::new();
    let mut add = |kind, url: Option<String>, secret: Option<String>| {
        if let Some(url) = url {
            out.push(Channel { kind, url, secret });
        }
    };
    use crate::env as e;
    add(
        ChannelKind::Wecom,
        pick(&args.wecom_webhook, e::WECOM_WEBHOOK_URL),
        None,
    );
    add(
        ChannelKind::Dingtalk,
        pick(&args.dingtalk_webhook, e::DINGTALK_WEBHOOK_URL),
        pick(&args.dingtalk_secret, e::DINGTALK_SECRET),
    );
    add(
        ChannelKind::Feishu,
        pick(&args.feishu_webhook, e::FEISHU_WEBHOOK_URL),
        pick(&args.feishu_secret, e::FEISHU_SECRET),
    );
    add(
        ChannelKind::Slack,
        pick(&args.slack_webhook, e::SLACK_WEBHOOK_URL),
        None,
    );
    add(
        ChannelKind::Webhook,
        pick(&args.webhook, e::NOTIFY_WEBHOOK_URL),
        None,
    );
    out
}

/// The channels of a config's `notify`, read from the variables it names. A variable that is
/// not set (a fork without the secret) skips its channel with a warning.
fn config_channels(file: &ConfigFile<'_>, env: &dyn Environment) -> Vec<Channel> {
    let Some(n) = &file.config.notify else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (kind, hook) in [
        (ChannelKind::Wecom, &n.wecom),
        (ChannelKind::Dingtalk, &n.dingtalk),
        (ChannelKind::Feishu, &n.feishu),
        (ChannelKind::Slack, &n.slack),
        (ChannelKind::Webhook, &n.webhook),
    ] {
        let Some(h) = hook else { continue };
        match env.var(&h.webhook_env) {
            Some(url) => out.push(Channel {
                kind,
                url,
                secret: h.secret_env.as_deref().and_then(|v| env.var(v)),
            }),
            None => tracing::warn!(
                "`{}` is not set (named in `{}` for {kind:?}); that notification is skipped",
                h.webhook_env,
                file.name
            ),
        }
    }
    out
}

impl Settings {
    /// Resolve the flags of a copying command with the environment and, for `run`, the config
    /// file. `registries` are the run's sources and targets, which credentials given without a
    /// host belong to.
    pub(crate) fn resolve(
        args: &CopyArgs,
        env: &dyn Environment,
        file: Option<&ConfigFile<'_>>,
        registries: &Registries,
    ) -> Result<Settings, UsageError> {
        let defaults = file.map(|f| &f.config.defaults);
        let copy = CopyOptions {
            platforms: platforms(args.all_platforms, args.platform.as_deref(), env, defaults)?,
            format: format(args.format, env, defaults)?,
            dry_run: args.dry_run,
            chunk_size: args.chunk_size,
            referrers: referrers(args.referrers, env, defaults)?,
            create_namespace: args.create_namespace,
            target_profile: target_profile(args.target_profile, env, defaults)?,
        };
        let retries = match args.retries {
            Some(n) => n,
            None => env_number(env, crate::env::RETRIES, 0..=20)?.unwrap_or(3),
        };
        let stall = match args.stall_timeout {
            Some(n) => n,
            None => env_number(env, crate::env::STALL_TIMEOUT, 1..=3600)?.unwrap_or(30),
        };
        let hosts = Hosts::resolve(args, env, file, registries)?;
        let lang = lang(&args.notify, env);
        let notify_on = match args.notify.notify_on {
            Some(on) => on,
            None => match env.var(crate::env::NOTIFY_ON) {
                Some(t) => clap::ValueEnum::from_str(t.trim(), true).map_err(|_| {
                    UsageError::new(format!(
                        "`NOTIFY_ON`: `{}` is not a choice",
                        crate::untrusted::inert(&t, 40)
                    ))
                    .hint("use `always`, `failure` or `never`")
                })?,
                None => file
                    .and_then(|f| f.config.notify.as_ref())
                    .and_then(|n| n.on)
                    .unwrap_or_default(),
            },
        };
        let mut channels = channels(&args.notify, env);
        if let Some(f) = file {
            channels.extend(config_channels(f, env));
        }
        for c in &channels {
            crate::untrusted::register_secret(&c.url);
            if let Some(s) = &c.secret {
                crate::untrusted::register_secret(s);
            }
        }
        Ok(Settings {
            copy,
            parallel: parallel(args.parallel, env, defaults)?,
            blobs_in_flight: args.blobs_in_flight as usize,
            requests_in_flight: args.requests_in_flight as usize,
            retries,
            stall: Duration::from_secs(stall),
            hosts,
            shard: args.shard,
            state: args.state.clone().or_else(|| {
                env.var(crate::env::REGISTRY_MIRROR_STATE)
                    .map(PathBuf::from)
            }),
            outputs: Outputs {
                report_json: args.report_json.clone(),
                summary: args
                    .summary
                    .clone()
                    .or_else(|| env.var(crate::env::GITHUB_STEP_SUMMARY).map(PathBuf::from)),
                lang,
            },
            notify: Notifications {
                channels,
                on: notify_on,
                timeout: Duration::from_secs(args.notify.notify_timeout.max(1)),
            },
        })
    }

    /// The copy options and parallelism of one config job: its own keys and `defaults` merged
    /// (the job's win), under the flags and the environment.
    pub(crate) fn for_job(
        &self,
        args: &CopyArgs,
        env: &dyn Environment,
        job: &config::Settings,
    ) -> Result<(CopyOptions, usize), UsageError> {
        let copy = CopyOptions {
            platforms: platforms(args.all_platforms, args.platform.as_deref(), env, Some(job))?,
            format: format(args.format, env, Some(job))?,
            referrers: referrers(args.referrers, env, Some(job))?,
            target_profile: target_profile(args.target_profile, env, Some(job))?,
            ..self.copy.clone()
        };
        Ok((copy, parallel(args.parallel, env, Some(job))?))
    }

    /// Every secret a run knows, for `::add-mask::` under GitHub Actions.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let mut out = self.hosts.secrets();
        for c in &self.notify.channels {
            out.push(c.url.clone());
            out.extend(c.secret.clone());
        }
        out
    }
}

/// The target namespace of `mirror`, `issue` and `run`: `--target-registry`/`TARGET_REGISTRY`,
/// `--target-namespace`/`TARGET_NAMESPACE`, `--naming` (default `flatten`).
pub(crate) fn target_namespace(args: &TargetArgs, env: &dyn Environment) -> Namespace {
    Namespace {
        registry: args
            .target_registry
            .clone()
            .or_else(|| env.var(crate::env::TARGET_REGISTRY))
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty()),
        namespace: args
            .target_namespace
            .clone()
            .or_else(|| env.var(crate::env::TARGET_NAMESPACE))
            .unwrap_or_default()
            .trim()
            .to_string(),
        naming: args.naming.unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;
    use std::collections::BTreeMap;

    fn copy_args(argv: &[&str]) -> CopyArgs {
        let mut full = vec!["registry-mirror", "copy", "a/b:1", "c/d:1"];
        full.extend_from_slice(argv);
        match Cli::parse_from(full).command {
            crate::cli::Command::Copy(c) => c.copy,
            _ => unreachable!("copy"),
        }
    }

    fn config(text: &str) -> Config {
        crate::input::config::parse("mirror.yaml", text).expect("valid config")
    }

    fn resolve(
        argv: &[&str],
        env_pairs: &[(&'static str, &'static str)],
        file: Option<&Config>,
    ) -> Result<Settings, UsageError> {
        // The config names these for `quay.io`; a run without them is refused.
        let mut env: BTreeMap<&str, &str> = [("QUAY_USER", "q"), ("QUAY_PASSWORD", "pw-quay")]
            .into_iter()
            .collect();
        env.extend(env_pairs.iter().copied());
        let file = file.map(|config| ConfigFile {
            config,
            name: "mirror.yaml",
            dir: Path::new("/etc/mirror"),
        });
        Settings::resolve(
            &copy_args(argv),
            &env,
            file.as_ref(),
            &Registries::of(&["docker.io"], &["r.example.com"]),
        )
    }

    const CONFIG: &str = "version: 1\ndefaults:\n  platforms: [linux/arm64]\n  format: oci\n  parallel: 7\nregistries:\n  r.example.com: {insecure: true, endpoint: \"10.0.0.5:5000\", ca_cert: certs/ca.pem}\n  quay.io: {username_env: QUAY_USER, password_env: QUAY_PASSWORD}\njobs:\n  - name: a\n    images: x:1\n    platforms: [linux/s390x]\n";

    #[test]
    fn flags_over_environment_over_config_over_defaults() {
        let c = config(CONFIG);
        let plain = resolve(&[], &[], None).expect("defaults");
        assert_eq!(plain.copy.platforms.describe().join(","), "linux/amd64");
        assert_eq!(
            (plain.copy.format, plain.parallel, plain.retries),
            (Format::V2s2, 5, 3)
        );
        assert_eq!(plain.stall, Duration::from_secs(30));

        let from_config = resolve(&[], &[], Some(&c)).expect("config");
        assert_eq!(
            from_config.copy.platforms.describe().join(","),
            "linux/arm64"
        );
        assert_eq!(
            (from_config.copy.format, from_config.parallel),
            (Format::Oci, 7)
        );

        let env = [
            ("PLATFORMS", "linux/ppc64le"),
            ("FORMAT", "preserve"),
            ("MAX_PARALLEL", "9"),
            ("RETRIES", "6"),
            ("STALL_TIMEOUT", "4"),
        ];
        let from_env = resolve(&[], &env, Some(&c)).expect("env");
        assert_eq!(
            from_env.copy.platforms.describe().join(","),
            "linux/ppc64le"
        );
        assert_eq!(
            (from_env.copy.format, from_env.parallel, from_env.retries),
            (Format::Preserve, 9, 6)
        );
        assert_eq!(from_env.stall, Duration::from_secs(4));

        let argv = [
            "--platform",
            "linux/riscv64",
            "--format",
            "oci",
            "--parallel",
            "2",
            "--retries",
            "1",
            "--stall-timeout",
            "8",
        ];
        let from_flags = resolve(&argv, &env, Some(&c)).expect("flags");
        assert_eq!(
            from_flags.copy.platforms.describe().join(","),
            "linux/riscv64"
        );
        assert_eq!(
            (
                from_flags.copy.format,
                from_flags.parallel,
                from_flags.retries
            ),
            (Format::Oci, 2, 1)
        );
        assert_eq!(from_flags.stall, Duration::from_secs(8));

        // A job's own keys beat `defaults`, and still lose to the flags and the environment.
        let job = crate::input::config::merged(&c.defaults, &c.jobs[0].settings);
        let (opts, parallel) = from_config
            .for_job(&copy_args(&[]), &BTreeMap::new(), &job)
            .expect("job");
        assert_eq!(
            (opts.platforms.describe().join(","), parallel),
            ("linux/s390x".into(), 7)
        );
        let env_map: BTreeMap<&str, &str> = [("PLATFORMS", "linux/ppc64le")].into_iter().collect();
        let (opts, _) = from_config
            .for_job(&copy_args(&[]), &env_map, &job)
            .expect("job");
        assert_eq!(opts.platforms.describe().join(","), "linux/ppc64le");
    }

    #[test]
    fn target_profile_from_flag_environment_job_and_defaults() {
        use crate::registry::profile::Profile;
        let c = config(
            "version: 1\ndefaults:\n  target_profile: acr\njobs:\n  - name: a\n    images: x:1\n    target_profile: swr\n  - name: b\n    images: y:1\n",
        );
        let plain = resolve(&[], &[], None).expect("plain");
        assert_eq!(plain.copy.target_profile, ProfileChoice::Auto);
        let base = resolve(&[], &[], Some(&c)).expect("config");
        assert_eq!(base.copy.target_profile, ProfileChoice::Named(Profile::Acr));
        let none = BTreeMap::new();
        let job = |i: usize| crate::input::config::merged(&c.defaults, &c.jobs[i].settings);
        let (a, _) = base.for_job(&copy_args(&[]), &none, &job(0)).expect("a");
        let (b, _) = base.for_job(&copy_args(&[]), &none, &job(1)).expect("b");
        assert_eq!(
            (a.target_profile, b.target_profile),
            (
                ProfileChoice::Named(Profile::Swr),
                ProfileChoice::Named(Profile::Acr)
            )
        );
        let env: BTreeMap<&str, &str> = [("TARGET_PROFILE", "auto")].into_iter().collect();
        let (a, _) = base.for_job(&copy_args(&[]), &env, &job(0)).expect("env");
        assert_eq!(a.target_profile, ProfileChoice::Auto);
        let args = copy_args(&["--target-profile", "harbor"]);
        let (b, _) = base.for_job(&args, &env, &job(1)).expect("flag");
        assert_eq!(b.target_profile, ProfileChoice::Named(Profile::Harbor));
        let e = resolve(&[], &[("TARGET_PROFILE", "ecr")], None).expect_err("bad");
        assert!(
            e.message.contains("`ecr` is not a target profile"),
            "{}",
            e.message
        );
        let bad =
            "version: 1\ndefaults:\n  target_profile: ecr\njobs:\n  - name: a\n    images: x:1\n";
        let e = crate::input::config::parse("mirror.yaml", bad)
            .map(|_| ())
            .expect_err("bad config");
        assert!(
            e.to_string().contains("`ecr` is not a target profile"),
            "{e}"
        );
    }

    #[test]
    fn referrers_from_flag_environment_job_and_defaults() {
        let c = config(
            "version: 1\ndefaults:\n  referrers: signatures\njobs:\n  - name: a\n    images: x:1\n    referrers: none\n  - name: b\n    images: y:1\n",
        );
        assert_eq!(
            resolve(&[], &[], None).expect("plain").copy.referrers,
            ReferrerMode::All
        );
        let base = resolve(&[], &[], Some(&c)).expect("config");
        assert_eq!(base.copy.referrers, ReferrerMode::Signatures);
        let none = BTreeMap::new();
        let job = |i: usize| crate::input::config::merged(&c.defaults, &c.jobs[i].settings);
        let (a, _) = base.for_job(&copy_args(&[]), &none, &job(0)).expect("a");
        let (b, _) = base.for_job(&copy_args(&[]), &none, &job(1)).expect("b");
        assert_eq!(
            (a.referrers, b.referrers),
            (ReferrerMode::None, ReferrerMode::Signatures)
        );
        let env: BTreeMap<&str, &str> = [("REFERRERS", "all")].into_iter().collect();
        let (a, _) = base.for_job(&copy_args(&[]), &env, &job(0)).expect("env");
        assert_eq!(a.referrers, ReferrerMode::All);
        let args = copy_args(&["--referrers", "none"]);
        let (b, _) = base.for_job(&args, &env, &job(1)).expect("flag");
        assert_eq!(b.referrers, ReferrerMode::None);
        let e = resolve(&[], &[("REFERRERS", "some")], None).expect_err("bad");
        assert_eq!(e.message, "`REFERRERS`: `some` is not a choice");
    }

    #[test]
    fn bad_environment_values_are_usage_errors_naming_the_variable() {
        let e = resolve(&[], &[("MAX_PARALLEL", "lots")], None).expect_err("bad");
        assert_eq!(
            e.message,
            "`MAX_PARALLEL`: `lots` is not a number from 1 to 64"
        );
        let e = resolve(&[], &[("FORMAT", "docker")], None).expect_err("bad");
        assert_eq!(e.message, "`FORMAT`: `docker` is not a format");
        let e = resolve(&[], &[("PLATFORMS", "linux")], None).expect_err("bad");
        assert!(e.message.starts_with("--platform: "), "{}", e.message);
    }

    #[test]
    fn hosts_merge_flags_environment_and_config_per_host() {
        let c = config(CONFIG);
        let env = [
            ("INSECURE_REGISTRIES", "lan.example:5000"),
            ("REGISTRY_ENDPOINTS", "docker.io=mirror.example:5000"),
            ("TARGET_REGISTRY_USER", "robot"),
            ("TARGET_REGISTRY_PASSWORD", "pw-target"),
            ("QUAY_USER", "q"),
            ("QUAY_PASSWORD", "pw-quay"),
        ];
        let s = resolve(&["--endpoint", "ghcr.io=ghcr-cache:443"], &env, Some(&c)).expect("ok");
        let r = s.hosts.host("r.example.com").expect("target host");
        assert!(r.insecure);
        assert_eq!(r.endpoint.as_deref(), Some("10.0.0.5:5000"));
        assert_eq!(r.ca, vec![PathBuf::from("/etc/mirror/certs/ca.pem")]);
        // Host-less target credentials: the target registry's, target role only.
        let creds: Vec<(crate::registry::Role, Option<&str>)> = r
            .credentials
            .iter()
            .map(|(role, (c, _))| (*role, c.username()))
            .collect();
        assert_eq!(creds, [(crate::registry::Role::Target, Some("robot"))]);
        // Named in the config: both roles, on their own host only.
        let q = s.hosts.host("quay.io").expect("quay");
        assert_eq!(q.credentials.len(), 2);
        assert!(s.hosts.host("lan.example:5000").expect("lan").insecure);
        // Flags replace the environment's list; the config's entries stay.
        assert!(s
            .hosts
            .host("docker.io")
            .is_none_or(|h| h.endpoint.is_none()));
        assert_eq!(
            s.hosts.host("ghcr.io").and_then(|h| h.endpoint.as_deref()),
            Some("ghcr-cache:443")
        );
        let env_only = resolve(&[], &env, Some(&c)).expect("ok");
        assert_eq!(
            env_only
                .hosts
                .host("docker.io")
                .and_then(|h| h.endpoint.as_deref()),
            Some("mirror.example:5000")
        );
    }
}
