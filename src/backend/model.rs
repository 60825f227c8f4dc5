//! What a store is given: its target, datasets, workloads (ops of its own type) and
//! profile files, and the by-store enums that hold any store's part. A new store adds one
//! line to each enum here; its own types live in its folder (`spec.rs`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::http::spec::HttpOp;
use super::neo4j::spec::NeoTarget;
use super::neo4j::spec::{CypherOp, NeoProfile};
use super::postgres::spec::{PgProfile, SqlOp};
use super::qdrant::spec::{QdrantOp, QdrantProfile, QdrantTarget};
use super::s3::spec::{S3Op, S3Profile, S3Target};
use crate::dataset::DatasetSpec;
use crate::error::{Error, Result};

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

    /// How reports name the store.
    pub fn label(self) -> &'static str {
        match self {
            TargetKind::Postgres => "PostgreSQL",
            TargetKind::Neo4j => "Neo4j",
            TargetKind::S3 => "MinIO / S3",
            TargetKind::Http => "HTTP endpoints",
            TargetKind::Qdrant => "Qdrant",
        }
    }

    /// Where a store keeps its copy of the journal on the server itself (see
    /// `backend::journal`), for messages; None when only the cache keeps one (Qdrant's
    /// embedded engine is local; HTTP targets are never changed).
    pub fn server_journal(self) -> Option<&'static str> {
        match self {
            TargetKind::Postgres => Some("table tunebench_journal.entries"),
            TargetKind::Neo4j => Some("nodes labelled tunebench_Journal"),
            TargetKind::S3 => Some("bucket tunebench-journal"),
            TargetKind::Http | TargetKind::Qdrant => None,
        }
    }

    /// Every kind, in the order reports list them.
    pub const ALL: [TargetKind; 5] = [
        TargetKind::Postgres,
        TargetKind::Qdrant,
        TargetKind::Neo4j,
        TargetKind::S3,
        TargetKind::Http,
    ];

    /// Whether the report's table of stores lists this kind when the run has no target of
    /// it: the data stores always, application endpoints only when measured.
    pub fn listed_when_absent(self) -> bool {
        self != TargetKind::Http
    }
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

/// One point of a sweep: the workload runs with `setting = value` on every worker session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepPoint {
    /// The workload name as written; each point is a workload `{base}_{value}`.
    pub base: String,
    pub setting: String,
    pub value: String,
    pub min_recall: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub name: String,
    pub kind: TargetKind,
    /// Never serialized: it may hold a password. `url_redacted` is what results show.
    #[serde(skip)]
    pub url: String,
    pub url_redacted: String,
    pub restart_command: Option<String>,
    /// Folder the restart command runs in (the scenario's folder).
    pub workdir: PathBuf,
    pub pool: PoolSpec,
    #[serde(skip)]
    pub pool_idle_timeout: Duration,
    #[serde(skip)]
    pub pool_connect_timeout: Duration,
    /// `allow_foreign_indexes = true`: profiles may build and revert indexes on tables
    /// tunebench did not create (PostgreSQL: `CONCURRENTLY`).
    pub allow_foreign_indexes: bool,
    /// `allow_writes = true`: ops marked `writes = true` may change data tunebench did not
    /// create.
    pub allow_writes: bool,
    /// The kind's own options (its `spec::target_options`); never serialized: they may hold
    /// a password.
    #[serde(skip)]
    pub options: TargetOptions,
}

/// Each kind's own `[targets.*]` options, beside the common kind, url, pool and
/// restart_command; read by the store's `spec::target_options`. One line per store that
/// has options; the others take `()`.
#[derive(Debug, Clone, Default)]
pub enum TargetOptions {
    #[default]
    None,
    Neo4j(NeoTarget),
    S3(S3Target),
    Qdrant(QdrantTarget),
}

impl TryFrom<TargetOptions> for () {
    type Error = TargetOptions;
    fn try_from(v: TargetOptions) -> std::result::Result<(), TargetOptions> {
        match v {
            TargetOptions::None => Ok(()),
            other => Err(other),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Dataset {
    pub name: String,
    pub target: String,
    pub file: PathBuf,
    pub spec: DatasetSpec,
    /// A worker shard only uses a dataset the coordinator loaded: it never loads one.
    #[serde(skip)]
    pub reuse_only: bool,
}

impl Dataset {
    /// Fails when this dataset may not be loaded here (a worker shard's), called where a
    /// store would start loading it.
    pub fn may_load(&self) -> crate::error::Result<()> {
        if !self.reuse_only {
            return Ok(());
        }
        Err(crate::error::Error::target(
            format!("target {}: dataset {}", self.target, self.name),
            format!(
                "is not loaded (or differs from {}); a worker shard never loads data: run `tunebench run` with the same scenario first, or let the coordinator load it",
                self.file.display()
            ),
        ))
    }
}

/// A workload; `O` is the type of its ops: [`OpDef`] (any store) in a scenario, the store's
/// own op type once a target has taken it (see [`Workload::narrow`]).
#[derive(Debug, Clone, Serialize)]
pub struct Workload<O = OpDef> {
    pub name: String,
    pub target: String,
    /// None only for http targets, which take no dataset.
    pub dataset: Option<String>,
    pub definition_file: PathBuf,
    /// The workload file's `description` (a captured file says where and when from).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub ops: Vec<WeightedOp<O>>,
    /// Result size whose recall is measured (vector searches).
    pub k: Option<u32>,
    /// Set when this workload is one point of a sweep.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepPoint>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WeightedOp<O = OpDef> {
    pub name: String,
    pub weight: u32,
    pub def: O,
}

impl Workload {
    /// This workload with its ops as a store's own type: what a target of that store runs.
    /// Fails (a usage error) on an op of another store, which `load` already refuses.
    pub fn narrow<O: TryFrom<OpDef, Error = OpDef>>(&self) -> Result<Workload<O>> {
        let ops = self
            .ops
            .iter()
            .map(|o| {
                O::try_from(o.def.clone())
                    .map(|def| WeightedOp {
                        name: o.name.clone(),
                        weight: o.weight,
                        def,
                    })
                    .map_err(|_| {
                        Error::Usage(format!(
                            "workload {}: op {} does not fit target {}'s kind of store",
                            self.name, o.name, self.target
                        ))
                    })
            })
            .collect::<Result<_>>()?;
        Ok(Workload {
            name: self.name.clone(),
            target: self.target.clone(),
            dataset: self.dataset.clone(),
            definition_file: self.definition_file.clone(),
            description: self.description.clone(),
            ops,
            k: self.k,
            sweep: self.sweep.clone(),
        })
    }
}

/// A profile file applied to one target; `P` as for [`Workload`]'s ops.
#[derive(Debug, Clone, Serialize)]
pub struct AppliedFile<P = ProfileDef> {
    pub file: PathBuf,
    pub profile: P,
}

impl AppliedFile {
    /// This file with its profile as a store's own type (see [`Workload::narrow`]).
    pub fn narrow<P: TryFrom<ProfileDef, Error = ProfileDef>>(&self) -> Result<AppliedFile<P>> {
        P::try_from(self.profile.clone())
            .map(|profile| AppliedFile {
                file: self.file.clone(),
                profile,
            })
            .map_err(|_| {
                Error::Usage(format!(
                    "profile file {} does not fit its target's kind of store",
                    self.file.display()
                ))
            })
    }
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

/// A workload definition file: which store it is for and its named operations.
#[derive(Debug, Clone)]
pub struct WorkloadDef {
    pub store: TargetKind,
    pub description: String,
    pub ops: BTreeMap<String, OpDef>,
}

/// The file as written for one store; `ops` is typed per store.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadFile<Op> {
    #[allow(dead_code)]
    store: TargetKind,
    #[serde(default)]
    pub description: String,
    pub ops: BTreeMap<String, Op>,
}

/// One operation, by store.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum OpDef {
    Sql(SqlOp),
    Cypher(CypherOp),
    S3(S3Op),
    Http(HttpOp),
    Qdrant(QdrantOp),
}

impl OpDef {
    /// What results.json records of the op's declared sources (`op`: its name): each with
    /// its position in `params` and, for a named parameter (Cypher `$name`), its name.
    pub fn source_records(&self, op: &str) -> Vec<crate::dataset::sources::SourceRecord> {
        match self {
            OpDef::Sql(s) => s
                .params
                .iter()
                .enumerate()
                .filter_map(|(i, p)| p.source().map(|s| s.record(op, i)))
                .collect(),
            OpDef::Cypher(c) => named_records(op, &c.params),
            OpDef::Http(h) => named_records(op, &h.params),
            OpDef::Qdrant(q) => match (&q.collection, &q.vectors) {
                (Some(c), Some(v)) => {
                    let read = v.read.get();
                    vec![crate::dataset::sources::SourceRecord {
                        op: op.to_string(),
                        param: 0,
                        name: None,
                        from: "vectors".into(),
                        source: v.describe(c),
                        rows: read.map(|r| r.0.len() as u64),
                        sha256: read.map(|r| r.1.clone()),
                        bytes: None,
                    }]
                }
                _ => Vec::new(),
            },
            OpDef::S3(_) => Vec::new(),
        }
    }
}

/// The source records of named parameters (Cypher `$name`, HTTP `{name}`).
fn named_records<G: Copy>(
    op: &str,
    params: &BTreeMap<String, crate::dataset::Param<G>>,
) -> Vec<crate::dataset::sources::SourceRecord> {
    params
        .iter()
        .enumerate()
        .filter_map(|(i, (name, p))| {
            let mut r = p.source()?.record(op, i);
            r.name = Some(name.clone());
            Some(r)
        })
        .collect()
}

/// `TryFrom<Enum>` for each store's own type in a by-store enum: one line per store.
macro_rules! by_store {
    ($enum:ident { $($variant:ident($ty:ty)),* $(,)? }) => {
        $(impl TryFrom<$enum> for $ty {
            type Error = $enum;
            fn try_from(v: $enum) -> std::result::Result<Self, $enum> {
                match v {
                    $enum::$variant(x) => Ok(x),
                    #[allow(unreachable_patterns)]
                    other => Err(other),
                }
            }
        })*
    };
}
by_store!(OpDef {
    Sql(SqlOp),
    Cypher(CypherOp),
    S3(S3Op),
    Http(HttpOp),
    Qdrant(QdrantOp),
});
by_store!(TargetOptions {
    Neo4j(NeoTarget),
    S3(S3Target),
    Qdrant(QdrantTarget),
});
by_store!(ProfileDef {
    Postgres(PgProfile),
    Neo4j(NeoProfile),
    S3(S3Profile),
    Qdrant(QdrantProfile),
});

/// HTTP targets take no profile (`load` refuses one).
impl TryFrom<ProfileDef> for std::convert::Infallible {
    type Error = ProfileDef;
    fn try_from(v: ProfileDef) -> std::result::Result<Self, ProfileDef> {
        Err(v)
    }
}

impl ProfileDef {
    /// The kind of target this profile is for.
    pub fn kind(&self) -> TargetKind {
        match self {
            ProfileDef::Postgres(_) => TargetKind::Postgres,
            ProfileDef::Neo4j(_) => TargetKind::Neo4j,
            ProfileDef::S3(_) => TargetKind::S3,
            ProfileDef::Qdrant(_) => TargetKind::Qdrant,
        }
    }

    /// Problems of this profile on `target` that need no server to find (the store's own
    /// `spec::profile_problems`); `has_dataset`: the scenario puts a dataset on the target.
    pub fn problems(&self, target: &Target, has_dataset: bool) -> Vec<String> {
        match (self, &target.options) {
            (ProfileDef::Postgres(p), _) => {
                super::postgres::spec::profile_problems(target, p, has_dataset)
            }
            (ProfileDef::Neo4j(p), TargetOptions::Neo4j(o)) => {
                super::neo4j::spec::profile_problems(target, o, p)
            }
            (ProfileDef::S3(p), TargetOptions::S3(o)) => {
                super::s3::spec::profile_problems(target, o, p, has_dataset)
            }
            (ProfileDef::Qdrant(p), _) => {
                super::qdrant::spec::profile_problems(target, p, has_dataset)
            }
            // A profile file is read by its target's kind, so this pairing is not built.
            (p, _) => vec![format!(
                "is a {} profile; target {} is kind = \"{}\"",
                p.kind().name(),
                target.name,
                target.kind.name()
            )],
        }
    }
}

/// What a store's part of the input files is: each arm hands over to the store's `spec`.
impl TargetKind {
    /// What a target URL of this kind must look like.
    pub fn url_expected(self) -> &'static str {
        match self {
            TargetKind::Postgres => super::postgres::spec::URL_EXPECTED,
            TargetKind::Neo4j => super::neo4j::spec::URL_EXPECTED,
            TargetKind::S3 => super::s3::spec::URL_EXPECTED,
            TargetKind::Http => super::http::spec::URL_EXPECTED,
            TargetKind::Qdrant => super::qdrant::spec::URL_EXPECTED,
        }
    }

    /// Whether `url` has the form a target of this kind takes.
    pub fn url_fits(self, url: &str) -> bool {
        match self {
            TargetKind::Postgres => super::postgres::spec::url_fits(url),
            TargetKind::Neo4j => super::neo4j::spec::url_fits(url),
            TargetKind::S3 => super::s3::spec::url_fits(url),
            TargetKind::Http => super::http::spec::url_fits(url),
            TargetKind::Qdrant => super::qdrant::spec::url_fits(url),
        }
    }

    /// Why `url` would fail to parse when a run connects (the parser the run uses).
    pub fn url_parse_problem(self, url: &str) -> Option<String> {
        let why = match self {
            TargetKind::Postgres => super::postgres::spec::url_parse_problem(url),
            _ => match reqwest::Url::parse(url) {
                Err(e) => Some(e.to_string()),
                Ok(u) if !u.has_host() => Some("no host".to_string()),
                Ok(_) => None,
            },
        };
        // The parser's words may quote the URL.
        why.map(|w| crate::secrets::scrub(&w))
    }

    /// Whether a target of this kind holds a dataset of this kind.
    pub fn holds(self, dataset: &DatasetSpec) -> bool {
        match dataset {
            DatasetSpec::Documents(_) => self == TargetKind::Postgres,
            DatasetSpec::Vectors(_) => matches!(self, TargetKind::Postgres | TargetKind::Qdrant),
            DatasetSpec::Graph(_) => self == TargetKind::Neo4j,
            DatasetSpec::Objects(_) => self == TargetKind::S3,
        }
    }

    /// The fields a target of this kind takes beside kind, url, pool and restart_command.
    pub fn target_fields(self) -> &'static [&'static str] {
        match self {
            TargetKind::Neo4j => super::neo4j::spec::TARGET_FIELDS,
            TargetKind::S3 => super::s3::spec::TARGET_FIELDS,
            TargetKind::Qdrant => super::qdrant::spec::TARGET_FIELDS,
            TargetKind::Postgres | TargetKind::Http => &[],
        }
    }

    /// Reads a target's own options (its fields checked against `target_fields` first).
    pub fn target_options(self, fields: &mut TargetFields<'_>) -> TargetOptions {
        match self {
            TargetKind::Neo4j => TargetOptions::Neo4j(super::neo4j::spec::target_options(fields)),
            TargetKind::S3 => TargetOptions::S3(super::s3::spec::target_options(fields)),
            TargetKind::Qdrant => {
                TargetOptions::Qdrant(super::qdrant::spec::target_options(fields))
            }
            TargetKind::Postgres | TargetKind::Http => TargetOptions::None,
        }
    }

    /// What is wrong with a workload on this kind that can be told without a server, as
    /// (field under the workload, message): e.g. a sweep value the store cannot take.
    pub fn workload_problems(self, w: &WorkloadProbe<'_>) -> Vec<(String, String)> {
        match self {
            TargetKind::Qdrant => super::qdrant::spec::workload_problems(w),
            TargetKind::Postgres => super::postgres::spec::foreign_problems(w),
            TargetKind::Neo4j => super::neo4j::spec::foreign_problems(w),
            TargetKind::S3 => super::s3::spec::workload_problems(w),
            TargetKind::Http => Vec::new(),
        }
    }

    /// Reads a workload file's ops for this store.
    pub fn load_ops(self, src: &crate::source::SourceFile) -> Result<WorkloadDef> {
        match self {
            TargetKind::Postgres => super::postgres::spec::load_ops(src),
            TargetKind::Neo4j => super::neo4j::spec::load_ops(src),
            TargetKind::S3 => super::s3::spec::load_ops(src),
            TargetKind::Http => super::http::spec::load_ops(src),
            TargetKind::Qdrant => super::qdrant::spec::load_ops(src),
        }
    }

    /// Reads a profile file for this store; None for a store that takes no profile.
    pub fn load_profile(self, path: &std::path::Path) -> Option<Result<ProfileDef>> {
        Some(match self {
            TargetKind::Postgres => {
                super::postgres::spec::load_profile(path).map(ProfileDef::Postgres)
            }
            TargetKind::Neo4j => super::neo4j::spec::load_profile(path).map(ProfileDef::Neo4j),
            TargetKind::S3 => super::s3::spec::load_profile(path).map(ProfileDef::S3),
            TargetKind::Http => return None,
            TargetKind::Qdrant => super::qdrant::spec::load_profile(path).map(ProfileDef::Qdrant),
        })
    }
}

pub use super::target::{TargetFields, run_restart_command, target_error};

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;

/// A workload as `tunebench validate` sees it, for a store's own checks.
pub struct WorkloadProbe<'a> {
    pub ops: Vec<&'a OpDef>,
    /// The ops' names, in the same order.
    pub op_names: Vec<&'a str>,
    /// The workload names no dataset: it runs on the target's existing data, which
    /// tunebench did not create (read only).
    pub foreign: bool,
    /// The target says `allow_writes = true`.
    pub allow_writes: bool,
    /// The dataset's vectors come from files (no generator for fresh points).
    pub dataset_from_files: bool,
    /// The sweep's setting and its values, as the workers would be given them.
    pub sweep: Option<(&'a str, Vec<String>)>,
}
