//! `copy SRC DST` with registries that speak HTTPS with a private CA: trusted through
//! `--ca-cert` (repeatable) or `SSL_CERT_FILE`, or not verified for hosts named by
//! `--insecure-registry` / `INSECURE_REGISTRIES`. An untrusted certificate is a clear failure that
//! never falls back to plain HTTP.

use crate::copy_auth::{assert_target_holds, copy_with, secrets};
use crate::support::{image, push_image, Auth, Format, Registry};

fn ca(registry: &Registry) -> String {
    registry
        .ca_pem_path()
        .expect("TLS registry")
        .to_str()
        .unwrap()
        .to_string()
}

fn untrusted(host: &str) -> String {
    rejected(
        host,
        "it is signed by a certificate authority that is not trusted (UnknownIssuer)",
    )
}

fn rejected(host: &str, why: &str) -> String {
    format!(
        "cannot reach `{host}`: the TLS certificate was rejected: {why}\n\
         hint: trust the registry's CA with `--ca-cert FILE` or `SSL_CERT_FILE`, or skip \
         certificate checks for it with `--insecure-registry {host}`"
    )
}

#[test]
fn ca_cert_flags_trust_tls_source_and_target() {
    // Each TLS registry has its own CA: both are needed, one `--ca-cert` each.
    let src = Registry::tls();
    let dst = Registry::tls();
    let img = image(Format::Docker, "linux", "amd64", None, &[50_000, 700], 2000);
    push_image(&src.client(), "app", Some("v1"), &img);
    let source = src.reference("app", "v1");

    let run = copy_with(
        &source,
        &dst.reference("app", "v1"),
        &["--ca-cert", &ca(&src), "--ca-cert", &ca(&dst)],
        &[],
    );
    run.assert_copied();
    assert_target_holds(&dst, "app", "v1", &img, &run);

    // The target's CA does not vouch for the source (both test CAs have the same name, so the
    // source's certificate names a trusted issuer whose signature does not match).
    let run = copy_with(
        &source,
        &dst.reference("other", "v1"),
        &["--ca-cert", &ca(&dst)],
        &[],
    );
    run.assert_error(
        &source,
        &dst.reference("other", "v1"),
        &rejected(
            &src.host(),
            "its signature does not match the trusted certificate authority of that name (BadSignature)",
        ),
    );
    assert!(!dst.client().manifest_exists("other", "v1"));
}

#[test]
fn ssl_cert_file_trusts_the_registry() {
    let src = Registry::anonymous();
    let dst = Registry::tls();
    let img = image(Format::Oci, "linux", "amd64", None, &[30_000], 2010);
    push_image(&src.client(), "app", Some("v1"), &img);

    let run = copy_with(
        &src.reference("app", "v1"),
        &dst.reference("app", "v1"),
        &["--format", "preserve"],
        &[("SSL_CERT_FILE", &ca(&dst))],
    );
    run.assert_copied();
    assert_target_holds(&dst, "app", "v1", &img, &run);

    // And the other way round: a TLS source.
    let run = copy_with(
        &dst.reference("app", "v1"),
        &src.reference("back", "v1"),
        &["--format", "preserve"],
        &[("SSL_CERT_FILE", &ca(&dst))],
    );
    run.assert_copied();
    assert_target_holds(&src, "back", "v1", &img, &run);
}

#[test]
fn untrusted_certificate_fails_clearly_without_falling_back_to_http() {
    let plain = Registry::anonymous();
    let tls = Registry::tls();
    let img = image(Format::Docker, "linux", "amd64", None, &[2000], 2020);
    push_image(&plain.client(), "app", Some("v1"), &img);
    push_image(&tls.client(), "app", Some("v1"), &img);

    // TLS target. (Falling back to plain HTTP would have met the TLS port's HTTP 400 instead.)
    let source = plain.reference("app", "v1");
    let target = tls.reference("copy", "v1");
    let run = copy_with(&source, &target, &[], &[]);
    run.assert_error(&source, &target, &untrusted(&tls.host()));
    assert!(!tls.client().manifest_exists("copy", "v1"));

    // TLS source.
    let source = tls.reference("app", "v1");
    let target = plain.reference("copy", "v1");
    let run = copy_with(&source, &target, &[], &[]);
    run.assert_error(&source, &target, &untrusted(&tls.host()));
    assert!(!plain.client().manifest_exists("copy", "v1"));

    // `--insecure-registry` for another port of the host does not cover it.
    let run = copy_with(
        &source,
        &target,
        &[
            "--insecure-registry",
            &format!("127.0.0.1:{}", plain.port()),
        ],
        &[],
    );
    run.assert_error(&source, &target, &untrusted(&tls.host()));
}

#[test]
fn insecure_registry_skips_certificate_checks() {
    let src = Registry::anonymous();
    let dst = Registry::tls();
    let img = image(Format::Docker, "linux", "amd64", None, &[20_000], 2030);
    push_image(&src.client(), "app", Some("v1"), &img);
    let source = src.reference("app", "v1");

    // HOST:PORT
    let run = copy_with(
        &source,
        &dst.reference("flag", "v1"),
        &["--insecure-registry", &dst.host()],
        &[],
    );
    run.assert_copied();
    assert_target_holds(&dst, "flag", "v1", &img, &run);

    // A bare host covers every port.
    let run = copy_with(
        &source,
        &dst.reference("host", "v1"),
        &["--insecure-registry", "127.0.0.1"],
        &[],
    );
    run.assert_copied();
    assert_target_holds(&dst, "host", "v1", &img, &run);

    // INSECURE_REGISTRIES, a comma list.
    let run = copy_with(
        &source,
        &dst.reference("env", "v1"),
        &[],
        &[(
            "INSECURE_REGISTRIES",
            &format!("registry.example.com,{}", dst.host()),
        )],
    );
    run.assert_copied();
    assert_target_holds(&dst, "env", "v1", &img, &run);
}

#[test]
fn tls_registry_with_basic_auth() {
    let src = Registry::anonymous();
    let dst = Registry::start(
        Auth::Htpasswd {
            user: "dora".into(),
            password: "tls-pa55".into(),
        },
        true,
    );
    let img = image(Format::Docker, "linux", "amd64", None, &[10_000, 100], 2040);
    push_image(&src.client(), "app", Some("v1"), &img);
    let source = src.reference("app", "v1");

    let run = copy_with(
        &source,
        &dst.reference("app", "v1"),
        &["--ca-cert", &ca(&dst), "--dest-creds", "dora:tls-pa55"],
        &[("RUST_LOG", "trace")],
    );
    run.assert_copied();
    assert_target_holds(&dst, "app", "v1", &img, &run);
    run.assert_no_secret(&secrets("dora", "tls-pa55"));

    let target = dst.reference("wrong", "v1");
    let run = copy_with(
        &source,
        &target,
        &["--ca-cert", &ca(&dst), "--dest-creds", "dora:not-it"],
        &[],
    );
    run.assert_error(
        &source,
        &target,
        &format!(
            "authentication failed for `{}`: the registry rejected user `dora` from `--dest-creds` (HTTP 401)\n\
             hint: check the user and password given with `--dest-creds`",
            dst.host()
        ),
    );
    run.assert_no_secret(&secrets("dora", "not-it"));
}

#[test]
fn unreadable_or_empty_ca_cert_is_a_usage_error() {
    let src = Registry::anonymous();
    let dst = Registry::tls();
    let img = image(Format::Docker, "linux", "amd64", None, &[1000], 2050);
    push_image(&src.client(), "app", Some("v1"), &img);
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();

    for (file, expected) in [
        (
            &missing,
            format!(
                "error: cannot read CA certificate `{}`: No such file or directory (os error 2)\n",
                missing.display()
            ),
        ),
        (
            &garbage,
            format!(
                "error: CA certificate `{}` holds no certificate\n",
                garbage.display()
            ),
        ),
    ] {
        let run = copy_with(
            &src.reference("app", "v1"),
            &dst.reference("app", "v1"),
            &["--ca-cert", file.to_str().unwrap()],
            &[],
        );
        assert_eq!((run.code, run.stderr.as_str()), (2, expected.as_str()));
        assert_eq!(run.stdout, "");
    }
    assert!(dst.client().catalog().is_empty());
}
