//! `copy SRC DST` against registries that want credentials: htpasswd (HTTP basic auth) and Docker
//! token auth (RS256 JWTs with `x5c`, anonymous callers get `pull` only).
//!
//! Credentials come from `--src-creds`/`--dest-creds`, the `*_REGISTRY_USER`/`*_PASSWORD`
//! variables, or docker `config.json` (`$HOME/.docker` or `DOCKER_CONFIG`: `auths`,
//! `identitytoken`, `credHelpers`), in that order, and stay with their side. Failures name the
//! registry and where the refused credentials came from, and no secret (password, its base64,
//! a bearer token, a refresh token) appears in stdout, stderr or the JSON report.

use std::collections::BTreeMap;

use crate::support::{
    bin, image, push_image, Cli, Format, Image, Registry, TokenRequest, REFRESH_TOKEN,
};
use base64::Engine as _;
use serde_json::Value;

/// What one `registry-mirror copy` run left behind.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The `--report-json` file, parsed (`Null` when it was not written).
    pub report: Value,
    /// The `--report-json` file as written.
    pub report_text: String,
    /// The `--summary` Markdown file as written.
    pub summary_text: String,
}

impl Run {
    /// Panics with the output unless the run exited 0 with one copied image.
    pub fn assert_copied(&self) {
        assert_eq!(
            (self.code, self.report["images"][0]["status"].as_str()),
            (0, Some("copied")),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        assert!(!self.summary_text.is_empty(), "no --summary written");
    }

    /// Panics unless the run exited 1 with one failed image; returns its report `error`.
    pub fn assert_failed(&self) -> &str {
        assert_eq!(
            self.code, 1,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        assert!(!self.summary_text.is_empty(), "no --summary written");
        let image = &self.report["images"][0];
        assert_eq!(image["status"], "failed", "{:#}", self.report);
        assert_eq!(self.report["summary"]["failed"], 1);
        assert_eq!(self.report["summary"]["copied"], 0);
        image["error"].as_str().expect("error text")
    }

    /// The error exactly as the report, stdout and the log show it.
    pub fn assert_error(&self, source: &str, target: &str, expected: &str) {
        assert_eq!(self.assert_failed(), expected);
        assert_eq!(
            self.stdout,
            format!(
                "failed   {source} -> {target}\n  error: {}\n",
                expected.replace('\n', "\n  ")
            )
        );
        let first_line = expected.lines().next().expect("error line");
        assert!(self.stderr.contains(first_line), "{}", self.stderr);
    }

    /// Panics if any of `secrets` shows up in stdout, stderr or the report file.
    pub fn assert_no_secret(&self, secrets: &[String]) {
        for secret in secrets {
            assert!(!secret.is_empty());
            for (name, text) in [
                ("stdout", &self.stdout),
                ("stderr", &self.stderr),
                ("report", &self.report_text),
                ("summary", &self.summary_text),
            ] {
                assert!(
                    !text.contains(secret.as_str()),
                    "secret `{secret}` leaked into {name}:\n{text}"
                );
            }
        }
    }
}

/// Runs `registry-mirror copy SRC DST --report-json FILE --summary FILE EXTRA...` with `env`
/// added to `cli`'s clean environment.
pub fn run_copy(mut cli: Cli, src: &str, dst: &str, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let report = cli.home().join("report.json");
    let summary = cli.home().join("summary.md");
    cli.args(["copy", src, dst, "--report-json"])
        .arg(&report)
        .arg("--summary")
        .arg(&summary)
        .args(extra);
    for (key, value) in env {
        cli.env(key, value);
    }
    let out = cli.output().expect("run registry-mirror");
    let report_text = std::fs::read_to_string(&report).unwrap_or_default();
    let summary_text = std::fs::read_to_string(&summary).unwrap_or_default();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        report: serde_json::from_str(&report_text).unwrap_or(Value::Null),
        report_text,
        summary_text,
    }
}

/// [`run_copy`] with a fresh [`bin`].
pub fn copy_with(src: &str, dst: &str, extra: &[&str], env: &[(&str, &str)]) -> Run {
    run_copy(bin(), src, dst, extra, env)
}

/// The secrets of a user/password pair as they could leak: the password and the Basic
/// `Authorization` value.
pub fn secrets(user: &str, password: &str) -> Vec<String> {
    vec![
        password.to_string(),
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")),
    ]
}

/// The target holds `img` byte for byte under `repo:tag`, with every blob, and the report says so.
pub fn assert_target_holds(registry: &Registry, repo: &str, tag: &str, img: &Image, run: &Run) {
    let client = registry.client();
    let (media_type, bytes, digest) = client
        .get_manifest(repo, tag)
        .unwrap_or_else(|| panic!("{repo}:{tag} missing from the target"));
    assert_eq!(media_type, img.media_type);
    assert_eq!(bytes, img.manifest, "manifest bytes differ");
    assert_eq!(digest, img.digest);
    for (d, data) in img.blobs() {
        assert_eq!(client.get_blob(repo, &d), data, "blob {d}");
    }
    let report = &run.report["images"][0];
    assert_eq!(report["digest"], img.digest.as_str());
    assert_eq!(report["source_digest"], img.digest.as_str());
    assert_eq!(report["error"], Value::Null);
}

/// Token requests grouped by their (space-joined) scope set: how often each set was asked for.
fn scope_sets(requests: &[TokenRequest]) -> BTreeMap<String, usize> {
    let mut sets = BTreeMap::new();
    for r in requests {
        *sets.entry(r.scopes.join(" ")).or_insert(0) += 1;
    }
    sets
}

fn docker_config(host: &str, entry: Value) -> Value {
    serde_json::json!({ "auths": { host: entry } })
}

// ----- htpasswd (basic auth) -----

#[test]
fn htpasswd_target_with_dest_creds() {
    let src = Registry::anonymous();
    let dst = Registry::basic("alice", "pa55-word");
    let img = image(Format::Docker, "linux", "amd64", None, &[20_000, 300], 1100);
    push_image(&src.client(), "app", Some("v1"), &img);

    // Full tracing of every crate (hyper, rustls, ours): still no secret in the output.
    let run = copy_with(
        &src.reference("app", "v1"),
        &dst.reference("team/app", "v1"),
        &["--dest-creds", "alice:pa55-word"],
        &[("RUST_LOG", "trace")],
    );
    run.assert_copied();
    assert_target_holds(&dst, "team/app", "v1", &img, &run);
    assert_eq!(run.report["images"][0]["blobs"]["copied"], 3);
    run.assert_no_secret(&secrets("alice", "pa55-word"));
}

#[test]
fn htpasswd_target_with_env_credentials() {
    let src = Registry::anonymous();
    let dst = Registry::basic("alice", "pa55-word");
    let img = image(Format::Docker, "linux", "amd64", None, &[8000], 1110);
    push_image(&src.client(), "app", Some("v1"), &img);

    let run = copy_with(
        &src.reference("app", "v1"),
        &dst.reference("app", "v1"),
        &["-vv"],
        &[
            ("TARGET_REGISTRY_USER", "alice"),
            ("TARGET_REGISTRY_PASSWORD", "pa55-word"),
        ],
    );
    run.assert_copied();
    assert_target_holds(&dst, "app", "v1", &img, &run);
    run.assert_no_secret(&secrets("alice", "pa55-word"));
}

#[test]
fn htpasswd_target_with_home_docker_config() {
    let src = Registry::anonymous();
    let dst = Registry::basic("alice", "pa55-word");
    let img = image(Format::Docker, "linux", "amd64", None, &[8000], 1120);
    push_image(&src.client(), "app", Some("v1"), &img);

    let cli = bin();
    cli.write_docker_config(&docker_config(
        &dst.host(),
        Cli::docker_auth_entry("alice", "pa55-word"),
    ));
    let run = run_copy(
        cli,
        &src.reference("app", "v1"),
        &dst.reference("app", "v1"),
        &["-vv"],
        &[],
    );
    run.assert_copied();
    assert_target_holds(&dst, "app", "v1", &img, &run);
    run.assert_no_secret(&secrets("alice", "pa55-word"));
}

#[test]
fn htpasswd_target_with_docker_config_env_directory() {
    let src = Registry::anonymous();
    let dst = Registry::basic("alice", "pa55-word");
    let img = image(Format::Docker, "linux", "amd64", None, &[8000], 1130);
    push_image(&src.client(), "app", Some("v1"), &img);

    // `$HOME/.docker/config.json` holds a wrong password: `DOCKER_CONFIG` must win over it.
    let cli = bin();
    cli.write_docker_config(&docker_config(
        &dst.host(),
        Cli::docker_auth_entry("alice", "stale-pass"),
    ));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        docker_config(
            &format!("http://{}/v2/", dst.host()),
            Cli::docker_auth_entry("alice", "pa55-word"),
        )
        .to_string(),
    )
    .unwrap();
    let run = run_copy(
        cli,
        &src.reference("app", "v1"),
        &dst.reference("app", "v1"),
        &[],
        &[("DOCKER_CONFIG", dir.path().to_str().unwrap())],
    );
    run.assert_copied();
    assert_target_holds(&dst, "app", "v1", &img, &run);
    run.assert_no_secret(&secrets("alice", "pa55-word"));
    run.assert_no_secret(&secrets("alice", "stale-pass"));
}

#[test]
fn htpasswd_target_with_a_credential_helper() {
    let src = Registry::anonymous();
    let dst = Registry::basic("alice", "pa55-word");
    let img = image(Format::Docker, "linux", "amd64", None, &[4000], 1140);
    push_image(&src.client(), "app", Some("v1"), &img);

    // `docker-credential-test get`: server URL on stdin, JSON on stdout (docker's protocol).
    let helpers = tempfile::tempdir().unwrap();
    let asked = helpers.path().join("asked");
    let script = helpers.path().join("docker-credential-test");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 3\nread server\necho \"$server\" >> '{}'\n\
             printf '{{\"ServerURL\":\"%s\",\"Username\":\"alice\",\"Secret\":\"pa55-word\"}}' \"$server\"\n",
            asked.display()
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let cli = bin();
    cli.write_docker_config(&serde_json::json!({
        "auths": { dst.host(): {} },
        "credHelpers": { dst.host(): "test" },
    }));
    let path = format!(
        "{}:{}",
        helpers.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = run_copy(
        cli,
        &src.reference("app", "v1"),
        &dst.reference("app", "v1"),
        &[],
        &[("PATH", &path)],
    );
    run.assert_copied();
    assert_target_holds(&dst, "app", "v1", &img, &run);
    run.assert_no_secret(&secrets("alice", "pa55-word"));
    // Asked once, for the target only (the anonymous source has no helper entry).
    assert_eq!(
        std::fs::read_to_string(&asked).unwrap(),
        format!("{}\n", dst.host())
    );
}

#[test]
fn htpasswd_source_with_src_creds_and_env() {
    let src = Registry::basic("bob", "b0b-secret");
    let dst = Registry::anonymous();
    let img = image(Format::Oci, "linux", "amd64", None, &[4000, 100], 1150);
    push_image(&src.client(), "private/app", Some("v1"), &img);

    let run = copy_with(
        &src.reference("private/app", "v1"),
        &dst.reference("flag/app", "v1"),
        &["--src-creds", "bob:b0b-secret", "--format", "preserve"],
        &[],
    );
    run.assert_copied();
    assert_target_holds(&dst, "flag/app", "v1", &img, &run);
    run.assert_no_secret(&secrets("bob", "b0b-secret"));

    let run = copy_with(
        &src.reference("private/app", "v1"),
        &dst.reference("env/app", "v1"),
        &["--format", "preserve"],
        &[
            ("SOURCE_REGISTRY_USER", "bob"),
            ("SOURCE_REGISTRY_PASSWORD", "b0b-secret"),
        ],
    );
    run.assert_copied();
    assert_target_holds(&dst, "env/app", "v1", &img, &run);
    run.assert_no_secret(&secrets("bob", "b0b-secret"));
}

#[test]
fn source_and_target_credentials_stay_with_their_side() {
    let src = Registry::basic("bob", "b0b-secret");
    let dst = Registry::basic("alice", "pa55-word");
    let img = image(Format::Docker, "linux", "amd64", None, &[6000], 1160);
    push_image(&src.client(), "app", Some("v1"), &img);

    let run = copy_with(
        &src.reference("app", "v1"),
        &dst.reference("app", "v1"),
        &["--src-creds", "bob:b0b-secret"],
        &[
            ("TARGET_REGISTRY_USER", "alice"),
            ("TARGET_REGISTRY_PASSWORD", "pa55-word"),
        ],
    );
    run.assert_copied();
    assert_target_holds(&dst, "app", "v1", &img, &run);
    let mut all = secrets("bob", "b0b-secret");
    all.extend(secrets("alice", "pa55-word"));
    run.assert_no_secret(&all);

    // Target credentials only: the source is not given them.
    let run = copy_with(
        &src.reference("app", "v1"),
        &dst.reference("other", "v1"),
        &["--dest-creds", "alice:pa55-word"],
        &[],
    );
    run.assert_error(
        &src.reference("app", "v1"),
        &dst.reference("other", "v1"),
        &format!(
            "authentication failed for `{h}`: the registry requires credentials and none were given (HTTP 401)\n\
             hint: give credentials for `{h}` with `--src-creds USER:PASSWORD`, \
             `SOURCE_REGISTRY_USER`/`SOURCE_REGISTRY_PASSWORD`, or `docker login {h}`",
            h = src.host()
        ),
    );
}

#[test]
fn flag_beats_environment_beats_docker_config() {
    let src = Registry::anonymous();
    let dst = Registry::basic("alice", "pa55-word");
    let img = image(Format::Docker, "linux", "amd64", None, &[3000], 1170);
    push_image(&src.client(), "app", Some("v1"), &img);
    let source = src.reference("app", "v1");

    // Right flag, wrong environment and config.
    let cli = bin();
    cli.write_docker_config(&docker_config(
        &dst.host(),
        Cli::docker_auth_entry("alice", "config-pass"),
    ));
    let run = run_copy(
        cli,
        &source,
        &dst.reference("flag", "v1"),
        &["--dest-creds", "alice:pa55-word"],
        &[
            ("TARGET_REGISTRY_USER", "alice"),
            ("TARGET_REGISTRY_PASSWORD", "env-pass"),
        ],
    );
    run.assert_copied();

    // Right environment, wrong config.
    let cli = bin();
    cli.write_docker_config(&docker_config(
        &dst.host(),
        Cli::docker_auth_entry("alice", "config-pass"),
    ));
    let run = run_copy(
        cli,
        &source,
        &dst.reference("env", "v1"),
        &[],
        &[
            ("TARGET_REGISTRY_USER", "alice"),
            ("TARGET_REGISTRY_PASSWORD", "pa55-word"),
        ],
    );
    run.assert_copied();
    assert_eq!(
        dst.client().head_manifest("env", "v1"),
        Some(img.digest.clone())
    );
}

#[test]
fn htpasswd_wrong_password_fails_with_a_message_naming_the_credentials() {
    let src = Registry::anonymous();
    let dst = Registry::basic("alice", "pa55-word");
    let img = image(Format::Docker, "linux", "amd64", None, &[1000], 1180);
    push_image(&src.client(), "app", Some("v1"), &img);
    let source = src.reference("app", "v1");
    let target = dst.reference("app", "v1");
    let host = dst.host();

    let run = copy_with(
        &source,
        &target,
        &["--dest-creds", "alice:wrong-guess"],
        &[],
    );
    run.assert_error(
        &source,
        &target,
        &format!(
            "authentication failed for `{host}`: the registry rejected user `alice` from `--dest-creds` (HTTP 401)\n\
             hint: check the user and password given with `--dest-creds`"
        ),
    );
    run.assert_no_secret(&secrets("alice", "wrong-guess"));

    let run = copy_with(
        &source,
        &target,
        &[],
        &[
            ("TARGET_REGISTRY_USER", "alice"),
            ("TARGET_REGISTRY_PASSWORD", "wrong-guess"),
        ],
    );
    run.assert_error(
        &source,
        &target,
        &format!(
            "authentication failed for `{host}`: the registry rejected user `alice` from \
             `TARGET_REGISTRY_USER`/`TARGET_REGISTRY_PASSWORD` (HTTP 401)\n\
             hint: check `TARGET_REGISTRY_USER` and `TARGET_REGISTRY_PASSWORD`"
        ),
    );
    run.assert_no_secret(&secrets("alice", "wrong-guess"));

    let cli = bin();
    let config = cli.write_docker_config(&docker_config(
        &host,
        Cli::docker_auth_entry("alice", "wrong-guess"),
    ));
    let run = run_copy(cli, &source, &target, &["-vv"], &[]);
    run.assert_error(
        &source,
        &target,
        &format!(
            "authentication failed for `{host}`: the registry rejected user `alice` from docker config `{c}` (HTTP 401)\n\
             hint: log in again with `docker login {host}`, or fix its entry in `{c}`",
            c = config.display()
        ),
    );
    run.assert_no_secret(&secrets("alice", "wrong-guess"));

    assert!(
        dst.client().catalog().is_empty(),
        "nothing written to the target"
    );
}

#[test]
fn htpasswd_without_credentials_fails_with_a_message_saying_how_to_give_them() {
    let src = Registry::anonymous();
    let dst = Registry::basic("alice", "pa55-word");
    let img = image(Format::Docker, "linux", "amd64", None, &[1000], 1190);
    push_image(&src.client(), "app", Some("v1"), &img);
    let source = src.reference("app", "v1");
    let target = dst.reference("app", "v1");

    // A docker config for another registry only.
    let cli = bin();
    cli.write_docker_config(&docker_config(
        "registry.example.com",
        Cli::docker_auth_entry("alice", "pa55-word"),
    ));
    let run = run_copy(cli, &source, &target, &[], &[]);
    run.assert_error(
        &source,
        &target,
        &format!(
            "authentication failed for `{h}`: the registry requires credentials and none were given (HTTP 401)\n\
             hint: give credentials for `{h}` with `--dest-creds USER:PASSWORD`, \
             `TARGET_REGISTRY_USER`/`TARGET_REGISTRY_PASSWORD`, or `docker login {h}`",
            h = dst.host()
        ),
    );
    assert!(dst.client().catalog().is_empty());
}

#[test]
fn malformed_or_half_set_credentials_are_usage_errors_that_quote_no_secret() {
    let src = Registry::anonymous();
    let dst = Registry::basic("alice", "pa55-word");
    let img = image(Format::Docker, "linux", "amd64", None, &[1000], 1200);
    push_image(&src.client(), "app", Some("v1"), &img);
    let source = src.reference("app", "v1");
    let target = dst.reference("app", "v1");

    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 3] = [
        (
            &["--dest-creds", ":lonely-s3cret"],
            &[],
            "error: --dest-creds: invalid credentials: the user before the first `:` is empty\n\
             hint: write credentials as `USER:PASSWORD`, or `HOST=USER:PASSWORD` for one registry\n",
        ),
        (
            &["--src-creds", "lonely-s3cret"],
            &[],
            "error: --src-creds: invalid credentials: there is no `:` between the user and the password\n\
             hint: write credentials as `USER:PASSWORD`, or `HOST=USER:PASSWORD` for one registry\n",
        ),
        (
            &[],
            &[("TARGET_REGISTRY_PASSWORD", "lonely-s3cret")],
            "error: `TARGET_REGISTRY_PASSWORD` is set but `TARGET_REGISTRY_USER` is not\n\
             hint: set both `TARGET_REGISTRY_USER` and `TARGET_REGISTRY_PASSWORD`, or neither\n",
        ),
    ];
    for (extra, env, expected) in cases {
        let run = copy_with(&source, &target, extra, env);
        assert_eq!(run.code, 2, "{extra:?} {env:?}: {}", run.stderr);
        assert_eq!(run.stderr, expected);
        assert_eq!(run.stdout, "");
        assert_eq!(run.report_text, "", "no report for invalid input");
        assert_eq!(run.summary_text, "", "no summary for invalid input");
        run.assert_no_secret(&["lonely-s3cret".to_string()]);
    }
    assert!(dst.client().catalog().is_empty());
    assert!(!dst.log().contains("\"PUT ") && !dst.log().contains("\"POST "));
}

// ----- token auth -----

#[test]
fn token_source_pulls_anonymously_with_one_token() {
    let reg = Registry::token("carol", "t0ken-pass");
    let dst = Registry::anonymous();
    let img = image(
        Format::Docker,
        "linux",
        "amd64",
        None,
        &[9000, 8000, 7000, 6000, 5000],
        1300,
    );
    push_image(&reg.client(), "upstream/app", Some("v1"), &img);

    let run = copy_with(
        &reg.reference("upstream/app", "v1"),
        &dst.reference("app", "v1"),
        &[],
        &[],
    );
    run.assert_copied();
    assert_target_holds(&dst, "app", "v1", &img, &run);
    assert_eq!(run.report["images"][0]["blobs"]["copied"], 6);
    let requests = reg.token_requests();
    assert!(
        requests
            .iter()
            .all(|r| r.method == "GET" && !r.basic_auth && r.user.is_none() && r.status == 200),
        "anonymous token requests only: {requests:#?}"
    );
    // One token for the manifest and all six blobs, not one per request.
    assert_eq!(
        scope_sets(&requests),
        BTreeMap::from([("repository:upstream/app:pull".to_string(), 1)]),
        "{requests:#?}"
    );
    assert_eq!(requests[0].service.as_deref(), Some("test-registry"));
}

#[test]
fn token_target_push_with_credentials_fetches_one_push_token() {
    let src = Registry::anonymous();
    let reg = Registry::token("carol", "t0ken-pass");
    let img = image(
        Format::Docker,
        "linux",
        "amd64",
        None,
        &[9000, 8000, 7000, 6000, 5000, 4000],
        1310,
    );
    push_image(&src.client(), "app", Some("v1"), &img);

    let run = copy_with(
        &src.reference("app", "v1"),
        &reg.reference("pushed/app", "v1"),
        &["--dest-creds", "carol:t0ken-pass"],
        &[("RUST_LOG", "trace")],
    );
    run.assert_copied();
    assert_target_holds(&reg, "pushed/app", "v1", &img, &run);
    assert_eq!(run.report["images"][0]["blobs"]["copied"], 7);
    let requests = reg.token_requests();
    assert!(
        requests
            .iter()
            .all(|r| r.user.as_deref() == Some("carol") && r.status == 200),
        "{requests:#?}"
    );
    // 7 blob uploads (HEAD, POST, PUT each) and a manifest PUT share one cached token.
    assert_eq!(
        scope_sets(&requests),
        BTreeMap::from([("repository:pushed/app:pull,push".to_string(), 1)]),
        "{requests:#?}"
    );
    let mut leaks = secrets("carol", "t0ken-pass");
    leaks.push("eyJ".to_string()); // the start of every JWT: no bearer token in the output
    run.assert_no_secret(&leaks);
}

#[test]
fn token_same_registry_copy_mounts_blobs_with_both_scopes_in_one_token() {
    let reg = Registry::token("carol", "t0ken-pass");
    let img = image(
        Format::Docker,
        "linux",
        "amd64",
        None,
        &[30_000, 20_000, 10_000],
        1320,
    );
    push_image(&reg.client(), "upstream/app", Some("v1"), &img);

    let run = copy_with(
        &reg.reference("upstream/app", "v1"),
        &reg.reference("copy/app", "v1"),
        &[
            "--src-creds",
            "carol:t0ken-pass",
            "--dest-creds",
            "carol:t0ken-pass",
        ],
        &[],
    );
    run.assert_copied();
    assert_target_holds(&reg, "copy/app", "v1", &img, &run);
    let blobs = &run.report["images"][0]["blobs"];
    assert_eq!(
        (&blobs["mounted"], &blobs["copied"]),
        (&Value::from(4), &Value::from(0)),
        "three layers and the config are mounted: {:#}",
        run.report
    );
    assert_eq!(run.report["summary"]["blobs_mounted"], 4);
    assert!(
        !reg.log().contains("PATCH /v2/copy/app/blobs/uploads/"),
        "nothing uploaded"
    );

    let requests = reg.token_requests();
    assert!(
        requests
            .iter()
            .all(|r| r.user.as_deref() == Some("carol") && r.status == 200),
        "{requests:#?}"
    );
    // The source's pull token, the target's push token, and for the mounts one token with the
    // target's push scope and the source's pull scope together; each fetched once.
    assert_eq!(
        scope_sets(&requests),
        BTreeMap::from([
            ("repository:copy/app:pull,push".to_string(), 1),
            (
                "repository:copy/app:pull,push repository:upstream/app:pull".to_string(),
                1
            ),
            ("repository:upstream/app:pull".to_string(), 1),
        ]),
        "{requests:#?}"
    );
    run.assert_no_secret(&secrets("carol", "t0ken-pass"));
}

#[test]
fn token_target_anonymous_push_is_denied_with_a_hint_to_give_credentials() {
    let src = Registry::anonymous();
    let reg = Registry::token("carol", "t0ken-pass");
    let img = image(Format::Docker, "linux", "amd64", None, &[1000], 1330);
    push_image(&src.client(), "app", Some("v1"), &img);
    let source = src.reference("app", "v1");
    let target = reg.reference("team/app", "v1");

    let run = copy_with(&source, &target, &[], &[]);
    run.assert_error(
        &source,
        &target,
        &format!(
            "access denied to `team/app` on `{h}`: POST blob upload not permitted without credentials \
             (HTTP 401: UNAUTHORIZED: authentication required)\n\
             hint: pushing needs credentials with write access to `team/app`: give them with \
             `--dest-creds USER:PASSWORD`, `TARGET_REGISTRY_USER`/`TARGET_REGISTRY_PASSWORD`, \
             or `docker login {h}`",
            h = reg.host()
        ),
    );
    let requests = reg.token_requests();
    assert!(
        !requests.is_empty() && requests.iter().all(|r| !r.basic_auth && r.user.is_none()),
        "{requests:#?}"
    );
    assert!(!reg.client().manifest_exists("team/app", "v1"));
}

#[test]
fn token_wrong_password_names_the_token_server_and_the_credentials() {
    let src = Registry::anonymous();
    let reg = Registry::token("carol", "t0ken-pass");
    let img = image(Format::Docker, "linux", "amd64", None, &[1000], 1340);
    push_image(&src.client(), "app", Some("v1"), &img);
    push_image(&reg.client(), "app", Some("v1"), &img);
    let realm = reg.token_realm().unwrap();

    let run = copy_with(
        &src.reference("app", "v1"),
        &reg.reference("app", "v2"),
        &["--dest-creds", "carol:wrong-guess"],
        &[],
    );
    run.assert_error(
        &src.reference("app", "v1"),
        &reg.reference("app", "v2"),
        &format!(
            "authentication failed for `{}`: the token server `{realm}` rejected user `carol` \
             from `--dest-creds` (HTTP 401)\n\
             hint: check the user and password given with `--dest-creds`",
            reg.host()
        ),
    );
    run.assert_no_secret(&secrets("carol", "wrong-guess"));
    let requests = reg.token_requests();
    assert_eq!(
        requests.iter().map(|r| r.status).collect::<Vec<_>>(),
        [401],
        "refused credentials are not retried: {requests:#?}"
    );
    assert!(!reg.client().manifest_exists("app", "v2"));

    // The same on the source side.
    reg.clear_token_requests();
    let run = copy_with(
        &reg.reference("app", "v1"),
        &src.reference("copy", "v1"),
        &[],
        &[
            ("SOURCE_REGISTRY_USER", "carol"),
            ("SOURCE_REGISTRY_PASSWORD", "wrong-guess"),
        ],
    );
    run.assert_error(
        &reg.reference("app", "v1"),
        &src.reference("copy", "v1"),
        &format!(
            "authentication failed for `{}`: the token server `{realm}` rejected user `carol` \
             from `SOURCE_REGISTRY_USER`/`SOURCE_REGISTRY_PASSWORD` (HTTP 401)\n\
             hint: check `SOURCE_REGISTRY_USER` and `SOURCE_REGISTRY_PASSWORD`",
            reg.host()
        ),
    );
    run.assert_no_secret(&secrets("carol", "wrong-guess"));
    assert!(!src.client().manifest_exists("copy", "v1"));
}

#[test]
fn token_target_with_identity_token_from_docker_config() {
    let src = Registry::anonymous();
    let reg = Registry::token("carol", "t0ken-pass");
    let img = image(Format::Docker, "linux", "amd64", None, &[5000, 4000], 1350);
    push_image(&src.client(), "app", Some("v1"), &img);

    let cli = bin();
    cli.write_docker_config(&docker_config(
        &reg.host(),
        serde_json::json!({ "auth": "", "identitytoken": REFRESH_TOKEN }),
    ));
    let run = run_copy(
        cli,
        &src.reference("app", "v1"),
        &reg.reference("app", "v1"),
        &[],
        &[],
    );
    run.assert_copied();
    assert_target_holds(&reg, "app", "v1", &img, &run);
    let requests = reg.token_requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let r = &requests[0];
    assert_eq!(
        (
            r.method.as_str(),
            r.grant_type.as_deref(),
            r.user.as_deref()
        ),
        ("POST", Some("refresh_token"), Some("carol")),
        "{r:#?}"
    );
    assert_eq!(r.scopes, ["repository:app:pull,push"]);
    run.assert_no_secret(&[REFRESH_TOKEN.to_string()]);
}

#[test]
fn token_same_registry_mounts_even_when_only_the_target_has_credentials() {
    let registry = Registry::token("carol", "c4r0l-pw");
    let img = image(
        Format::Docker,
        "linux",
        "amd64",
        None,
        &[30_000, 20_000],
        760,
    );
    push_image(&registry.client(), "public/app", Some("v1"), &img);
    let run = copy_with(
        &registry.reference("public/app", "v1"),
        &registry.reference("private/app", "v1"),
        &["--dest-creds", "carol:c4r0l-pw"],
        &[],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let image = &run.report["images"][0];
    assert_eq!(image["blobs"]["mounted"], 3, "{:#}", run.report);
    assert_eq!(image["blobs"]["copied"], 0);
    assert_eq!(
        registry.client().head_manifest("private/app", "v1"),
        Some(img.digest)
    );
}

/// `mirror` of `n` images `team/appI:v1` from `src` into `dst` under `mirrors/`, with
/// `--src-creds` / `--dest-creds` carol's.
fn mirror_between(src: &Registry, dst: &Registry, n: u64) -> crate::support::Outcome {
    let mut list = String::new();
    for i in 0..n {
        let img = image(Format::Docker, "linux", "amd64", None, &[3_000], 1400 + i);
        push_image(&src.client(), &format!("team/app{i}"), Some("v1"), &img);
        list.push_str(&format!(
            "{}\n",
            src.reference(&format!("team/app{i}"), "v1")
        ));
    }
    src.clear_token_requests();
    let mut cli = bin();
    cli.args([
        "mirror",
        "-f",
        "-",
        "--target-namespace",
        "mirrors",
        "--parallel",
        "3",
    ])
    .args(["--target-registry", &dst.host()])
    .args([
        "--src-creds",
        "carol:t0ken-pass",
        "--dest-creds",
        "carol:t0ken-pass",
    ])
    .write_stdin(list);
    cli.run_with_report()
}

#[test]
fn token_images_copied_together_share_one_token_a_side() {
    let src = Registry::token("carol", "t0ken-pass");
    let dst = Registry::token("carol", "t0ken-pass");
    let o = mirror_between(&src, &dst, 3);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert_eq!(o.report["summary"]["copied"], 3);
    // Each side: one token for its three repositories, asked for once.
    let pulls = "repository:team/app0:pull repository:team/app1:pull repository:team/app2:pull";
    assert_eq!(
        scope_sets(&src.token_requests()),
        BTreeMap::from([(pulls.to_string(), 1)]),
        "{:#?}",
        src.token_requests()
    );
    let pushes = "repository:mirrors/app0:pull,push repository:mirrors/app1:pull,push \
                  repository:mirrors/app2:pull,push";
    assert_eq!(
        scope_sets(&dst.token_requests()),
        BTreeMap::from([(pushes.to_string(), 1)]),
        "{:#?}",
        dst.token_requests()
    );
    for i in 0..3 {
        assert!(dst
            .client()
            .head_manifest(&format!("mirrors/app{i}"), "v1")
            .is_some());
    }
}

#[test]
fn token_a_server_that_refuses_several_scopes_gets_one_request_a_repository() {
    let src = Registry::token("carol", "t0ken-pass");
    let dst = Registry::token("carol", "t0ken-pass");
    dst.limit_token_scopes(1);
    let o = mirror_between(&src, &dst, 3);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert_eq!(o.report["summary"]["copied"], 3);
    let requests = dst.token_requests();
    // The group's request, refused once; then each repository's own token, once.
    let refused = requests.iter().filter(|r| r.status == 400).count();
    assert_eq!(refused, 1, "{requests:#?}");
    let granted: BTreeMap<String, usize> = scope_sets(
        &requests
            .into_iter()
            .filter(|r| r.status == 200)
            .collect::<Vec<_>>(),
    );
    let want: BTreeMap<String, usize> = (0..3)
        .map(|i| (format!("repository:mirrors/app{i}:pull,push"), 1))
        .collect();
    assert_eq!(granted, want);
}

#[test]
fn token_a_remembered_holder_without_access_is_passed_over() {
    let src = Registry::anonymous();
    let dst = Registry::token("carol", "t0ken-pass");
    let img = image(Format::Docker, "linux", "amd64", None, &[9000, 8000], 1400);
    push_image(&src.client(), "app", Some("v1"), &img);
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state.json");
    let state = state.to_str().expect("utf-8");
    let creds = ["--dest-creds", "carol:t0ken-pass", "--state", state];

    let run = copy_with(
        &src.reference("app", "v1"),
        &dst.reference("mirrors/first", "v1"),
        &creds,
        &[],
    );
    run.assert_copied();
    // The file now names mirrors/first as the holder of every blob; carol loses her access
    // there. The next run asks to mount from it, is refused, and uploads.
    dst.deny_repository("mirrors/first");
    let before = dst.log().lines().count();
    let run = copy_with(
        &src.reference("app", "v1"),
        &dst.reference("mirrors/second", "v1"),
        &creds,
        &[],
    );
    run.assert_copied();
    assert_target_holds(&dst, "mirrors/second", "v1", &img, &run);
    assert_eq!(run.report["images"][0]["blobs"]["copied"], 3);
    let tried = dst
        .requests_after(before)
        .into_iter()
        .filter(|r| r.contains("from=mirrors%2Ffirst"))
        .count();
    assert!(
        tried >= 3,
        "each blob asked from the remembered holder first"
    );
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(state).expect("state")).expect("json");
    for (d, _) in img.blobs() {
        assert_eq!(
            saved["holders"][format!("{} {d}", dst.host())],
            "mirrors/second"
        );
    }
}
