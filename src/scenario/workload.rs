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
pub(super) struct WorkloadFile<Op> {
    #[allow(dead_code)]
    store: TargetKind,
    #[serde(default)]
    pub(super) description: String,
    pub(super) ops: BTreeMap<String, Op>,
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
    S3(S3Op),
    Http(super::HttpOp),
    Qdrant(QdrantOp),
}

/// A Qdrant operation (qdrant workloads): a search with a held-out query vector, optionally
/// filtered on the payload's category, judged for recall@k against exact ground truth; or an
/// upsert of a batch of fresh points, for concurrent upsert + search workloads.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QdrantOp {
    #[serde(default)]
    pub description: String,
    /// query_vector, or query_vector_category50 / 10 / 1 for a filtered search.
    #[serde(default)]
    pub query: Option<ParamGen>,
    /// Results requested (top-k); 10 when unset.
    #[serde(default = "default_limit")]
    pub limit: u32,
    /// Upsert this many fresh points per operation (instead of `query`).
    #[serde(default)]
    pub upsert: Option<u32>,
    /// Size of the fresh-point pool the upserts write, in order, before rewriting it; 10 % of
    /// the dataset when unset.
    #[serde(default)]
    pub fresh_points: Option<u32>,
}

impl QdrantOp {
    pub fn params(&self) -> &[ParamGen] {
        self.query.as_slice()
    }
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

/// One S3 operation. Sizes are written like `64MiB`, `512KiB`, `1MB` or a byte count.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum S3Op {
    /// CreateMultipartUpload, UploadPart with `parts_in_flight` parts at once, Complete.
    MultipartUpload {
        object_size: String,
        part_size: String,
        parts_in_flight: u32,
    },
    /// One PutObject of `size` bytes.
    Put { size: String },
    /// GetObject of a dataset object, whole or `range` bytes of it, verified byte for byte.
    Get {
        #[serde(default)]
        range: Option<String>,
    },
    /// One ListObjectsV2 page over the dataset's objects.
    List {
        #[serde(default = "default_max_keys")]
        max_keys: i32,
    },
    /// DeleteObject of an object this worker wrote with `put` (the oldest one it still has).
    Delete,
}

fn default_max_keys() -> i32 {
    1000
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

/// S3's smallest part (except the last one) and largest part count.
pub const MIN_PART_SIZE: u64 = 5 << 20;
pub const MAX_PART_SIZE: u64 = 64 << 20;
pub const MAX_PARTS: u64 = 10_000;

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
    /// With `params = ["fresh_points"]`: points per operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<u32>,
    /// With `params = ["fresh_points"]`: size of the fresh-point pool the upserts write, in
    /// order, before rewriting it; 10 % of the dataset when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fresh_points: Option<u32>,
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
    /// A batch of fresh points for an upsert, as four arrays: ids (int8[]), categories
    /// (int8[]), timestamps (timestamptz[]) and every vector's components one after another
    /// (float4[], `batch` x dimension). Searches in the same workload are judged against the
    /// points acknowledged before they started.
    FreshPoints,
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

    /// Whether it needs a vector dataset (query vectors and fresh points).
    pub fn needs_vectors(self) -> bool {
        self.vector_filter().is_some() || self == ParamGen::FreshPoints
    }

    /// How many bind parameters this generator fills.
    pub fn arity(self) -> usize {
        match self {
            ParamGen::FreshPoints => 4,
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
                "is missing or unknown; valid: postgres, neo4j, s3, http, qdrant",
            ))
        })?
        .store;
    let def = match store {
        TargetKind::Postgres => load_sql(&src)?,
        TargetKind::Neo4j => load_cypher(&src)?,
        TargetKind::S3 => load_s3(&src)?,
        TargetKind::Http => super::http::load_http(&src)?,
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
        let fresh = op.params.contains(&ParamGen::FreshPoints);
        if fresh && op.params.len() > 1 {
            issues.push(src.issue(
                &format!("ops.{name}.params"),
                "fresh_points fills all four parameters of an upsert; use it alone",
            ));
        }
        match (fresh, op.batch) {
            (true, None) => issues.push(src.issue(
                &format!("ops.{name}.batch"),
                "is required with fresh_points: the points per upsert, 1..=10000",
            )),
            (true, Some(b)) if !(1..=10_000).contains(&b) => issues.push(src.issue(
                &format!("ops.{name}.batch"),
                "points per upsert must be 1..=10000",
            )),
            (false, Some(_)) => issues.push(src.issue(
                &format!("ops.{name}.batch"),
                "goes with params = [\"fresh_points\"] only",
            )),
            _ => {}
        }
        if op.fresh_points.is_some() && !fresh {
            issues.push(src.issue(
                &format!("ops.{name}.fresh_points"),
                "goes with params = [\"fresh_points\"] only",
            ));
        }
        if let (Some(f), Some(b)) = (op.fresh_points, op.batch)
            && f < b
        {
            issues.push(src.issue(
                &format!("ops.{name}.fresh_points"),
                "must hold at least one batch",
            ));
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
        match (op.query, op.upsert) {
            (Some(q), None) => {
                if q.vector_filter().is_none() {
                    issues.push(src.issue(
                        &format!("ops.{name}.query"),
                        format!(
                            "{q:?} is not a query vector; valid: query_vector, query_vector_category50, query_vector_category10, query_vector_category1"
                        ),
                    ));
                }
                if op.fresh_points.is_some() {
                    issues.push(src.issue(
                        &format!("ops.{name}.fresh_points"),
                        "fresh_points goes with `upsert`, not with a search",
                    ));
                }
            }
            (None, Some(batch)) => {
                if !(1..=10_000).contains(&batch) {
                    issues.push(src.issue(
                        &format!("ops.{name}.upsert"),
                        "points per upsert must be 1..=10000",
                    ));
                }
                if op.fresh_points.is_some_and(|f| f < batch) {
                    issues.push(src.issue(
                        &format!("ops.{name}.fresh_points"),
                        "must hold at least one batch (`upsert` points)",
                    ));
                }
            }
            _ => issues.push(src.issue(
                &format!("ops.{name}"),
                "set exactly one of `query` (a search) and `upsert` (points per batch)",
            )),
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
fn load_s3(src: &SourceFile) -> Result<WorkloadDef> {
    let file: WorkloadFile<S3Op> = src.parse()?;
    let mut issues = Vec::new();
    let size = |issues: &mut Vec<_>, field: String, text: &str| -> Option<u64> {
        let v = parse_size(text).filter(|v| *v > 0);
        if v.is_none() {
            issues.push(src.issue(
                &field,
                format!("`{text}` is not a size; write e.g. \"64MiB\", \"512KiB\" or \"1MB\""),
            ));
        }
        v
    };
    for (name, op) in &file.ops {
        let f = |k: &str| format!("ops.{name}.{k}");
        match op {
            S3Op::MultipartUpload {
                object_size,
                part_size,
                parts_in_flight,
            } => {
                let obj = size(&mut issues, f("object_size"), object_size);
                let part = size(&mut issues, f("part_size"), part_size);
                if let Some(p) = part
                    && !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&p)
                {
                    issues.push(src.issue(&f("part_size"), format!("{part_size} is outside 5MiB..64MiB: S3 refuses parts below 5 MiB (except the last)")));
                }
                if let (Some(o), Some(p)) = (obj, part) {
                    if o < MIN_PART_SIZE {
                        issues.push(src.issue(&f("object_size"), format!("{object_size} is smaller than the minimum part size (5MiB); use kind = \"put\" for small objects")));
                    } else if o.div_ceil(p) > MAX_PARTS {
                        issues.push(src.issue(
                            &f("part_size"),
                            "the object would need more than 10,000 parts; raise part_size",
                        ));
                    }
                }
                if *parts_in_flight == 0 || *parts_in_flight > 64 {
                    issues.push(src.issue(&f("parts_in_flight"), "must be between 1 and 64"));
                }
            }
            S3Op::Put { size: s } => {
                if let Some(v) = size(&mut issues, f("size"), s)
                    && v > 5 << 30
                {
                    issues.push(src.issue(&f("size"), "a single PUT takes at most 5GiB"));
                }
            }
            S3Op::Get { range: Some(r) } => {
                size(&mut issues, f("range"), r);
            }
            S3Op::Get { range: None } | S3Op::Delete => {}
            S3Op::List { max_keys } => {
                if !(1..=1000).contains(max_keys) {
                    issues.push(src.issue(&f("max_keys"), "must be between 1 and 1000"));
                }
            }
        }
    }
    if issues.is_empty() {
        Ok(WorkloadDef {
            store: TargetKind::S3,
            description: file.description,
            ops: file
                .ops
                .into_iter()
                .map(|(k, v)| (k, OpDef::S3(v)))
                .collect(),
        })
    } else {
        Err(Error::Input(issues))
    }
}

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
    fn sizes() {
        assert_eq!(super::parse_size("64MiB"), Some(64 << 20));
        assert_eq!(super::parse_size("1MB"), Some(1_000_000));
        assert_eq!(super::parse_size("100"), Some(100));
        assert_eq!(super::parse_size("12 KiB"), Some(12 << 10));
        assert_eq!(super::parse_size("lots"), None);
        assert_eq!(super::parse_size("5XB"), None);
    }

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
