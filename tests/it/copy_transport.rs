//! Transport behaviour a real deployment meets: blob redirects to a CDN (credentials must not
//! follow), and `--endpoint` pull-through mirrors.

use crate::copy_anonymous::copy;
use crate::support::{image, push_image, Format, Proxy, Refusal, Registry};
use axum::http::Method;

#[test]
fn blob_redirects_to_another_host_carry_no_credentials() {
    // The source needs a password; its blobs are served by a "CDN" on another port.
    let src = Registry::basic("alice", "s3cret-pw");
    let cdn = Registry::anonymous();
    let img = image(Format::Docker, "linux", "amd64", None, &[2 << 20, 700], 300);
    push_image(&src.client(), "app", Some("v1"), &img);
    push_image(&cdn.client(), "app", None, &img);
    let cdn_proxy = Proxy::start(&cdn.base_url(), Box::new(|_, _, _, _| None));
    let cdn_host = cdn_proxy.host();
    let hub = Proxy::start(
        &src.base_url(),
        Box::new(move |method, uri, _, _| {
            (method == Method::GET && uri.contains("/blobs/sha256:")).then(|| Refusal {
                status: 307,
                headers: vec![(
                    "location".into(),
                    format!("http://{cdn_host}{uri}?X-Amz-Signature=secret-signature"),
                )],
                body: String::new(),
            })
        }),
    );
    let dst = Registry::anonymous();
    let (code, stdout, stderr, report) = copy(
        &hub.reference("app", "v1"),
        &dst.reference("app", "v1"),
        &["--src-creds", "alice:s3cret-pw", "-v"],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(
        dst.client().head_manifest("app", "v1"),
        Some(img.digest.clone())
    );
    let cdn_gets: Vec<_> = cdn_proxy
        .seen()
        .into_iter()
        .filter(|s| s.method == "GET")
        .collect();
    assert_eq!(
        cdn_gets.len(),
        3,
        "every blob came from the CDN: {cdn_gets:#?}"
    );
    assert!(
        cdn_gets.iter().all(|s| !s.authorization),
        "credentials followed a redirect: {cdn_gets:#?}"
    );
    assert!(hub
        .seen()
        .iter()
        .filter(|s| s.uri != "/v2/")
        .all(|s| s.authorization));
    let all = format!("{stdout}{stderr}{report}");
    assert!(!all.contains("s3cret-pw"), "password leaked");
    assert!(!all.contains("secret-signature"), "signed URL query leaked");
}

#[test]
fn endpoint_reaches_a_registry_at_another_address_without_renaming() {
    let mirror = Registry::anonymous();
    let dst = Registry::anonymous();
    let img = image(Format::Docker, "linux", "amd64", None, &[1000], 310);
    push_image(&mirror.client(), "library/nginx", Some("1.27"), &img);

    let (code, stdout, stderr, report) = copy(
        "docker.io/library/nginx:1.27",
        &dst.reference("mirrors/nginx", "1.27"),
        &["--endpoint", &format!("docker.io={}", mirror.host())],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(
        dst.client().head_manifest("mirrors/nginx", "1.27"),
        Some(img.digest.clone())
    );
    assert_eq!(
        report["images"][0]["source"],
        "docker.io/library/nginx:1.27"
    );

    // The same through the environment variable (comma list).
    let mut cli = crate::support::bin();
    cli.args(["copy", "nginx:1.27"])
        .arg(dst.reference("mirrors/nginx", "env"))
        .env(
            "REGISTRY_ENDPOINTS",
            format!("quay.io=127.0.0.1:1,docker.io={}", mirror.host()),
        );
    let out = cli.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        dst.client().head_manifest("mirrors/nginx", "env"),
        Some(img.digest)
    );
}

/// A source connection that breaks in the middle of a big layer: the read resumes with
/// `Range: bytes=N-` from where it stopped, and the upload it feeds goes on to the end.
#[test]
fn a_blob_read_cut_in_the_middle_resumes_with_a_range_request() {
    use crate::support::{image_with_base, Layer};
    use std::sync::{Arc, Mutex};
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    // ASCII bytes, so the proxy can hand out a prefix of the layer as its body.
    let data: Vec<u8> = (0..2_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let layer = Layer {
        media_type: Format::Docker.layer_type().to_string(),
        data: data.clone(),
    };
    let img = image_with_base(
        Format::Docker,
        "linux",
        "amd64",
        None,
        std::slice::from_ref(&layer),
        &[],
        7,
    );
    push_image(&src.client(), "big/app", Some("1"), &img);
    let layer_path = format!("/v2/big/app/blobs/{}", layer.digest());
    let ranges: Arc<Mutex<Vec<String>>> = Arc::default();
    let cut = Arc::new(Mutex::new(false));
    let (seen_ranges, first_cut) = (ranges.clone(), cut.clone());
    let half = String::from_utf8(data[..data.len() / 2].to_vec()).unwrap();
    let full = data.len();
    let proxy = Proxy::start(
        &src.base_url(),
        Box::new(move |method, uri, headers, _| {
            if method != Method::GET || uri != layer_path {
                return None;
            }
            if let Some(r) = headers.get("range") {
                seen_ranges
                    .lock()
                    .unwrap()
                    .push(r.to_str().unwrap().to_string());
                return None; // the real registry answers the range
            }
            let mut cut = first_cut.lock().unwrap();
            if *cut {
                return None;
            }
            *cut = true;
            // Promise the whole layer, send half of it, hang up.
            Some(Refusal {
                status: 200,
                headers: vec![("content-length".into(), full.to_string())],
                body: half.clone(),
            })
        }),
    );
    let (code, stdout, stderr, report) = copy(
        &proxy.reference("big/app", "1"),
        &dst.reference("big/app", "1"),
        &[],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(*cut.lock().unwrap(), "the read was never cut");
    assert_eq!(*ranges.lock().unwrap(), [format!("bytes={}-", full / 2)]);
    assert!(
        stderr.contains("resuming from where it stopped"),
        "{stderr}"
    );
    assert_eq!(report["images"][0]["blobs"]["copied"], 2);
    assert_eq!(dst.client().head_manifest("big/app", "1"), Some(img.digest));
    assert_eq!(dst.client().get_blob("big/app", &layer.digest()), data);
}

/// An OCI source written as Docker v2s2 gets a new digest, so two HEADs cannot tell it is up
/// to date; `--state FILE` remembers what it became, and the re-run stops at the HEADs.
#[test]
fn state_lets_a_converted_image_be_judged_up_to_date_with_heads_alone() {
    use crate::support::{bin, image_with_base};
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let img = image_with_base(Format::Oci, "linux", "amd64", None, &[], &[3000], 8);
    push_image(&src.client(), "oci/app", Some("1"), &img);
    let state = tempfile::tempdir().unwrap();
    let state_file = state.path().join("state.json");
    let run = |extra: &[&str]| {
        let mut cli = bin();
        cli.args([
            "copy",
            &src.reference("oci/app", "1"),
            &dst.reference("oci/app", "1"),
        ])
        .args(extra);
        cli.run_with_report()
    };
    let manifest_gets = |log: &str, from: usize| {
        log.lines()
            .skip(from)
            .filter(|l| l.contains("\"GET /v2/oci/app/manifests/"))
            .count()
    };
    let with_state = ["--state", state_file.to_str().unwrap()];
    let first = run(&with_state);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(first.report["images"][0]["converted"], true);
    assert!(state_file.is_file());

    // Without the state: up to date too, but only after reading the source manifest.
    let before = src.log().lines().count();
    let again = run(&[]);
    assert_eq!(again.report["images"][0]["status"], "skipped");
    assert!(manifest_gets(&src.log(), before) > 0);

    // With it: HEADs only.
    let before = src.log().lines().count();
    let again = run(&with_state);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.report["images"][0]["status"], "skipped");
    assert_eq!(manifest_gets(&src.log(), before), 0, "{}", src.log());
    assert_eq!(
        again.report["images"][0]["digest"],
        first.report["images"][0]["digest"]
    );
}
