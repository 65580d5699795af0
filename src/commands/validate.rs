//! `validate`: parse and check a list (or an issue body) offline; print the normalized plan.

use crate::cli::{CopyArgs, ValidateCmd};
use crate::commands::list_jobs;
use crate::input::read::{read_list, read_stream};
use crate::plan::delta::Delta;
use crate::plan::list::LinePair;
use crate::plan::list::PLACEHOLDER_REGISTRY;
use crate::plan::online::Lookup;
use crate::plan::pull_budget::Budget;
use crate::reference::Reference;
use crate::settings::ProcessEnv;
use crate::usage::UsageError;

/// Check the list (or the issue body) and print where each image would go; with `--online`,
/// look each source up too.
pub(crate) async fn validate(cmd: ValidateCmd) -> Result<u8, UsageError> {
    let env = ProcessEnv;
    let (text, form_platforms, form_all) = match &cmd.issue_body {
        Some(path) => {
            let body = read_issue_body(path)?;
            let form = crate::input::issue_form::parse(&body);
            if form.images.trim().is_empty() {
                return Err(UsageError::new("the issue lists no images")
                    .hint("write one image a line under `### Images`, e.g. `nginx:1.27`"));
            }
            (form.images, form.platforms, form.all_platforms)
        }
        None => (read_list(&cmd.list.source())?, None, false),
    };
    // The form's platforms stand in for `--platform`, as in issue mode.
    let flag = form_platforms.as_deref().or(cmd.platform.as_deref());
    let chosen = crate::settings::platforms(cmd.all_platforms || form_all, flag, &env, None)
        .map_err(|e| UsageError {
            message: e.message.replacen("--platform: ", "platforms: ", 1),
            hint: e.hint,
        })?;
    let platforms = chosen.describe();
    // `--target-registry oci:PATH`: shown as the names the images get in that layout.
    let mut target = crate::settings::target_namespace(&cmd.target, &env);
    let layout = match target
        .registry
        .as_deref()
        .and_then(crate::layout::LayoutRef::parse)
    {
        Some(l) => Some(l.map_err(|e| UsageError::new(format!("--target-registry: {e}")))?),
        None => None,
    };
    if layout.is_some() {
        target.registry = Some(crate::commands::mirror::LAYOUT_REGISTRY.to_string());
    }
    let jobs = list_jobs(&text, cmd.list.max_images, &target, false)?;
    let shown = |r: &Reference| {
        if let Some(l) = &layout {
            return format!(
                "oci:{}:{}:{}",
                l.path.display(),
                r.repository(),
                r.tag().unwrap_or("latest")
            );
        }
        r.to_string()
            .replace(PLACEHOLDER_REGISTRY, "$TARGET_REGISTRY")
    };
    // The target the bytes are counted against: a registry that was named.
    let counted_on = match &layout {
        Some(_) => Err("the target is an OCI layout"),
        None => crate::settings::hosts::target_registry(target.registry.as_deref())
            .ok_or("no target registry given (`--target-registry`)"),
    };
    let online = match cmd.online {
        true => Some(online(&cmd, &jobs, &chosen, counted_on).await?),
        false => None,
    };
    let lookups = online.as_ref().map(|o| &o.lookups);
    let lookup = |i: usize| lookups.and_then(|l| l.get(i));
    let delta = |i: usize| online.as_ref().and_then(|o| o.deltas.get(i)?.as_ref());
    let budget = online.as_ref().and_then(|o| o.budget);
    if cmd.json {
        let images: Vec<serde_json::Value> = jobs
            .iter()
            .enumerate()
            .map(|(i, j)| {
                let mut v = serde_json::json!({"line": j.line, "source": j.pair.source.to_string(), "target": shown(&j.pair.target), "platforms": platforms});
                if let Some(l) = lookup(i) {
                    v["lookup"] = serde_json::to_value(l).unwrap_or_default();
                }
                let fields = v.get_mut("lookup").and_then(|l| l.as_object_mut());
                if let (Some(d), Some(fields)) = (delta(i), fields) {
                    fields.extend(d.json());
                }
                v
            })
            .collect();
        let mut plan = serde_json::json!({"images": images});
        if let Some(b) = &budget {
            plan["docker_hub"] = b.json();
        }
        crate::output::line(&serde_json::to_string_pretty(&plan).unwrap_or_default());
    } else {
        for (i, j) in jobs.iter().enumerate() {
            crate::output::line(&format!(
                "line {:>3}: {} -> {} [{}]",
                j.line,
                j.pair.source,
                shown(&j.pair.target),
                platforms.join(", ")
            ));
            if let Some(l) = lookup(i) {
                let mark = if l.is_fine() { "ok" } else { "error" };
                let moves = delta(i)
                    .map(|d| format!("; {}", d.describe()))
                    .unwrap_or_default();
                crate::output::line(&format!("          {mark}: {}{moves}", l.describe()));
            }
        }
        if let Some(b) = &budget {
            crate::output::line(&b.summary());
        }
        crate::output::line(&format!(
            "{} image{} valid",
            jobs.len(),
            if jobs.len() == 1 { "" } else { "s" }
        ));
        if let Some(l) = lookups {
            let fine = l.iter().filter(|l| l.is_fine()).count();
            crate::output::line(&format!("{fine} of {} sources found as asked", l.len()));
        }
    }
    let all_fine = lookups.into_iter().flatten().all(Lookup::is_fine);
    Ok(if all_fine { 0 } else { 1 })
}

/// What `--online` found: a look-up a line, for each found line what its copy would move,
/// and Docker Hub's pull budget when a found source is there.
struct Online {
    lookups: Vec<Lookup>,
    deltas: Vec<Option<Delta>>,
    budget: Option<Budget>,
}

/// `--online`: the sources looked up with the run's transport and credentials (flags for
/// insecure registries; the environment and docker config for the rest, the target's among
/// them), then what each found one would move to `counted_on` (or why that is not counted).
async fn online(
    cmd: &ValidateCmd,
    jobs: &[LinePair],
    platforms: &crate::copy::Platforms,
    counted_on: Result<String, &str>,
) -> Result<Online, UsageError> {
    use clap::{Args, FromArgMatches};
    let mut argv = vec!["validate".to_string()];
    for h in &cmd.insecure_registry {
        argv.extend(["--insecure-registry".to_string(), h.clone()]);
    }
    if let Some(p) = &cmd.target_profile {
        argv.extend(["--target-profile".to_string(), p.clone()]);
    }
    let matches = CopyArgs::augment_args(clap::Command::new("validate"))
        .try_get_matches_from(argv)
        .map_err(|e| UsageError::new(e.to_string()))?;
    let args = CopyArgs::from_arg_matches(&matches).map_err(|e| UsageError::new(e.to_string()))?;
    let sources: Vec<Reference> = jobs.iter().map(|j| j.pair.source.clone()).collect();
    let names: Vec<&str> = sources.iter().map(Reference::registry).collect();
    let target = counted_on.as_deref().ok();
    let registries =
        crate::settings::hosts::Registries::of(&names, &target.into_iter().collect::<Vec<_>>());
    let settings = crate::settings::Settings::resolve(&args, &ProcessEnv, None, &registries)?;
    let engine = crate::pipeline::engine(&settings)?;
    let looked = crate::plan::online::look_up_keeping_index(&engine, &sources, platforms).await;
    let pairs: Vec<(&Reference, &Reference)> = jobs
        .iter()
        .map(|j| (&j.pair.source, &j.pair.target))
        .collect();
    let how = (
        platforms,
        settings.copy.format,
        settings.copy.target_profile,
    );
    let deltas =
        crate::plan::delta::count_lines(&engine, &pairs, &looked, counted_on.err(), how).await;
    // From the look-ups' answers: no request of its own.
    let found: Vec<&Reference> = sources
        .iter()
        .zip(&looked)
        .filter(|(_, l)| l.lookup.is_fine())
        .map(|(s, _)| s)
        .collect();
    let budget = crate::plan::pull_budget::look_sources(&engine, &found).await;
    Ok(Online {
        lookups: looked.into_iter().map(|l| l.lookup).collect(),
        deltas,
        budget,
    })
}

/// The issue body of `--issue-body FILE` (`-`: stdin), at most [`crate::bounded::ISSUE_BODY`]'s
/// cap. Its images are counted by the list parser, after the form is read.
fn read_issue_body(path: &std::path::Path) -> Result<String, UsageError> {
    let input = &crate::bounded::ISSUE_BODY;
    if path == std::path::Path::new("-") {
        read_stream(path, input.what, input.limit, &input.hint(), None)
    } else {
        Ok(crate::bounded::read_to_string(path, input)?)
    }
}
