//! Command-line definitions only (clap derive); the doc comments are the help text.

use crate::copy::Format;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const COPY_EXAMPLES: &str = "\
Examples:
  # nginx from Docker Hub into a private registry, amd64 only, as Docker v2s2
  registry-mirror copy nginx:1.27 registry.example.com/mirrors/nginx:1.27

  # every platform, digests preserved
  registry-mirror copy --all-platforms --format preserve \\
      registry.k8s.io/pause:3.9 registry.cn-hangzhou.aliyuncs.com/ns/pause:3.9

  # two platforms, credentials from the environment, see the plan first
  TARGET_REGISTRY_USER=me TARGET_REGISTRY_PASSWORD=secret \\
    registry-mirror copy --dry-run --platform linux/amd64,linux/arm64 \\
      ghcr.io/owner/app:v1 harbor.example.com/library/app:v1

  # a plain-HTTP registry on this machine
  registry-mirror copy --insecure-registry 127.0.0.1:5000 \\
      quay.io/prometheus/node-exporter:v1.8.0 127.0.0.1:5000/mirrors/node-exporter:v1.8.0";

/// Mirror container images between registries with a native Registry V2 / OCI engine.
#[derive(Debug, Parser)]
#[command(name = "registry-mirror", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Copy one image (tag or digest) to an exact destination reference
    #[command(after_help = COPY_EXAMPLES)]
    Copy(CopyCmd),
}

/// `copy SRC DST`.
#[derive(Debug, Args)]
pub struct CopyCmd {
    /// Source image: `[registry/]path:tag`, `…@sha256:…`, or `…:tag@sha256:…` (the tag is then checked)
    #[arg(value_name = "SRC")]
    pub source: String,
    /// Destination reference with its tag (or digest)
    #[arg(value_name = "DST")]
    pub destination: String,
    #[command(flatten)]
    pub copy: CopyArgs,
}

/// Options shared by every copying command.
#[derive(Debug, Args, Clone)]
pub struct CopyArgs {
    /// Read only: resolve sources, look at targets, print the plan; write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Platforms to keep from a multi-arch source: comma list of `os/arch[/variant]`
    #[arg(long, value_name = "LIST", env = crate::env::PLATFORMS, default_value = "linux/amd64")]
    pub platform: String,
    /// Keep every platform of a multi-arch source
    #[arg(long)]
    pub all_platforms: bool,
    /// Manifest format written to the target
    #[arg(long, value_enum, env = crate::env::FORMAT, default_value_t = Format::V2s2)]
    pub format: Format,
    /// Images in flight at once
    #[arg(long, value_name = "N", env = crate::env::MAX_PARALLEL, default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub parallel: u32,
    /// Blob transfers in flight at once, over all images
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub blobs_in_flight: u32,
    /// Retries per request on connection errors, timeouts, 408/429/5xx and cut or corrupt bodies
    #[arg(long, value_name = "N", env = crate::env::RETRIES, default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(0..=20))]
    pub retries: u32,
    /// Reach this registry over plain HTTP, or HTTPS without certificate checks (repeatable)
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]", env = crate::env::INSECURE_REGISTRIES,
          value_delimiter = ',')]
    pub insecure_registry: Vec<String>,
    /// An extra trusted CA certificate (PEM); `SSL_CERT_FILE` is honoured too
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Vec<PathBuf>,
    /// Source credentials (else `SOURCE_REGISTRY_USER`/`SOURCE_REGISTRY_PASSWORD`, else docker config.json)
    #[arg(long, value_name = "USER:PASS", hide_env_values = true)]
    pub src_creds: Option<String>,
    /// Destination credentials (else `TARGET_REGISTRY_USER`/`TARGET_REGISTRY_PASSWORD`, else docker config.json)
    #[arg(long, value_name = "USER:PASS", hide_env_values = true)]
    pub dest_creds: Option<String>,
    /// Reach REGISTRY at another address (a mirror or pull-through cache); names are unchanged
    #[arg(long, value_name = "REGISTRY=HOST[:PORT]", env = crate::env::REGISTRY_ENDPOINTS, value_delimiter = ',')]
    pub endpoint: Vec<String>,
    /// Upload blobs in chunks of this many bytes instead of one streamed request
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1024..))]
    pub chunk_size: Option<u64>,
    /// Write the machine-readable JSON report here
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<PathBuf>,
    /// Append the Markdown report to this file
    #[arg(long, value_name = "FILE", env = crate::env::GITHUB_STEP_SUMMARY)]
    pub summary: Option<PathBuf>,
}

/// Logging: to stderr, via tracing.
#[derive(Debug, Args, Clone)]
pub struct LogArgs {
    /// Log format
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// More logs (-v debug, -vv trace)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only warnings and errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}
