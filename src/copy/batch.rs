//! Many images at once: `parallel` copies in flight, each failure contained in its own report,
//! all of them sharing the engine's blob limit and ledger (so a blob travels to a target registry
//! once and later repositories mount it). Nothing here looks inside an image: each pair goes
//! through [`Engine::copy_from`].

use crate::copy::image::{Destination, Origin};
use crate::copy::{CopyOptions, Engine};
use crate::layout::LayoutRef;
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
        on_done: impl FnMut(&ImageReport),
    ) -> Vec<ImageReport> {
        self.copy_all_to(jobs, None, opts, parallel, on_done).await
    }

    /// [`Engine::copy_all`], or, with `layout`, into that OCI layout: each image named by its
    /// target's path and tag (`mirrors/nginx:1.27`); the target's registry is not used.
    pub async fn copy_all_to(
        &self,
        jobs: &[Job],
        layout: Option<&std::path::Path>,
        opts: &CopyOptions,
        parallel: usize,
        on_done: impl FnMut(&ImageReport),
    ) -> Vec<ImageReport> {
        let pairs: Vec<(Origin, Destination)> = jobs
            .iter()
            .map(|job| {
                let to = match layout {
                    Some(path) => Destination::Layout(LayoutRef {
                        path: path.to_path_buf(),
                        name: Some(format!(
                            "{}:{}",
                            job.target.repository(),
                            job.target.tag().unwrap_or("latest")
                        )),
                    }),
                    None => Destination::Registry(job.target.clone()),
                };
                (Origin::Registry(job.source.clone()), to)
            })
            .collect();
        self.copy_pairs(&pairs, opts, parallel, on_done).await
    }

    /// Copy every (source, target) pair, `parallel` at a time; reports in the order of `pairs`.
    pub async fn copy_pairs(
        &self,
        pairs: &[(Origin, Destination)],
        opts: &CopyOptions,
        parallel: usize,
        mut on_done: impl FnMut(&ImageReport),
    ) -> Vec<ImageReport> {
        let mut done: Vec<(usize, ImageReport)> = futures::stream::iter(pairs.iter().enumerate())
            .map(|(i, (from, to))| async move { (i, self.copy_from(from, to, opts).await) })
            .buffer_unordered(parallel.max(1))
            .inspect(|(_, report)| on_done(report))
            .collect()
            .await;
        done.sort_by_key(|(i, _)| *i);
        done.into_iter().map(|(_, r)| r).collect()
    }
}
