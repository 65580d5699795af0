//! `copy` against registries that want credentials (htpasswd basic auth, token auth with RS256
//! `x5c` JWTs) or TLS with a private CA.

use crate::copy_anonymous::copy;
use crate::support::{bin, image, push_image, Cli, Format, Registry};
use serde_json::Value;

/// `copy` with extra environment variables.
fn copy_env(
    src: &str,
    dst: &str,
    extra: &[&str],
    env: &[(&str, &str)],
    cli: Option<Cli>,
) -> (i32, String, String, Value) {
    let mut cli = cli.unwrap_or_else(bin);
    let report = cli.home().join("report.json");
    cli.args(["copy", src, dst, "--report-json"])
        .arg(&report)
        .args(extra);
    for (k, v) in env {
        cli.env(k, v);
    }
    let out = cli.output().expect("run registry-mirror");
    let json = std::fs::read(&report)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        json,
    )
}

fn assert_no_secret(secret: &str, outputs: &[&str], report: &Value) {
    for o in outputs {
        assert!(!o.contains(secret), "secret leaked: {o}");
    }
    assert!(
        !report.to_string().contains(secret),
        "secret leaked into the report"
    );
}

#[test]
fn htpasswd_target_takes_flag_env_and_docker_config_credentials() {
    let src = Registry::anonymous();
    let dst = Registry::basic("alice", "pa55-word");
    let img = image(Format::Docker, "linux", "amd64", None, &[20_000, 300], 500);
    push_image(&src.client(), "app", Some("v1"), &img);
    let source = src.reference("app", "v1");

    // --dest-creds
    let (code, stdout, stderr, report) = copy(
        &source,
        &dst.reference("flag/app", "v1"),
        &["--dest-creds", "alice:pa55-word"],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(
        dst.client().head_manifest("flag/app", "v1"),
        Some(img.digest.clone())
    );
    assert_no_secret("pa55-word", &[&stdout, &stderr], &report);

    // TARGET_REGISTRY_USER / TARGET_REGISTRY_PASSWORD
    let (code, stdout, stderr, report) = copy_env(
        &source,
        &dst.reference("env/app", "v1"),
        &["-vv"],
        &[
            ("TARGET_REGISTRY_USER", "alice"),
            ("TARGET_REGISTRY_PASSWORD", "pa55-word"),
        ],
        None,
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(
        dst.client().head_manifest("env/app", "v1"),
        Some(img.digest.clone())
    );
    assert_no_secret("pa55-word", &[&stdout, &stderr], &report);
    assert!(
        !stderr.contains("YWxpY2U6cGE1NS13b3Jk"),
        "base64 credentials leaked in trace logs"
    );

    // ~/.docker/config.json
    let cli = bin();
    cli.write_docker_config(&serde_json::json!({
        "auths": { dst.host(): Cli::docker_auth_entry("alice", "pa55-word") }
    }));
    let (code, stdout, stderr, _) = copy_env(
        &source,
        &dst.reference("config/app", "v1"),
        &[],
        &[],
        Some(cli),
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(
        dst.client().head_manifest("config/app", "v1"),
        Some(img.digest.clone())
    );

    // DOCKER_CONFIG pointing at another directory
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        serde_json::json!({"auths": { dst.host(): Cli::docker_auth_entry("alice", "pa55-word") }})
            .to_string(),
    )
    .unwrap();
    let (code, stdout, stderr, _) = copy_env(
        &source,
        &dst.reference("docker-config/app", "v1"),
        &[],
        &[("DOCKER_CONFIG", dir.path().to_str().unwrap())],
        None,
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(
        dst.client().head_manifest("docker-config/app", "v1"),
        Some(img.digest)
    );
}

#[test]
fn htpasswd_wrong_password_and_no_credentials_fail_clearly() {
    let src = Registry::anonymous();
    let dst = Registry::basic("alice", "pa55-word");
    let img = image(Format::Docker, "linux", "amd64", None, &[1000], 510);
    push_image(&src.client(), "app", Some("v1"), &img);

    let (code, stdout, stderr, report) = copy(
        &src.reference("app", "v1"),
        &dst.reference("app", "v1"),
        &["--dest-creds", "alice:wrong-guess"],
    );
    assert_eq!(code, 1);
    assert_eq!(
        report["images"][0]["error"],
        format!(
            "authentication failed for `{}`: the registry rejected the credentials (HTTP 401)\n\
             hint: check the credentials (`--src-creds`/`--dest-creds`, `SOURCE_REGISTRY_USER`/`TARGET_REGISTRY_USER` and their `_PASSWORD`, or `docker login`)",
            dst.host()
        )
    );
    assert_no_secret("wrong-guess", &[&stdout, &stderr], &report);
    assert!(dst.client().catalog().is_empty());

    let (code, _, _, report) = copy(
        &src.reference("app", "v1"),
        &dst.reference("app", "v1"),
        &[],
    );
    assert_eq!(code, 1);
    let err = report["images"][0]["error"].as_str().unwrap();
    assert!(
        err.starts_with(&format!(
            "authentication failed for `{}`: the registry requires credentials",
            dst.host()
        )),
        "{err}"
    );
}

#[test]
fn htpasswd_source_with_src_creds() {
    let src = Registry::basic("bob", "b0b-secret");
    let dst = Registry::anonymous();
    let img = image(Format::Oci, "linux", "amd64", None, &[4000], 520);
    push_image(&src.client(), "private/app", Some("v1"), &img);
    let (code, stdout, stderr, report) = copy(
        &src.reference("private/app", "v1"),
        &dst.reference("app", "v1"),
        &["--src-creds", "bob:b0b-secret", "--format", "preserve"],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(dst.client().head_manifest("app", "v1"), Some(img.digest));
    assert_no_secret("b0b-secret", &[&stdout, &stderr], &report);
}

#[test]
fn token_auth_pull_anonymously_push_with_scoped_cached_tokens_and_mount() {
    let reg = Registry::token("carol", "t0ken-pass");
    let img = image(
        Format::Docker,
        "linux",
        "amd64",
        None,
        &[30_000, 20_000, 10_000],
        530,
    );
    push_image(&reg.client(), "upstream/app", Some("v1"), &img);
    let other = Registry::anonymous();
    push_image(&other.client(), "app", Some("v1"), &img);

    // Anonymous pull from a token registry.
    let dst = Registry::anonymous();
    let (code, stdout, stderr, _) = copy(
        &reg.reference("upstream/app", "v1"),
        &dst.reference("app", "v1"),
        &[],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let requests = reg.token_requests();
    assert!(
        requests
            .iter()
            .all(|r| r.user.is_none() && r.scopes == ["repository:upstream/app:pull"]),
        "{requests:#?}"
    );
    assert_eq!(
        requests.len(),
        1,
        "one token for the whole pull: {requests:#?}"
    );

    // Push with credentials into the token registry from another registry.
    reg.clear_token_requests();
    let (code, stdout, stderr, report) = copy(
        &other.reference("app", "v1"),
        &reg.reference("pushed/app", "v1"),
        &["--dest-creds", "carol:t0ken-pass"],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(
        reg.client().head_manifest("pushed/app", "v1"),
        Some(img.digest.clone())
    );
    let requests = reg.token_requests();
    assert!(
        requests.iter().all(|r| r.user.as_deref() == Some("carol")),
        "{requests:#?}"
    );
    assert!(
        requests.iter().all(|r| r
            .scopes
            .contains(&"repository:pushed/app:pull,push".to_string())),
        "{requests:#?}"
    );
    assert!(
        requests.len() <= 2,
        "tokens are cached per scope set, not fetched per request: {requests:#?}"
    );
    assert_no_secret("t0ken-pass", &[&stdout, &stderr], &report);

    // Same registry, another repository: blobs are mounted, with the source's pull scope in
    // the same token as the target's push scope.
    reg.clear_token_requests();
    let (code, stdout, stderr, report) = copy(
        &reg.reference("upstream/app", "v1"),
        &reg.reference("copy/app", "v1"),
        &[
            "--src-creds",
            "carol:t0ken-pass",
            "--dest-creds",
            "carol:t0ken-pass",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(report["images"][0]["blobs"]["mounted"], 4, "{report:#}");
    assert_eq!(report["images"][0]["blobs"]["copied"], 0);
    let requests = reg.token_requests();
    assert!(
        requests.iter().any(|r| r
            .scopes
            .contains(&"repository:copy/app:pull,push".to_string())
            && r.scopes
                .contains(&"repository:upstream/app:pull".to_string())),
        "mount token carries both scopes: {requests:#?}"
    );
    assert!(requests.len() <= 4, "{requests:#?}");
}

#[test]
fn token_auth_anonymous_push_is_denied_clearly() {
    let reg = Registry::token("carol", "t0ken-pass");
    let src = Registry::anonymous();
    let img = image(Format::Docker, "linux", "amd64", None, &[1000], 540);
    push_image(&src.client(), "app", Some("v1"), &img);
    let (code, _, _, report) = copy(
        &src.reference("app", "v1"),
        &reg.reference("app", "v1"),
        &[],
    );
    assert_eq!(code, 1);
    let err = report["images"][0]["error"].as_str().unwrap();
    assert!(
        err.starts_with(&format!("access denied to `app` on `{}`", reg.host())),
        "{err}"
    );
    assert!(err.contains("without credentials"), "{err}");
    assert!(err.contains("hint: "), "{err}");
    assert!(!reg.client().manifest_exists("app", "v1"));
}

#[test]
fn tls_registry_with_ca_cert_ssl_cert_file_or_insecure() {
    let src = Registry::anonymous();
    let dst = Registry::tls();
    let ca = dst.ca_pem_path().unwrap();
    let img = image(Format::Docker, "linux", "amd64", None, &[50_000], 550);
    push_image(&src.client(), "app", Some("v1"), &img);
    let source = src.reference("app", "v1");

    let (code, stdout, stderr, _) = copy(
        &source,
        &dst.reference("ca/app", "v1"),
        &["--ca-cert", ca.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(
        dst.client().head_manifest("ca/app", "v1"),
        Some(img.digest.clone())
    );

    let (code, stdout, stderr, _) = copy_env(
        &source,
        &dst.reference("env/app", "v1"),
        &[],
        &[("SSL_CERT_FILE", ca.to_str().unwrap())],
        None,
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(
        dst.client().head_manifest("env/app", "v1"),
        Some(img.digest.clone())
    );

    let (code, stdout, stderr, _) = copy(
        &source,
        &dst.reference("insecure/app", "v1"),
        &["--insecure-registry", &dst.host()],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(
        dst.client().head_manifest("insecure/app", "v1"),
        Some(img.digest.clone())
    );

    // Without the CA: refused, with a message about the certificate and what to do.
    let (code, stdout, _, report) = copy(&source, &dst.reference("none/app", "v1"), &[]);
    assert_eq!(code, 1, "{stdout}");
    let err = report["images"][0]["error"].as_str().unwrap();
    assert!(
        err.starts_with(&format!("cannot reach `{}`", dst.host())),
        "{err}"
    );
    assert!(err.contains("certificate"), "{err}");
    assert!(err.ends_with("hint: trust the registry's CA with `--ca-cert FILE`, or use `--insecure-registry HOST`"), "{err}");
    assert!(!dst.client().manifest_exists("none/app", "v1"));
}
