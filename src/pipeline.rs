//! One pipeline for every copying command. A command turns its inputs into a [`RunPlan`] (what
//! to copy, the task's title and link) and resolves its [`Settings`]; [`execute`] owns the rest:
//! timing, the engine (one per run, so every job shares its connections, tokens and the ledger
//! of blobs to mount), sharding, progress, the state file, the report, the outputs (stdout,
//! `--report-json`, step outputs, the job summary), the notifications and the exit code.
//!
//! Exit codes: 0 every image copied or already up to date; 1 at least one image failed, a tag
//! listing failed (it is a failed image in the report), or an output could not be written after
//! copying; 2 only before anything was written (the caller's [`UsageError`]).

use crate::copy::image::{Destination, Origin};
use crate::copy::{CopyOptions, Engine};
use crate::input::config::NotifyOn;
use crate::output;
use crate::plan::sync::SyncSpec;
use crate::registry::transport::Transport;
use crate::registry::Session;
use crate::report::{human_bytes, markdown, ImageReport, RepoSelection, RunReport, Status};
use crate::settings::{Outputs, Settings};
use crate::usage::UsageError;
use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Instant, SystemTime};

/// What a run copies and how it is told.
pub(crate) struct RunPlan {
    /// The job summary's heading.
    pub(crate) title: String,
    /// The task, as notifications name it.
    pub(crate) task: String,
    /// Where the run (or the issue) can be seen.
    pub(crate) link: Option<String>,
    pub(crate) batches: Vec<Batch>,
    /// Tag selections made while planning (a layout's names); listings add theirs as they run.
    pub(crate) selections: Vec<RepoSelection>,
    /// Comment and message templates overriding the embedded ones.
    pub(crate) templates: Option<PathBuf>,
}

/// A part of a run with its own options: the whole run, or one job of a config.
pub(crate) struct Batch {
    /// Printed before the batch runs (a config job's header).
    pub(crate) header: Option<String>,
    pub(crate) work: Work,
    pub(crate) options: CopyOptions,
    pub(crate) parallel: usize,
    /// A config job's `notify_on` (else the run's).
    pub(crate) notify_on: Option<NotifyOn>,
}

/// The images of a batch: known, or the tags a sync lists when it runs.
pub(crate) enum Work {
    Pairs(Vec<(Origin, Destination)>),
    /// Pairs, and the images a look-up before the run found cannot be copied (their reports).
    /// The command looked up its own shard's images only, so these are not sharded again.
    Checked(Vec<(Origin, Destination)>, Vec<ImageReport>),
    /// Pairs with their lines in the list, each source looked up while the batch copies
    /// (`plan::gate`): one found missing is reported with what exists and not copied. The
    /// command took its own shard's images already.
    LookFirst(Vec<(Origin, Destination)>, Vec<usize>),
    Sync(SyncSpec),
}

/// The outcome of a run.
pub(crate) struct Executed {
    pub(crate) report: RunReport,
    pub(crate) code: u8,
}

/// The link to this workflow run under GitHub Actions.
pub(crate) fn run_link() -> Option<String> {
    let repo = crate::env::var(crate::env::GITHUB_REPOSITORY)?;
    let id = crate::env::var(crate::env::GITHUB_RUN_ID)?;
    Some(format!("{}/{repo}/actions/runs/{id}", server_url()))
}

/// `GITHUB_SERVER_URL` without a trailing `/` (default `https://github.com`).
pub(crate) fn server_url() -> String {
    crate::env::var(crate::env::GITHUB_SERVER_URL)
        .unwrap_or_else(|| "https://github.com".into())
        .trim_end_matches('/')
        .to_string()
}

/// The engine of a run: the transport and its clients, the credentials, the state file. Under
/// GitHub Actions every secret is masked first.
pub(crate) fn engine(settings: &Settings) -> Result<Engine, UsageError> {
    if crate::report::actions::enabled() {
        // Before anything else is printed: GitHub then hides these values in every log line.
        let secrets = settings.secrets();
        output::mask_commands(&crate::report::actions::mask_commands(
            secrets.iter().map(String::as_str),
        ));
    }
    let mut opts = settings
        .hosts
        .transport_options(settings.retries, settings.stall);
    opts.requests_per_host = settings.requests_in_flight;
    let transport = Transport::new(opts)
        .map_err(|e| UsageError::new(e.to_string()).maybe_hint(crate::hints::for_registry(&e)))?;
    // Read later, when a registry needs it: a bad one stops the run now, before anything else.
    if let Some(path) = crate::registry::docker_config::docker_config_path() {
        match crate::bounded::check(&path, &crate::bounded::DOCKER_CONFIG) {
            Err(e) if !e.is_not_found() => return Err(e.into()),
            _ => {}
        }
    }
    let mut session = Session::new(transport);
    for (registry, role, c, from) in settings.hosts.credentials() {
        session.set_credentials(registry, role, c.clone(), from.clone());
    }
    let mut engine = Engine::new(session, settings.blobs_in_flight);
    engine.state = settings
        .state
        .as_deref()
        .map(crate::copy::state::State::load)
        .transpose()?;
    Ok(engine)
}

/// Copy what `plan` names with `settings`, then report, write the outputs and notify.
pub(crate) async fn execute(plan: RunPlan, settings: &Settings) -> Result<Executed, UsageError> {
    let engine = engine(settings)?;
    Ok(execute_with(&engine, plan, settings).await)
}

/// [`execute`] with an engine made already (issue mode makes it before posting its plan).
pub(crate) async fn execute_with(engine: &Engine, plan: RunPlan, settings: &Settings) -> Executed {
    let started = SystemTime::now();
    let t0 = Instant::now();
    let dry_run = settings.copy.dry_run;
    let mut images: Vec<ImageReport> = Vec::new();
    let mut selections: Vec<RepoSelection> = plan.selections;
    // Per batch: its `notify_on`, and whether it had a failure.
    let mut outcomes = Vec::new();
    let mut position = 0;
    for batch in plan.batches {
        if let Some(h) = &batch.header {
            output::line(h);
        }
        let first = images.len();
        // Reported after the batch's copies.
        let mut refused = Vec::new();
        let checked = matches!(batch.work, Work::Checked(..) | Work::LookFirst(..));
        // (source, target) -> line, for the pairs looked up as they are copied.
        let mut lines: Option<HashMap<(String, String), usize>> = None;
        let pairs = match batch.work {
            Work::Pairs(p) => p,
            Work::Checked(p, r) => {
                refused = r;
                p
            }
            Work::LookFirst(p, l) => {
                let key = |(o, d): &(Origin, Destination)| (o.to_string(), d.to_string());
                lines = Some(p.iter().map(key).zip(l).collect());
                p
            }
            Work::Sync(spec) => match crate::plan::sync::plan(engine, &spec).await {
                Ok((jobs, sel)) => {
                    print_selections(&sel);
                    selections.extend(sel);
                    jobs.into_iter()
                        .map(|j| (Origin::Registry(j.source), Destination::Registry(j.target)))
                        .collect()
                }
                Err(e) => {
                    // A listing that fails is a failed image: the report is still written.
                    let mut failed = ImageReport::new(spec.source.clone(), spec.target.clone());
                    failed.error = Some(match e.hint() {
                        Some(h) => format!("{e}\nhint: {h}"),
                        None => e.to_string(),
                    });
                    tracing::error!("{}", crate::untrusted::inert(&e.to_string(), 4000));
                    images.push(failed);
                    outcomes.push((batch.notify_on, true));
                    continue;
                }
            },
        };
        // Shards count images across the whole run, batches in order.
        let pairs = match settings.shard.filter(|_| !checked) {
            Some(shard) => {
                let n = pairs.len();
                let mine = shard.take(pairs, position);
                position += n;
                tracing::info!("shard {shard}: {} images", mine.len());
                mine
            }
            None => pairs,
        };
        // Docker Hub's pull limit, before anything counts against it.
        let (pairs, held_back) = crate::plan::pull_budget::apply(engine, pairs, dry_run).await;
        images.extend(held_back);
        // Progress bars on a terminal only (never in CI logs or a dry run).
        let visible = !dry_run && std::io::IsTerminal::is_terminal(&std::io::stderr());
        let progress = crate::progress::Progress::start(
            pairs.len() as u64,
            engine.bytes_moved.clone(),
            visible,
        );
        let look_ahead = lines.map(|lines| {
            let of = |(o, d): &(Origin, Destination)| {
                lines.get(&(o.to_string(), d.to_string())).copied()
            };
            let lines = pairs.iter().map(|p| of(p).unwrap_or(0)).collect();
            crate::plan::gate::LookAhead::new(&pairs, lines)
        });
        let looking = async {
            if let Some(l) = &look_ahead {
                l.run(engine).await;
            }
        };
        let gate = look_ahead
            .as_ref()
            .map(|l| l as &dyn crate::copy::batch::Gate);
        let copying = engine.copy_pairs(&pairs, &batch.options, batch.parallel, gate, |_| {
            progress.image_done()
        });
        let ((), reports) = tokio::join!(looking, copying);
        progress.finish();
        save_state(engine);
        images.extend(reports);
        images.extend(refused);
        let failed = images[first..].iter().any(|i| i.status == Status::Failed);
        outcomes.push((batch.notify_on, failed));
    }
    let mut run = RunReport::new(started, t0.elapsed(), dry_run, images);
    run.sync = selections;
    let wanted = outcomes
        .iter()
        .any(|(on, failed)| match on.unwrap_or(settings.notify.on) {
            NotifyOn::Always => true,
            NotifyOn::Failure => *failed,
            NotifyOn::Never => false,
        });
    if !dry_run && wanted && !settings.notify.channels.is_empty() {
        let subject = crate::notify::Subject {
            task: &plan.task,
            link: plan.link.as_deref(),
        };
        run.notifications = crate::notify::send(
            &run,
            &settings.notify.channels,
            &subject,
            &settings.outputs.lang,
            plan.templates.as_deref(),
            settings.notify.timeout,
        )
        .await;
    }
    let mut code = run.exit_code();
    if let Err(e) = write_outputs(&run, &settings.outputs, &plan.title) {
        // The images are where they are: a lost report is a failed run, not bad input.
        output::error(&e.message, e.hint.as_deref());
        code = code.max(1);
    }
    Executed { report: run, code }
}

/// Keep what this run learned for the next (`--state`); a failure to write it is a warning.
fn save_state(engine: &Engine) {
    if let Some(state) = &engine.state {
        if let Err(e) = state.save() {
            tracing::warn!("cannot write the state file: {e}; the next run reads manifests again");
        }
    }
}

/// What the tag filters kept and dropped, on stdout.
pub(crate) fn print_selections(selections: &[RepoSelection]) {
    for s in selections {
        output::line(&format!(
            "{}: {} tags listed, {} kept, {} dropped",
            s.source,
            s.tags,
            s.kept.len(),
            s.dropped.len()
        ));
        for t in &s.kept {
            output::line(&format!("  keep  {t}"));
        }
        for d in &s.dropped {
            output::line(&format!("  drop  {}: {}", d.tag, d.reason));
        }
    }
}

/// Print the result lines, write `--report-json`, the step outputs and `--summary`.
pub(crate) fn write_outputs(
    run: &RunReport,
    outputs: &Outputs,
    title: &str,
) -> Result<(), UsageError> {
    let report_json = outputs.report_json.as_deref();
    let summary = outputs.summary.as_deref();
    let lang = outputs.lang.as_str();
    let actions = crate::report::actions::enabled();
    for img in &run.images {
        let line = result_line(img);
        if actions {
            output::raw(&crate::report::actions::image_commands(img, &line));
        } else {
            output::line(&line);
        }
    }
    if run.images.len() > 1 || run.dry_run {
        let s = &run.summary;
        let line = if run.dry_run {
            let planned = run
                .images
                .iter()
                .filter(|i| i.status == Status::Planned)
                .count();
            format!(
                "{} images: {planned} to copy, {} up to date, {} failed, {} to move (dry run: nothing written)",
                s.total,
                s.skipped,
                s.failed,
                human_bytes(s.bytes)
            )
        } else {
            format!(
                "{} images: {} copied, {} up to date, {} failed, {} moved",
                s.total,
                s.copied,
                s.skipped,
                s.failed,
                human_bytes(s.bytes)
            )
        };
        output::line(&line);
    }
    // Under GitHub Actions the report always lands in a file, for the `report` output.
    let report_path = report_json.map(std::path::Path::to_path_buf).or_else(|| {
        actions.then(|| {
            std::path::PathBuf::from(
                crate::env::var(crate::env::RUNNER_TEMP).unwrap_or_else(|| ".".into()),
            )
            .join("registry-mirror-report.json")
        })
    });
    if let Some(path) = &report_path {
        std::fs::write(path, run.to_json() + "\n").map_err(|e| {
            UsageError::new(format!(
                "cannot write the JSON report `{}`: {e}",
                path.display()
            ))
        })?;
    }
    if let (true, Some(path)) = (actions, &report_path) {
        crate::report::actions::write_outputs(run, path).map_err(|e| {
            UsageError::new(format!(
                "cannot append the step outputs to `GITHUB_OUTPUT`: {e}"
            ))
        })?;
    }
    if let Some(path) = summary {
        let md = crate::untrusted::scrub(&markdown::render(run, title, lang));
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(md.as_bytes()))
            .map_err(|e| {
                UsageError::new(format!(
                    "cannot append the summary to `{}`: {e}",
                    path.display()
                ))
            })?;
    }
    Ok(())
}

fn result_line(img: &ImageReport) -> String {
    let digest = img.digest.as_deref().unwrap_or("-");
    let platforms = if img.platforms.is_empty() {
        String::new()
    } else {
        format!(" [{}]", img.platforms.join(", "))
    };
    let mut line = match img.status {
        Status::Copied => format!(
            "copied   {} -> {} {digest}{platforms} ({}, {} blobs copied, {} mounted, {} skipped, {:.1}s)",
            img.source,
            img.target,
            human_bytes(img.bytes),
            img.blobs.copied,
            img.blobs.mounted,
            img.blobs.skipped,
            img.duration_ms as f64 / 1000.0
        ),
        Status::Skipped => format!("skipped  {} -> {} {digest}{platforms} (up to date)", img.source, img.target),
        Status::Planned => format!(
            "planned  {} -> {} {digest}{platforms}: {} ({} to move)",
            img.source,
            img.target,
            img.action.as_deref().unwrap_or("copy"),
            human_bytes(img.bytes)
        ),
        Status::Failed => format!(
            "failed   {} -> {}\n  error: {}",
            img.source,
            img.target,
            img.error.as_deref().unwrap_or("unknown error").replace('\n', "\n  ")
        ),
    };
    if img.converted && matches!(img.status, Status::Copied | Status::Planned) {
        line.push_str("\n  converted to the requested format");
    }
    for d in &img.dropped {
        line.push_str(&format!("\n  dropped: {d}"));
    }
    for w in &img.warnings {
        line.push_str(&format!("\n  warning: {w}"));
    }
    for a in &img.adapted {
        line.push_str(&format!("\n  adapted: {}: {}", a.change, a.reason));
    }
    for r in &img.referrers {
        let (kind, status) = (r.kind.as_str(), r.status.as_str());
        line.push_str(&format!("\n  {kind} {} {status}", r.digest));
        if let Some(why) = &r.reason {
            line.push_str(&format!(": {why}"));
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::hosts::Registries;
    use clap::Parser;

    fn settings(argv: &[&str]) -> Result<Settings, UsageError> {
        let mut full = vec![
            "registry-mirror",
            "copy",
            "a/b:1",
            "c/d:1",
            "--retries",
            "0",
        ];
        full.extend_from_slice(argv);
        let crate::cli::Command::Copy(cmd) = crate::cli::Cli::parse_from(full).command else {
            unreachable!("copy");
        };
        Settings::resolve(
            &cmd.copy,
            &std::collections::BTreeMap::new(),
            None,
            &Registries::of(&["127.0.0.1:1"], &["127.0.0.1:1"]),
        )
    }

    fn plan(pairs: Vec<(Origin, Destination)>, settings: &Settings) -> RunPlan {
        RunPlan {
            title: "t".into(),
            task: "t".into(),
            link: None,
            batches: vec![Batch {
                header: None,
                work: Work::Pairs(pairs),
                options: settings.copy.clone(),
                parallel: 1,
                notify_on: None,
            }],
            selections: Vec::new(),
            templates: None,
        }
    }

    /// An image whose source refuses connections: it fails without waiting on anything.
    fn unreachable() -> Vec<(Origin, Destination)> {
        let r = |s: &str| crate::reference::Reference::parse(s).expect("reference");
        vec![(
            Origin::Registry(r("127.0.0.1:1/a/b:1")),
            Destination::Registry(r("127.0.0.1:1/c/d:1")),
        )]
    }

    #[tokio::test]
    async fn exit_codes_come_from_the_outcomes_and_a_lost_report_is_not_bad_input() {
        let ok = settings(&[]).expect("settings");
        assert_eq!(
            execute(plan(Vec::new(), &ok), &ok).await.expect("run").code,
            0
        );
        let failed = execute(plan(unreachable(), &ok), &ok).await.expect("run");
        assert_eq!(failed.code, 1);
        assert_eq!(failed.report.summary.failed, 1);

        // The images are where they are when the report cannot be written: 1, never 2.
        let dir = tempfile::tempdir().expect("tempdir");
        let nowhere = dir.path().join("missing-dir/report.json");
        let lost =
            settings(&["--report-json", nowhere.to_str().expect("utf-8")]).expect("settings");
        let done = execute(plan(Vec::new(), &lost), &lost).await.expect("run");
        assert_eq!((done.code, done.report.summary.failed), (1, 0));
        let done = execute(plan(unreachable(), &lost), &lost)
            .await
            .expect("run");
        assert_eq!(done.code, 1);

        // Bad input is refused before anything runs: the caller's exit 2.
        let bad = settings(&["--platform", "linux"]).expect_err("bad platform");
        assert!(bad.message.starts_with("--platform: "), "{}", bad.message);
    }
}
