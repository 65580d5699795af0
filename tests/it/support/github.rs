//! A stand-in for the GitHub REST API: the issue endpoints issue mode calls, answering the way
//! GitHub documents them (201 with the comment's `id` on create, 404 `Not Found` for a missing
//! label, ...) and recording every request so tests can assert the exact calls and bodies.
//! Failures can be scripted (`fail_next`): the next request matching a method and path gets a
//! chosen status and headers instead (5xx, secondary rate limits); `lose_next` carries the
//! request out and then answers 502, the way a gateway loses the answer to a write that landed.
//! Comments are kept per issue and listed by `GET .../issues/N/comments`.

use std::collections::BTreeSet;
use std::net::TcpListener as StdTcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::Router;
use serde_json::{json, Value};

/// One request the fake API received.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub method: String,
    pub path: String,
    /// The JSON body (`Null` when empty).
    pub body: Value,
    pub authorization: Option<String>,
    pub status: u16,
}

impl Call {
    /// `"POST /repos/o/r/issues/1/comments"`.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

struct Failure {
    method: String,
    path: String,
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    /// Carry the request out first (the answer is lost, not the write).
    after_routing: bool,
}

struct GitHubState {
    repo: String,
    labels: Mutex<BTreeSet<String>>,
    calls: Mutex<Vec<Call>>,
    failures: Mutex<Vec<Failure>>,
    next_comment: Mutex<u64>,
    /// (issue, id, body) of every comment, in creation order.
    comments: Mutex<Vec<(u64, u64, Value)>>,
}

pub struct FakeGitHub {
    runtime: Option<tokio::runtime::Runtime>,
    port: u16,
    state: Arc<GitHubState>,
}

impl FakeGitHub {
    /// The API of repository `owner/name`, whose existing labels are `labels`.
    pub fn start(repo: &str, labels: &[&str]) -> FakeGitHub {
        let state = Arc::new(GitHubState {
            repo: repo.to_string(),
            labels: Mutex::new(labels.iter().map(|l| l.to_string()).collect()),
            calls: Mutex::new(Vec::new()),
            failures: Mutex::new(Vec::new()),
            next_comment: Mutex::new(1000),
            comments: Mutex::new(Vec::new()),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("fake-github")
            .enable_all()
            .build()
            .expect("fake GitHub runtime");
        let listener = StdTcpListener::bind("127.0.0.1:0").expect("bind fake GitHub");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("addr").port();
        let app = Router::new().fallback(handle).with_state(state.clone());
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            axum::serve(listener, app).await.expect("fake GitHub");
        });
        FakeGitHub {
            runtime: Some(runtime),
            port,
            state,
        }
    }

    /// `GITHUB_API_URL` for the binary. With `prefix` (`/api/v3`) it looks like GitHub Enterprise.
    pub fn url(&self, prefix: &str) -> String {
        format!("http://127.0.0.1:{}{prefix}", self.port)
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().expect("calls").clone()
    }

    /// `"METHOD path"` of every call, in order.
    pub fn lines(&self) -> Vec<String> {
        self.calls().iter().map(Call::line).collect()
    }

    pub fn clear(&self) {
        self.state.calls.lock().expect("calls").clear();
    }

    pub fn labels(&self) -> BTreeSet<String> {
        self.state.labels.lock().expect("labels").clone()
    }

    /// The next `method path` request is answered with `status`, `headers` and a GitHub error body.
    pub fn fail_next(
        &self,
        method: &str,
        path: &str,
        status: u16,
        headers: &[(&str, &str)],
        message: &str,
    ) {
        self.state.failures.lock().expect("failures").push(Failure {
            method: method.to_string(),
            path: path.to_string(),
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: json!({"message": message, "documentation_url": "https://docs.github.com/rest"})
                .to_string(),
            after_routing: false,
        });
    }

    /// The next `method path` request is carried out, then answered with a 502: its answer is
    /// lost, not its effect.
    pub fn lose_next(&self, method: &str, path: &str) {
        self.state.failures.lock().expect("failures").push(Failure {
            method: method.to_string(),
            path: path.to_string(),
            status: 502,
            headers: Vec::new(),
            body: json!({"message": "Server Error"}).to_string(),
            after_routing: true,
        });
    }

    /// The bodies of issue `issue`'s comments as they are now (edits applied).
    pub fn comments(&self, issue: u64) -> Vec<String> {
        self.state
            .comments
            .lock()
            .expect("comments")
            .iter()
            .filter(|(i, _, _)| *i == issue)
            .map(|(_, _, b)| b.as_str().unwrap_or_default().to_string())
            .collect()
    }
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_millis(100));
        }
    }
}

fn reply(status: u16, body: Value) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).expect("status"))
        .header("content-type", "application/json; charset=utf-8")
        .body(Body::from(if body.is_null() {
            String::new()
        } else {
            body.to_string()
        }))
        .expect("response")
}

async fn handle(State(state): State<Arc<GitHubState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.expect("body");
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let method = parts.method.clone();
    // GitHub Enterprise's prefix is not part of the routes.
    let path = parts.uri.path().trim_start_matches("/api/v3").to_string();
    let authorization = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);

    let scripted = {
        let mut failures = state.failures.lock().expect("failures");
        let at = failures
            .iter()
            .position(|f| f.method == method.as_str() && f.path == path);
        at.map(|i| failures.remove(i))
    };
    let response = if let Some(f) = scripted {
        if f.after_routing {
            let _ = route(&state, &method, &path, &body);
        }
        let mut b = Response::builder()
            .status(StatusCode::from_u16(f.status).expect("status"))
            .header("content-type", "application/json; charset=utf-8");
        for (k, v) in &f.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        b.body(Body::from(f.body)).expect("response")
    } else {
        route(&state, &method, &path, &body)
    };
    state.calls.lock().expect("calls").push(Call {
        method: method.to_string(),
        path,
        body,
        authorization,
        status: response.status().as_u16(),
    });
    response
}

fn route(state: &GitHubState, method: &Method, path: &str, body: &Value) -> Response {
    let repo_prefix = format!("/repos/{}/", state.repo);
    let Some(rest) = path.strip_prefix(&repo_prefix) else {
        return reply(404, json!({"message": "Not Found"}));
    };
    let parts: Vec<&str> = rest.split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("POST", ["issues", n, "comments"]) => {
            let mut next = state.next_comment.lock().expect("ids");
            *next += 1;
            state.comments.lock().expect("comments").push((
                n.parse().unwrap_or(0),
                *next,
                body["body"].clone(),
            ));
            reply(
                201,
                json!({"id": *next, "body": body["body"], "html_url":
                    format!("https://github.com/{}/issues/{n}#issuecomment-{}", state.repo, *next)}),
            )
        }
        ("GET", ["issues", n, "comments"]) => {
            let n: u64 = n.parse().unwrap_or(0);
            let list: Vec<Value> = state
                .comments
                .lock()
                .expect("comments")
                .iter()
                .filter(|(i, _, _)| *i == n)
                .map(|(_, id, b)| json!({"id": id, "body": b}))
                .collect();
            reply(200, Value::Array(list))
        }
        ("PATCH", ["issues", "comments", id]) => {
            let id = id.parse::<u64>().unwrap_or(0);
            for c in state.comments.lock().expect("comments").iter_mut() {
                if c.1 == id {
                    c.2 = body["body"].clone();
                }
            }
            reply(200, json!({"id": id, "body": body["body"]}))
        }
        ("GET", ["labels", name]) => {
            let name = percent_decode(name);
            if state.labels.lock().expect("labels").contains(&name) {
                reply(200, json!({"name": name, "color": "ededed"}))
            } else {
                reply(404, json!({"message": "Not Found"}))
            }
        }
        ("POST", ["labels"]) => {
            let name = body["name"].as_str().unwrap_or_default().to_string();
            let mut labels = state.labels.lock().expect("labels");
            if labels.contains(&name) {
                return reply(
                    422,
                    json!({"message": "Validation Failed",
                    "errors": [{"resource": "Label", "code": "already_exists", "field": "name"}]}),
                );
            }
            labels.insert(name.clone());
            reply(201, json!({"name": name, "color": body["color"]}))
        }
        ("POST", ["issues", _, "labels"]) => reply(
            200,
            json!(body["labels"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|l| json!({"name": l}))
                .collect::<Vec<_>>()),
        ),
        ("DELETE", ["issues", _, "labels", _]) => reply(200, json!([])),
        ("PATCH", ["issues", n]) => reply(
            200,
            json!({"number": n.parse::<u64>().unwrap_or(0), "state": body["state"], "state_reason": body["state_reason"]}),
        ),
        _ => reply(404, json!({"message": "Not Found"})),
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// GitHub's `issues` payload (opened, edited, labeled, ...) for issue `number`.
pub fn issues_event(
    action: &str,
    number: u64,
    body: &str,
    labels: &[&str],
    association: &str,
) -> Value {
    json!({
        "action": action,
        "issue": issue(number, body, labels, association),
        "repository": {"full_name": "octo-org/mirrors", "name": "mirrors", "owner": {"login": "octo-org"}},
        "sender": {"login": "octocat", "type": "User"}
    })
}

/// GitHub's `issue_comment` payload (action `created`).
pub fn comment_event(
    number: u64,
    body: &str,
    labels: &[&str],
    comment: &str,
    association: &str,
) -> Value {
    json!({
        "action": "created",
        "issue": issue(number, body, labels, "OWNER"),
        "comment": {
            "id": 555, "body": comment, "author_association": association,
            "user": {"login": "maintainer", "type": "User"},
            "html_url": format!("https://github.com/octo-org/mirrors/issues/{number}#issuecomment-555")
        },
        "repository": {"full_name": "octo-org/mirrors"},
        "sender": {"login": "maintainer", "type": "User"}
    })
}

fn issue(number: u64, body: &str, labels: &[&str], association: &str) -> Value {
    json!({
        "id": 9_000 + number,
        "number": number,
        "title": "Mirror request: nginx",
        "body": body,
        "state": "open",
        "locked": false,
        "labels": labels.iter().map(|l| json!({"id": 1, "name": l, "color": "ededed"})).collect::<Vec<_>>(),
        "user": {"login": "octocat", "id": 1, "type": "User"},
        "author_association": association,
        "html_url": format!("https://github.com/octo-org/mirrors/issues/{number}"),
        "comments": 0
    })
}
