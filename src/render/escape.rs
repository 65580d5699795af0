//! Markdown escaping, one module for every rendered output: issue comments, the job summary
//! (both templates, see [`crate::render::templates`]), chat messages and the dropped-tags table.
//!
//! Every value from outside (an image name, a tag, a registry's error) is first made inert as
//! text ([`crate::untrusted`]: no control, ANSI or bidirectional characters, no secrets), then
//! escaped for the place it lands in:
//! - [`text`]: GitHub Markdown prose or a table cell: no emphasis, links, images, HTML,
//!   mentions, issue references or autolinks;
//! - [`code`]: an inline code span (GitHub interprets nothing inside);
//! - [`message`]: one of our messages, whose back-quoted parts become code spans;
//! - [`fence`]: a fenced block that keeps line breaks;
//! - [`plain`]: chat robots' Markdown (WeCom, DingTalk, Feishu), which knows no escapes, so
//!   the characters that make links, images, HTML and mentions are replaced;
//! - [`slack`]: Slack's mrkdwn.

use crate::untrusted;

/// One line of inert text (no length limit: the caller bounds what it renders).
fn one_line(s: &str) -> String {
    untrusted::strip(s)
}

/// Break what GitHub and chat clients turn into links after Markdown is parsed (`https://…`,
/// `www.…`, `@user`): escapes alone do not stop them; a word joiner (U+2060, invisible) does.
fn break_autolinks(s: &str) -> String {
    s.replace("://", ":\u{2060}//")
        .replace("www.", "www\u{2060}.")
        .replace('@', "@\u{2060}")
}

/// Plain text in Markdown (table cells too: `|` is escaped): no emphasis, links, images, HTML,
/// mentions, issue references or autolinks.
pub fn text(s: &str) -> String {
    let s = break_autolinks(&one_line(s));
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '|' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '#' => out.push_str("\\#\u{2060}"),
            c => out.push(c),
        }
    }
    out
}

/// An inline code span that holds any text safely (GitHub interprets nothing inside).
pub fn code(s: &str) -> String {
    let s = one_line(s).replace('|', "\\|");
    if s.trim().is_empty() {
        return "` `".to_string();
    }
    let ticks = "`".repeat(longest_run(&s, '`') + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{s}{pad}{ticks}")
}

/// One of our messages (`… write `nginx:latest` …`): the back-quoted parts become code spans,
/// the rest plain text. With an odd number of backticks it is all plain text.
pub fn message(s: &str) -> String {
    let parts: Vec<&str> = s.split('`').collect();
    if parts.len() % 2 == 0 {
        return text(s);
    }
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| if i % 2 == 1 { code(p) } else { text(p) })
        .collect()
}

/// Text for chat robots' Markdown (WeCom, DingTalk, Feishu), which knows no escapes: one line,
/// no backticks, no HTML, no link or image brackets, no mentions, no autolinks.
pub fn plain(s: &str) -> String {
    break_autolinks(&one_line(s))
        .replace('`', "'")
        .replace('<', "‹")
        .replace('>', "›")
        .replace('[', "［")
        .replace(']', "］")
}

/// Text for Slack's mrkdwn: `&`, `<` and `>` are the characters Slack asks to escape (links are
/// `<url|text>` there); bare URLs and mentions are broken like everywhere else.
pub fn slack(s: &str) -> String {
    break_autolinks(&one_line(s))
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('`', "'")
}

/// A fenced code block holding any text (inert, line breaks kept).
pub fn fence(s: &str) -> String {
    let clean = untrusted::strip_lines(s);
    let ticks = "`".repeat(longest_run(&clean, '`').max(2) + 1);
    format!("{ticks}text\n{}\n{ticks}", clean.trim_end())
}

fn longest_run(s: &str, ch: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for c in s.chars() {
        if c == ch {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Links, images and raw HTML a CommonMark parser finds in `md`.
    fn live_markup(md: &str) -> Vec<String> {
        use pulldown_cmark::{Event, Parser, Tag};
        Parser::new(md)
            .filter_map(|e| match e {
                Event::Start(Tag::Link { dest_url, .. }) => Some(format!("link {dest_url}")),
                Event::Start(Tag::Image { dest_url, .. }) => Some(format!("image {dest_url}")),
                Event::Html(h) | Event::InlineHtml(h) => Some(format!("html {h}")),
                _ => None,
            })
            .collect()
    }

    const HOSTILE: &[&str] = &[
        "[Click here](https://evil.example/x)",
        "![x](https://evil.example/pixel.png)",
        "<a href=\"https://evil.example\">x</a> <img src=x>",
        "<https://evil.example/auto>",
        "[ref]\n\n[ref]: https://evil.example",
        "`code` then [a](b) and \\[esc\\](c)",
        "@octocat #12 www.evil.example https://evil.example",
    ];

    #[test]
    fn no_filter_lets_markup_through() {
        for h in HOSTILE {
            for (name, out) in [
                ("text", text(h)),
                ("code", code(h)),
                ("message", message(h)),
                ("fence", fence(h)),
                ("plain", plain(h)),
            ] {
                let found = live_markup(&format!("before\n\n{out}\n\nafter"));
                assert!(found.is_empty(), "{name}({h:?}) = {out:?}: {found:?}");
                if name != "fence" {
                    let inline = live_markup(&format!("before {out} after"));
                    assert!(
                        inline.is_empty(),
                        "{name}({h:?}) inline = {out:?}: {inline:?}"
                    );
                }
                // In a table cell too (fences do not go there).
                if name == "fence" {
                    continue;
                }
                let table = format!("| a | b |\n|---|---|\n| {out} | x |\n");
                assert!(live_markup(&table).is_empty(), "{name} in a table: {out:?}");
            }
        }
    }

    #[test]
    fn text_cannot_inject() {
        assert_eq!(
            text("@octocat <img src=x> **bold** [a](http://e.x) #12"),
            "@\u{2060}octocat &lt;img src=x&gt; \\*\\*bold\\*\\* \\[a\\]\\(http:\u{2060}//e.x\\) \\#\u{2060}12"
        );
        assert_eq!(text("a\nb\u{1b}[31m"), "a b");
        assert_eq!(text("x | y"), "x \\| y");
    }

    #[test]
    fn chat_text_has_no_link_brackets_or_mentions() {
        assert_eq!(
            plain("[Click](https://e.x) @all <b>"),
            "［Click］(https:\u{2060}//e.x) @\u{2060}all ‹b›"
        );
        assert_eq!(
            slack("<https://e.x|hi> & `x`"),
            "&lt;https:\u{2060}//e.x|hi&gt; &amp; 'x'"
        );
    }

    #[test]
    fn code_spans_hold_backticks_and_pipes() {
        assert_eq!(code("nginx:1.27"), "`nginx:1.27`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x`"), "`` `x` ``");
        assert_eq!(code("a|b\nc"), "`a\\|b c`");
        assert_eq!(code(""), "` `");
    }

    #[test]
    fn messages_keep_their_code_parts() {
        assert_eq!(
            message("has no tag; write `nginx:latest` @here"),
            "has no tag; write `nginx:latest` @\u{2060}here"
        );
        assert_eq!(message("odd ` tick"), "odd \\` tick");
    }

    #[test]
    fn fences_outlast_the_content() {
        assert_eq!(fence("plain"), "```text\nplain\n```");
        assert_eq!(fence("a ```` b\n"), "`````text\na ```` b\n`````");
        assert_eq!(fence("x\u{1b}[2J\u{202e}y\nz"), "```text\nxy\nz\n```");
    }
}
