//! Tests of the fault-injection proxy itself, with a plain blocking reqwest client in front of it
//! and a real registry behind it: pass-through, every fault class as it arrives on the wire, the
//! token realm rewrite, seeded plans that repeat themselves, endless faults.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime};

use reqwest::blocking::{Body, Client, Response};
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RETRY_AFTER};

use crate::support::{
    image, push_image, sha256_digest, Fault, FaultPlan, FaultProxy, Format, Image, Kind, Registry,
    RetryAfter, MANIFEST_ACCEPT,
};

/// A client that never waits longer than `timeout` for anything.
fn http(timeout: Duration) -> Client {
    Client::builder()
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(2))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// An image with a small layer (a `SmallBlobGet`, like its config) and a big one (a `BlobGet`).
fn test_image(seed: u64) -> Image {
    image(
        Format::Docker,
        "linux",
        "amd64",
        None,
        &[3_000, 1_500_000],
        seed,
    )
}

/// The registry with `app:v1` pushed directly.
fn seeded_registry(img: &Image) -> Registry {
    let registry = Registry::anonymous();
    push_image(&registry.client(), "app", Some("v1"), img);
    registry
}

fn header(response: &Response, name: reqwest::header::HeaderName) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

/// The body as far as it comes, and the error that ended it, if any.
fn read_body(mut response: Response) -> (Vec<u8>, Option<std::io::Error>) {
    let mut body = Vec::new();
    let error = response.read_to_end(&mut body).err();
    (body, error)
}

/// Whether an I/O error from a blocking reqwest body is a timeout.
fn is_timeout(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::TimedOut
        || error
            .get_ref()
            .and_then(|e| e.downcast_ref::<reqwest::Error>())
            .is_some_and(reqwest::Error::is_timeout)
}

fn error_code(body: &[u8]) -> String {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    json["errors"][0]["code"].as_str().unwrap().to_string()
}

fn kinds(proxy: &FaultProxy) -> Vec<Kind> {
    proxy.seen().iter().map(|s| s.kind).collect()
}

#[test]
fn passes_a_push_and_a_pull_through_with_locations_pointing_at_the_proxy() {
    let registry = Registry::anonymous();
    let proxy = FaultProxy::over(&registry, FaultPlan::none());
    let http = http(Duration::from_secs(10));
    let base = proxy.base_url();
    let at_proxy = format!("http://{}/", proxy.host());
    let img = test_image(1);

    assert_eq!(
        http.get(format!("{base}/v2/")).send().unwrap().status(),
        200
    );
    for (digest, data) in img.blobs() {
        let started = http
            .post(format!("{base}/v2/app/blobs/uploads/"))
            .send()
            .unwrap();
        assert_eq!(started.status(), 202);
        let location = header(&started, LOCATION).unwrap();
        assert!(location.starts_with(&at_proxy), "{location}");
        // A body of unknown length goes out chunked.
        let patched = http
            .patch(&location)
            .body(Body::new(std::io::Cursor::new(data.to_vec())))
            .send()
            .unwrap();
        assert_eq!(patched.status(), 202);
        let location = header(&patched, LOCATION).unwrap();
        assert!(location.starts_with(&at_proxy), "{location}");
        let status = http.get(&location).send().unwrap();
        assert_eq!(status.status(), 204);
        assert_eq!(
            header(&status, reqwest::header::RANGE).unwrap(),
            format!("0-{}", data.len() - 1)
        );
        let mut put = reqwest::Url::parse(&location).unwrap();
        put.query_pairs_mut().append_pair("digest", &digest);
        let closed = http.put(put).send().unwrap();
        assert_eq!(closed.status(), 201);
        let blob = header(&closed, LOCATION).unwrap();
        assert!(blob.starts_with(&at_proxy), "{blob}");
        let head = http
            .head(format!("{base}/v2/app/blobs/{digest}"))
            .send()
            .unwrap();
        assert_eq!(head.status(), 200);
        assert_eq!(
            header(&head, CONTENT_LENGTH).unwrap(),
            data.len().to_string()
        );
    }
    let put = http
        .put(format!("{base}/v2/app/manifests/v1"))
        .header(CONTENT_TYPE, &img.media_type)
        .body(img.manifest.clone())
        .send()
        .unwrap();
    assert_eq!(put.status(), 201);
    assert!(header(&put, LOCATION).unwrap().starts_with(&at_proxy));

    // Read it all back through the proxy.
    let head = http
        .head(format!("{base}/v2/app/manifests/v1"))
        .header(ACCEPT, MANIFEST_ACCEPT)
        .send()
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        header(&head, CONTENT_LENGTH).unwrap(),
        img.manifest.len().to_string()
    );
    assert_eq!(
        header(&head, "docker-content-digest".parse().unwrap()).unwrap(),
        img.digest
    );
    let manifest = http
        .get(format!("{base}/v2/app/manifests/{}", img.digest))
        .header(ACCEPT, MANIFEST_ACCEPT)
        .send()
        .unwrap();
    assert_eq!(manifest.status(), 200);
    assert_eq!(manifest.bytes().unwrap(), img.manifest);
    for (digest, data) in img.blobs() {
        let blob = http
            .get(format!("{base}/v2/app/blobs/{digest}"))
            .send()
            .unwrap();
        assert_eq!(blob.status(), 200);
        assert_eq!(blob.bytes().unwrap(), data);
    }
    let tags: serde_json::Value = http
        .get(format!("{base}/v2/app/tags/list"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(tags["tags"], serde_json::json!(["v1"]));
    let catalog: serde_json::Value = http
        .get(format!("{base}/v2/_catalog"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(catalog["repositories"], serde_json::json!(["app"]));
    let mounted = http
        .post(format!(
            "{base}/v2/other/blobs/uploads/?mount={}&from=app",
            img.config_digest()
        ))
        .send()
        .unwrap();
    assert_eq!(mounted.status(), 201);
    let abandoned = http
        .post(format!("{base}/v2/app/blobs/uploads/"))
        .send()
        .unwrap();
    let location = header(&abandoned, LOCATION).unwrap();
    assert_eq!(http.delete(&location).send().unwrap().status(), 204);

    // The registry really holds it.
    let direct = registry.client();
    assert_eq!(direct.get_manifest("app", "v1").unwrap().1, img.manifest);
    assert!(direct.blob_exists("other", &img.config_digest()));

    let upload = [
        Kind::UploadStart,
        Kind::UploadPatch,
        Kind::UploadStatus,
        Kind::UploadPut,
        Kind::BlobHead,
    ];
    let mut expected = vec![Kind::Ping];
    for _ in 0..3 {
        expected.extend(upload);
    }
    expected.extend([
        Kind::ManifestPut,
        Kind::ManifestHead,
        Kind::ManifestGet,
        Kind::SmallBlobGet,
        Kind::SmallBlobGet,
        Kind::BlobGet,
        Kind::TagList,
        Kind::Catalog,
        Kind::Mount,
        Kind::UploadStart,
        Kind::UploadDelete,
    ]);
    assert_eq!(kinds(&proxy), expected);
    assert!(proxy.seen().iter().all(|s| s.status_sent.is_some()));
    assert!(proxy.injected().is_empty());
}

#[test]
fn status_and_too_many_arrive_as_set_and_keep_the_connection() {
    let img = test_image(2);
    let registry = seeded_registry(&img);
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000);
    let plan = FaultPlan::none()
        .nth(Kind::ManifestGet, 1, Fault::Status(500))
        .nth(Kind::ManifestGet, 2, Fault::Status(502))
        .nth(Kind::ManifestHead, 1, Fault::Status(503))
        .first(
            Kind::TagList,
            1,
            Fault::TooMany {
                retry_after: Some(RetryAfter::Seconds(7)),
            },
        )
        .nth(
            Kind::TagList,
            2,
            Fault::TooMany {
                retry_after: Some(RetryAfter::Date(at)),
            },
        )
        .nth(
            Kind::TagList,
            3,
            Fault::TooMany {
                retry_after: Some(RetryAfter::DateIn(30)),
            },
        )
        .nth(Kind::TagList, 4, Fault::TooMany { retry_after: None });
    let proxy = FaultProxy::over(&registry, plan);
    let http = http(Duration::from_secs(10));
    let base = proxy.base_url();
    let manifest = format!("{base}/v2/app/manifests/v1");
    let get = || {
        http.get(&manifest)
            .header(ACCEPT, MANIFEST_ACCEPT)
            .send()
            .unwrap()
    };

    for (status, code) in [(500, "UNKNOWN"), (502, "UNKNOWN")] {
        let response = get();
        assert_eq!(response.status(), status);
        assert_eq!(header(&response, CONTENT_TYPE).unwrap(), "application/json");
        assert_eq!(error_code(&response.bytes().unwrap()), code);
    }
    assert_eq!(get().bytes().unwrap(), img.manifest);
    let head = http
        .head(&manifest)
        .header(ACCEPT, MANIFEST_ACCEPT)
        .send()
        .unwrap();
    assert_eq!(head.status(), 503);
    assert!(
        header(&head, CONTENT_LENGTH)
            .unwrap()
            .parse::<usize>()
            .unwrap()
            > 0
    );
    assert!(head.bytes().unwrap().is_empty());

    let tags = format!("{base}/v2/app/tags/list");
    let first = http.get(&tags).send().unwrap();
    assert_eq!(first.status(), 429);
    assert_eq!(header(&first, RETRY_AFTER).unwrap(), "7");
    assert_eq!(error_code(&first.bytes().unwrap()), "TOOMANYREQUESTS");
    let second = http.get(&tags).send().unwrap();
    assert_eq!(second.status(), 429);
    assert_eq!(
        header(&second, RETRY_AFTER).unwrap(),
        httpdate::fmt_http_date(at)
    );
    let before = SystemTime::now();
    let third = http.get(&tags).send().unwrap();
    assert_eq!(third.status(), 429);
    let date = httpdate::parse_http_date(&header(&third, RETRY_AFTER).unwrap()).unwrap();
    assert!(date >= before + Duration::from_secs(28), "{date:?}");
    assert!(
        date <= SystemTime::now() + Duration::from_secs(30),
        "{date:?}"
    );
    let fourth = http.get(&tags).send().unwrap();
    assert_eq!(fourth.status(), 429);
    assert_eq!(header(&fourth, RETRY_AFTER), None);
    assert_eq!(http.get(&tags).send().unwrap().status(), 200);

    let injected: Vec<(Kind, Fault)> = proxy
        .injected()
        .into_iter()
        .map(|i| (i.kind, i.fault))
        .collect();
    assert_eq!(injected.len(), 7, "{injected:?}");
    assert_eq!(injected[0], (Kind::ManifestGet, Fault::Status(500)));
    assert_eq!(injected[2], (Kind::ManifestHead, Fault::Status(503)));
    let sent: Vec<Option<u16>> = proxy.seen().iter().map(|s| s.status_sent).collect();
    let expected = [500, 502, 200, 503, 429, 429, 429, 429, 200];
    assert_eq!(sent, expected.map(Some));
}

/// A bare HTTP/1.1 connection, to see exactly what the proxy does with connections.
struct Raw {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    host: String,
}

/// One answer read off a [`Raw`] connection.
struct RawAnswer {
    status: u16,
    /// Lowercase names.
    headers: Vec<(String, String)>,
    /// As much of the announced body as came before the connection closed.
    body: Vec<u8>,
}

impl RawAnswer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn content_length(&self) -> usize {
        self.header("content-length").unwrap().parse().unwrap()
    }
}

impl Raw {
    fn connect(host: &str) -> Raw {
        let writer = TcpStream::connect(host).unwrap();
        writer
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        Raw {
            reader: BufReader::new(writer.try_clone().unwrap()),
            writer,
            host: host.to_string(),
        }
    }

    fn exchange(&mut self, method: &str, path: &str, extra: &str) -> RawAnswer {
        write!(
            self.writer,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAccept: {MANIFEST_ACCEPT}\r\n{extra}\r\n",
            self.host
        )
        .unwrap();
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let status = line.split(' ').nth(1).unwrap().parse().unwrap();
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).unwrap();
            let Some((name, value)) = line.trim_end().split_once(':') else {
                break;
            };
            headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
        }
        let mut answer = RawAnswer {
            status,
            headers,
            body: Vec::new(),
        };
        if method != "HEAD" {
            let length = answer.content_length() as u64;
            (&mut self.reader)
                .take(length)
                .read_to_end(&mut answer.body)
                .unwrap();
        }
        answer
    }

    /// Whether the proxy has closed the connection (the next read finds its end).
    fn closed(&mut self) -> bool {
        let mut buf = [0u8; 1];
        matches!(self.reader.read(&mut buf), Ok(0))
    }
}

#[test]
fn answered_faults_keep_the_connection_and_breaking_ones_close_it() {
    let img = test_image(10);
    let registry = seeded_registry(&img);
    let plan = FaultPlan::none()
        .nth(Kind::ManifestGet, 1, Fault::Status(503))
        .nth(
            Kind::ManifestGet,
            2,
            Fault::TooMany {
                retry_after: Some(RetryAfter::Seconds(1)),
            },
        )
        .nth(Kind::ManifestGet, 3, Fault::Corrupt)
        .nth(Kind::SmallBlobGet, 1, Fault::Cut);
    let proxy = FaultProxy::over(&registry, plan);
    let manifest = "/v2/app/manifests/v1";

    let mut raw = Raw::connect(&proxy.host());
    assert_eq!(raw.exchange("GET", manifest, "").status, 503);
    let too_many = raw.exchange("GET", manifest, "");
    assert_eq!(too_many.status, 429);
    assert_eq!(too_many.header("retry-after"), Some("1"));
    let corrupt = raw.exchange("GET", manifest, "");
    assert_eq!(corrupt.status, 200);
    assert_eq!(corrupt.body.len(), img.manifest.len());
    assert!(corrupt.body != img.manifest);
    let whole = raw.exchange("GET", manifest, "");
    assert!(whole.body == img.manifest);
    let head = raw.exchange("HEAD", manifest, "");
    assert_eq!(head.status, 200);
    assert_eq!(head.content_length(), img.manifest.len());
    let cut = raw.exchange("GET", &format!("/v2/app/blobs/{}", img.config_digest()), "");
    assert_eq!(cut.status, 200);
    assert_eq!(cut.content_length(), img.config.len());
    assert_eq!(cut.body.len(), img.config.len() / 2);
    assert!(raw.closed(), "a cut closes the connection");

    // A client that asks for `Connection: close` gets it.
    let mut once = Raw::connect(&proxy.host());
    let ping = once.exchange("GET", "/v2/", "Connection: close\r\n");
    assert_eq!(ping.status, 200);
    assert_eq!(ping.header("connection"), Some("close"));
    assert!(once.closed());
    assert_eq!(proxy.connections(), 2);
}

#[test]
fn cut_sends_half_of_the_announced_body_and_closes() {
    let img = test_image(3);
    let registry = seeded_registry(&img);
    let plan =
        FaultPlan::none()
            .nth(Kind::BlobGet, 1, Fault::Cut)
            .nth(Kind::SmallBlobGet, 1, Fault::Cut);
    let proxy = FaultProxy::over(&registry, plan);
    let http = http(Duration::from_secs(10));
    let big = &img.layers[1];
    for (digest, data) in [
        (big.digest(), &big.data),
        (img.config_digest(), &img.config),
    ] {
        let url = format!("{}/v2/app/blobs/{digest}", proxy.base_url());
        let response = http.get(&url).send().unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.content_length(), Some(data.len() as u64));
        let (body, error) = read_body(response);
        assert_eq!(body.len(), data.len() / 2);
        assert!(body[..] == data[..body.len()], "the first half, unchanged");
        let error = error.expect("a cut body ends in an error");
        assert!(!is_timeout(&error), "{error:?}");
        // The next read is whole again.
        let again = http.get(&url).send().unwrap().bytes().unwrap();
        assert_eq!(sha256_digest(&again), digest);
    }
    let injected = proxy.injected();
    assert_eq!(injected.len(), 2);
    assert_eq!(injected[0].kind, Kind::BlobGet);
    assert_eq!(injected[0].fault, Fault::Cut);
    assert_eq!(injected[0].method, "GET");
    assert_eq!(injected[0].uri, format!("/v2/app/blobs/{}", big.digest()));
    assert_eq!(injected[1].kind, Kind::SmallBlobGet);
    // Each cut closed its connection.
    assert!(proxy.connections() >= 3);
}

#[test]
fn corrupt_sends_the_full_length_with_other_bytes() {
    let img = test_image(4);
    let registry = seeded_registry(&img);
    let plan = FaultPlan::none()
        .nth(Kind::ManifestGet, 1, Fault::Corrupt)
        .nth(Kind::BlobGet, 1, Fault::Corrupt);
    let proxy = FaultProxy::over(&registry, plan);
    let http = http(Duration::from_secs(10));
    let base = proxy.base_url();
    let big = &img.layers[1];
    let reads = [
        (format!("{base}/v2/app/manifests/v1"), &img.manifest),
        (format!("{base}/v2/app/blobs/{}", big.digest()), &big.data),
    ];
    for (url, data) in reads {
        let get = || {
            http.get(&url)
                .header(ACCEPT, MANIFEST_ACCEPT)
                .send()
                .unwrap()
        };
        let response = get();
        assert_eq!(response.status(), 200);
        assert_eq!(response.content_length(), Some(data.len() as u64));
        let body = response.bytes().unwrap();
        assert_eq!(body.len(), data.len());
        assert_ne!(sha256_digest(&body), sha256_digest(data));
        let changed = body.iter().zip(data.iter()).filter(|(a, b)| a != b).count();
        assert!((1..=3).contains(&changed), "{changed} bytes changed");
        assert!(get().bytes().unwrap() == data[..], "the next read is whole");
    }
    assert_eq!(
        proxy
            .injected()
            .iter()
            .map(|i| (i.kind, i.fault.clone()))
            .collect::<Vec<_>>(),
        [
            (Kind::ManifestGet, Fault::Corrupt),
            (Kind::BlobGet, Fault::Corrupt)
        ]
    );
}

#[test]
fn stall_sends_part_of_the_body_then_nothing_until_the_client_gives_up() {
    let img = test_image(5);
    let registry = seeded_registry(&img);
    let plan = FaultPlan::none().nth(Kind::BlobGet, 1, Fault::Stall).nth(
        Kind::ManifestGet,
        1,
        Fault::StallBeforeAnswer,
    );
    let proxy = FaultProxy::over(&registry, plan);
    let http = http(Duration::from_secs(1));
    let base = proxy.base_url();
    let big = &img.layers[1];

    let started = Instant::now();
    let response = http
        .get(format!("{base}/v2/app/blobs/{}", big.digest()))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.content_length(), Some(big.data.len() as u64));
    let (body, error) = read_body(response);
    assert_eq!(body.len(), big.data.len() / 2);
    assert!(
        body[..] == big.data[..body.len()],
        "the first half, unchanged"
    );
    let error = error.expect("a stalled body ends in the client's timeout");
    assert!(is_timeout(&error), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(5));

    let error = http
        .get(format!("{base}/v2/app/manifests/v1"))
        .header(ACCEPT, MANIFEST_ACCEPT)
        .send()
        .expect_err("no answer ever comes");
    assert!(error.is_timeout(), "{error:?}");

    // Stalls hold up nobody else.
    assert_eq!(
        http.get(format!("{base}/v2/")).send().unwrap().status(),
        200
    );
    let sent: Vec<(Kind, Option<u16>)> = proxy
        .seen()
        .iter()
        .map(|s| (s.kind, s.status_sent))
        .collect();
    assert_eq!(
        sent,
        [
            (Kind::BlobGet, Some(200)),
            (Kind::ManifestGet, None),
            (Kind::Ping, Some(200))
        ]
    );
}

#[test]
fn a_stalled_connection_blocks_neither_others_nor_the_shutdown() {
    let img = test_image(6);
    let registry = seeded_registry(&img);
    let proxy = FaultProxy::over(
        &registry,
        FaultPlan::endless(Kind::ManifestGet, Fault::StallBeforeAnswer),
    );
    let mut raw = TcpStream::connect(proxy.host()).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    write!(
        raw,
        "GET /v2/app/manifests/v1 HTTP/1.1\r\nHost: {}\r\nAccept: {MANIFEST_ACCEPT}\r\n\r\n",
        proxy.host()
    )
    .unwrap();
    let mut buf = [0u8; 64];
    let error = raw.read(&mut buf).expect_err("nothing comes back");
    assert!(
        matches!(
            error.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{error:?}"
    );

    // While it stalls, others are served.
    let http = http(Duration::from_secs(5));
    let head = http
        .head(format!("{}/v2/app/manifests/v1", proxy.base_url()))
        .header(ACCEPT, MANIFEST_ACCEPT)
        .send()
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(proxy.injected().len(), 1);

    // Dropping the proxy ends the stalled connection at once.
    let started = Instant::now();
    drop(proxy);
    assert!(started.elapsed() < Duration::from_secs(2));
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    match raw.read(&mut buf) {
        Ok(n) => assert_eq!(n, 0, "the connection is closed, not answered"),
        Err(error) => assert!(
            matches!(
                error.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
            ),
            "{error:?}"
        ),
    }
}

#[test]
fn lose_answer_closes_without_a_byte_after_the_write_happened() {
    let img = test_image(7);
    let registry = Registry::anonymous();
    let direct = registry.client();
    for (_, data) in img.blobs() {
        direct.push_blob("app", data);
    }
    let proxy = FaultProxy::over(
        &registry,
        FaultPlan::none().nth(Kind::ManifestPut, 1, Fault::LoseAnswer),
    );
    let http = http(Duration::from_secs(10));
    let put = || {
        http.put(format!("{}/v2/app/manifests/v1", proxy.base_url()))
            .header(CONTENT_TYPE, &img.media_type)
            .body(img.manifest.clone())
            .send()
    };
    let error = put().expect_err("the answer is lost");
    assert!(!error.is_timeout(), "{error:?}");
    // ... but the manifest is in the registry.
    assert_eq!(direct.head_manifest("app", "v1"), Some(img.digest.clone()));
    let seen = proxy.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].kind, Kind::ManifestPut);
    assert_eq!(seen[0].status_sent, None);
    assert_eq!(proxy.injected()[0].fault, Fault::LoseAnswer);
    // The replay finds it done.
    assert_eq!(put().unwrap().status(), 201);
}

/// The `realm="…"` of a `WWW-Authenticate` value.
fn realm(challenge: &str) -> String {
    let start = challenge.find("realm=\"").unwrap() + "realm=\"".len();
    let len = challenge[start..].find('"').unwrap();
    challenge[start..start + len].to_string()
}

#[test]
fn token_realms_point_at_the_proxy_and_token_reads_can_fail() {
    let registry = Registry::token("alice", "s3cret");
    let token_port = url::Url::parse(&registry.token_realm().unwrap())
        .unwrap()
        .port()
        .unwrap();
    let plan = FaultPlan::none()
        .nth(Kind::Token, 1, Fault::Status(503))
        .nth(Kind::Token, 2, Fault::Cut);
    let proxy = FaultProxy::over(&registry, plan);
    let http = http(Duration::from_secs(10));
    let ping = format!("{}/v2/", proxy.base_url());

    let challenged = http.get(&ping).send().unwrap();
    assert_eq!(challenged.status(), 401);
    let challenge = header(&challenged, reqwest::header::WWW_AUTHENTICATE).unwrap();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        challenge.contains("service=\"test-registry\""),
        "{challenge}"
    );
    let realm = realm(&challenge);
    assert_eq!(
        realm,
        format!("http://{}/__token/{token_port}/token", proxy.host())
    );

    let fetch = || {
        http.get(&realm)
            .query(&[
                ("service", "test-registry"),
                ("scope", "repository:app:pull,push"),
            ])
            .basic_auth("alice", Some("s3cret"))
            .send()
            .unwrap()
    };
    let refused = fetch();
    assert_eq!(refused.status(), 503);
    let cut = fetch();
    assert_eq!(cut.status(), 200);
    let (_, error) = read_body(cut);
    assert!(error.is_some(), "the cut token body ends in an error");
    let granted: serde_json::Value = fetch().json().unwrap();
    let token = granted["token"].as_str().unwrap();
    let authorized = http.get(&ping).bearer_auth(token).send().unwrap();
    assert_eq!(authorized.status(), 200);

    // The refused read never reached the token server; the cut one did.
    let requests = registry.token_requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(requests.iter().all(|r| r.user.as_deref() == Some("alice")));
    assert_eq!(
        kinds(&proxy),
        [
            Kind::Ping,
            Kind::Token,
            Kind::Token,
            Kind::Token,
            Kind::Ping
        ]
    );
    let injected = proxy.injected();
    assert_eq!(injected.len(), 2);
    assert!(injected.iter().all(|i| i.kind == Kind::Token));
    assert!(injected[0]
        .uri
        .starts_with(&format!("/__token/{token_port}/token?")));
}

/// A fixed sequence of requests that does not depend on their outcomes; returns what the proxy
/// injected and saw.
fn chaos_run(
    registry: &Registry,
    img: &Image,
    plan: FaultPlan,
) -> (
    Vec<crate::support::Injected>,
    Vec<crate::support::FaultSeen>,
) {
    let proxy = FaultProxy::over(registry, plan);
    let http = http(Duration::from_secs(5));
    let base = proxy.base_url();
    let big = img.layers[1].digest();
    for _ in 0..6 {
        let _ = http.get(format!("{base}/v2/")).send();
        let manifest = format!("{base}/v2/app/manifests/v1");
        let _ = http.head(&manifest).header(ACCEPT, MANIFEST_ACCEPT).send();
        let _ = http
            .get(&manifest)
            .header(ACCEPT, MANIFEST_ACCEPT)
            .send()
            .and_then(Response::bytes);
        let config = format!("{base}/v2/app/blobs/{}", img.config_digest());
        let _ = http.head(&config).send();
        let _ = http.get(&config).send().and_then(Response::bytes);
        let _ = http
            .get(format!("{base}/v2/app/blobs/{big}"))
            .send()
            .and_then(Response::bytes);
        let _ = http
            .get(format!("{base}/v2/app/tags/list"))
            .send()
            .and_then(Response::bytes);
        let _ = http
            .get(format!("{base}/v2/_catalog"))
            .send()
            .and_then(Response::bytes);
        let _ = http
            .put(&manifest)
            .header(CONTENT_TYPE, &img.media_type)
            .body(img.manifest.clone())
            .send();
    }
    (proxy.injected(), proxy.seen())
}

#[test]
fn a_seeded_plan_repeats_itself_on_the_same_requests() {
    let img = test_image(8);
    let registry = seeded_registry(&img);
    let faults = [
        Fault::Status(500),
        Fault::Status(503),
        Fault::TooMany {
            retry_after: Some(RetryAfter::Seconds(0)),
        },
        Fault::Cut,
        Fault::Corrupt,
        Fault::LoseAnswer,
    ];
    let plan = |seed| FaultPlan::seeded(seed, &faults, 10).rate(0.3);

    let (injected, seen) = chaos_run(&registry, &img, plan(42));
    assert_eq!(seen.len(), 54);
    assert!(!injected.is_empty() && injected.len() <= 10, "{injected:?}");
    for i in &injected {
        assert!(i.fault.fits(i.kind), "{i:?}");
        assert!(faults.contains(&i.fault), "{i:?}");
    }
    assert_eq!(
        seen.iter().filter(|s| s.status_sent.is_none()).count(),
        injected
            .iter()
            .filter(|i| i.fault == Fault::LoseAnswer)
            .count()
    );

    let (again, seen_again) = chaos_run(&registry, &img, plan(42));
    assert_eq!(again, injected);
    assert_eq!(seen_again, seen);

    let (other, _) = chaos_run(&registry, &img, plan(7));
    assert_ne!(other, injected);
    // The manifest survived every lost answer and the image reads back whole.
    assert_eq!(
        registry.client().head_manifest("app", "v1"),
        Some(img.digest.clone())
    );
}

#[test]
fn an_endless_fault_never_stops_until_the_plan_changes() {
    let img = test_image(9);
    let registry = seeded_registry(&img);
    let proxy = FaultProxy::over(
        &registry,
        FaultPlan::endless(Kind::ManifestGet, Fault::Status(503)),
    );
    let http = http(Duration::from_secs(5));
    let manifest = format!("{}/v2/app/manifests/v1", proxy.base_url());
    for _ in 0..25 {
        let response = http
            .get(&manifest)
            .header(ACCEPT, MANIFEST_ACCEPT)
            .send()
            .unwrap();
        assert_eq!(response.status(), 503);
        assert_eq!(error_code(&response.bytes().unwrap()), "UNAVAILABLE");
        // Other kinds pass.
        let head = http
            .head(&manifest)
            .header(ACCEPT, MANIFEST_ACCEPT)
            .send()
            .unwrap();
        assert_eq!(head.status(), 200);
    }
    let injected = proxy.injected();
    assert_eq!(injected.len(), 25);
    assert!(injected
        .iter()
        .all(|i| i.kind == Kind::ManifestGet && i.fault == Fault::Status(503)));

    proxy.set_plan(FaultPlan::none());
    let response = http
        .get(&manifest)
        .header(ACCEPT, MANIFEST_ACCEPT)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().unwrap(), img.manifest);
}
