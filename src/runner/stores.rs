//! The one place that dispatches on the kind of store: every call below is a `match` that
//! hands over to a monomorphic implementation of [`Store`]. A new store adds one variant to
//! each enum and one arm to each match.

use std::sync::Arc;

use super::measure::{WorkloadAcc, measure_workload};
use crate::backend::Store;
use crate::backend::http::{Endpoints, HttpStore};
use crate::backend::neo4j::{AppliedNeoProfile, NeoStore};
use crate::backend::postgres::{AppliedProfile, PgData, PgStore};
use crate::backend::qdrant::{AppliedQdrantProfile, QdrantData, QdrantStore};
use crate::backend::s3::{AppliedS3, S3Store};
use crate::dataset::Graph;
use crate::dataset::objects::ObjectSet;
use crate::error::{Error, Result};
use crate::results::{
    DatasetReport, Evidence, ReadinessCheck, RevertReport, TargetChanges, TargetEnv,
};
use crate::scenario::{AppliedFile, Dataset, Load, Target, TargetKind, Workload};

pub enum AnyStore {
    Postgres(PgStore),
    Neo4j(NeoStore),
    S3(S3Store),
    Http(HttpStore),
    Qdrant(QdrantStore),
}

pub enum AnyData {
    Postgres(Arc<PgData>),
    Neo4j(Arc<Graph>),
    S3(Arc<ObjectSet>),
    Http(Arc<Endpoints>),
    Qdrant(Arc<QdrantData>),
}

pub enum AnyApplied {
    Postgres(AppliedProfile),
    Neo4j(AppliedNeoProfile),
    S3(Box<AppliedS3>),
    Qdrant(AppliedQdrantProfile),
}

fn mismatch(what: &str) -> Error {
    Error::Usage(format!("{what} does not fit its target's kind of store"))
}

impl AnyStore {
    pub async fn connect(target: &Target) -> Result<Self> {
        match target.kind {
            TargetKind::Postgres => Ok(AnyStore::Postgres(PgStore::connect(target).await?)),
            TargetKind::Neo4j => Ok(AnyStore::Neo4j(NeoStore::connect(target).await?)),
            TargetKind::S3 => Ok(AnyStore::S3(S3Store::connect(target).await?)),
            TargetKind::Http => Ok(AnyStore::Http(HttpStore::connect(target).await?)),
            TargetKind::Qdrant => Ok(AnyStore::Qdrant(QdrantStore::connect(target).await?)),
        }
    }

    pub async fn environment(&self) -> Result<TargetEnv> {
        match self {
            AnyStore::Postgres(s) => s.environment().await,
            AnyStore::Neo4j(s) => s.environment().await,
            AnyStore::S3(s) => s.environment().await,
            AnyStore::Http(s) => s.environment().await,
            AnyStore::Qdrant(s) => s.environment().await,
        }
    }

    pub async fn prepare(&mut self, dataset: &Dataset) -> Result<(DatasetReport, AnyData)> {
        match self {
            AnyStore::Postgres(s) => s
                .prepare(dataset)
                .await
                .map(|(r, d)| (r, AnyData::Postgres(d))),
            AnyStore::Neo4j(s) => s
                .prepare(dataset)
                .await
                .map(|(r, d)| (r, AnyData::Neo4j(d))),
            AnyStore::S3(s) => s.prepare(dataset).await.map(|(r, d)| (r, AnyData::S3(d))),
            AnyStore::Http(s) => s.prepare(dataset).await.map(|(r, d)| (r, AnyData::Http(d))),
            AnyStore::Qdrant(s) => s
                .prepare(dataset)
                .await
                .map(|(r, d)| (r, AnyData::Qdrant(d))),
        }
    }

    /// What a target that takes no dataset works on (http: the endpoints its workloads call);
    /// None for stores that need a dataset.
    pub fn own_data(&self, workloads: &[Workload]) -> Result<Option<AnyData>> {
        match self {
            AnyStore::Http(s) => Ok(Some(AnyData::Http(s.endpoints(workloads)?))),
            AnyStore::Postgres(_) | AnyStore::Neo4j(_) | AnyStore::S3(_) | AnyStore::Qdrant(_) => {
                Ok(None)
            }
        }
    }

    pub async fn apply(
        &mut self,
        file: &AppliedFile,
        data: Option<&AnyData>,
        host_memory: u64,
    ) -> Result<AnyApplied> {
        match self {
            AnyStore::Postgres(s) => {
                let data = match data {
                    Some(AnyData::Postgres(d)) => Some(d.as_ref()),
                    Some(_) => return Err(mismatch("the profile's dataset")),
                    None => None,
                };
                s.apply(file, data, host_memory)
                    .await
                    .map(AnyApplied::Postgres)
            }
            AnyStore::Neo4j(s) => {
                let data = match data {
                    Some(AnyData::Neo4j(d)) => Some(d.as_ref()),
                    Some(_) => return Err(mismatch("the profile's dataset")),
                    None => None,
                };
                s.apply(file, data, host_memory)
                    .await
                    .map(AnyApplied::Neo4j)
            }
            AnyStore::S3(s) => {
                let data = match data {
                    Some(AnyData::S3(d)) => Some(d.as_ref()),
                    Some(_) => return Err(mismatch("the profile's dataset")),
                    None => None,
                };
                s.apply(file, data, host_memory)
                    .await
                    .map(|a| AnyApplied::S3(Box::new(a)))
            }
            // Nothing to tune: HttpStore::apply explains why (the scenario already refuses it).
            AnyStore::Http(s) => match s.apply(file, None, host_memory).await? {},
            AnyStore::Qdrant(s) => {
                let data = match data {
                    Some(AnyData::Qdrant(d)) => Some(d.as_ref()),
                    Some(_) => return Err(mismatch("the profile's dataset")),
                    None => None,
                };
                s.apply(file, data, host_memory)
                    .await
                    .map(AnyApplied::Qdrant)
            }
        }
    }

    pub async fn revert(&mut self, applied: AnyApplied) -> Result<RevertReport> {
        match (self, applied) {
            (AnyStore::Postgres(s), AnyApplied::Postgres(a)) => s.revert(a).await,
            (AnyStore::Neo4j(s), AnyApplied::Neo4j(a)) => s.revert(a).await,
            (AnyStore::S3(s), AnyApplied::S3(a)) => s.revert(*a).await,
            (AnyStore::Qdrant(s), AnyApplied::Qdrant(a)) => s.revert(a).await,
            _ => Err(mismatch("a profile being reverted")),
        }
    }

    pub async fn readiness(
        &self,
        data: &AnyData,
        file: Option<&AppliedFile>,
    ) -> Result<Vec<ReadinessCheck>> {
        match (self, data) {
            (AnyStore::Postgres(s), AnyData::Postgres(d)) => s.readiness(d, file).await,
            (AnyStore::Neo4j(s), AnyData::Neo4j(d)) => s.readiness(d, file).await,
            (AnyStore::S3(s), AnyData::S3(d)) => s.readiness(d, file).await,
            (AnyStore::Http(s), AnyData::Http(d)) => s.readiness(d, file).await,
            (AnyStore::Qdrant(s), AnyData::Qdrant(d)) => s.readiness(d, file).await,
            _ => Err(mismatch("a dataset")),
        }
    }

    pub fn new_evidence(&self) -> Evidence {
        match self {
            AnyStore::Postgres(_) => PgStore::new_evidence(),
            AnyStore::Neo4j(_) => NeoStore::new_evidence(),
            AnyStore::S3(_) => S3Store::new_evidence(),
            AnyStore::Http(_) => HttpStore::new_evidence(),
            AnyStore::Qdrant(_) => QdrantStore::new_evidence(),
        }
    }

    pub async fn explain(
        &self,
        workload: &Workload,
        data: &AnyData,
        evidence: &mut Evidence,
    ) -> Result<()> {
        match (self, data) {
            (AnyStore::Postgres(s), AnyData::Postgres(d)) => s.explain(workload, d, evidence).await,
            (AnyStore::Neo4j(s), AnyData::Neo4j(d)) => s.explain(workload, d, evidence).await,
            (AnyStore::S3(s), AnyData::S3(d)) => s.explain(workload, d, evidence).await,
            (AnyStore::Http(s), AnyData::Http(d)) => s.explain(workload, d, evidence).await,
            (AnyStore::Qdrant(s), AnyData::Qdrant(d)) => s.explain(workload, d, evidence).await,
            _ => Err(mismatch(&format!("workload {}'s dataset", workload.name))),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn measure(
        &self,
        data: &AnyData,
        profile: &str,
        workload: &Workload,
        load: &Load,
        trials: &[u32],
        acc: &mut WorkloadAcc,
        evidence: &mut Evidence,
    ) -> Result<u32> {
        match (self, data) {
            (AnyStore::Postgres(s), AnyData::Postgres(d)) => {
                measure_workload(s, d.clone(), profile, workload, load, trials, acc, evidence).await
            }
            (AnyStore::Neo4j(s), AnyData::Neo4j(d)) => {
                measure_workload(s, d.clone(), profile, workload, load, trials, acc, evidence).await
            }
            (AnyStore::S3(s), AnyData::S3(d)) => {
                measure_workload(s, d.clone(), profile, workload, load, trials, acc, evidence).await
            }
            (AnyStore::Http(s), AnyData::Http(d)) => {
                measure_workload(s, d.clone(), profile, workload, load, trials, acc, evidence).await
            }
            (AnyStore::Qdrant(s), AnyData::Qdrant(d)) => {
                measure_workload(s, d.clone(), profile, workload, load, trials, acc, evidence).await
            }
            _ => Err(mismatch(&format!("workload {}'s dataset", workload.name))),
        }
    }

    pub async fn check(
        &self,
        check: &crate::scenario::CheckKind,
        datasets: &[&Dataset],
        evidence: Option<&Evidence>,
    ) -> Result<crate::results::CheckOutcome> {
        match self {
            AnyStore::Postgres(s) => s.check(check, datasets, evidence).await,
            AnyStore::Neo4j(s) => s.check(check, datasets, evidence).await,
            AnyStore::S3(s) => s.check(check, datasets, evidence).await,
            AnyStore::Http(s) => s.check(check, datasets, evidence).await,
            AnyStore::Qdrant(s) => s.check(check, datasets, evidence).await,
        }
    }

    pub async fn close(&self) {
        match self {
            AnyStore::Postgres(s) => s.pool().close().await,
            AnyStore::Neo4j(s) => s.close().await,
            AnyStore::S3(_) | AnyStore::Http(_) | AnyStore::Qdrant(_) => {}
        }
    }
}

impl AnyApplied {
    pub fn changes(&self) -> TargetChanges {
        match self {
            AnyApplied::Postgres(a) => PgStore::changes(a),
            AnyApplied::Neo4j(a) => NeoStore::changes(a),
            AnyApplied::S3(a) => S3Store::changes(a),
            AnyApplied::Qdrant(a) => QdrantStore::changes(a),
        }
    }
}
