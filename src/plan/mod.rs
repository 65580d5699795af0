//! From inputs to what a run copies: a list placed in the target namespace ([`list`], with the
//! naming rules of [`naming`]), a repository's tags ([`sync`]), shares of a run ([`shard`]); sources looked up before copying ([`online`], streamed ahead of
//! the copies by [`gate`]).

pub(crate) mod delta;
pub(crate) mod gate;
pub(crate) mod list;
pub(crate) mod naming;
pub(crate) mod online;
pub(crate) mod pull_budget;
pub(crate) mod shard;
pub(crate) mod sync;

/// One image to copy from a registry to a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pair {
    pub(crate) source: crate::reference::Reference,
    pub(crate) target: crate::reference::Reference,
}
