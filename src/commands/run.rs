//! `registry-mirror run --config FILE [--job NAME]`: every job of a config file, in order, each
//! with `defaults` merged under its own keys. `images` jobs go through the list parser and the
//! naming rule; `sync` jobs through the tag filters. All `images` lists are checked before
//! anything is copied. One run: one engine, one report, one notification.

use crate::cli::RunCmd;
use crate::copy::image::{Destination, Origin};
use crate::input::config::{merged, Config, Job};
use crate::pipeline::{execute, run_link, Batch, RunPlan, Work};
use crate::plan::naming::{Namespace, Naming};
use crate::settings::hosts::Registries;
use crate::settings::{ConfigFile, ProcessEnv, Settings};
use crate::usage::UsageError;

/// A job with its target resolved and what it copies.
struct Planned<'a> {
    job: &'a Job,
    /// Its keys over `defaults`.
    settings: crate::input::config::Settings,
    registry: Option<String>,
    namespace: String,
    naming: Naming,
    work: Work,
}

pub(crate) async fn run(cmd: RunCmd) -> Result<u8, UsageError> {
    let file = cmd.config.display().to_string();
    let text =
        crate::bounded::read_to_string(&cmd.config, &crate::bounded::CONFIG).map_err(|e| {
            let hint = e.hint().unwrap_or_else(|| {
                "give the file with `--config FILE`; `mirror.yaml` in this repository is an example"
                    .into()
            });
            UsageError::new(e.to_string()).hint(hint)
        })?;
    let config = crate::input::config::parse(&file, &text).map_err(|e| {
        UsageError::new(e.to_string())
            .hint("the config reference is in the README (section `run --config`)")
    })?;
    let jobs = chosen_jobs(&config, &cmd.job)?;
    let env = ProcessEnv;
    let fallback = crate::settings::target_namespace(&cmd.target, &env);

    // Resolve every job first: a bad list anywhere stops the run before anything is written.
    let mut planned = Vec::new();
    for job in jobs {
        planned.push(plan_job(&config, job, &file, &fallback)?);
    }
    let config_file = ConfigFile {
        config: &config,
        name: &file,
        dir: cmd.config.parent().unwrap_or(std::path::Path::new(".")),
    };
    let settings = Settings::resolve(
        &cmd.copy,
        &env,
        Some(&config_file),
        &registries_of(&planned),
    )?;
    let mut batches = Vec::new();
    for p in planned.iter_mut() {
        let (options, parallel) = settings.for_job(&cmd.copy, &env, &p.settings)?;
        let header = job_header(p, &options, parallel);
        let work = std::mem::replace(&mut p.work, Work::Pairs(Vec::new()));
        batches.push(Batch {
            header: Some(header),
            work,
            options,
            parallel,
            notify_on: p.job.notify_on,
        });
    }
    let names: Vec<&str> = planned.iter().map(|p| p.job.name.as_str()).collect();
    let plan = RunPlan {
        title: format!("registry-mirror run {file}"),
        task: format!("run {file}: {}", names.join(", ")),
        link: run_link(),
        batches,
        selections: Vec::new(),
        templates: None,
    };
    Ok(execute(plan, &settings).await?.code)
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

fn plan_job<'a>(
    config: &Config,
    job: &'a Job,
    file: &str,
    fallback: &Namespace,
) -> Result<Planned<'a>, UsageError> {
    let s = merged(&config.defaults, &job.settings);
    // Where a job's images go is part of the job: its own target, else `defaults`, else the
    // flags and the environment.
    let target = s.target.clone().unwrap_or_default();
    let registry = target
        .registry
        .or_else(|| fallback.registry.clone())
        .filter(|r| !r.trim().is_empty());
    let namespace = target
        .namespace
        .unwrap_or_else(|| fallback.namespace.clone());
    let naming = s.naming.unwrap_or(fallback.naming);
    let at = || match job.line {
        Some(l) => format!("{file}:{l}: job `{}`", job.name),
        None => format!("{file}: job `{}`", job.name),
    };
    let work = if let Some(list) = &job.images {
        let text = list.lines().join("\n");
        let dest = Namespace {
            registry: registry.clone(),
            namespace: namespace.trim().to_string(),
            naming,
        };
        let (jobs, warnings) = crate::plan::list::resolve(&text, 10_000, &dest).map_err(|e| {
            UsageError::new(format!("{}: {}", at(), e.to_string().trim_end()))
                .hint("line numbers count from the first line of the job's `images`")
        })?;
        for w in warnings {
            tracing::warn!("{}: {w}", at());
        }
        Work::Pairs(
            jobs.into_iter()
                .map(|j| {
                    (
                        Origin::Registry(j.pair.source),
                        Destination::Registry(j.pair.target),
                    )
                })
                .collect(),
        )
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
            let repo = crate::plan::sync::repository(&source).map_err(|e| {
                UsageError::new(format!("{}: {e}", at())).hint(e.hint().unwrap_or_default())
            })?;
            crate::plan::naming::target_for(&repo.with_tag("latest"), naming, reg, namespace.trim())
                .map_err(|e| UsageError::new(format!("{}: target: {e}", at())))?
                .without_tag_or_digest()
                .to_string()
        };
        let filter = crate::input::tag_filter::TagFilter {
            include: crate::input::tag_filter::patterns(
                "include",
                &job.include.as_ref().map(|v| v.lines()).unwrap_or_default(),
            )
            .map_err(|e| UsageError::new(format!("{}: {e}", at())))?,
            exclude: crate::input::tag_filter::patterns(
                "exclude",
                &job.exclude.as_ref().map(|v| v.lines()).unwrap_or_default(),
            )
            .map_err(|e| UsageError::new(format!("{}: {e}", at())))?,
            keep_latest: job.keep_latest,
            sort: job.sort.unwrap_or_default(),
        };
        Work::Sync(crate::plan::sync::SyncSpec {
            source,
            target,
            all_repos: job.all_repos,
            filter,
            page_size: Some(1000),
        })
    };
    Ok(Planned {
        job,
        settings: s,
        registry,
        namespace,
        naming,
        work,
    })
}

/// The registries of the run: host-less destination credentials belong to the jobs' target
/// registries, not to a registry one of their lines names as its own target.
fn registries_of(planned: &[Planned<'_>]) -> Registries {
    let mut r = Registries::default();
    for p in planned {
        match &p.work {
            Work::Pairs(pairs) | Work::Checked(pairs, _) | Work::LookFirst(pairs, _) => {
                r.sources.extend(pairs.iter().filter_map(|(o, _)| match o {
                    Origin::Registry(s) => Some(s.registry().to_string()),
                    Origin::Layout(_) => None,
                }));
                r.targets.extend(crate::settings::hosts::target_registry(
                    p.registry.as_deref(),
                ));
            }
            Work::Sync(spec) => {
                r.sources.push(crate::plan::sync::registry_of(&spec.source));
                r.targets.push(crate::plan::sync::registry_of(&spec.target));
            }
        }
    }
    r
}

/// `== job `NAME`: WHAT; target R/NS (NAMING naming); PLATFORMS; format F; parallel N`.
fn job_header(p: &Planned<'_>, options: &crate::copy::CopyOptions, parallel: usize) -> String {
    let platforms = match &options.platforms {
        crate::copy::Platforms::All => "all platforms".to_string(),
        other => other.describe().join(","),
    };
    let what = match &p.work {
        Work::Pairs(j) | Work::Checked(j, _) | Work::LookFirst(j, _) => {
            format!("{} image{}", j.len(), if j.len() == 1 { "" } else { "s" })
        }
        Work::Sync(s) => format!("sync {} -> {}", s.source, s.target),
    };
    format!(
        "== job `{}`: {what}; target {}/{} ({} naming); {platforms}; format {}; parallel {parallel}",
        p.job.name,
        p.registry.as_deref().unwrap_or("$TARGET_REGISTRY"),
        p.namespace,
        format!("{:?}", p.naming).to_lowercase(),
        format!("{:?}", options.format).to_lowercase(),
    )
}
