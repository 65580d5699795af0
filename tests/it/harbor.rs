//! Harbor projects (`--create-namespace`): a stand-in Harbor in front of the real registry,
//! modelled on Harbor 2.x: a push into a project that does not exist is refused like one
//! without rights (401 "unauthorized to access repository"); `GET /api/v2.0/systeminfo` says it
//! is Harbor; `HEAD /api/v2.0/projects?project_name=` tells whether a project exists; `POST
//! /api/v2.0/projects` (Basic credentials) creates one.

use crate::support::{bin, image, push_image, Format, Proxy, Refusal, Registry};
use axum::http::Method;
use base64::Engine as _;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// What the stand-in's API was asked to do: (method, path and query, Authorization, body).
type Calls = Arc<Mutex<Vec<(String, String, Option<String>, String)>>>;

fn harbor(registry: &Registry) -> (Proxy, Calls) {
    let projects: Arc<Mutex<HashSet<String>>> =
        Arc::new(Mutex::new(HashSet::from(["library".to_string()])));
    let calls: Calls = Arc::default();
    let seen = calls.clone();
    let rule: crate::support::Rule = Box::new(move |method, uri, headers, body| {
        let json = |status: u16, v: serde_json::Value| Refusal {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: v.to_string(),
        };
        if let Some(api) = uri.strip_prefix("/api/v2.0/") {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            seen.lock().expect("calls").push((
                method.to_string(),
                uri.to_string(),
                auth.clone(),
                String::from_utf8_lossy(body).into_owned(),
            ));
            let mut projects = projects.lock().expect("projects");
            return Some(match (method.as_str(), api) {
                ("GET", "systeminfo") => json(
                    200,
                    serde_json::json!({"harbor_version": "v2.11.1-6b7ecba1"}),
                ),
                ("HEAD", q) if q.starts_with("projects?project_name=") => {
                    let name = q.trim_start_matches("projects?project_name=");
                    json(
                        if projects.contains(name) { 200 } else { 404 },
                        serde_json::json!({}),
                    )
                }
                ("POST", "projects") => {
                    let want = format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode("admin:Harbor12345")
                    );
                    if auth.as_deref() != Some(want.as_str()) {
                        return Some(json(
                            401,
                            serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": "unauthorized"}]}),
                        ));
                    }
                    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
                    let name = v["project_name"].as_str().unwrap_or_default().to_string();
                    if !projects.insert(name) {
                        return Some(json(
                            409,
                            serde_json::json!({"errors": [{"code": "CONFLICT", "message": "exists"}]}),
                        ));
                    }
                    json(201, serde_json::json!({}))
                }
                _ => json(
                    404,
                    serde_json::json!({"errors": [{"code": "NOT_FOUND", "message": "not found"}]}),
                ),
            });
        }
        // A write into a project that does not exist: refused like one without rights.
        let project = uri.strip_prefix("/v2/")?.split('/').next()?.to_string();
        let write = method != Method::GET && method != Method::HEAD;
        if write && !projects.lock().expect("projects").contains(&project) {
            let message = format!("unauthorized to access repository: {project}/app, action: push");
            return Some(Refusal {
                status: 401,
                headers: vec![
                    ("content-type".into(), "application/json".into()),
                    ("www-authenticate".into(), "Basic realm=\"harbor\"".into()),
                ],
                body: serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": message}]})
                    .to_string(),
            });
        }
        None
    });
    (Proxy::start(&registry.base_url(), rule), calls)
}

fn copy(src: &Registry, to: &Proxy, extra: &[&str]) -> crate::support::Outcome {
    let mut cli = bin();
    cli.args([
        "copy",
        &src.reference("app", "v1"),
        &to.reference("team/app", "v1"),
        "--dest-creds",
        "admin:Harbor12345",
    ])
    .args(extra);
    cli.run_with_report()
}

#[test]
fn create_namespace_creates_the_missing_harbor_project_and_pushes() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let img = image(Format::Docker, "linux", "amd64", None, &[2_000], 91);
    push_image(&src.client(), "app", Some("v1"), &img);
    let (harbor, calls) = harbor(&dst);

    let o = copy(&src, &harbor, &["--create-namespace"]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert_eq!(
        dst.client().head_manifest("team/app", "v1").as_deref(),
        Some(img.digest.as_str())
    );
    let calls = calls.lock().expect("calls").clone();
    let asked: Vec<(String, String)> = calls.iter().map(|c| (c.0.clone(), c.1.clone())).collect();
    assert_eq!(
        asked,
        vec![
            ("GET".to_string(), "/api/v2.0/systeminfo".to_string()),
            ("HEAD".into(), "/api/v2.0/projects?project_name=team".into()),
            ("POST".into(), "/api/v2.0/projects".into()),
        ]
    );
    let body: serde_json::Value = serde_json::from_str(&calls[2].3).expect("json");
    assert_eq!(
        body,
        serde_json::json!({"project_name": "team", "metadata": {"public": "false"}})
    );
    let warnings = o.report["images"][0]["warnings"].to_string();
    assert!(
        warnings.contains("created the private Harbor project `team`"),
        "{warnings}"
    );
}

#[test]
fn without_create_namespace_the_refusal_says_how_to_create_it() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let img = image(Format::Docker, "linux", "amd64", None, &[2_000], 92);
    push_image(&src.client(), "app", Some("v1"), &img);
    let (harbor, calls) = harbor(&dst);

    let o = copy(&src, &harbor, &[]);
    assert_eq!(o.code, 1, "{}\n{}", o.stdout, o.stderr);
    let error = o.report["images"][0]["error"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(error.contains("--create-namespace"), "{error}");
    assert!(
        calls.lock().expect("calls").is_empty(),
        "no API call without the flag"
    );
}

#[test]
fn images_refused_together_create_the_project_once_and_all_land() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let mut list = String::new();
    for i in 0..3 {
        let img = image(Format::Docker, "linux", "amd64", None, &[2_000], 93 + i);
        push_image(&src.client(), &format!("app{i}"), Some("v1"), &img);
        list.push_str(&format!(
            "{} team/app{i}:v1\n",
            src.reference(&format!("app{i}"), "v1")
        ));
    }
    let (harbor, calls) = harbor(&dst);
    let mut cli = bin();
    cli.args([
        "mirror",
        "-f",
        "-",
        "--target-registry",
        &harbor.host(),
        "--target-namespace",
        "x",
    ])
    .args([
        "--dest-creds",
        "admin:Harbor12345",
        "--create-namespace",
        "--parallel",
        "3",
    ])
    .write_stdin(list);
    let o = cli.run_with_report();
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert_eq!(o.report["summary"]["copied"], 3, "{}", o.report);
    let posts = calls
        .lock()
        .expect("calls")
        .iter()
        .filter(|c| c.0 == "POST")
        .count();
    assert_eq!(posts, 1, "the project is created once");
}
