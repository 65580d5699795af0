//! The entry point: parse the command line, start logging and the runtime, hand the command to
//! its module in `commands`, and turn the outcome into the exit code: 0 every image
//! copied or already up to date, 1 at least one image failed, 2 invalid input or usage
//! (nothing was written).

use crate::cli::{Cli, Command, LogArgs, LogFormat};
use crate::usage::UsageError;
use clap::Parser;
use std::process::ExitCode;

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
            crate::output::error(&e.message, e.hint.as_deref());
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
        Command::Validate(cmd) => crate::commands::validate::validate(cmd).await,
        Command::Plan(cmd) => crate::commands::plan::plan(cmd),
        Command::Report(crate::cli::ReportCmd::Merge(cmd)) => {
            crate::commands::report::merge_reports(cmd)
        }
    }
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
