//! `registry-mirror issue` end to end: GitHub's event payloads in, the real binary copying
//! between real registries, and a stand-in for the GitHub REST API that records every call.

use crate::support::{
    bin, comment_event, image_with_base, issues_event, push_image, FakeGitHub, Format, Image,
    Outcome, Registry,
};
use serde_json::{json, Value};

const REPO: &str = "octo-org/mirrors";
const TOKEN: &str = "ghs_FAKEtoken0123456789abcdef";

/// Runs `issue` for `event` (named `name`) with the target `dst`/mirrors and the API at `api`.
fn run_issue(api: &str, dst: &Registry, name: &str, event: &Value, args: &[&str]) -> Outcome {
    let mut cli = bin();
    let home = cli.home().to_path_buf();
    let event_path = home.join("event.json");
    std::fs::write(&event_path, event.to_string()).unwrap();
    cli.args(["issue"])
        .args(args)
        .env("GITHUB_EVENT_NAME", name)
        .env("GITHUB_EVENT_PATH", &event_path)
        .env("GITHUB_REPOSITORY", REPO)
        .env("GITHUB_TOKEN", TOKEN)
        .env("GITHUB_API_URL", api)
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_RUN_ID", "4242")
        .env("TARGET_REGISTRY", dst.host())
        .env("TARGET_NAMESPACE", "mirrors");
    let outcome = cli.run_with_report();
    assert!(
        !outcome.stdout.contains(TOKEN) && !outcome.stderr.contains(TOKEN),
        "the token leaked:\n{}\n{}",
        outcome.stdout,
        outcome.stderr
    );
    outcome
}

/// The body GitHub renders from the `mirror-request` form (the images textarea has
/// `render: text`, so it arrives in a code fence).
fn form_body(images: &str, platforms: &str, all: bool) -> String {
    format!(
        "### Images\n\n```text\n{images}\n```\n\n### Platforms\n\n{}\n\n### Options\n\n- [{}] Sync all architectures",
        if platforms.is_empty() { "_No response_" } else { platforms },
        if all { "X" } else { " " }
    )
}

fn seed(src: &Registry, repo: &str, seed: u64) -> Image {
    let img = image_with_base(Format::Docker, "linux", "amd64", None, &[], &[2000], seed);
    push_image(&src.client(), repo, Some("1.0"), &img);
    img
}

fn body_of(gh: &FakeGitHub, method: &str, path: &str) -> Value {
    gh.calls()
        .into_iter()
        .find(|c| c.method == method && c.path == path)
        .map(|c| c.body)
        .unwrap_or_else(|| panic!("no {method} {path} in {:#?}", gh.lines()))
}

#[test]
fn an_opened_issue_is_planned_copied_reported_labelled_and_closed() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let web = seed(&src, "library/web", 1);
    let api = seed(&src, "team/api", 2);
    let gh = FakeGitHub::start(REPO, &["mirror-request"]);
    let images = format!(
        "- {}\n- `{}`",
        src.reference("library/web", "1.0"),
        src.reference("team/api", "1.0")
    );
    let event = issues_event(
        "opened",
        7,
        &form_body(&images, "", false),
        &["mirror-request"],
        "OWNER",
    );
    // GitHub Enterprise style base URL: every call must carry the prefix.
    let out = run_issue(&gh.url("/api/v3"), &dst, "issues", &event, &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);

    let p = format!("/repos/{REPO}");
    assert_eq!(
        gh.lines(),
        [
            format!("POST {p}/issues/7/comments"),
            format!("PATCH {p}/issues/comments/1001"),
            format!("GET {p}/labels/completed"),
            format!("POST {p}/labels"),
            format!("POST {p}/issues/7/labels"),
            format!("PATCH {p}/issues/7"),
        ]
    );
    for c in gh.calls() {
        assert_eq!(
            c.authorization.as_deref(),
            Some(&*format!("Bearer {TOKEN}"))
        );
    }
    let web_target = format!("{}/mirrors/web:1.0", dst.host());
    let api_target = format!("{}/mirrors/api:1.0", dst.host());

    let plan = body_of(&gh, "POST", &format!("{p}/issues/7/comments"))["body"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(plan.contains("### ⏳ Mirroring 2 images"), "{plan}");
    assert!(
        plan.contains(&format!(
            "| 1 | `{}` | `{web_target}` |",
            src.reference("library/web", "1.0")
        )),
        "{plan}"
    );
    assert!(
        plan.contains(&format!(
            "| 2 | `{}` | `{api_target}` |",
            src.reference("team/api", "1.0")
        )),
        "{plan}"
    );
    assert!(plan.contains("Platforms: linux/amd64"), "{plan}");
    assert!(
        plan.contains("https://github.com/octo-org/mirrors/actions/runs/4242"),
        "{plan}"
    );

    let report = body_of(&gh, "PATCH", &format!("{p}/issues/comments/1001"))["body"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(report.contains("### ✅ All 2 images mirrored"), "{report}");
    assert!(
        report.contains("2 copied, 0 already up to date, 0 failed"),
        "{report}"
    );
    assert!(
        report.contains(&format!("`{}`", &web.digest[..19])),
        "{report}"
    );
    assert!(
        report.contains(&format!("docker pull {web_target}\n")),
        "{report}"
    );
    assert!(
        report.contains(&format!("docker pull {api_target}\n")),
        "{report}"
    );
    assert!(!report.contains("Failures"), "{report}");

    assert_eq!(
        body_of(&gh, "POST", &format!("{p}/labels")),
        json!({"name": "completed", "color": "0e8a16", "description": "registry-mirror: every image mirrored"})
    );
    assert_eq!(
        body_of(&gh, "POST", &format!("{p}/issues/7/labels")),
        json!({"labels": ["completed"]})
    );
    assert_eq!(
        body_of(&gh, "PATCH", &format!("{p}/issues/7")),
        json!({"state": "closed", "state_reason": "completed"})
    );
    assert_eq!(
        dst.client().head_manifest("mirrors/web", "1.0"),
        Some(web.digest)
    );
    assert_eq!(
        dst.client().head_manifest("mirrors/api", "1.0"),
        Some(api.digest)
    );
    assert_eq!(out.report["summary"]["copied"], 2);
}

#[test]
fn an_invalid_body_gets_one_comment_listing_every_bad_line_and_nothing_is_pushed() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    seed(&src, "library/web", 3);
    let gh = FakeGitHub::start(REPO, &["mirror-request", "invalid"]);
    let images = format!(
        "{}\nnginx\nNginx:1.27 @everyone\nhttps://hub.docker.com/_/redis\n<script>alert(1)</script>",
        src.reference("library/web", "1.0")
    );
    let event = issues_event(
        "opened",
        8,
        &form_body(&images, "", false),
        &["mirror-request"],
        "MEMBER",
    );
    let out = run_issue(&gh.url(""), &dst, "issues", &event, &[]);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);

    let p = format!("/repos/{REPO}");
    // The label exists already: no create call.
    assert_eq!(
        gh.lines(),
        [
            format!("POST {p}/issues/8/comments"),
            format!("GET {p}/labels/invalid"),
            format!("POST {p}/issues/8/labels"),
        ]
    );
    assert_eq!(
        body_of(&gh, "POST", &format!("{p}/issues/8/labels")),
        json!({"labels": ["invalid"]})
    );
    let comment = body_of(&gh, "POST", &format!("{p}/issues/8/comments"))["body"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        comment.contains("### ❌ The image list cannot be used"),
        "{comment}"
    );
    assert!(
        comment.contains("4 problems found; nothing was copied"),
        "{comment}"
    );
    assert!(
        comment.contains("- line 2: `nginx`: has no tag"),
        "{comment}"
    );
    assert!(
        comment.contains("hint: write `nginx:latest` to copy the latest tag"),
        "{comment}"
    );
    assert!(comment.contains("- line 3: "), "{comment}");
    assert!(
        comment.contains("- line 4: `https://hub.docker.com/_/redis`"),
        "{comment}"
    );
    assert!(comment.contains("- line 5: "), "{comment}");
    assert!(!comment.contains("- line 1:"), "{comment}");
    // Nothing from the body reaches the comment raw: text GitHub would interpret (a mention,
    // HTML) only appears inside code spans.
    assert!(
        comment.contains("- line 3: `Nginx:1.27 @everyone`: "),
        "{comment}"
    );
    assert!(
        comment.contains("- line 5: `<script>alert(1)</script>`: "),
        "{comment}"
    );
    let outside_code: String = comment.split('`').step_by(2).collect::<Vec<_>>().join(" ");
    assert!(!outside_code.contains("@everyone"), "{outside_code}");
    assert!(!outside_code.contains("<script"), "{outside_code}");
    assert!(
        out.stderr.contains("line 2: `nginx`: has no tag"),
        "{}",
        out.stderr
    );

    assert!(dst.client().catalog().is_empty());
    assert!(!dst.log().contains("\"PUT ") && !dst.log().contains("\"POST "));
}

#[test]
fn an_author_who_is_not_allowed_gets_a_polite_comment_and_nothing_is_pushed() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    seed(&src, "library/web", 4);
    let gh = FakeGitHub::start(REPO, &["mirror-request"]);
    let images = src.reference("library/web", "1.0");
    let event = issues_event(
        "opened",
        9,
        &form_body(&images, "", false),
        &["mirror-request"],
        "NONE",
    );
    let out = run_issue(&gh.url(""), &dst, "issues", &event, &["--lang", "zh"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        gh.lines(),
        [format!("POST /repos/{REPO}/issues/9/comments")]
    );
    let comment = gh.calls()[0].body["body"].as_str().unwrap().to_string();
    assert!(comment.contains("感谢你的申请"), "{comment}");
    assert!(comment.contains("owner, member, collaborator"), "{comment}");
    assert!(dst.client().catalog().is_empty());

    // `any` opens it up.
    gh.clear();
    let out = run_issue(
        &gh.url(""),
        &dst,
        "issues",
        &event,
        &["--allowed-associations", "any"],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(dst.client().head_manifest("mirrors/web", "1.0").is_some());
}

#[test]
fn a_partial_failure_stays_open_and_retry_copies_only_what_is_missing() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let web = seed(&src, "library/web", 5);
    let gh = FakeGitHub::start(REPO, &["mirror-request"]);
    let images = format!(
        "{}\n{}",
        src.reference("library/web", "1.0"),
        src.reference("team/late", "1.0")
    );
    let body = form_body(&images, "linux/amd64", false);
    let event = issues_event("opened", 10, &body, &["mirror-request"], "COLLABORATOR");
    let chat = crate::support::Receiver::start(&[(
        "/wecom",
        crate::support::Reply::Json(200, json!({"errcode": 0, "errmsg": "ok"})),
    )]);
    let hook = chat.url("/wecom?key=k");
    let out = run_issue(
        &gh.url(""),
        &dst,
        "issues",
        &event,
        &["--wecom-webhook", &hook],
    );
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    // The chat hears about the run: the issue by number and title, linked.
    let message = chat.at("/wecom")[0].body["markdown"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message
            .starts_with("⚠️ **registry-mirror: #10 Mirror request: nginx** — some images failed"),
        "{message}"
    );
    assert!(
        message.contains("[Details](https://github.com/octo-org/mirrors/issues/10)"),
        "{message}"
    );
    assert_eq!(out.report["notifications"][0]["ok"], true);
    let p = format!("/repos/{REPO}");
    assert_eq!(
        gh.lines(),
        [
            format!("POST {p}/issues/10/comments"),
            format!("PATCH {p}/issues/comments/1001"),
            format!("GET {p}/labels/failed"),
            format!("POST {p}/labels"),
            format!("POST {p}/issues/10/labels"),
        ]
    );
    assert_eq!(
        body_of(&gh, "POST", &format!("{p}/issues/10/labels")),
        json!({"labels": ["failed"]})
    );
    let report = body_of(&gh, "PATCH", &format!("{p}/issues/comments/1001"))["body"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(report.contains("### ⚠️ 1 of 2 images failed"), "{report}");
    assert!(report.contains("#### Failures"), "{report}");
    // Looked up before the run: the missing repository was not tried, and says so.
    assert!(
        report.contains("line 2: not copied: no such repository"),
        "{report}"
    );
    assert!(report.contains("comment `/retry`"), "{report}");
    assert!(
        report.contains(&format!("docker pull {}/mirrors/web:1.0", dst.host())),
        "{report}"
    );
    assert!(!report.contains("mirrors/late:1.0\n"), "{report}");

    // The missing image appears; an allowed author comments `/retry`.
    let late = seed(&src, "team/late", 6);
    gh.clear();
    let log_before = dst.log().lines().count();
    let retry = comment_event(10, &body, &["mirror-request", "failed"], "/retry", "MEMBER");
    let out = run_issue(&gh.url(""), &dst, "issue_comment", &retry, &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        gh.lines(),
        [
            format!("POST {p}/issues/10/comments"),
            format!("PATCH {p}/issues/comments/1002"),
            format!("DELETE {p}/issues/10/labels/failed"),
            format!("GET {p}/labels/completed"),
            format!("POST {p}/labels"),
            format!("POST {p}/issues/10/labels"),
            format!("PATCH {p}/issues/10"),
        ]
    );
    let statuses: Vec<(&str, &str)> = out.report["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["target"].as_str().unwrap(), i["status"].as_str().unwrap()))
        .collect();
    let web_t = format!("{}/mirrors/web:1.0", dst.host());
    let late_t = format!("{}/mirrors/late:1.0", dst.host());
    assert_eq!(statuses, [(&*web_t, "skipped"), (&*late_t, "copied")]);
    // Only the new image's blobs travelled.
    let uploads: Vec<String> = dst
        .log()
        .lines()
        .skip(log_before)
        .filter(|l| l.contains("\"PUT ") && l.contains("/blobs/uploads/"))
        .map(str::to_string)
        .collect();
    assert_eq!(uploads.len(), late.blobs().len(), "{uploads:#?}");
    assert!(
        uploads.iter().all(|l| l.contains("/v2/mirrors/late/")),
        "{uploads:#?}"
    );
    assert_eq!(
        dst.client().head_manifest("mirrors/web", "1.0"),
        Some(web.digest)
    );
    assert_eq!(
        dst.client().head_manifest("mirrors/late", "1.0"),
        Some(late.digest)
    );
    let report = body_of(&gh, "PATCH", &format!("{p}/issues/comments/1002"))["body"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        report.contains("1 copied, 1 already up to date, 0 failed"),
        "{report}"
    );
}

#[test]
fn events_that_do_not_concern_the_action_make_no_call() {
    let dst = Registry::anonymous();
    let gh = FakeGitHub::start(REPO, &[]);
    let body = form_body("nginx:1.27", "", false);
    let cases = [
        (
            "issues",
            issues_event("opened", 11, &body, &["question"], "OWNER"),
        ),
        ("issues", {
            // Our own `failed` label being added must not start a run.
            let mut e = issues_event("labeled", 11, &body, &["mirror-request", "failed"], "OWNER");
            e["label"] = json!({"name": "failed"});
            e
        }),
        (
            "issues",
            issues_event("closed", 11, &body, &["mirror-request"], "OWNER"),
        ),
        (
            "issue_comment",
            comment_event(11, &body, &["mirror-request"], "thanks!", "OWNER"),
        ),
    ];
    for (name, event) in cases {
        let out = run_issue(&gh.url(""), &dst, name, &event, &[]);
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
        assert!(out.stdout.contains("nothing to do"), "{}", out.stdout);
    }
    assert!(gh.calls().is_empty(), "{:#?}", gh.lines());
    assert!(dst.client().catalog().is_empty());
}

#[test]
fn workflow_dispatch_mirrors_its_inputs_without_calling_github() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let web = seed(&src, "library/web", 7);
    let gh = FakeGitHub::start(REPO, &[]);
    let event = json!({
        "inputs": {"images": format!("{}\n", src.reference("library/web", "1.0")),
                   "platforms": "linux/amd64", "all_platforms": "false"},
        "ref": "refs/heads/main",
        "repository": {"full_name": REPO},
        "sender": {"login": "octocat"},
        "workflow": ".github/workflows/mirror-issue.yml"
    });
    let out = run_issue(&gh.url(""), &dst, "workflow_dispatch", &event, &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(gh.calls().is_empty(), "{:#?}", gh.lines());
    assert_eq!(
        dst.client().head_manifest("mirrors/web", "1.0"),
        Some(web.digest)
    );
    // Looked up before the plan, then copied from that answer: one HEAD, not two.
    let heads = src
        .log()
        .lines()
        .filter(|l| l.contains("\"HEAD /v2/library/web/manifests/1.0 "))
        .count();
    assert_eq!(heads, 1, "{}", src.log());

    // A bad dispatch list: exit 2, every problem on stderr, still no call.
    let event = json!({"inputs": {"images": "nginx\n", "platforms": "linux/amd64", "all_platforms": false}});
    let out = run_issue(&gh.url(""), &dst, "workflow_dispatch", &event, &[]);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("line 1: `nginx`: has no tag"),
        "{}",
        out.stderr
    );
    assert!(gh.calls().is_empty());
}

#[test]
fn github_5xx_and_secondary_rate_limits_are_retried() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    seed(&src, "library/web", 8);
    let gh = FakeGitHub::start(REPO, &["mirror-request", "completed"]);
    let p = format!("/repos/{REPO}");
    gh.fail_next(
        "POST",
        &format!("{p}/issues/12/comments"),
        502,
        &[("retry-after", "0")],
        "Server Error",
    );
    gh.fail_next(
        "PATCH",
        &format!("{p}/issues/comments/1001"),
        403,
        &[("retry-after", "0")],
        "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
    );
    let body = form_body(&src.reference("library/web", "1.0"), "", false);
    let event = issues_event("reopened", 12, &body, &["mirror-request"], "OWNER");
    let out = run_issue(&gh.url(""), &dst, "issues", &event, &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let seen: Vec<(String, u16)> = gh.calls().iter().map(|c| (c.line(), c.status)).collect();
    assert_eq!(
        seen,
        [
            (format!("POST {p}/issues/12/comments"), 502),
            // A 5xx may come after the comment was made: look for it before posting again.
            (format!("GET {p}/issues/12/comments"), 200),
            (format!("POST {p}/issues/12/comments"), 201),
            (format!("PATCH {p}/issues/comments/1001"), 403),
            (format!("PATCH {p}/issues/comments/1001"), 200),
            (format!("GET {p}/labels/completed"), 200),
            (format!("POST {p}/issues/12/labels"), 200),
            (format!("PATCH {p}/issues/12"), 200),
        ]
    );
}

#[test]
fn a_lost_answer_to_the_plan_comment_still_ends_with_exactly_one_report_comment() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    seed(&src, "library/web", 10);
    let gh = FakeGitHub::start(REPO, &["mirror-request", "completed"]);
    let p = format!("/repos/{REPO}");
    // The comment is created, then the answer is lost (502).
    gh.lose_next("POST", &format!("{p}/issues/14/comments"));
    let body = form_body(&src.reference("library/web", "1.0"), "", false);
    let event = issues_event("opened", 14, &body, &["mirror-request"], "OWNER");
    let out = run_issue(&gh.url(""), &dst, "issues", &event, &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let comments = gh.comments(14);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert!(
        comments[0].starts_with("<!-- registry-mirror:report -->"),
        "the plan comment became the report: {}",
        comments[0]
    );
    let seen: Vec<(String, u16)> = gh.calls().iter().map(|c| (c.line(), c.status)).collect();
    assert_eq!(
        seen[..3],
        [
            (format!("POST {p}/issues/14/comments"), 502),
            (format!("GET {p}/issues/14/comments"), 200),
            (format!("PATCH {p}/issues/comments/1001"), 200),
        ]
    );
}

#[test]
fn dry_run_writes_nothing_to_github_or_the_target() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    seed(&src, "library/web", 9);
    let gh = FakeGitHub::start(REPO, &[]);
    let body = form_body(&src.reference("library/web", "1.0"), "", false);
    let event = issues_event("opened", 13, &body, &["mirror-request"], "OWNER");
    let out = run_issue(&gh.url(""), &dst, "issues", &event, &["--dry-run"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(gh.calls().is_empty(), "{:#?}", gh.lines());
    assert!(
        out.stdout.contains("comment on #13 (dry run: not posted)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("### ⏳ Mirroring 1 image"),
        "{}",
        out.stdout
    );
    assert!(dst.client().catalog().is_empty());
}

/// The plan comment, pinned: each source is looked up before anything is copied; a missing tag
/// (with the nearest), a missing platform (with those there are) and a fine image.
#[test]
fn the_plan_names_what_cannot_be_copied_with_what_exists_and_copies_the_rest() {
    use crate::support::{image, index, push_index, AttestationStyle};
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let web = seed(&src, "library/web", 7);
    push_image(&src.client(), "library/web", Some("1.1"), &web);
    let amd = image(Format::Oci, "linux", "amd64", None, &[1_500], 8);
    let idx = index(Format::Oci, vec![amd], AttestationStyle::None);
    push_index(&src.client(), "team/multi", "v1", &idx);
    let gh = FakeGitHub::start(REPO, &["mirror-request"]);
    let images = format!(
        "{}\n{}\n{}",
        src.reference("library/web", "1.0"),
        src.reference("library/web", "1.9"),
        src.reference("team/multi", "v1"),
    );
    let body = form_body(&images, "linux/amd64,linux/arm64", false);
    let event = issues_event("opened", 12, &body, &["mirror-request"], "COLLABORATOR");
    let out = run_issue(&gh.url(""), &dst, "issues", &event, &[]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let p = format!("/repos/{REPO}");
    let plan = body_of(&gh, "POST", &format!("{p}/issues/12/comments"))["body"]
        .as_str()
        .unwrap()
        .replace(&src.host(), "SRC")
        .replace(&dst.host(), "DST");
    // Without the marker the comment carries for finding it again.
    let plan = plan
        .split("\n<!-- registry-mirror:comment")
        .next()
        .unwrap_or_default();
    assert_eq!(
        plan,
        "<!-- registry-mirror:plan -->\n\
         ### ⏳ Mirroring 1 image\n\
         \n\
         Platforms: linux/amd64,linux/arm64\n\
         \n\
         | line | source | target |\n\
         |---:|---|---|\n\
         | 1 | `SRC/library/web:1.0` | `DST/mirrors/web:1.0` |\n\
         \n\
         #### Cannot be copied\n\
         \n\
         | line | source | why |\n\
         |---:|---|---|\n\
         | 2 | `SRC/library/web:1.9` | no tag `1.9`; nearest: 1.1, 1.0 |\n\
         | 3 | `SRC/team/multi:v1` | no linux/arm64 in this image; it has linux/amd64 |\n\
         \n\
         This comment turns into the report when the run ends: [follow the run](https://github.com/octo-org/mirrors/actions/runs/4242).\n"
    );
    // The fine one was copied; the others never reached the target.
    assert!(dst.client().head_manifest("mirrors/web", "1.0").is_some());
    assert!(dst.client().catalog() == vec!["mirrors/web".to_string()]);
    assert_eq!(out.report["summary"]["failed"], 2);
}

/// The plan states Docker Hub's budget when a source is there, read from the look-ups'
/// answers: with none left, its images are not started (and say why), a missing tag is named
/// with the nearest, and the image elsewhere is copied. Pinned.
#[test]
fn the_plan_says_docker_hub_has_no_pull_left_and_its_images_are_not_started() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    crate::pull_budget::seed(&src, &["library/one", "team/other"], 120);
    let (hub, _) = crate::pull_budget::docker_hub(&src, 0);
    let gh = FakeGitHub::start(REPO, &["mirror-request"]);
    let images = format!("one:v1\none:v2\n{}", src.reference("team/other", "v1"));
    let body = form_body(&images, "", false);
    let event = issues_event("opened", 14, &body, &["mirror-request"], "OWNER");
    let endpoint = format!("docker.io={}", hub.host());
    let out = run_issue(
        &gh.url(""),
        &dst,
        "issues",
        &event,
        &["--endpoint", &endpoint],
    );
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let p = format!("/repos/{REPO}");
    let plan = body_of(&gh, "POST", &format!("{p}/issues/14/comments"))["body"]
        .as_str()
        .unwrap()
        .replace(&src.host(), "SRC")
        .replace(&dst.host(), "DST");
    let plan = plan
        .split("\n<!-- registry-mirror:comment")
        .next()
        .unwrap_or_default();
    assert_eq!(
        plan,
        "<!-- registry-mirror:plan -->\n\
         ### ⏳ Mirroring 2 images\n\
         \n\
         Platforms: linux/amd64\n\
         \n\
         ⚠️ Docker Hub: no pulls left (100 in 6 h): its 1 image will not be started. Pulls come back within 6 h: comment `/retry` then, or give the workflow Docker Hub credentials.\n\
         \n\
         | line | source | target |\n\
         |---:|---|---|\n\
         | 1 | `docker.io/library/one:v1` | `DST/mirrors/one:v1` |\n\
         | 3 | `SRC/team/other:v1` | `DST/mirrors/other:v1` |\n\
         \n\
         #### Cannot be copied\n\
         \n\
         | line | source | why |\n\
         |---:|---|---|\n\
         | 2 | `docker.io/library/one:v2` | no tag `v2`; nearest: v1 |\n\
         \n\
         This comment turns into the report when the run ends: [follow the run](https://github.com/octo-org/mirrors/actions/runs/4242).\n"
    );
    let images = out.report["images"].as_array().cloned().unwrap_or_default();
    let error_of = |source: &str| {
        images
            .iter()
            .find(|i| i["source"] == source)
            .and_then(|i| i["error"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        error_of("docker.io/library/one:v1")
            .starts_with("not started: Docker Hub's pull limit is used up"),
        "{images:#?}"
    );
    assert!(dst.client().head_manifest("mirrors/other", "v1").is_some());
    // Every Docker Hub request was a HEAD or a tag list: nothing counted as a pull, and the
    // budget had no HEAD of its own (one a Docker Hub line).
    let seen = hub.seen();
    let manifests: Vec<String> = seen
        .iter()
        .filter(|s| s.uri.contains("/manifests/"))
        .map(|s| format!("{} {}", s.method, s.uri))
        .collect();
    assert_eq!(manifests.len(), 2, "{manifests:#?}");
    assert!(
        manifests.iter().all(|m| m.starts_with("HEAD ")),
        "{manifests:#?}"
    );
}
