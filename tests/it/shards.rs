//! `plan --shards N`, `--shard I/N` and `report merge`: a list split across matrix jobs copies
//! every image exactly once, and the merged report adds up.

use crate::support::{bin, image_with_base, push_image, Format, Registry};
use serde_json::Value;

fn run(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut cli = bin();
    cli.args(args).write_stdin(stdin.to_string());
    let out = cli.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn three_shards_copy_every_image_once_and_merge_into_one_report() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let mut list = String::from("# seven images\n");
    for i in 0..7u64 {
        let img = image_with_base(Format::Docker, "linux", "amd64", None, &[], &[800], 90 + i);
        push_image(&src.client(), &format!("lib/app{i}"), Some("1"), &img);
        list.push_str(&format!(
            "- {}\n",
            src.reference(&format!("lib/app{i}"), "1")
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("images.txt");
    std::fs::write(&file, &list).unwrap();
    let file = file.to_str().unwrap();

    let (code, stdout, stderr) = run(&["plan", "--shards", "3", "-f", file], "");
    assert_eq!(code, 0, "{stderr}");
    let matrix: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(
        matrix,
        serde_json::json!({"include": [
            {"shard": "1/3", "images": 3},
            {"shard": "2/3", "images": 2},
            {"shard": "3/3", "images": 2},
        ]})
    );

    let mut reports = Vec::new();
    for entry in matrix["include"].as_array().unwrap() {
        let shard = entry["shard"].as_str().unwrap();
        let report = dir
            .path()
            .join(format!("report-{}.json", shard.replace('/', "-")));
        let (code, _, stderr) = run(
            &[
                "mirror",
                "-f",
                file,
                "--shard",
                shard,
                "--target-registry",
                &dst.host(),
                "--target-namespace",
                "m",
                "--report-json",
                report.to_str().unwrap(),
            ],
            "",
        );
        assert_eq!(code, 0, "{stderr}");
        let r: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        assert_eq!(r["summary"]["copied"], entry["images"], "{shard}");
        reports.push(report);
    }
    let mut catalog = dst.client().catalog();
    catalog.sort();
    assert_eq!(
        catalog,
        (0..7).map(|i| format!("m/app{i}")).collect::<Vec<_>>()
    );

    let merged = dir.path().join("merged.json");
    let summary = dir.path().join("summary.md");
    let mut args = vec!["report", "merge"];
    let paths: Vec<String> = reports
        .iter()
        .map(|p| p.to_str().unwrap().to_string())
        .collect();
    args.extend(paths.iter().map(String::as_str));
    args.extend([
        "--report-json",
        merged.to_str().unwrap(),
        "--summary",
        summary.to_str().unwrap(),
    ]);
    let (code, stdout, stderr) = run(&args, "");
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("7 images: 7 copied, 0 up to date, 0 failed"),
        "{stdout}"
    );
    let m: Value = serde_json::from_slice(&std::fs::read(&merged).unwrap()).unwrap();
    assert_eq!(m["summary"]["total"], 7);
    assert_eq!(m["summary"]["copied"], 7);
    assert_eq!(m["images"].as_array().unwrap().len(), 7);
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("**7** images: 7 copied"), "{md}");

    // A file that is not a report is named in the error.
    std::fs::write(dir.path().join("bad.json"), "{}").unwrap();
    let bad = dir.path().join("bad.json");
    let (code, _, stderr) = run(&["report", "merge", bad.to_str().unwrap()], "");
    assert_eq!(code, 2);
    assert!(
        stderr.contains("bad.json` is not a registry-mirror JSON report"),
        "{stderr}"
    );
    // `--shard` checks its form.
    let (code, _, stderr) = run(&["mirror", "-f", file, "--shard", "4/3"], "");
    assert_eq!(code, 2);
    assert!(stderr.contains("`4/3` is not a shard"), "{stderr}");
}
