//! Signatures, SBOMs and attestations follow their images. The real registry (distribution
//! 2.8) has no referrers API, so these run the tag-schema path: the fallback index
//! `sha256-<hex>` and cosign's `sha256-<hex>.sig` tags, found at the source and written at the
//! target byte for byte.

use crate::support::signing::{
    artifact, assert_holds, cosign_signature, fallback_tag, index_digests, push_artifact,
    push_fallback_index, subject, Artifact, ReferrersApi, NOTATION, SPDX,
};
use crate::support::{
    bin, image, index, push_image, push_index, AttestationStyle, Format, Image, Outcome, Registry,
};
use serde_json::Value;

fn copy(src: &Registry, dst: &Registry, extra: &[&str]) -> Outcome {
    let mut cli = bin();
    cli.args([
        "copy",
        &src.reference("app", "v1"),
        &format!("{}/mirror/app:v1", dst.host()),
    ])
    .args(extra);
    cli.run_with_report()
}

/// `(kind, digest, status)` of the report's referrers, sorted.
fn referrers(o: &Outcome) -> Vec<(String, String, String)> {
    let mut v: Vec<(String, String, String)> = o.report["images"][0]["referrers"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|r| {
                    let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
                    (s("kind"), s("digest"), s("status"))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn entry(kind: &str, a: &Artifact, status: &str) -> (String, String, String) {
    (kind.into(), a.digest.clone(), status.into())
}

/// An OCI image signed three ways (a cosign tag, a notation signature, an SBOM) and a
/// signature on the SBOM, all at the source in the tag schema.
struct Signed {
    img: Image,
    cosign: Artifact,
    notation: Artifact,
    sbom: Artifact,
    sbom_signature: Artifact,
}

fn signed_image(src: &Registry) -> Signed {
    let c = src.client();
    let img = image(Format::Oci, "linux", "amd64", None, &[4_000, 5_000], 31);
    push_image(&c, "app", Some("v1"), &img);
    let about = subject(&img.media_type, &img.digest, img.manifest.len());
    let cosign = cosign_signature(&img.digest, 1);
    push_artifact(
        &c,
        "app",
        Some(&format!("{}.sig", fallback_tag(&img.digest))),
        &cosign,
    );
    let notation = artifact(
        NOTATION,
        about.clone(),
        b"{\"jws\":1}",
        "application/jose+json",
    );
    let sbom = artifact(SPDX, about, b"{\"spdxVersion\":\"SPDX-2.3\"}", SPDX);
    push_artifact(&c, "app", None, &notation);
    push_artifact(&c, "app", None, &sbom);
    push_fallback_index(
        &c,
        "app",
        &img.digest,
        &[notation.descriptor(), sbom.descriptor()],
    );
    let on_sbom = subject(&sbom.media_type, &sbom.digest, sbom.manifest.len());
    let sbom_signature = artifact(NOTATION, on_sbom, b"{\"jws\":2}", "application/jose+json");
    push_artifact(&c, "app", None, &sbom_signature);
    push_fallback_index(&c, "app", &sbom.digest, &[sbom_signature.descriptor()]);
    Signed {
        img,
        cosign,
        notation,
        sbom,
        sbom_signature,
    }
}

#[test]
fn signatures_sboms_and_a_signature_on_the_sbom_follow_the_image() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let s = signed_image(&src);

    let o = copy(&src, &dst, &["--format", "preserve"]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let c = dst.client();
    assert_holds(
        &c,
        "mirror/app",
        Some(&format!("{}.sig", fallback_tag(&s.img.digest))),
        &s.cosign,
    );
    for a in [&s.notation, &s.sbom, &s.sbom_signature] {
        assert_holds(&c, "mirror/app", None, a);
    }
    // The target has no referrers API either: its fallback indexes list them.
    assert_eq!(
        index_digests(&c, "mirror/app", &s.img.digest),
        vec![s.notation.digest.clone(), s.sbom.digest.clone()]
    );
    assert_eq!(
        index_digests(&c, "mirror/app", &s.sbom.digest),
        vec![s.sbom_signature.digest.clone()]
    );
    let mut want = vec![
        entry("signature", &s.cosign, "copied"),
        entry("signature", &s.notation, "copied"),
        entry("sbom", &s.sbom, "copied"),
        entry("signature", &s.sbom_signature, "copied"),
    ];
    want.sort();
    assert_eq!(referrers(&o), want, "{}", o.report);
    assert!(
        o.stdout.contains(&format!("sbom {} copied", s.sbom.digest)),
        "{}",
        o.stdout
    );

    // Again: all there, nothing written.
    let before = dst.log().lines().count();
    let o = copy(&src, &dst, &["--format", "preserve"]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(
        referrers(&o).iter().all(|(_, _, st)| st == "skipped"),
        "{}",
        o.report
    );
    let writes: Vec<String> = dst
        .requests_after(before)
        .into_iter()
        .filter(|r| r.starts_with("PUT") || r.starts_with("POST"))
        .collect();
    assert!(writes.is_empty(), "{writes:#?}");
}

#[test]
fn the_target_fallback_index_keeps_the_entries_already_there() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let s = signed_image(&src);
    // Someone signed the mirrored image at the target already.
    push_image(&dst.client(), "mirror/app", Some("v1"), &s.img);
    let about = subject(&s.img.media_type, &s.img.digest, s.img.manifest.len());
    let theirs = artifact(
        NOTATION,
        about,
        b"{\"jws\":\"theirs\"}",
        "application/jose+json",
    );
    push_artifact(&dst.client(), "mirror/app", None, &theirs);
    push_fallback_index(
        &dst.client(),
        "mirror/app",
        &s.img.digest,
        &[theirs.descriptor()],
    );

    let o = copy(&src, &dst, &["--format", "preserve"]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert_eq!(
        index_digests(&dst.client(), "mirror/app", &s.img.digest),
        vec![
            theirs.digest.clone(),
            s.notation.digest.clone(),
            s.sbom.digest.clone()
        ]
    );
}

/// A two-platform OCI index signed with a cosign tag, and its amd64 image signed with a notation
/// signature in the fallback index, all at the source.
struct SignedIndex {
    idx: crate::support::Index,
    amd: Image,
    on_index: Artifact,
    on_amd: Artifact,
}

fn signed_index(src: &Registry, seed: u64, jws: &[u8]) -> SignedIndex {
    let amd = image(Format::Oci, "linux", "amd64", None, &[3_000], seed);
    let arm = image(Format::Oci, "linux", "arm64", None, &[3_500], seed + 1);
    let idx = index(Format::Oci, vec![amd.clone(), arm], AttestationStyle::None);
    let c = src.client();
    push_index(&c, "app", "v1", &idx);
    let on_index = cosign_signature(&idx.digest, seed);
    let tag = format!("{}.sig", fallback_tag(&idx.digest));
    push_artifact(&c, "app", Some(&tag), &on_index);
    let about_amd = subject(&amd.media_type, &amd.digest, amd.manifest.len());
    let on_amd = artifact(NOTATION, about_amd, jws, "application/jose+json");
    push_artifact(&c, "app", None, &on_amd);
    push_fallback_index(&c, "app", &amd.digest, &[on_amd.descriptor()]);
    SignedIndex {
        idx,
        amd,
        on_index,
        on_amd,
    }
}

#[test]
fn referrers_of_each_platform_and_of_the_index_follow_a_multi_platform_image() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let SignedIndex {
        idx,
        amd,
        on_index,
        on_amd,
    } = signed_index(&src, 41, b"{\"jws\":\"amd\"}");

    let o = copy(&src, &dst, &["--all-platforms", "--format", "preserve"]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let t = dst.client();
    assert_holds(
        &t,
        "mirror/app",
        Some(&format!("{}.sig", fallback_tag(&idx.digest))),
        &on_index,
    );
    assert_holds(&t, "mirror/app", None, &on_amd);
    assert_eq!(
        index_digests(&t, "mirror/app", &amd.digest),
        vec![on_amd.digest.clone()]
    );
    let mut want = vec![
        entry("signature", &on_index, "copied"),
        entry("signature", &on_amd, "copied"),
    ];
    want.sort();
    assert_eq!(referrers(&o), want, "{}", o.report);
}

#[test]
fn a_converted_subject_drops_its_referrers_with_a_hint_and_the_run_succeeds() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let s = signed_image(&src);

    // The default v2s2 rewrites the OCI image: a new digest, which no signature refers to.
    let o = copy(&src, &dst, &[]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let list = o.report["images"][0]["referrers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(list.len(), 3, "{}", o.report);
    for r in &list {
        assert_eq!(r["status"], "dropped", "{r}");
        let why = r["reason"].as_str().unwrap_or("");
        assert!(
            why.contains(&s.img.digest) && why.contains("--format preserve"),
            "{why}"
        );
    }
    assert!(!dst
        .client()
        .manifest_exists("mirror/app", &s.notation.digest));
    assert!(o.stdout.contains("dropped"), "{}", o.stdout);
}

#[test]
fn referrers_none_copies_none_and_signatures_copies_only_signatures() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let s = signed_image(&src);

    let o = copy(&src, &dst, &["--format", "preserve", "--referrers", "none"]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert_eq!(
        o.report["images"][0]["referrers"],
        Value::Null,
        "{}",
        o.report
    );
    let t = dst.client();
    assert!(!t.manifest_exists("mirror/app", &s.notation.digest));
    assert!(t
        .tags("mirror/app")
        .iter()
        .all(|tag| !tag.starts_with("sha256-")));

    let mut cli = bin();
    cli.args([
        "copy",
        &src.reference("app", "v1"),
        &format!("{}/mirror/app:v1", dst.host()),
        "--format",
        "preserve",
    ])
    .env("REFERRERS", "signatures");
    let o = cli.run_with_report();
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let mut want = vec![
        entry("signature", &s.cosign, "copied"),
        entry("signature", &s.notation, "copied"),
        entry("sbom", &s.sbom, "skipped"),
    ];
    want.sort();
    assert_eq!(referrers(&o), want, "{}", o.report);
    assert!(!t.manifest_exists("mirror/app", &s.sbom.digest));
    assert!(t.manifest_exists("mirror/app", &s.notation.digest));
}

#[test]
fn a_dry_run_lists_the_referrers_that_would_go_and_writes_nothing() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let s = signed_image(&src);

    let o = copy(&src, &dst, &["--format", "preserve", "--dry-run"]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let got = referrers(&o);
    assert!(got.contains(&entry("sbom", &s.sbom, "planned")), "{got:?}");
    assert!(
        got.contains(&entry("signature", &s.cosign, "planned")),
        "{got:?}"
    );
    assert!(dst.client().catalog().is_empty());
    assert!(o.stdout.contains("would copy"), "{}", o.stdout);
}

#[test]
fn with_the_referrers_api_on_both_sides_no_tag_schema_is_written() {
    let src_reg = Registry::anonymous();
    let dst_reg = Registry::anonymous();
    let (src, dst) = (ReferrersApi::over(&src_reg), ReferrersApi::over(&dst_reg));
    let c = src_reg.client();
    let img = image(Format::Oci, "linux", "amd64", None, &[4_000], 51);
    push_image(&c, "app", Some("v1"), &img);
    let about = subject(&img.media_type, &img.digest, img.manifest.len());
    let notation = artifact(
        NOTATION,
        about.clone(),
        b"{\"jws\":3}",
        "application/jose+json",
    );
    let sbom = artifact(SPDX, about, b"{\"spdxVersion\":\"SPDX-2.3\"}", SPDX);
    for a in [&notation, &sbom] {
        push_artifact(&c, "app", None, a);
        src.add(&img.digest, a.descriptor());
    }

    let run = |extra: &[&str]| {
        let mut cli = bin();
        cli.args([
            "copy",
            &src.proxy.reference("app", "v1"),
            &dst.proxy.reference("mirror/app", "v1"),
            "--format",
            "preserve",
        ])
        .args(extra);
        cli.run_with_report()
    };
    let o = run(&[]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let t = dst_reg.client();
    assert_holds(&t, "mirror/app", None, &notation);
    assert_holds(&t, "mirror/app", None, &sbom);
    // The target keeps them itself (it answered with OCI-Subject): no fallback tag there.
    assert_eq!(
        dst.listed(&img.digest),
        vec![notation.digest.clone(), sbom.digest.clone()]
    );
    assert_eq!(t.tags("mirror/app"), vec!["v1".to_string()]);
    let mut want = vec![
        entry("signature", &notation, "copied"),
        entry("sbom", &sbom, "copied"),
    ];
    want.sort();
    assert_eq!(referrers(&o), want, "{}", o.report);
    // Each subject was asked about once at the source (the image, then each referrer).
    let asked: Vec<String> = src
        .proxy
        .seen()
        .into_iter()
        .filter(|s| s.uri.contains("/referrers/"))
        .map(|s| s.uri)
        .collect();
    assert_eq!(asked.len(), 3, "{asked:#?}");
    assert!(
        asked[0].ends_with(&format!("/v2/app/referrers/{}", img.digest)),
        "{asked:?}"
    );

    // A re-run: one HEAD a side for the image and one discovery request a digest a side (at
    // the target only where the source has something to follow); nothing written.
    let (src_before, dst_before) = (src.proxy.seen().len(), dst.proxy.seen().len());
    let o = run(&[]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let src_seen: Vec<String> = src.proxy.seen()[src_before..]
        .iter()
        .filter(|s| s.uri != "/v2/")
        .map(|s| format!("{} {}", s.method, s.uri))
        .collect();
    let dst_seen: Vec<String> = dst.proxy.seen()[dst_before..]
        .iter()
        .filter(|s| s.uri != "/v2/")
        .map(|s| format!("{} {}", s.method, s.uri))
        .collect();
    // Source: the tag HEAD, the tag list (cosign's tags), three referrers lists.
    assert_eq!(src_seen.len(), 1 + 1 + 3, "{src_seen:#?}");
    assert_eq!(
        dst_seen,
        vec![
            "HEAD /v2/mirror/app/manifests/v1".to_string(),
            format!("GET /v2/mirror/app/referrers/{}", img.digest),
        ]
    );
}

#[test]
fn a_target_that_refuses_artifacts_keeps_the_image_and_says_why() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let s = signed_image(&src);
    let acr = crate::support::vendors::acr_like(&dst);
    let mut cli = bin();
    cli.args([
        "copy",
        &src.reference("app", "v1"),
        &acr.reference("mirror/app", "v1"),
        "--format",
        "preserve",
    ]);
    let o = cli.run_with_report();
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert_eq!(o.report["images"][0]["status"], "copied");
    let list = o.report["images"][0]["referrers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let of = |a: &Artifact| {
        list.iter()
            .find(|r| r["digest"] == a.digest.as_str())
            .cloned()
    };
    // The cosign signature (a plain image manifest) goes; the artifacts are refused.
    assert_eq!(of(&s.cosign).expect("cosign")["status"], "copied");
    for a in [&s.notation, &s.sbom] {
        let r = of(a).expect("listed");
        assert_eq!(r["status"], "skipped", "{r}");
        assert!(
            r["reason"]
                .as_str()
                .unwrap_or("")
                .contains("unknown manifest class"),
            "{r}"
        );
    }
}

#[test]
fn referrers_land_whole_through_faults_on_their_requests() {
    use crate::support::{Fault, Kind};
    let src = Registry::anonymous();
    let s = signed_image(&src);
    // (side, kind, which request of that kind, fault). At the source the image's own manifest
    // is the first GET, so the second is a referrer's; at the target the tag's PUT is first.
    let cases = [
        ("source", Kind::Referrers, 1, Fault::Status(503)),
        ("source", Kind::TagList, 1, Fault::Cut),
        ("source", Kind::ManifestGet, 2, Fault::Corrupt),
        ("source", Kind::ManifestGet, 3, Fault::Stall),
        ("target", Kind::ManifestPut, 2, Fault::LoseAnswer),
        ("target", Kind::ManifestPut, 3, Fault::Status(500)),
        ("target", Kind::ManifestHead, 2, Fault::Status(502)),
    ];
    // The cases wait out retry delays, not each other: one thread each.
    std::thread::scope(|scope| {
        for case in cases {
            let (src, s) = (&src, &s);
            scope.spawn(move || one_fault(src, s, case));
        }
    });
}

/// One case of [`referrers_land_whole_through_faults_on_their_requests`].
fn one_fault(
    src: &Registry,
    s: &Signed,
    (side, kind, n, fault): (&str, crate::support::Kind, usize, crate::support::Fault),
) {
    use crate::support::{FaultPlan, FaultProxy};
    let dst = Registry::anonymous();
    let plan = || FaultPlan::none().nth(kind, n, fault.clone());
    let (src_plan, dst_plan) = match side {
        "source" => (plan(), FaultPlan::none()),
        _ => (FaultPlan::none(), plan()),
    };
    let (from, to) = (
        FaultProxy::over(src, src_plan),
        FaultProxy::over(&dst, dst_plan),
    );
    let mut cli = bin();
    cli.args([
        "copy",
        &from.reference("app", "v1"),
        &to.reference("mirror/app", "v1"),
        "--format",
        "preserve",
        "--stall-timeout",
        "1",
    ]);
    let o = cli.run_with_report();
    let case = format!("{side} {kind:?} #{n} {fault:?}");
    assert_eq!(o.code, 0, "{case}\n{}\n{}", o.stdout, o.stderr);
    let injected = from.injected().len() + to.injected().len();
    assert_eq!(injected, 1, "{case}: the fault was played");
    assert!(
        referrers(&o).iter().all(|(_, _, st)| st == "copied") && referrers(&o).len() == 4,
        "{case}: {}",
        o.report
    );
    let c = dst.client();
    for a in [&s.notation, &s.sbom, &s.sbom_signature] {
        assert_holds(&c, "mirror/app", None, a);
    }
    assert_eq!(
        index_digests(&c, "mirror/app", &s.img.digest),
        vec![s.notation.digest.clone(), s.sbom.digest.clone()],
        "{case}"
    );
}

#[test]
fn a_rerun_stopped_by_the_heads_finds_a_new_signature_of_a_platform_through_the_state_file() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let amd = image(Format::Oci, "linux", "amd64", None, &[3_000], 61);
    let arm = image(Format::Oci, "linux", "arm64", None, &[3_500], 62);
    let idx = index(Format::Oci, vec![amd.clone(), arm], AttestationStyle::None);
    push_index(&src.client(), "app", "v1", &idx);
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state.json");
    let args = [
        "--all-platforms",
        "--format",
        "preserve",
        "--state",
        state.to_str().expect("utf-8"),
    ];
    let o = copy(&src, &dst, &args);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);

    // Signed after it was mirrored: the amd64 image only.
    let about = subject(&amd.media_type, &amd.digest, amd.manifest.len());
    let late = artifact(
        NOTATION,
        about,
        b"{\"jws\":\"late\"}",
        "application/jose+json",
    );
    push_artifact(&src.client(), "app", None, &late);
    push_fallback_index(&src.client(), "app", &amd.digest, &[late.descriptor()]);

    let before = src.log().lines().count();
    let o = copy(&src, &dst, &args);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert_eq!(o.report["images"][0]["status"], "skipped", "{}", o.report);
    assert_eq!(referrers(&o), vec![entry("signature", &late, "copied")]);
    assert_holds(&dst.client(), "mirror/app", None, &late);
    // Up to date by its HEADs: the index was not read again.
    let index_reads = src
        .requests_after(before)
        .into_iter()
        .filter(|r| {
            r == "GET /v2/app/manifests/v1" || r == &format!("GET /v2/app/manifests/{}", idx.digest)
        })
        .count();
    assert_eq!(index_reads, 0);
}

#[test]
fn one_platform_of_an_index_leaves_the_index_signature_with_its_own_hint() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let SignedIndex {
        on_index, on_amd, ..
    } = signed_index(&src, 81, b"{\"jws\":\"one\"}");

    // One platform: the tag gets the amd64 image itself, unchanged; the index is not copied.
    let o = copy(
        &src,
        &dst,
        &["--platform", "linux/amd64", "--format", "preserve"],
    );
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let mut want = vec![
        entry("signature", &on_index, "dropped"),
        entry("signature", &on_amd, "copied"),
    ];
    want.sort();
    assert_eq!(referrers(&o), want, "{}", o.report);
    let list = o.report["images"][0]["referrers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let dropped = list
        .iter()
        .find(|r| r["status"] == "dropped")
        .expect("dropped");
    let why = dropped["reason"].as_str().unwrap_or("");
    assert!(
        why.contains("--all-platforms") && !why.contains("converted"),
        "{why}"
    );
    assert_holds(&dst.client(), "mirror/app", None, &on_amd);
}
