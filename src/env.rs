//! Every environment variable registry-mirror reads, in one place. Flags that have an
//! environment twin declare it through clap (`env = ...`) with these constants.

/// Comma list of `os/arch[/variant]` (`--platform`).
pub const PLATFORMS: &str = "PLATFORMS";
/// `v2s2`, `oci` or `preserve` (`--format`).
pub const FORMAT: &str = "FORMAT";
/// Which referrers follow their images (`--referrers`).
pub const REFERRERS: &str = "REFERRERS";
/// What the target accepts: `auto` or a profile's name (`--target-profile`).
pub const TARGET_PROFILE: &str = "TARGET_PROFILE";
/// Images in flight at once (`--parallel`).
pub const MAX_PARALLEL: &str = "MAX_PARALLEL";
/// Retries per request (`--retries`).
pub const RETRIES: &str = "RETRIES";
/// Seconds without a byte that end an attempt (`--stall-timeout`).
pub const STALL_TIMEOUT: &str = "STALL_TIMEOUT";
/// Comma list of `HOST[:PORT]` reached over plain HTTP or unverified HTTPS (`--insecure-registry`).
pub const INSECURE_REGISTRIES: &str = "INSECURE_REGISTRIES";
/// Comma list of `REGISTRY=HOST[:PORT]` (`--endpoint`).
pub const REGISTRY_ENDPOINTS: &str = "REGISTRY_ENDPOINTS";
/// Source registry user and password (instead of `--src-creds`).
pub const SOURCE_REGISTRY_USER: &str = "SOURCE_REGISTRY_USER";
pub const SOURCE_REGISTRY_PASSWORD: &str = "SOURCE_REGISTRY_PASSWORD";
/// The registry `SOURCE_REGISTRY_USER`/`_PASSWORD` belong to (needed in issue mode).
pub const SOURCE_REGISTRY: &str = "SOURCE_REGISTRY";
/// Target registry user and password (instead of `--dest-creds`).
pub const TARGET_REGISTRY_USER: &str = "TARGET_REGISTRY_USER";
pub const TARGET_REGISTRY_PASSWORD: &str = "TARGET_REGISTRY_PASSWORD";
/// Target registry of `mirror`, `issue` and `run` (`--target-registry`).
pub const TARGET_REGISTRY: &str = "TARGET_REGISTRY";
/// Target namespace (`--target-namespace`).
pub const TARGET_NAMESPACE: &str = "TARGET_NAMESPACE";
/// Markdown report appended here (`--summary`); set by GitHub Actions.
pub const GITHUB_STEP_SUMMARY: &str = "GITHUB_STEP_SUMMARY";
/// Step outputs file (`copied`, `skipped`, `failed`, `report`); set by GitHub Actions.
pub const GITHUB_OUTPUT: &str = "GITHUB_OUTPUT";
/// A per-job temporary directory; set by GitHub Actions (default home of the JSON report there).
pub const RUNNER_TEMP: &str = "RUNNER_TEMP";
/// `true` under GitHub Actions: log annotations and masking.
pub const GITHUB_ACTIONS: &str = "GITHUB_ACTIONS";
/// Log filter, tracing's `EnvFilter` syntax; overrides `-v`/`-q`.
pub const RUST_LOG: &str = "RUST_LOG";
/// Where docker `config.json` lives (read by the registry client).
pub const DOCKER_CONFIG: &str = "DOCKER_CONFIG";
/// An extra CA bundle; honoured by the TLS stack's native roots loader.
pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";

/// A non-empty variable's value.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The event that started the workflow (`issues`, `issue_comment`, `workflow_dispatch`).
pub const GITHUB_EVENT_NAME: &str = "GITHUB_EVENT_NAME";
/// Path of the JSON file holding the event's webhook payload.
pub const GITHUB_EVENT_PATH: &str = "GITHUB_EVENT_PATH";
/// `owner/name` of the repository the workflow runs in.
pub const GITHUB_REPOSITORY: &str = "GITHUB_REPOSITORY";
/// Token for the REST API (`issues: write`); never printed.
pub const GITHUB_TOKEN: &str = "GITHUB_TOKEN";
/// REST API base URL (GitHub Enterprise: `https://HOST/api/v3`); default `https://api.github.com`.
pub const GITHUB_API_URL: &str = "GITHUB_API_URL";
/// Web base URL, for links to the run; default `https://github.com`.
pub const GITHUB_SERVER_URL: &str = "GITHUB_SERVER_URL";
/// The workflow run's id, for links to the run.
pub const GITHUB_RUN_ID: &str = "GITHUB_RUN_ID";
/// Language of comments and messages, `en` or `zh` (`--lang`).
pub const REPORT_LANG: &str = "REPORT_LANG";

/// WeCom group robot webhook (`--wecom-webhook`); never printed.
pub const WECOM_WEBHOOK_URL: &str = "WECOM_WEBHOOK_URL";
/// DingTalk robot webhook (`--dingtalk-webhook`); never printed.
pub const DINGTALK_WEBHOOK_URL: &str = "DINGTALK_WEBHOOK_URL";
/// DingTalk signing secret (`--dingtalk-secret`); never printed.
pub const DINGTALK_SECRET: &str = "DINGTALK_SECRET";
/// Feishu/Lark bot webhook (`--feishu-webhook`); never printed.
pub const FEISHU_WEBHOOK_URL: &str = "FEISHU_WEBHOOK_URL";
/// Feishu/Lark signing secret (`--feishu-secret`); never printed.
pub const FEISHU_SECRET: &str = "FEISHU_SECRET";
/// Slack incoming webhook (`--slack-webhook`); never printed.
pub const SLACK_WEBHOOK_URL: &str = "SLACK_WEBHOOK_URL";
/// A generic JSON webhook (`--webhook`); never printed.
pub const NOTIFY_WEBHOOK_URL: &str = "NOTIFY_WEBHOOK_URL";
/// `always`, `failure` or `never` (`--notify-on`).
pub const NOTIFY_ON: &str = "NOTIFY_ON";

/// The `--state FILE` of copying commands.
pub const REGISTRY_MIRROR_STATE: &str = "REGISTRY_MIRROR_STATE";
