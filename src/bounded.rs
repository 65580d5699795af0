//! Bounded reads of every input a run is given: each file input (CA certificates, the config,
//! the GitHub event payload, an issue body, docker `config.json`, template overrides, the
//! `--state` file, reports to merge) has a byte cap, an [`Input`] below, and is read with
//! [`read`] or [`read_to_string`]; lists from a file or stdin are streamed line by line with
//! [`read_lines`], which stops at a byte cap or a line count.
//!
//! [`read`] refuses anything that is not a regular file (a FIFO, a character device such as
//! `/dev/zero`, a directory) from its metadata before opening it, so nothing hangs on a pipe; a
//! file over its cap fails from its size alone; and the read itself stops one byte past the cap,
//! so a file that grows while it is read is caught too. Errors name the path, what the file was
//! for and why it was refused; never its content.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;

/// One kind of file input: what it is for (in errors), its cap, and what to give instead.
#[derive(Debug)]
pub struct Input {
    /// What the file is for, as errors name it: `CA certificate`, `the config`.
    pub what: &'static str,
    /// The most bytes read.
    pub limit: u64,
    /// What to do instead, for the hint; `{limit}` stands for the cap.
    hint: &'static str,
}

impl Input {
    /// The hint of a file refused for its kind or size: what to give instead.
    pub fn hint(&self) -> String {
        self.hint.replace("{limit}", &human(self.limit))
    }
}

/// `--ca-cert FILE` and the config's `registries.*.ca_cert`: a PEM bundle. The system bundle of
/// a Linux distribution is about 200 KiB.
pub const CA_CERT: Input = Input {
    what: "CA certificate",
    limit: 4 * MIB,
    hint: "give a PEM file of at most {limit}",
};

/// `SSL_CERT_FILE`: checked before any HTTPS client is built, because the TLS stack's root
/// loader reads that file itself, without a bound.
pub const SSL_CERT_FILE: Input = Input {
    what: "`SSL_CERT_FILE`",
    limit: 4 * MIB,
    hint: "point `SSL_CERT_FILE` at a PEM file of at most {limit}, or unset it",
};

/// `run --config FILE` and `plan --config FILE`. 20 000 jobs take about 1 MiB.
pub const CONFIG: Input = Input {
    what: "the config",
    limit: 4 * MIB,
    hint: "give a YAML config file of at most {limit}; split a larger one and run each with `--config`",
};

/// `GITHUB_EVENT_PATH`: GitHub caps webhook payloads at 25 MB.
pub const EVENT: Input = Input {
    what: "the event",
    limit: 25 * MIB,
    hint: "point `GITHUB_EVENT_PATH` at the event's JSON payload (at most {limit})",
};

/// `validate --issue-body FILE`: GitHub caps issue bodies at 65 536 characters.
pub const ISSUE_BODY: Input = Input {
    what: "the issue body",
    limit: MIB,
    hint: "give the issue body as a text file of at most {limit} (`-` reads it from stdin)",
};

/// Docker `config.json`: credentials for a few registries take a few KiB.
pub const DOCKER_CONFIG: Input = Input {
    what: "docker config",
    limit: 4 * MIB,
    hint: "make it a JSON file of at most {limit}, or point `DOCKER_CONFIG` at another directory",
};

/// One template override (`--templates DIR/<lang>/<name>.md`).
pub const TEMPLATE: Input = Input {
    what: "template",
    limit: MIB,
    hint: "give a Markdown template of at most {limit}, or remove it to use the built-in one",
};

/// `--state FILE`: about 200 bytes an image; it is only a cache.
pub const STATE: Input = Input {
    what: "the state file",
    limit: 64 * MIB,
    hint: "give a state file of at most {limit}, or delete it: it only saves requests",
};

/// `report merge FILE...`: a shard's JSON report, about 1 KiB an image.
pub const REPORT: Input = Input {
    what: "the report",
    limit: 64 * MIB,
    hint: "merge the JSON files written by `--report-json` (at most {limit} each)",
};

/// An OCI layout's `index.json`: about 300 bytes an image.
pub const LAYOUT_INDEX: Input = Input {
    what: "the layout's `index.json`",
    limit: 64 * MIB,
    hint: "give an OCI layout whose `index.json` is a JSON file of at most {limit}",
};

/// A blob of an OCI layout read whole: a manifest or an image config (4 MiB, the distribution
/// registry's manifest cap, covers both).
pub const LAYOUT_BLOB: Input = Input {
    what: "a layout blob read whole",
    limit: 4 * MIB,
    hint: "manifests and configs of an OCI layout are at most {limit}",
};

/// A list from a file or stdin (`mirror`, `validate`, `plan`): far more than any `--max-images`
/// needs, at about 40 bytes an image.
pub const LIST_LIMIT: u64 = 4 * MIB;

/// A credential helper's answer on stdout (a `{"ServerURL","Username","Secret"}` object).
pub const HELPER_OUTPUT_LIMIT: u64 = MIB;

/// What a credential helper writes to stderr (errors quote its first 200 characters).
pub const HELPER_STDERR_LIMIT: u64 = 64 * KIB;

/// `4 MiB`, `64 KiB`, `100 bytes`.
pub fn human(n: u64) -> String {
    if n >= MIB && n % MIB == 0 {
        format!("{} MiB", n / MIB)
    } else if n >= KIB && n % KIB == 0 {
        format!("{} KiB", n / KIB)
    } else {
        format!("{n} bytes")
    }
}

/// Why a file input was refused. Never holds any of the file's content.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// It could not be opened or read (e.g. it does not exist).
    #[error("cannot read {} `{}`: {source}", input.what, path.display())]
    Io {
        input: &'static Input,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A FIFO, a device, a directory, a socket.
    #[error("cannot read {} `{}`: it is {kind}, not a regular file", input.what, path.display())]
    NotRegular {
        input: &'static Input,
        path: PathBuf,
        kind: &'static str,
    },
    #[error("cannot read {} `{}`: it is larger than {}", input.what, path.display(), human(input.limit))]
    TooLarge {
        input: &'static Input,
        path: PathBuf,
    },
    #[error("cannot read {} `{}`: it is not UTF-8 text", input.what, path.display())]
    NotUtf8 {
        input: &'static Input,
        path: PathBuf,
    },
}

impl FileError {
    /// True when the file does not exist (some inputs are optional).
    pub fn is_not_found(&self) -> bool {
        matches!(self, FileError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }

    /// What to give instead; None for an I/O error, whose cure depends on the caller.
    pub fn hint(&self) -> Option<String> {
        match self {
            FileError::Io { .. } => None,
            FileError::NotRegular { input, .. }
            | FileError::TooLarge { input, .. }
            | FileError::NotUtf8 { input, .. } => Some(input.hint()),
        }
    }
}

/// What a file that is not a regular one is, for errors.
fn kind_of(t: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "something else"
    }
}

/// Refuse `meta` unless it is a regular file within the cap.
fn check_metadata(
    meta: &std::fs::Metadata,
    path: &Path,
    input: &'static Input,
) -> Result<(), FileError> {
    if !meta.is_file() {
        return Err(FileError::NotRegular {
            input,
            path: path.to_path_buf(),
            kind: kind_of(meta.file_type()),
        });
    }
    if meta.len() > input.limit {
        return Err(FileError::TooLarge {
            input,
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// Check a file input from its metadata alone (nothing is opened): a regular file within the
/// cap. For inputs read later, so that a bad one stops a run before it starts.
pub fn check(path: &Path, input: &'static Input) -> Result<(), FileError> {
    let meta = std::fs::metadata(path).map_err(|source| FileError::Io {
        input,
        path: path.to_path_buf(),
        source,
    })?;
    check_metadata(&meta, path, input)
}

/// Open without blocking: should the path have become a FIFO since its metadata was read,
/// opening it must not wait for a writer (the opened file is checked again).
fn open(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path)
}

/// The bytes of the file at `path`, at most `input.limit` of them. Anything but a regular file
/// is refused before it is opened; a larger file fails from its size, or when the read passes
/// the cap.
pub fn read(path: &Path, input: &'static Input) -> Result<Vec<u8>, FileError> {
    let io = |source| FileError::Io {
        input,
        path: path.to_path_buf(),
        source,
    };
    check(path, input)?;
    let file = open(path).map_err(io)?;
    // What was opened is what counts.
    let meta = file.metadata().map_err(io)?;
    check_metadata(&meta, path, input)?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0) + 1);
    file.take(input.limit + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > input.limit {
        return Err(FileError::TooLarge {
            input,
            path: path.to_path_buf(),
        });
    }
    Ok(bytes)
}

/// [`read`], as UTF-8 text.
pub fn read_to_string(path: &Path, input: &'static Input) -> Result<String, FileError> {
    String::from_utf8(read(path, input)?).map_err(|_| FileError::NotUtf8 {
        input,
        path: path.to_path_buf(),
    })
}

/// Why a streamed list was refused; line numbers count from 1 in that stream.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// More than `limit` bytes: reading stopped in `line`.
    #[error("it is larger than {}; reading stopped at line {line}", human(*limit))]
    TooLarge { limit: u64, line: usize },
    /// More than `limit` counted lines: reading stopped at `line`.
    #[error("it has more than {limit} images; reading stopped at line {line}")]
    TooManyLines { limit: usize, line: usize },
    #[error("line {line} is not UTF-8 text")]
    NotUtf8 { line: usize },
    #[error("{0}")]
    Io(std::io::Error),
}

/// Read `reader` line by line into one string, stopping as soon as more than `byte_limit`
/// bytes were read, or more than `max_lines` lines were counted (with `counted` already counted
/// elsewhere): a line counts when it is neither blank nor a `#` comment. Never holds more than
/// `byte_limit + 1` bytes of input, however long a line is.
pub fn read_lines(
    reader: impl Read,
    byte_limit: u64,
    max_lines: Option<usize>,
    counted: usize,
) -> Result<String, StreamError> {
    let mut reader = std::io::BufReader::new(reader.take(byte_limit + 1));
    let mut text = String::new();
    let mut line = Vec::new();
    let mut counted = counted;
    let mut total = 0u64;
    let mut number = 0usize;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(StreamError::Io)?;
        if n == 0 {
            return Ok(text);
        }
        number += 1;
        total += n as u64;
        if total > byte_limit {
            return Err(StreamError::TooLarge {
                limit: byte_limit,
                line: number,
            });
        }
        let s = std::str::from_utf8(&line).map_err(|_| StreamError::NotUtf8 { line: number })?;
        let t = s.trim();
        if !t.is_empty() && !t.starts_with('#') {
            counted += 1;
            if let Some(limit) = max_lines.filter(|l| counted > *l) {
                return Err(StreamError::TooManyLines {
                    limit,
                    line: number,
                });
            }
        }
        text.push_str(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Input = Input {
        what: "test file",
        limit: 16,
        hint: "give a file of at most {limit}",
    };

    #[test]
    fn a_regular_file_within_the_cap_is_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ok.pem");
        std::fs::write(&path, "0123456789abcdef").expect("write");
        assert_eq!(read(&path, &SMALL).expect("read"), b"0123456789abcdef");
        assert_eq!(
            read_to_string(&path, &SMALL).expect("read"),
            "0123456789abcdef"
        );
        std::fs::write(&path, "").expect("write");
        assert_eq!(read(&path, &SMALL).expect("read"), b"");
    }

    #[test]
    fn a_file_over_the_cap_is_refused_and_named_without_its_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("big.pem");
        std::fs::write(&path, "secret-secret-secret").expect("write");
        let err = read(&path, &SMALL).expect_err("too big");
        assert!(matches!(err, FileError::TooLarge { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "cannot read test file `{}`: it is larger than 16 bytes",
                path.display()
            )
        );
        assert!(!format!("{err} {err:?}").contains("secret"));
        assert_eq!(
            err.hint().as_deref(),
            Some("give a file of at most 16 bytes")
        );
    }

    #[test]
    fn a_directory_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = read(dir.path(), &SMALL).expect_err("directory");
        assert!(
            err.to_string()
                .ends_with("it is a directory, not a regular file"),
            "{err}"
        );
        assert!(err.hint().is_some());
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_being_opened() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ca.pem");
        let ok = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .expect("mkfifo");
        assert!(ok.success());
        // No writer ever opens it: opening it for reading would block forever.
        let err = read(&path, &SMALL).expect_err("fifo");
        assert!(
            err.to_string()
                .ends_with("it is a FIFO (named pipe), not a regular file"),
            "{err}"
        );
        assert!(check(&path, &SMALL).is_err());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn dev_zero_is_refused() {
        let err = read(Path::new("/dev/zero"), &CA_CERT).expect_err("device");
        assert_eq!(
            err.to_string(),
            "cannot read CA certificate `/dev/zero`: it is a character device, not a regular file"
        );
        assert_eq!(
            err.hint().as_deref(),
            Some("give a PEM file of at most 4 MiB")
        );
    }

    #[test]
    fn a_missing_file_is_an_io_error() {
        let err = read(Path::new("/nonexistent/x"), &SMALL).expect_err("missing");
        assert!(err.is_not_found());
        assert!(
            err.to_string()
                .starts_with("cannot read test file `/nonexistent/x`: "),
            "{err}"
        );
        assert_eq!(err.hint(), None);
    }

    #[test]
    fn text_must_be_utf8() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bin");
        std::fs::write(&path, [0xff, 0xfe]).expect("write");
        let err = read_to_string(&path, &SMALL).expect_err("binary");
        assert!(err.to_string().ends_with("it is not UTF-8 text"), "{err}");
    }

    #[test]
    fn limits_read_as_sizes() {
        assert_eq!(human(4 * MIB), "4 MiB");
        assert_eq!(human(64 * KIB), "64 KiB");
        assert_eq!(human(1000), "1000 bytes");
        for input in [
            &CA_CERT,
            &SSL_CERT_FILE,
            &CONFIG,
            &EVENT,
            &ISSUE_BODY,
            &DOCKER_CONFIG,
            &TEMPLATE,
            &STATE,
            &REPORT,
        ] {
            assert!(input.hint.contains("{limit}"), "{input:?}");
            assert!(!input.hint().contains('{'), "{input:?}");
        }
    }

    #[test]
    fn streamed_lines_stop_at_the_line_count() {
        let text = "# comment\n\nnginx:1.27\nalpine:3.20\n";
        assert_eq!(
            read_lines(text.as_bytes(), 1024, Some(2), 0).expect("two lines"),
            text
        );
        let err = read_lines(text.as_bytes(), 1024, Some(1), 0).expect_err("limit");
        assert!(
            matches!(err, StreamError::TooManyLines { limit: 1, line: 4 }),
            "{err:?}"
        );
        // Lines counted elsewhere (arguments) count too.
        assert!(read_lines(text.as_bytes(), 1024, Some(2), 1).is_err());
        assert!(read_lines(text.as_bytes(), 1024, None, 1000).is_ok());
    }

    #[test]
    fn streamed_lines_stop_at_the_byte_cap() {
        // An endless stream stops at the line count, or at the cap.
        let endless = std::io::repeat(b'a');
        let err = read_lines(endless, 1024, Some(10), 0).expect_err("endless");
        assert!(
            matches!(
                err,
                StreamError::TooLarge {
                    limit: 1024,
                    line: 1
                }
            ),
            "{err:?}"
        );
        let lines = std::io::repeat(b'\n').take(10_000);
        let err = read_lines(lines, 1024, Some(10), 0).expect_err("cap");
        assert!(
            matches!(err, StreamError::TooLarge { line: 1025, .. }),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "it is larger than 1 KiB; reading stopped at line 1025"
        );
        let err = read_lines(&[b'a', 0xff, b'\n'][..], 1024, None, 0).expect_err("utf8");
        assert_eq!(err.to_string(), "line 1 is not UTF-8 text");
    }
}
