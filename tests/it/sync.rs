//! `sync`: tag listing with pagination, include/exclude/keep-latest/sort with exact expected
//! sets, the cost of a no-change re-run, namespace sync through the catalog, and errors.

use crate::support::{
    bin, image_with_base, push_image, sha256_digest, Format, Outcome, Proxy, Refusal, Registry,
};
use serde_json::json;

/// The 60 tags of the test repository, all pointing at one small image.
fn sixty_tags() -> Vec<String> {
    let mut tags = Vec::new();
    for minor in 20..=27 {
        for patch in 0..=2 {
            tags.push(format!("1.{minor}.{patch}"));
        }
    }
    for minor in 20..=26 {
        tags.push(format!("1.{minor}.3"));
    }
    for pre in [
        "1.28.0-rc.1",
        "1.28.0-rc.2",
        "1.28.0-beta.1",
        "2.0.0-alpha.1",
    ] {
        tags.push(pre.to_string());
    }
    for minor in 25..=27 {
        for patch in 0..=2 {
            tags.push(format!("1.{minor}.{patch}-alpine"));
        }
    }
    for minor in 26..=27 {
        for patch in 0..=2 {
            tags.push(format!("1.{minor}.{patch}-slim"));
        }
    }
    for date in [
        "2024-01-15",
        "2024-02-20",
        "2024-03-05",
        "2024-04-10",
        "2024-05-30",
    ] {
        tags.push(date.to_string());
    }
    for t in ["latest", "stable", "mainline", "v1.19.0", "v1.19.1"] {
        tags.push(t.to_string());
    }
    assert_eq!(tags.len(), 60);
    tags
}

/// A source registry whose `library/nginx` holds the 60 tags.
fn seeded() -> Registry {
    let src = Registry::anonymous();
    let img = image_with_base(Format::Docker, "linux", "amd64", None, &[], &[3000], 60);
    let client = src.client();
    push_image(&client, "library/nginx", Some("1.20.0"), &img);
    for t in sixty_tags() {
        client.push_manifest("library/nginx", &t, &img.media_type, &img.manifest);
    }
    src
}

fn sync(src: &str, dst: &str, args: &[&str]) -> Outcome {
    let mut cli = bin();
    cli.args(["sync", src, dst]).args(args);
    cli.run_with_report()
}

fn kept(o: &Outcome) -> Vec<String> {
    o.report["sync"][0]["kept"]
        .as_array()
        .unwrap_or_else(|| panic!("{}\n{}", o.stdout, o.stderr))
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn filters_select_exact_tag_sets() {
    let src = seeded();
    let dst = Registry::anonymous();
    let from = format!("{}/library/nginx", src.host());
    let to = format!("{}/mirrors/nginx", dst.host());
    let cases: &[(&[&str], &[&str])] = &[
        // Stable releases only, the newest five by version.
        (
            &["--include", r"^1\.\d+\.\d+$", "--keep-latest", "5"],
            &["1.27.2", "1.27.1", "1.27.0", "1.26.3", "1.26.2"],
        ),
        // A version range without variants (exclude takes a comma list), newest first.
        (
            &["--include", r"^1\.2[67]\.", "--exclude", "alpine,slim"],
            &[
                "1.27.2", "1.27.1", "1.27.0", "1.26.3", "1.26.2", "1.26.1", "1.26.0",
            ],
        ),
        // Prereleases rank by semver precedence: rc.2 > rc.1 > beta.1.
        (
            &["--include", r"^1\.28\.0-", "--keep-latest", "2"],
            &["1.28.0-rc.2", "1.28.0-rc.1"],
        ),
        // A release ranks above its variants (they are prereleases to semver).
        (
            &["--include", r"^1\.27\.2", "--keep-latest", "2"],
            &["1.27.2", "1.27.2-slim"],
        ),
        // Repeated flags and a regex with a comma inside a quantifier.
        (
            &[
                "--include",
                r"^\d{4}-\d{2}-\d{2}$",
                "--include",
                "^v",
                "--sort",
                "name",
                "--keep-latest",
                "3",
            ],
            &["v1.19.1", "v1.19.0", "2024-05-30"],
        ),
        // Non-versions rank below every version.
        (
            &[
                "--include",
                "^(latest|stable|mainline|1.20.0)$",
                "--keep-latest",
                "2",
            ],
            &["1.20.0", "stable"],
        ),
    ];
    for (args, expected) in cases {
        let mut all = vec!["--dry-run", "--page-size", "7"];
        all.extend_from_slice(args);
        let o = sync(&from, &to, &all);
        assert_eq!(o.code, 0, "{args:?}\n{}\n{}", o.stdout, o.stderr);
        assert_eq!(kept(&o), *expected, "{args:?}");
        let dropped = o.report["sync"][0]["dropped"].as_array().unwrap();
        assert_eq!(dropped.len() + expected.len(), 60, "{args:?}");
        assert_eq!(o.report["sync"][0]["tags"], 60);
        let planned: Vec<&str> = o.report["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["target"].as_str().unwrap())
            .collect();
        let want: Vec<String> = expected.iter().map(|t| format!("{to}:{t}")).collect();
        assert_eq!(planned, want, "{args:?}");
    }
    // The reasons, as the plan prints them.
    let o = sync(
        &from,
        &to,
        &[
            "--dry-run",
            "--include",
            r"^1\.2[67]\.",
            "--exclude",
            "alpine",
            "--keep-latest",
            "3",
        ],
    );
    assert!(
        o.stdout
            .contains(&format!("{from}: 60 tags listed, 3 kept, 57 dropped")),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("  keep  1.27.2\n"), "{}", o.stdout);
    assert!(
        o.stdout
            .contains("  drop  latest: matches no --include pattern\n"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout
            .contains("  drop  1.27.0-alpine: matches --exclude `alpine`\n"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout
            .contains("  drop  1.26.3: not among the newest 3 by version (--keep-latest 3)\n"),
        "{}",
        o.stdout
    );
    // The dry run wrote nothing.
    assert!(dst.client().catalog().is_empty());
}

/// Distribution 2.8 ignores `n` on tag lists (v3, Harbor, GHCR and Docker Hub honour it). A proxy
/// plays such a registry: it answers tag lists a page at a time, sorted, with `Link` headers,
/// and passes everything else to the real registry.
fn paginating_proxy(upstream: &Registry, tags: Vec<String>) -> Proxy {
    let mut sorted = tags;
    sorted.sort();
    Proxy::start(
        &format!("http://{}", upstream.host()),
        Box::new(move |method, uri, _, _| {
            if method.as_str() != "GET" || !uri.starts_with("/v2/library/nginx/tags/list") {
                return None;
            }
            let query: Vec<(String, String)> = url::form_urlencoded::parse(
                uri.split_once('?').map(|(_, q)| q).unwrap_or("").as_bytes(),
            )
            .into_owned()
            .collect();
            let get = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.clone());
            let n: usize = get("n").and_then(|n| n.parse().ok()).unwrap_or(1000);
            let start = match get("last") {
                Some(last) => sorted
                    .iter()
                    .position(|t| *t > last)
                    .unwrap_or(sorted.len()),
                None => 0,
            };
            let page: Vec<&String> = sorted.iter().skip(start).take(n).collect();
            let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
            if start + n < sorted.len() {
                let last = page.last().map(|t| t.as_str()).unwrap_or("");
                headers.push((
                    "link".to_string(),
                    format!("</v2/library/nginx/tags/list?last={last}&n={n}>; rel=\"next\""),
                ));
            }
            Some(Refusal {
                status: 200,
                headers,
                body: json!({"name": "library/nginx", "tags": page}).to_string(),
            })
        }),
    )
}

#[test]
fn pagination_then_a_no_change_rerun_costs_one_head_per_tag_per_side() {
    let src = seeded();
    let proxy = paginating_proxy(&src, sixty_tags());
    let dst = Registry::anonymous();
    let from = format!("{}/library/nginx", proxy.host());
    let to = format!("{}/mirrors/nginx", dst.host());
    let args = ["--page-size", "7", "--include", r"^1\.2[0-7]\.\d+$"];
    let o = sync(&from, &to, &args);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert_eq!(o.report["summary"]["copied"], 31);
    assert_eq!(o.report["sync"][0]["tags"], 60);
    assert_eq!(dst.client().tags("mirrors/nginx").len(), 31);

    let seen_before = proxy.seen().len();
    let dst_before = dst.log().lines().count();
    let o = sync(&from, &to, &args);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert_eq!(o.report["summary"]["skipped"], 31);
    let src_requests: Vec<String> = proxy
        .seen()
        .iter()
        .skip(seen_before)
        .filter(|r| r.uri != "/v2/" && r.status != 401)
        .map(|r| format!("{} {}", r.method, r.uri))
        .collect();
    let dst_requests: Vec<String> = dst
        .requests_after(dst_before)
        .into_iter()
        .filter(|r| r != "GET /v2/")
        // This test's own listing of the first run's tags may be logged late.
        .filter(|r| !r.starts_with("GET /v2/mirrors/nginx/tags/list"))
        .collect();
    // 60 tags at 7 a page: 9 pages, following `Link` (`n`, then `last`).
    let pages: Vec<&String> = src_requests
        .iter()
        .filter(|r| r.contains("/tags/list"))
        .collect();
    assert_eq!(pages.len(), 9, "{pages:#?}");
    assert!(pages[0].ends_with("/tags/list?n=7"), "{pages:#?}");
    assert!(pages[1].contains("last=1.21.2"), "{pages:#?}");
    // Then one manifest HEAD per tag on each side; no manifest GET, no blob request.
    let heads = |reqs: &[String]| {
        reqs.iter()
            .filter(|r| r.starts_with("HEAD /v2/") && r.contains("/manifests/"))
            .count()
    };
    assert_eq!(heads(&src_requests), 31, "{src_requests:#?}");
    // And for signatures, one referrers lookup: its 404 says this registry has no referrers
    // API, and the listing above serves the tag schema (no second listing).
    let lookups = src_requests
        .iter()
        .filter(|r| r.starts_with("GET /v2/library/nginx/referrers/sha256:"))
        .count();
    assert_eq!(lookups, 1, "{src_requests:#?}");
    assert_eq!(src_requests.len(), 31 + 9 + 1, "{src_requests:#?}");
    assert_eq!(heads(&dst_requests), 31, "{dst_requests:#?}");
    assert_eq!(dst_requests.len(), 31, "{dst_requests:#?}");
}

#[test]
fn sort_by_created_reads_each_config() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let client = src.client();
    let layer = b"layer bytes".to_vec();
    let layer_digest = client.push_blob("app/svc", &layer);
    for (tag, created) in [
        ("blue", "2024-03-01T10:00:00Z"),
        ("green", "2024-05-01T10:00:00.5Z"),
        ("red", "2023-12-24T08:00:00Z"),
    ] {
        let config = json!({"architecture": "amd64", "os": "linux", "created": created,
            "rootfs": {"type": "layers", "diff_ids": [sha256_digest(&layer)]}})
        .to_string();
        let config_digest = client.push_blob("app/svc", config.as_bytes());
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                       "size": config.len(), "digest": config_digest},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                        "size": layer.len(), "digest": layer_digest}]
        })
        .to_string();
        client.push_manifest(
            "app/svc",
            tag,
            "application/vnd.docker.distribution.manifest.v2+json",
            manifest.as_bytes(),
        );
    }
    let o = sync(
        &format!("{}/app/svc", src.host()),
        &format!("{}/mirror/svc", dst.host()),
        &["--dry-run", "--sort", "created", "--keep-latest", "2"],
    );
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert_eq!(kept(&o), ["green", "blue"]);
    assert!(
        o.stderr.contains("sorting 3 tags by `created`"),
        "{}",
        o.stderr
    );
}

#[test]
fn namespace_sync_walks_the_catalog() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let img = image_with_base(Format::Docker, "linux", "amd64", None, &[], &[1000], 61);
    for repo in ["team/a", "team/b", "team/deep/c", "other/x"] {
        push_image(&src.client(), repo, Some("1.0"), &img);
    }
    let o = sync(
        &format!("{}/team", src.host()),
        &format!("{}/mirror", dst.host()),
        &["--all-repos", "--page-size", "2"],
    );
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let mut catalog = dst.client().catalog();
    catalog.sort();
    assert_eq!(catalog, ["mirror/a", "mirror/b", "mirror/deep/c"]);
    assert!(
        src.log().contains("GET /v2/_catalog?n=2"),
        "catalog not paginated"
    );

    // Docker Hub has no catalog: a clear error before any request.
    let o = sync(
        "docker.io/library",
        &format!("{}/mirror", dst.host()),
        &["--all-repos"],
    );
    assert_eq!(o.code, 2, "{}\n{}", o.stdout, o.stderr);
    assert!(
        o.stderr
            .contains("`docker.io` offers no repository catalog"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr
            .contains("hint: Docker Hub and most public registries do not list their repositories"),
        "{}",
        o.stderr
    );
}

#[test]
fn bad_patterns_and_tagged_repositories_are_usage_errors() {
    let o = sync(
        "127.0.0.1:1/a/b",
        "127.0.0.1:1/c/d",
        &["--include", r"^1\.(2[0-9]"],
    );
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr
            .contains(r"error: --include `^1\.(2[0-9]` is not a valid regular expression: "),
        "{}",
        o.stderr
    );
    let o = sync("nginx:1.27", "127.0.0.1:1/c/d", &[]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("error: `nginx:1.27` is not a repository: it names a tag or digest"),
        "{}",
        o.stderr
    );
}
