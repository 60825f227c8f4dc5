//! One block of a run: a profile applied on its targets, readiness, the workloads measured
//! for some trials, the configuration checks, and the revert (last-applied first); then the
//! profile's results put together.

use std::collections::BTreeMap;

use super::measure::WorkloadAcc;
use super::{ProfileAcc, Stack, checks, criteria};
use crate::backend::drill::DrillRun;
use crate::error::{Error, Result};
use crate::results::{Evidence, ProfileRun, RevertReport};
use crate::scenario::{Profile, Scenario};

pub(super) async fn run_block(
    scenario: &Scenario,
    profile: &Profile,
    trials: &[u32],
    stack: &mut Stack,
    acc: &mut ProfileAcc,
    keep: bool,
    host_memory: u64,
) -> Result<()> {
    let mut applied: Vec<String> = Vec::new();
    let mut changes = Vec::new();
    let mut apply_error = None;
    for tname in profile.apply.keys() {
        let store = stack.stores.get_mut(tname).expect("validated target");
        match store.apply(&profile.name, host_memory).await {
            Ok(c) => {
                applied.push(tname.clone());
                changes.push(c);
            }
            Err(e) => {
                apply_error = Some(e);
                break;
            }
        }
    }
    if acc.changes.is_empty() {
        acc.changes = changes;
    }

    let measured = match apply_error {
        Some(e) => Err(e),
        None => measure_block(scenario, profile, trials, stack, acc).await,
    };

    // Reverted last-applied first: two targets on one server (say a documents and a vector
    // schema in one PostgreSQL) each restore the state they found, so the first one's
    // "before" must be restored last.
    for tname in applied.into_iter().rev() {
        let store = stack.stores.get_mut(&tname).expect("validated target");
        if keep {
            store.keep();
            acc.revert.push(RevertReport {
                target: tname,
                kept: true,
                settings_restored: Vec::new(),
                indexes_dropped: Vec::new(),
                restarted: false,
                mismatches: Vec::new(),
            });
            continue;
        }
        // After a failure, a server that no longer answers is not waited for: its drivers
        // would retry (Neo4j's for a minute). The journal keeps what to restore.
        let target = &scenario.targets[&tname];
        let gone = measured.is_err()
            && !crate::host::reachable(&target.url, target.pool_connect_timeout).await;
        let reverted = if gone {
            Err(Error::target(
                format!("target {tname}"),
                format!("{} does not answer", target.url_redacted),
            ))
        } else {
            store.revert().await
        };
        let report = match reverted {
            Ok(Some(report)) => report,
            Ok(None) => continue,
            // The failure that stopped the measurement is the one to report; the revert's
            // (the server is likely gone) is added to it, with the way back.
            Err(revert_err) => {
                let left = format!(
                    "reverting profile `{}` on target {tname} failed too ({revert_err}); its journal is left: `tunebench revert {}` restores it once the server is back",
                    profile.name,
                    scenario.path.display()
                );
                return Err(match measured {
                    Err(e) => Error::target(e.to_string(), left),
                    Ok(()) => Error::target("run", left),
                });
            }
        };
        if !report.mismatches.is_empty() {
            tracing::warn!(
                "profile {}: revert left differences: {}",
                profile.name,
                report.mismatches.join("; ")
            );
        }
        acc.revert.push(report);
    }
    measured
}

/// Readiness under `profile`: the data and every index are really there before anything is
/// measured (read-only; a worker shard runs it too).
pub(super) async fn readiness(
    scenario: &Scenario,
    stack: &Stack,
    profile: &str,
) -> Result<Vec<crate::results::ReadinessCheck>> {
    let mut readiness = Vec::new();
    for (dname, ds) in &scenario.datasets {
        let store = &stack.stores[&ds.target];
        let checks = store.readiness(Some(dname), profile).await?;
        if let Some(bad) = checks.iter().find(|c| !c.ok) {
            return Err(Error::target(
                format!("target {}: readiness check", ds.target),
                format!(
                    "{}: expected {}, found {}; not measuring",
                    bad.check, bad.expected, bad.actual
                ),
            ));
        }
        readiness.extend(checks);
    }
    for (tname, store) in stack.stores.iter().filter(|(_, s)| s.has_own_data()) {
        let checks = store.readiness(None, profile).await?;
        if let Some(bad) = checks.iter().find(|c| !c.ok) {
            return Err(Error::target(
                format!("target {tname}: readiness check"),
                format!("{}: {}; not measuring", bad.check, bad.actual),
            ));
        }
        readiness.extend(checks);
    }
    Ok(readiness)
}

async fn measure_block(
    scenario: &Scenario,
    profile: &Profile,
    trials: &[u32],
    stack: &mut Stack,
    acc: &mut ProfileAcc,
) -> Result<()> {
    acc.readiness = readiness(scenario, stack, &profile.name).await?;

    if let Some(c) = &stack.coordination {
        let (run, merged) = super::shard::coordinate(scenario, &profile.name, trials, c).await?;
        acc.sharded = Some(run);
        stack.merged.push(merged);
        run_drills(scenario, profile, trials, stack, acc).await?;
        acc.checks = checks::evaluate(scenario, &stack.stores, Some(&profile.name)).await?;
        return Ok(());
    }

    for workload in &scenario.workloads {
        let store = stack
            .stores
            .get_mut(&workload.target)
            .expect("validated target");
        let explain = acc.explained.insert(workload.name.clone());
        let wacc = acc
            .workloads
            .entry(workload.name.clone())
            .or_insert_with(|| WorkloadAcc::new(workload.ops.len()));
        let leaked = store
            .measure(
                &profile.name,
                &workload.name,
                &scenario.load,
                trials,
                explain,
                wacc,
                None,
            )
            .await?;
        *stack.leaked.entry(workload.target.clone()).or_default() += leaked;
    }
    run_drills(scenario, profile, trials, stack, acc).await?;
    // Configuration checks while the profile is still applied; the last block's reading
    // stands for the profile.
    acc.checks = checks::evaluate(scenario, &stack.stores, Some(&profile.name)).await?;
    Ok(())
}

/// The scenario's recovery drills under the applied profile, once per trial of the block,
/// after its workloads (so a drill's restore never competes with a measured workload).
async fn run_drills(
    scenario: &Scenario,
    profile: &Profile,
    trials: &[u32],
    stack: &mut Stack,
    acc: &mut ProfileAcc,
) -> Result<()> {
    for &trial in trials {
        for drill in &scenario.drills {
            let store = &stack.stores[&drill.target];
            let dir = stack
                .drill_dir
                .join(format!("{}-{}-t{trial}", drill.name, profile.name));
            let run = DrillRun {
                profile: &profile.name,
                trial,
                dir: &dir,
            };
            tracing::info!(
                "profile {}: drill {} (trial {trial})",
                profile.name,
                drill.name
            );
            let report = store.drill(drill, &run).await?;
            match &report.failure {
                Some(why) => tracing::warn!("drill {} failed: {why}", drill.name),
                None => tracing::info!(
                    "drill {}: backup {:.2} s, restore {:.2} s, RTO {:.2} s, integrity {:?}",
                    drill.name,
                    report.backup_s.unwrap_or(f64::NAN),
                    report.restore_s.unwrap_or(f64::NAN),
                    report.rto_s.unwrap_or(f64::NAN),
                    report.integrity.verdict
                ),
            }
            // An empty folder is left only when nothing in it was kept.
            let _ = std::fs::remove_dir(&dir);
            acc.drills.push(report);
        }
    }
    let _ = std::fs::remove_dir(&stack.drill_dir);
    Ok(())
}

pub(super) fn finish_profile(
    scenario: &Scenario,
    profile: &Profile,
    mut acc: ProfileAcc,
    server: BTreeMap<String, Evidence>,
) -> ProfileRun {
    // Measured by worker shards: their merged workloads and shard 0's server evidence.
    if let Some(run) = acc.sharded.take() {
        return ProfileRun {
            profile: profile.name.clone(),
            changes: acc.changes,
            readiness: acc.readiness,
            criteria: criteria::evaluate(scenario, &run.workloads, &run.server, &acc.drills),
            checks: acc.checks,
            drills: acc.drills,
            workloads: run.workloads,
            server: run.server,
            revert: acc.revert,
        };
    }
    let workloads: Vec<_> = scenario
        .workloads
        .iter()
        .filter_map(|w| {
            acc.workloads
                .remove(&w.name)
                .map(|a| a.finish(&profile.name, w, &scenario.load))
        })
        .collect();
    ProfileRun {
        profile: profile.name.clone(),
        changes: acc.changes,
        readiness: acc.readiness,
        criteria: criteria::evaluate(scenario, &workloads, &server, &acc.drills),
        checks: acc.checks,
        drills: acc.drills,
        workloads,
        server,
        revert: acc.revert,
    }
}
