//! The body GitHub renders from the `mirror-request` issue form: `### Images` (one image a
//! line), `### Platforms` (optional comma list) and `### Options` (checkbox `Sync all
//! architectures`); `_No response_` means empty. A body without these headings is a bare list.

/// What the form carried.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IssueForm {
    /// The image list, as typed (line numbers in errors count from its first line).
    pub images: String,
    /// The platforms input, when filled in.
    pub platforms: Option<String>,
    /// The `Sync all architectures` checkbox.
    pub all_platforms: bool,
    /// False when the body had none of the form's headings and was read as a bare list.
    pub from_form: bool,
}

const NO_RESPONSE: &str = "_No response_";

/// Split an issue body into the form's sections.
pub fn parse(body: &str) -> IssueForm {
    let body = body.replace("\r\n", "\n");
    let mut sections: Vec<(String, Vec<&str>)> = Vec::new();
    for line in body.lines() {
        if let Some(h) = line.strip_prefix("### ") {
            sections.push((h.trim().to_ascii_lowercase(), Vec::new()));
        } else if let Some((_, lines)) = sections.last_mut() {
            lines.push(line);
        }
    }
    let section = |name: &str| -> Option<String> {
        sections.iter().find(|(h, _)| h == name).map(|(_, lines)| {
            let text = lines.join("\n");
            let t = text.trim();
            if t == NO_RESPONSE {
                String::new()
            } else {
                // Keep inner line structure; drop the blank lines GitHub puts around a section.
                t.to_string()
            }
        })
    };
    // A textarea with `render: text` arrives inside a code fence; without the fence lines,
    // line numbers in errors are the lines the user typed.
    let images = section("images").map(|t| unfenced(&t));
    let platforms = section("platforms");
    let options = section("options");
    if images.is_none() && platforms.is_none() && options.is_none() {
        return IssueForm {
            images: body,
            ..IssueForm::default()
        };
    }
    let all_platforms = options.as_deref().is_some_and(|o| {
        o.lines().any(|l| {
            let l = l.trim().to_ascii_lowercase();
            (l.starts_with("- [x]") || l.starts_with("* [x]")) && l.contains("all architectures")
        })
    });
    IssueForm {
        images: images.unwrap_or_default(),
        platforms: platforms.filter(|p| !p.trim().is_empty()),
        all_platforms,
        from_form: true,
    }
}

/// The text inside one surrounding code fence (```` ``` ```` or `~~~`, with an info string),
/// or the text as it is.
fn unfenced(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let fence = |l: &str| {
        let t = l.trim_start();
        t.starts_with("```") || t.starts_with("~~~")
    };
    match (lines.first(), lines.last()) {
        (Some(first), Some(last)) if lines.len() >= 2 && fence(first) && fence(last) => {
            lines[1..lines.len() - 1].join("\n")
        }
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_rendered_form() {
        let body = "### Images\r\n\r\nnginx:1.27\r\nregistry.k8s.io/pause:3.9\r\n\r\n### Platforms\r\n\r\nlinux/amd64,linux/arm64\r\n\r\n### Options\r\n\r\n- [X] Sync all architectures\r\n";
        let f = parse(body);
        assert_eq!(f.images, "nginx:1.27\nregistry.k8s.io/pause:3.9");
        assert_eq!(f.platforms.as_deref(), Some("linux/amd64,linux/arm64"));
        assert!(f.all_platforms);
        assert!(f.from_form);
    }

    #[test]
    fn no_response_and_unchecked() {
        let body = "### Images\n\nnginx:1.27\n\n### Platforms\n\n_No response_\n\n### Options\n\n- [ ] Sync all architectures\n";
        let f = parse(body);
        assert_eq!(f.images, "nginx:1.27");
        assert_eq!(f.platforms, None);
        assert!(!f.all_platforms);
    }

    #[test]
    fn a_rendered_text_area_loses_its_fence_so_lines_count_from_the_first_image() {
        let f = parse("### Images\n\n```text\nnginx:1.27\nalpine:3.20\n```\n\n### Platforms\n\n_No response_\n");
        assert_eq!(f.images, "nginx:1.27\nalpine:3.20");
    }

    #[test]
    fn bare_body_is_a_list() {
        let f = parse("nginx:1.27\nalpine:3.20\n");
        assert_eq!(f.images, "nginx:1.27\nalpine:3.20\n");
        assert!(!f.from_form);
        assert_eq!(f.platforms, None);
    }

    #[test]
    fn images_section_with_a_code_fence_is_kept_whole() {
        let f = parse("### Images\n\n```\nnginx:1.27\n### not a heading inside? \n```\n");
        // A heading line always starts a section (GitHub renders the form that way).
        assert!(f.images.starts_with("```\nnginx:1.27"));
    }
}
