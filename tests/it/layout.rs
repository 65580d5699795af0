//! OCI image layouts (`oci:PATH[:NAME]`) as the target and the source of `copy`, checked with
//! the peer tool: skopeo reads what we write, and we push what skopeo wrote.

use crate::support::{bin, image_with_base, index, push_index, AttestationStyle, Format, Registry};
use serde_json::Value;
use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String, Value) {
    let mut cli = bin();
    cli.args(args);
    let o = cli.run_with_report();
    (o.code, o.stdout, o.stderr, o.report)
}

fn skopeo(args: &[&str]) -> String {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo must be installed (./.ci/test installs it)");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_multi_arch_image_goes_into_a_layout_byte_for_byte_and_skopeo_reads_it() {
    let src = Registry::anonymous();
    let amd64 = image_with_base(Format::Oci, "linux", "amd64", None, &[], &[3000, 1000], 1);
    let arm64 = image_with_base(Format::Oci, "linux", "arm64", None, &[], &[2000], 2);
    let idx = index(Format::Oci, vec![amd64, arm64], AttestationStyle::Classic);
    push_index(&src.client(), "team/app", "v1", &idx);
    let dir = tempfile::tempdir().unwrap();
    let target = format!("oci:{}:app-v1", dir.path().display());

    let (code, stdout, stderr, report) = run(&[
        "copy",
        "--all-platforms",
        "--format",
        "preserve",
        &src.reference("team/app", "v1"),
        &target,
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(report["images"][0]["status"], "copied");
    assert_eq!(report["images"][0]["digest"], idx.digest);
    assert_eq!(report["images"][0]["target"], target);
    let index_json: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    assert_eq!(index_json["manifests"][0]["digest"], idx.digest);
    assert_eq!(
        index_json["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "app-v1"
    );
    // The peer tool reads the layout: the same index, byte for byte.
    let raw = skopeo(&["inspect", "--raw", &target]);
    assert_eq!(crate::support::sha256_digest(raw.as_bytes()), idx.digest);
    for child in idx.child_digests() {
        let hex = child.trim_start_matches("sha256:");
        assert!(
            dir.path().join("blobs/sha256").join(hex).is_file(),
            "{child}"
        );
    }

    // Again: up to date, nothing read but manifests.
    let (code, _, stderr, report) = run(&[
        "copy",
        "--all-platforms",
        "--format",
        "preserve",
        &src.reference("team/app", "v1"),
        &target,
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["images"][0]["status"], "skipped");

    // One platform under another name; a layout holds OCI manifests (the default v2s2 means OCI).
    let (code, _, stderr, report) = run(&[
        "copy",
        "--platform",
        "linux/arm64",
        &src.reference("team/app", "v1"),
        &format!("oci:{}:app-arm64", dir.path().display()),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        report["images"][0]["platforms"],
        serde_json::json!(["linux/arm64"])
    );
    let raw: Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--raw",
        &format!("oci:{}:app-arm64", dir.path().display()),
    ]))
    .unwrap();
    assert_eq!(
        raw["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    // OCI in, OCI out: the arm64 image byte for byte.
    assert_eq!(
        report["images"][0]["digest"],
        idx.image_for("linux", "arm64").unwrap().digest
    );
}

#[test]
fn a_layout_written_by_skopeo_is_pushed_to_a_registry_and_a_corrupt_blob_is_refused() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let img = image_with_base(Format::Docker, "linux", "amd64", None, &[], &[4000], 3);
    crate::support::push_image(&src.client(), "lib/tool", Some("2.0"), &img);
    let dir = tempfile::tempdir().unwrap();
    let layout = format!("oci:{}:tool-2.0", dir.path().display());
    skopeo(&[
        "copy",
        "-q",
        "--src-tls-verify=false",
        &format!("docker://{}", src.reference("lib/tool", "2.0")),
        &layout,
    ]);
    let index_json: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    let layout_digest = index_json["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();

    let (code, stdout, stderr, report) = run(&[
        "copy",
        "--format",
        "preserve",
        &layout,
        &format!("{}/mirror/tool:2.0", dst.host()),
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(report["images"][0]["source"], layout);
    assert_eq!(report["images"][0]["source_digest"], layout_digest);
    assert_eq!(
        dst.client().head_manifest("mirror/tool", "2.0"),
        Some(layout_digest.clone())
    );

    // A layer whose bytes no longer match its digest: the copy fails, nothing is tagged.
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(
            dir.path()
                .join("blobs/sha256")
                .join(layout_digest.trim_start_matches("sha256:")),
        )
        .unwrap(),
    )
    .unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let path = dir
        .path()
        .join("blobs/sha256")
        .join(layer.trim_start_matches("sha256:"));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[10] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let (code, _, stderr, report) = run(&[
        "copy",
        "--format",
        "preserve",
        &layout,
        &format!("{}/mirror/other:broken", dst.host()),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        report["images"][0]["error"]
            .as_str()
            .unwrap()
            .contains("digest"),
        "{report}"
    );
    assert_eq!(dst.client().head_manifest("mirror/other", "broken"), None);

    // A name the layout does not have.
    let (code, _, stderr, _) = run(&[
        "copy",
        &format!("oci:{}:nope", dir.path().display()),
        &format!("{}/x/y:1", dst.host()),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("nope"), "{stderr}");
}

#[test]
fn mirror_into_a_layout_names_each_image_by_its_target_path() {
    let src = Registry::anonymous();
    let a = image_with_base(Format::Docker, "linux", "amd64", None, &[], &[1500], 4);
    let b = image_with_base(Format::Oci, "linux", "amd64", None, &[], &[1500], 5);
    crate::support::push_image(&src.client(), "library/web", Some("1.27"), &a);
    crate::support::push_image(&src.client(), "google-containers/pause", Some("3.9"), &b);
    let dir = tempfile::tempdir().unwrap();
    let target = format!("oci:{}", dir.path().display());
    let list = format!(
        "{}\n{}\n",
        src.reference("library/web", "1.27"),
        src.reference("google-containers/pause", "3.9")
    );
    let mirror = || {
        let mut cli = bin();
        cli.args(["mirror", "-f", "-", "--target-registry", &target])
            .args(["--target-namespace", "mirrors"])
            .write_stdin(list.clone());
        let o = cli.run_with_report();
        (o.code, o.stderr, o.report)
    };
    let (code, stderr, report) = mirror();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["summary"]["copied"], 2);
    assert_eq!(
        report["images"][0]["target"],
        format!("{target}:mirrors/web:1.27")
    );
    // skopeo finds both by name; the Docker image was written as OCI.
    let web: Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--raw",
        &format!("{target}:mirrors/web:1.27"),
    ]))
    .unwrap();
    assert_eq!(
        web["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let pause = skopeo(&["inspect", "--raw", &format!("{target}:mirrors/pause:3.9")]);
    assert_eq!(crate::support::sha256_digest(pause.as_bytes()), b.digest);
    // Again: both up to date.
    let (code, stderr, report) = mirror();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["summary"]["skipped"], 2);
}

#[test]
fn an_offline_bundle_round_trip_mirror_into_a_layout_then_sync_it_into_a_registry() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let web = image_with_base(Format::Docker, "linux", "amd64", None, &[], &[1200], 6);
    let api = image_with_base(Format::Oci, "linux", "amd64", None, &[], &[1300], 7);
    crate::support::push_image(&src.client(), "library/web", Some("1.27"), &web);
    crate::support::push_image(&src.client(), "team/api", Some("2.0"), &api);
    crate::support::push_image(&src.client(), "team/api", Some("2.1-rc.1"), &api);
    let dir = tempfile::tempdir().unwrap();
    let bundle = format!("oci:{}", dir.path().display());
    let list = format!(
        "{}\n{}\n{}\n",
        src.reference("library/web", "1.27"),
        src.reference("team/api", "2.0"),
        src.reference("team/api", "2.1-rc.1"),
    );
    let mut cli = bin();
    // `--format preserve` both ways: the bundle and the registry keep the source's digests.
    cli.args([
        "mirror",
        "--format",
        "preserve",
        "-f",
        "-",
        "--target-registry",
        &bundle,
        "--target-namespace",
        "m",
    ])
    .write_stdin(list);
    let out = cli.run_with_report();
    assert_eq!(out.code, 0, "{}", out.stderr);

    // The other side of the air gap: every image of the bundle, prereleases left out.
    let sync_bundle = || {
        let mut cli = bin();
        cli.args(["sync", "--format", "preserve", &bundle])
            .arg(format!("{}/imported", dst.host()))
            .args(["--exclude", "-rc"]);
        cli.run_with_report()
    };
    let out = sync_bundle();
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.report["summary"]["copied"], 2);
    assert!(
        out.stdout
            .contains("  drop  2.1-rc.1: matches --exclude `-rc`"),
        "{}",
        out.stdout
    );
    let c = dst.client();
    let mut catalog = c.catalog();
    catalog.sort();
    assert_eq!(catalog, ["imported/m/api", "imported/m/web"]);
    assert_eq!(
        c.head_manifest("imported/m/web", "1.27"),
        Some(web.digest.clone())
    );
    assert_eq!(
        c.head_manifest("imported/m/api", "2.0"),
        Some(api.digest.clone())
    );
    assert_eq!(c.head_manifest("imported/m/api", "2.1-rc.1"), None);

    // Again: nothing to do.
    let out = sync_bundle();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.report["summary"]["skipped"], 2);
}
