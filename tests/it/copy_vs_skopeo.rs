//! registry-mirror against the peer tool: the same conversion must give the same result.

use crate::copy_anonymous::copy;
use crate::support::{image_with_base, push_image, Format, Layer, Registry};
use std::io::Write;
use std::process::Command;

fn skopeo_copy(src: &str, dst: &str, extra: &[&str]) {
    let out = Command::new("skopeo")
        .args([
            "copy",
            "-q",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
        ])
        .args(extra)
        .arg(format!("docker://{src}"))
        .arg(format!("docker://{dst}"))
        .output()
        .expect("skopeo must be installed (./.ci/test installs it)");
    assert!(
        out.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A linux image whose layers really are gzip streams: skopeo recompresses layers whose bytes
/// are not what their media type says, which would make any comparison moot.
fn gzip_image(format: Format, arch: &str, sizes: &[usize], seed: u64) -> crate::support::Image {
    let layers: Vec<Layer> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let mut raw = vec![0u8; n];
            fastrand::Rng::with_seed(seed * 100 + i as u64).fill(&mut raw);
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&raw).unwrap();
            Layer {
                media_type: format.layer_type().to_string(),
                data: gz.finish().unwrap(),
            }
        })
        .collect();
    image_with_base(format, "linux", arch, None, &layers, &[], seed)
}

#[test]
fn oci_to_v2s2_conversion_matches_skopeo() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let img = gzip_image(Format::Oci, "amd64", &[3000, 2000], 400);
    push_image(&src.client(), "app", Some("v1"), &img);

    skopeo_copy(
        &src.reference("app", "v1"),
        &dst.reference("skopeo", "v1"),
        &["--format", "v2s2"],
    );
    let (code, _, stderr, _) = copy(
        &src.reference("app", "v1"),
        &dst.reference("ours", "v1"),
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    let (ct_s, bytes_s, digest_s) = dst.client().get_manifest("skopeo", "v1").unwrap();
    let (ct_o, bytes_o, digest_o) = dst.client().get_manifest("ours", "v1").unwrap();
    assert_eq!(ct_o, ct_s);
    let json = |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).unwrap();
    assert_eq!(json(&bytes_o), json(&bytes_s));
    assert_eq!(
        digest_o,
        digest_s,
        "{}\n{}",
        String::from_utf8_lossy(&bytes_o),
        String::from_utf8_lossy(&bytes_s)
    );
}

#[test]
fn docker_list_copy_all_matches_skopeo_all() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let amd64 = gzip_image(Format::Docker, "amd64", &[3000], 410);
    let arm64 = gzip_image(Format::Docker, "arm64", &[2000], 411);
    let idx = crate::support::index(
        Format::Docker,
        vec![amd64, arm64],
        crate::support::AttestationStyle::None,
    );
    crate::support::push_index(&src.client(), "app", "v1", &idx);

    skopeo_copy(
        &src.reference("app", "v1"),
        &dst.reference("skopeo", "v1"),
        &["--all"],
    );
    let (code, _, stderr, _) = copy(
        &src.reference("app", "v1"),
        &dst.reference("ours", "v1"),
        &["--all-platforms"],
    );
    assert_eq!(code, 0, "{stderr}");
    let skopeo = dst.client().get_manifest("skopeo", "v1").unwrap();
    let ours = dst.client().get_manifest("ours", "v1").unwrap();
    assert_eq!(ours, skopeo);
    assert_eq!(ours.2, idx.digest);
}

#[test]
fn oci_index_to_docker_list_matches_skopeo() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let amd64 = gzip_image(Format::Oci, "amd64", &[3000], 420);
    let arm64 = gzip_image(Format::Oci, "arm64", &[2000], 421);
    let idx = crate::support::index(
        Format::Oci,
        vec![amd64, arm64],
        crate::support::AttestationStyle::None,
    );
    crate::support::push_index(&src.client(), "app", "v1", &idx);

    skopeo_copy(
        &src.reference("app", "v1"),
        &dst.reference("skopeo", "v1"),
        &["--all", "--format", "v2s2"],
    );
    let (code, _, stderr, _) = copy(
        &src.reference("app", "v1"),
        &dst.reference("ours", "v1"),
        &["--all-platforms", "--format", "v2s2"],
    );
    assert_eq!(code, 0, "{stderr}");
    let skopeo = dst.client().get_manifest("skopeo", "v1").unwrap();
    let ours = dst.client().get_manifest("ours", "v1").unwrap();
    assert_eq!(
        ours.2,
        skopeo.2,
        "{}\n{}",
        String::from_utf8_lossy(&ours.1),
        String::from_utf8_lossy(&skopeo.1)
    );
}

#[test]
fn docker_to_oci_conversion_matches_skopeo_but_keeps_the_config_bytes() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let img = gzip_image(Format::Docker, "amd64", &[3000, 2000], 430);
    push_image(&src.client(), "app", Some("v1"), &img);

    skopeo_copy(
        &src.reference("app", "v1"),
        &dst.reference("skopeo", "v1"),
        &["--format", "oci"],
    );
    let (code, _, stderr, report) = copy(
        &src.reference("app", "v1"),
        &dst.reference("ours", "v1"),
        &["--format", "oci"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["images"][0]["converted"], true);
    let (_, skopeo, _) = dst.client().get_manifest("skopeo", "v1").unwrap();
    let (_, ours, _) = dst.client().get_manifest("ours", "v1").unwrap();
    // skopeo re-serializes the image config when it converts (a new config digest); the
    // conversion table of PROTOCOL.md keeps the config bytes, so the config digest is the
    // source's. Everything else is byte for byte what skopeo writes.
    let ours_text = String::from_utf8(ours).unwrap();
    let skopeo_text = String::from_utf8(skopeo).unwrap();
    let skopeo_config = serde_json::from_str::<serde_json::Value>(&skopeo_text).unwrap()["config"]
        ["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let ours_config = img.config_digest();
    assert!(ours_text.contains(&ours_config), "{ours_text}");
    assert_eq!(
        ours_text.replace(&ours_config, &skopeo_config),
        skopeo_text,
        "\nours:   {ours_text}\nskopeo: {skopeo_text}"
    );
    assert_eq!(dst.client().get_blob("ours", &ours_config), img.config);
}
