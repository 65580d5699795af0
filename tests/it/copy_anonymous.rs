//! `copy` between two anonymous registries: exact bytes, formats, platforms, attestations and the
//! report's counters.

use crate::support::{
    bin, image, index, push_image, push_index, AttestationStyle, Format, Index, Registry,
    DOCKER_CONFIG, DOCKER_LAYER, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX,
};
use serde_json::{json, Value};

/// Runs `copy SRC DST` with `extra` flags and returns (exit code, stdout, stderr, report).
pub fn copy(src: &str, dst: &str, extra: &[&str]) -> (i32, String, String, Value) {
    let mut cli = bin();
    let report = cli.home().join("report.json");
    cli.args(["copy", src, dst, "--report-json"])
        .arg(&report)
        .args(extra);
    let out = cli.output().expect("run registry-mirror");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = std::fs::read(&report)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), stdout, stderr, json)
}

#[test]
fn docker_image_is_copied_byte_for_byte() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let img = image(
        Format::Docker,
        "linux",
        "amd64",
        None,
        &[3 << 20, 4096, 10],
        11,
    );
    push_image(&src.client(), "library/app", Some("1.0"), &img);

    let (code, stdout, stderr, report) = copy(
        &src.reference("library/app", "1.0"),
        &dst.reference("mirror/app", "1.0"),
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    let (ct, bytes, digest) = dst
        .client()
        .get_manifest("mirror/app", "1.0")
        .expect("copied");
    assert_eq!(ct, DOCKER_MANIFEST);
    assert_eq!(bytes, img.manifest);
    assert_eq!(digest, img.digest);
    for (d, data) in img.blobs() {
        assert_eq!(dst.client().get_blob("mirror/app", &d), data, "{d}");
    }
    assert!(stdout.contains(&img.digest), "{stdout}");
    let ua = format!("\"registry-mirror/{}\"", env!("CARGO_PKG_VERSION"));
    let ours: Vec<String> = dst
        .log()
        .lines()
        .filter(|l| l.contains("\"PUT /v2/mirror/app/manifests/"))
        .map(str::to_string)
        .collect();
    assert!(
        !ours.is_empty() && ours.iter().all(|l| l.ends_with(&ua)),
        "User-Agent: {ours:#?}"
    );

    let s = &report["summary"];
    assert_eq!(s["total"], 1);
    assert_eq!(s["copied"], 1);
    assert_eq!(s["failed"], 0);
    assert_eq!(s["blobs_copied"], 4, "{report:#}");
    let i = &report["images"][0];
    assert_eq!(i["status"], "copied");
    assert_eq!(i["digest"], img.digest.as_str());
    assert_eq!(i["source_digest"], img.digest.as_str());
    assert_eq!(i["converted"], false);
    assert_eq!(i["platforms"], serde_json::json!(["linux/amd64"]));
    let total: usize = img.blobs().iter().map(|(_, d)| d.len()).sum();
    assert_eq!(i["bytes"], total);
    assert_eq!(report["version"], 1);
    assert_eq!(report["dry_run"], false);
}

fn multi_arch(format: Format, attestations: AttestationStyle, seed: u64) -> Index {
    let amd64 = image(format, "linux", "amd64", None, &[40_000, 2000], seed);
    let arm64 = image(
        format,
        "linux",
        "arm64",
        Some("v8"),
        &[30_000, 1000],
        seed + 1,
    );
    let arm = image(format, "linux", "arm", Some("v7"), &[20_000], seed + 2);
    index(format, vec![amd64, arm64, arm], attestations)
}

#[test]
fn oci_index_default_is_linux_amd64_converted_to_v2s2() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let idx = multi_arch(Format::Oci, AttestationStyle::Classic, 20);
    push_index(&src.client(), "team/app", "v1", &idx);

    let (code, _, stderr, report) = copy(
        &src.reference("team/app", "v1"),
        &dst.reference("team/app", "v1"),
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    let amd64 = idx.image_for("linux", "amd64").unwrap();
    let (ct, bytes, digest) = dst.client().get_manifest("team/app", "v1").unwrap();
    assert_eq!(
        ct, DOCKER_MANIFEST,
        "one platform writes that platform's manifest itself"
    );
    let m: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(m["mediaType"], DOCKER_MANIFEST);
    assert_eq!(m["config"]["mediaType"], DOCKER_CONFIG);
    assert_eq!(m["config"]["digest"], amd64.config_digest().as_str());
    let layers: Vec<&str> = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            assert_eq!(l["mediaType"], DOCKER_LAYER);
            l["digest"].as_str().unwrap()
        })
        .collect();
    assert_eq!(layers, amd64.layer_digests());
    for d in amd64.layer_digests() {
        assert!(dst.client().blob_exists("team/app", &d));
    }
    // Nothing of the other platforms travelled.
    let arm64 = idx.image_for("linux", "arm64").unwrap();
    for d in arm64.layer_digests() {
        assert!(!dst.client().blob_exists("team/app", &d));
    }
    let i = &report["images"][0];
    assert_eq!(i["converted"], true);
    assert_eq!(i["source_digest"], idx.digest.as_str());
    assert_eq!(i["digest"], digest.as_str());
    assert_eq!(i["platforms"], json!(["linux/amd64"]));
    assert_eq!(i["blobs"]["copied"], 3);
}

#[test]
fn all_platforms_preserve_keeps_digest_and_attestations() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let idx = multi_arch(Format::Oci, AttestationStyle::Classic, 30);
    push_index(&src.client(), "team/app", "v1", &idx);

    let (code, _, stderr, report) = copy(
        &src.reference("team/app", "v1"),
        &dst.reference("other/app", "v1"),
        &["--all-platforms", "--format", "preserve"],
    );
    assert_eq!(code, 0, "{stderr}");
    let (ct, bytes, digest) = dst.client().get_manifest("other/app", "v1").unwrap();
    assert_eq!(ct, OCI_INDEX);
    assert_eq!(bytes, idx.manifest);
    assert_eq!(digest, idx.digest);
    for child in idx.images.iter().chain(&idx.attestations) {
        let (ct, bytes, _) = dst
            .client()
            .get_manifest("other/app", &child.digest)
            .unwrap();
        assert_eq!(ct, child.media_type);
        assert_eq!(bytes, child.manifest);
        for (d, data) in child.blobs() {
            assert_eq!(dst.client().get_blob("other/app", &d), data);
        }
    }
    let i = &report["images"][0];
    assert_eq!(i["converted"], false);
    assert_eq!(i["dropped"], json!([]));
    assert_eq!(i["digest"], idx.digest.as_str());
    assert_eq!(
        i["platforms"],
        json!(["linux/amd64", "linux/arm64", "linux/arm/v7"])
    );
}

#[test]
fn all_platforms_v2s2_writes_a_manifest_list_without_attestations() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let idx = multi_arch(Format::Oci, AttestationStyle::Artifact, 40);
    push_index(&src.client(), "team/app", "v1", &idx);

    let (code, _, stderr, report) = copy(
        &src.reference("team/app", "v1"),
        &dst.reference("team/app", "v1"),
        &["--all-platforms"],
    );
    assert_eq!(code, 0, "{stderr}");
    let (ct, bytes, digest) = dst.client().get_manifest("team/app", "v1").unwrap();
    assert_eq!(ct, DOCKER_MANIFEST_LIST);
    let list: Value = serde_json::from_slice(&bytes).unwrap();
    let entries = list["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "attestation entries dropped: {list:#}");
    let mut platforms = Vec::new();
    for e in entries {
        assert_eq!(e["mediaType"], DOCKER_MANIFEST);
        let p = &e["platform"];
        platforms.push(format!(
            "{}/{}",
            p["os"].as_str().unwrap(),
            p["architecture"].as_str().unwrap()
        ));
        let child = dst
            .client()
            .manifest_json("team/app", e["digest"].as_str().unwrap());
        assert_eq!(child["mediaType"], DOCKER_MANIFEST);
        assert_eq!(child["config"]["mediaType"], DOCKER_CONFIG);
    }
    assert_eq!(platforms, ["linux/amd64", "linux/arm64", "linux/arm"]);
    for att in &idx.attestations {
        assert!(!dst.client().manifest_exists("team/app", &att.digest));
    }
    let i = &report["images"][0];
    assert_eq!(i["converted"], true);
    assert_eq!(i["dropped"], json!(["attestations"]));
    assert_eq!(i["digest"], digest.as_str());
}

#[test]
fn several_platforms_write_a_rewritten_index() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let idx = multi_arch(Format::Oci, AttestationStyle::Classic, 50);
    push_index(&src.client(), "team/app", "v1", &idx);

    let (code, _, stderr, report) = copy(
        &src.reference("team/app", "v1"),
        &dst.reference("team/app", "v1"),
        &["--platform", "linux/arm64,linux/arm/v7", "--format", "oci"],
    );
    assert_eq!(code, 0, "{stderr}");
    let (ct, bytes, _) = dst.client().get_manifest("team/app", "v1").unwrap();
    assert_eq!(ct, OCI_INDEX);
    let list: Value = serde_json::from_slice(&bytes).unwrap();
    let digests: Vec<&str> = list["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["digest"].as_str().unwrap())
        .collect();
    // OCI children pass through unchanged; the attestations of kept platforms stay with them.
    let arm64 = idx.image_for("linux", "arm64").unwrap();
    let arm = idx.image_for("linux", "arm").unwrap();
    assert!(digests.contains(&arm64.digest.as_str()), "{list:#}");
    assert!(digests.contains(&arm.digest.as_str()), "{list:#}");
    assert!(!digests.contains(&idx.image_for("linux", "amd64").unwrap().digest.as_str()));
    assert_eq!(
        report["images"][0]["platforms"],
        json!(["linux/arm64", "linux/arm/v7"])
    );
    for d in idx.image_for("linux", "amd64").unwrap().layer_digests() {
        assert!(!dst.client().blob_exists("team/app", &d));
    }
}

#[test]
fn second_run_skips_with_no_blob_traffic_and_same_registry_mounts() {
    let reg = Registry::anonymous();
    let img = image(Format::Docker, "linux", "amd64", None, &[50_000, 3000], 60);
    push_image(&reg.client(), "src/app", Some("v1"), &img);

    let (code, _, stderr, report) = copy(
        &reg.reference("src/app", "v1"),
        &reg.reference("dst/app", "v1"),
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    let i = &report["images"][0];
    assert_eq!(i["status"], "copied");
    assert_eq!(i["blobs"]["mounted"], 3, "{report:#}");
    assert_eq!(i["blobs"]["copied"], 0);
    assert_eq!(report["summary"]["blobs_mounted"], 3);
    assert_eq!(dst_digest(&reg, "dst/app", "v1"), img.digest);

    let before = reg.log().lines().count();
    let (code, stdout, stderr, report) = copy(
        &reg.reference("src/app", "v1"),
        &reg.reference("dst/app", "v1"),
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("skipped"), "{stdout}");
    let i = &report["images"][0];
    assert_eq!(i["status"], "skipped");
    assert_eq!(i["digest"], img.digest.as_str());
    assert_eq!(report["summary"]["skipped"], 1);
    assert_eq!(report["summary"]["copied"], 0);
    let log = reg.log();
    let second: Vec<&str> = log
        .lines()
        .skip(before)
        .filter(|l| {
            l.contains("\"HEAD ")
                || l.contains("\"GET ")
                || l.contains("\"PUT ")
                || l.contains("\"POST ")
                || l.contains("\"PATCH ")
        })
        .collect();
    assert!(
        second.iter().all(|l| !l.contains("/blobs/")),
        "no blob traffic: {second:#?}"
    );
    // One HEAD a side; at the source, for signatures, one referrers lookup (404: no API
    // here) and one tag listing (cosign's tags, the fallback index). Nothing else.
    let others: Vec<_> = second
        .iter()
        .filter(|l| !l.contains("\"HEAD ") && !l.contains("GET /v2/ "))
        .collect();
    assert_eq!(others.len(), 2, "{second:#?}");
    let asked = |what: &str| others.iter().filter(|l| l.contains(what)).count();
    assert_eq!(
        asked("\"GET /v2/src/app/referrers/sha256:"),
        1,
        "{second:#?}"
    );
    assert_eq!(asked("\"GET /v2/src/app/tags/list "), 1, "{second:#?}");
    assert_eq!(second.iter().filter(|l| l.contains("\"HEAD ")).count(), 2);
}

fn dst_digest(reg: &Registry, repo: &str, tag: &str) -> String {
    reg.client()
        .head_manifest(repo, tag)
        .expect("manifest present")
}

#[test]
fn dry_run_writes_nothing_and_reports_the_plan() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let img = image(Format::Oci, "linux", "amd64", None, &[10_000], 70);
    push_image(&src.client(), "app", Some("v1"), &img);

    let (code, stdout, stderr, report) = copy(
        &src.reference("app", "v1"),
        &dst.reference("app", "v1"),
        &["--dry-run"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(dst.client().catalog().is_empty());
    assert!(!dst.log().contains("\"PUT ") && !dst.log().contains("\"POST "));
    assert_eq!(report["dry_run"], true);
    let i = &report["images"][0];
    assert_eq!(i["status"], "planned");
    assert_eq!(i["converted"], true);
    assert!(stdout.contains("planned"), "{stdout}");
}

#[test]
fn chunked_uploads_with_chunk_size() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let img = image(Format::Docker, "linux", "amd64", None, &[5 << 20], 80);
    push_image(&src.client(), "app", Some("v1"), &img);

    let (code, _, stderr, report) = copy(
        &src.reference("app", "v1"),
        &dst.reference("app", "v1"),
        &["--chunk-size", "1MiB"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(dst_digest(&dst, "app", "v1"), img.digest);
    let layer = &img.layer_digests()[0];
    assert_eq!(dst.client().get_blob("app", layer), img.layers[0].data);
    let patches = dst
        .log()
        .lines()
        .filter(|l| l.contains("\"PATCH /v2/app/blobs/uploads/"))
        .count();
    assert_eq!(patches, 5, "5 MiB in 1 MiB chunks");
    assert_eq!(report["images"][0]["blobs"]["copied"], 2);
}

#[test]
fn corrupt_source_blob_fails_and_writes_no_tag() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let img = image(Format::Docker, "linux", "amd64", None, &[2 << 20], 90);
    push_image(&src.client(), "app", Some("v1"), &img);
    let layer = img.layer_digests()[0].clone();
    let mut bad = img.layers[0].data.clone();
    bad[1000] ^= 0xff;
    src.corrupt_blob(&layer, &bad);

    let (code, _, stderr, report) = copy(
        &src.reference("app", "v1"),
        &dst.reference("app", "v1"),
        &["--retries", "1"],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        !dst.client().manifest_exists("app", "v1"),
        "no tag after a bad blob"
    );
    assert!(!dst.client().blob_exists("app", &layer));
    let i = &report["images"][0];
    assert_eq!(i["status"], "failed");
    let err = i["error"].as_str().unwrap();
    let actual = crate::support::sha256_digest(&bad);
    assert_eq!(
        err,
        format!(
            "blob `{}/app@{layer}` failed verification: its content has digest `{actual}`, expected `{layer}`\n\
             hint: the source served different bytes than its manifest names (after retries); \
             nothing was tagged, run again later or report it to the source registry",
            src.host()
        )
    );
    let (_, stdout, _, _) = copy(
        &src.reference("app", "v1"),
        &dst.reference("app", "v1"),
        &["--retries", "0"],
    );
    assert!(
        stdout.contains(&format!("  error: {}", err.replace('\n', "\n  "))),
        "{stdout}"
    );
}
