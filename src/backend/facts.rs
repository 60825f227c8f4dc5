//! What a store reports about itself into results.json: its environment, its datasets, the
//! changes a profile made, readiness, configuration checks and the revert.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
    pub fn configured(target: &crate::backend::model::Target, min_connections: u32) -> Self {
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
