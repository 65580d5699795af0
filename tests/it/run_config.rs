//! `run --config`: jobs of a YAML config against real registries, defaults merged under each
//! job, credentials named by environment variable, job selection, and config errors.

use crate::support::{bin, image_with_base, push_image, Format, Image, Outcome, Registry};

fn run(config: &str, args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let mut cli = bin();
    let file = cli.home().join("mirror.yaml");
    std::fs::write(&file, config).unwrap();
    cli.args(["run", "--config"]).arg(&file).args(args);
    for (k, v) in env {
        cli.env(k, v);
    }
    cli.run_with_report()
}

fn seed(src: &Registry, repo: &str, tags: &[&str], seed: u64) -> Image {
    let img = image_with_base(Format::Docker, "linux", "amd64", None, &[], &[1500], seed);
    let client = src.client();
    push_image(&client, repo, Some(tags[0]), &img);
    for t in &tags[1..] {
        client.push_manifest(repo, t, &img.media_type, &img.manifest);
    }
    img
}

fn config(src: &Registry, dst: &Registry) -> String {
    format!(
        r#"version: 1
defaults:
  target: {{registry: "{dst}", namespace: mirrors}}
  platforms: [linux/amd64]
  parallel: 2
registries:
  "{dst}": {{username_env: MIRROR_USER, password_env: MIRROR_PASSWORD}}
jobs:
  - name: base images
    images: |
      {src}/library/web:1.0
      - {src}/team/api:2.0   # bullets and comments work here too
  - name: app releases
    sync: {src}/apps/app
    include: ['^1\.']
    keep_latest: 1
    naming: path
    target: {{namespace: synced}}
"#,
        src = src.host(),
        dst = dst.host()
    )
}

#[test]
fn jobs_run_in_order_with_defaults_merged_and_credentials_from_named_variables() {
    let src = Registry::anonymous();
    let dst = Registry::basic("robot", "s3cret-pw");
    let web = seed(&src, "library/web", &["1.0"], 1);
    let api = seed(&src, "team/api", &["2.0"], 2);
    let app = seed(&src, "apps/app", &["1.0", "1.1", "2.0-rc.1", "latest"], 3);
    let env = [("MIRROR_USER", "robot"), ("MIRROR_PASSWORD", "s3cret-pw")];

    // The merged plan first: nothing written.
    let o = run(&config(&src, &dst), &["--dry-run"], &env);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let d = dst.host();
    assert!(o.stdout.contains(&format!("== job `base images`: 2 images; target {d}/mirrors (flatten naming); linux/amd64; format v2s2; parallel 2")), "{}", o.stdout);
    assert!(o.stdout.contains(&format!("== job `app releases`: sync {}/apps/app -> {d}/synced/apps/app; target {d}/synced (path naming)", src.host())), "{}", o.stdout);
    assert!(o.stdout.contains("  keep  1.1\n"), "{}", o.stdout);
    assert!(
        o.stdout
            .contains("  drop  2.0-rc.1: matches no --include pattern\n"),
        "{}",
        o.stdout
    );
    assert_eq!(o.report["summary"]["total"], 3);
    assert!(dst.client().catalog().is_empty());

    let o = run(&config(&src, &dst), &[], &env);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let c = dst.client();
    assert_eq!(c.head_manifest("mirrors/web", "1.0"), Some(web.digest));
    assert_eq!(c.head_manifest("mirrors/api", "2.0"), Some(api.digest));
    assert_eq!(c.head_manifest("synced/apps/app", "1.1"), Some(app.digest));
    assert_eq!(c.tags("synced/apps/app"), ["1.1"]);
    assert_eq!(o.report["summary"]["copied"], 3);
    assert_eq!(o.report["sync"][0]["kept"], serde_json::json!(["1.1"]));
    assert!(!o.stdout.contains("s3cret-pw") && !o.stderr.contains("s3cret-pw"));

    // One job by name; the rest are left alone.
    let o = run(&config(&src, &dst), &["--job", "app releases"], &env);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert_eq!(o.report["summary"]["total"], 1);
    assert_eq!(o.report["summary"]["skipped"], 1);
}

#[test]
fn missing_credentials_unknown_jobs_and_config_errors_are_usage_errors() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let text = config(&src, &dst);

    let o = run(&text, &[], &[("MIRROR_USER", "robot")]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("error: `MIRROR_PASSWORD` is not set (named in `"),
        "{}",
        o.stderr
    );

    let env = [("MIRROR_USER", "u"), ("MIRROR_PASSWORD", "p")];
    let o = run(&text, &["--job", "nope"], &env);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("error: no job named `nope`"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr
            .contains("hint: the jobs are: `base images`, `app releases`"),
        "{}",
        o.stderr
    );

    let bad = text.replace(
        "    keep_latest: 1\n",
        "    keep_latest: 1\n    keep_lates: 2\n",
    );
    let o = run(&bad, &[], &env);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains(
            "mirror.yaml:17: `jobs[1]`: unknown field `keep_lates`; did you mean `keep_latest`?"
        ),
        "{}",
        o.stderr
    );

    // A bad line in an images job stops the run before anything is written.
    let bad = text.replace("/team/api:2.0", "/team/API");
    let o = run(&bad, &[], &env);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("mirror.yaml:9: job `base images`: 1 invalid line"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("line 2: "), "{}", o.stderr);
    assert!(dst.client().catalog().is_empty());
}

#[test]
fn the_config_notify_section_and_per_job_notify_on_decide_the_message() {
    use crate::support::{Receiver, Reply};
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    seed(&src, "library/web", &["1.0"], 4);
    let r = Receiver::start(&[(
        "/wecom",
        Reply::Json(200, serde_json::json!({"errcode": 0, "errmsg": "ok"})),
    )]);
    let config = |notify_on_ok: &str, notify_on_bad: &str| {
        format!(
            r#"version: 1
defaults:
  target: {{registry: "{dst}", namespace: mirrors}}
jobs:
  - name: good
    images: "{src}/library/web:1.0"
    notify_on: {notify_on_ok}
  - name: bad
    images: "{src}/library/missing:1.0"
    notify_on: {notify_on_bad}
notify:
  on: always
  wecom: {{webhook_env: TEAM_WECOM}}
"#,
            src = src.host(),
            dst = dst.host()
        )
    };
    let env = [("TEAM_WECOM", r.url("/wecom?key=k"))];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();

    // Neither job asks for a message: none is sent.
    let o = run(&config("never", "never"), &[], &env);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(r.got().is_empty());
    assert!(o.report.get("notifications").is_none());
    // The failing job asks on failure: one message for the run.
    let o = run(&config("never", "failure"), &[], &env);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert_eq!(r.at("/wecom").len(), 1);
    let content = r.at("/wecom")[0].body["markdown"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(content.contains("**registry-mirror: run "), "{content}");
    assert!(content.contains(": good, bad**"), "{content}");
    assert_eq!(o.report["notifications"][0]["ok"], true);
    // The variable is not set (a fork without the secret): skipped with a warning.
    let o = run(&config("always", "always"), &[], &[]);
    assert!(o.stderr.contains("`TEAM_WECOM` is not set"), "{}", o.stderr);
    assert_eq!(r.at("/wecom").len(), 1);
}
