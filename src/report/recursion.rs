//! Tera has no depth limit: a template that includes or imports itself, or a macro that calls
//! itself, recurses until the stack overflows and the process aborts. A report template is
//! one file, so such recursion is refused before rendering, with a message naming the file.

use std::collections::{BTreeMap, BTreeSet};

/// Why the template `name` (its text `text`) would recurse without end, if it would.
pub fn problem(name: &str, text: &str) -> Option<String> {
    let base = std::path::Path::new(name)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned());
    for tag in tags(text) {
        let mut words = tag.split_whitespace();
        let Some(kw @ ("include" | "import" | "extends")) = words.next() else {
            continue;
        };
        for target in quoted(&tag) {
            if target == name || Some(target.as_str()) == base.as_deref() {
                return Some(format!(
                    "`{{% {kw} \"{target}\" %}}` names this template itself, which would recurse without end; a report template is one file: inline the part or use a macro"
                ));
            }
        }
    }
    macro_cycle(text).map(|m| {
        format!(
            "macro `{m}` calls itself (directly or through other macros); recursion has no depth limit in a report template, so it is refused: unroll it"
        )
    })
}

/// The inner text of every `{% ... %}` tag.
fn tags(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("{%") {
        let after = &rest[i + 2..];
        let Some(end) = after.find("%}") else { break };
        out.push(
            after[..end]
                .trim_matches(|c: char| c == '-' || c.is_whitespace())
                .to_string(),
        );
        rest = &after[end + 2..];
    }
    out
}

fn quoted(tag: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = tag.chars();
    while let Some(c) = chars.next() {
        if c == '"' || c == '\'' {
            out.push(chars.by_ref().take_while(|&d| d != c).collect());
        }
    }
    out
}

/// A macro that reaches itself through `self::NAME(` calls, if any.
fn macro_cycle(text: &str) -> Option<String> {
    let mut calls: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut rest = text;
    while let Some(i) = rest.find("macro ") {
        let after = &rest[i + 6..];
        let name: String = after
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let end = after.find("endmacro").unwrap_or(after.len());
        let body = &after[..end];
        let mut called = BTreeSet::new();
        let mut b = body;
        while let Some(j) = b.find("self::") {
            let callee: String = b[j + 6..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            called.insert(callee);
            b = &b[j + 6..];
        }
        if !name.is_empty() {
            calls.entry(name).or_default().extend(called);
        }
        rest = &after[end..];
    }
    calls.keys().find(|m| reaches(&calls, m, m)).cloned()
}

fn reaches(calls: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<&str> = vec![from];
    while let Some(m) = stack.pop() {
        for c in calls.get(m).into_iter().flatten() {
            if c == to {
                return true;
            }
            if seen.insert(c.as_str()) {
                stack.push(c);
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::problem;

    #[test]
    fn self_inclusion_and_macro_cycles_are_found() {
        let name = "reports/mine.md.tera";
        assert!(problem(name, "{% include \"reports/mine.md.tera\" %}").is_some());
        assert!(problem(name, "{%- include 'mine.md.tera' -%}").is_some());
        assert!(problem(name, "{% import \"mine.md.tera\" as m %}{{ m::f() }}").is_some());
        let cycle = "{% macro a(n) %}{{ self::b(n=n) }}{% endmacro a %}{% macro b(n) %}{{ self::a(n=n) }}{% endmacro b %}";
        assert!(problem(name, cycle).unwrap().contains("macro `a`"));
        let fine = "{% macro a() %}x{% endmacro %}{% macro b() %}{{ self::a() }}{% endmacro %}{{ r.name }}";
        assert_eq!(problem(name, fine), None);
        assert_eq!(problem(name, "{% include \"other.tera\" %}"), None);
    }
}
