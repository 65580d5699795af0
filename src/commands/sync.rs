//! `sync SRC_REPO DST_REPO`: the tags of a repository (or a namespace) that pass the filters.

use crate::pipeline::{execute, run_link, Batch, RunPlan, Work};
use crate::settings::hosts::Registries;
use crate::settings::{ProcessEnv, Settings};
use crate::usage::UsageError;

/// The tag filter from the flags; an invalid pattern is a usage error naming it.
pub(crate) fn tag_filter(
    args: &crate::cli::TagArgs,
) -> Result<crate::input::tag_filter::TagFilter, UsageError> {
    let bad = |e: crate::input::tag_filter::PatternError| {
        UsageError::new(e.to_string()).hint(
            "patterns are Rust regular expressions (https://docs.rs/regex), e.g. `^1\\.2[0-9]\\.[0-9]+$`; quote them for the shell",
        )
    };
    Ok(crate::input::tag_filter::TagFilter {
        include: crate::input::tag_filter::patterns("--include", &args.include).map_err(bad)?,
        exclude: crate::input::tag_filter::patterns("--exclude", &args.exclude).map_err(bad)?,
        keep_latest: args.keep_latest,
        sort: args.sort,
    })
}

/// Sync a repository (or a namespace, or every image of an OCI layout) into the target.
pub(crate) async fn sync(cmd: crate::cli::SyncCmd) -> Result<u8, UsageError> {
    if let Some(layout) = crate::layout::LayoutRef::parse(&cmd.source) {
        let layout = layout.map_err(|e| UsageError::new(format!("SRC_REPO: {e}")))?;
        return sync_layout(cmd, layout).await;
    }
    let spec = crate::plan::sync::SyncSpec {
        source: cmd.source.clone(),
        target: cmd.destination.clone(),
        all_repos: cmd.all_repos,
        filter: tag_filter(&cmd.tags)?,
        page_size: Some(cmd.tags.page_size.max(1)),
    };
    // What can be known without a request: the names, and whether a catalog can exist.
    crate::plan::sync::check(&spec).map_err(|e| {
        let hint = e.hint().unwrap_or_default();
        UsageError::new(e.to_string()).hint(hint)
    })?;
    let src_registry = crate::plan::sync::registry_of(&cmd.source);
    let dst_registry = crate::plan::sync::registry_of(&cmd.destination);
    let settings = Settings::resolve(
        &cmd.copy,
        &ProcessEnv,
        None,
        &Registries::of(&[&src_registry], &[&dst_registry]),
    )?;
    let plan = RunPlan {
        title: "registry-mirror sync".into(),
        task: format!("sync {}", cmd.source.trim()),
        link: run_link(),
        batches: vec![Batch {
            header: None,
            work: Work::Sync(spec),
            options: settings.copy.clone(),
            parallel: settings.parallel,
            notify_on: None,
        }],
        selections: Vec::new(),
        templates: None,
    };
    Ok(execute(plan, &settings).await?.code)
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
            let target =
                crate::commands::parse_reference(&format!("{target_repo}:{tag}"), "DST_REPO")?;
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
    crate::pipeline::print_selections(&selections);
    let targets: Vec<String> = jobs
        .iter()
        .filter_map(|(_, d)| match d {
            Destination::Registry(r) => Some(r.registry().to_string()),
            Destination::Layout(_) => None,
        })
        .collect();
    let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
    let settings = Settings::resolve(&cmd.copy, &ProcessEnv, None, &Registries::of(&[], &targets))?;
    let plan = RunPlan {
        title: "registry-mirror sync".into(),
        task: format!("sync {source}"),
        link: run_link(),
        batches: vec![Batch {
            header: None,
            work: Work::Pairs(jobs),
            options: settings.copy.clone(),
            parallel: settings.parallel,
            notify_on: None,
        }],
        selections,
        templates: None,
    };
    Ok(execute(plan, &settings).await?.code)
}
