//! Configuration checks on PostgreSQL, read from the catalog and settings.

use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Row};

use crate::backend::checks::CheckFields;
use crate::backend::facts::CheckOutcome;
use crate::backend::postgres::PgEvidence;

/// PostgreSQL's configuration checks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "check", rename_all = "snake_case", deny_unknown_fields)]
pub enum PgCheck {
    /// The extension exists in the database and is preloaded.
    PgStatStatements,
    /// Every foreign key in the datasets' schemas has an index whose leading columns are the
    /// key's columns.
    FkIndexes,
    /// `log_min_duration_statement` is on and at most `max_ms`.
    SlowQueryLog { max_ms: f64 },
    /// Buffer cache hit ratio over the measured phases (cumulative since the statistics
    /// reset under `tunebench check`).
    CacheHitRatio { min: f64 },
    /// A GIN index on a tsvector column in the datasets' schemas.
    FtsIndex,
}

pub const CHECK_NAMES: &[&str] = &[
    "pg_stat_statements",
    "fk_indexes",
    "slow_query_log",
    "cache_hit_ratio",
    "fts_index",
];
pub const CHECK_HELP: &str =
    "pg_stat_statements, fk_indexes, slow_query_log (max), cache_hit_ratio (min), fts_index";

/// Reads a `[[checks]]` entry named `name` (one of `CHECK_NAMES`).
pub fn parse_check(name: &str, f: &mut CheckFields<'_>) -> Option<PgCheck> {
    Some(match name {
        "pg_stat_statements" => PgCheck::PgStatStatements,
        "fk_indexes" => PgCheck::FkIndexes,
        "fts_index" => PgCheck::FtsIndex,
        "slow_query_log" => {
            let text = f.string("max").unwrap_or_else(|| "100ms".into());
            match crate::source::parse_duration(&text) {
                Some(d) => PgCheck::SlowQueryLog {
                    max_ms: d.as_secs_f64() * 1000.0,
                },
                None => {
                    f.problem(
                        "max",
                        format!("`{text}` is not a duration; write e.g. \"100ms\""),
                    );
                    return None;
                }
            }
        }
        "cache_hit_ratio" => PgCheck::CacheHitRatio {
            min: f.ratio("min", 0.9)?,
        },
        _ => return None,
    })
}

impl PgCheck {
    /// What passing means, in words.
    pub fn expected(&self) -> String {
        match self {
            PgCheck::PgStatStatements => {
                "extension installed and in shared_preload_libraries".into()
            }
            PgCheck::FkIndexes => "every foreign key has a supporting index".into(),
            PgCheck::SlowQueryLog { max_ms } => {
                format!("log_min_duration_statement between 0 and {max_ms} ms")
            }
            PgCheck::CacheHitRatio { min } => format!("cache hit ratio >= {:.0} %", min * 100.0),
            PgCheck::FtsIndex => "a GIN index on a tsvector column".into(),
        }
    }

    /// How a report names it.
    pub fn text(&self) -> String {
        match self {
            PgCheck::PgStatStatements => "pg_stat_statements".into(),
            PgCheck::FkIndexes => "fk_indexes".into(),
            PgCheck::SlowQueryLog { max_ms } => format!("slow_query_log <= {max_ms} ms"),
            PgCheck::CacheHitRatio { min } => format!("cache_hit_ratio >= {:.0} %", min * 100.0),
            PgCheck::FtsIndex => "fts_index".into(),
        }
    }
}

/// Foreign keys in `schemas` without an index whose leading columns are the key's columns
/// (in any order): `table (columns) -> referenced table`.
pub async fn unindexed_foreign_keys(
    pool: &PgPool,
    schemas: &[String],
) -> sqlx::Result<(usize, Vec<String>)> {
    let rows = sqlx::query(
        "SELECT c.conrelid::regclass::text AS tbl, c.confrelid::regclass::text AS ref,
                (SELECT string_agg(a.attname, ', ' ORDER BY k.ord)
                   FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
                   JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum) AS cols,
                EXISTS (
                  SELECT 1 FROM pg_index i
                   WHERE i.indrelid = c.conrelid AND i.indisvalid
                     AND (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(c.conkey)] @> c.conkey
                     AND (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(c.conkey)] <@ c.conkey
                ) AS indexed
           FROM pg_constraint c
           JOIN pg_namespace n ON n.oid = c.connamespace
          WHERE c.contype = 'f' AND n.nspname = ANY($1)
          ORDER BY 1, 3",
    )
    .bind(schemas)
    .fetch_all(pool)
    .await?;
    let missing = rows
        .iter()
        .filter(|r| !r.get::<bool, _>("indexed"))
        .map(|r| {
            format!(
                "{} ({}) -> {}",
                r.get::<String, _>("tbl"),
                r.get::<String, _>("cols"),
                r.get::<String, _>("ref")
            )
        })
        .collect();
    Ok((rows.len(), missing))
}

pub async fn check(
    pool: &PgPool,
    kind: &PgCheck,
    schemas: &[String],
    evidence: Option<&PgEvidence>,
) -> sqlx::Result<CheckOutcome> {
    Ok(match kind {
        PgCheck::PgStatStatements => {
            let installed: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements')",
            )
            .fetch_one(pool)
            .await?;
            let preload: String =
                sqlx::query_scalar("SELECT current_setting('shared_preload_libraries')")
                    .fetch_one(pool)
                    .await?;
            let preloaded = preload
                .split(',')
                .any(|l| l.trim().trim_matches('"') == "pg_stat_statements");
            CheckOutcome::judged(
                installed && preloaded,
                format!(
                    "extension {}, shared_preload_libraries = '{preload}'",
                    if installed {
                        "installed"
                    } else {
                        "not installed"
                    }
                ),
                Vec::new(),
            )
        }
        PgCheck::FkIndexes => {
            let (total, missing) = unindexed_foreign_keys(pool, schemas).await?;
            let actual = if total == 0 {
                format!("no foreign keys in schema(s) {}", schemas.join(", "))
            } else {
                format!("{} of {total} foreign key(s) lack an index", missing.len())
            };
            CheckOutcome::judged(missing.is_empty(), actual, missing)
        }
        PgCheck::SlowQueryLog { max_ms } => {
            let ms: String = sqlx::query_scalar(
                "SELECT setting FROM pg_settings WHERE name = 'log_min_duration_statement'",
            )
            .fetch_one(pool)
            .await?;
            let v: f64 = ms.parse().unwrap_or(-1.0);
            CheckOutcome::judged(
                v >= 0.0 && v <= *max_ms,
                if v < 0.0 {
                    "log_min_duration_statement = -1 (off)".into()
                } else {
                    format!("log_min_duration_statement = {v} ms")
                },
                Vec::new(),
            )
        }
        PgCheck::CacheHitRatio { min } => match evidence {
            Some(e) => match e.cache_hit_ratio {
                Some(r) => CheckOutcome::judged(
                    r >= *min,
                    format!(
                        "{:.2} % over the measured phases ({} hits, {} reads)",
                        r * 100.0,
                        e.blocks_hit,
                        e.blocks_read
                    ),
                    Vec::new(),
                ),
                None => CheckOutcome::not_evaluated(
                    "no blocks were read or hit during the measured phases",
                ),
            },
            _ => {
                let row = sqlx::query(
                    "SELECT blks_hit, blks_read, stats_reset::text AS reset FROM pg_stat_database WHERE datname = current_database()",
                )
                .fetch_one(pool)
                .await?;
                let (hit, read): (i64, i64) = (row.get("blks_hit"), row.get("blks_read"));
                let reset: Option<String> = row.get("reset");
                if hit + read == 0 {
                    CheckOutcome::not_evaluated(
                        "no blocks read or hit since the statistics were reset",
                    )
                } else {
                    let r = hit as f64 / (hit + read) as f64;
                    CheckOutcome::judged(
                        r >= *min,
                        format!(
                            "{:.2} % since {} ({hit} hits, {read} reads)",
                            r * 100.0,
                            reset.as_deref().unwrap_or("the server started")
                        ),
                        Vec::new(),
                    )
                }
            }
        },
        PgCheck::FtsIndex => {
            let found: Vec<String> = sqlx::query_scalar(
                "SELECT DISTINCT ic.relname::text
                   FROM pg_index i
                   JOIN pg_class ic ON ic.oid = i.indexrelid
                   JOIN pg_am am ON am.oid = ic.relam
                   JOIN pg_class tc ON tc.oid = i.indrelid
                   JOIN pg_namespace n ON n.oid = tc.relnamespace
                   JOIN pg_attribute a ON a.attrelid = tc.oid AND a.attnum = ANY(i.indkey)
                  WHERE am.amname = 'gin' AND a.atttypid = 'tsvector'::regtype
                    AND n.nspname = ANY($1) AND i.indisvalid
                  ORDER BY 1",
            )
            .bind(schemas)
            .fetch_all(pool)
            .await?;
            CheckOutcome::judged(
                !found.is_empty(),
                if found.is_empty() {
                    format!(
                        "no GIN index on a tsvector column in {}",
                        schemas.join(", ")
                    )
                } else {
                    format!("GIN: {}", found.join(", "))
                },
                Vec::new(),
            )
        }
    })
}
