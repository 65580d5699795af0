//! `mirror`: a list of images into the target namespace (or an OCI layout), in parallel.

use crate::app::{copy_options, engine, finish, list_jobs, read_list, NotifyPlan, UsageError};
use crate::cli::MirrorCmd;
use crate::report::RunReport;
use std::time::{Instant, SystemTime};

/// Stands in for the registry while naming images that go into an OCI layout.
pub(crate) const LAYOUT_REGISTRY: &str = "oci-layout.invalid";

/// Parse the list, place every image in the target namespace, copy them `--parallel` at a time.
pub async fn mirror(cmd: MirrorCmd) -> Result<u8, UsageError> {
    let started = SystemTime::now();
    let t0 = Instant::now();
    let text = read_list(&cmd.list)?;
    // `--target-registry oci:PATH`: the images go into one OCI layout, named `NS/NAME:TAG`.
    let layout = match cmd
        .target
        .target_registry
        .as_deref()
        .and_then(crate::layout::LayoutRef::parse)
    {
        Some(l) => Some(
            l.map_err(|e| UsageError::new(format!("--target-registry: {e}")))?
                .path,
        ),
        None => None,
    };
    let mut target = cmd.target.clone();
    if layout.is_some() {
        target.target_registry = Some(LAYOUT_REGISTRY.to_string());
    }
    let jobs = list_jobs(&text, cmd.list.max_images, &target, true)?;
    let opts = copy_options(&cmd.copy)?;
    // Host-less destination credentials belong to `--target-registry`, never to a registry a
    // line names as its own target.
    let registries = crate::hosts::Registries {
        sources: jobs
            .iter()
            .map(|j| j.job.source.registry().to_string())
            .collect(),
        targets: crate::hosts::target_registry(target.target_registry.as_deref())
            .filter(|r| r != LAYOUT_REGISTRY)
            .into_iter()
            .collect(),
        untrusted_sources: false,
    };
    let engine = engine(&cmd.copy, &registries)?;
    let mut jobs: Vec<crate::copy::batch::Job> = jobs.into_iter().map(|j| j.job).collect();
    if let Some(shard) = cmd.copy.shard {
        jobs = shard.take(jobs, 0);
        tracing::info!("shard {shard}: {} images", jobs.len());
    }
    let visible = !cmd.copy.dry_run && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let progress =
        crate::progress::Progress::start(jobs.len() as u64, engine.bytes_moved.clone(), visible);
    let reports = engine
        .copy_all_to(
            &jobs,
            layout.as_deref(),
            &opts,
            cmd.copy.parallel as usize,
            |_| progress.image_done(),
        )
        .await;
    crate::app::save_state(&engine);
    progress.finish();
    let mut run = RunReport::new(started, t0.elapsed(), opts.dry_run, reports);
    let plan = NotifyPlan::task(format!("mirror ({} images)", run.images.len()));
    finish(&mut run, &cmd.copy, "registry-mirror mirror", plan).await?;
    Ok(run.exit_code())
}
