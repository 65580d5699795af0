//! `mirror`: a list of images into the target namespace (or an OCI layout), in parallel, each
//! source looked up first.

use crate::cli::MirrorCmd;
use crate::commands::list_jobs;
use crate::copy::image::{Destination, Origin};
use crate::layout::LayoutRef;
use crate::pipeline::{execute_with, run_link, Batch, RunPlan, Work};
use crate::plan::list::LinePair;
use crate::settings::hosts::Registries;
use crate::settings::{ProcessEnv, Settings};
use crate::usage::UsageError;

/// Stands in for the registry while naming images that go into an OCI layout.
pub(crate) const LAYOUT_REGISTRY: &str = "oci-layout.invalid";

/// Parse the list, place every image in the target namespace, copy them `--parallel` at a time.
pub(crate) async fn mirror(cmd: MirrorCmd) -> Result<u8, UsageError> {
    let text = crate::input::read::read_list(&cmd.list.source())?;
    let mut target = crate::settings::target_namespace(&cmd.target, &ProcessEnv);
    // `--target-registry oci:PATH`: the images go into one OCI layout, named `NS/NAME:TAG`.
    let layout = match target.registry.as_deref().and_then(LayoutRef::parse) {
        Some(l) => Some(
            l.map_err(|e| UsageError::new(format!("--target-registry: {e}")))?
                .path,
        ),
        None => None,
    };
    if layout.is_some() {
        target.registry = Some(LAYOUT_REGISTRY.to_string());
    }
    let jobs = list_jobs(&text, cmd.list.max_images, &target, true)?;
    // Host-less destination credentials belong to `--target-registry`, never to a registry a
    // line names as its own target.
    let registries = Registries {
        sources: jobs
            .iter()
            .map(|j| j.pair.source.registry().to_string())
            .collect(),
        targets: crate::settings::hosts::target_registry(target.registry.as_deref())
            .filter(|r| r != LAYOUT_REGISTRY)
            .into_iter()
            .collect(),
        untrusted_sources: false,
    };
    let settings = Settings::resolve(&cmd.copy, &ProcessEnv, None, &registries)?;
    // This shard's images only, looked up first (HEADs and tag lists): a line that cannot be
    // copied (a missing tag, repository or platform) is reported failed with what exists
    // instead, and the rest is copied.
    let jobs = match settings.shard {
        Some(shard) => shard.take(jobs, 0),
        None => jobs,
    };
    let count = jobs.len();
    let engine = crate::pipeline::engine(&settings)?;
    let to = |j: &LinePair| match &layout {
        Some(path) => Destination::Layout(LayoutRef {
            path: path.clone(),
            name: Some(format!(
                "{}:{}",
                j.pair.target.repository(),
                j.pair.target.tag().unwrap_or("latest")
            )),
        }),
        None => Destination::Registry(j.pair.target.clone()),
    };
    let lines = jobs.iter().map(|j| j.line).collect();
    let pairs: Vec<(Origin, Destination)> = jobs
        .iter()
        .map(|j| (Origin::Registry(j.pair.source.clone()), to(j)))
        .collect();
    let plan = RunPlan {
        title: "registry-mirror mirror".into(),
        task: format!("mirror ({count} images)"),
        link: run_link(),
        batches: vec![Batch {
            header: None,
            work: Work::LookFirst(pairs, lines),
            options: settings.copy.clone(),
            parallel: settings.parallel,
            notify_on: None,
        }],
        selections: Vec::new(),
        templates: None,
    };
    Ok(execute_with(&engine, plan, &settings).await.code)
}
