//! This store's part of the input files: its ops (workload files) and its profile format,
//! with the checks that need no server.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::backend::model::{OpDef, TargetKind, WorkloadDef, WorkloadFile};
use crate::dataset::ParamGen;
use crate::error::{Error, Result};
use crate::source::SourceFile;

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

pub fn load_ops(src: &SourceFile) -> Result<WorkloadDef> {
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

pub fn load_profile(path: &Path) -> Result<PgProfile> {
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

/// Settings PostgreSQL applies only at a restart (context `postmaster`) that profiles tune.
/// `validate` uses this list; at run time the server's own `pg_settings.context` decides.
pub const RESTART_SETTINGS: &[&str] = &[
    "shared_buffers",
    "max_connections",
    "huge_pages",
    "huge_page_size",
    "max_worker_processes",
    "shared_preload_libraries",
    "wal_buffers",
    "wal_level",
    "max_wal_senders",
    "max_replication_slots",
    "max_prepared_transactions",
    "max_locks_per_transaction",
    "max_pred_locks_per_transaction",
    "max_files_per_process",
    "autovacuum_max_workers",
    "superuser_reserved_connections",
    "track_activity_query_size",
    "track_commit_timestamp",
    "min_dynamic_shared_memory",
    "shared_memory_type",
    "dynamic_shared_memory_type",
    "archive_mode",
    "io_method",
    "listen_addresses",
    "port",
];

/// What can be told about a profile for `target` without a server (`has_dataset`: the
/// scenario puts a dataset on the target).
pub fn profile_problems(
    target: &crate::backend::model::Target,
    profile: &PgProfile,
    has_dataset: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    if !has_dataset {
        out.push(format!(
            "target {} has no dataset, so there is no schema for the profile's indexes; add a dataset on it",
            target.name
        ));
    }
    let restart: Vec<&str> = profile
        .settings
        .keys()
        .map(String::as_str)
        .filter(|k| RESTART_SETTINGS.contains(k))
        .collect();
    if !restart.is_empty() && target.restart_command.is_none() {
        out.push(format!(
            "changes {} which PostgreSQL only applies at a restart, but targets.{}.restart_command is not set in the scenario (e.g. \"../scripts/stack restart postgres\")",
            restart.join(", "),
            target.name
        ));
    }
    out
}

/// What a target URL must look like, and whether `url` does (checked without connecting).
pub const URL_EXPECTED: &str = "a PostgreSQL URL; expected postgres://USER:PASSWORD@HOST:PORT/DB";

pub fn url_fits(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Why `url` would fail to parse when a run connects, with the parser the run uses.
pub fn url_parse_problem(url: &str) -> Option<String> {
    <sqlx::postgres::PgConnectOptions as std::str::FromStr>::from_str(
        &crate::secrets::strip_secret_params(url, crate::secrets::PG_SECRET_PARAMS),
    )
    .err()
    .map(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::{SettingValue, count_placeholders};

    #[test]
    fn percent_of_memory_resolves_to_megabytes() {
        let v = SettingValue::Text("25%".into());
        assert_eq!(v.resolve(8 * 1024 * 1024 * 1024), "2048MB");
        assert_eq!(SettingValue::Text("16MB".into()).resolve(0), "16MB");
        assert_eq!(SettingValue::Bool(true).resolve(0), "on");
    }

    #[test]
    fn placeholders() {
        assert_eq!(count_placeholders("select $1, $2 where x = $2"), 2);
        assert_eq!(count_placeholders("select 1"), 0);
        assert_eq!(count_placeholders("a = $10"), 10);
    }
}
