//! Targets that refuse what the field's registries refuse, and sources that say "slow down":
//! a proxy in front of a real registry plays Huawei SWR, Aliyun ACR and Docker Hub.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::copy_anonymous::copy;
use crate::support::vendors::{acr_like, manifest_puts, swr_like};
use crate::support::{
    image, index, push_image, push_index, AttestationStyle, Format, Proxy, Refusal, Registry,
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST,
};
use axum::http::Method;
use serde_json::{json, Value};

fn two_platforms(attestations: AttestationStyle, seed: u64) -> crate::support::Index {
    let amd64 = image(Format::Oci, "linux", "amd64", None, &[4000, 100], seed);
    let arm64 = image(Format::Oci, "linux", "arm64", None, &[3000, 100], seed + 1);
    index(Format::Oci, vec![amd64, arm64], attestations)
}

#[test]
fn swr_like_oci_index_refusal_falls_back_to_a_docker_list() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let idx = two_platforms(AttestationStyle::Classic, 200);
    push_index(&src.client(), "app", "v1", &idx);
    let swr = swr_like(&dst);

    let (code, stdout, stderr, report) = copy(
        &src.reference("app", "v1"),
        &swr.reference("app", "v1"),
        &["--all-platforms", "--format", "oci"],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (ct, bytes, digest) = dst.client().get_manifest("app", "v1").unwrap();
    assert_eq!(ct, DOCKER_MANIFEST_LIST);
    let list: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(list["manifests"].as_array().unwrap().len(), 2, "{list:#}");
    for e in list["manifests"].as_array().unwrap() {
        assert_eq!(e["mediaType"], DOCKER_MANIFEST);
    }
    let i = &report["images"][0];
    assert_eq!(i["status"], "copied");
    assert_eq!(i["converted"], true);
    assert_eq!(i["dropped"], json!(["attestations"]));
    assert_eq!(i["digest"], digest.as_str());
    // As asked first, then without attestations, then as v2s2.
    let puts = manifest_puts(&swr);
    let index_puts: Vec<_> = puts
        .iter()
        .filter(|(ct, _)| ct == OCI_INDEX || ct == DOCKER_MANIFEST_LIST)
        .collect();
    assert_eq!(
        index_puts,
        [
            &(OCI_INDEX.to_string(), 400),
            &(OCI_INDEX.to_string(), 400),
            &(DOCKER_MANIFEST_LIST.to_string(), 201)
        ],
        "{puts:#?}"
    );
    assert!(stdout.contains("converted"), "{stdout}");
}

#[test]
fn acr_like_attestation_refusal_drops_them_and_keeps_the_images() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let idx = two_platforms(AttestationStyle::Artifact, 210);
    push_index(&src.client(), "app", "v1", &idx);
    let acr = acr_like(&dst);

    let (code, stdout, stderr, report) = copy(
        &src.reference("app", "v1"),
        &acr.reference("app", "v1"),
        &["--all-platforms", "--format", "preserve"],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (ct, bytes, digest) = dst.client().get_manifest("app", "v1").unwrap();
    assert_eq!(ct, OCI_INDEX);
    let list: Value = serde_json::from_slice(&bytes).unwrap();
    let children: Vec<&str> = list["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["digest"].as_str().unwrap())
        .collect();
    let images: Vec<&str> = idx.images.iter().map(|i| i.digest.as_str()).collect();
    assert_eq!(
        children, images,
        "image manifests unchanged, attestations gone"
    );
    for img in &idx.images {
        let (ct, bytes, _) = dst.client().get_manifest("app", &img.digest).unwrap();
        assert_eq!(ct, OCI_MANIFEST);
        assert_eq!(bytes, img.manifest);
    }
    let i = &report["images"][0];
    assert_eq!(i["converted"], false);
    assert_eq!(i["dropped"], json!(["attestations"]));
    assert_eq!(i["digest"], digest.as_str());
    assert_ne!(digest, idx.digest);
}

#[test]
fn a_refusal_that_is_not_about_the_manifest_kind_is_not_retried_as_something_else() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let img = image(Format::Oci, "linux", "amd64", None, &[1000], 220);
    push_image(&src.client(), "app", Some("v1"), &img);
    let full = Proxy::start(
        &dst.base_url(),
        Box::new(|method, uri, _, _| {
            (method == Method::PUT && uri.contains("/manifests/"))
                .then(|| Refusal::error(403, "DENIED", "quota exceeded for namespace"))
        }),
    );
    let (code, _, _, report) = copy(
        &src.reference("app", "v1"),
        &full.reference("app", "v1"),
        &["--format", "oci"],
    );
    assert_eq!(code, 1);
    assert_eq!(manifest_puts(&full).len(), 1, "{:#?}", full.seen());
    let err = report["images"][0]["error"].as_str().unwrap();
    assert!(err.contains("quota exceeded for namespace"), "{err}");
}

#[test]
fn too_many_requests_is_retried_after_the_registry_says() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let img = image(Format::Docker, "linux", "amd64", None, &[2 << 20, 500], 230);
    push_image(&src.client(), "app", Some("v1"), &img);
    let limited = Arc::new(AtomicUsize::new(0));
    let counter = limited.clone();
    let hub = Proxy::start(
        &src.base_url(),
        Box::new(move |method, uri, _, _| {
            let blob_get = method == Method::GET && uri.contains("/blobs/sha256:");
            // The first two blob reads are told to come back later.
            (blob_get && counter.fetch_add(1, Ordering::SeqCst) < 2).then(|| Refusal {
                status: 429,
                headers: vec![
                    ("retry-after".into(), "1".into()),
                    ("ratelimit-remaining".into(), "0;w=21600".into()),
                ],
                body: r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}"#.into(),
            })
        }),
    );
    let (code, _, stderr, report) = copy(
        &hub.reference("app", "v1"),
        &dst.reference("app", "v1"),
        &["--retries", "3"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        dst.client().head_manifest("app", "v1"),
        Some(img.digest.clone())
    );
    let statuses: Vec<u16> = hub
        .seen()
        .iter()
        .filter(|s| s.method == "GET" && s.uri.contains("/blobs/"))
        .map(|s| s.status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        3,
        "{statuses:?} {:#?}",
        hub.seen()
    );
    assert_eq!(report["summary"]["copied"], 1);
}

#[test]
fn too_many_requests_beyond_the_retries_fails_that_image_only() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let img = image(Format::Docker, "linux", "amd64", None, &[100], 240);
    push_image(&src.client(), "app", Some("v1"), &img);
    let hub = Proxy::start(
        &src.base_url(),
        Box::new(|method, uri, _, _| {
            (method == Method::HEAD && uri.contains("/manifests/")).then(|| Refusal {
                status: 429,
                headers: vec![("retry-after".into(), "0".into())],
                body: String::new(),
            })
        }),
    );
    let (code, _, _, report) = copy(
        &hub.reference("app", "v1"),
        &dst.reference("app", "v1"),
        &["--retries", "2"],
    );
    assert_eq!(code, 1);
    let heads = hub.seen().iter().filter(|s| s.method == "HEAD").count();
    assert_eq!(heads, 3, "one try and two retries");
    let err = report["images"][0]["error"].as_str().unwrap();
    assert!(err.contains("429"), "{err}");
}
