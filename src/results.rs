//! The versioned results file: the single source of truth that reports, comparisons and the
//! CI gate read. Histograms are stored whole so any two runs can be compared later.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, InputIssue, Result};
use crate::metrics::LatencySummary;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Results {
    pub schema_version: u32,
    pub tool: Tool,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// The scenario as resolved (overrides applied, files loaded); no credentials.
    pub scenario: serde_json::Value,
    pub environment: Environment,
    pub datasets: Vec<DatasetReport>,
    pub runs: Vec<ProfileRun>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub name: String,
    pub version: String,
    pub git_commit: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    pub host: Host,
    pub targets: BTreeMap<String, TargetEnv>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Host {
    pub hostname: String,
    pub os: String,
    pub arch: String,
    pub cores: usize,
    pub memory_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetEnv {
    pub kind: String,
    /// Connection URL with the password replaced by `***`.
    pub url: String,
    pub server_version: String,
    /// Server settings whose source is not the built-in default, before any profile.
    pub non_default_settings: BTreeMap<String, String>,
    /// The harness's own connection pool, as configured and as observed.
    pub pool: PoolReport,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolReport {
    pub min_connections: u32,
    pub max_connections: u32,
    pub idle_timeout_s: f64,
    pub connect_timeout_s: f64,
    /// Connections still checked out when a workload's worker pool closed, summed over all
    /// workloads and profiles (a leak if above zero).
    pub leaked_connections: u32,
}

impl PoolReport {
    /// The target's pool settings as configured, before any workload ran. `min_connections`
    /// is what the store keeps open (0 for clients that connect per worker).
    pub fn configured(target: &crate::scenario::Target, min_connections: u32) -> Self {
        PoolReport {
            min_connections,
            max_connections: target.pool.max_connections,
            idle_timeout_s: target.pool_idle_timeout.as_secs_f64(),
            connect_timeout_s: target.pool_connect_timeout.as_secs_f64(),
            leaked_connections: 0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetReport {
    pub name: String,
    pub target: String,
    pub schema: String,
    pub spec_hash: String,
    /// False when an identical, complete dataset was already loaded and reused.
    pub loaded: bool,
    pub rows: BTreeMap<String, u64>,
    pub load_seconds: Option<f64>,
    pub load_rows_per_s: Option<f64>,
    pub term_bands: Vec<crate::dataset::TermStats>,
    /// Per-kind load speeds where a store reports them, e.g. `nodes_per_s`,
    /// `relationships_per_s` for a graph.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub load_rates: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileRun {
    pub profile: String,
    pub changes: Vec<TargetChanges>,
    pub readiness: Vec<ReadinessCheck>,
    pub workloads: Vec<WorkloadResult>,
    pub server: BTreeMap<String, Evidence>,
    pub criteria: Vec<CriterionResult>,
    /// Configuration checks evaluated under this profile, after its workloads ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckResult>,
    pub revert: Vec<RevertReport>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetChanges {
    pub target: String,
    pub profile_file: String,
    pub description: String,
    pub settings: Vec<SettingChange>,
    pub indexes: Vec<IndexChange>,
    pub restarted: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingChange {
    pub name: String,
    pub requested: String,
    pub before: String,
    pub after: String,
    /// pg_settings.context, e.g. `postmaster` (needs a restart) or `user`.
    pub context: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexChange {
    pub name: String,
    pub table: String,
    pub definition: String,
    /// False when the index already existed: then it is neither built nor dropped by us.
    pub created: bool,
    pub build_seconds: Option<f64>,
    pub size_bytes: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadinessCheck {
    pub target: String,
    pub check: String,
    pub expected: String,
    pub actual: String,
    pub ok: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadResult {
    pub profile: String,
    pub workload: String,
    pub target: String,
    /// `closed` (N clients) or `open` (fixed arrival rate, latency from the intended start).
    pub mode: String,
    pub concurrency: u32,
    pub rate_ops_s: Option<f64>,
    pub trials: u32,
    pub ops: u64,
    pub errors: u64,
    pub errors_by_kind: BTreeMap<String, ErrorCount>,
    /// Measured wall time over all trials, seconds.
    pub duration_s: f64,
    /// Completed operations / measured wall time.
    pub throughput_ops_s: f64,
    /// Payload bytes moved / measured wall time, where operations move payloads.
    pub bytes_per_s: Option<f64>,
    /// Mean recall@k over the queries, against exact ground truth, where it applies: an id
    /// counts only if it is in the exact top-k (ties within f32 rounding).
    pub recall_at_k: Option<f64>,
    /// The same, judged with ann-benchmarks' tolerance (an id within 1e-3 of the k-th true
    /// distance counts): a second figure, used by criteria only when they name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recall_at_k_tolerant: Option<f64>,
    /// Recall per judged query (mean over its answers), so a figure can be checked query by
    /// query against an independent computation (scripts/crosscheck-recall).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recall_by_query: Vec<QueryRecall>,
    pub k: Option<u32>,
    pub latency_ms: LatencySummary,
    /// Open loop only: how late operations started against their schedule (queueing behind
    /// busy connections included).
    pub schedule_lag_ms: Option<LatencySummary>,
    /// Open loop only: how late the pacer woke a connection that was waiting for its next
    /// start (the timer's own precision; queueing excluded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer_lag_ms: Option<LatencySummary>,
    /// The load generator's own cost and the host's load while this workload was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harness: Option<HarnessReport>,
    /// HdrHistogram V2 (deflate), base64; microseconds.
    pub histogram: String,
    pub operations: Vec<OpResult>,
    pub per_trial: Vec<TrialResult>,
}

/// One held-out query's recall@k: `filter` 0 is unfiltered, else 1 + the index of the
/// dataset's filter; `query` is the 0-based query row.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QueryRecall {
    pub filter: u32,
    pub query: u32,
    /// Answers judged (the query may be drawn several times).
    pub answers: u64,
    pub recall: f64,
    pub recall_tolerant: f64,
}

/// Counted beside the latencies (see `metrics::Tally`).
pub use crate::metrics::ErrorCount;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpResult {
    pub op: String,
    pub weight: u32,
    pub ops: u64,
    pub errors: u64,
    pub throughput_ops_s: f64,
    pub bytes_per_s: Option<f64>,
    pub recall_at_k: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recall_at_k_tolerant: Option<f64>,
    pub latency_ms: LatencySummary,
    pub histogram: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrialResult {
    pub trial: u32,
    pub ops: u64,
    pub errors: u64,
    pub duration_s: f64,
    pub throughput_ops_s: f64,
    pub bytes_per_s: Option<f64>,
    pub latency_ms: LatencySummary,
    pub histogram: String,
    /// CPU seconds the tunebench process used during this trial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cpu_s: Option<f64>,
    /// The host's load during this trial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<crate::host::HostLoad>,
}

/// What the load generator itself cost while a workload was measured (all trials), and
/// whether it may have limited the figures.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HarnessReport {
    /// CPU seconds of the whole tunebench process over the measured trials.
    pub client_cpu_s: f64,
    /// Client CPU per completed operation, microseconds.
    pub client_cpu_per_op_us: f64,
    /// Client CPU per worker (connection), in cores: 1.0 keeps one core busy per worker.
    pub client_cores_per_worker: f64,
    /// CPU seconds of the open-loop pacing thread (included in `client_cpu_s`).
    pub pacer_cpu_s: Option<f64>,
    /// True when the server runs inside the tunebench process (embedded Qdrant): then the
    /// client CPU includes the server's, and is not a measure of the harness alone.
    pub server_in_process: bool,
    /// The host over the measured trials: load average (highest), busy and steal shares
    /// (time-weighted).
    pub host: crate::host::HostLoad,
    /// Set when the load generator may have limited the figures; each reason says why.
    pub limited_by_harness: Vec<String>,
}

/// Server-side evidence per target, by store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "store", rename_all = "lowercase")]
pub enum Evidence {
    Postgres(PgEvidence),
    Neo4j(NeoEvidence),
    S3(S3Evidence),
    Http(HttpEvidence),
    Qdrant(QdrantEvidence),
}

impl Evidence {
    /// Plans captured before measuring (stores without plans have none).
    pub fn plans(&self) -> &[PlanCapture] {
        match self {
            Evidence::Postgres(p) => &p.plans,
            Evidence::Neo4j(n) => &n.plans,
            Evidence::S3(_) | Evidence::Http(_) => &[],
            Evidence::Qdrant(_) => &[],
        }
    }

    /// Vectors indexed per second (index build included), where the store measured it.
    pub fn index_vectors_per_s(&self) -> Option<f64> {
        match self {
            Evidence::Qdrant(q) => q.index_vectors_per_s,
            Evidence::Postgres(p) => p.index_vectors_per_s,
            Evidence::Neo4j(_) | Evidence::S3(_) | Evidence::Http(_) => None,
        }
    }

    /// What was captured, as (metric, value) lines for the report's Monitoring section.
    pub fn monitoring(&self) -> Vec<(String, String)> {
        match self {
            Evidence::Postgres(p) => vec![
                (
                    "buffer cache hit ratio".into(),
                    p.cache_hit_ratio
                        .map_or("n/a".into(), |r| format!("{:.2} %", r * 100.0)),
                ),
                (
                    "statements tracked (pg_stat_statements)".into(),
                    p.statements_note
                        .clone()
                        .unwrap_or_else(|| p.statements.len().to_string()),
                ),
                (
                    "plans captured (EXPLAIN ANALYZE)".into(),
                    p.plans.len().to_string(),
                ),
                (
                    "index build (vectors/s incl. build)".into(),
                    match (p.index_vectors_per_s, &p.index_source) {
                        (Some(r), Some(s)) => format!("{r:.0} vectors/s ({s})"),
                        _ => "n/a".into(),
                    },
                ),
            ],
            Evidence::Neo4j(n) => {
                let mut rows = vec![
                    (
                        "page cache hit ratio".to_string(),
                        match (n.page_cache_hit_ratio, &n.page_cache_note) {
                            (Some(r), None) => format!("{:.2} %", r * 100.0),
                            (Some(r), Some(note)) => format!("{:.2} % ({note})", r * 100.0),
                            (None, note) => note.clone().unwrap_or("n/a".into()),
                        },
                    ),
                    (
                        "index hit ratio (index anchors / all anchors, PROFILE)".to_string(),
                        n.index_hit_ratio
                            .map_or("n/a".into(), |r| format!("{:.2} %", r * 100.0)),
                    ),
                    (
                        "store size on disk".to_string(),
                        n.store_bytes
                            .map_or("n/a".into(), |b| format!("{:.1} MiB", b as f64 / 1048576.0)),
                    ),
                    (
                        "plans captured (PROFILE, db hits)".to_string(),
                        n.plans.len().to_string(),
                    ),
                ];
                for u in &n.index_usage {
                    rows.push((
                        format!("index reads: {} ({})", u.name, u.index_type),
                        u.reads.to_string(),
                    ));
                }
                for f in &n.fallbacks {
                    rows.push(("ran fallback query".to_string(), f.clone()));
                }
                rows
            }
            Evidence::S3(s) => s.monitoring(),
            Evidence::Http(h) => h.monitoring(),
            Evidence::Qdrant(q) => {
                let mib = |b: Option<u64>| {
                    b.map_or("n/a".into(), |b| format!("{:.1} MiB", b as f64 / 1048576.0))
                };
                vec![
                    (
                        "collection".into(),
                        format!(
                            "{} ({}, status {})",
                            q.collection,
                            q.mode,
                            q.status.as_deref().unwrap_or("n/a")
                        ),
                    ),
                    (
                        "points / indexed vectors / segments".into(),
                        format!(
                            "{} / {} / {}",
                            q.points_count, q.indexed_vectors_count, q.segments_count
                        ),
                    ),
                    (
                        "index build (vectors/s incl. build)".into(),
                        match (q.index_build_seconds, q.index_vectors_per_s) {
                            (Some(s), Some(r)) => format!(
                                "{s:.1} s, {r:.0} vectors/s ({})",
                                q.index_source.as_deref().unwrap_or("n/a")
                            ),
                            _ => "n/a".into(),
                        },
                    ),
                    ("collection size on disk".into(), mib(q.disk_bytes)),
                    (
                        "on disk by part".into(),
                        match &q.disk_by_part {
                            Some(parts) => parts
                                .iter()
                                .map(|(k, v)| format!("{k} {}", mib(Some(*v))))
                                .collect::<Vec<_>>()
                                .join(", "),
                            None => "n/a".into(),
                        },
                    ),
                    ("collection config as applied".into(), q.config.to_string()),
                    ("search parameters".into(), q.search.to_string()),
                ]
            }
        }
    }
}

/// What an HTTP endpoint answered during the measured phases (warm-up excluded). Minimal on
/// purpose: an application's endpoint exposes no server counters tunebench could trust.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct HttpEvidence {
    /// Responses per workload, op and status code (wrong statuses are also counted as errors).
    pub statuses: Vec<StatusCount>,
    /// The `Server` response header, as first seen; None when the endpoint sends none.
    pub server_header: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StatusCount {
    pub workload: String,
    pub op: String,
    pub status: u16,
    pub count: u64,
}

impl HttpEvidence {
    fn monitoring(&self) -> Vec<(String, String)> {
        let mut by_op: BTreeMap<(&str, &str), Vec<String>> = BTreeMap::new();
        for s in &self.statuses {
            by_op
                .entry((&s.workload, &s.op))
                .or_default()
                .push(format!("{} x{}", s.status, s.count));
        }
        let mut lines: Vec<(String, String)> = by_op
            .into_iter()
            .map(|((w, op), counts)| (format!("HTTP statuses, {w}.{op}"), counts.join(", ")))
            .collect();
        lines.push((
            "Server header".into(),
            self.server_header
                .clone()
                .unwrap_or_else(|| "none sent".into()),
        ));
        lines
    }
}

/// MinIO / S3 evidence: the server's Prometheus counters around the measured phases, the
/// bucket configuration as applied, time to first byte and the per-second throughput.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct S3Evidence {
    /// Selected MinIO metrics v3 series (summed over labels; requests also per API as
    /// `name:Api`) before the first measured phase.
    pub metrics_before: BTreeMap<String, f64>,
    /// The same series after the last measured phase.
    pub metrics_after: BTreeMap<String, f64>,
    /// Set when the metrics endpoint could not be read (then the maps stay empty).
    pub metrics_note: Option<String>,
    /// The bucket's configuration read back before measuring.
    pub bucket: Option<BucketConfig>,
    /// Object versions under the workloads' scratch prefix after measuring (versioning keeps
    /// every overwrite as a version).
    pub scratch_versions: Option<u64>,
    pub scratch_objects: Option<u64>,
    /// Time to first byte of GETs, per workload and op.
    pub ttfb: Vec<TtfbSummary>,
    /// Payload bytes completed in each second of each measured trial (multipart uploads:
    /// as each part completes) and operations completed in it.
    pub throughput_series: Vec<SeriesPoint>,
    /// Multipart uploads aborted after a failed or timed-out upload.
    pub uploads_aborted: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BucketConfig {
    pub bucket: String,
    /// `Enabled`, `Suspended` or `Unversioned`.
    pub versioning: String,
    pub lifecycle: Vec<crate::scenario::LifecycleRule>,
    pub policy: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TtfbSummary {
    pub workload: String,
    pub op: String,
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// HdrHistogram V2 (deflate), base64; microseconds (merged over trials).
    pub histogram: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesPoint {
    pub workload: String,
    pub second: u32,
    pub bytes: u64,
    pub ops: u64,
}

impl S3Evidence {
    fn monitoring(&self) -> Vec<(String, String)> {
        let delta = |k: &str| match (self.metrics_after.get(k), self.metrics_before.get(k)) {
            (Some(a), Some(b)) => format!("{:.0}", a - b),
            _ => "n/a".into(),
        };
        let mut lines = vec![
            (
                "MinIO requests during measurement (minio_api_requests_total)".into(),
                delta("minio_api_requests_total"),
            ),
            (
                "MinIO request errors (minio_api_requests_errors_total)".into(),
                delta("minio_api_requests_errors_total"),
            ),
            (
                "bytes received / sent (minio_api_requests_traffic_*)".into(),
                format!(
                    "{} / {}",
                    delta("minio_api_requests_traffic_received_bytes"),
                    delta("minio_api_requests_traffic_sent_bytes")
                ),
            ),
            (
                "drive space used after (minio_system_drive_used_bytes)".into(),
                self.metrics_after
                    .get("minio_system_drive_used_bytes")
                    .map_or("n/a".into(), |v| format!("{:.0}", v)),
            ),
            (
                "per-second throughput points".into(),
                self.throughput_series.len().to_string(),
            ),
        ];
        if let Some(b) = &self.bucket {
            lines.push((
                format!("bucket {} as applied", b.bucket),
                format!(
                    "versioning {}, {} lifecycle rule(s), policy {}",
                    b.versioning,
                    b.lifecycle.len(),
                    if b.policy.is_some() { "set" } else { "none" }
                ),
            ));
        }
        if let Some(n) = &self.metrics_note {
            lines.push(("metrics".into(), n.clone()));
        }
        lines
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PgEvidence {
    /// Buffer cache hit ratio over the measured phases (pg_stat_database deltas).
    pub cache_hit_ratio: Option<f64>,
    pub blocks_hit: i64,
    pub blocks_read: i64,
    /// pg_stat_statements deltas over the measured phases, for the workloads' statements.
    pub statements: Vec<StatementDelta>,
    pub statements_note: Option<String>,
    pub plans: Vec<PlanCapture>,
    /// Vector sets: rows / (COPY load + the profile's CREATE INDEX) seconds, so pgvector's
    /// indexing throughput compares with Qdrant's; absent without an index built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_vectors_per_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_source: Option<String>,
}

/// Neo4j evidence over the measured phases of one profile.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NeoEvidence {
    /// Page cache hits / (hits + faults): over the measured phases where the server exposes
    /// page cache counters (JMX), else over the captured PROFILE executions (see the note).
    pub page_cache_hit_ratio: Option<f64>,
    pub page_cache_hits: i64,
    pub page_cache_faults: i64,
    /// Where the page cache figures come from when not from measured-phase counters.
    pub page_cache_note: Option<String>,
    /// Index anchors / (index anchors + label or all-node scans) over the operators of the
    /// captured PROFILE plans: how many of the queries' starting points an index serves.
    pub index_hit_ratio: Option<f64>,
    /// SHOW INDEXES readCount deltas over the measured phases, per index. Neo4j updates
    /// readCount periodically, so a short phase may show fewer reads than it made.
    pub index_usage: Vec<IndexUsage>,
    /// Size of the database's store files on disk, bytes.
    pub store_bytes: Option<u64>,
    /// Indexes and constraints present while measuring (SHOW INDEXES / SHOW CONSTRAINTS).
    pub indexes_present: Vec<String>,
    pub constraints_present: Vec<String>,
    /// Operations that ran their fallback Cypher because the index they need was absent.
    pub fallbacks: Vec<String>,
    /// One PROFILE per operation: operators outermost first, db hits in `shared_hit`.
    pub plans: Vec<PlanCapture>,
}

/// Qdrant evidence for one profile: the collection as measured.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct QdrantEvidence {
    /// `embedded` (qdrant-edge, in-process) or `server` (gRPC).
    pub mode: String,
    pub collection: String,
    /// Server: green / yellow / grey / red. Embedded: `green` when every point is indexed
    /// and no optimization is pending, else `yellow`.
    pub status: Option<String>,
    pub points_count: u64,
    pub indexed_vectors_count: u64,
    pub segments_count: u64,
    /// The collection config as applied (HNSW, optimizers, quantization), as the engine
    /// reports it.
    pub config: serde_json::Value,
    /// Search parameters the workers sent (hnsw_ef, exact, quantization rescore/oversampling).
    pub search: serde_json::Value,
    /// Seconds until the index was really built (all vectors indexed), and vectors/s over
    /// that time.
    pub index_build_seconds: Option<f64>,
    pub index_vectors_per_s: Option<f64>,
    /// `profile apply (re-index n vectors)` or `dataset load (upsert + index)`.
    pub index_source: Option<String>,
    /// Shard folder size (embedded); the server does not report one over gRPC.
    pub disk_bytes: Option<u64>,
    /// Embedded: the shard's bytes by part: `quantized` (int8 vectors, held in RAM with
    /// `always_ram`), `vectors` (float originals), `hnsw`, `payload`, `wal`, `other`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_by_part: Option<BTreeMap<String, u64>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexUsage {
    pub name: String,
    /// RANGE, TEXT, FULLTEXT, LOOKUP, POINT, VECTOR.
    pub index_type: String,
    pub entity: String,
    pub reads: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementDelta {
    pub query: String,
    pub calls: i64,
    pub total_exec_ms: f64,
    pub mean_exec_ms: f64,
    pub rows: i64,
    pub shared_blks_hit: i64,
    pub shared_blks_read: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanCapture {
    pub workload: String,
    pub op: String,
    pub params: Vec<crate::dataset::ParamValue>,
    /// Plan nodes, outermost first, e.g. `Bitmap Index Scan on tunebench_documents_tsv_gin`.
    pub nodes: Vec<String>,
    pub uses_index: bool,
    /// pg_stat_statements query id of the statement (null when compute_query_id is off).
    pub query_id: Option<i64>,
    pub execution_ms: f64,
    pub shared_hit: i64,
    pub shared_read: i64,
    /// EXPLAIN (ANALYZE, BUFFERS, VERBOSE, FORMAT JSON) as returned.
    pub plan: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriterionResult {
    pub criterion: String,
    pub workload: String,
    pub op: Option<String>,
    pub metric: String,
    pub unit: String,
    pub threshold: f64,
    pub value: Option<f64>,
    pub passed: bool,
}

/// Whether a configuration check held. `NotEvaluated` is never a pass: it says the check
/// needs something this invocation did not have (e.g. a ratio measured during a run).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Pass,
    Fail,
    NotEvaluated,
}

/// What a store found for one check.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckOutcome {
    pub status: CheckStatus,
    /// What was found, in words (e.g. `2 of 3 foreign keys lack an index`).
    pub actual: String,
    /// Specifics: the offending objects (e.g. each unindexed foreign key).
    pub details: Vec<String>,
}

impl CheckOutcome {
    /// Pass or fail, with what was found and the offending objects.
    pub fn judged(pass: bool, actual: String, details: Vec<String>) -> Self {
        CheckOutcome {
            status: if pass {
                CheckStatus::Pass
            } else {
                CheckStatus::Fail
            },
            actual,
            details,
        }
    }

    /// The check needed something this invocation did not have; `why` says what.
    pub fn not_evaluated(why: impl Into<String>) -> Self {
        CheckOutcome {
            status: CheckStatus::NotEvaluated,
            actual: why.into(),
            details: Vec::new(),
        }
    }
}

/// One configuration check's result under one profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckResult {
    pub target: String,
    /// The check as written in the report, e.g. `pg: slow_query_log <= 100 ms`.
    pub check: String,
    pub expected: String,
    pub status: CheckStatus,
    pub actual: String,
    pub details: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevertReport {
    pub target: String,
    pub kept: bool,
    pub settings_restored: Vec<String>,
    pub indexes_dropped: Vec<String>,
    pub restarted: bool,
    /// Settings that did not come back to their captured value (empty when exact).
    pub mismatches: Vec<String>,
}

impl Results {
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("results serialize");
        std::fs::write(path, text).map_err(|e| Error::io(path, e))
    }

    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::input(InputIssue::new(
                path,
                "",
                format!("cannot read results file: {e}"),
            ))
        })?;
        Self::parse(&text, path)
    }

    /// A results file's text; `path` names it in errors (a file, or an s3:// URL).
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            Error::input(
                InputIssue::new(
                    path,
                    "",
                    format!("not valid JSON ({e}); is the file truncated?"),
                )
                .at(Some((e.line(), e.column()))),
            )
        })?;
        match value.get("schema_version").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(SCHEMA_VERSION) => {}
            Some(v) => {
                return Err(Error::input(InputIssue::new(
                    path,
                    "schema_version",
                    format!(
                        "is {v}; this tunebench reads schema_version {SCHEMA_VERSION} (re-run the scenario with this version)"
                    ),
                )));
            }
            None => {
                return Err(Error::input(InputIssue::new(
                    path,
                    "schema_version",
                    "is missing: this is not a tunebench results file",
                )));
            }
        }
        // From the text again (not the value) so that the error has a line and column.
        let results: Self = serde_json::from_str(text).map_err(|e| {
            Error::input(
                InputIssue::new(
                    path,
                    "",
                    format!("does not match results schema {SCHEMA_VERSION}: {e}"),
                )
                .at(Some((e.line(), e.column()))),
            )
        })?;
        crate::gate::GateSpec::of_results(&results.scenario, path)?;
        Ok(results)
    }
}
