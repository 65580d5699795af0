//! Targets that refuse what the field's registries refuse, as a proxy in front of a real
//! registry: Huawei SWR's answer to an OCI index and Aliyun ACR's to a manifest with the empty
//! config, word for word as they give them.

use super::image::{OCI_EMPTY, OCI_INDEX};
use super::proxy::{Proxy, Refusal};
use super::registry::Registry;
use axum::http::Method;

/// Huawei SWR: `400 MANIFEST_INVALID` to an OCI index.
pub fn swr_like(dst: &Registry) -> Proxy {
    Proxy::start(
        &dst.base_url(),
        Box::new(|method, uri, headers, _| {
            let oci_index = headers
                .get("content-type")
                .is_some_and(|v| v.as_bytes() == OCI_INDEX.as_bytes());
            (method == Method::PUT && uri.contains("/manifests/") && oci_index).then(|| {
                Refusal::error(
                    400,
                    "MANIFEST_INVALID",
                    "manifest invalid: unsupported media type",
                )
            })
        }),
    )
}

/// Aliyun ACR: `403 DENIED unknown manifest class` to a manifest with the empty config.
pub fn acr_like(dst: &Registry) -> Proxy {
    Proxy::start(
        &dst.base_url(),
        Box::new(|method, uri, _, body| {
            let empty = String::from_utf8_lossy(body).contains(OCI_EMPTY);
            (method == Method::PUT && uri.contains("/manifests/") && empty).then(|| {
                Refusal::error(
                    403,
                    "DENIED",
                    "unknown manifest class for application/vnd.oci.empty.v1+json",
                )
            })
        }),
    )
}

/// The manifest `PUT`s the proxy saw: (content type, status).
pub fn manifest_puts(proxy: &Proxy) -> Vec<(String, u16)> {
    proxy
        .seen()
        .into_iter()
        .filter(|s| s.method == "PUT" && s.uri.contains("/manifests/"))
        .map(|s| (s.content_type.unwrap_or_default(), s.status))
        .collect()
}
