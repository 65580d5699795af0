//! Hostile registries and hostile lists: credentials stay with their registry, nothing a
//! registry says reaches an output raw (secrets, markup, control characters), and names a
//! registry lists never become URLs outside the destination repository.

use crate::support::{
    bin, image, issues_event, push_image, Cli, Echo, EchoRegistry, FakeGitHub, Format, Outcome,
    Proxy, Received, Receiver, Refusal, Registry, Reply,
};
use base64::Engine as _;
use serde_json::{json, Value};

const REPO: &str = "octo-org/mirrors";
const GH_TOKEN: &str = "ghs_HOSTILEtoken0123456789";

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Every form a secret could leak in.
fn forms(secret: &str) -> Vec<String> {
    vec![
        secret.to_string(),
        b64(secret),
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(secret),
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
    ]
}

/// Panics when any of `texts` holds any form of any of `secrets`.
fn assert_clean(texts: &[(&str, &str)], secrets: &[String]) {
    for (what, text) in texts {
        for s in secrets {
            for f in forms(s) {
                assert!(
                    !text.contains(&f),
                    "{what} holds `{f}` (a form of a secret):\n{text}"
                );
            }
        }
    }
}

/// stdout without the `::add-mask::` commands, which the runner consumes (they are how GitHub
/// learns what to hide) and never shows.
fn shown(stdout: &str) -> String {
    stdout
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn seed(src: &Registry, repo: &str, tag: &str) {
    let img = image(Format::Docker, "linux", "amd64", None, &[1500], 77);
    push_image(&src.client(), repo, Some(tag), &img);
}

/// The body GitHub renders from the `mirror-request` form.
fn form_body(images: &str) -> String {
    format!(
        "### Images\n\n```text\n{images}\n```\n\n### Platforms\n\n_No response_\n\n### Options\n\n- [ ] Sync all architectures"
    )
}

/// `registry-mirror issue` for an `issues: opened` event listing `images`, with the GitHub
/// stand-in, a WeCom and a DingTalk receiver, a job summary, GitHub Actions conventions and the
/// log at trace level.
struct IssueRun {
    out: Outcome,
    summary: String,
}

fn run_issue(
    gh: &FakeGitHub,
    chat: &Receiver,
    images: &str,
    target: &str,
    env: &[(&str, &str)],
) -> IssueRun {
    let mut cli: Cli = bin();
    let home = cli.home().to_path_buf();
    let event_path = home.join("event.json");
    let event = issues_event(
        "opened",
        5,
        &form_body(images),
        &["mirror-request"],
        "OWNER",
    );
    std::fs::write(&event_path, event.to_string()).unwrap();
    // Outside `$HOME`, which goes with the command.
    let keep = tempfile::tempdir().unwrap();
    let summary = keep.path().join("summary.md");
    cli.args(["-vv", "issue", "--retries", "1"])
        .env("GITHUB_EVENT_NAME", "issues")
        .env("GITHUB_EVENT_PATH", &event_path)
        .env("GITHUB_REPOSITORY", REPO)
        .env("GITHUB_TOKEN", GH_TOKEN)
        .env("GITHUB_API_URL", gh.url(""))
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_RUN_ID", "77")
        .env("GITHUB_ACTIONS", "true")
        .env("RUNNER_TEMP", &home)
        .env("GITHUB_OUTPUT", home.join("output"))
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("WECOM_WEBHOOK_URL", chat.url("/wecom"))
        .env("DINGTALK_WEBHOOK_URL", chat.url("/dingtalk"))
        .env("TARGET_REGISTRY", target)
        .env("TARGET_NAMESPACE", "mirrors");
    for (k, v) in env {
        cli.env(k, v);
    }
    let out = cli.run_with_report();
    let summary = std::fs::read_to_string(&summary).unwrap_or_default();
    IssueRun { out, summary }
}

fn chat_receiver() -> Receiver {
    Receiver::start(&[
        (
            "/wecom",
            Reply::Json(200, json!({"errcode": 0, "errmsg": "ok"})),
        ),
        (
            "/dingtalk",
            Reply::Json(200, json!({"errcode": 0, "errmsg": "ok"})),
        ),
    ])
}

/// The Markdown of every chat message.
fn chat_texts(chat: &Receiver) -> Vec<String> {
    chat.got()
        .iter()
        .map(|r: &Received| {
            r.body["markdown"]["content"]
                .as_str()
                .or(r.body["markdown"]["text"].as_str())
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// Every comment body sent to the GitHub stand-in.
fn comment_bodies(gh: &FakeGitHub) -> Vec<String> {
    gh.calls()
        .iter()
        .filter_map(|c| c.body["body"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn a_list_line_cannot_send_credentials_to_a_registry_of_its_choosing() {
    let src = Registry::anonymous();
    let dst = Registry::basic("alice", "Pu5h-pass");
    seed(&src, "app", "v1");
    let collector = EchoRegistry::start(Echo::Bearer);
    let list = format!(
        "{s}\n{s} {c}/stolen/x:1\n",
        s = src.reference("app", "v1"),
        c = collector.host()
    );

    // `mirror`: the line's own target gets no credential; the rest lands.
    let mut cli = bin();
    cli.args([
        "mirror",
        "--target-registry",
        &dst.host(),
        "--target-namespace",
        "mirrors",
        "--retries",
        "0",
        "--dest-creds",
        "alice:Pu5h-pass",
        "--src-creds",
        "reader:R3ad-pass",
        "-f",
        "-",
    ])
    .write_stdin(list.clone());
    let out = cli.run_with_report();
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        out.report["images"][0]["status"], "copied",
        "{}",
        out.report
    );
    assert_eq!(
        out.report["images"][1]["status"], "failed",
        "{}",
        out.report
    );
    // It was asked, anonymously: its token endpoint got no credential, and the only
    // `Authorization` it ever saw is a token it handed out itself.
    let heard = collector.heard();
    assert!(!heard.is_empty(), "the collector was never asked");
    let own: Vec<String> = collector
        .tokens()
        .iter()
        .map(|t| format!("Bearer {t}"))
        .collect();
    for h in &heard {
        match h.header("authorization") {
            None => {}
            Some(a) => assert!(h.uri != "/token" && own.iter().any(|o| o == a), "{h:?}"),
        }
    }
    assert_clean(
        &[("stdout", &out.stdout), ("stderr", &out.stderr)],
        &[
            "Pu5h-pass".into(),
            "alice:Pu5h-pass".into(),
            "R3ad-pass".into(),
        ],
    );

    // Issue mode: such a line is an invalid line; nothing is copied, nobody is asked.
    let before = collector.heard().len();
    let gh = FakeGitHub::start(REPO, &["mirror-request", "invalid"]);
    let chat = chat_receiver();
    let run = run_issue(
        &gh,
        &chat,
        &list,
        &dst.host(),
        &[
            ("TARGET_REGISTRY_USER", "alice"),
            ("TARGET_REGISTRY_PASSWORD", "Pu5h-pass"),
        ],
    );
    assert_eq!(run.out.code, 2, "{}\n{}", run.out.stdout, run.out.stderr);
    assert_eq!(
        collector.heard().len(),
        before,
        "issue mode contacted the collector"
    );
    let bodies = comment_bodies(&gh);
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert!(
        bodies[0].contains(&format!(
            "is on `{}`, not on the target registry",
            collector.host()
        )),
        "{}",
        bodies[0]
    );

    // Source credentials without a host, for a list spread over two registries: refused.
    let other = Registry::anonymous();
    seed(&other, "lib", "v2");
    let mut cli = bin();
    cli.args([
        "mirror",
        "--target-registry",
        &dst.host(),
        "--dest-creds",
        "alice:Pu5h-pass",
        &src.reference("app", "v1"),
        &other.reference("lib", "v2"),
    ])
    .env("SOURCE_REGISTRY_USER", "reader")
    .env("SOURCE_REGISTRY_PASSWORD", "R3ad-pass");
    let out = cli.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "would go to every source registry of the list (`{}`, `{}`)",
            src.host().min(other.host()),
            src.host().max(other.host())
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "hint: bind each credential to its registry: `--src-creds {}=USER:PASSWORD`",
            src.host().min(other.host())
        )),
        "{stderr}"
    );
    // With each bound to its host, the same run goes through.
    let mut cli = bin();
    cli.args([
        "mirror",
        "--target-registry",
        &dst.host(),
        "--target-namespace",
        "bound",
        "--dest-creds",
        "alice:Pu5h-pass",
        "--src-creds",
        &format!("{}=reader:R3ad-pass", src.host()),
        "--src-creds",
        &format!("{}=other:0ther-pass", other.host()),
        &src.reference("app", "v1"),
        &other.reference("lib", "v2"),
    ]);
    let out = cli.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Issue mode with host-less source credentials: the list's author would choose their
    // registry, so the run is refused before anything is written.
    let gh = FakeGitHub::start(REPO, &["mirror-request"]);
    let run = run_issue(
        &gh,
        &chat,
        &src.reference("app", "v1"),
        &dst.host(),
        &[
            ("TARGET_REGISTRY_USER", "alice"),
            ("TARGET_REGISTRY_PASSWORD", "Pu5h-pass"),
            ("SOURCE_REGISTRY_USER", "reader"),
            ("SOURCE_REGISTRY_PASSWORD", "R3ad-pass"),
        ],
    );
    assert_eq!(run.out.code, 2, "{}", run.out.stderr);
    assert!(
        run.out.stderr.contains("SOURCE_REGISTRY="),
        "{}",
        run.out.stderr
    );
    assert!(gh.calls().is_empty(), "{:?}", gh.lines());
    // Named, they are used.
    let run = run_issue(
        &gh,
        &chat,
        &src.reference("app", "v1"),
        &dst.host(),
        &[
            ("TARGET_REGISTRY_USER", "alice"),
            ("TARGET_REGISTRY_PASSWORD", "Pu5h-pass"),
            ("SOURCE_REGISTRY", &src.host()),
            ("SOURCE_REGISTRY_USER", "reader"),
            ("SOURCE_REGISTRY_PASSWORD", "R3ad-pass"),
        ],
    );
    assert_eq!(run.out.code, 0, "{}", run.out.stderr);
}

/// Runs the issue flow against an echoing target and checks every output for every secret.
fn echo_case(mode: Echo) {
    let src = Registry::anonymous();
    seed(&src, "app", "v1");
    let echo = EchoRegistry::start(mode);
    let gh = FakeGitHub::start(REPO, &["mirror-request"]);
    let chat = chat_receiver();
    let password = "S3cr3t/p@ss+w=rd";
    let run = run_issue(
        &gh,
        &chat,
        &src.reference("app", "v1"),
        &echo.host(),
        &[
            ("TARGET_REGISTRY_USER", "alice"),
            ("TARGET_REGISTRY_PASSWORD", password),
        ],
    );
    assert_eq!(run.out.code, 1, "{}\n{}", run.out.stdout, run.out.stderr);

    // The echo happened: the target saw (and sent back) what the run legitimately sent it.
    let authorized: Vec<_> = echo
        .heard()
        .into_iter()
        .filter_map(|h| h.header("authorization").map(str::to_string))
        .collect();
    let expected = match mode {
        Echo::Basic => format!("Basic {}", b64(&format!("alice:{password}"))),
        Echo::Bearer => format!("Bearer {}", echo.tokens()[0]),
    };
    assert!(authorized.contains(&expected), "{authorized:?}");
    let error = run.out.report["images"][0]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(error.contains("500"), "{error}");
    assert!(
        error.contains("[redacted]"),
        "the echo is shown, scrubbed: {error}"
    );

    let mut secrets = vec![
        password.to_string(),
        format!("alice:{password}"),
        GH_TOKEN.to_string(),
    ];
    secrets.extend(echo.tokens());
    let stdout = shown(&run.out.stdout);
    let comments = comment_bodies(&gh).join("\n");
    let chats = chat_texts(&chat).join("\n");
    let payloads: String = chat.got().iter().map(|r| r.body.to_string()).collect();
    assert!(
        !comments.is_empty() && !chats.is_empty() && !run.summary.is_empty(),
        "comments: {comments}\nchats: {chats}\nsummary: {}\nstdout: {stdout}\nstderr: {}",
        run.summary,
        run.out.stderr
    );
    assert_clean(
        &[
            ("stdout", &stdout),
            ("stderr (trace)", &run.out.stderr),
            ("JSON report", &run.out.report_text),
            ("job summary", &run.summary),
            ("comments", &comments),
            ("chat payloads", &payloads),
        ],
        &secrets,
    );
    // The `::error::` annotation carries the scrubbed echo too.
    assert!(stdout.contains("::error title="), "{stdout}");
}

#[test]
fn a_target_that_echoes_basic_credentials_leaks_them_nowhere() {
    echo_case(Echo::Basic);
}

#[test]
fn a_target_that_echoes_a_bearer_token_leaks_it_nowhere() {
    echo_case(Echo::Bearer);
}

#[test]
fn tag_names_from_a_registry_never_become_urls_or_lines() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    seed(&src, "app", "v1");
    let long = "a".repeat(5000);
    let hostile = vec![
        "v1".to_string(),
        "../../../hijack/repo/manifests/pwn".to_string(),
        "v2\nX-Injected: 1".to_string(),
        "<b>bold</b>".to_string(),
        long.clone(),
        "v1/../../../x".to_string(),
    ];
    let tags = json!({"name": "app", "tags": hostile}).to_string();
    let proxy = Proxy::start(
        &src.base_url(),
        Box::new(move |_, uri, _, _| {
            uri.contains("/tags/list").then(|| Refusal {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: tags.clone(),
            })
        }),
    );
    let mut cli = bin();
    cli.args([
        "-vv",
        "sync",
        &format!("{}/app", proxy.host()),
        &format!("{}/mirror/app", dst.host()),
    ]);
    let out = cli.run_with_report();
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let copied: Vec<&str> = out.report["images"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["target"].as_str())
        .collect();
    assert_eq!(copied, [format!("{}/mirror/app:v1", dst.host())]);
    // The target saw no request outside the destination repository.
    for line in dst.log().lines().filter(|l| {
        l.contains("\"HEAD ")
            || l.contains("\"GET ")
            || l.contains("\"PUT ")
            || l.contains("\"POST ")
            || l.contains("\"PATCH ")
    }) {
        let path = line
            .split('"')
            .nth(1)
            .and_then(|r| r.split_whitespace().nth(1))
            .unwrap_or_default();
        assert!(
            path == "/v2/" || path.starts_with("/v2/mirror/app/"),
            "outside the destination: {line}"
        );
    }
    assert!(!dst.log().contains("hijack"));
    // No forged line, one warning that names the five and escapes them.
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.lines().any(|l| l.starts_with("X-Injected")), "{text}");
        assert!(!text.contains("<b>bold</b>\n"), "{text}");
        assert!(
            !text.contains(&long),
            "a 5000-character tag was echoed whole"
        );
    }
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("skipped 5 invalid names in the tag list of"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", out.stderr);
    assert!(
        warnings[0].contains(r#""v2\nX-Injected: 1""#),
        "{}",
        warnings[0]
    );
    assert!(warnings[0].contains("hijack"), "{}", warnings[0]);
    assert_eq!(out.report["sync"][0]["tags"], 1, "{}", out.report);
}

/// Links, images and raw HTML a CommonMark parser finds in `md` whose target or text comes
/// from the hostile registry, and mentions in text outside code (GitHub notifies no one for a
/// mention inside a code span or block).
fn live_hostile_markup(md: &str) -> Vec<String> {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
    let mut in_code = 0usize;
    let mut found = Vec::new();
    for e in Parser::new_ext(md, Options::ENABLE_TABLES) {
        match e {
            Event::Start(Tag::CodeBlock(_)) => in_code += 1,
            Event::End(TagEnd::CodeBlock) => in_code -= 1,
            Event::Start(Tag::Link { dest_url, .. }) if dest_url.contains("evil") => {
                found.push(format!("link {dest_url}"))
            }
            Event::Start(Tag::Image { dest_url, .. }) => found.push(format!("image {dest_url}")),
            Event::Html(h) | Event::InlineHtml(h)
                if h.contains("evil") || h.contains("<img") || h.contains("onerror") =>
            {
                found.push(format!("html {h}"))
            }
            Event::Text(t) if in_code == 0 && t.contains("@everyone") => {
                found.push(format!("mention in {t}"))
            }
            _ => {}
        }
    }
    found
}

#[test]
fn markup_in_a_registry_error_stays_text_in_comments_summaries_and_chats() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    seed(&src, "app", "v1");
    let message = "[Click here](https://evil.example/phish) ![x](https://evil.example/pixel.png) \
                   @everyone #1 <img src=x onerror=alert(1)> <a href=\"https://evil.example\">a</a> \
                   <https://evil.example/auto> www.evil.example\u{1b}[31m \u{202e}txt.exe";
    let proxy = Proxy::start(
        &dst.base_url(),
        Box::new(move |method, _, _, _| {
            (method.as_str() == "POST").then(|| Refusal::error(400, "BLOB_UPLOAD_INVALID", message))
        }),
    );
    let gh = FakeGitHub::start(REPO, &["mirror-request"]);
    let chat = chat_receiver();
    let run = run_issue(&gh, &chat, &src.reference("app", "v1"), &proxy.host(), &[]);
    assert_eq!(run.out.code, 1, "{}\n{}", run.out.stdout, run.out.stderr);
    let error = run.out.report["images"][0]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        error.contains("Click here"),
        "the message is shown: {error}"
    );
    assert!(
        !error.contains('\u{1b}') && !error.contains('\u{202e}'),
        "{error:?}"
    );

    // The plan comment comes before the error; the report comment carries it.
    let mut documents: Vec<(String, String)> = comment_bodies(&gh)
        .into_iter()
        .filter(|b| b.starts_with("<!-- registry-mirror:report -->"))
        .map(|b| ("report comment".to_string(), b))
        .collect();
    documents.push(("job summary".into(), run.summary.clone()));
    documents.extend(
        chat_texts(&chat)
            .into_iter()
            .map(|t| ("chat".to_string(), t)),
    );
    assert_eq!(documents.len(), 4, "{documents:?}");
    for (what, md) in &documents {
        assert!(
            md.contains("Click here"),
            "{what} does not show the error:\n{md}"
        );
        let live = live_hostile_markup(md);
        assert!(live.is_empty(), "{what} has live markup {live:?}:\n{md}");
        assert!(
            !md.contains('\u{1b}') && !md.contains('\u{202e}'),
            "{what}: {md:?}"
        );
    }
    let stdout: String = shown(&run.out.stdout);
    assert!(!stdout.contains('\u{1b}') && !run.out.stderr.contains('\u{202e}'));
    let _: Value = run.out.report.clone();
}
