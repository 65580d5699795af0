//! Image platforms (`os/arch[/variant]`): parsing the `--platform` text and comma lists, reading
//! the `platform` object of OCI / Docker index entries, and normalizing names the way
//! containerd's `platforms` package does, so that `linux/arm64` matches `linux/arm64/v8`,
//! `linux/arm` matches `linux/arm/v7` and `linux/x86_64` matches `linux/amd64`.

use std::fmt;
use std::str::FromStr;

/// The form every platform text must have, shown in errors.
const EXPECTED: &str = "expected `os/arch[/variant]` such as `linux/amd64` or `linux/arm64/v8`";

/// One platform. Built with [`Platform::new`] or parsed, the fields are normalized; built by
/// hand they may not be, which is why [`Platform::matches`] normalizes both sides.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

/// Why a platform text or list was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    /// Not two or three non-empty `/`-separated parts.
    #[error("invalid platform `{text}`: {EXPECTED}")]
    Form { text: String },
    /// A part with characters no platform name has.
    #[error(
        "invalid platform `{text}`: the {part} `{value}` may only contain letters, digits, `_`, `-` and `.`; {EXPECTED}"
    )]
    Characters {
        text: String,
        part: &'static str,
        value: String,
    },
    /// Nothing but commas and spaces.
    #[error(
        "no platform given: expected a comma-separated list such as `linux/amd64,linux/arm64`"
    )]
    EmptyList,
}

impl Platform {
    /// A normalized platform (see [`Platform::normalized`]).
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        let os = normalize_os(os);
        let (architecture, variant) = normalize_arch(architecture, variant.unwrap_or(""));
        Platform {
            os,
            architecture,
            variant: (!variant.is_empty()).then_some(variant),
        }
    }

    /// Normalized copy (containerd's rules): everything lowercase; `x86_64`/`x86-64` are
    /// `amd64` (variant `v1` dropped); `aarch64` is `arm64` (variant `v8` dropped); `armhf` is
    /// `arm/v7`, `armel` is `arm/v6`, a bare `arm` is `arm/v7`; `i386`..`i686` are `386`.
    pub fn normalized(&self) -> Platform {
        Platform::new(&self.os, &self.architecture, self.variant.as_deref())
    }

    /// True when both normalize to the same os/arch/variant.
    pub fn matches(&self, other: &Platform) -> bool {
        self.normalized() == other.normalized()
    }

    /// From an OCI/Docker index entry's `platform` object (`os`, `architecture`, optional
    /// `variant`); None when it is absent or malformed (missing, empty or non-string fields).
    pub fn from_descriptor_json(v: &serde_json::Value) -> Option<Platform> {
        let obj = v.as_object()?;
        let field = |name: &str| -> Option<&str> {
            obj.get(name)?
                .as_str()
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let os = field("os")?;
        let architecture = field("architecture")?;
        let variant = match obj.get("variant") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(s.trim()),
            Some(_) => return None,
        };
        Some(Platform::new(os, architecture, variant))
    }

    /// `unknown/unknown`: the entries BuildKit adds to an index for attestations.
    pub fn is_unknown(&self) -> bool {
        self.os.eq_ignore_ascii_case("unknown") && self.architecture.eq_ignore_ascii_case("unknown")
    }
}

/// containerd's `normalizeOS`: lowercase, and `macos` is `darwin`.
fn normalize_os(os: &str) -> String {
    let os = os.trim().to_ascii_lowercase();
    if os == "macos" {
        "darwin".to_string()
    } else {
        os
    }
}

/// containerd's `normalizeArch`, plus the `i486`..`i686` spellings.
fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let arch = arch.trim().to_ascii_lowercase();
    let variant = variant.trim().to_ascii_lowercase();
    let (arch, variant): (&str, &str) = match arch.as_str() {
        "i386" | "i486" | "i586" | "i686" | "386" => ("386", ""),
        "x86_64" | "x86-64" | "amd64" => (
            "amd64",
            if variant == "v1" {
                ""
            } else {
                variant.as_str()
            },
        ),
        "aarch64" | "arm64" => (
            "arm64",
            match variant.as_str() {
                "8" | "v8" | "v8.0" => "",
                "9" | "9.0" | "v9.0" => "v9",
                v => v,
            },
        ),
        "armhf" => ("arm", "v7"),
        "armel" => ("arm", "v6"),
        "arm" => (
            "arm",
            match variant.as_str() {
                "" | "7" => "v7",
                "5" => "v5",
                "6" => "v6",
                "8" => "v8",
                v => v,
            },
        ),
        a => (a, variant.as_str()),
    };
    (arch.to_string(), variant.to_string())
}

/// Letters, digits, `_`, `-` and `.` (`v8.0`).
fn valid_part(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

impl FromStr for Platform {
    type Err = PlatformError;

    /// `os/arch[/variant]`, normalized: `linux/amd64`, `Linux/x86_64`, `linux/arm/v7`.
    fn from_str(s: &str) -> Result<Platform, PlatformError> {
        let text = s.trim();
        let parts: Vec<&str> = text.split('/').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
            return Err(PlatformError::Form {
                text: text.to_string(),
            });
        }
        for (part, value) in ["os", "architecture", "variant"].into_iter().zip(&parts) {
            if !valid_part(value) {
                return Err(PlatformError::Characters {
                    text: text.to_string(),
                    part,
                    value: (*value).to_string(),
                });
            }
        }
        Ok(Platform::new(parts[0], parts[1], parts.get(2).copied()))
    }
}

impl fmt::Display for Platform {
    /// `linux/amd64`, `linux/arm/v7`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl serde::Serialize for Platform {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Parse a comma list (`linux/amd64, linux/arm64`): items trimmed, empty items ignored,
/// duplicates (after normalization) dropped, order kept. The first bad item is the error; a
/// list with no item at all is [`PlatformError::EmptyList`].
pub fn parse_list(s: &str) -> Result<Vec<Platform>, PlatformError> {
    let mut out: Vec<Platform> = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let p: Platform = item.parse()?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    if out.is_empty() {
        return Err(PlatformError::EmptyList);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> Platform {
        s.parse().expect("platform")
    }

    #[test]
    fn normalization_table() {
        let cases = [
            ("linux/amd64", "linux/amd64"),
            ("Linux/AMD64", "linux/amd64"),
            ("linux/x86_64", "linux/amd64"),
            ("linux/x86-64", "linux/amd64"),
            ("linux/amd64/v1", "linux/amd64"),
            ("linux/amd64/v2", "linux/amd64/v2"),
            ("linux/amd64/V3", "linux/amd64/v3"),
            ("linux/aarch64", "linux/arm64"),
            ("linux/arm64/v8", "linux/arm64"),
            ("linux/arm64/8", "linux/arm64"),
            ("linux/aarch64/v8", "linux/arm64"),
            ("linux/arm64/v9.0", "linux/arm64/v9"),
            ("linux/armhf", "linux/arm/v7"),
            ("linux/armel", "linux/arm/v6"),
            ("linux/arm", "linux/arm/v7"),
            ("linux/arm/7", "linux/arm/v7"),
            ("linux/arm/5", "linux/arm/v5"),
            ("linux/arm/6", "linux/arm/v6"),
            ("linux/arm/8", "linux/arm/v8"),
            ("linux/arm/v6", "linux/arm/v6"),
            ("linux/i386", "linux/386"),
            ("linux/i486", "linux/386"),
            ("linux/i586", "linux/386"),
            ("linux/i686", "linux/386"),
            ("linux/386", "linux/386"),
            ("windows/amd64", "windows/amd64"),
            ("macos/arm64", "darwin/arm64"),
            ("linux/s390x", "linux/s390x"),
            ("linux/ppc64le", "linux/ppc64le"),
            ("linux/riscv64", "linux/riscv64"),
            ("unknown/unknown", "unknown/unknown"),
        ];
        for (input, want) in cases {
            assert_eq!(p(input).to_string(), want, "parsing {input}");
        }
    }

    #[test]
    fn new_and_normalized() {
        let raw = Platform {
            os: "Linux".into(),
            architecture: "aarch64".into(),
            variant: Some("v8".into()),
        };
        assert_eq!(raw.to_string(), "Linux/aarch64/v8");
        assert_eq!(raw.normalized(), Platform::new("linux", "arm64", None));
        assert_eq!(
            Platform::new("linux", "arm", None).variant.as_deref(),
            Some("v7")
        );
        assert_eq!(Platform::new("linux", "amd64", Some("")).variant, None);
        assert_eq!(
            Platform::new("linux", "arm64", None).to_string(),
            "linux/arm64"
        );
    }

    #[test]
    fn matching_table() {
        let cases = [
            ("linux/arm64", "linux/arm64/v8", true),
            ("linux/arm", "linux/arm/v7", true),
            ("linux/arm/v6", "linux/arm/v7", false),
            ("linux/amd64", "linux/arm64", false),
            ("linux/x86_64", "linux/amd64", true),
            ("linux/amd64", "windows/amd64", false),
            ("linux/armhf", "linux/arm/v7", true),
            ("linux/amd64/v2", "linux/amd64", false),
        ];
        for (a, b, want) in cases {
            assert_eq!(p(a).matches(&p(b)), want, "{a} vs {b}");
            assert_eq!(p(b).matches(&p(a)), want, "{b} vs {a}");
        }
        // Fields set by hand are normalized for the comparison.
        let raw = Platform {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: Some("v8".into()),
        };
        assert!(raw.matches(&p("linux/arm64")));
    }

    #[test]
    fn parse_errors() {
        let form = |t: &str| PlatformError::Form {
            text: t.to_string(),
        };
        let cases = [
            ("linux", form("linux")),
            ("", form("")),
            ("linux/", form("linux/")),
            ("/amd64", form("/amd64")),
            ("linux//v7", form("linux//v7")),
            ("linux/amd64/", form("linux/amd64/")),
            ("linux/arm/v7/extra", form("linux/arm/v7/extra")),
            (
                "linux/am d64",
                PlatformError::Characters {
                    text: "linux/am d64".into(),
                    part: "architecture",
                    value: "am d64".into(),
                },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(input.parse::<Platform>(), Err(want), "parsing {input:?}");
        }
        let err = "linux".parse::<Platform>().expect_err("error");
        assert_eq!(
            err.to_string(),
            "invalid platform `linux`: expected `os/arch[/variant]` such as `linux/amd64` or `linux/arm64/v8`"
        );
        let err = "linux/arm/v$".parse::<Platform>().expect_err("error");
        assert_eq!(
            err.to_string(),
            "invalid platform `linux/arm/v$`: the variant `v$` may only contain letters, digits, `_`, `-` and `.`; \
             expected `os/arch[/variant]` such as `linux/amd64` or `linux/arm64/v8`"
        );
    }

    #[test]
    fn parse_trims() {
        assert_eq!(p("  linux/amd64 ").to_string(), "linux/amd64");
    }

    #[test]
    fn list_parser() {
        let show = |v: Vec<Platform>| v.iter().map(Platform::to_string).collect::<Vec<_>>();
        assert_eq!(
            show(parse_list("linux/amd64, linux/arm64").expect("list")),
            ["linux/amd64", "linux/arm64"]
        );
        assert_eq!(
            show(
                parse_list(" linux/arm64/v8 ,,linux/amd64, linux/arm64 , linux/x86_64,")
                    .expect("list")
            ),
            ["linux/arm64", "linux/amd64"]
        );
        assert_eq!(
            show(parse_list("linux/arm,linux/arm/v7,linux/arm/v6").expect("list")),
            ["linux/arm/v7", "linux/arm/v6"]
        );
        assert_eq!(parse_list(""), Err(PlatformError::EmptyList));
        assert_eq!(parse_list(" , ,"), Err(PlatformError::EmptyList));
        assert_eq!(
            parse_list("linux/amd64,linux,arm64"),
            Err(PlatformError::Form {
                text: "linux".into()
            })
        );
        assert!(PlatformError::EmptyList
            .to_string()
            .starts_with("no platform given"));
    }

    #[test]
    fn from_descriptor_json_cases() {
        let cases = [
            (
                json!({"os": "linux", "architecture": "amd64"}),
                Some("linux/amd64"),
            ),
            (
                json!({"os": "linux", "architecture": "arm64", "variant": "v8"}),
                Some("linux/arm64"),
            ),
            (
                json!({"os": "linux", "architecture": "arm", "variant": "v6"}),
                Some("linux/arm/v6"),
            ),
            (
                json!({"os": "linux", "architecture": "arm"}),
                Some("linux/arm/v7"),
            ),
            (
                json!({"os": "linux", "architecture": "amd64", "variant": null}),
                Some("linux/amd64"),
            ),
            (
                json!({"os": "linux", "architecture": "amd64", "variant": ""}),
                Some("linux/amd64"),
            ),
            (
                json!({"os": "windows", "architecture": "amd64", "os.version": "10.0.17763.1"}),
                Some("windows/amd64"),
            ),
            (
                json!({"os": "unknown", "architecture": "unknown"}),
                Some("unknown/unknown"),
            ),
            (json!({"os": "linux"}), None),
            (json!({"architecture": "amd64"}), None),
            (json!({"os": "", "architecture": "amd64"}), None),
            (json!({"os": "linux", "architecture": 64}), None),
            (
                json!({"os": "linux", "architecture": "arm", "variant": 7}),
                None,
            ),
            (json!("linux/amd64"), None),
            (json!(null), None),
        ];
        for (v, want) in cases {
            let got = Platform::from_descriptor_json(&v).map(|p| p.to_string());
            assert_eq!(got.as_deref(), want, "from {v}");
        }
    }

    #[test]
    fn unknown() {
        assert!(p("unknown/unknown").is_unknown());
        assert!(!p("linux/unknown").is_unknown());
        assert!(!p("linux/amd64").is_unknown());
    }

    #[test]
    fn serializes_as_text() {
        let v = serde_json::to_value(vec![p("linux/arm/v7"), p("linux/amd64")]).expect("json");
        assert_eq!(v, json!(["linux/arm/v7", "linux/amd64"]));
    }
}
