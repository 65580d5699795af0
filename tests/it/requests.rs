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

/// An image on the same base as [`two_platforms`]'s, with layers and configs of its own.
fn two_platforms_on_the_base(seed: u64) -> Index {
    let base = layers(Format::Oci, &[40_000], 77);
    let amd = image_with_base(Format::Oci, "linux", "amd64", None, &base, &[21_000], seed);
    let arm = image_with_base(
        Format::Oci,
        "linux",
        "arm64",
        None,
        &base,
        &[31_000],
        seed + 1,
    );
    index(Format::Oci, vec![amd, arm], AttestationStyle::None)
}

fn copy_with_state(src: &Registry, dst: &Registry, from: &str, to: &str, state: &str) -> Outcome {
    let mut cli = bin();
    cli.args([
        "copy",
        &src.reference(from, "v1"),
        &format!("{}/{to}:v1", dst.host()),
        "--all-platforms",
        "--format",
        "preserve",
        "--state",
        state,
    ]);
    cli.run_with_report()
}

#[test]
fn a_later_run_mounts_a_shared_layer_from_where_the_state_file_saw_it() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let (first, second) = (two_platforms(), two_platforms_on_the_base(5));
    push_index(&src.client(), "app", "v1", &first);
    push_index(&src.client(), "other", "v1", &second);
    let base = first.images[0].layers[0].digest();
    assert_eq!(second.images[0].layers[0].digest(), base, "a shared base");
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state.json");
    let state = state.to_str().expect("utf-8");

    let o = copy_with_state(&src, &dst, "app", "first/app", state);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    // A new run (nothing known in memory) into a new repository: the base is mounted from
    // where the last run put it, one request; the rest goes up as before.
    let before = dst.log().lines().count();
    let o = copy_with_state(&src, &dst, "other", "second/app", state);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert_eq!(o.report["images"][0]["blobs"]["mounted"], 1, "{}", o.report);
    let reqs = dst.requests_after(before);
    let encoded = base.replace(':', "%3A");
    let asked: Vec<&String> = reqs.iter().filter(|r| r.contains(&encoded)).collect();
    assert_eq!(asked.len(), 1, "{reqs:#?}");
    assert!(
        asked[0].starts_with("POST /v2/second/app/blobs/uploads/?"),
        "{asked:?}"
    );
    assert!(asked[0].contains("from=first%2Fapp"), "{asked:?}");
    let blobs = distinct_blobs(&second);
    assert_eq!(
        requests_since(&dst, before).len(),
        1 + 1 + 2 * (blobs - 1) + 3,
        "{reqs:#?}"
    );

    // A holder the file names that no longer lends the blob (edited here; a deleted
    // repository in life) costs the upload it falls back to, and is replaced.
    let text = std::fs::read_to_string(state).expect("state");
    std::fs::write(
        state,
        text.replace("second/app", "gone/app")
            .replace("first/app", "gone/app"),
    )
    .expect("write");
    let before = dst.log().lines().count();
    let o = copy_with_state(&src, &dst, "app", "third/app", state);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert_eq!(
        o.report["images"][0]["blobs"]["copied"],
        distinct_blobs(&first)
    );
    let raw = dst.requests_after(before);
    let from_gone = raw.iter().filter(|r| r.contains("from=gone%2Fapp")).count();
    assert_eq!(from_gone, distinct_blobs(&first), "{raw:#?}");
    let reqs = requests_since(&dst, before);
    assert_eq!(
        count(&reqs, "PUT", "/blobs/uploads/"),
        distinct_blobs(&first),
        "{reqs:#?}"
    );
    assert_eq!(reqs.len(), 1 + 2 * distinct_blobs(&first) + 3, "{reqs:#?}");
    assert_eq!(
        dst.client().head_manifest("third/app", "v1").as_deref(),
        Some(first.digest.as_str())
    );
    let text = std::fs::read_to_string(state).expect("state");
    let saved: serde_json::Value = serde_json::from_str(&text).expect("json");
    for image in &first.images {
        for (digest, _) in image.blobs() {
            let key = format!("{} {digest}", dst.host());
            assert_eq!(saved["holders"][&key], "third/app", "{key}: {text}");
        }
    }
}

/// `mirror` of `n` small images (three blobs each) from `src` into `namespace` of `target`.
fn mirror_many(src: &Registry, target: &str, namespace: &str, n: u64, extra: &[&str]) -> Outcome {
    let mut list = String::new();
    for i in 0..n {
        list.push_str(&format!(
            "{}\n",
            src.reference(&format!("team/app{i}"), "v1")
        ));
    }
    let mut cli = bin();
    cli.args(["mirror", "-f", "-", "--target-namespace", namespace])
        .args(["--target-registry", target, "--parallel", "6"])
        .args(extra)
        .write_stdin(list);
    cli.run_with_report()
}

#[test]
fn the_requests_in_flight_to_a_registry_stay_within_the_budget() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    for i in 0..6 {
        let img = image(
            Format::Docker,
            "linux",
            "amd64",
            None,
            &[3_000, 4_000],
            1500 + i,
        );
        push_image(&src.client(), &format!("team/app{i}"), Some("v1"), &img);
    }
    // A slow link, so that requests overlap whenever they may.
    let link = crate::support::Proxy::start(&dst.base_url(), Box::new(|_, _, _, _| None));
    link.set_latency(std::time::Duration::from_millis(30));

    let o = mirror_many(
        &src,
        &link.host(),
        "budget",
        6,
        &["--requests-in-flight", "2"],
    );
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert_eq!(o.report["summary"]["copied"], 6, "{}", o.report);
    let most = link.take_most_in_flight();
    assert!((1..=2).contains(&most), "{most} requests at once");
    // The same run with the default budget has more in flight: the budget is what held it.
    let o = mirror_many(&src, &link.host(), "free", 6, &[]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let most = link.take_most_in_flight();
    assert!(most > 2, "{most} requests at once");
}
