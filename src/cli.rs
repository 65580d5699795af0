//! Command-line definitions only (clap derive); the doc comments are the help text.

use crate::copy::Format;
use crate::plan::naming::Naming;
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

  # a plain-HTTP registry on the LAN (localhost/127.0.0.1 may speak HTTP without the flag)
  registry-mirror copy --insecure-registry 192.168.1.10:5000 \\
      quay.io/prometheus/node-exporter:v1.8.0 192.168.1.10:5000/mirrors/node-exporter:v1.8.0";

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
    /// Copy every tag of a repository that passes the tag filters
    #[command(after_help = SYNC_EXAMPLES)]
    Sync(SyncCmd),
    /// Copy a list of images into the target namespace (flattened names by default)
    #[command(after_help = MIRROR_EXAMPLES)]
    Mirror(MirrorCmd),
    /// Run the jobs of a YAML config file (scheduled runs)
    #[command(after_help = RUN_EXAMPLES)]
    Run(RunCmd),
    /// Handle a GitHub event (issues, issue_comment, workflow_dispatch) end to end
    #[command(after_help = ISSUE_EXAMPLES)]
    Issue(IssueCmd),
    /// Parse and validate a list offline; print the normalized plan
    #[command(after_help = VALIDATE_EXAMPLES)]
    Validate(ValidateCmd),
    /// Print a GitHub Actions matrix that splits a run into N shares (`--shard I/N`)
    #[command(after_help = PLAN_EXAMPLES)]
    Plan(PlanCmd),
    /// Work with JSON reports
    #[command(subcommand)]
    Report(ReportCmd),
}

/// `plan --shards N` with the inputs of `mirror` (a list) or `run` (a config).
#[derive(Debug, Args)]
pub struct PlanCmd {
    /// Number of shares
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub shards: u32,
    #[command(flatten)]
    pub list: ListInput,
    /// Count the `images` jobs of this config instead of a list
    #[arg(long, value_name = "FILE", conflicts_with = "file")]
    pub config: Option<PathBuf>,
    /// With `--config`: only these jobs
    #[arg(long, value_name = "NAME")]
    pub job: Vec<String>,
}

const PLAN_EXAMPLES: &str = "\
Prints {\"include\": [{\"shard\": \"1/4\", \"images\": 25}, ...]} (shards without images are left out)
and, under GitHub Actions, writes it to the step output `matrix`.

Examples:
  registry-mirror plan --shards 4 -f images.txt
  registry-mirror plan --shards 3 --config mirror.yaml
  # then, in each matrix job:
  registry-mirror mirror -f images.txt --shard \"$SHARD\"";

#[derive(Debug, Subcommand)]
pub enum ReportCmd {
    /// Merge the JSON reports of several shards into one (JSON and Markdown)
    #[command(after_help = MERGE_EXAMPLES)]
    Merge(MergeCmd),
}

const MERGE_EXAMPLES: &str = "\
Exits 1 when any image of any shard failed.

Examples:
  # after the matrix jobs uploaded report-1.json ... report-4.json as artifacts
  registry-mirror report merge report-*.json --report-json report.json --summary summary.md";

#[derive(Debug, Args)]
pub struct MergeCmd {
    /// JSON reports written by `--report-json`
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// Write the merged JSON report here
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<PathBuf>,
    /// Append the merged Markdown report to this file [env: GITHUB_STEP_SUMMARY]
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
}

/// `sync SRC_REPO DST_REPO`.
#[derive(Debug, Args)]
pub struct SyncCmd {
    /// Source repository without tag (`docker.io/library/nginx`); with `--all-repos`, `REGISTRY/NAMESPACE`
    #[arg(value_name = "SRC_REPO")]
    pub source: String,
    /// Target repository without tag; with `--all-repos`, the prefix the repositories go under
    #[arg(value_name = "DST_REPO")]
    pub destination: String,
    #[command(flatten)]
    pub tags: TagArgs,
    /// Sync every repository under the source namespace (read from `/v2/_catalog`)
    #[arg(long)]
    pub all_repos: bool,
    #[command(flatten)]
    pub copy: CopyArgs,
}

/// The tag filters of `sync`.
#[derive(Debug, Args, Clone)]
pub struct TagArgs {
    /// Copy only tags matching this regex (repeatable; a value may hold a comma list)
    #[arg(long, value_name = "RE", allow_hyphen_values = true)]
    pub include: Vec<String>,
    /// Skip tags matching this regex, applied after `--include` (repeatable; comma lists too)
    #[arg(long, value_name = "RE", allow_hyphen_values = true)]
    pub exclude: Vec<String>,
    /// After filtering, keep only the newest N tags under `--sort`
    #[arg(long, value_name = "N")]
    pub keep_latest: Option<usize>,
    /// Order for `--keep-latest`
    #[arg(long, value_enum, default_value_t = crate::input::tag_filter::Sort::Semver)]
    pub sort: crate::input::tag_filter::Sort,
    /// Tags (or repositories) asked for per page when listing
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub page_size: usize,
}

const SYNC_EXAMPLES: &str = "\
Examples:
  # the newest five stable nginx releases, no variants, amd64 and arm64
  registry-mirror sync docker.io/library/nginx registry.example.com/mirrors/nginx \\
      --include '^1\\.[0-9]+\\.[0-9]+$' --keep-latest 5 --platform linux/amd64,linux/arm64

  # everything but alpine and slim variants, see what would be kept first
  registry-mirror sync --dry-run --exclude 'alpine,slim' quay.io/prometheus/node-exporter \\
      harbor.example.com/monitoring/node-exporter

  # every repository under a namespace of a registry that lists its catalog
  registry-mirror sync --all-repos harbor.internal:8443/base registry.example.com/base";

/// `run --config FILE [--job NAME]`.
#[derive(Debug, Args)]
pub struct RunCmd {
    /// The config file (`version: 1`; see the README's config reference)
    #[arg(long, short = 'c', value_name = "FILE", default_value = "mirror.yaml")]
    pub config: PathBuf,
    /// Run only this job (repeatable)
    #[arg(long, value_name = "NAME")]
    pub job: Vec<String>,
    /// Target when neither the config's `defaults` nor the job name one
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub copy: CopyArgs,
}

const RUN_EXAMPLES: &str = "\
Examples:
  # the merged plan of every job, nothing written
  registry-mirror run --config mirror.yaml --dry-run

  # one job, as the scheduled workflow runs it
  registry-mirror run --config mirror.yaml --job 'nginx stable'";

/// `issue`: the event in `GITHUB_EVENT_PATH`.
#[derive(Debug, Args)]
pub struct IssueCmd {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub copy: CopyArgs,
    /// Act only on issues carrying this label
    #[arg(long, value_name = "LABEL", default_value = "mirror-request")]
    pub label: String,
    /// Author associations allowed to start a mirror (comma list), or `any`
    #[arg(long, value_name = "LIST", default_value = "OWNER,MEMBER,COLLABORATOR")]
    pub allowed_associations: String,
    /// Directory overriding the comment templates (`DIR/<lang>/<name>.md`)
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Refuse lists longer than this
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub max_images: usize,
}

const ISSUE_EXAMPLES: &str = "\
Reads GITHUB_EVENT_NAME, GITHUB_EVENT_PATH, GITHUB_REPOSITORY, GITHUB_TOKEN, GITHUB_API_URL,
GITHUB_SERVER_URL and GITHUB_RUN_ID, as set by GitHub Actions.

Examples:
  # in a workflow step (see .github/workflows/mirror-issue.yml)
  registry-mirror issue

  # what it would do with a saved event, without writing anything anywhere
  GITHUB_EVENT_NAME=issues GITHUB_EVENT_PATH=event.json registry-mirror issue --dry-run";

/// Where a list comes from: arguments, a file or stdin.
#[derive(Debug, Args, Clone)]
pub struct ListInput {
    /// Images, one per argument (`name:tag`, or `SOURCE TARGET` quoted as one argument)
    #[arg(value_name = "IMAGE")]
    pub images: Vec<String>,
    /// Read the list from FILE (`-` for stdin): one image a line, `#` comments, bullets and code fences allowed
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Refuse lists longer than this
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub max_images: usize,
}

impl ListInput {
    /// The list as the input layer reads it.
    pub(crate) fn source(&self) -> crate::input::read::ListSource<'_> {
        crate::input::read::ListSource {
            images: &self.images,
            file: self.file.as_deref(),
            max_images: self.max_images,
        }
    }
}

/// The target namespace of `mirror`, `issue` and `run`.
#[derive(Debug, Args, Clone)]
pub struct TargetArgs {
    /// Target registry, e.g. `registry.cn-hangzhou.aliyuncs.com` [env: TARGET_REGISTRY]
    #[arg(long, value_name = "REGISTRY")]
    pub target_registry: Option<String>,
    /// Namespace inside the target registry, e.g. `mirrors` (may be empty or several
    /// components) [env: TARGET_NAMESPACE]
    #[arg(long, value_name = "NAMESPACE")]
    pub target_namespace: Option<String>,
    /// How source names map into the namespace: `flatten` (last path component), `path`,
    /// `full` [default: flatten]
    #[arg(long, value_enum)]
    pub naming: Option<Naming>,
}

/// `mirror [IMAGE...] [--file F|-]`.
#[derive(Debug, Args)]
pub struct MirrorCmd {
    #[command(flatten)]
    pub list: ListInput,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub copy: CopyArgs,
}

/// `validate [IMAGE...] [--file F] [--issue-body F]`.
#[derive(Debug, Args)]
pub struct ValidateCmd {
    #[command(flatten)]
    pub list: ListInput,
    /// Read a GitHub issue body (the `mirror-request` form, or a bare list) from FILE (`-` for stdin)
    #[arg(long, value_name = "FILE", conflicts_with = "file")]
    pub issue_body: Option<PathBuf>,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Platforms to keep from multi-arch sources (shown in the plan) [env: PLATFORMS]
    /// [default: linux/amd64]
    #[arg(long, value_name = "LIST")]
    pub platform: Option<String>,
    /// Keep every platform (shown in the plan)
    #[arg(long)]
    pub all_platforms: bool,
    /// Print the plan as JSON
    #[arg(long)]
    pub json: bool,
    /// Look every source up (HEADs and tag lists; no blob is read, nothing is written): what is
    /// missing, with the nearest tags, a likely name or the platforms there are; with a target
    /// registry, the bytes a found one would move (manifests read off Docker Hub, a HEAD a blob
    /// on the target). Exit 1 when any source is not fine
    #[arg(long)]
    pub online: bool,
    /// With --online: reach this registry over plain HTTP, or HTTPS without certificate checks
    /// (repeatable) [env: INSECURE_REGISTRIES, a comma list]
    #[arg(
        long = "insecure-registry",
        value_name = "HOST[:PORT]",
        value_delimiter = ','
    )]
    pub insecure_registry: Vec<String>,
    /// With --online and a target registry: what the target accepts, as for a copy (the bytes
    /// are counted for what would be written there) [env: TARGET_PROFILE] [default: auto]
    #[arg(long, value_name = "NAME|auto")]
    pub target_profile: Option<String>,
}

const MIRROR_EXAMPLES: &str = "\
Examples:
  # three images into registry.example.com/mirrors/<name>:<tag>
  registry-mirror mirror --target-registry registry.example.com --target-namespace mirrors \\
      nginx:1.27 registry.k8s.io/pause:3.9 quay.io/prometheus/node-exporter:v1.8.0

  # a list file, 8 images at a time, see the plan first
  registry-mirror mirror --dry-run --parallel 8 -f images.txt \\
      --target-registry registry.cn-hangzhou.aliyuncs.com --target-namespace k8s

  # a list on stdin; a line may name its own target: `SOURCE TARGET`
  printf 'nginx:1.27 web/nginx:stable\\nalpine:3.20\\n' | \\
      TARGET_REGISTRY=harbor.example.com TARGET_NAMESPACE=library registry-mirror mirror -f -";

const VALIDATE_EXAMPLES: &str = "\
Examples:
  registry-mirror validate -f images.txt --target-registry registry.example.com --target-namespace mirrors
  registry-mirror validate --issue-body body.md --json
  # look the sources up too: missing tags with the nearest ones, missing platforms
  registry-mirror validate --online -f images.txt --platform linux/amd64,linux/arm64";

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
    /// [env: PLATFORMS] [default: linux/amd64]
    #[arg(long, value_name = "LIST")]
    pub platform: Option<String>,
    /// Keep every platform of a multi-arch source
    #[arg(long)]
    pub all_platforms: bool,
    /// Manifest format written to the target [env: FORMAT] [default: v2s2]
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Images written at once (as many more are looked at ahead) [env: MAX_PARALLEL] [default: 5]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub parallel: Option<u32>,
    /// Harbor: a push refused because the project does not exist creates the project (private)
    /// through Harbor's API, then is retried (needs Basic credentials that may create projects)
    #[arg(long)]
    pub create_namespace: bool,
    /// What the target accepts: `auto` (by its host name) or acr, tcr, swr, harbor, ghcr,
    /// quay, dockerhub, gar, distribution; what it refuses is adapted before it is sent
    /// [env: TARGET_PROFILE] [default: auto]
    #[arg(long, value_name = "NAME|auto")]
    pub target_profile: Option<crate::registry::profile::ProfileChoice>,
    /// Signatures, SBOMs and attestations that refer to a copied manifest follow it
    /// [env: REFERRERS] [default: all]
    #[arg(long, value_enum)]
    pub referrers: Option<crate::copy::ReferrerMode>,
    /// Blob transfers in flight at once, over all images
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub blobs_in_flight: u32,
    /// Requests waiting for their answer at once per registry, over all images (blob bodies
    /// are bounded by --blobs-in-flight instead)
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub requests_in_flight: u32,
    /// Retries per request on connection errors, timeouts, 408/429/5xx and cut or corrupt
    /// bodies [env: RETRIES] [default: 3]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=20))]
    pub retries: Option<u32>,
    /// Seconds without a byte sent or received that end an attempt (then resumed or retried
    /// like a cut connection) [env: STALL_TIMEOUT] [default: 30]
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub stall_timeout: Option<u64>,
    /// Reach this registry over plain HTTP, or HTTPS without certificate checks (repeatable)
    /// [env: INSECURE_REGISTRIES, a comma list]
    #[arg(
        long = "insecure-registry",
        value_name = "HOST[:PORT]",
        value_delimiter = ','
    )]
    pub insecure_registry: Vec<String>,
    /// An extra trusted CA certificate (PEM); `SSL_CERT_FILE` is honoured too
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Vec<PathBuf>,
    /// Source credentials: `HOST=USER:PASS` for one registry (repeatable), or `USER:PASS` for
    /// the one source registry (else `SOURCE_REGISTRY_USER`/`_PASSWORD`, bound to
    /// `SOURCE_REGISTRY` when set; else docker config.json)
    #[arg(long, value_name = "[HOST=]USER:PASS", hide_env_values = true)]
    pub src_creds: Vec<String>,
    /// Destination credentials: `USER:PASS` for the target registry, or `HOST=USER:PASS`
    /// (repeatable) (else `TARGET_REGISTRY_USER`/`_PASSWORD`; else docker config.json)
    #[arg(long, value_name = "[HOST=]USER:PASS", hide_env_values = true)]
    pub dest_creds: Vec<String>,
    /// Reach REGISTRY at another address (a mirror or pull-through cache); names are unchanged
    /// [env: REGISTRY_ENDPOINTS, a comma list]
    #[arg(long, value_name = "REGISTRY=HOST[:PORT]", value_delimiter = ',')]
    pub endpoint: Vec<String>,
    /// Upload blobs in chunks of this size (e.g. `4MiB`, `512KiB`, bytes) instead of one streamed request
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub chunk_size: Option<u64>,
    /// Write the machine-readable JSON report here
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<PathBuf>,
    /// Append the Markdown report to this file [env: GITHUB_STEP_SUMMARY]
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
    /// Remember in FILE what converted sources became (re-runs judge them up to date with HEADs
    /// alone) and which target repositories hold which blobs (later runs mount them); keep it
    /// between runs, e.g. with actions/cache [env: REGISTRY_MIRROR_STATE]
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Run one share of the images (`I/N`, from `plan --shards N`)
    #[arg(long, value_name = "I/N")]
    pub shard: Option<crate::plan::shard::Shard>,
    #[command(flatten)]
    pub notify: NotifyArgs,
}

/// Where the message about a run goes. URLs and secrets are never printed (not even by `--help`).
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Notifications")]
pub struct NotifyArgs {
    /// WeCom group robot webhook URL [env: WECOM_WEBHOOK_URL]
    #[arg(long, value_name = "URL")]
    pub wecom_webhook: Option<String>,
    /// DingTalk robot webhook URL [env: DINGTALK_WEBHOOK_URL]
    #[arg(long, value_name = "URL")]
    pub dingtalk_webhook: Option<String>,
    /// DingTalk signing secret (`SEC…`): requests are signed with HMAC-SHA256 [env:
    /// DINGTALK_SECRET]
    #[arg(long, value_name = "SECRET")]
    pub dingtalk_secret: Option<String>,
    /// Feishu/Lark custom bot webhook URL [env: FEISHU_WEBHOOK_URL]
    #[arg(long, value_name = "URL")]
    pub feishu_webhook: Option<String>,
    /// Feishu/Lark signing secret [env: FEISHU_SECRET]
    #[arg(long, value_name = "SECRET")]
    pub feishu_secret: Option<String>,
    /// Slack incoming webhook URL [env: SLACK_WEBHOOK_URL]
    #[arg(long, value_name = "URL")]
    pub slack_webhook: Option<String>,
    /// Any URL: receives the report's summary and failed images as JSON [env:
    /// NOTIFY_WEBHOOK_URL]
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,
    /// When to send the message [env: NOTIFY_ON] [default: always]
    #[arg(long, value_enum)]
    pub notify_on: Option<crate::input::config::NotifyOn>,
    /// Seconds to wait for a webhook to answer
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub notify_timeout: u64,
    /// Language of comments and messages: `en` or `zh` [env: REPORT_LANG] [default: en]
    #[arg(long, value_name = "LANG")]
    pub lang: Option<String>,
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

/// A byte size: a number with an optional `K`/`KiB`/`M`/`MiB`/`G`/`GiB` (binary) suffix, at least 1 KiB.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a size; write e.g. `4MiB`, `512KiB` or `1048576`"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => return Err(format!("unknown size unit `{other}`; use KiB, MiB or GiB")),
    };
    let bytes = n
        .checked_mul(factor)
        .ok_or_else(|| format!("`{text}` is too large"))?;
    if bytes < 1024 {
        return Err(format!("`{text}` is too small; chunks are at least 1KiB"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4MiB"), Ok(4 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert!(parse_size("12").unwrap_err().contains("too small"));
        assert!(parse_size("4 parsecs")
            .unwrap_err()
            .contains("unknown size unit"));
        assert!(parse_size("MiB").unwrap_err().contains("not a size"));
    }
}
