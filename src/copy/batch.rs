//! Many images at once: `parallel` copies in flight, each failure contained in its own report,
//! all of them sharing the engine's blob limit and ledger (so a blob travels to a target registry
//! once and later repositories mount it). Nothing here looks inside an image: each pair goes
//! through [`Engine::copy_from`].

use crate::copy::image::{Destination, Origin};
use crate::copy::{CopyOptions, Engine};
use crate::report::ImageReport;
use futures::StreamExt;

impl Engine {
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
