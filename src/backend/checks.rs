//! Configuration checks (`[[checks]]` in a scenario): facts about a server's configuration
//! that an optimization plan requires (pg_stat_statements enabled, every foreign key
//! indexed, bucket versioning on ...). They are evaluated under every profile, after its
//! workloads ran, and by `tunebench check` on the servers as they are.

use serde::{Deserialize, Serialize};

use crate::backend::model::TargetKind;
use crate::error::InputIssue;
use crate::source::SourceFile;
use crate::source::parse_duration;

/// One `[[checks]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckFile {
    target: String,
    check: String,
    /// slow_query_log: the largest acceptable `log_min_duration_statement`, e.g. "100ms".
    max: Option<String>,
    /// cache_hit_ratio / index_hit_ratio: the smallest acceptable ratio, 0..1.
    min: Option<f64>,
    /// property_indexes: `Label.property` pairs that must be indexed.
    #[serde(default)]
    properties: Vec<String>,
    /// lifecycle: the expiry the rule must have, in days.
    expire_days: Option<i32>,
    /// hnsw: the HNSW parameters the collection must have.
    m: Option<u32>,
    ef_construct: Option<u32>,
}

/// What a check verifies. Serialized into results.json with the scenario.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "check", rename_all = "snake_case", deny_unknown_fields)]
pub enum CheckKind {
    /// PostgreSQL: the extension exists in the database and is preloaded.
    PgStatStatements,
    /// PostgreSQL: every foreign key in the datasets' schemas has an index whose leading
    /// columns are the key's columns.
    FkIndexes,
    /// PostgreSQL: `log_min_duration_statement` is on and at most `max_ms`.
    SlowQueryLog { max_ms: f64 },
    /// PostgreSQL: buffer cache hit ratio over the measured phases (cumulative since the
    /// statistics reset under `tunebench check`).
    CacheHitRatio { min: f64 },
    /// PostgreSQL: a GIN index on a tsvector column in the datasets' schemas.
    FtsIndex,
    /// Neo4j: an online index on each `Label.property`.
    PropertyIndexes { properties: Vec<String> },
    /// Neo4j: at least one online full-text index.
    FulltextIndex,
    /// Neo4j: index anchors / all anchors of the profiled plans (needs a run).
    IndexHitRatio { min: f64 },
    /// S3: bucket versioning is Enabled.
    Versioning,
    /// S3: a lifecycle rule expires current objects after exactly `expire_days`.
    Lifecycle { expire_days: i32 },
    /// S3: a bucket policy is set.
    BucketPolicy,
    /// Qdrant: the collection's HNSW graph has these parameters.
    Hnsw { m: u32, ef_construct: u32 },
    /// Qdrant: the collection has int8 scalar quantization.
    Int8Quantization,
}

/// A resolved check: which target, what, and how it reads in a report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfigCheck {
    pub target: String,
    pub kind: CheckKind,
    /// e.g. `pg: slow_query_log <= 100 ms`.
    pub text: String,
}

const VALID: &str = "postgres: pg_stat_statements, fk_indexes, slow_query_log (max), cache_hit_ratio (min), fts_index; neo4j: property_indexes (properties), fulltext_index, index_hit_ratio (min); s3: versioning, lifecycle (expire_days), bucket_policy; qdrant: hnsw (m, ef_construct), int8_quantization";

impl CheckKind {
    pub fn store(&self) -> TargetKind {
        match self {
            CheckKind::PgStatStatements
            | CheckKind::FkIndexes
            | CheckKind::SlowQueryLog { .. }
            | CheckKind::CacheHitRatio { .. }
            | CheckKind::FtsIndex => TargetKind::Postgres,
            CheckKind::PropertyIndexes { .. }
            | CheckKind::FulltextIndex
            | CheckKind::IndexHitRatio { .. } => TargetKind::Neo4j,
            CheckKind::Versioning | CheckKind::Lifecycle { .. } | CheckKind::BucketPolicy => {
                TargetKind::S3
            }
            CheckKind::Hnsw { .. } | CheckKind::Int8Quantization => TargetKind::Qdrant,
        }
    }

    /// What passing means, in words.
    pub fn expected(&self) -> String {
        match self {
            CheckKind::PgStatStatements => {
                "extension installed and in shared_preload_libraries".into()
            }
            CheckKind::FkIndexes => "every foreign key has a supporting index".into(),
            CheckKind::SlowQueryLog { max_ms } => {
                format!("log_min_duration_statement between 0 and {max_ms} ms")
            }
            CheckKind::CacheHitRatio { min } => format!("cache hit ratio >= {:.0} %", min * 100.0),
            CheckKind::FtsIndex => "a GIN index on a tsvector column".into(),
            CheckKind::PropertyIndexes { properties } => {
                format!("online index on {}", properties.join(", "))
            }
            CheckKind::FulltextIndex => "an online full-text index".into(),
            CheckKind::IndexHitRatio { min } => format!("index hit ratio >= {:.0} %", min * 100.0),
            CheckKind::Versioning => "bucket versioning Enabled".into(),
            CheckKind::Lifecycle { expire_days } => {
                format!("a lifecycle rule expiring objects after {expire_days} days")
            }
            CheckKind::BucketPolicy => "a bucket policy is set".into(),
            CheckKind::Hnsw { m, ef_construct } => {
                format!("HNSW m = {m}, ef_construct = {ef_construct}")
            }
            CheckKind::Int8Quantization => "int8 scalar quantization".into(),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            CheckKind::PgStatStatements => "pg_stat_statements",
            CheckKind::FkIndexes => "fk_indexes",
            CheckKind::SlowQueryLog { .. } => "slow_query_log",
            CheckKind::CacheHitRatio { .. } => "cache_hit_ratio",
            CheckKind::FtsIndex => "fts_index",
            CheckKind::PropertyIndexes { .. } => "property_indexes",
            CheckKind::FulltextIndex => "fulltext_index",
            CheckKind::IndexHitRatio { .. } => "index_hit_ratio",
            CheckKind::Versioning => "versioning",
            CheckKind::Lifecycle { .. } => "lifecycle",
            CheckKind::BucketPolicy => "bucket_policy",
            CheckKind::Hnsw { .. } => "hnsw",
            CheckKind::Int8Quantization => "int8_quantization",
        }
    }
}

/// Resolves `[[checks]]`, reporting every problem with its field.
pub fn resolve(
    src: &SourceFile,
    files: &[CheckFile],
    target_kind: impl Fn(&str) -> Option<TargetKind>,
    target_names: &[String],
    issues: &mut Vec<InputIssue>,
) -> Vec<ConfigCheck> {
    let mut out = Vec::new();
    for (i, c) in files.iter().enumerate() {
        let field = format!("checks[{i}]");
        let kind = match parse_kind(src, &field, c, issues) {
            Some(k) => k,
            None => continue,
        };
        match target_kind(&c.target) {
            None => issues.push(src.issue(
                &format!("{field}.target"),
                format!(
                    "`{}` is not a target of this scenario; targets: {}",
                    c.target,
                    target_names.join(", ")
                ),
            )),
            Some(t) if t != kind.store() => issues.push(src.issue(
                &format!("{field}.check"),
                format!(
                    "`{}` is a {} check but target `{}` is kind = \"{}\"; valid checks: {VALID}",
                    c.check,
                    kind.store().name(),
                    c.target,
                    t.name()
                ),
            )),
            Some(_) => {
                let text = match &kind {
                    CheckKind::SlowQueryLog { max_ms } => {
                        format!("{}: slow_query_log <= {max_ms} ms", c.target)
                    }
                    CheckKind::CacheHitRatio { min } | CheckKind::IndexHitRatio { min } => {
                        format!("{}: {} >= {:.0} %", c.target, kind.name(), min * 100.0)
                    }
                    CheckKind::PropertyIndexes { properties } => format!(
                        "{}: property_indexes on {}",
                        c.target,
                        properties.join(", ")
                    ),
                    CheckKind::Lifecycle { expire_days } => {
                        format!("{}: lifecycle expire_days = {expire_days}", c.target)
                    }
                    CheckKind::Hnsw { m, ef_construct } => {
                        format!("{}: hnsw m = {m}, ef_construct = {ef_construct}", c.target)
                    }
                    k => format!("{}: {}", c.target, k.name()),
                };
                out.push(ConfigCheck {
                    target: c.target.clone(),
                    kind,
                    text,
                });
            }
        }
    }
    out
}

fn parse_kind(
    src: &SourceFile,
    field: &str,
    c: &CheckFile,
    issues: &mut Vec<InputIssue>,
) -> Option<CheckKind> {
    let mut unused = |name: &str, given: bool| {
        if given {
            issues.push(src.issue(
                &format!("{field}.{name}"),
                format!("does not apply to check `{}`", c.check),
            ));
        }
    };
    let (max, min, props, days) = (
        c.max.is_some(),
        c.min.is_some(),
        !c.properties.is_empty(),
        c.expire_days.is_some(),
    );
    if c.check != "hnsw" {
        unused("m", c.m.is_some());
        unused("ef_construct", c.ef_construct.is_some());
    }
    let kind = match c.check.as_str() {
        "pg_stat_statements" | "fk_indexes" | "fts_index" | "fulltext_index" | "versioning"
        | "bucket_policy" | "int8_quantization" => {
            unused("max", max);
            unused("min", min);
            unused("properties", props);
            unused("expire_days", days);
            match c.check.as_str() {
                "pg_stat_statements" => CheckKind::PgStatStatements,
                "fk_indexes" => CheckKind::FkIndexes,
                "fts_index" => CheckKind::FtsIndex,
                "fulltext_index" => CheckKind::FulltextIndex,
                "versioning" => CheckKind::Versioning,
                "int8_quantization" => CheckKind::Int8Quantization,
                _ => CheckKind::BucketPolicy,
            }
        }
        "slow_query_log" => {
            unused("min", min);
            unused("properties", props);
            unused("expire_days", days);
            let text = c.max.as_deref().unwrap_or("100ms");
            match parse_duration(text) {
                Some(d) => CheckKind::SlowQueryLog {
                    max_ms: d.as_secs_f64() * 1000.0,
                },
                None => {
                    issues.push(src.issue(
                        &format!("{field}.max"),
                        format!("`{text}` is not a duration; write e.g. \"100ms\""),
                    ));
                    return None;
                }
            }
        }
        "cache_hit_ratio" | "index_hit_ratio" => {
            unused("max", max);
            unused("properties", props);
            unused("expire_days", days);
            let default = if c.check == "cache_hit_ratio" {
                0.9
            } else {
                0.8
            };
            let min = c.min.unwrap_or(default);
            if !(0.0..=1.0).contains(&min) {
                issues.push(src.issue(
                    &format!("{field}.min"),
                    format!("{min} is not a ratio; write a fraction between 0 and 1 (0.9 = 90 %)"),
                ));
                return None;
            }
            if c.check == "cache_hit_ratio" {
                CheckKind::CacheHitRatio { min }
            } else {
                CheckKind::IndexHitRatio { min }
            }
        }
        "property_indexes" => {
            unused("max", max);
            unused("min", min);
            unused("expire_days", days);
            let bad: Vec<&String> = c
                .properties
                .iter()
                .filter(|p| {
                    let mut parts = p.split('.');
                    let ok = |s: Option<&str>| {
                        s.is_some_and(|s| {
                            !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_')
                        })
                    };
                    !(ok(parts.next()) && ok(parts.next()) && parts.next().is_none())
                })
                .collect();
            if c.properties.is_empty() || !bad.is_empty() {
                issues.push(src.issue(
                    &format!("{field}.properties"),
                    "list the indexed properties as \"Label.property\", e.g. properties = [\"TunebenchUser.handle\"]",
                ));
                return None;
            }
            CheckKind::PropertyIndexes {
                properties: c.properties.clone(),
            }
        }
        "hnsw" => {
            unused("max", max);
            unused("min", min);
            unused("properties", props);
            unused("expire_days", days);
            CheckKind::Hnsw {
                m: c.m.unwrap_or(16),
                ef_construct: c.ef_construct.unwrap_or(100),
            }
        }
        "lifecycle" => {
            unused("max", max);
            unused("min", min);
            unused("properties", props);
            match c.expire_days {
                Some(d) if d >= 1 => CheckKind::Lifecycle { expire_days: d },
                _ => {
                    issues.push(src.issue(
                        &format!("{field}.expire_days"),
                        "is required: the days after which the rule must expire objects, e.g. 90",
                    ));
                    return None;
                }
            }
        }
        other => {
            issues.push(src.issue(
                &format!("{field}.check"),
                format!("unknown check `{other}`; valid: {VALID}"),
            ));
            return None;
        }
    };
    Some(kind)
}
