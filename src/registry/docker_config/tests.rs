//! Tests of the parent module.

use super::*;

/// Generous: helpers in these tests answer at once (but one, which never does).
const HELPER_WAIT: Duration = Duration::from_secs(20);
use base64::engine::general_purpose::STANDARD;

use serde_json::json;

fn basic(u: &str, p: &str) -> Option<Credentials> {
    Some(Credentials::Basic {
        username: u.into(),
        password: p.into(),
    })
}

fn auth(u: &str, p: &str) -> Value {
    json!({ "auth": STANDARD.encode(format!("{u}:{p}")) })
}

/// A temp dir with `config.json` holding `config`.
fn config_dir(config: &Value) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(config).expect("json")).expect("write");
    (dir, path)
}

fn lookup(config: &Value, host: &str) -> Result<Option<Credentials>, CredentialError> {
    let (_dir, path) = config_dir(config);
    // An empty helper dir: no helper is ever found on the machine's PATH.
    let helpers = tempfile::tempdir().expect("tempdir");
    lookup_with_helper_dir(&path, host, Some(helpers.path()), HELPER_WAIT)
}

#[test]
fn missing_file_is_anonymous() {
    let dir = tempfile::tempdir().expect("tempdir");
    let got = lookup_docker_config(&dir.path().join("config.json"), "ghcr.io", HELPER_WAIT)
        .expect("lookup");
    assert_eq!(got, None);
    let path = dir.path().join("empty.json");
    std::fs::write(&path, "\n").expect("write");
    assert_eq!(
        lookup_docker_config(&path, "ghcr.io", HELPER_WAIT).expect("lookup"),
        None
    );
}

#[test]
fn auths_entry_forms() {
    let config = json!({"auths": {
        "ghcr.io": auth("gh", "pa:ss"),
        "quay.io": {"username": "qu", "password": "qpass"},
        "registry.example.com": {"identitytoken": "refresh-token", "auth": STANDARD.encode("x:y")},
        "nopad.example.com": {"auth": STANDARD.encode("ab:c").trim_end_matches('=')},
        "other.example.com": auth("o", "p"),
    }});
    assert_eq!(
        lookup(&config, "ghcr.io").expect("lookup"),
        basic("gh", "pa:ss")
    );
    assert_eq!(
        lookup(&config, "quay.io").expect("lookup"),
        basic("qu", "qpass")
    );
    assert_eq!(
        lookup(&config, "registry.example.com").expect("lookup"),
        Some(Credentials::IdentityToken("refresh-token".into()))
    );
    assert_eq!(
        lookup(&config, "nopad.example.com").expect("lookup"),
        basic("ab", "c")
    );
    assert_eq!(
        lookup(&config, "unknown.example.com").expect("lookup"),
        None
    );
}

#[test]
fn auths_key_forms() {
    let cases = [
        ("https://host.example/v1/", "host.example"),
        ("http://host.example", "host.example"),
        ("https://host.example", "host.example"),
        ("host.example/v2/", "host.example"),
        ("HTTPS://Host.Example/", "host.example"),
        ("http://127.0.0.1:5000", "127.0.0.1:5000"),
    ];
    for (key, host) in cases {
        let config = json!({"auths": {key: auth("u", "p")}});
        assert_eq!(
            lookup(&config, host).expect("lookup"),
            basic("u", "p"),
            "key {key}"
        );
    }
    // The port is part of the host.
    let config = json!({"auths": {"http://127.0.0.1:5000": auth("u", "p")}});
    assert_eq!(lookup(&config, "127.0.0.1").expect("lookup"), None);
    assert_eq!(lookup(&config, "127.0.0.1:5001").expect("lookup"), None);
}

#[test]
fn docker_hub_key_mapping() {
    let config = json!({"auths": {"https://index.docker.io/v1/": auth("hub", "hp")}});
    for host in ["docker.io", "index.docker.io", "registry-1.docker.io"] {
        assert_eq!(
            lookup(&config, host).expect("lookup"),
            basic("hub", "hp"),
            "host {host}"
        );
    }
    let config = json!({"auths": {"docker.io": auth("hub2", "hp2")}});
    assert_eq!(
        lookup(&config, "index.docker.io").expect("lookup"),
        basic("hub2", "hp2")
    );
    assert_eq!(lookup(&config, "ghcr.io").expect("lookup"), None);
    // Docker's own key wins over other spellings.
    let config = json!({"auths": {"docker.io": auth("a", "1"), "https://index.docker.io/v1/": auth("b", "2")}});
    assert_eq!(
        lookup(&config, "docker.io").expect("lookup"),
        basic("a", "1")
    );
    assert_eq!(
        lookup(&config, "registry-1.docker.io").expect("lookup"),
        basic("b", "2")
    );
}

#[test]
fn exact_key_wins_and_empty_entries_are_skipped() {
    let config =
        json!({"auths": {"https://ghcr.io": auth("scheme", "1"), "ghcr.io": auth("exact", "2")}});
    assert_eq!(
        lookup(&config, "ghcr.io").expect("lookup"),
        basic("exact", "2")
    );
    let config = json!({"auths": {"ghcr.io": {}, "https://ghcr.io/v1/": auth("second", "2")}});
    assert_eq!(
        lookup(&config, "ghcr.io").expect("lookup"),
        basic("second", "2")
    );
}

#[test]
fn empty_entry_without_store_is_anonymous() {
    let config = json!({"auths": {"ghcr.io": {}}});
    assert_eq!(lookup(&config, "ghcr.io").expect("lookup"), None);
    let config = json!({"auths": {"ghcr.io": {"auth": ""}}, "credsStore": ""});
    assert_eq!(lookup(&config, "ghcr.io").expect("lookup"), None);
}

#[test]
fn bad_entries_name_the_key_not_the_secret() {
    let config = json!({"auths": {"ghcr.io": {"auth": "!!!not-base64-hunter2"}}});
    let err = lookup(&config, "ghcr.io").expect_err("error").to_string();
    assert!(
        err.contains("`auths.\"ghcr.io\".auth` is not valid base64"),
        "{err}"
    );
    assert!(err.contains("config.json"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");

    let config = json!({"auths": {"ghcr.io": {"auth": STANDARD.encode("hunter2")}}});
    let err = lookup(&config, "ghcr.io").expect_err("error").to_string();
    assert!(err.contains("does not decode to `user:password`"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");

    let config = json!({"auths": {"ghcr.io": {"password": 12345}}});
    let err = lookup(&config, "ghcr.io").expect_err("error").to_string();
    assert!(
        err.contains("`auths.\"ghcr.io\".password` must be a string"),
        "{err}"
    );
    assert!(!err.contains("12345"), "{err}");

    let config = json!({"auths": "hunter2"});
    let err = lookup(&config, "ghcr.io").expect_err("error").to_string();
    assert!(err.contains("`auths` must be a JSON object"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn bad_json_names_file_and_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.json");
    std::fs::write(
        &path,
        "{\n  \"auths\": {\n    \"ghcr.io\": {\"auth\": \"c2VjcmV0\"}\n  \n",
    )
    .expect("write");
    let err = lookup_docker_config(&path, "ghcr.io", HELPER_WAIT).expect_err("error");
    let CredentialError::Parse { line, .. } = &err else {
        panic!("expected a parse error, got {err:?}");
    };
    assert_eq!(*line, 5);
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "cannot parse docker config `{}`: ",
            path.display()
        )),
        "{text}"
    );
    assert!(text.contains("line 5 column 0"), "{text}");
    assert!(!text.contains("c2VjcmV0"), "{text}");

    std::fs::write(&path, "[1, 2]").expect("write");
    let err = lookup_docker_config(&path, "ghcr.io", HELPER_WAIT)
        .expect_err("error")
        .to_string();
    assert!(err.contains("must be a JSON object"), "{err}");
}

#[test]
fn a_docker_config_that_is_not_a_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = lookup_docker_config(dir.path(), "ghcr.io", HELPER_WAIT)
        .expect_err("error")
        .to_string();
    assert_eq!(
        err,
        format!(
            "cannot read docker config `{}`: it is a directory, not a regular file",
            dir.path().display()
        )
    );
}

#[test]
fn key_host_forms() {
    for (key, want) in [
        ("ghcr.io", "ghcr.io"),
        ("https://index.docker.io/v1/", "index.docker.io"),
        ("http://localhost:5000/v2/", "localhost:5000"),
        ("Quay.IO", "quay.io"),
    ] {
        assert_eq!(key_host(key), want);
    }
}

#[test]
fn missing_helper_names_helper_and_host() {
    let config = json!({"credsStore": "nosuchhelper"});
    let err = lookup(&config, "ghcr.io").expect_err("error").to_string();
    assert!(err.contains("`docker-credential-nosuchhelper`"), "{err}");
    assert!(err.contains("`ghcr.io`"), "{err}");
    assert!(err.contains("`credsStore`"), "{err}");
    let config = json!({"credHelpers": {"ghcr.io": "../evil"}});
    let err = lookup(&config, "ghcr.io").expect_err("error").to_string();
    assert!(err.contains("not a valid helper name"), "{err}");
}

#[cfg(unix)]
mod helpers {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;
    use std::sync::Mutex;

    /// Writing an executable while another test thread forks can make exec fail with
    /// "text file busy"; helper tests write and run their scripts one at a time.
    static HELPER_LOCK: Mutex<()> = Mutex::new(());

    /// The test helper: records the server URL it was asked for in `asked`, then answers.
    const SCRIPT: &str = r#"#!/bin/sh
[ "$1" = get ] || { echo "unexpected arguments: $*" >&2; exit 3; }
read -r server
printf '%s\n' "$server" >> "$(dirname "$0")/asked"
case "$server" in
  ghcr.io) echo '{"ServerURL":"ghcr.io","Username":"helper-user","Secret":"helper-secret"}' ;;
  https://index.docker.io/v1/) echo '{"ServerURL":"https://index.docker.io/v1/","Username":"<token>","Secret":"hub-refresh"}' ;;
  quay.io) echo '{"ServerURL":"quay.io","Username":"store-user","Secret":"store-secret"}' ;;
  broken.example) echo 'not json'; exit 0 ;;
  fails.example) echo 'keychain locked' >&2; exit 2 ;;
  huge.example) exec yes '{"ServerURL":"huge.example","Username":"u","Secret":"s"}' ;;
  silent.example) exec sleep 600 ;;
  *) echo 'credentials not found in native keychain'; exit 1 ;;
esac
"#;

    struct Helpers {
        dir: tempfile::TempDir,
    }

    impl Helpers {
        fn new() -> Helpers {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("docker-credential-test");
            std::fs::write(&path, SCRIPT).expect("write helper");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
            Helpers { dir }
        }

        fn lookup(
            &self,
            config: &Value,
            host: &str,
        ) -> Result<Option<Credentials>, CredentialError> {
            self.lookup_within(config, host, HELPER_WAIT)
        }

        fn lookup_within(
            &self,
            config: &Value,
            host: &str,
            wait: Duration,
        ) -> Result<Option<Credentials>, CredentialError> {
            let (_cfg, path) = config_dir(config);
            lookup_with_helper_dir(&path, host, Some(self.dir.path()), wait)
        }

        fn asked(&self) -> Vec<String> {
            std::fs::read_to_string(self.dir.path().join("asked"))
                .unwrap_or_default()
                .lines()
                .map(str::to_string)
                .collect()
        }
    }

    fn guard() -> std::sync::MutexGuard<'static, ()> {
        HELPER_LOCK.lock().unwrap_or_else(|p| p.into_inner())
    }

    #[test]
    fn cred_helpers_win_over_auths() {
        let _g = guard();
        let h = Helpers::new();
        let config = json!({
            "auths": {"ghcr.io": auth("file-user", "file-pass")},
            "credHelpers": {"ghcr.io": "test"},
        });
        assert_eq!(
            h.lookup(&config, "ghcr.io").expect("lookup"),
            basic("helper-user", "helper-secret")
        );
        assert_eq!(h.asked(), ["ghcr.io"]);
    }

    #[test]
    fn cred_helper_not_found_is_anonymous() {
        let _g = guard();
        let h = Helpers::new();
        // As in docker, a `credHelpers` entry is final: no fallback to `auths`.
        let config = json!({
            "auths": {"nothing.example": auth("file-user", "file-pass")},
            "credHelpers": {"nothing.example": "test"},
        });
        assert_eq!(h.lookup(&config, "nothing.example").expect("lookup"), None);
    }

    #[test]
    fn token_answer_is_an_identity_token() {
        let _g = guard();
        let h = Helpers::new();
        let config = json!({"credHelpers": {"index.docker.io": "test"}});
        for host in ["docker.io", "registry-1.docker.io"] {
            assert_eq!(
                h.lookup(&config, host).expect("lookup"),
                Some(Credentials::IdentityToken("hub-refresh".into()))
            );
        }
        assert_eq!(
            h.asked(),
            ["https://index.docker.io/v1/", "https://index.docker.io/v1/"]
        );
    }

    #[test]
    fn creds_store_fallback_and_empty_entry() {
        let _g = guard();
        let h = Helpers::new();
        let config = json!({
            "auths": {"quay.io": {}, "ghcr.io": auth("file-user", "file-pass")},
            "credsStore": "test",
        });
        // `{}` falls through to the store; a usable entry is used without asking it.
        assert_eq!(
            h.lookup(&config, "quay.io").expect("lookup"),
            basic("store-user", "store-secret")
        );
        assert_eq!(
            h.lookup(&config, "ghcr.io").expect("lookup"),
            basic("file-user", "file-pass")
        );
        assert_eq!(
            h.lookup(&config, "elsewhere.example").expect("lookup"),
            None
        );
        assert_eq!(h.asked(), ["quay.io", "elsewhere.example"]);
    }

    #[test]
    fn helper_failures_name_helper_and_host() {
        let _g = guard();
        let h = Helpers::new();
        let config = json!({"credsStore": "test"});
        let err = h
            .lookup(&config, "fails.example")
            .expect_err("error")
            .to_string();
        assert!(err.contains("`docker-credential-test`"), "{err}");
        assert!(err.contains("`fails.example`"), "{err}");
        assert!(err.contains("keychain locked"), "{err}");
        let err = h
            .lookup(&config, "broken.example")
            .expect_err("error")
            .to_string();
        assert!(
            err.contains("`docker-credential-test` answered for `broken.example`"),
            "{err}"
        );
    }

    #[test]
    fn a_helper_that_answers_without_end_is_stopped() {
        let _g = guard();
        let h = Helpers::new();
        let err = h
            .lookup(&json!({"credsStore": "test"}), "huge.example")
            .expect_err("error")
            .to_string();
        assert_eq!(
            err,
            "credential helper `docker-credential-test` answered for `huge.example` with more than 1 MiB; it was stopped"
        );
    }

    #[test]
    fn a_helper_that_never_answers_is_stopped_with_a_clear_error() {
        let _g = guard();
        let h = Helpers::new();
        let err = h
            .lookup_within(
                &json!({"credsStore": "test"}),
                "silent.example",
                Duration::from_millis(300),
            )
            .expect_err("error")
            .to_string();
        assert_eq!(
            err,
            "credential helper `docker-credential-test` did not answer for `silent.example` within 0.3s and was stopped; \
             unlock it or log in again (`docker login silent.example`), or remove it from docker config"
        );
    }

    #[test]
    fn non_executable_helper_is_missing() {
        let _g = guard();
        let h = Helpers::new();
        let path = h.dir.path().join("docker-credential-test");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = h
            .lookup(&json!({"credsStore": "test"}), "ghcr.io")
            .expect_err("error")
            .to_string();
        assert!(err.contains("was not found on PATH"), "{err}");
    }
}
