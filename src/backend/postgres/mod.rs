//! PostgreSQL: connection, the per-connection executor, dataset loading, profiles and
//! server-side evidence.

mod evidence;
mod load;
mod profile;
mod store;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Postgres, Row};

pub use evidence::{PgSnapshot, capture_plan, readiness};
pub use load::prepare_dataset;
pub use profile::{AppliedProfile, apply_profile, revert_profile};
pub use store::PgStore;

use rand_chacha::ChaCha8Rng;

use crate::dataset::{Corpus, ParamValue};
use crate::driver::{Done, Executor, OpError};
use crate::error::{Error, Result};
use crate::scenario::ParamGen;
use crate::scenario::Target;

/// Opens the harness's pool with the target's pool settings. Every failure is a runtime
/// error (exit 3) whose message carries the redacted URL, never the password.
pub async fn connect(target: &Target) -> Result<PgPool> {
    let options = PgConnectOptions::from_str(&target.url)
        .map_err(|e| {
            Error::target(
                format!("target {} ({})", target.name, target.url_redacted),
                e,
            )
        })?
        .application_name("tunebench");
    PgPoolOptions::new()
        .min_connections(target.pool.min_connections)
        .max_connections(target.pool.max_connections)
        .idle_timeout(Some(target.pool_idle_timeout))
        .acquire_timeout(target.pool_connect_timeout)
        .connect_with(options)
        .await
        .map_err(|e| {
            Error::target(
                format!(
                    "cannot connect to target {} at {}",
                    target.name, target.url_redacted
                ),
                e,
            )
        })
}

pub fn target_error(target: &Target, what: &str, e: impl std::fmt::Display) -> Error {
    Error::target(
        format!("target {} ({}): {what}", target.name, target.url_redacted),
        e,
    )
}

/// Server version and the settings that differ from their built-in defaults.
pub async fn server_info(pool: &PgPool) -> sqlx::Result<(String, BTreeMap<String, String>)> {
    let version: String = sqlx::query_scalar("SELECT version()")
        .fetch_one(pool)
        .await?;
    let rows = sqlx::query(
        "SELECT name, current_setting(name) AS value FROM pg_settings \
         WHERE source NOT IN ('default', 'override', 'client', 'session') ORDER BY name",
    )
    .fetch_all(pool)
    .await?;
    let settings = rows
        .iter()
        .map(|r| (r.get::<String, _>("name"), r.get::<String, _>("value")))
        .collect();
    Ok((version, settings))
}

/// Replaces `{schema}` in a statement. The schema name was validated as a plain identifier.
pub fn with_schema(sql: &str, schema: &str) -> String {
    sql.replace("{schema}", schema)
}

/// Runs the workload's statements on one pooled connection.
pub struct PgExecutor {
    conn: PoolConnection<Postgres>,
    ops: Arc<PgOps>,
}

/// The statements of a workload (schema filled in) and how each draws its parameters.
pub struct PgOps {
    pub statements: Vec<Arc<str>>,
    pub params: Vec<Vec<ParamGen>>,
    pub corpus: Arc<Corpus>,
}

impl PgExecutor {
    /// Takes a connection and sets the server-side statement timeout, so a stuck query is
    /// cancelled by the server rather than left running behind a client timeout.
    pub async fn new(
        pool: &PgPool,
        ops: Arc<PgOps>,
        op_timeout: std::time::Duration,
    ) -> sqlx::Result<Self> {
        let mut conn = pool.acquire().await?;
        let ms = op_timeout.as_millis().max(1);
        sqlx::query(AssertSqlSafe(format!("SET statement_timeout = {ms}")))
            .execute(&mut *conn)
            .await?;
        Ok(PgExecutor { conn, ops })
    }
}

pub fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    params: &[ParamValue],
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    for p in params {
        q = match p {
            ParamValue::Int(i) => q.bind(*i),
            ParamValue::Text(s) => q.bind(s.clone()),
            ParamValue::Time(t) => q.bind(*t),
        };
    }
    q
}

impl Executor for PgExecutor {
    type Params = Vec<ParamValue>;

    fn draw(&mut self, op: usize, rng: &mut ChaCha8Rng) -> Vec<ParamValue> {
        let mut params = Vec::with_capacity(3);
        self.ops.corpus.draw(&self.ops.params[op], rng, &mut params);
        params
    }

    async fn execute(
        &mut self,
        op: usize,
        params: &Vec<ParamValue>,
    ) -> std::result::Result<Done, OpError> {
        let q = bind_all(
            sqlx::query(AssertSqlSafe(self.ops.statements[op].clone())),
            params,
        );
        // Rows are fetched whole: the latency covers the full result, not the first row.
        q.fetch_all(&mut *self.conn)
            .await
            .map(|_| Done::default())
            .map_err(classify)
    }
}

pub fn classify(e: sqlx::Error) -> OpError {
    let kind = match &e {
        sqlx::Error::Database(db) => format!("sqlstate_{}", db.code().unwrap_or_default()),
        sqlx::Error::Io(_) => "io".into(),
        sqlx::Error::PoolTimedOut => "pool_timeout".into(),
        sqlx::Error::Protocol(_) => "protocol".into(),
        _ => "other".into(),
    };
    OpError {
        kind,
        message: e.to_string(),
    }
}
