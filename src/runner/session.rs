//! A connected target. [`open`] is the one place that matches on the kind of store; from
//! there every step of a run goes through [`Session`], generic over the store, so a prepared
//! dataset, an applied profile and the evidence collected always belong to the store that
//! made them, and each store's measuring loop is monomorphic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::future::LocalBoxFuture;

use super::measure::{WorkloadAcc, measure_workload};
use crate::backend::drill::{Drill, DrillReport, DrillRun};
use crate::backend::http::HttpStore;
use crate::backend::journal::{self, Journal};
use crate::backend::neo4j::NeoStore;
use crate::backend::postgres::PgStore;
use crate::backend::qdrant::QdrantStore;
use crate::backend::s3::S3Store;
use crate::backend::{AppliedFile, Store, Workload};
use crate::error::{Error, Result};
use crate::results::{
    CheckOutcome, DatasetReport, Evidence, ReadinessCheck, RevertReport, TargetChanges, TargetEnv,
};
use crate::scenario::{CheckKind, Dataset, Load, Scenario, Target, TargetKind};

/// Connects to a target of the scenario: the only `match` on the kind of store in a run.
/// The target's workloads and profile files are taken as its store's own types here.
pub async fn open(target: &Target, scenario: &Scenario) -> Result<Box<dyn Connected>> {
    Ok(match target.kind {
        TargetKind::Postgres => Session::<PgStore>::open(target, scenario).await?,
        TargetKind::Neo4j => Session::<NeoStore>::open(target, scenario).await?,
        TargetKind::S3 => Session::<S3Store>::open(target, scenario).await?,
        TargetKind::Http => Session::<HttpStore>::open(target, scenario).await?,
        TargetKind::Qdrant => Session::<QdrantStore>::open(target, scenario).await?,
    })
}

/// One connected target, whatever its store: the steps of a run, in their order.
pub trait Connected {
    /// Server version, settings that differ from defaults, the harness's pool settings.
    fn environment(&self) -> LocalBoxFuture<'_, Result<TargetEnv>>;

    /// Loads a dataset of this target (unless an identical copy is there) and keeps it.
    fn prepare<'a>(&'a mut self, dataset: &'a Dataset)
    -> LocalBoxFuture<'a, Result<DatasetReport>>;

    /// Takes what a target that needs no dataset works on (http: its workloads' endpoints).
    fn adopt(&mut self) -> Result<()>;

    /// True when the target works on its own data (see [`Connected::adopt`]).
    fn has_own_data(&self) -> bool;

    /// Applies the target's file of `profile`, on its first dataset; revert undoes it.
    fn apply<'a>(
        &'a mut self,
        profile: &'a str,
        host_memory: u64,
    ) -> LocalBoxFuture<'a, Result<TargetChanges>>;

    /// Undoes the applied profile, if any, and checks the result.
    fn revert(&mut self) -> LocalBoxFuture<'_, Result<Option<RevertReport>>>;

    /// Leaves the applied profile in place (`--keep-profile`); its journal stays.
    fn keep(&mut self);

    /// The journal entries kept on the server itself (see `Store::journal_on_server`).
    fn journal_on_server(
        &self,
    ) -> LocalBoxFuture<'_, Result<Vec<std::result::Result<journal::Entry, String>>>>;

    /// Restores what a journal entry (left by an earlier run) records, checks it, and
    /// removes the journal file.
    fn revert_entry<'a>(
        &'a mut self,
        path: &'a Path,
        entry: &'a journal::Entry,
    ) -> LocalBoxFuture<'a, Result<RevertReport>>;

    /// Readiness of a prepared dataset (by name), or of the target's own data (None), under
    /// `profile`.
    fn readiness<'a>(
        &'a self,
        dataset: Option<&'a str>,
        profile: &'a str,
    ) -> LocalBoxFuture<'a, Result<Vec<ReadinessCheck>>>;

    /// Measures one workload (by name) under `profile`, explaining its ops first when
    /// `explain`, as a worker shard on `plan`'s timeline if given; returns the connections
    /// its workers leaked.
    #[allow(clippy::too_many_arguments)]
    fn measure<'a>(
        &'a mut self,
        profile: &'a str,
        workload: &'a str,
        load: &'a Load,
        trials: &'a [u32],
        explain: bool,
        acc: &'a mut WorkloadAcc,
        plan: Option<&'a super::shard::ShardPlan>,
    ) -> LocalBoxFuture<'a, Result<u32>>;

    /// Evaluates a configuration check; `profile` names the measured profile whose evidence
    /// the check may read (None under `tunebench check`).
    fn check<'a>(
        &'a self,
        check: &'a CheckKind,
        datasets: &'a [&'a Dataset],
        profile: Option<&'a str>,
    ) -> LocalBoxFuture<'a, Result<CheckOutcome>>;

    /// Runs a recovery drill on its dataset of this target.
    fn drill<'a>(
        &'a self,
        drill: &'a Drill,
        run: &'a DrillRun<'a>,
    ) -> LocalBoxFuture<'a, Result<DrillReport>>;

    /// Removes scratch objects of drills that did not finish (see `Store::drill_leftovers`).
    fn drill_leftovers(&self, own: bool) -> LocalBoxFuture<'_, ()>;

    /// Why one of this target's workloads cannot be split over worker processes, if one
    /// cannot.
    fn refuse_shards(&self) -> Option<String>;

    /// The evidence collected under `profile` (None: no workload ran on this target).
    fn take_evidence(&mut self, profile: &str) -> Option<Evidence>;

    /// Closes the target's own connections.
    fn close(&self) -> LocalBoxFuture<'_, ()>;
}

/// A target of store `S` and everything the run made on it.
struct Session<S: Store> {
    store: S,
    /// This target's workloads, in the scenario's order.
    workloads: Vec<Workload<S>>,
    /// This target's profile files, by profile.
    profiles: BTreeMap<String, AppliedFile<S>>,
    /// Prepared datasets by name.
    data: BTreeMap<String, Arc<S::Data>>,
    /// What a target that needs no dataset works on.
    own: Option<Arc<S::Data>>,
    applied: Option<S::Applied>,
    /// The journal of the applied profile, cleared by its revert.
    journal: Option<Journal>,
    target: Target,
    scenario: PathBuf,
    /// Where the server runs, to tell its CPU time from other work on the host.
    server: crate::host::ServerSite,
    /// Per profile.
    evidence: BTreeMap<String, S::Evidence>,
}

impl<S: Store + 'static> Session<S> {
    async fn open(target: &Target, scenario: &Scenario) -> Result<Box<dyn Connected>> {
        let workloads = scenario
            .workloads
            .iter()
            .filter(|w| w.target == target.name)
            .map(|w| w.narrow())
            .collect::<Result<_>>()?;
        let profiles = scenario
            .profiles
            .iter()
            .filter_map(|p| p.apply.get(&target.name).map(|f| (p, f)))
            .map(|(p, f)| Ok((p.name.clone(), f.narrow()?)))
            .collect::<Result<_>>()?;
        // The options were read by this kind's own `spec::target_options`.
        let options = S::TargetOptions::try_from(target.options.clone()).map_err(|_| {
            Error::Usage(format!(
                "target {}: its options are not those of a {} target",
                target.name,
                target.kind.name()
            ))
        })?;
        let store = S::connect(target, options).await?;
        let mut server = crate::host::ServerSite::of_url(&target.url, store.in_process());
        if target.kind == crate::backend::model::TargetKind::Http {
            // An application's time is also its stores': the scenario's other targets on
            // this host are part of what is measured, not other work competing with it.
            let others = scenario
                .targets
                .values()
                .filter(|t| t.name != target.name)
                .map(|t| crate::host::ServerSite::of_url(&t.url, false));
            server = server.behind(others);
        }
        Ok(Box::new(Session {
            store,
            server,
            journal: None,
            target: target.clone(),
            scenario: scenario.path.clone(),
            workloads,
            profiles,
            data: BTreeMap::new(),
            own: None,
            applied: None,
            evidence: BTreeMap::new(),
        }))
    }

    fn data(&self, dataset: Option<&str>) -> Result<&Arc<S::Data>> {
        match dataset {
            Some(name) => self.data.get(name),
            None => self.own.as_ref(),
        }
        .ok_or_else(|| {
            Error::Usage(format!(
                "dataset {} was not prepared on this target",
                dataset.unwrap_or("(the target's own)")
            ))
        })
    }
}

impl<S: Store + 'static> Connected for Session<S> {
    fn environment(&self) -> LocalBoxFuture<'_, Result<TargetEnv>> {
        Box::pin(self.store.environment())
    }

    fn prepare<'a>(
        &'a mut self,
        dataset: &'a Dataset,
    ) -> LocalBoxFuture<'a, Result<DatasetReport>> {
        Box::pin(async move {
            let (report, data) = self.store.prepare(dataset).await?;
            self.data.insert(dataset.name.clone(), data);
            Ok(report)
        })
    }

    fn adopt(&mut self) -> Result<()> {
        self.own = self.store.own_data(&self.workloads)?;
        Ok(())
    }

    fn has_own_data(&self) -> bool {
        self.own.is_some()
    }

    fn apply<'a>(
        &'a mut self,
        profile: &'a str,
        host_memory: u64,
    ) -> LocalBoxFuture<'a, Result<TargetChanges>> {
        Box::pin(async move {
            let file = self.profiles.get(profile).ok_or_else(|| {
                Error::Usage(format!("profile {profile} has no file for this target"))
            })?;
            // Profiles' indexes go on the target's first dataset (by name); without one, the
            // store is given what its workloads run on (the data already there).
            let data = self
                .data
                .values()
                .next()
                .or(self.own.as_ref())
                .map(Arc::as_ref);
            let journal = Journal::new(&self.target, &self.scenario, profile, &file.file);
            let applied = self.store.apply(file, data, host_memory, &journal).await?;
            let changes = S::changes(&applied);
            self.applied = Some(applied);
            self.journal = Some(journal);
            Ok(changes)
        })
    }

    fn revert(&mut self) -> LocalBoxFuture<'_, Result<Option<RevertReport>>> {
        Box::pin(async move {
            let Some(applied) = self.applied.take() else {
                return Ok(None);
            };
            let report = self.store.revert(applied).await?;
            if let Some(j) = self.journal.take() {
                j.clear()?;
            }
            Ok(Some(report))
        })
    }

    fn keep(&mut self) {
        // The journal stays: the next run refuses until `tunebench revert` restores it.
        self.applied = None;
        if let Some(j) = self.journal.take() {
            j.release();
        }
    }

    fn journal_on_server(
        &self,
    ) -> LocalBoxFuture<'_, Result<Vec<std::result::Result<journal::Entry, String>>>> {
        Box::pin(self.store.journal_on_server())
    }

    fn revert_entry<'a>(
        &'a mut self,
        path: &'a Path,
        entry: &'a journal::Entry,
    ) -> LocalBoxFuture<'a, Result<RevertReport>> {
        Box::pin(async move {
            let applied: S::Applied = serde_json::from_value(entry.applied.clone()).map_err(|e| {
                Error::input(crate::error::InputIssue::new(
                    path,
                    "applied",
                    format!("is not what a {} target records ({e}); restore the server by hand, then delete the file", self.target.kind.label()),
                ))
            })?;
            let report = self.store.revert(applied).await?;
            journal::clear(path)?;
            Ok(report)
        })
    }

    fn readiness<'a>(
        &'a self,
        dataset: Option<&'a str>,
        profile: &'a str,
    ) -> LocalBoxFuture<'a, Result<Vec<ReadinessCheck>>> {
        Box::pin(async move {
            let data = self.data(dataset)?;
            self.store.readiness(data, self.profiles.get(profile)).await
        })
    }

    fn measure<'a>(
        &'a mut self,
        profile: &'a str,
        workload: &'a str,
        load: &'a Load,
        trials: &'a [u32],
        explain: bool,
        acc: &'a mut WorkloadAcc,
        plan: Option<&'a super::shard::ShardPlan>,
    ) -> LocalBoxFuture<'a, Result<u32>> {
        Box::pin(async move {
            let workload = self
                .workloads
                .iter()
                .find(|w| w.name == workload)
                .ok_or_else(|| {
                    Error::Usage(format!("workload {workload} does not run on this target"))
                })?;
            let data = self.data(workload.dataset.as_deref())?.clone();
            let evidence = self
                .evidence
                .entry(profile.to_string())
                .or_insert_with(S::new_evidence);
            if explain {
                self.store.explain(workload, &data, evidence).await?;
            }
            measure_workload(
                &self.store,
                data,
                profile,
                workload,
                load,
                trials,
                acc,
                evidence,
                self.server.clone(),
                &self.target,
                plan,
            )
            .await
        })
    }

    fn check<'a>(
        &'a self,
        check: &'a CheckKind,
        datasets: &'a [&'a Dataset],
        profile: Option<&'a str>,
    ) -> LocalBoxFuture<'a, Result<CheckOutcome>> {
        let evidence = profile.and_then(|p| self.evidence.get(p));
        Box::pin(async move {
            // Resolved against this target's kind, so the check is one of its store's.
            let check = S::Check::try_from(check.clone()).map_err(|c| {
                Error::Usage(format!(
                    "check `{}` is not one of a {} target's",
                    c.text(),
                    self.target.kind.name()
                ))
            })?;
            self.store.check(&check, datasets, evidence).await
        })
    }

    fn drill<'a>(
        &'a self,
        drill: &'a Drill,
        run: &'a DrillRun<'a>,
    ) -> LocalBoxFuture<'a, Result<DrillReport>> {
        Box::pin(async move {
            let data = self.data(Some(&drill.dataset))?;
            self.store.drill(drill, data, run).await
        })
    }

    fn drill_leftovers(&self, own: bool) -> LocalBoxFuture<'_, ()> {
        Box::pin(self.store.drill_leftovers(own))
    }

    fn refuse_shards(&self) -> Option<String> {
        self.workloads.iter().find_map(|w| {
            self.store
                .refuse_shards(w)
                .map(|why| format!("workload {} on target {}: {why}", w.name, self.target.name))
        })
    }

    fn take_evidence(&mut self, profile: &str) -> Option<Evidence> {
        self.evidence.remove(profile).map(Into::into)
    }

    fn close(&self) -> LocalBoxFuture<'_, ()> {
        Box::pin(self.store.close())
    }
}
