//! This store's part of the input files: its ops (workload files) and its profile format,
//! with the checks that need no server.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::backend::model::{OpDef, TargetKind, WorkloadDef, WorkloadFile};
use crate::dataset::ParamGen;
use crate::error::{Error, Result};
use crate::source::SourceFile;

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
    /// A collection tunebench did not create (a workload without dataset): searched, never
    /// changed, with query vectors from `vectors`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vectors: Option<QdrantVectors>,
}

/// Query vectors for searches of an existing collection, with exact ground truth computed
/// from its points read once per run (scroll): `queries` points held out (each left out of
/// its own answer), or the vectors of a `.npy` / `.fvecs` file at `path`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QdrantVectors {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queries: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The depth of the ground truth: the largest k a workload may judge.
    #[serde(default = "default_k_max")]
    pub k_max: usize,
    /// Refuse a collection with more points than this (memory: see the README).
    #[serde(default = "default_max_vectors")]
    pub max_vectors: usize,
    /// Which points are held out.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// The vectors of `path`, read with the workload file.
    #[serde(skip)]
    pub given: Option<QueryFile>,
    /// The collection's points, read once per run before any clock (shared by the op's
    /// copies), with their exact ground truth and the hash of what was read.
    #[serde(skip)]
    pub read:
        std::sync::Arc<std::sync::OnceLock<(crate::dataset::vectors::own::OwnVectors, String)>>,
}

/// Query vectors read from a file (row-major, the file's dimension).
#[derive(Clone)]
pub struct QueryFile {
    pub data: std::sync::Arc<Vec<f32>>,
    pub dim: usize,
}

impl std::fmt::Debug for QueryFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} vectors of {} dimensions",
            self.data.len() / self.dim.max(1),
            self.dim
        )
    }
}

fn default_k_max() -> usize {
    100
}
fn default_max_vectors() -> usize {
    2_000_000
}
fn default_seed() -> u64 {
    1
}

impl QdrantVectors {
    /// The points and their ground truth, once read.
    pub fn own(&self) -> Option<&crate::dataset::vectors::own::OwnVectors> {
        self.read.get().map(|r| &r.0)
    }

    /// What the results and the report call it.
    pub fn describe(&self, collection: &str) -> String {
        match &self.path {
            Some(p) => format!("vectors of collection {collection}, queries from {p}"),
            None => format!(
                "vectors of collection {collection}, {} held-out queries",
                self.queries
                    .unwrap_or(crate::dataset::sources::DEFAULT_VECTOR_QUERIES)
            ),
        }
    }
}

/// Checks a `vectors` table and reads its query file (relative to the workload file).
fn load_vectors(
    src: &SourceFile,
    at: &str,
    v: &mut QdrantVectors,
    issues: &mut Vec<crate::error::InputIssue>,
) {
    let problems = crate::dataset::vectors::own::query_problems(
        v.queries,
        v.path.as_deref(),
        v.k_max,
        v.max_vectors,
    );
    for (f, m) in problems {
        issues.push(src.issue(&format!("{at}.{f}"), m));
    }
    if let (None, Some(p)) = (&v.queries, &v.path) {
        let full = src.dir().join(p);
        match crate::dataset::vectors::read_matrix(&full) {
            Ok(m) if m.rows > 0 && m.dim > 0 => {
                v.given = Some(QueryFile {
                    data: std::sync::Arc::new(m.data),
                    dim: m.dim,
                })
            }
            Ok(_) => issues.push(src.issue(&format!("{at}.path"), format!("{p} holds no vectors"))),
            Err(e) => issues.push(src.issue(&format!("{at}.path"), e)),
        }
    }
}

impl QdrantOp {
    pub fn params(&self) -> &[ParamGen] {
        self.query.as_slice()
    }
}

fn default_limit() -> u32 {
    10
}

pub fn load_ops(src: &SourceFile) -> Result<WorkloadDef> {
    let mut file: WorkloadFile<QdrantOp> = src.parse()?;
    let mut issues = Vec::new();
    for (name, op) in &mut file.ops {
        if let Some(v) = &mut op.vectors {
            load_vectors(src, &format!("ops.{name}.vectors"), v, &mut issues);
        }
        match (&op.collection, &op.vectors) {
            (Some(c), Some(_)) => {
                if c.trim().is_empty() {
                    issues.push(src.issue(&format!("ops.{name}.collection"), "must name a collection"));
                }
                if op.query.is_some() || op.upsert.is_some() || op.fresh_points.is_some() {
                    issues.push(src.issue(
                        &format!("ops.{name}"),
                        "a search of an existing collection takes `collection`, `vectors` and `limit`: it only reads, so no `query`, `upsert` or `fresh_points`",
                    ));
                }
            }
            (Some(_), None) => issues.push(src.issue(
                &format!("ops.{name}.vectors"),
                "is required with `collection`: where the query vectors come from, e.g. vectors = { queries = 500 } (held-out points) or { path = \"queries.npy\" }",
            )),
            (None, Some(_)) => issues.push(src.issue(
                &format!("ops.{name}.collection"),
                "is required with `vectors`: the existing collection to search",
            )),
            (None, None) => {}
        }
        if !(1..=1000).contains(&op.limit) {
            issues.push(src.issue(&format!("ops.{name}.limit"), "must be 1..=1000"));
        }
        if op.collection.is_some() {
            continue;
        }
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
                "set exactly one of `query` (a search) and `upsert` (points per batch), or `collection` and `vectors` (a search of an existing collection)",
            )),
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

/// A Qdrant tuning profile: the collection's HNSW, optimizer and quantization config (which
/// apply re-indexes under and revert restores) and the search parameters the workers send.
/// Every field left out keeps what the collection had, so an empty profile is the baseline.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QdrantProfile {
    pub store: TargetKind,
    #[serde(default)]
    pub description: String,
    pub hnsw: Option<QdrantHnsw>,
    pub optimizers: Option<QdrantOptimizers>,
    pub quantization: Option<QdrantQuantization>,
    #[serde(default)]
    pub search: QdrantSearch,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct QdrantHnsw {
    pub m: Option<u32>,
    pub ef_construct: Option<u32>,
    /// KB of vectors below which a (filtered) search scans instead of using the graph.
    pub full_scan_threshold: Option<u32>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct QdrantOptimizers {
    /// KB of vectors in a segment above which it gets an HNSW index.
    pub indexing_threshold: Option<u32>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum QuantizationKind {
    Int8,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QdrantQuantization {
    /// Scalar quantization; only "int8" exists.
    #[serde(rename = "type")]
    pub kind: QuantizationKind,
    pub quantile: Option<f32>,
    pub always_ram: Option<bool>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct QdrantSearch {
    pub hnsw_ef: Option<u32>,
    #[serde(default)]
    pub exact: bool,
    /// Re-score the quantized candidates with the original vectors.
    pub rescore: Option<bool>,
    /// Candidates fetched from the quantized index per result (>= 1.0) before rescoring.
    pub oversampling: Option<f64>,
}

pub fn load_profile(path: &Path) -> Result<QdrantProfile> {
    let src = SourceFile::read(path)?;
    let profile: QdrantProfile = src.parse()?;
    let mut issues = Vec::new();
    if profile.store != TargetKind::Qdrant {
        issues.push(src.issue("store", "must be \"qdrant\" for a qdrant target"));
    }
    let mut range = |field: &str, v: Option<f64>, lo: f64, hi: f64, hint: &str| {
        if let Some(v) = v
            && !(lo..=hi).contains(&v)
        {
            issues.push(src.issue(field, format!("is {v}; valid: {hint}")));
        }
    };
    if let Some(h) = &profile.hnsw {
        range(
            "hnsw.m",
            h.m.map(f64::from),
            4.0,
            128.0,
            "4..=128 (e.g. 16)",
        );
        range(
            "hnsw.ef_construct",
            h.ef_construct.map(f64::from),
            4.0,
            4096.0,
            "4..=4096 (e.g. 100)",
        );
        range(
            "hnsw.full_scan_threshold",
            h.full_scan_threshold.map(f64::from),
            1.0,
            1e9,
            "KB >= 1 (e.g. 10000)",
        );
    }
    if let Some(o) = &profile.optimizers {
        range(
            "optimizers.indexing_threshold",
            o.indexing_threshold.map(f64::from),
            1.0,
            1e9,
            "KB >= 1 (e.g. 20000); tunebench always builds the index it measures",
        );
    }
    if let Some(q) = &profile.quantization {
        range(
            "quantization.quantile",
            q.quantile.map(f64::from),
            0.5,
            1.0,
            "0.5..=1.0 (e.g. 0.99)",
        );
    }
    range(
        "search.hnsw_ef",
        profile.search.hnsw_ef.map(f64::from),
        1.0,
        100_000.0,
        "1..=100000 (e.g. 64)",
    );
    range(
        "search.oversampling",
        profile.search.oversampling,
        1.0,
        100.0,
        "1.0..=100.0 (e.g. 2.0)",
    );
    if profile.quantization.is_none()
        && (profile.search.rescore.is_some() || profile.search.oversampling.is_some())
    {
        issues.push(src.issue(
            "search",
            "rescore and oversampling act on a quantized index; add [quantization] type = \"int8\" or remove them",
        ));
    }
    if issues.is_empty() {
        Ok(profile)
    } else {
        Err(Error::Input(issues))
    }
}

/// Search parameters a sweep on a qdrant target can vary (per request, nothing to revert).
pub const SWEEPS: [&str; 2] = ["hnsw_ef", "oversampling"];

/// `search` with one sweep point applied, or what is wrong with the point, in the same
/// ranges a profile's `[search]` accepts. `tunebench validate` and the workers both call it,
/// so a value that would fail at run time fails before anything connects.
pub fn apply_sweep(
    mut search: super::SearchSpec,
    setting: &str,
    value: &str,
) -> std::result::Result<super::SearchSpec, String> {
    match setting {
        "hnsw_ef" => match value.parse::<u32>() {
            Ok(ef @ 1..=100_000) => search.hnsw_ef = Some(ef),
            _ => {
                return Err(format!(
                    "hnsw_ef `{value}` must be a whole number in 1..=100000 (e.g. 64)"
                ));
            }
        },
        "oversampling" => match value.parse::<f64>() {
            Ok(o) if (1.0..=100.0).contains(&o) => search.oversampling = Some(o),
            _ => {
                return Err(format!(
                    "oversampling `{value}` must be a number in 1.0..=100.0 (e.g. 2.0)"
                ));
            }
        },
        other => {
            return Err(format!(
                "`{other}` is not a Qdrant search parameter; valid: {}",
                SWEEPS.join(", ")
            ));
        }
    }
    Ok(search)
}

/// This store's checks of a workload that need no server: the sweep's setting and values,
/// and upserts on a dataset read from files.
pub fn workload_problems(w: &crate::backend::model::WorkloadProbe<'_>) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    if let Some((setting, values)) = &w.sweep {
        if !SWEEPS.contains(setting) {
            problems.push((
                "sweep.setting".to_string(),
                format!(
                    "`{setting}` is not a Qdrant search parameter; valid: {}",
                    SWEEPS.join(", ")
                ),
            ));
        } else {
            for (j, v) in values.iter().enumerate() {
                if let Err(e) = apply_sweep(Default::default(), setting, v) {
                    problems.push((format!("sweep.values[{j}]"), e));
                }
            }
        }
    }
    // An existing collection (no dataset): searches of one collection, named by every op.
    let mut collections = std::collections::BTreeSet::new();
    for (j, op) in w.ops.iter().enumerate() {
        let OpDef::Qdrant(q) = op else { continue };
        let name = w.op_names.get(j).copied().unwrap_or_default();
        match (&q.collection, w.foreign) {
            (Some(c), true) => {
                collections.insert(c.as_str());
            }
            (None, true) => problems.push((format!("ops[{j}].op"), format!(
                "op `{name}` works on tunebench's dataset, but the workload names none: search an existing collection with `collection` and `vectors`, or add dataset = \"NAME\""
            ))),
            (Some(c), false) => problems.push((format!("ops[{j}].op"), format!(
                "op `{name}` searches collection {c}, a collection of your own; the workload names a dataset: remove dataset (and tunebench searches {c} read only)"
            ))),
            (None, false) => {}
        }
    }
    if collections.len() > 1 {
        problems.push((
            "ops".to_string(),
            format!(
                "its ops search {} collections ({}); a workload searches one: split it",
                collections.len(),
                collections.into_iter().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    let upserts = w
        .ops
        .iter()
        .any(|o| matches!(o, OpDef::Qdrant(q) if q.upsert.is_some()));
    if upserts && w.dataset_from_files {
        problems.push((
            "dataset".to_string(),
            crate::dataset::vectors::fresh::FROM_FILES.to_string(),
        ));
    }
    problems
}

/// What can be told about a profile for `target` without a server.
pub fn profile_problems(
    target: &crate::backend::model::Target,
    p: &QdrantProfile,
    has_dataset: bool,
) -> Vec<String> {
    if has_dataset
        || target.allow_foreign_indexes
        || (p.hnsw.is_none() && p.optimizers.is_none() && p.quantization.is_none())
    {
        return Vec::new();
    }
    vec![format!(
        "target {} has no dataset: its workloads search collections tunebench did not create, which a profile changes only when the target says allow_foreign_indexes = true (the collection is re-indexed, and again on revert); keep to [search] (hnsw_ef, exact, rescore, oversampling: sent with each query), or add a vectors dataset",
        target.name
    )]
}

/// What a target URL must look like, and whether `url` does (checked without connecting).
pub const URL_EXPECTED: &str =
    "a Qdrant gRPC URL; expected http://HOST:6334, or empty for the embedded engine";

pub fn url_fits(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

/// A qdrant target's own options (server mode only).
#[derive(Debug, Clone, Default)]
pub struct QdrantTarget {
    /// The server's REST URL, read for its telemetry (memory, segments, search timings).
    /// None: derived from a gRPC URL on Qdrant's default port 6334 (REST on 6333).
    pub rest_url: Option<String>,
    /// The server's API key (Qdrant's `service.api_key`); never serialized or logged.
    pub api_key: Option<String>,
}

/// The fields a qdrant target takes beside kind, url, pool and restart_command.
pub const TARGET_FIELDS: &[&str] = &["rest_url", "api_key"];

pub fn target_options(f: &mut crate::backend::model::TargetFields<'_>) -> QdrantTarget {
    let rest_url = f.text("rest_url").filter(|u| !u.is_empty());
    let api_key = f.secret("api_key").filter(|k| !k.is_empty());
    if let Some(u) = &rest_url
        && !url_fits(u)
    {
        f.problem(
            Some("rest_url"),
            "must be the server's REST URL, e.g. http://127.0.0.1:6333",
        );
    }
    QdrantTarget { rest_url, api_key }
}
