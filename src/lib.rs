//! registry-mirror: mirror container images between registries with a native Registry V2 / OCI engine.
//!
//! The modules follow the protocol's layers: [`reference`](mod@reference) (the Docker reference
//! grammar) -> [`registry`] (transport, auth, manifests, blobs) and [`layout`] (OCI layouts on
//! disk) -> [`copy`] (copying one image, many images) -> [`report`] (what happened, as data) ->
//! [`app`] and [`commands`] (the commands users run, one module each). Inputs have their own
//! modules: [`image_list`] (the one list parser), [`issue_form`], [`config`], [`github_event`];
//! so do the outputs beyond the report: [`github`] (issue comments and labels), [`templates`] and
//! [`notify`] (chat messages). Every input is read with a size bound: [`bounded`].

pub mod app;
pub mod bounded;
pub mod cli;
pub mod commands;
pub mod config;
pub mod copy;
pub mod env;
pub mod escape;
pub mod github;
pub mod github_event;
pub mod hints;
pub mod hosts;
pub mod image_list;
pub mod issue_form;
pub mod layout;
pub mod list_jobs;
pub mod notify;
pub mod progress;
pub mod reference;
pub mod registry;
pub mod repo_sync;
pub mod report;
pub mod retry;
pub mod shard;
pub mod tag_filter;
pub mod target_naming;
pub mod templates;
pub mod untrusted;
