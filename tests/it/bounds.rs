//! Every input has a size bound and fails fast: CA files that are devices or FIFOs,
//! `SSL_CERT_FILE`, every other file input, endless and huge lists, configs with many jobs or
//! deep nesting. Each refusal is exit 2 with an `error:` and a `hint:`, and never hangs: a run
//! that outlives [`TIMEOUT`] is killed and fails its test.
//!
//! Memory is bounded by the kernel: every run is started through `prlimit --data` with
//! [`DATA_LIMIT`] bytes of writable private memory (heap, anonymous mappings, thread stacks; at
//! least the process's anonymous resident memory). A run that tried to hold `/dev/zero` or an
//! endless list would fail to allocate and abort instead of exiting 2.
#![cfg(target_os = "linux")]

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A run still going after this is killed, and its test fails.
const TIMEOUT: Duration = Duration::from_secs(60);
/// The most writable private memory a run may use (`RLIMIT_DATA`, bytes).
const DATA_LIMIT: u64 = 100 << 20;

/// What the binary reads on stdin.
enum Stdin {
    Null,
    Bytes(Vec<u8>),
    /// This line, again and again, until the pipe breaks.
    Endless(&'static [u8]),
}

/// One run of `registry-mirror` with a fresh `$HOME` and a clean environment.
struct Bin {
    dir: tempfile::TempDir,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    stdin: Stdin,
    limit: u64,
}

/// What a run left.
#[derive(Debug)]
struct Run {
    line: String,
    /// `None` when a signal ended it (an allocation failure aborts).
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Bin {
    fn new() -> Bin {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        Bin {
            dir,
            args: Vec::new(),
            env: Vec::new(),
            stdin: Stdin::Null,
            limit: DATA_LIMIT,
        }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// A path in this run's temp dir.
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A FIFO (no writer ever opens it) in this run's temp dir.
    fn fifo(&self, name: &str) -> PathBuf {
        let path = self.path(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        mkfifo(&path);
        path
    }

    fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Bin {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Bin {
        self.env.push((key.into(), value.as_ref().to_os_string()));
        self
    }

    fn stdin(mut self, stdin: Stdin) -> Bin {
        self.stdin = stdin;
        self
    }

    /// Run it under `prlimit --data`, killed after [`TIMEOUT`].
    fn run(self) -> Run {
        let line = self
            .args
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ");
        let mut cmd = Command::new("prlimit");
        cmd.arg(format!("--data={}", self.limit))
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_registry-mirror"))
            .args(&self.args)
            .env_clear()
            .env(
                "PATH",
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
            )
            .env("HOME", self.home())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(match self.stdin {
                Stdin::Null => Stdio::null(),
                _ => Stdio::piped(),
            });
        let mut child = cmd.spawn().expect("prlimit (util-linux) runs the binary");
        let input = self.stdin;
        let writer = child.stdin.take().map(|mut pipe| {
            std::thread::spawn(move || match input {
                Stdin::Null => {}
                // The binary may stop reading early: a broken pipe ends the writing.
                Stdin::Bytes(b) => {
                    let _ = pipe.write_all(&b);
                }
                Stdin::Endless(line) => while pipe.write_all(line).is_ok() {},
            })
        });
        // The outputs end when the process does; until then the watchdog waits.
        let (done, finished) = mpsc::channel();
        for (n, pipe) in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .enumerate()
        {
            let done = done.clone();
            let mut pipe = pipe.unwrap();
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = pipe.read_to_string(&mut text);
                let _ = done.send((n, text));
            });
        }
        let (mut stdout, mut stderr) = (String::new(), String::new());
        for _ in 0..2 {
            match finished.recv_timeout(TIMEOUT) {
                Ok((0, text)) => stdout = text,
                Ok((_, text)) => stderr = text,
                Err(_) => {
                    let _ = child.kill();
                    panic!("`registry-mirror {line}` was still running after {TIMEOUT:?} and was killed");
                }
            }
        }
        let status = child.wait().unwrap();
        if let Some(w) = writer {
            w.join().unwrap();
        }
        Run {
            line,
            code: status.code(),
            stdout,
            stderr,
        }
    }
}

impl Run {
    /// Exit 2, nothing on stdout (but `run`'s job headers), `error: …error…` and
    /// `hint: …hint…` lines on stderr.
    fn refused(&self, error: &str, hint: &str) -> &Run {
        assert_eq!(
            self.code,
            Some(2),
            "`registry-mirror {}`:\n{}",
            self.line,
            self.stderr
        );
        assert!(
            self.stdout.lines().all(|l| l.starts_with("== job `")),
            "{}",
            self.stdout
        );
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("error: ") && l.contains(error)),
            "`registry-mirror {}`: no `error: …{error}…` line in\n{}",
            self.line,
            self.stderr
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("hint: ") && l.contains(hint)),
            "`registry-mirror {}`: no `hint: …{hint}…` line in\n{}",
            self.line,
            self.stderr
        );
        self
    }

    /// It ran within [`DATA_LIMIT`]: an allocation past it would have aborted the process.
    fn small(&self) -> &Run {
        assert!(
            self.code.is_some() && !self.stderr.contains("memory allocation"),
            "`registry-mirror {}` ran out of its {DATA_LIMIT} bytes:\n{}",
            self.line,
            self.stderr
        );
        self
    }
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

/// A copy that never gets as far as the network: refused inputs stop it first.
const COPY: [&str; 4] = ["copy", "--dry-run", "127.0.0.1:1/a:1", "127.0.0.1:1/b:1"];

#[test]
fn the_memory_limit_bites() {
    // The same small run passes under the limit and cannot even start under a tiny one: the
    // limit is real, so a run that passes under it stayed under it.
    let run = Bin::new().args(["--version"]).run();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.starts_with("registry-mirror "), "{}", run.stdout);
    let mut tiny = Bin::new().args(COPY).args(["--ca-cert", "/dev/zero"]);
    tiny.limit = 1 << 20;
    let starved = tiny.run();
    assert_ne!(starved.code, Some(2), "{starved:?}");
}

#[test]
fn a_ca_file_that_is_a_device_is_refused_at_once() {
    Bin::new()
        .args(COPY)
        .args(["--ca-cert", "/dev/zero"])
        .run()
        .refused(
            "cannot read CA certificate `/dev/zero`: it is a character device, not a regular file",
            "give a PEM file of at most 4 MiB",
        )
        .small();
}

#[test]
fn a_ca_file_that_is_a_fifo_is_refused_without_waiting_for_a_writer() {
    let bin = Bin::new();
    let fifo = bin.fifo("ca.pem");
    bin.args(COPY)
        .args([OsStr::new("--ca-cert"), fifo.as_os_str()])
        .run()
        .refused(
            &format!(
                "cannot read CA certificate `{}`: it is a FIFO (named pipe), not a regular file",
                fifo.display()
            ),
            "give a PEM file of at most 4 MiB",
        )
        .small();
}

#[test]
fn a_ca_file_over_the_cap_is_refused_from_its_size() {
    let bin = Bin::new();
    let big = bin.path("big.pem");
    // Sparse: 5 MiB that take no disk and are never read.
    std::fs::File::create(&big)
        .unwrap()
        .set_len(5 << 20)
        .unwrap();
    bin.args(COPY)
        .args([OsStr::new("--ca-cert"), big.as_os_str()])
        .run()
        .refused(
            "it is larger than 4 MiB",
            "give a PEM file of at most 4 MiB",
        )
        .small();
}

#[test]
fn ssl_cert_file_is_checked_before_any_https_client_is_built() {
    Bin::new()
        .args(COPY)
        .env("SSL_CERT_FILE", "/dev/zero")
        .run()
        .refused(
            "cannot read `SSL_CERT_FILE` `/dev/zero`: it is a character device, not a regular file",
            "point `SSL_CERT_FILE` at a PEM file of at most 4 MiB, or unset it",
        )
        .small();
    let bin = Bin::new();
    let fifo = bin.fifo("bundle.pem");
    bin.args(COPY)
        .env("SSL_CERT_FILE", &fifo)
        .run()
        .refused(
            "it is a FIFO (named pipe), not a regular file",
            "`SSL_CERT_FILE`",
        )
        .small();
}

#[test]
fn a_config_ca_cert_that_is_a_fifo_is_refused() {
    let bin = Bin::new();
    let fifo = bin.fifo("conf/certs/ca.pem");
    let config = bin.path("conf/mirror.yaml");
    std::fs::write(
        &config,
        "version: 1\ndefaults:\n  target: {registry: 127.0.0.1:2, namespace: m}\nregistries:\n  127.0.0.1:1: {ca_cert: certs/ca.pem}\njobs:\n  - name: a\n    images: 127.0.0.1:1/a:1\n",
    )
    .unwrap();
    bin.args([
        OsStr::new("run"),
        OsStr::new("--dry-run"),
        OsStr::new("--config"),
        config.as_os_str(),
    ])
    .run()
    .refused(
        &format!(
            "cannot read CA certificate `{}`: it is a FIFO (named pipe), not a regular file",
            fifo.display()
        ),
        "give a PEM file of at most 4 MiB",
    )
    .small();
}

#[test]
fn every_other_file_input_refuses_a_fifo() {
    // (what the error names, the arguments with `{}` for the FIFO, the FIFO's name)
    type Case = (&'static str, &'static [&'static str], &'static str);
    let cases: &[Case] = &[
        (
            "the config",
            &["run", "--dry-run", "--config", "{}"],
            "mirror.yaml",
        ),
        (
            "the config",
            &["plan", "--shards", "2", "--config", "{}"],
            "mirror.yaml",
        ),
        (
            "the issue body",
            &["validate", "--issue-body", "{}"],
            "body.md",
        ),
        (
            "the state file",
            &[
                "copy",
                "--dry-run",
                "127.0.0.1:1/a:1",
                "127.0.0.1:1/b:1",
                "--state",
                "{}",
            ],
            "state.json",
        ),
        ("the report", &["report", "merge", "{}"], "report-1.json"),
    ];
    for (what, args, name) in cases {
        let bin = Bin::new();
        let fifo = bin.fifo(name);
        let args: Vec<OsString> = args
            .iter()
            .map(|a| {
                if *a == "{}" {
                    fifo.clone().into_os_string()
                } else {
                    a.into()
                }
            })
            .collect();
        bin.args(args).run().refused(
            &format!(
                "cannot read {what} `{}`: it is a FIFO (named pipe), not a regular file",
                fifo.display()
            ),
            "at most",
        );
    }

    // An issue body on stdin is bounded too.
    Bin::new()
        .args(["validate", "--issue-body", "-"])
        .stdin(Stdin::Bytes(b"### Images\n\nnginx:1.27\n".repeat(100_000)))
        .run()
        .refused(
            "the issue body from stdin is larger than 1 MiB; reading stopped at line",
            "give the issue body as a text file of at most 1 MiB",
        )
        .small();

    // The event payload.
    let bin = Bin::new();
    let fifo = bin.fifo("event.json");
    bin.args(["issue", "--dry-run"])
        .env("GITHUB_EVENT_NAME", "workflow_dispatch")
        .env("GITHUB_EVENT_PATH", &fifo)
        .run()
        .refused(
            "cannot read the event `",
            "point `GITHUB_EVENT_PATH` at the event's JSON payload (at most 25 MiB)",
        );

    // A template override.
    let bin = Bin::new();
    let fifo = bin.fifo("templates/en/plan.md");
    let event = bin.path("event.json");
    std::fs::write(&event, r#"{"inputs": {"images": "nginx:1.27"}}"#).unwrap();
    bin.args([
        OsStr::new("issue"),
        OsStr::new("--dry-run"),
        OsStr::new("--templates"),
        fifo.parent().unwrap().parent().unwrap().as_os_str(),
    ])
    .env("GITHUB_EVENT_NAME", "workflow_dispatch")
    .env("GITHUB_EVENT_PATH", &event)
    .run()
    .refused(
        &format!(
            "cannot read template `{}`: it is a FIFO (named pipe), not a regular file",
            fifo.display()
        ),
        "give a Markdown template of at most 1 MiB",
    );

    // Docker's config.json, read only when a registry needs it: checked before anything else.
    let bin = Bin::new();
    let fifo = bin.home().join(".docker/config.json");
    std::fs::create_dir_all(fifo.parent().unwrap()).unwrap();
    mkfifo(&fifo);
    bin.args(COPY).run().refused(
        &format!(
            "cannot read docker config `{}`: it is a FIFO (named pipe), not a regular file",
            fifo.display()
        ),
        "point `DOCKER_CONFIG` at another directory",
    );
}

#[test]
fn an_endless_list_on_stdin_stops_at_max_images() {
    Bin::new()
        .args(["validate", "-f", "-"])
        .stdin(Stdin::Endless(b"nginx:1.27\n"))
        .run()
        .refused(
            "the list from stdin has more than 100 images (`--max-images`); reading stopped at line 101, nothing was copied",
            "split the list, or raise the limit with `--max-images N`",
        )
        .small();
    // Blank lines and comments do not count; the byte cap stops them.
    Bin::new()
        .args(["validate", "-f", "-"])
        .stdin(Stdin::Endless(b"# nothing here\n\n"))
        .run()
        .refused(
            "the list from stdin is larger than 4 MiB; reading stopped at line",
            "split the list into parts of at most 4 MiB",
        )
        .small();
}

#[test]
fn a_10_mb_list_is_refused_by_max_images_with_little_memory() {
    let bin = Bin::new();
    let list = bin.path("images.txt");
    let mut text = String::new();
    let mut i = 0;
    while text.len() < 10_000_000 {
        text.push_str(&format!("registry.example.com/team/app{i}:1.0\n"));
        i += 1;
    }
    std::fs::write(&list, &text).unwrap();
    drop(text);
    for command in [
        &["validate"][..],
        &["mirror", "--dry-run", "--target-registry", "127.0.0.1:1"],
        &["plan", "--shards", "2"],
    ] {
        let bin = Bin::new();
        bin.args(command)
            .args([OsStr::new("--max-images"), OsStr::new("100"), OsStr::new("-f"), list.as_os_str()])
            .run()
            .refused(
                &format!(
                    "the list `{}` has more than 100 images (`--max-images`); reading stopped at line 101",
                    list.display()
                ),
                "`--max-images N`",
            )
            .small();
    }
}

#[test]
fn a_line_longer_than_the_cap_is_refused() {
    let bin = Bin::new();
    let list = bin.path("one-line.txt");
    std::fs::write(&list, "a".repeat((4 << 20) + 1)).unwrap();
    bin.args([OsStr::new("validate"), OsStr::new("-f"), list.as_os_str()])
        .run()
        .refused(
            &format!(
                "the list `{}` is larger than 4 MiB; reading stopped at line 1, nothing was copied",
                list.display()
            ),
            "split the list into parts of at most 4 MiB",
        )
        .small();
    // The same on stdin, and from a device that never ends.
    Bin::new()
        .args(["validate", "-f", "-"])
        .stdin(Stdin::Endless(b"aaaaaaaaaaaaaaaa"))
        .run()
        .refused("reading stopped at line 1", "at most 4 MiB")
        .small();
    Bin::new()
        .args(["validate", "-f", "/dev/zero"])
        .run()
        .refused(
            "the list `/dev/zero` is larger than 4 MiB; reading stopped at line 1",
            "at most 4 MiB",
        )
        .small();
}

/// A config with `jobs` images jobs (the name of job `i` on line `5 + 3 * i`), then `tail`.
fn many_jobs(jobs: usize, tail: &str) -> String {
    let mut text = String::from(
        "version: 1\ndefaults:\n  target: {registry: 127.0.0.1:2, namespace: m}\njobs:\n",
    );
    for i in 0..jobs {
        text.push_str(&format!(
            "  - name: job{i}\n    images: |\n      app{i}:1.0\n"
        ));
    }
    text.push_str(tail);
    text
}

#[test]
fn a_config_with_20000_jobs_is_checked_with_its_lines() {
    // Accepted: every job counted.
    let bin = Bin::new();
    let config = bin.path("mirror.yaml");
    std::fs::write(&config, many_jobs(20_000, "")).unwrap();
    let run = bin
        .args([
            OsStr::new("plan"),
            OsStr::new("--shards"),
            OsStr::new("2"),
            OsStr::new("--config"),
            config.as_os_str(),
        ])
        .run();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains(r#""images":10000"#), "{}", run.stdout);

    // Refused: the last job's list, named by its line, before anything is copied.
    let bin = Bin::new();
    let config = bin.path("mirror.yaml");
    std::fs::write(
        &config,
        many_jobs(20_000, "  - name: last\n    images: nginx\n"),
    )
    .unwrap();
    bin.args([
        OsStr::new("run"),
        OsStr::new("--dry-run"),
        OsStr::new("--config"),
        config.as_os_str(),
    ])
    .run()
    .refused(
        &format!("{}:60005: job `last`: 1 invalid line", config.display()),
        "line numbers count from the first line of the job's `images`",
    );

    // Refused by the config check: a repeated name, then an unknown key, at the end.
    for (tail, error) in [
        (
            "  - name: job7\n    images: x:1\n",
            ":60005: `jobs[20000].name`: `job7` is also the name of jobs[7]",
        ),
        (
            "  - name: last\n    images: x:1\n    imagez: y\n",
            ":60007: `jobs[20000]`: unknown field `imagez`; did you mean `images`?",
        ),
    ] {
        let bin = Bin::new();
        let config = bin.path("mirror.yaml");
        std::fs::write(&config, many_jobs(20_000, tail)).unwrap();
        bin.args([
            OsStr::new("run"),
            OsStr::new("--dry-run"),
            OsStr::new("--config"),
            config.as_os_str(),
        ])
        .run()
        .refused(
            &format!("{}{error}", config.display()),
            "the config reference is in the README",
        );
    }
}

#[test]
fn a_config_nested_100000_deep_is_refused_with_its_line() {
    for (open, command) in [("[", "run"), ("{a: ", "plan")] {
        let bin = Bin::new();
        let config = bin.path("deep.yaml");
        std::fs::write(
            &config,
            format!("version: 1\njobs: {}\n", open.repeat(100_000)),
        )
        .unwrap();
        let mut args = vec![OsString::from(command)];
        if command == "plan" {
            args.extend(["--shards".into(), "2".into()]);
        } else {
            args.push("--dry-run".into());
        }
        args.extend(["--config".into(), config.clone().into_os_string()]);
        let run = bin.args(args).run();
        assert_eq!(run.code, Some(2), "{}", run.stderr);
        assert!(
            run.stderr.starts_with(&format!(
                "error: {}:2: `[` and `{{` are nested more than 64 deep\n",
                config.display()
            )),
            "{}",
            run.stderr
        );
        run.small();
    }
}
