//! Profile SQL may only touch what the profile names: an index `up` on a dataset's table
//! runs on the dataset's `tunebench_` schema (`ON {schema}.documents`); on a table tunebench
//! did not create (`table = "app.orders"`, only with the target's `allow_foreign_indexes`)
//! it names exactly that table (`ON app.orders`). Revert drops only the `tunebench_` index
//! it created; any other schema named in the statement would outlive it, so it is refused.

/// The schema qualifier `up` must use for `table`, and the bare table: `{schema}` for a
/// dataset's table, the schema written for a foreign one (`app.orders`).
pub fn split_table(table: &str) -> (&str, &str) {
    table.split_once('.').unwrap_or(("{schema}", table))
}

/// Why `up` (a `CREATE INDEX` on `table`, bare or `schema.table`) reaches outside what it
/// names, if it does.
pub fn foreign_reference(up: &str, table: &str) -> Option<String> {
    let (schema, bare) = split_table(table);
    let foreign = schema != "{schema}";
    let body = up.trim().trim_end_matches(';');
    if outside_quotes(body).any(|c| c == ';') {
        return Some("holds more than one statement; write a single CREATE INDEX".into());
    }
    let words: Vec<&str> = body.split_whitespace().collect();
    let on = words
        .iter()
        .position(|w| w.eq_ignore_ascii_case("on"))
        .map(|i| i + 1);
    let relation = on.and_then(|i| {
        let w = words.get(i)?;
        let w = if w.eq_ignore_ascii_case("only") {
            words.get(i + 1)?
        } else {
            w
        };
        Some(w.split('(').next().unwrap_or(w))
    });
    let wanted = [format!("{schema}.{bare}"), format!("{schema}.\"{bare}\"")];
    let whose = if foreign {
        format!("the table the index names in `table` ({table})")
    } else {
        "the dataset's schema".to_string()
    };
    match relation {
        Some(r) if wanted.iter().any(|w| w == r) => {}
        Some(r) => {
            return Some(if foreign {
                format!("creates its index ON {r}, not on {whose}; write ON {schema}.{bare}")
            } else {
                format!(
                    "creates its index ON {r}, outside the dataset's schema; write ON {{schema}}.{bare} (tunebench may only index tables in its own tunebench_ schema, or a table named `schema.table` on a target with allow_foreign_indexes = true)"
                )
            });
        }
        None => return Some(format!("has no ON clause; write ON {schema}.{bare}")),
    }
    qualified_names(body)
        .into_iter()
        .find(|q| q != schema)
        .map(|q| {
            format!("names `{q}.`, a schema other than {whose}; only {schema}. may qualify a name")
        })
}

/// Characters outside single-quoted literals.
fn outside_quotes(s: &str) -> impl Iterator<Item = char> + '_ {
    let mut quoted = false;
    s.chars().filter(move |&c| {
        if c == '\'' {
            quoted = !quoted;
        }
        !quoted && c != '\''
    })
}

/// Every `name` written as `name.something` (outside literals, numbers excluded).
fn qualified_names(s: &str) -> Vec<String> {
    let chars: Vec<char> = outside_quotes(s).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += 1;
            }
            i += 1;
        } else if c == '{' {
            while i < chars.len() && chars[i] != '}' {
                i += 1;
            }
            i += 1;
        } else if c.is_alphabetic() || c == '_' {
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
        } else {
            i += 1;
            continue;
        }
        let end = i.min(chars.len());
        if chars.get(end) == Some(&'.') {
            out.push(chars[start..end].iter().collect());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::foreign_reference;

    #[test]
    fn own_schema_passes_and_foreign_names_are_refused() {
        for (ok, table) in [
            (
                "CREATE INDEX tunebench_a ON {schema}.documents USING gin (tsv)",
                "documents",
            ),
            (
                "CREATE INDEX tunebench_a ON {schema}.items USING hnsw ((embedding::halfvec(384)) halfvec_cosine_ops) WITH (m = 16)",
                "items",
            ),
            (
                "create index tunebench_a on only {schema}.\"documents\" (a) where score > 0.5;",
                "documents",
            ),
            (
                "CREATE INDEX tunebench_a ON {schema}.documents(a) WHERE note <> 'x.y; z'",
                "documents",
            ),
        ] {
            assert_eq!(foreign_reference(ok, table), None, "{ok}");
        }
        for (bad, says) in [
            (
                "CREATE INDEX tunebench_x ON public.users (email)",
                "ON public.users",
            ),
            ("CREATE INDEX tunebench_x ON users (email)", "ON users"),
            (
                "CREATE INDEX tunebench_x ON {schema}.documents (a); DROP TABLE public.users",
                "more than one",
            ),
            (
                "CREATE INDEX tunebench_x ON {schema}.documents (a) WHERE id IN (SELECT id FROM public.users)",
                "`public.`",
            ),
            (
                "CREATE INDEX tunebench_x ON {schema}.documents (\"Other\".f(a))",
                "`\"Other\".`",
            ),
            ("CREATE INDEX tunebench_x", "no ON clause"),
        ] {
            let e = foreign_reference(bad, "documents").unwrap_or_default();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn a_foreign_table_is_named_exactly() {
        for ok in [
            "CREATE INDEX tunebench_c ON app.orders (customer_id)",
            "CREATE INDEX CONCURRENTLY tunebench_c ON app.orders (customer_id) WHERE status <> 'x.y'",
            "create index tunebench_c on only app.\"orders\" (lower(app.f(a)))",
        ] {
            assert_eq!(foreign_reference(ok, "app.orders"), None, "{ok}");
        }
        for (bad, says) in [
            (
                "CREATE INDEX tunebench_c ON app.customers (id)",
                "ON app.customers",
            ),
            (
                "CREATE INDEX tunebench_c ON {schema}.orders (id)",
                "ON {schema}.orders",
            ),
            (
                "CREATE INDEX tunebench_c ON orders (id)",
                "write ON app.orders",
            ),
            (
                "CREATE INDEX tunebench_c ON app.orders (id) WHERE id IN (SELECT id FROM public.users)",
                "`public.`",
            ),
            (
                "CREATE INDEX tunebench_c ON app.orders (id); DROP TABLE app.orders",
                "more than one",
            ),
        ] {
            let e = foreign_reference(bad, "app.orders").unwrap_or_default();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
