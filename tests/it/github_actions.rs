//! Under `GITHUB_ACTIONS=true`: secrets masked first, a group per image, annotations for
//! failures, and the step outputs in `GITHUB_OUTPUT`.

use crate::support::{bin, image, push_image, Format, Registry};

#[test]
fn actions_mode_masks_groups_annotates_and_writes_outputs() {
    let src = Registry::anonymous();
    let dst = Registry::basic("ci-bot", "ci-pa55");
    let img = image(Format::Docker, "linux", "amd64", None, &[2000], 900);
    push_image(&src.client(), "app", Some("v1"), &img);

    let cli = bin();
    let temp = cli.home().join("runner-temp");
    std::fs::create_dir_all(&temp).unwrap();
    let outputs = cli.home().join("github-output");
    let summary = cli.home().join("step-summary.md");
    let mut cli = cli;
    cli.args([
        "copy",
        &src.reference("app", "v1"),
        &dst.reference("app", "v1"),
    ])
    .env("GITHUB_ACTIONS", "true")
    .env("RUNNER_TEMP", &temp)
    .env("GITHUB_OUTPUT", &outputs)
    .env("GITHUB_STEP_SUMMARY", &summary)
    .env("TARGET_REGISTRY_USER", "ci-bot")
    .env("TARGET_REGISTRY_PASSWORD", "ci-pa55");
    let out = cli.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("::add-mask::ci-pa55\n"), "{stdout}");
    assert_eq!(
        stdout.matches("ci-pa55").count(),
        1,
        "only the mask command names it"
    );
    assert!(
        stdout.contains(&format!(
            "::group::copied {} -> {}\ncopied   ",
            src.reference("app", "v1"),
            dst.reference("app", "v1")
        )),
        "{stdout}"
    );
    assert!(stdout.contains("::endgroup::"), "{stdout}");
    let report = temp.join("registry-mirror-report.json");
    assert_eq!(
        std::fs::read_to_string(&outputs).unwrap(),
        format!(
            "copied=1\nskipped=0\nfailed=0\nreport={}\n",
            report.display()
        )
    );
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["summary"]["copied"], 1);
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("| ✅ copied |"), "{md}");

    // A failure: an error annotation, `failed=1`, exit 1.
    let mut cli = bin();
    let outputs = cli.home().join("github-output");
    let home = cli.home().to_path_buf();
    cli.args([
        "copy",
        &src.reference("app", "missing"),
        &dst.reference("app", "missing"),
    ])
    .env("GITHUB_ACTIONS", "true")
    .env("RUNNER_TEMP", &home)
    .env("GITHUB_OUTPUT", &outputs);
    let out = cli.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout.contains(&format!(
            "::error title=registry-mirror%3A {} failed::manifest `{}` not found%0Ahint: ",
            src.reference("app", "missing").replace(':', "%3A"),
            src.reference("app", "missing")
        )),
        "{stdout}"
    );
    assert!(std::fs::read_to_string(&outputs)
        .unwrap()
        .contains("failed=1\n"));
}
