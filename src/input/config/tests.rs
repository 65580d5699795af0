//! Tests of the parent module.

use super::*;

const GOOD: &str = r#"version: 1
defaults:
  target: {registry: registry.example.com, namespace: mirrors}
  platforms: [linux/amd64, linux/arm64]
  format: v2s2
  naming: flatten
  parallel: 5
registries:
  registry.example.com: {username_env: TARGET_REGISTRY_USER, password_env: TARGET_REGISTRY_PASSWORD}
  127.0.0.1:5000: {insecure: true, ca_cert: certs/ca.pem, endpoint: "10.0.0.5:5000"}
jobs:
  - name: kubernetes core
    images: |
      registry.k8s.io/pause:3.9
      registry.k8s.io/kube-apiserver:v1.28.0
  - name: nginx stable
    sync: docker.io/library/nginx
    include: ['^1\.2[0-9]\.[0-9]+$']
    exclude: ['alpine|slim']
    keep_latest: 5
    sort: semver
    notify_on: failure
notify:
  on: failure
  wecom: {webhook_env: WECOM_WEBHOOK_URL}
  dingtalk: {webhook_env: DINGTALK_WEBHOOK_URL, secret_env: DINGTALK_SECRET}
"#;

#[test]
fn the_contract_example_parses() {
    let c = parse("mirror.yaml", GOOD).expect("valid");
    assert_eq!(c.jobs.len(), 2);
    assert_eq!(c.jobs[1].keep_latest, Some(5));
    assert_eq!(c.defaults.parallel, Some(5));
    assert!(c.registries["127.0.0.1:5000"].insecure);
    assert_eq!(c.notify.expect("notify").on, Some(NotifyOn::Failure));
}

#[test]
fn every_error_names_file_line_and_field() {
    let cases: &[(&str, &str, &str)] = &[
            ("version: 2\njobs: []\n", "mirror.yaml:1: `version`: version 2 is not supported", ""),
            ("version: 1\njobs: []\n", "mirror.yaml:2: `jobs`: no jobs", ""),
            ("version: 1\njobz: []\n", "mirror.yaml:2: `jobz`: unknown field `jobz`", "expected one of"),
            (
                "version: 1\njobs:\n  - name: a\n    images: nginx:1\n    imagez: x\n",
                "mirror.yaml:5: `jobs[0]`: unknown field `imagez`; did you mean `images`?",
                "",
            ),
            (
                "version: 1\njobs:\n  - name: a\n    images: x:1\n  - name: b\n    sync: docker.io/library/nginx\n    include: ['(1']\n",
                "mirror.yaml:7: `jobs[1].include`: `(1` is not a valid regular expression",
                "",
            ),
            (
                "version: 1\njobs:\n  - name: a\n    images: x:1\n    sync: y\n",
                "mirror.yaml:5: `jobs[0].sync`: a job has either `images` or `sync`, not both",
                "",
            ),
            (
                "version: 1\njobs:\n  - name: a\n    parallel: 2\n",
                "mirror.yaml:3: `jobs[0].images`: job `a` has neither `images` nor `sync`",
                "",
            ),
            (
                "version: 1\njobs:\n  - name: a\n    images: x:1\n    keep_latest: 3\n",
                "mirror.yaml:5: `jobs[0].keep_latest`: `keep_latest` belongs to `sync` jobs",
                "",
            ),
            (
                "version: 1\njobs:\n  - name: a\n    images: x:1\n  - name: a\n    images: y:1\n",
                "mirror.yaml:5: `jobs[1].name`: `a` is also the name of jobs[0]",
                "",
            ),
            (
                "version: 1\ndefaults:\n  platforms: [linux]\njobs:\n  - name: a\n    images: x:1\n",
                "mirror.yaml:3: `defaults.platforms`: ",
                "",
            ),
            (
                "version: 1\ndefaults:\n  format: docker\njobs:\n  - name: a\n    images: x:1\n",
                "mirror.yaml:3: `defaults.format`: unknown variant `docker`",
                "expected one of",
            ),
            (
                "version: 1\nregistries:\n  r.io: {username_env: U}\njobs:\n  - name: a\n    images: x:1\n",
                "mirror.yaml:3: `registries.r.io`: give both `username_env` and `password_env`",
                "",
            ),
            (
                "version: 1\nnotify:\n  wecom: {webhook: https://x}\njobs:\n  - name: a\n    images: x:1\n",
                "mirror.yaml:3: `notify.wecom`: unknown field `webhook`",
                "",
            ),
            ("version: 1\njobs:\n  - name: a\n   images: x\n", "mirror.yaml:4: ", ""),
            (
                "version: 1\nregistries:\n  127.0.0.1:5000: {insecure: true}\n  \"[::1]:5000\": {password_env: P}\njobs:\n  - name: a\n    images: x:1\n",
                "mirror.yaml:4: `registries.[::1]:5000`: give both",
                "",
            ),
            (
                "version: 1\njobs: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n",
                "mirror.yaml:2: `[` and `{` are nested more than 64 deep",
                "",
            ),
        ];
    for (text, start, contains) in cases {
        let e = parse("mirror.yaml", text).expect_err(text).to_string();
        assert!(e.starts_with(start), "{text}\n{e}");
        assert!(e.contains(contains), "{text}\n{e}");
    }
}

#[test]
fn each_job_knows_its_line() {
    let c = parse("mirror.yaml", GOOD).expect("valid");
    let lines: Vec<Option<usize>> = c.jobs.iter().map(|j| j.line).collect();
    assert_eq!(lines, [Some(12), Some(16)]);
    let flow = parse("m.yaml", "version: 1\njobs: [{name: a, images: x:1}]\n").expect("valid");
    assert_eq!(flow.jobs[0].line, None);
}

#[test]
fn the_index_answers_as_a_scan_would() {
    let text = "a: 1\njobs:\n  - name: x\n    - - sync: y\n  -   - name: z\n\nb:c: 2\nnotify: {}\n";
    let index = Lines::new(text);
    assert_eq!(index.line_of(None, "a"), Some(1));
    assert_eq!(index.line_of(None, "name"), Some(3));
    assert_eq!(index.line_of(None, "sync"), Some(4));
    assert_eq!(index.line_of(None, "b:c"), Some(7));
    assert_eq!(index.line_of(None, "b"), Some(7));
    assert_eq!(index.line_of(None, "nothing"), None);
    assert_eq!(index.line_of(Some(0), "sync"), Some(4));
    // Only one `- ` is taken off after the spaces: `-   - name:` is not a `name:` line.
    assert_eq!(index.line_of(Some(1), "name"), Some(5));
    assert_eq!(index.job_range(1), Some((4, 6)));
    assert_eq!(index.line_of(Some(2), "name"), None);
}

/// The scan the index replaced: `key:` searched line by line, once per lookup.
fn scanned_line_of(text: &str, job: Option<usize>, key: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let (start, end) = match job {
        None => (0, lines.len()),
        Some(i) => {
            let jobs = lines.iter().position(|l| l.starts_with("jobs:"))?;
            let mut items = Vec::new();
            let mut indent = None;
            let mut end = lines.len();
            for (n, l) in lines.iter().enumerate().skip(jobs + 1) {
                let t = l.trim_start();
                if t.is_empty() || t.starts_with('#') {
                    continue;
                }
                let ind = l.len() - t.len();
                if ind == 0 && !t.starts_with("- ") {
                    end = n;
                    break;
                }
                if t.starts_with("- ") && indent.is_none_or(|x| x == ind) {
                    indent = Some(ind);
                    items.push(n);
                }
            }
            let s = *items.get(i)?;
            (s, items.get(i + 1).copied().unwrap_or(end))
        }
    };
    let wanted = format!("{key}:");
    (start..end)
        .find(|&n| {
            let t = lines[n].trim_start().trim_start_matches("- ").trim_start();
            t.starts_with(&wanted)
        })
        .map(|n| n + 1)
        .or(job.map(|_| start + 1))
}

#[test]
fn the_index_agrees_with_the_scan_on_random_texts() {
    let pieces = [
        "jobs:",
        "  - ",
        "- ",
        "    ",
        "name:",
        " x",
        "sync: y",
        "# c",
        "",
        "a:b: 1",
        "a:",
        "\"h\": 1",
        "-",
        "images: |",
        "  - - name: n",
        "b",
        ":",
    ];
    let keys = ["name", "sync", "jobs", "a", "a:b", "\"h\"", "", "x", "b"];
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..2000 {
        let text: String = (0..rng.usize(0..12))
            .map(|_| {
                let parts: String = (0..rng.usize(1..4))
                    .map(|_| pieces[rng.usize(..pieces.len())])
                    .collect();
                parts + "\n"
            })
            .collect();
        let index = Lines::new(&text);
        for key in keys {
            for job in [None, Some(0), Some(1), Some(2), Some(5)] {
                assert_eq!(
                    index.line_of(job, key),
                    scanned_line_of(&text, job, key),
                    "{text:?} {job:?} {key:?}"
                );
            }
        }
    }
}

#[test]
fn flow_depth_is_counted_outside_strings_comments_and_block_scalars() {
    let deep = |n: usize| "[".repeat(n);
    assert_eq!(too_deep(&format!("a: {}", deep(64)), 64), None);
    assert_eq!(too_deep(&format!("a: 1\nb: {}", deep(65)), 64), Some(2));
    assert_eq!(too_deep(&format!("a: {}", "[]".repeat(1000)), 64), None);
    for hidden in [
        format!("a: \"{}\"\n", deep(100)),
        format!("a: '{}''{}'\n", deep(100), deep(100)),
        format!("a: \"\\\"{}\"\n", deep(100)),
        format!("a: 1 # {}\n", deep(100)),
        format!("a: |\n  {}\n  {}\nb: 1\n", deep(40), deep(40)),
        format!("- a: >-\n    {}\n    {}\n", deep(40), deep(40)),
        format!("a: it's\nb: {}\n", "[]".repeat(100)),
    ] {
        assert_eq!(too_deep(&hidden, 64), None, "{hidden}");
    }
    // A quote in the middle of a plain scalar opens nothing; a block scalar ends.
    assert_eq!(too_deep(&format!("a: x'{}", deep(65)), 64), Some(1));
    assert_eq!(
        too_deep(&format!("a: |\n  x\nb: {}\n", deep(65)), 64),
        Some(3)
    );
    assert_eq!(too_deep(&format!("a: {}'x'", "{".repeat(65)), 64), Some(1));
}
