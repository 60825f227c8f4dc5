//! Reading TOML input files so that every problem can be pinned to a line and column, and
//! the small value syntaxes they share (durations, sizes, `${VAR}` interpolation).

mod spans;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::error::{Error, InputIssue, Result};
use spans::SpanIndex;

/// The text of one input file, kept so that later (semantic) errors can still be located.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
    /// Built on the first located issue, then shared: one parse however many problems.
    spans: OnceLock<Arc<SpanIndex>>,
}

impl SourceFile {
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::input(InputIssue::new(path, "", format!("cannot read file: {e}")))
        })?;
        Ok(SourceFile::new(path, text))
    }

    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        SourceFile {
            path: path.into(),
            text: text.into(),
            spans: OnceLock::new(),
        }
    }

    fn spans(&self) -> &SpanIndex {
        self.spans
            .get_or_init(|| Arc::new(SpanIndex::build(&self.text)))
    }

    /// Deserializes the whole file; syntax errors and unknown or mistyped fields come back
    /// located.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T> {
        toml::from_str(&self.text).map_err(|e| Error::input(self.toml_issue(&e)))
    }

    pub fn parse_table(&self) -> Result<toml::Table> {
        self.parse()
    }

    pub fn toml_issue(&self, e: &toml::de::Error) -> InputIssue {
        let position = e.span().map(|s| self.spans().line_col(&self.text, s.start));
        let field = e
            .span()
            .and_then(|_| self.document())
            .zip(e.span())
            .and_then(|(root, span)| field_at(&root, span.start))
            .unwrap_or_default()
            .replace(".[", "[");
        InputIssue::new(&self.path, field, e.message().trim().to_string()).at(position)
    }

    fn document(&self) -> Option<Spanned<DeValue<'_>>> {
        let table = DeTable::parse(&self.text).ok()?;
        let span = table.span();
        Some(Spanned::new(span, DeValue::Table(table.into_inner())))
    }

    /// An issue about `field` (dotted path, `[i]` for array items), located if the field is
    /// present in the file.
    pub fn issue(&self, field: &str, message: impl Into<String>) -> InputIssue {
        InputIssue::new(&self.path, field, message).at(self.position(field))
    }

    pub fn position(&self, field: &str) -> Option<(usize, usize)> {
        let spans = self.spans();
        spans
            .offset(field)
            .map(|offset| spans.line_col(&self.text, offset))
    }

    /// Resolves a path written in this file relative to the file's folder.
    pub fn resolve(&self, relative: &str) -> PathBuf {
        let p = Path::new(relative);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir().join(p)
        }
    }

    pub fn dir(&self) -> PathBuf {
        self.path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."))
    }
}

/// The dotted path of the innermost key whose value contains `offset`. Tables opened with a
/// `[header]` span only their header, so every child is searched, deepest match first.
fn field_at(value: &Spanned<DeValue<'_>>, offset: usize) -> Option<String> {
    let children: Vec<(String, &Spanned<DeValue<'_>>)> = match value.get_ref() {
        DeValue::Table(t) => t
            .iter()
            .map(|(k, v)| (k.get_ref().to_string(), v))
            .collect(),
        DeValue::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("[{i}]"), v))
            .collect(),
        _ => return None,
    };
    for (key, child) in &children {
        if let Some(inner) = field_at(child, offset) {
            let sep = if inner.starts_with('[') { "" } else { "." };
            return Some(format!("{key}{sep}{inner}"));
        }
    }
    children
        .into_iter()
        .find(|(_, child)| child.span().contains(&offset))
        .map(|(key, _)| key)
}

/// The longest duration any field or flag accepts: far beyond any sensible run, and far below
/// what would overflow a clock (`Instant + Duration`) anywhere in the harness.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// Parses "250ms", "20s", "2m", "1h", "7d" (also "1.5s").
pub fn parse_duration(text: &str) -> Option<Duration> {
    duration(text).ok()
}

/// Like [`parse_duration`], saying what is wrong: not a duration, or too long.
pub fn duration(text: &str) -> std::result::Result<Duration, String> {
    let bad = || format!("`{text}` is not a duration; write e.g. \"500ms\", \"20s\" or \"2m\"");
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).ok_or_else(bad)?;
    let (num, unit) = t.split_at(split);
    let value: f64 = num.trim().parse().map_err(|_| bad())?;
    if !value.is_finite() || value < 0.0 {
        return Err(bad());
    }
    let secs = match unit {
        "us" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86400.0,
        _ => return Err(bad()),
    };
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if d <= MAX_DURATION => Ok(d),
        _ => Err(format!(
            "`{text}` is longer than the longest duration tunebench accepts, 365 days (\"8760h\")"
        )),
    }
}

/// Expands `${VAR}` and `${VAR:-default}` from the process environment.
pub fn interpolate(text: &str) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        // Errors give the position, never the text: the value may hold a password.
        let column = text[..text.len() - rest.len() + start].chars().count() + 1;
        let end = after.find('}').ok_or_else(|| {
            format!("unterminated `${{` at character {column} of the value; close it with `}}`, e.g. ${{NAME}} or ${{NAME:-default}}")
        })?;
        let expr = &after[..end];
        let (name, default) = match expr.find(":-") {
            Some(i) => (&expr[..i], Some(&expr[i + 2..])),
            None => (expr, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "the `${{...}}` at character {column} of the value is not a variable reference; use ${{NAME}} or ${{NAME:-default}} (NAME: letters, digits, _)"
            ));
        }
        match std::env::var(name).ok().filter(|v| !v.is_empty()) {
            Some(v) => out.push_str(&v),
            None => match default {
                Some(d) => out.push_str(d),
                None => {
                    return Err(format!(
                        "environment variable {name} is not set and `${{{expr}}}` has no default (write ${{{name}:-default}})"
                    ));
                }
            },
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses `64MiB`, `16MB`, `512KiB`, `100` (bytes).
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let n: u64 = t[..split].parse().ok()?;
    let mult: u64 = match t[split..].trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::parse_size("64MiB"), Some(64 << 20));
        assert_eq!(super::parse_size("1MB"), Some(1_000_000));
        assert_eq!(super::parse_size("100"), Some(100));
        assert_eq!(super::parse_size("12 KiB"), Some(12 << 10));
        assert_eq!(super::parse_size("lots"), None);
        assert_eq!(super::parse_size("5XB"), None);
    }

    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("250ms"),
            Some(std::time::Duration::from_millis(250))
        );
        assert_eq!(
            parse_duration("2m"),
            Some(std::time::Duration::from_secs(120))
        );
        assert_eq!(
            parse_duration("1.5s"),
            Some(std::time::Duration::from_millis(1500))
        );
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("5 parsecs"), None);
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("8760h"), Some(MAX_DURATION));
        for huge in ["99999999999999999999s", "8761h", "1e300s", "inf s"] {
            assert_eq!(parse_duration(huge), None, "{huge}");
        }
        assert!(
            duration("99999999999999999999s")
                .unwrap_err()
                .contains("365 days")
        );
    }

    #[test]
    fn interpolation() {
        assert_eq!(
            interpolate("a${TUNEBENCH_SURELY_UNSET_X:-b}c").unwrap(),
            "abc"
        );
        assert!(interpolate("${TUNEBENCH_SURELY_UNSET_X}").is_err());
        let e = interpolate("postgres://u:s3cr3t@h/${oops").unwrap_err();
        assert!(e.contains("character 23") && !e.contains("s3cr3t"), "{e}");
        let e = interpolate("p@ss${not valid}").unwrap_err();
        assert!(e.contains("character 5") && !e.contains("p@ss"), "{e}");
        assert_eq!(interpolate("plain").unwrap(), "plain");
    }

    #[test]
    fn positions_of_nested_fields() {
        let f = SourceFile::new(
            "x.toml",
            "name = \"a\"\n[load]\nconcurrency = 0\n[[workload]]\nname = \"w\"\n[[workload]]\nname = \"v\"\n",
        );
        assert_eq!(f.position("load.concurrency"), Some((3, 15)));
        assert_eq!(f.position("workload[1].name"), Some((7, 8)));
        assert_eq!(f.position("missing"), None);
    }
}
