//! The Registry V2 / OCI distribution client.
//!
//! Layers, bottom up: [`transport`] (HTTP clients, TLS, endpoints, the retry policy and stall
//! timeout), [`auth`] (`WWW-Authenticate`, scopes, tokens), [`session`] (the clients of a run
//! and their credentials), [`client`] (one registry: ping and requests), [`exchange`] (one
//! request and its whole answer, retried as a unit; redirects; stalls), [`token`] (Basic and
//! Bearer authorization; [`scopes`]: one token for several repositories), [`answer`] (answers as typed errors), and the resources
//! [`manifests`], [`blobs`], [`listing`] and [`referrers`], and Harbor's projects ([`harbor`]); what kinds of targets refuse ([`profile`]);
//! plus the data modules [`manifest`],
//! [`platform`], [`convert`] and [`credentials`]. Nothing here knows about commands, flags,
//! lists or reports: hints that name flags are made above it.

pub mod answer;
pub mod auth;
pub mod blobs;
pub mod client;
pub mod convert;
pub mod credentials;
pub mod docker_config;
pub mod error;
pub mod exchange;
pub mod harbor;
pub mod listing;
pub mod manifest;
pub mod manifests;
pub mod platform;
pub mod profile;
pub mod referrers;
pub mod scopes;
pub mod session;
pub mod token;
pub mod transport;

pub use blobs::Mount;
pub use client::RegistryClient;
pub use exchange::Body;
pub use manifests::ManifestHead;
pub use session::{Role, Session};
