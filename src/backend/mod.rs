//! Stores. Each store implements [`Store`] in its own module; the runner dispatches on the
//! target kind once (see `runner`), so each store's measuring loop is monomorphic.
//!
//! Adding a store: a module implementing `Store` and `Executor`, a `TargetKind` variant, its
//! dataset / op / profile / evidence variants, one scenario and one integration test.

pub mod capture;
pub mod checks;
pub mod drill;
pub mod evidence;
pub mod facts;
pub mod http;
pub mod journal;
pub mod model;
pub mod neo4j;
pub mod postgres;
pub mod qdrant;
pub mod s3;
mod target;

use std::sync::Arc;
use std::time::Duration;

pub use evidence::Evidence;
pub use model::{Dataset, OpDef, ProfileDef, Target, TargetKind, WorkloadDef};

use crate::driver::Executor;
use crate::error::Result;
use checks::CheckKind;
use facts::{CheckOutcome, DatasetReport, ReadinessCheck, RevertReport, TargetChanges, TargetEnv};

/// A workload as a store of kind `S` runs it: its ops are `S::Op`.
pub type Workload<S> = crate::backend::model::Workload<<S as Store>::Op>;
/// A profile file as a store of kind `S` applies it.
pub type AppliedFile<S> = crate::backend::model::AppliedFile<<S as Store>::Profile>;

#[allow(async_fn_in_trait)]
pub trait Store: Sized + 'static {
    /// The target's own options (the store's arm of [`model::TargetOptions`], `()` when it
    /// takes none).
    type TargetOptions: TryFrom<model::TargetOptions, Error = model::TargetOptions>;
    /// One configuration check of this store (its arm of [`CheckKind`]; `Infallible` for a
    /// store without checks).
    type Check: TryFrom<CheckKind, Error = CheckKind>;
    /// One operation of a workload on this store (the store's arm of [`OpDef`]).
    type Op: TryFrom<OpDef, Error = OpDef>;
    /// A profile file's contents for this store (its arm of [`ProfileDef`]).
    type Profile: TryFrom<ProfileDef, Error = ProfileDef>;
    /// One worker connection.
    type Exec: Executor;
    /// A prepared dataset as the store needs it: to draw parameters and check readiness.
    type Data: Send + Sync + 'static;
    /// What revert needs to undo a profile; journaled (see [`journal`]) before each change,
    /// so another process can revert it after a crash.
    type Applied: serde::Serialize + serde::de::DeserializeOwned;
    /// Server counters read around each measured phase.
    type Snapshot;
    /// What the store collects on the server per profile; goes into results.json as one arm
    /// of [`Evidence`].
    type Evidence: Into<Evidence>;
    /// What the workers of one workload share (statements, fresh points, connection
    /// settings), built once per workload; each worker opens its own connection from it.
    type Workers: Send + Sync + 'static;

    /// Connects to the target; failures are runtime errors (exit 3) without credentials.
    async fn connect(target: &Target, options: Self::TargetOptions) -> Result<Self>;

    /// True when the server runs inside this process (an embedded engine): its CPU then
    /// counts as the client's, so the harness's own cost cannot be told apart.
    fn in_process(&self) -> bool {
        false
    }

    /// Why `workload` cannot be split over worker processes (`run --workers`, `worker`), if
    /// it cannot: e.g. what it writes is numbered inside one process.
    fn refuse_shards(&self, _workload: &Workload<Self>) -> Option<String>
    where
        Self: Sized,
    {
        None
    }

    /// Server version, settings that differ from defaults, the harness's pool settings.
    async fn environment(&self) -> Result<TargetEnv>;

    /// Loads the dataset unless an identical, complete copy is already there.
    async fn prepare(&mut self, dataset: &Dataset) -> Result<(DatasetReport, Arc<Self::Data>)>;

    /// Applies a profile, capturing what revert needs first and journaling it (`journal.record`)
    /// before each change. On failure, undoes its own partial work before returning the error,
    /// and clears the journal when that succeeded.
    async fn apply(
        &mut self,
        file: &AppliedFile<Self>,
        data: Option<&Self::Data>,
        host_memory: u64,
        journal: &journal::Journal,
    ) -> Result<Self::Applied>;

    fn changes(applied: &Self::Applied) -> TargetChanges;

    /// Undoes exactly what `apply` did and checks the result.
    async fn revert(&mut self, applied: Self::Applied) -> Result<RevertReport>;

    /// Confirms the data (and the profile's indexes) are really there before measuring.
    async fn readiness(
        &self,
        data: &Self::Data,
        file: Option<&AppliedFile<Self>>,
    ) -> Result<Vec<ReadinessCheck>>;

    /// Fresh evidence holder for this store.
    fn new_evidence() -> Self::Evidence;

    /// What a target that takes no dataset works on, from its own `workloads` (http: the
    /// endpoints they call); None for stores whose workloads run on a dataset.
    fn own_data(&self, workloads: &[Workload<Self>]) -> Result<Option<Arc<Self::Data>>> {
        let _ = workloads;
        Ok(None)
    }

    /// Closes the target's own connections at the end of a run.
    async fn close(&self) {}

    /// Journal entries kept on the server itself (PostgreSQL's `tunebench_journal.entries`),
    /// so another machine's profile left applied is seen too; an entry this version cannot
    /// read is an `Err` saying so. Stores that keep none on the server return none.
    async fn journal_on_server(&self) -> Result<Vec<std::result::Result<journal::Entry, String>>> {
        Ok(Vec::new())
    }

    /// Evidence captured once per profile before measuring (e.g. one EXPLAIN per op).
    async fn explain(
        &self,
        workload: &Workload<Self>,
        data: &Self::Data,
        evidence: &mut Self::Evidence,
    ) -> Result<()>;

    async fn snapshot(
        &self,
        workload: &Workload<Self>,
        evidence: &Self::Evidence,
    ) -> Result<Self::Snapshot>;

    /// Adds the change between two snapshots to the evidence.
    fn accumulate(after: &Self::Snapshot, before: &Self::Snapshot, evidence: &mut Self::Evidence);

    /// What the `n` workers of a workload share.
    async fn workers(
        &self,
        workload: &Workload<Self>,
        data: Arc<Self::Data>,
        n: u32,
        op_timeout: Duration,
    ) -> Result<Self::Workers>;

    /// Opens worker `i`'s own fresh connection (fresh: servers cache plans per connection).
    /// Called on the load generator's thread that will run the worker, inside its runtime,
    /// so the connection's socket is driven there (see `driver::Crew`).
    async fn open(workers: Arc<Self::Workers>, i: u32) -> Result<Self::Exec>;

    /// Runs one phase (warm-up or trial) of `workload`. Workloads run on the common driver's
    /// `crew` by default; a store whose workload runs on another engine (HTTP journeys on
    /// goose) runs the phase itself and reports it in the same terms.
    async fn phase(
        &self,
        workload: &Workload<Self>,
        workers: &Self::Workers,
        crew: &crate::driver::Crew<Self::Exec>,
        mix: Arc<crate::driver::OpMix>,
        spec: &crate::driver::PhaseSpec,
    ) -> Result<crate::driver::PhaseOutcome> {
        let _ = (workload, workers);
        crew.run(mix, spec).await
    }

    /// Restores what a workload's writes changed (the fresh points of an upsert + search
    /// workload), so every phase starts from the loaded dataset: called before the warm-up,
    /// before each trial and after the last one. Stores whose workloads do not write to the
    /// dataset keep the default.
    async fn reset(&self, workload: &Workload<Self>, workers: &Self::Workers) -> Result<()> {
        let _ = (workload, workers);
        Ok(())
    }

    /// Runs a recovery drill on a prepared dataset of this target (see [`drill`]). Stores
    /// without one keep the default; validation refuses their drills before any run.
    async fn drill(
        &self,
        drill: &drill::Drill,
        data: &Self::Data,
        run: &drill::DrillRun<'_>,
    ) -> Result<drill::DrillReport> {
        let _ = (data, run);
        Err(crate::error::Error::Usage(format!(
            "drill {}: this kind of store has no recovery drill",
            drill.name
        )))
    }

    /// Removes scratch objects of drills that did not finish: those of processes that no
    /// longer run, and with `own` this process's too (an interrupt dropped its drill).
    async fn drill_leftovers(&self, own: bool) {
        let _ = own;
    }

    /// Evaluates one configuration check on the server as it is now. `datasets` are the
    /// scenario's datasets on this target (their namespaces scope the check); `evidence` is
    /// this profile's measured-phase evidence, absent under `tunebench check`.
    async fn check(
        &self,
        check: &Self::Check,
        datasets: &[&Dataset],
        evidence: Option<&Self::Evidence>,
    ) -> Result<CheckOutcome>;
}
