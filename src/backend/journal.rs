//! The journal of applied changes. Before a profile changes anything on a server, the store
//! writes here what it is about to change and the values it replaces (its `Applied`, which is
//! what revert needs), and again before each further change. A normal revert clears it.
//!
//! One file per target (its kind, its server's address and its name) under
//! `$TUNEBENCH_CACHE/tunebench/journal/`. A run that finds one
//! refuses to measure: its "before" would be a leftover "after". `tunebench revert` restores
//! what a journal says; an interrupted run reverts from it too.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::facts::TargetChanges;
use super::model::{Target, TargetKind};
use crate::error::{Error, InputIssue, Result};

/// Journals of runs going on in this process: written, and neither cleared nor released,
/// with how many runs work under each (tests run side by side, several on one target).
static LIVE: std::sync::Mutex<std::collections::BTreeMap<PathBuf, usize>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

fn live(path: &Path, on: bool) {
    let mut runs = LIVE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if on {
        *runs.entry(path.to_path_buf()).or_default() += 1;
    } else if let Some(n) = runs.get_mut(path) {
        *n -= 1;
        if *n == 0 {
            runs.remove(path);
        }
    }
}

/// True when a run in this process is still working under this journal.
pub fn is_live(path: &Path) -> bool {
    LIVE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .contains_key(path)
}

/// Bumped when the entry's shape changes; an entry of another version is refused with the
/// file named, never guessed at.
pub const JOURNAL_VERSION: u32 = 1;

/// One server's journal: who applied what, and what revert needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub version: u32,
    /// The target's name in the scenario that applied the profile.
    pub target: String,
    pub kind: TargetKind,
    /// The server's address, credentials masked.
    pub server: String,
    /// The scenario file (absolute), so `tunebench revert` can reconnect with its credentials.
    pub scenario: PathBuf,
    pub profile: String,
    pub profile_file: String,
    /// When this entry was last written (RFC 3339), and by which process.
    pub written_at: String,
    pub pid: u32,
    /// What the profile changes and the values it replaced, for the reader.
    pub changes: TargetChanges,
    /// The store's own record, what its revert takes.
    pub applied: serde_json::Value,
}

/// Where a run journals one target's profile. Dropped without `clear` (the run failed, was
/// interrupted, or keeps the profile), its entry stays on disk as a leftover.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    target: String,
    kind: TargetKind,
    server: String,
    scenario: PathBuf,
    profile: String,
    profile_file: String,
    /// Counted in `LIVE` (from the first `record` to `clear`, `release` or drop).
    registered: std::sync::atomic::AtomicBool,
}

/// The journal folder: `$TUNEBENCH_CACHE/tunebench/journal` or `.cache/tunebench/journal`.
pub fn dir() -> PathBuf {
    crate::dataset::vectors::cache_dir().join("journal")
}

/// The journal file of one target: its server and its name (two targets of one scenario
/// may share a server, each with its own schema).
pub fn path_for(target: &Target) -> PathBuf {
    path_of(target.kind, &target.url_redacted, &target.name)
}

/// The cache file an entry (say, one read from the server) belongs to.
pub fn path_of_entry(e: &Entry) -> PathBuf {
    path_of(e.kind, &e.server, &e.target)
}

fn path_of(kind: TargetKind, server: &str, target: &str) -> PathBuf {
    let kind = format!("{kind:?}").to_lowercase();
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    h.update(b"\0");
    h.update(server.as_bytes());
    h.update(b"\0");
    h.update(target.as_bytes());
    let hex: String = h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    dir().join(format!("{kind}-{hex}.json"))
}

impl Journal {
    pub fn new(target: &Target, scenario: &Path, profile: &str, profile_file: &Path) -> Self {
        Journal {
            path: path_for(target),
            target: target.name.clone(),
            kind: target.kind,
            server: target.url_redacted.clone(),
            scenario: std::path::absolute(scenario).unwrap_or_else(|_| scenario.to_path_buf()),
            profile: profile.to_string(),
            profile_file: profile_file.display().to_string(),
            registered: false.into(),
        }
    }

    fn unregister(&self) {
        if self
            .registered
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            live(&self.path, false);
        }
    }

    /// Writes (replaces) the entry, durably, before the change it announces is made; returns
    /// it, for a store that keeps a copy on the server too.
    pub fn record<A: Serialize>(&self, applied: &A, changes: &TargetChanges) -> Result<Entry> {
        let entry = Entry {
            version: JOURNAL_VERSION,
            target: self.target.clone(),
            kind: self.kind,
            server: self.server.clone(),
            scenario: self.scenario.clone(),
            profile: self.profile.clone(),
            profile_file: self.profile_file.clone(),
            written_at: chrono::Utc::now().to_rfc3339(),
            pid: std::process::id(),
            changes: changes.clone(),
            applied: serde_json::to_value(applied).map_err(|e| self.io_error("encoding", e))?,
        };
        let text = serde_json::to_vec_pretty(&entry).map_err(|e| self.io_error("encoding", e))?;
        if !self
            .registered
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            live(&self.path, true);
        }
        write_durably(&self.path, &text).map_err(|e| self.io_error("writing", e))?;
        Ok(entry)
    }

    /// The run ends with the profile still applied (`--keep-profile`): the entry stays on
    /// disk, and from now on it is a leftover like any other.
    pub fn release(self) {}

    /// Removes the entry after the profile was reverted (missing is fine).
    pub fn clear(&self) -> Result<()> {
        self.unregister();
        clear(&self.path)
    }

    fn io_error(&self, what: &str, e: impl std::fmt::Display) -> Error {
        Error::target(
            format!("journal {}", self.path.display()),
            format!(
                "{what} the journal before changing target {}: {e}; nothing was changed by this step",
                self.target
            ),
        )
    }
}

/// Removes a journal file (missing is fine).
pub fn clear(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::target(
            format!("journal {}", path.display()),
            format!("removing it after the revert: {e}"),
        )),
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.unregister();
    }
}

fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    // One temporary file per writer: two runs of this process may journal one target.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("json.{}-{n}.tmp", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    // The rename itself must survive a crash too.
    std::fs::File::open(dir)?.sync_all()
}

/// Every journal left on the server `target` points at, whichever scenario or target name
/// wrote it. A file that is not a journal entry is bad input (exit 2) naming it: it is never
/// ignored, and never guessed at.
pub fn on_server(target: &Target) -> Result<Vec<(PathBuf, Entry)>> {
    Ok(all()?
        .into_iter()
        .filter(|(_, e)| e.kind == target.kind && e.server == target.url_redacted)
        .collect())
}

/// Reads one journal file; `None` when it does not exist.
pub fn read(path: &Path) -> Result<Option<Entry>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::target(
                format!("journal {}", path.display()),
                format!("reading it: {e}"),
            ));
        }
    };
    let entry: Entry = serde_json::from_str(&text).map_err(|e| {
        Error::input(InputIssue::new(
            path,
            format!("line {}", e.line()),
            format!(
                "is not a tunebench journal entry ({e}); it records a profile that may still be applied: restore the server by hand, then delete the file"
            ),
        ))
    })?;
    if entry.version != JOURNAL_VERSION {
        return Err(Error::input(InputIssue::new(
            path,
            "version",
            format!(
                "is {}, this tunebench reads version {JOURNAL_VERSION}; revert with the tunebench that wrote it",
                entry.version
            ),
        )));
    }
    Ok(Some(entry))
}

/// Every journal entry in the cache, oldest first.
pub fn all() -> Result<Vec<(PathBuf, Entry)>> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir()) else {
        return Ok(out);
    };
    let mut paths: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    for p in paths {
        if let Some(e) = read(&p)? {
            out.push((p, e));
        }
    }
    out.sort_by(|a, b| a.1.written_at.cmp(&b.1.written_at));
    Ok(out)
}

/// What a journal says is still applied, in words, for the refusal and `tunebench revert`.
pub fn describe(e: &Entry) -> String {
    let mut what = Vec::new();
    for s in &e.changes.settings {
        what.push(format!("setting {} (was {})", s.name, s.before));
    }
    for i in &e.changes.indexes {
        what.push(format!("index {}", i.name));
    }
    if what.is_empty() {
        what.push("its changes (see the file)".into());
    }
    format!(
        "profile `{}` ({}) applied to target {} ({}) by process {} at {} and never reverted: {}",
        e.profile,
        e.profile_file,
        e.target,
        if e.server.is_empty() {
            "embedded engine"
        } else {
            &e.server
        },
        e.pid,
        e.written_at,
        what.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_round_trips_and_is_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("postgres-x.json");
        let j = Journal {
            path: path.clone(),
            target: "pg".into(),
            kind: TargetKind::Postgres,
            server: "postgres://127.0.0.1:5432/db".into(),
            scenario: "/s/scenario.toml".into(),
            profile: "tuned".into(),
            profile_file: "profiles/postgres/tuned.toml".into(),
            registered: false.into(),
        };
        let changes = TargetChanges {
            target: "pg".into(),
            profile_file: "profiles/postgres/tuned.toml".into(),
            description: String::new(),
            settings: Vec::new(),
            indexes: Vec::new(),
            restarted: false,
        };
        j.record(
            &serde_json::json!({"settings": [["work_mem", "4MB"]]}),
            &changes,
        )
        .unwrap();
        let e = read(&path).unwrap().unwrap();
        assert_eq!((e.target.as_str(), e.profile.as_str()), ("pg", "tuned"));
        assert_eq!(e.applied["settings"][0][1], "4MB");
        assert!(describe(&e).contains("profile `tuned`"), "{}", describe(&e));
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
        // A run in this process works under it; released (--keep-profile) it is a leftover.
        assert!(is_live(&path));
        j.release();
        assert!(!is_live(&path) && path.exists());
        clear(&path).unwrap();
        assert!(read(&path).unwrap().is_none());
        clear(&path).unwrap();
    }

    #[test]
    fn two_runs_of_one_process_on_one_target_are_live_until_both_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s3-x.json");
        let journal = || Journal {
            path: path.clone(),
            target: "minio".into(),
            kind: TargetKind::S3,
            server: "http://127.0.0.1:9000".into(),
            scenario: "/s/scenario.toml".into(),
            profile: "tuned".into(),
            profile_file: "profiles/s3/tuned.toml".into(),
            registered: false.into(),
        };
        let changes = TargetChanges {
            target: "minio".into(),
            profile_file: "profiles/s3/tuned.toml".into(),
            description: String::new(),
            settings: Vec::new(),
            indexes: Vec::new(),
            restarted: false,
        };
        let (a, b) = (journal(), journal());
        // Each writes fifty times, from its own thread: no write fails for want of its temp
        // file.
        std::thread::scope(|s| {
            for j in [&a, &b] {
                s.spawn(|| {
                    for _ in 0..50 {
                        j.record(&serde_json::json!({}), &changes).unwrap();
                    }
                });
            }
        });
        a.clear().unwrap();
        assert!(is_live(&path), "b still works under it");
        a.clear().unwrap();
        assert!(is_live(&path), "a second clear of a does not end b");
        drop(b);
        assert!(!is_live(&path));
    }

    #[test]
    fn a_damaged_journal_is_named_never_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("postgres-x.json");
        std::fs::write(&path, "{\n  \"version\": 1,\n  oops").unwrap();
        let err = read(&path).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::exit::BAD_INPUT);
        let msg = err.to_string();
        assert!(
            msg.contains("postgres-x.json") && msg.contains("line 3"),
            "{msg}"
        );
        std::fs::write(&path, r#"{"version": 99}"#).unwrap();
        assert!(
            read(&path)
                .unwrap_err()
                .to_string()
                .contains("missing field")
        );
    }
}
