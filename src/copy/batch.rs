//! Many images at once: `parallel` writes in flight and as many images looked at and planned
//! ahead of them, each failure contained in its own report,
//! all of them sharing the engine's blob limit and ledger (so a blob travels to a target registry
//! once and later repositories mount it). Nothing here looks inside an image: each pair goes
//! through [`Engine::resolve`], then [`Engine::write`] when there is something to write.

use crate::copy::image::{Destination, Origin, Resolved};
use crate::copy::{CopyOptions, Engine};
use crate::registry::Role;
use crate::report::ImageReport;
use futures::future::BoxFuture;
use futures::{SinkExt, StreamExt};

/// Asked before each image of a batch is looked at: `Some` is its report, and it is not copied
/// (a source the look-up streamed ahead found missing).
pub(crate) trait Gate: Sync {
    fn check(&self, index: usize) -> BoxFuture<'_, Option<Box<ImageReport>>>;
}

impl Engine {
    /// Copy every (source, target) pair, `parallel` at a time, each passing `gate` first;
    /// reports in the order of `pairs`.
    pub(crate) async fn copy_pairs(
        &self,
        pairs: &[(Origin, Destination)],
        opts: &CopyOptions,
        parallel: usize,
        gate: Option<&dyn Gate>,
        mut on_done: impl FnMut(&ImageReport),
    ) -> Vec<ImageReport> {
        self.expect(pairs).await;
        // Looking and planning (reads only) run ahead of the writes, up to `parallel` images
        // more, so the writes never wait for the round trips that find what to write.
        let parallel = parallel.max(1);
        let (tx, rx) = futures::channel::mpsc::channel::<(usize, Resolved<'_>)>(parallel);
        let ahead = async move {
            let mut tx = tx;
            let mut resolved = futures::stream::iter(pairs.iter().enumerate())
                .map(|(i, (from, to))| async move {
                    let check = gate.map(|g| g.check(i));
                    (i, self.resolve(from, to, opts, check).await)
                })
                .buffer_unordered(parallel);
            while let Some(item) = resolved.next().await {
                if tx.send(item).await.is_err() {
                    break;
                }
            }
        };
        let writes = rx
            .map(|(i, resolved)| async move {
                match resolved {
                    Resolved::Done(report) => (i, *report),
                    Resolved::Write(ready) => (i, self.write(*ready, opts).await),
                }
            })
            .buffer_unordered(parallel)
            .inspect(|(_, report)| on_done(report))
            .collect::<Vec<_>>();
        let ((), mut done) = tokio::join!(ahead, writes);
        done.sort_by_key(|(i, _)| *i);
        done.into_iter().map(|(_, r)| r).collect()
    }

    /// Tell each registry's client which repositories the batch will use, in list order, so
    /// one token covers the images copied together. A client that cannot be made now fails
    /// its images later, with the error.
    async fn expect(&self, pairs: &[(Origin, Destination)]) {
        for (from, to) in pairs {
            let sides = [
                match from {
                    Origin::Registry(r) => Some((r, Role::Source)),
                    Origin::Layout(_) => None,
                },
                match to {
                    Destination::Registry(r) => Some((r, Role::Target)),
                    Destination::Layout(_) => None,
                },
            ];
            for (r, role) in sides.into_iter().flatten() {
                if let Ok(client) = self.session.client(r.registry(), r.api_host(), role).await {
                    client.expect_repository(r.repository());
                }
            }
        }
    }
}
