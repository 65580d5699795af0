//! Text from outside this process (registries, token servers, lists, layouts) made safe to
//! show: bounded in length, without control, ANSI or bidirectional characters, and scrubbed of
//! credentials.
//!
//! Two entry points, used at every boundary where such text can reach an output:
//! - [`inert`] / [`inert_lines`]: cut, stripped and scrubbed. Registry error bodies, header
//!   values and anything quoted from a manifest go through it before they become part of an
//!   error; reports pass every error and warning through it once more.
//! - [`scrub`]: the last filter on every output stream (stdout lines, the log, the JSON report,
//!   comments, chat payloads): `Authorization` values, `Basic …`/`Bearer …` credentials,
//!   JWT-like tokens, secret query parameters, and every secret this run knows
//!   ([`register_secret`]) in raw, base64 and URL-encoded form.
//!
//! Markdown escaping is a separate concern (the escapers of `render`): this module makes text inert as
//! *text*; the escapers make it inert as *markup*.

use base64::Engine as _;
use regex::Regex;
use std::sync::{OnceLock, RwLock};

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";
/// Characters kept of one piece of registry text (an error body, a header value).
pub const REGISTRY_TEXT_CHARS: usize = 300;
/// Characters kept of a whole error or warning in a report.
pub const REPORT_TEXT_CHARS: usize = 4000;
/// Secrets shorter than this are not searched for (they would mask ordinary words).
const MIN_SECRET_CHARS: usize = 4;

/// Every secret of this run, in every encoding that is searched for.
fn secrets() -> &'static RwLock<Vec<String>> {
    static SECRETS: OnceLock<RwLock<Vec<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| RwLock::new(Vec::new()))
}

/// Remember `secret` (a password, a token, `user:password`, a webhook URL) so that no output
/// of this run shows it, raw or encoded.
pub fn register_secret(secret: &str) {
    if secret.chars().count() < MIN_SECRET_CHARS {
        return;
    }
    let mut forms = encodings(secret);
    forms.retain(|f| f.chars().count() >= MIN_SECRET_CHARS);
    let mut list = secrets().write().unwrap_or_else(|p| p.into_inner());
    for f in forms {
        if !list.contains(&f) {
            list.push(f);
        }
    }
    // Longest first, so a secret that contains another is replaced whole.
    list.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// The forms a secret can take on the wire or in an echo of it.
fn encodings(secret: &str) -> Vec<String> {
    let b = secret.as_bytes();
    let engines = [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    let mut out = vec![secret.to_string()];
    out.extend(engines.iter().map(|e| e.encode(b)));
    out.push(url::form_urlencoded::byte_serialize(b).collect());
    out.push(percent_all(secret));
    if let Ok(json) = serde_json::to_string(secret) {
        out.push(json.trim_matches('"').to_string());
    }
    out.dedup();
    out
}

/// Every byte but ASCII letters and digits percent-encoded (what strict encoders send).
fn percent_all(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

struct Patterns {
    /// `Authorization: …` and friends up to the end of the line.
    header: Regex,
    /// `Basic dXNlcjpwYXNz`, `Bearer eyJ…`.
    scheme: Regex,
    /// `eyJhbGciOi….eyJzdWIiOi….sig`.
    jwt: Regex,
    /// `access_token=…`, `X-Amz-Signature=…`, `_state=…` in URLs and bodies.
    param: Regex,
    /// `"token": "…"` in an echoed JSON body.
    json_token: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| {
        let re = |s: &str| Regex::new(s).unwrap_or_else(|e| panic!("pattern {s}: {e}"));
        Patterns {
            header: re(
                r#"(?i)\b((?:proxy-)?authorization|cookie|set-cookie|x-registry-auth|private-token)("?\s*[:=]\s*)[^\r\n]*"#,
            ),
            scheme: re(r"(?i)\b(basic|bearer)(\s+)[A-Za-z0-9._~+/=\-]{6,}"),
            jwt: re(r"\beyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*"),
            param: re(
                r"(?i)\b(access_token|refresh_token|id_token|token|password|passwd|secret|client_secret|signature|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential|sig|_state)=[^&\s\x22'<>]+",
            ),
            json_token: re(
                r#"(?i)("(?:access_token|refresh_token|token|password|secret|identitytoken|auth)"\s*:\s*")[^"]*""#,
            ),
        }
    })
}

/// `text` without credentials: patterns that look like them, and every registered secret.
pub fn scrub(text: &str) -> String {
    let p = patterns();
    let mut out = text.to_string();
    {
        let list = secrets().read().unwrap_or_else(|p| p.into_inner());
        for s in list.iter() {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), REDACTED);
            }
        }
    }
    let with =
        |re: &Regex, text: &str, replacement: &str| re.replace_all(text, replacement).into_owned();
    out = with(&p.header, &out, &format!("${{1}}${{2}}{REDACTED}"));
    out = with(&p.scheme, &out, &format!("${{1}}${{2}}{REDACTED}"));
    out = with(&p.param, &out, &format!("${{1}}={REDACTED}"));
    out = with(&p.json_token, &out, &format!("${{1}}{REDACTED}\""));
    p.jwt.replace_all(&out, REDACTED).into_owned()
}

/// One line of outside text, safe to show: control characters (newlines too) become spaces,
/// ANSI escape sequences and bidirectional or invisible formatting characters are removed,
/// runs of spaces collapse, the result is scrubbed and cut to `max_chars` (with `…`).
pub fn inert(text: &str, max_chars: usize) -> String {
    cut(&scrub(clean(text, false, true).trim()), max_chars)
}

/// [`inert`], keeping line breaks and indentation (an error with its `hint:` line).
pub fn inert_lines(text: &str, max_chars: usize) -> String {
    cut(&scrub(clean(text, true, false).trim_end()), max_chars)
}

/// The characters of [`inert`] replaced or removed, and secrets scrubbed, but spaces kept as
/// they are and nothing cut: for escapers that put pieces of text side by side.
pub fn strip(text: &str) -> String {
    scrub(&clean(text, false, false))
}

/// [`strip`], keeping line breaks.
pub fn strip_lines(text: &str) -> String {
    scrub(&clean(text, true, false))
}

/// `text` cut to `max_chars` characters, `…` marking the cut.
pub fn cut(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Bidirectional controls and invisible characters that can make text read differently
/// than it is (`U+202E` turns `gpj.exe` around).
fn is_format_char(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

fn clean(text: &str, keep_newlines: bool, collapse: bool) -> String {
    let mut out = String::with_capacity(text.len().min(64 * 1024));
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // ESC [ … final byte (CSI), ESC ] … BEL/ST (OSC), or ESC and one character.
            '\u{1b}' => match chars.peek() {
                Some('[') => {
                    chars.next();
                    for n in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&n) {
                            break;
                        }
                    }
                }
                Some(']') => {
                    chars.next();
                    while let Some(n) = chars.next() {
                        if n == '\u{7}' {
                            break;
                        }
                        if n == '\u{1b}' && chars.peek() == Some(&'\\') {
                            chars.next();
                            break;
                        }
                    }
                }
                Some(_) => {
                    chars.next();
                }
                None => {}
            },
            '\u{9b}' => {
                for n in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&n) {
                        break;
                    }
                }
            }
            '\n' if keep_newlines => {
                while collapse && out.ends_with(' ') {
                    out.pop();
                }
                out.push('\n');
            }
            '\r' if keep_newlines && chars.peek() == Some(&'\n') => {}
            c if c.is_control() || c.is_whitespace() => {
                if !collapse || (!out.is_empty() && !out.ends_with(' ') && !out.ends_with('\n')) {
                    out.push(' ');
                }
            }
            c if is_format_char(c) => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_ansi_and_bidi_characters_are_gone() {
        assert_eq!(
            inert("a\nb\u{1b}[31mred\u{1b}[0m \u{202e}cba\u{2066}", 100),
            "a bred cba"
        );
        assert_eq!(inert("x\u{1b}]0;title\u{7}y\u{9b}2Jz", 100), "xyz");
        assert_eq!(
            inert_lines("error: x\r\n  hint: do y\t\u{0}", 100),
            "error: x\n  hint: do y"
        );
    }

    #[test]
    fn text_is_cut_with_a_mark() {
        assert_eq!(inert(&"x".repeat(5000), 10), format!("{}…", "x".repeat(9)));
        assert_eq!(cut("镜像镜像", 3), "镜像…");
        assert_eq!(cut("short", 10), "short");
    }

    #[test]
    fn credential_patterns_are_scrubbed() {
        let basic = base64::engine::general_purpose::STANDARD.encode("alice:pw");
        let echoed =
            format!("GET /v2/ HTTP/1.1\nAuthorization: Basic {basic}\nUser-Agent: x\ncookie=abc");
        let out = scrub(&echoed);
        assert!(!out.contains(&basic), "{out}");
        assert!(out.contains("Authorization: [redacted]"), "{out}");
        assert!(out.contains("User-Agent: x"), "{out}");
        assert_eq!(
            scrub("{\"authorization\":\"Bearer abc.def-ghi\"}"),
            "{\"authorization\":[redacted]"
        );
        assert_eq!(
            scrub("sent Bearer abcdefghij to x"),
            "sent Bearer [redacted] to x"
        );
        assert_eq!(
            scrub("token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln end"),
            "token [redacted] end"
        );
        assert_eq!(
            scrub("https://s3/x?X-Amz-Signature=abc123&y=1 and access_token=zzz"),
            "https://s3/x?X-Amz-Signature=[redacted]&y=1 and access_token=[redacted]"
        );
        assert_eq!(
            scrub(r#"{"token": "t0ps3cret", "expires_in": 60}"#),
            r#"{"token": "[redacted]", "expires_in": 60}"#
        );
        // Ordinary words survive.
        assert_eq!(
            scrub("the token server answered HTTP 500: basic auth required"),
            "the token server answered HTTP 500: basic auth required"
        );
    }

    #[test]
    fn registered_secrets_are_scrubbed_in_every_encoding() {
        let secret = "s3cr3t/p@ss+word=";
        register_secret(secret);
        register_secret("bob:s3cr3t/p@ss+word=");
        for form in encodings(secret)
            .into_iter()
            .chain(encodings("bob:s3cr3t/p@ss+word="))
        {
            let out = scrub(&format!("before {form} after"));
            assert_eq!(out, format!("before {REDACTED} after"), "{form}");
        }
        // Too short to search for without masking ordinary text.
        register_secret("ab");
        assert_eq!(scrub("abc"), "abc");
    }
}
