//! `copy SRC DST`: one image, between registries and OCI layouts.

use crate::cli::CopyCmd;
use crate::commands::parse_reference;
use crate::copy::image::{Destination, Origin};
use crate::pipeline::{execute, run_link, Batch, RunPlan, Work};
use crate::settings::hosts::Registries;
use crate::settings::{ProcessEnv, Settings};
use crate::usage::UsageError;

/// Copy one image; a target without a tag (or a layout name) keeps the source's.
pub(crate) async fn copy(cmd: CopyCmd) -> Result<u8, UsageError> {
    let source = match crate::layout::LayoutRef::parse(&cmd.source) {
        Some(l) => Origin::Layout(l.map_err(|e| UsageError::new(format!("SRC: {e}")))?),
        None => Origin::Registry(parse_reference(&cmd.source, "SRC")?),
    };
    let source_tag = match &source {
        Origin::Registry(r) => r.tag().unwrap_or("latest").to_string(),
        Origin::Layout(l) => l
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
            Destination::Layout(l)
        }
        None => {
            let mut t = parse_reference(&cmd.destination, "DST")?;
            if t.tag().is_none() && t.digest().is_none() {
                t = t.with_tag(&source_tag);
            }
            Destination::Registry(t)
        }
    };
    if cmd.copy.shard.is_some() {
        return Err(
            UsageError::new("`--shard` splits lists; `copy` copies one image")
                .hint("use `mirror --shard I/N` with the list"),
        );
    }
    let sources: Vec<&str> = match &source {
        Origin::Registry(r) => vec![r.registry()],
        Origin::Layout(_) => Vec::new(),
    };
    let targets: Vec<&str> = match &target {
        Destination::Registry(r) => vec![r.registry()],
        Destination::Layout(_) => Vec::new(),
    };
    let settings = Settings::resolve(
        &cmd.copy,
        &ProcessEnv,
        None,
        &Registries::of(&sources, &targets),
    )?;
    let plan = RunPlan {
        title: "registry-mirror copy".into(),
        task: format!("copy {source}"),
        link: run_link(),
        batches: vec![Batch {
            header: None,
            work: Work::Pairs(vec![(source, target)]),
            options: settings.copy.clone(),
            parallel: 1,
            notify_on: None,
        }],
        selections: Vec::new(),
        templates: None,
    };
    Ok(execute(plan, &settings).await?.code)
}
