//! The engine over a hostile network: the seeded fault proxy ([`FaultProxy`]) in front of real
//! registries. Every fault class against every kind of request (a table), bounded chaos over a
//! 20-image mirror, faults that never stop, and a source that goes silent.

use std::time::{Duration, Instant};

use crate::support::{
    bin, image, image_with_base, index, layers, push_image, push_index, AttestationStyle, Fault,
    FaultPlan, FaultProxy, Format, Image, Kind, Outcome, Registry, RetryAfter,
};

/// The image every table case copies: a small layer (read whole, sent with one `PUT`, like the
/// config) and a big one (streamed, one `PATCH` then the closing `PUT`).
fn table_image() -> Image {
    image(
        Format::Docker,
        "linux",
        "amd64",
        None,
        &[3_000, 1_500_000],
        4242,
    )
}

/// The faults a request of `kind` gets in the table: statuses and throttling everywhere, body
/// faults where an answer has a body, lost and unanswered writes where it writes.
fn faults_for(kind: Kind, i: usize) -> Vec<Fault> {
    let status = [500, 502, 503, 504][i % 4];
    let mut out = vec![
        Fault::Status(status),
        Fault::TooMany {
            retry_after: Some(if i % 2 == 0 {
                RetryAfter::Seconds(1)
            } else {
                RetryAfter::DateIn(1)
            }),
        },
    ];
    if kind.has_body() {
        out.extend([Fault::Cut, Fault::Corrupt, Fault::Stall]);
    }
    if kind.is_write() {
        out.extend([Fault::LoseAnswer, Fault::StallBeforeAnswer]);
    }
    out
}

fn run(args: &[&str]) -> Outcome {
    let mut cli = bin();
    cli.args(args).args([
        "--stall-timeout",
        "1",
        "--retries",
        "3",
        "--format",
        "preserve",
    ]);
    cli.run_with_report()
}

/// Runs `command` once per fault of each kind, the proxy playing that fault on the first request
/// of that kind, and checks every copy landed whole and every fault was really played. The cases
/// are independent (own proxy, own target repository) and run side by side.
fn table(
    kinds: &[Kind],
    proxy_over: &str,
    check: impl Fn(usize, &Outcome) + Sync,
    command: impl Fn(usize, &FaultProxy) -> Vec<String> + Sync,
) {
    let mut cases = Vec::new();
    for &kind in kinds {
        for fault in faults_for(kind, cases.len()) {
            cases.push((cases.len() + 1, kind, fault));
        }
    }
    for batch in cases.chunks(8) {
        std::thread::scope(|scope| {
            for (case, kind, fault) in batch {
                let (check, command) = (&check, &command);
                scope.spawn(move || {
                    let plan = FaultPlan::none().first(*kind, 1, fault.clone());
                    let proxy = FaultProxy::start(proxy_over, plan);
                    let args = command(*case, &proxy);
                    let args: Vec<&str> = args.iter().map(String::as_str).collect();
                    let out = run(&args);
                    let what = format!("case {case}: {fault:?} on {kind:?}");
                    assert_eq!(out.code, 0, "{what}\n{}\n{}", out.stdout, out.stderr);
                    assert!(
                        proxy
                            .injected()
                            .iter()
                            .any(|i| i.kind == *kind && i.fault == *fault),
                        "{what}: never played; seen {:?}",
                        proxy.seen()
                    );
                    check(*case, &out);
                });
            }
        });
    }
}

fn assert_landed(dst: &Registry, repo: &str, img: &Image, what: &str) {
    let client = dst.client();
    assert_eq!(
        client.head_manifest(repo, "v1").as_deref(),
        Some(img.digest.as_str()),
        "{what}: tag"
    );
    for (digest, data) in img.blobs() {
        assert_eq!(
            client.get_blob(repo, &digest),
            data,
            "{what}: blob {digest}"
        );
    }
}

#[test]
fn every_fault_on_every_source_read_is_retried_whole() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let img = table_image();
    push_image(&src.client(), "app", Some("v1"), &img);
    let kinds = [
        Kind::Ping,
        Kind::ManifestHead,
        Kind::ManifestGet,
        Kind::SmallBlobGet,
        Kind::BlobGet,
    ];
    table(
        &kinds,
        &src.base_url(),
        |case, out| {
            assert_eq!(out.report["images"][0]["status"], "copied", "case {case}");
            assert_landed(
                &dst,
                &format!("case{case}/app"),
                &img,
                &format!("case {case}"),
            );
        },
        |case, proxy| {
            vec![
                "copy".into(),
                proxy.reference("app", "v1"),
                dst.reference(&format!("case{case}/app"), "v1"),
            ]
        },
    );
}

#[test]
fn every_fault_on_tag_lists_catalogs_and_tokens_is_retried_whole() {
    let src = Registry::token("reader", "r3ad");
    let dst = Registry::anonymous();
    let img = table_image();
    push_image(&src.client(), "ns/app", Some("v1"), &img);
    table(
        &[Kind::TagList, Kind::Token],
        &src.base_url(),
        |case, out| {
            assert_eq!(
                out.report["summary"]["copied"], 1,
                "case {case}: {}",
                out.report
            );
            assert_landed(&dst, &format!("t{case}/app"), &img, &format!("case {case}"));
        },
        |case, proxy| {
            vec![
                "sync".into(),
                format!("{}/ns/app", proxy.host()),
                format!("{}/t{case}/app", dst.host()),
            ]
        },
    );
    table(
        &[Kind::Catalog],
        &src.base_url(),
        |case, out| {
            assert_eq!(
                out.report["summary"]["copied"], 1,
                "case {case}: {}",
                out.report
            );
            assert_landed(&dst, &format!("c{case}/app"), &img, &format!("case {case}"));
        },
        |case, proxy| {
            vec![
                "sync".into(),
                "--all-repos".into(),
                format!("{}/ns", proxy.host()),
                format!("{}/c{case}", dst.host()),
                "--src-creds".into(),
                "reader:r3ad".into(),
            ]
        },
    );
}

#[test]
fn every_fault_on_every_target_write_is_recovered() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let img = table_image();
    push_image(&src.client(), "app", Some("v1"), &img);
    // A copy inside the target registry mounts: seed it there too.
    push_image(&dst.client(), "seed/app", Some("v1"), &img);
    // Repositories that hold a tag already: there a blob is looked for (`HEAD`) first.
    let other = image(Format::Docker, "linux", "amd64", None, &[2_000], 4343);
    let kinds = [
        Kind::ManifestHead,
        Kind::BlobHead,
        Kind::UploadStart,
        Kind::UploadPut,
        Kind::ManifestPut,
    ];
    // Each case copies into `{prefix}{case}/app` through the proxy and must land `img` there;
    // `w` repositories get the tag `v1` (another image) first, so each blob gets a `HEAD`.
    let into = |kinds: &[Kind],
                prefix: &str,
                from: &(dyn Fn(&FaultProxy) -> String + Sync),
                extra: &[&str]| {
        table(
            kinds,
            &dst.base_url(),
            |case, out| {
                assert_eq!(out.report["images"][0]["status"], "copied", "case {case}");
                let repo = format!("{prefix}{case}/app");
                assert_landed(&dst, &repo, &img, &format!("case {case}"));
            },
            |case, proxy| {
                let repo = format!("{prefix}{case}/app");
                if prefix == "w" {
                    push_image(&dst.client(), &repo, Some("v1"), &other);
                }
                let mut args = vec!["copy".into(), from(proxy), proxy.reference(&repo, "v1")];
                args.extend(extra.iter().map(|a| a.to_string()));
                args
            },
        );
    };
    let from_src = |_: &FaultProxy| src.reference("app", "v1");
    into(&kinds, "w", &from_src, &[]);
    // `PATCH`es: chunked uploads (and sessions resumed after a cut) send them.
    into(
        &[Kind::UploadPatch],
        "p",
        &from_src,
        &["--chunk-size", "512KiB"],
    );
    // A copy inside the target registry mounts from `seed/app`.
    into(
        &[Kind::Mount],
        "m",
        &|p: &FaultProxy| p.reference("seed/app", "v1"),
        &[],
    );
    // A fresh repository: each blob is asked for with a mount from the repository itself.
    into(&[Kind::Mount], "s", &from_src, &[]);
}

/// Twenty images of every kind: Docker and OCI, single images and indexes, sharing base
/// layers, one of them large enough to stream.
fn twenty_images(src: &Registry) -> Vec<(String, String)> {
    let base = layers(Format::Docker, &[1_200_000, 40_000], 900);
    let oci_base = layers(Format::Oci, &[1_100_000], 901);
    let mut out = Vec::new();
    for i in 0..8u64 {
        let img = image_with_base(
            Format::Docker,
            "linux",
            "amd64",
            None,
            &base,
            &[5_000 + i as usize],
            1000 + i,
        );
        let repo = format!("docker/app{i}");
        push_image(&src.client(), &repo, Some("v1"), &img);
        out.push((repo, img.digest.clone()));
    }
    for i in 0..4u64 {
        let img = image_with_base(
            Format::Oci,
            "linux",
            "arm64",
            None,
            &oci_base,
            &[7_000],
            2000 + i,
        );
        let repo = format!("oci/app{i}");
        push_image(&src.client(), &repo, Some("v1"), &img);
        out.push((repo, img.digest.clone()));
    }
    for (i, format) in [
        Format::Docker,
        Format::Docker,
        Format::Oci,
        Format::Oci,
        Format::Docker,
        Format::Oci,
        Format::Docker,
        Format::Oci,
    ]
    .into_iter()
    .enumerate()
    {
        let b = if format == Format::Docker {
            &base
        } else {
            &oci_base
        };
        let amd = image_with_base(format, "linux", "amd64", None, b, &[9_000], 3000 + i as u64);
        let arm = image_with_base(format, "linux", "arm64", None, b, &[9_500], 4000 + i as u64);
        let idx = index(format, vec![amd, arm], AttestationStyle::None);
        let repo = format!("multi/app{i}");
        push_index(&src.client(), &repo, "v1", &idx);
        out.push((repo, idx.digest.clone()));
    }
    assert_eq!(out.len(), 20);
    out
}

/// The seeds of the chaos test: `FAULT_SEEDS=7,8,9` to try others.
fn seeds() -> Vec<u64> {
    std::env::var("FAULT_SEEDS")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .filter(|v: &Vec<u64>| !v.is_empty())
        .unwrap_or_else(|| vec![1, 2, 3])
}

#[test]
fn a_twenty_image_mirror_under_bounded_faults_lands_whole() {
    let src = Registry::anonymous();
    let images = twenty_images(&src);
    let all = [
        Fault::Status(500),
        Fault::Status(503),
        Fault::TooMany {
            retry_after: Some(RetryAfter::Seconds(1)),
        },
        Fault::Cut,
        Fault::Corrupt,
        Fault::Stall,
        Fault::StallBeforeAnswer,
        Fault::LoseAnswer,
    ];
    std::thread::scope(|scope| {
        for seed in seeds() {
            let (images, all, src) = (&images, &all, &src);
            scope.spawn(move || chaos_run(src, images, all, seed));
        }
    });
}

/// One seed of the chaos test: mirror the twenty through proxies in front of both sides.
fn chaos_run(src: &Registry, images: &[(String, String)], all: &[Fault], seed: u64) {
    let dst = Registry::anonymous();
    let src_proxy = FaultProxy::start(&src.base_url(), FaultPlan::seeded(seed, all, 12));
    let dst_proxy = FaultProxy::start(&dst.base_url(), FaultPlan::seeded(seed + 1000, all, 12));
    let list: String = images
        .iter()
        .map(|(repo, _)| {
            format!(
                "{} {}/mirrored/{repo}:v1\n",
                src_proxy.reference(repo, "v1"),
                dst_proxy.host()
            )
        })
        .collect();
    let started = Instant::now();
    let mut cli = bin();
    cli.args([
        "mirror",
        "--all-platforms",
        "--format",
        "preserve",
        "--parallel",
        "5",
        "--retries",
        "5",
        "--stall-timeout",
        "1",
        "--target-registry",
        &dst_proxy.host(),
        "-f",
        "-",
    ])
    .write_stdin(list);
    let out = cli.run_with_report();
    let injected = (src_proxy.injected().len(), dst_proxy.injected().len());
    assert_eq!(
        out.code, 0,
        "seed {seed}: {injected:?} faults\n{}\n{}",
        out.stdout, out.stderr
    );
    let mut landed = 0;
    for (repo, digest) in images {
        let target = format!("mirrored/{repo}");
        assert_eq!(
            dst.client().head_manifest(&target, "v1").as_deref(),
            Some(digest.as_str()),
            "seed {seed}: {target}"
        );
        // Verified: the registry serves the manifest with those exact bytes.
        let (_, bytes, _) = dst
            .client()
            .get_manifest(&target, digest)
            .expect("manifest");
        assert_eq!(&crate::support::sha256_digest(&bytes), digest);
        landed += 1;
    }
    assert!(
        injected.0 + injected.1 > 0,
        "seed {seed}: no fault was played"
    );
    eprintln!(
        "faults: seed {seed}: {} injected at the source, {} at the target; {landed}/20 images landed verified in {:.1}s",
        injected.0,
        injected.1,
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn faults_that_never_stop_fail_each_image_clearly_and_tag_nothing() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let img = table_image();
    push_image(&src.client(), "app", Some("v1"), &img);
    let cases = [
        (Kind::ManifestPut, Fault::Status(503), "503"),
        (Kind::UploadPut, Fault::StallBeforeAnswer, "stalled"),
        (Kind::BlobGet, Fault::Cut, "ended early"),
        (Kind::ManifestGet, Fault::Corrupt, "failed verification"),
    ];
    for (i, (kind, fault, says)) in cases.into_iter().enumerate() {
        let proxy_src = matches!(kind, Kind::BlobGet | Kind::ManifestGet);
        let over = if proxy_src {
            src.base_url()
        } else {
            dst.base_url()
        };
        let proxy = FaultProxy::start(&over, FaultPlan::endless(kind, fault.clone()));
        let (from, to) = if proxy_src {
            (
                proxy.reference("app", "v1"),
                dst.reference(&format!("e{i}/app"), "v1"),
            )
        } else {
            (
                src.reference("app", "v1"),
                proxy.reference(&format!("e{i}/app"), "v1"),
            )
        };
        let started = Instant::now();
        let mut cli = bin();
        cli.args(["copy", &from, &to, "--retries", "2", "--stall-timeout", "1"]);
        let out = cli.run_with_report();
        let what = format!("endless {fault:?} on {kind:?}");
        assert_eq!(out.code, 1, "{what}\n{}\n{}", out.stdout, out.stderr);
        let error = out.report["images"][0]["error"]
            .as_str()
            .unwrap_or_default();
        assert!(error.contains(says), "{what}: {error}");
        assert!(
            error.contains("hint:") || error.contains("answered"),
            "{what}: {error}"
        );
        assert_eq!(
            dst.client().head_manifest(&format!("e{i}/app"), "v1"),
            None,
            "{what}: a tag was written for an incomplete image"
        );
        // Bounded: retries and stalls end it, it never hangs (generous: the machine is shared).
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what}: {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn a_source_that_goes_silent_fails_within_a_minute_at_a_three_second_stall_timeout() {
    let src = Registry::anonymous();
    let dst = Registry::anonymous();
    let img = table_image();
    push_image(&src.client(), "app", Some("v1"), &img);
    let proxy = FaultProxy::start(
        &src.base_url(),
        FaultPlan::endless(Kind::BlobGet, Fault::Stall),
    );
    let started = Instant::now();
    let mut cli = bin();
    cli.args([
        "copy",
        &proxy.reference("app", "v1"),
        &dst.reference("app", "v1"),
        "--stall-timeout",
        "3",
    ]);
    let out = cli.run_with_report();
    let took = started.elapsed();
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let error = out.report["images"][0]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        error.contains("stalled") || error.contains("ended early"),
        "{error}"
    );
    assert!(took < Duration::from_secs(60), "took {took:?}");
    assert_eq!(dst.client().head_manifest("app", "v1"), None);
}
