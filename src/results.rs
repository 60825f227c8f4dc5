//! The versioned results file: the single source of truth that reports, comparisons and the
//! CI gate read. Histograms are stored whole so any two runs can be compared later.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, InputIssue, Result};
use crate::metrics::LatencySummary;

// Parts of the file defined where they are produced: each store's evidence in its folder,
// what stores report about themselves in `backend::facts`, the host in `host`.
pub use crate::backend::Evidence;
pub use crate::backend::drill::{DrillReport, DrillStep, Integrity, Verdict};
pub use crate::backend::facts::{
    CheckOutcome, CheckStatus, DatasetReport, IndexChange, PlanCapture, PoolReport, ReadinessCheck,
    RevertReport, SettingChange, TargetChanges, TargetEnv,
};
pub use crate::backend::http::{HttpEvidence, StatusCount};
pub use crate::backend::neo4j::{IndexUsage, NeoEvidence};
pub use crate::backend::postgres::{PgEvidence, StatementDelta};
pub use crate::backend::qdrant::QdrantEvidence;
pub use crate::backend::s3::{BucketConfig, S3Evidence, SeriesPoint, TtfbSummary};
pub use crate::host::{Host, Tool};
pub use crate::metrics::ErrorCount;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Results {
    pub schema_version: u32,
    pub tool: Tool,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// The scenario as resolved (overrides applied, files loaded); no credentials.
    pub scenario: RunConfig,
    pub environment: Environment,
    pub datasets: Vec<DatasetReport>,
    pub runs: Vec<ProfileRun>,
    /// Set when the run failed after measuring part of the scenario: why. `runs` then holds
    /// only the workloads measured (trials completed), and nothing may gate on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<String>,
    /// Set in a worker shard's part (`tunebench worker`): which shard, and its timing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
    /// Set in results merged from worker shards' parts (`tunebench merge`, `run --workers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<MergedFrom>,
}

/// A worker shard's part of a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ShardInfo {
    /// 0-based shard index, below `count`.
    pub index: u32,
    pub count: u32,
    /// The common start every shard planned its phases from.
    pub start_at: DateTime<Utc>,
    /// Seconds between one phase's planned end and the next one's planned start.
    pub phase_gap_s: f64,
    /// How late (ms) this shard started a trial against the plan, at most: the shards'
    /// trials overlap less by this much.
    pub late_start_max_ms: f64,
}

/// What a merged results file was merged from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MergedFrom {
    /// Number of worker shards merged.
    pub shards: u32,
    /// Spread (ms) of the shards' latest late trial starts: how far apart in time the
    /// shards' trials may have been.
    pub start_spread_ms: f64,
    /// What the merge could not keep exactly, and where server evidence comes from.
    pub notes: Vec<String>,
}

/// The scenario as it ran. What reports, comparisons and the gate read from it is typed here,
/// so renaming one of those fields is a compile error; the rest of the scenario (targets,
/// datasets, profiles, criteria, checks) is kept as written. Older files load: what they lack
/// takes its default.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunConfig {
    #[serde(default)]
    pub name: String,
    pub load: crate::scenario::Load,
    #[serde(default)]
    pub workloads: Vec<WorkloadConfig>,
    #[serde(default)]
    pub gate: crate::gate::GateSpec,
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

/// A workload of [`RunConfig`]: its name and sweep point typed, the rest as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkloadConfig {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<crate::scenario::SweepPoint>,
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

impl RunConfig {
    /// The record of a resolved scenario: its own serialization, read back typed.
    pub fn of(scenario: &crate::scenario::Scenario) -> Result<RunConfig> {
        serde_json::to_value(scenario)
            .and_then(serde_json::from_value)
            .map_err(|e| Error::Usage(format!("recording the scenario in the results: {e}")))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    pub host: Host,
    pub targets: BTreeMap<String, TargetEnv>,
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
    /// Recovery drills run under this profile, one report per drill and trial.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drills: Vec<DrillReport>,
    pub revert: Vec<RevertReport>,
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
    /// The parameter sources its ops declared: where from, rows and hash, never the values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub param_sources: Vec<crate::dataset::sources::SourceRecord>,
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
    /// CPU seconds the measured server's processes used during this trial (a server on this
    /// host, listening on loopback, in processes of its own: PostgreSQL's backends and
    /// background workers included). Absent for an embedded, remote or unfound server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_cpu_s: Option<f64>,
    /// The trial's operations per interval (latency over time); absent in files written
    /// before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intervals: Option<Intervals>,
}

/// A trial's operations window by window, each window holding the operations that
/// completed in it (open loop: latency still from the intended start).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Intervals {
    /// Length of a window, seconds.
    pub interval_s: f64,
    /// Every window from the trial's start to its last completion, none left out: a window
    /// in which nothing completed is there with 0 ops.
    pub windows: Vec<IntervalWindow>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IntervalWindow {
    /// Seconds from the trial's start.
    pub start_s: f64,
    /// The window's length: the interval, shorter for a trial's last window (it ends at the
    /// trial's last completion). Window criteria read only whole windows.
    pub duration_s: f64,
    pub ops: u64,
    pub errors: u64,
    /// Payload bytes moved, where operations move payloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Latencies of the operations that succeeded in the window: HdrHistogram V2 (deflate),
    /// base64, microseconds; empty when none did.
    pub histogram: String,
}

impl IntervalWindow {
    /// True when the window spans the whole interval (not a trial's cut-off last one).
    pub fn whole(&self, interval_s: f64) -> bool {
        self.duration_s >= interval_s * (1.0 - 1e-9)
    }
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
    /// The measured server's CPU per completed operation, microseconds, over the trials
    /// (each trial's `server_cpu_s` summed); absent unless every trial recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_cpu_per_op_us: Option<f64>,
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

impl Results {
    /// Did the trials of this run's profiles alternate (A B A B ...)? `load.interleave` with
    /// more than one profile, generated in this process: worker shards (`--workers`) run the
    /// profiles one after another.
    pub fn trials_interleaved(&self) -> bool {
        self.scenario.load.interleave
            && self.runs.len() > 1
            && self.merged.is_none()
            && self.shard.is_none()
    }

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
        let mut results: Self = serde_json::from_str(text).map_err(|e| {
            Error::input(
                InputIssue::new(
                    path,
                    "",
                    format!("does not match results schema {SCHEMA_VERSION}: {e}"),
                )
                .at(Some((e.line(), e.column()))),
            )
        })?;
        results.scenario.gate.check_in_results(path)?;
        results.upgrade_recall();
        Ok(results)
    }

    /// Files written before recall was judged strictly (a recall with no
    /// `recall_at_k_tolerant` beside it; tunebench a02b6d5 and older) hold ann-benchmarks'
    /// tolerant figure in `recall_at_k`. It moves to `recall_at_k_tolerant` and the strict
    /// figure reads as not measured, so an older baseline is never compared, judged or shown
    /// as if its recall had been judged strictly.
    fn upgrade_recall(&mut self) {
        for w in self.runs.iter_mut().flat_map(|r| r.workloads.iter_mut()) {
            if w.recall_at_k_tolerant.is_none() {
                w.recall_at_k_tolerant = w.recall_at_k.take();
            }
            for o in &mut w.operations {
                if o.recall_at_k_tolerant.is_none() {
                    o.recall_at_k_tolerant = o.recall_at_k.take();
                }
            }
        }
    }
}
