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
