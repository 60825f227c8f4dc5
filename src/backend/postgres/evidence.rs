//! Server-side evidence: readiness before measuring, buffer-cache and pg_stat_statements
//! deltas around the measured phases, and one EXPLAIN (ANALYZE, BUFFERS) per operation.

use std::collections::BTreeMap;

use sqlx::postgres::PgPool;
use sqlx::{AssertSqlSafe, Row};

use super::PgData;
use super::load::count_rows;
use super::{bind_all, with_schema};
use crate::dataset::ParamValue;
use serde::{Deserialize, Serialize};

use crate::backend::facts::{PlanCapture, ReadinessCheck};

/// Cumulative counters at one moment.
#[derive(Debug, Clone, Default)]
pub struct PgSnapshot {
    blks_hit: i64,
    blks_read: i64,
    statements: BTreeMap<i64, (String, i64, f64, i64, i64, i64)>,
    statements_note: Option<String>,
}

impl PgSnapshot {
    /// Reads pg_stat_database for this database and the pg_stat_statements rows of the
    /// workload's statements, identified by the query ids EXPLAIN reported for them (query
    /// texts are not reliable: PostgreSQL 18 groups statements on same-named tables of
    /// different schemas under one id and keeps the first text it saw).
    pub async fn take(pool: &PgPool, query_ids: &[i64]) -> sqlx::Result<Self> {
        let row = sqlx::query(
            "SELECT blks_hit, blks_read FROM pg_stat_database WHERE datname = current_database()",
        )
        .fetch_one(pool)
        .await?;
        let mut snap = PgSnapshot {
            blks_hit: row.get("blks_hit"),
            blks_read: row.get("blks_read"),
            ..Default::default()
        };
        let rows = sqlx::query(
            "SELECT queryid, query, calls, total_exec_time, rows, shared_blks_hit, shared_blks_read \
             FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND queryid = ANY($1)",
        )
        .bind(query_ids)
        .fetch_all(pool)
        .await;
        match rows {
            Ok(_) if query_ids.is_empty() => {
                snap.statements_note = Some(
                    "no query ids: compute_query_id is off or pg_stat_statements is not loaded"
                        .into(),
                );
            }
            Ok(rows) => {
                for r in rows {
                    snap.statements.insert(
                        r.get("queryid"),
                        (
                            r.get("query"),
                            r.get("calls"),
                            r.get("total_exec_time"),
                            r.get("rows"),
                            r.get("shared_blks_hit"),
                            r.get("shared_blks_read"),
                        ),
                    );
                }
            }
            Err(e) => snap.statements_note = Some(format!("pg_stat_statements unavailable: {e}")),
        }
        Ok(snap)
    }

    /// Adds the change from `before` to `self` into `into`.
    pub fn accumulate_delta(&self, before: &PgSnapshot, into: &mut PgEvidence) {
        into.blocks_hit += self.blks_hit - before.blks_hit;
        into.blocks_read += self.blks_read - before.blks_read;
        let total = into.blocks_hit + into.blocks_read;
        into.cache_hit_ratio = (total > 0).then(|| into.blocks_hit as f64 / total as f64);
        if let Some(note) = &self.statements_note {
            into.statements_note = Some(note.clone());
        }
        for (id, (query, calls, total_ms, rows, hit, read)) in &self.statements {
            let b = before.statements.get(id).cloned().unwrap_or_default();
            let d_calls = calls - b.1;
            if d_calls <= 0 {
                continue;
            }
            match into.statements.iter_mut().find(|s| &s.query == query) {
                Some(s) => {
                    s.calls += d_calls;
                    s.total_exec_ms += total_ms - b.2;
                    s.rows += rows - b.3;
                    s.shared_blks_hit += hit - b.4;
                    s.shared_blks_read += read - b.5;
                    s.mean_exec_ms = s.total_exec_ms / s.calls as f64;
                }
                None => into.statements.push(StatementDelta {
                    query: query.clone(),
                    calls: d_calls,
                    total_exec_ms: total_ms - b.2,
                    mean_exec_ms: (total_ms - b.2) / d_calls as f64,
                    rows: rows - b.3,
                    shared_blks_hit: hit - b.4,
                    shared_blks_read: read - b.5,
                }),
            }
        }
        into.statements
            .sort_by(|a, b| b.total_exec_ms.total_cmp(&a.total_exec_ms));
    }
}

/// Confirms the data is really there and every index on it is built and valid.
pub async fn readiness(
    pool: &PgPool,
    target: &str,
    data: &PgData,
    expected_indexes: &[String],
) -> sqlx::Result<Vec<ReadinessCheck>> {
    let schema = data.schema();
    let mut checks = Vec::new();
    let actual = count_rows(pool, schema, data.tables()).await?;
    for (table, want) in data.expected_rows() {
        let got = actual.get(&table).copied().unwrap_or(0);
        checks.push(ReadinessCheck {
            target: target.to_string(),
            check: format!("rows in {schema}.{table}"),
            expected: want.to_string(),
            actual: got.to_string(),
            ok: got == want,
        });
    }
    let invalid: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND NOT (i.indisvalid AND i.indisready AND i.indislive)",
    )
    .bind(schema)
    .fetch_all(pool)
    .await?;
    checks.push(ReadinessCheck {
        target: target.to_string(),
        check: format!("indexes in {schema} valid and ready"),
        expected: "none invalid".into(),
        actual: if invalid.is_empty() {
            "none invalid".into()
        } else {
            invalid.join(", ")
        },
        ok: invalid.is_empty(),
    });
    for name in expected_indexes {
        let present: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(format!("{schema}.{name}"))
            .fetch_one(pool)
            .await?;
        checks.push(ReadinessCheck {
            target: target.to_string(),
            check: format!("profile index {name} present"),
            expected: "present".into(),
            actual: if present { "present" } else { "missing" }.into(),
            ok: present,
        });
    }
    Ok(checks)
}

/// Readiness of data tunebench did not create, from the workloads' own statements: each
/// plans (EXPLAIN, in a read-only transaction, with parameters drawn from its sources), every
/// table a plan reads holds rows, and its indexes are valid and ready.
pub async fn foreign_readiness(
    pool: &PgPool,
    target: &str,
    statements: &[super::ForeignStatement],
) -> sqlx::Result<Vec<ReadinessCheck>> {
    use rand::SeedableRng;
    let check = |check: String, expected: &str, actual: String, ok: bool| ReadinessCheck {
        target: target.to_string(),
        check,
        expected: expected.to_string(),
        actual,
        ok,
    };
    let mut checks = Vec::new();
    let mut relations = std::collections::BTreeSet::new();
    for s in statements {
        let mut rng =
            rand_chacha::ChaCha8Rng::seed_from_u64(crate::dataset::name_seed(&s.name, "readiness"));
        let mut values = Vec::new();
        for p in &s.params {
            if let crate::dataset::Param::Source(src) = p {
                src.draw(&mut rng, &mut values);
            }
        }
        let mut tx = pool.begin().await?;
        sqlx::query("SET TRANSACTION READ ONLY")
            .execute(&mut *tx)
            .await?;
        let planned = bind_all(
            sqlx::query(AssertSqlSafe(format!(
                "EXPLAIN (VERBOSE, FORMAT JSON) {}",
                s.sql
            ))),
            &values,
        )
        .fetch_one(&mut *tx)
        .await;
        tx.rollback().await?;
        let what = format!("statement {} plans", s.name);
        match planned {
            Ok(row) => {
                let plan: serde_json::Value = row.try_get(0)?;
                relations_of(&plan[0]["Plan"], &mut relations);
                checks.push(check(what, "plans", "plans".into(), true));
            }
            Err(e) => checks.push(check(what, "plans", e.to_string(), false)),
        }
    }
    for (schema, table) in relations {
        let name = format!("{}.{}", ident(&schema), ident(&table));
        let some: bool = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT EXISTS (SELECT 1 FROM {name})"
        )))
        .fetch_one(pool)
        .await?;
        checks.push(check(
            format!("rows in {schema}.{table}"),
            "at least one",
            if some { "at least one" } else { "none" }.into(),
            some,
        ));
        let invalid: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             WHERE i.indrelid = $1::regclass AND NOT (i.indisvalid AND i.indisready AND i.indislive)",
        )
        .bind(&name)
        .fetch_all(pool)
        .await?;
        checks.push(check(
            format!("indexes on {schema}.{table} valid and ready"),
            "none invalid",
            if invalid.is_empty() {
                "none invalid".into()
            } else {
                invalid.join(", ")
            },
            invalid.is_empty(),
        ));
    }
    Ok(checks)
}

/// The (schema, table) of every relation a plan scans.
fn relations_of(node: &serde_json::Value, out: &mut std::collections::BTreeSet<(String, String)>) {
    if let (Some(schema), Some(rel)) = (node["Schema"].as_str(), node["Relation Name"].as_str()) {
        out.insert((schema.to_string(), rel.to_string()));
    }
    if let Some(children) = node["Plans"].as_array() {
        for c in children {
            relations_of(c, out);
        }
    }
}

/// A quoted identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// EXPLAIN (ANALYZE, BUFFERS, VERBOSE, FORMAT JSON) of one execution with the given
/// parameters; VERBOSE also reports the statement's query id.
pub async fn capture_plan(
    pool: &PgPool,
    workload: &str,
    op: &str,
    sql: &str,
    schema: &str,
    params: Vec<ParamValue>,
) -> sqlx::Result<PlanCapture> {
    // A fresh connection, so a plan cached under another profile cannot be reused.
    let mut conn = pool.acquire().await?;
    conn.close_on_drop();
    let stmt = format!(
        "EXPLAIN (ANALYZE, BUFFERS, VERBOSE, FORMAT JSON) {}",
        with_schema(sql, schema)
    );
    // Only reads are EXPLAINed (ANALYZE runs them): in a read-only transaction, so data
    // tunebench did not create cannot change even through a function that writes.
    sqlx::query("BEGIN READ ONLY").execute(&mut *conn).await?;
    let row = bind_all(sqlx::query(AssertSqlSafe(stmt)), &params)
        .fetch_one(&mut *conn)
        .await;
    sqlx::query("ROLLBACK").execute(&mut *conn).await?;
    let row = row?;
    let plan: serde_json::Value = row.try_get(0)?;
    let root = &plan[0];
    let mut nodes = Vec::new();
    walk(&root["Plan"], &mut nodes);
    let uses_index = nodes.iter().any(|n| n.contains("Index"));
    Ok(PlanCapture {
        workload: workload.to_string(),
        op: op.to_string(),
        params,
        uses_index,
        nodes,
        query_id: root["Query Identifier"].as_i64(),
        execution_ms: root["Execution Time"].as_f64().unwrap_or(f64::NAN),
        shared_hit: root["Plan"]["Shared Hit Blocks"].as_i64().unwrap_or(0),
        shared_read: root["Plan"]["Shared Read Blocks"].as_i64().unwrap_or(0),
        plan,
    })
}

fn walk(node: &serde_json::Value, out: &mut Vec<String>) {
    let Some(kind) = node["Node Type"].as_str() else {
        return;
    };
    let mut label = kind.to_string();
    if let Some(index) = node["Index Name"].as_str() {
        label.push_str(&format!(" using {index}"));
    }
    if let Some(rel) = node["Relation Name"].as_str() {
        label.push_str(&format!(" on {rel}"));
    }
    out.push(label);
    if let Some(children) = node["Plans"].as_array() {
        for c in children {
            walk(c, out);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn plan_nodes_are_listed_outermost_first() {
        let plan = serde_json::json!({"Node Type": "Limit", "Plans": [
            {"Node Type": "Bitmap Heap Scan", "Relation Name": "documents", "Plans": [
                {"Node Type": "Bitmap Index Scan", "Index Name": "tunebench_documents_tsv_gin"}]}]});
        let mut nodes = Vec::new();
        super::walk(&plan, &mut nodes);
        assert_eq!(
            nodes,
            [
                "Limit",
                "Bitmap Heap Scan on documents",
                "Bitmap Index Scan using tunebench_documents_tsv_gin"
            ]
        );
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

impl crate::backend::evidence::StoreEvidence for PgEvidence {
    fn plans(&self) -> &[PlanCapture] {
        &self.plans
    }

    fn index_vectors_per_s(&self) -> Option<f64> {
        self.index_vectors_per_s
    }

    fn monitoring(&self) -> Vec<(String, String)> {
        let p = self;
        vec![
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
        ]
    }
}
