//! The journal kept on the PostgreSQL server too (`tunebench_journal.entries`), so a run from
//! another machine sees a profile left applied and can revert it. One row per dataset schema
//! (a profile's indexes live in it, and the schema is unique on the server), written with the
//! cache journal before each change and deleted by the revert that restores it.

use sqlx::postgres::PgPool;

use crate::backend::journal::Entry;

const SETUP: [&str; 2] = [
    "CREATE SCHEMA IF NOT EXISTS tunebench_journal",
    "CREATE TABLE IF NOT EXISTS tunebench_journal.entries (schema_name text PRIMARY KEY, entry jsonb NOT NULL, written_at timestamptz NOT NULL DEFAULT now())",
];

/// Writes (replaces) the entry of `schema`.
pub async fn put(pool: &PgPool, schema: &str, entry: &Entry) -> sqlx::Result<()> {
    for stmt in SETUP {
        sqlx::query(stmt).execute(pool).await?;
    }
    sqlx::query(
        "INSERT INTO tunebench_journal.entries (schema_name, entry) VALUES ($1, $2) ON CONFLICT (schema_name) DO UPDATE SET entry = EXCLUDED.entry, written_at = now()",
    )
    .bind(schema)
    .bind(sqlx::types::Json(entry))
    .execute(pool)
    .await?;
    Ok(())
}

/// Removes the entry of `schema` (none is fine).
pub async fn delete(pool: &PgPool, schema: &str) -> sqlx::Result<()> {
    if exists(pool).await? {
        sqlx::query("DELETE FROM tunebench_journal.entries WHERE schema_name = $1")
            .bind(schema)
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// Every entry on the server (none when the table was never created). An entry this version
/// cannot read is reported as one that cannot be reverted automatically, never dropped.
pub async fn list(pool: &PgPool) -> sqlx::Result<Vec<Result<Entry, String>>> {
    if !exists(pool).await? {
        return Ok(Vec::new());
    }
    let rows: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "SELECT schema_name, entry FROM tunebench_journal.entries ORDER BY written_at",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(schema, v)| {
            serde_json::from_value::<Entry>(v).map_err(|e| {
                format!("tunebench_journal.entries row {schema} is not a journal entry this tunebench reads ({e}); restore that schema's profile by hand, then delete the row")
            })
        })
        .collect())
}

async fn exists(pool: &PgPool) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT to_regclass('tunebench_journal.entries') IS NOT NULL")
        .fetch_one(pool)
        .await
}
