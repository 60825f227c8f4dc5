//! [`Store`] for Neo4j.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use neo4rs::{Graph as Bolt, query};

use super::bolt::{self, BoltProfile};
use super::evidence::{NeoSnapshot, dir_bytes, index_states, plan_ratios, readiness};
use super::profile::{self, AppliedNeoProfile};
use super::{
    CypherValue, ForeignCypher, NeoData, NeoExecutor, NeoOps, NeoWorkers, connect, draw_params,
    rows, target_error,
};
use crate::backend::Store;
use crate::backend::facts::{
    DatasetReport, PlanCapture, PoolReport, ReadinessCheck, RevertReport, TargetChanges, TargetEnv,
};
use crate::backend::model::{Dataset, Target};
use crate::backend::neo4j::NeoEvidence;
use crate::backend::neo4j::spec::{CypherOp, NeoProfile, NeoTarget};
use crate::dataset::{DatasetSpec, Graph, GraphParam, Param, ParamValue};
use crate::error::{Error, InputIssue, Result};
use crate::source::SourceFile;
/// This store's workloads and profile files.
type Workload = crate::backend::model::Workload<CypherOp>;
type AppliedFile = crate::backend::model::AppliedFile<NeoProfile>;

pub struct NeoStore {
    target: Target,
    options: NeoTarget,
    bolt: Bolt,
}

impl NeoStore {
    /// Bytes of the database's store files, where the config folder (and so the data
    /// folder) is known.
    fn store_bytes(&self) -> Option<u64> {
        let dir = self.options.config_dir.as_ref()?;
        dir_bytes(&dir.join("data").join("databases").join("neo4j"))
    }

    /// What the hand-rolled Bolt connections (EXPLAIN, PROFILE) log in with.
    fn login(&self) -> (&str, &str, &str) {
        (&self.target.url, &self.options.user, &self.options.password)
    }

    /// The Cypher each op runs now: its fallback when the index it needs is not online.
    async fn resolve_ops(&self, workload: &Workload) -> Result<Vec<(String, String, bool)>> {
        let states = index_states(&self.bolt)
            .await
            .map_err(|e| target_error(&self.target, "SHOW INDEXES", e))?;
        let mut out = Vec::new();
        for op in &workload.ops {
            let c = &op.def;
            let online = c
                .needs_index
                .as_ref()
                .is_none_or(|n| states.get(n).map(String::as_str) == Some("ONLINE"));
            let text = if online {
                &c.cypher
            } else {
                c.fallback.as_ref().unwrap_or(&c.cypher)
            };
            out.push((op.name.clone(), text.clone(), !online));
        }
        Ok(out)
    }

    /// One PROFILE of the op with the parameters EXPLAIN used (the same under every
    /// profile, so plans compare). Evidence, not a precondition: a failure is logged.
    async fn capture_plan(
        &self,
        workload: &Workload,
        op: &str,
        text: &str,
        params: &[(String, CypherValue)],
        fallback: bool,
        ev: &mut NeoEvidence,
    ) {
        let t = &self.target;
        let started = std::time::Instant::now();
        let plan =
            match BoltProfile::connect(&t.url, &self.options.user, &self.options.password).await {
                Ok(mut b) => b.profile(text, params).await,
                Err(e) => Err(e),
            };
        let plan = match plan {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!("PROFILE of {}.{op} not captured: {e}", workload.name);
                return;
            }
        };
        let execution_ms = started.elapsed().as_secs_f64() * 1e3;
        let (nodes, db_hits) = bolt::operators(&plan);
        let (_, misses) = bolt::page_cache(&plan);
        let uses_index = nodes.iter().any(|n| n.contains("Index"))
            || (!fallback && text.contains("db.index.fulltext"));
        ev.plans.push(PlanCapture {
            workload: workload.name.clone(),
            op: op.to_string(),
            params: shown_params(workload, op, params),
            nodes,
            uses_index,
            query_id: None,
            execution_ms,
            shared_hit: db_hits,
            shared_read: misses,
            plan,
        });
        plan_ratios(ev);
    }
}

/// The values an op's plan was captured with, as the evidence shows them: tunebench's own
/// generated values as they are, a source's only by where they came from (never the user's
/// data).
fn shown_params(
    workload: &Workload,
    op: &str,
    params: &[(String, CypherValue)],
) -> Vec<ParamValue> {
    let declared = workload
        .ops
        .iter()
        .find(|o| o.name == op)
        .map(|o| &o.def.params);
    params
        .iter()
        .map(|(name, v)| {
            let source = declared.and_then(|d| {
                d.iter()
                    .find(|(k, _)| super::spec::param_names(k).contains(&name.as_str()))
                    .map(|(_, p)| p)
            });
            (source, v)
        })
        .map(|(source, v)| match (source, v) {
            (Some(Param::Source(s)), _) => {
                ParamValue::Text(format!("(drawn from {})", s.spec.describe()))
            }
            (_, CypherValue::One(v)) => v.clone(),
            (_, CypherValue::Row(_)) => ParamValue::Text("(a row)".into()),
        })
        .collect()
}

impl Store for NeoStore {
    type Check = super::NeoCheck;
    type Op = CypherOp;
    type TargetOptions = NeoTarget;
    type Profile = NeoProfile;
    type Exec = NeoExecutor;
    type Data = NeoData;
    type Applied = AppliedNeoProfile;
    type Snapshot = NeoSnapshot;
    type Evidence = NeoEvidence;
    type Workers = NeoWorkers;

    async fn connect(target: &Target, options: NeoTarget) -> Result<Self> {
        Ok(NeoStore {
            target: target.clone(),
            bolt: connect(target, &options, target.pool.max_connections as usize).await?,
            options,
        })
    }

    async fn environment(&self) -> Result<TargetEnv> {
        let t = &self.target;
        let err = |e| target_error(t, "reading server info", e);
        let r = rows(
            &self.bolt,
            query("CALL dbms.components() YIELD name, versions, edition RETURN name, versions[0] AS v, edition"),
        )
        .await
        .map_err(err)?;
        let version = r
            .first()
            .map(|r| {
                format!(
                    "{} {} {}",
                    r.get::<String>("name").unwrap_or_default(),
                    r.get::<String>("v").unwrap_or_default(),
                    r.get::<String>("edition").unwrap_or_default()
                )
            })
            .unwrap_or_default();
        let mut settings = BTreeMap::new();
        if let Ok(rs) = rows(
            &self.bolt,
            query("SHOW SETTINGS YIELD name, value, isExplicitlySet WHERE isExplicitlySet RETURN name, value"),
        )
        .await
        {
            for r in rs {
                if let (Ok(n), Ok(v)) = (r.get::<String>("name"), r.get::<String>("value")) {
                    settings.insert(n, v);
                }
            }
        }
        Ok(TargetEnv {
            kind: "neo4j".into(),
            url: t.url_redacted.clone(),
            server_version: version,
            non_default_settings: settings,
            pool: PoolReport::configured(t, t.pool.min_connections),
        })
    }

    async fn prepare(&mut self, dataset: &Dataset) -> Result<(DatasetReport, Arc<NeoData>)> {
        let DatasetSpec::Graph(spec) = &dataset.spec else {
            return Err(Error::Usage(format!(
                "dataset {} ({}) is not a graph; a neo4j target needs kind = \"graph\"",
                dataset.name,
                dataset.file.display()
            )));
        };
        let graph = Graph::new(spec);
        let report = super::load::prepare(&self.bolt, &self.target, dataset, &graph).await?;
        Ok((report, Arc::new(NeoData::Graph(graph))))
    }

    async fn apply(
        &mut self,
        file: &AppliedFile,
        _data: Option<&NeoData>,
        _host_memory: u64,
        journal: &crate::backend::journal::Journal,
    ) -> Result<AppliedNeoProfile> {
        let bytes = self.store_bytes();
        profile::apply(
            &mut self.bolt,
            &self.target,
            &self.options,
            file,
            || bytes,
            journal,
        )
        .await
    }

    fn changes(applied: &AppliedNeoProfile) -> TargetChanges {
        applied.changes.clone()
    }

    async fn revert(&mut self, applied: AppliedNeoProfile) -> Result<RevertReport> {
        profile::revert(&mut self.bolt, &self.target, &self.options, applied).await
    }

    async fn journal_on_server(
        &self,
    ) -> Result<Vec<std::result::Result<crate::backend::journal::Entry, String>>> {
        super::journal::list(&self.bolt).await.map_err(|e| {
            target_error(
                &self.target,
                "reading the server's journal (nodes labelled tunebench_Journal)",
                e,
            )
        })
    }

    async fn readiness(
        &self,
        data: &NeoData,
        file: Option<&AppliedFile>,
    ) -> Result<Vec<ReadinessCheck>> {
        let expected: Vec<String> = file
            .map(|f| f.profile.schema.iter().map(|s| s.name.clone()).collect())
            .unwrap_or_default();
        let graph = match data {
            NeoData::Graph(g) => g,
            NeoData::Foreign(statements) => {
                let t = &self.target;
                super::sample::take_samples(&self.bolt, self.login(), statements)
                    .await
                    .map_err(|e| Error::target(format!("target {}", t.name), e))?;
                let mut bolt =
                    BoltProfile::connect(&t.url, &self.options.user, &self.options.password)
                        .await
                        .map_err(|e| target_error(t, "readiness check (EXPLAIN)", e))?;
                return super::sample::foreign_readiness(
                    &self.bolt, &mut bolt, &t.name, statements,
                )
                .await
                .map_err(|e| target_error(t, "readiness check", e));
            }
        };
        readiness(&self.bolt, &self.target.name, graph, &expected)
            .await
            .map_err(|e| target_error(&self.target, "readiness check", e))
    }

    fn own_data(&self, workloads: &[Workload]) -> Result<Option<Arc<NeoData>>> {
        let statements: Vec<ForeignCypher> = workloads
            .iter()
            .filter(|w| w.dataset.is_none())
            .flat_map(|w| {
                w.ops.iter().map(|o| ForeignCypher {
                    name: format!("{}.{}", w.name, o.name),
                    cypher: o.def.cypher.clone(),
                    params: o
                        .def
                        .params
                        .iter()
                        .map(|(k, p)| (k.clone(), p.clone()))
                        .collect(),
                })
            })
            .collect();
        Ok((!statements.is_empty()).then(|| Arc::new(NeoData::Foreign(statements))))
    }

    fn new_evidence() -> NeoEvidence {
        NeoEvidence::default()
    }

    async fn explain(
        &self,
        workload: &Workload,
        data: &NeoData,
        ev: &mut NeoEvidence,
    ) -> Result<()> {
        if let NeoData::Foreign(statements) = data {
            // Each sample once per run, before any clock (readiness took them already).
            super::sample::take_samples(&self.bolt, self.login(), statements)
                .await
                .map_err(|e| Error::target(format!("target {}", self.target.name), e))?;
        }
        for (i, (op, text, fallback)) in self.resolve_ops(workload).await?.into_iter().enumerate() {
            // EXPLAIN compiles without executing: a broken user query fails here, once,
            // with its text and Neo4j's message, instead of as a run of counted errors.
            let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(
                crate::dataset::name_seed(&workload.name, &op),
            );
            let mut q = query(&format!("EXPLAIN {text}"));
            let params = draw_params(&workload.ops[i].def.params, data.graph(), &mut rng);
            for (name, v) in &params {
                q = q.param(name, super::bolt_value(v));
            }
            if let Err(e) = self.bolt.run(q).await {
                let field = if fallback { "fallback" } else { "cypher" };
                let message = format!("Neo4j rejects this query: {e}\n  query: {text}");
                return Err(match &e {
                    neo4rs::Error::Neo4j(n) if n.code().starts_with("Neo.ClientError") => {
                        match SourceFile::read(&workload.definition_file) {
                            Ok(src) => {
                                Error::input(src.issue(&format!("ops.{op}.{field}"), message))
                            }
                            Err(_) => Error::input(InputIssue::new(
                                &workload.definition_file,
                                format!("ops.{op}.{field}"),
                                message,
                            )),
                        }
                    }
                    _ => target_error(
                        &self.target,
                        &format!("EXPLAIN of {}.{op}", workload.name),
                        e,
                    ),
                });
            }
            self.capture_plan(workload, &op, &text, &params, fallback, ev)
                .await;
            if fallback {
                ev.fallbacks.push(format!(
                    "{}.{op}: the index it needs is absent, so its fallback query ran",
                    workload.name
                ));
            }
        }
        let (idx, con) = profile::schema_names(&self.bolt)
            .await
            .map_err(|e| target_error(&self.target, "SHOW CONSTRAINTS", e))?;
        ev.indexes_present = idx.into_iter().collect();
        ev.constraints_present = con.into_iter().collect();
        ev.store_bytes = self.store_bytes();
        Ok(())
    }

    async fn snapshot(&self, _workload: &Workload, _ev: &NeoEvidence) -> Result<NeoSnapshot> {
        NeoSnapshot::take(&self.bolt)
            .await
            .map_err(|e| target_error(&self.target, "reading index statistics", e))
    }

    fn accumulate(after: &NeoSnapshot, before: &NeoSnapshot, ev: &mut NeoEvidence) {
        after.accumulate_delta(before, ev);
    }

    async fn workers(
        &self,
        workload: &Workload,
        data: Arc<NeoData>,
        _n: u32,
        _op_timeout: Duration,
    ) -> Result<NeoWorkers> {
        let resolved = self.resolve_ops(workload).await?;
        let mut params: Vec<Vec<(String, Param<GraphParam>)>> = Vec::new();
        for op in &workload.ops {
            if data.graph().is_none()
                && let Some(name) = op.def.params.iter().find(|(_, p)| p.generator().is_some())
            {
                return Err(Error::Usage(format!(
                    "workload {}: op {} draws ${} from tunebench's graph, but the workload names no dataset",
                    workload.name, op.name, name.0
                )));
            }
            params.push(
                op.def
                    .params
                    .iter()
                    .map(|(k, p)| (k.clone(), p.clone()))
                    .collect(),
            );
        }
        let ops = Arc::new(NeoOps {
            cypher: resolved.into_iter().map(|(_, c, _)| Arc::from(c)).collect(),
            params,
            data,
        });
        Ok(NeoWorkers {
            target: self.target.clone(),
            options: self.options.clone(),
            ops,
        })
    }

    async fn open(w: Arc<NeoWorkers>, _i: u32) -> Result<NeoExecutor> {
        // One driver (pool of one) per worker: one session per worker, like pgbench's
        // clients, opened on the thread that runs it.
        Ok(NeoExecutor {
            bolt: connect(&w.target, &w.options, 1).await?,
            ops: w.ops.clone(),
        })
    }

    async fn drill(
        &self,
        drill: &crate::backend::drill::Drill,
        _data: &NeoData,
        run: &crate::backend::drill::DrillRun<'_>,
    ) -> Result<crate::backend::drill::DrillReport> {
        use crate::backend::drill::DrillMethod;
        match drill.method {
            DrillMethod::Export => {
                super::drill::export(&self.bolt, &self.target, drill, run, self.store_bytes()).await
            }
            m => Err(crate::error::Error::Usage(format!(
                "drill {}: `{}` is not a drill method of a neo4j target",
                drill.name,
                m.name()
            ))),
        }
    }

    async fn drill_leftovers(&self, own: bool) {
        let who = format!("target {}", self.target.name);
        super::drill::remove_leftovers(&self.bolt, &who, own).await;
    }

    async fn check(
        &self,
        check: &super::NeoCheck,
        _datasets: &[&Dataset],
        evidence: Option<&NeoEvidence>,
    ) -> Result<crate::backend::facts::CheckOutcome> {
        super::checks::check(&self.bolt, check, evidence)
            .await
            .map_err(|e| super::target_error(&self.target, "configuration check", e))
    }
}
