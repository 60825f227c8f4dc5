//! Neo4j profiles: schema (indexes, constraints) created and dropped by name, and memory
//! settings written to neo4j.conf / jvm.conf and applied by a restart. Everything is captured
//! before the first change and restored exactly; revert checks SHOW INDEXES, SHOW
//! CONSTRAINTS and the files against what was captured.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use neo4rs::{Graph as Bolt, query};

use super::{reconnect, rows, target_error};
use crate::backend::facts::{IndexChange, RevertReport, SettingChange, TargetChanges};
use crate::backend::journal::Journal;
use crate::backend::model::Target;
use crate::backend::neo4j::spec::{NeoProfile, NeoTarget};
use crate::error::{Error, Result};

type AppliedFile = crate::backend::model::AppliedFile<NeoProfile>;

/// What revert needs; journaled before each change (see `backend::journal`). The config
/// files are kept whole: Neo4j keeps its credentials in the data folder, not in them.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct AppliedNeoProfile {
    pub changes: TargetChanges,
    /// (name, is_constraint) of what this profile created, in creation order.
    created: Vec<(String, bool)>,
    /// Files as they were before the profile, to be written back byte for byte.
    files_before: Vec<(PathBuf, String)>,
    schema_before: (BTreeSet<String>, BTreeSet<String>),
    /// The key of the server's copy of the journal (`super::journal`); None in entries
    /// written before the server kept one.
    #[serde(default)]
    journal_key: Option<String>,
}

/// Names of (indexes, constraints) on the server.
pub async fn schema_names(
    bolt: &Bolt,
) -> std::result::Result<(BTreeSet<String>, BTreeSet<String>), neo4rs::Error> {
    let names = |rs: Vec<neo4rs::Row>| -> BTreeSet<String> {
        rs.iter()
            .filter_map(|r| r.get::<String>("name").ok())
            .collect()
    };
    let idx = names(rows(bolt, query("SHOW INDEXES YIELD name RETURN name")).await?);
    let con = names(rows(bolt, query("SHOW CONSTRAINTS YIELD name RETURN name")).await?);
    Ok((idx, con))
}

pub async fn apply(
    bolt: &mut Bolt,
    target: &Target,
    opts: &NeoTarget,
    file: &AppliedFile,
    data_dir_bytes: impl Fn() -> Option<u64>,
    journal: &Journal,
) -> Result<AppliedNeoProfile> {
    let profile = &file.profile;
    let err = |what: &str, e: neo4rs::Error| {
        target_error(
            target,
            &format!("applying {} ({what})", file.file.display()),
            e,
        )
    };
    let schema_before = schema_names(bolt)
        .await
        .map_err(|e| err("SHOW INDEXES", e))?;
    let mut applied = AppliedNeoProfile {
        changes: TargetChanges {
            target: target.name.clone(),
            profile_file: file.file.display().to_string(),
            description: profile.description.clone(),
            settings: Vec::new(),
            indexes: Vec::new(),
            restarted: false,
        },
        created: Vec::new(),
        files_before: Vec::new(),
        schema_before,
        journal_key: Some(target.name.clone()),
    };
    record(bolt, target, journal, &applied).await?;
    match apply_inner(
        bolt,
        target,
        opts,
        file,
        &mut applied,
        data_dir_bytes,
        journal,
    )
    .await
    {
        Ok(()) => Ok(applied),
        Err(e) => {
            // Leave the server as we found it, then report the original failure. The journal
            // stays when that fails too: the next run refuses, `tunebench revert` retries.
            match revert(bolt, target, opts, applied).await {
                Ok(_) => journal.clear()?,
                Err(revert_err) => {
                    tracing::error!("reverting after a failed apply also failed: {revert_err}")
                }
            }
            Err(e)
        }
    }
}

async fn apply_inner(
    bolt: &mut Bolt,
    target: &Target,
    opts: &NeoTarget,
    file: &AppliedFile,
    applied: &mut AppliedNeoProfile,
    data_dir_bytes: impl Fn() -> Option<u64>,
    journal: &Journal,
) -> Result<()> {
    let profile = &file.profile;
    if !profile.settings.is_empty() || profile.heap.is_some() {
        let (Some(dir), Some(_)) = (&opts.config_dir, &target.restart_command) else {
            return Err(Error::Usage(format!(
                "{} changes memory settings, which Neo4j reads at start: targets.{} needs config_dir (the folder of neo4j.conf, e.g. \"${{TUNEBENCH_CACHE:-../.cache}}/neo4j\") and restart_command (e.g. \"../scripts/stack restart neo4j\")",
                file.file.display(),
                target.name
            )));
        };
        let conf = dir.join("neo4j.conf");
        let jvm = dir.join("jvm.conf");
        let read = |p: &Path| {
            std::fs::read_to_string(p)
                .map_err(|e| target_error(target, &format!("reading {}", p.display()), e))
        };
        let conf_text = read(&conf)?;
        let jvm_text = read(&jvm)?;
        applied.files_before.push((conf.clone(), conf_text.clone()));
        applied.files_before.push((jvm.clone(), jvm_text.clone()));
        let mut new_conf = conf_text.clone();
        for (name, value) in &profile.settings {
            let resolved = if value == "fit_store" {
                // Page cache holds store files: size it to them, with headroom for growth.
                let bytes = data_dir_bytes().ok_or_else(|| {
                    target_error(
                        target,
                        "sizing the page cache",
                        "the store size is unknown (config_dir has no data/databases/neo4j)",
                    )
                })?;
                format!(
                    "{}m",
                    ((bytes as f64 * 1.2) / 1048576.0).ceil().max(64.0) as u64
                )
            } else {
                value.clone()
            };
            let before = current(&conf_text, name).unwrap_or_else(|| "(Neo4j default)".into());
            new_conf = set_line(&new_conf, name, &resolved);
            applied.changes.settings.push(SettingChange {
                name: name.clone(),
                requested: value.clone(),
                before,
                after: resolved,
                context: "neo4j.conf (restart)".into(),
            });
        }
        let mut new_jvm = jvm_text.clone();
        if let Some(heap) = &profile.heap {
            let before = current(&jvm_text, "heap").unwrap_or_else(|| "(JVM default)".into());
            new_jvm = set_line(&new_jvm, "heap", heap);
            applied.changes.settings.push(SettingChange {
                name: "heap".into(),
                requested: heap.clone(),
                before,
                after: heap.clone(),
                context: "jvm.conf (restart)".into(),
            });
        }
        record(bolt, target, journal, applied).await?;
        write(target, &conf, &new_conf)?;
        write(target, &jvm, &new_jvm)?;
        *bolt = restart(target, opts).await?;
        applied.changes.restarted = true;
    }

    let (indexes, constraints) = &applied.schema_before;
    for def in &profile.schema {
        let exists = indexes.contains(&def.name) || constraints.contains(&def.name);
        let mut change = IndexChange {
            name: def.name.clone(),
            table: entity_of(&def.up),
            definition: def.up.clone(),
            created: false,
            build_seconds: None,
            size_bytes: None,
        };
        if !exists {
            // Journaled before it exists: revert drops it IF EXISTS.
            applied
                .created
                .push((def.name.clone(), def.is_constraint()));
            record(bolt, target, journal, applied).await?;
            let t = Instant::now();
            bolt.run(query(&def.up)).await.map_err(|e| {
                target_error(target, &format!("{}: `{}`", file.file.display(), def.up), e)
            })?;
            // Measuring against a half-built index would measure the build.
            bolt.run(query("CALL db.awaitIndexes(600)"))
                .await
                .map_err(|e| target_error(target, "waiting for indexes to come online", e))?;
            change.created = true;
            change.build_seconds = Some(t.elapsed().as_secs_f64());
        }
        applied.changes.indexes.push(change);
    }
    Ok(())
}

/// Journals `applied` in the cache and on the server, before the change it announces.
async fn record(
    bolt: &Bolt,
    target: &Target,
    journal: &Journal,
    applied: &AppliedNeoProfile,
) -> Result<()> {
    let entry = journal.record(applied, &applied.changes)?;
    match &applied.journal_key {
        Some(key) => super::journal::put(bolt, target, key, &entry).await,
        None => Ok(()),
    }
}

pub async fn revert(
    bolt: &mut Bolt,
    target: &Target,
    opts: &NeoTarget,
    applied: AppliedNeoProfile,
) -> Result<RevertReport> {
    let mut report = RevertReport {
        target: target.name.clone(),
        kept: false,
        settings_restored: Vec::new(),
        indexes_dropped: Vec::new(),
        restarted: false,
        mismatches: Vec::new(),
    };
    // Only what this profile created, newest first.
    for (name, constraint) in applied.created.iter().rev() {
        let stmt = if *constraint {
            format!("DROP CONSTRAINT {name} IF EXISTS")
        } else {
            format!("DROP INDEX {name} IF EXISTS")
        };
        bolt.run(query(&stmt))
            .await
            .map_err(|e| target_error(target, &format!("reverting (`{stmt}`)"), e))?;
        report.indexes_dropped.push(name.clone());
    }
    if !applied.files_before.is_empty() {
        for (path, text) in &applied.files_before {
            write(target, path, text)?;
        }
        report.settings_restored = applied
            .changes
            .settings
            .iter()
            .map(|s| s.name.clone())
            .collect();
        *bolt = restart(target, opts).await?;
        report.restarted = true;
        for (path, text) in &applied.files_before {
            if std::fs::read_to_string(path).ok().as_deref() != Some(text.as_str()) {
                report.mismatches.push(format!(
                    "{} differs from its captured content",
                    path.display()
                ));
            }
        }
    }
    let now = schema_names(bolt)
        .await
        .map_err(|e| target_error(target, "checking the revert (SHOW INDEXES)", e))?;
    for (what, before, after) in [
        ("index", &applied.schema_before.0, &now.0),
        ("constraint", &applied.schema_before.1, &now.1),
    ] {
        for n in after.difference(before) {
            report
                .mismatches
                .push(format!("{what} {n} is present but was not before"));
        }
        for n in before.difference(after) {
            report
                .mismatches
                .push(format!("{what} {n} was present before and is gone"));
        }
    }
    if let Some(key) = &applied.journal_key {
        super::journal::delete(bolt, key)
            .await
            .map_err(|e| target_error(target, "removing the server's journal entry", e))?;
    }
    Ok(report)
}

/// The value of `name=` in a config text, ignoring comments.
fn current(text: &str, name: &str) -> Option<String> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| k.trim() == name)
        .map(|(_, v)| v.trim().to_string())
        .next_back()
}

/// Replaces every active `name=` line with one `name=value` line at the end.
fn set_line(text: &str, name: &str, value: &str) -> String {
    let mut out: String = text
        .lines()
        .filter(|l| {
            l.trim_start().starts_with('#')
                || l.split_once('=').is_none_or(|(k, _)| k.trim() != name)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    out.push_str(&format!(
        "# set by a tunebench profile; reverted after the run\n{name}={value}\n"
    ));
    out
}

fn write(target: &Target, path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text)
        .map_err(|e| target_error(target, &format!("writing {}", path.display()), e))
}

/// `(u:TunebenchUser)` -> `TunebenchUser`, for the report's table column.
fn entity_of(up: &str) -> String {
    up.split(':')
        .nth(1)
        .map(|s| {
            s.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '|')
                .collect()
        })
        .unwrap_or_default()
}

/// Runs the target's restart command, then waits for Bolt to answer again.
async fn restart(target: &Target, opts: &NeoTarget) -> Result<Bolt> {
    crate::backend::model::run_restart_command(target, Duration::from_secs(300)).await?;
    reconnect(target, opts, Duration::from_secs(120)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_line_replaces_active_lines_only() {
        let text = "# c\n#a.b=1\na.b=2\nx.y=3\n";
        let out = set_line(text, "a.b", "9");
        assert_eq!(current(&out, "a.b").as_deref(), Some("9"));
        assert!(out.contains("#a.b=1"));
        assert!(out.contains("x.y=3"));
        assert_eq!(out.matches("\na.b=").count(), 1);
        assert_eq!(current("#a.b=1\n", "a.b"), None);
    }

    #[test]
    fn entity_names() {
        assert_eq!(
            entity_of("CREATE INDEX tunebench_x FOR (u:TunebenchUser) ON (u.handle)"),
            "TunebenchUser"
        );
    }
}
