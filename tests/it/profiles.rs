//! Targets that just work: what a target refuses is known before it is sent, from its profile
//! (`--target-profile`, or its host name), from an earlier image of the run, or from an earlier
//! run (`--state`). A proxy in front of a real registry answers as Huawei SWR and Aliyun ACR
//! do; the tests count the writes it refused.

use crate::support::signing::{artifact, push_artifact, push_fallback_index, subject, SPDX};
use crate::support::vendors::{acr_like, manifest_puts, swr_like};
use crate::support::{
    bin, image, index, push_image, push_index, AttestationStyle, Format, Outcome, Proxy, Refusal,
    Registry, DOCKER_MANIFEST_LIST, OCI_INDEX,
};
use axum::http::Method;
use serde_json::Value;

fn two_platforms(seed: u64, attestations: AttestationStyle) -> crate::support::Index {
    let amd64 = image(Format::Oci, "linux", "amd64", None, &[4000, 100], seed);
    let arm64 = image(Format::Oci, "linux", "arm64", None, &[3000, 100], seed + 1);
    index(Format::Oci, vec![amd64, arm64], attestations)
}

fn refused(puts: &[(String, u16)]) -> usize {
    puts.iter().filter(|(_, status)| *status >= 400).count()
}

/// `(change, reason)` of an image's adaptations.
fn adapted(image: &Value) -> Vec<(String, String)> {
    image["adapted"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|a| {
                    let s = |k: &str| a[k].as_str().unwrap_or("").to_string();
                    (s("change"), s("reason"))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn copy(src: &str, dst: &str, extra: &[&str]) -> Outcome {
    let mut cli = bin();
    cli.args(["copy", src, dst]).args(extra);
    cli.run_with_report()
}

#[test]
fn a_named_swr_profile_writes_a_docker_list_without_a_refused_write() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    push_index(
        &src.client(),
        "app",
        "v1",
        &two_platforms(300, AttestationStyle::Classic),
    );
    let proxy = swr_like(&dst);
    let o = copy(
        &src.reference("app", "v1"),
        &proxy.reference("app", "v1"),
        &[
            "--all-platforms",
            "--format",
            "oci",
            "--target-profile",
            "swr",
        ],
    );
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let puts = manifest_puts(&proxy);
    assert_eq!(
        refused(&puts),
        0,
        "nothing sent that SWR refuses: {puts:#?}"
    );
    assert_eq!(
        puts.last().map(|p| p.0.as_str()),
        Some(DOCKER_MANIFEST_LIST)
    );
    let (ct, _, _) = dst.client().get_manifest("app", "v1").expect("written");
    assert_eq!(ct, DOCKER_MANIFEST_LIST);
    let img = &o.report["images"][0];
    let a = adapted(img);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].0, "written as Docker v2s2");
    assert!(
        a[0].1.contains("Huawei SWR refuses OCI indexes") && a[0].1.contains("`swr`"),
        "{a:?}"
    );
    assert!(
        o.stdout
            .contains("adapted: written as Docker v2s2: Huawei SWR"),
        "{}",
        o.stdout
    );
    // A dry run says the same before anything is written.
    let o = copy(
        &src.reference("app", "v1"),
        &proxy.reference("app", "v2"),
        &[
            "--all-platforms",
            "--format",
            "oci",
            "--target-profile",
            "swr",
            "--dry-run",
        ],
    );
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert_eq!(o.report["images"][0]["status"], "planned");
    assert_eq!(adapted(&o.report["images"][0]), a);
}

#[test]
fn a_refusal_is_learned_for_the_rest_of_the_run_and_remembered_in_the_state() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    for (i, repo) in ["one", "two", "three"].iter().enumerate() {
        let idx = two_platforms(310 + 10 * i as u64, AttestationStyle::Classic);
        push_index(&src.client(), repo, "v1", &idx);
    }
    let proxy = swr_like(&dst);
    let dir = tempfile::tempdir().expect("dir");
    let state = dir.path().join("state.json");
    let mut cli = bin();
    let list = format!(
        "{}\n{}\n",
        src.reference("one", "v1"),
        src.reference("two", "v1")
    );
    cli.args(["mirror", "-f", "-", "--target-registry", &proxy.host()])
        .args([
            "--target-namespace",
            "m",
            "--parallel",
            "1",
            "--all-platforms",
        ])
        .args(["--format", "oci", "--state"])
        .arg(&state)
        .write_stdin(list);
    let o = cli.run_with_report();
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    // The first image: as asked, without attestations, then as a Docker list. The second
    // is written as a Docker list at once.
    let puts = manifest_puts(&proxy);
    assert_eq!(refused(&puts), 2, "{puts:#?}");
    let images = o.report["images"].as_array().expect("images");
    let why = |name: &str| {
        let img = images
            .iter()
            .find(|i| i["source"].as_str().unwrap_or("").contains(name))
            .expect("image");
        assert_eq!(img["status"], "copied", "{img}");
        adapted(img)
    };
    let first = why("/one:");
    assert!(
        first
            .iter()
            .any(|(c, r)| c == "written as Docker v2s2" && r.contains("MANIFEST_INVALID")),
        "{first:?}"
    );
    let second = why("/two:");
    assert_eq!(second.len(), 1, "{second:?}");
    assert!(second[0].1.contains("earlier in this run"), "{second:?}");

    // The next run remembers it: no refused write at all.
    let saved: Value =
        serde_json::from_slice(&std::fs::read(&state).expect("state")).expect("json");
    let host = proxy.host();
    assert!(
        saved["refused"][&host]["oci-index"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("MANIFEST_INVALID")),
        "{saved:#}"
    );
    let before = manifest_puts(&proxy).len();
    let o = copy(
        &src.reference("three", "v1"),
        &proxy.reference("m/three", "v1"),
        &[
            "--all-platforms",
            "--format",
            "oci",
            "--state",
            state.to_str().expect("path"),
        ],
    );
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let puts = manifest_puts(&proxy)[before..].to_vec();
    assert_eq!(refused(&puts), 0, "{puts:#?}");
    let a = adapted(&o.report["images"][0]);
    assert!(
        a.len() == 1 && a[0].1.contains("remembered in --state"),
        "{a:?}"
    );
}

#[test]
fn the_acr_profile_leaves_attestations_and_artifacts_out_before_sending_them() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let c = src.client();
    let idx = two_platforms(340, AttestationStyle::Artifact);
    push_index(&c, "app", "v1", &idx);
    // SBOMs (OCI artifacts with the empty config) on the amd64 image and on the index.
    let amd64 = &idx.images[0];
    let about = subject(&amd64.media_type, &amd64.digest, amd64.manifest.len());
    let sbom = artifact(SPDX, about, b"{\"spdxVersion\":\"SPDX-2.3\"}", SPDX);
    push_artifact(&c, "app", None, &sbom);
    push_fallback_index(&c, "app", &amd64.digest, &[sbom.descriptor()]);
    let about = subject(OCI_INDEX, &idx.digest, idx.manifest.len());
    let on_index = artifact(SPDX, about, b"{\"spdxVersion\":\"SPDX-2.2\"}", SPDX);
    push_artifact(&c, "app", None, &on_index);
    push_fallback_index(&c, "app", &idx.digest, &[on_index.descriptor()]);
    let proxy = acr_like(&dst);
    let o = copy(
        &src.reference("app", "v1"),
        &proxy.reference("app", "v1"),
        &[
            "--all-platforms",
            "--format",
            "preserve",
            "--target-profile",
            "acr",
        ],
    );
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let puts = manifest_puts(&proxy);
    assert_eq!(
        refused(&puts),
        0,
        "nothing sent that ACR refuses: {puts:#?}"
    );
    let img = &o.report["images"][0];
    assert_eq!(img["status"], "copied", "{img}");
    assert_eq!(img["dropped"], serde_json::json!(["attestations"]));
    let a = adapted(img);
    assert_eq!(
        a.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(),
        ["attestation manifests left out"],
        "{a:?}"
    );
    assert!(a[0].1.contains("Aliyun ACR"), "{a:?}");
    let referrer = |digest: &str| {
        img["referrers"]
            .as_array()
            .and_then(|l| l.iter().find(|r| r["digest"] == digest).cloned())
            .unwrap_or_else(|| panic!("{digest} not reported: {img}"))
    };
    // The SBOM of the image is not offered, and the report says why.
    let r = referrer(&sbom.digest);
    assert_eq!(r["status"], "skipped", "{r}");
    let reason = r["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("not sent") && reason.contains("Aliyun ACR"),
        "{r}"
    );
    // The index was rewritten without its attestations: its SBOM cannot refer to it.
    let r = referrer(&on_index.digest);
    assert_eq!(r["status"], "dropped", "{r}");
    let reason = r["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("attestation manifests left out"), "{r}");
    assert!(
        !reason.contains("--all-platforms"),
        "no hint that cannot help: {r}"
    );
}

#[test]
fn a_single_image_on_an_index_refused_target_is_not_adapted() {
    // What the profile says is applied only where it matters: SWR takes OCI image manifests.
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let img = image(Format::Oci, "linux", "amd64", None, &[2000], 350);
    push_image(&src.client(), "app", Some("v1"), &img);
    let proxy = swr_like(&dst);
    let o = copy(
        &src.reference("app", "v1"),
        &proxy.reference("app", "v1"),
        &["--format", "preserve", "--target-profile", "swr"],
    );
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(adapted(&o.report["images"][0]).is_empty(), "{}", o.report);
    let (_, bytes, _) = dst.client().get_manifest("app", "v1").expect("written");
    assert_eq!(bytes, img.manifest, "byte for byte");
}

#[test]
fn an_unknown_profile_is_refused_with_the_names_that_exist() {
    let o = copy(
        "127.0.0.1:1/a:1",
        "127.0.0.1:1/b:1",
        &["--target-profile", "ecr"],
    );
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("`ecr` is not a target profile") && o.stderr.contains("swr"),
        "{}",
        o.stderr
    );
    let mut cli = bin();
    cli.args(["copy", "127.0.0.1:1/a:1", "127.0.0.1:1/b:1"])
        .env("TARGET_PROFILE", "nope");
    let o = cli.run_with_report();
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("`TARGET_PROFILE`"), "{}", o.stderr);
}

/// The `PATCH`es the real registry behind a test was sent.
fn patches(dst: &Registry) -> usize {
    dst.log()
        .lines()
        .filter(|l| l.contains("\"PATCH /v2/app/blobs/uploads/"))
        .count()
}

#[test]
fn chunk_sizes_follow_what_the_profile_takes() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let img = image(Format::Docker, "linux", "amd64", None, &[9 << 20], 360);
    push_image(&src.client(), "app", Some("v1"), &img);
    // GHCR takes chunks of at most 4 MiB: 9 MiB go in three.
    let o = copy(
        &src.reference("app", "v1"),
        &dst.reference("app", "v1"),
        &["--chunk-size", "8MiB", "--target-profile", "ghcr"],
    );
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert_eq!(patches(&dst), 3);
    let a = adapted(&o.report["images"][0]);
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(a[0].0.contains("chunks of 4.0 MiB"), "{a:?}");

    // Google Artifact Registry takes no chunked uploads: the blob goes whole.
    let dst = Registry::anonymous();
    let o = copy(
        &src.reference("app", "v1"),
        &dst.reference("app", "v1"),
        &["--chunk-size", "1MiB", "--target-profile", "gar"],
    );
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert_eq!(patches(&dst), 0);
    assert_eq!(
        dst.client().get_blob("app", &img.layer_digests()[0]),
        img.layers[0].data
    );
    let a = adapted(&o.report["images"][0]);
    assert!(
        a.len() == 1 && a[0].0.contains("--chunk-size not used") && a[0].1.contains("Google"),
        "{a:?}"
    );
}

#[test]
fn a_target_that_refuses_streamed_uploads_gets_chunks_at_once_next_time() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    for (repo, seed) in [("one", 370), ("two", 371)] {
        let img = image(Format::Docker, "linux", "amd64", None, &[3 << 20], seed);
        push_image(&src.client(), repo, Some("v1"), &img);
    }
    // A registry that takes big blobs only in chunks (`Content-Range`).
    let proxy = Proxy::start(
        &dst.base_url(),
        Box::new(|method, uri, headers, body| {
            let upload = uri.contains("/blobs/uploads/") && body.len() > 1 << 20;
            let chunk = headers.contains_key("content-range");
            let streamed = (method == Method::PUT || method == Method::PATCH) && !chunk;
            (upload && streamed)
                .then(|| Refusal::error(400, "BLOB_UPLOAD_INVALID", "send the blob in chunks"))
        }),
    );
    let refused_uploads = |p: &Proxy| {
        p.seen()
            .iter()
            .filter(|s| s.uri.contains("/blobs/uploads/") && s.status == 400)
            .count()
    };
    let dir = tempfile::tempdir().expect("dir");
    let state = dir.path().join("state.json");
    let state_arg = state.to_str().expect("path");
    let o = copy(
        &src.reference("one", "v1"),
        &proxy.reference("one", "v1"),
        &["--state", state_arg],
    );
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let first = refused_uploads(&proxy);
    assert!(first >= 1, "the first run learns it by a refusal");

    let o = copy(
        &src.reference("two", "v1"),
        &proxy.reference("two", "v1"),
        &["--state", state_arg],
    );
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert_eq!(refused_uploads(&proxy), first, "no refusal the second time");
    let a = adapted(&o.report["images"][0]);
    assert!(
        a.len() == 1 && a[0].0 == "blobs uploaded in chunks" && a[0].1.contains("--state"),
        "{a:?}"
    );
}

#[test]
fn a_registry_without_the_referrers_api_is_not_asked_again_next_run() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let c = src.client();
    let mut sboms = Vec::new();
    for (repo, seed) in [("one", 380), ("two", 381)] {
        let img = image(Format::Oci, "linux", "amd64", None, &[2000], seed);
        push_image(&c, repo, Some("v1"), &img);
        let about = subject(&img.media_type, &img.digest, img.manifest.len());
        let body = format!("{{\"spdxVersion\":\"SPDX-2.3\",\"n\":{seed}}}");
        let sbom = artifact(SPDX, about, body.as_bytes(), SPDX);
        push_artifact(&c, repo, None, &sbom);
        push_fallback_index(&c, repo, &img.digest, &[sbom.descriptor()]);
        sboms.push(sbom);
    }
    let asked = |r: &Registry| {
        r.log()
            .lines()
            .filter(|l| l.contains("/referrers/sha256:"))
            .count()
    };
    let dir = tempfile::tempdir().expect("dir");
    let state = dir.path().join("state.json");
    let state_arg = state.to_str().expect("path");
    let run = |repo: &str| {
        let o = copy(
            &src.reference(repo, "v1"),
            &dst.reference(repo, "v1"),
            &["--format", "preserve", "--state", state_arg],
        );
        assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
        o
    };
    let o = run("one");
    assert_eq!(o.report["images"][0]["referrers"][0]["status"], "copied");
    let (src_asked, dst_asked) = (asked(&src), asked(&dst));
    assert_eq!((src_asked, dst_asked), (1, 1), "one 404 a registry");
    let o = run("two");
    let r = &o.report["images"][0]["referrers"][0];
    assert_eq!(r["digest"], sboms[1].digest.as_str());
    assert_eq!(r["status"], "copied", "{r}");
    assert_eq!((asked(&src), asked(&dst)), (1, 1), "neither asked again");
}

#[test]
fn a_target_that_refuses_chunks_gets_blobs_whole_and_is_remembered() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    for (repo, seed) in [("one", 390), ("two", 391)] {
        let img = image(Format::Docker, "linux", "amd64", None, &[3 << 20], seed);
        push_image(&src.client(), repo, Some("v1"), &img);
    }
    // Like Google Artifact Registry: no chunked uploads.
    let proxy = Proxy::start(
        &dst.base_url(),
        Box::new(|method, _, headers, _| {
            (method == Method::PATCH && headers.contains_key("content-range")).then(|| {
                Refusal::error(
                    416,
                    "BLOB_UPLOAD_INVALID",
                    "chunked uploads are not supported",
                )
            })
        }),
    );
    let refused_patches = |p: &Proxy| {
        p.seen()
            .iter()
            .filter(|s| s.method == "PATCH" && s.status == 416)
            .count()
    };
    let dir = tempfile::tempdir().expect("dir");
    let state = dir.path().join("state.json");
    let args = [
        "--chunk-size",
        "1MiB",
        "--state",
        state.to_str().expect("path"),
    ];
    let o = copy(
        &src.reference("one", "v1"),
        &proxy.reference("one", "v1"),
        &args,
    );
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert_eq!(refused_patches(&proxy), 1, "one refusal teaches it");
    let a = adapted(&o.report["images"][0]);
    assert_eq!(
        a,
        [(
            "blobs uploaded whole (--chunk-size not used)".to_string(),
            "the target refused a chunked upload".to_string()
        )]
    );

    let o = copy(
        &src.reference("two", "v1"),
        &proxy.reference("two", "v1"),
        &args,
    );
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert_eq!(refused_patches(&proxy), 1, "none the second time");
    let a = adapted(&o.report["images"][0]);
    assert!(
        a.len() == 1 && a[0].1.contains("remembered in --state"),
        "{a:?}"
    );
}
