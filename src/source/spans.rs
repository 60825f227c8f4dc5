//! Where every field of a TOML file starts, computed once per file: locating N problems costs
//! one parse, not N (a file with 10,000 bad criteria once took 35 s to validate).

use std::collections::HashMap;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// Byte offsets of every value in a file, by dotted path (`load.concurrency`,
/// `workload[1].ops[0].op`), and the start of every line.
#[derive(Debug, Clone, Default)]
pub struct SpanIndex {
    fields: HashMap<String, usize>,
    line_starts: Vec<usize>,
}

impl SpanIndex {
    pub fn build(text: &str) -> Self {
        let mut fields = HashMap::new();
        if let Ok(table) = DeTable::parse(text) {
            let span = table.span();
            let root = Spanned::new(span, DeValue::Table(table.into_inner()));
            collect(&root, &mut String::new(), &mut fields);
        }
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SpanIndex {
            fields,
            line_starts,
        }
    }

    /// Offset of `field`, or of the deepest enclosing field that the file has.
    pub fn offset(&self, field: &str) -> Option<usize> {
        let mut path = String::new();
        let mut best = None;
        for part in split_path(field) {
            match part {
                PathPart::Key(k) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(k);
                }
                PathPart::Index(i) => path.push_str(&format!("[{i}]")),
            }
            if let Some(&o) = self.fields.get(&path) {
                best = Some(o);
            }
        }
        best
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, text: &str, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(text, offset.min(text.len()));
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        (line, text[start..offset].chars().count() + 1)
    }
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn collect(value: &Spanned<DeValue<'_>>, path: &mut String, out: &mut HashMap<String, usize>) {
    let len = path.len();
    match value.get_ref() {
        DeValue::Table(t) => {
            for (k, v) in t.iter() {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k.get_ref());
                out.insert(path.clone(), v.span().start);
                collect(v, path, out);
                path.truncate(len);
            }
        }
        DeValue::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                path.push_str(&format!("[{i}]"));
                out.insert(path.clone(), v.span().start);
                collect(v, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

pub(super) enum PathPart<'a> {
    Key(&'a str),
    Index(usize),
}

pub(super) fn split_path(field: &str) -> Vec<PathPart<'_>> {
    let mut parts = Vec::new();
    for segment in field.split('.').filter(|s| !s.is_empty()) {
        let (key, rest) = match segment.find('[') {
            Some(i) => (&segment[..i], &segment[i..]),
            None => (segment, ""),
        };
        if !key.is_empty() {
            parts.push(PathPart::Key(key));
        }
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                parts.push(PathPart::Index(i));
            }
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deepest_known_prefix_and_dotted_keys() {
        let text = "[settings]\n\"server.memory.size\" = \"1g\"\n[load]\nx = 1\n";
        let idx = SpanIndex::build(text);
        let at = |f: &str| idx.offset(f).map(|o| idx.line_col(text, o));
        assert_eq!(at("settings.server.memory.size"), Some((2, 24)));
        assert_eq!(at("load.nosuch"), Some((3, 1)));
        assert_eq!(at("nosuch.x"), None);
    }

    #[test]
    fn line_col_counts_characters_and_survives_odd_offsets() {
        let text = "a = \"é\"\nb = 1\n";
        let idx = SpanIndex::build(text);
        assert_eq!(idx.line_col(text, 0), (1, 1));
        assert_eq!(idx.line_col(text, 9), (2, 1));
        // Inside the two-byte é, and past the end: no panic.
        assert_eq!(idx.line_col(text, 6), (1, 6));
        assert_eq!(idx.line_col(text, 999), (3, 1));
    }
}
