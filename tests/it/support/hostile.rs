//! A registry that misbehaves on purpose: it challenges for credentials (Basic, or Bearer with a
//! token endpoint of its own), records every request with all its headers, and answers every
//! authenticated request that can carry a body with HTTP 500 and the request's headers echoed
//! in the body, the way a badly configured proxy or a hostile host would. `HEAD` answers 404 so
//! that a copy goes on to the requests that do get a body back.
//!
//! It stands in for two roles: the target registry a run legitimately sends credentials to
//! (whose echo must never reach any output), and a registry a list line names as its own target
//! (which must never see any credential at all).

use std::net::TcpListener as StdTcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Router;

/// How the registry asks for credentials, and how it echoes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Echo {
    /// `WWW-Authenticate: Basic`; the echo is a plain-text body.
    Basic,
    /// `WWW-Authenticate: Bearer realm=<its own /token>`; the echo is a registry error envelope
    /// whose message holds the headers.
    Bearer,
}

/// One request the registry saw.
#[derive(Clone, Debug)]
pub struct Heard {
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// Every header, lowercase name.
    pub headers: Vec<(String, String)>,
}

impl Heard {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

struct EchoState {
    mode: Echo,
    port: u16,
    heard: Mutex<Vec<Heard>>,
    tokens: Mutex<Vec<String>>,
}

pub struct EchoRegistry {
    runtime: Option<tokio::runtime::Runtime>,
    state: Arc<EchoState>,
}

impl EchoRegistry {
    pub fn start(mode: Echo) -> EchoRegistry {
        let listener = StdTcpListener::bind("127.0.0.1:0").expect("bind echo registry");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(EchoState {
            mode,
            port,
            heard: Mutex::new(Vec::new()),
            tokens: Mutex::new(Vec::new()),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("echo-registry")
            .enable_all()
            .build()
            .expect("echo runtime");
        let app = Router::new().fallback(handle).with_state(state.clone());
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            axum::serve(listener, app).await.expect("echo registry");
        });
        EchoRegistry {
            runtime: Some(runtime),
            state,
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.state.port)
    }

    pub fn heard(&self) -> Vec<Heard> {
        self.state.heard.lock().expect("heard").clone()
    }

    /// The tokens its `/token` endpoint handed out.
    pub fn tokens(&self) -> Vec<String> {
        self.state.tokens.lock().expect("tokens").clone()
    }
}

impl Drop for EchoRegistry {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_millis(100));
        }
    }
}

async fn handle(State(state): State<Arc<EchoState>>, req: Request) -> Response {
    let heard = Heard {
        method: req.method().to_string(),
        uri: req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
    };
    state.heard.lock().expect("heard").push(heard.clone());
    let respond = |status: u16, headers: &[(&str, String)], body: String| {
        let mut b = Response::builder().status(StatusCode::from_u16(status).expect("status"));
        for (k, v) in headers {
            b = b.header(*k, v);
        }
        b.body(Body::from(body)).expect("response")
    };
    if req.uri().path() == "/token" {
        let token = {
            let mut tokens = state.tokens.lock().expect("tokens");
            let t = format!("echo{}tok{:08x}", tokens.len(), fastrand::u32(..));
            tokens.push(t.clone());
            t
        };
        return respond(
            200,
            &[("content-type", "application/json".into())],
            serde_json::json!({"token": token, "expires_in": 300}).to_string(),
        );
    }
    if heard.header("authorization").is_none() {
        let challenge = match state.mode {
            Echo::Basic => "Basic realm=\"echo\"".to_string(),
            Echo::Bearer => format!(
                "Bearer realm=\"http://127.0.0.1:{}/token\",service=\"echo\"",
                state.port
            ),
        };
        return respond(
            401,
            &[
                ("www-authenticate", challenge),
                ("docker-distribution-api-version", "registry/2.0".into()),
            ],
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#.into(),
        );
    }
    if req.uri().path() == "/v2/" {
        return respond(200, &[], "{}".into());
    }
    if heard.method == "HEAD" {
        return respond(404, &[], String::new());
    }
    let echoed: Vec<String> = heard
        .headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    match state.mode {
        Echo::Basic => respond(
            500,
            &[("content-type", "text/plain".into())],
            format!("{} {}\n{}\n", heard.method, heard.uri, echoed.join("\n")),
        ),
        Echo::Bearer => respond(
            500,
            &[("content-type", "application/json".into())],
            serde_json::json!({"errors": [{"code": "UNKNOWN", "message": format!("your request: {}", echoed.join("; "))}]})
                .to_string(),
        ),
    }
}
