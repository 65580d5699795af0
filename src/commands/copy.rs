//! `copy SRC DST`: one image, between registries and OCI layouts.

use crate::app::{copy_options, engine, finish, parse_reference, NotifyPlan, UsageError};
use crate::cli::CopyCmd;
use crate::hosts::Registries;
use crate::report::RunReport;
use std::time::{Instant, SystemTime};

/// Copy one image; a target without a tag (or a layout name) keeps the source's.
pub async fn copy(cmd: CopyCmd) -> Result<u8, UsageError> {
    use crate::copy::image::{Destination as To, Origin as From};
    let started = SystemTime::now();
    let t0 = Instant::now();
    let source = match crate::layout::LayoutRef::parse(&cmd.source) {
        Some(l) => From::Layout(l.map_err(|e| UsageError::new(format!("SRC: {e}")))?),
        None => From::Registry(parse_reference(&cmd.source, "SRC")?),
    };
    // A target without a tag (or layout name) keeps the source's.
    let source_tag = match &source {
        From::Registry(r) => r.tag().unwrap_or("latest").to_string(),
        From::Layout(l) => l
            .name
            .as_deref()
            .map(|n| n.rsplit(':').next().unwrap_or(n).to_string())
            .unwrap_or_else(|| "latest".into()),
    };
    let target = match crate::layout::LayoutRef::parse(&cmd.destination) {
        Some(l) => {
            let mut l = l.map_err(|e| UsageError::new(format!("DST: {e}")))?;
            if l.name.is_none() {
                l.name = Some(source_tag.clone());
            }
            To::Layout(l)
        }
        None => {
            let mut t = parse_reference(&cmd.destination, "DST")?;
            if t.tag().is_none() && t.digest().is_none() {
                t = t.with_tag(&source_tag);
            }
            To::Registry(t)
        }
    };
    if cmd.copy.shard.is_some() {
        return Err(
            UsageError::new("`--shard` splits lists; `copy` copies one image")
                .hint("use `mirror --shard I/N` with the list"),
        );
    }
    let opts = copy_options(&cmd.copy)?;
    let sources: Vec<&str> = match &source {
        From::Registry(r) => vec![r.registry()],
        From::Layout(_) => Vec::new(),
    };
    let targets: Vec<&str> = match &target {
        To::Registry(r) => vec![r.registry()],
        To::Layout(_) => Vec::new(),
    };
    let engine = engine(&cmd.copy, &Registries::of(&sources, &targets))?;
    let report = engine.copy_from(&source, &target, &opts).await;
    crate::app::save_state(&engine);
    let mut run = RunReport::new(started, t0.elapsed(), opts.dry_run, vec![report]);
    let plan = NotifyPlan::task(format!("copy {source}"));
    finish(&mut run, &cmd.copy, "registry-mirror copy", plan).await?;
    Ok(run.exit_code())
}
