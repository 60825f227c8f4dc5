//! This store's part of the input files: its ops (workload files) and its profile format,
//! with the checks that need no server.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::backend::model::{OpDef, TargetKind, WorkloadDef, WorkloadFile};
use crate::dataset::{Param, ParamGen};
use crate::error::{Error, Result};
use crate::source::SourceFile;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlOp {
    #[serde(default)]
    pub description: String,
    /// SQL with `$1..$n` bind parameters; `{schema}` is replaced with the dataset's schema.
    pub sql: String,
    /// One generator (see [`ParamGen`]) or declared source (see [`Source`]) per group of
    /// parameters, in order.
    #[serde(default)]
    pub params: Vec<Param>,
    /// With `params = ["fresh_points"]`: points per operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<u32>,
    /// With `params = ["fresh_points"]`: size of the fresh-point pool the upserts write, in
    /// order, before rewriting it; 10 % of the dataset when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fresh_points: Option<u32>,
    /// The statement changes data tunebench did not create, on purpose: runs only with the
    /// target's `allow_writes = true`, and is never EXPLAINed (ANALYZE would run it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub writes: bool,
}

pub fn load_ops(src: &SourceFile) -> Result<WorkloadDef> {
    let mut file: WorkloadFile<SqlOp> = src.parse()?;
    let mut issues = Vec::new();
    for (name, op) in &mut file.ops {
        load_sources(
            src,
            &format!("ops.{name}.params"),
            &mut op.params,
            &mut issues,
        );
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
        let fresh = op.params.iter().any(|p| *p == ParamGen::FreshPoints);
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

/// Reads each declared source of `params` (files relative to the workload file), in place;
/// a problem names the workload file's field, or the data file's line and column.
pub fn load_sources(
    src: &SourceFile,
    field: &str,
    params: &mut [Param],
    issues: &mut Vec<crate::error::InputIssue>,
) {
    for (i, p) in params.iter_mut().enumerate() {
        let Param::Source(s) = p else { continue };
        if let crate::dataset::SourceSpec::Sample { query, .. } = &s.spec {
            let at = format!("{field}[{i}].query");
            if let Some(why) = not_read_only(query) {
                issues.push(src.issue(&at, format!("{why}; a sample is read only")));
            }
            if count_placeholders(query) > 0 {
                issues.push(src.issue(
                    &at,
                    "takes no bind parameters ($n): it runs once, before the clock starts",
                ));
            }
        }
        crate::dataset::load_param(src, &format!("{field}[{i}]"), p, issues);
    }
}

pub(crate) fn count_placeholders(sql: &str) -> usize {
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
    /// Table the index is on: a bare name is the dataset's (inside its schema); `schema.table`
    /// is a table tunebench did not create (only with the target's `allow_foreign_indexes`).
    pub table: String,
    /// `CREATE INDEX` statement; `{schema}` is replaced with the dataset's schema.
    pub up: String,
}

impl IndexDef {
    /// The schema of a table tunebench did not create (`table = "app.orders"`), if it is one.
    pub fn foreign_schema(&self) -> Option<&str> {
        self.table.split_once('.').map(|(s, _)| s)
    }
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
        let plain = |s: &str| {
            !s.is_empty()
                && !s.starts_with(|c: char| c.is_ascii_digit())
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        let (schema, table) = super::namespace::split_table(&idx.table);
        let system = schema.starts_with("pg_") || schema == "information_schema";
        if !plain(table) || (idx.foreign_schema().is_some() && (!plain(schema) || system)) {
            issues.push(src.issue(
                &format!("indexes[{i}].table"),
                format!(
                    "`{}`: write a table of the dataset (`documents`) or, on a target with allow_foreign_indexes = true, `schema.table` (letters, digits and _; not a system schema)",
                    idx.table
                ),
            ));
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
    // An index on a dataset's table needs a dataset; one on a table tunebench did not create
    // (`schema.table`) needs the target's explicit allow_foreign_indexes.
    for idx in &profile.indexes {
        match idx.foreign_schema() {
            None if !has_dataset => out.push(format!(
                "index {} is on `{}`, a dataset's table, but target {} has no dataset; name a table you own as `schema.table` (with allow_foreign_indexes = true on the target), or add a dataset",
                idx.name, idx.table, target.name
            )),
            Some(_) if !target.allow_foreign_indexes => out.push(format!(
                "index {} is on {}, a table tunebench did not create; it builds and drops indexes there (CONCURRENTLY) only when the scenario says allow_foreign_indexes = true on targets.{}",
                idx.name, idx.table, target.name
            )),
            _ => {}
        }
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

/// Why a statement is not a plain read, if it is not: tunebench runs only reads on data it
/// did not create. A read is one `SELECT`, `WITH ... SELECT` (no data-modifying CTE),
/// `VALUES` or `TABLE` statement that takes no row locks and creates nothing (`SELECT INTO`).
/// Comments, string literals and quoted identifiers are skipped; the server's read-only
/// session refuses whatever writes this check cannot see (a function that writes).
pub fn not_read_only(sql: &str) -> Option<String> {
    let words = sql_words(sql);
    let Some(first) = words.first() else {
        return Some("is empty".into());
    };
    if !["SELECT", "WITH", "VALUES", "TABLE"].contains(&first.as_str()) {
        return Some(format!(
            "starts with {first}: only SELECT, WITH ... SELECT, VALUES and TABLE run on data tunebench did not create"
        ));
    }
    for (i, w) in words.iter().enumerate() {
        match w.as_str() {
            ";" if words[i + 1..].iter().any(|w| w != ";") => {
                return Some("holds more than one statement".into());
            }
            "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "TRUNCATE" => {
                let locks = i > 0 && ["FOR", "NO", "KEY"].contains(&words[i - 1].as_str());
                return Some(if locks {
                    format!("locks rows (FOR ... {w})")
                } else {
                    format!("writes ({w}; quote an identifier of that name)")
                });
            }
            "SHARE" if i > 0 && ["FOR", "KEY"].contains(&words[i - 1].as_str()) => {
                return Some("locks rows (FOR ... SHARE)".into());
            }
            "INTO" => return Some("creates a table (SELECT INTO)".into()),
            _ => {}
        }
    }
    None
}

/// The statement's unquoted words (upper case) and semicolons, without comments, string
/// literals (also dollar-quoted) and quoted identifiers.
fn sql_words(sql: &str) -> Vec<String> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'-' && b.get(i + 1) == Some(&b'-') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            // Block comments nest in PostgreSQL.
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == b'\'' || c == b'"' {
            // A doubled quote inside is the quote itself; either way the literal goes on.
            i += 1;
            while i < b.len() {
                if b[i] == c {
                    if b.get(i + 1) == Some(&c) {
                        i += 2;
                        continue;
                    }
                    break;
                }
                if c == b'\'' && b[i] == b'\\' {
                    // E'' strings escape with a backslash; harmless to skip in others.
                    i += 1;
                }
                i += 1;
            }
            i += 1;
        } else if c == b'$' && !b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            // $tag$ ... $tag$ (a $1 placeholder is not a dollar quote).
            let end = b[i + 1..]
                .iter()
                .position(|x| *x == b'$')
                .map(|p| i + 1 + p);
            let tag_ok = end.is_some_and(|e| {
                b[i + 1..e]
                    .iter()
                    .all(|x| x.is_ascii_alphanumeric() || *x == b'_')
            });
            match (end, tag_ok) {
                (Some(e), true) => {
                    let tag = &sql[i..=e];
                    i = sql[e + 1..]
                        .find(tag)
                        .map_or(b.len(), |p| e + 1 + p + tag.len());
                }
                _ => i += 1,
            }
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$') {
                i += 1;
            }
            out.push(sql[start..i].to_ascii_uppercase());
        } else {
            if c == b';' {
                out.push(";".into());
            }
            i += 1;
        }
    }
    out
}

/// What a workload that names no dataset (it runs on the target's existing data, which
/// tunebench did not create) may not do: fill `{schema}`, draw from tunebench's corpus, or
/// run anything but reads.
pub fn foreign_problems(w: &crate::backend::model::WorkloadProbe<'_>) -> Vec<(String, String)> {
    let mut problems = vectors_problems(w);
    if !w.foreign {
        return problems;
    }
    for (j, op) in w.ops.iter().enumerate() {
        let OpDef::Sql(sql) = op else { continue };
        let at = format!("ops[{j}].op");
        let name = w.op_names.get(j).copied().unwrap_or_default();
        if sql.sql.contains("{schema}") {
            problems.push((at.clone(), format!(
                "op `{name}` uses {{schema}}, but the workload names no dataset (it runs on the data already there): name the schema in the SQL, or add dataset = \"NAME\""
            )));
        }
        if let Some(g) = sql.params.iter().find_map(|p| p.generator()) {
            problems.push((at.clone(), format!(
                "op `{name}` draws {g:?} from tunebench's corpus, but the workload names no dataset: declare its parameters' source instead ({{ from = \"file\" | \"range\" | \"list\", ... }}, docs/parameters.md)"
            )));
        }
        match (not_read_only(&sql.sql), sql.writes, w.allow_writes) {
            (_, true, true) => {}
            (_, true, false) => problems.push((at, format!(
                "op `{name}` is marked writes = true, but its target does not say allow_writes = true: the workload names no dataset, so it would change data tunebench did not create; add allow_writes = true on the target to let it"
            ))),
            (Some(why), false, _) => problems.push((at, format!(
                "op `{name}` {why}; the workload names no dataset, so it runs on data tunebench did not create, which it only reads (to replay writes on purpose: writes = true on the op and allow_writes = true on the target)"
            ))),
            (None, false, _) => {}
        }
    }
    problems
}

/// `from = "vectors"` sources: on existing data only (tunebench's own vector sets have their
/// queries and truth: `query_vector`), one per op, and the metric the statement orders by.
fn vectors_problems(w: &crate::backend::model::WorkloadProbe<'_>) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for (j, op) in w.ops.iter().enumerate() {
        let OpDef::Sql(sql) = op else { continue };
        let at = format!("ops[{j}].op");
        let name = w.op_names.get(j).copied().unwrap_or_default();
        let metrics: Vec<_> = sql
            .params
            .iter()
            .filter_map(|p| match &p.source()?.spec {
                crate::dataset::SourceSpec::Vectors { metric, .. } => Some(*metric),
                _ => None,
            })
            .collect();
        let Some(metric) = metrics.first() else {
            continue;
        };
        if !w.foreign {
            problems.push((at.clone(), format!(
                "op `{name}` draws from = \"vectors\", which reads a table of your own; on a tunebench dataset use params = [\"query_vector\"] (its held-out queries and ground truth)"
            )));
        }
        if metrics.len() > 1 {
            problems.push((at.clone(), format!(
                "op `{name}` has {} from = \"vectors\" sources; recall is judged against one: keep one",
                metrics.len()
            )));
        }
        use crate::dataset::vectors::Metric;
        let used: Vec<(&str, Option<Metric>)> = [
            ("<=>", Some(Metric::Cosine)),
            ("<->", Some(Metric::L2)),
            ("<#>", Some(Metric::Dot)),
            ("<+>", None),
            ("<~>", None),
            ("<%>", None),
        ]
        .into_iter()
        .filter(|(o, _)| sql.sql.contains(o))
        .collect();
        if let Some((o, _)) = used.iter().find(|(_, m)| m.is_none()) {
            problems.push((at.clone(), format!(
                "op `{name}` orders by {o}, a distance tunebench's ground truth does not compute: use <=> (cosine), <-> (l2) or <#> (dot)"
            )));
        } else if let [(o, Some(m))] = used[..]
            && Some(m) != *metric
        {
            problems.push((at, format!(
                "op `{name}` orders by {o} ({}), but its vectors source says metric = \"{}\": the ground truth would rank by another distance; make them the same",
                format!("{m:?}").to_lowercase(),
                metric.map(|m| format!("{m:?}").to_lowercase()).unwrap_or_default()
            )));
        }
    }
    problems
}

#[cfg(test)]
mod read_only_tests {
    use super::not_read_only;

    #[test]
    fn reads_pass_and_writes_locks_and_several_statements_do_not() {
        for ok in [
            "SELECT id FROM app.orders WHERE customer_id = $1",
            "  -- the top customers\n with t AS (SELECT 1) SELECT * FROM t",
            "SELECT 'DELETE FROM x; UPDATE' AS s, \"update\" FROM t /* INSERT */",
            "SELECT $body$ DROP TABLE x; DELETE $body$ , $1::int8",
            "VALUES (1)",
            "TABLE app.orders;",
        ] {
            assert_eq!(not_read_only(ok), None, "{ok}");
        }
        for (bad, why) in [
            ("DELETE FROM t", "starts with DELETE"),
            (
                "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
                "writes (DELETE",
            ),
            ("SELECT * FROM t FOR UPDATE", "locks rows"),
            ("SELECT * FROM t FOR NO KEY UPDATE", "locks rows"),
            ("SELECT * FROM t FOR KEY SHARE", "locks rows"),
            ("SELECT * INTO t2 FROM t", "creates a table"),
            ("SELECT 1; DROP TABLE t", "more than one statement"),
            ("update t set a = 1", "starts with UPDATE"),
            ("", "is empty"),
            ("/* only a comment */", "is empty"),
        ] {
            let got = not_read_only(bad).unwrap_or_default();
            assert!(got.contains(why), "{bad}: {got}");
        }
    }
}
