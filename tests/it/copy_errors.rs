//! What `copy` says when it cannot do what was asked: exact messages, exit codes, and that
//! nothing is written.

use crate::copy_anonymous::copy;
use crate::support::{
    image, index, push_image, push_index, with_layer_media_type, AttestationStyle, Format,
    Registry, OCI_LAYER_ZSTD, OCI_MANIFEST,
};

#[test]
fn bad_reference_is_a_usage_error_that_names_the_bad_part() {
    let dst = Registry::anonymous();
    let cases = [
        (
            "docker.io/Library/Nginx:1.27".to_string(),
            dst.reference("app", "v1"),
            "error: SRC: invalid reference `docker.io/Library/Nginx:1.27`: repository `Library/Nginx` must be lowercase (did you mean `library/nginx`?)",
        ),
        (
            "nginx@sha256:abc".to_string(),
            dst.reference("app", "v1"),
            "error: SRC: invalid reference `nginx@sha256:abc`: digest `sha256:abc` must have 64 lowercase hex digits after the algorithm",
        ),
        (
            "nginx:1.27".to_string(),
            format!("{}/app:-v1", dst.host()),
            "tag `-v1` may only contain letters, digits, `_`, `.` and `-` (at most 128 characters, not starting with `.` or `-`)",
        ),
    ];
    for (src, target, expected) in cases {
        let (code, stdout, stderr, report) = copy(&src, &target, &[]);
        assert_eq!(code, 2, "{src} -> {target}: {stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        assert!(
            stderr.contains("hint: a reference looks like `[registry/]path[:tag][@sha256:…]`, e.g. `docker.io/library/nginx:1.27`"),
            "{stderr}"
        );
        assert!(stdout.is_empty(), "{stdout}");
        assert!(report.is_null(), "no report for invalid input");
    }
    assert!(
        !dst.log().contains("\"PUT ") && !dst.log().contains("\"POST "),
        "nothing written"
    );
}

#[test]
fn missing_tag_fails_with_the_reference_and_a_hint() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let img = image(Format::Docker, "linux", "amd64", None, &[100], 100);
    push_image(&src.client(), "app", Some("v1"), &img);

    let source = src.reference("app", "v2");
    let (code, stdout, _, report) = copy(&source, &dst.reference("app", "v2"), &[]);
    assert_eq!(code, 1);
    let i = &report["images"][0];
    assert_eq!(i["status"], "failed");
    assert_eq!(
        i["error"],
        format!("manifest `{source}` not found\nhint: check the tag: the registry has no manifest by that name")
    );
    assert!(
        stdout.contains(&format!("  error: manifest `{source}` not found")),
        "{stdout}"
    );
    assert_eq!(report["summary"]["failed"], 1);
    assert!(dst.client().catalog().is_empty());
}

#[test]
fn missing_repository_fails_like_a_missing_tag() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let source = src.reference("nothing/here", "v1");
    let (code, _, _, report) = copy(&source, &dst.reference("app", "v1"), &[]);
    assert_eq!(code, 1);
    let err = report["images"][0]["error"].as_str().unwrap();
    assert!(err.contains(&source) && err.contains("not found"), "{err}");
}

#[test]
fn zstd_layer_cannot_become_v2s2_but_copies_as_oci() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let img = with_layer_media_type(
        image(Format::Oci, "linux", "amd64", None, &[5000, 6000], 110),
        1,
        OCI_LAYER_ZSTD,
    );
    push_image(&src.client(), "app", Some("zstd"), &img);
    let layer = img.layer_digests()[1].clone();

    let (code, stdout, _, report) = copy(
        &src.reference("app", "zstd"),
        &dst.reference("app", "zstd"),
        &[],
    );
    assert_eq!(code, 1);
    let err = report["images"][0]["error"].as_str().unwrap();
    assert_eq!(
        err,
        format!(
            "cannot convert to Docker v2s2: layer `{layer}` is `application/vnd.oci.image.layer.v1.tar+zstd`, which Docker v2s2 cannot carry\n\
             hint: copy it unconverted with `--format oci` or `--format preserve`, or pick a tag built with gzip layers"
        )
    );
    assert!(stdout.contains("Docker v2s2 cannot carry"), "{stdout}");
    assert!(!dst.client().manifest_exists("app", "zstd"));

    for format in ["oci", "preserve"] {
        let (code, _, stderr, _) = copy(
            &src.reference("app", "zstd"),
            &dst.reference("app", format),
            &["--format", format],
        );
        assert_eq!(code, 0, "{stderr}");
        let (ct, bytes, _) = dst.client().get_manifest("app", format).unwrap();
        assert_eq!(ct, OCI_MANIFEST);
        assert_eq!(bytes, img.manifest);
    }
}

#[test]
fn one_failed_platform_of_an_index_leaves_no_tag() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let amd64 = image(Format::Oci, "linux", "amd64", None, &[3000], 120);
    let arm64 = with_layer_media_type(
        image(Format::Oci, "linux", "arm64", None, &[3000], 121),
        0,
        OCI_LAYER_ZSTD,
    );
    let idx = index(Format::Oci, vec![amd64, arm64], AttestationStyle::None);
    push_index(&src.client(), "app", "v1", &idx);

    let (code, _, _, report) = copy(
        &src.reference("app", "v1"),
        &dst.reference("app", "v1"),
        &["--all-platforms"],
    );
    assert_eq!(code, 1);
    let err = report["images"][0]["error"].as_str().unwrap();
    assert!(err.contains("Docker v2s2 cannot carry"), "{err}");
    assert!(!dst.client().manifest_exists("app", "v1"));
}

#[test]
fn pinned_digest_that_does_not_match_the_tag_fails() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let img = image(Format::Docker, "linux", "amd64", None, &[100], 130);
    push_image(&src.client(), "app", Some("v1"), &img);
    let other = crate::support::sha256_digest(b"other");
    let source = format!("{}@{other}", src.reference("app", "v1"));

    let (code, _, _, report) = copy(&source, &dst.reference("app", "v1"), &[]);
    assert_eq!(code, 1);
    assert_eq!(
        report["images"][0]["error"],
        format!(
            "`{}` now points to `{}`, not the pinned `{other}`\n\
             hint: the tag moved since the list was written: update the digest or drop it",
            src.reference("app", "v1"),
            img.digest
        )
    );

    assert!(!dst.client().manifest_exists("app", "v1"));

    // The right pin copies.
    let source = format!("{}@{}", src.reference("app", "v1"), img.digest);
    let (code, _, stderr, _) = copy(&source, &dst.reference("app", "v1"), &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        dst.client().head_manifest("app", "v1"),
        Some(img.digest.clone())
    );
}
