//! One module a command. Each turns its flags and inputs into a run plan
//! ([`crate::pipeline::RunPlan`]), resolves its [`crate::settings::Settings`] and hands both to
//! [`crate::pipeline::execute`]; `issue` answers on the issue around that. The helpers below are
//! what several commands share.

pub(crate) mod copy;
pub(crate) mod issue;
pub(crate) mod mirror;
pub(crate) mod plan;
pub(crate) mod report;
pub(crate) mod run;
pub(crate) mod sync;
pub(crate) mod validate;

use crate::plan::list::{LinePair, PLACEHOLDER_REGISTRY};
use crate::plan::naming::Namespace;
use crate::reference::Reference;
use crate::usage::UsageError;

/// The jobs of a list in the target namespace, or the usage error that lists every problem.
/// Without `require_registry`, a missing target registry is shown as a placeholder.
pub(crate) fn list_jobs(
    text: &str,
    max_images: usize,
    target: &Namespace,
    require_registry: bool,
) -> Result<Vec<LinePair>, UsageError> {
    let mut dest = target.clone();
    if !require_registry && dest.registry.is_none() {
        dest.registry = Some(PLACEHOLDER_REGISTRY.to_string());
    }
    let (jobs, warnings) = crate::plan::list::resolve(text, max_images, &dest)
        .map_err(|e| UsageError::new(e.to_string().trim_end().to_string()))?;
    for w in warnings {
        tracing::warn!("{w}");
    }
    Ok(jobs)
}

/// A reference from the command line, or a usage error with a hint.
pub(crate) fn parse_reference(text: &str, what: &str) -> Result<Reference, UsageError> {
    Reference::parse(text.trim()).map_err(|e| {
        let hint = if text.contains("://") {
            "write the reference without a scheme, e.g. `registry.example.com/ns/app:1.0`".to_string()
        } else {
            "a reference looks like `[registry/]path[:tag][@sha256:…]`, e.g. `docker.io/library/nginx:1.27`".to_string()
        };
        UsageError::new(format!("{what}: {e}")).hint(hint)
    })
}
