//! Docker Hub's pull limit, read before copying: a stand-in Docker Hub (the real registry behind
//! a proxy that states `ratelimit-limit` / `ratelimit-remaining` on manifest answers, as Docker
//! Hub does on `GET` and `HEAD`) reached through `--endpoint docker.io=…`.

use crate::support::{bin, image, push_image, After, Format, Proxy, Registry};
use axum::http::Method;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The stand-in, with `remaining` pulls left of 100 in a 6-hour window; each manifest `GET`
/// uses one up.
pub(crate) fn docker_hub(registry: &Registry, remaining: u64) -> (Proxy, Arc<AtomicU64>) {
    let left = Arc::new(AtomicU64::new(remaining));
    let counting = left.clone();
    let after: After = Box::new(move |method, uri, _, _, headers| {
        if !uri.contains("/manifests/") {
            return;
        }
        if method == Method::GET {
            let _ = counting.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        }
        let now = counting.load(Ordering::SeqCst);
        headers.insert("ratelimit-limit", "100;w=21600".parse().expect("header"));
        headers.insert(
            "ratelimit-remaining",
            format!("{now};w=21600").parse().expect("header"),
        );
    });
    (
        Proxy::start_with(
            &registry.base_url(),
            Box::new(|_, _, _, _| None),
            Some(after),
        ),
        left,
    )
}

/// An image `:v1` in each of `repos`.
pub(crate) fn seed(src: &Registry, repos: &[&str], seed: u64) {
    for (i, repo) in repos.iter().enumerate() {
        let img = image(
            Format::Docker,
            "linux",
            "amd64",
            None,
            &[1_000],
            seed + i as u64,
        );
        push_image(&src.client(), repo, Some("v1"), &img);
    }
}

fn mirror(hub: &Proxy, dst: &Registry, list: &str) -> crate::support::Outcome {
    let mut cli = bin();
    cli.args([
        "mirror",
        "-f",
        "-",
        "--target-registry",
        &dst.host(),
        "--target-namespace",
        "m",
    ])
    .args(["--endpoint", &format!("docker.io={}", hub.host())])
    .write_stdin(list.to_string());
    cli.run_with_report()
}

#[test]
fn with_no_pull_left_docker_hub_images_are_not_started_and_the_rest_are_copied() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    seed(&src, &["library/one", "library/two", "elsewhere"], 95);
    let (hub, _) = docker_hub(&src, 0);
    let list = format!(
        "one:v1\ndocker.io/library/two:v1\n{}\n",
        src.reference("elsewhere", "v1")
    );

    let o = mirror(&hub, &dst, &list);
    assert_eq!(o.code, 1, "{}\n{}", o.stdout, o.stderr);
    let images = o.report["images"].as_array().cloned().unwrap_or_default();
    let status = |source: &str| {
        images
            .iter()
            .find(|i| i["source"] == source)
            .map(|i| {
                (
                    i["status"].clone(),
                    i["error"].as_str().unwrap_or("").to_string(),
                )
            })
            .expect(source)
    };
    for source in ["docker.io/library/one:v1", "docker.io/library/two:v1"] {
        let (st, error) = status(source);
        assert_eq!(st, "failed");
        assert!(
            error.starts_with("not started: Docker Hub's pull limit is used up (100 pulls in 6 h)"),
            "{error}"
        );
        assert!(error.contains("--src-creds docker.io="), "{error}");
    }
    assert_eq!(status(&src.reference("elsewhere", "v1")).0, "copied");
    // One HEAD of the first Docker Hub source states the budget; with none left the Docker
    // Hub images are not looked up either, and no manifest is read from the stand-in.
    let seen: Vec<String> = hub
        .seen()
        .iter()
        .filter(|s| s.uri.contains("/manifests/"))
        .map(|s| format!("{} {}", s.method, s.uri))
        .collect();
    assert_eq!(seen, ["HEAD /v2/library/one/manifests/v1"]);
    assert!(
        o.stderr.contains("Docker Hub: 0 of 100 pulls left in 6 h"),
        "{}",
        o.stderr
    );
}

#[test]
fn with_fewer_pulls_left_than_needed_the_run_says_so_and_goes_on() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    seed(&src, &["library/one", "library/two"], 97);
    let (hub, _) = docker_hub(&src, 1);
    let o = mirror(&hub, &dst, "one:v1\ntwo:v1\n");
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(
        o.stderr.contains("Docker Hub: 1 of 100 pulls left in 6 h for this address or account; this batch needs at least 2"),
        "{}",
        o.stderr
    );
    assert_eq!(o.report["summary"]["copied"], 2);
}

/// `validate --online` says what Docker Hub has left against what the list needs, from the
/// look-ups' `HEAD`s (no request of its own, no pull: Docker Hub's bytes are not counted).
#[test]
fn validate_online_states_the_budget_from_the_look_ups_alone() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    seed(&src, &["library/one", "library/two"], 99);
    let (hub, _) = docker_hub(&src, 0);
    let run = |json: bool| {
        let mut cli = bin();
        cli.args([
            "validate",
            "--online",
            "-f",
            "-",
            "--target-registry",
            &dst.host(),
        ])
        .args(json.then_some("--json"))
        .env("REGISTRY_ENDPOINTS", format!("docker.io={}", hub.host()))
        .write_stdin("one:v1\ntwo:v1\nthree:v1\n");
        let out = cli.output().expect("run registry-mirror");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, stdout) = run(false);
    // `three` is not there: it needs no pull.
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "\nDocker Hub: 0 of 100 pulls left in 6 h; this run needs at least 2; none left: its \
             images would not be started (pulls come back within 6 h)\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("; bytes not counted: reading Docker Hub's manifests would count as pulls"),
        "{stdout}"
    );
    let (_, stdout) = run(true);
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(
        v["docker_hub"],
        serde_json::json!({"limit": 100, "remaining": 0, "window_secs": 21600, "window": "6 h",
            "needed": 2, "exhausted": true, "short": true})
    );
    // HEADs and tag lists only: no pull counted.
    let seen = hub.seen();
    assert!(
        seen.iter()
            .all(|s| s.method == "HEAD" || s.uri.contains("/tags/list") || s.uri == "/v2/"),
        "{seen:#?}"
    );
    assert!(dst.client().catalog().is_empty());
}
