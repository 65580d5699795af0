//! The webhook payload of the event that started a workflow (`GITHUB_EVENT_PATH`), reduced to
//! what issue mode needs, and the decision it leads to. No I/O here: the payload comes in as
//! text, the decision goes out as data.
//!
//! Shapes follow GitHub's documented payloads: `issues` (`action`, `issue`, `label` for
//! `labeled`), `issue_comment` (`action`, `issue`, `comment`) and `workflow_dispatch`
//! (`inputs`, values as strings; a boolean input may also arrive as a JSON boolean).

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Issue {
    pub number: u64,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub labels: Vec<Label>,
    #[serde(default)]
    pub author_association: String,
    #[serde(default)]
    pub user: Option<User>,
    #[serde(default)]
    pub html_url: String,
    /// Present when the "issue" is a pull request (issue_comment fires for both).
    #[serde(default)]
    pub pull_request: Option<serde_json::Value>,
}

impl Issue {
    pub fn has_label(&self, name: &str) -> bool {
        self.labels
            .iter()
            .any(|l| l.name.eq_ignore_ascii_case(name))
    }

    pub fn author(&self) -> &str {
        self.user.as_ref().map(|u| u.login.as_str()).unwrap_or("")
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Label {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub login: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Comment {
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub author_association: String,
    #[serde(default)]
    pub user: Option<User>,
}

#[derive(Debug, Deserialize)]
struct IssuesPayload {
    action: String,
    issue: Issue,
    #[serde(default)]
    label: Option<Label>,
}

#[derive(Debug, Deserialize)]
struct CommentPayload {
    action: String,
    issue: Issue,
    comment: Comment,
}

#[derive(Debug, Deserialize)]
struct DispatchPayload {
    #[serde(default)]
    inputs: serde_json::Map<String, serde_json::Value>,
}

/// The event, parsed.
#[derive(Debug, Clone)]
pub enum Event {
    Issues {
        action: String,
        issue: Issue,
        label: Option<String>,
    },
    Comment {
        action: String,
        issue: Issue,
        comment: Comment,
    },
    Dispatch {
        images: String,
        platforms: Option<String>,
        all_platforms: bool,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("event `{0}` is not handled by `registry-mirror issue`")]
    Unsupported(String),
    #[error("the `{event}` payload cannot be read: {message}")]
    Payload { event: String, message: String },
}

/// Parse the payload of event `name`.
pub fn parse(name: &str, payload: &str) -> Result<Event, EventError> {
    let bad = |e: serde_json::Error| EventError::Payload {
        event: name.to_string(),
        message: e.to_string(),
    };
    match name {
        "issues" => {
            let p: IssuesPayload = serde_json::from_str(payload).map_err(bad)?;
            Ok(Event::Issues {
                action: p.action,
                issue: p.issue,
                label: p.label.map(|l| l.name),
            })
        }
        "issue_comment" => {
            let p: CommentPayload = serde_json::from_str(payload).map_err(bad)?;
            Ok(Event::Comment {
                action: p.action,
                issue: p.issue,
                comment: p.comment,
            })
        }
        "workflow_dispatch" => {
            let p: DispatchPayload = serde_json::from_str(payload).map_err(bad)?;
            let text = |k: &str| match p.inputs.get(k) {
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                Some(serde_json::Value::Bool(b)) => Some(b.to_string()),
                _ => None,
            };
            Ok(Event::Dispatch {
                images: text("images").unwrap_or_default(),
                platforms: text("platforms").filter(|p| !p.trim().is_empty()),
                all_platforms: text("all_platforms").is_some_and(|v| v.trim() == "true"),
            })
        }
        other => Err(EventError::Unsupported(other.to_string())),
    }
}

/// Who may make the Action push.
#[derive(Debug, Clone)]
pub struct Policy {
    pub label: String,
    /// Upper-case `author_association` values; empty means anyone (`any`).
    pub allowed: Vec<String>,
}

impl Policy {
    /// `--allowed-associations` text: a comma list, or `any`.
    pub fn new(label: &str, allowed: &str) -> Policy {
        let list: Vec<String> = allowed
            .split(',')
            .map(|s| s.trim().to_ascii_uppercase())
            .filter(|s| !s.is_empty())
            .collect();
        Policy {
            label: label.to_string(),
            allowed: if list.iter().any(|s| s == "ANY") {
                Vec::new()
            } else {
                list
            },
        }
    }

    pub fn allows(&self, association: &str) -> bool {
        self.allowed.is_empty()
            || self
                .allowed
                .iter()
                .any(|a| a.eq_ignore_ascii_case(association))
    }
}

/// What to do about an event.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Nothing at all, not even a comment; the reason is logged.
    Ignore(String),
    /// One polite comment, no copy.
    NotAllowed { issue: Issue, who: String },
    /// Mirror the list of an issue body.
    RunIssue { issue: Issue },
    /// Mirror the dispatch inputs.
    RunDispatch {
        images: String,
        platforms: Option<String>,
        all_platforms: bool,
    },
}

/// Decide what an event asks for under `policy`.
pub fn decide(event: Event, policy: &Policy) -> Decision {
    match event {
        Event::Dispatch {
            images,
            platforms,
            all_platforms,
        } => Decision::RunDispatch {
            images,
            platforms,
            all_platforms,
        },
        Event::Issues {
            action,
            issue,
            label,
        } => {
            if !matches!(
                action.as_str(),
                "opened" | "reopened" | "edited" | "labeled"
            ) {
                return Decision::Ignore(format!("issue action `{action}` is not handled"));
            }
            if action == "labeled"
                && !label
                    .as_deref()
                    .is_some_and(|l| l.eq_ignore_ascii_case(&policy.label))
            {
                return Decision::Ignore(format!("the label added is not `{}`", policy.label));
            }
            if let Some(reason) = not_actionable(&issue, policy) {
                return Decision::Ignore(reason);
            }
            if !policy.allows(&issue.author_association) {
                let who = issue.author().to_string();
                return Decision::NotAllowed { issue, who };
            }
            Decision::RunIssue { issue }
        }
        Event::Comment {
            action,
            issue,
            comment,
        } => {
            if action != "created" {
                return Decision::Ignore(format!("comment action `{action}` is not handled"));
            }
            let first = comment.body.trim().lines().next().unwrap_or("").trim();
            if first != "/retry" {
                return Decision::Ignore("the comment is not `/retry`".into());
            }
            if let Some(reason) = not_actionable(&issue, policy) {
                return Decision::Ignore(reason);
            }
            if !policy.allows(&comment.author_association) {
                let who = comment.user.map(|u| u.login).unwrap_or_default();
                return Decision::NotAllowed { issue, who };
            }
            if !policy.allows(&issue.author_association) {
                // An allowed commenter cannot launder an issue whose author may not push.
                let who = issue.author().to_string();
                return Decision::NotAllowed { issue, who };
            }
            Decision::RunIssue { issue }
        }
    }
}

fn not_actionable(issue: &Issue, policy: &Policy) -> Option<String> {
    if issue.pull_request.is_some() {
        return Some(format!("#{} is a pull request", issue.number));
    }
    if issue.state != "open" {
        return Some(format!("issue #{} is not open", issue.number));
    }
    if !issue.has_label(&policy.label) {
        return Some(format!(
            "issue #{} does not carry the label `{}`",
            issue.number, policy.label
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn issue(assoc: &str, labels: &[&str], state: &str) -> serde_json::Value {
        json!({
            "number": 7, "title": "mirror", "body": "nginx:1.27", "state": state,
            "labels": labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>(),
            "author_association": assoc, "user": {"login": "octocat"},
            "html_url": "https://github.com/o/r/issues/7"
        })
    }

    fn policy() -> Policy {
        Policy::new("mirror-request", "OWNER,MEMBER,COLLABORATOR")
    }

    fn decide_json(name: &str, payload: serde_json::Value) -> Decision {
        decide(
            parse(name, &payload.to_string()).expect("payload"),
            &policy(),
        )
    }

    #[test]
    fn issues_events() {
        let run = |action: &str, assoc: &str, labels: &[&str], state: &str| {
            decide_json(
                "issues",
                json!({"action": action, "issue": issue(assoc, labels, state)}),
            )
        };
        assert!(matches!(
            run("opened", "OWNER", &["mirror-request"], "open"),
            Decision::RunIssue { .. }
        ));
        assert!(matches!(
            run("edited", "member", &["Mirror-Request"], "open"),
            Decision::RunIssue { .. }
        ));
        assert!(matches!(
            run("opened", "OWNER", &["bug"], "open"),
            Decision::Ignore(_)
        ));
        assert!(matches!(
            run("opened", "OWNER", &["mirror-request"], "closed"),
            Decision::Ignore(_)
        ));
        assert!(matches!(
            run("closed", "OWNER", &["mirror-request"], "open"),
            Decision::Ignore(_)
        ));
        match run("opened", "NONE", &["mirror-request"], "open") {
            Decision::NotAllowed { who, .. } => assert_eq!(who, "octocat"),
            other => panic!("{other:?}"),
        }
        // `labeled` acts only when the trigger label is the one added (our own `failed` label
        // must not start a run).
        let labeled = |label: &str| {
            decide_json(
                "issues",
                json!({"action": "labeled", "label": {"name": label},
                       "issue": issue("OWNER", &["mirror-request", label], "open")}),
            )
        };
        assert!(matches!(
            labeled("mirror-request"),
            Decision::RunIssue { .. }
        ));
        assert!(matches!(labeled("failed"), Decision::Ignore(_)));
    }

    #[test]
    fn retry_comments() {
        let comment = |body: &str, assoc: &str, issue_assoc: &str| {
            decide_json(
                "issue_comment",
                json!({"action": "created", "issue": issue(issue_assoc, &["mirror-request"], "open"),
                       "comment": {"body": body, "author_association": assoc, "user": {"login": "maint"}}}),
            )
        };
        assert!(matches!(
            comment("/retry", "MEMBER", "OWNER"),
            Decision::RunIssue { .. }
        ));
        assert!(matches!(
            comment("  /retry\r\nplease", "OWNER", "OWNER"),
            Decision::RunIssue { .. }
        ));
        assert!(matches!(
            comment("thanks!", "OWNER", "OWNER"),
            Decision::Ignore(_)
        ));
        assert!(matches!(
            comment("/retry now", "OWNER", "OWNER"),
            Decision::Ignore(_)
        ));
        match comment("/retry", "NONE", "OWNER") {
            Decision::NotAllowed { who, .. } => assert_eq!(who, "maint"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            comment("/retry", "OWNER", "NONE"),
            Decision::NotAllowed { .. }
        ));
    }

    #[test]
    fn dispatch_inputs() {
        match decide_json(
            "workflow_dispatch",
            json!({"inputs": {"images": "nginx:1.27\nalpine:3.20", "platforms": "", "all_platforms": true}}),
        ) {
            Decision::RunDispatch {
                images,
                platforms,
                all_platforms,
            } => {
                assert_eq!(images, "nginx:1.27\nalpine:3.20");
                assert_eq!(platforms, None);
                assert!(all_platforms);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse("push", "{}"),
            Err(EventError::Unsupported(_))
        ));
        assert!(matches!(
            parse("issues", "{\"action\": 1}"),
            Err(EventError::Payload { .. })
        ));
    }

    #[test]
    fn any_opens_it_up() {
        assert!(Policy::new("m", "any").allows("NONE"));
        assert!(!Policy::new("m", "OWNER").allows("CONTRIBUTOR"));
    }
}
