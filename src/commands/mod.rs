//! One module a command: each turns its parsed flags into inputs, runs them through the engine
//! and hands the report to [`crate::app::finish`]. What they share (engine set-up, list
//! reading, outputs, exit codes) lives in [`crate::app`].

pub mod copy;
pub mod issue;
pub mod mirror;
pub mod plan;
pub mod report;
pub mod run;
pub mod sync;
pub mod validate;
