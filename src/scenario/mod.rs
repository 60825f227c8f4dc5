//! Scenario files: what to run, against which targets, with which load shape, profiles and
//! criteria. Loading resolves every referenced file and reports every problem at once.

mod criteria;
mod drills;
mod load;

mod resolve;
mod targets;
mod workload;
mod workloads;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::backend::checks::{CheckKind, ConfigCheck};
pub use crate::backend::drill::{Drill, DrillMethod};
pub use crate::secrets::redact_url;
pub use criteria::{Comparison, Criterion, Metric};
// What a scenario is made of is defined where it is used: the model and each store's ops
// and profile format in `backend`, parameters in `dataset`, files in `source`.
pub use crate::backend::http::spec::{Headers, HttpOp};
pub use crate::backend::model::{
    AppliedFile, Dataset, OpDef, PoolSpec, ProfileDef, SweepPoint, Target, TargetKind, WeightedOp,
    Workload, WorkloadDef,
};
pub use crate::backend::neo4j::spec::{CypherOp, NeoProfile, NeoSchemaDef};
pub use crate::backend::postgres::spec::{IndexDef, PgProfile, SettingValue, SqlOp};
pub use crate::backend::qdrant::spec::{
    QdrantHnsw, QdrantOp, QdrantOptimizers, QdrantProfile, QdrantQuantization, QdrantSearch,
    QuantizationKind,
};
pub use crate::backend::s3::spec::{LifecycleRule, S3Op, S3Profile};
pub use crate::dataset::{ParamGen, TermBand};
pub use crate::source::{SourceFile, parse_size};

use crate::error::{Error, Result};
use resolve::unknown_name;

// ---- the file as written -------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    name: String,
    #[serde(default)]
    description: String,
    targets: BTreeMap<String, TargetFile>,
    #[serde(default)]
    datasets: BTreeMap<String, DatasetFile>,
    load: LoadFile,
    #[serde(rename = "workload", default)]
    workloads: Vec<WorkloadFile>,
    #[serde(rename = "profile", default)]
    profiles: Vec<ProfileFile>,
    #[serde(default)]
    criteria: Vec<String>,
    #[serde(default)]
    checks: Vec<crate::backend::checks::CheckFile>,
    #[serde(default)]
    gate: GateSpec,
}

/// Lives beside the gate; re-exported because a scenario's `[gate]` is read as one.
pub use crate::gate::GateSpec;

/// `[targets.NAME]`: the fields every kind takes; the rest are the kind's own options, read
/// by its store (`TargetKind::target_options`), and any other field is refused there.
#[derive(Debug, Deserialize)]
struct TargetFile {
    kind: TargetKind,
    url: String,
    restart_command: Option<String>,
    #[serde(default)]
    pool: PoolSpec,
    /// Profiles may build (and revert) indexes on tables tunebench did not create.
    #[serde(default)]
    allow_foreign_indexes: bool,
    /// Ops marked `writes = true` may change data tunebench did not create.
    #[serde(default)]
    allow_writes: bool,
    #[serde(flatten)]
    options: toml::Table,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DatasetFile {
    target: String,
    file: String,
    /// Field overrides on top of the spec file, e.g. `set = { documents = 5000 }`.
    #[serde(default)]
    set: toml::Table,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoadFile {
    mode: LoadMode,
    concurrency: Option<u32>,
    rate: Option<f64>,
    /// Open loop: `uniform` (evenly spaced, the default) or `poisson`.
    arrivals: Option<crate::driver::pacing::Arrivals>,
    max_in_flight: Option<u32>,
    #[serde(default = "default_warmup")]
    warmup: String,
    /// Required unless `iterations` is set; then it only caps each trial.
    duration: Option<String>,
    /// Operations per trial, all workers together: the trial stops after exactly this many.
    iterations: Option<u64>,
    #[serde(default = "default_trials")]
    trials: u32,
    #[serde(default = "default_error_budget")]
    error_budget: f64,
    #[serde(default = "default_op_timeout")]
    op_timeout: String,
    /// Trials of different profiles alternate (A B A B ...), so drift hits every profile alike.
    #[serde(default = "default_interleave")]
    interleave: bool,
    /// Window length for latency over time (default 1s).
    interval: Option<String>,
}

fn default_interleave() -> bool {
    true
}

fn default_warmup() -> String {
    "5s".into()
}
fn default_trials() -> u32 {
    1
}
fn default_error_budget() -> f64 {
    0.01
}
fn default_op_timeout() -> String {
    "30s".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadMode {
    /// N clients, each issuing the next operation when the previous one completes.
    Closed,
    /// Fixed arrival rate; latency measured from the intended start.
    Open,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkloadFile {
    name: String,
    target: String,
    /// Every store but http needs one; http endpoints are called as they are.
    dataset: Option<String>,
    /// `"drill"`: a recovery drill (backup, restore, compare; see `backend::drill`) rather
    /// than operations under load.
    #[serde(default)]
    kind: WorkloadKind,
    /// Required for ops; a drill takes none.
    definition: Option<String>,
    #[serde(default)]
    ops: Vec<OpWeight>,
    /// Result size whose recall is judged (vector queries); 10 when unset.
    #[serde(default)]
    k: Option<u32>,
    /// Runs the workload once per value of a session setting (e.g. hnsw.ef_search).
    #[serde(default)]
    sweep: Option<SweepFile>,
    /// Drills only: how the backup is taken (per store: see `backend::drill::METHODS`).
    method: Option<String>,
    /// Drills only: a fault planted in the backup (`truncate_backup`), to see it caught.
    inject: Option<String>,
    /// Drills only: keep the backup files in the run folder.
    keep_backup: Option<bool>,
    /// Drills only: folder of the store's client tools (pg_dump, pg_restore).
    tools: Option<String>,
    /// Drills only: parallel restore jobs (default 2).
    jobs: Option<u32>,
    /// Drills only (logical): pg_dump's compression, e.g. `zstd:3`, `lz4`, `gzip:6`, `none`.
    compress: Option<String>,
    /// Drills only (pitr): the folder the server's archive_command copies WAL into.
    archive: Option<String>,
    /// Drills only (pitr): rows per second the writer commits until the failure.
    writer_rate: Option<f64>,
    /// Drills only (pitr): how long the writer runs before the failure.
    writer_duration: Option<String>,
    /// Drills only (pitr): recover to this long before the failure, not to the end.
    recover_to: Option<String>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum WorkloadKind {
    #[default]
    Ops,
    Drill,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepFile {
    setting: String,
    values: Vec<SettingValue>,
    /// The report marks the cheapest value whose recall reaches this.
    #[serde(default = "default_min_recall")]
    min_recall: f64,
}

fn default_min_recall() -> f64 {
    0.95
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpWeight {
    pub op: String,
    #[serde(default = "default_weight")]
    pub weight: u32,
}

fn default_weight() -> u32 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    name: String,
    apply: BTreeMap<String, String>,
}

// ---- the resolved scenario ------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub path: PathBuf,
    pub targets: BTreeMap<String, Target>,
    pub datasets: BTreeMap<String, Dataset>,
    pub load: Load,
    pub workloads: Vec<Workload>,
    /// Recovery drills (`kind = "drill"`), run under every profile after its workloads.
    pub drills: Vec<Drill>,
    pub profiles: Vec<Profile>,
    pub criteria: Vec<Criterion>,
    /// Configuration checks, evaluated under every profile and by `tunebench check`.
    pub checks: Vec<ConfigCheck>,
    pub gate: GateSpec,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Load {
    pub mode: LoadMode,
    pub concurrency: u32,
    pub rate: Option<f64>,
    /// How open-loop arrivals are spaced; written only when not uniform, so older files
    /// read unchanged.
    #[serde(
        default,
        skip_serializing_if = "crate::driver::pacing::Arrivals::is_uniform"
    )]
    pub arrivals: crate::driver::pacing::Arrivals,
    pub max_in_flight: u32,
    #[serde(with = "secs")]
    pub warmup: Duration,
    /// Each trial's length, or with `iterations` its cap.
    #[serde(with = "secs")]
    pub duration: Duration,
    /// Operations per trial (all workers together); `None`: as many as `duration` allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations: Option<u64>,
    pub trials: u32,
    pub error_budget: f64,
    #[serde(with = "secs")]
    pub op_timeout: Duration,
    #[serde(default)]
    pub interleave: bool,
    /// Length of the windows latency over time is recorded in; written only when not the
    /// default (each trial's windows say their length too), so older files read unchanged.
    #[serde(
        with = "secs",
        default = "default_interval",
        skip_serializing_if = "is_default_interval"
    )]
    pub interval: Duration,
}

fn default_interval() -> Duration {
    crate::driver::intervals::DEFAULT_INTERVAL
}

fn is_default_interval(d: &Duration) -> bool {
    *d == default_interval()
}

impl Load {
    /// Connections a workload needs at once.
    pub fn connections(&self) -> u32 {
        match self.mode {
            LoadMode::Closed => self.concurrency,
            LoadMode::Open => self.max_in_flight,
        }
    }
}

mod secs {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    /// Seconds as written by `serialize` (results files); never panics on any number.
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<std::time::Duration, D::Error> {
        let v = <f64 as serde::Deserialize>::deserialize(d)?;
        std::time::Duration::try_from_secs_f64(v)
            .map_err(|e| serde::de::Error::custom(format!("{v} s is not a duration: {e}")))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub name: String,
    /// Per target: the profile file applied to it.
    pub apply: BTreeMap<String, AppliedFile>,
}

/// Operations per second an open loop accepts: below the lower end the schedule's next
/// ticket lies beyond any clock.
pub const RATE_RANGE: std::ops::RangeInclusive<f64> = 0.001..=10_000_000.0;
pub const RATE_HINT: &str = "between 0.001 and 10000000 operations per second";

/// A trial bounded by `iterations` alone stops anyway after this long.
pub const ITERATIONS_CAP: Duration = Duration::from_secs(24 * 3600);

/// Command-line overrides that let a long scenario run briefly.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub duration: Option<Duration>,
    pub warmup: Option<Duration>,
    pub rate: Option<f64>,
    pub concurrency: Option<u32>,
    pub trials: Option<u32>,
    pub profiles: Vec<String>,
}

/// Loads and validates a scenario and everything it references. All problems are reported
/// together.
pub fn load(path: &Path) -> Result<Scenario> {
    let src = SourceFile::read(path)?;
    let file: ScenarioFile = src.parse()?;
    let mut issues = Vec::new();
    let scenario = resolve::resolve(&src, file, &mut issues);
    if issues.is_empty() {
        Ok(scenario)
    } else {
        Err(Error::Input(issues))
    }
}

impl Scenario {
    /// Applies command-line overrides, checking them like the file's own fields.
    pub fn apply_overrides(&mut self, o: &Overrides) -> Result<()> {
        if let Some(d) = o.duration {
            if d.is_zero() {
                return Err(Error::Usage("--duration must be longer than 0s".into()));
            }
            self.load.duration = d;
        }
        if let Some(w) = o.warmup {
            self.load.warmup = w;
        }
        if let Some(t) = o.trials {
            if t == 0 {
                return Err(Error::Usage("--trials must be at least 1".into()));
            }
            self.load.trials = t;
        }
        if let Some(r) = o.rate {
            if self.load.mode != LoadMode::Open {
                return Err(Error::Usage(format!(
                    "--rate applies to open-loop load, but {} has load.mode = \"closed\"",
                    self.path.display()
                )));
            }
            if !RATE_RANGE.contains(&r) {
                return Err(Error::Usage(format!(
                    "--rate must be {RATE_HINT}, got {r:?}"
                )));
            }
            self.load.rate = Some(r);
        }
        if let Some(c) = o.concurrency {
            if c == 0 {
                return Err(Error::Usage("--concurrency must be at least 1".into()));
            }
            match self.load.mode {
                LoadMode::Closed => {
                    self.load.concurrency = c;
                    self.load.max_in_flight = c;
                }
                LoadMode::Open => self.load.max_in_flight = c,
            }
            for t in self.targets.values() {
                if c > t.pool.max_connections {
                    return Err(Error::Usage(format!(
                        "--concurrency {c} exceeds targets.{}.pool.max_connections = {} in {}",
                        t.name,
                        t.pool.max_connections,
                        self.path.display()
                    )));
                }
            }
        }
        if !o.profiles.is_empty() {
            let mut chosen = Vec::new();
            for name in &o.profiles {
                match self.profiles.iter().find(|p| &p.name == name) {
                    Some(p) => chosen.push(p.clone()),
                    None => {
                        return Err(Error::Usage(format!(
                            "--profile {name}: {}",
                            unknown_name("profile", name, self.profiles.iter().map(|p| &p.name))
                        )));
                    }
                }
            }
            self.profiles = chosen;
        }
        Ok(())
    }
}
