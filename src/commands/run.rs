//! `registry-mirror run --config FILE [--job NAME]`: every job of a config file, in order, each
//! with `defaults` merged under its own keys. `images` jobs go through the list parser and the
//! naming rule; `sync` jobs through the tag filters. All `images` lists are checked before
//! anything is copied. One report for the whole run.

use crate::app::{copy_options, engine_with, finish, NotifyPlan, RegistryCredentials, UsageError};
use crate::cli::{CopyArgs, RunCmd};
use crate::commands::sync::print_selections;
use crate::config::NotifyOn;
use crate::config::{Config, Job, Settings};
use crate::copy::batch::Job as CopyJob;
use crate::list_jobs::Destination;
use crate::notify::{Channel, Kind};
use crate::registry::credentials::{CredentialSource, Credentials};
use crate::report::{RepoSelection, RunReport};
use crate::target_naming::Naming;
use std::io::Write;
use std::time::{Instant, SystemTime};

/// A job with everything resolved: its copy flags, target, and what to copy.
struct Planned<'a> {
    job: &'a Job,
    args: CopyArgs,
    registry: Option<String>,
    namespace: String,
    naming: Naming,
    work: Work,
}

enum Work {
    Images(Vec<CopyJob>),
    Sync(crate::repo_sync::SyncSpec),
}

pub async fn run(cmd: RunCmd) -> Result<u8, UsageError> {
    let started = SystemTime::now();
    let t0 = Instant::now();
    let file = cmd.config.display().to_string();
    let text =
        crate::bounded::read_to_string(&cmd.config, &crate::bounded::CONFIG).map_err(|e| {
            let hint = e.hint().unwrap_or_else(|| {
                "give the file with `--config FILE`; `mirror.yaml` in this repository is an example"
                    .into()
            });
            UsageError::new(e.to_string()).hint(hint)
        })?;
    let config = crate::config::parse(&file, &text).map_err(|e| {
        UsageError::new(e.to_string())
            .hint("the config reference is in the README (section `run --config`)")
    })?;
    let jobs = chosen_jobs(&config, &cmd.job)?;
    let creds = registry_credentials(&config, &file)?;

    // Resolve every job first: a bad list anywhere stops the run before anything is written.
    let mut planned = Vec::new();
    for job in jobs {
        planned.push(plan_job(&cmd, &config, job, &file)?);
    }
    let channels = config_channels(&config, &file);

    let mut images = Vec::new();
    let mut selections: Vec<RepoSelection> = Vec::new();
    // Per job: (its `notify_on`, whether it had a failure).
    let mut outcomes = Vec::new();
    let mut position = 0;
    for p in &planned {
        let first = images.len();
        print_job_header(p);
        let opts = copy_options(&p.args)?;
        let engine = engine_with(&p.args, &registries_of(p), creds.clone())?;
        let copy_jobs = match &p.work {
            Work::Images(jobs) => jobs.clone(),
            Work::Sync(spec) => match crate::repo_sync::plan(&engine, spec).await {
                Ok((jobs, sel)) => {
                    print_selections(&sel);
                    selections.extend(sel);
                    jobs
                }
                Err(e) => {
                    // One job failing to list its tags does not stop the others.
                    let mut failed =
                        crate::report::ImageReport::new(spec.source.clone(), spec.target.clone());
                    failed.error = Some(match e.hint() {
                        Some(h) => format!("{e}\nhint: {h}"),
                        None => e.to_string(),
                    });
                    eprintln!(
                        "error: job `{}`: {}",
                        p.job.name,
                        crate::untrusted::inert(&e.to_string(), 4000)
                    );
                    images.push(failed);
                    outcomes.push((p.job.notify_on, true));
                    continue;
                }
            },
        };
        // Shards count images across the whole run, jobs in order.
        let copy_jobs = match cmd.copy.shard {
            Some(shard) => {
                let n = copy_jobs.len();
                let mine = shard.take(copy_jobs, position);
                position += n;
                mine
            }
            None => copy_jobs,
        };
        let reports = engine
            .copy_all(&copy_jobs, &opts, p.args.parallel as usize, |_| {})
            .await;
        crate::app::save_state(&engine);
        images.extend(reports);
        let failed = images[first..]
            .iter()
            .any(|i| i.status == crate::report::Status::Failed);
        outcomes.push((p.job.notify_on, failed));
    }
    let dry_run = cmd.copy.dry_run;
    let mut run = RunReport::new(started, t0.elapsed(), dry_run, images);
    run.sync = selections;
    let global = config
        .notify
        .as_ref()
        .and_then(|n| n.on)
        .unwrap_or(cmd.copy.notify.notify_on);
    let wanted = outcomes
        .iter()
        .any(|(on, failed)| match on.unwrap_or(global) {
            NotifyOn::Always => true,
            NotifyOn::Failure => *failed,
            NotifyOn::Never => false,
        });
    let names: Vec<&str> = planned.iter().map(|p| p.job.name.as_str()).collect();
    let notify = NotifyPlan {
        task: format!("run {file}: {}", names.join(", ")),
        link: crate::app::run_link(),
        extra: channels,
        wanted: Some(wanted),
        templates: None,
    };
    finish(
        &mut run,
        &cmd.copy,
        &format!("registry-mirror run {file}"),
        notify,
    )
    .await?;
    Ok(run.exit_code())
}

/// The channels of the config's `notify`, read from the variables it names. A variable that is
/// not set (a fork without the secret) skips its channel with a warning.
fn config_channels(config: &Config, file: &str) -> Vec<Channel> {
    let Some(n) = &config.notify else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (kind, hook) in [
        (Kind::Wecom, &n.wecom),
        (Kind::Dingtalk, &n.dingtalk),
        (Kind::Feishu, &n.feishu),
        (Kind::Slack, &n.slack),
        (Kind::Webhook, &n.webhook),
    ] {
        let Some(h) = hook else { continue };
        match crate::env::var(&h.webhook_env) {
            Some(url) => out.push(Channel {
                kind,
                url,
                secret: h.secret_env.as_deref().and_then(crate::env::var),
            }),
            None => tracing::warn!(
                "`{}` is not set (named in `{file}` for {kind:?}); that notification is skipped",
                h.webhook_env
            ),
        }
    }
    out
}

fn chosen_jobs<'a>(config: &'a Config, names: &[String]) -> Result<Vec<&'a Job>, UsageError> {
    if names.is_empty() {
        return Ok(config.jobs.iter().collect());
    }
    names
        .iter()
        .map(|n| {
            config.jobs.iter().find(|j| &j.name == n).ok_or_else(|| {
                UsageError::new(format!("no job named `{n}`")).hint(format!(
                    "the jobs are: {}",
                    config
                        .jobs
                        .iter()
                        .map(|j| format!("`{}`", j.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
        })
        .collect()
}

/// Credentials of `registries:` entries, read from the variables they name.
fn registry_credentials(
    config: &Config,
    file: &str,
) -> Result<Vec<RegistryCredentials>, UsageError> {
    let mut out = Vec::new();
    for (host, r) in &config.registries {
        if let (Some(u), Some(p)) = (&r.username_env, &r.password_env) {
            let read = |name: &str| {
                crate::env::var(name).ok_or_else(|| {
                    UsageError::new(format!(
                        "`{name}` is not set (named in `{file}` for `{host}`)"
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
            out.push((
                host.clone(),
                creds,
                CredentialSource::ConfigEnv {
                    file: file.to_string(),
                    user: u.clone(),
                    password: p.clone(),
                },
            ));
        }
    }
    Ok(out)
}

/// `job`'s keys over `defaults`.
fn merged(defaults: &Settings, job: &Settings) -> Settings {
    Settings {
        target: match (&job.target, &defaults.target) {
            (Some(j), Some(d)) => Some(crate::config::Target {
                registry: j.registry.clone().or_else(|| d.registry.clone()),
                namespace: j.namespace.clone().or_else(|| d.namespace.clone()),
            }),
            (j, d) => j.clone().or_else(|| d.clone()),
        },
        platforms: job.platforms.clone().or_else(|| defaults.platforms.clone()),
        all_platforms: job.all_platforms.or(defaults.all_platforms),
        format: job.format.or(defaults.format),
        naming: job.naming.or(defaults.naming),
        parallel: job.parallel.or(defaults.parallel),
    }
}

fn plan_job<'a>(
    cmd: &RunCmd,
    config: &Config,
    job: &'a Job,
    file: &str,
) -> Result<Planned<'a>, UsageError> {
    let s = merged(&config.defaults, &job.settings);
    let mut args = cmd.copy.clone();
    if let Some(p) = &s.platforms {
        args.platform = p.join(",");
    }
    if let Some(a) = s.all_platforms {
        args.all_platforms = a;
    }
    if let Some(f) = s.format {
        args.format = f;
    }
    if let Some(p) = s.parallel {
        args.parallel = p;
    }
    for (host, r) in &config.registries {
        if r.insecure {
            args.insecure_registry.push(host.clone());
        }
        if let Some(ca) = &r.ca_cert {
            // Relative to the config file, like every path in it.
            let base = cmd.config.parent().unwrap_or(std::path::Path::new("."));
            args.ca_cert.push(base.join(ca));
        }
        if let Some(e) = &r.endpoint {
            args.endpoint.push(format!("{host}={e}"));
        }
    }
    let target = s.target.clone().unwrap_or_default();
    let registry = target
        .registry
        .or_else(|| cmd.target.target_registry.clone())
        .filter(|r| !r.trim().is_empty());
    let namespace = target
        .namespace
        .unwrap_or_else(|| cmd.target.target_namespace.clone());
    let naming = s.naming.unwrap_or(cmd.target.naming);
    let at = || match job.line {
        Some(l) => format!("{file}:{l}: job `{}`", job.name),
        None => format!("{file}: job `{}`", job.name),
    };
    let work = if let Some(list) = &job.images {
        let text = list.lines().join("\n");
        let dest = Destination {
            registry: registry.as_deref(),
            namespace: namespace.trim(),
            naming,
        };
        let (jobs, warnings) = crate::list_jobs::resolve(&text, 10_000, &dest).map_err(|e| {
            UsageError::new(format!("{}: {}", at(), e.to_string().trim_end()))
                .hint("line numbers count from the first line of the job's `images`")
        })?;
        for w in warnings {
            tracing::warn!("{}: {w}", at());
        }
        Work::Images(jobs.into_iter().map(|j| j.job).collect())
    } else {
        let source = job.sync.clone().unwrap_or_default();
        let Some(reg) = registry.as_deref() else {
            return Err(UsageError::new(format!("{}: no target registry", at())).hint(
                "set `defaults.target.registry` (or the job's `target.registry`), or `TARGET_REGISTRY`",
            ));
        };
        let target = if job.all_repos {
            let ns = namespace.trim().trim_matches('/');
            let mut prefix = if ns.is_empty() {
                reg.to_string()
            } else {
                format!("{reg}/{ns}")
            };
            if naming == Naming::Full {
                prefix.push('/');
                prefix.push_str(
                    &source
                        .split('/')
                        .next()
                        .unwrap_or_default()
                        .replace(':', "-"),
                );
            }
            prefix
        } else {
            let repo = crate::repo_sync::repository(&source).map_err(|e| {
                UsageError::new(format!("{}: {e}", at())).hint(e.hint().unwrap_or_default())
            })?;
            crate::target_naming::target_for(
                &repo.with_tag("latest"),
                naming,
                reg,
                namespace.trim(),
            )
            .map_err(|e| UsageError::new(format!("{}: target: {e}", at())))?
            .without_tag_or_digest()
            .to_string()
        };
        let filter = crate::tag_filter::TagFilter {
            include: crate::tag_filter::patterns(
                "include",
                &job.include.as_ref().map(|v| v.lines()).unwrap_or_default(),
            )
            .map_err(|e| UsageError::new(format!("{}: {e}", at())))?,
            exclude: crate::tag_filter::patterns(
                "exclude",
                &job.exclude.as_ref().map(|v| v.lines()).unwrap_or_default(),
            )
            .map_err(|e| UsageError::new(format!("{}: {e}", at())))?,
            keep_latest: job.keep_latest,
            sort: job.sort.unwrap_or_default(),
        };
        Work::Sync(crate::repo_sync::SyncSpec {
            source,
            target,
            all_repos: job.all_repos,
            filter,
            page_size: Some(1000),
        })
    };
    Ok(Planned {
        job,
        args,
        registry,
        namespace,
        naming,
        work,
    })
}

/// The registries of a job: host-less destination credentials belong to the job's target
/// registry, not to a registry one of its lines names as its own target.
fn registries_of(p: &Planned<'_>) -> crate::hosts::Registries {
    let target = crate::hosts::target_registry(p.registry.as_deref());
    let (sources, targets) = match &p.work {
        Work::Images(jobs) => (
            jobs.iter()
                .map(|j| j.source.registry().to_string())
                .collect(),
            target.into_iter().collect(),
        ),
        Work::Sync(spec) => (
            vec![crate::repo_sync::registry_of(&spec.source)],
            vec![crate::repo_sync::registry_of(&spec.target)],
        ),
    };
    crate::hosts::Registries {
        sources,
        targets,
        untrusted_sources: false,
    }
}

fn print_job_header(p: &Planned<'_>) {
    let platforms = if p.args.all_platforms {
        "all platforms".to_string()
    } else {
        p.args.platform.clone()
    };
    let what = match &p.work {
        Work::Images(j) => format!("{} image{}", j.len(), if j.len() == 1 { "" } else { "s" }),
        Work::Sync(s) => format!("sync {} -> {}", s.source, s.target),
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "== job `{}`: {what}; target {}/{} ({} naming); {platforms}; format {}; parallel {}",
        p.job.name,
        p.registry.as_deref().unwrap_or("$TARGET_REGISTRY"),
        p.namespace,
        format!("{:?}", p.naming).to_lowercase(),
        format!("{:?}", p.args.format).to_lowercase(),
        p.args.parallel
    );
}
