//! `sync SRC_REPO DST_REPO`: the tags of a repository (or a namespace) that pass the filters.

use crate::app::{copy_options, engine, finish, NotifyPlan, UsageError};
use crate::report::RunReport;
use std::io::Write;
use std::time::{Instant, SystemTime};

/// The tag filter from the flags; an invalid pattern is a usage error naming it.
pub fn tag_filter(args: &crate::cli::TagArgs) -> Result<crate::tag_filter::TagFilter, UsageError> {
    let bad = |e: crate::tag_filter::PatternError| {
        UsageError::new(e.to_string()).hint(
            "patterns are Rust regular expressions (https://docs.rs/regex), e.g. `^1\\.2[0-9]\\.[0-9]+$`; quote them for the shell",
        )
    };
    Ok(crate::tag_filter::TagFilter {
        include: crate::tag_filter::patterns("--include", &args.include).map_err(bad)?,
        exclude: crate::tag_filter::patterns("--exclude", &args.exclude).map_err(bad)?,
        keep_latest: args.keep_latest,
        sort: args.sort,
    })
}

/// Sync a repository (or a namespace, or every image of an OCI layout) into the target.
pub async fn sync(cmd: crate::cli::SyncCmd) -> Result<u8, UsageError> {
    let started = SystemTime::now();
    let t0 = Instant::now();
    if let Some(layout) = crate::layout::LayoutRef::parse(&cmd.source) {
        let layout = layout.map_err(|e| UsageError::new(format!("SRC_REPO: {e}")))?;
        return sync_layout(cmd, layout, started, t0).await;
    }
    let spec = crate::repo_sync::SyncSpec {
        source: cmd.source.clone(),
        target: cmd.destination.clone(),
        all_repos: cmd.all_repos,
        filter: tag_filter(&cmd.tags)?,
        page_size: Some(cmd.tags.page_size.max(1)),
    };
    if !cmd.all_repos {
        for t in [&cmd.source, &cmd.destination] {
            crate::repo_sync::repository(t).map_err(|e| {
                let hint = e.hint().unwrap_or_default();
                UsageError::new(e.to_string()).hint(hint)
            })?;
        }
    }
    let opts = copy_options(&cmd.copy)?;
    let src_registry = crate::repo_sync::registry_of(&cmd.source);
    let dst_registry = crate::repo_sync::registry_of(&cmd.destination);
    let engine = engine(
        &cmd.copy,
        &crate::hosts::Registries::of(&[&src_registry], &[&dst_registry]),
    )?;
    let (jobs, selections) = match crate::repo_sync::plan(&engine, &spec).await {
        Ok(v) => v,
        Err(e) => {
            use crate::repo_sync::SyncError;
            let hint = e.hint().unwrap_or_default();
            if matches!(e, SyncError::Tags { .. } | SyncError::Created { .. }) {
                // The registry failed us: a failed run (1), not bad input.
                eprintln!("error: {}", crate::untrusted::inert(&e.to_string(), 4000));
                eprintln!("hint: {}", crate::untrusted::inert(&hint, 2000));
                return Ok(1);
            }
            return Err(UsageError::new(e.to_string()).hint(hint));
        }
    };
    print_selections(&selections);
    let jobs = match cmd.copy.shard {
        Some(shard) => shard.take(jobs, 0),
        None => jobs,
    };
    let reports = engine
        .copy_all(&jobs, &opts, cmd.copy.parallel as usize, |_| {})
        .await;
    crate::app::save_state(&engine);
    let mut run = RunReport::new(started, t0.elapsed(), opts.dry_run, reports);
    run.sync = selections;
    let plan = NotifyPlan::task(format!("sync {}", cmd.source.trim()));
    finish(&mut run, &cmd.copy, "registry-mirror sync", plan).await?;
    Ok(run.exit_code())
}

/// What the tag filters kept and dropped, on stdout.
pub fn print_selections(selections: &[crate::report::RepoSelection]) {
    let mut out = std::io::stdout().lock();
    for s in selections {
        let _ = writeln!(
            out,
            "{}: {} tags listed, {} kept, {} dropped",
            s.source,
            s.tags,
            s.kept.len(),
            s.dropped.len()
        );
        for t in &s.kept {
            let _ = writeln!(out, "  keep  {t}");
        }
        for d in &s.dropped {
            let _ = writeln!(out, "  drop  {}: {}", d.tag, d.reason);
        }
    }
}

/// A layout image name `[PATH/]NAME:TAG` or `TAG` that can become a target reference.
fn layout_name_is_valid(name: &str) -> bool {
    use crate::reference::{is_valid_repository, is_valid_tag};
    match name.rsplit_once(':') {
        Some((repo, tag)) if !repo.is_empty() => is_valid_repository(repo) && is_valid_tag(tag),
        _ => is_valid_tag(name),
    }
}

/// `sync oci:PATH DST`: every image of a layout into a registry, the way back from an offline
/// bundle. An image named `[PATH/]NAME:TAG` goes to `DST/[PATH/]NAME:TAG`; a name without `:` is a
/// tag and goes to `DST:NAME`. The filters see the tags, `--keep-latest` counts per repository.
async fn sync_layout(
    cmd: crate::cli::SyncCmd,
    source: crate::layout::LayoutRef,
    started: SystemTime,
    t0: Instant,
) -> Result<u8, UsageError> {
    use crate::copy::image::{Destination, Origin};
    use crate::report::{DroppedTag, RepoSelection};
    use std::collections::{BTreeMap, HashMap};
    if source.name.is_some() {
        return Err(UsageError::new(format!(
            "SRC_REPO: `{source}` names one image; `sync` takes the whole layout"
        ))
        .hint(format!(
            "write `oci:{}`, or copy one image with `registry-mirror copy`",
            source.path.display()
        )));
    }
    let layout =
        crate::layout::Layout::open(&source.path).map_err(|e| UsageError::new(e.to_string()))?;
    let names = layout.names().map_err(|e| UsageError::new(e.to_string()))?;
    let names = crate::reference::keep_valid(
        names,
        &format!("the layout `{}`", source.path.display()),
        layout_name_is_valid,
    );
    let base = cmd.destination.trim().trim_end_matches('/').to_string();
    let filter = tag_filter(&cmd.tags)?;
    // Repository part -> (tag, full name).
    let mut groups: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for n in &names {
        let (repo, tag) = match n.rsplit_once(':') {
            Some((r, t)) if !r.is_empty() => (r.to_string(), t.to_string()),
            _ => (String::new(), n.clone()),
        };
        groups.entry(repo).or_default().push((tag, n.clone()));
    }
    let mut jobs = Vec::new();
    let mut selections = Vec::new();
    for (repo, entries) in &groups {
        let tags: Vec<String> = entries.iter().map(|(t, _)| t.clone()).collect();
        let by_tag: HashMap<&str, &str> = entries
            .iter()
            .map(|(t, n)| (t.as_str(), n.as_str()))
            .collect();
        let sel = filter.select(&tags, &HashMap::new());
        let target_repo = if repo.is_empty() {
            base.clone()
        } else {
            format!("{base}/{repo}")
        };
        for tag in &sel.kept {
            let target = crate::app::parse_reference(&format!("{target_repo}:{tag}"), "DST_REPO")?;
            let name = by_tag.get(tag.as_str()).copied().unwrap_or(tag.as_str());
            jobs.push((
                Origin::Layout(crate::layout::LayoutRef {
                    path: source.path.clone(),
                    name: Some(name.to_string()),
                }),
                Destination::Registry(target),
            ));
        }
        selections.push(RepoSelection {
            source: if repo.is_empty() {
                source.to_string()
            } else {
                format!("{source}:{repo}")
            },
            target: target_repo,
            tags: tags.len(),
            kept: sel.kept.clone(),
            dropped: sel
                .dropped
                .into_iter()
                .map(|(tag, reason)| DroppedTag { tag, reason })
                .collect(),
        });
    }
    print_selections(&selections);
    let jobs = match cmd.copy.shard {
        Some(shard) => shard.take(jobs, 0),
        None => jobs,
    };
    let opts = copy_options(&cmd.copy)?;
    let targets: Vec<String> = jobs
        .iter()
        .filter_map(|(_, d)| match d {
            Destination::Registry(r) => Some(r.registry().to_string()),
            Destination::Layout(_) => None,
        })
        .collect();
    let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
    let engine = engine(&cmd.copy, &crate::hosts::Registries::of(&[], &targets))?;
    let reports = engine
        .copy_pairs(&jobs, &opts, cmd.copy.parallel as usize, |_| {})
        .await;
    crate::app::save_state(&engine);
    let mut run = RunReport::new(started, t0.elapsed(), opts.dry_run, reports);
    run.sync = selections;
    let plan = NotifyPlan::task(format!("sync {source}"));
    finish(&mut run, &cmd.copy, "registry-mirror sync", plan).await?;
    Ok(run.exit_code())
}
