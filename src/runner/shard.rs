//! `tunebench worker`: one shard of a scenario's load, for load from several processes or
//! machines. A worker only measures: it loads no data (the datasets must be there, as the
//! coordinator or an earlier `run` left them), applies no profile and reverts nothing; it
//! reads readiness and the server's counters, both read-only. Every shard plans the same
//! phases at the same instants from the common `--start-at`, each phase a fixed gap after the
//! previous one's planned end, so the shards' trials and their windows of latency over time
//! cover the same time and merge exactly (`tunebench merge`).

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::measure::WorkloadAcc;
use super::{ProfileAcc, Stack};
use crate::driver::Shard;
use crate::error::{Error, Result};
use crate::results::{Environment, Results, SCHEMA_VERSION, ShardInfo};
use crate::scenario::{self, Load, LoadMode, Overrides, Scenario};
use crate::{Outcome, host};

/// When this shard's phases start: the same instants on every shard.
pub struct ShardPlan {
    pub shard: Shard,
    /// The index of this shard's first connection among all shards'.
    pub first_connection: u32,
    gap: Duration,
    cursor: Mutex<Instant>,
    /// How late this shard started its latest trial, at most.
    late_max: Mutex<Duration>,
}

impl ShardPlan {
    pub fn new(shard: Shard, total_connections: u32, t0: Instant, gap: Duration) -> Self {
        let first = (0..shard.index)
            .map(|j| {
                Shard {
                    index: j,
                    count: shard.count,
                }
                .part(u64::from(total_connections))
            })
            .sum::<u64>();
        ShardPlan {
            shard,
            first_connection: first as u32,
            gap,
            cursor: Mutex::new(t0),
            late_max: Mutex::new(Duration::ZERO),
        }
    }

    /// The planned start of the next phase, lasting `d`: the gap after the previous one's
    /// planned end (the first: the gap after the common start).
    pub fn next(&self, d: Duration) -> Instant {
        let mut c = self.cursor.lock().unwrap_or_else(|e| e.into_inner());
        let at = *c + self.gap;
        *c = at + d;
        at
    }

    /// Records how late a trial starts against its plan (0 when on time).
    pub fn note_start(&self, planned: Instant) {
        let late = Instant::now().saturating_duration_since(planned);
        let mut m = self.late_max.lock().unwrap_or_else(|e| e.into_inner());
        *m = (*m).max(late);
    }

    pub fn late_max(&self) -> Duration {
        *self.late_max.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A shard's part of the load: its connections (closed loop) or connections and rate (open
/// loop), dealt out so the shards together have the whole.
pub fn shard_load(load: &Load, shard: Shard) -> Load {
    let part = |n: u32| shard.part(u64::from(n)) as u32;
    Load {
        concurrency: part(load.concurrency),
        max_in_flight: part(load.max_in_flight),
        rate: load.rate.map(|r| r / f64::from(shard.count)),
        ..load.clone()
    }
}

/// Why a scenario's load cannot be split into `count` shards, if it cannot.
pub fn refuse_split(load: &Load, count: u32) -> Option<String> {
    if load.iterations.is_some() {
        return Some(
            "load.iterations ends each shard's trial at a different time, so the shards' trials would not line up; give the scenario a load.duration instead".into(),
        );
    }
    let (field, n) = match load.mode {
        LoadMode::Closed => ("concurrency", load.concurrency),
        LoadMode::Open => ("max_in_flight", load.max_in_flight),
    };
    (n < count).then(|| {
        format!(
            "load.{field} is {n}, fewer than the {count} shards: each shard needs at least one connection"
        )
    })
}

pub struct WorkerArgs {
    pub scenario: PathBuf,
    pub shard: Shard,
    /// The common start (without a rendezvous, where the plans carry it).
    pub start_at: Option<DateTime<Utc>>,
    pub out: PathBuf,
    pub profile: Option<String>,
    pub trials: Option<Vec<u32>>,
    pub phase_gap: Duration,
    pub overrides: Overrides,
    /// `s3://BUCKET/PREFIX`: take the coordinator's plans from there and upload the parts.
    pub rendezvous: Option<String>,
    /// How long to wait for the coordinator's next plan.
    pub wait: Duration,
}

/// Runs one shard (or, with a rendezvous, every block the coordinator plans) and writes its
/// part of the results to `out/results.json` (`out/block-K/results.json`).
pub async fn worker(args: WorkerArgs) -> Result<Outcome> {
    let Some(address) = &args.rendezvous else {
        let start_at = args.start_at.ok_or_else(|| {
            Error::Usage(
                "worker: give --start-at (the common start) or --rendezvous s3://BUCKET/PREFIX"
                    .into(),
            )
        })?;
        let (path, late) = worker_once(
            &args,
            args.profile.as_deref(),
            args.trials.as_deref(),
            start_at,
            &args.out,
            None,
        )
        .await?;
        return Ok(Outcome {
            exit_code: crate::error::exit::OK,
            results_path: Some(path.clone()),
            report_path: None,
            summary: format!(
                "shard {}/{}: {} (latest start {:.0} ms after plan)",
                args.shard.index,
                args.shard.count,
                path.display(),
                late.as_secs_f64() * 1000.0
            ),
        });
    };
    let rdv = super::rendezvous::Rendezvous::parse(address, "--rendezvous")?;
    let mut block = 0u32;
    while let Some(plan) = rdv.next_plan(block, Instant::now() + args.wait).await? {
        if plan.shards != args.shard.count {
            return Err(Error::Usage(format!(
                "--shard {}/{}: the coordinator plans {} shards; start every worker with --shard I/{}",
                args.shard.index, args.shard.count, plan.shards, plan.shards
            )));
        }
        let out = args.out.join(format!("block-{block:04}"));
        let (path, _) = worker_once(
            &args,
            Some(&plan.profile),
            Some(&plan.trials),
            plan.start_at,
            &out,
            Some(&plan.scenario),
        )
        .await?;
        rdv.upload_part(block, args.shard.index, &path).await?;
        block += 1;
    }
    Ok(Outcome {
        exit_code: crate::error::exit::OK,
        results_path: None,
        report_path: None,
        summary: format!(
            "shard {}/{}: {block} block(s) measured and uploaded to {address}",
            args.shard.index, args.shard.count
        ),
    })
}

/// One block of one shard: `profile`'s `trials` (default: the first profile, every trial),
/// phases planned from `start_at`; returns its part's path and how late it started a trial.
async fn worker_once(
    args: &WorkerArgs,
    profile: Option<&str>,
    trials: Option<&[u32]>,
    start_at: DateTime<Utc>,
    out: &std::path::Path,
    expect_scenario: Option<&str>,
) -> Result<(PathBuf, Duration)> {
    let mut scenario = scenario::load(&args.scenario)?;
    scenario.apply_overrides(&args.overrides)?;
    if let Some(name) = expect_scenario.filter(|n| *n != scenario.name) {
        return Err(Error::Usage(format!(
            "{}: is scenario `{}`, but the coordinator runs `{name}`; give every worker the coordinator's scenario",
            args.scenario.display(),
            scenario.name
        )));
    }
    if let Some(why) = refuse_split(&scenario.load, args.shard.count) {
        return Err(Error::Usage(format!(
            "{}: cannot run as {} shards: {why}",
            args.scenario.display(),
            args.shard.count
        )));
    }
    let profile = match profile {
        Some(p) => scenario
            .profiles
            .iter()
            .find(|x| x.name == p)
            .ok_or_else(|| {
                let names: Vec<&str> = scenario.profiles.iter().map(|x| x.name.as_str()).collect();
                Error::Usage(format!(
                    "--profile {p}: the scenario has no such profile; it has: {}",
                    names.join(", ")
                ))
            })?,
        None => scenario.profiles.first().ok_or_else(|| {
            Error::Usage(format!(
                "{}: the scenario has no profile",
                args.scenario.display()
            ))
        })?,
    }
    .clone();
    let trials: Vec<u32> = match trials {
        Some(t) => {
            if let Some(bad) = t.iter().find(|&&k| k == 0 || k > scenario.load.trials) {
                return Err(Error::Usage(format!(
                    "--trial {bad}: the scenario has trials 1 to {}",
                    scenario.load.trials
                )));
            }
            t.to_vec()
        }
        None => (1..=scenario.load.trials).collect(),
    };
    super::check_writable(out)?;
    for ds in scenario.datasets.values_mut() {
        ds.reuse_only = true;
    }
    let whole = scenario.load.clone();
    scenario.load = shard_load(&whole, args.shard);

    // The common start, on this machine's clock; a start already past is taken as now.
    let ahead = (start_at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    let t0 = Instant::now() + ahead;
    let plan = ShardPlan::new(args.shard, whole.connections(), t0, args.phase_gap);

    let started_at = Utc::now();
    let host = host::host();
    let mut stack = Stack::new();
    let mut envs = stack.connect(&scenario).await?;
    if let Some(why) = stack.stores.values().find_map(|s| s.refuse_shards()) {
        return Err(Error::Usage(format!(
            "{}: cannot run as shards: {why}",
            args.scenario.display()
        )));
    }
    let mut datasets = Vec::new();
    for ds in scenario.datasets.values() {
        let store = stack.stores.get_mut(&ds.target).expect("validated target");
        datasets.push(store.prepare(ds).await?);
    }
    for store in stack.stores.values_mut() {
        store.adopt()?;
    }

    let mut acc = ProfileAcc::default();
    let measured = measure(
        &scenario,
        &profile.name,
        &trials,
        &mut stack,
        &mut acc,
        &plan,
    )
    .await;
    for (name, env) in envs.iter_mut() {
        env.pool.leaked_connections = stack.leaked.get(name).copied().unwrap_or(0);
    }
    for store in stack.stores.values() {
        store.close().await;
    }
    measured?;
    let server = stack
        .stores
        .iter_mut()
        .filter_map(|(name, s)| s.take_evidence(&profile.name).map(|e| (name.clone(), e)))
        .collect();
    let run = super::block::finish_profile(&scenario, &profile, acc, server);
    let mut config = crate::results::RunConfig::of(&scenario)?;
    // The scenario as the coordinator ran it: the whole load, not this shard's part.
    config.load = whole;
    let late = plan.late_max();
    let results = Results {
        schema_version: SCHEMA_VERSION,
        tool: host::tool(),
        started_at,
        finished_at: Utc::now(),
        scenario: config,
        environment: Environment {
            host,
            targets: envs,
        },
        datasets,
        runs: vec![run],
        incomplete: None,
        shard: Some(ShardInfo {
            index: args.shard.index,
            count: args.shard.count,
            start_at,
            phase_gap_s: args.phase_gap.as_secs_f64(),
            late_start_max_ms: late.as_secs_f64() * 1000.0,
        }),
        merged: None,
    };
    let path = out.join("results.json");
    results.write(&path)?;
    Ok((path, late))
}

/// Readiness (read-only), then every workload's trials on the plan. Only shard 0 captures
/// plans (EXPLAIN), once.
async fn measure(
    scenario: &Scenario,
    profile: &str,
    trials: &[u32],
    stack: &mut Stack,
    acc: &mut ProfileAcc,
    plan: &ShardPlan,
) -> Result<()> {
    acc.readiness = super::block::readiness(scenario, stack, profile).await?;
    for workload in &scenario.workloads {
        let store = stack
            .stores
            .get_mut(&workload.target)
            .expect("validated target");
        let wacc = acc
            .workloads
            .entry(workload.name.clone())
            .or_insert_with(|| WorkloadAcc::new(workload.ops.len()));
        let leaked = store
            .measure(
                profile,
                &workload.name,
                &scenario.load,
                trials,
                plan.shard.index == 0,
                wacc,
                Some(plan),
            )
            .await?;
        *stack.leaked.entry(workload.target.clone()).or_default() += leaked;
    }
    Ok(())
}

/// How `run --workers N` runs each profile's load: N worker processes of this binary.
pub struct Coordination {
    pub workers: u32,
    /// Workers elsewhere, met through S3; None: local processes.
    pub rendezvous: Option<super::rendezvous::Rendezvous>,
    /// The next block's number (rendezvous plans are numbered).
    pub block: std::sync::atomic::AtomicU32,
    /// Where each profile's parts go (`DIR/PROFILE/I/results.json`, with the worker's log).
    pub dir: PathBuf,
    /// The run's load overrides, passed on so every worker measures what the run planned.
    pub overrides: Vec<String>,
}

/// Time the workers get to start, connect and check their datasets before the first phase.
const START_MARGIN: Duration = Duration::from_secs(5);

/// Runs `trials` of every workload under `profile` (applied by the caller) as N worker
/// processes on this host, waits for them, and merges their parts into the profile's run.
pub async fn coordinate(
    scenario: &Scenario,
    profile: &str,
    trials: &[u32],
    c: &Coordination,
) -> Result<(crate::results::ProfileRun, crate::results::MergedFrom)> {
    if let Some(rdv) = &c.rendezvous {
        return meet(scenario, profile, trials, c, rdv).await;
    }
    let exe = std::env::current_exe().map_err(|e| {
        Error::Usage(format!(
            "--workers: cannot find tunebench's own binary: {e}"
        ))
    })?;
    let start = Utc::now()
        + chrono::Duration::from_std(START_MARGIN).unwrap_or_else(|_| chrono::Duration::seconds(5));
    let start_at = start.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let dir = c.dir.join(profile_dir(profile));
    let mut children = Vec::new();
    for i in 0..c.workers {
        let out = dir.join(i.to_string());
        std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
        let log_path = out.join("worker.log");
        let log = std::fs::File::create(&log_path).map_err(|e| Error::io(&log_path, e))?;
        let mut cmd = tokio::process::Command::new(&exe);
        cmd.arg("worker")
            .arg(&scenario.path)
            .args(["--shard", &format!("{i}/{}", c.workers)])
            .args(["--start-at", &start_at])
            .arg("--out")
            .arg(&out)
            .args(["--profile", profile])
            .args(&c.overrides)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            // An interrupted run takes its workers with it.
            .kill_on_drop(true);
        for t in trials {
            cmd.args(["--trial", &t.to_string()]);
        }
        let child = cmd
            .spawn()
            .map_err(|e| Error::target("load generator", format!("starting worker {i}: {e}")))?;
        children.push((i, child, out, log_path));
    }
    let mut parts = Vec::new();
    let mut failed = Vec::new();
    for (i, mut child, out, log) in children {
        let status = child
            .wait()
            .await
            .map_err(|e| Error::target("load generator", format!("waiting for worker {i}: {e}")))?;
        if status.success() {
            let path = out.join("results.json");
            parts.push((path.clone(), Results::read(&path)?));
        } else {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(3).collect();
            failed.push(format!(
                "worker {i} exited with {status} ({}): {}",
                log.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
            ));
        }
    }
    if !failed.is_empty() {
        return Err(Error::target("load generator", failed.join("; ")));
    }
    let mut merged = crate::merge::merge(&parts)?;
    let run = merged.runs.remove(0);
    let info = merged.merged.take().expect("a merge says what it merged");
    Ok((run, info))
}

/// Time remote workers get between a plan and its start: they poll for it every 0.5 s, then
/// load the scenario, connect and check their datasets.
const REMOTE_START_MARGIN: Duration = Duration::from_secs(15);

/// The block's plan for workers elsewhere, then their parts from the rendezvous, merged.
async fn meet(
    scenario: &Scenario,
    profile: &str,
    trials: &[u32],
    c: &Coordination,
    rdv: &super::rendezvous::Rendezvous,
) -> Result<(crate::results::ProfileRun, crate::results::MergedFrom)> {
    let block = c.block.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let start_at = Utc::now()
        + chrono::Duration::from_std(REMOTE_START_MARGIN)
            .unwrap_or_else(|_| chrono::Duration::seconds(15));
    rdv.publish(&super::rendezvous::Plan {
        block,
        scenario: scenario.name.clone(),
        profile: profile.to_string(),
        trials: trials.to_vec(),
        shards: c.workers,
        start_at,
    })
    .await?;
    // The workers' phases by plan, plus time to write and upload their parts.
    let length = super::rendezvous::planned_length(
        &scenario.load,
        scenario.workloads.len(),
        trials.len(),
        Duration::from_secs(2),
    );
    let deadline = Instant::now() + REMOTE_START_MARGIN + length + Duration::from_secs(120);
    let parts = rdv.wait_parts(block, c.workers, deadline).await?;
    // Kept beside the results, as local workers' parts are.
    let dir = c.dir.join(profile_dir(profile));
    for (i, (_, r)) in parts.iter().enumerate() {
        let path = dir.join(i.to_string()).join("results.json");
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        r.write(&path)?;
    }
    let mut merged = crate::merge::merge(&parts)?;
    let run = merged.runs.remove(0);
    let info = merged.merged.take().expect("a merge says what it merged");
    Ok((run, info))
}

fn profile_dir(profile: &str) -> String {
    profile
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(mode: LoadMode, n: u32) -> Load {
        Load {
            mode,
            concurrency: n,
            rate: (mode == LoadMode::Open).then_some(300.0),
            arrivals: Default::default(),
            max_in_flight: n,
            warmup: Duration::ZERO,
            duration: Duration::from_secs(10),
            iterations: None,
            trials: 1,
            error_budget: 0.01,
            op_timeout: Duration::from_secs(30),
            interleave: true,
            interval: Duration::from_secs(1),
        }
    }

    #[test]
    fn shards_split_connections_and_rate_so_together_they_are_the_whole() {
        let l = load(LoadMode::Open, 8);
        let parts: Vec<Load> = (0..3)
            .map(|index| shard_load(&l, Shard { index, count: 3 }))
            .collect();
        assert_eq!(
            parts.iter().map(|p| p.max_in_flight).collect::<Vec<_>>(),
            [3, 3, 2]
        );
        let rate: f64 = parts.iter().map(|p| p.rate.unwrap()).sum();
        assert!((rate - 300.0).abs() < 1e-9);
        // Connections are numbered across shards without overlap.
        let t0 = Instant::now();
        let firsts: Vec<u32> = (0..3)
            .map(|index| {
                ShardPlan::new(Shard { index, count: 3 }, 8, t0, Duration::from_secs(2))
                    .first_connection
            })
            .collect();
        assert_eq!(firsts, [0, 3, 6]);
        assert!(refuse_split(&load(LoadMode::Closed, 2), 3).is_some());
        assert!(refuse_split(&load(LoadMode::Closed, 3), 3).is_none());
        let it = Load {
            iterations: Some(100),
            ..load(LoadMode::Closed, 4)
        };
        assert!(refuse_split(&it, 2).unwrap().contains("iterations"));
    }

    #[test]
    fn every_shard_plans_the_same_phases_whatever_its_own_delays() {
        let t0 = Instant::now();
        let a = ShardPlan::new(Shard { index: 0, count: 2 }, 4, t0, Duration::from_secs(2));
        let b = ShardPlan::new(Shard { index: 1, count: 2 }, 4, t0, Duration::from_secs(2));
        let warm = Duration::from_secs(3);
        let trial = Duration::from_secs(10);
        let pa = [a.next(warm), a.next(trial), a.next(trial)];
        std::thread::sleep(Duration::from_millis(20));
        let pb = [b.next(warm), b.next(trial), b.next(trial)];
        assert_eq!(pa, pb);
        assert_eq!(pa[0] - t0, Duration::from_secs(2));
        assert_eq!(pa[1] - t0, Duration::from_secs(7));
        assert_eq!(pa[2] - t0, Duration::from_secs(19));
    }
}
