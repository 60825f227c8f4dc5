//! [`Store`] for PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgPool;

use super::{
    AppliedProfile, PgData, PgExecutor, PgOps, PgSnapshot, PgWorkers, apply_profile, capture_plan,
    connect, readiness, revert_profile, target_error, with_schema,
};
use crate::backend::Store;
use crate::backend::facts::{
    DatasetReport, PoolReport, ReadinessCheck, RevertReport, TargetChanges, TargetEnv,
};
use crate::backend::journal::Journal;
use crate::backend::model::{Dataset, Target};
use crate::backend::postgres::PgEvidence;
use crate::backend::postgres::spec::{PgProfile, SqlOp};
use crate::dataset::ParamGen;
use crate::dataset::vectors::fresh::FreshPool;
use crate::dataset::{Corpus, DatasetSpec, VectorSet};
use crate::error::{Error, Result};
/// This store's workloads and profile files.
type Workload = crate::backend::model::Workload<SqlOp>;
type AppliedFile = crate::backend::model::AppliedFile<PgProfile>;

use sqlx::AssertSqlSafe;

pub struct PgStore {
    target: Target,
    pool: PgPool,
    /// COPY seconds of vector sets loaded by this run, per schema.
    vector_load_seconds: std::collections::BTreeMap<String, f64>,
    /// Seconds the applied profile spent in CREATE INDEX (None: it built none).
    index_build_seconds: Option<f64>,
}

impl PgStore {
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl Store for PgStore {
    type Check = super::PgCheck;
    type TargetOptions = ();
    type Op = SqlOp;
    type Profile = PgProfile;
    type Exec = PgExecutor;
    type Data = PgData;
    type Applied = AppliedProfile;
    type Snapshot = PgSnapshot;
    type Evidence = PgEvidence;
    type Workers = PgWorkers;

    async fn connect(target: &Target, _options: ()) -> Result<Self> {
        Ok(PgStore {
            target: target.clone(),
            pool: connect(target).await?,
            vector_load_seconds: Default::default(),
            index_build_seconds: None,
        })
    }

    async fn environment(&self) -> Result<TargetEnv> {
        let t = &self.target;
        let (version, settings) = super::server_info(&self.pool)
            .await
            .map_err(|e| target_error(t, "reading server info", e))?;
        Ok(TargetEnv {
            kind: "postgres".into(),
            url: t.url_redacted.clone(),
            server_version: version,
            non_default_settings: settings,
            pool: PoolReport::configured(t, t.pool.min_connections),
        })
    }

    async fn prepare(&mut self, dataset: &Dataset) -> Result<(DatasetReport, Arc<PgData>)> {
        match &dataset.spec {
            DatasetSpec::Documents(spec) => {
                let corpus = Corpus::new(spec);
                let report =
                    super::prepare_dataset(&self.pool, &self.target, dataset, &corpus).await?;
                Ok((report, Arc::new(PgData::Documents(corpus))))
            }
            DatasetSpec::Vectors(spec) => {
                let set = build_vectors(dataset, spec.clone()).await?;
                let report =
                    super::prepare_vectors(&self.pool, &self.target, dataset, &set).await?;
                if let Some(s) = report.load_seconds {
                    self.vector_load_seconds.insert(spec.schema.clone(), s);
                }
                // Connections opened before pgvector was installed have not loaded it (see
                // `connect`): start a fresh pool so every session knows its settings.
                self.pool.close().await;
                self.pool = connect(&self.target).await?;
                Ok((report, Arc::new(PgData::Vectors(set))))
            }
            _ => Err(Error::Usage(format!(
                "dataset {} ({}) is neither a document corpus nor vectors; a postgres target needs kind = \"documents\" or \"vectors\"",
                dataset.name,
                dataset.file.display()
            ))),
        }
    }

    async fn apply(
        &mut self,
        file: &AppliedFile,
        data: Option<&PgData>,
        host_memory: u64,
        journal: &Journal,
    ) -> Result<AppliedProfile> {
        // The data already there is no dataset of tunebench's: see the `None` arms.
        let data = data.filter(|d| !d.foreign());
        let (schema, tables) = match data {
            Some(corpus) => (corpus.schema(), corpus.tables()),
            // Settings only (validated): the workloads run on the data already there.
            // Indexes only on tables named `schema.table` (allow_foreign_indexes, validated).
            None if file
                .profile
                .indexes
                .iter()
                .all(|i| i.foreign_schema().is_some()) =>
            {
                ("", &[][..])
            }
            None => {
                return Err(Error::Usage(format!(
                    "{}: target {} has no dataset, so there is no schema for the profile's indexes",
                    file.file.display(),
                    self.target.name
                )));
            }
        };
        match apply_profile(
            self.pool.clone(),
            &self.target,
            file,
            schema,
            tables,
            host_memory,
            journal,
        )
        .await
        {
            Ok((pool, applied)) => {
                self.pool = pool;
                let built: Vec<f64> = applied
                    .changes
                    .indexes
                    .iter()
                    .filter_map(|i| i.build_seconds)
                    .collect();
                self.index_build_seconds = (!built.is_empty()).then(|| built.iter().sum());
                Ok(applied)
            }
            Err(e) => {
                // A restart may have closed the old pool; the caller still needs one.
                if let Ok(pool) = connect(&self.target).await {
                    self.pool = pool;
                }
                Err(e)
            }
        }
    }

    fn changes(applied: &AppliedProfile) -> TargetChanges {
        applied.changes.clone()
    }

    async fn revert(&mut self, applied: AppliedProfile) -> Result<RevertReport> {
        self.index_build_seconds = None;
        let (pool, report) = revert_profile(self.pool.clone(), &self.target, applied).await?;
        self.pool = pool;
        Ok(report)
    }

    async fn readiness(
        &self,
        corpus: &PgData,
        file: Option<&AppliedFile>,
    ) -> Result<Vec<ReadinessCheck>> {
        if let PgData::Foreign(statements) = corpus {
            super::take_samples(
                &self.pool,
                statements
                    .iter()
                    .flat_map(|s| s.params.iter().map(move |p| (s.name.as_str(), p))),
            )
            .await
            .map_err(|e| Error::target(format!("target {}", self.target.name), e))?;
            return super::evidence::foreign_readiness(&self.pool, &self.target.name, statements)
                .await
                .map_err(|e| target_error(&self.target, "readiness check", e));
        }
        let expected: Vec<String> = file
            .map(|f| f.profile.indexes.iter().map(|i| i.name.clone()).collect())
            .unwrap_or_default();
        readiness(&self.pool, &self.target.name, corpus, &expected)
            .await
            .map_err(|e| target_error(&self.target, "readiness check", e))
    }

    /// Workloads that name no dataset run on the data already on the server.
    fn own_data(&self, workloads: &[Workload]) -> Result<Option<Arc<PgData>>> {
        let statements: Vec<super::ForeignStatement> = workloads
            .iter()
            .filter(|w| w.dataset.is_none())
            .flat_map(|w| {
                w.ops.iter().map(|o| super::ForeignStatement {
                    name: format!("{}.{}", w.name, o.name),
                    sql: o.def.sql.clone(),
                    params: o.def.params.clone(),
                })
            })
            .collect();
        Ok((!statements.is_empty()).then(|| Arc::new(PgData::Foreign(statements))))
    }

    async fn journal_on_server(
        &self,
    ) -> Result<Vec<std::result::Result<crate::backend::journal::Entry, String>>> {
        super::journal::list(&self.pool)
            .await
            .map_err(|e| target_error(&self.target, "reading tunebench_journal.entries", e))
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    fn new_evidence() -> PgEvidence {
        PgEvidence::default()
    }

    async fn explain(
        &self,
        workload: &Workload,
        corpus: &PgData,
        ev: &mut PgEvidence,
    ) -> Result<()> {
        if let (PgData::Vectors(set), Some(build)) = (corpus, self.index_build_seconds) {
            let copy = self.vector_load_seconds.get(corpus.schema()).copied();
            let e = &mut *ev;
            e.index_vectors_per_s =
                Some(set.len() as f64 / (build + copy.unwrap_or(0.0)).max(1e-9));
            e.index_source = Some(match copy {
                Some(c) => format!(
                    "COPY {c:.1} s + CREATE INDEX {build:.1} s of {} rows",
                    set.len()
                ),
                None => format!(
                    "CREATE INDEX {build:.1} s of {} rows (the COPY load was reused from an earlier run)",
                    set.len()
                ),
            });
        }
        self.samples(workload).await?;
        for op in &workload.ops {
            let sql = &op.def;
            // Writes are not EXPLAINed: EXPLAIN ANALYZE would run them.
            if sql.writes || sql.params.iter().any(|p| *p == ParamGen::FreshPoints) {
                continue;
            }
            // The same parameters under every profile, so plans are comparable.
            let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(
                crate::dataset::name_seed(&workload.name, &op.name),
            );
            let mut params = Vec::new();
            corpus.draw(&sql.params, &mut rng, &mut params);
            let shown = shown_params(&sql.params, &params);
            let mut plan = capture_plan(
                &self.pool,
                &workload.name,
                &op.name,
                &sql.sql,
                corpus.schema(),
                params,
            )
            .await
            .map_err(|e| {
                target_error(
                    &self.target,
                    &format!("EXPLAIN of {}.{}", workload.name, op.name),
                    e,
                )
            })?;
            plan.params = shown;
            ev.plans.push(plan);
        }
        Ok(())
    }

    async fn snapshot(&self, workload: &Workload, ev: &PgEvidence) -> Result<PgSnapshot> {
        let ids: Vec<i64> = ev
            .plans
            .iter()
            .filter(|p| p.workload == workload.name)
            .filter_map(|p| p.query_id)
            .collect();
        PgSnapshot::take(&self.pool, &ids)
            .await
            .map_err(|e| target_error(&self.target, "reading statistics", e))
    }

    fn accumulate(after: &PgSnapshot, before: &PgSnapshot, ev: &mut PgEvidence) {
        after.accumulate_delta(before, ev);
    }

    async fn workers(
        &self,
        workload: &Workload,
        corpus: Arc<PgData>,
        _n: u32,
        op_timeout: Duration,
    ) -> Result<PgWorkers> {
        let schema = corpus.schema().to_string();
        let k = workload.k.unwrap_or(10) as usize;
        let upsert = workload.ops.iter().map(|o| &o.def).find_map(|s| {
            s.params
                .iter()
                .any(|p| *p == ParamGen::FreshPoints)
                .then(|| (s.batch.unwrap_or(1), s.fresh_points))
        });
        let fresh = match (upsert, &*corpus) {
            (Some((batch, points)), PgData::Vectors(_)) => {
                let d = corpus.clone();
                let pool = tokio::task::spawn_blocking(move || {
                    let PgData::Vectors(set) = &*d else {
                        unreachable!("matched above")
                    };
                    FreshPool::for_op(set, batch, points, k)
                })
                .await
                .map_err(|e| Error::Usage(format!("preparing fresh points: {e}")))?
                .map_err(|e| {
                    Error::Usage(format!(
                        "workload {}: upserts of dataset {}: {e}",
                        workload.name,
                        workload.dataset.as_deref().unwrap_or_default()
                    ))
                })?;
                Some(Arc::new(pool))
            }
            _ => None,
        };
        self.samples(workload).await?;
        // Sequential sources start from their first row under each profile.
        for o in &workload.ops {
            for p in &o.def.params {
                if let crate::dataset::Param::Source(s) = p {
                    s.rewind();
                }
            }
        }
        let ops = Arc::new(PgOps {
            statements: workload
                .ops
                .iter()
                .map(|o| Arc::from(with_schema(&o.def.sql, &schema)))
                .collect(),
            params: workload.ops.iter().map(|o| o.def.params.clone()).collect(),
            data: corpus,
            k,
            fresh: fresh.clone(),
            writes: workload.ops.iter().any(|o| o.def.writes),
        });
        Ok(PgWorkers {
            target: self.target.clone(),
            options: super::connect_options(&self.target)?,
            ops,
            op_timeout,
            session: workload
                .sweep
                .as_ref()
                .map(|s| (s.setting.clone(), s.value.clone())),
            fresh: fresh.map(|f| (f, schema)),
        })
    }

    async fn open(workers: Arc<PgWorkers>, _i: u32) -> Result<PgExecutor> {
        PgExecutor::open(&workers).await
    }

    async fn drill(
        &self,
        drill: &crate::backend::drill::Drill,
        data: &PgData,
        run: &crate::backend::drill::DrillRun<'_>,
    ) -> Result<crate::backend::drill::DrillReport> {
        use crate::backend::drill::DrillMethod;
        match drill.method {
            DrillMethod::Logical => {
                super::drill::logical(&self.pool, &self.target, drill, data.schema(), run).await
            }
            DrillMethod::Pitr => {
                super::pitr::pitr(&self.pool, &self.target, drill, data.schema(), run).await
            }
            m => Err(Error::Usage(format!(
                "drill {}: `{}` is not a drill method of a postgres target",
                drill.name,
                m.name()
            ))),
        }
    }

    async fn drill_leftovers(&self, own: bool) {
        let who = format!("target {}", self.target.name);
        super::drill::remove_leftovers(&self.pool, &who, own).await;
        // Scratch servers need pg_ctl; without one there can be none of ours to stop.
        if let Ok(pg_ctl) = super::drill::Tool::find("pg_ctl", None, 0, &who).await {
            super::pitr::remove_leftovers(&self.pool, &pg_ctl, own).await;
        }
    }

    async fn check(
        &self,
        check: &super::PgCheck,
        datasets: &[&Dataset],
        evidence: Option<&PgEvidence>,
    ) -> Result<crate::backend::facts::CheckOutcome> {
        let schemas: Vec<String> = datasets
            .iter()
            .map(|d| d.spec.namespace().to_string())
            .collect();
        super::checks::check(&self.pool, check, &schemas, evidence)
            .await
            .map_err(|e| super::target_error(&self.target, "configuration check", e))
    }

    /// Deletes the fresh points an upsert workload may have written (ids after the
    /// dataset's, in tunebench's own schema) and vacuums, so each phase starts from the loaded
    /// table and its index without dead entries.
    async fn reset(&self, workload: &Workload, workers: &Self::Workers) -> Result<()> {
        let Some((pool, schema)) = &workers.fresh else {
            return Ok(());
        };
        let fail = |e| {
            target_error(
                &self.target,
                &format!("deleting the fresh points of workload {}", workload.name),
                e,
            )
        };
        let deleted = sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM {schema}.items WHERE id > $1"
        )))
        .bind(pool.start as i64)
        .execute(&self.pool)
        .await
        .map_err(fail)?
        .rows_affected();
        if deleted > 0 {
            // Off the clock, but not free: with an HNSW index, VACUUM repairs the graph
            // around every deleted row.
            let started = std::time::Instant::now();
            sqlx::query(AssertSqlSafe(format!("VACUUM {schema}.items")))
                .execute(&self.pool)
                .await
                .map_err(fail)?;
            tracing::info!(
                "{}: deleted {deleted} fresh rows and vacuumed {schema}.items in {:.1} s",
                workload.name,
                started.elapsed().as_secs_f64()
            );
        }
        pool.reset();
        Ok(())
    }
}

/// Generates (or reads) the vectors and their ground truth on a blocking thread: it is
/// seconds of CPU work that must not stall the async workers.
async fn build_vectors(dataset: &Dataset, spec: crate::dataset::VectorsSpec) -> Result<VectorSet> {
    let cache = crate::dataset::vectors::cache_dir();
    let file = dataset.file.clone();
    tokio::task::spawn_blocking(move || VectorSet::build(&spec, &cache))
        .await
        .map_err(|e| Error::Usage(format!("building the vector dataset failed: {e}")))?
        .map_err(|e| Error::input(crate::error::InputIssue::new(&file, "vectors_file", e)))
}

impl PgStore {
    /// The workload's samples (`from = "sample"`), taken once per run before any clock.
    async fn samples(&self, workload: &Workload) -> Result<()> {
        super::take_samples(
            &self.pool,
            workload
                .ops
                .iter()
                .flat_map(|o| o.def.params.iter().map(move |p| (o.name.as_str(), p))),
        )
        .await
        .map_err(|e| Error::target(format!("target {}", self.target.name), e))
    }
}

/// The parameters as the evidence shows them: tunebench's own corpus values as drawn, a
/// declared source's values (the user's data) only by where they came from.
fn shown_params(
    params: &[crate::dataset::Param],
    values: &[crate::dataset::ParamValue],
) -> Vec<crate::dataset::ParamValue> {
    use crate::dataset::{Param, ParamValue};
    let mut out = Vec::with_capacity(values.len());
    let mut at = 0;
    for p in params {
        let n = p.arity();
        match p {
            Param::Gen(_) => out.extend(values.iter().skip(at).take(n).cloned()),
            Param::Source(s) => out.extend(
                (0..n).map(|_| ParamValue::Text(format!("(drawn from {})", s.spec.describe()))),
            ),
        }
        at += n;
    }
    out
}
