#![allow(clippy::unwrap_used)]
mod copy_anonymous;
mod copy_auth;
mod copy_errors;
mod copy_fallback;
mod copy_tls;
mod copy_transport;
mod copy_vs_skopeo;
mod github_actions;
mod issue_flow;
mod mirror;
mod notify;
mod run_config;
mod shards;
mod support;
mod support_smoke;
mod sync;
mod validate;
