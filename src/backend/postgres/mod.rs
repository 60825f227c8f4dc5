//! PostgreSQL: connection, the per-connection executor, dataset loading, profiles and
//! server-side evidence.

pub mod capture;
mod checks;
mod drill;
mod evidence;
mod journal;
mod load;
mod namespace;
mod pitr;
mod profile;
pub mod spec;
mod store;
mod vectors;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, Postgres, Row};

pub use checks::{CHECK_HELP, CHECK_NAMES, PgCheck, parse_check};
pub use evidence::{PgEvidence, PgSnapshot, StatementDelta, capture_plan, readiness};
pub use load::prepare_dataset;
pub use profile::{AppliedProfile, apply_profile, revert_profile};
pub use store::PgStore;
pub use vectors::prepare_vectors;

use rand_chacha::ChaCha8Rng;

use crate::backend::model::Target;
use crate::dataset::vectors::fresh::{self, FreshPool};
use crate::dataset::{Corpus, ParamValue, VectorSet};
use crate::dataset::{Param, ParamGen};
use crate::driver::{Done, Executor, Judged, OpError};
use crate::error::{Error, Result};
use chrono::DateTime;

/// How the harness connects to a target: its URL without secret query parameters, and the
/// application name the server shows. A URL it cannot parse is a runtime error naming the
/// target by its redacted URL.
pub fn connect_options(target: &Target) -> Result<PgConnectOptions> {
    let url = crate::secrets::strip_secret_params(&target.url, crate::secrets::PG_SECRET_PARAMS);
    Ok(PgConnectOptions::from_str(&url)
        .map_err(|e| {
            Error::target(
                format!("target {} ({})", target.name, target.url_redacted),
                e,
            )
        })?
        .application_name("tunebench"))
}

/// pgvector's settings (hnsw.*, ivfflat.*) exist in a session only once its library is
/// loaded; every connection loads it (where installed) so profiles and sweeps can read, set
/// and check them like any other setting.
const LOAD_VECTOR: &str =
    "DO $$BEGIN PERFORM NULL::vector; EXCEPTION WHEN undefined_object THEN NULL; END$$";

fn cannot_connect(target: &Target, e: impl std::fmt::Display) -> Error {
    Error::target(
        format!(
            "cannot connect to target {} at {}",
            target.name, target.url_redacted
        ),
        e,
    )
}

/// Opens the harness's pool with the target's pool settings. Every failure is a runtime
/// error (exit 3) whose message carries the redacted URL, never the password.
pub async fn connect(target: &Target) -> Result<PgPool> {
    PgPoolOptions::new()
        .min_connections(target.pool.min_connections)
        .max_connections(target.pool.max_connections)
        .idle_timeout(Some(target.pool_idle_timeout))
        .acquire_timeout(target.pool_connect_timeout)
        .after_connect(|conn, _meta| {
            Box::pin(async move { sqlx::Executor::execute(conn, LOAD_VECTOR).await.map(|_| ()) })
        })
        .connect_with(connect_options(target)?)
        .await
        .map_err(|e| cannot_connect(target, e))
}

pub use crate::backend::model::target_error;

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

/// `CREATE EXTENSION IF NOT EXISTS`, serialized by an advisory lock: two sessions creating
/// the same extension at once otherwise collide on pg_extension's unique index.
pub async fn create_extension(pool: &PgPool, name: &'static str) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('tunebench: create extension'))")
        .execute(&mut *tx)
        .await?;
    sqlx::query(AssertSqlSafe(format!(
        "CREATE EXTENSION IF NOT EXISTS {name}"
    )))
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Replaces `{schema}` in a statement. The schema name was validated as a plain identifier.
pub fn with_schema(sql: &str, schema: &str) -> String {
    sql.replace("{schema}", schema)
}

/// A prepared dataset on PostgreSQL: a document corpus or a vector set (pgvector); or the
/// data already on the server, which tunebench did not create and only reads.
pub enum PgData {
    Documents(Corpus),
    Vectors(VectorSet),
    Foreign(Vec<ForeignStatement>),
}

/// A statement of a workload that runs on existing data, kept for the readiness check.
pub struct ForeignStatement {
    /// `workload.op`
    pub name: String,
    pub sql: String,
    pub params: Vec<Param>,
}

impl PgData {
    /// The dataset's schema; empty for existing data (its statements name their own).
    pub fn schema(&self) -> &str {
        match self {
            PgData::Documents(c) => &c.spec().schema,
            PgData::Vectors(v) => &v.spec().schema,
            PgData::Foreign(_) => "",
        }
    }

    pub fn foreign(&self) -> bool {
        matches!(self, PgData::Foreign(_))
    }

    pub fn tables(&self) -> &'static [&'static str] {
        match self {
            PgData::Documents(_) => &load::TABLES,
            PgData::Vectors(_) => &vectors::TABLES,
            PgData::Foreign(_) => &[],
        }
    }

    pub fn expected_rows(&self) -> BTreeMap<String, u64> {
        match self {
            PgData::Documents(c) => load::expected_rows(c),
            PgData::Vectors(v) => BTreeMap::from([("items".to_string(), v.len() as u64)]),
            PgData::Foreign(_) => BTreeMap::new(),
        }
    }

    /// Draws an op's bind values; for a vector query also which query and which ground
    /// truth (filter) judge its recall.
    pub fn draw(
        &self,
        params: &[Param],
        rng: &mut ChaCha8Rng,
        out: &mut Vec<ParamValue>,
    ) -> Option<(usize, usize)> {
        out.clear();
        match self {
            PgData::Foreign(_) => {
                // A `from = "vectors"` source's query is judged (unfiltered: its own truth).
                let mut judged = None;
                for p in params {
                    if let Param::Source(s) = p
                        && let Some(q) = s.draw_judged(rng, out)
                    {
                        judged = Some((q, 0));
                    }
                }
                judged
            }
            PgData::Documents(c) => {
                for p in params {
                    match p {
                        Param::Gen(g) => c.draw_one(*g, rng, out),
                        Param::Source(s) => s.draw(rng, out),
                    }
                }
                None
            }
            PgData::Vectors(v) => {
                let mut judged = None;
                for p in params {
                    let g = match p {
                        Param::Gen(g) => g,
                        Param::Source(s) => {
                            s.draw(rng, out);
                            continue;
                        }
                    };
                    // Scenario validation allows only vector parameters on a vector set.
                    let Some(filter) = g.vector_filter() else {
                        continue;
                    };
                    let q = rand::RngExt::random_range(rng, 0..v.query_count());
                    out.push(ParamValue::Vector(v.query(q).to_vec()));
                    if filter > 0 {
                        let category = crate::dataset::vectors::FILTERS[filter - 1].1;
                        out.push(ParamValue::Int(i64::from(category)));
                    }
                    judged = Some((q, filter));
                }
                judged
            }
        }
    }
}

/// Runs the workload's statements on one pooled connection.
pub struct PgExecutor {
    /// Its own connection (not a pool's), opened on the thread that runs it.
    conn: PgConnection,
    /// The ops' statements, this worker's copies.
    statements: Vec<Arc<str>>,
    ops: Arc<PgOps>,
    /// The last kNN answer (ids as returned, nearest first) and the fresh points visible
    /// when it started, judged by `settle` once the clock has stopped.
    answer: Vec<i64>,
    rows: Vec<u32>,
    visible: Option<usize>,
}

/// The statements of a workload (schema filled in) and how each draws its parameters.
pub struct PgOps {
    pub statements: Vec<Arc<str>>,
    pub params: Vec<Vec<Param>>,
    pub data: Arc<PgData>,
    /// Recall is judged at this k (the workload's `k`).
    pub k: usize,
    /// The fresh points of an upsert + search workload.
    pub fresh: Option<Arc<FreshPool>>,
    /// An op is marked `writes = true` (allowed on its target): sessions are not read only.
    pub writes: bool,
}

/// One execution's bind values and, for vector queries, (query, filter) to judge recall by;
/// for an upsert, its batch's ticket and payload bytes.
pub struct PgParams {
    pub values: Vec<ParamValue>,
    pub judged: Option<(usize, usize)>,
    pub upsert: Option<(u64, u64)>,
}

/// An upsert batch's bind values: ids (row + 1, as loaded), categories, timestamps and the
/// vectors' components one after another.
fn upsert_values(pool: &FreshPool) -> (u64, u64, Vec<ParamValue>) {
    let (ticket, points) = pool.next_batch();
    let mut ids = Vec::with_capacity(points.len());
    let mut cats = Vec::with_capacity(points.len());
    let mut times = Vec::with_capacity(points.len());
    let mut flat = Vec::with_capacity(points.iter().map(|p| p.1.len()).sum());
    for (row, v, c, t) in points {
        ids.push(row as i64 + 1);
        cats.push(i64::from(c));
        times.push(DateTime::from_timestamp(t, 0).unwrap_or_default());
        flat.extend_from_slice(v);
    }
    let bytes = flat.len() as u64 * 4;
    (
        ticket,
        bytes,
        vec![
            ParamValue::Ints(ids),
            ParamValue::Ints(cats),
            ParamValue::Times(times),
            ParamValue::Vector(flat),
        ],
    )
}

/// What every worker of a workload connects with.
pub struct PgWorkers {
    pub target: Target,
    pub options: PgConnectOptions,
    pub ops: Arc<PgOps>,
    pub op_timeout: std::time::Duration,
    /// A sweep point's setting (e.g. hnsw.ef_search), set in each worker's session.
    pub session: Option<(String, String)>,
    /// The fresh-point pool of an upsert + search workload, and the dataset's schema.
    pub fresh: Option<(Arc<FreshPool>, String)>,
}

impl PgExecutor {
    /// Opens a connection (within the connect timeout) and sets the server-side statement
    /// timeout, so a stuck query is cancelled by the server rather than left running behind
    /// a client timeout.
    pub async fn open(w: &PgWorkers) -> Result<Self> {
        let t = &w.target;
        let mut conn = tokio::time::timeout(
            t.pool_connect_timeout,
            PgConnection::connect_with(&w.options),
        )
        .await
        .map_err(|_| {
            cannot_connect(
                t,
                format!("no connection within {:?}", t.pool_connect_timeout),
            )
        })?
        .map_err(|e| cannot_connect(t, e))?;
        let setup = async {
            sqlx::Executor::execute(&mut conn, LOAD_VECTOR).await?;
            // Data tunebench did not create is only read: the server refuses any write in
            // this session, also one the statement check could not see (unless the workload
            // replays writes on purpose: writes = true, allow_writes = true).
            if w.ops.data.foreign() && !w.ops.writes {
                sqlx::Executor::execute(&mut conn, "SET default_transaction_read_only = on")
                    .await?;
            }
            let ms = w.op_timeout.as_millis().max(1);
            sqlx::query(AssertSqlSafe(format!("SET statement_timeout = {ms}")))
                .execute(&mut conn)
                .await?;
            // A sweep point's setting for this session only; the server's configuration is
            // untouched, so there is nothing to revert.
            if let Some((name, value)) = &w.session {
                sqlx::query("SELECT set_config($1, $2, false)")
                    .bind(name)
                    .bind(value)
                    .execute(&mut conn)
                    .await?;
            }
            Ok::<_, sqlx::Error>(())
        };
        setup
            .await
            .map_err(|e| target_error(t, "opening worker connections", e))?;
        Ok(PgExecutor {
            conn,
            // The worker's own copies: every operation takes a reference to its statement,
            // and a count shared by the workers of both cores would move between them on
            // every operation.
            statements: w.ops.statements.iter().map(|s| Arc::from(&**s)).collect(),
            ops: w.ops.clone(),
            answer: Vec::new(),
            rows: Vec::new(),
            visible: None,
        })
    }
}

pub fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    params: &[ParamValue],
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    for p in params {
        q = match p {
            ParamValue::Int(i) => q.bind(*i),
            ParamValue::Float(f) => q.bind(*f),
            ParamValue::Text(s) => q.bind(s.clone()),
            ParamValue::Time(t) => q.bind(*t),
            ParamValue::Vector(v) => q.bind(v.clone()),
            ParamValue::Ints(v) => q.bind(v.clone()),
            ParamValue::Times(v) => q.bind(v.clone()),
        };
    }
    q
}

impl Executor for PgExecutor {
    type Params = PgParams;

    fn draw(&mut self, op: usize, rng: &mut ChaCha8Rng) -> PgParams {
        if self.ops.params[op]
            .iter()
            .any(|p| *p == ParamGen::FreshPoints)
        {
            let pool = self
                .ops
                .fresh
                .as_ref()
                .expect("upsert ops come with a pool");
            let (ticket, bytes, values) = upsert_values(pool);
            return PgParams {
                values,
                judged: None,
                upsert: Some((ticket, bytes)),
            };
        }
        let mut values = Vec::with_capacity(3);
        let judged = self.ops.data.draw(&self.ops.params[op], rng, &mut values);
        PgParams {
            values,
            judged,
            upsert: None,
        }
    }

    async fn execute(
        &mut self,
        op: usize,
        params: &PgParams,
    ) -> std::result::Result<Done, OpError> {
        let q = bind_all(
            sqlx::query(AssertSqlSafe(self.statements[op].clone())),
            &params.values,
        );
        self.visible = self.ops.fresh.as_deref().map(FreshPool::visible);
        // Rows are read whole: the latency covers the full result, not the first row.
        if params.judged.is_none() {
            // Nothing to judge: only the answer's arrival matters. sqlx's fetch_optional
            // reads every row up to ReadyForQuery (it keeps the first), through fewer
            // stream layers and allocations than fetch_all (a test holds it to that:
            // every_row_of_an_answer_is_read_not_only_the_first in tests/postgres_fts).
            q.fetch_optional(&mut self.conn).await.map_err(classify)?;
            if let Some((ticket, bytes)) = params.upsert {
                if let Some(pool) = &self.ops.fresh {
                    pool.ack(ticket);
                }
                return Ok(Done { bytes });
            }
            return Ok(Done::default());
        }
        let rows = q.fetch_all(&mut self.conn).await.map_err(classify)?;
        self.answer.clear();
        for r in &rows {
            let id: i64 = r.try_get(0).map_err(|e| OpError {
                kind: "result_shape".into(),
                message: format!("a kNN statement's first column must be the bigint row id: {e}"),
            })?;
            self.answer.push(id);
        }
        Ok(Done::default())
    }

    fn settle(&mut self, op: usize, params: &PgParams) -> Option<Judged> {
        let (query, filter) = params.judged?;
        let recall = match &*self.ops.data {
            PgData::Vectors(set) => {
                // tunebench's own rows have ids row + 1.
                self.rows.clear();
                self.rows.extend(
                    self.answer
                        .iter()
                        .map(|id| u32::try_from(id - 1).unwrap_or(u32::MAX)),
                );
                let visible = self.ops.fresh.as_deref().zip(self.visible);
                fresh::judge(set, visible, query, filter, self.ops.k, &self.rows)
            }
            PgData::Foreign(_) => self.ops.params[op]
                .iter()
                .find_map(|p| p.source()?.own_vectors())?
                .recall(query, self.ops.k, &self.answer),
            PgData::Documents(_) => return None,
        };
        Some(Judged {
            filter,
            query,
            recall,
        })
    }

    /// Ends the session with a Terminate message, so the server sees a clean exit.
    async fn close(self) -> bool {
        self.conn.close().await.is_ok()
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

/// Takes the samples (`from = "sample"`) of these parameters not taken yet this run: each
/// query once, in a read-only transaction, its kept columns converted to bind values; then
/// reads their `from = "vectors"` sources ([`read_vectors`]).
pub async fn take_samples<'a>(
    pool: &sqlx::PgPool,
    params: impl Iterator<Item = (&'a str, &'a Param)>,
) -> std::result::Result<(), String> {
    use sqlx::{Column, TypeInfo};
    let params: Vec<(&str, &Param)> = params.collect();
    for &(op, p) in &params {
        let Param::Source(s) = p else { continue };
        let Some((query, columns, size)) = s.sample_query() else {
            continue;
        };
        let fail = |e: String| format!("sampling the parameters of op {op}: {e}");
        let q = query.trim().trim_end_matches(';');
        let mut tx = pool.begin().await.map_err(|e| fail(e.to_string()))?;
        sqlx::query("SET TRANSACTION READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT * FROM ({q}) AS tunebench_sample LIMIT {size}"
        )))
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| fail(e.to_string()))?;
        let _ = tx.rollback().await;
        let mut values = Vec::with_capacity(rows.len());
        for (n, row) in rows.iter().enumerate() {
            let mut out = Vec::with_capacity(columns.len());
            for c in &columns {
                let Some(col) = row.columns().iter().find(|x| x.name() == *c) else {
                    let have: Vec<&str> = row.columns().iter().map(|x| x.name()).collect();
                    return Err(fail(format!(
                        "its result has no column `{c}`; it has: {}",
                        have.join(", ")
                    )));
                };
                let i = col.ordinal();
                let ty = col.type_info().name().to_string();
                let v = sample_value(row, i, &ty)
                    .map_err(|e| fail(format!("row {} column `{c}` ({ty}): {e}", n + 1)))?;
                out.push(v);
            }
            values.push(out);
        }
        s.fill_sample(values).map_err(fail)?;
    }
    read_vectors(pool, params.into_iter()).await
}

/// Reads the rows of each `from = "vectors"` source of these parameters not read yet this
/// run (once, before any clock) and computes its queries' exact ground truth.
pub async fn read_vectors<'a>(
    pool: &sqlx::PgPool,
    params: impl Iterator<Item = (&'a str, &'a Param)>,
) -> std::result::Result<(), String> {
    for (op, p) in params {
        let Param::Source(s) = p else { continue };
        let Some(req) = s.vectors_request() else {
            continue;
        };
        let fail = |e: String| format!("reading the vectors of op {op} from {}: {e}", req.table);
        let started = std::time::Instant::now();
        let (rows, sha) = vectors::read_own_vectors(pool, &req).await.map_err(fail)?;
        let (n, dim) = (rows.ids.len(), rows.dim);
        let read = started.elapsed().as_secs_f64();
        let source = s.clone();
        tokio::task::spawn_blocking(move || source.fill_vectors(rows, sha))
            .await
            .map_err(|e| fail(e.to_string()))?
            .map_err(fail)?;
        if let Some(v) = s.own_vectors() {
            eprintln!(
                "op {op}: read {n} vectors ({dim}-d) of {} in {read:.1} s; exact top-{} of {} queries in {:.1} s",
                req.table,
                v.truth.first().map_or(0, |t| t.ids.len()),
                v.query_count(),
                v.truth_seconds
            );
        }
    }
    Ok(())
}

fn sample_value(
    row: &sqlx::postgres::PgRow,
    i: usize,
    ty: &str,
) -> std::result::Result<ParamValue, String> {
    fn get<'r, T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>>(
        row: &'r sqlx::postgres::PgRow,
        i: usize,
    ) -> std::result::Result<T, String> {
        row.try_get::<Option<T>, _>(i)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "is NULL; leave NULLs out in the query (WHERE ... IS NOT NULL)".into())
    }
    Ok(match ty {
        "INT2" => ParamValue::Int(i64::from(get::<i16>(row, i)?)),
        "INT4" => ParamValue::Int(i64::from(get::<i32>(row, i)?)),
        "INT8" => ParamValue::Int(get(row, i)?),
        "FLOAT4" => ParamValue::Float(f64::from(get::<f32>(row, i)?)),
        "FLOAT8" => ParamValue::Float(get(row, i)?),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => ParamValue::Text(get(row, i)?),
        "TIMESTAMPTZ" => ParamValue::Time(get::<DateTime<chrono::Utc>>(row, i)?),
        "TIMESTAMP" => ParamValue::Time(get::<chrono::NaiveDateTime>(row, i)?.and_utc()),
        other => {
            return Err(format!(
                "a parameter source takes integers, float4/float8, text and timestamps, not {other}; cast it in the query (e.g. ::text, ::float8, ::int8)"
            ));
        }
    })
}
