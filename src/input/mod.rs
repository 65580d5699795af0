//! What users write, parsed and checked offline: image lists (files, stdin, arguments, issue
//! bodies, dispatch inputs: one parser), the `mirror-request` issue form, the `run --config`
//! file, and the tag filters of `sync`. Nothing here talks to the network or reads the
//! environment.

pub(crate) mod config;
pub(crate) mod issue_form;
pub(crate) mod list;
pub(crate) mod read;
pub(crate) mod tag_filter;

/// How a source name maps into `REGISTRY/NAMESPACE`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Naming {
    /// `R/NS/<last path component>:<tag>`
    #[default]
    Flatten,
    /// `R/NS/<path below the registry>:<tag>` (Docker Hub's `library/` kept)
    Path,
    /// `R/NS/<registry>/<path>:<tag>`; a `:port` becomes `-port`
    Full,
}
