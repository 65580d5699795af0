//! `registry-mirror issue`: one GitHub event end to end. Read the event, decide (label, author,
//! `/retry`), then either say why not (one polite comment), list every bad line (comment, label
//! `invalid`, exit 2), or post the plan, copy, edit the plan into the report, label `completed`
//! and close, or label `failed` and leave it open for `/retry`.
//!
//! Under `--dry-run` nothing is written to GitHub: the comments are printed instead.

use crate::cli::IssueCmd;
use crate::copy::image::{Destination, Origin};
use crate::github::api::GitHub;
use crate::github::event::{self, Decision, Issue, Policy};
use crate::pipeline::{Batch, RunPlan, Work};
use crate::plan::list::{LinePair, Problem};
use crate::plan::naming::Namespace;
use crate::plan::online::Lookup;

/// A line of the request with what looking its source up found.
type Looked = (LinePair, Lookup);
use crate::render::templates::{self, Templates};
use crate::report::{human_bytes, RunReport, Status};
use crate::settings::hosts::Registries;
use crate::settings::{ProcessEnv, Settings};
use crate::usage::UsageError;
use serde::Serialize;
use std::time::Duration;
#[cfg(test)]
use std::time::SystemTime;
use tracing::{error, info, warn};

/// GitHub refuses comments longer than this many characters.
pub const COMMENT_LIMIT: usize = 65_536;
/// Error text kept per failure in a comment.
const ERROR_CHARS: usize = 1_500;

const LABEL_COMPLETED: (&str, &str, &str) = (
    "completed",
    "0e8a16",
    "registry-mirror: every image mirrored",
);
const LABEL_FAILED: (&str, &str, &str) = (
    "failed",
    "d73a4a",
    "registry-mirror: some images failed; comment /retry",
);
const LABEL_INVALID: (&str, &str, &str) = (
    "invalid",
    "e4e669",
    "registry-mirror: the image list needs fixing",
);

/// Where the run can be seen.
struct Links {
    run_url: String,
}

impl Links {
    /// The run, else the repository's Actions page, else the server.
    fn from_env() -> Links {
        let run_url = crate::pipeline::run_link().unwrap_or_else(|| {
            match crate::env::var(crate::env::GITHUB_REPOSITORY) {
                Some(repo) => format!("{}/{repo}/actions", crate::pipeline::server_url()),
                None => crate::pipeline::server_url(),
            }
        });
        Links { run_url }
    }
}

pub(crate) async fn issue(cmd: IssueCmd) -> Result<u8, UsageError> {
    let name = crate::env::var(crate::env::GITHUB_EVENT_NAME).ok_or_else(|| {
        UsageError::new("`GITHUB_EVENT_NAME` is not set")
            .hint("`registry-mirror issue` runs inside GitHub Actions; to try it, set `GITHUB_EVENT_NAME` and `GITHUB_EVENT_PATH` and add `--dry-run`")
    })?;
    let path = crate::env::var(crate::env::GITHUB_EVENT_PATH).ok_or_else(|| {
        UsageError::new("`GITHUB_EVENT_PATH` is not set")
            .hint("point it at the event's JSON payload")
    })?;
    let payload =
        crate::bounded::read_to_string(std::path::Path::new(&path), &crate::bounded::EVENT)?;
    let event = event::parse(&name, &payload).map_err(|e| {
        UsageError::new(e.to_string()).hint(
            "run it from a workflow triggered by `issues`, `issue_comment` or `workflow_dispatch`",
        )
    })?;
    let lang = crate::settings::lang(&cmd.copy.notify, &ProcessEnv);
    let templates = Templates::load(&lang, cmd.templates.as_deref()).map_err(|e| match e {
        templates::TemplateError::File(e) => UsageError::from(e),
        e => UsageError::new(e.to_string()).hint(format!(
            "languages: {}; templates are `DIR/<lang>/<name>.md`",
            templates::LANGS.join(", ")
        )),
    })?;
    if cmd.copy.shard.is_some() {
        return Err(
            UsageError::new("`--shard` is not for `issue`: one run answers one issue")
                .hint("split long lists with `mirror --shard I/N` in a matrix instead"),
        );
    }
    let policy = Policy::new(&cmd.label, &cmd.allowed_associations);
    let flow = Flow {
        links: Links::from_env(),
        templates,
        dry_run: cmd.copy.dry_run,
        github: None,
    };
    match event::decide(event, &policy) {
        Decision::Ignore(reason) => {
            info!("nothing to do: {reason}");
            crate::output::line(&format!("nothing to do: {reason}"));
            Ok(0)
        }
        Decision::NotAllowed { issue, who } => {
            let flow = flow.connect()?;
            info!(author = %who, issue = issue.number, "not allowed to start a mirror");
            let allowed = if policy.allowed.is_empty() {
                "anyone".to_string()
            } else {
                policy
                    .allowed
                    .iter()
                    .map(|a| a.to_ascii_lowercase())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let body = flow.render(
                templates::NOT_ALLOWED,
                &serde_json::json!({"who": who, "allowed": allowed, "label": policy.label}),
            )?;
            flow.comment(issue.number, &body).await?;
            Ok(0)
        }
        Decision::RunDispatch {
            images,
            platforms,
            all_platforms,
        } => {
            let request = Request {
                images,
                platforms,
                all_platforms,
                issue: None,
            };
            flow.run(&cmd, request).await
        }
        Decision::RunIssue { issue } => {
            let flow = flow.connect()?;
            let form = crate::input::issue_form::parse(issue.body.as_deref().unwrap_or(""));
            let request = Request {
                images: form.images,
                platforms: form.platforms,
                all_platforms: form.all_platforms,
                issue: Some(issue),
            };
            flow.run(&cmd, request).await
        }
    }
}

/// Every problem of a request, and how many more were not listed.
type Problems = (Vec<Problem>, usize);

struct Request {
    images: String,
    platforms: Option<String>,
    all_platforms: bool,
    issue: Option<Issue>,
}

struct Flow {
    links: Links,
    templates: Templates,
    dry_run: bool,
    github: Option<GitHub>,
}

impl Flow {
    /// The GitHub client, needed for any issue (reads `GITHUB_TOKEN`, `GITHUB_REPOSITORY`).
    fn connect(mut self) -> Result<Flow, UsageError> {
        if self.dry_run {
            return Ok(self);
        }
        // The GitHub client's TLS stack reads `SSL_CERT_FILE` itself, without a bound.
        crate::registry::transport::check_ssl_cert_file()?;
        let token = crate::env::var(crate::env::GITHUB_TOKEN).ok_or_else(|| {
            UsageError::new("`GITHUB_TOKEN` is not set").hint(
                "pass it to the step: `env: GITHUB_TOKEN: ${{ github.token }}`, with `permissions: issues: write`",
            )
        })?;
        crate::untrusted::register_secret(&token);
        let repo = crate::env::var(crate::env::GITHUB_REPOSITORY)
            .filter(|r| r.contains('/'))
            .ok_or_else(|| UsageError::new("`GITHUB_REPOSITORY` is not set to `owner/name`"))?;
        let api = crate::env::var(crate::env::GITHUB_API_URL)
            .unwrap_or_else(|| "https://api.github.com".into());
        let gh = GitHub::new(api.trim_end_matches('/'), &token, &repo, 3)
            .map_err(|e| UsageError::new(e.to_string()))?;
        self.github = Some(gh);
        Ok(self)
    }

    fn render<S: Serialize>(&self, name: &str, ctx: &S) -> Result<String, UsageError> {
        self.templates.render(name, ctx).map_err(|e| {
            UsageError::new(e.to_string())
                .hint("fix the template, or drop it from `--templates` to use the built-in one")
        })
    }

    /// Post a comment (printed under `--dry-run`); returns its id.
    async fn comment(&self, issue: u64, body: &str) -> Result<u64, UsageError> {
        let body = &crate::untrusted::scrub(body);
        match &self.github {
            Some(gh) => gh.create_comment(issue, body).await.map_err(github_error),
            None => {
                crate::output::line(&format!(
                    "--- comment on #{issue} (dry run: not posted) ---\n{body}"
                ));
                Ok(0)
            }
        }
    }

    async fn run(&self, cmd: &IssueCmd, req: Request) -> Result<u8, UsageError> {
        let number = req.issue.as_ref().map(|i| i.number);
        let env = ProcessEnv;

        // Everything the request says, checked before anything is written. Its platforms
        // stand in for `--platform`.
        let mut args = cmd.copy.clone();
        if let Some(p) = &req.platforms {
            args.platform = Some(p.clone());
        }
        args.all_platforms |= req.all_platforms;
        let target = crate::settings::target_namespace(&cmd.target, &env);
        let jobs = match self.check(cmd, &req, &args, &target, &env) {
            Ok(jobs) => jobs,
            Err((problems, more)) => {
                return self.invalid(number, problems, more).await;
            }
        };

        // Settings and the engine, still before anything is written. The list's author does
        // not choose where credentials go: host-less source credentials need a named registry.
        let registries = Registries {
            sources: jobs
                .iter()
                .map(|j| j.pair.source.registry().to_string())
                .collect(),
            targets: crate::settings::hosts::target_registry(target.registry.as_deref())
                .into_iter()
                .collect(),
            untrusted_sources: true,
        };
        let settings = Settings::resolve(&args, &env, None, &registries)?;
        let engine = crate::pipeline::engine(&settings)?;

        // Each source looked up first (HEADs, tag lists): a line that cannot be copied is
        // named in the plan with what exists instead, and the rest is copied.
        let sources: Vec<crate::reference::Reference> =
            jobs.iter().map(|j| j.pair.source.clone()).collect();
        let lookups =
            crate::plan::online::look_up(&engine, &sources, &settings.copy.platforms).await;
        let (jobs, refused) = crate::plan::online::split(jobs, lookups);

        // Docker Hub's pull budget, from the look-ups' answers (no request of its own); the
        // pipeline reads the same answer before copying.
        let fine: Vec<&crate::reference::Reference> = jobs.iter().map(|j| &j.pair.source).collect();
        let budget = crate::plan::pull_budget::look_sources(&engine, &fine).await;

        // The plan, at once.
        let platforms = settings.copy.platforms.describe().join(",");
        let plan_comment = match number {
            Some(n) => {
                let body = self.plan_body(&jobs, &refused, &platforms, budget.as_ref())?;
                Some((n, self.comment(n, &body).await?))
            }
            None => None,
        };
        let refused: Vec<crate::report::ImageReport> = refused
            .into_iter()
            .map(|(j, l)| {
                let (source, target) = (j.pair.source.to_string(), j.pair.target.to_string());
                crate::plan::online::not_copied(j.line, &source, &target, &l)
            })
            .collect();

        // The copy, the outputs and the notification.
        let title = match &req.issue {
            Some(i) => format!(
                "registry-mirror: issue #{} {}",
                i.number,
                one_line(&i.title)
            ),
            None => "registry-mirror: workflow_dispatch".to_string(),
        };
        let plan = RunPlan {
            title,
            task: match &req.issue {
                Some(i) => format!("#{} {}", i.number, one_line(&i.title)),
                None => "mirror (workflow_dispatch)".to_string(),
            },
            link: req
                .issue
                .as_ref()
                .map(|i| i.html_url.clone())
                .filter(|u| !u.is_empty())
                .or_else(|| Some(self.links.run_url.clone())),
            batches: vec![Batch {
                header: None,
                work: Work::Checked(
                    jobs.into_iter()
                        .map(|j| {
                            (
                                Origin::Registry(j.pair.source),
                                Destination::Registry(j.pair.target),
                            )
                        })
                        .collect(),
                    refused,
                ),
                options: settings.copy.clone(),
                parallel: settings.parallel,
                notify_on: None,
            }],
            selections: Vec::new(),
            templates: cmd.templates.clone(),
        };
        let done = crate::pipeline::execute_with(&engine, plan, &settings).await;

        // The report, labels, close.
        if let Some((n, comment_id)) = plan_comment {
            let body = self.report_body(&done.report)?;
            let ok = done.report.summary.failed == 0;
            let issue = req.issue.as_ref();
            if let Err(e) = self.answer(n, comment_id, &body, ok, issue).await {
                error!("{}", e.message);
                crate::output::error(&e.message, e.hint.as_deref());
                return Ok(1);
            }
        }
        Ok(done.code)
    }

    /// Parse and check the request; every problem at once.
    fn check(
        &self,
        cmd: &IssueCmd,
        req: &Request,
        args: &crate::cli::CopyArgs,
        target: &Namespace,
        env: &ProcessEnv,
    ) -> Result<Vec<LinePair>, Problems> {
        let problem = |reason: String, hint: Option<String>| Problem {
            line: None,
            text: None,
            reason,
            hint,
        };
        let mut problems = Vec::new();
        if let Err(e) =
            crate::settings::platforms(args.all_platforms, args.platform.as_deref(), env, None)
        {
            let reason = match &req.platforms {
                Some(p) => format!(
                    "platforms `{}`: {}",
                    one_line(p),
                    e.message.trim_start_matches("--platform: ")
                ),
                None => e.message.clone(),
            };
            problems.push(problem(reason, e.hint.clone()));
        }
        if req.images.trim().is_empty() {
            problems.push(problem(
                "the request lists no images".into(),
                Some("write one image a line under `Images`, e.g. `nginx:1.27`".into()),
            ));
            return Err((problems, 0));
        }
        let registry = target.registry.as_deref();
        match crate::plan::list::resolve(&req.images, cmd.max_images, target) {
            Ok((jobs, warnings)) => {
                for w in warnings {
                    warn!("{w}");
                }
                problems.extend(foreign_targets(&jobs, registry));
                if problems.is_empty() {
                    Ok(jobs)
                } else {
                    Err((problems, 0))
                }
            }
            Err(e) => {
                let (list, more) = e.problems();
                problems.extend(list);
                Err((problems, more))
            }
        }
    }

    async fn invalid(
        &self,
        number: Option<u64>,
        problems: Vec<Problem>,
        more: usize,
    ) -> Result<u8, UsageError> {
        for p in &problems {
            let at = p.line.map(|l| format!("line {l}: ")).unwrap_or_default();
            let text = p
                .text
                .as_deref()
                .map(|t| format!("`{t}`: "))
                .unwrap_or_default();
            eprintln!("error: {at}{text}{}", p.reason);
            if let Some(h) = &p.hint {
                eprintln!("  hint: {h}");
            }
        }
        if more > 0 {
            eprintln!("error: … and {more} more");
        }
        let Some(n) = number else {
            return Ok(2);
        };
        let body = self.render(
            templates::INVALID,
            &serde_json::json!({"problems": problems, "more": more, "run_url": self.links.run_url}),
        )?;
        let body = fit(body, COMMENT_LIMIT);
        self.comment(n, &body).await?;
        if let Some(gh) = &self.github {
            let step = async {
                gh.ensure_label(LABEL_INVALID.0, LABEL_INVALID.1, LABEL_INVALID.2)
                    .await?;
                gh.add_labels(n, &[LABEL_INVALID.0]).await
            };
            step.await.map_err(github_error)?;
        }
        Ok(2)
    }

    fn plan_body(
        &self,
        jobs: &[LinePair],
        refused: &[Looked],
        platforms: &str,
        budget: Option<&crate::plan::pull_budget::Budget>,
    ) -> Result<String, UsageError> {
        #[derive(Serialize)]
        struct Row {
            line: usize,
            source: String,
            target: String,
        }
        let problems: Vec<serde_json::Value> = refused
            .iter()
            .take(100)
            .map(|(j, l)| {
                serde_json::json!({"line": j.line, "source": j.pair.source.to_string(), "why": cut(&l.describe(), ERROR_CHARS)})
            })
            .collect();
        let rows: Vec<Row> = jobs
            .iter()
            .map(|j| Row {
                line: j.line,
                source: j.pair.source.to_string(),
                target: j.pair.target.to_string(),
            })
            .collect();
        let (mut shown, mut shown_problems) = (rows.len(), problems.len());
        loop {
            let body = self.render(
                templates::PLAN,
                &serde_json::json!({
                    "images": &rows[..shown],
                    "omitted": rows.len() - shown,
                    "problems": &problems[..shown_problems],
                    "platforms": platforms,
                    "docker_hub": budget.map(crate::plan::pull_budget::Budget::json),
                    "run_url": self.links.run_url,
                }),
            )?;
            if body.chars().count() <= COMMENT_LIMIT - 512 || shown == 0 {
                return Ok(fit(body, COMMENT_LIMIT));
            }
            shown /= 2;
            shown_problems /= 2;
        }
    }

    fn report_body(&self, run: &RunReport) -> Result<String, UsageError> {
        let rows: Vec<serde_json::Value> = run.images.iter().map(report_row).collect();
        let failures: Vec<serde_json::Value> = run
            .images
            .iter()
            .filter(|i| i.status == Status::Failed)
            .map(|i| {
                serde_json::json!({
                    "source": i.source,
                    "target": i.target,
                    "error": cut(i.error.as_deref().unwrap_or("unknown error"), ERROR_CHARS),
                })
            })
            .collect();
        let pulls: Vec<&str> = run
            .images
            .iter()
            .filter(|i| matches!(i.status, Status::Copied | Status::Skipped))
            .map(|i| i.target.as_str())
            .collect();
        let s = &run.summary;
        let outcome = if s.failed == 0 {
            "success"
        } else if s.failed == s.total {
            "failed"
        } else {
            "partial"
        };
        let (mut shown, mut shown_failures) = (rows.len(), failures.len());
        loop {
            let body = self.render(
                templates::REPORT,
                &serde_json::json!({
                    "outcome": outcome,
                    "summary": {
                        "total": s.total, "copied": s.copied, "skipped": s.skipped,
                        "failed": s.failed, "bytes": human_bytes(s.bytes),
                        "duration": seconds(run.duration_ms),
                    },
                    "images": &rows[..shown],
                    "omitted": rows.len() - shown,
                    "failures": &failures[..shown_failures],
                    "failures_omitted": failures.len() - shown_failures,
                    "referrers": crate::report::referrer_rows(&run.images, shown),
                    "adapted": crate::report::adapted_rows(&run.images, shown),
                    "pulls": &pulls[..shown.min(pulls.len())],
                    "run_url": self.links.run_url,
                }),
            )?;
            if body.chars().count() <= COMMENT_LIMIT - 512 || (shown == 0 && shown_failures == 0) {
                return Ok(fit(body, COMMENT_LIMIT));
            }
            shown /= 2;
            shown_failures /= 2;
        }
    }

    /// Edit the plan into the report; label; close when everything is in place.
    async fn answer(
        &self,
        n: u64,
        comment_id: u64,
        body: &str,
        ok: bool,
        issue: Option<&Issue>,
    ) -> Result<(), UsageError> {
        let body = &crate::untrusted::scrub(body);
        let Some(gh) = &self.github else {
            crate::output::line(&format!(
                "--- report on #{n} (dry run: not posted) ---\n{body}"
            ));
            return Ok(());
        };
        let had = |l: &str| issue.is_some_and(|i| i.has_label(l));
        let steps = async {
            gh.update_comment(comment_id, body).await?;
            if had(LABEL_INVALID.0) {
                gh.remove_label(n, LABEL_INVALID.0).await?;
            }
            if ok {
                if had(LABEL_FAILED.0) {
                    gh.remove_label(n, LABEL_FAILED.0).await?;
                }
                gh.ensure_label(LABEL_COMPLETED.0, LABEL_COMPLETED.1, LABEL_COMPLETED.2)
                    .await?;
                gh.add_labels(n, &[LABEL_COMPLETED.0]).await?;
                gh.close_completed(n).await
            } else {
                gh.ensure_label(LABEL_FAILED.0, LABEL_FAILED.1, LABEL_FAILED.2)
                    .await?;
                gh.add_labels(n, &[LABEL_FAILED.0]).await
            }
        };
        steps.await.map_err(github_error)
    }
}

/// Lines that name their own target on another registry than the target registry: the push
/// credentials are the target registry's, and a request cannot send images (or them) elsewhere.
fn foreign_targets(jobs: &[LinePair], registry: Option<&str>) -> Vec<Problem> {
    let Some(registry) = crate::settings::hosts::target_registry(registry) else {
        return Vec::new();
    };
    jobs.iter()
        .filter(|j| j.pair.target.registry() != registry)
        .map(|j| Problem {
            line: Some(j.line),
            text: Some(format!("{} {}", j.pair.source, j.pair.target)),
            reason: format!(
                "the target `{}` is on `{}`, not on the target registry `{registry}`",
                j.pair.target,
                j.pair.target.registry()
            ),
            hint: Some(format!(
                "name a path inside the target namespace (e.g. `{} mirrors/{}`), or leave the target out",
                j.pair.source,
                j.pair.source.repository().rsplit('/').next().unwrap_or_default()
            )),
        })
        .collect()
}

fn report_row(i: &crate::report::ImageReport) -> serde_json::Value {
    let (icon, status, status_zh) = match i.status {
        Status::Copied => ("✅", "copied", "已复制"),
        Status::Skipped => ("✅", "up to date", "已是最新"),
        Status::Planned => ("📝", "planned", "计划中"),
        Status::Failed => ("❌", "failed", "失败"),
    };
    serde_json::json!({
        "icon": icon,
        "status": status,
        "status_zh": status_zh,
        "source": i.source,
        "target": i.target,
        "digest": i.digest.as_deref().map(short_digest),
        "platforms": i.platforms.join(", "),
        "size": if i.status == Status::Failed { "—".to_string() } else { human_bytes(i.bytes) },
        "duration": seconds(i.duration_ms),
    })
}

fn short_digest(d: &str) -> String {
    // `sha256:` and 12 hex digits, like docker's short ids.
    d.chars().take(19).collect()
}

fn seconds(ms: u64) -> String {
    format!("{:.1}s", Duration::from_millis(ms).as_secs_f64())
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

/// The last resort under GitHub's limit: cut on a character boundary.
fn fit(body: String, limit: usize) -> String {
    if body.chars().count() <= limit {
        return body;
    }
    let note = "\n\n… (cut: the comment was too long; see the job summary)\n";
    let keep = limit - note.chars().count();
    let mut out: String = body.chars().take(keep).collect();
    out.push_str(note);
    out
}

fn github_error(e: crate::github::api::GitHubError) -> UsageError {
    UsageError::new(e.to_string()).hint(
        "check that the workflow grants `permissions: issues: write` and passes `GITHUB_TOKEN`",
    )
}

#[cfg(test)]
mod tests;
