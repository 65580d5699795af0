//! registry-mirror: mirror container images between registries with a native Registry V2 / OCI engine.
//!
//! The modules follow the protocol's layers: [`reference`] (the Docker reference grammar) ->
//! [`registry`] (transport, auth, manifests, blobs) -> [`copy`] (copying one image) -> [`report`]
//! (what happened, as data) -> [`app`] (the commands users run).

pub mod app;
pub mod cli;
pub mod config;
pub mod config_run;
pub mod copy;
pub mod env;
pub mod github;
pub mod github_event;
pub mod image_list;
pub mod issue_form;
pub mod issue_mode;
pub mod layout;
pub mod list_jobs;
pub mod notify;
pub mod progress;
pub mod reference;
pub mod registry;
pub mod repo_sync;
pub mod report;
pub mod shard;
pub mod tag_filter;
pub mod target_naming;
pub mod templates;
