//! What users write, parsed and checked offline: image lists (files, stdin, arguments, issue
//! bodies, dispatch inputs: one parser), the `mirror-request` issue form, the `run --config`
//! file, and the tag filters of `sync`. Nothing here talks to the network or reads the
//! environment.

pub(crate) mod config;
pub(crate) mod issue_form;
pub(crate) mod list;
pub(crate) mod read;
pub(crate) mod tag_filter;
