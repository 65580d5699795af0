#![allow(clippy::unwrap_used)]
mod support;
mod support_smoke;
