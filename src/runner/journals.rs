//! What the runner does with journals (see `backend::journal`): refuse to measure over a
//! profile an earlier run left applied, `tunebench revert`, and reverting after an interrupt.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::session;
use crate::Outcome;
use crate::backend::journal::{self, Entry};
use crate::error::{Error, Result, exit};
use crate::results::RevertReport;
use crate::scenario::{self, Scenario};

/// Journals left on any of the scenario's servers, by target.
fn leftovers(scenario: &Scenario) -> Result<Vec<(String, PathBuf, Entry)>> {
    let mut out = Vec::new();
    for (name, t) in &scenario.targets {
        for (path, e) in journal::on_server(t)? {
            out.push((name.clone(), path, e));
        }
    }
    Ok(out)
}

/// A run refuses to start over a profile another run left applied: its "before" would be
/// that run's "after". Exit 3, naming what is left and how to restore it.
///
/// Journals of runs still going in this process are skipped (tests run scenarios side by
/// side in one process): they are not leftovers.
pub fn refuse_leftovers(scenario: &Scenario) -> Result<()> {
    let mut left = leftovers(scenario)?;
    left.retain(|(_, path, _)| !journal::is_live(path));
    if left.is_empty() {
        return Ok(());
    }
    let mut msg = String::from(
        "not measuring: a profile is still applied, so this run's \"before\" would be an earlier run's \"after\":",
    );
    for (target, path, e) in &left {
        let running = Path::new(&format!("/proc/{}", e.pid)).exists();
        let _ = write!(
            msg,
            "\n  target {target}: {} (journal {}){}",
            journal::describe(e),
            path.display(),
            if running {
                format!(
                    "; process {} still runs: another run on this server? Let it finish",
                    e.pid
                )
            } else {
                String::new()
            }
        );
    }
    let scenarios: std::collections::BTreeSet<String> = left
        .iter()
        .map(|(_, _, e)| e.scenario.display().to_string())
        .collect();
    let _ = write!(
        msg,
        "\nRestore it with `tunebench revert {}` (or `tunebench revert` for every journal).",
        scenarios
            .into_iter()
            .collect::<Vec<_>>()
            .join("` and `tunebench revert ")
    );
    Err(Error::target("run", msg))
}

/// The same refusal for entries kept on the servers themselves (written from this or another
/// machine), read once the targets are connected.
pub async fn refuse_server_leftovers(
    scenario: &Scenario,
    stores: &std::collections::BTreeMap<String, Box<dyn session::Connected>>,
) -> Result<()> {
    let mut msg = String::new();
    for (name, store) in stores {
        let place = scenario
            .targets
            .get(name)
            .and_then(|t| t.kind.server_journal())
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        for e in store.journal_on_server().await? {
            match e {
                // A run still going in this process (tests run side by side).
                Ok(e)
                    if e.pid == std::process::id()
                        && journal::is_live(&journal::path_of_entry(&e)) => {}
                Ok(e) => {
                    let _ = write!(msg, "\n  target {name}{place}: {}", journal::describe(&e));
                }
                Err(why) => {
                    let _ = write!(msg, "\n  target {name}{place}: {why}");
                }
            }
        }
    }
    if msg.is_empty() {
        return Ok(());
    }
    Err(Error::target(
        "run",
        format!(
            "not measuring: the journal kept on the server records a profile still applied, so this run's \"before\" would be an earlier run's \"after\":{msg}\nRestore it with `tunebench revert {}` (from any machine: the entry is on the server).",
            scenario.path.display()
        ),
    ))
}

/// Reverts every journal on the scenario's servers through its targets (credentials come
/// from the scenario): the cache's, then those kept on the servers themselves. Or only this
/// process's cache journals (`own_only`, after an interrupt).
async fn revert_on(scenario: &Scenario, own_only: bool) -> Result<Vec<RevertReport>> {
    let mut reports = Vec::new();
    let mut left = leftovers(scenario)?;
    if own_only {
        left.retain(|(_, _, e)| e.pid == std::process::id());
    }
    // Newest first: two targets on one server each restore the state they found.
    left.reverse();
    for (target, path, entry) in left {
        let t = &scenario.targets[&target];
        tracing::info!("{}", journal::describe(&entry));
        let mut store = session::open(t, scenario).await?;
        let report = store.revert_entry(&path, &entry).await?;
        store.close().await;
        reports.push(report);
    }
    if own_only {
        return Ok(reports);
    }
    // Targets whose store keeps no copy on the server are not even connected.
    for (name, t) in scenario
        .targets
        .iter()
        .filter(|(_, t)| t.kind.server_journal().is_some())
    {
        let mut store = session::open(t, scenario).await?;
        for e in store.journal_on_server().await? {
            let entry = e.map_err(|why| Error::target(format!("target {name}"), why))?;
            tracing::info!("on the server: {}", journal::describe(&entry));
            let path = journal::path_of_entry(&entry);
            reports.push(store.revert_entry(&path, &entry).await?);
        }
        store.close().await;
    }
    Ok(reports)
}

/// After an interrupt: reverts what this run journaled, and says what it did.
pub async fn revert_after_interrupt(scenario: &Scenario) -> String {
    match revert_on(scenario, true).await {
        Ok(r) if r.is_empty() => "nothing was applied".into(),
        Ok(r) => format!("reverted: {}", summary(&r)),
        Err(e) => format!(
            "reverting failed ({e}); the journal is left: `tunebench revert {}` restores it",
            scenario.path.display()
        ),
    }
}

fn summary(reports: &[RevertReport]) -> String {
    reports
        .iter()
        .map(|r| {
            let mut parts = Vec::new();
            if !r.settings_restored.is_empty() {
                parts.push(format!("settings {}", r.settings_restored.join(", ")));
            }
            if !r.indexes_dropped.is_empty() {
                parts.push(format!("dropped {}", r.indexes_dropped.join(", ")));
            }
            if r.restarted {
                parts.push("restarted".into());
            }
            if !r.mismatches.is_empty() {
                parts.push(format!("STILL DIFFERENT: {}", r.mismatches.join("; ")));
            }
            if parts.is_empty() {
                parts.push("nothing had changed yet".into());
            }
            format!("target {}: {}", r.target, parts.join(", "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `tunebench revert [SCENARIO]`: restores what the journals on the scenario's servers record
/// (every journal in the cache, each through the scenario that wrote it, when none is given)
/// and checks it. Exit 1 when a revert left differences, 3 when one failed.
pub async fn revert_command(path: Option<&Path>) -> Result<Outcome> {
    let scenarios: Vec<PathBuf> = match path {
        Some(p) => vec![p.to_path_buf()],
        None => {
            let mut s: Vec<PathBuf> = journal::all()?
                .into_iter()
                .map(|(_, e)| e.scenario)
                .collect();
            s.sort();
            s.dedup();
            s
        }
    };
    let mut reports = Vec::new();
    for p in &scenarios {
        if path.is_none() && !p.exists() {
            return Err(Error::Usage(format!(
                "a journal in {} was written by {}, which no longer exists: run `tunebench revert SCENARIO` with a scenario whose targets point at the same servers (their credentials are needed to connect)",
                journal::dir().display(),
                p.display()
            )));
        }
        let scenario = scenario::load(p)?;
        reports.extend(revert_on(&scenario, false).await?);
    }
    let summary = if reports.is_empty() {
        format!(
            "nothing to revert: no journal in {}{}",
            journal::dir().display(),
            path.map(|p| format!(" for the servers of {}, nor on those servers", p.display()))
                .unwrap_or_default()
        )
    } else {
        summary(&reports)
    };
    let differs = reports.iter().any(|r| !r.mismatches.is_empty());
    Ok(Outcome {
        exit_code: if differs {
            exit::CRITERIA_FAILED
        } else {
            exit::OK
        },
        results_path: None,
        report_path: None,
        summary,
    })
}
