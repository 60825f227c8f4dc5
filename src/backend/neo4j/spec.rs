//! This store's part of the input files: its ops (workload files) and its profile format,
//! with the checks that need no server.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::backend::model::{OpDef, TargetKind, WorkloadDef, WorkloadFile};
use crate::dataset::{GraphParam, Param};
use crate::error::{Error, Result};
use crate::source::SourceFile;

/// A Cypher operation (neo4j workloads).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CypherOp {
    #[serde(default)]
    pub description: String,
    /// Cypher with `$name` parameters, each drawn by the generator or from the source of
    /// the same name in `params` (a source of several columns gives a map: `$row.id`).
    pub cypher: String,
    #[serde(default)]
    pub params: BTreeMap<String, Param<GraphParam>>,
    /// An index the query needs (e.g. a full-text index a profile creates). When it is not
    /// online, `fallback` runs instead, and the evidence says so.
    pub needs_index: Option<String>,
    pub fallback: Option<String>,
}

pub fn load_ops(src: &SourceFile) -> Result<WorkloadDef> {
    let mut file: WorkloadFile<CypherOp> = src.parse()?;
    let mut issues = Vec::new();
    for (name, op) in &mut file.ops {
        for (k, p) in op.params.iter_mut() {
            let at = format!("ops.{name}.params.{k}");
            if let Some(crate::dataset::SourceSpec::Sample { query, .. }) =
                p.source().map(|s| &s.spec)
            {
                if let Some(why) = cypher_not_read_only(query) {
                    issues.push(src.issue(
                        &format!("{at}.query"),
                        format!("{why}; a sample is read only"),
                    ));
                }
                if !cypher_params(query).is_empty() {
                    issues.push(src.issue(
                        &format!("{at}.query"),
                        "takes no $parameters: it runs once, before the clock starts",
                    ));
                }
            }
            if matches!(
                p.source().map(|s| &s.spec),
                Some(crate::dataset::SourceSpec::Vectors { .. })
            ) {
                issues.push(src.issue(
                    &at,
                    "from = \"vectors\" reads a PostgreSQL (pgvector) table; a Cypher op takes a file, range, list, time or sample source",
                ));
                continue;
            }
            crate::dataset::load_param(src, &at, p, &mut issues);
        }
    }
    for (name, op) in &file.ops {
        // `"cid,region" = { from = ..., columns = ["cid", "region"] }`: one row fills several.
        for (key, p) in &op.params {
            let names = param_names(key);
            if names.len() > 1 {
                let columns = p.source().map(|s| s.spec.arity());
                if columns != Some(names.len()) {
                    issues.push(src.issue(
                        &format!("ops.{name}.params.{key}"),
                        format!(
                            "names {} parameters, so it must be a source of as many values from one row (columns = [...], or a time window: from = \"time\" with width)",
                            names.len()
                        ),
                    ));
                }
            }
        }
        let declared: Vec<&str> = op.params.keys().flat_map(|k| param_names(k)).collect();
        if op.cypher.trim().is_empty() {
            issues.push(src.issue(&format!("ops.{name}.cypher"), "must not be empty"));
        }
        let mut texts = vec![("cypher", &op.cypher)];
        if let Some(f) = &op.fallback {
            texts.push(("fallback", f));
        }
        for (field, text) in texts {
            let used = cypher_params(text);
            for p in &used {
                if !declared.contains(&p.as_str()) {
                    issues.push(src.issue(
                        &format!("ops.{name}.{field}"),
                        format!(
                            "uses ${p} but params has no generator or source for it; add params.{p} = \"user_hot\" (generators: user_hot, user_cold, user_any, document_id, topic_hot, topic_any, entity_any, title_word) or a source, e.g. {{ from = \"file\", path = \"users.csv\", column = \"id\" }} (docs/parameters.md)"
                        ),
                    ));
                }
            }
            if field == "cypher" {
                for p in &declared {
                    if !used.contains(*p) {
                        issues.push(src.issue(
                            &format!("ops.{name}.params.{p}"),
                            format!("is not used by the Cypher (no ${p} in it)"),
                        ));
                    }
                }
            }
        }
        if op.needs_index.is_some() != op.fallback.is_some() {
            issues.push(src.issue(
                &format!("ops.{name}"),
                "needs_index and fallback go together: the fallback runs when the index is absent",
            ));
        }
    }
    if issues.is_empty() {
        Ok(WorkloadDef {
            store: TargetKind::Neo4j,
            description: file.description,
            ops: file
                .ops
                .into_iter()
                .map(|(k, v)| (k, OpDef::Cypher(v)))
                .collect(),
        })
    } else {
        Err(Error::Input(issues))
    }
}

/// Why a Cypher statement is not a plain read, if it is not, from its words (outside
/// strings, comments and `backtick` names; property keys, labels and dotted names are not
/// clauses). What the words cannot show (a procedure that writes) Neo4j's own query type
/// tells before anything runs (EXPLAIN reports `r` only for reads).
pub fn cypher_not_read_only(cypher: &str) -> Option<String> {
    const WRITES: &[&str] = &[
        "CREATE",
        "MERGE",
        "DELETE",
        "DETACH",
        "SET",
        "REMOVE",
        "FOREACH",
        "LOAD",
        "DROP",
        "ALTER",
        "GRANT",
        "DENY",
        "REVOKE",
        "RENAME",
        "TERMINATE",
        "START",
        "STOP",
    ];
    let chars: Vec<char> = cypher.chars().collect();
    let mut words: Vec<String> = Vec::new();
    let mut i = 0;
    let mut statements = 1;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '\'' | '"' | '`' => {
                i += 1;
                while i < chars.len() && chars[i] != c {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            '/' if next == Some('/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if next == Some('*') => {
                i += 2;
                while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                    i += 1;
                }
                i += 2;
            }
            ';' => {
                if chars[i + 1..].iter().any(|c| !c.is_whitespace()) {
                    statements += 1;
                }
                i += 1;
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let before = chars[..start].iter().rev().find(|c| !c.is_whitespace());
                let after = chars[i..].iter().find(|c| !c.is_whitespace());
                // n.set, apoc.create.node, :Set, {set: 1}, $set: not clauses.
                let named = matches!(before, Some('.' | ':' | '$')) || after == Some(&':');
                if !named {
                    words.push(
                        chars[start..i]
                            .iter()
                            .collect::<String>()
                            .to_ascii_uppercase(),
                    );
                }
            }
            _ => i += 1,
        }
    }
    if words.is_empty() {
        return Some("is empty".into());
    }
    if statements > 1 {
        return Some("holds more than one statement".into());
    }
    if let Some(w) = words.iter().find(|w| WRITES.contains(&w.as_str())) {
        return Some(format!("writes or changes the schema ({w})"));
    }
    if words
        .windows(2)
        .any(|w| w[0] == "IN" && w[1] == "TRANSACTIONS")
    {
        return Some("runs in transactions of its own (CALL { ... } IN TRANSACTIONS)".into());
    }
    None
}

/// What is wrong with a Cypher workload on data tunebench did not create (no dataset):
/// tunebench's generators need its graph, and only reads run.
pub fn foreign_problems(w: &crate::backend::model::WorkloadProbe<'_>) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    if !w.foreign {
        return problems;
    }
    for (j, op) in w.ops.iter().enumerate() {
        let OpDef::Cypher(c) = op else { continue };
        let at = format!("ops[{j}].op");
        let name = w.op_names.get(j).copied().unwrap_or_default();
        if let Some((p, g)) = c
            .params
            .iter()
            .find_map(|(k, p)| p.generator().map(|g| (k, g)))
        {
            problems.push((at.clone(), format!(
                "op `{name}` draws ${p} from tunebench's graph ({g:?}), but the workload names no dataset: declare its source instead ({{ from = \"file\" | \"range\" | \"list\" | \"sample\", ... }}, docs/parameters.md)"
            )));
        }
        for text in std::iter::once(&c.cypher).chain(&c.fallback) {
            if let Some(why) = cypher_not_read_only(text) {
                problems.push((at.clone(), format!(
                    "op `{name}` {why}; the workload names no dataset, so it runs on data tunebench did not create, which it only reads"
                )));
            }
        }
    }
    problems
}

pub use crate::dataset::param_names;

/// The `$name` parameters of a Cypher text (outside string literals).
pub fn cypher_params(cypher: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let mut quote: Option<char> = None;
    for (i, c) in cypher.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '$' => {
                let rest = &cypher[i + 1..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
            None => {}
        }
    }
    out
}

/// A Neo4j tuning profile: neo4j.conf settings, the heap, and schema (indexes and
/// constraints) that the profile creates and revert drops again.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeoProfile {
    pub store: TargetKind,
    #[serde(default)]
    pub description: String,
    /// neo4j.conf settings, e.g. "server.memory.pagecache.size" = "512m". The value
    /// "fit_store" sizes the setting to the store on disk plus 20 % headroom.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// JVM heap (jvm.conf `heap=`), e.g. "1g".
    pub heap: Option<String>,
    #[serde(default)]
    pub schema: Vec<NeoSchemaDef>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeoSchemaDef {
    /// Must start with `tunebench_`: revert drops exactly the indexes and constraints of
    /// these names that this profile created.
    pub name: String,
    /// `CREATE INDEX|FULLTEXT INDEX|TEXT INDEX|CONSTRAINT name ...` naming `name`.
    pub up: String,
}

impl NeoSchemaDef {
    pub fn is_constraint(&self) -> bool {
        self.up.to_ascii_uppercase().contains("CONSTRAINT")
    }

    /// The labels and relationship types the statement indexes (its `FOR (n:A|B)` or
    /// `FOR ()-[r:T]-()` pattern).
    pub fn targets(&self) -> Vec<String> {
        let upper = self.up.to_ascii_uppercase();
        let Some(at) = upper.find(" FOR ") else {
            return Vec::new();
        };
        let rest = &self.up[at + 5..];
        let upper_rest = &upper[at + 5..];
        let end = [" ON ", " REQUIRE ", " OPTIONS "]
            .iter()
            .filter_map(|k| upper_rest.find(k))
            .min()
            .unwrap_or(rest.len());
        let pattern: Vec<char> = rest[..end].chars().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < pattern.len() {
            if pattern[i] == ':' || pattern[i] == '|' {
                i += 1;
                while i < pattern.len() && pattern[i].is_whitespace() {
                    i += 1;
                }
                let name: String = if pattern.get(i) == Some(&'`') {
                    i += 1;
                    let start = i;
                    while i < pattern.len() && pattern[i] != '`' {
                        i += 1;
                    }
                    pattern[start..i.min(pattern.len())].iter().collect()
                } else {
                    let start = i;
                    while i < pattern.len() && (pattern[i].is_alphanumeric() || pattern[i] == '_') {
                        i += 1;
                    }
                    pattern[start..i].iter().collect()
                };
                if !name.is_empty() {
                    out.push(name);
                }
            } else {
                i += 1;
            }
        }
        out
    }
}

/// A JVM / Neo4j memory size: digits and an optional k, m or g.
pub fn is_memory_size(v: &str) -> bool {
    let digits = v.trim_end_matches(['k', 'm', 'g', 'K', 'M', 'G']);
    !digits.is_empty() && digits.len() + 1 >= v.len() && digits.chars().all(|c| c.is_ascii_digit())
}

pub fn load_profile(path: &Path) -> Result<NeoProfile> {
    let src = SourceFile::read(path)?;
    let profile: NeoProfile = src.parse()?;
    let mut issues = Vec::new();
    if profile.store != TargetKind::Neo4j {
        issues.push(src.issue("store", "must be \"neo4j\" for a neo4j target"));
    }
    for (name, v) in &profile.settings {
        if !name.contains('.')
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            issues.push(src.issue(
                &format!("settings.{name}"),
                "is not a Neo4j setting name (e.g. server.memory.pagecache.size)",
            ));
        }
        if v.trim().is_empty() || v.contains(['\n', '\r', '=']) {
            issues.push(src.issue(
                &format!("settings.{name}"),
                "must be one value on one line, e.g. \"512m\" or \"fit_store\"",
            ));
        }
    }
    if let Some(h) = &profile.heap
        && !is_memory_size(h)
    {
        issues.push(src.issue(
            "heap",
            format!("`{h}` is not a heap size; write digits and k, m or g, e.g. \"1g\""),
        ));
    }
    for (i, d) in profile.schema.iter().enumerate() {
        if !d.name.starts_with("tunebench_")
            || !d
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            issues.push(src.issue(
                &format!("schema[{i}].name"),
                format!("`{}`: names must start with tunebench_ and use letters, digits and _ only, so tunebench only ever drops its own", d.name),
            ));
        }
        let up = d.up.to_ascii_uppercase();
        let words: Vec<&str> = d.up.split_whitespace().collect();
        if !up.trim_start().starts_with("CREATE")
            || !(up.contains("INDEX") || up.contains("CONSTRAINT"))
            || !words.contains(&d.name.as_str())
            || up.contains("IF NOT EXISTS")
        {
            issues.push(src.issue(
                &format!("schema[{i}].up"),
                format!(
                    "must be a CREATE ... INDEX or CREATE CONSTRAINT statement that creates `{}` (without IF NOT EXISTS: tunebench checks existence itself)",
                    d.name
                ),
            ));
        }
    }
    if issues.is_empty() {
        Ok(profile)
    } else {
        Err(Error::Input(issues))
    }
}

/// A neo4j target's own options.
#[derive(Debug, Clone)]
pub struct NeoTarget {
    /// The user name (not a secret).
    pub user: String,
    /// Never serialized or logged.
    pub password: String,
    /// The folder of neo4j.conf / jvm.conf, which memory profiles edit (see
    /// `scripts/stack.d/neo4j.sh`).
    pub config_dir: Option<std::path::PathBuf>,
}

/// The fields a neo4j target takes beside kind, url, pool and restart_command.
pub const TARGET_FIELDS: &[&str] = &["user", "password", "config_dir"];

pub fn target_options(f: &mut crate::backend::model::TargetFields<'_>) -> NeoTarget {
    let user = f.text("user");
    let password = f.secret("password");
    if user.is_none() || password.is_none() {
        f.problem(
            None,
            "a neo4j target needs user and password, e.g. user = \"${TUNEBENCH_NEO4J_USER:-neo4j}\", password = \"${TUNEBENCH_NEO4J_PASSWORD:-tunebench}\"",
        );
    }
    NeoTarget {
        user: user.unwrap_or_default(),
        password: password.unwrap_or_default(),
        config_dir: f.path("config_dir"),
    }
}

/// What can be told about a profile for `target` (whose own options are `options`) without
/// a server.
pub fn profile_problems(
    target: &crate::backend::model::Target,
    options: &NeoTarget,
    profile: &NeoProfile,
) -> Vec<String> {
    let mut out = Vec::new();
    // Labels of tunebench's own graph start with Tunebench; any other label or relationship
    // type is the user's.
    for d in &profile.schema {
        let targets = d.targets();
        let foreign: Vec<&String> = targets
            .iter()
            .filter(|t| !t.starts_with("Tunebench"))
            .collect();
        if targets.is_empty() {
            out.push(format!(
                "schema {}: names no label to index; write FOR (n:Label) ...",
                d.name
            ));
        } else if foreign.is_empty() {
            // Tunebench's own labels.
        } else if d.is_constraint() {
            out.push(format!(
                "schema {} is a constraint on {}, which tunebench did not create; a constraint changes what the application may write, so only indexes go on labels tunebench did not create",
                d.name,
                foreign.iter().map(|f| format!(":{f}")).collect::<Vec<_>>().join(", ")
            ));
        } else if !target.allow_foreign_indexes {
            out.push(format!(
                "schema {} indexes {}, which tunebench did not create; it builds (online) and drops indexes there only when the scenario says allow_foreign_indexes = true on targets.{}",
                d.name,
                foreign.iter().map(|f| format!(":{f}")).collect::<Vec<_>>().join(", "),
                target.name
            ));
        }
    }
    let memory = !profile.settings.is_empty() || profile.heap.is_some();
    if memory && (options.config_dir.is_none() || target.restart_command.is_none()) {
        out.push(format!(
            "changes memory settings, which Neo4j reads at start: targets.{} needs config_dir (the folder of neo4j.conf, e.g. \"${{TUNEBENCH_CACHE:-../.cache}}/neo4j\") and restart_command (e.g. \"../scripts/stack restart neo4j\")",
            target.name
        ));
    }
    out
}

/// What a target URL must look like, and whether `url` does (checked without connecting).
pub const URL_EXPECTED: &str =
    "a Neo4j Bolt URL; expected bolt://HOST:PORT (user and password are separate fields)";

pub fn url_fits(url: &str) -> bool {
    [
        "bolt://",
        "bolt+s://",
        "bolt+ssc://",
        "neo4j://",
        "neo4j+s://",
        "neo4j+ssc://",
    ]
    .iter()
    .any(|s| url.starts_with(s))
}

#[cfg(test)]
mod tests {
    #[test]
    fn cypher_parameters_outside_strings() {
        let p = super::cypher_params("MATCH (u {h: $handle}) WHERE u.x = '$no' RETURN $b_2");
        assert_eq!(p.into_iter().collect::<Vec<_>>(), vec!["b_2", "handle"]);
    }
}

#[cfg(test)]
mod read_only_tests {
    use super::{NeoSchemaDef, cypher_not_read_only};

    #[test]
    fn schema_names_what_it_indexes() {
        for (up, want) in [
            (
                "CREATE RANGE INDEX tunebench_a FOR (c:Customer) ON (c.cid)",
                vec!["Customer"],
            ),
            (
                "CREATE FULLTEXT INDEX tunebench_b FOR (d:TunebenchDocument|`Old Doc`) ON EACH [d.title]",
                vec!["TunebenchDocument", "Old Doc"],
            ),
            (
                "CREATE INDEX tunebench_c FOR ()-[r:BOUGHT]-() ON (r.qty)",
                vec!["BOUGHT"],
            ),
            (
                "CREATE CONSTRAINT tunebench_d FOR (u:TunebenchUser) REQUIRE u.handle IS UNIQUE",
                vec!["TunebenchUser"],
            ),
            ("CREATE INDEX tunebench_e", vec![]),
        ] {
            let d = NeoSchemaDef {
                name: "x".into(),
                up: up.into(),
            };
            assert_eq!(d.targets(), want, "{up}");
        }
    }

    #[test]
    fn reads_pass_and_write_clauses_do_not() {
        for ok in [
            "MATCH (c:Customer {cid: $c.cid}) RETURN c.set, c.create",
            "MATCH (n:Set) WHERE n.name = 'CREATE (x)' RETURN {delete: 1} // MERGE",
            "CALL apoc.create.node(['X'], {}) YIELD node RETURN node",
            "MATCH (n) /* SET n.a = 1 */ RETURN count(n);",
        ] {
            assert_eq!(cypher_not_read_only(ok), None, "{ok}");
        }
        for (bad, why) in [
            ("MATCH (n) SET n.seen = true", "(SET)"),
            ("merge (n:A {id: 1})", "(MERGE)"),
            ("MATCH (n) DETACH DELETE n", "(DETACH)"),
            ("LOAD CSV FROM 'file:///x' AS row RETURN row", "(LOAD)"),
            (
                "MATCH (n) CALL { WITH n RETURN n.x AS x } IN TRANSACTIONS RETURN x",
                "IN TRANSACTIONS",
            ),
            (
                "MATCH (n) RETURN n; MATCH (m) RETURN m",
                "more than one statement",
            ),
            ("// nothing", "is empty"),
        ] {
            let got = cypher_not_read_only(bad).unwrap_or_default();
            assert!(got.contains(why), "{bad}: {got}");
        }
    }
}
