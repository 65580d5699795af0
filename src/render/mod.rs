//! Rendering for people: the Markdown templates of comments, job summaries and chat messages
//! ([`templates`]) and the one escaping module they all use ([`escape`]).

pub(crate) mod escape;
pub(crate) mod templates;
