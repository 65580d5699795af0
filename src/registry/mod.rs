//! The Registry V2 / OCI distribution client.
//!
//! Layers, bottom up: [`transport`] (HTTP clients, TLS, endpoints, retries), [`auth`]
//! (`WWW-Authenticate`, Basic, Bearer tokens), [`client`] (one registry: `manifest_*`, `blob_*`,
//! `tag_list`), plus the data modules [`digest`], [`manifest`], [`platform`], [`convert`] and
//! [`credentials`]. Nothing here knows about commands, lists or reports.

pub mod auth;
pub mod client;
pub mod convert;
pub mod credentials;
pub mod digest;
pub mod error;
pub mod manifest;
pub mod platform;
pub mod retry;
pub mod transport;

pub use client::{RegistryClient, Session};
pub use digest::Digest;
pub use error::RegistryError;
pub use platform::Platform;
