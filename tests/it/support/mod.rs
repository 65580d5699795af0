//! Test-support library for the integration tests: real registries, an admin client and image
//! generation.
//!
//! Everything here is an *independent oracle*: it never uses `registry_mirror::`, so a bug in the
//! crate under test cannot hide itself by also being in the harness.
//!
//! - [`Registry`] starts a real CNCF distribution registry (`docker-registry serve`) with its own
//!   filesystem storage in a temp dir, optionally with TLS (a throw-away CA), htpasswd basic
//!   auth, or Docker token auth served by an in-process token server (see [`TokenRequest`]).
//! - [`RegistryClient`] (from [`Registry::client`]) seeds and inspects registries with full rights.
//! - [`image`], [`image_with_base`], [`index`], [`push_image`] and [`push_index`] build
//!   deterministic images, multi-arch indexes and BuildKit-style attestations.
//! - [`FaultProxy`] sits in front of a registry and injects network and registry faults (error
//!   statuses, 429s, cut, corrupt or stalled bodies, lost answers) by table or seeded plan.
//! - [`bin`] returns the `registry-mirror` command with a clean environment.
//!
//! The API is blocking: tests are plain `#[test]` functions. Servers that run in-process (the token
//! server) live on a background tokio runtime owned by the [`Registry`].
#![allow(dead_code, unused_imports)]

mod client;
mod fault;
mod github;
mod hostile;
mod image;
mod proxy;
mod receiver;
mod registry;
pub mod signing;
mod tls;
mod token;
pub mod vendors;

use std::ffi::OsString;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

pub use client::{HttpError, RegistryClient, MANIFEST_ACCEPT, MANIFEST_TYPES};
pub use fault::{
    Fault, FaultPlan, FaultProxy, Injected, Kind, RetryAfter, Seen as FaultSeen, SMALL_BLOB,
    TOKEN_PREFIX,
};
pub use github::{comment_event, issues_event, Call, FakeGitHub};
pub use hostile::{Echo, EchoRegistry, Heard};
pub use image::{
    image, image_with_base, index, layers, push_image, push_index, with_layer_media_type,
    AttestationStyle, Format, Image, Index, Layer, ATTESTATION_MANIFEST_TYPE, DOCKER_CONFIG,
    DOCKER_LAYER, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, INTOTO_LAYER, OCI_CONFIG, OCI_EMPTY,
    OCI_EMPTY_DIGEST, OCI_INDEX, OCI_LAYER, OCI_LAYER_ZSTD, OCI_MANIFEST,
};
pub use proxy::{After, Proxy, Refusal, Rule, Seen};
pub use receiver::{Received, Receiver, Reply};
pub use registry::{Auth, Registry, TOKEN_ISSUER, TOKEN_SERVICE};
pub use token::{TokenRequest, REFRESH_TOKEN};

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// The `registry-mirror` binary with a clean environment: see [`bin`].
///
/// Derefs to [`assert_cmd::Command`], so `bin().args([..]).assert().success()` works, as does
/// `let mut cli = bin(); cli.arg(..); cli.env(..); let out = cli.output()?;`. The fresh `$HOME`
/// temp dir lives as long as this value: keep the `Cli` alive until the command has run. (Take
/// `cli.home().to_path_buf()` into a local before a `cli.env(..)` chain that needs it.)
pub struct Cli {
    cmd: assert_cmd::Command,
    home: tempfile::TempDir,
}

impl Cli {
    /// The fresh, initially empty `$HOME` of the command.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// Writes `$HOME/.docker/config.json` (where docker-style clients look for credentials when
    /// `DOCKER_CONFIG` is unset) and returns its path.
    pub fn write_docker_config(&self, config: &serde_json::Value) -> PathBuf {
        let dir = self.home().join(".docker");
        std::fs::create_dir_all(&dir).expect("create $HOME/.docker");
        let path = dir.join("config.json");
        let text = serde_json::to_vec_pretty(config).expect("serialize docker config");
        std::fs::write(&path, text).expect("write docker config");
        path
    }

    /// Docker `auths` entry value for basic credentials: `{"auth": base64("user:password")}`.
    pub fn docker_auth_entry(user: &str, password: &str) -> serde_json::Value {
        use base64::Engine as _;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        serde_json::json!({ "auth": auth })
    }

    /// The underlying command (e.g. to move it out; the home dir still dies with `self`).
    pub fn command(&mut self) -> &mut assert_cmd::Command {
        &mut self.cmd
    }
}

impl Deref for Cli {
    type Target = assert_cmd::Command;
    fn deref(&self) -> &Self::Target {
        &self.cmd
    }
}

impl DerefMut for Cli {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.cmd
    }
}

/// `registry-mirror` built by cargo for this test run, with `env_clear()` and then only `PATH`
/// and `HOME` (a fresh empty temp dir, so no real `~/.docker/config.json` leaks in) set. No
/// `RUST_LOG`, no proxies, no `DOCKER_CONFIG`, no `SSL_CERT_FILE`: tests add what they need with
/// `.env(..)`.
pub fn bin() -> Cli {
    let home = tempfile::Builder::new()
        .prefix("rm-home-")
        .tempdir()
        .expect("create temp HOME");
    let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_registry-mirror"));
    cmd.env_clear();
    cmd.env(
        "PATH",
        std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/bin:/bin")),
    );
    cmd.env("HOME", home.path());
    Cli { cmd, home }
}

/// What one run of the binary left: exit code, output, and the JSON report it wrote.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The report (`Null` when none was written).
    pub report: serde_json::Value,
    /// The report file as written (empty when none was).
    pub report_text: String,
}

impl Cli {
    /// Run with `--report-json` into the temp `$HOME` appended, and read the report back.
    pub fn run_with_report(mut self) -> Outcome {
        let report = self.home().join("report.json");
        self.cmd.arg("--report-json").arg(&report);
        let out = self.cmd.output().expect("run registry-mirror");
        let report_text = std::fs::read_to_string(&report).unwrap_or_default();
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            report: serde_json::from_str(&report_text).unwrap_or(serde_json::Value::Null),
            report_text,
        }
    }
}

/// The last `max_lines` lines of `text` (for panic messages).
pub(crate) fn tail(text: &str, max_lines: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(max_lines);
    let mut out = String::new();
    if start > 0 {
        out.push_str(&format!("[... {start} earlier lines ...]\n"));
    }
    out.push_str(&lines[start..].join("\n"));
    out
}
