//! Docker Hub's pull limit, known before copying. A manifest `GET` there counts as a pull (a
//! `HEAD` does not, and its answer states the limit: `ratelimit-limit` and
//! `ratelimit-remaining`). The answers the look-ups before a run got (`mirror`, `issue`) tell how
//! many pulls are left, else one `HEAD` of a batch's first Docker Hub source; the batch needs at
//! least one an image. With none left, its Docker Hub images are not started (each fails with
//! the reason, the rest of the batch goes on), instead of failing half-way with 429s; with fewer
//! left than needed, the run says so and goes on.

use crate::copy::image::{manifest_ref, Destination, Origin};
use crate::copy::Engine;
use crate::reference::Reference;
use crate::registry::transport::RateLimit;
use crate::registry::Role;
use crate::report::ImageReport;

/// Where Docker Hub's references go.
pub(crate) const DOCKER_HUB: &str = "docker.io";

/// What Docker Hub allows against what a batch needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub limit: RateLimit,
    /// Manifest reads the batch needs at least: one an image from Docker Hub.
    pub needed: u64,
}

impl Budget {
    /// The window as people read it: `6 h`.
    pub fn window(&self) -> String {
        match self.limit.window_secs {
            Some(s) if s % 3600 == 0 => format!("{} h", s / 3600),
            Some(s) => format!("{s} s"),
            None => "its window".into(),
        }
    }

    /// No pull is left: the Docker Hub images are not started.
    pub fn exhausted(&self) -> bool {
        self.limit.remaining == 0
    }

    /// The line the run logs about it.
    pub fn describe(&self) -> String {
        format!(
            "Docker Hub: {} of {} pulls left in {} for this address or account; this batch needs \
             at least {} (one a Docker Hub image, more for multi-platform ones)",
            self.limit.remaining,
            self.limit.limit,
            self.window(),
            self.needed
        )
    }

    /// The line `validate --online` prints: what is left, what the list needs, and what a run
    /// would do about it.
    pub fn summary(&self) -> String {
        let mut line = format!(
            "Docker Hub: {} of {} pulls left in {}; this run needs at least {}",
            self.limit.remaining,
            self.limit.limit,
            self.window(),
            self.needed
        );
        if self.exhausted() {
            line.push_str(&format!(
                "; none left: its images would not be started (pulls come back within {})",
                self.window()
            ));
        } else if self.limit.remaining < self.needed {
            line.push_str("; fewer than needed: some Docker Hub images may fail with 429");
        }
        line
    }

    /// The budget as `--json` and the templates see it.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "limit": self.limit.limit,
            "remaining": self.limit.remaining,
            "window_secs": self.limit.window_secs,
            "window": self.window(),
            "needed": self.needed,
            "exhausted": self.exhausted(),
            "short": self.limit.remaining < self.needed,
        })
    }
}

fn from_docker_hub(origin: &Origin) -> Option<&Reference> {
    match origin {
        Origin::Registry(r) if r.registry() == DOCKER_HUB => Some(r),
        _ => None,
    }
}

/// Docker Hub's budget for `pairs` (none when no source is on Docker Hub, or Docker Hub states
/// no limit): see [`look_sources`].
pub async fn look(engine: &Engine, pairs: &[(Origin, Destination)]) -> Option<Budget> {
    let hub: Vec<&Reference> = pairs
        .iter()
        .filter_map(|(o, _)| from_docker_hub(o))
        .collect();
    look_sources(engine, &hub).await
}

/// Docker Hub's budget for the `sources` on Docker Hub: the limit an earlier answer of this run
/// stated (the look-ups' `HEAD`s), else one `HEAD` of the first of them.
pub async fn look_sources(engine: &Engine, sources: &[&Reference]) -> Option<Budget> {
    let hub: Vec<&Reference> = sources
        .iter()
        .copied()
        .filter(|r| r.registry() == DOCKER_HUB)
        .collect();
    let first = hub.first()?;
    let needed = hub.len() as u64;
    let client = engine
        .session
        .client(first.registry(), first.api_host(), Role::Source)
        .await
        .ok()?;
    let transport = engine.session.transport();
    if let Some(limit) = transport.rate_limit(client.host()) {
        return Some(Budget { limit, needed });
    }
    let _ = client
        .manifest_head(first.repository(), &manifest_ref(first))
        .await;
    let limit = transport.rate_limit(client.host())?;
    Some(Budget { limit, needed })
}

/// Hold back the Docker Hub images of `pairs` when no pull is left (a dry run reads no
/// manifest that counts, so it holds nothing back): the pairs to copy, and the reports of those
/// held back.
pub async fn apply(
    engine: &Engine,
    pairs: Vec<(Origin, Destination)>,
    dry_run: bool,
) -> (Vec<(Origin, Destination)>, Vec<ImageReport>) {
    let Some(budget) = look(engine, &pairs).await else {
        return (pairs, Vec::new());
    };
    if budget.limit.remaining >= budget.needed {
        tracing::info!("{}", budget.describe());
        return (pairs, Vec::new());
    }
    tracing::warn!("{}", budget.describe());
    if budget.limit.remaining > 0 || dry_run {
        return (pairs, Vec::new());
    }
    let mut held = Vec::new();
    let mut kept = Vec::new();
    for (origin, to) in pairs {
        if from_docker_hub(&origin).is_none() {
            kept.push((origin, to));
            continue;
        }
        let mut report = ImageReport::new(origin.to_string(), to.to_string());
        report.error = Some(format!(
            "not started: Docker Hub's pull limit is used up ({} pulls in {}), and this image needs \
             at least one; nothing was read\nhint: run again when the window has passed, or give \
             Docker Hub credentials (`--src-creds docker.io=USER:TOKEN`): accounts get more pulls",
            budget.limit.limit,
            budget.window()
        ));
        held.push(report);
    }
    (kept, held)
}

#[cfg(test)]
mod tests {
    use super::Budget;
    use crate::registry::transport::RateLimit;

    fn budget(remaining: u64, window_secs: Option<u64>) -> Budget {
        Budget {
            limit: RateLimit {
                limit: 100,
                remaining,
                window_secs,
            },
            needed: 3,
        }
    }

    #[test]
    fn the_summary_says_what_is_left_and_what_a_run_would_do() {
        assert_eq!(
            budget(76, Some(21_600)).summary(),
            "Docker Hub: 76 of 100 pulls left in 6 h; this run needs at least 3"
        );
        assert_eq!(
            budget(2, Some(21_600)).summary(),
            "Docker Hub: 2 of 100 pulls left in 6 h; this run needs at least 3; fewer than \
             needed: some Docker Hub images may fail with 429"
        );
        assert_eq!(
            budget(0, None).summary(),
            "Docker Hub: 0 of 100 pulls left in its window; this run needs at least 3; none \
             left: its images would not be started (pulls come back within its window)"
        );
        assert_eq!(budget(0, Some(90)).window(), "90 s");
    }
}
