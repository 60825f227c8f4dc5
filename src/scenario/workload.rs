//! Reusable workload definitions (`workloads/*.toml`): the queries and how their parameters
//! are drawn from the dataset.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{SourceFile, TargetKind};
use crate::dataset::GraphParam;
use crate::error::{Error, Result};

/// A workload definition file: which store it is for and its named operations.
#[derive(Debug, Clone)]
pub struct WorkloadDef {
    pub store: TargetKind,
    pub description: String,
    pub ops: BTreeMap<String, OpDef>,
}

/// The file as written for one store; `ops` is typed per store.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkloadFile<Op> {
    #[allow(dead_code)]
    store: TargetKind,
    #[serde(default)]
    description: String,
    ops: BTreeMap<String, Op>,
}

#[derive(Debug, Deserialize)]
struct StoreOnly {
    store: TargetKind,
}

/// One operation, by store.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum OpDef {
    Sql(SqlOp),
    Cypher(CypherOp),
    Qdrant(QdrantOp),
}

/// A Qdrant search (qdrant workloads): a held-out query vector, optionally filtered on the
/// payload's category; recall@k is judged against the matching exact ground truth.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QdrantOp {
    #[serde(default)]
    pub description: String,
    /// query_vector, or query_vector_category50 / 10 / 1 for a filtered search.
    pub query: ParamGen,
    /// Results requested (top-k); 10 when unset.
    #[serde(default = "default_limit")]
    pub limit: u32,
}

fn default_limit() -> u32 {
    10
}

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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlOp {
    #[serde(default)]
    pub description: String,
    /// SQL with `$1..$n` bind parameters; `{schema}` is replaced with the dataset's schema.
    pub sql: String,
    /// One generator per group of parameters, in order (see [`ParamGen`]).
    #[serde(default)]
    pub params: Vec<ParamGen>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TermBand {
    Common,
    Medium,
    Rare,
}

/// How a parameter is drawn from the corpus, so selectivity is controlled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamGen {
    /// A word from a document-frequency band (text).
    TermCommon,
    TermMedium,
    TermRare,
    /// Two adjacent words of a random document, quoted for websearch_to_tsquery (text).
    Phrase,
    /// The first letters of a medium term with `:*`, for to_tsquery (text).
    Prefix,
    /// A fragment of a random document's title, for trigram similarity (text).
    TitleFragment,
    /// An existing author id (int8), drawn with the corpus's skew.
    AuthorId,
    /// An existing document id (int8), uniform.
    DocumentId,
    /// Two timestamps, a 30-day window inside the corpus's date range (timestamptz, timestamptz).
    DateWindow,
    /// A held-out query vector (float4[]; cast it with `$n::vector` or `$n::halfvec`). The
    /// statement's first column must be the row id: recall@k is judged from it.
    QueryVector,
    /// A query vector and a category (int4) that 50 % / 10 % / 1 % of the rows carry; recall
    /// is judged against the filtered ground truth.
    QueryVectorCategory50,
    QueryVectorCategory10,
    QueryVectorCategory1,
}

impl ParamGen {
    /// For vector queries: which ground truth judges them (0 unfiltered, else 1 + index into
    /// `dataset::vectors::FILTERS`). None for corpus parameters.
    pub fn vector_filter(self) -> Option<usize> {
        match self {
            ParamGen::QueryVector => Some(0),
            ParamGen::QueryVectorCategory50 => Some(1),
            ParamGen::QueryVectorCategory10 => Some(2),
            ParamGen::QueryVectorCategory1 => Some(3),
            _ => None,
        }
    }

    /// How many bind parameters this generator fills.
    pub fn arity(self) -> usize {
        match self {
            ParamGen::DateWindow
            | ParamGen::QueryVectorCategory50
            | ParamGen::QueryVectorCategory10
            | ParamGen::QueryVectorCategory1 => 2,
            _ => 1,
        }
    }
}

pub fn load(path: &Path) -> Result<WorkloadDef> {
    let src = SourceFile::read(path)?;
    let store = toml::from_str::<StoreOnly>(&src.text)
        .map_err(|_| {
            Error::input(src.issue(
                "store",
                "is missing or unknown; valid: postgres, neo4j, qdrant",
            ))
        })?
        .store;
    let def = match store {
        TargetKind::Postgres => load_sql(&src)?,
        TargetKind::Neo4j => load_cypher(&src)?,
        TargetKind::Qdrant => load_qdrant(&src)?,
    };
    if def.ops.is_empty() {
        return Err(Error::input(
            src.issue("ops", "define at least one op, e.g. [ops.lookup] ..."),
        ));
    }
    Ok(def)
}

fn load_sql(src: &SourceFile) -> Result<WorkloadDef> {
    let file: WorkloadFile<SqlOp> = src.parse()?;
    let mut issues = Vec::new();
    for (name, op) in &file.ops {
        let placeholders = count_placeholders(&op.sql);
        let arity: usize = op.params.iter().map(|p| p.arity()).sum();
        if placeholders != arity {
            issues.push(src.issue(
                &format!("ops.{name}.params"),
                format!("the SQL uses {placeholders} bind parameter(s) ($1..${placeholders}) but params fill {arity}"),
            ));
        }
        if op.sql.trim().is_empty() {
            issues.push(src.issue(&format!("ops.{name}.sql"), "must not be empty"));
        }
    }
    if issues.is_empty() {
        Ok(WorkloadDef {
            store: TargetKind::Postgres,
            description: file.description,
            ops: file
                .ops
                .into_iter()
                .map(|(k, v)| (k, OpDef::Sql(v)))
                .collect(),
        })
    } else {
        Err(Error::Input(issues))
    }
}

fn load_cypher(src: &SourceFile) -> Result<WorkloadDef> {
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

fn load_qdrant(src: &SourceFile) -> Result<WorkloadDef> {
    let file: WorkloadFile<QdrantOp> = src.parse()?;
    let mut issues = Vec::new();
    for (name, op) in &file.ops {
        if op.query.vector_filter().is_none() {
            issues.push(src.issue(
                &format!("ops.{name}.query"),
                format!(
                    "{:?} is not a query vector; valid: query_vector, query_vector_category50, query_vector_category10, query_vector_category1",
                    op.query
                ),
            ));
        }
        if !(1..=1000).contains(&op.limit) {
            issues.push(src.issue(&format!("ops.{name}.limit"), "must be 1..=1000"));
        }
    }
    if issues.is_empty() {
        Ok(WorkloadDef {
            store: TargetKind::Qdrant,
            description: file.description,
            ops: file
                .ops
                .into_iter()
                .map(|(k, v)| (k, OpDef::Qdrant(v)))
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

/// Highest `$n` in the statement.
fn count_placeholders(sql: &str) -> usize {
    let bytes = sql.as_bytes();
    let mut max = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' {
            let start = i + 1;
            let mut end = start;
            while end < bytes.len() && bytes[end].is_ascii_digit() {
                end += 1;
            }
            if end > start {
                max = max.max(sql[start..end].parse().unwrap_or(0));
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    max
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders() {
        assert_eq!(super::count_placeholders("select $1, $2 where x = $2"), 2);
        assert_eq!(super::count_placeholders("select 1"), 0);
        assert_eq!(super::count_placeholders("a = $10"), 10);
    }

    #[test]
    fn cypher_parameters_outside_strings() {
        let p = super::cypher_params("MATCH (u {h: $handle}) WHERE u.x = '$no' RETURN $b_2");
        assert_eq!(p.into_iter().collect::<Vec<_>>(), vec!["b_2", "handle"]);
    }
}
