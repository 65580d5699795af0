//! Writing an image into an OCI layout: the same plan as a registry push (platforms, format),
//! blobs streamed into the layout with their digest checked, manifests by digest, the name in
//! `index.json` last. An image whose name already points at what would be written is skipped.

use crate::copy::image::{fill, CopyError};
use crate::copy::push::{self, Fallback};
use crate::copy::source::Source;
use crate::copy::{CopyOptions, Engine};
use crate::layout::{Layout, LayoutRef};
use crate::registry::error::RegistryError;
use crate::registry::ManifestHead;
use crate::report::{ImageReport, Status};
use futures::{StreamExt, TryStreamExt};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use tracing::info;

/// How often a cut read of one blob may resume into a layout.
const RESUMES: u32 = 3;

impl Engine {
    /// The one handle of this run for the layout at `path`, created when missing.
    fn layout_for_write(&self, path: &std::path::Path) -> Result<Arc<Layout>, RegistryError> {
        let mut map = self
            .layouts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(l) = map.get(path) {
            return Ok(l.clone());
        }
        let l = Arc::new(Layout::create(path)?);
        map.insert(path.to_path_buf(), l.clone());
        Ok(l)
    }

    pub(super) async fn export_resolved(
        &self,
        src: &Source,
        head: &ManifestHead,
        target: &LayoutRef,
        opts: &CopyOptions,
        report: &mut ImageReport,
    ) -> Result<(), CopyError> {
        let name = target.name.clone().unwrap_or_else(|| "latest".to_string());
        let existing_layout = if opts.dry_run {
            Layout::open(&target.path).ok().map(Arc::new)
        } else {
            Some(self.layout_for_write(&target.path)?)
        };
        let existing = match &existing_layout {
            Some(l) => l.find(Some(&name))?,
            None => None,
        };
        let tree = self.fetch_tree(src, &head.digest, opts).await?;
        // An OCI layout holds OCI manifests (skopeo and containerd look for nothing else), so
        // the default v2s2 means OCI here; `preserve` keeps what the source has.
        let format = match opts.format {
            crate::copy::Format::V2s2 => crate::copy::Format::Oci,
            other => other,
        };
        let plan = push::build(&tree, &opts.platforms, format, Fallback::default())?;
        let missing: Vec<_> = plan
            .blobs
            .iter()
            .filter(|b| {
                !existing_layout
                    .as_ref()
                    .is_some_and(|l| l.has_blob(&b.digest, b.size))
            })
            .collect();
        if missing.is_empty()
            && existing
                .as_ref()
                .is_some_and(|e| e.digest == plan.top.digest)
        {
            return self.finish_skipped(report, &plan.top.digest, opts, Some(&plan));
        }
        fill(report, &plan);

        if opts.dry_run {
            report.status = Status::Planned;
            report.action = Some(
                if existing.is_some() {
                    "would overwrite"
                } else {
                    "copy"
                }
                .into(),
            );
            report.bytes = missing.iter().map(|b| b.size).sum();
            report.blobs.copied = missing.len() as u64;
            report.blobs.skipped = (plan.blobs.len() - missing.len()) as u64;
            return Ok(());
        }
        let layout = self.layout_for_write(&target.path)?;
        let key = format!("oci:{}", layout.root().display());
        let prefetched = tree.config.as_ref();
        let outcomes: Vec<Option<u64>> = futures::stream::iter(plan.blobs.iter())
            .map(|b| {
                let layout = layout.clone();
                let key = key.clone();
                async move {
                    let slot = self.ledger.slot(&key, &b.digest);
                    let _guard = slot.lock().await;
                    if layout.has_blob(&b.digest, b.size) {
                        return Ok::<Option<u64>, RegistryError>(None);
                    }
                    if let Some((d, bytes)) = prefetched.filter(|(d, _)| d == &b.digest) {
                        layout.write_bytes(d, bytes.clone()).await?;
                        return Ok(Some(b.size));
                    }
                    let _permit = self
                        .blob_slots
                        .acquire()
                        .await
                        .map_err(|_| RegistryError::Config("shutting down".into()))?;
                    let resumes = Arc::new(AtomicU32::new(RESUMES));
                    let (len, stream) = src.blob_stream(&b.digest, resumes).await?;
                    if let Some(len) = len.filter(|l| *l != b.size) {
                        return Err(RegistryError::SizeMismatch {
                            what: format!("blob `{}@{}`", src.describe(), b.digest),
                            expected: b.size,
                            actual: len,
                        });
                    }
                    let moved = self.bytes_moved.clone();
                    let counted = stream.inspect(move |c| {
                        if let Ok(c) = c {
                            moved.fetch_add(c.len() as u64, Ordering::Relaxed);
                        }
                    });
                    layout
                        .write_blob(&b.digest, b.size, Box::pin(counted))
                        .await?;
                    Ok(Some(b.size))
                }
            })
            .buffer_unordered(plan.blobs.len().clamp(1, 8))
            .try_collect()
            .await?;
        for o in &outcomes {
            match o {
                Some(n) => {
                    report.blobs.copied += 1;
                    report.bytes += n;
                }
                None => report.blobs.skipped += 1,
            }
        }
        for child in &plan.children {
            layout
                .write_bytes(&child.digest, child.bytes.clone())
                .await?;
        }
        layout
            .write_bytes(&plan.top.digest, plan.top.bytes.clone())
            .await?;
        layout.tag(&name, &plan.top).await?;
        report.status = Status::Copied;
        info!(source = %src.describe(), target = %target, digest = %plan.top.digest, bytes = report.bytes, "copied");
        Ok(())
    }
}
