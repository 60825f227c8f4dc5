//! Scenario files: what to run, against which targets, with which load shape, profiles and
//! criteria. Loading resolves every referenced file and reports every problem at once.

mod checks;
mod criteria;
mod http;
mod profile;
pub mod source;
mod workload;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use checks::{CheckKind, ConfigCheck};
pub use criteria::{Comparison, Criterion, Metric};
pub use http::{Headers, HttpOp};
pub use profile::{
    IndexDef, LifecycleRule, NeoProfile, NeoSchemaDef, PgProfile, QdrantHnsw, QdrantOptimizers,
    QdrantProfile, QdrantQuantization, QdrantSearch, QuantizationKind, S3Profile, SettingValue,
};
pub use source::SourceFile;
pub use workload::{
    CypherOp, OpDef, ParamGen, QdrantOp, S3Op, SqlOp, TermBand, WorkloadDef, parse_size,
};

use crate::dataset::DatasetSpec;
use crate::error::{Error, InputIssue, Result};
use source::{interpolate, parse_duration};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    Postgres,
    Neo4j,
    S3,
    /// An application's HTTP endpoint (e.g. `/health`): no dataset, nothing to tune.
    Http,
    Qdrant,
}

impl TargetKind {
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Postgres => "postgres",
            TargetKind::Neo4j => "neo4j",
            TargetKind::S3 => "s3",
            TargetKind::Http => "http",
            TargetKind::Qdrant => "qdrant",
        }
    }
}

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
    checks: Vec<checks::CheckFile>,
    #[serde(default)]
    gate: GateSpec,
}

/// How comparisons judge noise (`[gate]` in a scenario).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateSpec {
    #[serde(default)]
    pub noise: crate::compare::NoiseThresholds,
    #[serde(default = "default_confidence")]
    pub confidence: f64,
}

fn default_confidence() -> f64 {
    0.95
}

impl Default for GateSpec {
    fn default() -> Self {
        GateSpec {
            noise: Default::default(),
            confidence: default_confidence(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetFile {
    kind: TargetKind,
    url: String,
    /// Neo4j: the user and password (interpolated, e.g. "${TUNEBENCH_NEO4J_PASSWORD:-tunebench}").
    user: Option<String>,
    password: Option<String>,
    /// Neo4j: the folder holding neo4j.conf and jvm.conf, which memory profiles edit.
    config_dir: Option<String>,
    restart_command: Option<String>,
    #[serde(default)]
    pool: PoolSpec,
    /// S3: access key (may be `${VAR}`), secret key (should be `${VAR}`) and region.
    access_key: Option<String>,
    secret_key: Option<String>,
    region: Option<String>,
    /// S3 (MinIO): the server's settings file that a restart reads, for [server] profiles.
    settings_file: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSpec {
    #[serde(default = "PoolSpec::default_min")]
    pub min_connections: u32,
    #[serde(default = "PoolSpec::default_max")]
    pub max_connections: u32,
    #[serde(default = "PoolSpec::default_idle")]
    pub idle_timeout: String,
    #[serde(default = "PoolSpec::default_connect")]
    pub connect_timeout: String,
}

impl PoolSpec {
    fn default_min() -> u32 {
        2
    }
    fn default_max() -> u32 {
        10
    }
    fn default_idle() -> String {
        "30s".into()
    }
    fn default_connect() -> String {
        "5s".into()
    }
}

impl Default for PoolSpec {
    fn default() -> Self {
        PoolSpec {
            min_connections: Self::default_min(),
            max_connections: Self::default_max(),
            idle_timeout: Self::default_idle(),
            connect_timeout: Self::default_connect(),
        }
    }
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
    max_in_flight: Option<u32>,
    #[serde(default = "default_warmup")]
    warmup: String,
    duration: String,
    #[serde(default = "default_trials")]
    trials: u32,
    #[serde(default = "default_error_budget")]
    error_budget: f64,
    #[serde(default = "default_op_timeout")]
    op_timeout: String,
    /// Trials of different profiles alternate (A B A B ...), so drift hits every profile alike.
    #[serde(default = "default_interleave")]
    interleave: bool,
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
    definition: String,
    ops: Vec<OpWeight>,
    /// Result size whose recall is judged (vector queries); 10 when unset.
    #[serde(default)]
    k: Option<u32>,
    /// Runs the workload once per value of a session setting (e.g. hnsw.ef_search).
    #[serde(default)]
    sweep: Option<SweepFile>,
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

/// Search parameters a sweep on a qdrant target can vary (per request, nothing to revert).
pub const QDRANT_SWEEPS: [&str; 2] = ["hnsw_ef", "oversampling"];

fn default_min_recall() -> f64 {
    0.95
}

/// One point of a sweep: the workload runs with `setting = value` on every worker session.
#[derive(Debug, Clone, Serialize)]
pub struct SweepPoint {
    /// The workload name as written; each point is a workload `{base}_{value}`.
    pub base: String,
    pub setting: String,
    pub value: String,
    pub min_recall: f64,
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
    pub profiles: Vec<Profile>,
    pub criteria: Vec<Criterion>,
    /// Configuration checks, evaluated under every profile and by `tunebench check`.
    pub checks: Vec<ConfigCheck>,
    pub gate: GateSpec,
}

#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub name: String,
    pub kind: TargetKind,
    /// Never serialized: it may hold a password. `url_redacted` is what results show.
    #[serde(skip)]
    pub url: String,
    pub url_redacted: String,
    /// Neo4j: the user name (not a secret).
    pub user: Option<String>,
    /// Never serialized or logged.
    #[serde(skip)]
    pub password: Option<String>,
    /// Neo4j: folder of neo4j.conf / jvm.conf (see `scripts/stack.d/neo4j.sh`).
    pub config_dir: Option<PathBuf>,
    pub restart_command: Option<String>,
    /// Folder the restart command runs in (the scenario's folder).
    pub workdir: PathBuf,
    pub pool: PoolSpec,
    #[serde(skip)]
    pub pool_idle_timeout: Duration,
    #[serde(skip)]
    pub pool_connect_timeout: Duration,
    /// S3 only: the access key is an identity, not a secret, so results show it.
    pub access_key: Option<String>,
    /// Never serialized or logged.
    #[serde(skip)]
    pub secret_key: Option<String>,
    pub region: Option<String>,
    /// MinIO's settings file (relative to `workdir`), read at each restart.
    pub settings_file: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Dataset {
    pub name: String,
    pub target: String,
    pub file: PathBuf,
    pub spec: DatasetSpec,
}

#[derive(Debug, Clone, Serialize)]
pub struct Load {
    pub mode: LoadMode,
    pub concurrency: u32,
    pub rate: Option<f64>,
    pub max_in_flight: u32,
    #[serde(with = "secs")]
    pub warmup: Duration,
    #[serde(with = "secs")]
    pub duration: Duration,
    pub trials: u32,
    pub error_budget: f64,
    #[serde(with = "secs")]
    pub op_timeout: Duration,
    pub interleave: bool,
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
}

#[derive(Debug, Clone, Serialize)]
pub struct Workload {
    pub name: String,
    pub target: String,
    /// None only for http targets, which take no dataset.
    pub dataset: Option<String>,
    pub definition_file: PathBuf,
    pub ops: Vec<WeightedOp>,
    /// Result size whose recall is measured (vector searches).
    pub k: Option<u32>,
    /// Set when this workload is one point of a sweep.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepPoint>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WeightedOp {
    pub name: String,
    pub weight: u32,
    pub def: OpDef,
}

#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub name: String,
    /// Per target: the profile file applied to it.
    pub apply: BTreeMap<String, AppliedFile>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AppliedFile {
    pub file: PathBuf,
    pub profile: ProfileDef,
}

/// A tuning profile, by store.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum ProfileDef {
    Postgres(PgProfile),
    Neo4j(NeoProfile),
    S3(S3Profile),
    Qdrant(QdrantProfile),
}

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
    let scenario = resolve(&src, file, &mut issues);
    if issues.is_empty() {
        Ok(scenario)
    } else {
        Err(Error::Input(issues))
    }
}

fn resolve(src: &SourceFile, file: ScenarioFile, issues: &mut Vec<InputIssue>) -> Scenario {
    if file.name.trim().is_empty() {
        issues.push(src.issue("name", "must not be empty"));
    }

    let mut targets = BTreeMap::new();
    if file.targets.is_empty() {
        issues.push(src.issue(
            "targets",
            "at least one target is required, e.g. [targets.pg] kind = \"postgres\"",
        ));
    }
    for (name, t) in file.targets {
        let field = format!("targets.{name}");
        let url = match interpolate(&t.url) {
            Ok(u) => u,
            Err(e) => {
                issues.push(src.issue(&format!("{field}.url"), e));
                String::new()
            }
        };
        check_url(src, &field, t.kind, &url, issues);
        let mut secret = |name: &str, value: &Option<String>| -> Option<String> {
            let v = value.as_deref()?;
            match interpolate(v) {
                Ok(v) => Some(v),
                Err(e) => {
                    issues.push(src.issue(&format!("{field}.{name}"), e));
                    None
                }
            }
        };
        let user = secret("user", &t.user);
        let password = secret("password", &t.password);
        let config_dir = secret("config_dir", &t.config_dir).map(|d| src.resolve(&d));
        let access_key = secret("access_key", &t.access_key);
        let secret_key = secret("secret_key", &t.secret_key);
        let region = secret("region", &t.region);
        let settings_file = secret("settings_file", &t.settings_file);
        // Fields that belong to another kind of target are a mistake, not something to ignore.
        for (name, given, owner) in [
            ("user", t.user.is_some(), TargetKind::Neo4j),
            ("password", t.password.is_some(), TargetKind::Neo4j),
            ("config_dir", t.config_dir.is_some(), TargetKind::Neo4j),
            ("access_key", t.access_key.is_some(), TargetKind::S3),
            ("secret_key", t.secret_key.is_some(), TargetKind::S3),
            ("region", t.region.is_some(), TargetKind::S3),
        ] {
            if given && t.kind != owner {
                issues.push(src.issue(
                    &format!("{field}.{name}"),
                    format!(
                        "only applies to kind = \"{}\"; this target is kind = \"{}\"{}",
                        owner.name(),
                        t.kind.name(),
                        if t.kind == TargetKind::Postgres {
                            " (PostgreSQL credentials go in the url)"
                        } else {
                            ""
                        }
                    ),
                ));
            }
        }
        match t.kind {
            TargetKind::Neo4j => {
                if user.is_none() || password.is_none() {
                    issues.push(src.issue(
                        &field,
                        "a neo4j target needs user and password, e.g. user = \"${TUNEBENCH_NEO4J_USER:-neo4j}\", password = \"${TUNEBENCH_NEO4J_PASSWORD:-tunebench}\"",
                    ));
                }
            }
            TargetKind::S3 => {
                for (name, v) in [("access_key", &access_key), ("secret_key", &secret_key)] {
                    if v.as_deref().is_none_or(str::is_empty) {
                        issues.push(src.issue(
                            &format!("{field}.{name}"),
                            format!(
                                "an s3 target needs {name}, e.g. {name} = \"${{TUNEBENCH_S3_{}}}\"",
                                name.to_ascii_uppercase()
                            ),
                        ));
                    }
                }
            }
            TargetKind::Qdrant => {
                if t.restart_command.is_some() {
                    issues.push(src.issue(
                        &format!("{field}.restart_command"),
                        "a qdrant target takes only kind, url and pool: url = \"${TUNEBENCH_QDRANT_URL:-}\" (empty runs the embedded engine)",
                    ));
                }
            }
            TargetKind::Postgres | TargetKind::Http => {}
        }
        let restart_command = match t.restart_command.as_deref().map(interpolate) {
            Some(Ok(c)) if !c.trim().is_empty() => Some(c),
            Some(Ok(_)) | None => None,
            Some(Err(e)) => {
                issues.push(src.issue(&format!("{field}.restart_command"), e));
                None
            }
        };
        let idle = duration_field(
            src,
            &format!("{field}.pool.idle_timeout"),
            &t.pool.idle_timeout,
            issues,
        );
        let connect = duration_field(
            src,
            &format!("{field}.pool.connect_timeout"),
            &t.pool.connect_timeout,
            issues,
        );
        if t.pool.max_connections == 0 || t.pool.min_connections > t.pool.max_connections {
            issues.push(src.issue(
                &format!("{field}.pool"),
                format!(
                    "min_connections ({}) must be <= max_connections ({}) and max_connections >= 1",
                    t.pool.min_connections, t.pool.max_connections
                ),
            ));
        }
        targets.insert(
            name.clone(),
            Target {
                name: name.clone(),
                kind: t.kind,
                url_redacted: redact_url(&url),
                url,
                user,
                password,
                config_dir,
                restart_command,
                workdir: src.dir(),
                pool: t.pool,
                pool_idle_timeout: idle,
                pool_connect_timeout: connect,
                access_key,
                secret_key,
                region,
                settings_file,
            },
        );
    }

    // Datasets that failed to load: workloads naming them are not also reported as unknown.
    let mut broken_datasets = std::collections::BTreeSet::new();
    let mut datasets = BTreeMap::new();
    for (name, d) in file.datasets {
        let field = format!("datasets.{name}");
        if !targets.contains_key(&d.target) {
            issues.push(src.issue(
                &format!("{field}.target"),
                unknown_name("target", &d.target, targets.keys()),
            ));
        }
        // `${VAR:-default}` works here too, so one variable can switch a scenario's sizes
        // (e.g. `file = "../datasets/${TUNEBENCH_SIZE:-small}/docs.toml"`).
        let file_name = match interpolate(&d.file) {
            Ok(f) => f,
            Err(e) => {
                issues.push(src.issue(&format!("{field}.file"), e));
                broken_datasets.insert(name.clone());
                continue;
            }
        };
        let path = src.resolve(&file_name);
        if !referenced_file_exists(src, &format!("{field}.file"), &path, issues) {
            broken_datasets.insert(name.clone());
            continue;
        }
        match crate::dataset::load_spec(&path, &d.set) {
            Ok(spec) => {
                let fits = |k: TargetKind| match spec {
                    DatasetSpec::Documents(_) => k == TargetKind::Postgres,
                    DatasetSpec::Vectors(_) => k == TargetKind::Postgres || k == TargetKind::Qdrant,
                    DatasetSpec::Graph(_) => k == TargetKind::Neo4j,
                    DatasetSpec::Objects(_) => k == TargetKind::S3,
                };
                if let Some(t) = targets.get(&d.target)
                    && !fits(t.kind)
                {
                    issues.push(src.issue(
                        &format!("{field}.file"),
                        format!(
                            "{} is a {:?} dataset, which target `{}` (kind = \"{}\") cannot hold; documents go to postgres, vectors to postgres or qdrant, graph to neo4j, objects to s3; http targets take none",
                            path.display(),
                            spec.kind(),
                            d.target,
                            t.kind.name()
                        ),
                    ));
                    broken_datasets.insert(name.clone());
                    continue;
                }
                datasets.insert(
                    name.clone(),
                    Dataset {
                        name: name.clone(),
                        target: d.target,
                        file: path,
                        spec,
                    },
                );
            }
            Err(Error::Input(mut more)) => {
                broken_datasets.insert(name.clone());
                issues.append(&mut more);
            }
            Err(e) => {
                broken_datasets.insert(name.clone());
                issues.push(src.issue(&format!("{field}.file"), e.to_string()));
            }
        }
    }

    let load = resolve_load(src, &file.load, issues);
    let max_pool = targets
        .values()
        .map(|t| t.pool.max_connections)
        .min()
        .unwrap_or(0);
    if load.connections() > max_pool && max_pool > 0 {
        let what = if load.mode == LoadMode::Closed {
            "concurrency"
        } else {
            "max_in_flight"
        };
        issues.push(src.issue(
            &format!("load.{what}"),
            format!(
                "needs {} connections but a target's pool.max_connections is {max_pool}; raise the pool or lower load.{what}",
                load.connections()
            ),
        ));
    }

    let mut workloads = Vec::new();
    if file.workloads.is_empty() {
        issues.push(src.issue("", "at least one [[workload]] is required"));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, w) in file.workloads.into_iter().enumerate() {
        let field = format!("workload[{i}]");
        if !valid_name(&w.name) {
            issues.push(src.issue(
                &format!("{field}.name"),
                format!("`{}` must be letters, digits and _ only", w.name),
            ));
        }
        if !seen.insert(w.name.clone()) {
            issues.push(src.issue(
                &format!("{field}.name"),
                format!("workload `{}` is defined twice", w.name),
            ));
        }
        if !targets.contains_key(&w.target) {
            issues.push(src.issue(
                &format!("{field}.target"),
                unknown_name("target", &w.target, targets.keys()),
            ));
        }
        let http = targets
            .get(&w.target)
            .is_some_and(|t| t.kind == TargetKind::Http);
        match &w.dataset {
            Some(_) if http => issues.push(src.issue(
                &format!("{field}.dataset"),
                format!(
                    "target `{}` is kind = \"http\", which takes no dataset; remove this line",
                    w.target
                ),
            )),
            Some(d) if !datasets.contains_key(d) && !broken_datasets.contains(d) => {
                issues.push(src.issue(
                    &format!("{field}.dataset"),
                    unknown_name("dataset", d, datasets.keys()),
                ))
            }
            None if !http && targets.contains_key(&w.target) => issues.push(src.issue(
                &field,
                format!(
                    "dataset is missing: target `{}` needs one of the [datasets.*] (only http targets take none); add dataset = \"NAME\"",
                    w.target
                ),
            )),
            _ => {}
        }
        let def_path = src.resolve(&w.definition);
        let def = match workload::load(&def_path) {
            _ if !referenced_file_exists(
                src,
                &format!("{field}.definition"),
                &def_path,
                issues,
            ) =>
            {
                None
            }
            Ok(d) => match targets.get(&w.target) {
                Some(t) if t.kind != d.store => {
                    issues.push(src.issue(
                        &format!("{field}.definition"),
                        format!(
                            "{} is for store = \"{}\" but target `{}` is kind = \"{}\"",
                            def_path.display(),
                            d.store.name(),
                            w.target,
                            t.kind.name()
                        ),
                    ));
                    None
                }
                _ => Some(d),
            },
            Err(Error::Input(mut more)) => {
                issues.append(&mut more);
                None
            }
            Err(e) => {
                issues.push(src.issue(&format!("{field}.definition"), e.to_string()));
                None
            }
        };
        if w.ops.is_empty() {
            issues.push(src.issue(
                &format!("{field}.ops"),
                "list at least one op, e.g. ops = [{ op = \"name\", weight = 1 }]",
            ));
        }
        let mut ops = Vec::new();
        for (j, o) in w.ops.iter().enumerate() {
            if o.weight == 0 {
                issues.push(src.issue(&format!("{field}.ops[{j}].weight"), "must be at least 1"));
            }
            if let Some(def) = &def {
                match def.ops.get(&o.op) {
                    Some(op) => ops.push(WeightedOp {
                        name: o.op.clone(),
                        weight: o.weight,
                        def: op.clone(),
                    }),
                    None => issues.push(src.issue(
                        &format!("{field}.ops[{j}].op"),
                        format!(
                            "{} (in {})",
                            unknown_name("op", &o.op, def.ops.keys()),
                            def_path.display()
                        ),
                    )),
                }
            }
        }
        // Vector parameters need a vector set, corpus parameters a document corpus.
        let vectors = w
            .dataset
            .as_ref()
            .and_then(|d| datasets.get(d))
            .map(|d| d.spec.kind() == crate::dataset::DatasetKind::Vectors);
        let mut judged = false;
        for (j, o) in ops.iter().enumerate() {
            let params: &[ParamGen] = match &o.def {
                OpDef::Sql(sql) => &sql.params,
                OpDef::Qdrant(q) => q.params(),
                OpDef::Cypher(_) | OpDef::S3(_) | OpDef::Http(_) => continue,
            };
            for g in params {
                let is_vector = g.needs_vectors();
                judged |= g.vector_filter().is_some();
                if vectors.is_some_and(|v| v != is_vector) {
                    issues.push(src.issue(
                        &format!("{field}.ops[{j}].op"),
                        format!(
                            "op `{}` draws parameter {g:?}, which dataset `{}` cannot give: query_vector* parameters need a kind = \"vectors\" dataset, the others a kind = \"documents\" dataset",
                            o.name,
                            w.dataset.as_deref().unwrap_or_default()
                        ),
                    ));
                }
            }
        }
        if let Some(k) = w.k {
            let k_max = w
                .dataset
                .as_ref()
                .and_then(|d| datasets.get(d))
                .and_then(|d| match &d.spec {
                    DatasetSpec::Vectors(v) => Some(v.k_max),
                    _ => None,
                });
            if k == 0 || k_max.is_some_and(|m| k > m) {
                issues.push(src.issue(
                    &format!("{field}.k"),
                    format!(
                        "must be 1..={} (the dataset's k_max, the depth of its ground truth)",
                        k_max.unwrap_or(1000)
                    ),
                ));
            }
        }
        let workload = Workload {
            name: w.name,
            target: w.target,
            dataset: w.dataset,
            definition_file: def_path,
            ops,
            k: judged.then_some(w.k.unwrap_or(10)),
            sweep: None,
        };
        match &w.sweep {
            None => workloads.push(workload),
            Some(sw) => {
                if sw.values.is_empty() {
                    issues.push(src.issue(
                        &format!("{field}.sweep.values"),
                        "list at least one value, e.g. [10, 40, 100, 400]",
                    ));
                }
                if sw.setting.is_empty()
                    || !sw
                        .setting
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
                {
                    issues.push(src.issue(
                        &format!("{field}.sweep.setting"),
                        "must be a setting name (letters, digits, _ and .), e.g. hnsw.ef_search",
                    ));
                }
                if targets.get(&workload.target).map(|t| t.kind) == Some(TargetKind::Qdrant)
                    && !QDRANT_SWEEPS.contains(&sw.setting.as_str())
                {
                    issues.push(src.issue(
                        &format!("{field}.sweep.setting"),
                        format!(
                            "`{}` is not a Qdrant search parameter; valid: {}",
                            sw.setting,
                            QDRANT_SWEEPS.join(", ")
                        ),
                    ));
                }
                if !(sw.min_recall > 0.0 && sw.min_recall <= 1.0) {
                    issues.push(src.issue(
                        &format!("{field}.sweep.min_recall"),
                        "must be in (0, 1], e.g. 0.95",
                    ));
                }
                for v in &sw.values {
                    let value = v.resolve(0);
                    let suffix: String = value
                        .chars()
                        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                        .collect();
                    let mut point = workload.clone();
                    point.name = format!("{}_{suffix}", workload.name);
                    point.sweep = Some(SweepPoint {
                        base: workload.name.clone(),
                        setting: sw.setting.clone(),
                        value,
                        min_recall: sw.min_recall,
                    });
                    workloads.push(point);
                }
            }
        }
    }

    let mut profiles = Vec::new();
    if file.profiles.is_empty() {
        issues.push(src.issue(
            "",
            "at least one [[profile]] is required (the first one is \"before\")",
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, p) in file.profiles.into_iter().enumerate() {
        let field = format!("profile[{i}]");
        if !valid_name(&p.name) {
            issues.push(src.issue(
                &format!("{field}.name"),
                format!("`{}` must be letters, digits, _ and - only", p.name),
            ));
        }
        if !seen.insert(p.name.clone()) {
            issues.push(src.issue(
                &format!("{field}.name"),
                format!("profile `{}` is defined twice", p.name),
            ));
        }
        let mut apply = BTreeMap::new();
        for (target, rel) in p.apply {
            if !targets.contains_key(&target) {
                issues.push(src.issue(
                    &format!("{field}.apply.{target}"),
                    unknown_name("target", &target, targets.keys()),
                ));
                continue;
            }
            if targets[&target].kind == TargetKind::Http {
                issues.push(src.issue(
                    &format!("{field}.apply.{target}"),
                    format!(
                        "target `{target}` is kind = \"http\": an endpoint has nothing for tunebench to tune; leave it out of apply (apply = {{}} is a valid profile)"
                    ),
                ));
                continue;
            }
            let path = src.resolve(&rel);
            if !referenced_file_exists(src, &format!("{field}.apply.{target}"), &path, issues) {
                continue;
            }
            let loaded = match targets[&target].kind {
                TargetKind::Postgres => profile::load_postgres(&path).map(ProfileDef::Postgres),
                TargetKind::Neo4j => profile::load_neo4j(&path).map(ProfileDef::Neo4j),
                TargetKind::S3 => profile::load_s3(&path).map(ProfileDef::S3),
                // Refused above, with its reason.
                TargetKind::Http => continue,
                TargetKind::Qdrant => profile::load_qdrant(&path).map(ProfileDef::Qdrant),
            };
            match loaded {
                Ok(profile) => {
                    apply.insert(
                        target,
                        AppliedFile {
                            file: path,
                            profile,
                        },
                    );
                }
                Err(Error::Input(mut more)) => issues.append(&mut more),
                Err(e) => issues.push(src.issue(&format!("{field}.apply.{target}"), e.to_string())),
            }
        }
        profiles.push(Profile {
            name: p.name,
            apply,
        });
    }

    if !(0.5..1.0).contains(&file.gate.confidence) {
        issues.push(src.issue("gate.confidence", "must be between 0.5 and 1 (e.g. 0.95)"));
    }
    for (metric, v) in [
        ("p50", file.gate.noise.p50),
        ("p95", file.gate.noise.p95),
        ("p99", file.gate.noise.p99),
        ("throughput", file.gate.noise.throughput),
    ] {
        if !(0.0..1.0).contains(&v) {
            issues.push(src.issue(
                &format!("gate.noise.{metric}"),
                "is a fraction between 0 and 1 (0.1 = 10 %)",
            ));
        }
    }
    let mut criteria = Vec::new();
    for (i, text) in file.criteria.iter().enumerate() {
        match Criterion::parse(text) {
            Ok(c) => {
                let known = workloads.iter().any(|w| {
                    w.name == c.workload
                        && c.op
                            .as_ref()
                            .is_none_or(|op| w.ops.iter().any(|o| &o.name == op))
                });
                if known || workloads.is_empty() {
                    criteria.push(c);
                } else {
                    issues.push(src.issue(
                        &format!("criteria[{i}]"),
                        format!(
                            "`{text}` names no workload (or op) of this scenario; workloads: {}",
                            workloads.iter().map(|w| w.name.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
            }
            Err(e) => issues.push(src.issue(&format!("criteria[{i}]"), e)),
        }
    }
    let target_names: Vec<String> = targets.keys().cloned().collect();
    let checks = checks::resolve(
        src,
        &file.checks,
        |t| targets.get(t).map(|t: &Target| t.kind),
        &target_names,
        issues,
    );

    Scenario {
        name: file.name,
        description: file.description,
        path: src.path.clone(),
        targets,
        datasets,
        load,
        workloads,
        profiles,
        criteria,
        checks,
        gate: file.gate,
    }
}

/// URL schemes per kind of target.
fn check_url(
    src: &SourceFile,
    field: &str,
    kind: TargetKind,
    url: &str,
    issues: &mut Vec<InputIssue>,
) {
    let (ok, expected) = match kind {
        TargetKind::Postgres => (
            url.starts_with("postgres://") || url.starts_with("postgresql://"),
            "a PostgreSQL URL; expected postgres://USER:PASSWORD@HOST:PORT/DB",
        ),
        TargetKind::Neo4j => (
            [
                "bolt://",
                "bolt+s://",
                "bolt+ssc://",
                "neo4j://",
                "neo4j+s://",
                "neo4j+ssc://",
            ]
            .iter()
            .any(|s| url.starts_with(s)),
            "a Neo4j Bolt URL; expected bolt://HOST:PORT (user and password are separate fields)",
        ),
        TargetKind::S3 => (
            (url.starts_with("http://") || url.starts_with("https://"))
                && !url.contains('@')
                && url.len() > "https://".len(),
            "an S3 endpoint; expected http://HOST:PORT (keys go in access_key / secret_key, not the URL)",
        ),
        TargetKind::Http => (
            (url.starts_with("http://") || url.starts_with("https://"))
                && !url.contains('@')
                && !url.contains(['?', '#'])
                && reqwest::Url::parse(url).is_ok_and(|u| u.has_host()),
            "an HTTP base URL; expected http://HOST:PORT[/PREFIX] (no user:password@, no query; credentials go in an op's headers)",
        ),
        TargetKind::Qdrant => (
            url.starts_with("http://") || url.starts_with("https://"),
            "a Qdrant gRPC URL; expected http://HOST:6334, or empty for the embedded engine",
        ),
    };
    if !(url.is_empty() || ok) {
        issues.push(src.issue(
            &format!("{field}.url"),
            format!("`{}` is not {expected}", redact_url(url)),
        ));
    }
}

fn resolve_load(src: &SourceFile, l: &LoadFile, issues: &mut Vec<InputIssue>) -> Load {
    let warmup = duration_field(src, "load.warmup", &l.warmup, issues);
    let duration = duration_field(src, "load.duration", &l.duration, issues);
    let op_timeout = duration_field(src, "load.op_timeout", &l.op_timeout, issues);
    if duration.is_zero() && parse_duration(&l.duration).is_some() {
        issues.push(src.issue("load.duration", "must be longer than 0s"));
    }
    if l.trials == 0 {
        issues.push(src.issue("load.trials", "must be at least 1"));
    }
    if !(0.0..=1.0).contains(&l.error_budget) {
        issues.push(src.issue(
            "load.error_budget",
            "is a fraction of operations, between 0.0 and 1.0",
        ));
    }
    let concurrency = l.concurrency.unwrap_or(1);
    let mut max_in_flight = l.max_in_flight.unwrap_or(concurrency.max(1));
    match l.mode {
        LoadMode::Closed => {
            if l.concurrency.is_none_or(|c| c == 0) {
                issues.push(src.issue(
                    "load.concurrency",
                    "closed-loop load needs concurrency >= 1 (the number of clients)",
                ));
            }
            if l.rate.is_some() {
                issues.push(src.issue(
                    "load.rate",
                    "a rate only applies to mode = \"open\"; remove it or switch the mode",
                ));
            }
            max_in_flight = concurrency;
        }
        LoadMode::Open => {
            if l.rate.is_none_or(|r| !(r > 0.0 && r.is_finite())) {
                issues.push(src.issue(
                    "load.rate",
                    "open-loop load needs rate > 0 (operations per second)",
                ));
            }
            if l.max_in_flight.is_none_or(|m| m == 0) {
                issues.push(src.issue("load.max_in_flight", "open-loop load needs max_in_flight >= 1 (connections that may be busy at once)"));
            }
        }
    }
    Load {
        mode: l.mode,
        concurrency,
        rate: l.rate,
        max_in_flight,
        warmup,
        duration,
        trials: l.trials,
        error_budget: l.error_budget,
        op_timeout,
        interleave: l.interleave,
    }
}

fn duration_field(
    src: &SourceFile,
    field: &str,
    text: &str,
    issues: &mut Vec<InputIssue>,
) -> Duration {
    parse_duration(text).unwrap_or_else(|| {
        issues.push(src.issue(
            field,
            format!("`{text}` is not a duration; write e.g. \"500ms\", \"20s\" or \"2m\""),
        ));
        Duration::ZERO
    })
}

/// Reports a referenced file that cannot be read at the scenario field that names it.
fn referenced_file_exists(
    src: &SourceFile,
    field: &str,
    path: &Path,
    issues: &mut Vec<InputIssue>,
) -> bool {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => true,
        Ok(_) => {
            issues.push(src.issue(field, format!("{} is not a file", path.display())));
            false
        }
        Err(e) => {
            issues.push(src.issue(field, format!("cannot read file {}: {e}", path.display())));
            false
        }
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn unknown_name<'a>(what: &str, name: &str, known: impl Iterator<Item = &'a String>) -> String {
    let known: Vec<&str> = known.map(String::as_str).collect();
    if known.is_empty() {
        format!("unknown {what} `{name}`; none is defined")
    } else {
        format!("unknown {what} `{name}`; valid: {}", known.join(", "))
    }
}

/// Replaces the password of a URL with `***`, so results and logs never carry it.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match (authority.rfind('@'), authority.find(':')) {
        (Some(at), Some(colon)) if colon < at => format!(
            "{}{}:***{}",
            &url[..scheme_end + 3],
            &authority[..colon],
            &rest[at..]
        ),
        _ => url.to_string(),
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
            if !(r > 0.0 && r.is_finite()) {
                return Err(Error::Usage(
                    "--rate must be > 0 operations per second".into(),
                ));
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

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("postgres://h:5432/db"), "postgres://h:5432/db");
    }
}
