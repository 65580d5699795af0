//! The one module that knows every other: command line -> inputs -> engine -> report -> output.
//!
//! Exit codes (CONTRACT.md): 0 every image copied or already up to date, 1 at least one image
//! failed, 2 invalid input or usage (nothing was written).

use crate::cli::{Cli, Command, CopyArgs, ListInput, LogArgs, LogFormat, TargetArgs};
use crate::copy::{CopyOptions, Engine, Platforms};
use crate::hosts::{CredentialTable, Given, GivenError, Inputs, Registries};
use crate::list_jobs::{Destination, LineJob, PLACEHOLDER_REGISTRY};
use crate::reference::Reference;
use crate::registry::credentials::{CredentialSource, Credentials};
use crate::registry::transport::{Transport, TransportOptions};
use crate::registry::Session;
use crate::report::{human_bytes, markdown, ImageReport, RunReport, Status};
use crate::retry::RetryPolicy;
use clap::Parser;
use std::io::Write;
use std::process::ExitCode;

/// Input that cannot be acted on: exit 2, nothing written.
#[derive(Debug)]
pub struct UsageError {
    pub message: String,
    pub hint: Option<String>,
}

impl UsageError {
    pub(crate) fn new(message: impl Into<String>) -> UsageError {
        UsageError {
            message: message.into(),
            hint: None,
        }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> UsageError {
        self.hint = Some(hint.into());
        self
    }

    /// [`UsageError::hint`], when there is one.
    pub(crate) fn maybe_hint(mut self, hint: Option<String>) -> UsageError {
        self.hint = hint.or(self.hint);
        self
    }
}

/// A refused file input: what, where and why, and what to give instead.
impl From<crate::bounded::FileError> for UsageError {
    fn from(e: crate::bounded::FileError) -> UsageError {
        UsageError::new(e.to_string()).maybe_hint(e.hint())
    }
}

/// Parse the command line, run, and map the outcome to the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {}", crate::untrusted::inert_lines(&e.message, 8000));
            if let Some(h) = e.hint {
                eprintln!("hint: {}", crate::untrusted::inert_lines(&h, 2000));
            }
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<u8, UsageError> {
    match cli.command {
        Command::Copy(cmd) => crate::commands::copy::copy(cmd).await,
        Command::Sync(cmd) => crate::commands::sync::sync(cmd).await,
        Command::Run(cmd) => crate::commands::run::run(cmd).await,
        Command::Mirror(cmd) => crate::commands::mirror::mirror(cmd).await,
        Command::Issue(cmd) => crate::commands::issue::issue(cmd).await,
        Command::Validate(cmd) => crate::commands::validate::validate(cmd),
        Command::Plan(cmd) => crate::commands::plan::plan(cmd),
        Command::Report(crate::cli::ReportCmd::Merge(cmd)) => {
            crate::commands::report::merge_reports(cmd)
        }
    }
}

/// The list text: the arguments (one line each), then the file or stdin, streamed line by line.
/// Reading stops as soon as the file passes [`crate::bounded::LIST_LIMIT`] bytes or the list
/// passes `--max-images` lines that are neither blank nor `#` comments (with the arguments).
pub(crate) fn read_list(input: &ListInput) -> Result<String, UsageError> {
    let mut text = input.images.join("\n");
    if let Some(path) = input.file.as_deref() {
        let counted = input
            .images
            .iter()
            .flat_map(|i| i.lines())
            .filter(|l| !l.trim().is_empty() && !l.trim().starts_with('#'))
            .count();
        let limit = crate::bounded::LIST_LIMIT;
        let body = read_stream(
            path,
            "the list",
            limit,
            &format!(
                "split the list into parts of at most {}",
                crate::bounded::human(limit)
            ),
            Some((input.max_images, counted)),
        )?;
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&body);
    }
    if text.trim().is_empty() {
        return Err(UsageError::new("the list is empty")
            .hint("name images as arguments, or give a list with `--file FILE` (`-` for stdin)"));
    }
    Ok(text)
}

/// `path` (`-`: stdin) streamed with [`crate::bounded::read_lines`]: at most `byte_limit`
/// bytes (else the error has `large_hint`), and with `lines = (max, already counted)` at most
/// `max` image lines. `what` names the input in errors (`the list`).
pub(crate) fn read_stream(
    path: &std::path::Path,
    what: &str,
    byte_limit: u64,
    large_hint: &str,
    lines: Option<(usize, usize)>,
) -> Result<String, UsageError> {
    use crate::bounded::{read_lines, StreamError};
    let stdin = path == std::path::Path::new("-");
    let source = if stdin {
        format!("{what} from stdin")
    } else {
        format!("{what} `{}`", path.display())
    };
    let (max, counted) = match lines {
        Some((max, counted)) => (Some(max), counted),
        None => (None, 0),
    };
    let read = if stdin {
        read_lines(std::io::stdin().lock(), byte_limit, max, counted)
    } else {
        let file = std::fs::File::open(path)
            .map_err(|e| UsageError::new(format!("cannot read {source}: {e}")))?;
        read_lines(file, byte_limit, max, counted)
    };
    read.map_err(|e| match e {
        StreamError::TooManyLines { limit, line } => UsageError::new(format!(
            "{source} has more than {limit} images (`--max-images`); reading stopped at line {line}, nothing was copied"
        ))
        .hint("split the list, or raise the limit with `--max-images N`"),
        StreamError::TooLarge { limit, line } => UsageError::new(format!(
            "{source} is larger than {}; reading stopped at line {line}, nothing was copied",
            crate::bounded::human(limit)
        ))
        .hint(large_hint),
        StreamError::NotUtf8 { .. } | StreamError::Io(_) => {
            UsageError::new(format!("cannot read {source}: {e}"))
        }
    })
}

/// Jobs for a list, or the usage error that lists every problem.
pub(crate) fn list_jobs(
    text: &str,
    max_images: usize,
    target: &TargetArgs,
    require_registry: bool,
) -> Result<Vec<LineJob>, UsageError> {
    let registry = target
        .target_registry
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    let dest = Destination {
        registry: if require_registry {
            registry
        } else {
            Some(registry.unwrap_or(PLACEHOLDER_REGISTRY))
        },
        namespace: target.target_namespace.trim(),
        naming: target.naming,
    };
    let (jobs, warnings) = crate::list_jobs::resolve(text, max_images, &dest)
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

/// The copy options from the shared flags.
pub fn copy_options(args: &CopyArgs) -> Result<CopyOptions, UsageError> {
    let platforms = if args.all_platforms {
        Platforms::All
    } else {
        let list = crate::registry::platform::parse_list(&args.platform)
            .map_err(|e| UsageError::new(format!("--platform: {e}")).hint("write platforms as `os/arch[/variant]`, comma-separated, e.g. `linux/amd64,linux/arm64`"))?;
        Platforms::Only(list)
    };
    Ok(CopyOptions {
        platforms,
        format: args.format,
        dry_run: args.dry_run,
        chunk_size: args.chunk_size,
    })
}

/// The credentials of one side: every `--src-creds`/`--dest-creds` value, then the
/// `_USER`/`_PASSWORD` pair (bound to `host_var`'s registry when that is set).
fn side_credentials(
    flags: &[String],
    flag_name: &'static str,
    user_var: &'static str,
    pass_var: &'static str,
    host_var: Option<&'static str>,
) -> Result<Vec<Given>, UsageError> {
    let mut out = Vec::new();
    for text in flags {
        let given = crate::hosts::parse_given(text, flag_name).map_err(|e| match e {
            GivenError::Bind(b) => UsageError::new(format!("{flag_name}: {b}")).hint(b.hint()),
            GivenError::Credentials(c) => UsageError::new(format!("{flag_name}: {c}")).hint(
                "write credentials as `USER:PASSWORD`, or `HOST=USER:PASSWORD` for one registry",
            ),
        })?;
        out.push(given);
    }
    let both = format!("set both `{user_var}` and `{pass_var}`, or neither");
    match (crate::env::var(user_var), crate::env::var(pass_var)) {
        (Some(username), Some(password)) => {
            let host = host_var
                .and_then(crate::env::var)
                .filter(|h| !h.trim().is_empty())
                .map(|h| {
                    crate::hosts::registry_of(&h).map_err(|e| {
                        UsageError::new(format!("`{}`: {e}", host_var.unwrap_or_default()))
                            .hint(e.hint())
                    })
                })
                .transpose()?;
            out.push(Given {
                host,
                credentials: Credentials::Basic { username, password },
                source: CredentialSource::Env {
                    user: user_var,
                    password: pass_var,
                },
            });
        }
        (Some(_), None) => {
            return Err(
                UsageError::new(format!("`{user_var}` is set but `{pass_var}` is not")).hint(both),
            )
        }
        (None, Some(_)) => {
            return Err(
                UsageError::new(format!("`{pass_var}` is set but `{user_var}` is not")).hint(both),
            )
        }
        (None, None) => {}
    }
    Ok(out)
}

/// The credential table of a run: flags and environment bound to `registries`, then `extra`
/// (a config file's `registries:` entries), which name their host themselves and win.
pub fn credential_table(
    args: &CopyArgs,
    registries: &Registries,
    extra: Vec<RegistryCredentials>,
) -> Result<CredentialTable, UsageError> {
    let inputs = Inputs {
        source: side_credentials(
            &args.src_creds,
            "--src-creds",
            crate::env::SOURCE_REGISTRY_USER,
            crate::env::SOURCE_REGISTRY_PASSWORD,
            Some(crate::env::SOURCE_REGISTRY),
        )?,
        target: side_credentials(
            &args.dest_creds,
            "--dest-creds",
            crate::env::TARGET_REGISTRY_USER,
            crate::env::TARGET_REGISTRY_PASSWORD,
            None,
        )?,
    };
    let mut table = CredentialTable::bind(&inputs, registries)
        .map_err(|e| UsageError::new(e.to_string()).hint(e.hint()))?;
    for (registry, c, from) in extra {
        table.set_both(&registry, c, from);
    }
    Ok(table)
}

/// The engine for a run whose registries are `registries`: explicit credentials are bound to
/// those registries only (see [`crate::hosts`]).
pub fn engine(args: &CopyArgs, registries: &Registries) -> Result<Engine, UsageError> {
    engine_with(args, registries, Vec::new())
}

/// Credentials for one registry in both roles (a config file's `registries:` entry).
pub type RegistryCredentials = (String, Credentials, CredentialSource);

/// [`engine`], plus credentials bound to registries by name; those win over the flags.
pub fn engine_with(
    args: &CopyArgs,
    registries: &Registries,
    extra: Vec<RegistryCredentials>,
) -> Result<Engine, UsageError> {
    let mut endpoints = std::collections::BTreeMap::new();
    for e in &args.endpoint {
        let (reg, host) = e
            .split_once('=')
            .filter(|(r, h)| !r.trim().is_empty() && !h.trim().is_empty())
            .ok_or_else(|| {
                UsageError::new(format!("--endpoint `{e}`: expected `REGISTRY=HOST[:PORT]`"))
                    .hint("e.g. `--endpoint docker.io=mirror.example.com:5000`")
            })?;
        endpoints.insert(reg.trim().to_string(), host.trim().to_string());
    }
    let opts = TransportOptions {
        insecure: args
            .insecure_registry
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        ca_certs: args.ca_cert.clone(),
        endpoints,
        retry: RetryPolicy::with_retries(args.retries),
        stall: std::time::Duration::from_secs(args.stall_timeout),
    };
    let table = credential_table(args, registries, extra)?;
    let channels = crate::notify::channels_from_args(&args.notify);
    for s in table.secret_forms() {
        crate::untrusted::register_secret(&s);
    }
    let secrets: Vec<String> = table
        .secrets()
        .into_iter()
        .chain(
            crate::notify::secrets(&channels)
                .into_iter()
                .map(str::to_string),
        )
        .collect();
    for s in &secrets {
        crate::untrusted::register_secret(s);
    }
    if crate::report::github::enabled() {
        // Before anything else is printed: GitHub then hides these values in every log line.
        print!(
            "{}",
            crate::report::github::mask_commands(secrets.iter().map(String::as_str))
        );
    }
    let transport = Transport::new(opts)
        .map_err(|e| UsageError::new(e.to_string()).maybe_hint(crate::hints::for_registry(&e)))?;
    // Read later, when a registry needs it: a bad one stops the run now, before anything else.
    if let Some(path) = crate::registry::credentials::docker_config_path() {
        match crate::bounded::check(&path, &crate::bounded::DOCKER_CONFIG) {
            Err(e) if !e.is_not_found() => return Err(e.into()),
            _ => {}
        }
    }
    let mut session = Session::new(transport);
    for (registry, role, c, from) in table.iter() {
        session.set_credentials(registry, role, c.clone(), from.clone());
    }
    let mut engine = Engine::new(session, args.blobs_in_flight as usize, args.retries);
    engine.state = args
        .state
        .as_deref()
        .map(crate::copy::state::State::load)
        .transpose()?;
    Ok(engine)
}

/// The link to this workflow run under GitHub Actions.
pub fn run_link() -> Option<String> {
    let repo = crate::env::var(crate::env::GITHUB_REPOSITORY)?;
    let id = crate::env::var(crate::env::GITHUB_RUN_ID)?;
    Some(format!("{}/{repo}/actions/runs/{id}", server_url()))
}

/// `GITHUB_SERVER_URL` without a trailing `/` (default `https://github.com`).
pub fn server_url() -> String {
    crate::env::var(crate::env::GITHUB_SERVER_URL)
        .unwrap_or_else(|| "https://github.com".into())
        .trim_end_matches('/')
        .to_string()
}

/// What a run's notification says and where it goes, beyond the flags.
pub struct NotifyPlan<'a> {
    pub task: String,
    pub link: Option<String>,
    /// Channels from a config file.
    pub extra: Vec<crate::notify::Channel>,
    /// Decided by the caller (a config's per-job `notify_on`) instead of `--notify-on`.
    pub wanted: Option<bool>,
    pub templates: Option<&'a std::path::Path>,
}

impl NotifyPlan<'_> {
    pub fn task(task: impl Into<String>) -> NotifyPlan<'static> {
        NotifyPlan {
            task: task.into(),
            link: run_link(),
            extra: Vec::new(),
            wanted: None,
            templates: None,
        }
    }
}

/// Keep what this run learned for the next (`--state`); a failure to write it is a warning.
pub fn save_state(engine: &Engine) {
    if let Some(state) = &engine.state {
        if let Err(e) = state.save() {
            tracing::warn!("cannot write the state file: {e}; the next run reads manifests again");
        }
    }
}

/// Notify (unless a dry run), then print and write the outputs.
pub async fn finish(
    run: &mut RunReport,
    args: &CopyArgs,
    title: &str,
    plan: NotifyPlan<'_>,
) -> Result<(), UsageError> {
    let mut channels = crate::notify::channels_from_args(&args.notify);
    channels.extend(plan.extra);
    for s in crate::notify::secrets(&channels) {
        crate::untrusted::register_secret(s);
    }
    let wanted = plan
        .wanted
        .unwrap_or_else(|| crate::notify::wanted(args.notify.notify_on, run));
    if !run.dry_run && wanted && !channels.is_empty() {
        let subject = crate::notify::Subject {
            task: &plan.task,
            link: plan.link.as_deref(),
        };
        run.notifications = crate::notify::send(
            run,
            &channels,
            &subject,
            args.notify.lang.trim(),
            plan.templates,
            std::time::Duration::from_secs(args.notify.notify_timeout.max(1)),
        )
        .await;
    }
    write_outputs(run, args, title)
}

/// Print the result lines, write `--report-json` and append `--summary`.
pub fn write_outputs(run: &RunReport, args: &CopyArgs, title: &str) -> Result<(), UsageError> {
    write_report(
        run,
        args.report_json.as_deref(),
        args.summary.as_deref(),
        title,
        args.notify.lang.trim(),
    )
}

/// [`write_outputs`] with the two paths given directly.
pub fn write_report(
    run: &RunReport,
    report_json: Option<&std::path::Path>,
    summary: Option<&std::path::Path>,
    title: &str,
    lang: &str,
) -> Result<(), UsageError> {
    let actions = crate::report::github::enabled();
    let mut out = std::io::stdout().lock();
    for img in &run.images {
        let line = crate::untrusted::scrub(&result_line(img));
        if actions {
            let _ = write!(
                out,
                "{}",
                crate::untrusted::scrub(&crate::report::github::image_commands(img, &line))
            );
        } else {
            let _ = writeln!(out, "{line}");
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
        let _ = writeln!(out, "{line}");
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
        crate::report::github::write_outputs(run, path).map_err(|e| {
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

pub fn result_line(img: &ImageReport) -> String {
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
    line
}

fn init_logging(args: &LogArgs) {
    use tracing_subscriber::EnvFilter;
    let level = if args.quiet {
        "warn"
    } else {
        match args.verbose {
            0 => "info",
            1 => "debug",
            _ => "trace",
        }
    };
    let filter = crate::env::var(crate::env::RUST_LOG)
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(format!("warn,registry_mirror={level}")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| ScrubbedStderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    let _ = match args.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.compact().try_init(),
    };
}

/// The log's writer: every event is scrubbed of secrets before it reaches stderr (tracing
/// formats an event into one buffer and writes it at once).
struct ScrubbedStderr;

impl std::io::Write for ScrubbedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = crate::untrusted::scrub(&String::from_utf8_lossy(buf));
        std::io::stderr().lock().write_all(text.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
