//! The requests a copy sends to the target, counted in the real registry's access log: the
//! protocol's floor (two a blob uploaded, one a blob already there, one a manifest, one tag
//! `HEAD` an image), and a `HEAD` a blob only where the repository's tag was already there.

use crate::support::{
    bin, image, image_with_base, index, layers, push_image, push_index, AttestationStyle, Format,
    Image, Index, Outcome, Registry,
};

/// Two platforms on a shared base layer, each with a layer of its own (5 distinct blobs:
/// the base, two configs, two own layers).
fn two_platforms() -> Index {
    let base = layers(Format::Oci, &[40_000], 77);
    let amd = image_with_base(Format::Oci, "linux", "amd64", None, &base, &[20_000], 1);
    let arm = image_with_base(Format::Oci, "linux", "arm64", None, &base, &[30_000], 2);
    index(Format::Oci, vec![amd, arm], AttestationStyle::None)
}

fn distinct_blobs(idx: &Index) -> usize {
    let mut all: Vec<String> = idx
        .images
        .iter()
        .flat_map(|i| i.blobs().into_iter().map(|(d, _)| d))
        .collect();
    all.sort();
    all.dedup();
    all.len()
}

fn copy(src: &Registry, dst: &Registry, to: &str) -> Outcome {
    let mut cli = bin();
    cli.args([
        "copy",
        &src.reference("app", "v1"),
        &format!("{}/{to}:v1", dst.host()),
        "--all-platforms",
        "--format",
        "preserve",
    ]);
    cli.run_with_report()
}

/// The target's requests since `from` lines of its log, as `METHOD PATH` (query dropped,
/// except `mount=`, which says what a `POST` asked), the ping left out.
fn requests_since(dst: &Registry, from: usize) -> Vec<String> {
    dst.requests_after(from)
        .into_iter()
        .filter(|r| r != "GET /v2/")
        .map(|r| {
            let (path, query) = r.split_once('?').unwrap_or((&r, ""));
            if query.contains("mount=") {
                format!("{path}?mount")
            } else {
                path.to_string()
            }
        })
        .collect()
}

fn count(reqs: &[String], method: &str, part: &str) -> usize {
    reqs.iter()
        .filter(|r| r.starts_with(method) && r.contains(part))
        .count()
}

#[test]
fn a_fresh_copy_sends_the_floor_two_requests_a_blob_and_no_head() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let idx = two_platforms();
    push_index(&src.client(), "app", "v1", &idx);
    let blobs = distinct_blobs(&idx);
    assert_eq!(blobs, 5);

    let before = dst.log().lines().count();
    let o = copy(&src, &dst, "fresh/app");
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert_eq!(o.report["images"][0]["blobs"]["copied"], blobs);
    let reqs = requests_since(&dst, before);
    // One tag HEAD; a POST (asking the repository itself with a mount) and a PUT a blob;
    // two child manifests and the index: nothing else, no blob HEAD, no tag listing.
    assert_eq!(count(&reqs, "HEAD", "/manifests/v1"), 1, "{reqs:#?}");
    assert_eq!(count(&reqs, "HEAD", "/blobs/"), 0, "{reqs:#?}");
    assert_eq!(
        count(&reqs, "POST", "/blobs/uploads/?mount"),
        blobs,
        "{reqs:#?}"
    );
    assert_eq!(count(&reqs, "PUT", "/blobs/uploads/"), blobs, "{reqs:#?}");
    assert_eq!(count(&reqs, "PUT", "/manifests/"), 3, "{reqs:#?}");
    assert_eq!(reqs.len(), 1 + 2 * blobs + 3, "{reqs:#?}");
    assert_eq!(
        dst.client().head_manifest("fresh/app", "v1").as_deref(),
        Some(idx.digest.as_str())
    );
}

#[test]
fn a_new_tag_where_the_blobs_are_sends_one_request_a_blob() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let idx = two_platforms();
    push_index(&src.client(), "app", "v1", &idx);
    // The repository holds every blob under another tag: the POSTs find them (201).
    push_index(&dst.client(), "held/app", "old", &idx);
    let blobs = distinct_blobs(&idx);

    let before = dst.log().lines().count();
    let o = copy(&src, &dst, "held/app");
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert_eq!(o.report["images"][0]["blobs"]["skipped"], blobs);
    assert_eq!(o.report["images"][0]["blobs"]["copied"], 0);
    assert_eq!(o.report["images"][0]["bytes"], 0);
    let reqs = requests_since(&dst, before);
    assert_eq!(
        count(&reqs, "POST", "/blobs/uploads/?mount"),
        blobs,
        "{reqs:#?}"
    );
    assert_eq!(count(&reqs, "PUT", "/blobs/"), 0, "{reqs:#?}");
    assert_eq!(reqs.len(), 1 + blobs + 3, "{reqs:#?}");
}

#[test]
fn an_overwritten_tag_looks_for_each_blob_with_a_head() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let idx = two_platforms();
    push_index(&src.client(), "app", "v1", &idx);
    // The tag is there and points elsewhere: the repository may hold any blob.
    let other: Image = image(Format::Docker, "linux", "amd64", None, &[1_000], 9);
    push_image(&dst.client(), "old/app", Some("v1"), &other);
    let blobs = distinct_blobs(&idx);

    let before = dst.log().lines().count();
    let o = copy(&src, &dst, "old/app");
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let reqs = requests_since(&dst, before);
    assert_eq!(count(&reqs, "HEAD", "/blobs/"), blobs, "{reqs:#?}");
    // Not there: a plain POST (no mount to ask for) and a PUT each.
    assert_eq!(count(&reqs, "POST", "/blobs/uploads/"), blobs, "{reqs:#?}");
    assert_eq!(count(&reqs, "POST", "?mount"), 0, "{reqs:#?}");
    assert_eq!(reqs.len(), 1 + 3 * blobs + 3, "{reqs:#?}");
    assert_eq!(
        dst.client().head_manifest("old/app", "v1").as_deref(),
        Some(idx.digest.as_str())
    );
}
