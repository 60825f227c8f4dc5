//! Recovery drills (`[[workload]] kind = "drill"`): a backup taken of a dataset, restored into
//! a scratch copy that tunebench creates and removes, the copy compared with the source by
//! content, and every step timed. A drill never writes to its source: it reads it, and
//! restores only into scratch objects named `tunebench_restore_…` / `tunebench-restore-…`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::backend::model::TargetKind;
use crate::error::{Error, Result};

/// How a store backs up and restores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrillMethod {
    /// PostgreSQL: `pg_dump -Fc` of the dataset's schema, `pg_restore` into a scratch database.
    Logical,
    /// PostgreSQL: `pg_basebackup` and the WAL archive, a writer until the failure, recovery
    /// of a scratch server from the archive as it was then; RPO measured.
    Pitr,
    /// Neo4j: every node and relationship of the dataset exported through Bolt (gzip'd JSON
    /// Lines), imported into scratch labels of the same database.
    Export,
    /// Qdrant: a snapshot of the collection (server) or a copy of the flushed shard
    /// (embedded), restored as a scratch collection whose index is rebuilt.
    Snapshot,
    /// S3: every object of the dataset's bucket copied to a local backup folder, then
    /// uploaded into a scratch bucket.
    Mirror,
}

/// The methods there are, per kind of store (validation lists them).
pub const METHODS: &[(TargetKind, DrillMethod)] = &[
    (TargetKind::Postgres, DrillMethod::Logical),
    (TargetKind::Postgres, DrillMethod::Pitr),
    (TargetKind::Neo4j, DrillMethod::Export),
    (TargetKind::Qdrant, DrillMethod::Snapshot),
    (TargetKind::S3, DrillMethod::Mirror),
];

impl DrillMethod {
    pub fn name(self) -> &'static str {
        match self {
            DrillMethod::Logical => "logical",
            DrillMethod::Pitr => "pitr",
            DrillMethod::Export => "export",
            DrillMethod::Snapshot => "snapshot",
            DrillMethod::Mirror => "mirror",
        }
    }

    /// The method called `name` for a target of `kind`, or what would be valid there.
    pub fn parse(name: &str, kind: TargetKind) -> std::result::Result<Self, String> {
        let valid: Vec<DrillMethod> = METHODS
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, m)| *m)
            .collect();
        if let Some(m) = valid.iter().find(|m| m.name() == name) {
            return Ok(*m);
        }
        if valid.is_empty() {
            let stores: Vec<String> = METHODS
                .iter()
                .map(|(k, m)| format!("{} ({})", k.name(), m.name()))
                .collect();
            return Err(format!(
                "a {} target has no recovery drill in this version; drills run on {}",
                kind.name(),
                stores.join(", ")
            ));
        }
        let names: Vec<&str> = valid.iter().map(|m| m.name()).collect();
        Err(format!(
            "`{name}` is not a drill method of a {} target; valid: {}",
            kind.name(),
            names.join(", ")
        ))
    }
}

/// A fault a drill plants in its own backup, to show that its verification catches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// The backup (or, for a mirror, its largest object) cut to half its length.
    TruncateBackup,
}

impl Fault {
    pub fn parse(name: &str) -> std::result::Result<Self, String> {
        match name {
            "truncate_backup" => Ok(Fault::TruncateBackup),
            _ => Err(format!(
                "`{name}` is not a fault a drill can plant; valid: truncate_backup"
            )),
        }
    }
}

/// A drill as a scenario declares it.
#[derive(Debug, Clone, Serialize)]
pub struct Drill {
    pub name: String,
    pub target: String,
    pub dataset: String,
    pub method: DrillMethod,
    /// A fault planted in the backup before the restore (the drill must then fail).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inject: Option<Fault>,
    /// Keeps the backup files in the run folder (removed otherwise).
    pub keep_backup: bool,
    /// Folder of the store's own tools (`pg_dump`, `pg_restore`); default: the
    /// `TUNEBENCH_PG_BIN` variable, then `PATH`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<PathBuf>,
    /// Parallel jobs of the restore where the tool takes them (`pg_restore -j`).
    pub jobs: u32,
    /// The backup's compression where the tool takes it (`pg_dump -Z`); its default when
    /// unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compress: Option<String>,
    /// PITR: the folder the server archives WAL into, as this process reads it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive: Option<PathBuf>,
    /// PITR: rows the writer commits per second until the failure (default 20).
    pub writer_rate: f64,
    /// PITR: how long the writer runs before the failure (default 10 s).
    #[serde(serialize_with = "seconds")]
    pub writer_for: std::time::Duration,
    /// PITR: recover to this long before the failure (a point-in-time target) rather than
    /// to the end of the archive.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_seconds"
    )]
    pub recover_to: Option<std::time::Duration>,
}

fn opt_seconds<S: serde::Serializer>(
    d: &Option<std::time::Duration>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_f64(d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

fn seconds<S: serde::Serializer>(
    d: &std::time::Duration,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Where and for what a drill runs.
pub struct DrillRun<'a> {
    pub profile: &'a str,
    pub trial: u32,
    /// The drill's own folder for its backup files (inside the run's `--out`).
    pub dir: &'a Path,
}

impl DrillReport {
    /// An empty report of `drill` under `run`, filled in as the steps go.
    pub fn start(drill: &Drill, run: &DrillRun<'_>, how: String) -> Self {
        DrillReport {
            drill: drill.name.clone(),
            target: drill.target.clone(),
            method: drill.method,
            profile: run.profile.to_string(),
            trial: run.trial,
            how,
            steps: Vec::new(),
            source_bytes: None,
            backup_bytes: None,
            backup_s: None,
            restore_s: None,
            rto_s: None,
            rpo_s: None,
            rpo_rows: None,
            integrity: Integrity::not_compared("the restore did not complete"),
            failure: None,
            injected: drill.inject,
            cleaned_up: false,
        }
    }
}

/// What one drill measured under one profile in one trial.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DrillReport {
    pub drill: String,
    pub target: String,
    pub method: DrillMethod,
    pub profile: String,
    pub trial: u32,
    /// How the backup was taken and restored, tools and versions named.
    pub how: String,
    /// Every step in order, timed.
    pub steps: Vec<DrillStep>,
    /// Size of the source data on the server (bytes), where the store reports it.
    pub source_bytes: Option<u64>,
    /// Size of the backup as stored (compressed where the method compresses).
    pub backup_bytes: Option<u64>,
    pub backup_s: Option<f64>,
    pub restore_s: Option<f64>,
    /// Recovery time: from the start of the restore until the restored copy answers the
    /// readiness query (rows / objects all there).
    pub rto_s: Option<f64>,
    /// Data lost, where a writer ran until the failure (none for a backup of data at rest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpo_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpo_rows: Option<u64>,
    pub integrity: Integrity,
    /// The step that failed and why; the drill then fails whatever the criteria say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The fault planted in the backup, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub injected: Option<Fault>,
    /// The scratch objects (database, bucket) and backup files were removed afterwards.
    pub cleaned_up: bool,
}

impl DrillReport {
    pub fn passed(&self) -> bool {
        self.failure.is_none() && self.integrity.verdict == Verdict::Ok
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DrillStep {
    pub step: String,
    pub seconds: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every item compared equal.
    Ok,
    /// Something differs: `differences` says what.
    Differs,
    /// Not compared (the restore failed first).
    NotCompared,
}

/// The restored copy compared with the source, item by item (tables, objects).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Integrity {
    pub verdict: Verdict,
    /// What was compared and how, e.g. "3 tables: row count and sum of row hashes".
    pub compared: String,
    /// Items compared.
    pub items: u64,
    /// Each difference, named (at most 20; `more_differences` counts the rest).
    pub differences: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub more_differences: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Integrity {
    pub fn not_compared(why: &str) -> Self {
        Integrity {
            verdict: Verdict::NotCompared,
            compared: why.to_string(),
            items: 0,
            differences: Vec::new(),
            more_differences: 0,
        }
    }

    /// The verdict of `differences` found over `items` items.
    pub fn of(compared: String, items: u64, differences: Vec<String>) -> Self {
        let more = differences.len().saturating_sub(MAX_SHOWN) as u64;
        let verdict = if differences.is_empty() {
            Verdict::Ok
        } else {
            Verdict::Differs
        };
        Integrity {
            verdict,
            compared,
            items,
            differences: differences.into_iter().take(MAX_SHOWN).collect(),
            more_differences: more,
        }
    }
}

const MAX_SHOWN: usize = 20;

/// Records a drill's steps as they run.
pub struct Steps {
    pub steps: Vec<DrillStep>,
}

impl Steps {
    pub fn new() -> Self {
        Steps { steps: Vec::new() }
    }

    /// Runs one step, timing it; a failure is recorded and returned as the drill's reason.
    pub async fn run<T, F>(&mut self, step: &str, f: F) -> std::result::Result<T, String>
    where
        F: std::future::Future<Output = std::result::Result<(T, Option<u64>, String), String>>,
    {
        let t0 = Instant::now();
        let r = f.await;
        let seconds = t0.elapsed().as_secs_f64();
        match r {
            Ok((v, bytes, detail)) => {
                self.steps.push(DrillStep {
                    step: step.to_string(),
                    seconds,
                    bytes,
                    ok: true,
                    detail,
                });
                Ok(v)
            }
            Err(e) => {
                let e = crate::secrets::scrub(&e);
                self.steps.push(DrillStep {
                    step: step.to_string(),
                    seconds,
                    bytes: None,
                    ok: false,
                    detail: e.clone(),
                });
                Err(format!("{step}: {e}"))
            }
        }
    }

    /// Seconds of the named steps together (None when one of them did not run).
    pub fn seconds(&self, names: &[&str]) -> Option<f64> {
        let mut total = 0.0;
        for n in names {
            total += self.steps.iter().find(|s| s.step == *n && s.ok)?.seconds;
        }
        Some(total)
    }
}

impl Default for Steps {
    fn default() -> Self {
        Self::new()
    }
}

/// A suffix that makes a drill's scratch names its own: the process and a counter.
pub fn scratch_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// True when `name` is a scratch object (`PREFIX<pid>_<n>`, `-` for `_` in bucket names)
/// left by a drill whose process is no longer running on this host: a crash or a kill
/// between its creation and its removal. The next drill removes it.
pub fn left_by_dead_process(name: &str, prefix: &str) -> bool {
    stale(name, prefix, false)
}

/// True when `name` is a scratch object to remove: one of a process that no longer runs,
/// and with `own` also one of this process (whose drill an interrupt dropped).
pub fn stale(name: &str, prefix: &str, own: bool) -> bool {
    let Some(rest) = name.strip_prefix(prefix) else {
        return false;
    };
    let Some(pid) = rest
        .split(['_', '-'])
        .next()
        .and_then(|p| p.parse::<u32>().ok())
    else {
        return false;
    };
    if pid == std::process::id() {
        return own;
    }
    !Path::new(&format!("/proc/{pid}")).exists()
}

/// An item's hash for an order-independent fingerprint: SHA-256 of its text and of its
/// JSON with object keys sorted, folded to 64 bits.
pub fn item_hash(text: &str, json: &serde_json::Value) -> u64 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(text.as_bytes());
    h.update([0u8]);
    h.update(canonical_json(json).as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_le_bytes(b)
}

/// JSON with every object's keys sorted, whatever order they came in.
pub fn canonical_json(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", Value::String((*k).clone()), canonical_json(&m[*k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical_json).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

/// Refuses to start when the folder's file system has less free space than `needed` bytes
/// (plus a tenth for what the tools write besides).
pub fn check_disk(dir: &Path, needed: u64, what: &str) -> Result<()> {
    let free = free_bytes(dir).map_err(|e| {
        Error::target(
            format!("drill: {what}"),
            format!("cannot read the free space of {}: {e}", dir.display()),
        )
    })?;
    let want = needed + needed / 10;
    if free < want {
        return Err(Error::target(
            format!("drill: {what}"),
            format!(
                "needs about {} free in {} for the backup, but {} is free; free some space or set --out elsewhere",
                human_bytes(want),
                dir.display(),
                human_bytes(free)
            ),
        ));
    }
    Ok(())
}

fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statvfs.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(st.f_bavail as u64 * st.f_frsize as u64)
}

/// Bytes as the report prints them (binary units).
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Bytes of the files directly in a folder (0 when it cannot be read).
pub fn folder_bytes(folder: &Path) -> u64 {
    std::fs::read_dir(folder)
        .map(|d| {
            d.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Cuts a file to half its length (the planted fault); returns the new length.
pub fn truncate_half(path: &Path) -> std::io::Result<u64> {
    let len = std::fs::metadata(path)?.len();
    let half = len / 2;
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)?
        .set_len(half)?;
    Ok(half)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_per_store_and_name_the_valid_ones() {
        assert_eq!(
            DrillMethod::parse("logical", TargetKind::Postgres),
            Ok(DrillMethod::Logical)
        );
        let e = DrillMethod::parse("mirror", TargetKind::Postgres).unwrap_err();
        assert!(e.contains("valid: logical, pitr"), "{e}");
        let e = DrillMethod::parse("dump", TargetKind::Http).unwrap_err();
        assert!(
            e.contains("no recovery drill") && e.contains("s3 (mirror)"),
            "{e}"
        );
    }

    #[test]
    fn integrity_keeps_twenty_differences_and_counts_the_rest() {
        let i = Integrity::of(
            "objects".into(),
            30,
            (0..25).map(|n| format!("d{n}")).collect(),
        );
        assert_eq!(i.verdict, Verdict::Differs);
        assert_eq!((i.differences.len(), i.more_differences), (20, 5));
        assert_eq!(Integrity::of("x".into(), 3, vec![]).verdict, Verdict::Ok);
    }

    #[test]
    fn leftovers_are_those_of_dead_processes_only() {
        let me = std::process::id();
        assert!(!left_by_dead_process(
            &format!("tunebench_restore_{me}_0"),
            "tunebench_restore_"
        ));
        // PID 1 always runs.
        assert!(!left_by_dead_process(
            "tunebench_restore_1_0",
            "tunebench_restore_"
        ));
        assert!(left_by_dead_process(
            "tunebench-restore-4194304-2",
            "tunebench-restore-"
        ));
        assert!(!left_by_dead_process(
            "tunebench_docs",
            "tunebench_restore_"
        ));
        assert!(!left_by_dead_process(
            "tunebench_restore_x_1",
            "tunebench_restore_"
        ));
    }

    #[test]
    fn truncation_halves_the_file() {
        let dir = std::env::temp_dir().join(format!("tunebench-drill-{}", scratch_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("b");
        std::fs::write(&f, vec![7u8; 1001]).unwrap();
        assert_eq!(truncate_half(&f).unwrap(), 500);
        assert_eq!(std::fs::metadata(&f).unwrap().len(), 500);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
