//! Sources looked up ahead of their copies, without holding the copies back: the look-ups run
//! [`AT_ONCE`] at a time in list order while the batch copies, and each image waits only for
//! its own look-up's answer. A source found missing (tag, repository) is reported with what
//! exists instead and not copied; a found one is copied from the look-up's `HEAD`, so a fine
//! line costs no request more than its copy. A multi-platform index is left to the copy (which
//! reads it only when the target is not up to date, and says which platforms are missing).

use crate::copy::batch::Gate;
use crate::copy::image::{Destination, Origin};
use crate::copy::ledger::lock;
use crate::copy::Engine;
use crate::plan::online::{look_up_one, not_copied, Lookup};
use crate::report::ImageReport;
use futures::future::BoxFuture;
use futures::StreamExt;
use std::sync::Mutex;
use tokio::sync::oneshot;

/// Look-ups in flight at once: ahead of the copies, leaving most of a registry's request budget
/// (`--requests-in-flight`, 32) to them.
const AT_ONCE: usize = 12;

/// The look-ups of one batch: each pair's answer, as it comes.
pub(crate) struct LookAhead<'a> {
    pairs: &'a [(Origin, Destination)],
    /// Each pair's line in the list, for the report of one not copied.
    lines: Vec<usize>,
    senders: Mutex<Vec<Option<oneshot::Sender<Lookup>>>>,
    answers: Vec<Mutex<Option<oneshot::Receiver<Lookup>>>>,
}

impl<'a> LookAhead<'a> {
    pub(crate) fn new(pairs: &'a [(Origin, Destination)], lines: Vec<usize>) -> LookAhead<'a> {
        let (senders, answers) = pairs
            .iter()
            .map(|_| {
                let (tx, rx) = oneshot::channel();
                (Some(tx), Mutex::new(Some(rx)))
            })
            .unzip();
        LookAhead {
            pairs,
            lines,
            senders: Mutex::new(senders),
            answers,
        }
    }

    /// Look every source up, in order, [`AT_ONCE`] at a time; run it beside the copies.
    pub(crate) async fn run(&self, engine: &Engine) {
        // Pairs without a look-up (layouts) pass at once.
        for (i, (o, _)) in self.pairs.iter().enumerate() {
            if matches!(o, Origin::Layout(_)) {
                lock(&self.senders)[i] = None;
            }
        }
        let sources = self
            .pairs
            .iter()
            .enumerate()
            .filter_map(|(i, (o, _))| match o {
                Origin::Registry(r) => Some((i, r)),
                Origin::Layout(_) => None,
            });
        let refs = sources
            .clone()
            .map(|(_, r)| (r, crate::registry::Role::Source));
        crate::plan::online::expect(engine, refs).await;
        let mut looked = futures::stream::iter(sources)
            .map(|(i, r)| async move { (i, look_up_one(engine, r, None).await.lookup) })
            .buffered(AT_ONCE);
        while let Some((i, lookup)) = looked.next().await {
            let sender = lock(&self.senders).get_mut(i).and_then(Option::take);
            if let Some(tx) = sender {
                let _ = tx.send(lookup);
            }
        }
    }
}

impl Gate for LookAhead<'_> {
    fn check(&self, index: usize) -> BoxFuture<'_, Option<Box<ImageReport>>> {
        Box::pin(async move {
            let rx = self.answers.get(index).and_then(|m| lock(m).take())?;
            let lookup = rx.await.ok()?;
            // Found, or not reachable (the copy then says why): copied.
            if lookup.is_fine() || matches!(lookup, Lookup::Unreachable { .. }) {
                return None;
            }
            let (from, to) = self.pairs.get(index)?;
            let line = self.lines.get(index).copied().unwrap_or(0);
            let report = not_copied(line, &from.to_string(), &to.to_string(), &lookup);
            Some(Box::new(report))
        })
    }
}
