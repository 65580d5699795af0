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

pub async fn sync(cmd: crate::cli::SyncCmd) -> Result<u8, UsageError> {
    let started = SystemTime::now();
    let t0 = Instant::now();
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
    let src_registry = cmd.source.split('/').next().unwrap_or_default().to_string();
    let dst_registry = crate::repo_sync::repository(&format!(
        "{}/x",
        cmd.destination.trim().trim_end_matches('/')
    ))
    .map(|r| r.registry().to_string())
    .unwrap_or_default();
    let src_registry = crate::repo_sync::repository(&format!("{src_registry}/x"))
        .map(|r| r.registry().to_string())
        .unwrap_or(src_registry);
    let engine = engine(&cmd.copy, &[&src_registry], &[&dst_registry])?;
    let (jobs, selections) = match crate::repo_sync::plan(&engine, &spec).await {
        Ok(v) => v,
        Err(e) => {
            use crate::repo_sync::SyncError;
            let hint = e.hint().unwrap_or_default();
            if matches!(e, SyncError::Tags { .. } | SyncError::Created { .. }) {
                // The registry failed us: a failed run (1), not bad input.
                eprintln!("error: {e}");
                eprintln!("hint: {hint}");
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
