#![allow(clippy::unwrap_used)]
mod support;
mod support_smoke;
mod copy_anonymous;
mod copy_errors;
mod copy_fallback;
