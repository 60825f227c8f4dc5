//! `--format html`: the rendered markdown as one self-contained page. Every image the
//! markdown links by a relative path (the charts) is read from beside the report and
//! embedded as a data: URI, so the page needs no other file and no network.

use std::path::Path;

use base64::Engine;
use pulldown_cmark::{CowStr, Event, Options, Parser, Tag};

use crate::error::{Error, InputIssue, Result};

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1200px;\
margin:2em auto;padding:0 1em;line-height:1.45;color:#1d1d1f}\
table{border-collapse:collapse;margin:1em 0;font-size:.9em}\
th,td{border:1px solid #c9c9c9;padding:.3em .6em}th{background:#f0f0f0}\
tr:nth-child(even) td{background:#fafafa}td{vertical-align:top}\
code{background:#f3f3f3;padding:0 .2em;border-radius:3px}\
img{max-width:100%;height:auto;border:1px solid #e3e3e3;margin:.3em 0}\
details{margin:.5em 0}summary{cursor:pointer}";

/// Converts `markdown` (a report written into `dir`) to a standalone HTML page.
/// `source` names the template, for errors about a link it holds.
pub fn page(markdown: &str, dir: &Path, title: &str, source: &str) -> Result<String> {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    let mut events = Vec::new();
    for event in Parser::new_ext(markdown, options) {
        events.push(match event {
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            }) => Event::Start(Tag::Image {
                link_type,
                dest_url: inline(&dest_url, dir, source)?.unwrap_or(dest_url),
                title,
                id,
            }),
            other => other,
        });
    }
    let mut body = String::new();
    pulldown_cmark::html::push_html(&mut body, events.into_iter());
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(title)
    ))
}

/// A data: URI for a relative image link; None for links left alone (absolute URLs,
/// other schemes, file types a browser would not show inline).
fn inline(url: &str, dir: &Path, source: &str) -> Result<Option<CowStr<'static>>> {
    if url.contains(':') || url.starts_with('/') || url.starts_with('#') {
        return Ok(None);
    }
    let lower = url.to_ascii_lowercase();
    let mime = match lower.rsplit('.').next() {
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        _ => return Ok(None),
    };
    let path = dir.join(url);
    let bytes = std::fs::read(&path).map_err(|e| {
        Error::input(InputIssue::new(
            source,
            "",
            format!(
                "the report links image `{url}`, which cannot be read from {} ({e}); \
                 a self-contained page needs every relative image to exist",
                dir.display()
            ),
        ))
    })?;
    let data = base64::engine::general_purpose::STANDARD.encode(bytes);
    Ok(Some(format!("data:{mime};base64,{data}").into()))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inlines_relative_images_and_renders_tables() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("charts")).unwrap();
        std::fs::write(dir.path().join("charts/a.svg"), "<svg/>").unwrap();
        let md = "# T & co\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n![chart](charts/a.svg) \
                  ![remote](https://example.org/x.svg)\n";
        let html = page(md, dir.path(), "T & co", "t.md.tera").unwrap();
        assert!(html.contains("<table>"), "{html}");
        assert!(html.contains("<td>2</td>"), "{html}");
        let uri = format!(
            "data:image/svg+xml;base64,{}",
            base64::engine::general_purpose::STANDARD.encode("<svg/>")
        );
        assert!(html.contains(&uri), "{html}");
        assert!(!html.contains("src=\"charts/a.svg\""), "{html}");
        assert!(html.contains("src=\"https://example.org/x.svg\""), "{html}");
        assert!(html.contains("<title>T &amp; co</title>"), "{html}");
    }

    #[test]
    fn a_missing_relative_image_is_an_input_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = page("![x](charts/none.svg)", dir.path(), "t", "my.md.tera").unwrap_err();
        let msg = err.to_string();
        assert_eq!(err.exit_code(), 2);
        assert!(
            msg.contains("my.md.tera") && msg.contains("charts/none.svg"),
            "{msg}"
        );
    }
}
