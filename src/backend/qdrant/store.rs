//! [`Store`] for Qdrant: the vector dataset as a `tunebench_` collection (Cosine, payload
//! `category` + `timestamp`, a payload index on `category`), profiles as collection config
//! changes that are re-indexed and timed, readiness on points and indexed vectors.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use super::exec::{QdrantExecutor, QdrantWorkers, fresh_pool, op_kinds, swept};
use super::profile::{search_spec, setting_changes, wanted};
use super::{Engine, ManagedConfig, SearchSpec};
use crate::backend::Store;
use crate::backend::facts::{
    DatasetReport, IndexChange, PoolReport, ReadinessCheck, RevertReport, TargetChanges, TargetEnv,
};
use crate::backend::model::{Dataset, Target};
use crate::backend::qdrant::QdrantEvidence;
use crate::backend::qdrant::spec::{QdrantOp, QdrantProfile};
use crate::dataset::DatasetSpec;
use crate::dataset::vectors::VectorSet;
use crate::error::{Error, Result};

/// This store's workloads and profile files.
type Workload = crate::backend::model::Workload<QdrantOp>;
type AppliedFile = crate::backend::model::AppliedFile<QdrantProfile>;

/// One measured index build: what `index_vectors_per_s` reports.
#[derive(Debug, Clone)]
pub(super) struct IndexBuild {
    pub(super) seconds: f64,
    pub(super) vectors: u64,
    pub(super) source: String,
}

pub struct QdrantStore {
    pub(super) target: Target,
    pub(super) engine: Engine,
    pub(super) version: String,
    /// The index build that produced each collection's current state.
    pub(super) builds: HashMap<String, IndexBuild>,
    /// Search parameters of the applied profile, per collection.
    pub(super) search: HashMap<String, SearchSpec>,
}

/// A prepared vector set and the collection holding it; or collections tunebench did not
/// create, searched with their ops' own query vectors (`collection` + `vectors`).
pub enum QdrantData {
    Set {
        set: Box<VectorSet>,
        collection: String,
    },
    Foreign(Vec<(String, super::spec::QdrantVectors)>),
}

/// The collection a workload searches, and (for tunebench's dataset) the points and
/// dimension it should hold.
fn collection_of<'a>(
    data: &'a QdrantData,
    w: &'a Workload,
) -> Option<(&'a str, Option<(u64, usize)>)> {
    match data {
        QdrantData::Set { set, collection } => {
            Some((collection.as_str(), Some((set.len() as u64, set.dim))))
        }
        QdrantData::Foreign(_) => w
            .ops
            .iter()
            .find_map(|o| o.def.collection.as_deref())
            .map(|c| (c, None)),
    }
}

/// What revert needs; journaled before the change (see `backend::journal`).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct AppliedQdrantProfile {
    collection: String,
    vectors: u64,
    dim: usize,
    before: ManagedConfig,
    after: ManagedConfig,
    changes: TargetChanges,
}

impl Store for QdrantStore {
    type Check = super::QdrantCheck;
    type TargetOptions = super::spec::QdrantTarget;
    type Op = QdrantOp;
    type Profile = QdrantProfile;
    type Exec = QdrantExecutor;
    type Data = QdrantData;
    type Applied = AppliedQdrantProfile;
    /// Server telemetry counters (None: embedded, or a server without readable telemetry:
    /// the reason is then in the evidence).
    type Snapshot = Option<Result<super::telemetry::Counters, String>>;
    type Evidence = QdrantEvidence;
    type Workers = QdrantWorkers;

    fn refuse_shards(&self, workload: &Workload) -> Option<String> {
        if self.in_process() {
            return Some(
                "an embedded Qdrant engine lives in one process; worker shards need a Qdrant server (set url to one, e.g. TUNEBENCH_QDRANT_URL)".into(),
            );
        }
        op_kinds(workload).1.map(|_| {
            "its upserts number their fresh points in one process, so shards would write the same point ids; run it without --workers".into()
        })
    }

    async fn connect(target: &Target, options: super::spec::QdrantTarget) -> Result<Self> {
        let root = crate::dataset::vectors::cache_dir().join("qdrant-edge");
        let (engine, version) =
            Engine::open(&target.url, &options, root, target.pool_connect_timeout)
                .await
                .map_err(|e| {
                    Error::target(
                        format!(
                            "cannot connect to target {} at {}",
                            target.name, target.url_redacted
                        ),
                        e,
                    )
                })?;
        Ok(QdrantStore {
            target: target.clone(),
            engine,
            version,
            builds: HashMap::new(),
            search: HashMap::new(),
        })
    }

    fn in_process(&self) -> bool {
        matches!(self.engine, Engine::Edge(_))
    }

    async fn environment(&self) -> Result<TargetEnv> {
        let t = &self.target;
        let url = match &self.engine {
            Engine::Edge(e) => format!("embedded ({})", e.root().display()),
            Engine::Server(_) => t.url_redacted.clone(),
        };
        let threads = std::thread::available_parallelism().map_or(2, |c| c.get());
        let mut settings = BTreeMap::new();
        if let Engine::Edge(_) = self.engine {
            settings.insert("search_threads".into(), threads.to_string());
            settings.insert("max_indexing_threads".into(), threads.to_string());
        }
        Ok(TargetEnv {
            kind: "qdrant".into(),
            url,
            server_version: self.version.clone(),
            non_default_settings: settings,
            pool: PoolReport::configured(t, t.pool.min_connections),
        })
    }

    async fn prepare(&mut self, dataset: &Dataset) -> Result<(DatasetReport, Arc<QdrantData>)> {
        let DatasetSpec::Vectors(spec) = &dataset.spec else {
            return Err(Error::Usage(format!(
                "dataset {} ({}) is not a vector set; a qdrant target needs kind = \"vectors\"",
                dataset.name,
                dataset.file.display()
            )));
        };
        let set = super::load::build_vectors(dataset, spec.clone()).await?;
        let c = spec.schema.clone();
        let hash = dataset.spec.hash();
        let n = set.len() as u64;
        let reused = self.reusable(dataset, &c, &hash, n).await?;
        let (upsert, index) = match &reused {
            Some(m) => (
                m.upsert_seconds.unwrap_or(0.0),
                m.index_seconds.unwrap_or(0.0),
            ),
            None => {
                dataset.may_load()?;
                self.load(&c, &set, &hash).await?
            }
        };
        let info = self.info(&c).await?;
        let total = upsert + index;
        let mut rates = BTreeMap::from([(
            "upsert_vectors_per_s".to_string(),
            n as f64 / upsert.max(1e-9),
        )]);
        if info.managed.expects_index(n, set.dim) {
            rates.insert("indexed_vectors_per_s".into(), n as f64 / total.max(1e-9));
            self.builds.insert(
                c.clone(),
                IndexBuild {
                    seconds: total,
                    vectors: n,
                    source: format!(
                        "dataset load: upsert + index of {n} vectors{}",
                        if reused.is_some() {
                            ", from the collection's manifest"
                        } else {
                            ""
                        }
                    ),
                },
            );
        }
        let report = DatasetReport {
            name: dataset.name.clone(),
            target: dataset.target.clone(),
            schema: c.clone(),
            spec_hash: hash,
            loaded: reused.is_none(),
            rows: BTreeMap::from([("points".to_string(), info.points)]),
            // A reused collection was not loaded by this run; its load_rates are the ones
            // measured when it was (kept in its manifest), for the index criterion.
            load_seconds: reused.is_none().then_some(total),
            load_rows_per_s: reused.is_none().then(|| n as f64 / total.max(1e-9)),
            term_bands: Vec::new(),
            load_rates: rates,
        };
        Ok((
            report,
            Arc::new(QdrantData::Set {
                set: Box::new(set),
                collection: c,
            }),
        ))
    }

    async fn apply(
        &mut self,
        file: &AppliedFile,
        data: Option<&QdrantData>,
        _host_memory: u64,
        journal: &crate::backend::journal::Journal,
    ) -> Result<AppliedQdrantProfile> {
        let p = &file.profile;
        let (c, n, dim) = match data {
            Some(QdrantData::Set { set, collection }) => {
                (collection.clone(), set.len() as u64, set.dim)
            }
            // Collections tunebench did not create: the search parameters go with every
            // query of each; a profile that changes the collection (the target says
            // allow_foreign_indexes = true, validated) needs the workloads to search one, and
            // is then journaled, re-indexed and restored on revert as tunebench's own.
            Some(QdrantData::Foreign(searched)) => {
                let changes =
                    p.hnsw.is_some() || p.optimizers.is_some() || p.quantization.is_some();
                let c = match &searched[..] {
                    [(c, _), rest @ ..] if !changes || rest.iter().all(|(x, _)| x == c) => {
                        c.clone()
                    }
                    [] => {
                        return Err(Error::Usage(format!(
                            "target {} has no collection",
                            self.target.name
                        )));
                    }
                    _ => {
                        return Err(Error::Usage(format!(
                            "{}: the workloads on target {} search several collections; a profile that changes a collection needs them to search one",
                            file.file.display(),
                            self.target.name
                        )));
                    }
                };
                let search = search_spec(p);
                for (x, _) in searched {
                    self.open_existing(x).await?;
                    self.search.insert(x.clone(), search);
                }
                if changes {
                    let points = self.info(&c).await?.points;
                    let (dim, _) = self.engine.vector_params(&c).await.map_err(|e| {
                        self.fail(&format!("reading the vector parameters of {c}"), e)
                    })?;
                    (c, points, dim)
                } else {
                    // Nothing is re-indexed: the points and dimension are not needed.
                    (c, 0, 0)
                }
            }
            None => {
                return Err(Error::Usage(format!(
                    "{}: target {} has no dataset, so there is no collection for the profile",
                    file.file.display(),
                    self.target.name
                )));
            }
        };
        let before = self.info(&c).await?.managed;
        let after = wanted(&before, p);
        let search = search_spec(p);
        let settings = setting_changes(&before, &after, &search);
        let mut applied = AppliedQdrantProfile {
            collection: c.clone(),
            vectors: n,
            dim,
            before,
            after,
            changes: TargetChanges {
                target: self.target.name.clone(),
                profile_file: file.file.display().to_string(),
                description: p.description.clone(),
                settings,
                indexes: Vec::new(),
                restarted: false,
            },
        };
        let mut indexes = Vec::new();
        if after != before {
            journal.record(&applied, &applied.changes)?;
            self.engine
                .set_config(&c, &after)
                .await
                .map_err(|e| self.fail(&format!("changing the config of {c}"), e))?;
            let built = if before.needs_reindex(&after) {
                match self.rebuild(&c, n, dim, &after, "profile apply").await {
                    Ok(b) => b,
                    Err(e) => {
                        // Undo our own partial work before reporting.
                        let _ = self.engine.set_config(&c, &before).await;
                        let _ = self.engine.build_index(&c, false).await;
                        return Err(e);
                    }
                }
            } else {
                None
            };
            if let Some(seconds) = built {
                indexes.push(IndexChange {
                    name: format!(
                        "hnsw m={} ef_construct={}{}",
                        after.m,
                        after.ef_construct,
                        if after.quantization.is_some() {
                            " + int8 scalar quantization"
                        } else {
                            ""
                        }
                    ),
                    table: c.clone(),
                    definition: serde_json::to_string(&after).expect("config"),
                    created: true,
                    build_seconds: Some(seconds),
                    size_bytes: self.info(&c).await?.disk_bytes.map(|b| b as i64),
                });
            }
        }
        self.search.insert(c.clone(), search);
        applied.changes.indexes = indexes;
        Ok(applied)
    }

    fn changes(applied: &AppliedQdrantProfile) -> TargetChanges {
        applied.changes.clone()
    }

    async fn revert(&mut self, a: AppliedQdrantProfile) -> Result<RevertReport> {
        self.search.clear();
        // Reverting from a journal, in a process that has not prepared the dataset: the
        // embedded engine must open the collection first (a no-op when it is open).
        self.engine
            .open_collection(&a.collection)
            .await
            .map_err(|e| self.fail(&format!("opening {}", a.collection), e))?;
        let mut restored = Vec::new();
        if a.after != a.before {
            self.engine
                .set_config(&a.collection, &a.before)
                .await
                .map_err(|e| self.fail(&format!("restoring the config of {}", a.collection), e))?;
            if a.after.needs_reindex(&a.before) {
                self.rebuild(&a.collection, a.vectors, a.dim, &a.before, "revert")
                    .await?;
            }
            restored = a
                .before
                .fields()
                .into_iter()
                .zip(a.after.fields())
                .filter(|(b, x)| b.1 != x.1)
                .map(|(b, _)| b.0.to_string())
                .collect();
        }
        let now = self.info(&a.collection).await?.managed;
        let mismatches = a
            .before
            .fields()
            .into_iter()
            .zip(now.fields())
            .filter(|(b, n)| b.1 != n.1)
            .map(|(b, n)| format!("{}: captured {}, now {}", b.0, b.1, n.1))
            .collect();
        Ok(RevertReport {
            target: self.target.name.clone(),
            kept: false,
            settings_restored: restored,
            indexes_dropped: Vec::new(),
            restarted: false,
            mismatches,
        })
    }

    async fn drill_leftovers(&self, own: bool) {
        let who = format!("target {}", self.target.name);
        super::drill::remove_leftovers(self, &who, own).await;
    }

    async fn drill(
        &self,
        drill: &crate::backend::drill::Drill,
        data: &QdrantData,
        run: &crate::backend::drill::DrillRun<'_>,
    ) -> Result<crate::backend::drill::DrillReport> {
        use crate::backend::drill::DrillMethod;
        match drill.method {
            DrillMethod::Snapshot => super::drill::snapshot(self, drill, data, run).await,
            m => Err(Error::Usage(format!(
                "drill {}: `{}` is not a drill method of a qdrant target",
                drill.name,
                m.name()
            ))),
        }
    }

    async fn readiness(
        &self,
        data: &QdrantData,
        _file: Option<&AppliedFile>,
    ) -> Result<Vec<ReadinessCheck>> {
        let (c, set) = match data {
            QdrantData::Set { set, collection } => (collection, set),
            QdrantData::Foreign(searched) => return self.foreign_readiness(searched).await,
        };
        let n = set.len() as u64;
        let info = self.info(c).await?;
        let check = |check: String, expected: String, actual: String, ok: bool| ReadinessCheck {
            target: self.target.name.clone(),
            check,
            expected,
            actual,
            ok,
        };
        let mut checks = vec![check(
            format!("points in {c}"),
            n.to_string(),
            info.points.to_string(),
            info.points == n,
        )];
        let kb = n * set.dim as u64 * 4 / 1024;
        if info.managed.expects_index(n, set.dim) {
            checks.push(check(
                format!("indexed vectors in {c}"),
                n.to_string(),
                info.indexed.to_string(),
                info.indexed >= n,
            ));
        } else {
            checks.push(check(
                format!("indexed vectors in {c}"),
                format!(
                    "none needed: {kb} KB of vectors is below indexing_threshold {} KB (searched without HNSW)",
                    info.managed.indexing_threshold
                ),
                info.indexed.to_string(),
                true,
            ));
        }
        checks.push(check(
            format!("payload index on {c}.category"),
            "present".into(),
            info.category_index_points
                .map_or("absent".into(), |p| format!("present ({p} points)")),
            info.category_index_points.is_some(),
        ));
        if let Some(status) = &info.status {
            checks.push(check(
                format!("status of {c}"),
                "green".into(),
                status.clone(),
                status == "green",
            ));
        }
        Ok(checks)
    }

    fn own_data(&self, workloads: &[Workload]) -> Result<Option<Arc<QdrantData>>> {
        let searched: Vec<(String, super::spec::QdrantVectors)> = workloads
            .iter()
            .filter(|w| w.dataset.is_none())
            .flat_map(|w| w.ops.iter())
            .filter_map(|o| Some((o.def.collection.clone()?, o.def.vectors.clone()?)))
            .collect();
        Ok((!searched.is_empty()).then(|| Arc::new(QdrantData::Foreign(searched))))
    }

    fn new_evidence() -> QdrantEvidence {
        QdrantEvidence::default()
    }

    async fn explain(
        &self,
        w: &Workload,
        data: &QdrantData,
        ev: &mut QdrantEvidence,
    ) -> Result<()> {
        let Some((c, expected)) = collection_of(data, w) else {
            return Ok(());
        };
        let c = &c.to_string();
        let info = self.info(c).await?;
        let build = self.builds.get(c);
        let indexed_all = match expected {
            Some((n, dim)) => !info.managed.expects_index(n, dim) || info.indexed >= n,
            None => info.indexed >= info.points,
        };
        // Explain runs once per workload; the server's counters of the profile's earlier
        // workloads on this collection are kept (the evidence is per target and profile).
        let earlier = ev.server.take().filter(|_| ev.collection == *c);
        *ev = QdrantEvidence {
            mode: self.engine.mode().into(),
            collection: c.clone(),
            status: Some(
                info.status
                    .clone()
                    .unwrap_or_else(|| if indexed_all { "green" } else { "yellow" }.into()),
            ),
            points_count: info.points,
            indexed_vectors_count: info.indexed,
            segments_count: info.segments,
            config: info.raw_config.clone(),
            search: serde_json::to_value(self.search.get(c).copied().unwrap_or_default())
                .expect("search spec"),
            index_build_seconds: build.map(|b| b.seconds),
            index_vectors_per_s: build.map(|b| b.vectors as f64 / b.seconds.max(1e-9)),
            index_source: build.map(|b| b.source.clone()),
            disk_bytes: info.disk_bytes,
            disk_by_part: info.disk_by_part.clone(),
            server: match &self.engine {
                Engine::Edge(_) => None,
                Engine::Server(_) if earlier.is_some() => earlier,
                Engine::Server(s) => Some(match s.telemetry() {
                    Ok(t) => super::telemetry::ServerView {
                        source: t.source(),
                        ..Default::default()
                    },
                    Err(why) => super::telemetry::ServerView {
                        source: "none".into(),
                        error: Some(why.clone()),
                        ..Default::default()
                    },
                }),
            },
        };
        Ok(())
    }

    async fn snapshot(&self, _w: &Workload, e: &QdrantEvidence) -> Result<Self::Snapshot> {
        let Engine::Server(s) = &self.engine else {
            return Ok(None);
        };
        Ok(match s.telemetry() {
            Ok(t) => Some(t.read(&e.collection).await),
            Err(_) => None,
        })
    }

    /// The server's counters, trial by trial; a failed read is recorded (once), not fatal:
    /// telemetry is evidence, the measurement does not depend on it.
    fn accumulate(after: &Self::Snapshot, before: &Self::Snapshot, e: &mut QdrantEvidence) {
        let Some(view) = e.server.as_mut() else {
            return;
        };
        match (after, before) {
            (Some(Ok(a)), Some(Ok(b))) => view.add(a, b),
            (Some(Err(why)), _) | (_, Some(Err(why))) => {
                view.error.get_or_insert_with(|| why.clone());
            }
            _ => {}
        }
    }

    async fn workers(
        &self,
        workload: &Workload,
        data: Arc<QdrantData>,
        _n: u32,
        op_timeout: Duration,
    ) -> Result<QdrantWorkers> {
        let c = collection_of(&data, workload)
            .map(|(c, _)| c.to_string())
            .ok_or_else(|| {
                Error::Usage(format!("workload {} names no collection", workload.name))
            })?;
        let spec = swept(self.search.get(&c).copied().unwrap_or_default(), workload)?;
        let searcher = self
            .engine
            .searcher(&c)
            .map_err(|e| self.fail("opening search handles", e))?;
        let (ops, upsert) = op_kinds(workload);
        let k = workload.k.unwrap_or(10) as usize;
        let fresh = fresh_pool(workload, &data, upsert, k).await?;
        let own = workload.ops.iter().map(|o| o.def.vectors.clone()).collect();
        Ok(QdrantWorkers {
            searcher,
            data,
            ops,
            own,
            fresh,
            spec,
            k,
            timeout: op_timeout,
        })
    }

    /// Each worker holds a handle on the engine (embedded) or on the client's channel
    /// (server: one gRPC channel, multiplexed, shared by the workers).
    async fn open(w: Arc<QdrantWorkers>, _i: u32) -> Result<QdrantExecutor> {
        Ok(QdrantExecutor {
            answer: Vec::with_capacity(w.k),
            rows: Vec::with_capacity(w.k),
            w,
            visible: None,
        })
    }

    /// Deletes every fresh point an upsert workload may have written (ids after the
    /// dataset's), so each phase starts from the loaded collection.
    async fn reset(&self, workload: &Workload, workers: &Self::Workers) -> Result<()> {
        let (searcher, Some(pool)) = (&workers.searcher, &workers.fresh) else {
            return Ok(());
        };
        let ids: Vec<u64> = pool.rows().map(|r| r as u64 + 1).collect();
        searcher.delete(ids).await.map_err(|e| {
            self.fail(
                &format!("deleting the fresh points of workload {}", workload.name),
                e,
            )
        })?;
        pool.reset();
        // A server optimizes the collection in the background after the deletes (status
        // yellow): wait until it is at rest, so the next trial (or profile) starts on a settled
        // collection, not next to a running optimizer. The embedded engine has no background
        // optimizer.
        if let (Engine::Server(_), QdrantData::Set { set, collection: c }) =
            (&self.engine, &*workers.data)
        {
            let started = std::time::Instant::now();
            let info = self.info(c).await?;
            let expect = info.managed.expects_index(set.len() as u64, set.dim);
            self.engine.build_index(c, expect).await.map_err(|e| {
                self.fail(
                    &format!("waiting for the optimizer after workload {}", workload.name),
                    e,
                )
            })?;
            tracing::info!(
                "{}: {c} at rest again after deleting the fresh points ({:.1} s)",
                workload.name,
                started.elapsed().as_secs_f64()
            );
        }
        Ok(())
    }

    async fn check(
        &self,
        check: &super::QdrantCheck,
        datasets: &[&Dataset],
        _evidence: Option<&QdrantEvidence>,
    ) -> Result<crate::backend::facts::CheckOutcome> {
        let collections: Vec<String> = datasets
            .iter()
            .map(|d| d.spec.namespace().to_string())
            .collect();
        super::checks::check_collections(&self.engine, check, &collections)
            .await
            .map_err(|e| self.fail("configuration check", e))
    }
}
