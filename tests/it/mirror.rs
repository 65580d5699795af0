//! `mirror`: a list of images into the flattened target namespace, in parallel, against real
//! registries.

use std::collections::{BTreeSet, HashMap};

use crate::support::{
    bin, image_with_base, index, layers, push_image, push_index, AttestationStyle, Format, Registry,
};
use serde_json::Value;

/// Runs `mirror` with `list` on stdin into `dst`/mirrors; returns (exit code, stdout, stderr, report).
fn mirror(dst: &Registry, list: &str, extra: &[&str]) -> (i32, String, String, Value) {
    let mut cli = bin();
    let report = cli.home().join("report.json");
    cli.args([
        "mirror",
        "-f",
        "-",
        "--target-namespace",
        "mirrors",
        "--report-json",
    ])
    .arg(&report)
    .args(["--target-registry", &dst.host()])
    .args(extra)
    .write_stdin(list.to_string());
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

/// 30 images in the source: 20 Docker single-platform images and 10 OCI two-platform indexes
/// with attestations, all built on three shared base layer sets. Returns the list text and,
/// per flattened target name, the source digest and every blob the copy needs.
fn seed_thirty(src: &Registry) -> (String, HashMap<String, (String, BTreeSet<String>)>) {
    let bases = [
        layers(Format::Docker, &[300_000, 40_000], 1),
        layers(Format::Docker, &[250_000], 2),
        layers(Format::Oci, &[200_000, 10_000], 3),
    ];
    let client = src.client();
    let mut list = String::from("# thirty images\n");
    let mut expected = HashMap::new();
    for i in 0..20u64 {
        let base = &bases[(i % 2) as usize];
        let img = image_with_base(
            Format::Docker,
            "linux",
            "amd64",
            None,
            base,
            &[5_000 + i as usize],
            1000 + i,
        );
        let repo = format!("team{}/svc{i}", i % 3);
        push_image(&client, &repo, Some("1.0"), &img);
        list.push_str(&format!("- {}\n", src.reference(&repo, "1.0")));
        let blobs = img.blobs().into_iter().map(|(d, _)| d).collect();
        expected.insert(format!("svc{i}"), (img.digest.clone(), blobs));
    }
    for i in 0..10u64 {
        let base = &bases[2];
        let amd64 = image_with_base(
            Format::Oci,
            "linux",
            "amd64",
            None,
            base,
            &[3_000],
            2000 + i,
        );
        let arm64 = image_with_base(
            Format::Oci,
            "linux",
            "arm64",
            None,
            base,
            &[3_000],
            3000 + i,
        );
        let idx = index(Format::Oci, vec![amd64, arm64], AttestationStyle::Classic);
        let repo = format!("multi/app{i}");
        push_index(&client, &repo, "v2", &idx);
        list.push_str(&format!("{}\n", src.reference(&repo, "v2")));
        let blobs = idx
            .images
            .iter()
            .chain(&idx.attestations)
            .flat_map(|m| m.blobs().into_iter().map(|(d, _)| d))
            .collect();
        expected.insert(format!("app{i}"), (idx.digest.clone(), blobs));
    }
    (list, expected)
}

fn blob_upload_puts(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| {
            l.contains("\"PUT /v2/") && l.contains("/blobs/uploads/") && l.contains("\" 201 ")
        })
        .filter_map(|l| l.split("digest=sha256%3A").nth(1))
        .map(|rest| format!("sha256:{}", &rest[..64]))
        .collect()
}

#[test]
fn thirty_images_in_parallel_share_layers_by_mount_and_a_second_run_moves_nothing() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let (list, expected) = seed_thirty(&src);

    let (code, stdout, stderr, report) = mirror(
        &dst,
        &list,
        &["--parallel", "5", "--all-platforms", "--format", "preserve"],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(report["summary"]["total"], 30);
    assert_eq!(report["summary"]["copied"], 30, "{report:#}");
    let client = dst.client();
    for (name, (digest, _)) in &expected {
        let tag = if name.starts_with("app") { "v2" } else { "1.0" };
        assert_eq!(
            client
                .head_manifest(&format!("mirrors/{name}"), tag)
                .as_deref(),
            Some(digest.as_str()),
            "mirrors/{name}:{tag}"
        );
    }
    // Every distinct blob was uploaded to the target registry exactly once; every other
    // repository that needed it got it by a cross-repository mount.
    let unique: BTreeSet<&String> = expected.values().flat_map(|(_, b)| b).collect();
    let uploads = blob_upload_puts(&dst.log());
    let uploaded: BTreeSet<&String> = uploads.iter().collect();
    assert_eq!(uploads.len(), uploaded.len(), "a blob was uploaded twice");
    assert_eq!(uploaded, unique);
    let needed: usize = expected.values().map(|(_, b)| b.len()).sum();
    let s = &report["summary"];
    assert_eq!(s["blobs_copied"], unique.len());
    assert_eq!(
        s["blobs_mounted"].as_u64().unwrap()
            + s["blobs_copied"].as_u64().unwrap()
            + s["blobs_skipped"].as_u64().unwrap(),
        needed as u64
    );
    assert!(s["blobs_mounted"].as_u64().unwrap() > 30, "{s:#}");

    // Second run: every image up to date, not one blob request.
    let before = dst.log().lines().count();
    let (code, stdout, stderr, report) = mirror(
        &dst,
        &list,
        &["--parallel", "5", "--all-platforms", "--format", "preserve"],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(report["summary"]["skipped"], 30, "{report:#}");
    assert_eq!(report["summary"]["copied"], 0);
    let log = dst.log();
    let second: Vec<&str> = log
        .lines()
        .skip(before)
        .filter(|l| l.contains("/blobs/"))
        .collect();
    assert!(second.is_empty(), "{second:#?}");
}

#[test]
fn one_missing_tag_fails_alone() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let a = image_with_base(Format::Docker, "linux", "amd64", None, &[], &[1000], 10);
    let b = image_with_base(Format::Docker, "linux", "amd64", None, &[], &[1000], 11);
    push_image(&src.client(), "lib/a", Some("1"), &a);
    push_image(&src.client(), "lib/b", Some("1"), &b);
    let list = format!(
        "{}\n{}\n{}\n",
        src.reference("lib/a", "1"),
        src.reference("lib/missing", "1"),
        src.reference("lib/b", "1")
    );
    let (code, stdout, stderr, report) = mirror(&dst, &list, &[]);
    assert_eq!(code, 1, "{stdout}");
    // Not a terminal: no progress bar is drawn.
    assert!(
        !stderr.contains('\r') && !stderr.contains(" images "),
        "{stderr}"
    );
    assert_eq!(report["summary"]["copied"], 2);
    assert_eq!(report["summary"]["failed"], 1);
    // Reports in list order: the line that cannot be copied where it stands.
    assert_eq!(report["images"][1]["status"], "failed");
    assert_eq!(
        report["images"][1]["source"],
        src.reference("lib/missing", "1")
    );
    let error = report["images"][1]["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("line 2: not copied: "), "{error}");
    assert_eq!(dst.client().head_manifest("mirrors/a", "1"), Some(a.digest));
    assert_eq!(dst.client().head_manifest("mirrors/b", "1"), Some(b.digest));
}

#[test]
fn invalid_lines_or_a_collision_exit_2_and_write_nothing() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let a = image_with_base(Format::Docker, "linux", "amd64", None, &[], &[1000], 20);
    push_image(&src.client(), "one/app", Some("1"), &a);
    push_image(&src.client(), "two/app", Some("1"), &a);

    let list = format!("{}\nnginx\nNginx:1.27\n", src.reference("one/app", "1"));
    let (code, stdout, stderr, report) = mirror(&dst, &list, &[]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(stderr.contains("line 2"), "{stderr}");
    assert!(stderr.contains("line 3"), "{stderr}");
    assert!(stderr.contains("nginx:latest"), "{stderr}");
    assert!(report.is_null());

    let list = format!(
        "{}\n{}\n",
        src.reference("one/app", "1"),
        src.reference("two/app", "1")
    );
    let (code, _, stderr, _) = mirror(&dst, &list, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("line 1") && stderr.contains("line 2"),
        "{stderr}"
    );
    assert!(
        stderr.contains("one/app") && stderr.contains("two/app"),
        "{stderr}"
    );
    assert!(dst.client().catalog().is_empty());
    assert!(!dst.log().contains("\"PUT ") && !dst.log().contains("\"POST "));
}

#[test]
fn dry_run_plans_copy_up_to_date_and_overwrite_with_bytes_and_writes_nothing() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let new = image_with_base(
        Format::Docker,
        "linux",
        "amd64",
        None,
        &[],
        &[7000, 3000],
        30,
    );
    let same = image_with_base(Format::Docker, "linux", "amd64", None, &[], &[2000], 31);
    let moved = image_with_base(Format::Docker, "linux", "amd64", None, &[], &[4000], 32);
    let old = image_with_base(Format::Docker, "linux", "amd64", None, &[], &[5000], 33);
    push_image(&src.client(), "lib/new", Some("1"), &new);
    push_image(&src.client(), "lib/same", Some("1"), &same);
    push_image(&src.client(), "lib/moved", Some("1"), &moved);
    push_image(&dst.client(), "mirrors/same", Some("1"), &same);
    push_image(&dst.client(), "mirrors/moved", Some("1"), &old);
    let list = format!(
        "{}\n{}\n{}\n",
        src.reference("lib/new", "1"),
        src.reference("lib/same", "1"),
        src.reference("lib/moved", "1")
    );
    let before = dst.log().lines().count();

    let (code, stdout, stderr, report) = mirror(&dst, &list, &["--dry-run"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(report["dry_run"], true);
    let images = report["images"].as_array().unwrap();
    let by_target = |name: &str| {
        images
            .iter()
            .find(|i| i["target"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("no {name} in {report}"))
    };
    let blob_bytes = |img: &crate::support::Image| -> u64 {
        img.blobs().iter().map(|(_, b)| b.len() as u64).sum()
    };
    let n = by_target("/mirrors/new:1");
    assert_eq!(n["status"], "planned");
    assert_eq!(n["action"], "copy");
    assert_eq!(n["bytes"], blob_bytes(&new));
    let s = by_target("/mirrors/same:1");
    assert_eq!(s["status"], "planned");
    assert_eq!(s["action"], "up to date");
    assert_eq!(s["bytes"], 0);
    let m = by_target("/mirrors/moved:1");
    assert_eq!(m["action"], "would overwrite");
    assert_eq!(m["bytes"], blob_bytes(&moved));
    assert!(stdout.contains(": would overwrite ("), "{stdout}");
    assert!(stdout.contains(": up to date ("), "{stdout}");

    // Nothing was written: the tags are where they were, no upload, no manifest PUT.
    assert_eq!(dst.client().head_manifest("mirrors/new", "1"), None);
    assert_eq!(
        dst.client().head_manifest("mirrors/moved", "1"),
        Some(old.digest.clone())
    );
    let log = dst.log();
    let writes: Vec<&str> = log
        .lines()
        .skip(before)
        .filter(|l| l.contains("\"PUT ") || l.contains("\"POST ") || l.contains("\"PATCH "))
        // The seeding above may be logged late; only the binary's requests count here.
        .filter(|l| l.contains("registry-mirror/"))
        .collect();
    assert!(writes.is_empty(), "{writes:#?}");
}

/// Each source is looked up before it is copied: a line with a missing tag is reported
/// failed with the nearest tags and never reaches the target; the fine one is copied; exit 1.
/// `--dry-run` says the same and writes nothing.
#[test]
fn a_missing_tag_is_named_with_the_nearest_and_the_rest_is_copied() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let img = image_with_base(Format::Docker, "linux", "amd64", None, &[], &[3_000], 91);
    for tag in ["1.26.0", "1.27.0", "1.27.1"] {
        push_image(&src.client(), "team/web", Some(tag), &img);
    }
    let list = format!(
        "{}\n{}\n",
        src.reference("team/web", "1.27.9"),
        src.reference("team/web", "1.27.1"),
    );
    let missing = src.reference("team/web", "1.27.9");
    let error_of = |report: &Value| {
        report["images"]
            .as_array()
            .and_then(|a| a.iter().find(|i| i["source"] == missing.as_str()))
            .map(|i| {
                (
                    i["status"].clone(),
                    i["error"].as_str().unwrap_or("").to_string(),
                )
            })
            .expect("the missing line's report")
    };

    let (code, stdout, stderr, report) = mirror(&dst, &list, &["--dry-run"]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let (status, error) = error_of(&report);
    assert_eq!(status, "failed");
    assert!(
        error.starts_with("line 1: not copied: no tag `1.27.9`; nearest: 1.27.1, 1.27.0"),
        "{error}"
    );
    assert!(
        stdout.contains("hint: write one of the tags that exist, e.g. `1.27.1`"),
        "{stdout}"
    );
    assert!(
        dst.client().catalog().is_empty(),
        "a dry run writes nothing"
    );

    let before = src.log().lines().count();
    let (code, stdout, stderr, report) = mirror(&dst, &list, &[]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert_eq!(error_of(&report).0, "failed");
    // The copy starts from the look-up's answer: one HEAD of the fine source, not two.
    let heads = src
        .requests_after(before)
        .iter()
        .filter(|r| r.starts_with("HEAD /v2/team/web/manifests/1.27.1"))
        .count();
    assert_eq!(heads, 1, "{:#?}", src.requests_after(before));
    assert_eq!(report["summary"]["copied"], 1);
    assert_eq!(report["summary"]["failed"], 1);
    let c = dst.client();
    assert_eq!(
        c.head_manifest("mirrors/web", "1.27.1").as_deref(),
        Some(img.digest.as_str())
    );
    assert!(!c.manifest_exists("mirrors/web", "1.27.9"));
}

/// The look-up before the copy costs no request the copy would not send: its `HEAD` and its
/// read of a multi-platform index are the copy's own.
#[test]
fn the_look_up_first_sends_no_request_twice() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let amd = crate::support::image(Format::Oci, "linux", "amd64", None, &[3_000], 95);
    let arm = crate::support::image(Format::Oci, "linux", "arm64", None, &[4_000], 96);
    let idx = index(Format::Oci, vec![amd, arm], AttestationStyle::None);
    push_index(&src.client(), "team/multi", "v1", &idx);
    let list = format!("{}\n", src.reference("team/multi", "v1"));
    let (code, stdout, stderr, _) =
        mirror(&dst, &list, &["--all-platforms", "--format", "preserve"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let requests = src.requests_after(0);
    let count = |prefix: &str| requests.iter().filter(|r| r.starts_with(prefix)).count();
    assert_eq!(
        count("HEAD /v2/team/multi/manifests/v1"),
        1,
        "{requests:#?}"
    );
    let index_get = format!("GET /v2/team/multi/manifests/{}", idx.digest);
    assert_eq!(count(&index_get), 1, "{requests:#?}");
    assert_eq!(
        dst.client().head_manifest("mirrors/multi", "v1").as_deref(),
        Some(idx.digest.as_str())
    );
}
