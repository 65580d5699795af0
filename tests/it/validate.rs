//! `validate`: offline parsing of lists and issue bodies, the normalized plan, exit codes.

use crate::support::bin;

fn validate(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut cli = bin();
    cli.arg("validate")
        .args(args)
        .write_stdin(stdin.to_string());
    let out = cli.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn prints_the_normalized_plan() {
    let (code, stdout, stderr) = validate(
        &[
            "-f",
            "-",
            "--target-registry",
            "r.example.com",
            "--target-namespace",
            "mirrors",
        ],
        "```\n- nginx:1.27\n- registry.k8s.io/pause:3.9 k8s/pause\n- nginx:1.27\n```\n",
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "line   2: docker.io/library/nginx:1.27 -> r.example.com/mirrors/nginx:1.27 [linux/amd64]\n\
         line   3: registry.k8s.io/pause:3.9 -> r.example.com/mirrors/k8s/pause:3.9 [linux/amd64]\n\
         2 images valid\n"
    );
    assert!(
        stderr.contains("line 4: `nginx:1.27` repeats line 2; copied once"),
        "{stderr}"
    );
}

#[test]
fn every_bad_line_is_reported_with_exit_2() {
    let (code, stdout, stderr) = validate(&["-f", "-"], "nginx:1.27\nnginx\nalpine：3.20\n");
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert_eq!(
        stderr,
        "error: 2 invalid lines; nothing was copied:\n  \
         line 2: `nginx`: has no tag\n    hint: write `nginx:latest` to copy the latest tag\n  \
         line 3: `alpine：3.20`: contains full-width characters\n    hint: write it in ASCII: `alpine:3.20`\n"
    );
}

#[test]
fn a_collision_names_both_lines() {
    let (code, _, stderr) = validate(
        &[
            "--target-registry",
            "r.io",
            "gcr.io/google-containers/pause:3.9",
            "registry.k8s.io/pause:3.9",
        ],
        "",
    );
    assert_eq!(code, 2);
    assert!(
        stderr.contains("line 2 (`registry.k8s.io/pause:3.9`) and line 1 (`gcr.io/google-containers/pause:3.9`) both map to `r.io/pause:3.9`"),
        "{stderr}"
    );
    let (code, stdout, _) = validate(
        &[
            "--target-registry",
            "r.io",
            "--naming",
            "path",
            "gcr.io/google-containers/pause:3.9",
            "registry.k8s.io/pause:3.9",
        ],
        "",
    );
    assert_eq!(code, 0);
    assert!(
        stdout.contains("-> r.io/google-containers/pause:3.9"),
        "{stdout}"
    );
}

#[test]
fn reads_the_issue_form() {
    let body = "### Images\n\nnginx:1.27\nquay.io/prometheus/node-exporter:v1.8.0\n\n### Platforms\n\nlinux/amd64,linux/arm64\n\n### Options\n\n- [ ] Sync all architectures\n";
    let (code, stdout, stderr) = validate(
        &["--issue-body", "-", "--target-registry", "r.io", "--json"],
        body,
    );
    assert_eq!(code, 0, "{stderr}");
    let plan: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        plan,
        serde_json::json!({"images": [
            {"line": 1, "source": "docker.io/library/nginx:1.27", "target": "r.io/nginx:1.27", "platforms": ["linux/amd64", "linux/arm64"]},
            {"line": 2, "source": "quay.io/prometheus/node-exporter:v1.8.0", "target": "r.io/node-exporter:v1.8.0", "platforms": ["linux/amd64", "linux/arm64"]}
        ]})
    );
}

#[test]
fn too_many_images_is_a_clear_error() {
    let list: String = (0..3).map(|i| format!("app{i}:1\n")).collect();
    // From a file or stdin, reading stops at the first line past the limit.
    let (code, _, stderr) = validate(&["-f", "-", "--max-images", "2"], &list);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("error: the list from stdin has more than 2 images (`--max-images`); reading stopped at line 3, nothing was copied"),
        "{stderr}"
    );
    assert!(
        stderr.contains("\nhint: split the list, or raise the limit with `--max-images N`"),
        "{stderr}"
    );
    // Named as arguments, the whole list is counted.
    let (code, _, stderr) = validate(&["--max-images", "2", "a:1", "b:1", "c:1"], "");
    assert_eq!(code, 2);
    assert!(
        stderr.contains("the list has 3 images, more than the limit of 2"),
        "{stderr}"
    );
    assert!(stderr.contains("`--max-images 3`"), "{stderr}");
}

#[test]
fn a_layout_target_shows_the_names_in_the_layout() {
    let (code, stdout, stderr) = validate(
        &[
            "-f",
            "-",
            "--target-registry",
            "oci:./bundle",
            "--target-namespace",
            "m",
        ],
        "nginx:1.27\ngcr.io/distroless/static:nonroot\n",
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "line   1: docker.io/library/nginx:1.27 -> oci:./bundle:m/nginx:1.27 [linux/amd64]\n\
         line   2: gcr.io/distroless/static:nonroot -> oci:./bundle:m/static:nonroot [linux/amd64]\n\
         2 images valid\n"
    );
}

#[test]
fn every_command_shows_examples_in_its_help() {
    for cmd in [
        &["copy"][..],
        &["sync"],
        &["mirror"],
        &["issue"],
        &["run"],
        &["validate"],
        &["plan"],
        &["report", "merge"],
    ] {
        let mut cli = bin();
        cli.args(cmd).arg("--help");
        let out = cli.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{cmd:?}");
        assert!(
            text.contains("Examples:"),
            "{cmd:?} --help has no examples:\n{text}"
        );
        assert!(text.contains("registry-mirror "), "{cmd:?}");
    }
}

/// `--online` against the real registry: a fine line, a missing tag, a missing repository and
/// a missing platform, each with what does exist; nothing read but HEADs, tag lists and the
/// one index, nothing written.
#[test]
fn online_says_what_is_missing_and_what_exists_instead() {
    use crate::support::{
        image, index, push_image, push_index, AttestationStyle, Format, Registry,
    };
    let reg = Registry::anonymous();
    let c = reg.client();
    let img = image(Format::Docker, "linux", "amd64", None, &[1_000], 71);
    for tag in [
        "1.26.3", "1.27.0", "1.27.1", "1.27.2", "1.27.3", "1.27.4", "1.27.5", "latest",
    ] {
        push_image(&c, "app", Some(tag), &img);
    }
    let amd = image(Format::Oci, "linux", "amd64", None, &[1_500], 72);
    let idx = index(Format::Oci, vec![amd], AttestationStyle::None);
    push_index(&c, "multi", "v1", &idx);
    let before = reg.log().lines().count();

    let list = format!(
        "{}\n{}\n{}\n{}\n",
        reg.reference("app", "1.27.5"),
        reg.reference("app", "1.27.9"),
        reg.reference("nothere/app", "1"),
        reg.reference("multi", "v1"),
    );
    let (code, stdout, stderr) = validate(
        &[
            "--online",
            "-f",
            "-",
            "--platform",
            "linux/amd64,linux/arm64",
        ],
        &list,
    );
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("ok:") || l.trim_start().starts_with("error:"))
        .collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(
        lines[0].contains("ok: found (platforms not read: a single-platform image"),
        "{stdout}"
    );
    assert_eq!(
        lines[1].trim(),
        "error: no tag `1.27.9`; nearest: 1.27.5, 1.27.4, 1.27.3, 1.27.2, 1.27.1"
    );
    assert!(lines[2].contains("error: no such repository"), "{stdout}");
    assert_eq!(
        lines[3].trim(),
        "error: no linux/arm64 in this image; it has linux/amd64"
    );
    assert!(
        stdout.ends_with("1 of 4 sources found as asked\n"),
        "{stdout}"
    );

    // Read only: no blob, no write.
    let requests = reg.requests_after(before);
    assert!(
        requests.iter().all(|r| !r.contains("/blobs/")),
        "{requests:#?}"
    );
    assert!(
        requests
            .iter()
            .all(|r| r.starts_with("GET ") || r.starts_with("HEAD ")),
        "{requests:#?}"
    );
    let gets: Vec<&String> = requests
        .iter()
        .filter(|r| r.starts_with("GET ") && r.contains("/manifests/"))
        .collect();
    assert_eq!(gets.len(), 1, "only the index is read: {gets:#?}");

    // The same as JSON, and a fine list exits 0.
    let (code, stdout, _) = validate(&["--online", "--json", "-f", "-"], &list);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let statuses: Vec<&str> = v["images"]
        .as_array()
        .expect("images")
        .iter()
        .map(|i| i["lookup"]["status"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        statuses,
        ["found", "missing-tag", "missing-repository", "found"]
    );
    assert_eq!(v["images"][1]["lookup"]["nearest"][0], "1.27.5");
    let fine = format!("{}\n", reg.reference("app", "latest"));
    let (code, stdout, stderr) = validate(&["--online", "-f", "-"], &fine);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
}

/// `--online` with a target: a found line says what its copy would move (the blobs the target
/// lacks, from the source's manifests and a blob `HEAD` a blob on the target), or that the
/// target is up to date. The source gets manifest reads only; the target `HEAD`s only.
/// The requests registry-mirror sent to `r` after the first `skip` log lines, as `METHOD
/// PATH?QUERY` (the tests' own seeding may be logged late, so it is told apart by the agent).
fn binary_requests(r: &crate::support::Registry, skip: usize) -> Vec<String> {
    r.log()
        .lines()
        .skip(skip)
        .filter(|l| l.contains("registry-mirror/"))
        .filter_map(|l| l.split('"').nth(1))
        .filter_map(|r| r.strip_suffix(" HTTP/1.1"))
        .map(str::to_string)
        .collect()
}

#[test]
fn online_counts_the_bytes_a_copy_would_move() {
    use crate::support::{
        image, index, push_image, push_index, AttestationStyle, Format, Registry,
    };
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let (s, d) = (src.client(), dst.client());
    // One image with four blobs (config and three layers), half of them already in the target.
    let app = image(
        Format::Docker,
        "linux",
        "amd64",
        None,
        &[1_000, 20_000, 300_000],
        81,
    );
    push_image(&s, "team/app", Some("v1"), &app);
    let blobs = app.blobs();
    for (_, data) in &blobs[..2] {
        d.push_blob("m/app", data);
    }
    let lacking: usize = blobs[2..].iter().map(|(_, data)| data.len()).sum();
    // Two platforms, none of their blobs in the target.
    let amd = image(Format::Docker, "linux", "amd64", None, &[5_000], 82);
    let arm = image(Format::Docker, "linux", "arm64", None, &[6_000], 83);
    let multi_bytes: usize = [&amd, &arm]
        .iter()
        .flat_map(|i| i.blobs())
        .map(|(_, data)| data.len())
        .sum();
    let idx = index(Format::Docker, vec![amd, arm], AttestationStyle::None);
    push_index(&s, "team/multi", "v1", &idx);
    // Already mirrored: the target tag points at the source's digest.
    let done = image(Format::Docker, "linux", "amd64", None, &[2_000], 84);
    push_image(&s, "team/done", Some("v1"), &done);
    push_image(&d, "m/done", Some("v1"), &done);
    let (src_before, dst_before) = (src.log().lines().count(), dst.log().lines().count());

    let list = format!(
        "{}\n{}\n{}\n",
        src.reference("team/app", "v1"),
        src.reference("team/multi", "v1"),
        src.reference("team/done", "v1"),
    );
    let args = [
        "--online",
        "-f",
        "-",
        "--platform",
        "linux/amd64,linux/arm64",
        "--target-registry",
        &dst.host(),
        "--target-namespace",
        "m",
    ];
    let (code, stdout, stderr) = validate(&args, &list);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let oks: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("ok: "))
        .collect();
    let human = |n: usize| {
        let kib = n as f64 / 1024.0;
        if kib >= 1024.0 {
            format!("{:.1} MiB", kib / 1024.0)
        } else {
            format!("{kib:.1} KiB")
        }
    };
    assert_eq!(
        oks,
        [
            format!(
                "found (platforms not read: a single-platform image (its platform is in its config blob)); would move {} in 2 of 4 blobs",
                human(lacking)
            ),
            format!(
                "found [linux/amd64, linux/arm64]; would move {} in 4 of 4 blobs",
                human(multi_bytes)
            ),
            "found (platforms not read: a single-platform image (its platform is in its config blob)); up to date (the target tag points at what would be written)".to_string(),
        ],
        "{stdout}"
    );

    // The source: HEADs, manifest GETs and tag lists; never a blob.
    let requests = binary_requests(&src, src_before);
    assert!(
        requests
            .iter()
            .all(|r| (r.starts_with("GET ") || r.starts_with("HEAD ")) && !r.contains("/blobs/")),
        "{requests:#?}"
    );
    // The target: HEADs only (and the ping), nothing read, nothing written.
    let requests = binary_requests(&dst, dst_before);
    assert!(
        requests
            .iter()
            .all(|r| r.starts_with("HEAD ") || r == "GET /v2/"),
        "{requests:#?}"
    );
    assert_eq!(
        requests.iter().filter(|r| r.contains("/blobs/")).count(),
        8,
        "one HEAD a blob of the two images that are not up to date: {requests:#?}"
    );

    // The same as JSON.
    let (code, stdout, _) = validate(&[&args[..], &["--json"]].concat(), &list);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let lookup = |i: usize| v["images"][i]["lookup"].clone();
    assert_eq!(lookup(0)["bytes"], lacking);
    assert_eq!(
        (
            lookup(0)["blobs_missing"].clone(),
            lookup(0)["blobs_total"].clone()
        ),
        (2.into(), 4.into())
    );
    assert_eq!(lookup(1)["bytes"], multi_bytes);
    assert_eq!(lookup(2)["up_to_date"], true);
    assert_eq!(lookup(2)["bytes"], 0);

    // Without a target there is nothing to count against.
    let (code, stdout, _) = validate(&["--online", "-f", "-"], &list);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("; bytes not counted: no target registry given (`--target-registry`)"),
        "{stdout}"
    );
}

#[test]
fn online_counts_what_would_be_written_for_the_targets_profile() {
    use crate::support::{image, index, push_index, AttestationStyle, Format, Registry};
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let amd = image(Format::Oci, "linux", "amd64", None, &[5_000], 91);
    let arm = image(Format::Oci, "linux", "arm64", None, &[6_000], 92);
    let idx = index(Format::Oci, vec![amd, arm], AttestationStyle::None);
    push_index(&src.client(), "team/oci", "v1", &idx);
    let list = format!("{}\n", src.reference("team/oci", "v1"));
    let mut cli = bin();
    cli.args(["validate", "--online", "-f", "-", "--all-platforms"])
        .args(["--target-registry", &dst.host(), "--target-namespace", "m"])
        .args(["--target-profile", "swr"])
        .env("FORMAT", "oci")
        .write_stdin(list);
    let out = cli.output().expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("in 4 of 4 blobs; written as Docker v2s2: Huawei SWR refuses OCI indexes"),
        "{stdout}"
    );
}
