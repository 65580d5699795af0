//! The issue flow's comments and decisions, pinned.

use super::*;

fn flow(lang: &str) -> Flow {
    Flow {
        links: Links {
            run_url: "https://github.com/o/r/actions/runs/1".into(),
        },
        templates: Templates::load(lang, None).expect("templates"),
        dry_run: true,
        github: None,
    }
}

/// The whole comment, pinned: a change to the template or the filters shows here as a diff.
#[test]
fn the_report_comment_renders_exactly() {
    let mut ok = crate::report::ImageReport::new(
        "docker.io/library/nginx:1.27",
        "registry.example.com/mirrors/nginx:1.27",
    );
    ok.status = Status::Copied;
    ok.digest = Some(format!("sha256:{}", "ab".repeat(32)));
    ok.platforms = vec!["linux/amd64".into(), "linux/arm64".into()];
    ok.bytes = 3 << 20;
    ok.duration_ms = 1500;
    ok.referrers = vec![crate::report::ReferrerReport {
        kind: crate::report::ReferrerKind::Signature,
        digest: format!("sha256:{}", "cd".repeat(32)),
        status: crate::report::ReferrerStatus::Copied,
        reason: None,
    }];
    let mut bad = crate::report::ImageReport::new(
        "quay.io/team/app:2`x",
        "registry.example.com/mirrors/app:2",
    );
    bad.error = Some("manifest `quay.io/team/app:2` not found\nhint: check the tag @here".into());
    let run = RunReport::new(
        SystemTime::now(),
        Duration::from_millis(2500),
        false,
        vec![ok, bad],
    );
    let body = flow("en").report_body(&run).expect("render");
    assert_eq!(
        body,
        "<!-- registry-mirror:report -->\n\
         ### ⚠️ 1 of 2 images failed\n\
         \n\
         **2** images: 1 copied, 0 already up to date, 1 failed · 3.0 MiB moved · 2.5s\n\
         \n\
         | status | source | target | digest | platforms | size | time |\n\
         |---|---|---|---|---|---|---|\n\
         | ✅ copied | `docker.io/library/nginx:1.27` | `registry.example.com/mirrors/nginx:1.27` | `sha256:abababababab` | linux/amd64, linux/arm64 | 3.0 MiB | 1.5s |\n\
         | ❌ failed | ``quay.io/team/app:2`x`` | `registry.example.com/mirrors/app:2` | — |  | — | 0.0s |\n\
         \n\
         #### Failures\n\
         \n\
         **``quay.io/team/app:2`x``** → `registry.example.com/mirrors/app:2`\n\
         \n\
         ```text\n\
         manifest `quay.io/team/app:2` not found\n\
         hint: check the tag @here\n\
         ```\n\
         \n\
         An allowed author can comment `/retry` to copy what is still missing.\n\
         \n\
         #### Signatures, SBOMs and attestations\n\
         \n\
         | image | kind | digest | status |\n\
         |---|---|---|---|\n\
         | `docker.io/library/nginx:1.27` | signature | `sha256:cdcdcdcdcdcd` | copied |\n\
         \n\
         #### Pull\n\
         \n\
         ```sh\n\
         docker pull registry.example.com/mirrors/nginx:1.27\n\
         ```\n\
         \n\
         [Run log](https://github.com/o/r/actions/runs/1)\n"
    );
}

#[test]
fn a_huge_report_stays_under_the_comment_limit() {
    let images: Vec<_> = (0..3000)
        .map(|i| {
            let mut r = crate::report::ImageReport::new(
                format!("docker.io/library/app{i}:1.0"),
                format!("registry.example.com/mirrors/app{i}:1.0"),
            );
            if i % 2 == 0 {
                r.error = Some(format!(
                    "manifest `app{i}:1.0` not found {}",
                    "x".repeat(3000)
                ));
            } else {
                r.status = Status::Copied;
                r.digest = Some(format!("sha256:{}", "a".repeat(64)));
            }
            r
        })
        .collect();
    let run = RunReport::new(SystemTime::now(), Duration::from_secs(3), false, images);
    for lang in ["en", "zh"] {
        let body = flow(lang).report_body(&run).expect("render");
        assert!(
            body.chars().count() <= COMMENT_LIMIT,
            "{lang}: {}",
            body.len()
        );
        // Cut by whole rows with a pointer to the job summary, not mid-row.
        assert!(
            body.contains("](https://github.com/o/r/actions/runs/1)"),
            "{lang}"
        );
        assert!(!body.contains("(cut: the comment was too long"), "{lang}");
        assert!(body.contains("app0:1.0"), "{lang}");
        assert!(!body.contains("app2999:1.0"), "{lang}");
    }
    let en = flow("en").report_body(&run).expect("render");
    assert!(
        en.contains("### ⚠️ 1500 of 3000 images failed"),
        "{}",
        &en[..200]
    );
    assert!(en.contains("more: the [job summary]"));
}

#[test]
fn fit_cuts_on_a_char_boundary() {
    let body = "镜".repeat(70_000);
    let out = fit(body, COMMENT_LIMIT);
    assert!(out.chars().count() <= COMMENT_LIMIT);
    assert!(out.ends_with("see the job summary)\n"));
    assert_eq!(fit("short".into(), 10), "short");
}

/// The plan with Docker Hub's budget, pinned in both languages: what is left against what the
/// run needs, and, with none left, that its images will not be started and when pulls return.
#[test]
fn the_plan_states_docker_hubs_pull_budget() {
    use crate::plan::pull_budget::Budget;
    use crate::registry::transport::RateLimit;
    let r = |s: &str| crate::reference::Reference::parse(s).expect("reference");
    let jobs = vec![LinePair {
        line: 1,
        pair: crate::plan::Pair {
            source: r("docker.io/library/nginx:1.27"),
            target: r("registry.example.com/mirrors/nginx:1.27"),
        },
    }];
    let budget = |remaining| Budget {
        limit: RateLimit {
            limit: 100,
            remaining,
            window_secs: Some(21_600),
        },
        needed: 3,
    };
    let line = |lang: &str, remaining: u64| {
        let body = flow(lang)
            .plan_body(&jobs, &[], "linux/amd64", Some(&budget(remaining)))
            .expect("render");
        let (_, after) = body.split_once("linux/amd64\n\n").expect("platforms line");
        let (line, rest) = after.split_once('\n').expect("budget line");
        assert!(
            rest.starts_with("\n| "),
            "a blank line before the table:\n{body}"
        );
        line.to_string()
    };
    assert_eq!(
        line("en", 76),
        "Docker Hub: 76 of 100 pulls left in 6 h; this run needs at least 3."
    );
    assert_eq!(
        line("en", 2),
        "Docker Hub: 2 of 100 pulls left in 6 h; this run needs at least 3. Fewer than needed: \
         some Docker Hub images may fail, and `/retry` copies them once pulls come back."
    );
    assert_eq!(
        line("en", 0),
        "⚠️ Docker Hub: no pulls left (100 in 6 h): its 3 images will not be started. Pulls come \
         back within 6 h: comment `/retry` then, or give the workflow Docker Hub credentials."
    );
    assert_eq!(
        line("zh", 76),
        "Docker Hub：6 h 内剩余 76 / 100 次拉取；本次至少需要 3 次。"
    );
    assert_eq!(
        line("zh", 0),
        "⚠️ Docker Hub：拉取次数已用完（6 h 内共 100 次），其 3 个镜像不会开始复制。次数会在 6 h 内恢复：届时评论 `/retry`，或为工作流配置 Docker Hub 凭据。"
    );
    // No Docker Hub source: no line.
    let body = flow("en")
        .plan_body(&jobs, &[], "linux/amd64", None)
        .expect("render");
    assert!(!body.contains("Docker Hub"), "{body}");
}
