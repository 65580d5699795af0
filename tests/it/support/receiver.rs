//! A local stand-in for chat webhooks (WeCom, DingTalk, Feishu, Slack, any URL): records every
//! request and answers each path the way the test says, including not answering at all.

use std::collections::HashMap;
use std::net::TcpListener as StdTcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Router;
use serde_json::Value;

/// One request a receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    /// Decoded query pairs.
    pub query: Vec<(String, String)>,
    pub content_type: Option<String>,
    pub body: Value,
}

impl Received {
    pub fn query(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// How a path answers.
#[derive(Clone, Debug)]
pub enum Reply {
    Json(u16, Value),
    Text(u16, String),
    /// Never answers (the connection stays open until the client gives up).
    Hang,
}

struct ReceiverState {
    replies: HashMap<String, Reply>,
    got: Mutex<Vec<Received>>,
}

pub struct Receiver {
    runtime: Option<tokio::runtime::Runtime>,
    port: u16,
    state: Arc<ReceiverState>,
}

impl Receiver {
    /// A receiver answering `replies` by path (other paths: 404).
    pub fn start(replies: &[(&str, Reply)]) -> Receiver {
        let state = Arc::new(ReceiverState {
            replies: replies
                .iter()
                .map(|(p, r)| (p.to_string(), r.clone()))
                .collect(),
            got: Mutex::new(Vec::new()),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("receiver")
            .enable_all()
            .build()
            .expect("receiver runtime");
        let listener = StdTcpListener::bind("127.0.0.1:0").expect("bind receiver");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("addr").port();
        let app = Router::new().fallback(handle).with_state(state.clone());
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            axum::serve(listener, app).await.expect("receiver");
        });
        Receiver {
            runtime: Some(runtime),
            port,
            state,
        }
    }

    /// `http://127.0.0.1:PORT{path_and_query}`.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://127.0.0.1:{}{path_and_query}", self.port)
    }

    pub fn got(&self) -> Vec<Received> {
        self.state.got.lock().expect("got").clone()
    }

    /// The requests to `path`.
    pub fn at(&self, path: &str) -> Vec<Received> {
        self.got().into_iter().filter(|r| r.path == path).collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_millis(100));
        }
    }
}

async fn handle(State(state): State<Arc<ReceiverState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.expect("body");
    let path = parts.uri.path().to_string();
    let query = url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    state.got.lock().expect("got").push(Received {
        path: path.clone(),
        query,
        content_type: parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    });
    match state.replies.get(&path).cloned() {
        Some(Reply::Json(status, v)) => Response::builder()
            .status(StatusCode::from_u16(status).expect("status"))
            .header("content-type", "application/json")
            .body(Body::from(v.to_string()))
            .expect("response"),
        Some(Reply::Text(status, t)) => Response::builder()
            .status(StatusCode::from_u16(status).expect("status"))
            .body(Body::from(t))
            .expect("response"),
        Some(Reply::Hang) => std::future::pending().await,
        None => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::empty())
            .expect("response"),
    }
}
