//! Parameter sources a workload declares instead of one of tunebench's corpus generators:
//! values from the user's own data (`{ from = "file", path = "params/orders.csv", column =
//! "customer_id" }`), a numeric range with a distribution (`{ from = "range", min = 1, max =
//! 1000000, distribution = "zipf", s = 1.1 }`) or a list (`{ from = "list", values = [...] }`).
//! A source is read once when the workload file is (so `validate` reports a bad row), and
//! drawn per operation before its clock starts, from the worker's seeded generator: every
//! profile draws the same sequence.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use rand::RngExt;
use rand_distr::Distribution as _;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::documents::ParamValue;
use super::params::ParamGen;
use super::vectors::own::{OwnVectors, Queries, Rows};

/// One parameter (or a group of correlated ones) of an op: a generator over tunebench's own
/// corpus, named by a string (`G`: the store's generators, PostgreSQL's by default), or a
/// source declared as a table.
#[derive(Debug, Clone)]
pub enum Param<G = ParamGen> {
    Gen(G),
    Source(std::sync::Arc<Source>),
}

impl Param {
    /// How many bind parameters it fills.
    pub fn arity(&self) -> usize {
        match self {
            Param::Gen(g) => g.arity(),
            Param::Source(s) => s.spec.arity(),
        }
    }
}

impl<G: Copy> Param<G> {
    pub fn generator(&self) -> Option<G> {
        match self {
            Param::Gen(g) => Some(*g),
            Param::Source(_) => None,
        }
    }

    pub fn source(&self) -> Option<&Source> {
        match self {
            Param::Gen(_) => None,
            Param::Source(s) => Some(s),
        }
    }
}

/// The names a `params` key fills (stores whose parameters are named: Cypher `$name`, HTTP
/// `{name}`): one, or several from one row of a source (`"cid,region"`).
pub fn param_names(key: &str) -> Vec<&str> {
    key.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect()
}

/// Reads a declared source of a workload file's parameter (`at`: its field) in place (a
/// file relative to the workload file); a problem names the field, or the data file's line
/// and column. A generator is left as it is.
pub fn load_param<G>(
    src: &crate::source::SourceFile,
    at: &str,
    p: &mut Param<G>,
    issues: &mut Vec<crate::error::InputIssue>,
) {
    let Param::Source(s) = p else { return };
    match Source::load(s.spec.clone(), &src.dir()) {
        Ok(loaded) => *p = Param::Source(std::sync::Arc::new(loaded)),
        Err(e) => issues.push(match e.file {
            Some(data) => crate::error::InputIssue::new(
                data,
                e.field,
                format!(
                    "{} (the source of {at} in {})",
                    e.message,
                    src.path.display()
                ),
            )
            .at(e.line.map(|l| (l, 1))),
            None => src.issue(&format!("{at}.{}", e.field), e.message),
        }),
    }
}

impl PartialEq<ParamGen> for Param {
    fn eq(&self, other: &ParamGen) -> bool {
        self.generator() == Some(*other)
    }
}

impl<G: Serialize> Serialize for Param<G> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Param::Gen(g) => g.serialize(s),
            Param::Source(src) => src.spec.serialize(s),
        }
    }
}

impl<'de, G: Deserialize<'de>> Deserialize<'de> for Param<G> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<G>(std::marker::PhantomData<G>);
        impl<'de, G: Deserialize<'de>> serde::de::Visitor<'de> for V<G> {
            type Value = Param<G>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a generator name (e.g. \"term_common\", \"user_hot\") or a source table ({ from = \"file\" | \"range\" | \"list\" | \"sample\", ... })")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Param<G>, E> {
                G::deserialize(serde::de::value::StrDeserializer::new(v)).map(Param::Gen)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, m: A) -> Result<Param<G>, A::Error> {
                let spec =
                    SourceSpec::deserialize(serde::de::value::MapAccessDeserializer::new(m))?;
                Ok(Param::Source(std::sync::Arc::new(Source::unloaded(spec))))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A source as the workload file declares it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceSpec {
    /// Rows of a CSV file (with a header) or a JSON Lines file (one object per line).
    File {
        /// Relative to the workload file.
        path: String,
        /// The one column it fills a parameter from...
        #[serde(default, skip_serializing_if = "Option::is_none")]
        column: Option<String>,
        /// ... or several, drawn from the same row (correlated values stay correlated).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        columns: Vec<String>,
        #[serde(default)]
        order: Order,
        /// With `order = "weighted"`: the column holding each row's weight (>= 0).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        weight: Option<String>,
        /// The values' type; when unset each column's is inferred from its values (all
        /// integers: int; all numbers: float; all RFC 3339 timestamps: timestamptz; else text).
        #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
        kind: Option<ValueKind>,
        /// A column's type, over `type` and inference (e.g. `types = { zip = "text" }`).
        #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        types: std::collections::BTreeMap<String, ValueKind>,
    },
    /// An integer in [min, max].
    Range {
        min: i64,
        max: i64,
        #[serde(default)]
        distribution: Distribution,
        /// Zipf's exponent (> 0): `min` is the most frequent value.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        s: Option<f64>,
        /// Normal's mean and standard deviation (default: the middle and a sixth of the
        /// range); values are rounded and kept within [min, max].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mean: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stddev: Option<f64>,
    },
    /// One of these values, uniformly.
    List { values: Vec<toml::Value> },
    /// A timestamp in [min, max], uniformly; with `width`, a window: two parameters, its
    /// start (uniform in [min, max - width]) and its end (start + width).
    Time {
        #[serde(deserialize_with = "datetime_text")]
        min: String,
        #[serde(deserialize_with = "datetime_text")]
        max: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        width: Option<String>,
    },
    /// Rows a query returns from the server, sampled once per run before any clock starts
    /// (PostgreSQL: a read-only SELECT, e.g. with `TABLESAMPLE SYSTEM (1)`), drawn uniformly.
    /// The results keep their number and hash, never the values.
    Sample {
        query: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        column: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        columns: Vec<String>,
        /// At most this many rows are kept.
        #[serde(default = "default_sample_size")]
        size: usize,
    },
    /// Query vectors for kNN on a table of the user's own vectors (pgvector), with exact
    /// ground truth: the table's rows are read once per run (COPY, in a read-only
    /// transaction), queries are `queries` rows of it held out (each fills two parameters:
    /// its vector and its id, which the statement leaves out of its answer with
    /// `WHERE id <> $2`) or the vectors of a `.npy` / `.fvecs` file at `path` (one
    /// parameter), and recall@k is judged against the exact top-k over every row read.
    Vectors {
        /// `schema.table` or `table`, as the statement names it.
        table: String,
        /// The integer column that identifies a row; the statement's first result column.
        id: String,
        /// The vector column (vector, halfvec or real[]: read as vector).
        column: String,
        /// The distance the statement orders by: cosine (`<=>`), l2 (`<->`) or dot (`<#>`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        metric: Option<super::vectors::Metric>,
        /// Held-out queries drawn from the rows (1000 unless `path` gives them).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        queries: Option<usize>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
        /// A SQL condition on the table: only rows that pass it are read, searched for and
        /// judged against (the statement must filter the same way).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filter: Option<String>,
        /// The depth of the ground truth: the largest k a workload may judge.
        #[serde(default = "default_vectors_k_max")]
        k_max: usize,
        /// Refuse a table with more rows than this (memory: see the README).
        #[serde(default = "default_max_vectors")]
        max_vectors: usize,
        /// Which rows are held out.
        #[serde(default = "default_vectors_seed")]
        seed: u64,
    },
}

fn default_vectors_k_max() -> usize {
    100
}
fn default_max_vectors() -> usize {
    2_000_000
}
fn default_vectors_seed() -> u64 {
    1
}

fn default_sample_size() -> usize {
    10_000
}

/// A TOML date-time (`min = 2024-01-01T00:00:00Z`) or a string, kept as text (parsed by
/// [`Source::load`], which names the field when it is not a time).
fn datetime_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match toml::Value::deserialize(d)? {
        toml::Value::String(s) => Ok(s),
        toml::Value::Datetime(t) => Ok(t.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "{other} is not a date-time; write e.g. 2024-01-01T00:00:00Z"
        ))),
    }
}

/// The most rows a sample keeps.
pub const MAX_SAMPLE: usize = 1_000_000;
/// Held-out queries of a `from = "vectors"` source when it says neither `queries` nor `path`.
pub const DEFAULT_VECTOR_QUERIES: usize = 1000;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// A row drawn uniformly for each operation.
    #[default]
    Uniform,
    /// Rows in file order, shared by all connections, from the first row for each profile.
    Sequential,
    /// A row drawn in proportion to its `weight` column.
    Weighted,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Distribution {
    #[default]
    Uniform,
    Zipf,
    Normal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueKind {
    Int,
    Float,
    Text,
    Timestamptz,
}

impl SourceSpec {
    pub fn arity(&self) -> usize {
        match self {
            SourceSpec::File { path, .. } if vector_file(path) => 1,
            SourceSpec::File { .. } | SourceSpec::Sample { .. } => self.columns().len(),
            SourceSpec::Range { .. } | SourceSpec::List { .. } => 1,
            SourceSpec::Time { width, .. } => 1 + usize::from(width.is_some()),
            SourceSpec::Vectors { path, .. } => 1 + usize::from(path.is_none()),
        }
    }

    /// The columns a file or a sample fills parameters from (`column` or `columns`).
    pub fn columns(&self) -> Vec<&str> {
        match self {
            SourceSpec::File {
                column, columns, ..
            }
            | SourceSpec::Sample {
                column, columns, ..
            } => column.iter().chain(columns).map(String::as_str).collect(),
            SourceSpec::Range { .. }
            | SourceSpec::List { .. }
            | SourceSpec::Time { .. }
            | SourceSpec::Vectors { .. } => Vec::new(),
        }
    }

    /// What the source is, in a few words (reports, errors).
    pub fn describe(&self) -> String {
        match self {
            SourceSpec::File { path, .. } if vector_file(path) => format!("{path} (vectors)"),
            SourceSpec::File { path, .. } => format!("{path} [{}]", self.columns().join(", ")),
            SourceSpec::Range {
                min,
                max,
                distribution,
                ..
            } => format!("{distribution:?} in [{min}, {max}]").to_lowercase(),
            SourceSpec::List { values } => format!("a list of {}", values.len()),
            SourceSpec::Sample { .. } => format!("a sample [{}]", self.columns().join(", ")),
            SourceSpec::Time {
                min,
                max,
                width: None,
            } => format!("a time in [{min}, {max}]"),
            SourceSpec::Time {
                min,
                max,
                width: Some(w),
            } => format!("a {w} window in [{min}, {max}]"),
            SourceSpec::Vectors {
                table,
                column,
                metric,
                queries,
                path,
                filter,
                ..
            } => {
                let metric = metric
                    .map(|m| format!("{m:?}").to_lowercase())
                    .unwrap_or_default();
                let rows = match filter {
                    Some(f) => format!("{table}.{column} where {f}"),
                    None => format!("{table}.{column}"),
                };
                match path {
                    Some(p) => format!("vectors of {rows} ({metric}), queries from {p}"),
                    None => format!(
                        "vectors of {rows} ({metric}), {} held-out queries",
                        queries.unwrap_or(DEFAULT_VECTOR_QUERIES)
                    ),
                }
            }
        }
    }

    /// `file`, `range`, `list` or `sample`.
    pub fn from(&self) -> &'static str {
        match self {
            SourceSpec::File { .. } => "file",
            SourceSpec::Range { .. } => "range",
            SourceSpec::List { .. } => "list",
            SourceSpec::Sample { .. } => "sample",
            SourceSpec::Time { .. } => "time",
            SourceSpec::Vectors { .. } => "vectors",
        }
    }
}

/// What the results keep of a source: how many rows it drew from and their hash (the file's
/// bytes, or a sample's values), never the values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRecord {
    pub op: String,
    /// Its position in the op's `params`.
    pub param: usize,
    /// The parameter's name, where parameters are named (Cypher `$name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub from: String,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

/// Where a file source's values came from: recorded with the results by hash and size, never
/// the values themselves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Origin {
    pub path: PathBuf,
    pub sha256: String,
    pub bytes: u64,
    pub rows: usize,
}

/// A problem with a source: the file it is about (the workload file or the data file), the
/// 1-based line when known, the field or column, and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceIssue {
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    pub field: String,
    pub message: String,
}

/// A declared source with its values, ready to draw from.
#[derive(Debug)]
pub struct Source {
    pub spec: SourceSpec,
    pub origin: Option<Origin>,
    draw: Drawer,
    /// `order = "sequential"`: the next row.
    cursor: AtomicUsize,
    /// `from = "sample"`: the rows sampled (once per run) and their hash.
    sampled: std::sync::OnceLock<(Vec<Vec<ParamValue>>, String)>,
    /// `from = "vectors"`: the rows read (once per run), their truth and their hash.
    vectors: std::sync::OnceLock<(OwnVectors, String)>,
}

/// What a store reads for a `from = "vectors"` source: see [`Source::vectors_request`].
pub struct VectorsRequest<'a> {
    pub table: &'a str,
    pub id: &'a str,
    pub column: &'a str,
    pub filter: Option<&'a str>,
    pub max_vectors: usize,
}

#[derive(Debug)]
enum Drawer {
    Unloaded,
    /// Rows of values (one per column), and for weighted drawing the running sum of weights.
    Rows {
        rows: Vec<Vec<ParamValue>>,
        cumulative: Option<Vec<f64>>,
    },
    Uniform(i64, i64),
    Zipf(i64, rand_distr::Zipf<f64>),
    Normal(i64, i64, rand_distr::Normal<f64>),
    /// Rows come from the server, once per run: see [`Source::fill_sample`].
    Sample,
    /// Rows of the user's vectors, once per run: see [`Source::fill_vectors`]; the query
    /// vectors of `path` when it is set.
    Vectors(Option<(Vec<f32>, usize)>),
    /// Microseconds since the epoch: the first start, how far later the last start may be,
    /// and the window's width (a window: start and end).
    Time {
        first: i64,
        span: i64,
        width: Option<i64>,
    },
}

impl Source {
    fn unloaded(spec: SourceSpec) -> Self {
        Source {
            spec,
            origin: None,
            draw: Drawer::Unloaded,
            cursor: AtomicUsize::new(0),
            sampled: std::sync::OnceLock::new(),
            vectors: std::sync::OnceLock::new(),
        }
    }

    /// Checks the declaration and reads the values (a file relative to `dir`).
    pub fn load(spec: SourceSpec, dir: &Path) -> Result<Source, SourceIssue> {
        let field = |f: &str, m: String| SourceIssue {
            file: None,
            line: None,
            field: f.to_string(),
            message: m,
        };
        let (draw, origin) = match &spec {
            SourceSpec::File {
                path,
                column,
                columns,
                order,
                weight,
                kind,
                types,
            } => {
                if vector_file(path) {
                    if column.is_some()
                        || !columns.is_empty()
                        || weight.is_some()
                        || kind.is_some()
                        || !types.is_empty()
                        || *order == Order::Weighted
                    {
                        return Err(field(
                            "column",
                            "a vector file (.npy, .fvecs) fills one parameter with one vector per row: it takes path and order (uniform or sequential) only, no column, columns, weight or type".into(),
                        ));
                    }
                    let (full, bytes) = read_data(dir, path)?;
                    let rows = vector_rows(&full, &bytes)?;
                    let origin = Origin::of(path, &bytes, rows.len());
                    return Ok(Source {
                        spec: spec.clone(),
                        origin: Some(origin),
                        draw: Drawer::Rows {
                            rows,
                            cumulative: None,
                        },
                        cursor: AtomicUsize::new(0),
                        sampled: std::sync::OnceLock::new(),
                        vectors: std::sync::OnceLock::new(),
                    });
                }
                let wanted: Vec<String> = spec.columns().into_iter().map(String::from).collect();
                if let Some(t) = types.keys().find(|t| !wanted.contains(t)) {
                    return Err(field(
                        &format!("types.{t}"),
                        format!(
                            "`{t}` is not one of the columns it takes ({})",
                            wanted.join(", ")
                        ),
                    ));
                }
                one_way_to_name_columns(column, columns, "")?;
                match (order, weight) {
                    (Order::Weighted, None) => {
                        return Err(field(
                            "weight",
                            "order = \"weighted\" needs `weight = \"COLUMN\"`, the column of each row's weight".into(),
                        ));
                    }
                    (Order::Uniform | Order::Sequential, Some(_)) => {
                        return Err(field(
                            "weight",
                            "goes with order = \"weighted\" only".into(),
                        ));
                    }
                    _ => {}
                }
                let (full, bytes) = read_data(dir, path)?;
                let table = read_table(&full, &bytes, &wanted, weight.as_deref(), *kind, types)?;
                let origin = Origin::of(path, &bytes, table.rows.len());
                let cumulative = table.weights.map(|w| {
                    w.iter()
                        .scan(0.0, |sum, x| {
                            *sum += x;
                            Some(*sum)
                        })
                        .collect::<Vec<f64>>()
                });
                if cumulative
                    .as_ref()
                    .is_some_and(|c| c.last().copied().unwrap_or(0.0) <= 0.0)
                {
                    return Err(SourceIssue {
                        file: Some(full),
                        line: None,
                        field: weight.clone().unwrap_or_default(),
                        message: "every weight is 0: no row could be drawn".into(),
                    });
                }
                (
                    Drawer::Rows {
                        rows: table.rows,
                        cumulative,
                    },
                    Some(origin),
                )
            }
            SourceSpec::Range {
                min,
                max,
                distribution,
                s,
                mean,
                stddev,
            } => {
                let (min, max) = (*min, *max);
                if min > max {
                    return Err(field("max", format!("{max} is below min ({min})")));
                }
                if s.is_some() && *distribution != Distribution::Zipf {
                    return Err(field("s", "goes with distribution = \"zipf\" only".into()));
                }
                if (mean.is_some() || stddev.is_some()) && *distribution != Distribution::Normal {
                    return Err(field(
                        if mean.is_some() { "mean" } else { "stddev" },
                        "goes with distribution = \"normal\" only".into(),
                    ));
                }
                let d = match distribution {
                    Distribution::Uniform => Drawer::Uniform(min, max),
                    Distribution::Zipf => {
                        let s = s.ok_or_else(|| {
                            field("s", "is required with distribution = \"zipf\": the exponent, > 0 (e.g. 1.1)".into())
                        })?;
                        let n = (max as i128 - min as i128 + 1) as f64;
                        let z = rand_distr::Zipf::new(n, s).map_err(|e| {
                            field(
                                "s",
                                format!("{s} is not a valid exponent ({e}); it must be > 0"),
                            )
                        })?;
                        Drawer::Zipf(min, z)
                    }
                    Distribution::Normal => {
                        let mean = mean.unwrap_or((min as f64 + max as f64) / 2.0);
                        let sd = stddev.unwrap_or((max as f64 - min as f64) / 6.0);
                        let n = rand_distr::Normal::new(mean, sd).map_err(|e| {
                            field("stddev", format!("{sd} is not a valid deviation ({e}); it must be >= 0 and finite"))
                        })?;
                        Drawer::Normal(min, max, n)
                    }
                };
                (d, None)
            }
            SourceSpec::List { values } => {
                if values.is_empty() {
                    return Err(field("values", "is empty: list at least one value".into()));
                }
                let rows = values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        list_value(v).map(|p| vec![p]).ok_or_else(|| {
                            field(
                                &format!("values[{i}]"),
                                format!("{v} is not a string, integer, float or date-time"),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                (
                    Drawer::Rows {
                        rows,
                        cumulative: None,
                    },
                    None,
                )
            }
            SourceSpec::Time { min, max, width } => {
                let at = |f: &str, v: &str| {
                    parse_time(v).ok_or_else(|| {
                        field(
                            f,
                            format!("`{v}` is not a date-time; write e.g. 2024-01-01T00:00:00Z"),
                        )
                    })
                };
                let (lo, hi) = (at("min", min)?, at("max", max)?);
                let width_us = match width {
                    None => None,
                    Some(w) => {
                        let d = crate::source::duration(w).map_err(|e| field("width", e))?;
                        Some(i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
                    }
                };
                let (first, last) = (lo.timestamp_micros(), hi.timestamp_micros());
                let span = last - first - width_us.unwrap_or(0);
                if span < 0 {
                    return Err(field(
                        "max",
                        format!(
                            "{max} is before min ({min}){}",
                            if width.is_some() {
                                " plus the width"
                            } else {
                                ""
                            }
                        ),
                    ));
                }
                (
                    Drawer::Time {
                        first,
                        span,
                        width: width_us,
                    },
                    None,
                )
            }
            SourceSpec::Sample {
                query,
                column,
                columns,
                size,
            } => {
                if query.trim().is_empty() {
                    return Err(field("query", "is empty".into()));
                }
                one_way_to_name_columns(column, columns, " of the query's result")?;
                if !(1..=MAX_SAMPLE).contains(size) {
                    return Err(field(
                        "size",
                        format!("{size} rows; must be 1..={MAX_SAMPLE}"),
                    ));
                }
                (Drawer::Sample, None)
            }
            SourceSpec::Vectors {
                table,
                id,
                column,
                metric,
                queries,
                path,
                filter,
                k_max,
                max_vectors,
                ..
            } => {
                let parts: Vec<&str> = table.split('.').collect();
                if parts.len() > 2 || !parts.iter().all(|p| identifier(p)) {
                    return Err(field(
                        "table",
                        format!(
                            "`{table}` is not a table name: write `schema.table` or `table` (letters, digits and _)"
                        ),
                    ));
                }
                for (f, v) in [("id", id), ("column", column)] {
                    if !identifier(v) {
                        return Err(field(
                            f,
                            format!("`{v}` is not a column name (letters, digits and _)"),
                        ));
                    }
                }
                if metric.is_none() {
                    return Err(field(
                        "metric",
                        "is required: the distance the statement orders by, cosine (<=>), l2 (<->) or dot (<#>)".into(),
                    ));
                }
                if filter
                    .as_deref()
                    .is_some_and(|f| f.trim().is_empty() || f.contains(';'))
                {
                    return Err(field(
                        "filter",
                        "must be one SQL condition on the table's columns, e.g. \"category = 2\" (no `;`)".into(),
                    ));
                }
                let problems = super::vectors::own::query_problems(
                    *queries,
                    path.as_deref(),
                    *k_max,
                    *max_vectors,
                );
                if let Some((f, m)) = problems.into_iter().next() {
                    return Err(field(f, m));
                }
                let given = match path {
                    None => None,
                    Some(p) => {
                        if !vector_file(p) {
                            return Err(field(
                                "path",
                                format!(
                                    "`{p}` is not a vector file: query vectors come from a .npy (float32, 2-D) or .fvecs file"
                                ),
                            ));
                        }
                        let (full, bytes) = read_data(dir, p)?;
                        let rows = vector_rows(&full, &bytes)?;
                        let origin = Origin::of(p, &bytes, rows.len());
                        let dim = match rows.first().and_then(|r| r.first()) {
                            Some(ParamValue::Vector(v)) => v.len(),
                            _ => 0,
                        };
                        let flat = rows
                            .into_iter()
                            .flatten()
                            .flat_map(|v| match v {
                                ParamValue::Vector(x) => x,
                                _ => Vec::new(),
                            })
                            .collect();
                        return Ok(Source {
                            spec: spec.clone(),
                            origin: Some(origin),
                            draw: Drawer::Vectors(Some((flat, dim))),
                            cursor: AtomicUsize::new(0),
                            sampled: std::sync::OnceLock::new(),
                            vectors: std::sync::OnceLock::new(),
                        });
                    }
                };
                (Drawer::Vectors(given), None)
            }
        };
        Ok(Source {
            spec,
            origin,
            draw,
            cursor: AtomicUsize::new(0),
            sampled: std::sync::OnceLock::new(),
            vectors: std::sync::OnceLock::new(),
        })
    }

    /// For a sample not taken yet: its query, the columns it keeps and at most how many rows.
    pub fn sample_query(&self) -> Option<(&str, Vec<&str>, usize)> {
        match &self.spec {
            SourceSpec::Sample { query, size, .. } if self.sampled.get().is_none() => {
                Some((query.as_str(), self.spec.columns(), *size))
            }
            _ => None,
        }
    }

    /// For a `from = "vectors"` source not read yet: what to read.
    pub fn vectors_request(&self) -> Option<VectorsRequest<'_>> {
        match &self.spec {
            SourceSpec::Vectors {
                table,
                id,
                column,
                filter,
                max_vectors,
                ..
            } if self.vectors.get().is_none() => Some(VectorsRequest {
                table,
                id,
                column,
                filter: filter.as_deref(),
                max_vectors: *max_vectors,
            }),
            _ => None,
        }
    }

    /// Takes the rows read for a `from = "vectors"` source (and the hash of what was read),
    /// picks the queries and computes their exact ground truth: CPU-heavy, call it off the
    /// async workers. The first rows of a run stay.
    pub fn fill_vectors(&self, rows: Rows, sha256: String) -> Result<(), String> {
        let (
            SourceSpec::Vectors {
                metric,
                queries,
                k_max,
                seed,
                ..
            },
            Drawer::Vectors(given),
        ) = (&self.spec, &self.draw)
        else {
            return Err("not a vectors source".into());
        };
        let q = match given {
            Some((v, _)) => Queries::Given(v.clone()),
            None => Queries::HeldOut {
                count: queries.unwrap_or(DEFAULT_VECTOR_QUERIES),
                seed: *seed,
            },
        };
        if let (Some((_, dim)), SourceSpec::Vectors { path: Some(p), .. }) = (given, &self.spec)
            && rows.dim > 0
            && *dim != rows.dim
        {
            return Err(format!(
                "{p} holds {dim}-d vectors, the table's are {}-d: the query vectors must have the table's dimension",
                rows.dim
            ));
        }
        let own = OwnVectors::build(metric.unwrap_or_default(), rows, q, *k_max)?;
        let _ = self.vectors.set((own, sha256));
        Ok(())
    }

    /// The user's vectors and their ground truth, once read.
    pub fn own_vectors(&self) -> Option<&OwnVectors> {
        self.vectors.get().map(|v| &v.0)
    }

    /// Keeps a sample's rows (one value per kept column); the first sample of a run stays.
    pub fn fill_sample(&self, rows: Vec<Vec<ParamValue>>) -> Result<(), String> {
        if rows.is_empty() {
            return Err("the query returned no rows: there is nothing to draw".into());
        }
        let mut h = sha2::Sha256::new();
        for r in &rows {
            h.update(serde_json::to_vec(r).unwrap_or_default());
            h.update(b"\n");
        }
        let sha: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        let _ = self.sampled.set((rows, sha));
        Ok(())
    }

    /// What the results keep of it.
    pub fn record(&self, op: &str, param: usize) -> SourceRecord {
        let (rows, sha256, bytes) = match (&self.origin, self.sampled.get(), &self.draw) {
            _ if self.vectors.get().is_some() => {
                let (v, sha) = self.vectors.get().expect("checked");
                (Some(v.len() as u64), Some(sha.clone()), None)
            }
            (Some(o), _, _) => (Some(o.rows as u64), Some(o.sha256.clone()), Some(o.bytes)),
            (None, Some((rows, sha)), _) => (Some(rows.len() as u64), Some(sha.clone()), None),
            (None, None, Drawer::Rows { rows, .. }) => (Some(rows.len() as u64), None, None),
            _ => (None, None, None),
        };
        SourceRecord {
            op: op.to_string(),
            param,
            name: None,
            from: self.spec.from().into(),
            source: self.spec.describe(),
            rows,
            sha256,
            bytes,
        }
    }

    /// Starts `order = "sequential"` over from the first row (before each profile).
    pub fn rewind(&self) {
        self.cursor.store(0, Ordering::Relaxed);
    }

    /// Draws one operation's values, appended to `out`.
    pub fn draw(&self, rng: &mut impl rand::Rng, out: &mut Vec<ParamValue>) {
        self.draw_judged(rng, out);
    }

    /// Draws one operation's values, appended to `out`; for a `from = "vectors"` source,
    /// also which query was drawn (its recall is judged by [`OwnVectors::recall`]).
    pub fn draw_judged(
        &self,
        rng: &mut impl rand::Rng,
        out: &mut Vec<ParamValue>,
    ) -> Option<usize> {
        match &self.draw {
            Drawer::Unloaded => {}
            Drawer::Vectors(_) => {
                let v = &self.vectors.get()?.0;
                let q = rng.random_range(0..v.query_count());
                out.push(ParamValue::Vector(v.query(q).to_vec()));
                if let Some(ids) = &v.query_ids {
                    out.push(ParamValue::Int(ids[q]));
                }
                return Some(q);
            }
            Drawer::Sample => {
                if let Some((rows, _)) = self.sampled.get() {
                    out.extend(rows[rng.random_range(0..rows.len())].iter().cloned());
                }
            }
            Drawer::Rows { rows, cumulative } => {
                let i = match (&self.spec, cumulative) {
                    (_, Some(c)) => {
                        let total = c.last().copied().unwrap_or(0.0);
                        let x = rng.random_range(0.0..total);
                        c.partition_point(|s| *s <= x).min(rows.len() - 1)
                    }
                    (
                        SourceSpec::File {
                            order: Order::Sequential,
                            ..
                        },
                        None,
                    ) => self.cursor.fetch_add(1, Ordering::Relaxed) % rows.len(),
                    _ => rng.random_range(0..rows.len()),
                };
                out.extend(rows[i].iter().cloned());
            }
            Drawer::Uniform(min, max) => out.push(ParamValue::Int(rng.random_range(*min..=*max))),
            Drawer::Zipf(min, z) => {
                let k = z.sample(rng) as i64;
                out.push(ParamValue::Int(min.saturating_add(k - 1)));
            }
            Drawer::Normal(min, max, n) => {
                let x = n.sample(rng).round();
                let v = if x.is_nan() {
                    *min
                } else {
                    (x.clamp(*min as f64, *max as f64)) as i64
                };
                out.push(ParamValue::Int(v));
            }
            Drawer::Time { first, span, width } => {
                let start = first + rng.random_range(0..=*span);
                let at = |us: i64| DateTime::<Utc>::from_timestamp_micros(us).unwrap_or_default();
                out.push(ParamValue::Time(at(start)));
                if let Some(w) = width {
                    out.push(ParamValue::Time(at(start + w)));
                }
            }
        }
        None
    }

    /// Rows it draws from (files and lists).
    pub fn rows(&self) -> Option<usize> {
        match &self.draw {
            Drawer::Rows { rows, .. } => Some(rows.len()),
            _ => None,
        }
    }
}

/// A file or a sample names its columns with `column` or with `columns`: one of them.
/// A source's data file (relative to the workload file's folder) and its bytes.
fn read_data(dir: &Path, path: &str) -> Result<(PathBuf, Vec<u8>), SourceIssue> {
    let full = dir.join(path);
    let bytes = std::fs::read(&full).map_err(|e| SourceIssue {
        file: Some(full.clone()),
        line: None,
        field: "path".into(),
        message: format!("cannot be read: {e}"),
    })?;
    Ok((full, bytes))
}

impl Origin {
    /// Where a file source's `rows` came from: its path as written and its bytes' SHA-256.
    fn of(path: &str, bytes: &[u8], rows: usize) -> Origin {
        Origin {
            path: PathBuf::from(path),
            sha256: sha2::Sha256::digest(bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            bytes: bytes.len() as u64,
            rows,
        }
    }
}

/// A plain SQL identifier: a letter or _, then letters, digits and _ (folded to lower case by
/// the server, as in the user's own statements).
fn identifier(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// A file of vectors (`.npy`, float32 2-D; `.fvecs`): one vector per row, one parameter.
fn vector_file(path: &str) -> bool {
    path.ends_with(".npy") || path.ends_with(".fvecs")
}

/// The rows of a vector file, one `Vector` value each.
fn vector_rows(full: &Path, bytes: &[u8]) -> Result<Vec<Vec<ParamValue>>, SourceIssue> {
    let parsed = if full.extension().is_some_and(|e| e == "npy") {
        super::vectors::files::parse_npy(bytes)
    } else {
        super::vectors::files::parse_fvecs(bytes)
    };
    let m = parsed.map_err(|e| SourceIssue {
        file: Some(full.to_path_buf()),
        line: None,
        field: "path".into(),
        message: e,
    })?;
    if m.rows == 0 || m.dim == 0 {
        return Err(SourceIssue {
            file: Some(full.to_path_buf()),
            line: None,
            field: "path".into(),
            message: format!(
                "holds {} rows of dimension {}: nothing to draw",
                m.rows, m.dim
            ),
        });
    }
    Ok(m.data
        .chunks(m.dim)
        .map(|row| vec![ParamValue::Vector(row.to_vec())])
        .collect())
}

fn one_way_to_name_columns(
    column: &Option<String>,
    columns: &[String],
    of: &str,
) -> Result<(), SourceIssue> {
    let issue = |field: &str, message: String| SourceIssue {
        file: None,
        line: None,
        field: field.to_string(),
        message,
    };
    match (column, columns.is_empty()) {
        (None, true) => Err(issue(
            "column",
            format!("names no column{of}: set `column = \"NAME\"` or `columns = [\"A\", \"B\"]`"),
        )),
        (Some(_), false) => Err(issue(
            "columns",
            "set either `column` or `columns`, not both".into(),
        )),
        _ => Ok(()),
    }
}

fn list_value(v: &toml::Value) -> Option<ParamValue> {
    Some(match v {
        toml::Value::Integer(i) => ParamValue::Int(*i),
        toml::Value::Float(f) => ParamValue::Float(*f),
        toml::Value::String(s) => ParamValue::Text(s.clone()),
        toml::Value::Datetime(d) => ParamValue::Time(parse_time(&d.to_string())?),
        _ => return None,
    })
}

/// RFC 3339, or PostgreSQL's own text form of a timestamptz (`2024-01-01 10:00:00.5+00`,
/// as its log shows parameters).
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%#z"))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

struct Table {
    rows: Vec<Vec<ParamValue>>,
    weights: Option<Vec<f64>>,
}

/// A cell before its column's type is known: text as read (CSV) or a JSON scalar.
enum Cell {
    Text(String),
    Json(serde_json::Value),
}

fn read_table(
    path: &Path,
    bytes: &[u8],
    wanted: &[String],
    weight: Option<&str>,
    kind: Option<ValueKind>,
    types: &std::collections::BTreeMap<String, ValueKind>,
) -> Result<Table, SourceIssue> {
    let issue = |line: Option<usize>, field: &str, message: String| SourceIssue {
        file: Some(path.to_path_buf()),
        line,
        field: field.to_string(),
        message,
    };
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut names: Vec<&str> = wanted.iter().map(String::as_str).collect();
    if let Some(w) = weight {
        names.push(w);
    }
    // Each row's wanted cells (and weight last), with the row's line.
    let mut cells: Vec<(usize, Vec<Cell>)> = Vec::new();
    match ext.as_str() {
        "csv" => {
            let mut r = csv::ReaderBuilder::new().from_reader(bytes);
            let header = r
                .headers()
                .map_err(|e| issue(Some(1), "header", format!("cannot be read: {e}")))?
                .clone();
            let mut at = Vec::new();
            for n in &names {
                match header.iter().position(|h| h.trim() == *n) {
                    Some(i) => at.push(i),
                    None => {
                        return Err(issue(
                            Some(1),
                            n,
                            format!(
                                "no such column; the header has: {}",
                                header.iter().collect::<Vec<_>>().join(", ")
                            ),
                        ));
                    }
                }
            }
            for rec in r.records() {
                let rec = rec.map_err(|e| {
                    let line = e.position().map(|p| p.line() as usize);
                    issue(line, "", format!("is not a valid CSV row: {e}"))
                })?;
                let line = rec.position().map_or(0, |p| p.line() as usize);
                let row = at
                    .iter()
                    .map(|&i| Cell::Text(rec.get(i).unwrap_or("").to_string()))
                    .collect();
                cells.push((line, row));
            }
        }
        "jsonl" | "ndjson" => {
            let text = std::str::from_utf8(bytes)
                .map_err(|e| issue(None, "", format!("is not UTF-8: {e}")))?;
            for (i, l) in text.lines().enumerate() {
                if l.trim().is_empty() {
                    continue;
                }
                let line = i + 1;
                let v: serde_json::Value = serde_json::from_str(l)
                    .map_err(|e| issue(Some(line), "", format!("is not a JSON object: {e}")))?;
                let serde_json::Value::Object(mut o) = v else {
                    return Err(issue(Some(line), "", "is not a JSON object".into()));
                };
                let mut row = Vec::with_capacity(names.len());
                for n in &names {
                    match o.remove(*n) {
                        Some(v) => row.push(Cell::Json(v)),
                        None => {
                            return Err(issue(Some(line), n, "is missing from this row".into()));
                        }
                    }
                }
                cells.push((line, row));
            }
        }
        _ => {
            return Err(issue(
                None,
                "path",
                format!(
                    "has extension `{ext}`; parameter files are .csv (with a header) or .jsonl / .ndjson (one JSON object per line)"
                ),
            ));
        }
    }
    if cells.is_empty() {
        return Err(issue(None, "path", "has no rows".into()));
    }
    let mut rows: Vec<Vec<ParamValue>> = (0..cells.len())
        .map(|_| Vec::with_capacity(wanted.len()))
        .collect();
    for (c, name) in wanted.iter().enumerate() {
        let k = match types.get(name).copied().or(kind) {
            Some(k) => k,
            None => infer(cells.iter().map(|(_, r)| &r[c])),
        };
        for (r, (line, row)) in cells.iter().enumerate() {
            let v = convert(&row[c], k).ok_or_else(|| {
                issue(
                    Some(*line),
                    name,
                    format!("{} is not {}", shown(&row[c]), kind_name(k)),
                )
            })?;
            rows[r].push(v);
        }
    }
    let weights = match weight {
        Some(w) => Some(
            cells
                .iter()
                .map(|(line, row)| {
                    let cell = &row[wanted.len()];
                    match convert(cell, ValueKind::Float) {
                        Some(ParamValue::Float(x)) if x.is_finite() && x >= 0.0 => Ok(x),
                        Some(ParamValue::Int(i)) if i >= 0 => Ok(i as f64),
                        _ => Err(issue(
                            Some(*line),
                            w,
                            format!("{} is not a weight (a number >= 0)", shown(cell)),
                        )),
                    }
                })
                .collect::<Result<Vec<f64>, _>>()?,
        ),
        None => None,
    };
    Ok(Table { rows, weights })
}

fn infer<'a>(cells: impl Iterator<Item = &'a Cell> + Clone) -> ValueKind {
    for k in [ValueKind::Int, ValueKind::Float, ValueKind::Timestamptz] {
        if cells.clone().all(|c| convert(c, k).is_some()) {
            return k;
        }
    }
    ValueKind::Text
}

fn convert(cell: &Cell, k: ValueKind) -> Option<ParamValue> {
    match cell {
        Cell::Text(s) => {
            let t = s.trim();
            match k {
                ValueKind::Int => t.parse().ok().map(ParamValue::Int),
                ValueKind::Float => t
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(ParamValue::Float),
                ValueKind::Timestamptz => parse_time(t).map(ParamValue::Time),
                ValueKind::Text => Some(ParamValue::Text(s.clone())),
            }
        }
        Cell::Json(v) => match (k, v) {
            (ValueKind::Int, serde_json::Value::Number(n)) => n.as_i64().map(ParamValue::Int),
            (ValueKind::Float, serde_json::Value::Number(n)) => n.as_f64().map(ParamValue::Float),
            (ValueKind::Timestamptz, serde_json::Value::String(s)) => {
                parse_time(s).map(ParamValue::Time)
            }
            (ValueKind::Text, serde_json::Value::String(s)) => Some(ParamValue::Text(s.clone())),
            _ => None,
        },
    }
}

fn shown(cell: &Cell) -> String {
    let s = match cell {
        Cell::Text(s) => format!("{s:?}"),
        Cell::Json(v) => v.to_string(),
    };
    if s.chars().count() > 40 {
        format!("{}...", s.chars().take(40).collect::<String>())
    } else {
        s
    }
}

fn kind_name(k: ValueKind) -> &'static str {
    match k {
        ValueKind::Int => "an integer",
        ValueKind::Float => "a number",
        ValueKind::Text => "a string",
        ValueKind::Timestamptz => "an RFC 3339 timestamp",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn dir_with(name: &str, text: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(name), text).unwrap();
        d
    }

    fn file(path: &str, columns: &[&str]) -> SourceSpec {
        SourceSpec::File {
            path: path.into(),
            column: None,
            columns: columns.iter().map(|c| c.to_string()).collect(),
            order: Order::Uniform,
            weight: None,
            kind: None,
            types: Default::default(),
        }
    }

    fn draws(s: &Source, n: usize) -> Vec<Vec<ParamValue>> {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        (0..n)
            .map(|_| {
                let mut out = Vec::new();
                s.draw(&mut rng, &mut out);
                out
            })
            .collect()
    }

    #[test]
    fn csv_columns_are_typed_by_their_values_and_drawn_from_one_row() {
        let d = dir_with(
            "o.csv",
            "customer_id,region,at\n1,eu,2024-01-01T00:00:00Z\n2,us,2024-02-01T00:00:00Z\n",
        );
        let s = Source::load(file("o.csv", &["customer_id", "region", "at"]), d.path()).unwrap();
        assert_eq!(s.spec.arity(), 3);
        assert_eq!(s.origin.as_ref().unwrap().rows, 2);
        for row in draws(&s, 50) {
            match &row[..] {
                [ParamValue::Int(1), ParamValue::Text(r), ParamValue::Time(_)] => {
                    assert_eq!(r, "eu")
                }
                [ParamValue::Int(2), ParamValue::Text(r), ParamValue::Time(_)] => {
                    assert_eq!(r, "us")
                }
                other => panic!("not one row of the file: {other:?}"),
            }
        }
    }

    #[test]
    fn a_bad_value_names_the_file_line_and_column() {
        let d = dir_with("o.jsonl", "{\"id\": 1}\n{\"id\": 2}\n{\"id\": \"x\"}\n");
        let mut spec = file("o.jsonl", &["id"]);
        if let SourceSpec::File { kind, .. } = &mut spec {
            *kind = Some(ValueKind::Int);
        }
        let e = Source::load(spec, d.path()).unwrap_err();
        assert_eq!(e.line, Some(3));
        assert_eq!(e.field, "id");
        assert!(
            e.message.contains("\"x\" is not an integer"),
            "{}",
            e.message
        );
        assert!(e.file.unwrap().ends_with("o.jsonl"));

        let d = dir_with("o.csv", "a,b\n1,2\n");
        let e = Source::load(file("o.csv", &["c"]), d.path()).unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (Some(1), "c"));
        assert!(e.message.contains("the header has: a, b"), "{}", e.message);
        let e = Source::load(file("o.txt", &["a"]), d.path()).unwrap_err();
        assert_eq!(e.field, "path");
    }

    #[test]
    fn a_column_type_overrides_inference_and_postgres_timestamps_parse() {
        let d = dir_with(
            "z.csv",
            "zip,at\n01234,2024-01-01 10:00:00.5+00\n98765,2024-01-02 00:00:00+02\n",
        );
        let mut spec = file("z.csv", &["zip", "at"]);
        if let SourceSpec::File { types, .. } = &mut spec {
            types.insert("zip".into(), ValueKind::Text);
        }
        let s = Source::load(spec, d.path()).unwrap();
        for row in draws(&s, 10) {
            assert!(
                matches!(&row[..], [ParamValue::Text(z), ParamValue::Time(_)] if z.len() == 5),
                "{row:?}"
            );
        }
    }

    #[test]
    fn sequential_follows_the_file_and_rewinds() {
        let d = dir_with("o.csv", "id\n10\n20\n30\n");
        let mut spec = file("o.csv", &["id"]);
        if let SourceSpec::File { order, .. } = &mut spec {
            *order = Order::Sequential;
        }
        let s = Source::load(spec, d.path()).unwrap();
        let ids = |s: &Source| -> Vec<i64> {
            draws(s, 4)
                .into_iter()
                .map(|r| match r[0] {
                    ParamValue::Int(i) => i,
                    _ => panic!(),
                })
                .collect()
        };
        assert_eq!(ids(&s), [10, 20, 30, 10]);
        s.rewind();
        assert_eq!(ids(&s), [10, 20, 30, 10]);
    }

    #[test]
    fn weighted_rows_are_drawn_in_proportion_and_zero_weight_never() {
        let d = dir_with("w.csv", "id,w\n1,0\n2,1\n3,3\n");
        let mut spec = file("w.csv", &["id"]);
        if let SourceSpec::File { order, weight, .. } = &mut spec {
            *order = Order::Weighted;
            *weight = Some("w".into());
        }
        let s = Source::load(spec, d.path()).unwrap();
        let mut n = [0usize; 4];
        for r in draws(&s, 4000) {
            if let ParamValue::Int(i) = r[0] {
                n[i as usize] += 1;
            }
        }
        assert_eq!(n[1], 0);
        // 3 to 1 in expectation; a seeded draw, so the bounds cannot flake.
        assert!(n[3] > 2 * n[2] && n[3] < 4 * n[2], "{n:?}");
    }

    #[test]
    fn ranges_stay_within_bounds_and_zipf_favours_min() {
        let z = Source::load(
            SourceSpec::Range {
                min: 100,
                max: 199,
                distribution: Distribution::Zipf,
                s: Some(1.1),
                mean: None,
                stddev: None,
            },
            Path::new("."),
        )
        .unwrap();
        let vals: Vec<i64> = draws(&z, 2000)
            .into_iter()
            .map(|r| match r[0] {
                ParamValue::Int(i) => i,
                _ => panic!(),
            })
            .collect();
        assert!(vals.iter().all(|v| (100..=199).contains(v)));
        let first = vals.iter().filter(|v| **v == 100).count();
        let last = vals.iter().filter(|v| **v == 199).count();
        assert!(first > 10 * last.max(1), "{first} vs {last}");

        let n = Source::load(
            SourceSpec::Range {
                min: 0,
                max: 10,
                distribution: Distribution::Normal,
                s: None,
                mean: Some(50.0),
                stddev: Some(1.0),
            },
            Path::new("."),
        )
        .unwrap();
        assert!(draws(&n, 100).iter().all(|r| r[0] == ParamValue::Int(10)));

        let e = Source::load(
            SourceSpec::Range {
                min: 5,
                max: 1,
                distribution: Distribution::Uniform,
                s: None,
                mean: None,
                stddev: None,
            },
            Path::new("."),
        )
        .unwrap_err();
        assert_eq!(e.field, "max");
    }

    #[test]
    fn params_read_as_a_name_or_a_table() {
        #[derive(Deserialize)]
        struct Op {
            params: Vec<Param>,
        }
        let op: Op = toml::from_str(
            r#"params = ["document_id", { from = "list", values = ["a", 2, 2.5] }, { from = "range", min = 1, max = 3 }]"#,
        )
        .unwrap();
        assert!(op.params[0] == ParamGen::DocumentId);
        assert!(
            matches!(&op.params[1], Param::Source(s) if matches!(s.spec, SourceSpec::List { .. }))
        );
        let e = toml::from_str::<Op>(r#"params = [{ from = "files", path = "x" }]"#)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("unknown variant `files`"), "{e}");
        let e = toml::from_str::<Op>(r#"params = [{ from = "range", min = 1, max = 2, sd = 3 }]"#)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("unknown field `sd`"), "{e}");
        let e = toml::from_str::<Op>(r#"params = ["term_commons"]"#)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("term_common"), "{e}");
    }

    #[test]
    fn a_time_window_stays_inside_its_range_and_keeps_its_width() {
        let spec: SourceSpec = toml::from_str(
            "from = \"time\"\nmin = 2024-01-01T00:00:00Z\nmax = \"2024-01-31T00:00:00Z\"\nwidth = \"7d\"",
        )
        .unwrap();
        assert_eq!(spec.arity(), 2);
        let s = Source::load(spec, Path::new(".")).unwrap();
        let lo = parse_time("2024-01-01T00:00:00Z").unwrap();
        let hi = parse_time("2024-01-31T00:00:00Z").unwrap();
        let mut starts = std::collections::BTreeSet::new();
        for row in draws(&s, 500) {
            let [ParamValue::Time(a), ParamValue::Time(b)] = &row[..] else {
                panic!("{row:?}");
            };
            assert!(*a >= lo && *b <= hi, "{a} {b}");
            assert_eq!(*b - *a, chrono::Duration::days(7));
            starts.insert(a.timestamp() / 86400);
        }
        // Spread over the 24 possible start days, not stuck at one end.
        assert!(starts.len() > 20, "{starts:?}");
        let one: SourceSpec = toml::from_str(
            "from = \"time\"\nmin = 2024-01-01T00:00:00Z\nmax = 2024-01-01T00:00:10Z",
        )
        .unwrap();
        assert_eq!(one.arity(), 1);
        for (bad, field, says) in [
            (
                "min = 2024-02-01T00:00:00Z\nmax = 2024-01-01T00:00:00Z",
                "max",
                "before min",
            ),
            (
                "min = 2024-01-01T00:00:00Z\nmax = 2024-01-02T00:00:00Z\nwidth = \"2d\"",
                "max",
                "plus the width",
            ),
            (
                "min = \"yesterday\"\nmax = 2024-01-02T00:00:00Z",
                "min",
                "not a date-time",
            ),
            (
                "min = 2024-01-01T00:00:00Z\nmax = 2024-01-02T00:00:00Z\nwidth = \"a week\"",
                "width",
                "not a duration",
            ),
        ] {
            let spec: SourceSpec = toml::from_str(&format!("from = \"time\"\n{bad}")).unwrap();
            let e = Source::load(spec, Path::new(".")).unwrap_err();
            assert!(
                e.field == field && e.message.contains(says),
                "{bad}: {} {}",
                e.field,
                e.message
            );
        }
    }

    #[test]
    fn a_vector_file_gives_one_vector_per_draw() {
        let d = tempfile::tempdir().unwrap();
        let m = crate::dataset::vectors::files::Matrix {
            rows: 3,
            dim: 2,
            data: vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
        };
        let mut f = std::fs::File::create(d.path().join("q.npy")).unwrap();
        crate::dataset::vectors::files::write_npy(&mut f, &m).unwrap();
        let spec: SourceSpec =
            toml::from_str("from = \"file\"\npath = \"q.npy\"\norder = \"sequential\"").unwrap();
        assert_eq!(spec.arity(), 1);
        let s = Source::load(spec, d.path()).unwrap();
        let got: Vec<Vec<ParamValue>> = draws(&s, 4);
        assert_eq!(
            got,
            [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0], [0.0, 1.0]]
                .map(|v| vec![ParamValue::Vector(v.to_vec())])
        );
        assert_eq!(s.record("op", 0).rows, Some(3));
        let spec: SourceSpec =
            toml::from_str("from = \"file\"\npath = \"q.npy\"\ncolumn = \"v\"").unwrap();
        let e = Source::load(spec, d.path()).unwrap_err();
        assert!(e.message.contains("one vector per row"), "{}", e.message);
        std::fs::write(d.path().join("bad.npy"), b"not numpy").unwrap();
        let spec: SourceSpec = toml::from_str("from = \"file\"\npath = \"bad.npy\"").unwrap();
        let e = Source::load(spec, d.path()).unwrap_err();
        assert!(
            e.file.is_some_and(|f| f.ends_with("bad.npy")),
            "{}",
            e.message
        );
    }
}
