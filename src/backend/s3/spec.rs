//! This store's part of the input files: its ops (workload files) and its profile format,
//! with the checks that need no server.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::backend::model::{OpDef, TargetKind, WorkloadDef, WorkloadFile};
use crate::error::{Error, Result};
use crate::source::{SourceFile, parse_size};

/// One S3 operation. Sizes are written like `64MiB`, `512KiB`, `1MB` or a byte count.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum S3Op {
    /// CreateMultipartUpload, UploadPart with `parts_in_flight` parts at once, Complete.
    MultipartUpload {
        object_size: String,
        part_size: String,
        parts_in_flight: u32,
    },
    /// One PutObject of `size` bytes.
    Put { size: String },
    /// GetObject of a dataset object, whole or `range` bytes of it, verified byte for byte;
    /// or, on a workload without dataset, of an object listed under `bucket`/`prefix`
    /// (a bucket tunebench did not create: its length checked, its bytes only read).
    Get {
        #[serde(default)]
        range: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bucket: Option<String>,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        prefix: String,
    },
    /// HeadObject of a dataset object, or of one listed under `bucket`/`prefix`.
    Head {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bucket: Option<String>,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        prefix: String,
    },
    /// One ListObjectsV2 page over the dataset's objects, or under `bucket`/`prefix`.
    List {
        #[serde(default = "default_max_keys")]
        max_keys: i32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bucket: Option<String>,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        prefix: String,
    },
    /// DeleteObject of an object this worker wrote with `put` (the oldest one it still has).
    Delete,
}

fn default_max_keys() -> i32 {
    1000
}

/// Where a read op of a workload without dataset reads: a bucket tunebench did not create,
/// and a prefix of it (its objects are listed once, before any clock).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Place {
    pub bucket: String,
    pub prefix: String,
}

/// The most keys a listing of an existing bucket keeps (the objects GET and HEAD draw from).
pub const MAX_LISTED: usize = 100_000;

/// What is wrong with an S3 workload, by whether it names a dataset: on a bucket tunebench
/// did not create (no dataset) only reads run, each naming its bucket; on a dataset the
/// dataset's bucket is used.
pub fn workload_problems(w: &crate::backend::model::WorkloadProbe<'_>) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for (j, op) in w.ops.iter().enumerate() {
        let OpDef::S3(op) = op else { continue };
        let at = format!("ops[{j}].op");
        let name = w.op_names.get(j).copied().unwrap_or_default();
        let place = match op {
            S3Op::Get { bucket, prefix, .. }
            | S3Op::Head { bucket, prefix }
            | S3Op::List { bucket, prefix, .. } => Some((bucket, prefix)),
            _ => None,
        };
        match (w.foreign, place) {
            (true, None) => problems.push((at, format!(
                "op `{name}` writes (kind = {}); the workload names no dataset, so it would run on a bucket tunebench did not create, which it only reads (get, head, list)",
                op.kind()
            ))),
            (true, Some((bucket, _))) if bucket.as_deref().is_none_or(str::is_empty) => problems.push((at, format!(
                "op `{name}` names no bucket; the workload names no dataset, so each read names the bucket (and prefix) it reads: bucket = \"my-bucket\", prefix = \"images/\""
            ))),
            (false, Some((bucket, prefix))) if bucket.is_some() || !prefix.is_empty() => problems.push((at, format!(
                "op `{name}` names a bucket or prefix, but the workload reads its dataset's bucket; remove them, or remove the workload's dataset to read a bucket tunebench did not create"
            ))),
            _ => {}
        }
    }
    problems
}

impl S3Op {
    /// The bucket and prefix a read names (a workload without dataset), if it names one.
    pub fn place(&self) -> Option<Place> {
        match self {
            S3Op::Get { bucket, prefix, .. }
            | S3Op::Head { bucket, prefix }
            | S3Op::List { bucket, prefix, .. } => bucket.as_ref().map(|b| Place {
                bucket: b.clone(),
                prefix: prefix.clone(),
            }),
            _ => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            S3Op::MultipartUpload { .. } => "multipart_upload",
            S3Op::Put { .. } => "put",
            S3Op::Get { .. } => "get",
            S3Op::Head { .. } => "head",
            S3Op::List { .. } => "list",
            S3Op::Delete => "delete",
        }
    }
}

/// S3's smallest part (except the last one) and largest part count.
pub const MIN_PART_SIZE: u64 = 5 << 20;

pub const MAX_PART_SIZE: u64 = 64 << 20;

pub const MAX_PARTS: u64 = 10_000;

/// Highest `$n` in the statement.
pub fn load_ops(src: &SourceFile) -> Result<WorkloadDef> {
    let file: WorkloadFile<S3Op> = src.parse()?;
    let mut issues = Vec::new();
    let size = |issues: &mut Vec<_>, field: String, text: &str| -> Option<u64> {
        let v = parse_size(text).filter(|v| *v > 0);
        if v.is_none() {
            issues.push(src.issue(
                &field,
                format!("`{text}` is not a size; write e.g. \"64MiB\", \"512KiB\" or \"1MB\""),
            ));
        }
        v
    };
    for (name, op) in &file.ops {
        let f = |k: &str| format!("ops.{name}.{k}");
        match op {
            S3Op::MultipartUpload {
                object_size,
                part_size,
                parts_in_flight,
            } => {
                let obj = size(&mut issues, f("object_size"), object_size);
                let part = size(&mut issues, f("part_size"), part_size);
                if let Some(p) = part
                    && !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&p)
                {
                    issues.push(src.issue(&f("part_size"), format!("{part_size} is outside 5MiB..64MiB: S3 refuses parts below 5 MiB (except the last)")));
                }
                if let (Some(o), Some(p)) = (obj, part) {
                    if o < MIN_PART_SIZE {
                        issues.push(src.issue(&f("object_size"), format!("{object_size} is smaller than the minimum part size (5MiB); use kind = \"put\" for small objects")));
                    } else if o.div_ceil(p) > MAX_PARTS {
                        issues.push(src.issue(
                            &f("part_size"),
                            "the object would need more than 10,000 parts; raise part_size",
                        ));
                    }
                }
                if *parts_in_flight == 0 || *parts_in_flight > 64 {
                    issues.push(src.issue(&f("parts_in_flight"), "must be between 1 and 64"));
                }
            }
            S3Op::Put { size: s } => {
                if let Some(v) = size(&mut issues, f("size"), s)
                    && v > 5 << 30
                {
                    issues.push(src.issue(&f("size"), "a single PUT takes at most 5GiB"));
                }
            }
            S3Op::Get { range: Some(r), .. } => {
                size(&mut issues, f("range"), r);
            }
            S3Op::Get { range: None, .. } | S3Op::Head { .. } | S3Op::Delete => {}
            S3Op::List { max_keys, .. } => {
                if !(1..=1000).contains(max_keys) {
                    issues.push(src.issue(&f("max_keys"), "must be between 1 and 1000"));
                }
            }
        }
    }
    if issues.is_empty() {
        Ok(WorkloadDef {
            store: TargetKind::S3,
            description: file.description,
            ops: file
                .ops
                .into_iter()
                .map(|(k, v)| (k, OpDef::S3(v)))
                .collect(),
        })
    } else {
        Err(Error::Input(issues))
    }
}

/// An S3 profile: bucket configuration applied to the dataset's `tunebench-` bucket, and
/// the harness's own client tuning. Every field is optional; what is absent is left alone.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Profile {
    pub store: TargetKind,
    #[serde(default)]
    pub description: String,
    /// `enabled` or `suspended` (S3 cannot return a bucket to "never versioned").
    pub versioning: Option<String>,
    /// Bucket policy JSON; `${bucket}` is replaced by the bucket's name.
    pub policy: Option<String>,
    #[serde(default)]
    pub lifecycle: Vec<LifecycleRule>,
    #[serde(default)]
    pub client: ClientTuning,
    #[serde(default)]
    pub server: ServerSettings,
}

/// MinIO server settings, applied through the target's settings file and restart command.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Erasure-coding parity of new objects (`MINIO_STORAGE_CLASS_STANDARD=EC:N`), 0..=2 on
    /// the stack's 4-drive set.
    pub parity: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LifecycleRule {
    pub id: String,
    #[serde(default)]
    pub prefix: String,
    /// Expire current versions this many days after creation.
    pub expire_days: Option<i32>,
    /// Remove noncurrent versions this many days after they became noncurrent.
    pub noncurrent_days: Option<i32>,
    /// Abort multipart uploads still incomplete this many days after they started.
    pub abort_incomplete_days: Option<i32>,
}

/// Overrides of the workload's multipart settings, for client-side tuning profiles.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClientTuning {
    pub part_size: Option<String>,
    pub parts_in_flight: Option<u32>,
}

pub fn load_profile(path: &Path) -> Result<S3Profile> {
    let src = SourceFile::read(path)?;
    let profile: S3Profile = src.parse()?;
    let mut issues = Vec::new();
    if profile.store != TargetKind::S3 {
        issues.push(src.issue(
            "store",
            "a profile for an s3 target must say store = \"s3\"",
        ));
    }
    if let Some(v) = &profile.versioning
        && v != "enabled"
        && v != "suspended"
    {
        issues.push(src.issue("versioning", format!("`{v}`: valid: enabled, suspended")));
    }
    if let Some(p) = &profile.policy
        && serde_json::from_str::<serde_json::Value>(&p.replace("${bucket}", "b")).is_err()
    {
        issues.push(src.issue("policy", "is not JSON; write the policy document as a JSON string (${bucket} is replaced by the bucket)"));
    }
    let mut ids = std::collections::BTreeSet::new();
    for (i, r) in profile.lifecycle.iter().enumerate() {
        if r.id.is_empty() || !ids.insert(r.id.clone()) {
            issues.push(src.issue(
                &format!("lifecycle[{i}].id"),
                "must be non-empty and unique",
            ));
        }
        let days = [r.expire_days, r.noncurrent_days, r.abort_incomplete_days];
        if days.iter().all(Option::is_none) {
            issues.push(src.issue(
                &format!("lifecycle[{i}]"),
                "set at least one of expire_days, noncurrent_days, abort_incomplete_days",
            ));
        }
        if days.iter().flatten().any(|d| *d < 1) {
            issues.push(src.issue(&format!("lifecycle[{i}]"), "days must be at least 1"));
        }
    }
    if let Some(ps) = &profile.client.part_size {
        match crate::source::parse_size(ps) {
            Some(v) if (MIN_PART_SIZE..=MAX_PART_SIZE).contains(&v) => {}
            _ => issues.push(src.issue(
                "client.part_size",
                format!("`{ps}`: a size between 5MiB and 64MiB, e.g. \"16MiB\""),
            )),
        }
    }
    if profile
        .client
        .parts_in_flight
        .is_some_and(|n| n == 0 || n > 64)
    {
        issues.push(src.issue("client.parts_in_flight", "must be between 1 and 64"));
    }
    if issues.is_empty() {
        Ok(profile)
    } else {
        Err(Error::Input(issues))
    }
}

/// An s3 target's own options.
#[derive(Debug, Clone)]
pub struct S3Target {
    /// An identity, not a secret: results show it.
    pub access_key: String,
    /// Never serialized or logged.
    pub secret_key: String,
    pub region: Option<String>,
    /// MinIO's settings file (relative to the target's `workdir`), read at each restart.
    pub settings_file: Option<String>,
}

/// The fields an s3 target takes beside kind, url, pool and restart_command.
pub const TARGET_FIELDS: &[&str] = &["access_key", "secret_key", "region", "settings_file"];

pub fn target_options(f: &mut crate::backend::model::TargetFields<'_>) -> S3Target {
    let access_key = f.text("access_key");
    let secret_key = f.secret("secret_key");
    for (name, v) in [("access_key", &access_key), ("secret_key", &secret_key)] {
        if v.as_deref().is_none_or(str::is_empty) {
            f.problem(
                Some(name),
                format!(
                    "an s3 target needs {name}, e.g. {name} = \"${{TUNEBENCH_S3_{}}}\"",
                    name.to_ascii_uppercase()
                ),
            );
        }
    }
    S3Target {
        access_key: access_key.unwrap_or_default(),
        secret_key: secret_key.unwrap_or_default(),
        region: f.text("region"),
        settings_file: f.text("settings_file"),
    }
}

/// What can be told about a profile for `target` (whose own options are `options`) without
/// a server (`has_dataset`: the scenario puts an objects dataset, hence a bucket, on the
/// target).
pub fn profile_problems(
    target: &crate::backend::model::Target,
    options: &S3Target,
    profile: &S3Profile,
    has_dataset: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    let bucket =
        profile.versioning.is_some() || profile.policy.is_some() || !profile.lifecycle.is_empty();
    if bucket && !has_dataset {
        out.push(format!(
            "target {} has no objects dataset, so there is no bucket to configure; add one on it",
            target.name
        ));
    }
    if profile.server.parity.is_some()
        && (options.settings_file.is_none() || target.restart_command.is_none())
    {
        out.push(format!(
            "sets [server] parity, which MinIO reads at start: targets.{} needs settings_file (e.g. \"${{TUNEBENCH_CACHE:-../.cache}}/minio/env\") and restart_command (e.g. \"../scripts/stack restart minio\")",
            target.name
        ));
    }
    out
}

/// What a target URL must look like, and whether `url` does (checked without connecting).
pub const URL_EXPECTED: &str =
    "an S3 endpoint; expected http://HOST:PORT (keys go in access_key / secret_key, not the URL)";

pub fn url_fits(url: &str) -> bool {
    (url.starts_with("http://") || url.starts_with("https://"))
        && !url.contains('@')
        && url.len() > "https://".len()
}
