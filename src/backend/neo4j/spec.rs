//! This store's part of the input files: its ops (workload files) and its profile format,
//! with the checks that need no server.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::backend::model::{OpDef, TargetKind, WorkloadDef, WorkloadFile};
use crate::dataset::GraphParam;
use crate::error::{Error, Result};
use crate::source::SourceFile;

/// A Cypher operation (neo4j workloads).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CypherOp {
    #[serde(default)]
    pub description: String,
    /// Cypher with `$name` parameters, each drawn by the generator of the same name in
    /// `params`.
    pub cypher: String,
    #[serde(default)]
    pub params: BTreeMap<String, GraphParam>,
    /// An index the query needs (e.g. a full-text index a profile creates). When it is not
    /// online, `fallback` runs instead, and the evidence says so.
    pub needs_index: Option<String>,
    pub fallback: Option<String>,
}

pub fn load_ops(src: &SourceFile) -> Result<WorkloadDef> {
    let file: WorkloadFile<CypherOp> = src.parse()?;
    let mut issues = Vec::new();
    for (name, op) in &file.ops {
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
                if !op.params.contains_key(p) {
                    issues.push(src.issue(
                        &format!("ops.{name}.{field}"),
                        format!(
                            "uses ${p} but params has no generator for it; add params.{p} = \"user_hot\" (valid: user_hot, user_cold, user_any, document_id, topic_hot, topic_any, entity_any, title_word)"
                        ),
                    ));
                }
            }
            if field == "cypher" {
                for p in op.params.keys() {
                    if !used.contains(p) {
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
    let memory = !profile.settings.is_empty() || profile.heap.is_some();
    if memory && (options.config_dir.is_none() || target.restart_command.is_none()) {
        return vec![format!(
            "changes memory settings, which Neo4j reads at start: targets.{} needs config_dir (the folder of neo4j.conf, e.g. \"${{TUNEBENCH_CACHE:-../.cache}}/neo4j\") and restart_command (e.g. \"../scripts/stack restart neo4j\")",
            target.name
        )];
    }
    Vec::new()
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
