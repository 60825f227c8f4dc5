//! Tuning profiles: server settings and indexes, applied before a measurement and reverted
//! after it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{SourceFile, TargetKind};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PgProfile {
    pub store: TargetKind,
    #[serde(default)]
    pub description: String,
    /// Server settings (pg_settings names). Values as PostgreSQL writes them ("16MB", "0.9",
    /// "100ms"), or a percentage of the host's memory ("25%") for memory settings.
    #[serde(default)]
    pub settings: BTreeMap<String, SettingValue>,
    #[serde(default)]
    pub indexes: Vec<IndexDef>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum SettingValue {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl SettingValue {
    /// The value as PostgreSQL should receive it. `host_memory_bytes` resolves "NN%".
    pub fn resolve(&self, host_memory_bytes: u64) -> String {
        match self {
            SettingValue::Text(t) => match t
                .strip_suffix('%')
                .and_then(|n| n.trim().parse::<f64>().ok())
            {
                Some(pct) => format!(
                    "{}MB",
                    ((host_memory_bytes as f64 * pct / 100.0) / (1024.0 * 1024.0)) as u64
                ),
                None => t.clone(),
            },
            SettingValue::Int(i) => i.to_string(),
            SettingValue::Float(f) => f.to_string(),
            SettingValue::Bool(b) => if *b { "on" } else { "off" }.to_string(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexDef {
    /// Must start with `tunebench_`; used to check existence and to drop exactly this index.
    pub name: String,
    /// Table the index is on (inside the dataset's schema).
    pub table: String,
    /// `CREATE INDEX` statement; `{schema}` is replaced with the dataset's schema.
    pub up: String,
}

pub fn load_postgres(path: &Path) -> Result<PgProfile> {
    let src = SourceFile::read(path)?;
    let profile: PgProfile = src.parse()?;
    let mut issues = Vec::new();
    if profile.store != TargetKind::Postgres {
        issues.push(src.issue(
            "store",
            "a profile for a postgres target must say store = \"postgres\"",
        ));
    }
    for (name, v) in &profile.settings {
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            issues.push(src.issue(
                &format!("settings.{name}"),
                "is not a PostgreSQL setting name",
            ));
        }
        if let SettingValue::Float(f) = v
            && !f.is_finite()
        {
            issues.push(src.issue(
                &format!("settings.{name}"),
                format!(
                    "`{f}` is not a value PostgreSQL accepts; write a finite number or a string"
                ),
            ));
        }
        if let SettingValue::Text(t) = v
            && t.ends_with('%')
            && t.trim_end_matches('%')
                .trim()
                .parse::<f64>()
                .map_or(true, |p| !(0.0..=100.0).contains(&p))
        {
            issues.push(src.issue(
                &format!("settings.{name}"),
                format!("`{t}`: a percentage of host memory must be between 0% and 100%"),
            ));
        }
    }
    for (i, idx) in profile.indexes.iter().enumerate() {
        if !idx.name.starts_with("tunebench_")
            || !idx
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            issues.push(src.issue(
                &format!("indexes[{i}].name"),
                format!("`{}`: index names must start with tunebench_ and use letters, digits and _ only, so tunebench only ever drops its own", idx.name),
            ));
        }
        if !idx
            .table
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
            || idx.table.is_empty()
        {
            issues.push(src.issue(&format!("indexes[{i}].table"), "must be a plain table name"));
        }
        if let Some(why) = super::namespace::foreign_reference(&idx.up, &idx.table) {
            issues.push(src.issue(&format!("indexes[{i}].up"), why));
        }
        let up = idx.up.to_ascii_lowercase();
        if !up.trim_start().starts_with("create")
            || !up.contains("index")
            || !idx.up.contains(&idx.name)
        {
            issues.push(src.issue(
                &format!("indexes[{i}].up"),
                format!(
                    "must be a CREATE INDEX statement that creates `{}`",
                    idx.name
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

pub fn load_neo4j(path: &Path) -> Result<NeoProfile> {
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

/// An S3 profile: bucket configuration applied to the dataset's `tunebench-` bucket, and
/// the harness's own client tuning. Every field is optional; what is absent is left alone.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Profile {
    pub store: TargetKind,
    #[serde(default)]
    pub description: String,
    /// `enabled` or `suspended` (S3 cannot return a bucket to "never versioned").
    pub versioning: Option<String>,
    /// Bucket policy JSON; `${bucket}` is replaced by the bucket's name.
    pub policy: Option<String>,
    #[serde(default)]
    pub lifecycle: Vec<LifecycleRule>,
    #[serde(default)]
    pub client: ClientTuning,
    #[serde(default)]
    pub server: ServerSettings,
}

/// MinIO server settings, applied through the target's settings file and restart command.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Erasure-coding parity of new objects (`MINIO_STORAGE_CLASS_STANDARD=EC:N`), 0..=2 on
    /// the stack's 4-drive set.
    pub parity: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LifecycleRule {
    pub id: String,
    #[serde(default)]
    pub prefix: String,
    /// Expire current versions this many days after creation.
    pub expire_days: Option<i32>,
    /// Remove noncurrent versions this many days after they became noncurrent.
    pub noncurrent_days: Option<i32>,
    /// Abort multipart uploads still incomplete this many days after they started.
    pub abort_incomplete_days: Option<i32>,
}

/// Overrides of the workload's multipart settings, for client-side tuning profiles.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClientTuning {
    pub part_size: Option<String>,
    pub parts_in_flight: Option<u32>,
}

pub fn load_s3(path: &Path) -> Result<S3Profile> {
    let src = SourceFile::read(path)?;
    let profile: S3Profile = src.parse()?;
    let mut issues = Vec::new();
    if profile.store != TargetKind::S3 {
        issues.push(src.issue(
            "store",
            "a profile for an s3 target must say store = \"s3\"",
        ));
    }
    if let Some(v) = &profile.versioning
        && v != "enabled"
        && v != "suspended"
    {
        issues.push(src.issue("versioning", format!("`{v}`: valid: enabled, suspended")));
    }
    if let Some(p) = &profile.policy
        && serde_json::from_str::<serde_json::Value>(&p.replace("${bucket}", "b")).is_err()
    {
        issues.push(src.issue("policy", "is not JSON; write the policy document as a JSON string (${bucket} is replaced by the bucket)"));
    }
    let mut ids = std::collections::BTreeSet::new();
    for (i, r) in profile.lifecycle.iter().enumerate() {
        if r.id.is_empty() || !ids.insert(r.id.clone()) {
            issues.push(src.issue(
                &format!("lifecycle[{i}].id"),
                "must be non-empty and unique",
            ));
        }
        let days = [r.expire_days, r.noncurrent_days, r.abort_incomplete_days];
        if days.iter().all(Option::is_none) {
            issues.push(src.issue(
                &format!("lifecycle[{i}]"),
                "set at least one of expire_days, noncurrent_days, abort_incomplete_days",
            ));
        }
        if days.iter().flatten().any(|d| *d < 1) {
            issues.push(src.issue(&format!("lifecycle[{i}]"), "days must be at least 1"));
        }
    }
    if let Some(ps) = &profile.client.part_size {
        match super::workload::parse_size(ps) {
            Some(v)
                if (super::workload::MIN_PART_SIZE..=super::workload::MAX_PART_SIZE)
                    .contains(&v) => {}
            _ => issues.push(src.issue(
                "client.part_size",
                format!("`{ps}`: a size between 5MiB and 64MiB, e.g. \"16MiB\""),
            )),
        }
    }
    if profile
        .client
        .parts_in_flight
        .is_some_and(|n| n == 0 || n > 64)
    {
        issues.push(src.issue("client.parts_in_flight", "must be between 1 and 64"));
    }
    if issues.is_empty() {
        Ok(profile)
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

pub fn load_qdrant(path: &Path) -> Result<QdrantProfile> {
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

#[cfg(test)]
mod tests {
    use super::SettingValue;

    #[test]
    fn percent_of_memory_resolves_to_megabytes() {
        let v = SettingValue::Text("25%".into());
        assert_eq!(v.resolve(8 * 1024 * 1024 * 1024), "2048MB");
        assert_eq!(SettingValue::Text("16MB".into()).resolve(0), "16MB");
        assert_eq!(SettingValue::Bool(true).resolve(0), "on");
    }
}
