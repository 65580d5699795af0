//! Lists read from a file or stdin, streamed and bounded: reading stops at a byte cap or at
//! `--max-images` image lines, whichever comes first, and says which.

use crate::usage::UsageError;

/// Where a list comes from: the images given as arguments, then a file (`-`: stdin).
pub(crate) struct ListSource<'a> {
    pub(crate) images: &'a [String],
    pub(crate) file: Option<&'a std::path::Path>,
    pub(crate) max_images: usize,
}

/// The list text: the arguments (one line each), then the file or stdin, streamed line by line.
/// Reading stops as soon as the file passes [`crate::bounded::LIST_LIMIT`] bytes or the list
/// passes `--max-images` lines that are neither blank nor `#` comments (with the arguments).
pub(crate) fn read_list(list: &ListSource<'_>) -> Result<String, UsageError> {
    let input = list;
    let mut text = input.images.join("\n");
    if let Some(path) = input.file {
        let counted = input
            .images
            .iter()
            .flat_map(|i| i.lines())
            .filter(|l| !l.trim().is_empty() && !l.trim().starts_with('#'))
            .count();
        let limit = crate::bounded::LIST_LIMIT;
        let body = read_stream(
            path,
            "the list",
            limit,
            &format!(
                "split the list into parts of at most {}",
                crate::bounded::human(limit)
            ),
            Some((input.max_images, counted)),
        )?;
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&body);
    }
    if text.trim().is_empty() {
        return Err(UsageError::new("the list is empty")
            .hint("name images as arguments, or give a list with `--file FILE` (`-` for stdin)"));
    }
    Ok(text)
}

/// `path` (`-`: stdin) streamed with [`crate::bounded::read_lines`]: at most `byte_limit`
/// bytes (else the error has `large_hint`), and with `lines = (max, already counted)` at most
/// `max` image lines. `what` names the input in errors (`the list`).
pub(crate) fn read_stream(
    path: &std::path::Path,
    what: &str,
    byte_limit: u64,
    large_hint: &str,
    lines: Option<(usize, usize)>,
) -> Result<String, UsageError> {
    use crate::bounded::{read_lines, StreamError};
    let stdin = path == std::path::Path::new("-");
    let source = if stdin {
        format!("{what} from stdin")
    } else {
        format!("{what} `{}`", path.display())
    };
    let (max, counted) = match lines {
        Some((max, counted)) => (Some(max), counted),
        None => (None, 0),
    };
    let read = if stdin {
        read_lines(std::io::stdin().lock(), byte_limit, max, counted)
    } else {
        let file = std::fs::File::open(path)
            .map_err(|e| UsageError::new(format!("cannot read {source}: {e}")))?;
        read_lines(file, byte_limit, max, counted)
    };
    read.map_err(|e| match e {
        StreamError::TooManyLines { limit, line } => UsageError::new(format!(
            "{source} has more than {limit} images (`--max-images`); reading stopped at line {line}, nothing was copied"
        ))
        .hint("split the list, or raise the limit with `--max-images N`"),
        StreamError::TooLarge { limit, line } => UsageError::new(format!(
            "{source} is larger than {}; reading stopped at line {line}, nothing was copied",
            crate::bounded::human(limit)
        ))
        .hint(large_hint),
        StreamError::NotUtf8 { .. } | StreamError::Io(_) => {
            UsageError::new(format!("cannot read {source}: {e}"))
        }
    })
}
