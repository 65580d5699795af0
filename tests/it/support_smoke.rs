//! Tests of the test harness itself: real registries in every mode, seeding and reading back
//! images, and the token server's protocol.

use crate::support::{
    image, image_with_base, index, layers, push_image, push_index, sha256_digest,
    with_layer_media_type, AttestationStyle, Format, Registry, DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST, INTOTO_LAYER, OCI_EMPTY, OCI_INDEX, OCI_LAYER_ZSTD, OCI_MANIFEST,
    REFRESH_TOKEN,
};

fn raw_status(registry: &Registry, path: &str) -> u16 {
    registry
        .client_as(None)
        .http()
        .get(format!("{}{path}", registry.base_url()))
        .send()
        .expect("GET")
        .status()
        .as_u16()
}

#[test]
fn anonymous_registry_answers_v2() {
    let registry = Registry::anonymous();
    assert_eq!(raw_status(&registry, "/v2/"), 200);
    assert!(registry.base_url().starts_with("http://127.0.0.1:"));
    assert_eq!(registry.client().ping(), 200);
}

#[test]
fn htpasswd_registry_checks_the_password() {
    let registry = Registry::basic("alice", "s3cret");
    assert_eq!(raw_status(&registry, "/v2/"), 401);
    assert_eq!(registry.client().ping(), 200);
    assert_eq!(registry.client_as(Some(("alice", "s3cret"))).ping(), 200);
    assert_eq!(registry.client_as(Some(("alice", "wrong"))).ping(), 401);
    assert_eq!(registry.client_as(None).ping(), 401);

    let img = image(Format::Docker, "linux", "amd64", None, &[100], 1);
    push_image(&registry.client(), "app", Some("v1"), &img);
    let wrong = registry.client_as(Some(("alice", "wrong")));
    assert_eq!(
        wrong
            .try_get_manifest("app", "v1")
            .expect_err("wrong password")
            .status,
        401
    );
    let user = registry.client_as(Some(("alice", "s3cret")));
    assert_eq!(user.head_manifest("app", "v1"), Some(img.digest.clone()));
}

#[test]
fn tls_registry_needs_the_ca() {
    let registry = Registry::tls();
    assert!(registry.base_url().starts_with("https://127.0.0.1:"));
    let ca = registry.ca_pem_path().expect("CA path");
    assert!(ca.is_file());

    // Without the CA: the handshake fails.
    let plain = reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let err = plain
        .get(format!("{}/v2/", registry.base_url()))
        .send()
        .expect_err("untrusted certificate must be refused");
    assert!(err.is_connect() || err.is_request(), "{err:?}");

    // With the CA file: OK, by IP and by the DNS name `localhost`.
    let pem = std::fs::read(&ca).expect("read CA");
    let trusting = reqwest::blocking::Client::builder()
        .no_proxy()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
        .build()
        .expect("client");
    for url in [
        format!("{}/v2/", registry.base_url()),
        format!("https://localhost:{}/v2/", registry.port()),
    ] {
        let status = trusting.get(&url).send().expect("TLS GET").status();
        assert_eq!(status.as_u16(), 200, "{url}");
    }

    let img = image(Format::Oci, "linux", "arm64", Some("v8"), &[10, 20], 2);
    push_image(&registry.client(), "tls/app", Some("latest"), &img);
    assert_eq!(
        registry.client().head_manifest("tls/app", "latest"),
        Some(img.digest.clone())
    );
}

#[test]
fn token_registry_anonymous_pull_user_push() {
    let registry = Registry::token("bob", "hunter2");
    assert_eq!(raw_status(&registry, "/v2/"), 401);
    let admin = registry.client();
    assert_eq!(admin.ping(), 200);
    // The admin client mints its tokens in-process: nothing recorded.
    let img = image(Format::Oci, "linux", "amd64", None, &[64, 32], 3);
    push_image(&admin, "team/app", Some("v1"), &img);
    assert!(registry.token_requests().is_empty());

    // Anonymous pull works (through the token server).
    let anonymous = registry.client_as(None);
    let (content_type, bytes, digest) = anonymous
        .get_manifest("team/app", "v1")
        .expect("anonymous pull");
    assert_eq!(content_type, OCI_MANIFEST);
    assert_eq!(bytes, img.manifest);
    assert_eq!(digest, img.digest);
    let requests = registry.token_requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_eq!(requests[0].method, "GET");
    assert!(!requests[0].basic_auth);
    assert_eq!(requests[0].user, None);
    assert_eq!(requests[0].scopes, vec!["repository:team/app:pull"]);
    assert_eq!(requests[0].service.as_deref(), Some("test-registry"));
    assert_eq!(requests[0].status, 200);

    // Anonymous push is refused.
    let err = anonymous
        .try_push_blob("team/app", b"nope")
        .expect_err("anonymous push must fail");
    assert_eq!(err.status, 401, "{err}");

    // Wrong password: the token server says 401, so does the registry.
    let wrong = registry.client_as(Some(("bob", "bad")));
    assert_eq!(
        wrong
            .try_push_blob("team/app", b"nope")
            .expect_err("wrong")
            .status,
        401
    );
    assert!(registry
        .token_requests()
        .iter()
        .any(|r| r.basic_auth && r.user.is_none() && r.status == 401));

    // The user may push.
    registry.clear_token_requests();
    let user = registry.client_as(Some(("bob", "hunter2")));
    let other = image(Format::Docker, "linux", "amd64", None, &[50], 4);
    push_image(&user, "team/other", Some("v2"), &other);
    assert_eq!(admin.head_manifest("team/other", "v2"), Some(other.digest));
    let requests = registry.token_requests();
    assert!(!requests.is_empty());
    assert!(requests
        .iter()
        .all(|r| r.basic_auth && r.user.as_deref() == Some("bob") && r.status == 200));
    // The scope comes from the registry's challenge, whose action order distribution takes from
    // a Go map: `pull,push` or `push,pull`.
    assert!(
        requests
            .iter()
            .any(|r| r.scopes == vec!["repository:team/other:pull,push"]
                || r.scopes == vec!["repository:team/other:push,pull"]),
        "{requests:#?}"
    );
}

#[test]
fn token_server_protocol() {
    let registry = Registry::token("carol", "pw");
    let realm = registry.token_realm().expect("realm");
    let http = registry.client_as(None).http().clone();
    let basic = |req: reqwest::blocking::RequestBuilder, user: &str, pass: &str| {
        req.basic_auth(user, Some(pass))
    };
    let claims = |token: &str| -> serde_json::Value {
        use base64::Engine as _;
        let payload = token.split('.').nth(1).expect("JWT payload");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url");
        serde_json::from_slice(&bytes).expect("claims json")
    };

    // GET with repeated and space-separated scopes, as the user, offline_token.
    let response = basic(
        http.get(format!(
            "{realm}?service=test-registry&scope=repository:a:pull,push&scope=repository:b:pull%20repository:c:push&offline_token=true"
        )),
        "carol",
        "pw",
    )
    .send()
    .expect("token GET");
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().expect("json");
    assert_eq!(body["expires_in"], 300);
    assert!(body["issued_at"]
        .as_str()
        .expect("issued_at")
        .ends_with('Z'));
    assert_eq!(body["refresh_token"], REFRESH_TOKEN);
    assert_eq!(body["token"], body["access_token"]);
    let c = claims(body["token"].as_str().expect("token"));
    assert_eq!(c["iss"], "test-issuer");
    assert_eq!(c["aud"], "test-registry");
    assert_eq!(c["sub"], "carol");
    assert_eq!(
        c["access"],
        serde_json::json!([
            {"type": "repository", "name": "a", "actions": ["pull", "push"]},
            {"type": "repository", "name": "b", "actions": ["pull"]},
            {"type": "repository", "name": "c", "actions": ["push"]},
        ])
    );

    // Anonymous: pull only.
    let body: serde_json::Value = http
        .get(format!(
            "{realm}?service=test-registry&scope=repository:a:pull,push"
        ))
        .send()
        .expect("anonymous GET")
        .json()
        .expect("json");
    let c = claims(body["token"].as_str().expect("token"));
    assert_eq!(
        c["access"],
        serde_json::json!([{"type": "repository", "name": "a", "actions": ["pull"]}])
    );
    assert!(body.get("refresh_token").is_none());

    // Wrong password.
    let status = basic(
        http.get(format!("{realm}?scope=repository:a:pull")),
        "carol",
        "x",
    )
    .send()
    .expect("GET")
    .status();
    assert_eq!(status.as_u16(), 401);

    // POST: password grant, refresh grant, bad refresh token, bad grant type.
    let post = |form: &[(&str, &str)]| {
        let response = http.post(&realm).form(form).send().expect("POST");
        let status = response.status().as_u16();
        (
            status,
            response.json::<serde_json::Value>().unwrap_or_default(),
        )
    };
    let (status, body) = post(&[
        ("grant_type", "password"),
        ("username", "carol"),
        ("password", "pw"),
        ("service", "test-registry"),
        ("scope", "repository:a:pull,push repository:d:pull"),
        ("client_id", "test"),
    ]);
    assert_eq!(status, 200);
    assert_eq!(body["refresh_token"], REFRESH_TOKEN);
    let c = claims(body["access_token"].as_str().expect("access_token"));
    assert_eq!(c["sub"], "carol");
    assert_eq!(c["access"][1]["name"], "d");
    let (status, body) = post(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", REFRESH_TOKEN),
        ("service", "test-registry"),
        ("scope", "repository:a:push"),
    ]);
    assert_eq!(status, 200);
    let c = claims(body["access_token"].as_str().expect("access_token"));
    assert_eq!(c["access"][0]["actions"], serde_json::json!(["push"]));
    assert_eq!(
        post(&[("grant_type", "refresh_token"), ("refresh_token", "nope")]).0,
        401
    );
    assert_eq!(
        post(&[
            ("grant_type", "password"),
            ("username", "carol"),
            ("password", "no")
        ])
        .0,
        401
    );
    assert_eq!(post(&[("grant_type", "magic")]).0, 400);

    let requests = registry.token_requests();
    assert_eq!(requests.len(), 8, "{requests:#?}");
    assert_eq!(requests[0].scopes.len(), 3);
    assert_eq!(requests[3].method, "POST");
    assert_eq!(requests[3].grant_type.as_deref(), Some("password"));
    assert_eq!(requests[3].user.as_deref(), Some("carol"));
    assert_eq!(requests[4].user.as_deref(), Some("carol"));
    assert_eq!(requests[5].user, None);

    // A token minted via the refresh grant is accepted by the registry for a push.
    let (_, body) = post(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", REFRESH_TOKEN),
        ("service", "test-registry"),
        ("scope", "repository:fresh:pull,push"),
    ]);
    let token = body["access_token"].as_str().expect("token");
    let response = http
        .post(format!("{}/v2/fresh/blobs/uploads/", registry.base_url()))
        .bearer_auth(token)
        .send()
        .expect("start upload");
    assert_eq!(response.status().as_u16(), 202, "{}", registry.log());
}

#[test]
fn push_and_read_back_images() {
    let registry = Registry::anonymous();
    let client = registry.client();

    let docker = image(Format::Docker, "linux", "amd64", None, &[1000, 0, 3], 10);
    assert_eq!(
        docker,
        image(Format::Docker, "linux", "amd64", None, &[1000, 0, 3], 10)
    );
    assert_ne!(
        docker.digest,
        image(Format::Docker, "linux", "amd64", None, &[1000, 0, 3], 11).digest
    );
    push_image(&client, "lib/docker", Some("v1"), &docker);
    let (content_type, bytes, digest) = client.get_manifest("lib/docker", "v1").expect("manifest");
    assert_eq!(content_type, DOCKER_MANIFEST);
    assert_eq!(bytes, docker.manifest);
    assert_eq!(digest, docker.digest);
    assert_eq!(
        client.head_manifest("lib/docker", &docker.digest),
        Some(docker.digest.clone())
    );
    for (digest, data) in docker.blobs() {
        assert_eq!(client.get_blob("lib/docker", &digest), data);
    }
    assert_eq!(client.tags("lib/docker"), vec!["v1"]);
    assert!(client.get_manifest("lib/docker", "missing").is_none());
    assert!(client.head_manifest("lib/docker", "missing").is_none());
    assert!(!client.blob_exists("lib/docker", &sha256_digest(b"missing")));
    assert!(client.tags("no/such/repo").is_empty());

    // Config content.
    let config: serde_json::Value = serde_json::from_slice(&docker.config).expect("config");
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["os"], "linux");
    assert!(config.get("variant").is_none());
    assert_eq!(
        config["rootfs"]["diff_ids"]
            .as_array()
            .expect("diff_ids")
            .len(),
        3
    );

    // OCI by digest, with a zstd layer, and shared base layers.
    let base = layers(Format::Oci, &[200, 300], 99);
    let a = image_with_base(Format::Oci, "linux", "amd64", None, &base, &[10], 20);
    let b = image_with_base(Format::Oci, "linux", "arm64", Some("v8"), &base, &[10], 21);
    assert_eq!(a.layer_digests()[..2], b.layer_digests()[..2]);
    assert_ne!(a.layer_digests()[2], b.layer_digests()[2]);
    let zstd = with_layer_media_type(a.clone(), 2, OCI_LAYER_ZSTD);
    assert_ne!(zstd.digest, a.digest);
    assert_eq!(
        zstd.manifest_json()["layers"][2]["mediaType"],
        OCI_LAYER_ZSTD
    );
    push_image(&client, "lib/oci", None, &zstd);
    push_image(&client, "lib/oci", Some("b"), &b);
    let (content_type, bytes, _) = client.get_manifest("lib/oci", &zstd.digest).expect("oci");
    assert_eq!(content_type, OCI_MANIFEST);
    assert_eq!(bytes, zstd.manifest);
    assert_eq!(client.tags("lib/oci"), vec!["b"]);
    let mut catalog = client.catalog();
    catalog.sort();
    assert_eq!(catalog, vec!["lib/docker", "lib/oci"]);

    // Deletion.
    assert!(client.delete_manifest("lib/oci", &zstd.digest));
    assert!(client.get_manifest("lib/oci", &zstd.digest).is_none());

    // Damaging a stored blob: the registry then serves bytes that do not match the digest.
    let victim = b.layer_digests()[2].clone();
    registry.corrupt_blob(&victim, &[0u8; 10]);
    let served = client.try_get_blob("lib/oci", &victim).expect("served");
    assert_eq!(served, vec![0u8; 10]);
    assert_ne!(sha256_digest(&served), victim);
}

fn check_index(registry: &Registry, repo: &str, idx: &crate::support::Index) {
    let client = registry.client();
    let (content_type, bytes, digest) = client.get_manifest(repo, "multi").expect("index");
    assert_eq!(content_type, idx.media_type);
    assert_eq!(bytes, idx.manifest);
    assert_eq!(digest, idx.digest);
    for child in idx.images.iter().chain(&idx.attestations) {
        let (ct, bytes, digest) = client.get_manifest(repo, &child.digest).expect("child");
        assert_eq!(ct, child.media_type);
        assert_eq!(bytes, child.manifest);
        assert_eq!(digest, child.digest);
        for (blob, _) in child.blobs() {
            assert!(client.blob_exists(repo, &blob), "{blob}");
        }
    }
}

#[test]
fn push_and_read_back_indexes_with_attestations() {
    let registry = Registry::anonymous();
    let client = registry.client();
    let images = || {
        vec![
            image(Format::Oci, "linux", "amd64", None, &[100, 50], 30),
            image(Format::Oci, "linux", "arm64", Some("v8"), &[100, 60], 31),
            image(Format::Oci, "linux", "arm", Some("v7"), &[70], 32),
        ]
    };

    // BuildKit classic attestations in an OCI index.
    let classic = index(Format::Oci, images(), AttestationStyle::Classic);
    assert_eq!(classic.media_type, OCI_INDEX);
    assert_eq!(classic.attestations.len(), 3);
    let json = classic.manifest_json();
    let entries = json["manifests"].as_array().expect("manifests");
    assert_eq!(entries.len(), 6);
    assert_eq!(entries[1]["platform"]["variant"], "v8");
    assert_eq!(entries[3]["platform"]["os"], "unknown");
    assert_eq!(
        entries[3]["annotations"]["vnd.docker.reference.type"],
        "attestation-manifest"
    );
    assert_eq!(
        entries[3]["annotations"]["vnd.docker.reference.digest"],
        classic.images[0].digest
    );
    let att = classic.attestations[0].manifest_json();
    assert_eq!(att["layers"][0]["mediaType"], INTOTO_LAYER);
    assert_eq!(
        att["layers"][0]["annotations"]["in-toto.io/predicate-type"],
        "https://spdx.dev/Document"
    );
    push_index(&client, "multi/classic", "multi", &classic);
    check_index(&registry, "multi/classic", &classic);

    // OCI 1.1 artifact-form attestations.
    let artifact = index(Format::Oci, images(), AttestationStyle::Artifact);
    let att = artifact.attestations[1].manifest_json();
    assert_eq!(att["config"]["mediaType"], OCI_EMPTY);
    assert_eq!(att["subject"]["digest"], artifact.images[1].digest);
    assert_eq!(artifact.attestations[1].config, b"{}");
    assert_eq!(artifact.images, classic.images);
    push_index(&client, "multi/artifact", "multi", &artifact);
    check_index(&registry, "multi/artifact", &artifact);

    // Docker manifest list without attestations.
    let docker_images = vec![
        image(Format::Docker, "linux", "amd64", None, &[10], 40),
        image(Format::Docker, "windows", "amd64", None, &[10], 41),
    ];
    let list = index(Format::Docker, docker_images, AttestationStyle::None);
    assert_eq!(list.media_type, DOCKER_MANIFEST_LIST);
    assert!(list.attestations.is_empty());
    assert_eq!(
        list.image_for("windows", "amd64").map(|i| &i.digest),
        Some(&list.images[1].digest)
    );
    push_index(&client, "multi/docker", "multi", &list);
    check_index(&registry, "multi/docker", &list);
}

#[test]
fn registries_start_in_parallel_and_fast() {
    let started = std::time::Instant::now();
    let registries: Vec<Registry> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(Registry::anonymous)).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("start"))
            .collect()
    });
    let mut ports: Vec<u16> = registries.iter().map(Registry::port).collect();
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 4);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        registries[0].log().contains("listening on"),
        "{}",
        registries[0].log()
    );
}

#[test]
fn cli_runs_with_a_clean_environment() {
    let cli = crate::support::bin();
    assert!(cli.home().is_dir());
    assert_eq!(std::fs::read_dir(cli.home()).expect("home").count(), 0);
    let path = cli.write_docker_config(&serde_json::json!({
        "auths": {"127.0.0.1:5000": crate::support::Cli::docker_auth_entry("u", "p")}
    }));
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).expect("config")).expect("json");
    assert_eq!(written["auths"]["127.0.0.1:5000"]["auth"], "dTpw");

    // The guard derefs to `assert_cmd::Command` (not run here: the binary is under test).
    let mut cli = crate::support::bin();
    let docker_dir = cli.home().join(".docker");
    cli.arg("--version").env("DOCKER_CONFIG", docker_dir);
    assert!(format!("{:?}", cli.command()).contains("registry-mirror"));
}
