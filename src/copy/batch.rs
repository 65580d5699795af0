//! Many images at once: `parallel` copies in flight, each failure contained in its own report,
//! all of them sharing the engine's blob limit and ledger (so a blob travels to a target registry
//! once and later repositories mount it).

use crate::copy::{CopyOptions, Engine};
use crate::reference::Reference;
use crate::report::ImageReport;
use futures::StreamExt;

/// One image to copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub source: Reference,
    pub target: Reference,
}

impl Engine {
    /// Copy every job, `parallel` at a time; the reports come back in the order of `jobs`.
    /// `on_done` sees each report as soon as its image finishes (for progress and logs).
    pub async fn copy_all(
        &self,
        jobs: &[Job],
        opts: &CopyOptions,
        parallel: usize,
        mut on_done: impl FnMut(&ImageReport),
    ) -> Vec<ImageReport> {
        let mut done: Vec<(usize, ImageReport)> = futures::stream::iter(jobs.iter().enumerate())
            .map(|(i, job)| async move { (i, self.copy(&job.source, &job.target, opts).await) })
            .buffer_unordered(parallel.max(1))
            .inspect(|(_, report)| on_done(report))
            .collect()
            .await;
        done.sort_by_key(|(i, _)| *i);
        done.into_iter().map(|(_, r)| r).collect()
    }
}
