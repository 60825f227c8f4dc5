//! Stores. Each store implements [`Store`] in its own module; the runner dispatches on the
//! target kind once (see `runner`), so each store's measuring loop is monomorphic.
//!
//! Adding a store: a module implementing `Store` and `Executor`, a `TargetKind` variant, its
//! dataset / op / profile / evidence variants, one scenario and one integration test.

pub mod http;
pub mod neo4j;
pub mod postgres;
pub mod qdrant;
pub mod s3;

use std::sync::Arc;
use std::time::Duration;

use crate::driver::Executor;
use crate::error::Result;
use crate::results::{
    CheckOutcome, DatasetReport, Evidence, ReadinessCheck, RevertReport, TargetChanges, TargetEnv,
};
use crate::scenario::{AppliedFile, CheckKind, Dataset, Target, Workload};

#[allow(async_fn_in_trait)]
pub trait Store: Sized {
    /// One worker connection.
    type Exec: Executor;
    /// A prepared dataset as the store needs it: to draw parameters and check readiness.
    type Data: Send + Sync + 'static;
    /// What revert needs to undo a profile.
    type Applied;
    /// Server counters read around each measured phase.
    type Snapshot;
    /// The worker connections of one workload, closed (and checked for leaks) after it.
    type Workers;

    /// Connects to the target; failures are runtime errors (exit 3) without credentials.
    async fn connect(target: &Target) -> Result<Self>;

    /// True when the server runs inside this process (an embedded engine): its CPU then
    /// counts as the client's, so the harness's own cost cannot be told apart.
    fn in_process(&self) -> bool {
        false
    }

    /// Server version, settings that differ from defaults, the harness's pool settings.
    async fn environment(&self) -> Result<TargetEnv>;

    /// Loads the dataset unless an identical, complete copy is already there.
    async fn prepare(&mut self, dataset: &Dataset) -> Result<(DatasetReport, Arc<Self::Data>)>;

    /// Applies a profile, capturing what revert needs first. On failure, undoes its own
    /// partial work before returning the error.
    async fn apply(
        &mut self,
        file: &AppliedFile,
        data: Option<&Self::Data>,
        host_memory: u64,
    ) -> Result<Self::Applied>;

    fn changes(applied: &Self::Applied) -> TargetChanges;

    /// Undoes exactly what `apply` did and checks the result.
    async fn revert(&mut self, applied: Self::Applied) -> Result<RevertReport>;

    /// Confirms the data (and the profile's indexes) are really there before measuring.
    async fn readiness(
        &self,
        data: &Self::Data,
        file: Option<&AppliedFile>,
    ) -> Result<Vec<ReadinessCheck>>;

    /// Fresh evidence holder for this store.
    fn new_evidence() -> Evidence;

    /// Evidence captured once per profile before measuring (e.g. one EXPLAIN per op).
    async fn explain(
        &self,
        workload: &Workload,
        data: &Self::Data,
        evidence: &mut Evidence,
    ) -> Result<()>;

    async fn snapshot(&self, workload: &Workload, evidence: &Evidence) -> Result<Self::Snapshot>;

    /// Adds the change between two snapshots to the evidence.
    fn accumulate(after: &Self::Snapshot, before: &Self::Snapshot, evidence: &mut Evidence);

    /// `n` fresh worker connections for a workload (fresh: servers cache plans per connection).
    async fn workers(
        &self,
        workload: &Workload,
        data: Arc<Self::Data>,
        n: u32,
        op_timeout: Duration,
    ) -> Result<(Self::Workers, Vec<Self::Exec>)>;

    /// Restores what a workload's writes changed (the fresh points of an upsert + search
    /// workload), so every phase starts from the loaded dataset: called before the warm-up,
    /// before each trial and after the last one. Stores whose workloads do not write to the
    /// dataset keep the default.
    async fn reset(&self, workload: &Workload, workers: &Self::Workers) -> Result<()> {
        let _ = (workload, workers);
        Ok(())
    }

    /// Closes the workers' connections; returns how many were still checked out (leaked).
    async fn close_workers(workers: Self::Workers) -> u32;

    /// Evaluates one configuration check on the server as it is now. `datasets` are the
    /// scenario's datasets on this target (their namespaces scope the check); `evidence` is
    /// this profile's measured-phase evidence, absent under `tunebench check`.
    async fn check(
        &self,
        check: &CheckKind,
        datasets: &[&Dataset],
        evidence: Option<&Evidence>,
    ) -> Result<CheckOutcome> {
        let _ = (datasets, evidence);
        Ok(CheckOutcome::not_evaluated(format!(
            "`{check:?}` is not implemented for this store"
        )))
    }
}
